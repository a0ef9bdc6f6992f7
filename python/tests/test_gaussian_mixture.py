"""gmmzoo.GaussianMixture against scikit-learn: the same EM from the same start, its densities
at the same parameters, scikit-learn's estimator checks, pipelines and grid search."""

import signal
import threading
import time

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import gmmzoo

SEED = 20261203


def blobs(n=600, d=4, k=3, seed=SEED):
    """``k`` Gaussian blobs with random covariances, well apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    rows = []
    for c in range(k):
        a = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
        rows.append(centres[c] + rng.normal(size=(n // k, d)) @ a.T)
    return rng.permutation(np.concatenate(rows))


def start(X, k, seed=SEED):
    """A start both libraries take: means at random rows, unit precisions, equal weights."""
    rng = np.random.default_rng(seed)
    means = X[rng.choice(len(X), size=k, replace=False)]
    d = X.shape[1]
    return np.full(k, 1.0 / k), means, np.stack([np.eye(d)] * k)


def sklearn_history(X, k, weights, means, precisions, iterations, reg_covar=1e-6):
    """scikit-learn's mean log-likelihood after 1..iterations EM iterations from one start."""
    history = []
    for t in range(1, iterations + 1):
        sk = SkGaussianMixture(
            k,
            max_iter=t,
            tol=0.0,
            reg_covar=reg_covar,
            weights_init=weights,
            means_init=means,
            precisions_init=precisions,
        )
        with pytest.warns(Warning):  # ConvergenceWarning: tol = 0 never converges
            sk.fit(X)
        history.append(sk.lower_bound_)
    return history, sk


def test_em_history_equals_sklearns_from_the_same_start():
    X = blobs()
    weights, means, precisions = start(X, 3)
    iterations = 12
    ours = gmmzoo.GaussianMixture(
        3,
        max_iter=iterations,
        tol=0.0,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    ).fit(X)
    theirs, sk = sklearn_history(X, 3, weights, means, precisions, iterations)
    assert ours.n_iter_ == iterations
    np.testing.assert_allclose(ours.lower_bounds_, theirs, rtol=1e-5)
    np.testing.assert_allclose(ours.weights_, sk.weights_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, rtol=1e-3, atol=1e-4)


def test_densities_equal_sklearns_at_the_same_parameters():
    X = blobs(seed=SEED + 1)
    ours = gmmzoo.GaussianMixture(3, random_state=0).fit(X)
    sk = SkGaussianMixture(3).fit(X)  # then given our parameters
    sk.weights_, sk.means_ = ours.weights_, ours.means_
    sk.precisions_cholesky_, sk.covariances_ = ours.precisions_cholesky_, ours.covariances_
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-5)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-5)


def test_em_never_lowers_the_likelihood_and_stops_at_tol():
    X = blobs(seed=SEED + 2)
    gm = gmmzoo.GaussianMixture(3, tol=1e-4, max_iter=500, random_state=1).fit(X)
    bounds = np.array(gm.lower_bounds_)
    assert (np.diff(bounds) >= -1e-5 * np.abs(bounds[1:])).all(), bounds
    assert gm.converged_ and abs(bounds[-1] - bounds[-2]) < 1e-4
    assert gm.lower_bound_ == bounds[-1]


def test_shapes_dtypes_and_samples():
    X = blobs(d=3)
    gm = gmmzoo.GaussianMixture(3, random_state=2).fit(X)
    assert gm.weights_.shape == (3,) and gm.means_.shape == (3, 3)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(gm, name).shape == (3, 3, 3)
        assert getattr(gm, name).dtype == np.float64
    assert np.allclose(np.triu(gm.precisions_cholesky_), gm.precisions_cholesky_)
    samples, components = gm.sample(3000)
    assert samples.shape == (3000, 3) and components.shape == (3000,)
    assert (np.diff(components) >= 0).all(), "grouped by component, as scikit-learn's"
    shares = np.bincount(components, minlength=3) / 3000
    np.testing.assert_allclose(shares, gm.weights_, atol=0.05)
    assert gm.score(samples) == pytest.approx(gm.score(X), abs=0.3)


def test_bad_input_is_a_value_error_naming_it():
    X = blobs()
    cases = [
        (dict(n_components=0), "n_components"),
        (dict(n_components=700), "n_samples >= n_components"),
        (dict(covariance_type="nope"), "covariance_type"),
        (dict(init_params="nope"), "init_params"),
        (dict(reg_covar=-1.0), "reg_covar"),
        (dict(device="nope"), "nope"),
        (dict(means_init=np.zeros((2, 4))), "means_init has shape"),
    ]
    for params, words in cases:
        with pytest.raises(ValueError, match=words):
            gmmzoo.GaussianMixture(**params).fit(X)
    X_inf = X.copy()  # NaN is a missing value (tests/test_missing_values.py); inf is an error
    X_inf[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        gmmzoo.GaussianMixture(2).fit(X_inf)


def test_sizes_too_large_for_memory_raise_instead_of_aborting():
    X = np.random.default_rng(0).normal(size=(3, 100_000))
    with pytest.raises(ValueError, match="n_components"):  # 2 × 100,000² covariances
        gmmzoo.GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="n_components"):  # the same through a partial start
        gmmzoo.GaussianMixture(2, means_init=X[:2]).fit(X)
    gm = gmmzoo.GaussianMixture(1, random_state=0).fit(blobs(d=2))
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(10**13)
    with pytest.raises(ValueError, match="n_samples"):
        gmmzoo.load("bsds8").sample(10**13)


@pytest.mark.parametrize("given", ["weights_init", "means_init", "precisions_init"])
def test_one_init_parameter_alone_as_sklearn(given):
    """scikit-learn's meaning: the given parameter, the others from ``init_params``'
    responsibilities. On blobs far apart both libraries' k-means find the blobs, and EM from
    the same mixed start converges to the same mixture."""
    X = blobs(n=900, d=3, seed=SEED + 7)
    k = 3
    _, means, precisions = start(X, k, seed=SEED + 8)
    values = {
        "weights_init": np.array([0.5, 0.3, 0.2]),
        "means_init": means,
        "precisions_init": precisions,
    }
    params = dict(max_iter=300, tol=1e-8, **{given: values[given]})
    ours = gmmzoo.GaussianMixture(k, random_state=0, **params).fit(X)
    sk = SkGaussianMixture(k, random_state=0, **params).fit(X)
    assert ours.converged_ and sk.converged_
    order = np.lexsort(ours.means_.T[::-1])
    sk_order = np.lexsort(sk.means_.T[::-1])
    np.testing.assert_allclose(ours.means_[order], sk.means_[sk_order], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ours.weights_[order], sk.weights_[sk_order], atol=1e-4)
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-5)
    assert ours.score(X) == pytest.approx(sk.score(X), rel=1e-5)


def test_works_in_a_pipeline_and_a_grid_search():
    X = blobs(seed=SEED + 3)
    pipe = make_pipeline(StandardScaler(), gmmzoo.GaussianMixture(2, random_state=0))
    pipe.fit(X)
    assert pipe.score_samples(X).shape == (len(X),)
    grid = GridSearchCV(
        gmmzoo.GaussianMixture(random_state=0), {"n_components": [1, 2, 3, 4]}, cv=3
    )
    grid.fit(X)
    assert grid.best_params_["n_components"] >= 3


def test_warm_start_continues_the_previous_fit():
    X = blobs(seed=SEED + 4)
    gm = gmmzoo.GaussianMixture(3, max_iter=3, tol=0.0, warm_start=True, random_state=3)
    with np.errstate(all="ignore"):
        first = gm.fit(X).lower_bounds_
        second = gm.fit(X).lower_bounds_
    whole = gmmzoo.GaussianMixture(3, max_iter=6, tol=0.0, random_state=3).fit(X)
    np.testing.assert_allclose(first + second, whole.lower_bounds_, rtol=1e-6)


def test_the_gil_is_released_while_fitting():
    X = blobs(n=60000, d=8, k=4)
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=count)
    thread.start()
    t0 = time.perf_counter()
    gmmzoo.GaussianMixture(4, max_iter=20, tol=0.0, random_state=0).fit(X)
    t1 = time.perf_counter()
    stop.set()
    thread.join()
    during = [t for t in ticks if t0 < t < t1]
    assert t1 - t0 > 0.05 and len(during) >= 10, (len(during), t1 - t0)


def test_ctrl_c_stops_a_fit():
    X = blobs(n=60000, d=8, k=4)
    def interrupt(*_):
        raise KeyboardInterrupt  # what Ctrl-C's handler does

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            gmmzoo.GaussianMixture(4, max_iter=100000, tol=0.0, random_state=0).fit(X)
        assert time.perf_counter() - t0 < 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Every check of scikit-learn's suite applies and passes (40 in scikit-learn 1.9) but
# `check_array_api_input`, which scikit-learn skips itself unless SCIPY_ARRAY_API=1: the
# estimator takes numpy arrays (the library computes on its own devices), not the array API.
EXPECTED_FAILED_CHECKS = {}


def test_sklearn_estimator_checks():
    check_estimator(
        gmmzoo.GaussianMixture(random_state=0),
        expected_failed_checks=EXPECTED_FAILED_CHECKS,
    )

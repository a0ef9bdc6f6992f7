"""Every ``covariance_type`` against scikit-learn: the same EM history from the same start,
the same densities, BIC and AIC at the same parameters, and scikit-learn's shapes."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmzoo
from test_gaussian_mixture import SEED, blobs

TYPES = ("full", "tied", "diag", "spherical")


def unit_precisions(covariance_type, k, d):
    """Identity precisions in scikit-learn's shape for the type."""
    return {
        "full": np.stack([np.eye(d)] * k),
        "tied": np.eye(d),
        "diag": np.ones((k, d)),
        "spherical": np.ones(k),
    }[covariance_type]


def same_start(X, k, covariance_type, seed=SEED):
    rng = np.random.default_rng(seed)
    means = X[rng.choice(len(X), size=k, replace=False)]
    return dict(
        weights_init=np.full(k, 1.0 / k),
        means_init=means,
        precisions_init=unit_precisions(covariance_type, k, X.shape[1]),
    )


@pytest.mark.parametrize("covariance_type", TYPES)
def test_em_history_equals_sklearns_from_the_same_start(covariance_type):
    X = blobs(n=900, d=5, k=3, seed=SEED + 10)
    k, iterations = 3, 10
    init = same_start(X, k, covariance_type)
    ours = gmmzoo.GaussianMixture(
        k, covariance_type=covariance_type, max_iter=iterations, tol=0.0, **init
    ).fit(X)
    theirs = []
    for t in range(1, iterations + 1):
        sk = SkGaussianMixture(
            k, covariance_type=covariance_type, max_iter=t, tol=0.0, reg_covar=1e-6, **init
        )
        with pytest.warns(Warning):  # ConvergenceWarning: tol = 0 never converges
            sk.fit(X)
        theirs.append(sk.lower_bound_)
    assert ours.n_iter_ == iterations
    np.testing.assert_allclose(ours.lower_bounds_, theirs, rtol=1e-5)
    np.testing.assert_allclose(ours.weights_, sk.weights_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, rtol=1e-3, atol=1e-4)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(sk, name).shape, name


@pytest.mark.parametrize("covariance_type", TYPES)
def test_densities_and_criteria_equal_sklearns_at_the_same_parameters(covariance_type):
    X = blobs(seed=SEED + 11)
    ours = gmmzoo.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    sk = SkGaussianMixture(3, covariance_type=covariance_type).fit(X)  # then given ours
    sk.weights_, sk.means_ = ours.weights_, ours.means_
    sk.precisions_cholesky_, sk.covariances_ = ours.precisions_cholesky_, ours.covariances_
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    assert ours._n_parameters() == sk._n_parameters()
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-5)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-5)
    samples, components = ours.sample(4000)
    assert samples.shape == (4000, X.shape[1])
    assert ours.score(samples) == pytest.approx(ours.score(X), abs=0.3)


def test_a_diag_start_of_the_wrong_shape_is_a_value_error_naming_it():
    X = blobs(d=3)
    bad = dict(
        weights_init=np.full(3, 1 / 3),
        means_init=X[:3],
        precisions_init=np.ones((3, 3, 3)),
    )
    with pytest.raises(ValueError, match="precisions_init"):
        gmmzoo.GaussianMixture(3, covariance_type="diag", **bad).fit(X)
    with pytest.raises(ValueError, match="covariance_type"):
        gmmzoo.GaussianMixture(3, covariance_type="banded").fit(X)

"""``fit(X, sample_weight=w)``: integer weights give the fit of the rows repeated that many
times, from the same start; bad weights are a ValueError naming them."""

import numpy as np
import pytest

import gmmzoo
from test_covariance_types import TYPES, same_start
from test_gaussian_mixture import SEED, blobs


@pytest.mark.parametrize("covariance_type", TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = blobs(n=600, d=4, k=3, seed=SEED + 20)
    w = np.random.default_rng(SEED).integers(0, 4, size=len(X))
    init = same_start(X, 3, covariance_type)
    fit = lambda: gmmzoo.GaussianMixture(
        3, covariance_type=covariance_type, max_iter=8, tol=0.0, **init
    )
    weighted = fit().fit(X, sample_weight=w)
    repeated = fit().fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-5)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-3, atol=1e-5)
    unweighted = fit().fit(X)
    assert abs(unweighted.lower_bound_ - weighted.lower_bound_) > 1e-3, "the weights count"


def test_bad_weights_are_value_errors_naming_them():
    X = blobs()
    gm = gmmzoo.GaussianMixture(2, random_state=0)
    for w, message in [
        (-np.ones(len(X)), "Negative values"),
        (np.ones(len(X) - 1), "sample_weight"),
        (np.full(len(X), np.nan), "NaN"),
        (np.zeros(len(X)), "non-zero|sums to 0"),  # scikit-learn ≥ 1.7 | the library
    ]:
        with pytest.raises(ValueError, match=message):
            gm.fit(X, sample_weight=w)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_k_means_starts_never_seed_a_row_of_weight_zero(init_params):
    X = blobs(n=300, d=4, k=3, seed=SEED)
    outliers = 100.0 + 10.0 * np.arange(5)[:, None] * np.ones((1, 4))
    X = np.vstack([X, outliers])
    w = np.r_[np.ones(300), np.zeros(5)]
    fit = lambda state, weights: gmmzoo.GaussianMixture(
        3, init_params=init_params, max_iter=1, random_state=state
    ).fit(X, sample_weight=weights)
    assert all(fit(state, w).means_.max() < 50 for state in range(5))
    # Unweighted, the far rows are seeds.
    assert any(fit(state, None).means_.max() > 50 for state in range(5))

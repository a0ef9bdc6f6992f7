"""gmmzoo.DeepGMM and gmmzoo.ConvGMM: densities against the dense float64 density of the
Gaussians they are (a deep GMM's paths), the convolutional GMM's invariance to cyclic shifts,
EM's monotone likelihood, shipped checkpoints loaded as estimators, and the errors."""

import numpy as np
import pytest
from sklearn.base import clone

import gmmzoo
from test_gaussian_mixture import SEED, blobs
from test_load import dense_log_density


def path_oracle(est, X):
    g = est.model_.gaussians()
    return dense_log_density(X, g["weights"], g["means"], g["covariances"])


def test_a_fitted_deep_gmm_is_the_mixture_of_its_paths():
    X = blobs(n=900, d=4, k=3, seed=SEED + 30)
    est = gmmzoo.DeepGMM(nodes=(3, 2), m_step_iters=20, max_iter=4, random_state=0).fit(X)
    assert est.model_.n_components == 6 and est.n_iter_ == 4
    np.testing.assert_allclose(est.score_samples(X), path_oracle(est, X), rtol=1e-4)
    proba = est.predict_proba(X)
    assert proba.shape == (900, 6) and np.allclose(proba.sum(axis=1), 1.0)
    samples, components = est.sample(500)
    assert samples.shape == (500, 4) and (np.diff(components) >= 0).all()
    # Refitting from the same random_state repeats the fit exactly.
    again = gmmzoo.DeepGMM(nodes=(3, 2), m_step_iters=20, max_iter=4, random_state=0).fit(X)
    assert again.lower_bounds_ == est.lower_bounds_


def test_numpy_numbers_as_a_parameter_grid_gives_them():
    X = blobs(n=300, d=3, k=2, seed=SEED + 31)
    est = gmmzoo.DeepGMM(
        nodes=np.array([2, 2]), beam=np.int64(2), m_step_iters=np.int64(5), max_iter=np.int64(2),
        learning_rate=np.float32(0.01), random_state=0,
    ).fit(X)
    assert est.model_.n_components == 4 and est.n_iter_ == 2
    with pytest.raises(ValueError, match="e_step"):
        gmmzoo.DeepGMM(nodes=(2,), e_step='hard"\nbeam = 3').fit(X)


def test_a_shipped_deep_gmm_loads_as_a_deep_estimator():
    est = gmmzoo.load("bsds300_deep2")
    assert isinstance(est, gmmzoo.DeepGMM) and est.n_features_in_ == 63
    g = est.model_.gaussians()
    rng = np.random.default_rng(1)
    X = g["means"][rng.integers(len(g["means"]), size=100)] + rng.normal(scale=0.02, size=(100, 63))
    np.testing.assert_allclose(est.score_samples(X), path_oracle(est, X), rtol=1e-4)


def zero_mean_patches(n, p, seed):
    """Smooth random ``p × p`` patches (a blurred noise field), each with its mean removed."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, p, p))
    smooth = noise + np.roll(noise, 1, axis=1) + np.roll(noise, 1, axis=2)
    rows = smooth.reshape(n, p * p)
    return rows - rows.mean(axis=1, keepdims=True)


def test_a_conv_gmm_climbs_and_its_density_is_invariant_to_cyclic_shifts():
    X = zero_mean_patches(3000, 6, SEED)
    est = gmmzoo.ConvGMM(4, max_iter=10, tol=0.0, random_state=0).fit(X)
    bounds = np.array(est.lower_bounds_)
    assert len(bounds) == 10 and (np.diff(bounds) >= -1e-5 * np.abs(bounds[1:])).all(), bounds
    shifted = np.roll(X.reshape(-1, 6, 6), (2, 3), axis=(1, 2)).reshape(-1, 36)
    np.testing.assert_allclose(est.score_samples(shifted), est.score_samples(X), rtol=1e-4)
    # A transposed layout is not a shift: the component spectra see other frequencies.
    transposed = X.reshape(-1, 6, 6).transpose(0, 2, 1).reshape(-1, 36)
    assert not np.allclose(est.score_samples(transposed), est.score_samples(X), rtol=1e-3)
    assert np.allclose(est.predict_proba(X).sum(axis=1), 1.0)
    samples, _ = est.sample(100)
    assert samples.shape == (100, 36)


def test_the_shipped_quickstart_loads_as_a_conv_estimator():
    est = gmmzoo.load("quickstart")
    assert isinstance(est, gmmzoo.ConvGMM) and est.model_.n_components == 16
    X = zero_mean_patches(200, 8, SEED + 1)
    shifted = np.roll(X.reshape(-1, 8, 8), 5, axis=2).reshape(-1, 64)
    np.testing.assert_allclose(est.score_samples(shifted), est.score_samples(X), rtol=1e-4)


def test_a_loaded_estimator_has_the_saved_models_parameters():
    deep = gmmzoo.load("bsds300_deep2")
    want = dict(nodes=(12, 12), e_step="hard", beam=4, reg_covar=1e-6, max_iter=15, tol=0.01)
    assert {k: deep.get_params()[k] for k in want} == want
    assert deep.get_params()["init_params"] == "kmeans"
    conv = gmmzoo.load("quickstart")
    assert (conv.n_components, conv.max_iter, conv.tol) == (16, 30, 0.0)
    assert conv.init_params == "random_from_data" and conv.spectrum_floor == 1e-6
    full = gmmzoo.load("bsds300_full200")
    assert (full.n_components, full.covariance_type, full.reg_covar) == (200, "full", 1e-6)
    assert (full.max_iter, full.init_params) == (50, "k-means++")
    # A clone is the unfitted estimator of the same settings.
    copy = clone(deep)
    assert copy.get_params() == deep.get_params() and not hasattr(copy, "model_")


def test_errors_are_value_errors_naming_the_parameter():
    X = zero_mean_patches(100, 4, SEED)
    with pytest.raises(ValueError, match="n_components"):
        gmmzoo.ConvGMM(0).fit(X)
    with pytest.raises(ValueError, match="mean removed"):
        gmmzoo.ConvGMM(2).fit(X + 1.0)
    with pytest.raises(ValueError, match="square patches"):
        gmmzoo.ConvGMM(2).fit(X[:, :10])
    with pytest.raises(ValueError, match="init"):
        gmmzoo.ConvGMM(2, init_params="kmeans").fit(X)
    with pytest.raises(ValueError, match="nodes"):
        gmmzoo.DeepGMM(nodes=()).fit(blobs())

"""gmmzoo.load: a shipped checkpoint or a run folder's Gaussian layer as a fitted
GaussianMixture, its densities against a dense float64 oracle, a stack, and the errors."""

import numpy as np
import pytest

import gmmzoo


def dense_log_density(X, weights, means, covariances):
    """log Σ_c π_c N(x | μ_c, Σ_c), in float64 from the covariances."""
    d = X.shape[1]
    terms = []
    for w, mu, cov in zip(weights, means, covariances):
        sign, logdet = np.linalg.slogdet(cov)
        assert sign > 0
        diff = X - mu
        maha = np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff)
        terms.append(np.log(w) - 0.5 * (d * np.log(2 * np.pi) + logdet + maha))
    terms = np.stack(terms, axis=1)
    top = terms.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(axis=1, keepdims=True)))[:, 0]


def test_a_shipped_checkpoint_loads_as_a_fitted_estimator():
    gm = gmmzoo.load("bsds300_gauss")
    assert gm.means_.shape == (1, 63) and gm.n_features_in_ == 63 and gm.n_iter_ > 0
    rng = np.random.default_rng(0)
    X = gm.means_[0] + rng.normal(scale=0.05, size=(200, 63))
    want = dense_log_density(X, gm.weights_, gm.means_, gm.covariances_)
    np.testing.assert_allclose(gm.score_samples(X), want, rtol=1e-5)


def test_a_stack_loads_whole_or_by_layer_and_scores_every_layer():
    gm = gmmzoo.load("mnist_stack_std", layer=1)
    assert gm.means_.shape == (32, 32)
    stack = gmmzoo.load("mnist_stack_std")
    assert isinstance(stack, gmmzoo.Stack) and len(stack.layers) == len(stack.inputs)
    assert stack.inputs[0] is None and all(stack.inputs[1:])
    X = np.random.default_rng(1).uniform(size=(50, 784))
    scores = stack.score_samples(X)
    assert len(scores) == len(stack.layers)
    first = gmmzoo.load("mnist_stack_std", layer=0)
    np.testing.assert_allclose(scores[0], first.score_samples(X), rtol=1e-6)
    # Layer 1 scores layer 0's features of the rows, as the stack was trained.
    features = first.model_.features(X, stack.inputs[1])
    np.testing.assert_allclose(scores[1], gm.score_samples(features), rtol=1e-6)
    assert not np.allclose(scores[1], gm.score_samples(X[:, :32]))


def test_errors_name_what_is_wrong():
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        gmmzoo.load("no_such_model")
    with pytest.raises(ValueError, match="layer 9"):
        gmmzoo.load("mnist_stack_std", layer=9)

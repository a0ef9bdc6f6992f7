"""gmmzoo.score_samples_symmetric: a model averaged over the symmetries of its square patches,
against a float64 oracle that turns and mirrors the 8×8 patches with numpy; the errors."""

import numpy as np
import pytest

import gmmzoo
from test_load import dense_log_density

ROWS = 'seed = 2\n[data]\ndataset = "bsds300"\nn_train = 300\nn_test = 100\n'


def patches(X):
    """The 8×8 patches of BSDS300 rows: the dropped last pixel is minus the sum of the others."""
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([X, -X.sum(axis=1, keepdims=True)], axis=1).reshape(-1, 8, 8)


def rows(P):
    return P.reshape(-1, 64)[:, :63]


def log_mean_exp(scores):
    top = scores.max(axis=0)
    return top + np.log(np.exp(scores - top).mean(axis=0))


def test_the_average_over_the_squares_symmetries_against_numpy_turns():
    gm = gmmzoo.load("bsds300_gauss")
    X = gmmzoo.load_data(ROWS, "test")[0]
    density = lambda Y: dense_log_density(Y, gm.weights_, gm.means_, gm.covariances_)
    P = patches(X)
    turned = [np.rot90(Q, t, axes=(1, 2)) for Q in (P, P.transpose(0, 2, 1)) for t in range(4)]
    want = log_mean_exp(np.stack([density(rows(Q)) for Q in turned]))
    got = gmmzoo.score_samples_symmetric(gm, X, "dihedral")
    np.testing.assert_allclose(got, want, rtol=2e-5)
    mirrored = log_mean_exp(np.stack([density(rows(P)), density(rows(P[:, :, ::-1]))]))
    np.testing.assert_allclose(gmmzoo.score_samples_symmetric(gm, X, "mirror"), mirrored, rtol=2e-5)
    # The patches are not symmetric: the average is another density than the model's own.
    assert abs(got.mean() - gm.score_samples(X).mean()) > 1e-3


def test_rows_that_are_not_square_patches_and_unknown_groups_are_refused():
    gm = gmmzoo.load("bsds300_gauss")
    with pytest.raises(ValueError, match="rows of 62 values are neither"):
        gmmzoo.score_samples_symmetric(gm, np.zeros((3, 62)), "dihedral")
    with pytest.raises(ValueError, match='symmetry must be "mirror" or "dihedral"'):
        gmmzoo.score_samples_symmetric(gm, np.zeros((3, 63)), "turns")

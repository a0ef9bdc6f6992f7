"""Rows of a known mixture, shared by the tests."""

import numpy as np


def mixture_rows(n, seed):
    """Rows of a known three-component mixture in 4 dimensions."""
    means = np.array([[0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.0, -2.0], [-3.0, 3.0, 3.0, 1.0]])
    a = np.random.default_rng(0).normal(size=(3, 4, 4))
    rng = np.random.default_rng(seed)
    covs = a @ np.swapaxes(a, 1, 2) / 4 + 0.3 * np.eye(4)
    z = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return np.stack([rng.multivariate_normal(means[c], covs[c]) for c in z])

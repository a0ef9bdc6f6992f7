"""A model averaged over the symmetries of its square patches.

``q(x) = (1/|G|) Σ_g p(g·x)`` for the patch's left–right mirror (``"mirror"``, 2 elements) or
the square's eight symmetries (``"dihedral"``: four turns, each mirrored or not). Every ``g`` is
linear with determinant ±1, so ``q`` is a density whenever ``p`` is. Rows are square patches:
``s²`` values, row-major, or ``s² − 1`` (a zero-mean patch without its last pixel, as the
BSDS300 benchmark's 63), mapped by the library (``_core.square_symmetries``); the
command line's ``gmmzoo score --symmetry`` gives the same figures.
"""

import numpy as np

from . import _core


def score_samples_symmetric(estimator, X, symmetry="dihedral"):
    """``log q(x)`` of every row of ``X`` under a fitted ``estimator`` (anything with
    ``score_samples``) averaged over ``symmetry``: shape (n_samples,). Raises ``ValueError``
    for rows that are not square patches or a group other than ``"mirror"`` and
    ``"dihedral"``."""
    rows = np.ascontiguousarray(X, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"X must be a 2-D array of rows, got shape {rows.shape}")
    scores = np.stack([estimator.score_samples(m) for m in _core.square_symmetries(rows, symmetry)])
    top = scores.max(axis=0)
    return top + np.log(np.exp(scores - top).mean(axis=0))

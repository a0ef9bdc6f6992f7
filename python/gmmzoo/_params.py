"""Checks and conversions of the parameters a user gives ``GaussianMixture`` to start from
(``weights_init``, ``means_init``, ``precisions_init``)."""

import numpy as np


def _checked(value, shape, name):
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds a value that is not finite")
    return np.ascontiguousarray(array)


def _shape(covariance_type, k, d):
    """scikit-learn's shape of ``precisions_init`` (and ``precisions_cholesky_``)."""
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def _precision_cholesky(covariance_type, precisions):
    """The library's upper-triangular factors ``U`` with ``U Uᵀ = P`` of scikit-learn's
    ``precisions_init``: ``√P`` for the diagonal types; for full and tied ``U = J chol(J P J) J``
    (``J`` reverses the order of the coordinates)."""
    if covariance_type in ("diag", "spherical"):
        if not (precisions > 0).all():
            raise ValueError(f"precisions_init must be positive for '{covariance_type}'")
        return np.sqrt(precisions)
    stack = precisions[None] if covariance_type == "tied" else precisions
    chol = np.empty_like(stack)
    for c, p in enumerate(stack):
        try:
            chol[c] = np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1]
        except np.linalg.LinAlgError:
            raise ValueError(f"precisions_init[{c}] is not symmetric positive definite")
    return np.ascontiguousarray(chol[0] if covariance_type == "tied" else chol)

"""``GaussianMixture``: scikit-learn's estimator over the gmm-zoo library's Gaussian mixture.

EM runs in the Rust library (``gmmzoo._core``) with the GIL released; this module checks the
arguments as scikit-learn does, moves arrays in and out and keeps scikit-learn's attribute
names, shapes and dtypes. Precision Cholesky factors are the library's own parameters (upper
triangular ``U_c`` with ``inv(Σ_c) = U_c U_cᵀ``, scikit-learn's ``precisions_cholesky_``, in
its shape for each ``covariance_type``); the covariances and precisions are derived from them.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def set_report(est, report):
    """A fit's figures (``converged``, ``n_iter``, ``lower_bounds``) as scikit-learn's
    attributes; ``lower_bound_`` is NaN for a saved layer without its history."""
    est.converged_ = bool(report["converged"])
    est.n_iter_ = int(report["n_iter"])
    est.lower_bounds_ = list(report["lower_bounds"])
    est.lower_bound_ = est.lower_bounds_[-1] if est.lower_bounds_ else float("nan")


class Scoring:
    """What a fitted mixture estimator offers from ``_scores(X)`` (``log p(x)`` and the
    responsibilities) and ``_n_parameters()``: scikit-learn's scoring, prediction and
    information criteria."""

    def score_samples(self, X):
        """``log p(x)`` of every row, shape (n_samples,)."""
        return self._scores(X)[0]

    def score(self, X, y=None):
        """Mean ``log p(x)`` over the rows."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """The posterior of every component for every row, shape (n_samples, n_components)."""
        return self._scores(X)[1]

    def predict(self, X):
        """The most probable component of every row."""
        return self.predict_proba(X).argmax(axis=1)

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()


class GaussianMixture(Scoring, DensityMixin, BaseEstimator):
    """A Gaussian mixture fitted by EM in the gmm-zoo library, with scikit-learn's API.

    Parameters are scikit-learn's ``sklearn.mixture.GaussianMixture``'s, with the same
    meanings, plus ``device`` (``"cpu"``, or ``"wgpu"``/``"vulkan"`` in a GPU build:
    ``gmmzoo.devices()``). Rows are computed in float32 on the device.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape (n_components, n_features, n_features) for ``"full"``, (n_features, n_features)
        for ``"tied"``, (n_components, n_features) for ``"diag"``, (n_components,) for
        ``"spherical"``, as scikit-learn's.
    precisions_ : ndarray, shaped as ``covariances_``
    precisions_cholesky_ : ndarray, shaped as ``covariances_``
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training rows at the last E-step.
    lower_bounds_ : list of float
        The mean log-likelihood at every EM iteration of the kept fit.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        weights_init=None,
        means_init=None,
        precisions_init=None,
        device="cpu",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.device = device

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM; returns the fitted estimator. ``sample_weight``
        (one finite, non-negative number per row): a row counts as that many repeated rows
        in every EM sum, its log-likelihood too (``lower_bound_`` is the weighted mean)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        self._check_parameters(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        fitted = _core.fit_full(
            np.ascontiguousarray(X, dtype=np.float64),
            self.n_components,
            covariance_type=self.covariance_type,
            tol=float(self.tol),
            reg_covar=float(self.reg_covar),
            max_iter=self.max_iter,
            n_init=1 if self._start is not None else self.n_init,
            init_params=self.init_params,
            seed=seed,
            start=self._start,
            sample_weight=sample_weight,
            device=self.device,
        )
        self._set_parameters(fitted["weights"], fitted["means"], fitted["precisions_cholesky"])
        set_report(self, fitted)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then the component of every row."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _check_parameters(self, X):
        """scikit-learn's checks, with its messages; sets ``_start`` (the given start)."""
        n_samples, n_features = X.shape
        if not isinstance(self.n_components, numbers.Integral) or self.n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type {self.covariance_type!r} is not available; "
                f"use one of {COVARIANCE_TYPES}"
            )
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {self.init_params!r}")
        for name, low in (("tol", 0.0), ("reg_covar", 0.0)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value >= low:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        for name in ("max_iter", "n_init"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self._start = self._given_start(n_features)

    def _given_start(self, n_features):
        """The parameters EM starts from: the previous fit's with ``warm_start``, else the
        given ``weights_init``, ``means_init`` and ``precisions_init`` (all three)."""
        if self.warm_start and hasattr(self, "converged_"):
            return (self.weights_, self.means_, self.precisions_cholesky_)
        given = [self.weights_init, self.means_init, self.precisions_init]
        if all(v is None for v in given):
            return None
        if any(v is None for v in given):
            raise ValueError(
                "give weights_init, means_init and precisions_init together (the start is one "
                "set of parameters)"
            )
        k = self.n_components
        weights = _checked(self.weights_init, (k,), "weights_init")
        if not np.allclose(weights.sum(), 1.0) or (weights < 0).any():
            raise ValueError("weights_init must be non-negative and sum to 1")
        means = _checked(self.means_init, (k, n_features), "means_init")
        shape = _shape(self.covariance_type, k, n_features)
        precisions = _checked(self.precisions_init, shape, "precisions_init")
        return (weights, means, _precision_cholesky(self.covariance_type, precisions))

    def _set_parameters(self, weights, means, precisions_cholesky):
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.means_ = np.asarray(means, dtype=np.float64)
        self.precisions_cholesky_ = np.asarray(precisions_cholesky, dtype=np.float64)
        u = self.precisions_cholesky_
        if self.covariance_type in ("diag", "spherical"):
            self.precisions_ = u**2
            self.covariances_ = 1.0 / self.precisions_
        else:
            self.precisions_ = u @ np.swapaxes(u, -1, -2)
            self.covariances_ = np.linalg.inv(self.precisions_)

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return _core.score_full(
            np.ascontiguousarray(X, dtype=np.float64),
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            covariance_type=self.covariance_type,
            device=self.device,
        )

    def sample(self, n_samples=1):
        """``n_samples`` rows drawn from the mixture, grouped by component, and their
        components."""
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return _core.sample_full(
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            int(n_samples),
            seed,
            covariance_type=self.covariance_type,
        )

    def _n_parameters(self):
        """scikit-learn's count: K·D means, K − 1 weights, and K·D(D+1)/2, D(D+1)/2, K·D or K
        covariance numbers for full, tied, diag, spherical."""
        k, d = self.means_.shape
        covariance = {
            "full": k * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
            "diag": k * d,
            "spherical": k,
        }[self.covariance_type]
        return k * d + covariance + k - 1




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

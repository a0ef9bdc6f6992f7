"""``GaussianMixture``: scikit-learn's estimator over the gmm-zoo library's Gaussian mixture.

EM runs in the Rust library (``gmmzoo._core``) with the GIL released, reached as every
estimator of the package reaches it: the parameters written as a run config's ``[model]`` and
``[em]`` tables (``config_text``), checked by the library as a config file is, and fitted by
``_core.fit_layer``. This module checks the arguments as scikit-learn does, moves arrays in and
out and keeps scikit-learn's attribute names, shapes and dtypes. Precision Cholesky factors are the library's own parameters (upper
triangular ``U_c`` with ``inv(Σ_c) = U_c U_cᵀ``, scikit-learn's ``precisions_cholesky_``, in
its shape for each ``covariance_type``); the covariances and precisions are derived from them.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core
from ._params import _checked, _precision_cholesky, _shape
from .online import StepwiseFit

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

# scikit-learn's init_params as the library's `[em] init`.
INIT = {
    "kmeans": "kmeans",
    "k-means++": "kmeans++",
    "random": "random_responsibilities",
    "random_from_data": "samples",
}


def toml_value(value):
    """A parameter as a TOML value (numpy's numbers too, as a parameter grid gives them)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ValueError(f"{value!r} is not a number, a string or a list of them")


def config_text(kind, model, em, data, seed):
    """The run config an estimator's parameters make: ``[model]`` of family ``kind``, ``[em]``
    (a dict value in it is a sub-table, ``[em.stepwise]``) and ``[data]`` tables (dicts),
    every random choice from ``seed``."""
    subtables = [(f"[em.{k}]", v) for k, v in em.items() if isinstance(v, dict)]
    tables = [
        ("", {"name": "python", "seed": seed}),
        ("[data]", data),
        ("[model]", dict(kind=kind, **model)),
        ("[em]", {k: v for k, v in em.items() if not isinstance(v, dict)}),
        *subtables,
    ]
    return "\n".join(
        head + "\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in table.items())
        for head, table in tables
    )


def em_table(est, n_init=None):
    """An estimator's ``[em]``: scikit-learn's ``max_iter``, ``tol``, ``n_init``, ``init_params``."""
    if est.init_params not in INIT_PARAMS:
        raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {est.init_params!r}")
    return {
        "max_iter": est.max_iter,
        "tol": float(est.tol),
        "n_init": est.n_init if n_init is None else n_init,
        "init": INIT[est.init_params],
    }


def model_defaults(kind):
    """The library's default ``[model]`` keys of family ``kind``: the estimators' defaults."""
    return _core.model_defaults(kind)


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


class GaussianMixture(StepwiseFit, Scoring, DensityMixin, BaseEstimator):
    """A Gaussian mixture fitted by EM in the gmm-zoo library, with scikit-learn's API.

    Parameters are scikit-learn's ``sklearn.mixture.GaussianMixture``'s, with the same
    meanings, plus ``device`` (``"cpu"``, or ``"wgpu"``/``"vulkan"`` in a GPU build:
    ``gmmzoo.devices()``) and ``step_alpha`` (the step size's decay α of ``partial_fit``'s
    stepwise EM, in (0.5, 1]). Rows are computed in float32 on the device.

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

    _kind = "full"

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=model_defaults(_kind)["reg_covar"],
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        weights_init=None,
        means_init=None,
        precisions_init=None,
        device="cpu",
        step_alpha=0.7,
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
        self.step_alpha = step_alpha

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM; returns the fitted estimator. ``sample_weight``
        (one finite, non-negative number per row): a row counts as that many repeated rows
        in every EM sum, its log-likelihood too (``lower_bound_`` is the weighted mean).

        NaN in ``X`` marks a missing value (missing at random; every row must observe at
        least one feature): EM then maximises the likelihood of what each row observes
        (Ghahramani & Jordan 1994), starting from the rows with each NaN replaced by its
        column's mean. Without NaN, the fit is the usual EM, unchanged."""
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
            ensure_all_finite="allow-nan",
        )
        self._check_parameters(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        X = np.ascontiguousarray(X, dtype=np.float64)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        model, data = self._stepwise_tables(X)
        text = config_text(self._kind, model, em_table(self), data, seed)
        start = self._start_model(X, text)
        if start is not None:  # one start: no restarts
            text = config_text(self._kind, model, em_table(self, n_init=1), data, seed)
        fitted, report = _core.fit_layer(
            X, (1, X.shape[1]), text, device=self.device, start=start, sample_weight=sample_weight
        )
        saved = fitted.full_parameters()
        self._set_parameters(saved["weights"], saved["means"], saved["precisions_cholesky"])
        set_report(self, report)
        self._forget_steps()
        return self

    def _shape(self, X):
        return (1, X.shape[1])

    def _stepwise_tables(self, X):
        """The ``[model]`` and ``[data]`` tables of a fit or a ``partial_fit`` step."""
        model = {
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "reg_covar": float(self.reg_covar),
        }
        return model, {"dataset": "array", "train": "rows"}

    def _stepwise_fitted(self):
        return hasattr(self, "weights_")

    def _stepwise_start(self, X, text, fitted):
        if fitted:
            return self._model()
        self._check_parameters(X)
        start = self._start_model(X, text)
        return start if start is not None else super()._stepwise_start(X, text, fitted)

    def _stepwise_take(self, model):
        saved = model.full_parameters()
        self._set_parameters(saved["weights"], saved["means"], saved["precisions_cholesky"])

    @classmethod
    def _loaded(cls, model):
        """The estimator of a trained Gaussian layer (``gmmzoo.load``)."""
        saved = model.full_parameters()
        est = cls(
            n_components=model.n_components,
            covariance_type=saved["covariance_type"],
            reg_covar=saved["reg_covar"],
        )
        est._set_parameters(saved["weights"], saved["means"], saved["precisions_cholesky"])
        est.model_ = model  # a stack's way to the features of this layer
        return est

    def _model(self):
        """The fitted parameters as the library's layer (``_core.Model``)."""
        check_is_fitted(self)
        return _core.full_model(
            self.weights_,
            self.means_,
            self.precisions_cholesky_,
            covariance_type=self.covariance_type,
        )

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
        """The parameters EM starts from: the previous fit's with ``warm_start``, else those of
        ``weights_init``, ``means_init`` and ``precisions_init`` that are given (checked; the
        others ``None``), else ``None``."""
        if self.warm_start and hasattr(self, "converged_"):
            return (self.weights_, self.means_, self.precisions_cholesky_)
        if all(v is None for v in (self.weights_init, self.means_init, self.precisions_init)):
            return None
        k = self.n_components
        weights = means = factors = None
        if self.weights_init is not None:
            weights = _checked(self.weights_init, (k,), "weights_init")
            if not np.allclose(weights.sum(), 1.0) or (weights < 0).any():
                raise ValueError("weights_init must be non-negative and sum to 1")
        if self.means_init is not None:
            means = _checked(self.means_init, (k, n_features), "means_init")
        if self.precisions_init is not None:
            shape = _shape(self.covariance_type, k, n_features)
            precisions = _checked(self.precisions_init, shape, "precisions_init")
            factors = _precision_cholesky(self.covariance_type, precisions)
        return (weights, means, factors)

    def _start_model(self, X, text):
        """The layer EM starts from (``None``: initialised by ``init_params``). Parameters
        that are not given come from the library's initialisation by ``init_params``, as
        scikit-learn's ``_initialize`` takes them from its responsibilities."""
        if self._start is None:
            return None
        given = list(self._start)
        if any(v is None for v in given):
            init = _core.initialised(X, (1, X.shape[1]), text, device=self.device)
            saved = init.full_parameters()
            names = ("weights", "means", "precisions_cholesky")
            given = [saved[n] if v is None else v for v, n in zip(given, names)]
        return _core.full_model(
            *given, covariance_type=self.covariance_type, reg_covar=float(self.reg_covar)
        )

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
        """``log p(x_o)`` of what each row observes and the posteriors given it."""
        model = self._model()
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite="allow-nan"
        )
        return model.score(np.ascontiguousarray(X, dtype=np.float64), device=self.device)

    def impute(self, X, *, draw=False):
        """``X`` with every NaN filled in: the conditional mean ``E[x_m | x_o]`` under the
        mixture (a posterior-weighted mean of each component's conditional Gaussian mean), or
        with ``draw=True`` one draw from ``p(x_m | x_o)``, seeded by ``random_state``.
        Observed values are returned unchanged."""
        model = self._model()
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite="allow-nan"
        )
        seed = None
        if draw:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        X = np.array(X, dtype=np.float64)
        missing = np.isnan(X)
        X[missing] = model.impute(X, seed=seed)[missing]
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

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
        return self._model().sample(int(n_samples), seed)

    def _n_parameters(self):
        """scikit-learn's count of free parameters (the library's ``n_parameters``)."""
        return self._model().n_parameters

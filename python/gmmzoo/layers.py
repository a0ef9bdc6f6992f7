"""``ConvGMM`` and ``DeepGMM``: the library's convolutional and deep GMMs with scikit-learn's
estimator API, and ``load``: any trained layer or stack as a fitted estimator.

An estimator writes its parameters as a run config's ``[model]`` and ``[em]`` tables, which the
library checks as it checks a config file (the same one-sentence messages, as ``ValueError``),
fits with the GIL released, and keeps the trained layer (``model_``, a ``gmmzoo._core.Model``).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _core
from .mixture import INIT, GaussianMixture, Scoring, config_text, em_table, model_defaults, set_report
from .online import StepwiseFit


class _LayerEstimator(StepwiseFit, Scoring, DensityMixin, BaseEstimator):
    """What ConvGMM and DeepGMM share: fit through the library's config checks, then score,
    predict, sample and the information criteria from the trained layer (``model_``)."""

    _kind = None

    def _model_table(self):
        raise NotImplementedError

    def _data_table(self, X):
        """The `[data]` a config file would name for rows like `X` (what the layer may sit on)."""
        return {"dataset": "array", "train": "rows"}

    def _shape(self, X):
        return (1, X.shape[1])

    def fit(self, X, y=None):
        """Estimate the parameters by EM; returns the fitted estimator."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        text = config_text(self._kind, self._model_table(), em_table(self), self._data_table(X), seed)
        X = np.ascontiguousarray(X, dtype=np.float64)
        self.model_, report = _core.fit_layer(X, self._shape(X), text, device=self.device)
        set_report(self, report)
        self._forget_steps()
        return self

    def _stepwise_tables(self, X):
        return self._model_table(), self._data_table(X)

    @classmethod
    def _loaded(cls, model):
        """The estimator of a trained layer of this family (``gmmzoo.load``)."""
        est = cls()
        est.model_ = model
        return est

    @property
    def weights_(self):
        check_is_fitted(self)
        return self.model_.weights()

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.model_.score(np.ascontiguousarray(X, dtype=np.float64), device=self.device)

    def _n_parameters(self):
        return self.model_.n_parameters

    def fit_predict(self, X, y=None):
        """Fit, then the component of every row."""
        return self.fit(X).predict(X)

    def sample(self, n_samples=1):
        """``n_samples`` rows drawn from the layer, grouped by component, and their components."""
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return self.model_.sample(int(n_samples), seed)



class ConvGMM(_LayerEstimator):
    """The convolutional GMM: zero-mean stationary Gaussians on square patches, each diagonal
    in the 2-D Fourier domain (its component a filter). Rows are flattened ``P × P`` patches.

    ``exclude_dc=True`` (the default) is for patches with their mean removed, as BSDS patches:
    the DC bin is then identically 0 and left out; ``False`` for whole images, whose mean the
    DC bin models. ``spectrum_floor`` floors every power spectrum (the variance floor).
    ``init_params``: ``"random_from_data"`` or ``"random"`` (k-means needs means, and every
    component's mean is 0). ``partial_fit`` takes chunks of rows by stepwise EM, with
    ``step_alpha`` as ``GaussianMixture``'s.
    """

    _kind = "conv"

    def __init__(
        self,
        n_components=16,
        *,
        exclude_dc=model_defaults(_kind)["exclude_dc"],
        spectrum_floor=model_defaults(_kind)["spectrum_floor"],
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="random_from_data",
        random_state=None,
        device="cpu",
        step_alpha=0.7,
    ):
        self.n_components = n_components
        self.exclude_dc = exclude_dc
        self.spectrum_floor = spectrum_floor
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.device = device
        self.step_alpha = step_alpha

    def _model_table(self):
        return {
            "n_components": self.n_components,
            "exclude_dc": bool(self.exclude_dc),
            "spectrum_floor": float(self.spectrum_floor),
        }

    def _shape(self, X):
        p = int(round(np.sqrt(X.shape[1])))
        if p * p != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features: rows must be flattened square patches")
        return (p, p)

    def _data_table(self, X):
        p = self._shape(X)[0]
        if self.exclude_dc:
            spread = np.abs(X).max() or 1.0
            if not np.allclose(X.mean(axis=1), 0.0, atol=1e-4 * spread):
                raise ValueError(
                    "exclude_dc=True needs patches with their mean removed (subtract each "
                    "row's mean), or exclude_dc=False to model whole images"
                )
            return {
                "dataset": "images",
                "train": "rows",
                "patch_size": p,
                "n_train": X.shape[0],
                "n_test": 1,
            }
        return {"dataset": "images", "train": "rows"}


class DeepGMM(_LayerEstimator):
    """The deep GMM of van den Oord & Schrauwen: a network of ``len(nodes)`` layers of linear
    transformations whose paths are the components of a Gaussian mixture (``n_components``
    = the product of ``nodes``). Parameters are the library's (``e_step`` ``"hard"``,
    ``"soft"`` or ``"soft_beam"``; ``beam``; ``m_step_iters`` Adam steps at
    ``learning_rate``; ``init_noise``; ``reg_covar``); its first layer starts from a full
    GMM fitted by ``init_params``. ``partial_fit`` takes chunks of rows by stepwise EM (an
    Adam M-step of ``m_step_iters`` steps after each chunk), with ``step_alpha`` as
    ``GaussianMixture``'s.
    """

    _kind = "deep"

    def __init__(
        self,
        nodes=(4, 2),
        *,
        e_step=model_defaults(_kind)["e_step"],
        beam=model_defaults(_kind)["beam"],
        reg_covar=model_defaults(_kind)["reg_covar"],
        m_step_iters=model_defaults(_kind)["m_step_iters"],
        learning_rate=model_defaults(_kind)["learning_rate"],
        init_noise=model_defaults(_kind)["init_noise"],
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        device="cpu",
        step_alpha=0.7,
    ):
        self.nodes = nodes
        self.e_step = e_step
        self.beam = beam
        self.reg_covar = reg_covar
        self.m_step_iters = m_step_iters
        self.learning_rate = learning_rate
        self.init_noise = init_noise
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.device = device
        self.step_alpha = step_alpha

    def _model_table(self):
        return {
            "nodes": [int(n) for n in self.nodes],
            "e_step": self.e_step,
            "beam": self.beam,
            "reg_covar": float(self.reg_covar),
            "m_step_iters": self.m_step_iters,
            "learning_rate": float(self.learning_rate),
            "init_noise": float(self.init_noise),
        }


class Stack:
    """A trained stack of layers (``gmmzoo.load`` of a stack's run folder): ``layers`` are its
    fitted estimators, layer 0 on the data and each one above on a feature of the one below
    (``inputs``)."""

    def __init__(self, layers, inputs):
        self.layers = layers
        self.inputs = inputs

    def score_samples(self, X):
        """``log p`` of every row under every layer, each layer scoring the features the layer
        below makes of the rows: a list of arrays of shape (n_samples,), layer 0 first."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        scores = []
        for i, layer in enumerate(self.layers):
            scores.append(layer.model_.score(rows)[0])
            if i + 1 < len(self.layers):
                rows = layer.model_.features(rows, self.inputs[i + 1])
        return scores


# The estimator of each family, by the `kind` each class names (checked against the library's
# registry when the package is imported).
_ESTIMATORS = {cls._kind: cls for cls in (GaussianMixture, ConvGMM, DeepGMM)}
assert set(_ESTIMATORS) <= set(_core.kinds()), "an estimator names a kind the library lacks"


def _set_saved_params(est, figures):
    """The loaded layer's saved ``[model]`` and ``[em]`` keys as the estimator's parameters
    (those it has), so that ``get_params``, ``clone`` and ``repr`` describe the saved model."""
    saved = {**figures.pop("model"), **figures.pop("em")}
    names = est.get_params(deep=False)
    init = {v: k for k, v in INIT.items()}.get(saved.pop("init", None))
    if init is not None:
        saved["init_params"] = init
    if "nodes" in saved:
        saved["nodes"] = tuple(saved["nodes"])
    est.set_params(**{k: v for k, v in saved.items() if k in names})


def _fitted(model, figures):
    """The estimator of a loaded layer: its family's, else a generic one."""
    cls = _ESTIMATORS.get(model.kind)
    if cls is not None:
        est = cls._loaded(model)
    else:
        est = _LayerEstimator()
        est._kind = model.kind
        est.model_ = model
    _set_saved_params(est, figures)
    if "n_components" in est.get_params(deep=False):
        est.n_components = model.n_components  # as trained (pruning can leave fewer)
    set_report(est, figures)
    est.n_features_in_ = model.shape[0] * model.shape[1]
    est.folder_ = figures["folder"]
    return est


def load(name_or_folder, layer=None):
    """A fitted estimator from a shipped checkpoint (by name, e.g. ``"bsds300_full200"``) or a
    run folder of ``gmmzoo train``: a ``GaussianMixture`` for a Gaussian (``full``) layer,
    ``ConvGMM`` or ``DeepGMM`` for those families. A stack gives a ``Stack`` (``layer=i``: its
    layer i alone, 0 being the one on the data). Raises ``FileNotFoundError`` for a name or
    folder that is not there, ``ValueError`` for a layer index it does not have."""
    loaded = _core.load_layers(str(name_or_folder))
    if layer is not None:
        if not 0 <= layer < len(loaded):
            raise ValueError(f"layer {layer}: {name_or_folder} has layers 0 to {len(loaded) - 1}")
        model, _, figures = loaded[layer]
        return _fitted(model, figures)
    if len(loaded) == 1:
        model, _, figures = loaded[0]
        return _fitted(model, figures)
    return Stack([_fitted(m, f) for m, _, f in loaded], [i for _, i, _ in loaded])

"""``partial_fit``: stepwise (online) EM over chunks of rows, one M-step per chunk, for data
that arrive in pieces or do not fit in memory (a memory-mapped ``.npy`` read chunk by chunk).

Each call is one mini-batch of the library's stepwise EM (``[em.stepwise]``, Cappé & Moulines
2009; Liang & Klein 2009): the chunk's statistics, as means per row, are blended into those of
the chunks before as ``s̄ ← (1 − η_k) s̄ + η_k s_k``, ``η_0 = 1``, ``η_k = (k + 2)^(−α)``
(``α = step_alpha``), and the parameters are re-estimated from the blend. The blend and ``k``
live in the estimator between calls, so a sequence of calls is the library's stepwise EM over
the same chunks in the same order.
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from . import _core

# The library's rows per device batch; a chunk is ⌈n / BATCH⌉ batches, one mini-batch.
BATCH = 16384


class StepwiseFit:
    """``partial_fit`` for an estimator whose class names its ``_kind`` and says, by the hooks
    below, how its parameters are written (``_stepwise_tables``), started
    (``_stepwise_start``) and kept (``_stepwise_take``)."""

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of stepwise EM on the rows ``X``; returns the estimator.

        The first call (on an estimator that is not fitted) starts the parameters as ``fit``
        does (``init_params``, or a ``GaussianMixture``'s ``weights_init``/``means_init``/
        ``precisions_init``) from this chunk, which must hold at least ``n_components`` rows;
        every call then blends the chunk's statistics into those of the chunks before and
        re-estimates the parameters. On a fitted estimator (``fit``), the first call starts the
        blend from its parameters. ``n_iter_`` counts the chunks taken so far,
        ``lower_bounds_`` holds each chunk's mean log-likelihood under the parameters it met,
        and ``converged_`` stays False (stepwise EM has no stopping rule)."""
        from .mixture import config_text, em_table

        if not (isinstance(self.step_alpha, (int, float)) and 0.5 < self.step_alpha <= 1.0):
            raise ValueError(f"step_alpha must be in (0.5, 1], got {self.step_alpha!r}")
        fitted = self._stepwise_fitted()
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=not fitted,
            ensure_min_samples=1,
            ensure_all_finite="allow-nan",
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = X.shape[0]
        em = dict(em_table(self, n_init=1), max_iter=1, tol=0.0, batch_size=min(BATCH, n))
        em["stepwise"] = {"batches": -(-n // BATCH), "alpha": float(self.step_alpha)}
        model, data = self._stepwise_tables(X)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        text = config_text(self._kind, model, em, data, seed)
        start = self._stepwise_start(X, text, fitted)
        state = getattr(self, "_stepwise", None) if fitted else None
        result, report = _core.fit_layer(
            X,
            self._shape(X),
            text,
            device=self.device,
            start=start,
            sample_weight=sample_weight,
            stepwise=state,
        )
        self._stepwise_take(result)
        self._stepwise = report["stepwise"]
        bounds = (getattr(self, "lower_bounds_", []) if state is not None else []) + list(
            report["lower_bounds"]
        )
        self.lower_bounds_ = bounds
        self.lower_bound_ = bounds[-1]
        self.n_iter_ = len(bounds)
        self.converged_ = False
        return self

    def _stepwise_start(self, X, text, fitted):
        """The layer a step starts from: the fitted one, else the initialisation on ``X``."""
        if fitted:
            return self.model_
        return _core.initialised(X, self._shape(X), text, device=self.device)

    def _stepwise_fitted(self):
        return hasattr(self, "model_")

    def _stepwise_take(self, model):
        self.model_ = model

    def _forget_steps(self):
        """A fit by ``fit`` ends any stepwise EM before it."""
        if hasattr(self, "_stepwise"):
            del self._stepwise

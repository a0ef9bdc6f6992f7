"""gmm-zoo's Gaussian mixtures from Python, with scikit-learn's estimator API.

>>> import numpy as np, gmmzoo
>>> X = np.random.default_rng(0).normal(size=(500, 2))
>>> gm = gmmzoo.GaussianMixture(n_components=2, random_state=0).fit(X)
>>> gm.means_.shape
(2, 2)

EM runs in the Rust library (every CPU core; a GPU in a ``wgpu`` build), the GIL released.
"""

from ._core import devices
from .layers import ConvGMM, DeepGMM, Stack, load
from .mixture import GaussianMixture

__all__ = ["ConvGMM", "DeepGMM", "GaussianMixture", "Stack", "devices", "load"]
__version__ = "0.1.0"

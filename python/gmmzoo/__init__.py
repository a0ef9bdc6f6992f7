"""gmm-zoo's Gaussian mixtures from Python, with scikit-learn's estimator API.

>>> import numpy as np, gmmzoo
>>> X = np.random.default_rng(0).normal(size=(500, 2))
>>> gm = gmmzoo.GaussianMixture(n_components=2, random_state=0).fit(X)
>>> gm.means_.shape
(2, 2)

EM runs in the Rust library (every CPU core; a GPU in a ``wgpu`` build), the GIL released.
"""

import pathlib

from . import _core
from ._core import devices
from .layers import ConvGMM, DeepGMM, Stack, load
from .mixture import GaussianMixture
from . import restore


def sample_data_dir():
    """The folder of the sample data the package ships (``mnist/``: 2,000 training and 500 test
    digits; ``bsds300/``: nine BSDS images), unpacked once into the user data folder
    (``$GMM_ZOO_HOME``, else ``~/.local/share/gmm-zoo``)."""
    return pathlib.Path(_core.sample_data_dir())

__all__ = ["ConvGMM", "DeepGMM", "GaussianMixture", "Stack", "devices", "load", "restore", "sample_data_dir"]
__version__ = "0.1.0"

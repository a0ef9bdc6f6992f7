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
from .symmetry import score_samples_symmetric


def sample_data_dir():
    """The folder of the sample data the package ships (``mnist/``: 2,000 training and 500 test
    digits; ``bsds300/``: nine BSDS images), unpacked once into the user data folder
    (``$GMM_ZOO_HOME``, else ``~/.local/share/gmm-zoo``)."""
    return pathlib.Path(_core.sample_data_dir())


def load_data(config, split="train", data_dir=None):
    """The rows of a run config's data set, as the config's first layer reads them: ``(X,
    labels, shape)`` with ``X`` float32 of shape (n_samples, height * width), ``labels`` the
    class of each row (MNIST) or ``None``, and ``shape`` (height, width) of a row. ``config``
    is a path to a run config (TOML) or its text; ``split`` is ``"train"``, ``"test"`` or
    ``"valid"`` (the validation rows of ``[data] n_valid``);
    ``data_dir`` the data root (else ``$GMM_ZOO_DATA``, else the sample data), as the CLI's
    ``--data-dir``. Example: the BSDS300 benchmark's rows, ``load_data("configs/bsds300_gauss.toml",
    data_dir="/data")``."""
    path = pathlib.Path(config) if "\n" not in str(config) else None
    text = path.read_text() if path is not None else str(config)
    return _core.load_data(text, split, None if data_dir is None else str(data_dir))


__all__ = [
    "ConvGMM",
    "DeepGMM",
    "GaussianMixture",
    "Stack",
    "devices",
    "load",
    "load_data",
    "restore",
    "sample_data_dir",
    "score_samples_symmetric",
]
__version__ = "0.1.0"

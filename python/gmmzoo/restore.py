"""Images restored under the zoo's patch priors: EPLL (Zoran & Weiss 2011) denoising and
inpainting in the Rust library, numpy arrays in and out.

>>> import numpy as np, gmmzoo.restore
>>> noisy = clean + np.random.default_rng(0).normal(scale=25, size=clean.shape)
>>> restored = gmmzoo.restore.denoise(noisy, sigma=25)            # gray levels, 0-255

An image is a 2-D array of gray levels (0-255, as the literature states σ), or a colour image
``[H, W, 3]`` (R, G, B in 0-255, restored in opponent channels: the luminance
``(R + G + B)/3`` and two colour differences, each under the gray prior at its own noise
level); ``NaN`` marks a missing pixel. The prior is a shipped checkpoint's name or a run folder of a layer trained on
image patches (``bsds300_full200_kmeans``, the 200-component GMM of Zoran & Weiss's EPLL, is
the default).
"""

import numbers

import numpy as np

from . import _core

DEFAULT_PRIOR = "bsds300_full200_kmeans"
PATCH_STEPS = ("most_likely", "posterior")


def _image(image):
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2 and not (array.ndim == 3 and array.shape[2] == 3):
        raise ValueError(
            f"image has shape {array.shape}: expected [H, W] gray levels or [H, W, 3] colour"
        )
    return np.ascontiguousarray(array)


def _sigma(sigma):
    if not isinstance(sigma, numbers.Real) or not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number of gray levels, got {sigma!r}")
    return float(sigma)


def denoise(image, sigma, prior=DEFAULT_PRIOR, *, betas=None, patch_step="most_likely", stride=1):
    """``image`` (``[H, W]`` gray levels, or ``[H, W, 3]`` colour) with white Gaussian noise of standard deviation ``sigma``
    (gray levels) restored under ``prior``: a float64 array of its shape. ``betas``: the
    schedule's ``c_j`` of ``β_j = c_j/σ²``, one pass each (default ``[1, 4, 8, 16, 32]``);
    ``patch_step``: ``"most_likely"`` (EPLL's) or ``"posterior"``; ``stride``: each pass takes
    the patches on a grid of this step, shifted every pass (a fast mode; 1: every patch)."""
    return _core.restore_image(
        _image(image),
        _sigma(sigma),
        str(prior),
        betas=betas,
        patch_step=patch_step,
        stride=_stride(stride),
    )


def _stride(stride):
    if not isinstance(stride, numbers.Integral) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    return int(stride)


def inpaint(
    image,
    mask,
    prior=DEFAULT_PRIOR,
    *,
    sigma=1.0,
    betas=None,
    patch_step="most_likely",
    stride=1,
    start="conditional",
):
    """``image`` (``[H, W]`` or ``[H, W, 3]``) with the pixels where ``mask`` (``[H, W]``) is
    true missing (in every channel) filled in under ``prior``; the known pixels are taken to
    carry noise of ``sigma`` gray levels. ``start="conditional"``: each missing pixel starts at
    the mean of its patches' conditional means given their known pixels under the prior, then
    Zoran & Weiss's schedule; ``start="fill"``: at the Gaussian-weighted mean of the known
    pixels around it, then a schedule from 50 gray levels of noise halving each pass to
    ``sigma/√32``."""
    array = _image(image).copy()
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != array.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape}, the image {array.shape}")
    array[mask] = np.nan
    return _core.restore_image(
        array,
        _sigma(sigma),
        str(prior),
        betas=betas,
        patch_step=patch_step,
        stride=_stride(stride),
        start=start,
    )

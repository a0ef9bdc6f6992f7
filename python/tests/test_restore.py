"""gmmzoo.restore: EPLL denoising and inpainting with the shipped flat prior on a synthetic
image (smooth shading and edges), and bad input."""

import numpy as np
import pytest

import gmmzoo.restore


def scene(h=48, w=56):
    """Gray levels: a shaded background, a bright square and a dark disc."""
    y, x = np.mgrid[0:h, 0:w]
    image = 80 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0)
    image[10:30, 8:24] = 200
    image[(y - 30) ** 2 + (x - 40) ** 2 < 80] = 30
    return image


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def test_denoising_gains_and_keeps_the_shape():
    clean = scene()
    noisy = clean + np.random.default_rng(0).normal(scale=25, size=clean.shape)
    out = gmmzoo.restore.denoise(noisy, sigma=25)
    assert out.shape == clean.shape and out.dtype == np.float64
    assert psnr(out, clean) > psnr(noisy, clean) + 6, (psnr(noisy, clean), psnr(out, clean))
    posterior = gmmzoo.restore.denoise(noisy, sigma=25, patch_step="posterior", betas=[1, 4])
    assert psnr(posterior, clean) > psnr(noisy, clean) + 4


def test_colour_is_restored_in_opponent_channels():
    # Three differently tinted channels of the scene: the luminance carries the edges.
    gray = scene()
    clean = np.stack([gray, 0.8 * gray + 30, 0.6 * gray + 60], axis=2)
    noisy = clean + np.random.default_rng(2).normal(scale=25, size=clean.shape)
    out = gmmzoo.restore.denoise(noisy, sigma=25)
    assert out.shape == clean.shape and out.dtype == np.float64
    # Against each colour channel restored alone under the same prior: the opponent channels'
    # luminance has √3 times less noise.
    alone = np.stack([gmmzoo.restore.denoise(noisy[..., c], sigma=25) for c in range(3)], axis=2)
    assert psnr(out, clean) > psnr(alone, clean) + 0.5, (psnr(alone, clean), psnr(out, clean))
    mask = np.random.default_rng(3).random(gray.shape) < 0.5
    filled = gmmzoo.restore.inpaint(clean, mask, sigma=2)
    assert filled.shape == clean.shape and np.isfinite(filled).all()
    assert psnr(filled, clean) > 30, psnr(filled, clean)


def test_inpainting_fills_the_missing_pixels():
    clean = scene()
    mask = np.random.default_rng(1).random(clean.shape) < 0.5
    out = gmmzoo.restore.inpaint(clean, mask, sigma=2)
    assert np.isfinite(out).all()
    filled = np.where(mask, clean[~mask].mean(), clean)
    assert psnr(out, clean) > psnr(filled, clean) + 8, (psnr(filled, clean), psnr(out, clean))
    # Started from the known pixels around each missing one instead of each patch's
    # conditional mean (on this synthetic scene of flat regions the two starts end within
    # 0.1 dB; on natural images the conditional start gains over a decibel).
    smoothed = gmmzoo.restore.inpaint(clean, mask, sigma=2, start="fill")
    assert psnr(smoothed, clean) > psnr(filled, clean) + 8
    assert not np.allclose(smoothed, out)


def test_bad_input_raises_naming_it():
    image = scene()
    cases = [
        (lambda: gmmzoo.restore.denoise(image, sigma=0), "sigma"),
        (lambda: gmmzoo.restore.denoise(image[:5, :5], sigma=25), "smaller than the prior"),
        (lambda: gmmzoo.restore.denoise(np.stack([image] * 4, axis=2), sigma=25), "colour"),
        (lambda: gmmzoo.restore.inpaint(image, np.zeros((3, 3), bool)), "mask has shape"),
        (lambda: gmmzoo.restore.inpaint(image, np.ones(image.shape, bool)), "every pixel"),
        (lambda: gmmzoo.restore.denoise(image, sigma=25, patch_step="x"), "patch_step"),
        (lambda: gmmzoo.restore.inpaint(image, image > 100, start="x"), "start"),
        (lambda: gmmzoo.restore.denoise(image, sigma=25, prior="mnist32"), "image patches"),
    ]
    for call, words in cases:
        with pytest.raises((ValueError, FileNotFoundError), match=words):
            call()

"""EPLL with a zoo prior against the usual peers, on the same noisy and masked images.

The first N BSDS300 test images (name order, 481×321), gray by Rec. 601 (0.299 R + 0.587 G
+ 0.114 B, gray levels 0-255), white Gaussian noise of σ = 15, 25, 50 drawn by numpy from seed
1000·σ + image index. Denoisers, each on the same noisy array:

- gmm-zoo EPLL (``gmmzoo.restore.denoise``, default schedule, the prior given), exact (every
  patch) and in its fast mode (``stride=2``, ``stride=4``: a grid of patches shifted each pass);
- BM3D (the ``bm3d`` package, ``bm3d.bm3d(noisy, sigma_psd=σ)``, its default profile);
- scikit-image's non-local means (``denoise_nl_means``, ``sigma=σ``, ``h=0.8σ``, patch 5×5,
  search distance 6, ``fast_mode=True``: the settings of its documentation's example, the true
  σ given).

Inpainting: the first M of those images with 10 %, 50 % and 80 % of the pixels missing at
random (seed 7 + image index); gmm-zoo EPLL (``gmmzoo.restore.inpaint``: from the conditional
start, exact and with ``stride=2``, and from the fill start, ``start="fill"``) against
scikit-image's biharmonic inpainting (``inpaint_biharmonic``).

Every output is clipped to [0, 255]; PSNR = 10 log10(255² / MSE) and SSIM (Gaussian window
σ = 1.5, Wang et al.'s constants, ``skimage.metrics.structural_similarity``) over the whole
image, the same code for every method. Each row: mean ± standard error over the images, the
median seconds per image and the CPU utilisation (process CPU / wall) of that method's calls.

    python benches/restore_peers.py <data-root> [N=10] [M=4] [prior=bsds300_full200_kmeans]
    (N = 0: inpainting only; M = 0: denoising only)
"""

import json
import pathlib
import statistics
import sys
import time

import bm3d
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity
from skimage.restoration import denoise_nl_means, inpaint_biharmonic

import gmmzoo.restore

SIGMAS = (15, 25, 50)
MISSING = (0.1, 0.5, 0.8)
INPAINTERS = ("gmm-zoo EPLL", "gmm-zoo EPLL, stride 2", "gmm-zoo EPLL, fill start", "scikit-image biharmonic")


def gray(path):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def quality(x, clean):
    x = np.clip(x, 0, 255)
    psnr = 10 * np.log10(255**2 / np.mean((x - clean) ** 2))
    ssim = structural_similarity(
        x, clean, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    return float(psnr), float(ssim)


def timed(f):
    wall, cpu = time.perf_counter(), time.process_time()
    out = f()
    wall = time.perf_counter() - wall
    return out, wall, time.process_time() - cpu


def summary(task, method, runs):
    psnr = [r[0] for r in runs]
    ssim = [r[1] for r in runs]
    walls = [r[2] for r in runs]
    se = statistics.stdev(psnr) / len(psnr) ** 0.5 if len(psnr) > 1 else float("nan")
    cpu = sum(r[3] for r in runs) / sum(walls) if sum(walls) > 0 else 0.0
    row = dict(task=task, method=method, images=len(runs), psnr=statistics.mean(psnr), se=se,
               ssim=statistics.mean(ssim), seconds=statistics.median(walls), cpu=cpu)
    print(f"{task:<14} {method:<32} PSNR {row['psnr']:6.2f} ± {se:.2f} dB  SSIM {row['ssim']:.4f}"
          f"  {row['seconds']:7.2f} s per image at {cpu:.0%} CPU", flush=True)
    return row


def main():
    root = pathlib.Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    m = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    prior = sys.argv[4] if len(sys.argv) > 4 else "bsds300_full200_kmeans"
    files = sorted((root / "bsds300" / "test").glob("*.jpg"))[: max(n, m)]
    images = [gray(f) for f in files]
    print(f"{n} and {m} BSDS300 test images ({files[0].name} …), prior {prior}")
    rows = []
    for sigma in SIGMAS if n > 0 else ():
        runs = {"noisy": [], "gmm-zoo EPLL": [], "gmm-zoo EPLL, stride 2": [],
                "gmm-zoo EPLL, stride 4": [], "BM3D": [], "scikit-image NL-means": []}
        for i, clean in enumerate(images[:n]):
            noisy = clean + np.random.default_rng(1000 * sigma + i).normal(scale=sigma, size=clean.shape)
            runs["noisy"].append((*quality(noisy, clean), 0.0, 0.0))
            methods = {
                "gmm-zoo EPLL": lambda: gmmzoo.restore.denoise(noisy, sigma, prior),
                "gmm-zoo EPLL, stride 2": lambda: gmmzoo.restore.denoise(noisy, sigma, prior, stride=2),
                "gmm-zoo EPLL, stride 4": lambda: gmmzoo.restore.denoise(noisy, sigma, prior, stride=4),
                "BM3D": lambda: bm3d.bm3d(noisy, sigma_psd=sigma),
                "scikit-image NL-means": lambda: denoise_nl_means(
                    noisy, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6,
                    fast_mode=True,
                ),
            }
            for name, f in methods.items():
                out, wall, cpu = timed(f)
                runs[name].append((*quality(np.asarray(out, dtype=np.float64), clean), wall, cpu))
        rows += [summary(f"sigma {sigma}", name, r) for name, r in runs.items()]
    for fraction in MISSING if m > 0 else ():
        runs = {name: [] for name in INPAINTERS}
        for i, clean in enumerate(images[:m]):
            mask = np.random.default_rng(7 + i).random(clean.shape) < fraction
            known = np.where(mask, 0.0, clean)
            methods = {
                "gmm-zoo EPLL": lambda: gmmzoo.restore.inpaint(known, mask, prior),
                "gmm-zoo EPLL, stride 2": lambda: gmmzoo.restore.inpaint(
                    known, mask, prior, stride=2
                ),
                "gmm-zoo EPLL, fill start": lambda: gmmzoo.restore.inpaint(
                    known, mask, prior, start="fill"
                ),
                "scikit-image biharmonic": lambda: inpaint_biharmonic(known, mask),
            }
            for name, f in methods.items():
                out, wall, cpu = timed(f)
                runs[name].append((*quality(np.asarray(out, dtype=np.float64), clean), wall, cpu))
        rows += [summary(f"{fraction:.0%} missing", name, r) for name, r in runs.items()]
    with open("restore_peers.json", "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

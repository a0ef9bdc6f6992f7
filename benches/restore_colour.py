"""Colour denoising: EPLL with a gray zoo prior in opponent channels against the same prior on
each of R, G, B alone and against colour BM3D (CBM3D, the ``bm3d`` package's ``bm3d_rgb``),
on the same noisy images in one run.

The first N BSDS300 test images (name order, 481×321, R, G, B in 0-255), white Gaussian noise
of σ drawn by numpy from seed 1000·σ + image index, independent in every channel. PSNR over
every value of the three channels (±: standard error over the images), SSIM the channels'
mean; seconds per image (median) and the CPU utilisation (process CPU / wall) of each method.

    python benches/restore_colour.py <data-root> [N=4] [sigma=25] [prior=bsds300_full200_kmeans]
"""

import pathlib
import statistics
import sys
import time

import bm3d
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

import gmmzoo.restore


def quality(x, clean):
    x = np.clip(x, 0, 255)
    psnr = 10 * np.log10(255**2 / np.mean((x - clean) ** 2))
    ssim = structural_similarity(
        x, clean, data_range=255, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=2,
    )
    return float(psnr), float(ssim)


def timed(f):
    wall, cpu = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main():
    root = pathlib.Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    sigma = float(sys.argv[3]) if len(sys.argv) > 3 else 25.0
    prior = sys.argv[4] if len(sys.argv) > 4 else "bsds300_full200_kmeans"
    files = sorted((root / "bsds300" / "test").glob("*.jpg"))[:n]
    print(f"{n} colour BSDS300 test images ({files[0].name} …), sigma {sigma:g}, prior {prior}")
    methods = {
        "gmm-zoo EPLL, opponent channels": lambda y: gmmzoo.restore.denoise(y, sigma, prior),
        "gmm-zoo EPLL, opponent, stride 4": lambda y: gmmzoo.restore.denoise(
            y, sigma, prior, stride=4
        ),
        "gmm-zoo EPLL, R, G, B alone": lambda y: np.stack(
            [gmmzoo.restore.denoise(y[..., c], sigma, prior) for c in range(3)], axis=2
        ),
        "CBM3D (bm3d_rgb)": lambda y: 255 * bm3d.bm3d_rgb(y / 255, sigma / 255),
    }
    runs = {"noisy": [], **{name: [] for name in methods}}
    for i, path in enumerate(files):
        clean = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        noisy = clean + np.random.default_rng(int(1000 * sigma) + i).normal(
            scale=sigma, size=clean.shape
        )
        runs["noisy"].append((*quality(noisy, clean), 0.0, 0.0))
        for name, f in methods.items():
            out, wall, cpu = timed(lambda: f(noisy))
            runs[name].append((*quality(np.asarray(out, dtype=np.float64), clean), wall, cpu))
    for name, r in runs.items():
        psnr = [x[0] for x in r]
        se = statistics.stdev(psnr) / len(psnr) ** 0.5 if len(psnr) > 1 else float("nan")
        walls = [x[2] for x in r]
        cpu = sum(x[3] for x in r) / sum(walls) if sum(walls) > 0 else 0.0
        print(f"{name:<34} PSNR {statistics.mean(psnr):6.2f} ± {se:.2f} dB  SSIM "
              f"{statistics.mean(x[1] for x in r):.4f}  {statistics.median(walls):7.2f} s per "
              f"image at {cpu:.0%} CPU", flush=True)


if __name__ == "__main__":
    main()

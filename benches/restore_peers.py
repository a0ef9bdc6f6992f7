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

BSD68 (``--bsd68``): instead of the first N images, the 68 test images of Roth & Black that
the denoising literature reports on (``benches/bsd68.txt``, in the order of the DnCNN
repository's ``testsets/BSD68/test001.png`` … ``test068.png``), made gray as that set's PNGs
are: ``round(0.298936 R + 0.587043 G + 0.114021 B)`` (MATLAB's ``rgb2gray``), 8-bit, which
gives those 68 PNGs from BSDS300's JPEG files to the last pixel; N is then how many of them
(68 for all), the noise as above, and the fast mode's stride 2 is left out (stride 4 kept).

    python benches/restore_peers.py <data-root> [N=10] [M=4] [prior=bsds300_full200_kmeans]
        [--bsd68] [--sigma=S ...] [--zoo-only]
    (N = 0: inpainting only; M = 0: denoising only; --sigma=S, once or more: only these noise
    levels; --zoo-only: gmm-zoo EPLL alone, without BM3D and NL-means)
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


# Gray by Rec. 601, and by MATLAB's ``rgb2gray`` (BSD68's PNGs, rounded to 8 bits).
REC601 = (0.299, 0.587, 0.114)
MATLAB = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def gray(path, weights=REC601):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return rgb @ np.array(weights)


def test_images(root, count, bsd68):
    """The first `count` test images: of BSD68's list, or of BSDS300's test folder by name."""
    folder = root / "bsds300" / "test"
    if bsd68:
        names = (pathlib.Path(__file__).parent / "bsd68.txt").read_text().split()[:count]
        return [folder / n for n in names], [np.round(gray(folder / n, MATLAB)) for n in names]
    files = sorted(folder.glob("*.jpg"))[:count]
    return files, [gray(f) for f in files]


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
    flags = [a for a in sys.argv if a.startswith("--")]
    args = [a for a in sys.argv if not a.startswith("--")]
    bsd68, zoo_only = "--bsd68" in flags, "--zoo-only" in flags
    sigmas = [int(f.split("=")[1]) for f in flags if f.startswith("--sigma=")] or SIGMAS
    root = pathlib.Path(args[1])
    n = int(args[2]) if len(args) > 2 else 10
    m = int(args[3]) if len(args) > 3 else 4
    prior = args[4] if len(args) > 4 else "bsds300_full200_kmeans"
    files, images = test_images(root, max(n, m), bsd68)
    set_name = "BSD68" if bsd68 else "BSDS300 test"
    print(f"{n} and {m} {set_name} images ({files[0].name} …), prior {prior}")
    rows = []
    for sigma in sigmas if n > 0 else ():
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
            if bsd68:
                del methods["gmm-zoo EPLL, stride 2"]
            if zoo_only:
                del methods["BM3D"], methods["scikit-image NL-means"]
            for name, f in methods.items():
                out, wall, cpu = timed(f)
                runs[name].append((*quality(np.asarray(out, dtype=np.float64), clean), wall, cpu))
            psnrs = ", ".join(f"{name} {r[-1][0]:.2f}" for name, r in runs.items() if r)
            print(f"  sigma {sigma} {files[i].name}: {psnrs}", flush=True)
        rows += [summary(f"sigma {sigma}", name, r) for name, r in runs.items() if r]
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
    with open("restore_peers_bsd68.json" if bsd68 else "restore_peers.json", "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

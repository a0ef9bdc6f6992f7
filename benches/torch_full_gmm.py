"""The PyTorch peer of `gmmzoo bench <config> --export DIR` for a full-covariance GMM: the same
EM (E-step, then M-step with reg_covar on the diagonal) in float32 with torch.linalg.cholesky,
on the same rows, from the same initial parameters, which the bench wrote to DIR:

    gmmzoo bench configs/bsds300_full200.toml --device vulkan --export /tmp/peer
    python3 benches/torch_full_gmm.py /tmp/peer [iterations] [device]

DIR holds data.npy [N, D], means.npy [K, D], covariances.npy [K, D, D], weights.npy [K],
meta.json (reg_covar, resp_floor, batch size) and ours.json (our per-iteration seconds and
log-likelihoods, written after our run). Prints, per iteration, the mean log-likelihood of the
parameters it started from (nats per sample, as ours) and its seconds (CUDA-synchronised), then
one table row: our median against the peer's, and the first iterations' log-likelihoods side by
side (the same start should give the same figures to f32 rounding).
"""
import json
import statistics
import sys
import time

import numpy as np
import torch


def em_iteration(x, means, covs, weights, reg, floor, rows):
    """One EM iteration over x in chunks of `rows`; returns the new parameters and the mean
    log-likelihood of the old ones."""
    k, d = means.shape
    chol = torch.linalg.cholesky(covs)                                    # Σ = L Lᵀ
    eye = torch.eye(d, device=x.device, dtype=x.dtype).expand(k, d, d)
    prec_chol = torch.linalg.solve_triangular(chol, eye, upper=False)     # L⁻¹
    half_logdet = -torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)  # ½ log|Σ⁻¹|
    const = -0.5 * d * np.log(2 * np.pi)
    log_w = torch.log(weights)
    nk = torch.zeros(k, device=x.device, dtype=torch.float64)
    first = torch.zeros(k, d, device=x.device, dtype=x.dtype)
    second = torch.zeros(k, d, d, device=x.device, dtype=x.dtype)
    ll = torch.zeros((), device=x.device, dtype=torch.float64)
    for s in range(0, x.shape[0], rows):
        xb = x[s:s + rows]
        y = xb.unsqueeze(0) - means.unsqueeze(1)                          # [K, n, D]
        z = torch.matmul(y, prec_chol.transpose(1, 2))                    # (x − μ)ᵀ L⁻ᵀ
        logp = const + half_logdet.unsqueeze(1) - 0.5 * (z * z).sum(2)    # [K, n]
        a = logp + log_w.unsqueeze(1)
        lse = torch.logsumexp(a, dim=0)
        ll += lse.double().sum()
        r = torch.exp(a - lse.unsqueeze(0))
        r = torch.where(r >= floor, r, torch.zeros_like(r))              # [K, n]
        nk += r.double().sum(1)
        w = y * r.unsqueeze(2)
        first += w.sum(1)
        second += torch.matmul(w.transpose(1, 2), y)
    n = x.shape[0]
    nk32 = nk.to(x.dtype).clamp_min(1e-30)
    delta = first / nk32.unsqueeze(1)
    new_means = means + delta
    new_covs = second / nk32.view(k, 1, 1) - delta.unsqueeze(2) * delta.unsqueeze(1)
    new_covs = 0.5 * (new_covs + new_covs.transpose(1, 2)) + reg * torch.eye(d, device=x.device)
    new_w = (nk / n).to(x.dtype)
    return new_means, new_covs, new_w / new_w.sum(), (ll / n).item()


def main():
    folder = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    dev = sys.argv[3] if len(sys.argv) > 3 else ("cuda" if torch.cuda.is_available() else "cpu")
    meta = json.load(open(f"{folder}/meta.json"))
    x = torch.from_numpy(np.load(f"{folder}/data.npy")).to(dev)
    means = torch.from_numpy(np.load(f"{folder}/means.npy")).to(dev)
    covs = torch.from_numpy(np.load(f"{folder}/covariances.npy")).to(dev)
    weights = torch.from_numpy(np.load(f"{folder}/weights.npy")).to(dev)
    n, d = x.shape
    k = means.shape[0]
    # Rows per chunk: the [K, rows, D] blocks within ~1 GB of float32.
    rows = max(256, min(n, (1 << 28) // (k * d)))
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else "CPU"
    print(f"peer: PyTorch {torch.__version__} float32 on {name}; N={n} D={d} K={k}, "
          f"{rows} rows per chunk, {iters} iterations")
    times, lls = [], []
    for t in range(iters):
        sync()
        start = time.perf_counter()
        means, covs, weights, ll = em_iteration(
            x, means, covs, weights, meta["reg_covar"], meta["resp_floor"], rows)
        sync()
        times.append(time.perf_counter() - start)
        lls.append(ll)
        print(f"  iteration {t + 1}: log-likelihood {ll:.6f}  {times[-1]:.4f} s")
    peer = statistics.median(times[1:] if len(times) > 1 else times)
    print(f"peer median {peer:.4f} s per EM iteration (first iteration, with warm-up, excluded)")
    try:
        ours = json.load(open(f"{folder}/ours.json"))
    except FileNotFoundError:
        return
    mine = statistics.median(ours["seconds"])
    m = min(3, len(lls), len(ours["log_likelihood"]))
    pairs = ", ".join(f"{a:.4f}/{b:.4f}" for a, b in zip(ours["log_likelihood"][:m], lls[:m]))
    print(f"| {meta['config']} | {ours['device']} | {mine:.4f} | {peer:.4f} | "
          f"{mine / peer:.2f}x | {pairs} |")


if __name__ == "__main__":
    main()

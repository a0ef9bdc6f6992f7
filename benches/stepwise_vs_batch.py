"""Stepwise EM (``partial_fit`` over chunks) against batch EM, pass by pass, on BSDS300 rows.

Both start from the same parameters: one batch EM iteration from a k-means++ start on the
training rows. Then, for `passes` passes over the training rows:

- batch EM: one EM iteration per pass (``GaussianMixture`` with ``warm_start=True``,
  ``max_iter=1``);
- stepwise EM: ``partial_fit`` on consecutive chunks of `chunk` rows (one M-step per chunk,
  step size ``η_k = (k + 2)^(−α)``, α = `alpha`); with `switch` = S > 0, stepwise for S passes
  and batch EM from its model after that (``fit`` with ``warm_start=True``, ``max_iter=1``).

After every pass each is scored on the held-out rows (mean log-likelihood ± standard error
over rows); the table gives the held-out figure and the seconds spent fitting so far
(scoring not counted), and the run's CPU utilisation (process CPU / wall). The held-out
rows are only reported: nothing is chosen on them.

The held-out rows are the test rows and, as a second figure, the validation rows (`n_valid`,
drawn from the training images). `--stepwise-passes P` stops stepwise EM after P passes while
batch EM goes on to `passes`; `--svg FILE` draws both held-out (test) curves against passes
and against seconds.

    python benches/stepwise_vs_batch.py <data-root> [n_train=1000000] [n_held_out=50000]
        [K=50] [passes=8] [chunk=65536] [alpha=0.7] [switch=0]
        [--stepwise-passes P] [--svg FILE]
"""

import argparse
import copy
import json
import time

import numpy as np

import gmmzoo


def rows(root, n_train, n_test):
    text = (f'seed = 1\n[data]\ndataset = "bsds300"\nn_train = {n_train}\nn_valid = {n_test}\n'
            f'n_test = {n_test}\n')
    return [gmmzoo.load_data(text, split, root)[0].astype(np.float64)
            for split in ("train", "valid", "test")]


def held_out(est, x):
    ll = est.score_samples(x)
    return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll)))


def arguments():
    p = argparse.ArgumentParser(description="stepwise EM against batch EM, pass by pass")
    p.add_argument("root")
    for name, kind, default in [("n_train", int, 1000000), ("n_held_out", int, 50000),
                                ("k", int, 50), ("passes", int, 8), ("chunk", int, 65536),
                                ("alpha", float, 0.7), ("switch", int, 0)]:
        p.add_argument(name, type=kind, nargs="?", default=default)
    p.add_argument("--stepwise-passes", type=int, default=0,
                   help="stop stepwise EM after this many passes (0: all)")
    p.add_argument("--svg", help="draw the held-out curves into this file")
    return p.parse_args()


def main():
    a = arguments()
    train, valid, test = rows(a.root, a.n_train, a.n_held_out)
    last_stepwise = a.stepwise_passes or a.passes
    cpu0, wall0 = time.process_time(), time.perf_counter()
    t = time.perf_counter()
    start = gmmzoo.GaussianMixture(
        a.k, init_params="k-means++", max_iter=1, tol=0.0, random_state=0, step_alpha=a.alpha
    ).fit(train)
    start_seconds = time.perf_counter() - t
    batch, online = copy.deepcopy(start), copy.deepcopy(start)
    batch.warm_start = True
    first = {"test": held_out(start, test), "valid": held_out(start, valid), "s": 0.0}
    table = [{"pass": 0, "batch": first, "stepwise": first}]
    spent = {"batch": 0.0, "stepwise": 0.0}
    for p in range(1, a.passes + 1):
        t = time.perf_counter()
        batch.fit(train)
        spent["batch"] += time.perf_counter() - t
        row = {"pass": p, "batch": {"test": held_out(batch, test),
                                    "valid": held_out(batch, valid), "s": spent["batch"]}}
        if p <= last_stepwise:
            t = time.perf_counter()
            if a.switch and p > a.switch:
                online.set_params(warm_start=True, max_iter=1, tol=0.0)
                online.fit(train)
            else:
                for s in range(0, len(train), a.chunk):
                    online.partial_fit(train[s : s + a.chunk])
            spent["stepwise"] += time.perf_counter() - t
            row["stepwise"] = {"test": held_out(online, test),
                               "valid": held_out(online, valid), "s": spent["stepwise"]}
        table.append(row)
        line = " ".join(
            f"{name} {r['test'][0]:.4f} ± {r['test'][1]:.4f} (valid {r['valid'][0]:.4f}, "
            f"{r['s']:.1f} s)" for name, r in row.items() if name != "pass"
        )
        print(f"pass {p}: {line}", flush=True)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(picture(table, f"{len(train):,} rows, K = {a.k}, α = {a.alpha}"))
    print(json.dumps({"n_train": len(train), "n_held_out": len(test), "K": a.k, "chunk": a.chunk,
                      "alpha": a.alpha, "switch": a.switch, "start_seconds": start_seconds,
                      "cpu_utilisation": cpu, "passes": table}))


def picture(table, title):
    """Held-out (test) log-likelihood against passes and against fit seconds, both methods."""
    colours = {"batch": "#1f77b4", "stepwise": "#d62728"}
    series = {m: [(r["pass"], r[m]["s"], r[m]["test"][0]) for r in table if m in r]
              for m in colours}
    values = [v for pts in series.values() for (_, _, v) in pts[1:]]
    lo, hi = min(values), max(values)
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    w, h, pad = 360, 260, 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w + pad}" height="{h + 60}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{w}" y="14" text-anchor="middle">{title}: held-out nats per row</text>']
    for panel, (axis, col) in enumerate([("passes", 0), ("seconds", 1)]):
        x0, top = pad + panel * (w + pad // 2), 25
        xmax = max(p[col] for pts in series.values() for p in pts) or 1.0
        sx = lambda v, x0=x0, xmax=xmax: x0 + (w - pad) * v / xmax
        sy = lambda v: top + h - 20 - (h - 40) * (v - lo) / (hi - lo)
        out.append(f'<rect x="{x0}" y="{top}" width="{w - pad}" height="{h - 20}" '
                   'fill="none" stroke="#888"/>')
        for i in range(5):
            v = lo + (hi - lo) * i / 4
            out.append(f'<text x="{x0 - 4}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
            xv = xmax * i / 4
            out.append(f'<text x="{sx(xv):.1f}" y="{top + h - 6}" text-anchor="middle">'
                       f'{xv:.0f}</text>')
        out.append(f'<text x="{x0 + (w - pad) / 2}" y="{top + h + 10}" '
                   f'text-anchor="middle">{axis}</text>')
        for m, pts in series.items():
            shown = [(sx(p[col]), sy(p[2])) for p in pts[1:]]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in shown)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colours[m]}" '
                       'stroke-width="1.5"/>')
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colours[m]}"/>'
                       for x, y in shown)
        for i, m in enumerate(colours):
            out.append(f'<text x="{x0 + w - pad - 10}" y="{top + h - 48 + 14 * i}" '
                       f'text-anchor="end" fill="{colours[m]}">{m} EM</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()

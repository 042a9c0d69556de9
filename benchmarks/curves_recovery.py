"""Recovery and calibration on simulated training curves (issue 3): curves from a known
``kaplan_steps`` law with a per-run offset and AR(1) noise, fitted with run-aware noise
(``noise="ar1"``) and with independent checkpoints (``noise="iid"``).

For each simulated dataset (5 sizes, 30 checkpoints each; the largest run cut at 10% of its
steps), both fits score: whether each law parameter's truth lies inside its 50/80/90/94%
equal-tailed intervals, and whether the cut run's true final loss lies inside the forecast's
intervals. Coverage near nominal means honest intervals.

Run from the repository root: ``python benchmarks/curves_recovery.py [--datasets 20]``; writes
``benchmarks/results/curves_recovery.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs

ROOT = Path(__file__).resolve().parents[1]
LAW = bs.get_law("kaplan_steps")
TRUTH = LAW.example  # Kaplan et al.: Nc 6.5e13, Sc 2.1e3, aN 0.076, aS 0.76
NOISE = {"sigma": 0.01, "tau": 0.02, "ell": 0.5}
PROBS = (0.5, 0.8, 0.9, 0.94)


def simulate(seed: int) -> tuple[bs.RunTable, str, float, float]:
    runs = bs.runs.simulate_curves(LAW, TRUTH, sizes=np.geomspace(1e7, 1e9, 5), steps=np.geomspace(500, 5e4, 30),
                                   random_seed=seed, **NOISE)
    df = runs.to_dataframe()
    big = df.run == df.run.iloc[-1]
    last = df[big].iloc[-1]
    cut = runs.filter(~(big & (df.step > 5e3)).to_numpy())
    return cut, last.run, float(last.step), float(last.loss)


def inside(draws: np.ndarray, value: float) -> dict[float, bool]:
    out = {}
    for p in PROBS:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2])
        out[p] = bool(lo <= value <= hi)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    args = ap.parse_args()
    rows = []
    t0 = time.time()
    for seed in range(args.datasets):
        runs, run, step, final = simulate(seed)
        for noise in ("ar1", "iid"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.SamplerWarning)
                fit = bs.fit(runs, LAW, noise=noise, draws=args.draws, tune=args.tune, random_seed=seed,
                             progressbar=False)
            diag = fit.diagnostics()
            post = fit.posterior
            for name, value in TRUTH.items():
                for p, hit in inside(post[name].values.ravel(), value).items():
                    rows.append({"seed": seed, "noise": noise, "what": name, "p": p, "hit": hit})
            fc = bs.analysis.forecast_draws(fit, run=run, at=[step]).values.ravel()
            for p, hit in inside(fc, final).items():
                rows.append({"seed": seed, "noise": noise, "what": "forecast", "p": p, "hit": hit})
            rows.append({"seed": seed, "noise": noise, "what": "_diag", "p": diag["divergences"],
                         "hit": diag["max_r_hat"]})
        print(f"dataset {seed} done ({time.time() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    diag = df[df.what == "_diag"]
    cov = df[df.what != "_diag"].assign(hit=lambda d: d.hit.astype(float))
    table = cov.pivot_table(index=["noise", "what"], columns="p", values="hit", aggfunc="mean")
    params = cov[cov.what != "forecast"].pivot_table(index="noise", columns="p", values="hit", aggfunc="mean")
    lines = [
        "# Recovery and calibration on simulated training curves",
        "",
        f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} ({platform.machine()}, "
        f"{os.cpu_count()} cores); command `python benchmarks/curves_recovery.py --datasets {args.datasets}` "
        f"({time.time() - t0:.0f} s in all).",
        f"{args.datasets} datasets: kaplan_steps at Kaplan et al.'s values, 5 sizes 1e7-1e9, 30 checkpoints "
        f"each (steps 500-5e4, log-spaced), noise sigma {NOISE['sigma']}, run offsets tau {NOISE['tau']}, "
        f"AR(1) correlation length {NOISE['ell']} in log(step); the largest run cut at step 5000 and its "
        f"final loss (step 5e4) forecast. {args.draws} draws x 4 chains after {args.tune} tuning, seed = dataset.",
        "",
        "Coverage of equal-tailed intervals (fraction of datasets whose truth is inside):",
        "",
        "| noise | quantity | " + " | ".join(f"{p:.0%}" for p in PROBS) + " |",
        "|---|---|" + "---|" * len(PROBS),
    ]
    for (noise, what), r in table.iterrows():
        lines.append(f"| {noise} | {what} | " + " | ".join(f"{r[p]:.2f}" for p in PROBS) + " |")
    for noise, r in params.iterrows():
        lines.append(f"| {noise} | all 4 parameters | " + " | ".join(f"{r[p]:.2f}" for p in PROBS) + " |")
    lines += ["", "Sampler: " + "; ".join(
        f"{n}: divergences in {int((d.p > 0).sum())} of {len(d)} fits, max R-hat {d.hit.max():.3f}"
        for n, d in diag.groupby("noise"))]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "curves_recovery.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""The prior on the law's extrapolation error (``kappa`` of ``noise="discrepancy"``), from public ladders.

Reads the per-run rows of the extrapolation benchmark (``benchmarks/results/extrapolation.json``,
written by ``python benchmarks/extrapolation.py``): for every held-out larger run, the observed loss,
the median and 90% interval of today's default fit (``chinchilla``, Student-t, ``noise="iid"``) and
its distance in decades of C beyond the fitted runs. It approximates that fit's predictive of log loss
by a normal with the interval's sd, widens it by ``kappa * distance`` with ``kappa ~ HalfNormal(s)``
(integrated over kappa), and picks the ``s`` that maximises the mean held-out log density, each dataset
weighted equally. Leave-one-dataset-out, it refits ``s`` without a dataset and scores that dataset,
which estimates how the prior does on a ladder it has not seen.

    python models/extrapolation_prior.py [path/to/extrapolation.json]

Run 2026-12-05 on the benchmark's five datasets: s = 0.032 per decade; the value
``bayescale/laws/noise.py`` uses. The table it prints is kept in
``benchmarks/results/extrapolation_prior.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
METHOD = "bayescale:chinchilla:student_t:iid"
#: Quantiles of |kappa| / s for kappa ~ HalfNormal(s): the integral over kappa as an average.
HALF_NORMAL = norm.ppf(0.5 + (np.arange(200) + 0.5) / 400)


def load(path: Path) -> pd.DataFrame:
    data = json.loads(path.read_text())
    rows = pd.DataFrame(data["rows"] if isinstance(data, dict) else data)
    rows = rows[rows.method == METHOD].copy()
    rows["res"] = np.log(rows.loss / rows["median"])
    rows["s0"] = (np.log(rows["upper_0.9"]) - np.log(rows["lower_0.9"])) / (2 * norm.ppf(0.95))
    rows["d"] = rows.distance.clip(lower=0.0)
    return rows


def _sd(s: float, df: pd.DataFrame) -> np.ndarray:
    return np.sqrt(df.s0.to_numpy()[:, None] ** 2 + (s * HALF_NORMAL[None, :] * df.d.to_numpy()[:, None]) ** 2)


def log_density(s: float, df: pd.DataFrame) -> np.ndarray:
    return np.log(norm.pdf(df.res.to_numpy()[:, None], 0.0, _sd(s, df)).mean(axis=1))


def coverage(s: float, df: pd.DataFrame, p: float) -> tuple[float, float]:
    """Coverage and mean width (log loss) of the central ``p`` interval of the widened predictive."""
    sd = _sd(s, df)
    lo, hi = np.zeros(len(df)), np.full(len(df), 5.0)
    for _ in range(60):  # bisection on the mixture's cdf for its (1 + p) / 2 quantile
        mid = (lo + hi) / 2
        below = norm.cdf(mid[:, None] / sd).mean(axis=1) < 0.5 + p / 2
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return float((np.abs(df.res.to_numpy()) <= lo).mean()), float((2 * lo).mean())


def best_scale(df: pd.DataFrame) -> float:
    def loss(s: float) -> float:
        return -np.mean([log_density(s, g).mean() for _, g in df.groupby("dataset")])

    return float(minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded").x)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "results" / "extrapolation.json"
    rows = load(path)
    s = best_scale(rows)
    lines = [f"kappa ~ HalfNormal(s): s = {s:.4f} per decade of C, from {len(rows)} held-out runs of "
             f"{rows.dataset.nunique()} datasets ({path.name})", "",
             "| left out | s without it | n | cov50 | cov90 | cov95 | width90 | log density (before) |",
             "|---|---|---|---|---|---|---|---|"]
    for ds in sorted(rows.dataset.unique()):
        train, test = rows[rows.dataset != ds], rows[rows.dataset == ds]
        s_ds = best_scale(train)
        c50, _ = coverage(s_ds, test, 0.5)
        c90, w90 = coverage(s_ds, test, 0.9)
        c95, _ = coverage(s_ds, test, 0.95)
        before = norm.logpdf(test.res, 0.0, test.s0).mean()
        lines.append(f"| {ds} | {s_ds:.4f} | {len(test)} | {c50:.2f} | {c90:.2f} | {c95:.2f} | {w90:.3f} | "
                     f"{log_density(s_ds, test).mean():.2f} ({before:.2f}) |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

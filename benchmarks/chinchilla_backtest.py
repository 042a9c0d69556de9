"""Calibration on real data: fit the Chinchilla law to all but the largest-compute Epoch runs and
score the intervals on the held-out ones (coverage of 50/80/90% new-run intervals, ARE).

Run from the repository root: ``python benchmarks/chinchilla_backtest.py``; writes
``benchmarks/results/chinchilla_backtest.md``.
"""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

import numpy as np

import bayescale as bs

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw" / "epoch_chinchilla_svg_extracted_data.csv"


def main() -> None:
    runs = bs.datasets.load("chinchilla_epoch2024", RAW).drop_highest_loss(5)
    lines = ["# Backtest on the Epoch Chinchilla points (240 runs)", "",
             f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} ({platform.machine()}); "
             "command `python benchmarks/chinchilla_backtest.py`. Held out: the runs of largest C;",
             "fit on the rest (4 x 1000 draws, seed 1); new-run equal-tailed intervals.", "",
             "| likelihood | held out | C range held out | cov 50% | cov 80% | cov 90% | ARE | "
             "held-out log-residual mean, sd | mean 90% half-width (log) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for lik in ("student_t", "normal"):
        for h in (0.1, 0.2):
            bt = bs.analysis.backtest(runs, "chinchilla", holdout=h,
                                      fit_kwargs={"likelihood": lik, "random_seed": 1, "progressbar": False})
            t, cov = bt.table, bt.coverage()
            r = np.log(t["loss"] / t["median"])
            half = np.mean(np.log(t["upper_0.9"] / t["lower_0.9"])) / 2
            lines.append(f"| {lik} | {len(t)} | {t['C'].min():.2g} - {t['C'].max():.2g} | {cov[0.5]:.2f} | "
                         f"{cov[0.8]:.2f} | {cov[0.9]:.2f} | {bt.are():.4f} | {r.mean():+.4f}, {r.std():.4f} | "
                         f"{half:.4f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "chinchilla_backtest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

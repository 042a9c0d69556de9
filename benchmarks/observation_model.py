"""Issue 12 acceptance: the observation-model redesign reproduces the recorded Epoch numbers.

Fits `chinchilla` (Student-t, 4 x 1000 draws after 1000 tune, seed 2024) to the 240 Epoch points
(five highest losses dropped), as `benchmarks/chinchilla_speed.py` did for the README, and prints
the parameters' medians and 95% equal-tailed intervals and the Chinchilla-70B 90% HDIs beside the
values recorded before the redesign (results/chinchilla_speed.md, 2026-12-03, commit f34227b).
Writes results/observation_model.md.

    python benchmarks/observation_model.py
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from pathlib import Path

import numpy as np

import bayescale as bs

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw" / "epoch_chinchilla_svg_extracted_data.csv"
FIT = dict(likelihood="student_t", draws=1000, tune=1000, chains=4, random_seed=2024, progressbar=False)
#: Recorded before the redesign (results/chinchilla_speed.md): median, 95% ETI.
BEFORE = {"E": (1.807, 1.775, 1.838), "A": (463.2, 336.7, 632.0), "B": (1863, 1208, 2838),
          "alpha": (0.3455, 0.3266, 0.3639), "beta": (0.3603, 0.339, 0.3812)}
BEFORE_70B = {"mean": (1.9688, 1.9565, 1.9821), "new_run": (1.9685, 1.9442, 1.9910)}


def main() -> None:
    runs = bs.datasets.load("chinchilla_epoch2024", RAW).drop_highest_loss(5)
    fit = bs.fit(runs, "chinchilla", **FIT)
    d = fit.diagnostics()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [
        "# Observation-model redesign (issue 12): the Epoch fit before and after",
        "",
        f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} ({platform.machine()}, 2 cores), "
        f"commit {commit}; command `python benchmarks/observation_model.py`. Fit: {FIT}.",
        f"Diagnostics: divergences {d['divergences']}, max R-hat {d['max_r_hat']:.4f}, min ESS bulk "
        f"{d['min_ess_bulk']:.0f}.",
        "",
        "| parameter | before: median | before: 95% ETI | after: median | after: 95% ETI | after: MC s.e. of median |",
        "|---|---|---|---|---|---|",
    ]
    for k, (m0, lo0, hi0) in BEFORE.items():
        v = fit.posterior[k].values.reshape(-1)
        lo, med, hi = np.quantile(v, [0.025, 0.5, 0.975])
        ess = float(bs.diagnose(fit).to_dict().get("min_ess_bulk", len(v)))
        se = 1.2533 * v.std() / np.sqrt(ess)  # Monte Carlo s.e. of a median, from the smallest bulk ESS
        lines.append(f"| {k} | {m0:.4g} | {lo0:.4g} - {hi0:.4g} | {med:.4g} | {lo:.4g} - {hi:.4g} | {se:.2g} |")
    lines += ["", "Chinchilla-70B (N 7e10, D 1.4e12), 90% HDI:", "",
              "| kind | before | after |", "|---|---|---|"]
    for kind, (m0, lo0, hi0) in BEFORE_70B.items():
        t = bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9, ci_kind="hdi", kind=kind)
        lines.append(f"| {kind} | {m0:.4f} [{lo0:.4f}, {hi0:.4f}] | {t['median'][0]:.4f} "
                     f"[{t['lower'][0]:.4f}, {t['upper'][0]:.4f}] |")
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results" / "observation_model.md").write_text(text)


if __name__ == "__main__":
    main()

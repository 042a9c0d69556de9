"""Parameter recovery on simulated isoFLOP runs (the acceptance figures behind tests/inference/test_recovery.py).

Simulates runs from a known law (6 budgets 1e18-3e21 FLOPs x 7 sizes around sqrt(C/120), 2%
multiplicative noise, seed 11), fits with the default settings (4 x 1000 draws, seed 2) and prints
each parameter's truth beside its 94% HDI, R-hat and ESS, plus divergences; writes
``benchmarks/results/recovery.md``. Run from the repository root: ``python benchmarks/recovery.py``.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from pathlib import Path

import bayescale as bs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import CHINCHILLA_TRUE, isoflop_runs  # noqa: E402

KAPLAN_TRUE = {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095}


def main() -> None:
    lines = ["# Parameter recovery (simulated isoFLOP runs, 2% noise)", "",
             f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} ({platform.machine()}), "
             "command `python benchmarks/recovery.py`.", ""]
    for law, truth in (("chinchilla", CHINCHILLA_TRUE), ("kaplan", KAPLAN_TRUE)):
        runs = isoflop_runs(law, truth, noise_sd=0.02, seed=11)
        fit = bs.fit(runs, law, random_seed=2, progressbar=False)
        s = fit.summary(ci_prob=0.94)
        d = fit.diagnostics()
        lines += [f"## {law} ({len(runs)} runs, {runs.n_distinct('N')} sizes)", "",
                  "| parameter | truth | 94% HDI | inside | r_hat | ess_bulk |", "|---|---|---|---|---|---|"]
        for name, value in {**truth, "sigma": 0.02}.items():
            lo, hi = s.loc[name, "hdi94_lb"], s.loc[name, "hdi94_ub"]
            lines.append(f"| {name} | {value:.4g} | {lo:.4g} - {hi:.4g} | {lo < value < hi} | "
                         f"{s.loc[name, 'r_hat']:.4f} | {s.loc[name, 'ess_bulk']:.0f} |")
        lines += ["", f"divergences {d['divergences']}, max R-hat {d['max_r_hat']:.4f}, "
                  f"min ESS bulk {d['min_ess_bulk']:.0f}, tail {d['min_ess_tail']:.0f}", ""]
    text = "\n".join(lines)
    print(text)
    (ROOT / "benchmarks" / "results" / "recovery.md").write_text(text)


if __name__ == "__main__":
    main()

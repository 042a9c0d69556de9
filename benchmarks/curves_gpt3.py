"""Issue 3 acceptance: predict GPT-3 175B's late validation curve from the seven smaller models.

Fits ``chinchilla`` (D = tokens seen) to the checkpoints past 1e10 tokens of GPT-3 Small ... 13B
(the digitised curves of Brown et al. 2020, Fig. 3.1; see ``curve_data.gpt3_val_curves``), then
forecasts the 175B model as a NEW run of N = 1.75e11 with ``bs.analysis.forecast_draws(fit,
N=..., at=tokens)`` at its own checkpoints in the last 30% of its training (tokens >= 0.7 x its
last tokens value; the collapsed, unthinned curve). Scores the predictive median by ARE = mean
|y - yhat| / y and the 50/80/90% equal-tailed intervals by coverage, for ``noise="ar1"`` (run
offset + correlated residuals) and ``noise="iid"`` (every checkpoint independent), same seed.

Run from the repository root: ``python benchmarks/curves_gpt3.py``; writes
``benchmarks/results/curves_gpt3.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "curves_gpt3.md"
N_TARGET = 1.75e11
MIN_TOKENS = 1e10
LATE = 0.7
CI_PROBS = (0.5, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    ap.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    ap.add_argument("--max-points", type=int, default=60, help="checkpoints kept per training run (60)")
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()

    notes: list[str] = []
    curves = cd.gpt3_val_curves(max_points=args.max_points, notes=notes)
    is_target = curves.N == N_TARGET
    train = curves.filter(~is_target).drop_warmup(tokens=MIN_TOKENS)
    full = cd.gpt3_val_curves(max_points=None).to_dataframe()
    target = full[full["N"] == N_TARGET]
    target = target[target["D"] >= LATE * target["D"].max()]
    y, at = target["loss"].to_numpy(), target["D"].to_numpy()
    print(train, f"\nheld out: {len(target)} checkpoints of the 175B run, tokens {at.min():.3g}-{at.max():.3g}",
          flush=True)

    rows, fits = [], {}
    for noise in ("ar1", "iid"):
        fit, wall, warns = cd.timed_fit(train, "chinchilla", noise=noise, likelihood=args.likelihood,
                                        draws=args.draws, tune=args.tune, chains=args.chains,
                                        random_seed=args.seed, **cd.sampler_kwargs(args))
        t0 = time.perf_counter()
        draws = bs.analysis.forecast_draws(fit, N=N_TARGET, at=at)
        wall_fc = time.perf_counter() - t0
        s = cd.score_draws(draws, y, ci_probs=CI_PROBS)
        diag = fit.diagnostics()
        half90 = np.mean(np.log(s["upper_0.9"] / s["lower_0.9"])) / 2
        rows.append({
            "noise": noise, "held-out checkpoints": len(s), "ARE": s["rel_err"].mean(),
            "cov 50%": s["in_0.5"].mean(), "cov 80%": s["in_0.8"].mean(), "cov 90%": s["in_0.9"].mean(),
            "mean log(y/median)": float(np.mean(np.log(s["y"] / s["median"]))),
            "mean 90% half-width (log)": half90,
            "divergences": diag["divergences"], "max R-hat": diag["max_r_hat"],
            "min ESS bulk": diag["min_ess_bulk"], "fit wall_s": wall, "forecast wall_s": wall_fc,
        })
        fits[noise] = (fit, s, warns)
        print(rows[-1], *warns, sep="\n", flush=True)

    lines = cd.results_header("GPT-3 175B from the seven smaller GPT-3 curves (issue 3 acceptance)",
                              started=started)
    lines += [
        f"Fit: `chinchilla` (D = tokens seen), {args.likelihood} likelihood on log loss, "
        f"{cd.sampler_text(args)}, on "
        f"{len(train)} checkpoints of the 7 smaller models with tokens >= {MIN_TOKENS:.0e} "
        f"(at most {args.max_points} per run, evenly in log tokens).",
        f"Held out: the 175B model's {len(target)} checkpoints with tokens >= {LATE} x its last "
        f"({at.min():.3g} - {at.max():.3g} tokens; digitised points collapsed by exact token value, not "
        "thinned), forecast as a NEW run of N = 1.75e11 (`forecast_draws(fit, N=1.75e11, at=tokens)`); "
        "equal-tailed intervals. The held-out checkpoints are one run's curve: their errors are "
        "strongly correlated, so coverage is close to all-or-nothing, not a frequency over "
        f"{len(target)} independent trials.", "",
        cd.md_table(rows), "",
        "ARE = mean |y - median| / y. Wall times on a shared 2-core machine (build + compile + sample); "
        "compare them as ratios.", "",
        "## Data handling", "",
        *[f"- {n}" for n in notes], "",
    ]
    posteriors = [(f"noise={noise}", fit, warns) for noise, (fit, _, warns) in fits.items()]
    cd.finish_results(lines, posteriors, out=OUT, quick=args.quick)


if __name__ == "__main__":
    main()

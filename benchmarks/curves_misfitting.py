"""Forecast the final loss of the largest (Mis)Fitting runs from the start of their curves.

Data: Li et al. 2025 (``curve_data.misfitting_curves``: N = non-embedding parameters, C4 eval
loss). The five runs of the largest size (``misfitting_1b``, 10k or 20k steps, peak learning
rates 4e-4 to 4e-3) are cut to the first 30% (then, in a separate fit, 50%) of their own
``total_steps``; all smaller runs keep their full curves. One fit per fraction, law and noise
model, with all five large runs truncated together; each large run's last checkpoint is then
forecast with ``bs.analysis.forecast_draws(fit, run=<run>, at=[final step])``.

Reports, per fraction, law and noise model (``ar1``, ``iid``): the median and mean absolute error
of the median forecast over the five runs, the coverage of 80% and 90% equal-tailed intervals, and
a per-run table beside a naive forecast (the last loss seen). Laws: ``chinchilla`` (D = tokens
seen) and, with ``--laws chinchilla,kaplan_steps``, ``kaplan_steps`` (S = step).

Schedule-aware laws (``--laws multi_power,annealing``) read each run's cosine schedule
(``curve_data.misfitting_schedules``) and have no N: they are fitted to the five large runs alone
(checkpoints inside the 50-step warm-up dropped), and each forecast is given the run's schedule.

Run from the repository root: ``python benchmarks/curves_misfitting.py``; writes
``benchmarks/results/curves_misfitting.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "curves_misfitting.md"
CI_PROBS = (0.8, 0.9)


def short(run_id: str) -> str:
    """``misfitting_1b|steps=20000|lr=0.001|<date>_sweep`` -> ``steps=20000|lr=0.001``."""
    return "|".join(str(run_id).split("|")[1:3])


def small_run_mask(df: pd.DataFrame, small: np.ndarray, every: int) -> np.ndarray:
    """Keep every ``every``-th checkpoint (and the last) of the smaller runs; all of the large."""
    if every <= 1:
        return np.ones(len(df), dtype=bool)
    g = df.groupby(df["run"].to_numpy(), sort=False)
    pos, size = g.cumcount().to_numpy(), g["run"].transform("size").to_numpy()
    return ~small | (pos % every == 0) | (pos == size - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    ap.add_argument("--laws", default="chinchilla", help="comma-separated laws (chinchilla)")
    ap.add_argument("--fractions", default="0.3,0.5", help="fractions of total_steps seen (0.3,0.5)")
    ap.add_argument("--noises", default="ar1,iid", help="noise models (ar1,iid)")
    ap.add_argument("--thin-small", type=int, default=1,
                    help="keep every k-th checkpoint (and the last) of the smaller runs (1 = all)")
    ap.add_argument("--min-step", type=int, default=0,
                    help="drop checkpoints before this step in every run (0 = keep all)")
    ap.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    ap.add_argument("--run-effects", default="", help="comma-separated parameters that vary by run (none)")
    ap.add_argument("--out", default=str(OUT), help="results file (benchmarks/results/curves_misfitting.md)")
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()

    notes: list[str] = []
    table = cd.misfitting_curves(notes=notes)
    if args.min_step:
        table = table.drop_warmup(steps=args.min_step)
        notes.append(f"dropped checkpoints before step {args.min_step} in every run")
    df = table.to_dataframe()
    big_n = df["N"].max()
    large = (df["N"] == big_n).to_numpy()
    big_runs = list(pd.unique(df.loc[large, "run"]))
    thin = small_run_mask(df, ~large, args.thin_small)
    if args.thin_small > 1:
        notes.append(f"smaller runs thinned to every {args.thin_small}-th checkpoint (last kept): "
                     f"{int((~large).sum())} -> {int((thin & ~large).sum())} checkpoints")
    finals = df[large].groupby("run", sort=False).tail(1).set_index("run")

    summary, per_run = [], []
    fits: dict[tuple, tuple] = {}
    schedules = cd.misfitting_schedules(table)
    for law in args.laws.split(","):
        by_schedule = bs.laws.schedule.reads_schedule(bs.get_law(law))
        for frac in map(float, args.fractions.split(",")):
            seen = ~large | (df["portion_steps_elapsed"].to_numpy() <= frac + 1e-9)
            train = table.filter(seen & thin)
            if by_schedule:  # no N in the law: the large runs alone, after their warm-up
                train = table.filter(seen & large).with_schedules(
                    {r: schedules[r] for r in big_runs}).drop_warmup(schedule=True)
            last_seen = train.to_dataframe().groupby("run", sort=False).tail(1).set_index("run")
            for noise in args.noises.split(","):
                print(f"-- {law}, first {frac:.0%}, noise={noise}: {train}", flush=True)
                fit, wall, warns = cd.timed_fit(train, law, noise=noise, likelihood=args.likelihood,
                                                run_effects=tuple(filter(None, args.run_effects.split(","))),
                                                draws=args.draws, tune=args.tune, chains=args.chains,
                                                random_seed=args.seed, **cd.sampler_kwargs(args))
                t0 = time.perf_counter()
                rows = []
                for run in big_runs:
                    final = finals.loc[run]
                    draws = bs.analysis.forecast_draws(fit, run=run, at=np.array([final["step"]]),
                                                       schedule=schedules[run] if by_schedule else None)
                    s = cd.score_draws(draws, [final["loss"]], ci_probs=CI_PROBS).iloc[0]
                    rows.append({
                        "fraction": frac, "law": law, "noise": noise, "run": short(run),
                        "seen": int((train.to_dataframe()["run"] == run).sum()),
                        "last seen loss": last_seen.loc[run, "loss"], "final loss": final["loss"],
                        "median": s["median"], "error": s["median"] - final["loss"],
                        "80% interval": f"{s['lower_0.8']:.3f} - {s['upper_0.8']:.3f}",
                        "90% interval": f"{s['lower_0.9']:.3f} - {s['upper_0.9']:.3f}",
                        "in 80%": bool(s["in_0.8"]), "in 90%": bool(s["in_0.9"]),
                    })
                wall_fc = time.perf_counter() - t0
                r = pd.DataFrame(rows)
                per_run += rows
                diag = fit.diagnostics()
                naive = (r["last seen loss"] - r["final loss"]).abs()
                summary.append({
                    "fraction": frac, "law": law, "noise": noise, "checkpoints fitted": len(train),
                    "median abs err": r["error"].abs().median(), "mean abs err": r["error"].abs().mean(),
                    "cov 80%": r["in 80%"].mean(), "cov 90%": r["in 90%"].mean(),
                    "naive (last seen) median abs err": naive.median(),
                    "divergences": diag["divergences"], "max R-hat": diag["max_r_hat"],
                    "min ESS bulk": diag["min_ess_bulk"], "fit wall_s": wall, "forecast wall_s": wall_fc,
                })
                fits[(law, frac, noise)] = (fit, warns)
                print(cd.md_table(r), summary[-1], *warns, sep="\n", flush=True)

    lines = cd.results_header("Final loss of the five largest (Mis)Fitting runs from the first 30% / 50%",
                              started=started)
    lines += [
        f"Data: `misfitting_li2025_curves.csv`, N = non-embedding parameters, loss = C4 eval loss. The five "
        f"`misfitting_1b` runs (N = {big_n:.4g}) are cut to their checkpoints with step <= fraction x "
        "total_steps; all smaller runs keep their full curves. **All five large runs are truncated "
        "together in one fit per fraction** (law, noise): the fit sees none of the five finals. Each "
        "run's last checkpoint is forecast with `forecast_draws(fit, run=<run>, at=[final step])`; "
        "equal-tailed intervals.",
        f"Fits: {args.likelihood} likelihood on log loss, "
        f"{cd.sampler_text(args)}. Naive = the last loss seen, used as the forecast.",
        "With five runs, a coverage is k/5: read it as a count, not a rate.", "",
        cd.md_table(summary), "",
        "## Per run", "",
        cd.md_table(per_run), "",
        "## Data handling", "",
        *[f"- {n}" for n in notes], "",
    ]
    cd.finish_results(lines, [(f"{law}, first {frac:.0%}, noise={noise}", fit, warns)
                                    for (law, frac, noise), (fit, warns) in fits.items()], out=Path(args.out), quick=args.quick)


if __name__ == "__main__":
    main()

"""Comparing laws by how they extrapolate: leave-future-out beside leave-one-out.

On the Epoch points (240 runs, Besiroglu et al.'s digitisation, 5 highest losses dropped) and on two of
Porian et al.'s configurations (``rw/tuned/short/const/standard/val``, their corrected setting, and
``rw/base/long/kaplan/standard/val``, Kaplan's long warmup, which no law in the toolkit extrapolates
well): fits ``chinchilla``, ``chinchilla_bend`` and ``kaplan`` with the default observation model
(Student-t, ``noise="discrepancy"``) and ranks them by ``bs.compare`` with PSIS-LOO (stacking) and with
``method="lfo"`` (exact leave-future-out, the 3 largest compute levels held out in turn, each predicted
by refits to the runs below it). For the Epoch points it reports the 90% new-run interval for
Chinchilla-70B (N 7e10, D 1.4e12) of each weighting, beside today's (before the extrapolation work:
``chinchilla``, Student-t, ``noise="iid"``).

Run from the repository root: ``python benchmarks/compare_lfo.py``; writes
``benchmarks/results/compare_lfo.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extrapolation_data as xd  # noqa: E402
from curve_data import md_table, results_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "compare_lfo.md"
LAWS = ("chinchilla", "chinchilla_bend", "kaplan")
PORIAN = ("rw/tuned/short/const/standard/val", "rw/base/long/kaplan/standard/val")
CHINCHILLA_70B = {"N": 7e10, "D": 1.4e12}


def _fit(runs, law, args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.SamplerWarning)
        f = bs.fit(runs, law, likelihood="student_t", draws=args.draws, tune=args.tune, chains=4,
                   random_seed=args.seed, progressbar=False, **kw)
    n = sum(issubclass(w.category, bs.SamplerWarning) for w in caught)
    return f, n


def ladder(name: str, runs: bs.RunTable, args) -> tuple[list[str], dict]:
    t0 = time.perf_counter()
    fits, warned = {}, {}
    for law in LAWS:
        fits[law], warned[law] = _fit(runs, law, args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = bs.compare(fits)
        lfo = bs.compare(fits, method="lfo", origins=args.origins, random_seed=args.seed)
    rows = []
    for law in LAWS:
        rows.append({"law": law, "LOO rank": int(loo.table.loc[law, "rank"]), "LOO elpd": loo.table.loc[law, "elpd"],
                     "LOO weight": loo.table.loc[law, "weight"], "LFO rank": int(lfo.table.loc[law, "rank"]),
                     "LFO elpd": lfo.table.loc[law, "elpd_lfo"], "LFO se": lfo.table.loc[law, "se"],
                     "LFO weight": lfo.table.loc[law, "weight"], "fit warnings": warned[law],
                     "LFO refit warnings": int(lfo.table.loc[law, "refit_warnings"])})
    levels = bs.runs.design.compute_levels(runs.C)
    lines = [f"## {name}", "",
             f"{len(runs.loss)} runs, {len(levels)} compute levels; LFO held out the top {args.origins} in turn "
             f"({int(lfo.table['n_test'].iloc[0])} runs scored). Wall time {(time.perf_counter() - t0) / 60:.1f} min.",
             "", md_table(pd.DataFrame(rows)), ""]
    return lines, {"fits": fits, "loo": loo, "lfo": lfo}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--origins", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer draws; do not write results")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.tune = 300, 300
    lines = results_header("Comparing laws by how they extrapolate: leave-future-out beside leave-one-out")
    lines += [f"Fits: Student-t likelihood, default noise ('discrepancy'), 4 chains x {args.draws} draws after "
              f"{args.tune} tune, random_seed {args.seed}. LFO: exact refits with the same settings.", ""]
    notes: list[str] = []
    epoch = xd.epoch(notes=notes)[0].runs
    part, res = ladder("Epoch points", epoch, args)
    lines += part
    today, _ = _fit(epoch, "chinchilla", args, noise="iid")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, obj in (("today: chinchilla, Student-t, noise='iid'", today),
                           ("chinchilla, default noise", res["fits"]["chinchilla"]),
                           ("LOO-stacked (default noise)", res["loo"]), ("LFO-stacked (default noise)", res["lfo"])):
            iv = bs.loss_interval(obj, ci_prob=0.9, ci_kind="eti", kind="new_run", **CHINCHILLA_70B).iloc[0]
            rows.append({"prediction for Chinchilla-70B": label, "median": iv["median"], "lower 90%": iv["lower"],
                         "upper 90%": iv["upper"], "width": iv["upper"] - iv["lower"]})
    lines += ["Chinchilla-70B (N 7e10, D 1.4e12), one new run's loss, 90% equal-tailed interval:", "",
              md_table(pd.DataFrame(rows)), ""]
    for cfg in xd.porian(notes=notes):
        if cfg.ladder in PORIAN:
            part, _ = ladder(f"Porian {cfg.ladder}", cfg.runs, args)
            lines += part
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        OUT.write_text(text)


if __name__ == "__main__":
    main()

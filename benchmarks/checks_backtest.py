"""Leave-largest-out backtests on real final-loss data: Chinchilla and Kaplan laws, Normal and
Student-t likelihoods.

Data (``final_data.py``, from ``../shared/data``):

- Epoch's digitisation of Hoffmann et al.'s points, 5 highest losses dropped (240 runs); held
  out: the largest C. C is continuous there (the top value belongs to one run), so the rule holds
  out the top 10% by C (24 runs).
- datablations (Muennighoff et al. 2023) single-epoch runs (41; the laws have no term for
  repeated data); held out: the largest N (8.67e9, 2 runs). Secondary row: all 308 finished runs,
  repeats included (misspecified on purpose), held out the same way.
- Porian et al. 2024, corrected setting (rw/tuned/short/const/standard/val, 121 points); held out:
  the largest budget (C = 2.56e19, 6 runs). With ``--porian-all`` (default), a summary over all
  15 configurations.

Scores per fit (``bayescale.analysis.backtest``): coverage of the 50/80/90/95% equal-tailed
new-run intervals, RMSLE of the predictive median, mean log predictive density of the held-out
log losses, ARE; the sampler's divergences and largest R-hat.

Run from the repository root: ``python benchmarks/checks_backtest.py``; writes
``benchmarks/results/checks_backtest.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import bayescale as bs  # noqa: E402
from bayescale.analysis.backtest import backtest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402
import final_data as fd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "checks_backtest.md"
LAWS = ("chinchilla", "kaplan")
LIKELIHOODS = ("normal", "student_t")
CI_PROBS = (0.5, 0.8, 0.9, 0.95)


def run_case(name: str, runs: bs.RunTable, holdout: str, fit_kwargs: dict, *, plots: Path | None = None,
             warn_log: list[str] | None = None) -> list[dict]:
    """Backtest both laws with each likelihood; one row per (law, likelihood)."""
    rows = []
    for lik in LIKELIHOODS:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", bs.SamplerWarning)
            bt = backtest(runs, list(LAWS), holdout=holdout, ci_probs=CI_PROBS,
                          fit_kwargs={**fit_kwargs, "likelihood": lik})
        wall = time.perf_counter() - t0
        msgs = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
        for w in caught:
            if not issubclass(w.category, bs.SamplerWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if warn_log is not None:
            warn_log += [f"{name}, {lik}: {m}" for m in msgs]
        s = bt.scores()
        for law in LAWS:
            r = s.loc[law]
            rows.append({"dataset": name, "law": law, "likelihood": lik, "n_train": int(r["n_train"]),
                         "n_test": int(r["n_test"]),
                         **{f"cov {100 * p:g}": r[f"coverage_{100 * p:g}"] for p in CI_PROBS},
                         "RMSLE": r["rmsle"], "mean log density": r["log_density"], "ARE": r["are"],
                         "divergences": int(r["divergences"]), "max R-hat": r["max_r_hat"]})
            print(cd.md_table([rows[-1]]).splitlines()[-1], flush=True)
        print(f"  ({name}, {lik}: {wall:.0f} s for both laws; held out {bt.holdout})", flush=True)
        if plots is not None:
            import matplotlib.pyplot as plt

            from bayescale.plots.backtest import plot_backtest

            slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower())[:40].strip("_")
            ax = plot_backtest(bt, relative=len(bt.table) > 2 * 12)
            ax.figure.savefig(plots / f"backtest_{slug}_{lik}.png", dpi=110)
            plt.close(ax.figure)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    ap.add_argument("--no-porian-all", action="store_true", help="skip the summary over Porian's 15 configurations")
    ap.add_argument("--plots", type=Path, default=None, help="folder to save a backtest plot per case in")
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()
    fit_kwargs = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "random_seed": args.seed,
                  "progressbar": False, **cd.sampler_kwargs(args)}
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    warn_log: list[str] = []
    t_all = time.perf_counter()
    cases = [
        ("Epoch Chinchilla (240)", fd.epoch_chinchilla(notes=notes), "largest_C"),
        ("datablations single-epoch", fd.datablations(notes=notes), "largest_N"),
        ("datablations all finished (misspecified)", fd.datablations(single_epoch=False), "largest_N"),
        ("Porian corrected (rw/tuned/short/const/standard/val)", fd.porian(notes=notes), "largest_C"),
    ]
    rows = []
    for name, runs, holdout in cases:
        rows += run_case(name, runs, holdout, fit_kwargs, plots=args.plots, warn_log=warn_log)

    porian_rows = []
    if not args.no_porian_all:
        for cfg in fd.porian_configs().to_dict("records"):
            cfg.pop("n_points")
            label = "/".join(cfg[k] for k in fd.PORIAN_KEYS)
            porian_rows += run_case(f"Porian {label}", fd.porian(cfg), "largest_C", fit_kwargs, warn_log=warn_log)
    minutes = (time.perf_counter() - t_all) / 60

    lines = cd.results_header("Backtests on real final-loss data: leave the largest runs out", started=started)
    lines += [
        f"Sampler: {cd.sampler_text(args)}; nutpie with the compile cache. Total wall time {minutes:.1f} min.",
        "Held out: the largest slice of the named column (all runs at its largest value when two or more share it,",
        "else the top 10% of runs by it). Intervals: equal-tailed new-run predictive intervals, exact for the",
        "posterior draws (the mixture over draws of the likelihood's Normal or Student-t). Mean log density: of the",
        "held-out *log* losses under that predictive (higher is better). RMSLE and ARE: of the predictive median.",
        "",
        *[f"- {n}" for n in notes],
        "",
        "## Main table",
        "",
        cd.md_table(rows),
        "",
    ]
    if porian_rows:
        import pandas as pd

        pr = pd.DataFrame(porian_rows)
        summ = (pr.groupby(["law", "likelihood"])
                .agg(configs=("dataset", "size"), n_test=("n_test", "sum"),
                     **{f"cov {100 * p:g}": (f"cov {100 * p:g}", "mean") for p in CI_PROBS},
                     RMSLE=("RMSLE", "mean"), **{"mean log density": ("mean log density", "mean")},
                     ARE=("ARE", "mean"), divergences=("divergences", "sum"), **{"max R-hat": ("max R-hat", "max")})
                .reset_index())
        lines += ["## Porian et al. 2024: all 15 configurations (largest budget held out in each)", "",
                  "Mean over configurations (coverage: mean of per-configuration coverages; divergences summed, "
                  "R-hat the largest).", "", cd.md_table(summ), "", "Per configuration:", "",
                  cd.md_table(pr), ""]
    if warn_log:
        lines += ["## Sampler warnings", "", *[f"- {w}" for w in warn_log], ""]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        OUT.write_text(text)


if __name__ == "__main__":
    main()

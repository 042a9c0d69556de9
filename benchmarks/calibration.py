"""Calibration by simulation: coverage of leave-largest-out intervals on simulated data sets.

Design: the shipped demo runs (``bs.load_demo_runs()``: 7 budgets 6e18-6e21 FLOPs x 7 model sizes,
49 runs); held out: the largest-C slice (the 7 runs at 6e21). Law: Chinchilla, Normal likelihood
on log loss. Two sources of truth, 50 data sets each (``--n-datasets``):

- the prior (the one the fits use): a correct analysis covers at exactly the nominal rate,
  averaged over data sets. Candidates whose *training* losses leave 0.01-100 nats are skipped
  (a screen on training data only, which keeps the check valid; see
  ``bayescale.analysis.calibration``).
- fixed Hoffmann et al. parameters (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28, sigma 0.02),
  fresh noise per data set.

Each with the default observation model (``noise="discrepancy"``: its prior-drawn truths carry the
law's own error, kappa d, at the held-out runs) and with ``noise="iid"`` (the model before it).
Then a misspecified truth, a law that bends: Hoffmann et al.'s law times ``exp(b u^2)``, ``u`` the
decades of C from the middle of the training range (log10), ``b`` drawn per data set from
+-Uniform(0.005, 0.02) (a curvature in log C that Chinchilla's form cannot follow: 1.5-6% at the
held-out runs before the fit absorbs part of it), sigma 0.02; both models fitted to the same data.

Reports pooled coverage at 50/80/90/95% with the binomial standard error and the one clustered
by data set (the honest one: a data set's held-out runs share one extrapolation), the same for
the fits without sampler warnings, the pooled PIT by decile, and the sampler's record.

Run from the repository root: ``python benchmarks/calibration.py``; writes
``benchmarks/results/calibration.md`` (not with ``--quick``).
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.analysis.calibration import calibrate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "calibration.md"
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28, "sigma": 0.02}


def case_lines(title: str, cal, wall: float) -> list[str]:
    d = cal.datasets
    cov = cal.coverage().reset_index()
    subsets = {"all fits": None,
               "no divergences": (d["divergences"] == 0).to_numpy(),
               "no divergences, max R-hat <= 1.05": ((d["divergences"] == 0) & (d["max_r_hat"] <= 1.05)).to_numpy(),
               "no SamplerWarning": ~cal.warned}
    sub_rows = []
    for name, sel in subsets.items():
        c = cal.coverage(datasets=sel)
        sub_rows.append({"fits pooled": name, "data sets": int(c["n_datasets"].iloc[0]),
                         **{f"cov {100 * p:g}": (f"{c.loc[p, 'coverage']:.3f} +- {c.loc[p, 'se_datasets']:.3f}"
                                                 if c["n_datasets"].iloc[0] > 1 else "") for p in cal.ci_probs}})
    pit = np.histogram(cal.points["pit"], bins=np.linspace(0, 1, 11))[0]
    skipped = cal.skipped["reason"].str.replace(r" \(.*", "", regex=True).value_counts().to_dict()
    n_warn = int(cal.warned.sum())
    out = [f"## {title}", "",
           f"{len(d)} data sets fitted ({len(cal.skipped)} candidates skipped by the training-loss screen"
           f"{': ' + str(skipped) if skipped else ''}); held out {cal.holdout}, {int(d['n_test'].iloc[0])} runs "
           f"each, fitted on {int(d['n_train'].iloc[0])}. Wall time {wall / 60:.1f} min "
           f"({d['seconds'].median():.1f} s median per fit).", "",
           "Pooled over all data sets:", "", cd.md_table(cov), "",
           "Subsets chosen by the sampler's diagnostics (a selection on what the fits saw, the training data, "
           "so each is still a valid check; coverage +- se clustered by data set):", "", cd.md_table(sub_rows), "",
           f"Sampler: {n_warn} of {len(d)} fits warned; {int((d['divergences'] > 0).sum())} had divergences "
           f"(total {int(d['divergences'].sum())}); max R-hat median {d['max_r_hat'].median():.3f}, "
           f"largest {d['max_r_hat'].max():.3f}; min bulk ESS median {d['min_ess_bulk'].median():.0f}, "
           f"smallest {d['min_ess_bulk'].min():.0f}.", "",
           "Pooled PIT of the held-out losses by decile (uniform when calibrated: "
           f"{len(cal.points) / 10:.1f} each): " + ", ".join(map(str, pit)) + ".", ""]
    per = d[["dataset", "seed", *[c for c in ("E", "A", "B", "alpha", "beta", "sigma") if c in d],
             *[c for c in d.columns if c.startswith("coverage_")], "rmsle", "divergences", "max_r_hat"]]
    out += ["<details><summary>Per data set</summary>", "", cd.md_table(per), "", "</details>", ""]
    return out


def misspecified(design: bs.RunTable, n_datasets: int, seed: int, fit_kwargs: dict) -> list[dict]:
    """Coverage of both observation models on data from a law that bends (see the module's notes)."""
    from bayescale.analysis.backtest import holdout_mask, score_runs

    law = bs.get_law("chinchilla")
    mask = holdout_mask(design, "largest_C")
    train_c = np.log10(design.C[~mask])
    u = np.log10(design.C) - 0.5 * (train_c.min() + train_c.max())
    rng = np.random.default_rng(seed)
    params = {k: v for k, v in HOFFMANN.items() if k != "sigma"}
    log_mean = np.log(law(N=design.N, D=design.D, **params))
    points = {"discrepancy": [], "iid": []}
    for i in range(n_datasets):
        b = rng.choice([-1.0, 1.0]) * rng.uniform(0.005, 0.02)
        loss = np.exp(log_mean + b * u**2 + HOFFMANN["sigma"] * rng.standard_normal(len(u)))
        df = design.to_dataframe().assign(loss=loss)
        runs = bs.RunTable(df, derived=design.derived, source=f"bending truth {i}")
        for noise in points:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = bs.fit(runs.filter(~mask), "chinchilla", noise=noise, random_seed=seed + i, progressbar=False,
                             **{**fit_kwargs, "nuts": {"target_accept": 0.95}})
            points[noise].append(score_runs(fit, runs.filter(mask)).assign(dataset=i, b=b))
        print(f"bending truth {i + 1}/{n_datasets}: b {b:+.4f}", flush=True)
    rows = []
    for noise, tables in points.items():
        t = pd.concat(tables, ignore_index=True)
        per = t.groupby("dataset")
        row = {"noise": noise}
        for p in (50, 80, 90, 95):
            c = per[f"inside_{p / 100:g}"].mean()
            row[f"cov {p}"] = f"{c.mean():.3f} +- {c.std(ddof=1) / np.sqrt(len(c)):.3f}"
        y = np.log(t["loss"].to_numpy())
        lo, hi = np.log(t["lower_0.9"].to_numpy()), np.log(t["upper_0.9"].to_numpy())
        row["IS90"] = float(np.mean(hi - lo + 20 * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))))
        row["width90"] = float(np.mean(hi - lo))
        row["log density"] = float(t["log_density"].mean())
        row["n points"] = len(t)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap, draws=1000, tune=1000, chains=4)
    ap.add_argument("--n-datasets", type=int, default=50, help="data sets per source (50)")
    ap.add_argument("--plots", type=Path, default=None, help="folder to save the calibration plots in")
    args = ap.parse_args()
    cd.apply_quick(args)
    if args.quick:
        args.n_datasets = min(args.n_datasets, 5)
    started = dt.datetime.now()
    design = bs.load_demo_runs()
    fit_kwargs = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    if args.target_accept is not None:
        fit_kwargs["nuts"] = {"target_accept": args.target_accept}
    lines = cd.results_header("Calibration by simulation: leave-largest-out coverage", started=started)
    lines += [f"Design: the demo runs ({len(design)} runs, 7 budgets x 7 sizes); law chinchilla, Normal likelihood; "
              "new-run equal-tailed intervals (exact for the draws).",
              f"Sampler per fit: {args.chains} chains x {args.draws} draws after {args.tune} tune, target_accept "
              f"{args.target_accept or 0.95}; calibrate's random_seed {args.seed} (each data set's noise and fit "
              "seeded from it).",
              "Target: 90% coverage in 0.85-0.95. se: binomial over points; se_datasets: clustered by data set "
              "(judge by this one).", ""]
    summary = []
    cases = [(f"From the prior, noise={noise}", None, noise) for noise in ("discrepancy", "iid")]
    cases += [(f"From fixed Hoffmann et al. parameters (sigma 0.02), noise={noise}", HOFFMANN, noise)
              for noise in ("discrepancy", "iid")]
    for title, params, noise in cases:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)  # counted in the results instead
            cal = calibrate(design, "chinchilla", n_datasets=args.n_datasets, params=params, noise=noise,
                            fit_kwargs=fit_kwargs, random_seed=args.seed, progressbar=True)
        wall = time.perf_counter() - t0
        print(cal, flush=True)
        lines += case_lines(title, cal, wall)
        cov = cal.coverage()
        summary.append({"source": title, **{f"cov {100 * p:g}": f"{cov.loc[p, 'coverage']:.3f} "
                                            f"+- {cov.loc[p, 'se_datasets']:.3f}" for p in cal.ci_probs},
                        "n points": int(cov["n_points"].iloc[0])})
        if args.plots is not None:
            import matplotlib.pyplot as plt

            from bayescale.plots.backtest import plot_calibration

            args.plots.mkdir(parents=True, exist_ok=True)
            ax = plot_calibration(cal)
            ax.figure.savefig(args.plots / f"calibration_{'prior' if params is None else 'hoffmann'}_{noise}.png", dpi=110,
                              bbox_inches="tight")
            plt.close(ax.figure)
    t0 = time.perf_counter()
    rows = misspecified(design, args.n_datasets, args.seed, fit_kwargs)
    wall = time.perf_counter() - t0
    lines += ["## A misspecified truth: a law that bends in log C", "",
              f"{args.n_datasets} data sets, both models fitted to each; held out the largest-C slice (7 runs). "
              f"Wall time {wall / 60:.1f} min. Coverage +- se clustered by data set; IS90 the mean 90% interval "
              "score of log loss; width90 the mean 90% width of log loss.", "", cd.md_table(rows), ""]
    for r in rows:
        summary.append({"source": f"bending truth, noise={r['noise']}",
                        **{f"cov {p}": r[f"cov {p}"] for p in (50, 80, 90, 95)}, "n points": r["n points"]})
    head = ["## Summary (coverage +- se clustered by data set)", "", cd.md_table(pd.DataFrame(summary)), ""]
    i = lines.index("## From the prior, noise=discrepancy")
    lines = lines[:i] + head + lines[i:]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        OUT.write_text(text)


if __name__ == "__main__":
    main()

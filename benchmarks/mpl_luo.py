"""Curves under unseen learning-rate schedules: Luo et al. 2025's multi-power law data.

For each model size (25M, 100M, 400M) fit ``multi_power`` (and, beside it, Tissue et al.'s
``annealing`` law) with the default run-aware noise to the authors' three training schedules
(constant, cosine and a two-stage run, all 24,000 steps or shorter), then forecast the six test
schedules (72,000-step constant and cosine runs, WSD with geometric and linear decay, two-stage runs)
from the schedule alone. Scores per size, over the test checkpoints:

- mean relative error of the forecast median (mean over schedules of each schedule's mean, as the
  authors report it) and the worst relative error, beside the published 0.110/0.142/0.168% and
  0.41/0.58/1.0% (Luo et al. 2025, Table 1, multi-power law);
- coverage of our 50% and 90% intervals and their mean width (relative to the median);
- the 90% interval score (Gneiting & Raftery 2007; lower is better, in nats) and the mean log
  predictive density of the test losses, so that coverage bought with width shows.

    python benchmarks/mpl_luo.py [--sizes 25M 100M 400M] [--draws 500] [--tune 500] [--chains 2]

Writes benchmarks/results/mpl_luo.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.analysis.curves import forecast_draws  # noqa: E402

PUBLISHED = {"25M": (0.110, 0.41), "100M": (0.142, 0.58), "400M": (0.168, 1.0)}
RESULTS = Path(__file__).resolve().parent / "results"


def interval_score(y, lo, hi, prob):
    a = 1 - prob
    return (hi - lo) + 2 / a * np.maximum(lo - y, 0) + 2 / a * np.maximum(y - hi, 0)


def score_size(size: str, law: str, args) -> dict:
    runs, schedules = curve_data.mpl_curves(size)
    df = runs.to_dataframe()
    train = runs.filter(df["split"].eq("train").to_numpy())
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bs.fit(train, law, draws=args.draws, tune=args.tune, chains=args.chains, random_seed=1,
                     progressbar=False, noise=args.noise, run_effects=tuple(args.run_effects))
    seconds = time.perf_counter() - t0
    summary = fit.summary()
    rows = {"seconds": seconds, "rhat": float(summary["r_hat"].max()), "ess": float(summary["ess_bulk"].min()),
            "warnings": sorted({type(w.message).__name__ for w in caught}), "per_schedule": [],
            "noise": f"{fit.noise.family}, {fit.noise.structure}", "sampler": fit.provenance.get("sampler")}
    re_means, re_all, cov50, cov90, w50, w90, is90, lpd = [], [], [], [], [], [], [], []
    for name in df.loc[df["split"].eq("test"), "run"].unique():
        g = df[df["run"] == name]
        y = g["loss"].to_numpy()
        draws = forecast_draws(fit, at=g["step"].to_numpy(), schedule=schedules[name], random_seed=2)
        d = draws.stack(sample=("chain", "draw")).transpose("sample", ...).values
        med = np.median(d, axis=0)
        q = {p: np.quantile(d, p, axis=0) for p in (0.05, 0.25, 0.75, 0.95)}
        re = np.abs(med / y - 1)
        re_means.append(re.mean())
        re_all.append(re)
        cov50.append(np.mean((y >= q[0.25]) & (y <= q[0.75])))
        cov90.append(np.mean((y >= q[0.05]) & (y <= q[0.95])))
        w50.append(np.mean((q[0.75] - q[0.25]) / med))
        w90.append(np.mean((q[0.95] - q[0.05]) / med))
        is90.append(np.mean(interval_score(y, q[0.05], q[0.95], 0.9)))
        lpd.append(float(np.mean(bs.analysis.forecast_log_density(fit, y, at=g["step"].to_numpy(),
                                                           schedule=schedules[name]))))
        rows["per_schedule"].append((name, len(y), 100 * re.mean(), 100 * re.max(), cov50[-1], cov90[-1],
                                     100 * w90[-1]))
        rows.setdefault("curves", {})[name] = (g["step"].to_numpy(), y, med, q[0.05], q[0.95])
    rows["train"] = {n: (g["step"].to_numpy(), g["loss"].to_numpy())
                     for n, g in df[df["split"].eq("train")].groupby("run")}
    weights = np.array([len(r) for r in re_all], float)
    rows.update(mean_re=100 * np.mean(re_means), worst_re=100 * np.concatenate(re_all).max(),
                cov50=float(np.average(cov50, weights=weights)), cov90=float(np.average(cov90, weights=weights)),
                w50=100 * float(np.average(w50, weights=weights)), w90=100 * float(np.average(w90, weights=weights)),
                is90=float(np.average(is90, weights=weights)), lpd=float(np.average(lpd, weights=weights)),
                params={k: float(v) for k, v in summary["mean"].items()})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["25M", "100M", "400M"])
    ap.add_argument("--laws", nargs="+", default=["multi_power", "annealing"])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--noise", default=None, help="noise model (default: the library's for curves, ar1)")
    ap.add_argument("--run-effects", nargs="*", default=[],
                    help="law parameters that vary from schedule to schedule (a new schedule draws its own)")
    ap.add_argument("--out", default=str(RESULTS / "mpl_luo.md"))
    args = ap.parse_args()
    lines = [f"# Multi-power law data: forecasts of unseen schedules ({date.today()}, {platform.node()}, "
             f"{platform.processor() or platform.machine()}, 2 cores)", "",
             f"`python benchmarks/mpl_luo.py --sizes {' '.join(args.sizes)} --laws {' '.join(args.laws)} "
             f"--draws {args.draws} --tune {args.tune} --chains {args.chains}"
             + (f" --noise {args.noise}" if args.noise else "")
             + (f" --run-effects {' '.join(args.run_effects)}" if args.run_effects else "") + "`", "",

             "Fit on the authors' 3 training schedules, forecast their 6 test schedules from the schedule alone. "
             "Mean RE: mean over test schedules of each schedule's mean relative error of the median; worst RE: "
             "over all test checkpoints; coverage and width (relative to the median) over all test checkpoints; "
             "IS90: mean 90% interval score (nats, lower is better); LPD: mean log predictive density.", "",
             "| size | law | mean RE % (paper) | worst RE % (paper) | cov50 | cov90 | width50 % | width90 % "
             "| IS90 | LPD | fit s | max R-hat | min ESS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    detail, results = [], {}
    for size in args.sizes:
        for law in args.laws:
            r = results[(size, law)] = score_size(size, law, args)
            pm, pw = PUBLISHED[size]
            lines.append(f"| {size} | {law} | {r['mean_re']:.3f} ({pm}) | {r['worst_re']:.2f} ({pw}) | "
                         f"{r['cov50']:.2f} | {r['cov90']:.2f} | {r['w50']:.3f} | {r['w90']:.3f} | {r['is90']:.4f} | "
                         f"{r['lpd']:.2f} | {r['seconds']:.0f} | {r['rhat']:.3f} | {r['ess']:.0f} |")
            detail.append(f"\n## {size}, {law}\n\nposterior means: "
                          + ", ".join(f"{k} {v:.4g}" for k, v in r["params"].items())
                          + f"\n\nnoise: {r['noise']}; sampler: {r['sampler']}; warnings: "
                          f"{', '.join(r['warnings']) or 'none'}\n\n"
                          "| test schedule | points | mean RE % | worst RE % | cov50 | cov90 | width90 % |\n"
                          "|---|---|---|---|---|---|---|\n"
                          + "\n".join(f"| {n} | {k} | {a:.3f} | {b:.2f} | {c:.2f} | {d:.2f} | {e:.3f} |"
                                      for n, k, a, b, c, d, e in r["per_schedule"]))
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines + detail) + "\n")
    print(f"wrote {args.out}")
    plot(results, Path(args.out).with_suffix(".png"))


def plot(results: dict, path: Path) -> None:
    """Per size and law: the training schedules' curves (grey) and each test schedule's observed curve
    (dots) with its forecast median and 90% band, against step (log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(dict.fromkeys(k[0] for k in results))
    laws = list(dict.fromkeys(k[1] for k in results))
    fig, axes = plt.subplots(len(laws), len(sizes), figsize=(4.6 * len(sizes), 3.6 * len(laws)),
                             constrained_layout=True, squeeze=False)
    for key, r in results.items():
        ax = axes[laws.index(key[1]), sizes.index(key[0])]
        for step, loss in r["train"].values():
            ax.plot(step, loss, color="0.6", lw=1)
        for i, (name, (step, y, med, lo, hi)) in enumerate(r["curves"].items()):
            colour = f"C{i}"
            ax.fill_between(step, lo, hi, color=colour, alpha=0.2, lw=0)
            ax.plot(step, med, color=colour, lw=1, label=name)
            ax.plot(step[::8], y[::8], ".", color=colour, ms=2.5)
        ax.set(xscale="log", xlabel="step", ylabel="training loss", title=f"{key[0]}, {key[1]}",
               ylim=(min(v[1].min() for v in r["curves"].values()) - 0.05,
                     max(v[1][len(v[1]) // 10] for v in r["curves"].values()) + 0.1))
        ax.legend(fontsize=7, title="test schedule (dots: observed)", title_fontsize=7)
    fig.suptitle("Luo et al. 2025 curves: fitted on 3 schedules (grey), forecast on 6 others (median, 90% band)")
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

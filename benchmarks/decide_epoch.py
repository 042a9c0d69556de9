"""Compute-optimal allocation and the decision table on the Epoch Chinchilla points.

Fits ``chinchilla`` with the Student-t likelihood to the 240 Epoch points (Besiroglu et al. 2024's
digitisation of Hoffmann et al. Fig. 4, 5 highest-loss points dropped) and reports:

- the posterior of tokens per parameter D*/N* at Chinchilla's budget, 5.88e23 FLOPs, with its 80%
  interval, beside the replication's bootstrap (about 18, 80% interval about 11-31), with N*, D* and
  the loss at the optimum;
- the posterior of the allocation exponent a = beta/(alpha+beta) (N* ~ C**a) beside the
  replication's 0.513 (s.e. 0.020);
- the decision table (``decide``) for three budgets allocated at the median N*, target loss 2.0,
  baseline the largest-compute run in the data;
- the same table on the stacked comparison of chinchilla/student_t and kaplan/student_t
  (``bs.compare``), and, to show a mixture that actually mixes, on fixed equal weights.

Run from the repository root: ``python benchmarks/decide_epoch.py``; writes
``benchmarks/results/decide_epoch.md`` (not with ``--quick``). ``--plot PATH`` saves the isoFLOP
picture at the three budgets.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.analysis.decide import compute_optimal, decide  # noqa: E402
from bayescale.analysis.predict import ExtrapolationWarning  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curve_data import md_table, results_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw" / "epoch_chinchilla_svg_extracted_data.csv"
OUT = ROOT / "benchmarks" / "results" / "decide_epoch.md"
C_CHINCHILLA = 5.88e23
BUDGETS = (1e23, C_CHINCHILLA, 3e24)
TARGET = 2.0
DECIDE_COLS = {"C": "C (FLOPs)", "N": "N", "D": "D", "tokens_per_param": "D/N", "loss_median": "loss median",
               "loss_lower": "5%", "loss_upper": "95%", "decades_beyond_data": "decades beyond data",
               "p_below_target": "P(loss < 2.0)", "p_better_than_baseline": "P(better than baseline)",
               "improvement_median": "improvement median", "improvement_lower": "5%",
               "improvement_upper": "95%", "improvement_per_1e21_flops": "median improvement per 1e21 FLOPs"}


def caught_messages(caught: list, category: type) -> list[str]:
    return list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, category)))


def decision_table(fit, baseline: tuple[float, float], seed: int) -> tuple[pd.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        t = decide(fit, list(BUDGETS), target=TARGET, baseline=baseline, ci_prob=0.9, kind="new_run",
                   random_seed=seed)
    return t, caught_messages(caught, ExtrapolationWarning)


def show(t: pd.DataFrame) -> str:
    return md_table(t[list(DECIDE_COLS)].rename(columns=DECIDE_COLS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer draws; do not write results")
    ap.add_argument("--plot", type=Path, default=None, help="save the isoFLOP picture here")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.tune = 300, 300
    runs = bs.datasets.load("chinchilla_epoch2024", RAW).drop_highest_loss(5)
    fits, sampler_warnings = {}, {}
    for law in ("chinchilla", "kaplan"):
        name = f"{law}/student_t"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", bs.SamplerWarning)
            fits[name] = bs.fit(runs, law, likelihood="student_t", draws=args.draws, tune=args.tune, chains=4,
                                random_seed=args.seed, progressbar=False)
        sampler_warnings[name] = caught_messages(caught, bs.SamplerWarning)
        print(name, bs.diagnose(fits[name]), flush=True)
    fit = fits["chinchilla/student_t"]

    # -- allocation at Chinchilla's budget --------------------------------------------------------
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        alloc = compute_optimal(fit, C=list(BUDGETS), ci_prob=0.8)
    alloc_warnings = caught_messages(caught, ExtrapolationWarning)
    print(alloc, flush=True)
    s = alloc.summary(0.8)
    s95 = alloc.summary(0.95)
    at = s[s["C"] == C_CHINCHILLA].set_index("quantity")
    at95 = s95[s95["C"] == C_CHINCHILLA].set_index("quantity")
    tpp = alloc.draws["tokens_per_param"].sel(budget=C_CHINCHILLA).values.ravel()
    alloc_rows = [
        {"quantity": q, "median": at.loc[q, "median"], "80% lower": at.loc[q, "lower"],
         "80% upper": at.loc[q, "upper"], "95% lower": at95.loc[q, "lower"], "95% upper": at95.loc[q, "upper"]}
        for q in ("tokens_per_param", "N_opt", "D_opt", "loss_opt")
    ]
    alloc_rows.insert(1, {"quantity": "replication's bootstrap: tokens_per_param", "median": 18.0,
                          "80% lower": 11.0, "80% upper": 31.0, "95% lower": np.nan, "95% upper": np.nan})
    e80, e95 = alloc.exponents(0.8), alloc.exponents(0.95)
    exp_rows = [{"exponent": k, "median": e80.loc[k, "median"], "sd": e80.loc[k, "sd"],
                 "80% lower": e80.loc[k, "lower"], "80% upper": e80.loc[k, "upper"],
                 "95% lower": e95.loc[k, "lower"], "95% upper": e95.loc[k, "upper"]} for k in ("a", "b")]
    exp_rows.insert(1, {"exponent": "replication: a (estimate, s.e. 0.020; +-1.28 / 1.96 s.e.)",
                        "median": 0.513, "sd": 0.020, "80% lower": 0.513 - 1.2816 * 0.020,
                        "80% upper": 0.513 + 1.2816 * 0.020, "95% lower": 0.513 - 1.96 * 0.020,
                        "95% upper": 0.513 + 1.96 * 0.020})
    all_budgets = s.pivot(index="C", columns="quantity", values="median")[["N_opt", "D_opt", "tokens_per_param",
                                                                            "loss_opt"]].reset_index()

    # -- decision tables ----------------------------------------------------------------------------
    C_runs = runs.N * runs.D * 6.0
    top = int(np.argmax(C_runs))
    baseline = (float(runs.N[top]), float(runs.D[top]))
    table, dec_warnings = decision_table(fit, baseline, args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.analysis.ParetoKWarning)
        cmp = bs.compare(fits)
    k_warnings = caught_messages(caught, bs.analysis.ParetoKWarning)
    stacked, _ = decision_table(cmp, baseline, args.seed)
    equal = bs.average(fits, weights={k: 0.5 for k in fits}, random_seed=args.seed)
    halves, _ = decision_table(equal, baseline, args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        alloc_eq = compute_optimal(equal, C=C_CHINCHILLA, ci_prob=0.8).summary().set_index("quantity")
        alloc_k = compute_optimal(fits["kaplan/student_t"], C=C_CHINCHILLA, ci_prob=0.8).summary().set_index(
            "quantity")
    mix_rows = [{"fit": name, **{f"{q} {c}": a.loc[q, c] for q in ("N_opt", "tokens_per_param")
                                 for c in ("median", "lower", "upper")}}
                for name, a in (("chinchilla/student_t", at), ("kaplan/student_t", alloc_k),
                                ("equal-weight mixture", alloc_eq))]
    base_loss = table.attrs["baseline"]["loss_median"]

    if args.plot is not None:
        import matplotlib.pyplot as plt

        from bayescale.plots.decide import plot_isoflop

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            ax = plot_isoflop(fit, C=[1e21, 1e22, *BUDGETS], ci_prob=0.9)
        ax.figure.savefig(args.plot, dpi=110)
        plt.close(ax.figure)

    diag = pd.DataFrame([{"fit": k, **{c: v for c, v in bs.diagnose(f).to_dict().items()
                                       if c in ("divergences", "max_r_hat", "min_ess_bulk", "mean_tree_depth")}}
                         for k, f in fits.items()])
    lines = results_header("Compute-optimal allocation and the decision table on the Epoch Chinchilla points "
                           "(240 runs)")
    lines += [f"`bs.fit(runs, law, likelihood='student_t', draws={args.draws}, tune={args.tune}, chains=4, "
              f"random_seed={args.seed})` on `bs.datasets.load('chinchilla_epoch2024', ...)"
              ".drop_highest_loss(5)`; nutpie. Intervals are equal-tailed.", "",
              f"## Allocation at Chinchilla's budget, C = {C_CHINCHILLA:.3g} FLOPs (`compute_optimal`, "
              f"{alloc.method})", "",
              md_table(pd.DataFrame(alloc_rows)), "",
              f"P(D*/N* > 20) = {np.mean(tpp > 20):.3f}; P(11 < D*/N* < 31) = {np.mean((tpp > 11) & (tpp < 31)):.3f}.",
              "", "## Allocation exponents (N* ~ C**a, D* ~ C**b)", "", md_table(pd.DataFrame(exp_rows)), "",
              "## Posterior medians at the three budgets", "", md_table(all_budgets), ""]
    lines += [f"Warning (compute_optimal): {w}" for w in alloc_warnings] + ([""] if alloc_warnings else [])
    lines += ["## Decision table: chinchilla/student_t", "",
              f"`decide(fit, {list(BUDGETS)}, target={TARGET}, baseline=({baseline[0]:.4g}, {baseline[1]:.4g}), "
              f"ci_prob=0.9, kind='new_run', random_seed={args.seed})`. Each budget is run at the posterior median "
              f"N* and D = C/(6N). Baseline: the largest-compute run in the data (N {baseline[0]:.4g}, "
              f"D {baseline[1]:.4g}, C {6 * baseline[0] * baseline[1]:.4g}; observed loss "
              f"{runs.loss[top]:.4f}, new-run median {base_loss:.4f}). Loss columns: a new run's loss, 90% "
              "interval. Improvement = baseline loss - candidate loss on the same draw (nats/token): its median and "
              "90% interval (a median, not a mean: with nu near 1.6 the Student-t mean does not settle); per 1e21 "
              "FLOPs divides the median by the candidate's C.", "", show(table), ""]
    lines += [f"Warning (decide): {w}" for w in dec_warnings] + ([""] if dec_warnings else [])
    lines += ["## Decision table: stacked comparison of chinchilla/student_t and kaplan/student_t", "",
              "`bs.compare` weights: " + ", ".join(f"{k} {v:.3f}" for k, v in cmp.weights.items()) + ".", "",
              show(stacked), ""]
    lines += [f"Pareto-k warning: {w}" for w in k_warnings] + ([""] if k_warnings else [])
    lines += ["## Decision table: fixed equal weights (a mixture that mixes; for illustration only)", "",
              "`bs.average(fits, weights={'chinchilla/student_t': 0.5, 'kaplan/student_t': 0.5})`.", "",
              show(halves), "", f"Allocation at {C_CHINCHILLA:.3g} FLOPs by fit (80% intervals):", "",
              md_table(pd.DataFrame(mix_rows)), "", "## Sampler", "", md_table(diag), ""]
    for k, ws in sampler_warnings.items():
        lines += [f"Sampler warning ({k}): {w}" for w in ws]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        OUT.write_text(text)


if __name__ == "__main__":
    main()

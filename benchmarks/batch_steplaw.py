"""Kaplan's critical batch size on the Step Law grid: ``kaplan_smin`` fitted to final losses over batch sizes
(issue 15, item 1a).

Data: ``steplaw_dense_lr_bs_loss.csv`` (Li et al. 2025, "Predictable Scale: Part I", the Step Law grid:
5 dense model sizes x 17 (N, D) cells, each trained at about 10 batch sizes x 12 peak learning rates).
``bs`` is in sequences of 2048 tokens (bs * 2048 * ti = D to 0.2%, checked below), ``ti`` the steps. For each
(N, D, bs) the loss of the best learning rate is kept (the minimum of the ``loss`` column, the final loss,
over the learning-rate grid; how many of those minima sit at an end of the grid is counted). The fit:
``kaplan_smin`` with N = ``N`` (the file's count, which matches the non-embedding parameters of its
layers), step = ``ti``, B = bs * 2048 tokens per step, Student-t likelihood, iid noise (one final loss per
run). Reported: B*, alpha_B, aN, aS with 90% HDIs next to Kaplan et al. 2020's values, and a posterior
predictive check figure (loss against batch size per (N, D) cell, the observed best-lr losses and the
90% interval of a new run's loss), ``benchmarks/results/batch_steplaw.png``.

Run from the repository root: ``python benchmarks/batch_steplaw.py``; writes
``benchmarks/results/batch_steplaw.md`` and the PNG (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

import bayescale as bs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "batch_steplaw.md"
FIG = ROOT / "benchmarks" / "results" / "batch_steplaw.png"
SEQ = 2048  # tokens per sequence: bs counts sequences
KAPLAN = {"Bstar": 2e8, "aB": 0.21, "aN": 0.076, "aS": 0.76, "Nc": 6.5e13, "Sc": 2.1e3}


def steplaw_best_lr(notes: list[str]) -> tuple[bs.RunTable, pd.DataFrame]:
    """One row per (N, D, bs): the best learning rate's final loss; the table and the per-point detail."""
    df = cd._read("steplaw_dense_lr_bs_loss.csv")
    off = np.abs(df["bs"] * SEQ * df["ti"] / df["D"] - 1)
    if off.max() > 0.005:
        raise ValueError(f"bs * {SEQ} * ti differs from D by up to {off.max():.2%}: bs is not in {SEQ}-token sequences")
    notes.append(f"Step Law: {len(df)} runs, {df.groupby(['N', 'D']).ngroups} (N, D) cells, "
                 f"{df.groupby(['N', 'D', 'bs']).ngroups} (N, D, bs) points; bs * {SEQ} * ti = D to within "
                 f"{off.max():.2%} in every row")
    rows = []
    for (N, D, b), g in df.groupby(["N", "D", "bs"], sort=True):
        lrs = np.sort(g["lr"].unique())
        best = g.loc[g["loss"].idxmin()]
        rows.append({"N": float(N), "D": float(D), "bs": int(b), "B": float(b) * SEQ, "step": float(best["ti"]),
                     "loss": float(best["loss"]), "lr_best": float(best["lr"]), "n_lr": len(lrs),
                     "lr_at_edge": bool(best["lr"] in (lrs[0], lrs[-1])), "worst_loss": float(g["loss"].max())})
    pts = pd.DataFrame(rows)
    notes.append(f"best learning rate per point: the minimum `loss` over the {pts['n_lr'].min()}-{pts['n_lr'].max()} "
                 f"learning rates tried; for {int(pts['lr_at_edge'].sum())} of {len(pts)} points the best is the "
                 "smallest or largest rate tried (its loss may be above the true optimum)")
    runs = bs.RunTable.from_dataframe(pts[["N", "D", "step", "B", "loss", "bs", "lr_best"]], N="N", D="D",
                                      loss="loss", source="steplaw_dense_lr_bs_loss.csv (best lr per N, D, bs)")
    return runs, pts


def ppc_figure(fit: bs.Fit, pts: pd.DataFrame, *, ci_prob: float, seed: int) -> tuple[plt.Figure, pd.DataFrame]:
    """Loss against batch size per (N, D) cell: observed best-lr losses and the ``ci_prob`` predictive
    interval of a new run's loss (and the law's median) on a grid of batch sizes at that cell's D."""
    cells = list(pts.groupby(["N", "D"], sort=True))
    ncol = 5
    nrow = int(np.ceil(len(cells) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    cover = []
    for ax, ((N, D), g) in zip(axes.flat, cells, strict=False):
        grid = np.geomspace(g["B"].min() / 1.5, g["B"].max() * 1.5, 40)
        draws = bs.analysis.loss_draws(fit, kind="new_run", random_seed=seed, N=N, step=D / grid, B=grid)
        iv = bs.analysis.interval(draws, ci_prob=ci_prob, ci_kind="eti")
        med = draws.median(cd.SAMPLE_DIMS).values
        ax.fill_between(grid / SEQ, iv.sel(ci_bound="lower"), iv.sel(ci_bound="upper"), color="C0", alpha=0.25,
                        label=f"{ci_prob:.0%} predictive")
        ax.plot(grid / SEQ, med, color="C0", lw=1, label="median")
        at = bs.analysis.loss_draws(fit, kind="new_run", random_seed=seed, N=N, step=g["step"].to_numpy(),
                                    B=g["B"].to_numpy())
        s = cd.score_draws(at, g["loss"].to_numpy(), ci_probs=(ci_prob,))
        inside = s[f"in_{ci_prob:g}"].to_numpy()
        cover.append({"N": N, "D": D, "points": len(g), f"inside {ci_prob:.0%}": int(inside.sum()),
                      "mean |rel err| of median": float(s["rel_err"].mean())})
        ax.scatter(g["bs"][inside], g["loss"][inside], s=14, color="k", zorder=3, label="observed (best lr)")
        ax.scatter(g["bs"][~inside], g["loss"][~inside], s=18, color="C3", marker="x", zorder=3, label="outside band")
        ax.set_xscale("log")
        ax.set_title(f"N {N / 1e6:.0f}M, D {D / 1e9:.3g}B", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(cells):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("batch size (sequences of 2048 tokens)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("final loss", fontsize=8)
    axes.flat[0].legend(fontsize=6, loc="upper left")
    fig.suptitle("kaplan_smin on the Step Law grid: best-lr loss vs batch size, "
                 f"{ci_prob:.0%} posterior predictive (new run)", fontsize=10)
    fig.tight_layout()
    return fig, pd.DataFrame(cover)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()
    notes: list[str] = []
    runs, pts = steplaw_best_lr(notes)
    print(runs, *notes, sep="\n", flush=True)
    fit, wall, warns = cd.timed_fit(runs, "kaplan_smin", noise="iid", likelihood="student_t", draws=args.draws,
                                    tune=args.tune, chains=args.chains, random_seed=args.seed,
                                    **cd.sampler_kwargs(args))
    p = cd.param_table(fit, ci_prob=0.9).set_index("parameter")
    diag = fit.diagnostics()
    rows = [{"parameter": k, "median": p.loc[k, "median"], "90% HDI": f"{p.loc[k, '90% HDI lower']:.4g} - "
             f"{p.loc[k, '90% HDI upper']:.4g}", "Kaplan et al. 2020": v} for k, v in KAPLAN.items()]
    table = pd.DataFrame(rows)
    print(table, warns, sep="\n", flush=True)
    cbs = bs.critical_batch_size(fit, loss=[2.2, 2.4, 2.6], N=1.07e9, B=2.0**20, ci_prob=0.9)
    fig, cover = ppc_figure(fit, pts, ci_prob=0.9, seed=args.seed)
    pooled = cover[["points", "inside 90%"]].sum()
    lines = cd.results_header("kaplan_smin (critical batch size) on the Step Law grid", started=started)
    lines += [
        f"Fit: `kaplan_smin`, Student-t likelihood on log loss, iid noise, {cd.sampler_text(args)}; "
        f"{len(runs)} points, one per (N, D, batch size), each the best learning rate's final loss. N = `N`, "
        f"step = `ti`, B = bs x {SEQ} tokens per step. Wall time {wall:.0f} s; divergences {diag['divergences']}, "
        f"max R-hat {diag['max_r_hat']:.3f}, min bulk ESS {diag['min_ess_bulk']:.0f}.", "",
        "Kaplan et al. 2020's values: B* about 2e8 tokens, alpha_B about 0.21 (their eq. 5.3, fig. 10), aN 0.076, "
        "aS 0.76 (Table 3). A comparison, not a test: different data, tokenizer, architecture and learning-rate "
        "schedule (these runs decay the rate to 1e-5 by their last step; Kaplan's S_min was read off fixed "
        "schedules), and here each loss is the best of a learning-rate grid.", "",
        cd.md_table(table), "",
        "## Critical batch size and steps from this fit (1.07B model, B = 2^20 tokens = 512 sequences)", "",
        cd.md_table(cbs), "",
        "## Posterior predictive check", "",
        f"`{FIG.relative_to(ROOT)}`: per (N, D) cell, loss against batch size; points the observed best-lr losses "
        "(red crosses outside the band), band the 90% equal-tailed interval of a new run's loss, line its median. "
        f"Observed points inside their 90% interval: {int(pooled['inside 90%'])} of {int(pooled['points'])} "
        f"({pooled['inside 90%'] / pooled['points']:.0%}).", "",
        cd.md_table(cover), "",
        "## Data handling", "", *[f"- {n}" for n in notes], "",
    ]
    if not args.quick:
        fig.savefig(FIG, dpi=110)
    cd.finish_results(lines, [("kaplan_smin, Step Law best-lr points", fit, warns)], out=OUT, quick=args.quick)


if __name__ == "__main__":
    main()

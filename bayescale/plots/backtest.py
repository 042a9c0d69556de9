"""Pictures of backtests and of calibration by simulation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..analysis.backtest import Backtest
from ..analysis.calibration import Calibration
from .fits import log_axis

__all__ = ["plot_backtest", "plot_calibration"]

#: At most this many held-out runs are labelled (every k-th run beyond it; every run keeps a tick).
MAX_TICK_LABELS = 16


def _bars(ci_probs: tuple[float, ...]) -> tuple[float, float]:
    """The inner and outer interval drawn: 50% and 90% when scored, else the smallest and largest."""
    inner = 0.5 if 0.5 in ci_probs else min(ci_probs)
    outer = 0.9 if 0.9 in ci_probs else max(ci_probs)
    return inner, outer


def plot_backtest(bt: Backtest, *, relative: bool = False, ax: Axes | None = None) -> Axes:
    """Predictive intervals of each law against the held-out losses, one column per held-out run.

    Runs are ordered by C (then N). For each law, a thick bar spans the 50% interval, a thin one
    the 90% interval (the smallest and largest scored when those were not), and a tick marks the
    median; laws sit side by side within a run's column. The observed loss is a black dot with a
    line across the column, so a miss is a dot outside a bar.

    Parameters
    ----------
    bt : Backtest
    relative : bool
        Plot every interval divided by the observed loss (the observed loss is then 1), which
        makes narrow intervals on runs of very different losses comparable.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> bt = bs.analysis.backtest(runs, ["chinchilla", "kaplan"])  # doctest: +SKIP
    >>> ax = plot_backtest(bt)  # doctest: +SKIP
    >>> ax.figure.savefig("backtest.png")  # doctest: +SKIP
    """
    inner, outer = _bars(bt.ci_probs)
    t = bt.table
    first = t[t["law"] == bt.laws[0]]
    order_cols = [c for c in ("C", "N", "D") if c in first.columns]
    runs = first.sort_values(order_cols, kind="stable")["run"].tolist() if order_cols else first["run"].tolist()
    pos = {r: i for i, r in enumerate(runs)}
    created = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(min(11.0, max(5.0, 0.45 * len(runs) * len(bt.laws) + 1.5)) + 3.0, 4.5))
    n_law = len(bt.laws)
    width = 0.7 / n_law
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cov = bt.coverage()
    handles = []
    for k, label in enumerate(bt.laws):
        rows = t[t["law"] == label]
        x = np.array([pos[r] for r in rows["run"]]) + (k - (n_law - 1) / 2) * width
        scale = rows["loss"].to_numpy(float) if relative else 1.0
        color = colors[k % len(colors)]
        ax.vlines(x, rows[f"lower_{outer:g}"] / scale, rows[f"upper_{outer:g}"] / scale, color=color, lw=1.2)
        ax.vlines(x, rows[f"lower_{inner:g}"] / scale, rows[f"upper_{inner:g}"] / scale, color=color, lw=5,
                  alpha=0.55)
        ax.plot(x, rows["median"] / scale, ls="none", marker="_", ms=9, mew=2, color=color)
        c = cov[outer] if n_law == 1 else cov.loc[label, outer]
        handles.append(Patch(color=color, label=f"{label} ({outer:.0%} coverage {c:.2f})"))
    obs = first.set_index("run").loc[runs, "loss"].to_numpy(float)
    xs = np.arange(len(runs))
    y_obs = np.ones_like(obs) if relative else obs
    ax.hlines(y_obs, xs - 0.42, xs + 0.42, color="black", lw=0.8)
    ax.plot(xs, y_obs, ls="none", marker="o", ms=4, color="black")
    handles += [Line2D([], [], color="black", marker="o", ms=4, lw=0.8, label="held-out loss"),
                Line2D([], [], color="gray", lw=5, alpha=0.55, label=f"{inner:.0%} interval"),
                Line2D([], [], color="gray", lw=1.2, label=f"{outer:.0%} interval"),
                Line2D([], [], color="gray", marker="_", ms=9, mew=2, ls="none", label="median")]
    if not relative:
        log_axis(ax, "y")  # labelled ticks even on a span inside one decade
    ax.set_ylabel("predicted / observed loss" if relative else "final loss")
    ax.set_xlim(-0.6, len(runs) - 0.4)
    step = int(np.ceil(len(runs) / MAX_TICK_LABELS))
    labelled = xs[::step]
    ax.set_xticks(labelled)
    ax.set_xticks(xs, minor=True)
    by_run = first.set_index("run")
    if {"N", "C"} <= set(first.columns):
        ax.set_xticklabels([f"N {by_run.loc[runs[i], 'N']:.2g}\nC {by_run.loc[runs[i], 'C']:.2g}" for i in labelled],
                           fontsize=7)
    else:
        ax.set_xticklabels([str(runs[i]) for i in labelled], fontsize=7)
    ax.set_xlabel("held-out runs, ordered by C (then N)" + (f"; one in {step} labelled" if step > 1 else ""))
    ax.set_title(f"Backtest: fitted on {bt.n_train} runs, {len(runs)} held out ({bt.holdout})", fontsize=10)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if created:
        ax.figure.tight_layout()
    return ax


def plot_calibration(cal: Calibration, *, exclude_warned: bool = False, ax: Axes | None = None) -> Axes:
    """Observed against nominal coverage of the simulated backtests, with the diagonal.

    Error bars are +- 1.96 standard errors clustered by data set (``se_datasets`` of
    :meth:`Calibration.coverage`: a data set's held-out runs hit or miss together); a
    calibrated engine's points sit on the diagonal within them.

    Parameters
    ----------
    cal : Calibration
    exclude_warned : bool
        Leave out data sets whose fit raised a SamplerWarning.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_calibration(bs.analysis.calibrate(bs.load_demo_runs(), random_seed=1))  # doctest: +SKIP
    """
    cov = cal.coverage(exclude_warned=exclude_warned)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="calibrated")
    ax.errorbar(cov["nominal"].to_numpy(float), cov["coverage"].to_numpy(float),
                yerr=1.96 * cov["se_datasets"].fillna(0).to_numpy(float), fmt="o",
                color="C0", capsize=4, label="observed +- 1.96 se (by data set)")
    for p, r in cov.iterrows():
        ax.annotate(f"{r['coverage']:.2f}", (p, r["coverage"]), textcoords="offset points", xytext=(6, -10),
                    fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal interval probability")
    ax.set_ylabel("observed coverage of held-out runs")
    n_ds, n_pts = int(cov["n_datasets"].iloc[0]), int(cov["n_points"].iloc[0])
    ax.set_title(f"{cal.law} from {'the prior' if cal.source == 'prior' else cal.source}: "
                 f"{n_ds} data sets, {n_pts} points", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return ax

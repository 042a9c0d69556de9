"""The compute-efficient frontier: training curves against compute, their lower envelope, and the
fitted frontier with its band (Kaplan et al. 2020, figures 1 and 14)."""

from __future__ import annotations

from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from ..analysis.frontier import Frontier
from .curves import CMAP
from .fits import log_axis

__all__ = ["plot_frontier"]


def plot_frontier(
    frontier: Frontier,
    *,
    kind: Literal["loss", "N"] = "loss",
    ci_prob: float | None = None,
    curves: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """The frontier on log-log axes: loss (or compute-efficient N) against compute C = 6 N D.

    ``kind="loss"``: each run's curve (loss against the compute spent so far, coloured by log N,
    thin), the data's lower envelope (black dots; hollow where it is not bracketed by a smaller and
    a larger model), and the frontier's posterior median (line, gid ``"frontier"``) with its
    ``ci_prob`` equal-tailed band (gid ``"frontier_band"``); from the envelope route also the
    floored fit E + (C_c/C)**alpha_C (dashed, gid ``"frontier_floor"``). ``kind="N"``: the
    envelope's winning sizes (dots) and N(C) with its band. The legend gives alpha_C (or a) with its
    interval.

    Parameters
    ----------
    frontier : Frontier
        From :func:`bayescale.analysis.frontier.compute_frontier`.
    kind : {"loss", "N"}
    ci_prob : float, optional
        Band probability; defaults to the frontier's.
    curves : bool
        Draw the runs' curves (``kind="loss"``; needs ``frontier.runs`` with tokens).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.5))  # doctest: +SKIP
    >>> plot_frontier(fr, ax=a0); plot_frontier(fr, kind="N", ax=a1)  # doctest: +SKIP
    """
    if not isinstance(frontier, Frontier):
        raise TypeError(f"plot_frontier takes a Frontier (bs.compute_frontier), got {type(frontier).__name__}")
    if kind not in ("loss", "N"):
        raise ValueError(f"kind must be 'loss' or 'N', got {kind!r}")
    p = frontier.ci_prob if ci_prob is None else ci_prob
    curve = frontier.curve(p)  # checks p
    ex = frontier.exponents(p)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    env = frontier.envelope
    C = curve["C"].to_numpy()
    if kind == "loss":
        if curves and frontier.runs is not None and {"C", "N"} <= set(frontier.runs.to_dataframe().columns):
            df = frontier.runs.to_dataframe()
            sizes = df.groupby("run", sort=False)["N"].first()
            norm = LogNorm(sizes.min(), sizes.max() if sizes.max() > sizes.min() else sizes.min() * 10)
            for run, g in df.groupby("run", sort=False):
                g = g.sort_values("C")
                ax.plot(g["C"], g["loss"], lw=0.9, alpha=0.7, color=CMAP(norm(sizes[run])), gid=f"run:{run}")
            sm = plt.cm.ScalarMappable(norm=norm, cmap=CMAP)
            ax.figure.colorbar(sm, ax=ax, label="parameters N", pad=0.01)
        if env is not None:
            _envelope_points(ax, env, "loss")
        r = ex.loc["alpha_C"]
        label = (f"frontier ({frontier.method}): alpha_C {r['median']:.3f} "
                 f"[{r['lower']:.3f}, {r['upper']:.3f}]")
        ax.fill_between(C, curve["loss_lower"], curve["loss_upper"], color="C3", alpha=0.3, lw=0,
                        gid="frontier_band", label=f"{p:.0%} interval")
        ax.plot(C, curve["loss_median"], color="C3", lw=2, gid="frontier", label=label)
        if "loss_floor_median" in curve and "alpha_C_floor" in ex.index:
            rf = ex.loc["alpha_C_floor"]
            ax.plot(C, curve["loss_floor_median"], color="C1", lw=1.5, ls="--", gid="frontier_floor",
                    label=f"with floor E {ex.loc['E', 'median']:.2f}: alpha_C {rf['median']:.3f} "
                          f"[{rf['lower']:.3f}, {rf['upper']:.3f}]")
        ax.set_ylabel("loss (nats/token)")
        log_axis(ax, "y")
    else:
        if env is not None:
            _envelope_points(ax, env, "N")
        r = ex.loc["a"]
        ax.fill_between(C, curve["N_lower"], curve["N_upper"], color="C0", alpha=0.3, lw=0,
                        gid="frontier_band", label=f"{p:.0%} interval")
        ax.plot(C, curve["N_median"], color="C0", lw=2, gid="frontier",
                label=f"N(C) ({frontier.method}): a {r['median']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]")
        ax.set_ylabel("compute-efficient parameters N")
        log_axis(ax, "y")
    ax.set_xlabel("compute C = 6 N D (FLOPs)")
    log_axis(ax, "x")
    lo, hi = frontier.C_range
    ax.axvspan(lo, hi, color="0.94", zorder=0, gid="fit_range")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"compute-efficient frontier ({frontier.method})", fontsize=10)
    return ax


def _envelope_points(ax: Axes, env, what: str) -> None:
    y = env["loss"] if what == "loss" else env["N"]
    inside = env["bracketed"].to_numpy(bool) if "bracketed" in env else np.ones(len(env), bool)
    ax.plot(env["C"][inside], y[inside], "o", ms=4, color="k", gid="envelope", label="lower envelope")
    if (~inside).any():
        ax.plot(env["C"][~inside], y[~inside], "o", ms=4, mfc="none", color="k", gid="envelope_open",
                label="envelope, not bracketed")

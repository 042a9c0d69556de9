"""Pictures for deciding what to train: isoFLOP profiles with the posterior of the optimal size."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from .._policy import CI_PROB
from ..analysis.compare import AveragedFit, Comparison
from ..analysis.decide import compute_optimal
from ..analysis.predict import SAMPLE_DIMS, _as_fit, predict
from ..results import Fit
from .fits import log_axis

__all__ = ["plot_isoflop"]

#: Observed runs within this many decades of a plotted budget are drawn on its profile.
RUN_WINDOW_DECADES = 0.15
#: At most this many draws of N* in each budget's rug.
MAX_RUG = 300


def plot_isoflop(
    fit: Fit | AveragedFit | Comparison,
    *,
    C: float | Sequence[float],
    n_points: int = 100,
    N_range: tuple[float, float] | None = None,
    ci_prob: float = CI_PROB,
    ax: Axes | None = None,
) -> Axes:
    """IsoFLOP profiles: the loss against model size N at fixed training compute, with the
    posterior of the compute-optimal N* marked.

    For each budget C (one colour each), the law's mean loss at N and D = C / (6 N) is drawn as
    its posterior median and a ``ci_prob`` equal-tailed band of the parameters' uncertainty (as in
    :func:`compute_optimal`; the law's own error beyond the data of ``noise="discrepancy"`` shifts
    every size at a budget alike and is left out: drawn per point, it would make the band jagged).
    The posterior of N* (from :func:`bayescale.analysis.decide.compute_optimal`) is drawn twice: as a point at the median N*
    on the median curve with a horizontal ``ci_prob`` interval, and as a rug of N* draws along the
    bottom of the axes. Observed runs whose compute lies within 0.15 decades of a budget are shown
    faintly in its colour.

    Parameters
    ----------
    fit : Fit, AveragedFit or Comparison
        A fit of a law in N and D, or a mixture of such fits.
    C : float or sequence of float
        Training compute budget(s) in FLOPs.
    n_points : int
        Points per profile.
    N_range : (float, float), optional
        The range of N drawn for every budget. By default each profile spans its N* interval
        and at least a factor of 8 either side of the median N*.
    ci_prob : float
        Probability of the bands and of the N* intervals.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_isoflop(fit, C=[1e21, 1e22, 1e23])  # doctest: +SKIP
    >>> ax.figure.savefig("isoflop.png")  # doctest: +SKIP
    """
    if int(n_points) != n_points or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3, got {n_points!r}")
    if N_range is not None:
        lo_N, hi_N = (float(v) for v in N_range)
        if not (np.isfinite(lo_N) and np.isfinite(hi_N) and 0 < lo_N < hi_N):
            raise ValueError(f"N_range must be (low, high) with 0 < low < high, got {N_range!r}")
    fit = _as_fit(fit)
    alloc = compute_optimal(fit, C=C, ci_prob=ci_prob)
    budgets = alloc.budgets
    created = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.8))
    cmap = plt.get_cmap("viridis")
    colours = [cmap(v) for v in np.linspace(0.0, 0.75, budgets.size)] if budgets.size > 1 else ["tab:blue"]
    q = [(1.0 - ci_prob) / 2.0, 0.5, (1.0 + ci_prob) / 2.0]
    rug = blended_transform_factory(ax.transData, ax.transAxes)
    runs = fit.runs
    try:
        run_N, run_C, run_loss = runs.column("N"), 6.0 * runs.column("N") * runs.column("D"), runs.loss
    except (KeyError, ValueError):
        run_N = run_C = run_loss = np.array([])
    shown_runs = False
    for k, (c, colour) in enumerate(zip(budgets, colours, strict=True)):
        n_star = alloc.draws["N_opt"].isel(budget=k).values.ravel()
        n_star = n_star[np.isfinite(n_star)]
        lo_s, med_s, hi_s = np.quantile(n_star, q)
        if N_range is None:
            lo_N, hi_N = min(med_s / 8.0, lo_s / 2.0), max(med_s * 8.0, hi_s * 2.0)
        grid = np.geomspace(lo_N, hi_N, int(n_points))
        draws = predict(fit, N=grid, D=c / (6.0 * grid))
        flat = draws.stack(sample=SAMPLE_DIMS).transpose("point", "sample").values
        lo, med, hi = np.quantile(flat, q, axis=1)
        ax.fill_between(grid, lo, hi, color=colour, alpha=0.2, lw=0)
        ax.plot(grid, med, color=colour, lw=1.6,
                label=f"C = {c:.3g}: N* {med_s:.3g} [{lo_s:.3g}, {hi_s:.3g}]")
        y_star = float(np.interp(np.log(med_s), np.log(grid), med))
        ax.errorbar([med_s], [y_star], xerr=[[med_s - lo_s], [hi_s - med_s]], fmt="o", color=colour,
                    ecolor="black", elinewidth=1.1, mec="black", mew=0.6, ms=6, capsize=4, zorder=4)
        pick = np.random.default_rng(k).choice(n_star.size, size=min(MAX_RUG, n_star.size), replace=False)
        ax.vlines(n_star[pick], 0.0, 0.035, transform=rug, color=colour, alpha=0.25, lw=0.8)
        near = np.abs(np.log10(run_C / c)) <= RUN_WINDOW_DECADES if run_C.size else np.array([], bool)
        if near.any():
            ax.scatter(run_N[near], run_loss[near], s=14, color=colour, alpha=0.45, edgecolor="none", zorder=3,
                       label=None if shown_runs else
                       f"observed runs within {RUN_WINDOW_DECADES:g} decades of a budget")
            shown_runs = True
    log_axis(ax, "x")
    ax.set_xlabel("parameters N (D = C / 6N)")
    ax.set_ylabel("loss (the law's mean)")
    name = f"{fit.law.spec}" if isinstance(fit, Fit) else "model-averaged"
    ax.set_title(f"{name}: isoFLOP profiles, median and {ci_prob:.0%} band; "
                 f"N* median and {ci_prob:.0%} interval", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("observed"))  # runs last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if created:
        ax.figure.tight_layout()
    return ax

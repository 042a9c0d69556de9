"""Pictures of a fit: data with posterior bands, and a fan chart out to an extrapolation target."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from .._policy import CI_PROB
from ..analysis import interval, interval_sources, loss_draws
from ..results import Fit

__all__ = ["plot_fit", "plot_extrapolation"]

MAX_GROUPS = 8


def _loss_axis(ax: Axes) -> None:
    """Log-scale loss axis with plain decimal tick labels (2.2, not 2.2 x 10^0)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%.2g"))
    ax.yaxis.set_minor_formatter(mticker.FormatStrFormatter("%.2g"))


def _size_groups(N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group runs by model size: each distinct N, or up to 8 log-spaced bins when there are more.

    Returns the group index per run and the geometric-mean N of each group.
    """
    distinct = np.unique(N)
    if distinct.size <= MAX_GROUPS:
        idx = np.searchsorted(distinct, N)
        return idx, distinct
    edges = np.geomspace(N.min(), N.max() * (1 + 1e-12), MAX_GROUPS + 1)
    idx = np.clip(np.searchsorted(edges, N, side="right") - 1, 0, MAX_GROUPS - 1)
    used = np.unique(idx)
    idx = np.searchsorted(used, idx)
    centres = np.array([np.exp(np.mean(np.log(N[idx == g]))) for g in range(used.size)])
    return idx, centres


def plot_fit(
    fit: Fit,
    *,
    x: str = "D",
    ci_prob: float = CI_PROB,
    ax: Axes | None = None,
    n_grid: int = 60,
) -> Axes:
    """Observed losses against D (or C), one colour per model size, with the posterior median and
    a ``ci_prob`` band of the law's mean loss for each size.

    With more than eight distinct sizes, runs are grouped into eight log-spaced bins of N and each
    band is drawn at the bin's geometric-mean N over the bin's range of ``x``.

    Parameters
    ----------
    fit : Fit
        A fit of a law in N and D.
    x : {"D", "C"}
        Horizontal axis: tokens or FLOPs.
    ci_prob : float
    ax : matplotlib Axes, optional
    n_grid : int
        Points per curve.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = bs.plots.plot_fit(fit)  # doctest: +SKIP
    >>> ax.figure.savefig("fit.png")  # doctest: +SKIP
    """
    if x not in ("D", "C"):
        raise ValueError(f"x must be 'D' or 'C', got {x!r}")
    if "N" not in fit.law.inputs:
        raise ValueError(f"plot_fit draws one curve per N; law {fit.law.spec!r} has no N input")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    runs = fit.runs
    N, xs, loss = runs.N, runs.column(x), runs.loss
    groups, centres = _size_groups(N)
    norm = LogNorm(vmin=centres.min(), vmax=max(centres.max(), centres.min() * 1.01))
    cmap = plt.get_cmap("viridis")
    for g, n_g in enumerate(centres):
        sel = groups == g
        colour = cmap(norm(n_g))
        ax.scatter(xs[sel], loss[sel], s=14, color=colour, edgecolor="none", zorder=3,
                   label=f"N ≈ {n_g:.3g}")
        lo, hi = xs[sel].min(), xs[sel].max()
        grid = np.geomspace(lo / 1.3, hi * 1.3, n_grid)
        inputs = {"N": np.full(n_grid, n_g), x: grid}
        draws = loss_draws(fit, **inputs)
        ci = interval(draws, ci_prob=ci_prob)
        ax.plot(grid, draws.median(("chain", "draw")).values, color=colour, lw=1.5)
        ax.fill_between(grid, ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values,
                        color=colour, alpha=0.25, lw=0)
    ax.set_xscale("log")
    _loss_axis(ax)
    ax.set_xlabel("training tokens D" if x == "D" else "training FLOPs C")
    ax.set_ylabel("final loss")
    ax.set_title(f"{fit.law.spec} fit: median and {ci_prob:.0%} band of the mean loss")
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="parameters N")
    return ax


def plot_extrapolation(
    fit: Fit,
    *,
    N: float,
    D: float,
    ci_probs: Sequence[float] = (0.5, 0.8, 0.9),
    kind: str = "mean",
    ax: Axes | None = None,
    n_grid: int = 80,
) -> Axes:
    """Fan chart of the loss against compute, from the largest observed run out to ``(N, D)``.

    The path interpolates N and D geometrically from the observed run of largest compute (the
    best loss at that compute) to the target; bands show the ``ci_probs`` intervals of the loss
    (``kind="mean"`` the law's loss, ``"new_run"`` with run-to-run noise). Observed runs are
    drawn for context and the target gets its median and widest interval as an error bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if set(fit.law.inputs) - {"N", "D", "C"}:
        raise ValueError(f"plot_extrapolation needs a law in N, D or C; got {fit.law.spec!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    runs = fit.runs
    top = np.flatnonzero(runs.C == runs.C.max())
    start = top[np.argmin(runs.loss[top])]
    t = np.linspace(0.0, 1.0, n_grid)
    path_N = np.exp((1 - t) * np.log(runs.N[start]) + t * np.log(N))
    path_D = np.exp((1 - t) * np.log(runs.D[start]) + t * np.log(D))
    path_N[-1], path_D[-1] = N, D  # the target exactly, not through exp(log())
    draws = loss_draws(fit, kind=kind, N=path_N, D=path_D)
    C = draws.coords["C"].values
    for p in sorted(ci_probs, reverse=True):
        ci = interval(draws, ci_prob=p)
        ax.fill_between(C, ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values,
                        color="tab:blue", alpha=0.18, lw=0, label=f"{p:.0%} interval")
    med = draws.median(("chain", "draw")).values
    ax.plot(C, med, color="tab:blue", lw=1.5, label="posterior median")
    ax.scatter(runs.C, runs.loss, s=10, color="0.4", zorder=3, label="observed runs")
    widest = interval(draws.isel(point=[-1]), ci_prob=max(ci_probs))
    lo, hi = float(widest.sel(ci_bound="lower")[0]), float(widest.sel(ci_bound="upper")[0])
    ax.errorbar([C[-1]], [med[-1]], yerr=[[med[-1] - lo], [hi - med[-1]]], fmt="o",
                color="tab:red", capsize=4, zorder=4,
                label=f"N={N:.3g}, D={D:.3g}: {med[-1]:.3f} [{lo:.3f}, {hi:.3f}]")
    ax.set_xscale("log")
    _loss_axis(ax)
    ax.set_xlabel("training FLOPs C = 6ND")
    ax.set_ylabel("loss")
    ax.set_title(f"{fit.law.spec}: extrapolation ({kind} loss)")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def plot_interval_sources(
    fit: Fit,
    *,
    decades: float = 2.0,
    tokens_per_param: float | None = None,
    ci_prob: float = CI_PROB,
    ax: Axes | None = None,
    n_grid: int = 25,
) -> Axes:
    """Width of the ``ci_prob`` interval of one new run's loss against decades of compute beyond the
    fitted runs, stacked by source: the parameters' uncertainty, the law's own error beyond the data
    (``noise="discrepancy"``) and run-to-run noise (:func:`bayescale.interval_sources`).

    The runs lie on a path of constant tokens per parameter (default: that of the run of largest
    compute), from the largest fitted compute out to ``decades`` beyond it.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not {"N", "D"} <= set(fit.runs.to_dataframe().columns):
        raise ValueError("plot_interval_sources needs runs with N and D")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    runs = fit.runs
    top = int(np.argmax(runs.C))
    ratio = float(runs.D[top] / runs.N[top]) if tokens_per_param is None else float(tokens_per_param)
    C = runs.C.max() * np.logspace(0.0, decades, n_grid)
    N = np.sqrt(C / (6.0 * ratio))
    src = interval_sources(fit, ci_prob=ci_prob, N=N, D=ratio * N)
    parts = [("width_params", "parameters", "tab:blue"), ("width_law", "the law's own error", "tab:orange"),
             ("width_noise", "run-to-run noise", "tab:green")]
    ax.stackplot(src["decades_beyond"], *[np.clip(src[c], 0.0, None) for c, _, _ in parts],
                 labels=[label for _, label, _ in parts], colors=[col for _, _, col in parts], alpha=0.75)
    ax.set_xlabel("decades of compute beyond the largest fitted run")
    ax.set_ylabel(f"width of the {ci_prob:.0%} interval of the loss")
    ax.set_title(f"{fit.law.spec} ({fit.noise.structure}): what the interval is made of, "
                 f"{ratio:.0f} tokens/param", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return ax

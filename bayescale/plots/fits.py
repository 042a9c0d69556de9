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
#: The fan chart's median line; its bands are shades of the same blue (:func:`_band_colours`).
MEDIAN_COLOUR = "#08306b"


def _band_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` opaque blues from pale to dark: nested bands drawn widest first stay distinguishable
    (a single colour at a low alpha makes every legend swatch look the same)."""
    cmap = plt.get_cmap("Blues")
    return [cmap(v) for v in (np.linspace(0.22, 0.62, n) if n > 1 else [0.45])]


#: Mantissas tried, in order, for the labelled ticks of a log axis: powers of ten, then 1-2-5, then
#: every integer; below two labelled ticks in view, evenly spaced round numbers instead.
_LOG_SUBS = ((1.0,), (1.0, 2.0, 5.0), tuple(float(m) for m in range(1, 10)))
#: At most this many labelled ticks on a log axis (every k-th power of ten beyond it).
_MAX_LOG_TICKS = 9


def _log_ticks(vmin: float, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Major and minor tick positions for a log axis showing ``[vmin, vmax]``: at least two majors
    inside the view whatever its span (matplotlib's own locator leaves none on a span inside one
    decade that holds no power of ten, e.g. a loss axis from 2.05 to 2.3)."""
    lo, hi = sorted((float(vmin), float(vmax)))
    if not (np.isfinite(hi) and hi > 0):
        return np.array([]), np.array([])
    lo = lo if np.isfinite(lo) and lo > 0 else hi / 10.0
    tol = 1e-9
    exps = np.arange(np.floor(np.log10(lo)) - 1, np.ceil(np.log10(hi)) + 1)

    def inside(subs: tuple[float, ...]) -> np.ndarray:
        v = np.array([m * 10.0**e for e in exps for m in subs])
        return v[(v >= lo * (1 - tol)) & (v <= hi * (1 + tol))]

    def linear() -> np.ndarray:
        locs = mticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        return locs[(locs > 0) & (locs >= lo * (1 - tol)) & (locs <= hi * (1 + tol))]

    found = [inside(subs) for subs in _LOG_SUBS]
    # the coarsest mantissas that give three labelled ticks, not too many; inside a decade, round
    # numbers evenly spaced before settling for two; then two
    for want in (3, 2):
        for subs, major in zip(_LOG_SUBS, found, strict=True):
            if want <= major.size <= _MAX_LOG_TICKS:
                rest = tuple(m for m in _LOG_SUBS[-1] if m not in subs)
                return major, inside(rest) if rest else np.array([])
        if want == 3 and np.log10(hi / lo) < 1 and linear().size >= 3:
            return linear(), np.array([])
    if found[0].size > _MAX_LOG_TICKS:  # very many decades: every k-th power of ten
        return found[0][:: int(np.ceil(found[0].size / _MAX_LOG_TICKS))], np.array([])
    return linear(), np.array([])


class _LogTickLocator(mticker.Locator):
    """A log axis's ticks from :func:`_log_ticks` (``minor=True``: the unlabelled ones)."""

    def __init__(self, minor: bool = False) -> None:
        self.minor = minor

    def __call__(self) -> np.ndarray:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        major, minor = _log_ticks(vmin, vmax)
        return minor if self.minor else major


class _LogTickFormatter(mticker.Formatter):
    """Labels for :class:`_LogTickLocator`'s ticks: plain decimals (2.1, 0.05) between 1e-3 and 1e4,
    ``2x10^21`` beyond, with as few significant digits as keep neighbouring labels distinct."""

    digits = 3

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        locs = [v for v in np.asarray(locs, dtype=float) if v > 0]
        for k in range(1, 7):
            self.digits = k
            if len({self._text(v) for v in locs}) == len(locs):
                break

    def _text(self, x: float) -> str:
        if 1e-3 <= x < 1e4:
            return f"{x:.{self.digits}g}"
        e = int(np.floor(np.log10(x) + 1e-12))
        m = float(f"{x / 10.0**e:.{self.digits}g}")
        if m >= 10:  # 9.99.. rounded up
            m, e = m / 10.0, e + 1
        return f"$10^{{{e}}}$" if m == 1 else f"${m:g}\\times10^{{{e}}}$"

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._text(float(x)) if x > 0 and np.isfinite(x) else ""


def log_axis(ax: Axes, which: str = "y") -> None:
    """Put ``ax``'s ``which`` axis ("x" or "y") on a log scale whose ticks are always labelled.

    Whatever the span, at least two labelled ticks lie in view: powers of ten over many decades,
    1-2-5 or every integer mantissa over one or two, evenly spaced round numbers inside a
    fraction of a decade (where matplotlib's own log locator leaves an axis without ticks).
    """
    if which not in ("x", "y"):
        raise ValueError(f"which must be 'x' or 'y', got {which!r}")
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(_LogTickLocator())
    axis.set_minor_locator(_LogTickLocator(minor=True))
    axis.set_major_formatter(_LogTickFormatter())
    axis.set_minor_formatter(mticker.NullFormatter())


def _loss_axis(ax: Axes) -> None:
    """Log-scale loss axis with plain decimal tick labels (2.2, not 2.2 x 10^0), always labelled."""
    log_axis(ax, "y")


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
    log_axis(ax, "x")
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
    (``kind="mean"`` the law's loss, ``"new_run"`` with run-to-run noise), nested and opaque,
    from pale (widest) to dark (narrowest) blue, each in the legend. Observed runs are drawn for
    context and the target gets its median and widest interval as an error bar.

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
    probs = sorted(ci_probs, reverse=True)
    for p, colour in zip(probs, _band_colours(len(probs)), strict=True):  # widest first, palest
        ci = interval(draws, ci_prob=p)
        ax.fill_between(C, ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values,
                        facecolor=colour, edgecolor="none", lw=0, label=f"{p:.0%} interval")
    med = draws.median(("chain", "draw")).values
    ax.plot(C, med, color=MEDIAN_COLOUR, lw=1.5, label="posterior median")
    ax.scatter(runs.C, runs.loss, s=10, color="0.4", zorder=3, label="observed runs")
    widest = interval(draws.isel(point=[-1]), ci_prob=max(ci_probs))
    lo, hi = float(widest.sel(ci_bound="lower")[0]), float(widest.sel(ci_bound="upper")[0])
    ax.errorbar([C[-1]], [med[-1]], yerr=[[med[-1] - lo], [hi - med[-1]]], fmt="o",
                color="tab:red", capsize=4, zorder=4,
                label=f"N={N:.3g}, D={D:.3g}: {med[-1]:.3f} [{lo:.3f}, {hi:.3f}]")
    log_axis(ax, "x")
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

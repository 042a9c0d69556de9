"""Pictures of a fit to training curves: each run's checkpoints, its fitted curve, and forecasts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .._policy import CI_PROB
from ..analysis import forecast_draws, interval, run_offset_draws, run_params
from ..results import Fit
from .fits import _loss_axis

__all__ = ["plot_curves"]

#: Most runs drawn on one Axes when ``runs=`` is not given.
MAX_RUNS = 12

SAMPLE_DIMS = ("chain", "draw")
AXIS_LABELS = {"step": "step", "D": "tokens seen (D)"}
#: viridis without its palest yellows, which vanish against a white background.
CMAP = ListedColormap(plt.get_cmap("viridis")(np.linspace(0.0, 0.85, 256)), name="viridis_dark")


def _pick_runs(ids: list[str], size: dict[str, float], length: dict[str, int],
               wanted: Sequence[str], limit: int) -> list[str]:
    """``limit`` run ids spread over sizes (evenly over the runs ordered by N, then by length),
    always including ``wanted``; returned in the fit's order."""
    order = sorted(ids, key=lambda r: (size[r], length[r]))
    chosen = list(wanted)
    rest = [r for r in order if r not in chosen]
    k = max(limit - len(chosen), 0)
    if k and rest:
        idx = np.unique(np.round(np.linspace(0, len(rest) - 1, min(k, len(rest)))).astype(int))
        chosen += [rest[i] for i in idx]
    return sorted(chosen, key=ids.index)


def _inputs_along(columns: Mapping[str, np.ndarray], fit: Fit, axis: str,
                  grid: np.ndarray) -> dict[str, xr.DataArray]:
    """The law's inputs at ``grid`` on the curve axis for one run (its rows in ``columns``): N
    constant, any other input (tokens when the axis is steps, C...) interpolated log-log along the
    run's own rows, which is the run's tokens/step ratio when that is constant."""
    t = np.log(columns[axis])
    values = {axis: grid}
    for col in fit.law.inputs:
        if col == axis:
            continue
        v = columns[col]
        if np.all(v == v[0]):
            values[col] = np.full(grid.size, v[0])
        else:
            values[col] = np.exp(np.interp(np.log(grid), t, np.log(v)))
    return {k: xr.DataArray(v, dims="point") for k, v in values.items()}


def _band(ax: Axes, x: np.ndarray, draws: xr.DataArray, ci_prob: float, colour: Any, *,
          dashed: bool, gid: str) -> None:
    ci = interval(draws, ci_prob=ci_prob, ci_kind="eti")
    med = draws.median(SAMPLE_DIMS).values
    (line,) = ax.plot(x, med, color=colour, lw=1.4, ls="--" if dashed else "-", zorder=2)
    line.set_gid(gid)
    band = ax.fill_between(x, ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values,
                           color=colour, alpha=0.15 if dashed else 0.25, lw=0, zorder=1)
    band.set_gid(f"{gid}_band")


def plot_curves(
    fit: Fit,
    *,
    runs: Sequence[Any] | None = None,
    until: float | Mapping[Any, float] | None = None,
    ci_prob: float = CI_PROB,
    ax: Axes | None = None,
    n_grid: int = 50,
    random_seed: int | None = None,
) -> Axes:
    """Training curves of a fit: each run's checkpoints, its fitted curve with a ``ci_prob`` band,
    and, with ``until``, its forecast beyond its last checkpoint (dashed, with its band).

    One colour per model size N (a colormap over log N, with a colorbar). The fitted curve of a run
    is the law on that run's parameters (its run effects included, :func:`bayescale.analysis.run_params`)
    over the run's observed range; the law's inputs other than the curve axis follow the run's own
    rows (N, and tokens per step when the law reads tokens on a step axis). With ``noise="ar1"``
    the fitted curve is the law's mean, without the run's offset; the forecast
    (:func:`bayescale.analysis.forecast_draws`) includes the offset and the last residual, so it
    starts at the last checkpoint.

    Parameters
    ----------
    fit : Fit
        A fit to training curves (``fit.runs.curve_axis`` is ``"step"`` or ``"D"``).
    runs : sequence, optional
        Run ids to draw. By default all runs; with more than 12, 12 runs spread evenly over the
        runs ordered by size (always including the runs named in a dict ``until``).
    until : float or dict, optional
        Forecast out to this value of the curve axis: one value for every drawn run (runs whose
        last checkpoint is already at or beyond it get none), or a dict ``{run: value}``.
    ci_prob : float
        Probability of the bands (equal-tailed).
    ax : matplotlib Axes, optional
    n_grid : int
        Points per fitted curve and per forecast.
    random_seed : int, optional
        For the forecasts' noise; by default derived from the fit's seed.

    Returns
    -------
    matplotlib.axes.Axes
        The lines carry gids ``"fit:<run>"`` and ``"forecast:<run>"``, their bands
        ``"fit:<run>_band"`` and ``"forecast:<run>_band"``, the checkpoints ``"data:<run>"``.

    Raises
    ------
    ValueError
        For a fit to final losses (use :func:`bayescale.plots.plot_fit`), unknown runs, or a
        ``until`` inside a run's observed range.

    Examples
    --------
    >>> ax = bs.plots.plot_curves(fit, until=1e5)  # doctest: +SKIP
    >>> ax.figure.savefig("curves.png")  # doctest: +SKIP
    """
    axis = fit.runs.curve_axis
    if axis is None:
        raise ValueError(
            "plot_curves draws training curves, but this fit is to final losses (one row per run, "
            "no step or tokens axis); use bs.plots.plot_fit(fit) for it"
        )
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob}")
    if int(n_grid) != n_grid or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2, got {n_grid!r}")
    table = fit.runs
    run_of = np.array([str(r) for r in table.run_ids])
    ids = list(dict.fromkeys(run_of))
    cols = {c: table.column(c) for c in {"N", "loss", axis, *fit.law.inputs}}
    rows_of = {r: np.flatnonzero(run_of == r) for r in ids}
    targets: dict[str, float] = {}
    if isinstance(until, Mapping):
        targets = {str(k): float(v) for k, v in until.items()}
        unknown = [k for k in targets if k not in rows_of]
        if unknown:
            raise ValueError(f"until names run(s) {unknown} that are not in this fit; its runs are {ids[:10]}")
    if runs is None:
        size = {r: float(cols["N"][i[0]]) for r, i in rows_of.items()}
        length = {r: i.size for r, i in rows_of.items()}
        chosen = ids if len(ids) <= MAX_RUNS else _pick_runs(ids, size, length, list(targets), MAX_RUNS)
    else:
        chosen = [str(r) for r in ([runs] if isinstance(runs, str) else runs)]
        unknown = [r for r in chosen if r not in rows_of]
        if unknown or not chosen:
            raise ValueError(f"runs= names run(s) {unknown or '(none)'} not in this fit; its runs are {ids[:10]}")
    if until is not None and not isinstance(until, Mapping):
        targets = {r: float(until) for r in chosen}

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    sizes = np.array([cols["N"][rows_of[r][0]] for r in chosen])
    norm = LogNorm(vmin=sizes.min(), vmax=max(sizes.max(), sizes.min() * 1.01))
    cmap = CMAP
    forecast_any = False
    for run in chosen:
        mine = {c: v[rows_of[run]] for c, v in cols.items()}
        colour = cmap(norm(mine["N"][0]))
        x, loss = mine[axis], mine["loss"]
        dots = ax.scatter(x, loss, s=12, color=colour, edgecolor="none", zorder=3)
        dots.set_gid(f"data:{run}")
        grid = np.geomspace(x.min(), x.max(), n_grid) if x.max() > x.min() else x[:1]
        params = run_params(fit, run)
        draws = fit.law(**_inputs_along(mine, fit, axis, grid), **params).transpose(*SAMPLE_DIMS, "point")
        if fit.noise.structure == "ar1":  # the run's own curve: the law times its offset
            draws = draws * np.exp(run_offset_draws(fit, run, random_seed=random_seed))
        _band(ax, grid, draws, ci_prob, colour, dashed=False, gid=f"fit:{run}")
        target = targets.get(run)
        if target is None:
            continue
        if target <= x.max():
            if isinstance(until, Mapping):
                raise ValueError(
                    f"until[{run!r}] = {target:g} is not beyond the run's last checkpoint ({axis} = "
                    f"{x.max():g}); give a later {axis}"
                )
            continue
        ahead = np.geomspace(x.max(), target, n_grid)
        ahead[-1] = target
        fc = forecast_draws(fit, run=run, at=ahead, random_seed=random_seed)
        _band(ax, ahead, fc, ci_prob, colour, dashed=True, gid=f"forecast:{run}")
        forecast_any = True

    ax.set_xscale("log")
    _loss_axis(ax)
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("loss")
    shown = f"{len(chosen)} of {len(ids)} runs" if len(chosen) < len(ids) else f"{len(ids)} runs"
    ax.set_title(f"{fit.law.spec} fit to training curves ({shown}, noise {fit.noise.structure})")
    grey = "0.35"
    handles = [Line2D([], [], color=grey, marker="o", ls="none", ms=4, label="checkpoints"),
               Line2D([], [], color=grey, lw=1.4, label="fitted curve (median)"),
               Patch(color=grey, alpha=0.25, lw=0, label=f"{ci_prob:.0%} band")]
    if forecast_any:
        handles.append(Line2D([], [], color=grey, lw=1.4, ls="--", label="forecast (median)"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="parameters N")
    return ax

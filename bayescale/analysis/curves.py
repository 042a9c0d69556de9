"""Training curves: where a run will end, given its partial curve and the other runs.

All numpy/xarray on the stored posterior draws. With run-aware noise (``noise="ar1"``) a run's
log loss is ``log L + u_r + e_t``, ``u_r ~ N(0, tau)`` and ``e`` a stationary AR(1) in log t with
sd ``sigma`` and correlation length ``ell``: a forecast for a run in the fit draws its offset from
its posterior given its checkpoints (exactly, per posterior draw) and carries its last residual
forward, decaying as ``exp(-dlog t / ell)``; a run that has not started gets a fresh offset and
fresh run effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._policy import CI_PROB
from ..laws.noise import AR1, runs_columns
from ..laws.schedule import SCHEDULE_COLUMNS, reads_schedule
from ..runs.schedule import Schedule, ScheduleError
from ..results import Fit
from .predict import PredictionInputError, _rng, interval, new_run_params, run_params
from .predictive import SAMPLE_DIMS, Predictive

__all__ = ["forecast_draws", "forecast_log_density", "forecast_run", "run_offset_draws"]

ArrayLike = float | int | np.ndarray | list[float] | pd.Series


def _axis_name(fit: Fit) -> str:
    axis = fit.runs.curve_axis
    if axis is None:
        raise PredictionInputError(
            "forecasts need a fit to training curves (a table built with run= and step=/tokens=); "
            "for final losses use bs.loss_interval(fit, ..., kind='new_run')"
        )
    return axis


def _as_points(at: ArrayLike, name: str) -> np.ndarray:
    try:
        a = np.atleast_1d(np.asarray(at, dtype=float))
    except (TypeError, ValueError):
        raise PredictionInputError(f"at= must be numbers on the {name} axis, got {at!r}") from None
    if a.ndim != 1 or a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise PredictionInputError(f"at= must be a non-empty 1-d array of finite values > 0 ({name}); got {a}")
    return a


def _ar1(fit: Fit) -> AR1:
    struct = fit.noise.struct
    if not isinstance(struct, AR1):
        raise PredictionInputError(f"this fit has noise={fit.noise.structure!r}: it has no run offsets")
    return struct


def _run_offset_and_last(fit: Fit, run: Any, params: Mapping[str, xr.DataArray],
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Draws of the run's offset u from its posterior given the run's checkpoints (per draw, the
    exact conditional of :meth:`bayescale.laws.noise.AR1.offset_posterior`), the last residual
    e_T = r_T - u, and log t_T; arrays ``(chain, draw)``."""
    post = fit.idata.posterior.dataset
    df = fit.runs.to_dataframe()
    rows = (df["run"].astype(str) == str(run)).to_numpy()
    t = np.log(df[_axis_name(fit)].to_numpy(dtype=float)[rows])
    x = {c: xr.DataArray(df[c].to_numpy(dtype=float)[rows], dims="point") for c in fit.law.inputs}
    mu = np.log(fit.law(**x, **params).transpose(*SAMPLE_DIMS, "point").values)
    r = np.log(df["loss"].to_numpy(dtype=float)[rows]) - mu
    p = {k: post[k].transpose(*SAMPLE_DIMS).values[..., None] for k in fit.noise.parameter_names}
    mean, sd = _ar1(fit).offset_posterior(r, t, p)
    u = mean + sd * rng.standard_normal(mean.shape)
    return u, r[..., -1] - u, float(t[-1])


def run_offset_draws(fit: Fit, run: Any, *, random_seed: int | None = None) -> xr.DataArray:
    """Posterior draws of a run's offset on log loss (``noise="ar1"`` fits): the model integrates
    the offsets out, and this draws each run's from its exact conditional given the draw's
    parameters and the run's checkpoints. ``exp(offset)`` times the law is the run's own curve.

    Examples
    --------
    >>> bs.analysis.run_offset_draws(fit, "N=1e+09").median()  # doctest: +SKIP
    """
    _ar1(fit)
    u, _, _ = _run_offset_and_last(fit, run, run_params(fit, run), _rng(fit, random_seed))
    return xr.DataArray(u, dims=SAMPLE_DIMS, name="offset").assign_coords(run=str(run))


def _schedule_inputs(fit: Fit, schedule: Schedule | None, at: np.ndarray) -> dict[str, np.ndarray]:
    """The schedule columns the law reads at steps ``at`` (empty for a law that reads none)."""
    if not reads_schedule(fit.law):
        if schedule is not None:
            raise PredictionInputError(f"law {fit.law.spec!r} does not read the learning-rate schedule; "
                                       "drop schedule=")
        return {}
    if not isinstance(schedule, Schedule):
        raise PredictionInputError(
            f"law {fit.law.spec!r} reads the learning-rate schedule: pass schedule=bs.Schedule(...), the "
            f"run's whole schedule up to the last point asked for (got {type(schedule).__name__})")
    if _axis_name(fit) != "step":
        raise PredictionInputError("a schedule-aware fit needs a table indexed by step")
    try:
        feats = schedule.features(at)
    except ScheduleError as err:
        raise PredictionInputError(str(err)) from None
    return {c: feats[c] for c in fit.law.inputs if c in SCHEDULE_COLUMNS}


def _run_inputs(fit: Fit, run: Any, at: np.ndarray, schedule: Schedule | None = None) -> dict[str, np.ndarray]:
    """The law's inputs of a run in the fit at later points ``at`` of the curve axis: its N, the
    schedule's columns (for a schedule-aware law), and other inputs (tokens on a step axis) in the
    run's own last ratio to the axis."""
    axis = _axis_name(fit)
    df = fit.runs.to_dataframe()
    rows = df[df["run"].astype(str) == str(run)]
    if rows.empty:
        run_params(fit, run)  # raises, naming the fit's runs
    last = rows.iloc[-1]
    if at.min() < last[axis]:
        raise PredictionInputError(
            f"run {run!r} has checkpoints up to {axis} = {last[axis]:g}; forecasts start after it "
            f"(got at = {at.min():g}). For the fitted curve use bs.predict"
        )
    values = {axis: at, **_schedule_inputs(fit, schedule, at)}
    for col in fit.law.inputs:
        if col not in values:
            values[col] = np.full(at.size, last[col]) if col == "N" else last[col] / last[axis] * at
    return values


def _new_run_inputs(fit: Fit, at: np.ndarray, schedule: Schedule | None,
                    inputs: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    """The law's inputs at ``at`` for a new run: the axis, the schedule's columns, the rest from ``inputs``."""
    values = {_axis_name(fit): at, **_schedule_inputs(fit, schedule, at)}
    for col in fit.law.inputs:
        if col in values:
            continue
        if col not in inputs:
            raise PredictionInputError(
                f"a new run needs {col}= (law {fit.law.spec!r} reads {list(fit.law.inputs)}); "
                "or pass run= to forecast a run in the fit"
            )
        values[col] = np.broadcast_to(np.asarray(inputs[col], dtype=float), at.shape).copy()
    unknown = sorted(set(inputs) - set(fit.law.inputs))
    if unknown:
        raise PredictionInputError(f"unknown input(s) {unknown}; law {fit.law.spec!r} reads {list(fit.law.inputs)}")
    return values


def forecast_log_density(
    fit: Fit,
    loss: ArrayLike,
    run: Any = None,
    *,
    at: ArrayLike,
    schedule: Schedule | None = None,
    random_seed: int | None = None,
    **inputs: ArrayLike,
) -> np.ndarray:
    """Log density of a run's later losses under its forecast, one per point (marginal per point).
    Without ``run``: of a new run's losses, its inputs as in :func:`forecast_draws`.

    ``log p(y_i) = log mean_s p(y_i | theta_s, u_s, run so far)`` over posterior draws ``s``: with
    ``noise="ar1"`` each draw's forecast of log loss at ``t_i`` is normal with mean
    ``log L + u + rho_i e_T`` and sd ``sigma sqrt(1 - rho_i^2)``, ``rho_i = exp(-(log t_i -
    log t_T) / ell)``, the run's offset ``u`` drawn from its exact conditional and ``e_T`` its
    last residual (see :func:`forecast_draws`); with ``noise="iid"``, normal around the law with
    sd ``sigma``. The density is of the loss itself (Jacobian ``-log y`` included).

    Examples
    --------
    >>> lpd = bs.analysis.forecast_log_density(fit, y_test, run="curve", at=x_test)  # doctest: +SKIP
    """
    axis = _axis_name(fit)
    at = _as_points(at, axis)
    log_y = np.log(np.atleast_1d(np.asarray(loss, dtype=float)))
    if log_y.shape != at.shape:
        raise PredictionInputError(f"{log_y.size} losses for {at.size} points")
    rng = _rng(fit, random_seed)
    post = fit.idata.posterior.dataset
    if run is None:  # a new run: its offset drawn from the population, its noise at its stationary sd
        params = new_run_params(fit, rng)
        x = _new_run_inputs(fit, at, schedule, inputs)
    else:
        params = run_params(fit, run)
        x = _run_inputs(fit, run, at, schedule)
    mean = fit.law(**{c: x[c] for c in fit.law.inputs},
                   **{k: np.asarray(v.transpose(*SAMPLE_DIMS).values)[..., None] for k, v in params.items()})
    loc = np.log(mean)
    p = {k: post[k].transpose(*SAMPLE_DIMS).values[..., None] for k in fit.noise.parameter_names}
    if isinstance(fit.noise.struct, AR1) and run is not None:
        u, e_last, t_last = _run_offset_and_last(fit, run, params, rng)
        gap = np.log(at) - t_last
        loc = loc + u[..., None] + np.exp(-gap / p["ell"]) * e_last[..., None]
        scale = p["sigma"] * np.sqrt(-np.expm1(-2.0 * gap / p["ell"]))
    else:  # independent noise, or a new run (for ar1: a fresh offset and the stationary spread)
        cols = {c: np.broadcast_to(v, at.shape) for c, v in x.items()}
        scale = fit.noise.new_run_scale(p, fit.noise.struct.features(cols, runs_columns(fit.runs)))
    shape = (-1, at.size)
    pred = Predictive(loc.reshape(shape), np.broadcast_to(scale, loc.shape).reshape(shape), fit.noise.family,
                      {k: np.reshape(v, (-1, 1)) for k, v in fit.noise.shape_params(p).items()})
    return pred.logpdf(log_y) - log_y


def forecast_draws(
    fit: Fit,
    run: Any = None,
    *,
    at: ArrayLike,
    schedule: Schedule | None = None,
    random_seed: int | None = None,
    **inputs: ArrayLike,
) -> xr.DataArray:
    """Posterior-predictive draws of a run's loss at later checkpoints.

    Parameters
    ----------
    fit : Fit
        A fit to training curves (``bs.fit`` on a table built with ``run=`` and ``step=``/``tokens=``).
    run : optional
        A run in the fit, typically one still training: its loss at ``at`` given its checkpoints so
        far, its run effects and the other runs. ``at`` must lie beyond its last checkpoint. The
        law's other inputs at ``at`` follow the run's own ratio to the axis (tokens per step).
        Without ``run``: a new run that has not started, of the size given in ``inputs``.
    at : float or array
        Points on the fit's curve axis (``step`` or tokens ``D``).
    schedule : Schedule, optional
        For a law that reads the learning-rate schedule (``multi_power``, ``annealing``): the run's
        whole schedule, through the last point of ``at`` (the steps it has done and those it will do).
    random_seed : int, optional
        Defaults to one derived from the fit's seed.
    **inputs
        For a new run: the law's other inputs (``N=``, and ``D=`` when the axis is ``step`` and
        the law reads tokens), scalars or arrays matching ``at``.

    Returns
    -------
    xarray.DataArray
        Loss draws, dims ``(chain, draw, point)``, with the inputs as ``point`` coordinates.

    Examples
    --------
    >>> draws = bs.analysis.forecast_draws(fit, run="1b-lr3e-4", at=[40000])  # doctest: +SKIP
    >>> draws = bs.analysis.forecast_draws(fit, N=1.75e11, at=[2.1e11, 3e11])  # doctest: +SKIP
    """
    axis = _axis_name(fit)
    at = _as_points(at, axis)
    rng = _rng(fit, random_seed)
    order = np.argsort(at, kind="stable")
    if run is not None:
        if inputs:
            raise PredictionInputError(
                f"give either run= (a run in the fit) or the inputs of a new run, not both; got {sorted(inputs)}"
            )
        params = run_params(fit, run)
        values = _run_inputs(fit, run, at, schedule)
    else:
        values = _new_run_inputs(fit, at, schedule, inputs)
        params = new_run_params(fit, rng)
    post = fit.idata.posterior.dataset
    coords = {k: ("point", v) for k, v in values.items() if k not in SCHEDULE_COLUMNS}
    x = {k: xr.DataArray(v, dims="point", coords=coords) for k, v in values.items()}
    mean = fit.law(**{c: x[c] for c in fit.law.inputs}, **params).transpose(*SAMPLE_DIMS, "point")
    p = {k: post[k].transpose(*SAMPLE_DIMS).values[..., None] for k in fit.noise.parameter_names}
    if isinstance(fit.noise.struct, AR1):
        log_t = np.log(at[order])
        if run is not None:
            u, e_last, t_last = _run_offset_and_last(fit, run, params, rng)
            e = AR1.path(rng, log_t, p["sigma"], p["ell"], e_last, t_last)
        else:
            u = p["tau"][..., 0] * rng.standard_normal(p["tau"].shape[:-1])
            e = AR1.path(rng, log_t, p["sigma"], p["ell"])
        noise = np.empty_like(e)
        noise[..., order] = u[..., None] + e
    else:  # independent noise: a new observation per point
        cols = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        f = fit.noise.struct.features(cols, runs_columns(fit.runs))
        log_mu = np.log(mean.values)
        noise = fit.noise.simulate(rng, log_mu, p, f) - log_mu
    out = mean * np.exp(noise)
    if run is not None:
        out = out.assign_coords(run=str(run))
    return out.rename("loss")


def forecast_run(
    fit: Fit,
    run: Any = None,
    *,
    at: ArrayLike,
    ci_prob: float = CI_PROB,
    ci_kind: Literal["hdi", "eti"] = "eti",
    schedule: Schedule | None = None,
    random_seed: int | None = None,
    **inputs: ArrayLike,
) -> pd.DataFrame:
    """Median and credible interval of a run's loss at later checkpoints (see :func:`forecast_draws`).

    Returns
    -------
    pandas.DataFrame
        One row per point: the run (if given), the inputs, ``median``, ``lower``, ``upper``.

    Examples
    --------
    >>> bs.forecast_run(fit, run="1b-lr3e-4", at=40000, ci_prob=0.9)  # doctest: +SKIP
    >>> bs.forecast_run(fit, N=1.75e11, at=3e11)  # doctest: +SKIP
    >>> bs.forecast_run(fit, at=range(2160, 72001, 500),  # doctest: +SKIP
    ...                 schedule=bs.Schedule.cosine(3e-4, 3e-5, 72000, warmup=2160))
    """
    draws = forecast_draws(fit, run, at=at, schedule=schedule, random_seed=random_seed, **inputs)
    ci = interval(draws, ci_prob=ci_prob, ci_kind=ci_kind)
    cols = {k: draws.coords[k].values for k in ("N", "step", "D", "C", *fit.law.inputs) if k in draws.coords}
    table = pd.DataFrame({**cols, "median": draws.median(SAMPLE_DIMS).values,
                          "lower": ci.sel(ci_bound="lower").values, "upper": ci.sel(ci_bound="upper").values})
    if run is not None:
        table.insert(0, "run", run)
    return table

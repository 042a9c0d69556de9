"""Predictions from a fit: the law evaluated on every posterior draw, intervals, probabilities.

Everything here is numpy/xarray on the stored draws: no PyMC graph, no recompilation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .._policy import CI_PROB, analysis_seed, check_interval
from ..laws.base import Law
from ..laws.noise import Structure, runs_columns
from ..results import Fit
from ..runs import RunTable
from ..runs.table import MissingColumnError
from .compare import AveragedFit, Comparison, mix_draws
from .predictive import SAMPLE_DIMS, Predictive, flat, noise_params, to_draws

__all__ = [
    "ExtrapolationWarning",
    "PredictionInputError",
    "extrapolation_decades",
    "predict",
    "predictive",
    "loss_draws",
    "run_params",
    "new_run_params",
    "loss_interval",
    "interval_sources",
    "prob_below",
    "posterior_predictive",
    "interval",
]

ArrayLike = float | int | np.ndarray | list[float] | pd.Series


class PredictionInputError(ValueError):
    """Inputs for a prediction that are missing, inconsistent or not positive."""


class ExtrapolationWarning(UserWarning):
    """A prediction far beyond the runs the law was fitted to."""


#: :func:`loss_interval` and :func:`prob_below` warn beyond this many decades past the runs.
MAX_EXTRAPOLATION_DECADES = 1.0


AnyFit = Fit | AveragedFit | Comparison
_BASE_LAW_ERROR = Structure.law_error


def _as_fit(fit: AnyFit) -> Fit | AveragedFit:
    if isinstance(fit, Comparison):
        return fit.averaged()
    if not isinstance(fit, Fit | AveragedFit):
        raise TypeError(f"expected a bayescale Fit, AveragedFit or Comparison, got {type(fit).__name__}")
    return fit


def _inputs_of(fit: Fit | AveragedFit) -> tuple[str, ...]:
    return fit.inputs if isinstance(fit, AveragedFit) else fit.law.inputs


def prediction_inputs(fit: Fit | Law, **given: ArrayLike | None) -> dict[str, xr.DataArray]:
    """Inputs as DataArrays on a ``point`` dim, with N, D, C completed by C = 6 N D.

    Scalars broadcast against arrays. Every array carries all inputs as coordinates. ``fit`` may be
    a law, to check a point before anything is fitted (the CLI's ``--predict``).
    """
    law = fit if isinstance(fit, Law) else fit.law
    known = {"N", "D", "C", *law.inputs}
    unknown = sorted(set(given) - known)
    if unknown:
        raise PredictionInputError(
            f"unknown argument(s) {unknown}: law {law.spec!r} takes inputs {sorted(known)} "
            "(interval options are ci_prob=, ci_kind=, kind=)"
        )
    for k, v in given.items():
        if v is not None and np.asarray(v).dtype.kind == "b":
            raise PredictionInputError(f"{k}={v!r} is a boolean, not a size; give a number (e.g. {k}=7e10)")
    try:
        vals = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in given.items() if v is not None}
    except (TypeError, ValueError) as err:
        raise PredictionInputError(f"inputs must be numbers or arrays of numbers: {err}") from None
    try:
        vals = dict(zip(vals, np.broadcast_arrays(*vals.values()), strict=True)) if vals else {}
    except ValueError:
        shapes = {k: v.shape for k, v in vals.items()}
        raise PredictionInputError(f"inputs do not broadcast together: {shapes}") from None
    if {"N", "D", "C"} <= vals.keys():
        off = np.abs(vals["C"] / (6.0 * vals["N"] * vals["D"]) - 1.0)
        if np.any(off > 0.01):
            raise PredictionInputError(
                f"C disagrees with 6 N D by up to {off.max():.0%}; give two of N, D, C and the third "
                "follows from C = 6 N D"
            )
    if {"N", "C"} <= vals.keys() and "D" not in vals:
        vals["D"] = vals["C"] / (6.0 * vals["N"])
    elif {"N", "D"} <= vals.keys() and "C" not in vals:
        vals["C"] = 6.0 * vals["N"] * vals["D"]
    missing = [i for i in law.inputs if i not in vals]
    if missing:
        raise PredictionInputError(
            f"law {law.spec!r} needs {list(law.inputs)}; missing {missing} "
            "(D can come from N and C, C from N and D)"
        )
    for name, v in vals.items():
        if v.ndim != 1:
            raise PredictionInputError(f"{name} must be a scalar or a 1-d array, got shape {v.shape}")
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            raise PredictionInputError(
                f"{name} must be finite and > 0; got {v[bad][:5].tolist()} at positions "
                f"{np.flatnonzero(bad)[:5].tolist()}"
            )
    coords = {k: ("point", v) for k, v in vals.items()}
    return {k: xr.DataArray(v, dims="point", coords=coords) for k, v in vals.items()}


def predict(fit: AnyFit, **inputs: ArrayLike | None) -> xr.DataArray:
    """The law's mean loss at new inputs, for every posterior draw.

    Parameters
    ----------
    fit : Fit, AveragedFit or Comparison
        Averaged fits (and comparisons, by their weights) give the weighted mixture of the laws'
        draws, dims ``(chain=1, draw, point)``.
    **inputs : float or array
        The law's inputs by column name (``N=``, ``D=``; ``C=`` with ``N=`` gives D = C/(6N)).

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, point)``, the inputs as ``point`` coordinates.

    Examples
    --------
    >>> bs.predict(fit, N=7e10, D=1.4e12).median(("chain", "draw"))  # doctest: +SKIP
    """
    fit = _as_fit(fit)
    if isinstance(fit, AveragedFit):
        return mix_draws(fit, {k: predict(f, **inputs) for k, f in fit.fits.items()})
    return _law_draws(fit, {k: fit.posterior[k] for k in fit.law.param_names}, **inputs)


def _law_draws(fit: Fit, params: Mapping[str, xr.DataArray], _x: Mapping[str, xr.DataArray] | None = None,
               **inputs: ArrayLike | None) -> xr.DataArray:
    x = prediction_inputs(fit, **inputs) if _x is None else _x
    out = fit.law(**{k: x[k] for k in fit.law.inputs}, **params)
    out = out.transpose(*SAMPLE_DIMS, "point")
    return out.assign_coords({k: v.coords[k] for k, v in x.items()}).rename("loss")


def _rng(fit: Fit, random_seed: int | None) -> np.random.Generator:
    return np.random.default_rng(analysis_seed(fit, random_seed))


def run_params(fit: Fit, run: Any) -> dict[str, xr.DataArray]:
    """Natural-scale law parameters of one run in the fit, per draw (its run effects included)."""
    post = fit.idata.posterior.dataset
    ids = [str(r) for r in pd.unique(pd.Series(fit.runs.run_ids))]
    if str(run) not in ids:
        shown = ids[:10] + (["..."] if len(ids) > 10 else [])
        raise PredictionInputError(f"run {run!r} is not in this fit; its runs are {shown}")
    out = {k: post[k] for k in fit.law.param_names}
    for k in fit.law.param_names:
        if f"{k}_run" in post:
            out[k] = post[f"{k}_run"].sel(run=str(run), drop=True)
    return out


def new_run_params(fit: Fit, rng: np.random.Generator) -> dict[str, xr.DataArray]:
    """Natural-scale law parameters of a run that has not started, per draw: the law's values with
    fresh run effects drawn from their fitted spread (the law's values when there are none)."""
    post = fit.idata.posterior.dataset
    out = {k: post[k] for k in fit.law.param_names}
    if not fit.run_effects:
        return out
    law, noise = fit.law, fit.noise
    shape = post.sizes["chain"], post.sizes["draw"]
    log_pivot = {k: float(np.log(v)) for k, v in fit.pivot.items()}
    at_pivot = {p.name: np.exp(post[f"{p.sampled_name}_pivot"]) if p.log and p.scale else post[p.name]
                for p in law.parameters}
    per_run = {}
    for name in fit.run_effects:
        z = xr.DataArray(rng.standard_normal(shape), dims=SAMPLE_DIMS)
        per_run[name] = noise.run_value(noise.run_effect_kind(law, name, fit.priors), at_pivot[name],
                                        post[f"{name}_run_sd"], z)
    out.update(noise.natural_run_values(law, per_run, at_pivot, log_pivot))
    return out


def predictive(
    fit: Fit,
    *,
    kind: Literal["mean", "new_run"] = "new_run",
    random_seed: int | np.random.Generator | None = None,
    **inputs: ArrayLike | None,
) -> tuple[Predictive, xr.DataArray]:
    """The predictive distribution of log loss at new inputs, per draw and point, with the law's
    draws (dims ``(chain, draw, point)``, the inputs as coordinates) it is built on.

    ``kind="new_run"``: the loss one new run would report, around the law (with fresh run effects
    when the fit has them), with the observation model's new-run scale
    (:meth:`bayescale.laws.noise.Structure.scale`) and family. ``kind="mean"``: the expected loss
    at those inputs, the law's draws with the law's own error there
    (:meth:`bayescale.laws.noise.Structure.law_error`: normal, sd ``kappa d`` for
    ``noise="discrepancy"``, 0 for models that take the law as exact). ``random_seed`` is used
    only for fresh run effects.

    Examples
    --------
    >>> pred, law_draws = predictive(fit, N=7e10, D=1.4e12)  # doctest: +SKIP
    >>> np.exp(pred.interval(0.9))  # doctest: +SKIP
    """
    check_interval(kind=kind)
    rng = random_seed if isinstance(random_seed, np.random.Generator) else _rng(fit, random_seed)
    params = new_run_params(fit, rng) if kind == "new_run" and fit.run_effects else None
    x = prediction_inputs(fit, **inputs)
    mean = _law_draws(fit, params or {k: fit.posterior[k] for k in fit.law.param_names}, _x=x)
    loc = np.log(flat(mean))
    post = fit.idata.posterior.dataset
    p = noise_params(post, fit.noise.parameter_names)
    p.update({k: flat(post[k]) for k in fit.noise.struct.latents})
    struct, train = fit.noise.struct, runs_columns(fit.runs)
    f = struct.features({k: v.values for k, v in x.items()}, train)
    if kind == "mean":
        return Predictive(loc, np.broadcast_to(np.asarray(struct.law_error(p, f), dtype=float), loc.shape),
                          "normal"), mean
    shift, scale, law_sd = fit.noise.new_run(p, f, struct.features(train, train), lambda: _train_residuals(fit))
    return Predictive(loc + shift, scale, fit.noise.family, fit.noise.shape_params(p), law_sd=law_sd), mean


def _train_residuals(fit: Fit) -> np.ndarray:
    """Log residuals of the fitted runs from the law, per draw: ``(draw, run)``."""
    runs = fit.runs
    law = fit.law(**{k: runs.column(k) for k in fit.law.inputs},
                  **{k: flat(fit.posterior[k])[:, None] for k in fit.law.param_names})
    return np.log(runs.loss)[None, :] - np.log(law)


def loss_draws(
    fit: AnyFit,
    *,
    kind: Literal["mean", "new_run"] = "mean",
    random_seed: int | None = None,
    **inputs: ArrayLike | None,
) -> xr.DataArray:
    """Posterior draws of the loss: the expected loss at the inputs (``"mean"``: the law, with its
    own error beyond the fitted runs where the observation model has one), or a new run's observed
    loss (``"new_run"``: the run-to-run noise too); one draw from :func:`predictive` per posterior
    draw.

    For a fit to training curves, ``"new_run"`` is the loss of a new run at those inputs: fresh
    run effects (if the fit has them), a fresh run offset and the AR(1) residual's stationary
    spread (``noise="ar1"``); to forecast a run in the fit from its partial curve, use
    :func:`bayescale.analysis.forecast_draws`.
    """
    check_interval(kind=kind)
    fit = _as_fit(fit)
    if isinstance(fit, AveragedFit):
        return mix_draws(fit, {k: loss_draws(f, kind=kind, random_seed=random_seed, **inputs)
                               for k, f in fit.fits.items()})
    rng = _rng(fit, random_seed)
    pred, mean = predictive(fit, kind=kind, random_seed=rng, **inputs)
    return to_draws(np.exp(pred.sample(rng)), mean)


def interval(
    draws: xr.DataArray, *, ci_prob: float = CI_PROB, ci_kind: Literal["hdi", "eti"] = "hdi"
) -> xr.DataArray:
    """Credible interval over ``(chain, draw)``: dims ``(..., ci_bound)`` with lower/upper."""
    check_interval(ci_prob=ci_prob, ci_kind=ci_kind)
    if ci_kind == "hdi":
        return az.hdi(draws, prob=ci_prob, dim=list(SAMPLE_DIMS))
    return az.eti(draws, prob=ci_prob, dim=list(SAMPLE_DIMS))


def loss_interval(
    fit: AnyFit,
    *,
    ci_prob: float = CI_PROB,
    ci_kind: Literal["hdi", "eti"] = "hdi",
    kind: Literal["mean", "new_run"] = "mean",
    random_seed: int | None = None,
    sources: bool = False,
    **inputs: ArrayLike | None,
) -> pd.DataFrame:
    """Median and credible interval of the loss at new inputs.

    Parameters
    ----------
    fit : Fit, AveragedFit or Comparison
        A comparison (:func:`bayescale.compare`) or an averaged fit gives the model-averaged
        interval: the laws' draws mixed by their stacking weights.
    ci_prob : float
        Interval probability (default 0.9).
    ci_kind : {"hdi", "eti"}
        Highest-density or equal-tailed interval.
    kind : {"mean", "new_run"}
        ``"mean"``: uncertainty about the law's loss at those inputs. ``"new_run"``: the loss one
        new run would report, adding the fitted run-to-run noise (wider).
    random_seed : int, optional
        For ``"new_run"`` noise; defaults to one derived from the fit's seed.
    sources : bool
        Add what the interval is made of (:func:`interval_sources`, equal-tailed): ``decades_beyond``
        (of C) and the widths the parameters, the law's own error and run-to-run noise add.
    **inputs
        The law's inputs (``N=``, ``D=``, or ``N=`` and ``C=``); scalars or arrays.

    Returns
    -------
    pandas.DataFrame
        One row per point: the inputs (N, D, C where known), ``median``, ``lower``, ``upper``.

    Warns
    -----
    ExtrapolationWarning
        When a point lies more than ``MAX_EXTRAPOLATION_DECADES`` (1) decades beyond the fitted
        runs in N, D or C: the interval is conditional on the law's form holding that far.

    Examples
    --------
    >>> bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9)  # doctest: +SKIP
                  N             D             C    median     lower     upper
    0  7.000000e+10  1.400000e+12  5.880000e+23  1.93...
    """
    check_interval(ci_prob=ci_prob, ci_kind=ci_kind, kind=kind)  # before any warning about the point
    fit = _as_fit(fit)
    warn_if_far(fit, **inputs)
    draws = loss_draws(fit, kind=kind, random_seed=random_seed, **inputs)
    ci = interval(draws, ci_prob=ci_prob, ci_kind=ci_kind)
    cols = {k: draws.coords[k].values for k in ("N", "D", "C", *_inputs_of(fit)) if k in draws.coords}
    out = pd.DataFrame(
        {
            **cols,
            "median": draws.median(SAMPLE_DIMS).values,
            "lower": ci.sel(ci_bound="lower").values,
            "upper": ci.sel(ci_bound="upper").values,
        }
    )
    if sources:
        src = interval_sources(fit, ci_prob=ci_prob, kind=kind, random_seed=random_seed, **inputs)
        out = pd.concat([out, src.drop(columns=[c for c in src if c in out])], axis=1)
    return out


def interval_sources(
    fit: AnyFit,
    *,
    ci_prob: float = CI_PROB,
    kind: Literal["mean", "new_run"] = "new_run",
    random_seed: int | None = None,
    **inputs: ArrayLike | None,
) -> pd.DataFrame:
    """What a prediction's interval is made of, per point, as nested equal-tailed intervals of the
    loss: the parameters' uncertainty alone (the law over posterior draws), then with the law's own
    error at those inputs (``noise="discrepancy"``: ``kappa d`` beyond the fitted compute range,
    ``kappa`` from its prior), then with run-to-run noise (``kind="new_run"``).

    Returns
    -------
    pandas.DataFrame
        One row per point: the inputs, ``decades_beyond`` (decades of C beyond the fitted runs, 0
        inside), ``width`` (of the whole ``ci_prob`` interval, in loss) and what each source adds
        to it: ``width_params`` (the parameters alone), ``width_law`` (added by the law's error) and
        ``width_noise`` (added by run-to-run noise); the three sum to ``width``. ``share_law`` is
        ``width_law / width``.

    Examples
    --------
    >>> bs.interval_sources(fit, N=7e10, D=1.4e12)[["decades_beyond", "width", "share_law"]]  # doctest: +SKIP
    """
    fit = _as_fit(fit)
    fits, weights = ((fit.fits, fit.weights) if isinstance(fit, AveragedFit) else ({"": fit}, {"": 1.0}))
    stages: dict[str, dict[str, Predictive]] = {"params": {}, "law": {}, "noise": {}}
    for key, one in fits.items():
        with_law, law = predictive(one, kind="mean", random_seed=random_seed, **inputs)
        stages["params"][key] = Predictive(with_law.loc, np.zeros((1, 1)), "normal")
        stages["law"][key] = with_law
        stages["noise"][key] = (with_law if kind == "mean" else
                                predictive(one, kind="new_run", random_seed=random_seed, **inputs)[0])
    widths = {}
    for stage, comps in stages.items():
        pred = comps[""] if "" in comps else Predictive.mixture(comps, weights)
        lo, hi = pred.interval(ci_prob)
        widths[stage] = np.exp(hi) - np.exp(lo)
    one = next(iter(fits.values()))
    x = prediction_inputs(one, **inputs)
    cols = {k: x[k].values for k in ("N", "D", "C", *_inputs_of(fit)) if k in x}
    n = len(widths["noise"])
    out = pd.DataFrame({**cols, "decades_beyond": extrapolation_decades(one, **inputs).get("C", np.full(n, np.nan)),
                        "width": widths["noise"], "width_params": widths["params"],
                        "width_law": widths["law"] - widths["params"], "width_noise": widths["noise"] - widths["law"]})
    out["share_law"] = out["width_law"] / out["width"]
    return out


def prob_below(
    fit: AnyFit,
    target: float,
    *,
    kind: Literal["mean", "new_run"] = "mean",
    random_seed: int | None = None,
    **inputs: ArrayLike | None,
) -> float | np.ndarray:
    """Posterior probability that the loss at the inputs is below ``target``.

    Returns a float for scalar inputs, else an array with one value per point.

    Examples
    --------
    >>> bs.prob_below(fit, 2.0, N=7e10, D=1.4e12)  # doctest: +SKIP
    0.97
    """
    fit = _as_fit(fit)
    if isinstance(target, bool) or not np.all(np.isfinite(np.asarray(target, dtype=float))):
        raise PredictionInputError(f"target={target!r}: give the loss to beat as a finite number (e.g. 2.0)")
    warn_if_far(fit, **inputs)
    draws = loss_draws(fit, kind=kind, random_seed=random_seed, **inputs)
    p = (draws < target).mean(SAMPLE_DIMS).values
    scalar = all(np.ndim(v) == 0 for v in inputs.values() if v is not None)
    return float(p[0]) if scalar else p


def posterior_predictive(fit: Fit, *, random_seed: int | None = None) -> xr.DataTree:
    """Replicated log losses at the observed runs, for posterior predictive checks.

    Returns a DataTree with ``posterior_predictive`` and ``observed_data`` groups holding
    ``log_loss`` (dims ``chain, draw, run``), ready for ``arviz.plot_ppc_dist``.
    """
    runs = fit.runs
    inputs: Mapping[str, np.ndarray] = {k: runs.column(k) for k in fit.law.inputs}
    draws = loss_draws(fit, kind="new_run", random_seed=random_seed, **inputs)
    ppc = np.log(draws).rename({"point": "run"}).drop_vars(list(draws.coords.keys() - set(SAMPLE_DIMS)))
    ppc = ppc.assign_coords(run=np.arange(len(runs)))
    obs = xr.DataArray(np.log(runs.loss), dims="run", coords={"run": np.arange(len(runs))})
    return xr.DataTree.from_dict(
        {
            "posterior_predictive": xr.Dataset({"log_loss": ppc}),
            "observed_data": xr.Dataset({"log_loss": obs}),
        }
    )


def _observed(runs: RunTable, name: str) -> np.ndarray | None:
    try:
        return runs.column(name)
    except MissingColumnError:
        if name == "C":
            try:
                return 6.0 * runs.column("N") * runs.column("D")
            except MissingColumnError:
                return None
        return None


def extrapolation_decades(fit: Fit, **inputs: ArrayLike | None) -> dict[str, np.ndarray]:
    """How many decades each input of a query lies beyond the observed runs.

    For each input (N, D, and C = 6 N D where those are known, plus the law's own inputs):
    ``log10(x / max observed)`` above the data, ``log10(min observed / x)`` below it, 0 inside.

    Parameters
    ----------
    fit : Fit
    **inputs
        As for :func:`bayescale.analysis.predict` (``N=``, ``D=``, or ``N=`` and ``C=``).

    Returns
    -------
    dict of str to numpy.ndarray
        One non-negative value per point, per input the runs also record.

    Examples
    --------
    >>> extrapolation_decades(fit, N=7e10, D=1.4e12)  # doctest: +SKIP
    {'N': array([0.45]), 'D': array([0.45]), 'C': array([0.29])}
    """
    x = prediction_inputs(fit, **inputs)
    out = {}
    for name, da in x.items():
        obs = _observed(fit.runs, name)
        if obs is None or obs.size == 0:
            continue
        v = da.values
        lo, hi = float(np.min(obs)), float(np.max(obs))
        out[name] = np.where(v > hi, np.log10(v / hi), np.where(v < lo, np.log10(lo / v), 0.0))
    return out


def warn_if_far(fit: Fit | AveragedFit, max_decades: float = MAX_EXTRAPOLATION_DECADES,
                **inputs: ArrayLike | None) -> None:
    """Warn (:class:`ExtrapolationWarning`) when a query lies more than ``max_decades`` beyond the runs."""
    one = next(iter(fit.fits.values())) if isinstance(fit, AveragedFit) else fit
    try:
        far = extrapolation_decades(one, **inputs)
    except PredictionInputError:
        return
    beyond = max((float(np.max(v)) for v in far.values() if v.size), default=0.0)
    if isinstance(fit, AveragedFit) and fit.method not in ("lfo", "fixed") and beyond > 0:
        warnings.warn(
            f"these laws are weighted by leave-one-out ({fit.method}), which scores interpolation among your "
            f"runs, for a prediction {beyond:.1f} decades beyond them; weigh them by how they extrapolate: "
            "bs.compare(fits, method='lfo')",
            ExtrapolationWarning,
            stacklevel=3,
        )
    # a run 10x the largest is 1 decade out, not 1.0000000000000002 (rounding is no reason to warn)
    worst = {k: float(np.max(v)) for k, v in far.items() if v.size and np.max(v) > max_decades + 1e-9}
    if worst:
        said = ", ".join(f"{k} {d:.1f} decades" for k, d in worst.items())
        if _has_law_error(one):
            what = ("the interval includes the law's own error beyond the data at the rate other ladders "
                    "showed (kappa's prior), which your runs cannot check")
        else:
            what = (f"the interval assumes the law's form holds that far out and cannot show the error if it "
                    f"does not (noise={one.noise.structure!r}; the default noise='discrepancy' adds it)")
        warnings.warn(
            f"predicting {said} beyond the fitted runs (more than {max_decades:g}): {what}. Check how this law "
            "extrapolates on your own runs with bs.backtest(runs, law, holdout='largest_C').",
            ExtrapolationWarning,
            stacklevel=3,
        )


def _has_law_error(fit: Fit) -> bool:
    return type(fit.noise.struct).law_error is not _BASE_LAW_ERROR

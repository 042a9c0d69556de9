"""Building the PyMC model for a law and a run table: the only module that opens a ``pm.Model``.

Final losses (one row per run) and training curves (one row per checkpoint) share one model: the
law on log loss, with pivoted amplitudes. Curves add what makes checkpoints of one run unlike
independent runs: a per-run offset and residuals correlated along the run (``noise="ar1"``), and
optionally law parameters that vary from run to run around a shared mean (``run_effects``).
Every array the data supplies enters through ``pm.Data``, so a compiled model can be refitted to
new data of the same structure without recompiling (see :mod:`bayescale.inference.sampling`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..laws import Law, Prior, PriorError, get_law
from ..laws.cards import card_priors
from ..laws.priors import LOCATION_FAMILIES
from ..runs import RunTable, RunTableError

__all__ = [
    "LIKELIHOODS",
    "NOISE_MODELS",
    "CURVE_NOISE",
    "ModelData",
    "build_model",
    "model_data",
    "resolve_priors",
    "pivots",
    "default_noise",
]

#: Noise parameters of each likelihood on log loss, with their default priors.
LIKELIHOODS: dict[str, dict[str, Prior]] = {
    # sd of log loss: 0.1 = 10% multiplicative noise; runs of one study scatter by ~1-3%.
    "normal": {"sigma": Prior("HalfNormal", sigma=0.1)},
    # nu ~ Gamma(2, 0.1) (Juarez & Steel 2010): mean 20, allows heavy tails when outliers need it.
    "student_t": {"sigma": Prior("HalfNormal", sigma=0.1), "nu": Prior("Gamma", alpha=2.0, beta=0.1)},
}

#: How checkpoints' residuals are modelled. ``"iid"``: independent, as if every checkpoint were a
#: run of its own (the naive model; the only one for final losses). ``"ar1"``: a per-run offset
#: (sd ``tau``) plus residuals that follow a stationary AR(1) along each run, in continuous time on
#: the log of the curve axis (an Ornstein-Uhlenbeck process: the correlation of two checkpoints
#: is ``exp(-|log t1 - log t2| / ell)``, so uneven spacing and forecasts to any step are handled).
NOISE_MODELS = ("iid", "ar1")

#: Priors of the run-aware noise parameters.
CURVE_NOISE: dict[str, Prior] = {
    # run offsets on log loss: seeds, data order and schedules move whole curves by ~1-5%
    "tau": Prior("HalfNormal", sigma=0.05),
    # correlation length in log(step): median 0.37 (consecutive checkpoints 10% apart correlate
    # at ~0.77); 90% prior mass in 0.03-4.4
    "ell": Prior("LogNormal", mu=-1.0, sigma=1.5),
}

#: Prior on the sd of a parameter's run-to-run variation (log scale for scale constants,
#: multiplicative for positive parameters, additive otherwise).
RUN_EFFECT_SD = Prior("HalfNormal", sigma=0.2)

#: Prior families whose support is positive: their parameters vary multiplicatively between runs.
_POSITIVE = {"LogNormal", "HalfNormal", "Gamma", "Exponential", "HalfCauchy", "HalfStudentT",
             "InverseGamma", "Weibull", "HalfFlat", "ChiSquared"}


def _check_likelihood(likelihood: str) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"likelihood={likelihood!r} is not known; use one of {sorted(LIKELIHOODS)}"
        )


def is_curve_table(runs: RunTable) -> bool:
    """True for a table of checkpoints where some run has several (one checkpoint per run is a table
    of finished runs, whatever its axis)."""
    if runs.curve_axis is None:
        return False
    return bool(runs.to_dataframe()["run"].nunique() < len(runs))


def default_noise(runs: RunTable) -> str:
    """``"ar1"`` for curve tables, ``"iid"`` for final losses."""
    return "ar1" if is_curve_table(runs) else "iid"


def _check_structure(runs: RunTable, law: Law, noise: str, run_effects: Sequence[str]) -> None:
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise={noise!r} is not known; use one of {list(NOISE_MODELS)}")
    if not is_curve_table(runs):
        if noise != "iid":
            raise RunTableError(
                f"noise={noise!r} models checkpoints along a run, but this table holds one final loss "
                "per run; use noise='iid' (the default), or build a curve table with run= and step=/tokens="
            )
        if run_effects:
            raise RunTableError(
                "run_effects need several checkpoints per run; this table holds one final loss per run"
            )
    for name in run_effects:
        law.parameter(name)  # raises LawError naming the law's parameters


def resolve_priors(
    law: Law,
    likelihood: str,
    priors: Mapping[str, Any] | str | PathLike[str] | None,
    *,
    noise: str = "iid",
    run_effects: Sequence[str] = (),
) -> dict[str, Prior]:
    """Defaults of the law, the likelihood and the noise model, overridden per parameter by ``priors``.

    Keys are sampled names: ``log_A`` for a log-scale ``A``, ``alpha``, ``sigma``, ``nu``; with
    ``noise="ar1"`` also ``tau`` and ``ell``; each run effect adds ``<name>_run_sd``.
    Values are :class:`Prior` objects or their dicts. A prior card's name or path (``"hoffmann2022"``)
    stands for its priors, and ``{"card": name, key: prior, ...}`` for its priors with overrides (see
    :func:`bayescale.laws.cards.card_priors`); a card's priors for noise parameters this model does
    not have (``nu`` with the normal likelihood, ``tau`` for final losses) are not used.
    """
    _check_likelihood(likelihood)
    out = {**law.default_priors(), **LIKELIHOODS[likelihood]}
    if noise == "ar1":
        out.update(CURVE_NOISE)
    for name in run_effects:
        out[f"{law.parameter(name).name}_run_sd"] = RUN_EFFECT_SD
    card, given = card_priors(law, priors)
    if card is not None:
        explicit = set(priors) - {"card"} if isinstance(priors, Mapping) else set()
        priors = {k: v for k, v in given.items() if k in out or k in explicit}
    for key, value in (priors or {}).items():
        if key not in out:
            hint = ""
            try:
                p = law.parameter(key)
                hint = f" {key} is sampled on the log scale: give a prior for {p.sampled_name!r}."
            except Exception:  # noqa: BLE001 - just a hint
                pass
            raise PriorError(
                f"no parameter {key!r} to put a prior on; law {law.spec!r} with the {likelihood} "
                f"likelihood and noise={noise!r} samples {sorted(out)}.{hint}"
            )
        prior = Prior.from_dict(value) if isinstance(value, Mapping) else value
        if not isinstance(prior, Prior):
            raise PriorError(f"prior for {key!r} must be a bayescale Prior, got {value!r}")
        out[key] = prior
    for key, prior in out.items():
        if not hasattr(pm, prior.dist) or not isinstance(getattr(pm, prior.dist), type):
            raise PriorError(f"prior for {key!r}: {prior.dist!r} is not a PyMC distribution")
    return out


def pivots(runs: RunTable, law: Law) -> dict[str, float]:
    """Geometric mean of each input over the runs: the point where amplitudes are sampled
    (1 for every input of a law declared with ``pivot=False``)."""
    if not law.pivot:
        return dict.fromkeys(law.inputs, 1.0)
    return {inp: float(np.exp(np.mean(np.log(runs.column(inp))))) for inp in law.inputs}


@dataclass(frozen=True)
class ModelData:
    """The arrays a model reads, by ``pm.Data`` name, and the coordinates of its dims."""

    values: dict[str, np.ndarray]
    coords: dict[str, np.ndarray]
    obs_dim: str

    @property
    def n_runs(self) -> int:
        return len(self.coords.get("run", ()))


def run_index(runs: RunTable) -> tuple[np.ndarray, np.ndarray]:
    """Integer run index per row and the run ids in order of first appearance."""
    codes, uniques = pd.factorize(pd.Series(runs.run_ids), sort=False)
    return codes.astype("int64"), np.asarray(uniques)


def model_data(
    runs: RunTable,
    law: Law,
    *,
    pivot: Mapping[str, float],
    noise: str = "iid",
    run_effects: Sequence[str] = (),
) -> ModelData:
    """The ``pm.Data`` values for ``runs``: inputs over their pivots, log loss, and
    for curves the run index, where each checkpoint's run starts and the log-axis gap to the
    checkpoint before it in its run (rows grouped by run)."""
    if not is_curve_table(runs):
        values = _input_values(runs, law, pivot, np.arange(len(runs)))
        return ModelData(values, {"run": np.arange(len(runs))}, "run")
    idx, ids = run_index(runs)
    # checkpoints grouped by run (stable), so sums within a run are differences of cumulative sums;
    # the ``checkpoint`` coordinate keeps each row's position in the table
    order = np.argsort(idx, kind="stable")
    values = _input_values(runs, law, pivot, order)
    idx = idx[order]
    values["run_idx"] = idx
    if noise == "ar1":
        axis = runs.column(runs.curve_axis)[order]
        if np.any(axis <= 0):
            bad = np.sort(order[np.flatnonzero(axis <= 0)])[:5].tolist()
            raise RunTableError(
                f"noise='ar1' correlates checkpoints along log({runs.curve_axis}), which needs values > 0; "
                f"rows at positions {bad} have {runs.curve_axis} = 0. Drop them with "
                "runs.drop_warmup(steps=1) (or tokens=...)"
            )
        log_t = np.log(axis)
        pos = np.arange(len(runs))
        first = np.r_[True, idx[1:] != idx[:-1]]
        values["first"] = first.astype(float)
        values["dlog_t"] = np.where(first, 1.0, log_t - np.roll(log_t, 1))
        values["run_start"] = np.maximum.accumulate(np.where(first, pos, 0)).astype("int64")
    coords = {"run": ids.astype(str), "checkpoint": order}
    return ModelData(values, coords, "checkpoint")


def _input_values(runs: RunTable, law: Law, pivot: Mapping[str, float], order: np.ndarray) -> dict[str, np.ndarray]:
    values = {f"x_{inp}": (runs.column(inp) / pivot[inp])[order] for inp in law.inputs}
    values.update({f"log_pivot_{inp}": np.asarray(np.log(pivot[inp])) for inp in law.inputs})
    values["log_loss_obs"] = np.log(runs.loss)[order]
    return values


def _rv(name: str, prior: Prior, shift: Any = None, **kwargs: Any):
    params = prior.params
    if shift is not None:
        keys = prior.location_keys()
        if not keys:
            raise PriorError(
                f"prior for {name!r} is {prior!r}, which is not a location family; this parameter is "
                "sampled at the data's pivot, which shifts its prior along the log scale. Use one of "
                f"{sorted(LOCATION_FAMILIES)} (e.g. Normal(mu, sigma) on the log scale)"
            )
        for k in keys:
            params[k] = params[k] + shift
    try:
        return getattr(pm, prior.dist)(name, **params, **kwargs)
    except TypeError as err:
        raise PriorError(f"prior for {name!r}: {prior!r} is not valid for PyMC: {err}") from None


def run_effect_kind(law: Law, name: str, priors: Mapping[str, Prior]) -> str:
    """How parameter ``name`` varies between runs: ``"log"`` (scale constants: additive on the log
    scale), ``"mult"`` (positive parameters: multiplicative) or ``"add"``."""
    p = law.parameter(name)
    if p.log:
        return "log"
    return "mult" if priors[p.sampled_name].dist in _POSITIVE else "add"


def build_model(
    runs: RunTable,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "normal",
    pivot: Mapping[str, float] | None = None,
    noise: str | None = None,
    run_effects: Sequence[str] = (),
) -> pm.Model:
    """The PyMC model of ``log(loss) ~ likelihood(log(law(inputs)) [+ run terms], sigma)``.

    Inputs enter divided by their pivot, and each log-scale amplitude is sampled at the pivot
    (``log_A_pivot``; ``log_A = log_A_pivot + alpha * log(N_pivot)``): the same law and the same
    priors, in coordinates where amplitude and exponent are nearly independent. The prior on the
    natural ``log_A`` is kept exactly by shifting its location by ``-alpha * log(N_pivot)``.

    Parameters
    ----------
    runs : RunTable
        Final losses (one row per run) or a curve table (one row per checkpoint).
    law : str or Law
    priors : mapping, optional
        Overrides keyed by sampled name, see :func:`resolve_priors`.
    likelihood : {"normal", "student_t"}
    pivot : mapping, optional
        Pivot per input; default the geometric mean of the runs (``pivot={"N": 1, "D": 1}``
        samples in the natural, uncentred coordinates).
    noise : {"iid", "ar1"}, optional
        Default ``"ar1"`` for curve tables, ``"iid"`` (the only choice) for final losses. With
        ``"ar1"`` the log loss of checkpoint ``i`` of run ``r`` is
        ``log L_i + offset_r + e_i``, ``offset_r ~ Normal(0, tau)`` and ``e`` a stationary AR(1)
        in log(step) with sd ``sigma`` and correlation length ``ell``; the likelihood is written
        as each checkpoint given the one before it in its run.
    run_effects : sequence of str
        Law parameters that vary from run to run around the law's value (partial pooling; curve
        tables only), e.g. ``("A", "alpha")`` for per-run curves ``E + A_r N^-gamma t^-alpha_r``.
        Scale constants vary on the log scale, positive parameters multiplicatively; each gets a
        ``<name>_run_sd`` and per-run values ``<name>_run`` (natural scale, dim ``run``).

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> model = bs.inference.build_model(runs, "chinchilla")
    >>> sorted(rv.name for rv in model.free_RVs)
    ['alpha', 'beta', 'log_A_pivot', 'log_B_pivot', 'log_E', 'sigma']
    """
    law = get_law(law)
    noise = default_noise(runs) if noise is None else noise
    run_effects = tuple(law.parameter(n).name for n in run_effects)
    _check_structure(runs, law, noise, run_effects)
    runs.check_law(law)
    priors = resolve_priors(law, likelihood, priors, noise=noise, run_effects=run_effects)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    data = model_data(runs, law, pivot=pivot, noise=noise, run_effects=run_effects)
    return _build(law, priors, likelihood, noise, run_effects, data)


def _build(law: Law, priors: Mapping[str, Prior], likelihood: str, noise: str,
           run_effects: Sequence[str], data: ModelData, parameterization: str = "noncentered") -> pm.Model:
    """The model for a structure (law, priors, likelihood, noise, run effects) and its data."""
    v = data.values
    curves = "run_idx" in v
    with pm.Model(coords=data.coords) as model:
        obs_dim = data.obs_dim
        x = {inp: pm.Data(f"x_{inp}", v[f"x_{inp}"], dims=obs_dim) for inp in law.inputs}
        log_pivot = {inp: pm.Data(f"log_pivot_{inp}", v[f"log_pivot_{inp}"]) for inp in law.inputs}
        y = pm.Data("log_loss_obs", v["log_loss_obs"], dims=obs_dim)
        run_idx = pm.Data("run_idx", v["run_idx"], dims=obs_dim) if curves else None

        at_pivot: dict[str, Any] = {}  # scalars: the law's (population) values at the pivot
        # linear-scale parameters (exponents) first: log-scale amplitudes are shifted by them
        for p in law.parameters:
            if not p.log:
                at_pivot[p.name] = _rv(p.name, priors[p.name])
        for p in law.parameters:
            if not p.log:
                continue
            if not p.scale:  # unaffected by the pivot
                log_value = _rv(p.sampled_name, priors[p.sampled_name])
                at_pivot[p.name] = pm.math.exp(log_value)
            else:
                shift = law.log_pivot_shift(p, at_pivot, log_pivot)
                log_at_pivot = _rv(f"{p.sampled_name}_pivot", priors[p.sampled_name], -shift)
                log_value = pm.Deterministic(p.sampled_name, log_at_pivot + shift)
                at_pivot[p.name] = pm.math.exp(log_at_pivot)
            pm.Deterministic(p.name, pm.math.exp(log_value))

        per_row = dict(at_pivot)
        if run_effects:
            per_run = _run_effects(law, priors, run_effects, at_pivot, log_pivot, parameterization)
            per_row.update({k: val[run_idx] for k, val in per_run.items()})
        mu = pm.math.log(law(**x, **per_row))

        noise_rv = {k: _rv(k, priors[k]) for k in LIKELIHOODS[likelihood]}
        sd: Any = noise_rv["sigma"]
        if noise == "ar1":
            mu, sd = _ar1_conditional(
                mu, y, noise_rv["sigma"], _rv("tau", priors["tau"]), _rv("ell", priors["ell"]),
                {k: pm.Data(k, v[k], dims=obs_dim) for k in ("first", "dlog_t", "run_start")},
            )
        if likelihood == "normal":
            pm.Normal("log_loss", mu=mu, sigma=sd, observed=y, dims=obs_dim)
        else:
            pm.StudentT("log_loss", nu=noise_rv["nu"], mu=mu, sigma=sd, observed=y, dims=obs_dim)
    return model


def run_affected(law: Law, run_effects: Sequence[str]) -> tuple[str, ...]:
    """Parameters whose natural value differs between runs: the run effects, and scale constants
    whose pivot shift depends on an exponent that varies between runs."""
    names = set(run_effects)
    for p in law.parameters:
        if p.log and any(isinstance(w, str) and w in run_effects for w in p.scale.values()):
            names.add(p.name)
    return tuple(n for n in law.param_names if n in names)


def _ar1_conditional(mu: Any, y: Any, sigma: Any, tau: Any, ell: Any, d: Mapping[str, Any]) -> tuple[Any, Any]:
    """Mean and sd of each checkpoint's log loss given the earlier checkpoints of its run, with the
    run offset integrated out.

    Given the offset u, the residual r = y - mu - u is a stationary AR(1) in log t, and its
    whitened form ``w_i - u v_i`` is iid N(0, 1), where ``w_i = (r_i - rho_i r_{i-1}) / s_i``
    (with r = y - mu), ``v_i = (1 - rho_i) / s_i``, ``rho_i = exp(-dlog t_i / ell)`` and
    ``s_i = sigma sqrt(1 - rho_i^2)`` (``rho = 0``, ``s = sigma`` at a run's first checkpoint). With
    u ~ N(0, tau), after the run's earlier checkpoints u ~ N(A / P, 1 / P), where
    ``P = 1 / tau^2 + sum v_j^2`` and ``A = sum v_j w_j`` over them, so
    ``w_i ~ N(v_i A / P, 1 + v_i^2 / P)``. The product of these conditionals is the exact joint
    density of each run (covariance ``tau^2 11' + sigma^2 exp(-|dlog t| / ell)``); checkpoints
    must be grouped by run (``model_data`` sorts them).
    """
    first, dlog, start = d["first"], d["dlog_t"], d["run_start"]
    r = y - mu
    rho = (1.0 - first) * pt.exp(-dlog / ell)
    s = sigma * pt.sqrt(first + (1.0 - first) * -pt.expm1(-2.0 * dlog / ell))
    # the previous checkpoint's residual: rows are grouped by run, so it is the row before (at a
    # run's first checkpoint that row is another run's, and rho = 0 there); a shift, not a gather
    r_prev = pt.concatenate([r[:1], r[:-1]])
    w = (r - rho * r_prev) / s
    v = (1.0 - rho) / s

    def before(x):  # sum over the earlier checkpoints of the same run
        exclusive = pt.cumsum(x) - x
        return exclusive - exclusive[start]

    precision = 1.0 / tau**2 + before(v**2)
    a = before(v * w)
    mean = mu + rho * r_prev + s * v * a / precision
    sd = s * pt.sqrt(1.0 + v**2 / precision)
    return mean, sd


def _run_effects(law: Law, priors: Mapping[str, Prior], names: Sequence[str],
                 at_pivot: Mapping[str, Any], log_pivot: Mapping[str, Any],
                 parameterization: str = "noncentered") -> dict[str, Any]:
    """Per-run values at the pivot of the parameters in ``names`` (partial pooling), with the
    natural-scale per-run values of every parameter they move recorded as ``<name>_run`` (dim
    ``run``).

    ``"noncentered"`` samples ``<name>_run_z ~ Normal(0, 1)`` and scales it by ``<name>_run_sd``
    (good when each run says little about its own value); ``"centered"`` samples each run's value
    itself (``<name>_run_log`` on the log scale, ``<name>_run_value`` for additive effects) around
    the population value (good when each run's many checkpoints pin its value down, where the
    non-centred form ties every z to the population parameters)."""
    per_run: dict[str, Any] = {}
    for name in names:
        sd = _rv(f"{name}_run_sd", priors[f"{name}_run_sd"])
        additive = run_effect_kind(law, name, priors) == "add"
        if parameterization == "centered":
            if additive:
                per_run[name] = pm.Normal(f"{name}_run_value", at_pivot[name], sd, dims="run")
            else:  # log scale for scale constants, multiplicative for positive parameters
                per_run[name] = pt.exp(pm.Normal(f"{name}_run_log", pt.log(at_pivot[name]), sd, dims="run"))
            continue
        z = pm.Normal(f"{name}_run_z", 0.0, 1.0, dims="run")
        if additive:
            per_run[name] = at_pivot[name] + sd * z
        else:  # log scale for scale constants, multiplicative for positive parameters
            per_run[name] = at_pivot[name] * pt.exp(sd * z)
    exps = {k: per_run.get(k, at_pivot[k]) for k in law.param_names if not law.parameter(k).log}
    for name in run_affected(law, names):
        p = law.parameter(name)
        value = per_run.get(name, at_pivot[name])
        if p.log and p.scale:
            value = value * pt.exp(law.log_pivot_shift(p, exps, log_pivot))
        pm.Deterministic(f"{name}_run", value, dims="run")
    return per_run

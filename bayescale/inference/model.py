"""Building the PyMC model for a law and a run table: the only module that opens a ``pm.Model``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm

from ..laws import Law, Prior, PriorError, get_law
from ..laws.priors import LOCATION_FAMILIES
from ..runs import RunTable, RunTableError

__all__ = ["LIKELIHOODS", "build_model", "resolve_priors", "pivots"]

#: Noise parameters of each likelihood on log loss, with their default priors.
LIKELIHOODS: dict[str, dict[str, Prior]] = {
    # sd of log loss: 0.1 = 10% multiplicative noise; runs of one study scatter by ~1-3%.
    "normal": {"sigma": Prior("HalfNormal", sigma=0.1)},
    # nu ~ Gamma(2, 0.1) (Juarez & Steel 2010): mean 20, allows heavy tails when outliers need it.
    "student_t": {"sigma": Prior("HalfNormal", sigma=0.1), "nu": Prior("Gamma", alpha=2.0, beta=0.1)},
}


def _check_likelihood(likelihood: str) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"likelihood={likelihood!r} is not known; use one of {sorted(LIKELIHOODS)}"
        )


def resolve_priors(law: Law, likelihood: str, priors: Mapping[str, Any] | None) -> dict[str, Prior]:
    """Defaults of the law and the likelihood, overridden per parameter by ``priors``.

    Keys are sampled names: ``log_A`` for a log-scale ``A``, ``alpha``, ``sigma``, ``nu``.
    Values are :class:`Prior` objects or their dicts.
    """
    _check_likelihood(likelihood)
    out = {**law.default_priors(), **LIKELIHOODS[likelihood]}
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
                f"likelihood samples {sorted(out)}.{hint}"
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


def _rv(name: str, prior: Prior, shift: Any = None):
    kwargs = prior.params
    if shift is not None:
        keys = prior.location_keys()
        if not keys:
            raise PriorError(
                f"prior for {name!r} is {prior!r}, which is not a location family; this parameter is "
                "sampled at the data's pivot, which shifts its prior along the log scale. Use one of "
                f"{sorted(LOCATION_FAMILIES)} (e.g. Normal(mu, sigma) on the log scale)"
            )
        for k in keys:
            kwargs[k] = kwargs[k] + shift
    try:
        return getattr(pm, prior.dist)(name, **kwargs)
    except TypeError as err:
        raise PriorError(f"prior for {name!r}: {prior!r} is not valid for PyMC: {err}") from None


def build_model(
    runs: RunTable,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "normal",
    pivot: Mapping[str, float] | None = None,
) -> pm.Model:
    """The PyMC model of ``log(loss) ~ likelihood(log(law(inputs)), sigma)``.

    Inputs enter divided by their pivot, and each log-scale amplitude is sampled at the pivot
    (``log_A_pivot``; ``log_A = log_A_pivot + alpha * log(N_pivot)``): the same law and the same
    priors, in coordinates where amplitude and exponent are nearly independent. The prior on the
    natural ``log_A`` is kept exactly by shifting its location by ``-alpha * log(N_pivot)``.

    Parameters
    ----------
    runs : RunTable
    law : str or Law
    priors : mapping, optional
        Overrides keyed by sampled name, see :func:`resolve_priors`.
    likelihood : {"normal", "student_t"}
    pivot : mapping, optional
        Pivot per input; default the geometric mean of the runs (``pivot={"N": 1, "D": 1}``
        samples in the natural, uncentred coordinates).

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> model = bs.inference.build_model(runs, "chinchilla")
    >>> sorted(rv.name for rv in model.free_RVs)
    ['alpha', 'beta', 'log_A_pivot', 'log_B_pivot', 'log_E', 'sigma']
    """
    law = get_law(law)
    n_runs = runs.to_dataframe()["run"].nunique() if runs.curve_axis is not None else len(runs)
    if n_runs < len(runs):
        raise RunTableError(
            f"this table holds {len(runs)} checkpoints of {n_runs} runs; the final-loss likelihood would "
            "treat every checkpoint as an independent run and give intervals far too narrow. Fit "
            "runs.final() (the last checkpoint of each run); run-aware curve fitting is not built yet"
        )
    runs.check_law(law)
    priors = resolve_priors(law, likelihood, priors)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    log_pivot = {k: float(np.log(v)) for k, v in pivot.items()}
    coords = {"run": np.arange(len(runs))}
    with pm.Model(coords=coords) as model:
        x = {inp: runs.column(inp) / pivot[inp] for inp in law.inputs}
        at_pivot: dict[str, Any] = {}
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
        mu = pm.math.log(law(**x, **at_pivot))
        noise = {k: _rv(k, priors[k]) for k in LIKELIHOODS[likelihood]}
        observed = np.log(runs.loss)
        if likelihood == "normal":
            pm.Normal("log_loss", mu=mu, sigma=noise["sigma"], observed=observed, dims="run")
        else:
            pm.StudentT("log_loss", nu=noise["nu"], mu=mu, sigma=noise["sigma"],
                        observed=observed, dims="run")
    return model

"""Sampling the posterior (and the prior) of a law given a run table."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .. import __version__
from ..laws import Law, get_law
from ..runs import RunTable
from .model import build_model, pivots, resolve_priors
from .result import Fit, SamplerWarning, make_attrs, sampler_diagnostics, sampler_problems

__all__ = ["fit", "sample_prior_predictive", "as_runs", "new_seed"]


def as_runs(runs: RunTable | pd.DataFrame) -> RunTable:
    """A RunTable as is; a DataFrame validated with the default column names."""
    if isinstance(runs, RunTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return RunTable.from_dataframe(runs)
    raise TypeError(f"expected a RunTable or a pandas DataFrame of runs, got {type(runs).__name__}")


def new_seed() -> int:
    """A fresh seed from the OS, to be recorded when the caller gave none."""
    return int(np.random.SeedSequence().entropy % (2**31))


def fit(
    runs: RunTable | pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "normal",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    pivot: Mapping[str, float] | None = None,
    progressbar: bool = True,
    **sample_kwargs: Any,
) -> Fit:
    """Sample the posterior of a scaling law's parameters given finished runs.

    The likelihood is on log loss: ``log(loss) ~ Normal(log L(N, D), sigma)`` or a Student-t
    with ``nu`` degrees of freedom (``likelihood="student_t"``, the robust choice: the Bayesian
    counterpart of the Huber fits used in the literature).

    Parameters
    ----------
    runs : RunTable or DataFrame
    law : str or Law
        ``"chinchilla"``, ``"kaplan"``, ``"power_law"`` (``"power_law:N"`` for another input),
        ``"kaplan_power"`` or a law registered with :func:`bayescale.laws.law`.
    priors : mapping, optional
        Per-parameter overrides keyed by sampled name (``log_A``, ``alpha``, ``sigma``...).
    likelihood : {"normal", "student_t"}
    draws, tune, chains : int
    random_seed : int, optional
        Recorded in the result; drawn from the OS (and recorded) when not given.
    pivot : mapping, optional
        See :func:`bayescale.inference.build_model`.
    progressbar : bool
    **sample_kwargs
        Passed to :func:`pymc.sample` (``target_accept``, ``nuts_sampler``, ``cores``...).

    Returns
    -------
    Fit

    Warns
    -----
    SamplerWarning
        On divergences, R-hat > 1.01 or ESS < 400; the numbers are in ``fit.diagnostics()``.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> result = bs.fit(runs, "chinchilla", random_seed=1)  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    runs = as_runs(runs)
    law = get_law(law)
    resolved = resolve_priors(law, likelihood, priors)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    model = build_model(runs, law, priors=resolved, likelihood=likelihood, pivot=pivot)
    seed = new_seed() if random_seed is None else int(random_seed)
    sample_kwargs = _sampler_defaults(sample_kwargs)
    with model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=progressbar,
            compute_convergence_checks=False,  # we check, and say so in plain words, below
            **sample_kwargs,
        )
        pm.compute_log_likelihood(idata, progressbar=False)
    sampler = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "library": str(idata.posterior.attrs.get("inference_library", "pymc")),
        "library_version": str(idata.posterior.attrs.get("inference_library_version", "")),
        **{k: _jsonable(v) for k, v in sample_kwargs.items()},
    }
    idata.attrs.update(
        make_attrs(
            version=__version__,
            law=law.name,
            law_spec=law.spec,
            law_source_hash=law.source_hash,
            likelihood=likelihood,
            priors={k: p.to_dict() for k, p in resolved.items()},
            pivot=pivot,
            data_hash=runs.data_hash,
            n_runs=len(runs),
            sampler=sampler,
            random_seed=seed,
        )
    )
    result = Fit(law=law, priors=resolved, likelihood=likelihood, runs=runs, idata=idata,
                 pivot=pivot)
    for problem in sampler_problems(sampler_diagnostics(idata, result.var_names), chains):
        warnings.warn(f"{law.spec} fit: {problem}", SamplerWarning, stacklevel=2)
    return result


def _sampler_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Dense or low-rank mass-matrix adaptation: the floor E trades off against the amplitudes
    even after pivoting, and a diagonal mass matrix leaves that ridge to the trajectory length.

    nutpie (``pip install bayescale[fast]``) gets ``adaptation="low_rank"``; PyMC's own NUTS gets
    ``init="jitter+adapt_full"``; both get ``target_accept=0.9``. Explicit arguments win.
    """
    kwargs = dict(kwargs)
    nuts = dict(kwargs.pop("nuts", None) or {})
    if "target_accept" not in kwargs and "target_accept" not in nuts:
        nuts["target_accept"] = 0.9  # 0.8 leaves a few divergences on small isoFLOP tables
    sampler = kwargs.get("nuts_sampler")
    if sampler is None:
        sampler = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
        kwargs["nuts_sampler"] = sampler
    if sampler == "nutpie":
        nuts.setdefault("adaptation", "low_rank")
    elif sampler == "pymc":
        kwargs.setdefault("init", "jitter+adapt_full")
    return {**kwargs, "nuts": nuts}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


def sample_prior_predictive(
    runs: RunTable | pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | None = None,
    likelihood: str = "normal",
    draws: int = 500,
    random_seed: int | None = None,
) -> xr.DataTree:
    """Draw parameters and log losses from the prior, at the observed runs.

    Returns a DataTree with groups ``prior`` (natural-scale parameters included),
    ``prior_predictive`` (``log_loss``, dims ``chain, draw, run``) and ``observed_data``, ready
    for ``arviz.plot_ppc_dist(..., group="prior_predictive")``.

    Examples
    --------
    >>> import bayescale as bs
    >>> prior = bs.sample_prior_predictive(bs.load_demo_runs(), "chinchilla", random_seed=0)
    >>> prior.prior_predictive["log_loss"].dims
    ('chain', 'draw', 'run')
    """
    runs = as_runs(runs)
    model = build_model(runs, law, priors=priors, likelihood=likelihood)
    seed = new_seed() if random_seed is None else int(random_seed)
    with model:
        out = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    out.attrs["bayescale_random_seed"] = seed
    return out

"""Sampling the posterior (and the prior) of a law given a run table."""

from __future__ import annotations

import importlib.util
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .. import __version__
from ..laws import Law, get_law
from ..laws.cards import card_priors
from ..runs import RunTable
from ..runs.design import IdentifiabilityWarning, design_problems
from .diagnostics import diagnose
from .model import (
    ModelData,
    _build,
    _check_structure,
    build_model,
    default_noise,
    model_data,
    pivots,
    resolve_priors,
)
from .result import Fit, SamplerWarning, make_attrs

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
    priors: Mapping[str, Any] | str | PathLike[str] | None = None,
    likelihood: str = "normal",
    noise: str | None = None,
    run_effects: Sequence[str] = (),
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    pivot: Mapping[str, float] | None = None,
    progressbar: bool = True,
    **sample_kwargs: Any,
) -> Fit:
    """Sample the posterior of a scaling law's parameters given finished runs or training curves.

    The likelihood is on log loss: ``log(loss) ~ Normal(log L(N, D), sigma)`` or a Student-t
    with ``nu`` degrees of freedom (``likelihood="student_t"``, the robust choice: the Bayesian
    counterpart of the Huber fits used in the literature).

    A curve table (one row per checkpoint, built with ``run=`` and ``step=``/``tokens=``) is fitted
    with noise that respects runs (``noise="ar1"``, the default for curves): checkpoints of one
    run share an offset and their residuals are correlated along the run, so 200 checkpoints of
    one run count for far less than 200 runs. ``noise="iid"`` treats every checkpoint as
    independent (the naive model; its intervals are too narrow, see the benchmarks).

    Parameters
    ----------
    runs : RunTable or DataFrame
    law : str or Law
        ``"chinchilla"``, ``"kaplan"``, ``"power_law"`` (``"power_law:N"`` for another input),
        ``"kaplan_power"``, the curve laws (``"kaplan_steps"``, ``"curve_power"``, ``"m2"``,
        ``"m4"``, ``"broken_power_law"``) or a law registered with :func:`bayescale.laws.law`.
    priors : mapping, str or path, optional
        Per-parameter overrides keyed by sampled name (``log_A``, ``alpha``, ``sigma``, ``tau``...);
        or a prior card by name (``"hoffmann2022"``, see :func:`bayescale.list_priors`) or path; or
        ``{"card": "hoffmann2022", "sigma": Prior(...)}``, a card with some of its priors replaced.
        Priors neither given nor on the card keep their defaults. The card's name is recorded in
        ``fit.provenance["prior_card"]``.
    likelihood : {"normal", "student_t"}
    noise : {"ar1", "iid"}, optional
        Residual model for curve tables (default ``"ar1"``); final losses are always ``"iid"``.
        See :func:`bayescale.inference.build_model`.
    run_effects : sequence of str
        Law parameters that vary from run to run, partially pooled (curve tables only), e.g.
        ``run_effects=("A", "alpha")`` with ``"curve_power"`` for hierarchical per-run curves.
    draws, tune, chains : int
    random_seed : int, optional
        Recorded in the result; drawn from the OS (and recorded) when not given.
    pivot : mapping, optional
        See :func:`bayescale.inference.build_model`.
    progressbar : bool
    **sample_kwargs
        Passed to the sampler (``target_accept``, ``nuts_sampler``, ``cores``...). With nutpie
        (the default when installed) the compiled model is cached: refitting the same law, priors
        and noise model to new data does not recompile.

    Returns
    -------
    Fit

    Warns
    -----
    IdentifiabilityWarning
        Before sampling, when the design of the runs cannot pin the law down: too few distinct
        values of an input, inputs that move together (one tokens-per-parameter ratio), fewer
        than 3 runs per parameter. The fit still runs; its answer then rests on the prior.
    SamplerWarning
        On divergences, R-hat > 1.01, ESS < 400, tree-depth saturation or E-BFMI < 0.3, saying what
        to try; :func:`bayescale.diagnose` gives the same verdict and the numbers.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> result = bs.fit(runs, "chinchilla", random_seed=1)  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    runs = as_runs(runs)
    law = get_law(law)
    noise = default_noise(runs) if noise is None else noise
    run_effects = tuple(law.parameter(n).name for n in run_effects)
    _check_structure(runs, law, noise, run_effects)
    runs.check_law(law)
    for problem in design_problems(runs, law):
        warnings.warn(f"{law.spec} on these runs: {problem}", IdentifiabilityWarning, stacklevel=2)
    card = card_priors(law, priors)[0]  # the card's name, for the provenance
    resolved = resolve_priors(law, likelihood, priors, noise=noise, run_effects=run_effects)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    data = model_data(runs, law, pivot=pivot, noise=noise, run_effects=run_effects)
    seed = new_seed() if random_seed is None else int(random_seed)
    sample_kwargs = _sampler_defaults(sample_kwargs)
    structure = (law, resolved, likelihood, noise, run_effects)
    if sample_kwargs["nuts_sampler"] == "nutpie" and set(sample_kwargs) <= {"nuts_sampler", "nuts", "cores"}:
        entry, idata = _sample_nutpie_cached(structure, data, draws=draws, tune=tune, chains=chains,
                                             seed=seed, progressbar=progressbar,
                                             cores=sample_kwargs.get("cores"), nuts=sample_kwargs["nuts"])
    else:
        entry = _Compiled(_build(*structure, data))
        with entry.model:
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=seed,
                progressbar=progressbar,
                compute_convergence_checks=False,  # we check, and say so in plain words, below
                **sample_kwargs,
            )
    _add_log_likelihood(entry, idata, data)
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
            noise=noise,
            run_effects=list(run_effects),
            priors={k: p.to_dict() for k, p in resolved.items()},
            **({"prior_card": card} if card else {}),
            pivot=pivot,
            data_hash=runs.data_hash,
            n_runs=int(data.n_runs if data.obs_dim == "checkpoint" else len(runs)),
            sampler=sampler,
            random_seed=seed,
        )
    )
    result = Fit(law=law, priors=resolved, likelihood=likelihood, runs=runs, idata=idata,
                 pivot=pivot, noise=noise, run_effects=run_effects)
    for problem in diagnose(result).problems:
        warnings.warn(f"{law.spec} fit: {problem}", SamplerWarning, stacklevel=2)
    return result


@dataclass
class _Compiled:
    """A model built for one structure, with what has been compiled from it: the nutpie model and
    the pointwise log-likelihood (both read the model's ``pm.Data``, so new data need no recompile)."""

    model: pm.Model
    nutpie: Any = None
    loglik: tuple[pm.Model, Any, list[str], str, list[str]] | None = None


#: Compiled models by structure, most recent last (a small LRU; nutpie only).
_COMPILED: OrderedDict[tuple, _Compiled] = OrderedDict()
_COMPILED_MAX = 32


def _add_log_likelihood(entry: _Compiled, idata: xr.DataTree, data: ModelData) -> None:
    """Pointwise log-likelihood of every draw (the ``log_likelihood`` group, for LOO) and the log
    prior density of each free variable (the ``log_prior`` group, for prior power-scaling), as
    ``pm.compute_log_likelihood`` and ``pm.compute_log_prior`` would give them (no Jacobian terms).

    One compiled function gives both; it is kept in ``entry``, so a refit of a cached model to new
    data reuses it (the PyMC functions would compile anew each time)."""
    from pymc.model.transform.conditioning import remove_value_transforms

    if entry.loglik is None:
        umodel = remove_value_transforms(entry.model)
        obs = list(umodel.observed_RVs)
        free = list(umodel.free_RVs)
        outs = [*umodel.logp(vars=obs, sum=False), *umodel.logp(vars=free, sum=False)]
        fn = umodel.compile_fn(inputs=umodel.value_vars, outs=outs, on_unused_input="ignore")
        entry.loglik = (umodel, fn, [v.name for v in umodel.value_vars], obs[0].name,
                        [rv.name for rv in free])
    umodel, fn, names, obs_name, free_names = entry.loglik
    with umodel:  # the untransformed clone has data of its own
        pm.set_data({k: v for k, v in data.values.items() if k in umodel.named_vars}, coords=data.coords)
    post = idata.posterior.dataset
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    values = {k: post[k].values for k in names}
    loglik = np.empty((n_chain, n_draw, len(data.values["log_loss_obs"])))
    logprior = {k: np.empty((n_chain, n_draw) + post[k].shape[2:]) for k in free_names}
    for c in range(n_chain):
        for d in range(n_draw):
            res = fn({k: v[c, d] for k, v in values.items()})
            loglik[c, d] = res[0]
            for k, lp in zip(free_names, res[1:], strict=True):
                logprior[k][c, d] = lp
    dim = data.obs_dim
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    idata["log_likelihood"] = xr.DataTree(xr.Dataset(
        {obs_name: (("chain", "draw", dim), loglik)}, coords={**sample, dim: data.coords[dim]}))
    idata["log_prior"] = xr.DataTree(xr.Dataset(
        {k: (post[k].dims, v) for k, v in logprior.items()}, coords={**sample, **{
            d: post[d].values for k in free_names for d in post[k].dims[2:]}}))


def _structure_key(structure: tuple, data: ModelData) -> tuple:
    law, priors, likelihood, noise, run_effects = structure
    prior_key = tuple(sorted((k, tuple(sorted(p.to_dict().items()))) for k, p in priors.items()))
    # per-run posterior variables fix the number of runs in the compiled model's output shapes
    n_runs = data.n_runs if run_effects else None
    return (law.spec, law.source_hash, prior_key, likelihood, noise, tuple(run_effects), n_runs,
            tuple(sorted(data.values)))


def _sample_nutpie_cached(structure: tuple, data: ModelData, *, draws: int, tune: int, chains: int,
                          seed: int, progressbar: bool, cores: int | None,
                          nuts: Mapping[str, Any]) -> tuple[_Compiled, xr.DataTree]:
    """nutpie on a model compiled once per structure; new data go in through ``with_data``."""
    import dataclasses
    import time

    import nutpie
    from pymc.sampling.mcmc import patch_nutpie_idata

    key = _structure_key(structure, data)
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        entry = _COMPILED[key]
        with entry.model:
            pm.set_data(data.values, coords=data.coords)
    else:
        model = _build(*structure, data)
        entry = _COMPILED[key] = _Compiled(model, nutpie.compile_pymc_model(model))
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    model, compiled = entry.model, entry.nutpie
    used = {var.name for var in compiled.shared_var_keys}  # pm.Data the logp reads
    compiled = compiled.with_data(**{k: v for k, v in data.values.items() if k in used})
    coords = {k: pd.Index(v) for k, v in data.coords.items() if k in (compiled._coords or {})}
    compiled = dataclasses.replace(compiled, _coords={**(compiled._coords or {}), **coords})
    nuts = dict(nuts)
    if "max_treedepth" in nuts:
        nuts["maxdepth"] = nuts.pop("max_treedepth")
    t0 = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores, seed=seed,
                          save_warmup=False, progress_bar=progressbar, **nuts)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - t0)
    return entry, idata


def _sampler_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Dense or low-rank mass-matrix adaptation: the floor E trades off against the amplitudes
    even after pivoting, and a diagonal mass matrix leaves that ridge to the trajectory length.

    nutpie (``pip install bayescale[fast]``) gets ``adaptation="low_rank"``; PyMC's own NUTS gets
    ``init="jitter+adapt_full"``; both get ``target_accept=0.9``. Explicit arguments win.
    """
    kwargs = dict(kwargs)
    nuts = dict(kwargs.pop("nuts", None) or {})
    if "target_accept" in kwargs:  # one place for it, so nutpie's compiled-model cache still applies
        nuts["target_accept"] = kwargs.pop("target_accept")
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
    priors: Mapping[str, Any] | str | PathLike[str] | None = None,
    likelihood: str = "normal",
    noise: str | None = None,
    run_effects: Sequence[str] = (),
    draws: int = 500,
    random_seed: int | None = None,
) -> xr.DataTree:
    """Draw parameters and log losses from the prior, at the observed runs.

    Returns a DataTree with groups ``prior`` (natural-scale parameters included),
    ``prior_predictive`` (``log_loss``, dims ``chain, draw, run``) and ``observed_data``, ready
    for ``arviz.plot_ppc_dist(..., group="prior_predictive")``. ``priors`` is as in
    :func:`fit`: per-parameter priors, a prior card's name or path, or ``{"card": name, ...}``.

    Examples
    --------
    >>> import bayescale as bs
    >>> prior = bs.sample_prior_predictive(bs.load_demo_runs(), "chinchilla", random_seed=0)
    >>> prior.prior_predictive["log_loss"].dims
    ('chain', 'draw', 'run')
    """
    runs = as_runs(runs)
    model = build_model(runs, law, priors=priors, likelihood=likelihood, noise=noise,
                        run_effects=run_effects)
    seed = new_seed() if random_seed is None else int(random_seed)
    with model:
        out = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    out.attrs["bayescale_random_seed"] = seed
    return out

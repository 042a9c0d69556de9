"""Fitting a law to a run table (:func:`fit`) and drawing from its prior (:func:`sample_prior_predictive`).

Four NUTS samplers, chosen with ``fit(..., sampler=)``: nutpie (default when installed; the model
is compiled once per structure and refitted to new data without recompiling), numpyro and blackjax
(JAX; CPU or GPU, see ``docs/gpu.md``) and PyMC's own NUTS. Every sampler's output gets the same
``log_likelihood`` and ``log_prior`` groups and the same diagnostics.

:func:`fit` joins the parts: the samplers and their adapters (:mod:`bayescale.inference.samplers`),
the model compiled once per structure (:mod:`bayescale.inference.cache`), the log-likelihood and
log prior of every draw (:mod:`bayescale.inference.loglik`), and the provenance it records.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import pandas as pd
import pymc as pm
import xarray as xr

from .. import __version__
from .._policy import check_seed, new_seed
from ..laws import Law
from ..laws.noise import Noise
from ..laws.spec import ModelSpec
from ..results import Fit, MisfitWarning, SamplerWarning, diagnose, largest_runs_missed, make_attrs
from ..runs import RunTable
from ..runs.design import IdentifiabilityWarning, design_problems
from ..runs.table import DataWarning, data_problems
from .cache import _COMPILED, _cached  # noqa: F401 - _COMPILED: the cache, read here by benchmarks
from .loglik import (  # noqa: F401 - LOG_LIKELIHOOD, POINTWISE_WARN_BYTES: public here before the split
    LOG_LIKELIHOOD,
    POINTWISE_WARN_BYTES,
    _add_log_likelihood,
    _log_likelihood_kind,
    _warn_pointwise_size,
)
from .model import SIGMA_ELL_SLOPE, ModelData, build, check_pivot, model_data, pivots
from .start import PointStart, point_start, value_and_grad, wants_point_start
from .samplers import (  # noqa: F401 - JAX_SAMPLERS: public here before the split
    JAX_SAMPLERS,
    SAMPLERS,
    _resolve_sampler,
    _run_sampler,
    SamplerArgumentError,
    _sampler_defaults,
    available_samplers,
    check_sampler_args,
    data_as_constants,
    default_sampler,
)

__all__ = ["fit", "sample_prior_predictive", "as_runs", "new_seed", "SAMPLERS", "available_samplers",
           "default_sampler", "SamplerArgumentError"]


def as_runs(runs: RunTable | pd.DataFrame) -> RunTable:
    """A RunTable as is; a DataFrame validated with the default column names."""
    if isinstance(runs, RunTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return RunTable.from_dataframe(runs)
    raise TypeError(f"expected a RunTable or a pandas DataFrame of runs, got {type(runs).__name__}")


def fit(
    runs: RunTable | pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | str | PathLike[str] | None = None,
    likelihood: str | None = None,
    noise: Noise | str | None = None,
    run_effects: Sequence[str] = (),
    parameterization: str = "noncentered",
    sampler: str | None = None,
    start: str = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    pivot: Mapping[str, float] | None = None,
    progressbar: bool = True,
    log_likelihood: bool | str = True,
    **sample_kwargs: Any,
) -> Fit:
    """Sample the posterior of a scaling law's parameters given finished runs or training curves.

    The likelihood is on log loss: a Student-t with ``nu`` degrees of freedom around ``log L(N, D)``
    with scale ``sigma`` (the default, robust to a stray run: the Bayesian counterpart of the Huber fits
    used in the literature) or ``log(loss) ~ Normal(log L(N, D), sigma)`` (``likelihood="normal"``).

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
    likelihood : {"student_t", "normal"}, optional
        The family of log loss around the law. Default: ``"student_t"`` (robust to a stray run), and
        ``"normal"`` for training curves under ``noise="ar1"`` (its run offsets are integrated out
        exactly only under a normal). The CLI and the report use the same default.
    noise : str or Noise, optional
        The residual structure: ``"iid"`` (final losses; the only choice there) or ``"ar1"`` (the
        default for curve tables: a per-run offset integrated out, and residuals correlated along
        each run), or any structure registered with :func:`bayescale.laws.noise.register_noise`;
        or a whole :class:`bayescale.laws.noise.Noise` (family, structure, run effects,
        parameterization), which then replaces ``likelihood``, ``run_effects`` and
        ``parameterization``.
    run_effects : sequence of str
        Law parameters that vary from run to run, partially pooled (curve tables only), e.g.
        ``run_effects=("A", "alpha")`` with ``"curve_power"`` for hierarchical per-run curves.
    parameterization : {"noncentered", "centered"}
        How run effects are sampled. ``"noncentered"`` (default) suits runs with few checkpoints;
        ``"centered"`` suits long curves (hundreds of checkpoints per run), where each run's data
        pin its own value down and the non-centred form needs very long NUTS trajectories
        (``benchmarks/results/curves_hierarchical.md``). Same model, same priors.
    sampler : {"nutpie", "numpyro", "blackjax", "chees", "pymc"}, optional
        The sampler: a NUTS implementation, or ``"chees"``. Default: the fastest installed
        (:func:`default_sampler`: nutpie,
        else numpyro, else PyMC's own; numpyro first for a law of many input columns, such as
        ``multi_power``, which numba compiles slowly). nutpie (``pip install "bayescale[fast]"``) compiles the model
        once per law, priors and noise model and refits it to new data without recompiling.
        numpyro and blackjax (``pip install "bayescale[jax]"``, or ``"bayescale[gpu]"``) run on
        JAX, on a GPU when JAX sees one (``docs/gpu.md``); they too compile once per structure
        and data shape (the data are an argument of the jitted sampler). All get a dense (or
        low-rank) mass matrix and
        ``target_accept=0.9``; sampler options go in ``nuts={...}`` (for numpyro e.g.
        ``nuts={"chain_method": "vectorized"}``). ``"chees"`` (JAX, blackjax) is ChEES-HMC: many
        chains (``chains=16`` or more; 64-512 on a GPU) of HMC with one step size, diagonal mass
        matrix and trajectory length tuned across them, so chains vectorised on an accelerator run in
        lockstep; ``target_accept=0.651``; its chains start in 4 superchains (``nuts={"superchains":
        k}``) and :func:`bayescale.diagnose` adds their nested R-hat (Margossian et al. 2024).
        Recorded in ``fit.provenance["sampler"]``. ``nuts_sampler=`` is accepted as an alias.
    start : {"auto", "point", "prior"}
        Where the chains start. ``"point"``: near a point fit of the model (three rounds of L-BFGS, the
        law, the noise, the law again; :mod:`bayescale.inference.start`), each chain with its own U(-0.1, 0.1)
        jitter on the unconstrained scale; ``"prior"``: PyMC's support point with U(-1, 1) jitter;
        ``"auto"`` (default): ``"point"`` for fits with run effects (from the support point their
        chains fall into a mode where correlated residuals stand in for the law), else ``"prior"``.
    draws, tune, chains : int
    random_seed : int, optional
        Recorded in the result; drawn from the OS (and recorded) when not given.
    pivot : mapping, optional
        See :func:`bayescale.inference.build_model`.
    progressbar : bool
    log_likelihood : bool or "run"
        Store the pointwise log-likelihood (group ``log_likelihood``, for LOO and scoring) and the
        log prior density of each free variable (group ``log_prior``, for prior sensitivity).
        ``"run"`` stores each run's log-likelihood summed over its checkpoints instead (dim
        ``run``; for curve fits: leave-one-run-out LOO in :func:`bayescale.compare`, and
        chains x draws x runs in memory instead of chains x draws x checkpoints: for 4000 draws of
        200 curves of 500 checkpoints, 6.4 MB instead of 3.2 GB). ``False`` skips both groups.
    **sample_kwargs
        Passed to the sampler (``target_accept``, ``nuts``, ``cores``, ``init`` for PyMC...).

    Returns
    -------
    Fit

    Raises
    ------
    ValueError
        For an unknown ``sampler`` (the message lists the choices).
    ImportError
        For a sampler whose packages are not installed (the message names them and the pip extra).

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
    >>> on_jax = bs.fit(runs, "chinchilla", sampler="numpyro", random_seed=1)  # doctest: +SKIP
    >>> on_jax.provenance["sampler"]["sampler"]  # doctest: +SKIP
    'numpyro'
    """
    nuts = dict(sample_kwargs.get("nuts") or {})
    if "target_accept" in sample_kwargs:
        nuts["target_accept"] = sample_kwargs["target_accept"]
    check_sampler_args(draws=draws, tune=tune, chains=chains, nuts=nuts)
    seed = new_seed() if random_seed is None else check_seed(random_seed)
    runs = as_runs(runs)
    spec = ModelSpec.build(law, runs=runs, priors=priors, likelihood=likelihood, noise=noise,
                           run_effects=run_effects, parameterization=parameterization)
    law = spec.law
    point = wants_point_start(start, spec)
    runs.check_law(law)
    name = _resolve_sampler(sampler, sample_kwargs.pop("nuts_sampler", None), len(law.inputs))
    ll_kind = _log_likelihood_kind(log_likelihood)
    for problem in data_problems(runs):
        warnings.warn(problem, DataWarning, stacklevel=2)
    for problem in design_problems(runs, law):
        warnings.warn(f"{law.spec} on these runs: {problem}", IdentifiabilityWarning, stacklevel=2)
    pivot = pivots(runs, law) if pivot is None else check_pivot(pivot, law)
    data = model_data(runs, spec, pivot=pivot)
    _warn_pointwise_size(ll_kind, data, chains * draws)
    sample_kwargs = _sampler_defaults(sample_kwargs, name, chains=chains)
    entry = _cached(spec, data)
    with entry.lock:  # the cached model holds this fit's data until its log-likelihood is computed
        entry.set_data(data)
        began = None
        if point:
            if entry.value_grad is None:
                entry.value_grad = value_and_grad(entry.model)
            began = point_start(entry.model, spec, entry.value_grad, seed=seed)
            if began.data:  # the per-run centres the point is expressed in: sample with them
                data = ModelData({**data.values, **began.data}, data.coords, data.obs_dim)
                entry.set_data(data)
        idata = _run_sampler(entry, name, data, draws=draws, tune=tune, chains=chains, seed=seed,
                             progressbar=progressbar, sample_kwargs=sample_kwargs, start=began)
        if ll_kind is not None:
            _add_log_likelihood(entry, idata, data, ll_kind)
    idata.attrs.update(_provenance(spec, runs, data, idata, pivot=pivot, sampler=name, draws=draws, tune=tune,
                                   chains=chains, sample_kwargs=sample_kwargs, log_likelihood=ll_kind, seed=seed,
                                   start=began))
    result = Fit(spec=spec, runs=runs, idata=idata, pivot=pivot)
    for problem in diagnose(result).problems:
        warnings.warn(f"{law.spec} fit: {problem}", SamplerWarning, stacklevel=2)
    missed = largest_runs_missed(result)
    if missed:
        warnings.warn(f"{law.spec} fit: {missed}", MisfitWarning, stacklevel=2)
    return result


def _provenance(spec: ModelSpec, runs: RunTable, data: ModelData, idata: xr.DataTree, *, pivot: dict[str, float],
                sampler: str, draws: int, tune: int, chains: int, sample_kwargs: Mapping[str, Any],
                log_likelihood: str | None, seed: int, start: PointStart | None = None) -> dict[str, Any]:
    """The attrs :func:`fit` records on the DataTree: versions, law, observation model, priors, data
    hash, sampler settings and seed (read back as ``Fit.provenance``)."""
    law = spec.law
    settings = {
        "sampler": sampler,
        **({"parameterization": spec.noise.parameterization} if spec.noise.run_effects else {}),
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "library": str(idata.posterior.attrs.get("inference_library", "pymc")),
        "library_version": str(idata.posterior.attrs.get("inference_library_version", "")),
        "data_as_constants": data_as_constants(sampler, data),
        "start": "prior" if start is None else {"point_fit_iterations": list(start.iterations),
                                                "point_fit_logp": start.logp, "jitter": start.jitter,
                                                "decorrelated_centres": sorted(k for k in start.data
                                                                               if k.startswith("run_log_x_")),
                                                "tilted_by_population": sorted(k.removeprefix("run_tilt_")
                                                                               for k in start.data
                                                                               if k.startswith("run_tilt_")),
                                                **({SIGMA_ELL_SLOPE: float(start.data[SIGMA_ELL_SLOPE])}
                                                   if SIGMA_ELL_SLOPE in start.data else {})},
        **{k: _jsonable(v) for k, v in sample_kwargs.items()},
    }
    if "sampler_options" in idata.attrs:  # what the sampler was given, where it chose per model (nutpie's metric)
        settings["nuts"] = _jsonable(idata.attrs.pop("sampler_options"))
    return make_attrs(
        version=__version__,
        law=law.name,
        law_spec=law.spec,
        law_source_hash=law.source_hash,
        likelihood=spec.noise.family,
        noise=spec.noise.structure,
        run_effects=list(spec.noise.run_effects),
        noise_model=spec.noise.to_dict(),
        priors={k: p.to_dict() for k, p in spec.priors_items},
        **({"prior_card": spec.card} if spec.card else {}),
        pivot=pivot,
        data_hash=runs.data_hash,
        n_runs=int(data.n_runs if data.obs_dim == "checkpoint" else len(runs)),
        sampler=settings,
        log_likelihood=log_likelihood or "none",
        random_seed=seed,
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


def sample_prior_predictive(
    runs: RunTable | pd.DataFrame | Fit,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | str | PathLike[str] | None = None,
    likelihood: str | None = None,
    noise: Noise | str | None = None,
    run_effects: Sequence[str] = (),
    draws: int = 500,
    random_seed: int | None = None,
) -> xr.DataTree:
    """Draw parameters and log losses from the prior, at the observed runs.

    Returns a DataTree with groups ``prior`` (natural-scale parameters included),
    ``prior_predictive`` (``log_loss``, dims ``chain, draw, run``) and ``observed_data``, ready
    for ``arviz.plot_ppc_dist(..., group="prior_predictive")`` and
    :func:`bayescale.plots.plot_prior_predictive`. ``priors`` is as in :func:`fit`; given a
    :class:`Fit`, its runs, law, priors and observation model are used.

    Examples
    --------
    >>> import bayescale as bs
    >>> prior = bs.sample_prior_predictive(bs.load_demo_runs(), "chinchilla", random_seed=0)
    >>> prior.prior_predictive["log_loss"].dims
    ('chain', 'draw', 'run')
    """
    if isinstance(runs, Fit):
        spec, runs = runs.spec, runs.runs
    else:
        runs = as_runs(runs)
        spec = ModelSpec.build(law, runs=runs, priors=priors, likelihood=likelihood, noise=noise,
                               run_effects=run_effects)
    runs.check_law(spec.law)
    model = build(spec, model_data(runs, spec, pivot=pivots(runs, spec.law)))
    seed = new_seed() if random_seed is None else check_seed(random_seed)
    with model:
        out = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    out.attrs["bayescale_random_seed"] = seed
    out.attrs["bayescale_law_spec"] = spec.law.spec
    return out

"""Sampling the posterior (and the prior) of a law given a run table.

Four NUTS samplers, chosen with ``fit(..., sampler=)``: nutpie (default when installed; the model
is compiled once per structure and refitted to new data without recompiling), numpyro and blackjax
(JAX; CPU or GPU, see ``docs/gpu.md``) and PyMC's own NUTS. Every sampler's output gets the same
``log_likelihood`` and ``log_prior`` groups and the same diagnostics.
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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

__all__ = ["fit", "sample_prior_predictive", "as_runs", "new_seed", "SAMPLERS", "available_samplers",
           "default_sampler"]

#: The NUTS samplers :func:`fit` can use, with the packages each needs and the pip extra of
#: bayescale that installs them.
SAMPLERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "nutpie": (("nutpie",), "fast"),
    "numpyro": (("jax", "numpyro"), "jax"),
    "blackjax": (("jax", "blackjax"), "jax"),
    "pymc": ((), None),
}
#: Samplers that run on JAX (and so on a GPU when JAX sees one).
JAX_SAMPLERS = ("numpyro", "blackjax")
#: The default when ``sampler`` is not given: the first installed of these.
_DEFAULT_ORDER = ("nutpie", "numpyro", "pymc")
#: Tree depth at which each JAX sampler stops doubling, unless told otherwise.
_JAX_MAX_TREEDEPTH = {"numpyro": 10, "blackjax": 10}


def _missing(sampler: str) -> list[str]:
    return [pkg for pkg in SAMPLERS[sampler][0] if importlib.util.find_spec(pkg) is None]


def available_samplers() -> list[str]:
    """The samplers whose packages are installed, in the order of :data:`SAMPLERS`.

    Examples
    --------
    >>> from bayescale.inference.sampling import available_samplers
    >>> "pymc" in available_samplers()
    True
    """
    return [name for name in SAMPLERS if not _missing(name)]


def default_sampler() -> str:
    """The sampler :func:`fit` uses when none is named: nutpie if installed, else numpyro (JAX and
    numpyro installed), else PyMC's own NUTS.

    Examples
    --------
    >>> from bayescale.inference.sampling import default_sampler
    >>> default_sampler() in ("nutpie", "numpyro", "pymc")
    True
    """
    return next(name for name in _DEFAULT_ORDER if not _missing(name))


def _resolve_sampler(sampler: str | None, nuts_sampler: str | None) -> str:
    """The sampler to use: ``sampler`` (or its alias ``nuts_sampler``), checked; else the default."""
    if sampler is not None and nuts_sampler is not None and sampler != nuts_sampler:
        raise ValueError(
            f"sampler={sampler!r} and nuts_sampler={nuts_sampler!r} disagree; nuts_sampler is an alias of "
            "sampler: pass only sampler="
        )
    name = sampler if sampler is not None else nuts_sampler
    if name is None:
        return default_sampler()
    if name not in SAMPLERS:
        raise ValueError(
            f"sampler={name!r} is not known; use one of {list(SAMPLERS)} (installed here: {available_samplers()})"
        )
    missing = _missing(name)
    if missing:
        gpu = " (\"bayescale[gpu]\" for JAX on an NVIDIA GPU)" if name in JAX_SAMPLERS else ""
        raise ImportError(
            f"sampler={name!r} needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install with "
            f"pip install \"bayescale[{SAMPLERS[name][1]}]\"{gpu}, or use one of the installed samplers: "
            f"{available_samplers()}"
        )
    return name


PARAMETERIZATIONS = ("noncentered", "centered")


def _check_parameterization(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization={parameterization!r} is not known; use one of {list(PARAMETERIZATIONS)}")


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
    parameterization: str = "noncentered",
    sampler: str | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    pivot: Mapping[str, float] | None = None,
    progressbar: bool = True,
    log_likelihood: bool = True,
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
    parameterization : {"noncentered", "centered"}
        How run effects are sampled. ``"noncentered"`` (default) suits runs with few checkpoints;
        ``"centered"`` suits long curves (hundreds of checkpoints per run), where each run's data
        pin its own value down and the non-centred form needs very long NUTS trajectories
        (``benchmarks/results/curves_hierarchical.md``). Same model, same priors.
    sampler : {"nutpie", "numpyro", "blackjax", "pymc"}, optional
        The NUTS implementation. Default: the fastest installed (:func:`default_sampler`: nutpie,
        else numpyro, else PyMC's own). nutpie (``pip install "bayescale[fast]"``) compiles the model
        once per law, priors and noise model and refits it to new data without recompiling.
        numpyro and blackjax (``pip install "bayescale[jax]"``, or ``"bayescale[gpu]"``) run on
        JAX, on a GPU when JAX sees one (``docs/gpu.md``); they re-trace and re-compile the model
        for every fit (a few seconds). All get a dense (or low-rank) mass matrix and
        ``target_accept=0.9``; sampler options go in ``nuts={...}`` (for numpyro e.g.
        ``nuts={"chain_method": "vectorized"}``). Recorded in ``fit.provenance["sampler"]``.
        ``nuts_sampler=`` is accepted as an alias.
    draws, tune, chains : int
    random_seed : int, optional
        Recorded in the result; drawn from the OS (and recorded) when not given.
    pivot : mapping, optional
        See :func:`bayescale.inference.build_model`.
    progressbar : bool
    log_likelihood : bool
        Store the pointwise log-likelihood (group ``log_likelihood``, for LOO and scoring) and the
        log prior density of each free variable (group ``log_prior``, for prior sensitivity).
        ``False`` skips both: for curve fits with so many checkpoints that a draws x checkpoints
        array does not fit in memory.
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
    runs = as_runs(runs)
    law = get_law(law)
    noise = default_noise(runs) if noise is None else noise
    run_effects = tuple(law.parameter(n).name for n in run_effects)
    _check_structure(runs, law, noise, run_effects)
    _check_parameterization(parameterization)
    runs.check_law(law)
    name = _resolve_sampler(sampler, sample_kwargs.pop("nuts_sampler", None))
    for problem in design_problems(runs, law):
        warnings.warn(f"{law.spec} on these runs: {problem}", IdentifiabilityWarning, stacklevel=2)
    card = card_priors(law, priors)[0]  # the card's name, for the provenance
    resolved = resolve_priors(law, likelihood, priors, noise=noise, run_effects=run_effects)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    data = model_data(runs, law, pivot=pivot, noise=noise, run_effects=run_effects)
    seed = new_seed() if random_seed is None else int(random_seed)
    sample_kwargs = _sampler_defaults(sample_kwargs, name, chains=chains)
    structure = (law, resolved, likelihood, noise, run_effects, parameterization)
    entry = _cached(structure, data)
    with entry.lock:  # the cached model holds this fit's data until its log-likelihood is computed
        if entry.data is not data:
            with entry.model:
                pm.set_data(data.values, coords=data.coords)
            entry.data = data
        if name == "nutpie" and set(sample_kwargs) <= {"nuts", "cores"}:
            idata = _sample_nutpie(entry, data, draws=draws, tune=tune, chains=chains, seed=seed,
                                   progressbar=progressbar, cores=sample_kwargs.get("cores"),
                                   nuts=sample_kwargs["nuts"])
        else:
            with entry.model, _blackjax_compatible(name):
                idata = pm.sample(
                    draws=draws,
                    tune=tune,
                    chains=chains,
                    random_seed=seed,
                    progressbar=progressbar,
                    nuts_sampler=name,
                    compute_convergence_checks=False,  # we check, and say so in plain words, below
                    **sample_kwargs,
                )
            if name in JAX_SAMPLERS:
                _add_max_treedepth(idata, name, sample_kwargs["nuts"])
        if log_likelihood:
            _add_log_likelihood(entry, idata, data)
    settings = {
        "sampler": name,
        **({"parameterization": parameterization} if run_effects else {}),
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
            sampler=settings,
            random_seed=seed,
        )
    )
    result = Fit(law=law, priors=resolved, likelihood=likelihood, runs=runs, idata=idata,
                 pivot=pivot, noise=noise, run_effects=run_effects)
    for problem in diagnose(result).problems:
        warnings.warn(f"{law.spec} fit: {problem}", SamplerWarning, stacklevel=2)
    return result


@dataclass(eq=False)
class _Compiled:
    """A model built for one structure, with what has been compiled from it: the nutpie model and
    the log-likelihood function (both read the model's ``pm.Data``, so new data need no recompile).

    ``data`` is what the model holds now; ``lock`` keeps two threads from fitting it at once."""

    model: pm.Model
    nutpie: Any = None
    loglik: tuple | None = None
    data: ModelData | None = None
    lock: Any = field(default_factory=threading.RLock)


#: Models by structure, most recent last (a small LRU), for every sampler: nutpie's compiled model
#: and the log-likelihood function are kept with them.
_COMPILED: OrderedDict[tuple, _Compiled] = OrderedDict()
_COMPILED_MAX = 32
_CACHE_LOCK = threading.Lock()


def _cached(structure: tuple, data: ModelData) -> _Compiled:
    """The cached model of this structure (built now, with ``data``, if there is none)."""
    key = _structure_key(structure, data)
    with _CACHE_LOCK:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
        entry = _COMPILED[key] = _Compiled(_build(*structure[:5], data, structure[5]), data=data)
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
        return entry


def _loglik_mode() -> Any:
    """How the log-likelihood function is compiled: PyTensor's full rewrites (numerical
    stabilisation included) but no elementwise fusion, run by the Python linker.

    Over a batch of draws each op is one numpy call, so the Python implementations run about as
    fast as compiled code, and nothing is compiled by gcc: in a new process with an empty
    compile cache this took the Chinchilla fit's log-likelihood from 9.5 s to 1.2 s
    (``benchmarks/results/chinchilla_speed.md``). Fused (Composite) ops would run element by
    element in Python, hence no fusion."""
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer="fast_run").excluding("fusion")

#: Values (draws x observations) per call of the vectorised log-likelihood: bounds its memory.
_LOGLIK_CHUNK = 4_000_000


def _loglik_function(model: pm.Model) -> tuple:
    """One function giving the pointwise log-likelihood and each free variable's log prior density
    (untransformed, no Jacobian terms) for a batch of draws at once.

    The graph is the model's per-draw graph with each value variable given a leading draw
    dimension (:func:`pytensor.graph.replace.vectorize_graph`); the data stay ``pm.Data`` of the
    untransformed clone. Where a graph cannot be vectorised the function takes one draw at a time.
    """
    import pytensor.tensor as pt
    from pymc.model.transform.conditioning import remove_value_transforms
    from pymc.pytensorf import compile as compile_pymc
    from pytensor.graph.replace import vectorize_graph

    umodel = remove_value_transforms(model)
    obs = list(umodel.observed_RVs)
    free = list(umodel.free_RVs)
    outs = [*umodel.logp(vars=obs, sum=False), *umodel.logp(vars=free, sum=False)]
    values = list(umodel.value_vars)
    names = [v.name for v in values]
    try:
        batched = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in values]
        fn = compile_pymc(batched, vectorize_graph(outs, replace=dict(zip(values, batched, strict=True))),
                          on_unused_input="ignore", mode=_loglik_mode())
        vectorised = True
    except Exception:  # noqa: BLE001 - an op without a batched form: one draw per call instead
        fn = umodel.compile_fn(inputs=values, outs=outs, on_unused_input="ignore", mode=_loglik_mode())
        vectorised = False
    return umodel, fn, names, obs[0].name, [rv.name for rv in free], vectorised


def _add_log_likelihood(entry: _Compiled, idata: xr.DataTree, data: ModelData) -> None:
    """Pointwise log-likelihood of every draw (the ``log_likelihood`` group, for LOO) and the log
    prior density of each free variable (the ``log_prior`` group, for prior power-scaling), as
    ``pm.compute_log_likelihood`` and ``pm.compute_log_prior`` give them (no Jacobian terms).

    One compiled function, over a batch of draws, gives both; it is kept in ``entry``, so a refit of
    a cached model to new data reuses it (the PyMC functions compile anew each time and call the
    function once per draw)."""
    if entry.loglik is None:
        entry.loglik = _loglik_function(entry.model)
    umodel, fn, names, obs_name, free_names, vectorised = entry.loglik
    with umodel:  # the untransformed clone has data of its own
        pm.set_data({k: v for k, v in data.values.items() if k in umodel.named_vars}, coords=data.coords)
    post = idata.posterior.dataset
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    n_obs = len(data.values["log_loss_obs"])
    n = n_chain * n_draw
    # one array type for the compiled function whichever sampler made the draws (JAX's are read-only,
    # some not C-ordered): numba compiles anew for each new array type it is called with
    flat = {k: np.array(post[k].values.reshape(n, *post[k].shape[2:]), dtype=np.float64, order="C") for k in names}
    loglik = np.empty((n, n_obs))
    logprior = {k: np.empty((n, *post[k].shape[2:])) for k in free_names}
    if vectorised:
        step = max(1, _LOGLIK_CHUNK // max(n_obs, 1))
        for start in range(0, n, step):
            part = slice(start, start + step)
            res = fn(*(flat[k][part] for k in names))
            loglik[part] = res[0]
            for k, lp in zip(free_names, res[1:], strict=True):
                logprior[k][part] = lp
    else:
        for i in range(n):
            res = fn({k: v[i] for k, v in flat.items()})
            loglik[i] = res[0]
            for k, lp in zip(free_names, res[1:], strict=True):
                logprior[k][i] = lp
    dim = data.obs_dim
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    idata["log_likelihood"] = xr.DataTree(xr.Dataset(
        {obs_name: (("chain", "draw", dim), loglik.reshape(n_chain, n_draw, n_obs))},
        coords={**sample, dim: data.coords[dim]}))
    idata["log_prior"] = xr.DataTree(xr.Dataset(
        {k: (post[k].dims, v.reshape(post[k].shape)) for k, v in logprior.items()}, coords={**sample, **{
            d: post[d].values for k in free_names for d in post[k].dims[2:]}}))


def _structure_key(structure: tuple, data: ModelData) -> tuple:
    law, priors, likelihood, noise, run_effects, parameterization = structure
    prior_key = tuple(sorted((k, tuple(sorted(p.to_dict().items()))) for k, p in priors.items()))
    # per-run posterior variables fix the number of runs in the compiled model's output shapes
    n_runs = data.n_runs if run_effects else None
    return (law.spec, law.source_hash, prior_key, likelihood, noise, tuple(run_effects), parameterization, n_runs,
            tuple(sorted(data.values)))


def _sample_nutpie(entry: _Compiled, data: ModelData, *, draws: int, tune: int, chains: int,
                   seed: int, progressbar: bool, cores: int | None, nuts: Mapping[str, Any]) -> xr.DataTree:
    """nutpie on a model compiled once per structure; new data go in through ``with_data``."""
    import dataclasses
    import time

    import nutpie
    from pymc.sampling.mcmc import patch_nutpie_idata

    if entry.nutpie is None:
        entry.nutpie = nutpie.compile_pymc_model(entry.model)
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
    return idata


def _add_max_treedepth(idata: xr.DataTree, sampler: str, nuts: Mapping[str, Any]) -> None:
    """``reached_max_treedepth`` for the JAX samplers, which record the tree depth but not whether
    it hit the cap (the statistic :func:`bayescale.diagnose` reads, as for PyMC and nutpie)."""
    stats = idata["sample_stats"].to_dataset()
    if "tree_depth" not in stats or "reached_max_treedepth" in stats:
        return
    key = "max_tree_depth" if sampler == "numpyro" else "max_num_doublings"
    cap = nuts.get(key, _JAX_MAX_TREEDEPTH[sampler])
    cap = cap[-1] if isinstance(cap, (tuple, list)) else cap  # numpyro: (warmup, sampling)
    idata["sample_stats"] = xr.DataTree(stats.assign(reached_max_treedepth=stats["tree_depth"] >= int(cap)))


@contextmanager
def _blackjax_compatible(sampler: str) -> Iterator[None]:
    """PyMC 6.4 drives blackjax with an API that blackjax 1.6 removed (``progress_bar`` passed to
    ``window_adaptation``, ``blackjax.progress_bar.gen_scan_fn``): pymc-devs/pymc#8367, fix pending
    in pymc-devs/pymc#8373. While sampling with blackjax >= 1.6, PyMC's inference loop is replaced
    by the same loop written against the current API (no progress bar); otherwise nothing changes."""
    if sampler != "blackjax":
        yield
        return
    import blackjax
    import pymc.sampling.jax as pymc_jax

    if hasattr(blackjax.progress_bar, "gen_scan_fn"):  # the API PyMC was written against
        yield
        return
    original = pymc_jax._blackjax_inference_loop
    pymc_jax._blackjax_inference_loop = _blackjax_inference_loop
    try:
        yield
    finally:
        pymc_jax._blackjax_inference_loop = original


def _blackjax_inference_loop(seed: Any, init_position: Any, logp_fn: Any, draws: int, tune: int,
                             target_accept: float, **adaptation_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``pymc.sampling.jax._blackjax_inference_loop`` for blackjax >= 1.6: window adaptation, then
    ``draws`` NUTS (or HMC) steps with the tuned step size and mass matrix, with PyMC's statistics."""
    import blackjax
    import jax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    adaptation_kwargs.pop("progress_bar", None)
    name = adaptation_kwargs.pop("algorithm", "nuts")
    if name not in ("nuts", "hmc"):
        raise ValueError(f"blackjax algorithm={name!r} is not supported; use 'nuts' or 'hmc'")
    algorithm = getattr(blackjax, name)
    adapt = blackjax.window_adaptation(algorithm=algorithm, logdensity_fn=logp_fn,
                                       target_acceptance_rate=target_accept,
                                       adaptation_info_fn=get_filter_adapt_info_fn(), **adaptation_kwargs)
    (last_state, tuned), _ = adapt.run(seed, init_position, num_steps=tune)
    # options of the kernel itself (max_num_doublings, num_integration_steps) hold after tuning too
    own = set(inspect.signature(blackjax.window_adaptation).parameters)
    kernel = algorithm(logp_fn, **{**{k: v for k, v in adaptation_kwargs.items() if k not in own}, **tuned}).step

    def one_step(state: Any, key: Any) -> tuple[Any, tuple[Any, dict[str, Any]]]:
        state, info = kernel(key, state)
        stats = {
            "diverging": info.is_divergent,
            "energy": info.energy,
            "tree_depth": info.num_trajectory_expansions,
            "n_steps": info.num_integration_steps,
            "acceptance_rate": info.acceptance_rate,
            "lp": state.logdensity,
        }
        return state, (state.position, stats)

    _, (samples, stats) = jax.lax.scan(one_step, last_state, jax.random.split(seed, draws))
    return samples, stats


def _sampler_defaults(kwargs: dict[str, Any], sampler: str, *, chains: int = 4) -> dict[str, Any]:
    """Options for ``sampler``, with a dense or low-rank mass matrix: the floor E trades off against
    the amplitudes even after pivoting, and a diagonal mass matrix leaves that ridge to the
    trajectory length.

    nutpie gets ``adaptation="low_rank"``; numpyro ``dense_mass=True``; blackjax
    ``is_mass_matrix_diagonal=False``; PyMC's own NUTS ``init="jitter+adapt_full"``; all get
    ``target_accept=0.9``. On a GPU with fewer devices than chains the JAX samplers run the chains
    vectorised (``chain_method="vectorized"``) instead of one device each. ``max_treedepth`` in
    ``nuts`` is renamed to each sampler's own word. Explicit arguments win.
    """
    kwargs = dict(kwargs)
    nuts = dict(kwargs.pop("nuts", None) or {})
    if "target_accept" in kwargs:  # one place for it, so nutpie's compiled-model cache still applies
        nuts["target_accept"] = kwargs.pop("target_accept")
    nuts.setdefault("target_accept", 0.9)  # 0.8 leaves a few divergences on small isoFLOP tables
    if sampler == "nutpie":
        nuts.setdefault("adaptation", "low_rank")
    elif sampler == "pymc":
        kwargs.setdefault("init", "jitter+adapt_full")
    elif sampler in JAX_SAMPLERS:
        if sampler == "numpyro":
            nuts.setdefault("dense_mass", True)
            if "max_treedepth" in nuts:
                nuts["max_tree_depth"] = nuts.pop("max_treedepth")
        else:
            nuts.setdefault("is_mass_matrix_diagonal", False)
            if "max_treedepth" in nuts:
                nuts["max_num_doublings"] = nuts.pop("max_treedepth")
        if "chain_method" not in nuts:
            import jax
            import pymc.sampling.jax  # noqa: F401 - sets XLA's CPU device count before JAX starts

            if jax.default_backend() != "cpu" and jax.local_device_count() < chains:
                nuts["chain_method"] = "vectorized"
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

"""Sampling the posterior (and the prior) of a law given a run table.

Four NUTS samplers, chosen with ``fit(..., sampler=)``: nutpie (default when installed; the model
is compiled once per structure and refitted to new data without recompiling), numpyro and blackjax
(JAX; CPU or GPU, see ``docs/gpu.md``) and PyMC's own NUTS. Every sampler's output gets the same
``log_likelihood`` and ``log_prior`` groups and the same diagnostics.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .. import __version__
from .._policy import check_seed, new_seed
from ..laws import Law
from ..laws.noise import Noise
from ..laws.spec import ModelSpec
from ..results import Fit, MemoryUseWarning, SamplerWarning, diagnose, make_attrs
from ..runs import RunTable
from ..runs.design import IdentifiabilityWarning, design_problems
from .model import ModelData, build, model_data, pivots

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
    likelihood: str = "normal",
    noise: Noise | str | None = None,
    run_effects: Sequence[str] = (),
    parameterization: str = "noncentered",
    sampler: str | None = None,
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
    sampler : {"nutpie", "numpyro", "blackjax", "pymc"}, optional
        The NUTS implementation. Default: the fastest installed (:func:`default_sampler`: nutpie,
        else numpyro, else PyMC's own). nutpie (``pip install "bayescale[fast]"``) compiles the model
        once per law, priors and noise model and refits it to new data without recompiling.
        numpyro and blackjax (``pip install "bayescale[jax]"``, or ``"bayescale[gpu]"``) run on
        JAX, on a GPU when JAX sees one (``docs/gpu.md``); they too compile once per structure
        and data shape (the data are an argument of the jitted sampler). All get a dense (or
        low-rank) mass matrix and
        ``target_accept=0.9``; sampler options go in ``nuts={...}`` (for numpyro e.g.
        ``nuts={"chain_method": "vectorized"}``). Recorded in ``fit.provenance["sampler"]``.
        ``nuts_sampler=`` is accepted as an alias.
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
    runs = as_runs(runs)
    spec = ModelSpec.build(law, runs=runs, priors=priors, likelihood=likelihood, noise=noise,
                           run_effects=run_effects, parameterization=parameterization)
    law = spec.law
    runs.check_law(law)
    name = _resolve_sampler(sampler, sample_kwargs.pop("nuts_sampler", None))
    ll_kind = _log_likelihood_kind(log_likelihood)
    for problem in design_problems(runs, law):
        warnings.warn(f"{law.spec} on these runs: {problem}", IdentifiabilityWarning, stacklevel=2)
    pivot = dict(pivots(runs, law) if pivot is None else pivot)
    data = model_data(runs, spec, pivot=pivot)
    seed = new_seed() if random_seed is None else check_seed(random_seed)
    _warn_pointwise_size(ll_kind, data, chains * draws)
    sample_kwargs = _sampler_defaults(sample_kwargs, name, chains=chains)
    entry = _cached(spec, data)
    with entry.lock:  # the cached model holds this fit's data until its log-likelihood is computed
        if entry.data is not data:
            with entry.model:
                pm.set_data(data.values, coords=data.coords)
            entry.data = data
        if name == "nutpie" and set(sample_kwargs) <= {"nuts", "cores"}:
            idata = _sample_nutpie(entry, data, draws=draws, tune=tune, chains=chains, seed=seed,
                                   progressbar=progressbar, cores=sample_kwargs.get("cores"),
                                   nuts=sample_kwargs["nuts"])
        elif name in JAX_SAMPLERS:
            idata = _sample_jax(entry, name, draws=draws, tune=tune, chains=chains, seed=seed,
                                sample_kwargs=sample_kwargs)
        else:
            with entry.model:
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
        if ll_kind is not None:
            _add_log_likelihood(entry, idata, data, ll_kind)
    settings = {
        "sampler": name,
        **({"parameterization": spec.noise.parameterization} if spec.noise.run_effects else {}),
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
            log_likelihood=ll_kind or "none",
            random_seed=seed,
        )
    )
    result = Fit(spec=spec, runs=runs, idata=idata, pivot=pivot)
    for problem in diagnose(result).problems:
        warnings.warn(f"{law.spec} fit: {problem}", SamplerWarning, stacklevel=2)
    return result


@dataclass(eq=False)
class _Compiled:
    """A model built for one structure, with what has been compiled from it: the nutpie model, the
    JAX program (log density and jitted samplers), the log-likelihood function and the functions
    that give the deterministics (all read the model's ``pm.Data`` or take the data as an
    argument, so new data need no recompile).

    ``data`` is what the model holds now; ``lock`` keeps two threads from fitting it at once."""

    model: pm.Model
    nutpie: Any = None
    loglik: tuple | None = None
    deterministics: tuple | None = None
    expand: tuple | None = None
    jax: Any = None
    data: ModelData | None = None
    lock: Any = field(default_factory=threading.RLock)


#: Models by structure, most recent last (a small LRU), for every sampler: nutpie's compiled model
#: and the log-likelihood function are kept with them.
_COMPILED: OrderedDict[tuple, _Compiled] = OrderedDict()
_COMPILED_MAX = 32
_CACHE_LOCK = threading.Lock()


def _cached(spec: ModelSpec, data: ModelData) -> _Compiled:
    """The cached model of this spec (built now, with ``data``, if there is none)."""
    key = _structure_key(spec, data)
    with _CACHE_LOCK:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
        entry = _COMPILED[key] = _Compiled(build(spec, data), data=data)
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


def _batched_function(inputs: Sequence[Any], outputs: Sequence[Any]) -> tuple[Any, bool]:
    """Compile ``outputs`` as a function of a batch of draws of ``inputs`` (each input given a
    leading draw dimension with :func:`pytensor.graph.replace.vectorize_graph`), in
    :func:`_loglik_mode`. Returns the function and whether it is batched: where a graph cannot be
    vectorised, the function takes one draw at a time (as a dict keyed by input name)."""
    import pytensor.tensor as pt
    from pymc.pytensorf import compile as compile_pymc
    from pytensor.graph.replace import vectorize_graph

    try:
        batched = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in inputs]
        fn = compile_pymc(batched, vectorize_graph(list(outputs), replace=dict(zip(inputs, batched, strict=True))),
                          on_unused_input="ignore", mode=_loglik_mode())
        return fn, True
    except Exception:  # noqa: BLE001 - an op without a batched form: one draw per call instead
        one = compile_pymc(list(inputs), list(outputs), on_unused_input="ignore", mode=_loglik_mode())
        names = [v.name for v in inputs]
        return (lambda point: one(*(point[k] for k in names))), False


def _over_draws(fn: Any, vectorised: bool, flat: Mapping[str, np.ndarray], names: Sequence[str], n: int,
                chunk: int, reduce: Sequence[Any] | None = None) -> list[np.ndarray]:
    """Each output of ``fn`` at every draw of ``flat`` (draws first), stacked along a leading draw
    axis; ``chunk`` draws per call when ``fn`` is batched. ``reduce[j]``, where given, is applied to
    output ``j`` of each call first (draws stay on the first axis), so its full size is never held.
    The output arrays are allocated from the first call's shapes (some depend on the data)."""
    out: list[np.ndarray] = []

    def store(part: slice, results: Sequence[Any]) -> None:
        results = [np.asarray(r) if f is None else f(np.asarray(r))
                   for r, f in zip(results, reduce or [None] * len(results), strict=True)]
        if not out:
            out.extend(np.empty((n, *r.shape[1:])) for r in results)
        for o, r in zip(out, results, strict=True):
            o[part] = r

    if vectorised:
        for start in range(0, n, chunk):
            part = slice(start, start + chunk)
            store(part, fn(*(flat[k][part] for k in names)))
    else:
        for i in range(n):
            store(slice(i, i + 1), [np.asarray(r)[None] for r in fn({k: v[i] for k, v in flat.items()})])
    return out


def _flat_draws(post: xr.Dataset, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each variable's draws with chain and draw flattened into one leading axis: one array type
    (float64, C-ordered, writeable) whichever sampler made them (JAX's are read-only, some not
    C-ordered; a compiled function may specialise on the array type)."""
    n = post.sizes["chain"] * post.sizes["draw"]
    return {k: np.array(post[k].values.reshape(n, *post[k].shape[2:]), dtype=np.float64, order="C") for k in names}


def _loglik_function(model: pm.Model) -> tuple:
    """One function giving the pointwise log-likelihood and each free variable's log prior density
    (untransformed, no Jacobian terms) for a batch of draws at once.

    The graph is the model's per-draw graph with each value variable given a leading draw
    dimension (:func:`_batched_function`); the data stay ``pm.Data`` of the untransformed clone.
    """
    from pymc.model.transform.conditioning import remove_value_transforms

    umodel = remove_value_transforms(model)
    obs = list(umodel.observed_RVs)
    free = list(umodel.free_RVs)
    outs = [*umodel.logp(vars=obs, sum=False), *umodel.logp(vars=free, sum=False)]
    values = list(umodel.value_vars)
    fn, vectorised = _batched_function(values, outs)
    return umodel, fn, [v.name for v in values], obs[0].name, [rv.name for rv in free], vectorised


def _posterior_function(model: pm.Model, *, from_values: bool) -> tuple:
    """The model's deterministics (natural-scale parameters, per-run values) as one function of a
    batch of draws of its free variables, or (``from_values``) its constrained free variables and
    deterministics as a function of the unconstrained value variables: what
    ``pm.compute_deterministics`` (or PyMC's JAX post-processing) gives, for all draws in a few
    calls. It reads the model's ``pm.Data`` (the pivot), so new data need no recompile."""
    from pymc.util import get_default_varnames

    if from_values:
        inputs = list(model.value_vars)
        outputs = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    else:
        inputs, outputs = list(model.free_RVs), list(model.deterministics)
    fn, vectorised = _batched_function(inputs, outputs)
    return fn, vectorised, [v.name for v in inputs], [v.name for v in outputs]


def _evaluate_posterior(function: tuple, model: pm.Model, post: xr.Dataset) -> xr.Dataset:
    """Evaluate a :func:`_posterior_function` on every draw of ``post``; the outputs get the
    model's dims and coords."""
    fn, vectorised, in_names, out_names = function
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    # the outputs are per-run at most; the model's longest dim bounds the values per draw
    per_draw = max((len(v) for v in model.coords.values()), default=1)
    out = _over_draws(fn, vectorised, _flat_draws(post, in_names), in_names, n_chain * n_draw,
                      max(1, _LOGLIK_CHUNK // max(per_draw, 1)))
    dims = dict(model.named_vars_to_dims)
    coords = {d: np.asarray(model.coords[d]) for k in out_names for d in dims.get(k, ())}
    for k, o in zip(out_names, out, strict=True):
        if len(dims.get(k, ())) != o.ndim - 1:  # no dims declared: PyMC's default names
            dims[k] = tuple(f"{k}_dim_{i}" for i in range(o.ndim - 1))
    return xr.Dataset(
        {k: (("chain", "draw", *dims.get(k, ())), o.reshape(n_chain, n_draw, *o.shape[1:]))
         for k, o in zip(out_names, out, strict=True)},
        coords={"chain": post["chain"].values, "draw": post["draw"].values, **coords})


def _add_deterministics(entry: _Compiled, idata: xr.DataTree) -> None:
    """Add the model's deterministics to a posterior that holds only its free variables (nutpie is
    compiled for those alone: numba then compiles the log density, not also the deterministics,
    which saved 1-2 s of a new model's 15-20 s on the Epoch fit, ``benchmarks/results/cold_start.md``)."""
    if entry.deterministics is None:
        entry.deterministics = _posterior_function(entry.model, from_values=False)
    if not entry.deterministics[3]:
        return
    post = idata.posterior.dataset
    new = _evaluate_posterior(entry.deterministics, entry.model, post)
    idata["posterior"] = xr.DataTree(post.assign(new.data_vars))


def _expand(entry: _Compiled, unconstrained: xr.Dataset) -> xr.Dataset:
    """The posterior (constrained free variables and deterministics) from unconstrained draws."""
    if entry.expand is None:
        entry.expand = _posterior_function(entry.model, from_values=True)
    return _evaluate_posterior(entry.expand, entry.model, unconstrained)


#: What ``fit(..., log_likelihood=)`` stores: each observation's term, each run's sum, or nothing.
LOG_LIKELIHOOD = {True: "pointwise", "pointwise": "pointwise", "run": "run", False: None, None: None}


def _log_likelihood_kind(log_likelihood: bool | str | None) -> str | None:
    try:
        return LOG_LIKELIHOOD[log_likelihood]
    except (KeyError, TypeError):
        raise ValueError(
            f"log_likelihood={log_likelihood!r} is not known; use True (or 'pointwise': one term per "
            "observation), 'run' (each run's checkpoints summed: leave-one-run-out LOO, and "
            "draws x runs instead of draws x checkpoints in memory) or False (none)"
        ) from None


#: Above this size (bytes) of the pointwise log-likelihood, :func:`fit` says so before sampling.
POINTWISE_WARN_BYTES = 1e9


def _warn_pointwise_size(kind: str | None, data: ModelData, n_draws: int) -> None:
    n_obs = len(data.values["log_loss_obs"])
    size = 8.0 * n_draws * n_obs
    if kind != "pointwise" or size <= POINTWISE_WARN_BYTES:
        return
    per_run = (f"log_likelihood='run' (one term per run: {8.0 * n_draws * data.n_runs / 1e6:,.0f} MB, and "
               "leave-one-run-out LOO) or " if data.obs_dim == "checkpoint" else "")
    warnings.warn(
        f"the pointwise log-likelihood of {n_draws:,} draws x {n_obs:,} {data.obs_dim}s will take "
        f"{size / 1e9:.1f} GB of memory (twice that while it is computed and saved); pass {per_run}"
        "log_likelihood=False to store less", MemoryUseWarning, stacklevel=3)


def _per_run_sum(run_idx: np.ndarray, n_runs: int) -> Any:
    """Sum the last axis of a (draws, observations) block over each run's observations, which
    :func:`bayescale.inference.model.model_data` stores grouped by run, runs in order."""
    starts = np.flatnonzero(np.r_[True, run_idx[1:] != run_idx[:-1]])
    if len(starts) != n_runs or not np.array_equal(run_idx[starts], np.arange(n_runs)):
        raise ValueError("a per-run log-likelihood needs the rows grouped by run, runs in order (model_data's layout)")
    return lambda block: np.add.reduceat(block, starts, axis=1)


def _add_log_likelihood(entry: _Compiled, idata: xr.DataTree, data: ModelData, kind: str = "pointwise") -> None:
    """Pointwise log-likelihood of every draw (the ``log_likelihood`` group, for LOO) and the log
    prior density of each free variable (the ``log_prior`` group, for prior power-scaling), as
    ``pm.compute_log_likelihood`` and ``pm.compute_log_prior`` give them (no Jacobian terms).

    ``kind="run"`` stores each run's sum over its observations instead (dim ``run``). Under
    ``noise="ar1"`` each pointwise term is a checkpoint's density given the earlier ones of its
    run, so the sum is the exact joint log density of the run: the quantity leave-one-run-out LOO
    needs. The sums are taken block by block, so the draws x checkpoints array is never held.

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
    dim = data.obs_dim
    reduce = None
    if kind == "run" and dim != "run":  # a curve fit: one term per checkpoint, summed per run
        n_runs = len(data.coords["run"])
        reduce = [_per_run_sum(np.asarray(data.values["run_idx"]), n_runs)] + [None] * len(free_names)
        dim, n_out = "run", n_runs
    else:
        n_out = n_obs
    loglik, *priors = _over_draws(fn, vectorised, _flat_draws(post, names), names, n,
                                  max(1, _LOGLIK_CHUNK // max(n_obs, 1)), reduce)
    logprior = dict(zip(free_names, priors, strict=True))
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    idata["log_likelihood"] = xr.DataTree(xr.Dataset(
        {obs_name: (("chain", "draw", dim), loglik.reshape(n_chain, n_draw, n_out))},
        coords={**sample, dim: data.coords[dim]}, attrs={"bayescale_log_likelihood": kind}))
    idata["log_prior"] = xr.DataTree(xr.Dataset(
        {k: (post[k].dims, v.reshape(post[k].shape)) for k, v in logprior.items()}, coords={**sample, **{
            d: post[d].values for k in free_names for d in post[k].dims[2:]}}))


def _structure_key(spec: ModelSpec, data: ModelData) -> tuple:
    prior_key = tuple(sorted((k, tuple(sorted(p.to_dict().items()))) for k, p in spec.priors_items))
    # per-run posterior variables fix the number of runs in the compiled model's output shapes
    n_runs = data.n_runs if spec.noise.run_effects else None
    noise = type(spec.noise.struct), spec.noise
    return (spec.law.spec, spec.law.source_hash, prior_key, noise, n_runs, tuple(sorted(data.values)))


def _sample_nutpie(entry: _Compiled, data: ModelData, *, draws: int, tune: int, chains: int,
                   seed: int, progressbar: bool, cores: int | None, nuts: Mapping[str, Any]) -> xr.DataTree:
    """nutpie on a model compiled once per structure; new data go in through ``with_data``."""
    import dataclasses
    import time

    import nutpie
    from pymc.sampling.mcmc import patch_nutpie_idata

    if entry.nutpie is None:  # the free variables only: the deterministics are added afterwards
        entry.nutpie = nutpie.compile_pymc_model(entry.model, var_names=[rv.name for rv in entry.model.free_RVs])
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
    _add_deterministics(entry, idata)
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


def _sample_jax(entry: _Compiled, sampler: str, *, draws: int, tune: int, chains: int, seed: int,
                sample_kwargs: Mapping[str, Any]) -> xr.DataTree:
    """numpyro or blackjax through :mod:`bayescale.inference.jax_sampling`: the JAX program (log
    density of parameters and data, and the jitted sampler) is kept in ``entry``, so a refit to new
    data of the same shape compiles nothing."""
    from .jax_sampling import jax_program, sample_jax

    other = sorted(set(sample_kwargs) - {"nuts"})
    if other:
        raise TypeError(
            f"sampler={sampler!r} takes its options in nuts={{...}} (target_accept, chain_method, ...); "
            f"unexpected keyword argument(s): {', '.join(other)}"
        )
    if entry.jax is None:
        entry.jax = jax_program(entry.model)
    idata = sample_jax(entry.jax, entry.model, lambda ds: _expand(entry, ds), sampler=sampler, draws=draws,
                       tune=tune, chains=chains, seed=seed, nuts=sample_kwargs["nuts"])
    _add_max_treedepth(idata, sampler, sample_kwargs["nuts"])
    return idata


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
    runs: RunTable | pd.DataFrame | Fit,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | str | PathLike[str] | None = None,
    likelihood: str = "normal",
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

"""The log-likelihood, log prior and deterministics of every posterior draw, in a few calls.

PyMC's ``compute_log_likelihood``, ``compute_log_prior`` and ``compute_deterministics`` compile a
function anew on each call and call it once per draw. Here each graph is given a leading draw
dimension and compiled once per model structure (kept in the cache entry,
:mod:`bayescale.inference.cache`); it reads the model's ``pm.Data``, so a refit to new data
compiles nothing, and all draws go through it a chunk at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import xarray as xr

from ..results import MemoryUseWarning
from .model import ModelData, build, has_joint_density

if TYPE_CHECKING:
    from .cache import _Compiled

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


#: Above this size (bytes) of the pointwise log-likelihood, :func:`bayescale.fit` says so before sampling.
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


@dataclass(frozen=True)
class BatchedFunction:
    """A function of many draws of ``inputs`` (variable names) at once, giving one array per output.

    ``vectorised``: ``fn(*arrays)`` takes each input with a leading draw axis, in ``inputs`` order.
    Otherwise (a graph that cannot be vectorised) ``fn(point)`` takes one draw, a dict keyed by
    input name, and the outputs have no draw axis."""

    fn: Callable[..., Sequence[Any]]
    vectorised: bool
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class LoglikFunction:
    """The pointwise log-likelihood and each free variable's log prior density (untransformed, no
    Jacobian terms) of a batch of draws: ``function``'s outputs are the ``observed`` variable's
    terms, then one per name in ``free``. ``model``, the untransformed clone of the cached model,
    holds the ``pm.Data`` the function reads."""

    model: pm.Model
    function: BatchedFunction
    observed: str
    free: tuple[str, ...]


@dataclass(frozen=True)
class PosteriorFunction:
    """Variables of the posterior (the model's names ``outputs``) as a function of a batch of draws
    of other variables of it (:func:`_posterior_function`)."""

    function: BatchedFunction
    outputs: tuple[str, ...]


def _batched_function(inputs: Sequence[Any], outputs: Sequence[Any]) -> BatchedFunction:
    """Compile ``outputs`` as a function of a batch of draws of ``inputs`` (each input given a
    leading draw dimension with :func:`pytensor.graph.replace.vectorize_graph`), in
    :func:`_loglik_mode`. Where a graph cannot be vectorised, the function takes one draw at a
    time (``vectorised=False``)."""
    import pytensor.tensor as pt
    from pymc.pytensorf import compile as compile_pymc
    from pytensor.graph.replace import vectorize_graph

    names = tuple(v.name for v in inputs)
    try:
        batched = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None, *v.type.shape)) for v in inputs]
        fn = compile_pymc(batched, vectorize_graph(list(outputs), replace=dict(zip(inputs, batched, strict=True))),
                          on_unused_input="ignore", mode=_loglik_mode())
        return BatchedFunction(fn, True, names)
    except Exception:  # noqa: BLE001 - an op without a batched form: one draw per call instead
        one = compile_pymc(list(inputs), list(outputs), on_unused_input="ignore", mode=_loglik_mode())
        return BatchedFunction(lambda point: one(*(point[k] for k in names)), False, names)


def _over_draws(function: BatchedFunction, flat: Mapping[str, np.ndarray], n: int, chunk: int,
                reduce: Sequence[Any] | None = None) -> list[np.ndarray]:
    """Each output of ``function`` at every draw of ``flat`` (draws first), stacked along a leading
    draw axis; ``chunk`` draws per call when the function is vectorised. ``reduce[j]``, where given,
    is applied to output ``j`` of each call first (draws stay on the first axis), so its full size
    is never held. The output arrays are allocated from the first call's shapes (some depend on the
    data)."""
    out: list[np.ndarray] = []

    def store(part: slice, results: Sequence[Any]) -> None:
        results = [np.asarray(r) if f is None else f(np.asarray(r))
                   for r, f in zip(results, reduce or [None] * len(results), strict=True)]
        if not out:
            out.extend(np.empty((n, *r.shape[1:])) for r in results)
        for o, r in zip(out, results, strict=True):
            o[part] = r

    if function.vectorised:
        for start in range(0, n, chunk):
            part = slice(start, start + chunk)
            store(part, function.fn(*(flat[k][part] for k in function.inputs)))
    else:
        for i in range(n):
            store(slice(i, i + 1), [np.asarray(r)[None] for r in function.fn({k: v[i] for k, v in flat.items()})])
    return out


def _flat_draws(post: xr.Dataset, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each variable's draws with chain and draw flattened into one leading axis: one array type
    (float64, C-ordered, writeable) whichever sampler made them (JAX's are read-only, some not
    C-ordered; a compiled function may specialise on the array type)."""
    n = post.sizes["chain"] * post.sizes["draw"]
    return {k: np.array(post[k].values.reshape(n, *post[k].shape[2:]), dtype=np.float64, order="C") for k in names}


def _loglik_function(model: pm.Model) -> LoglikFunction:
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
    return LoglikFunction(model=umodel, function=_batched_function(list(umodel.value_vars), outs),
                          observed=obs[0].name, free=tuple(rv.name for rv in free))


def _posterior_function(model: pm.Model, *, from_values: bool) -> PosteriorFunction:
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
    return PosteriorFunction(function=_batched_function(inputs, outputs), outputs=tuple(v.name for v in outputs))


def _evaluate_posterior(function: PosteriorFunction, model: pm.Model, post: xr.Dataset) -> xr.Dataset:
    """Evaluate a :func:`_posterior_function` on every draw of ``post``; the outputs get the
    model's dims and coords."""
    in_names, out_names = function.function.inputs, function.outputs
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    # the outputs are per-run at most; the model's longest dim bounds the values per draw
    per_draw = max((len(v) for v in model.coords.values()), default=1)
    out = _over_draws(function.function, _flat_draws(post, in_names), n_chain * n_draw,
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
    if not entry.deterministics.outputs:
        return
    post = idata.posterior.dataset
    new = _evaluate_posterior(entry.deterministics, entry.model, post)
    idata["posterior"] = xr.DataTree(post.assign(new.data_vars))


def _expand(entry: _Compiled, unconstrained: xr.Dataset) -> xr.Dataset:
    """The posterior (constrained free variables and deterministics) from unconstrained draws."""
    if entry.expand is None:
        entry.expand = _posterior_function(entry.model, from_values=True)
    return _evaluate_posterior(entry.expand, entry.model, unconstrained)


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
    per_run = kind == "run" and data.obs_dim != "run"  # a curve fit: one term per run
    # the sampled model may hold each run's joint density (build(..., joint=True)): its terms are
    # the per-run sums; pointwise terms come from a model built for them
    joint = entry.spec is not None and has_joint_density(entry.spec)
    key = "run" if per_run and joint else "pointwise"
    if key not in entry.loglik:
        model = build(entry.spec, data) if joint and key == "pointwise" else entry.model
        entry.loglik[key] = _loglik_function(model)
    loglik_fn = entry.loglik[key]
    umodel = loglik_fn.model
    with umodel:  # the untransformed clone has data of its own
        pm.set_data({k: v for k, v in data.values.items() if k in umodel.named_vars}, coords=data.coords)
    post = idata.posterior.dataset
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    n_obs = len(data.values["log_loss_obs"])
    n = n_chain * n_draw
    dim = data.obs_dim
    reduce = None
    if per_run:
        n_runs = len(data.coords["run"])
        if key == "pointwise":  # one term per checkpoint, summed per run
            reduce = [_per_run_sum(np.asarray(data.values["run_idx"]), n_runs)] + [None] * len(loglik_fn.free)
        dim, n_out = "run", n_runs
    else:
        n_out = n_obs
    loglik, *priors = _over_draws(loglik_fn.function, _flat_draws(post, loglik_fn.function.inputs), n,
                                  max(1, _LOGLIK_CHUNK // max(n_obs, 1)), reduce)
    logprior = dict(zip(loglik_fn.free, priors, strict=True))
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    idata["log_likelihood"] = xr.DataTree(xr.Dataset(
        {loglik_fn.observed: (("chain", "draw", dim), loglik.reshape(n_chain, n_draw, n_out))},
        coords={**sample, dim: data.coords[dim]}, attrs={"bayescale_log_likelihood": kind}))
    idata["log_prior"] = xr.DataTree(xr.Dataset(
        {k: (post[k].dims, v.reshape(post[k].shape)) for k, v in logprior.items()}, coords={**sample, **{
            d: post[d].values for k in loglik_fn.free for d in post[k].dims[2:]}}))

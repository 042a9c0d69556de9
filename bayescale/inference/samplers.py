"""The samplers :func:`bayescale.fit` can use, and one adapter per sampler.

Five samplers, chosen with ``fit(..., sampler=)``: nutpie (default when installed; the model is
compiled once per structure and refitted to new data without recompiling), numpyro and blackjax
(JAX; CPU or GPU, see ``docs/gpu.md``), PyMC's own NUTS, and ``chees`` (ChEES-HMC on JAX: many
chains with one trajectory length tuned across them, for accelerators). Each adapter samples the cached model
(:mod:`bayescale.inference.cache`) and returns the DataTree with the posterior (deterministics
included) and the sampler's statistics under PyMC's names.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .cache import _Compiled
from .loglik import _add_deterministics, _expand
from .model import ModelData
from .start import PointStart

__all__ = ["SAMPLERS", "JAX_SAMPLERS", "available_samplers", "default_sampler"]

#: The NUTS samplers :func:`bayescale.fit` can use, with the packages each needs and the pip extra of
#: bayescale that installs them.
SAMPLERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "nutpie": (("nutpie",), "fast"),
    "numpyro": (("jax", "numpyro"), "jax"),
    "blackjax": (("jax", "blackjax"), "jax"),
    "chees": (("jax", "blackjax"), "jax"),
    "pymc": ((), None),
}
#: Samplers that run on JAX (and so on a GPU when JAX sees one). ``chees`` is not NUTS: many chains of
#: HMC with one trajectory length tuned across them (ChEES-HMC), made for accelerators.
JAX_SAMPLERS = ("numpyro", "blackjax", "chees")
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


#: Law inputs above which the default prefers numpyro to nutpie: nutpie compiles the model with numba,
#: whose time grows steeply with the number of data inputs (``multi_power``'s 121 columns: 520 s of
#: its 600 s fit of 437 checkpoints; the same fit with numpyro, compiled by JAX: 102 s, 2026-12-06).
NUMBA_MAX_INPUTS = 32


def default_sampler(n_inputs: int = 0) -> str:
    """The sampler :func:`bayescale.fit` uses when none is named: nutpie if installed, else numpyro (JAX and
    numpyro installed), else PyMC's own NUTS. For a law of more than ``NUMBA_MAX_INPUTS`` input columns
    (``n_inputs``), numpyro first when installed.

    Examples
    --------
    >>> from bayescale.inference.sampling import default_sampler
    >>> default_sampler() in ("nutpie", "numpyro", "pymc")
    True
    """
    order = ("numpyro", *_DEFAULT_ORDER) if n_inputs > NUMBA_MAX_INPUTS else _DEFAULT_ORDER
    return next(name for name in order if not _missing(name))


def _resolve_sampler(sampler: str | None, nuts_sampler: str | None, n_inputs: int = 0) -> str:
    """The sampler to use: ``sampler`` (or its alias ``nuts_sampler``), checked; else the default."""
    if sampler is not None and nuts_sampler is not None and sampler != nuts_sampler:
        raise ValueError(
            f"sampler={sampler!r} and nuts_sampler={nuts_sampler!r} disagree; nuts_sampler is an alias of "
            "sampler: pass only sampler="
        )
    name = sampler if sampler is not None else nuts_sampler
    if name is None:
        return default_sampler(n_inputs)
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


class SamplerArgumentError(ValueError):
    """A sampler setting that cannot run: draws, tune, chains or target_accept out of range."""


def check_sampler_args(*, draws: Any, tune: Any, chains: Any, nuts: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`SamplerArgumentError` naming the setting, before anything is built or sampled."""
    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise SamplerArgumentError(f"{name}={value!r}: give a whole number >= {least} (e.g. {name}="
                                       f"{ {'draws': 1000, 'tune': 1000, 'chains': 4}[name]})")
    ta = (nuts or {}).get("target_accept")
    if ta is not None and (isinstance(ta, bool) or not isinstance(ta, (int, float)) or not 0 < ta < 1):
        raise SamplerArgumentError(f"target_accept={ta!r}: give a probability in (0, 1), e.g. 0.9 or 0.95")


def _sampler_defaults(kwargs: dict[str, Any], sampler: str, *, chains: int = 4) -> dict[str, Any]:
    """Options for ``sampler``, with a dense or low-rank mass matrix: the floor E trades off against
    the amplitudes even after pivoting, and a diagonal mass matrix leaves that ridge to the
    trajectory length.

    nutpie gets its metric per model when it samples (:func:`nutpie_metric`: low-rank up to 80
    parameters, diagonal beyond); numpyro ``dense_mass=True``; blackjax
    ``is_mass_matrix_diagonal=False``; PyMC's own NUTS ``init="jitter+adapt_full"``; all get
    ``target_accept=0.9``. On a GPU with fewer devices than chains the JAX samplers run the chains
    vectorised (``chain_method="vectorized"``) instead of one device each. ``max_treedepth`` in
    ``nuts`` is renamed to each sampler's own word. Explicit arguments win.
    """
    kwargs = dict(kwargs)
    nuts = dict(kwargs.pop("nuts", None) or {})
    if "target_accept" in kwargs:  # one place for it, so nutpie's compiled-model cache still applies
        nuts["target_accept"] = kwargs.pop("target_accept")
    if sampler == "chees":  # HMC's optimal acceptance (Beskos et al. 2013); ChEES's default
        nuts.setdefault("target_accept", 0.651)
    nuts.setdefault("target_accept", 0.9)  # 0.8 leaves a few divergences on small isoFLOP tables
    if sampler == "pymc":
        kwargs.setdefault("init", "jitter+adapt_full")
    elif sampler in JAX_SAMPLERS:
        if sampler == "numpyro":
            nuts.setdefault("dense_mass", True)
            if "max_treedepth" in nuts:
                nuts["max_tree_depth"] = nuts.pop("max_treedepth")
        elif sampler == "blackjax":
            nuts.setdefault("is_mass_matrix_diagonal", False)
            if "max_treedepth" in nuts:
                nuts["max_num_doublings"] = nuts.pop("max_treedepth")
        if "chain_method" not in nuts:
            import jax
            import pymc.sampling.jax  # noqa: F401 - sets XLA's CPU device count before JAX starts

            if jax.default_backend() != "cpu" and jax.local_device_count() < chains:
                nuts["chain_method"] = "vectorized"
    return {**kwargs, "nuts": nuts}


def _run_sampler(entry: _Compiled, sampler: str, data: ModelData, *, draws: int, tune: int, chains: int,
                 seed: int, progressbar: bool, sample_kwargs: Mapping[str, Any],
                 start: PointStart | None = None) -> xr.DataTree:
    """Sample the cached model, which holds ``data``, with ``sampler`` and the options of
    :func:`_sampler_defaults`, its chains started near ``start`` (a point fit) where given, else at
    PyMC's jittered support point. nutpie given options other than ``nuts`` and ``cores`` goes
    through ``pm.sample`` (compiled anew), which takes them."""
    if sampler == "nutpie" and set(sample_kwargs) <= {"nuts", "cores"}:
        return _sample_nutpie(entry, data, draws=draws, tune=tune, chains=chains, seed=seed, start=start,
                              progressbar=progressbar, cores=sample_kwargs.get("cores"), nuts=sample_kwargs["nuts"])
    if sampler in JAX_SAMPLERS:
        return _sample_jax(entry, sampler, draws=draws, tune=tune, chains=chains, seed=seed, start=start,
                           sample_kwargs=sample_kwargs)
    return _sample_pymc(entry, sampler, draws=draws, tune=tune, chains=chains, seed=seed, start=start,
                        progressbar=progressbar, sample_kwargs=sample_kwargs)


def _sample_pymc(entry: _Compiled, sampler: str, *, draws: int, tune: int, chains: int, seed: int,
                 progressbar: bool, sample_kwargs: Mapping[str, Any], start: PointStart | None = None) -> xr.DataTree:
    """``pm.sample`` on the cached model, with ``nuts_sampler=sampler``."""
    if start is not None:  # each chain's own jittered point; PyMC's "jitter+" would add U(-1, 1) on top
        sample_kwargs = {"initvals": _initvals(entry, start, chains, seed), **sample_kwargs}
        init = sample_kwargs.get("init")
        if isinstance(init, str) and init.startswith("jitter+"):
            sample_kwargs["init"] = init.removeprefix("jitter+")
    if sampler == "nutpie":
        n_dim = sum(int(np.size(v)) for v in entry.model.initial_point().values())
        sample_kwargs = {**sample_kwargs, "nuts": nutpie_metric(sample_kwargs.get("nuts") or {}, n_dim)}
    with entry.model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=progressbar,
            nuts_sampler=sampler,
            compute_convergence_checks=False,  # fit checks, and says so in plain words
            **sample_kwargs,
        )
    if sampler == "nutpie":
        idata.attrs["sampler_options"] = sample_kwargs["nuts"]  # read into the provenance by fit
    return idata


def _initvals(entry: _Compiled, start: PointStart, chains: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Each chain's jittered start as values of the free variables (what ``pm.sample(initvals=)``
    takes), through the cached unconstrained-to-posterior function."""
    rng = np.random.default_rng(seed)
    points = [start.initial_point(rng) for _ in range(chains)]
    unconstrained = xr.Dataset(
        {k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(np.ndim(v))]), np.stack([p[k] for p in points])[:, None])
         for k, v in start.point.items()},
        coords={"chain": np.arange(chains), "draw": [0]})
    post = _expand(entry, unconstrained)
    return [{rv.name: post[rv.name].values[c, 0] for rv in entry.model.free_RVs} for c in range(chains)]


#: From this many observations nutpie compiles each fit's model with the fit's data as constants
#: (``freeze_dims_and_data``) instead of reusing the model compiled once per structure. PyTensor
#: then specialises the graph on the data (most of the gain is in the AR(1) noise, whose per-row
#: arrays it folds in): on the 200 x 500 curve table a gradient inside nutpie costs 11.5 ms instead
#: of 15.5 ms for the run-effects model and 12.3 instead of 16.0 ms for the offsets model
#: (``benchmarks/constant_data.py``; ``benchmarks/results/curves_hierarchical.md``, notes). The
#: price is a compile per fit (7-16 s there), which only large tables repay.
CONSTANT_DATA_ROWS = 10_000


def data_as_constants(sampler: str, data: ModelData) -> bool:
    """Whether ``sampler`` compiles this fit's model with ``data`` as constants (nutpie, from
    :data:`CONSTANT_DATA_ROWS` observations)."""
    return sampler == "nutpie" and np.size(data.values["log_loss_obs"]) >= CONSTANT_DATA_ROWS


#: Draws between two of nutpie's mass-matrix updates after its early phase (its
#: ``mass_matrix_switch_freq``): the window each low-rank estimate is made from.
NUTPIE_WINDOW = 80


def nutpie_metric(nuts: Mapping[str, Any], n_dim: int, window: int = NUTPIE_WINDOW) -> dict[str, Any]:
    """``nuts`` with nutpie's mass-matrix options for a model with ``n_dim`` unconstrained
    parameters where the caller chose none: a low-rank metric whose eigenvalue cutoff
    (:func:`low_rank_cutoff`) lies beyond what noise gives, up to ``window`` parameters; a diagonal
    one beyond. A cutoff alone means the low-rank metric; a low-rank one without a cutoff gets it.

    nutpie's low-rank metric keeps the eigenvalues of the (diagonally scaled) covariance estimate
    that lie outside [1 / cutoff, cutoff]. Estimated from ``window`` draws of a posterior with no
    correlations at all, those eigenvalues spread over about (1 +- sqrt(n_dim / window))^2
    (Marchenko-Pastur), which passes 2, the cutoff nutpie applies (its docstring says 100, its
    settings hold 2.0), at 14 parameters: from there the cutoff is twice that edge. Past ``window``
    parameters one window's draws span fewer directions than the model has and a chain's drift
    within a window passes for a correlation. On the 409-parameter per-run curve model (200 x 100
    table, 2 x (300 + 300)) the low-rank metric trapped a chain at every cutoff tried: at 2 (nutpie's)
    one chain kept 18 - 115 noise directions, its step size fell from 0.25 to 0.05 and it took 91
    leapfrog steps per draw against the other's 15; at 10 the same (127 steps); at 21 one chain of
    seed 2 took an eigenvalue of 68 at its last update and diverged in 296 of 300 draws (R-hat 1.5).
    The diagonal metric: both chains 15 steps per draw, no divergences, seeds 2026, 1 and 2
    (``benchmarks/results/curves_hierarchical.md``, notes)."""
    nuts = dict(nuts)
    if "adaptation" not in nuts:
        low_rank = n_dim <= window or "mass_matrix_eigval_cutoff" in nuts
        nuts["adaptation"] = "low_rank" if low_rank else "diag"
    if nuts["adaptation"] == "low_rank":
        nuts.setdefault("mass_matrix_eigval_cutoff", low_rank_cutoff(n_dim, window))
    return nuts


def low_rank_cutoff(n_dim: int, window: int = NUTPIE_WINDOW) -> float:
    """nutpie's 2 while noise cannot reach it, else twice the Marchenko-Pastur edge
    (1 + sqrt(``n_dim`` / ``window``))^2 (see :func:`nutpie_metric`)."""
    edge = (1.0 + np.sqrt(n_dim / window)) ** 2
    return 2.0 if edge < 2.0 else float(2.0 * edge)


def _nutpie_start(compiled: Any, start: PointStart) -> Any:
    """``compiled`` (nutpie) with each chain starting at ``start``'s jittered point (nutpie calls
    the function once per chain, with the chain's seed), flattened in the compiled model's order
    of variables, which a frozen model may change (``shape_info``: the unconstrained ones first)."""
    import dataclasses

    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper

    names = [n for n, where in zip(*compiled.shape_info[:2]) if where.stop <= compiled.n_dim]
    return dataclasses.replace(compiled, initial_point_func=_rv_dict_to_flat_array_wrapper(
        start.initial_point, names=names, shapes=[tuple(start.point[n].shape) for n in names]))


def _sample_nutpie(entry: _Compiled, data: ModelData, *, draws: int, tune: int, chains: int,
                   seed: int, progressbar: bool, cores: int | None, nuts: Mapping[str, Any],
                   start: PointStart | None = None) -> xr.DataTree:
    """nutpie on a model compiled once per structure, new data going in through ``with_data``; or,
    for large tables, compiled for this fit's data (:func:`data_as_constants`)."""
    import dataclasses
    import time

    import nutpie
    from pymc.sampling.mcmc import patch_nutpie_idata

    model = entry.model
    var_names = [rv.name for rv in model.free_RVs]  # the deterministics are added afterwards
    if data_as_constants("nutpie", data):
        compiled = nutpie.compile_pymc_model(model, var_names=var_names, freeze_model=True)
    else:
        if entry.nutpie is None:
            entry.nutpie = nutpie.compile_pymc_model(model, var_names=var_names)
        compiled = entry.nutpie
        used = {var.name for var in compiled.shared_var_keys}  # pm.Data the logp reads
        compiled = compiled.with_data(**{k: v for k, v in data.values.items() if k in used})
    coords = {k: pd.Index(v) for k, v in data.coords.items() if k in (compiled._coords or {})}
    compiled = dataclasses.replace(compiled, _coords={**(compiled._coords or {}), **coords})
    if start is not None:
        compiled = _nutpie_start(compiled, start)
    nuts = dict(nuts)
    if "max_treedepth" in nuts:
        nuts["maxdepth"] = nuts.pop("max_treedepth")
    nuts = nutpie_metric(nuts, compiled.n_dim)
    t0 = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores, seed=seed,
                          save_warmup=False, progress_bar=progressbar, **nuts)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - t0)
    idata.attrs["sampler_options"] = nuts  # read into the provenance by fit
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
                sample_kwargs: Mapping[str, Any], start: PointStart | None = None) -> xr.DataTree:
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
                       tune=tune, chains=chains, seed=seed, nuts=sample_kwargs["nuts"],
                       initial_point=None if start is None else start.initial_point)
    _add_max_treedepth(idata, sampler, sample_kwargs["nuts"])
    return idata

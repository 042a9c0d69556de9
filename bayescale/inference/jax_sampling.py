"""NUTS on JAX (numpyro or blackjax), compiled once per model structure and data shape.

``pymc.sampling.jax`` writes the data into the JAX program as constants, so every fit traces and
compiles the sampler again (seconds on a CPU, more on a GPU) even when only the numbers changed.
Here the model's log density is turned into a JAX function of the parameters *and* the data
(the model's ``pm.Data``), and the whole sampler (warm-up and draws, all chains) is one jitted
program that takes the data as an argument. It is kept with the cached model
(:mod:`bayescale.inference.cache`), so refitting the same law to new data of the same shape
reuses the compiled program; new shapes compile once each (JAX's own cache, keyed by shape).

What comes out is the DataTree PyMC's JAX path builds: the posterior (constrained free variables
and deterministics, computed on the CPU by one batched PyTensor function), ``sample_stats`` under
PyMC's names (``diverging``, ``energy``, ``n_steps``, ``tree_depth``, ``step_size``,
``acceptance_rate``, ``lp``: the log density), ``observed_data`` and ``constant_data``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

__all__ = ["JaxProgram", "jax_program", "sample_jax", "NUMPYRO_OPTIONS", "BLACKJAX_OPTIONS", "CHEES_OPTIONS"]

#: Options of ``nuts={...}`` each JAX sampler takes (beyond ``target_accept`` and ``chain_method``):
#: numpyro's ``hmc`` initialisation arguments; blackjax's window adaptation and NUTS kernel ones.
NUMPYRO_OPTIONS = ("dense_mass", "max_tree_depth", "step_size", "adapt_step_size", "adapt_mass_matrix",
                   "inverse_mass_matrix", "trajectory_length", "find_heuristic_step_size",
                   "regularize_mass_matrix", "forward_mode_differentiation")
BLACKJAX_OPTIONS = ("is_mass_matrix_diagonal", "initial_step_size", "max_num_doublings", "algorithm",
                    "num_integration_steps")
#: Options of ``sampler="chees"``: blackjax's ``chees_adaptation`` ones, the first step size and the
#: learning rate of the Adam optimiser that tunes the trajectory length, and ``superchains``.
CHEES_OPTIONS = ("initial_step_size", "learning_rate", "superchains", "mass_matrix_estimation", "jitter_amount",
                 "decay_rate", "max_leapfrog_steps")
#: ChEES learns across chains: fewer than this many and it is told.
CHEES_MIN_CHAINS = 16
CHAIN_METHODS = ("parallel", "vectorized")


@dataclass(eq=False)
class JaxProgram:
    """A model's log density as a JAX function of (parameters, data), with the compiled samplers.

    ``logp(values, data)`` takes the unconstrained values (a list, in ``value_names`` order) and
    the data arrays (``data_vars`` order); ``runners`` holds one jitted sampler per sampler and
    settings; ``initial_point`` the model's initial-point function (jittered, transformed), kept
    because PyMC's own (``_init_jitter``) compiles it anew on every call; ``jitted_logp`` checks
    the initial points."""

    logp: Callable[[list, list], Any]
    value_names: list[str]
    data_vars: list[Any]
    initial_point: Callable[[int], dict[str, np.ndarray]]
    runners: dict[tuple, Callable] = field(default_factory=dict)
    jitted_logp: Callable | None = None

    def data(self) -> list[np.ndarray]:
        """The data the model holds now (``pm.set_data`` changed them), as arrays."""
        return [np.asarray(v.get_value(borrow=True)) for v in self.data_vars]


def jax_program(model: pm.Model) -> JaxProgram:
    """Turn ``model``'s log density into a JAX function of its value variables and its data."""
    from pymc.sampling.jax import get_jaxified_graph  # also registers PyMC's JAX conversions (Assert)
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.random.type import RandomType

    logp = model.logp()
    shared = [v for v in graph_inputs([logp]) if isinstance(v, SharedVariable)]
    if any(isinstance(v.type, RandomType) for v in shared):
        raise ValueError("the model's log density reads a random generator; it cannot be sampled on JAX")
    inputs = {v: v.type(name=v.name) for v in shared}  # the data, as inputs instead of constants
    (graph,) = clone_replace([logp], replace=inputs)
    values = list(model.value_vars)
    fn = get_jaxified_graph(inputs=[*values, *inputs.values()], outputs=[graph])

    def logp_fn(vals: list, data: list) -> Any:
        return fn(*vals, *data)[0]

    ipfn = pm.initial_point.make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs),
                                                  return_transformed=True)
    return JaxProgram(logp=logp_fn, value_names=[v.name for v in values], data_vars=shared,
                      initial_point=ipfn)


def _initial_points(program: JaxProgram, chains: int, seed: int, logp: Callable,
                    initial_point: Callable[[int], dict[str, np.ndarray]] | None = None) -> list[np.ndarray]:
    """One jittered initial point per chain (``initial_point``, by default PyMC's: the support
    point, U(-1, 1) jitter on the unconstrained scale), redrawn up to 10 times where the log density
    is not finite."""
    from pymc.util import _get_seeds_per_chain

    data = program.data()
    points = []
    for chain, chain_seed in enumerate(_get_seeds_per_chain(seed, chains)):
        rng = np.random.default_rng(chain_seed)
        for _ in range(10):
            point = (initial_point or program.initial_point)(int(rng.integers(2**30)))
            values = [np.asarray(point[k], dtype=np.float64) for k in program.value_names]
            if np.isfinite(float(logp(values, data))):
                break
        else:
            raise pm.exceptions.SamplingError(
                f"chain {chain}: no finite log density at 10 jittered initial points; check the priors "
                "against the data (a prior that puts the law's loss below the observed losses' range, say)"
            )
        points.append(values)
    return [np.stack([p[i] for p in points]) for i in range(len(program.value_names))]


def _options(sampler: str, nuts: Mapping[str, Any]) -> tuple[float, str | None, dict[str, Any]]:
    """target_accept, chain_method and the sampler's own options, checked by name."""
    nuts = dict(nuts)
    target_accept = float(nuts.pop("target_accept", 0.8))
    chain_method = nuts.pop("chain_method", None)
    if chain_method is not None and chain_method not in CHAIN_METHODS:
        raise ValueError(f"chain_method={chain_method!r} is not known; use one of {list(CHAIN_METHODS)}")
    known = {"numpyro": NUMPYRO_OPTIONS, "blackjax": BLACKJAX_OPTIONS, "chees": CHEES_OPTIONS}[sampler]
    unknown = sorted(set(nuts) - set(known))
    if unknown:
        raise ValueError(
            f"nuts={{{', '.join(repr(k) for k in unknown)}: ...}} is not an option of the {sampler} sampler; "
            f"it takes target_accept, chain_method and {', '.join(known)}"
        )
    return target_accept, chain_method, nuts


def _freeze(x: Any) -> Any:
    if isinstance(x, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(v) for v in x)
    if isinstance(x, np.ndarray):
        return (x.shape, x.tobytes())
    return x


def _numpyro_chain(logp: Callable, tune: int, draws: int, target_accept: float,
                   options: Mapping[str, Any]) -> Callable:
    """One numpyro NUTS chain (warm-up then draws) as a function of (key, initial values, data)."""
    import jax
    from numpyro.infer.hmc import hmc

    def chain(key: Any, init: list, data: list) -> tuple[list, dict[str, Any]]:
        def potential_gen(*data_args: Any) -> Callable:
            return lambda z: -logp(list(z), list(data_args))

        # hmc() keeps the warm-up schedule in closures set by init_kernel: one pair per trace
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
        state = init_kernel(tuple(init), num_warmup=tune, target_accept_prob=target_accept,
                            model_args=tuple(data), rng_key=key, **options)

        def step(state: Any, _: Any) -> tuple[Any, tuple]:
            state = sample_kernel(state, model_args=tuple(data))
            return state, (list(state.z), {
                "diverging": state.diverging, "energy": state.energy, "n_steps": state.num_steps,
                "step_size": state.adapt_state.step_size, "acceptance_rate": state.accept_prob,
                "lp": -state.potential_energy})

        _, (z, stats) = jax.lax.scan(step, state, None, length=tune + draws)
        return [v[tune:] for v in z], {k: v[tune:] for k, v in stats.items()}

    return chain


def _blackjax_inference_loop(seed: Any, init_position: Any, logp_fn: Any, draws: int, tune: int,
                             target_accept: float, **adaptation_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """Window adaptation, then ``draws`` NUTS (or HMC) steps with the tuned step size and mass
    matrix, with PyMC's statistics: ``pymc.sampling.jax._blackjax_inference_loop`` written against
    blackjax >= 1.6 (PyMC 6.4's uses an API that blackjax 1.6 removed: pymc-devs/pymc#8367)."""
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


def _blackjax_chain(logp: Callable, tune: int, draws: int, target_accept: float,
                    options: Mapping[str, Any]) -> Callable:
    """One blackjax chain (window adaptation, then NUTS) as a function of (key, initial values, data)."""
    def chain(key: Any, init: list, data: list) -> tuple[list, dict[str, Any]]:
        samples, stats = _blackjax_inference_loop(key, list(init), lambda x: logp(list(x), list(data)), draws, tune,
                                                  target_accept, **options)
        return list(samples), dict(stats)

    return chain


def _chees_chains(logp: Callable, tune: int, draws: int, chains: int, target_accept: float,
                  options: Mapping[str, Any]) -> Callable:
    """All chains at once: ChEES-HMC (Hoffman, Radul & Sountsov 2021; blackjax's ``chees_adaptation``)
    tunes one step size, one diagonal mass matrix and one trajectory length across the chains during
    ``tune`` steps, then every chain takes ``draws`` steps of HMC with that (jittered) trajectory
    length: the same number of leapfrog steps in every chain, so chains vectorised on one device never
    wait for the longest NUTS tree. A function of (key, initial values with a leading chain axis, data)."""
    import blackjax
    import jax
    import jax.numpy as jnp
    import optax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    options = dict(options)
    step_size = float(options.pop("initial_step_size", 0.1))
    learning_rate = float(options.pop("learning_rate", 0.025))
    options.pop("superchains", None)
    options.setdefault("mass_matrix_estimation", "diagonal")

    def run(key: Any, init: list, data: list) -> tuple[list, dict[str, Any]]:
        def logdensity(x: Any) -> Any:
            return logp(list(x), list(data))

        adapt = blackjax.chees_adaptation(logdensity, chains, target_acceptance_rate=target_accept,
                                          adaptation_info_fn=get_filter_adapt_info_fn(), **options)
        key_tune, key_draw = jax.random.split(key)
        (state, tuned), _ = adapt.run(key_tune, list(init), step_size=step_size, optim=optax.adam(learning_rate),
                                      num_steps=max(tune, 1), max_sampling_steps=draws)
        step = jax.vmap(blackjax.dynamic_hmc(logdensity, **tuned).step)

        def one_step(state: Any, key: Any) -> tuple[Any, tuple[Any, dict[str, Any]]]:
            state, info = step(jax.random.split(key, chains), state)
            return state, (state.position, {
                "diverging": info.is_divergent, "energy": info.energy, "n_steps": info.num_integration_steps,
                "acceptance_rate": info.acceptance_rate, "lp": state.logdensity,
                "step_size": jnp.broadcast_to(tuned["step_size"], (chains,))})

        _, (z, stats) = jax.lax.scan(one_step, state, jax.random.split(key_draw, draws))
        # (draws, chains, ...) -> (chains, draws, ...)
        return [jnp.swapaxes(v, 0, 1) for v in z], {k: jnp.swapaxes(v, 0, 1) for k, v in stats.items()}

    return run


def _runner(program: JaxProgram, sampler: str, *, tune: int, draws: int, chains: int, target_accept: float,
            chain_method: str, options: Mapping[str, Any]) -> Callable:
    """The jitted sampler for these settings, made once and kept in ``program.runners``."""
    import jax

    key = (sampler, tune, draws, chains, target_accept, chain_method, _freeze(options))
    if key not in program.runners and sampler == "chees":
        program.runners[key] = jax.jit(_chees_chains(program.logp, tune, draws, chains, target_accept, options))
    if key not in program.runners:
        make = _numpyro_chain if sampler == "numpyro" else _blackjax_chain
        chain = make(program.logp, tune, draws, target_accept, options)
        if chain_method == "parallel":
            program.runners[key] = jax.pmap(chain, in_axes=(0, 0, None))
        else:
            program.runners[key] = jax.jit(jax.vmap(chain, in_axes=(0, 0, None)))
    return program.runners[key]


def _chain_method(chain_method: str | None, chains: int) -> str:
    """``parallel`` (one device per chain) where there are enough devices, else ``vectorized``."""
    import jax

    if chain_method == "parallel" and jax.local_device_count() < chains:
        raise ValueError(
            f"chain_method='parallel' needs a device per chain: {chains} chains, {jax.local_device_count()} "
            "JAX devices; use chain_method='vectorized' or fewer chains"
        )
    if chain_method is not None:
        return chain_method
    return "parallel" if jax.local_device_count() >= chains else "vectorized"


def _superchains(sampler: str, chains: int, options: Mapping[str, Any]) -> int | None:
    """ChEES: how many groups of chains share a starting point (``superchains``, default 4, or 1 chain
    each when there are fewer than 8 chains), checked against ``chains``; None for the NUTS samplers."""
    if sampler != "chees":
        return None
    if chains < CHEES_MIN_CHAINS:
        import warnings

        from ..results.fit import SamplerWarning

        warnings.warn(f"sampler='chees' tunes its step size and trajectory length across chains; {chains} chains "
                      f"give it little to learn from: use chains={CHEES_MIN_CHAINS} or more (64-512 on a GPU)",
                      SamplerWarning, stacklevel=4)
    k = int(options.get("superchains", 4 if chains >= 8 else chains))
    if k < 1 or chains % k:
        raise ValueError(f"superchains={k}: give a whole number >= 1 that divides chains={chains} (e.g. 4)")
    return k


def sample_jax(program: JaxProgram, model: pm.Model, expand: Callable[[xr.Dataset], xr.Dataset], *,
               sampler: str, draws: int, tune: int, chains: int, seed: int,
               nuts: Mapping[str, Any],
               initial_point: Callable[[int], dict[str, np.ndarray]] | None = None) -> xr.DataTree:
    """Sample ``model`` (holding its current data) with numpyro, blackjax or ChEES-HMC through ``program``.

    ``expand`` turns a dataset of unconstrained draws (the value variables) into the posterior
    (constrained free variables and deterministics). ``nuts`` holds ``target_accept``,
    ``chain_method`` and the sampler's own options (:data:`NUMPYRO_OPTIONS`, :data:`BLACKJAX_OPTIONS`,
    :data:`CHEES_OPTIONS`). ChEES's chains start in ``superchains`` groups, each group from one point,
    recorded in the posterior's attributes for the nested R-hat. ``initial_point`` (seed to a point
    by value-variable name) replaces the program's jittered support point as the chains' start.
    """
    import jax
    import pymc
    from arviz_base import dict_to_dataset
    from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_constants, find_observations

    jax.config.update("jax_enable_x64", True)
    target_accept, chain_method, options = _options(sampler, nuts)
    chain_method = _chain_method(chain_method, chains)
    if program.jitted_logp is None:  # to check the initial points
        program.jitted_logp = jax.jit(program.logp)
    superchains = _superchains(sampler, chains, options)
    init = _initial_points(program, superchains or chains, seed, program.jitted_logp, initial_point)
    if superchains:  # each superchain's chains start from one point (nested R-hat compares superchains)
        init = [np.repeat(v, chains // superchains, axis=0) for v in init]
    run = _runner(program, sampler, tune=tune, draws=draws, chains=chains, target_accept=target_accept,
                  chain_method=chain_method, options=options)
    keys = jax.random.split(jax.random.PRNGKey(seed), chains)
    t0 = time.time()
    z, stats = run(keys[0] if sampler == "chees" else keys, init, program.data())
    z = [np.asarray(v) for v in z]
    stats = {k: np.asarray(v) for k, v in stats.items()}
    sampling_time = time.time() - t0

    library = __import__("blackjax" if sampler == "chees" else sampler)
    # numpyro records the steps; a tree of depth d has up to 2^d - 1 of them (ChEES-HMC builds no tree)
    if "tree_depth" not in stats and sampler != "chees":
        stats["tree_depth"] = np.log2(np.maximum(stats["n_steps"], 1)).astype(int) + 1
    stats["diverging"] = stats["diverging"].astype(bool)
    coords, dims = coords_and_dims_for_inferencedata(model)
    sample = {"chain": np.arange(chains), "draw": np.arange(draws)}
    unconstrained = xr.Dataset(
        {k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(v.ndim - 2)]), v)
         for k, v in zip(program.value_names, z, strict=True)}, coords=sample)
    posterior = expand(unconstrained)
    posterior.attrs.update(pymc.backends.arviz.make_attrs(
        {"sampling_time": sampling_time, "tuning_steps": tune,
         **({"superchains": superchains} if superchains else {})}, inference_library=library))
    groups = {
        "posterior": posterior,
        "sample_stats": dict_to_dataset(stats, inference_library=library, coords=sample,
                                        sample_dims=["chain", "draw"]),
    }
    for name, found in (("observed_data", find_observations(model)), ("constant_data", find_constants(model))):
        if found:
            groups[name] = dict_to_dataset(found, inference_library=pymc, coords=coords, dims=dims,
                                           sample_dims=[])
    return xr.DataTree.from_dict(groups)

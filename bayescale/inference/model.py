"""Building the PyMC model for a law and a run table: the only module that opens a ``pm.Model``.

Final losses (one row per run) and training curves (one row per checkpoint) share one model: the
law on log loss, with pivoted amplitudes. Curves add what makes checkpoints of one run unlike
independent runs: a per-run offset and residuals correlated along the run (``noise="ar1"``), and
optionally law parameters that vary from run to run around a shared mean (``run_effects``).
Every array the data supplies enters through ``pm.Data``, so a compiled model can be refitted to
new data of the same structure without recompiling (see :mod:`bayescale.inference.cache`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.distribution import support_point
from pymc.logprob.transforms import Transform

from ..laws import Law, Prior, PriorError, ops
from ..laws.noise import Noise, run_codes, run_rows
from ..laws.priors import LOCATION_FAMILIES
from ..laws.spec import ModelSpec
from ..runs import RunTable

__all__ = [
    "ModelData",
    "build",
    "build_model",
    "model_data",
    "pivots",
]


def pivots(runs: RunTable, law: Law) -> dict[str, float]:
    """Geometric mean of each input over the runs: the point where amplitudes are sampled
    (1 for every input of a law declared with ``pivot=False``)."""
    if not law.pivot:
        return dict.fromkeys(law.inputs, 1.0)
    return {inp: float(np.exp(np.mean(np.log(runs.column(inp))))) for inp in law.inputs}


def check_pivot(pivot: Any, law: Law) -> dict[str, float]:
    """``pivot=`` as given to :func:`bayescale.fit`, checked before anything is built: one finite
    number > 0 for each input of the law (a :class:`ValueError` naming what is wrong otherwise)."""
    example = ", ".join(f"{k!r}: ..." for k in law.inputs)
    if not isinstance(pivot, Mapping):
        raise ValueError(f"pivot must map each input of {law.spec!r} to a number, {{{example}}}; got {pivot!r}")
    missing = [k for k in law.inputs if k not in pivot]
    extra = [k for k in pivot if k not in law.inputs]
    if missing or extra:
        raise ValueError(f"pivot must give each input of {law.spec!r} once, {{{example}}}; "
                         + (f"missing {missing}" if missing else f"{extra} are not inputs of the law"))
    out = {}
    for k, v in pivot.items():
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        if not ok or not np.isfinite(v) or v <= 0:
            raise ValueError(f"pivot {k}={v!r}: a pivot is a value of the input where amplitudes are sampled, a "
                             f"finite number > 0 (e.g. the runs' geometric mean); leave pivot=None for that")
        out[k] = float(v)
    return out


@dataclass(frozen=True)
class ModelData:
    """The arrays a model reads, by ``pm.Data`` name, and the coordinates of its dims."""

    values: dict[str, np.ndarray]
    coords: dict[str, np.ndarray]
    obs_dim: str

    @property
    def n_runs(self) -> int:
        return len(self.coords.get("run", ()))


def model_data(runs: RunTable, spec: ModelSpec, *, pivot: Mapping[str, float]) -> ModelData:
    """The ``pm.Data`` values for ``runs``: inputs over their pivots, log loss, the noise structure's
    arrays, and for curves the run index and each run's first and last row + 1 (``run_bounds``):
    rows grouped by run, stable, so sums within a run are differences of cumulative sums and a
    per-run value reaches its rows without a scatter in the gradient (:func:`ops.repeat_runs`); the
    ``checkpoint`` coordinate keeps each row's table position."""
    law = spec.law
    if not runs.is_curves:
        order = np.arange(len(runs))
        values = _input_values(runs, law, pivot, order)
        values.update(spec.noise.struct.model_data(runs, order))
        return ModelData(values, {"run": order}, "run")
    idx, ids = run_codes(runs)
    order = np.argsort(idx, kind="stable")
    values = _input_values(runs, law, pivot, order)
    values.update(run_rows(runs, order))
    counts = np.diff(values["run_bounds"])
    starts = values["run_bounds"][:-1]
    for inp in law.inputs:  # each run's centre: the mean over its rows of log(input / pivot); a point-fit
        # start moves it to where the run's amplitude and exponent are uncorrelated (start.decorrelate_centres).
        # 0 for a run with an input <= 0 (a schedule's annealing area): any centre gives the same model
        x = values[f"x_{inp}"]
        positive = x > 0
        centre = np.add.reduceat(np.log(np.where(positive, x, 1.0)), starts) / counts
        values[f"run_log_x_{inp}"] = np.where(np.logical_and.reduceat(positive, starts), centre, 0.0)
    values.update(spec.noise.struct.model_data(runs, order))
    if shears_sigma(spec):
        values[SIGMA_ELL_SLOPE] = np.asarray(0.0)
    n_population = len(law.parameters) + len(spec.noise.parameters) + len(spec.noise.run_effects)
    for var in run_tilts(spec):
        values[f"run_tilt_{var}"] = np.zeros((len(ids), n_population))
    return ModelData(values, {"run": ids.astype(str), "checkpoint": order}, "checkpoint")


def centred_variable(spec: ModelSpec, name: str) -> str:
    """The centred per-run variable of run effect ``name``: ``<name>_run_value`` for an additive
    effect, ``<name>_run_log`` otherwise (:func:`_run_effects`)."""
    return f"{name}_run_value" if spec.noise.run_effect_kind(spec.law, name, spec.priors) == "add" else f"{name}_run_log"


def run_tilts(spec: ModelSpec) -> list[str]:
    """The centred per-run variables that are tilted by the population (:func:`_run_effects`)."""
    if spec.noise.parameterization != "centered":
        return []
    return [centred_variable(spec, name) for name in spec.noise.run_effects]


def population_variables(model: pm.Model) -> list[Any]:
    """The model's scalar free variables (the law's, the noise's, the run spreads), in the order
    :func:`build` makes them: the population a per-run variable is tilted by."""
    return [rv for rv in model.free_RVs if rv.type.ndim == 0]


def population(model: pm.Model) -> Any:
    """The sampling coordinates (value variables, as functions of the variables) of
    :func:`population_variables`, as one vector."""
    coords = []
    for rv in population_variables(model):
        transform = model.rvs_to_transforms.get(rv)
        coords.append(rv if transform is None else transform.forward(rv, *rv.owner.inputs))
    return pt.stack(coords)


def _input_values(runs: RunTable, law: Law, pivot: Mapping[str, float], order: np.ndarray) -> dict[str, np.ndarray]:
    values = {f"x_{inp}": (runs.column(inp) / pivot[inp])[order] for inp in law.inputs}
    values.update({f"log_pivot_{inp}": np.asarray(np.log(pivot[inp])) for inp in law.inputs})
    values["log_loss_obs"] = np.log(runs.loss)[order]
    return values


def shears_sigma(spec: ModelSpec) -> bool:
    """Whether the model samples ``sigma`` as ``log sigma - b log ell`` (:data:`SIGMA_ELL_SLOPE`):
    AR(1) residuals with run effects (the fits that start from a point fit, which sets ``b``), and a
    prior on ``sigma`` that PyMC draws from with a plain random function."""
    if spec.noise.structure != "ar1" or not spec.noise.run_effects:
        return False
    dist = getattr(pm, spec.priors["sigma"].dist, None)
    return isinstance(dist, type) and hasattr(dist.rv_op, "rng_fn")


class _ShearedLog(Transform):
    """``log(value) - slope * log(ref)``, ``ref`` and ``slope`` being the variable's two parameters
    (:func:`_sheared_rv`). Jacobian: that of ``exp``; the shear adds none (triangular)."""

    name = "shearedlog"  # no underscore: PyMC reads the variable's name back up to the last one

    @staticmethod
    def _offset(inputs: Sequence[Any]) -> Any:
        ref, slope = [i for i in inputs if isinstance(i.type, pt.TensorType)][-2:]
        return slope * pt.log(ref)

    def forward(self, value, *inputs):
        return pt.log(value) - self._offset(inputs)

    def backward(self, value, *inputs):
        return pt.exp(value + self._offset(inputs))

    def log_jac_det(self, value, *inputs):
        return value + self._offset(inputs)


def _sheared_rv(name: str, prior: Prior, ref: Any, slope: Any):
    """A positive parameter with ``prior`` (its density, draws and support point unchanged), sampled
    on ``log(value) - slope * log(ref)``: a shear of the log scale, the same model for any slope."""
    proto = getattr(pm, prior.dist).dist(**prior.params)
    op = proto.owner.op
    params = [np.asarray(q.eval()) for q in op.dist_params(proto.owner)]
    start = support_point(proto)
    return pm.CustomDist(
        name, ref, slope,
        logp=lambda value, ref, slope: pm.logp(proto, value),
        random=lambda ref, slope, rng=None, size=None: op.rng_fn(rng, *params, size),
        support_point=lambda rv, size, ref, slope: pt.full_like(ref, start),
        transform=_ShearedLog(),
    )


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
    dist = getattr(pm, prior.dist, None)
    if not isinstance(dist, type):
        raise PriorError(f"prior for {name!r}: {prior.dist!r} is not a PyMC distribution")
    try:
        return dist(name, **params, **kwargs)
    except TypeError as err:
        raise PriorError(f"prior for {name!r}: {prior!r} is not valid for PyMC: {err}") from None


def build_model(
    runs: RunTable,
    law: str | Law = "chinchilla",
    *,
    priors: Mapping[str, Any] | None = None,
    likelihood: str | None = None,
    pivot: Mapping[str, float] | None = None,
    noise: Noise | str | None = None,
    run_effects: Sequence[str] = (),
    parameterization: str = "noncentered",
) -> pm.Model:
    """The PyMC model of ``log(loss) ~ likelihood(log(law(inputs)) [+ run terms], sigma)``.

    Inputs enter divided by their pivot, and each log-scale amplitude is sampled at the pivot
    (``log_A_pivot``; ``log_A = log_A_pivot + alpha * log(N_pivot)``): the same law and the same
    priors, in coordinates where amplitude and exponent are nearly independent. The prior on the
    natural ``log_A`` is kept exactly by shifting its location by ``-alpha * log(N_pivot)``.
    The observation model (``likelihood``, ``noise``, ``run_effects``, ``parameterization``) is a
    :class:`bayescale.laws.noise.Noise`; see :func:`bayescale.fit` for the keywords.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> model = bs.inference.build_model(runs, "chinchilla")
    >>> sorted(rv.name for rv in model.free_RVs)
    ['alpha', 'beta', 'log_A_pivot', 'log_B_pivot', 'log_E', 'sigma']
    """
    spec = ModelSpec.build(law, noise=noise, likelihood=likelihood, priors=priors, run_effects=run_effects,
                           parameterization=parameterization, runs=runs)
    runs.check_law(spec.law)
    pivot = pivots(runs, spec.law) if pivot is None else check_pivot(pivot, spec.law)
    return build(spec, model_data(runs, spec, pivot=pivot))


def build(spec: ModelSpec, data: ModelData, *, joint: bool = False) -> pm.Model:
    """The model of a spec (law, observation model, priors) on its data.

    ``log_loss`` holds each observation's density given the earlier ones of its run (what the
    pointwise log-likelihood stores). ``joint=True`` gives it each run's joint density instead
    where the noise has a closed form for it (:meth:`bayescale.laws.noise.Structure.joint`; AR(1)
    curves under the normal family): the same model and the same total, cheaper to evaluate, the
    one fits sample."""
    law, noise, priors = spec.law, spec.noise, spec.priors
    v = data.values
    with pm.Model(coords=data.coords) as model:
        obs_dim = data.obs_dim
        x = {inp: pm.Data(f"x_{inp}", v[f"x_{inp}"], dims=obs_dim) for inp in law.inputs}
        log_pivot = {inp: pm.Data(f"log_pivot_{inp}", v[f"log_pivot_{inp}"]) for inp in law.inputs}
        y = pm.Data("log_loss_obs", v["log_loss_obs"], dims=obs_dim)
        runs_of = {}  # curves: rows grouped by run
        run_centre = {}
        if "run_idx" in v:
            runs_of = {"run_idx": pm.Data("run_idx", v["run_idx"], dims=obs_dim),
                       "run_bounds": pm.Data("run_bounds", v["run_bounds"])}
            run_centre = {inp: pm.Data(f"run_log_x_{inp}", v[f"run_log_x_{inp}"], dims="run") for inp in law.inputs}

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

        # the noise's parameters before the run effects: each run's variables are tilted by them too
        shear = SIGMA_ELL_SLOPE in v
        p = {q.name: _rv(q.name, priors[q.name]) for q in noise.parameters if not (shear and q.name == "sigma")}
        if shear:
            p["sigma"] = _sheared_rv("sigma", priors["sigma"], p["ell"], pm.Data(SIGMA_ELL_SLOPE, v[SIGMA_ELL_SLOPE]))

        per_row = dict(at_pivot)
        if noise.run_effects:
            per_run = _run_effects(spec, at_pivot, log_pivot, run_centre, v)
            per_row.update({k: ops.repeat_runs(val, runs_of["run_idx"], runs_of["run_bounds"])
                            for k, val in per_run.items()})
        mu = _powers_as_exp(pm.math.log(law(**x, **per_row)), list(x.values()))
        n_obs = len(v["log_loss_obs"])
        extra = {k: pm.Data(k, v[k], dims=obs_dim if np.size(v[k]) == n_obs and k not in noise.struct.tables else None)
                 for k in v if k not in _CORE and not k.startswith(_CORE_PREFIX)}
        for name in noise.struct.latents:  # latent vectors of the structure, standard normal
            p[name] = pm.Normal(name, 0.0, 1.0, shape=int(np.size(v[noise.struct.latent_size_of])))
        d = {**extra, **runs_of}
        if joint and has_joint_density(spec):
            _joint_observed(noise.struct, mu, y, p, d, obs_dim)
        else:
            mean, sd = noise.struct.conditional(mu, y, p, d)
            family = getattr(pm, noise.fam.pymc)
            family("log_loss", mu=mean, sigma=sd, **noise.shape_params(p), observed=y, dims=obs_dim)
    return model


def _powers_as_exp(out: Any, inputs: Sequence[Any]) -> Any:
    """``out`` with each power of an input, ``x ** y``, written ``exp(y * log(x))``: the same values
    (inputs are > 0; at 0 both give 0 or inf), and where the inputs are constants (nutpie compiles
    large tables with their data frozen, :data:`bayescale.inference.samplers.CONSTANT_DATA_ROWS`)
    ``log(x)`` is folded, so each row costs an ``exp`` instead of a ``pow``: on the 200 x 500 curve
    benchmark with run effects the log density and its gradient (numba, data frozen, one core) took
    5.2 ms instead of 7.0."""
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import io_toposort
    from pytensor.scalar import Pow
    from pytensor.tensor.elemwise import Elemwise

    replace = {}
    for node in io_toposort(list(inputs), [out]):
        if (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Pow)
                and any(node.inputs[0] is x for x in inputs)):
            base, power = node.inputs
            replace[node.outputs[0]] = pt.exp(power * pt.log(base))
    return graph_replace(out, replace, strict=False) if replace else out


def has_joint_density(spec: ModelSpec) -> bool:
    """Whether ``build(spec, data, joint=True)`` holds each run's joint density (a closed form of the
    noise structure under the normal family) rather than the pointwise terms."""
    return spec.noise.fam.name == "normal" and spec.noise.struct.has_joint


def _joint_observed(struct: Any, mu: Any, y: Any, p: Mapping[str, Any], d: Mapping[str, Any], obs_dim: str) -> None:
    """``log_loss`` observed with the runs' joint density (``struct.joint``) as its log density: a
    ``pm.CustomDist`` over all rows at once, whose parameters are the law's ``mu``, the noise
    parameters ``p`` and the data ``d``. Its log density has one term per run (``model.logp(sum=False)``
    gives the per-run log-likelihood; the model's total sums them)."""
    names = list(p) + list(d)
    params = [pt.as_tensor_variable(x) for x in (mu, *p.values(), *d.values())]

    def logp(value, mu, *args):
        given = dict(zip(names, args, strict=True))
        return struct.joint(mu, value, {k: given[k] for k in p}, {k: given[k] for k in d})

    core = ["(n)"] + ["()" if x.ndim == 0 else f"(k{i})" for i, x in enumerate(params[1:])]
    pm.CustomDist("log_loss", *params, logp=logp, observed=y, dims=obs_dim,
                  signature=",".join(core) + "->(n)")


#: ``pm.Data`` of AR(1) curve fits with run effects: the slope ``b`` of the sampling coordinate of
#: ``sigma``, ``log sigma - b log ell``. 0 (plain ``log sigma``) until a point fit sets it
#: (:func:`bayescale.inference.start.decorrelate_noise`).
SIGMA_ELL_SLOPE = "sigma_ell_slope"

_CORE = {"log_loss_obs", "run_idx", "run_bounds", SIGMA_ELL_SLOPE}
_CORE_PREFIX = ("x_", "log_pivot_", "run_log_x_", "run_tilt_")


def _run_effects(spec: ModelSpec, at_pivot: Mapping[str, Any], log_pivot: Mapping[str, Any],
                 run_centre: Mapping[str, Any], values: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per-run values at the pivot of the run-effect parameters (partial pooling), with the
    natural-scale per-run values of every parameter they move recorded as ``<name>_run`` (dim
    ``run``).

    ``"noncentered"`` samples ``<name>_run_z ~ Normal(0, 1)`` and scales it by ``<name>_run_sd``
    (good when each run says little about its own value); ``"centered"`` samples each run's value
    itself (``<name>_run_log`` on the log scale, ``<name>_run_value`` for additive effects) around
    the population value (good when each run's many checkpoints pin its value down, where the
    non-centred form ties every z to the population parameters).

    A centred scale constant (``A`` of ``A * N**-gamma * D**-alpha``) is sampled at the run's own
    centre (``run_centre``: the mean over its rows of each log input over its pivot, or where a point
    fit puts it, :func:`bayescale.inference.start.decorrelate_centres`), where its rows pin it down
    whatever the exponents: ``A_run_log = log A_r(pivot) - gamma * centre_N - alpha_r *
    centre_D``, with its prior mean moved the same way. The same model (a shift of ``log A_r`` by a
    function of the other parameters, Jacobian 1), in coordinates where a run's amplitude is not
    tied to the exponents, as it is at the common pivot: there a change of ``gamma`` moves every
    run's amplitude with it, a direction of the posterior that is narrow and long at once.

    Each centred per-run variable is also tilted by the population (:func:`run_tilts`): it is
    sampled as its value minus ``T_r g``, ``g`` the sampling coordinates of the population
    parameters (:func:`population`) and ``T`` the ``pm.Data`` ``run_tilt_<variable>`` (runs x
    population; zeros until a point fit sets it, :func:`bayescale.inference.start.decorrelate_runs`),
    with its prior mean moved the same way: again the same model, Jacobian 1."""
    law, noise, priors = spec.law, spec.noise, spec.priors
    centered = noise.parameterization == "centered"
    per_run: dict[str, Any] = {}
    # exponents before scale constants: a constant's per-run shift to its run's centre uses them
    order = sorted(noise.run_effects, key=lambda n: law.parameter(n).log)
    sds = {name: _rv(f"{name}_run_sd", priors[f"{name}_run_sd"]) for name in order}
    tilts = run_tilts(spec)
    g = population(pm.modelcontext(None)) if tilts else None
    for name in order:
        sd = sds[name]
        kind = noise.run_effect_kind(law, name, priors)
        if not centered:
            per_run[name] = noise.run_value(kind, at_pivot[name], sd, pm.Normal(f"{name}_run_z", 0.0, 1.0, dims="run"))
            continue
        var = centred_variable(spec, name)
        tilt = pt.dot(pm.Data(f"run_tilt_{var}", values[f"run_tilt_{var}"]), g)
        if kind == "add":
            per_run[name] = pm.Normal(var, at_pivot[name] - tilt, sd, dims="run") + tilt
        else:  # log scale for scale constants, multiplicative for positive parameters
            q = law.parameter(name)
            shift = 0.0
            if q.log and q.scale and run_centre:
                exps = {k: per_run.get(k, at_pivot[k]) for k in law.param_names if not law.parameter(k).log}
                shift = law.log_pivot_shift(q, exps, run_centre)
            log_at_centre = pm.Normal(var, pt.log(at_pivot[name]) - shift - tilt, sd, dims="run")
            per_run[name] = pt.exp(log_at_centre + shift + tilt)
    for name, value in noise.natural_run_values(law, per_run, at_pivot, log_pivot).items():
        pm.Deterministic(f"{name}_run", value, dims="run")
    return per_run

"""Where the chains start: PyMC's jittered support point, or near a point fit of the model.

``fit(..., start="auto")`` (the default) starts a fit with run effects near a point fit and every
other fit from PyMC's support point with U(-1, 1) jitter on the unconstrained scale. Why: on long
curves the hierarchical per-run model has a second, far smaller mode in which correlated residuals
stand in for the law (on the 200 x 500 benchmark: sigma 0.25 and ell 300 against the truths 0.01
and 0.5); chains started from the support point fall into it and stay, whatever the tuning
(``benchmarks/results/curves_hierarchical.md``: R-hat 1.97 after 4 x (500 + 500)).

The point fit is three rounds of L-BFGS on the model's own log density (priors included,
unconstrained scale, Jacobian included), each well posed:

1. the law's parameters (population and per-run values) and the residual scale ``sigma``, with the
   noise structure's parameters (``tau``, ``ell``...), the run-effect spreads and any latent vectors
   held at the support point, so that correlated residuals cannot take over the law's work;
2. those held parameters and ``sigma`` again, with the law's held at the result of round 1. Not
   ``ell`` alone: long AR(1) curves fix the innovation scale ``sigma^2 / ell`` far better than either
   (posterior correlation of their logs 0.96), so ``ell`` fitted at round 1's ``sigma`` slides along
   that ridge (200 x 100 benchmark: sigma 0.0146 and ell 1.10 against the truths 0.01 and 0.5, 262
   nats below the point this round finds: 0.0091 and 0.41);
3. round 1 again from there: the law refitted under the fitted noise structure (there: 42 nats more
   in 53 iterations).

No joint optimum is sought: the joint mode of a hierarchical model can sit at a spread of zero.

Then the sampling coordinates of each run are fitted to that point (:func:`decorrelate_centres`): a
centred per-run scale constant is sampled at a centre of its run's inputs (see
:func:`bayescale.inference.model.build`), and the centre where the run's amplitude and its own
exponent are uncorrelated is not the mean of its log inputs when the floor ``E`` or the noise weighs
its checkpoints unevenly (on the 200 x 100 benchmark the centre moves 3.8 in log tokens and the
posterior correlation of ``A_run_log`` with ``alpha_run_log`` falls from -0.88 to -0.41). A diagonal
mass matrix cannot undo 200 such 2 x 2 correlations, and a low-rank one keeps only a few directions:
there they set the step size. Moving a centre is a shift of ``log A_r`` by a function of the other
parameters (Jacobian 1): the same model, other coordinates. So is the AR(1) residual scale's
coordinate (:func:`decorrelate_noise`): ``sigma`` is sampled as ``log sigma - b log ell`` with ``b``
fitted at the point, off the ridge along which the data leave ``sigma`` and ``ell`` (on the 200 x
100 benchmark the effective sample size of both rose from 63-78 to 189-327 in 2 x 300 draws). Last,
each run's variables are tilted by the population parameters (:func:`decorrelate_runs`) so that the
two are uncorrelated at the point: the floor ``E`` no longer trades off against all per-run
exponents at once (condition number of the scaled Hessian 168 -> 5.3 on that benchmark; on the
200 x 500 one the ESS of ``tau`` and ``E`` in 4 x 500 draws rose from 428 and 570 to 917 and 2211).
Each step works in the coordinates the one before set (the model holds its data meanwhile).

Each chain then starts at that point with its own U(-``jitter``, ``jitter``) jitter (default
:data:`JITTER`), so that R-hat still compares chains that did not start in one place. A start near
one mode cannot show a second one: the point fit is for models whose other modes are traps, as
here, and ``start="prior"`` gives PyMC's dispersed starts back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm

from ..laws.spec import ModelSpec
from .model import centred_variable

__all__ = ["STARTS", "JITTER", "PointStart", "point_start", "wants_point_start", "decorrelate_centres",
           "decorrelate_noise", "decorrelate_runs"]

#: The choices of ``fit(..., start=)``.
STARTS = ("auto", "point", "prior")
#: Half-width of each chain's uniform jitter around the point fit, on the unconstrained scale.
JITTER = 0.1


def wants_point_start(start: str, spec: ModelSpec) -> bool:
    """Whether a fit with ``start`` starts near a point fit: ``"point"``, or ``"auto"`` with run effects."""
    if start not in STARTS:
        raise ValueError(f"start={start!r} is not known; use one of {list(STARTS)} (\"auto\": a point fit "
                         "for models with run effects, PyMC's jittered support point otherwise)")
    return start == "point" or (start == "auto" and bool(spec.noise.run_effects))


@dataclass(frozen=True)
class PointStart:
    """A point of the model on the unconstrained scale (by value-variable name), and the jitter."""

    point: dict[str, np.ndarray]
    jitter: float = JITTER
    #: L-BFGS iterations of each round, and the log density at the point.
    iterations: tuple[int, ...] = ()
    logp: float = float("nan")
    #: ``pm.Data`` arrays the point is expressed in and the fit must sample with (the per-run
    #: centres of :func:`decorrelate_centres`, by name).
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def initial_point(self, seed: Any) -> dict[str, np.ndarray]:
        """The point with a chain's own jitter (``seed``: an int or a generator)."""
        rng = np.random.default_rng(seed)
        return {k: v + rng.uniform(-self.jitter, self.jitter, size=np.shape(v)) for k, v in self.point.items()}


def _held(spec: ModelSpec, model: pm.Model) -> set[str]:
    """Value variables held in round 1: the noise parameters but ``sigma``, run spreads, latents."""
    names = (set(spec.noise.names()) - {"sigma"}) | set(spec.noise.struct.latents)
    return {model.rvs_to_values[rv].name for rv in model.free_RVs if rv.name in names}


def value_and_grad(model: pm.Model) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """The model's log density and its gradient as one compiled function of the flat unconstrained
    vector (the order of ``model.value_vars``), reading the model's ``pm.Data`` as they are now."""
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        logp, grad = fn(x)
        return float(logp), np.asarray(grad, dtype=np.float64)

    return f


def point_start(model: pm.Model, spec: ModelSpec, f: Callable[[np.ndarray], tuple[float, np.ndarray]], *,
                seed: int, jitter: float = JITTER, maxiter: int = 2000) -> PointStart:
    """Three rounds of L-BFGS from the support point (see the module's docstring); ``f`` is
    :func:`value_and_grad` of ``model`` holding the fit's data."""
    from scipy.optimize import minimize

    start = model.initial_point(random_seed=seed)
    x, where = _flat(model, start)
    held = _held(spec, model)
    sigma = {model.rvs_to_values[rv].name for rv in model.free_RVs if rv.name == "sigma"}
    in_held, in_round_2 = np.zeros(x.size, dtype=bool), np.zeros(x.size, dtype=bool)
    for n, sl in where.items():
        in_held[sl] = n in held
        in_round_2[sl] = n in held or n in sigma
    iterations = []
    for free in (~in_held, in_round_2, ~in_held):
        if not free.any():
            continue
        x0 = x.copy()

        def neg(z: np.ndarray, free: np.ndarray = free, x0: np.ndarray = x0) -> tuple[float, np.ndarray]:
            full = x0.copy()
            full[free] = z
            logp, grad = f(full)
            if not np.isfinite(logp):
                return np.inf, np.zeros(z.size)
            return -logp, -grad[free]

        res = minimize(neg, x[free], jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
        x[free] = res.x
        iterations.append(int(res.nit))
    logp, _ = f(x)
    if not np.isfinite(logp):
        raise pm.exceptions.SamplingError(
            "the point fit that starts the chains ended where the log density is not finite; "
            "fit with start=\"prior\" (PyMC's jittered support point) or check the priors against the data"
        )
    point = {n: x[sl].reshape(np.shape(start[n])) for n, sl in where.items()}
    data: dict[str, np.ndarray] = {}
    before: dict[str, np.ndarray] = {}
    try:
        for step in (lambda p: decorrelate_noise(model, f, p), lambda p: decorrelate_centres(model, spec, f, p),
                     lambda p: decorrelate_runs(model, spec, f, p)):
            point, new = step(point)
            before.update({k: np.asarray(model[k].get_value()).copy() for k in new if k not in before})
            with model:  # the next step works in the coordinates this one moved the point to
                pm.set_data(new)
            data.update(new)
    finally:  # the model's data as they were: the fit sets ``data`` itself
        with model:
            pm.set_data(before)
    return PointStart(point=point, jitter=jitter, iterations=tuple(iterations), logp=float(logp), data=data)


def _flat(model: pm.Model, point: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, slice]]:
    """``point`` as the flat vector :func:`value_and_grad` takes (``model.value_vars`` in order), and
    each variable's slice of it."""
    names = [v.name for v in model.value_vars]
    bounds = np.cumsum([0, *[int(np.size(point[n])) for n in names]])
    x = np.concatenate([np.ravel(point[n]).astype(np.float64) for n in names])
    return x, {n: slice(bounds[i], bounds[i + 1]) for i, n in enumerate(names)}


def _centre_pairs(spec: ModelSpec) -> list[tuple[str, str, str, bool]]:
    """``(amplitude's per-run variable, exponent's per-run variable, input, exponent on the log
    scale)`` for each centred per-run scale constant whose pivot shift has an exponent that varies by
    run, where that input's centre serves no other such pair."""
    law, noise = spec.law, spec.noise
    if noise.parameterization != "centered":
        return []
    pairs = []
    for name in noise.run_effects:
        q = law.parameter(name)
        if not (q.log and q.scale):
            continue
        for col, power in law.scale_exponents(q).items():
            if isinstance(power, str) and power in noise.run_effects:
                kind = noise.run_effect_kind(law, power, spec.priors)
                pairs.append((centred_variable(spec, name), centred_variable(spec, power), col, kind != "add"))
    cols = [p[2] for p in pairs]
    return [p for p in pairs if cols.count(p[2]) == 1]


def _hessian_rows(f: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray, idx: Any,
                  h: float) -> np.ndarray:
    """The sum of the log density's Hessian rows ``idx`` at ``x``, by a central difference of the
    gradient along all of ``idx`` at once (where ``idx`` holds variables with no cross terms, as
    the runs of :func:`decorrelate_centres`, that sum gives each one's own row)."""
    step = np.zeros_like(x)
    step[idx] = h
    return (f(x + step)[1] - f(x - step)[1]) / (2 * h)


def decorrelate_noise(model: pm.Model, f: Callable[[np.ndarray], tuple[float, np.ndarray]],
                      point: dict[str, np.ndarray], *, h: float = 1e-4) -> tuple[dict[str, np.ndarray],
                                                                                 dict[str, np.ndarray]]:
    """The slope ``b`` of ``sigma``'s sampling coordinate ``u = log sigma - b log ell``
    (:data:`bayescale.inference.model.SIGMA_ELL_SLOPE`) at which ``u`` and ``log ell`` are
    uncorrelated near ``point``, and ``point`` moved to it (the same ``sigma``).

    Long AR(1) curves fix the innovation scale ``sigma^2 / ell`` far better than ``sigma`` or ``ell``
    (200 x 100 benchmark: posterior correlation of their logs 0.96; a diagonal metric then steps
    along that ridge at the pace of its width). From the 2 x 2 Hessian block ``H`` of ``(u, log ell)``
    (two central differences of the gradient), ``u`` moves to ``u - k log ell`` with ``k = -H_ul /
    H_uu``, whose covariance with ``log ell`` is zero at the point; ``b`` becomes ``b + k``. A model
    without the slope, or a block that is not negative definite, is left as it is."""
    from .model import SIGMA_ELL_SLOPE

    if SIGMA_ELL_SLOPE not in model.named_vars:
        return point, {}
    x, where = _flat(model, point)
    iu, il = (where[model.rvs_to_values[model[n]].name].start for n in ("sigma", "ell"))
    (huu, hul), (_, hll) = (_hessian_rows(f, x, i, h)[[iu, il]] for i in (iu, il))
    if not (huu < 0 and huu * hll - hul**2 > 0):
        return point, {}
    k = -hul / huu
    x[iu] -= k * x[il]
    slope = float(np.asarray(model[SIGMA_ELL_SLOPE].get_value())) + k
    return {n: x[sl].reshape(np.shape(point[n])) for n, sl in where.items()}, {SIGMA_ELL_SLOPE: np.asarray(slope)}


def decorrelate_centres(model: pm.Model, spec: ModelSpec, f: Callable[[np.ndarray], tuple[float, np.ndarray]],
                        point: dict[str, np.ndarray], *, h: float = 1e-4) -> tuple[dict[str, np.ndarray],
                                                                                   dict[str, np.ndarray]]:
    """Per-run centres (``run_log_x_<input>``) at which each run's amplitude and exponent are
    uncorrelated near ``point``, and ``point`` moved to them (the same natural values).

    Runs are independent given the population parameters, so the Hessian of the log density in the
    run's amplitude ``a_r`` and exponent variable ``b_r`` is block diagonal over runs: two central
    differences of the gradient give every run's 2 x 2 block ``H_r``. With ``S_r = (-H_r)^-1``, moving
    the centre by ``delta_r = S_ab / (e'(b) S_bb) = -H_ab / (e'(b) H_aa)`` (``e``: the exponent as a
    function of ``b``) turns ``a_r`` into ``a_r - e(b_r) delta_r``, whose covariance with ``b_r`` is
    zero at the point. Runs whose block is not negative definite keep their centre."""
    pairs = _centre_pairs(spec)
    if not pairs:
        return point, {}
    x, where = _flat(model, point)
    data = {}
    for a_name, b_name, col, log_scale in pairs:
        ia, ib = where[a_name], where[b_name]
        columns = [_hessian_rows(f, x, idx, h) for idx in (ia, ib)]
        haa, hba, hbb = columns[0][ia], columns[0][ib], columns[1][ib]
        ok = (haa < 0) & (haa * hbb - hba**2 > 0)
        exponent = np.exp(x[ib]) if log_scale else x[ib]
        slope = exponent if log_scale else 1.0  # e'(b)
        delta = np.where(ok, -hba / np.where(ok, haa * slope, 1.0), 0.0)
        key = f"run_log_x_{col}"
        data[key] = np.asarray(model[key].get_value(), dtype=np.float64) + delta
        x[ia] = x[ia] - exponent * delta
    return {n: x[sl].reshape(np.shape(point[n])) for n, sl in where.items()}, data


def decorrelate_runs(model: pm.Model, spec: ModelSpec, f: Callable[[np.ndarray], tuple[float, np.ndarray]],
                     point: dict[str, np.ndarray], *, h: float = 1e-4) -> tuple[dict[str, np.ndarray],
                                                                                dict[str, np.ndarray]]:
    """Tilts (``run_tilt_<variable>``, :func:`bayescale.inference.model.run_tilts`) at which each
    run's variables are uncorrelated with the population parameters near ``point``, and ``point``
    moved to them (the same natural values).

    A run's variables ``x_r`` are tied to the population ``g`` through the likelihood: on the 200 x
    100 benchmark the floor ``E`` trades off against all 200 per-run decay exponents at once, a
    direction no diagonal metric follows (condition number of the Hessian at the point, scaled by
    the posterior sds: 168). Runs are independent given ``g``, so the Hessian's run block is block
    diagonal over runs; from it and the cross block ``H_rg`` (central differences of the gradient:
    one per per-run variable, all runs at once, and one per population parameter), sampling ``x_r -
    T_r g`` with ``T_r = -H_rr^-1 H_rg`` makes each run's block and the population's uncorrelated
    at the point (there: condition number 5.3). The same model (a shift of ``x_r`` by a function of
    ``g``, Jacobian 1). Runs whose block is not negative definite keep their tilt.

    Only for models with more parameters than a low-rank metric is estimated for
    (:data:`bayescale.inference.samplers.NUTPIE_WINDOW`), where the sampler's metric is diagonal:
    below, nutpie's low-rank metric finds the collective direction itself, and a tilt fitted at one
    point fits the tails of a wide posterior badly (12 runs x 40 checkpoints, 33 parameters: 2, 12
    and 3 divergent draws of 1200 in seeds 4-6 with the tilt, none without it)."""
    from .model import population_variables, run_tilts
    from .samplers import NUTPIE_WINDOW

    names = run_tilts(spec)
    x, where = _flat(model, point)
    if not names or x.size <= NUTPIE_WINDOW:
        return point, {}
    runs = [where[model.rvs_to_values[model[n]].name] for n in names]
    pop = [where[model.rvs_to_values[rv].name].start for rv in population_variables(model)]
    cols = [_hessian_rows(f, x, sl, h) for sl in runs]
    h_rr = np.stack([np.stack([c[sl] for c in cols], axis=-1) for sl in runs], axis=1)  # runs x m x m
    rows = [_hessian_rows(f, x, i, h) for i in pop]
    h_rg = np.stack([np.stack([row[sl] for row in rows], axis=-1) for sl in runs], axis=1)  # runs x m x pop
    h_rr = 0.5 * (h_rr + np.swapaxes(h_rr, 1, 2))
    ok = np.all(np.linalg.eigvalsh(h_rr) < 0, axis=1)
    tilt = np.zeros_like(h_rg)
    tilt[ok] = -np.linalg.solve(h_rr[ok], h_rg[ok])
    g = x[pop]
    data = {}
    for i, (n, sl) in enumerate(zip(names, runs, strict=True)):
        x[sl] -= tilt[:, i, :] @ g
        key = f"run_tilt_{n}"
        data[key] = np.asarray(model[key].get_value(), dtype=np.float64) + tilt[:, i, :]
    return {n: x[sl].reshape(np.shape(point[n])) for n, sl in where.items()}, data

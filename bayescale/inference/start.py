"""Where the chains start: PyMC's jittered support point, or near a point fit of the model.

``fit(..., start="auto")`` (the default) starts a fit with run effects near a point fit and every
other fit from PyMC's support point with U(-1, 1) jitter on the unconstrained scale. Why: on long
curves the hierarchical per-run model has a second, far smaller mode in which correlated residuals
stand in for the law (on the 200 x 500 benchmark: sigma 0.25 and ell 300 against the truths 0.01
and 0.5); chains started from the support point fall into it and stay, whatever the tuning
(``benchmarks/results/curves_hierarchical.md``: R-hat 1.97 after 4 x (500 + 500)).

The point fit is two rounds of L-BFGS on the model's own log density (priors included, unconstrained
scale, Jacobian included), each well posed:

1. the law's parameters (population and per-run values) and the residual scale ``sigma``, with the
   noise structure's parameters (``tau``, ``ell``...), the run-effect spreads and any latent vectors
   held at the support point, so that correlated residuals cannot take over the law's work;
2. those held parameters, with the law's held at the result of round 1.

No joint optimum is sought: the joint mode of a hierarchical model can sit at a spread of zero. Each
chain then starts at that point with its own U(-``jitter``, ``jitter``) jitter (default
:data:`JITTER`), so that R-hat still compares chains that did not start in one place. A start near
one mode cannot show a second one: the point fit is for models whose other modes are traps, as
here, and ``start="prior"`` gives PyMC's dispersed starts back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm

from ..laws.spec import ModelSpec

__all__ = ["STARTS", "JITTER", "PointStart", "point_start", "wants_point_start"]

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
    """Two rounds of L-BFGS from the support point (see the module's docstring); ``f`` is
    :func:`value_and_grad` of ``model`` holding the fit's data."""
    from scipy.optimize import minimize

    start = model.initial_point(random_seed=seed)
    names = [v.name for v in model.value_vars]
    sizes = [int(np.size(start[n])) for n in names]
    bounds = np.cumsum([0, *sizes])
    x = np.concatenate([np.ravel(start[n]).astype(np.float64) for n in names])
    held = _held(spec, model)
    in_held = np.zeros(x.size, dtype=bool)
    for i, n in enumerate(names):
        in_held[bounds[i]:bounds[i + 1]] = n in held
    iterations = []
    for free in (~in_held, in_held):
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
    point = {n: x[bounds[i]:bounds[i + 1]].reshape(np.shape(start[n])) for i, n in enumerate(names)}
    return PointStart(point=point, jitter=jitter, iterations=tuple(iterations), logp=float(logp))

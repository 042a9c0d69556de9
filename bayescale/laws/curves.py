"""Laws for training curves: loss against steps (or examples seen) during a run."""

from __future__ import annotations

from . import _ops as ops
from .base import Parameter, law
from .priors import Prior

__all__ = ["kaplan_steps", "kaplan_smin", "m2", "m4", "broken_power_law", "curve_power"]

#: Newton steps that solve M4's implicit equation. From m4's start they reach machine precision
#: within 9 steps for any a in [1e-3, 1e3] (16 for a in [1e-6, 1e6]) and any right-hand side
#: (tests/laws/test_laws_curves.py).
M4_NEWTON_STEPS = 16

#: Newton steps that solve kaplan_smin's implicit equation in log L. From the law's start (a lower
#: bound of the root, on the side from which Newton's method converges monotonically) they reach
#: machine precision within 8 steps over exponents aS/aB up to 60 and any sizes (tests/laws/test_kaplan_smin.py).
KAPLAN_SMIN_NEWTON_STEPS = 12


@law(
    name="kaplan_steps",
    inputs={"N": "N", "S": "step"},
    parameters=[
        Parameter("Nc", Prior("Normal", mu=30.0, sigma=5.0), 6.5e13,
                  "critical model size (non-embedding params)", log=True, scale={"N": 1.0}),
        Parameter("Sc", Prior("Normal", mu=8.0, sigma=4.0), 2.1e3,
                  "critical number of steps (in the units of S)", log=True, scale={"S": 1.0}),
        Parameter("aN", Prior("LogNormal", mu=-2.5, sigma=1.0), 0.076, "model-size exponent"),
        Parameter("aS", Prior("LogNormal", mu=-0.5, sigma=1.0), 0.76, "step exponent"),
    ],
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models, eq. 5.6 and Table 3",
    formula="L(N, S) = (Nc / N)**aN + (Sc / S)**aS",
    min_distinct={"N": 3, "step": 3},
)
def kaplan_steps(N, S, Nc, Sc, aN, aS):
    """L(N, S) = (Nc / N)**aN + (Sc / S)**aS

    The loss of a model of N non-embedding parameters after S optimiser steps. S reads the
    ``step`` column by default (Kaplan et al.'s S_min, steps at a large batch); for tokens seen,
    use ``get_law("kaplan_steps").on("N", "D")`` and read Sc in tokens. Example values: Kaplan et
    al.'s fit (Nc 6.5e13, Sc 2.1e3 steps, aN 0.076, aS 0.76). No irreducible floor.
    """
    return (Nc / N) ** aN + (Sc / S) ** aS


@law(
    name="kaplan_smin",
    inputs={"N": "N", "S": "step", "B": "B"},
    parameters=[
        Parameter("Nc", Prior("Normal", mu=30.0, sigma=5.0), 6.5e13,
                  "critical model size (non-embedding params)", log=True, scale={"N": 1.0}),
        Parameter("Sc", Prior("Normal", mu=8.0, sigma=4.0), 2.1e3,
                  "critical number of minimum steps S_min (in the units of S)", log=True, scale={"S": 1.0}),
        Parameter("aN", Prior("LogNormal", mu=-2.5, sigma=1.0), 0.076, "model-size exponent"),
        Parameter("aS", Prior("LogNormal", mu=-0.5, sigma=1.0), 0.76, "exponent of the minimum steps S_min"),
        # B* about 2e8 tokens in Kaplan et al.: Normal(19, 3) on log B* puts 90% in 1e6 - 3e10 tokens
        Parameter("Bstar", Prior("Normal", mu=19.0, sigma=3.0), 2e8,
                  "critical batch size at L = 1 nat/token (in the units of B: tokens per step)",
                  log=True, scale={"B": 1.0}),
        # alpha_B 0.21 in Kaplan et al.: LogNormal(log 0.21, 0.75) puts 90% in 0.061 - 0.72
        Parameter("aB", Prior("LogNormal", mu=-1.56, sigma=0.75), 0.21,
                  "critical-batch exponent: B_crit(L) = Bstar / L**(1 / aB)"),
    ],
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models, section 5.1 (eqs. 5.1-5.4) "
              "and eq. 5.6, Table 3",
    formula="L = (Nc / N)**aN + (Sc / S_min)**aS, S_min = S / (1 + Bstar / (B * L**(1 / aB)))",
    min_distinct={"N": 3, "step": 3},
)
def kaplan_smin(N, S, B, Nc, Sc, aN, aS, Bstar, aB):
    """L = (Nc / N)**aN + (Sc / S_min)**aS, S_min = S / (1 + B_crit(L) / B), B_crit(L) = Bstar / L**(1 / aB)

    Kaplan et al.'s L(N, S_min) for a run of N non-embedding parameters trained S steps at a batch
    of B tokens per step (the ``B`` column; Bstar is in its units). Steps and examples trade off as
    ``(S / S_min - 1)(E / E_min - 1) = 1`` around the critical batch size B_crit(L), so a run at
    batch B needs ``S = S_min (1 + B_crit / B)`` steps to reach the loss that S_min steps reach at a
    large batch. S reads the ``step`` column. Example values: Kaplan et al.'s fit (Nc 6.5e13, Sc
    2.1e3 steps, aN 0.076, aS 0.76, B* 2e8 tokens, alpha_B 0.21). No irreducible floor. With a single
    batch size in the data, Bstar and aB are identified only through the curvature of the loss in
    S: they then act as extra bend of the curves, not as a batch trade-off (on Clark et al.'s
    one-batch runs their posterior left the prior's range: ``benchmarks/results/batch_clark.md``);
    see :func:`bayescale.analysis.critical_batch_size`.

    L is implicit: S_min depends on L through B_crit(L). In logs, u = log L solves
    ``u = G(u)`` with ``G(u) = log((Nc/N)**aN + (Sc/S)**aS (1 + r exp(-u / aB))**aS)``, r = Bstar / B.
    G is convex and decreasing in u (a log-sum-exp of a softplus of a linear function of u), so
    ``phi(u) = G(u) - u`` is convex with slope <= -1, and Newton's method from any point where
    phi >= 0 climbs monotonically to the root. The start ``max(log(a + c), (log c + aS log r) /
    (1 + aS / aB))``, with ``a = (Nc/N)**aN`` and ``c = (Sc/S)**aS``, is such a point (each is the
    root of a lower bound of G), and a fixed number of unrolled steps (``KAPLAN_SMIN_NEWTON_STEPS``,
    via ``ops.iterate``) solves it on numpy, xarray and PyTensor alike.
    """
    la = aN * (ops.log(Nc) - ops.log(N))  # log of the size term (Nc/N)**aN
    lc = aS * (ops.log(Sc) - ops.log(S))  # log of (Sc/S)**aS, the step term at B -> infinity
    lr = ops.log(Bstar) - ops.log(B)  # log(B* / B): B_crit(L) / B = exp(lr - u / aB)
    k = 1 / aB
    # the larger of two lower bounds of the root: log(a + c) and the root of u = lc + aS (lr - k u)
    lac = la + ops.softplus(lc - la)
    u0 = ops.maximum(lac, (lc + aS * lr) / (1 + aS * k))

    def newton_step(u, la, lc, lr, aS, k):
        t = lr - k * u  # log(B_crit(L) / B)
        z = lc + aS * ops.softplus(t) - la  # log(step term / size term)
        G = la + ops.softplus(z)
        slope = k * aS * ops.sigmoid(z) * ops.sigmoid(t)  # -G'(u) >= 0
        return u + (G - u) / (1 + slope)

    u = ops.iterate(newton_step, u0, la, lc, lr, aS, k, n=KAPLAN_SMIN_NEWTON_STEPS)
    return ops.exp(u)


@law(
    name="m2",
    inputs={"x": "D"},
    parameters=[
        Parameter("e_inf", Prior("Normal", mu=-1.0, sigma=1.5), 0.2,
                  "loss (or error) reached as x -> infinity", log=True),
        Parameter("b", Prior("Normal", mu=2.0, sigma=5.0), 30.0,
                  "amplitude (loss x x^c_neg)", log=True, scale={"x": "c_neg"}),
        Parameter("c_neg", Prior("LogNormal", mu=-1.2, sigma=1.0), 0.35,
                  "decay exponent: Alabdulmohsin et al.'s c is -c_neg"),
    ],
    reference="Alabdulmohsin, Neyshabur, Zhai 2022, Revisiting Neural Scaling Laws in Language and "
              "Vision, model M2",
    formula="L(x) = e_inf + b * x**-c_neg",
    min_distinct={"D": 4},
)
def m2(x, e_inf, b, c_neg):
    """L(x) = e_inf + b * x**-c_neg   (M2: y = e_inf + b x^c with c = -c_neg < 0)

    A learning curve in one input, x = examples (or tokens) seen, read from D by default; the
    Revisiting benchmark's "Seen Examples" maps there. Same form as ``power_law`` with priors for
    learning curves, whose losses may be error rates below 1.
    """
    return e_inf + b * x**-c_neg


@law(
    name="broken_power_law",
    inputs={"x": "D"},
    parameters=[
        Parameter("a", Prior("Normal", mu=-1.0, sigma=1.5), 0.2, "floor as x -> infinity", log=True),
        Parameter("b", Prior("Normal", mu=2.0, sigma=5.0), 30.0,
                  "amplitude of the first segment", log=True, scale={"x": "c0"}),
        Parameter("c0", Prior("LogNormal", mu=-1.2, sigma=1.0), 0.3, "exponent before the break"),
        Parameter("c1", Prior("Normal", mu=0.0, sigma=0.5), 0.2,
                  "change of exponent at the break (after it: c0 + c1)"),
        Parameter("d1", Prior("Normal", mu=15.0, sigma=6.0), 1e6, "location of the break, in x",
                  log=True, scale={"x": 1.0}),
        Parameter("f1", Prior("Normal", mu=-1.0, sigma=1.0), 0.5,
                  "sharpness of the break (smaller is sharper)", log=True),
    ],
    reference="Caballero, Gupta, Rish, Krueger 2023, Broken Neural Scaling Laws, eq. 1 with n = 1",
    formula="L(x) = a + b * x**-c0 * (1 + (x / d1)**(1 / f1))**(-c1 * f1)",
    min_distinct={"D": 6},
)
def broken_power_law(x, a, b, c0, c1, d1, f1):
    """L(x) = a + b * x**-c0 * (1 + (x / d1)**(1 / f1))**(-c1 * f1)

    A smoothly broken power law with one break: slope -c0 well before d1, -(c0 + c1) well after.
    x = examples (or tokens) seen, read from D by default.
    """
    return a + b * x**-c0 * (1 + (x / d1) ** (1 / f1)) ** (-c1 * f1)


@law(
    name="m4",
    inputs={"x": "D"},
    parameters=[
        Parameter("e_inf", Prior("Normal", mu=-0.5, sigma=1.5), 0.2,
                  "loss (or error) reached as x -> infinity", log=True),
        Parameter("gap", Prior("Normal", mu=0.0, sigma=1.5), 0.75,
                  "e_0 - e_inf, with e_0 the loss (or error) as x -> 0", log=True),
        Parameter("a", Prior("LogNormal", mu=-1.0, sigma=1.5), 0.2,
                  "shape of the transition (alpha in the paper; towards 0 the curve is M2's)"),
        Parameter("b", Prior("Normal", mu=10.0, sigma=8.0), 1e4,
                  "amplitude (beta in the paper; loss^(1 - a) x x^c_neg)", log=True,
                  scale={"x": "c_neg"}),
        Parameter("c_neg", Prior("LogNormal", mu=-0.7, sigma=1.0), 0.6,
                  "decay exponent: Alabdulmohsin et al.'s c is -c_neg"),
    ],
    reference="Alabdulmohsin, Neyshabur, Zhai 2022, Revisiting Neural Scaling Laws in Language and "
              "Vision, model M4 (eq. 4)",
    formula="(L - e_inf) / (e_inf + gap - L)**a = b * x**-c_neg",
    min_distinct={"D": 5},
)
def m4(x, e_inf, gap, a, b, c_neg):
    """(L - e_inf) / (e_inf + gap - L)**a = b * x**-c_neg   (M4, with e_0 = e_inf + gap, c = -c_neg)

    A sigmoid-like learning curve in log x: L falls from e_0 = e_inf + gap at small x to e_inf, as
    a power law of exponent c_neg once L - e_inf is small against the gap; with a near 0 it is
    M2 (``m2``) capped at e_0. x = examples (or tokens) seen, read from D by default.

    L is implicit. Writing L = e_inf + gap * s with s = sigmoid(u) in (0, 1), the equation is
    ``log s - a log(1 - s) = K`` with ``K = log b - c_neg log x + (a - 1) log gap``, that is
    ``g(u) = u + (a - 1) softplus(u) = K``. g is increasing (g' = sigmoid(-u) + a sigmoid(u)) and
    convex for a > 1, concave for a < 1, and the start ``u0 = K`` (K < 0) or ``K / a`` (K >= 0) is
    the inverse of its asymptotes, on the side from which Newton's method converges monotonically:
    a fixed number of unrolled Newton steps (``M4_NEWTON_STEPS``) solves it for numpy, xarray and
    PyTensor alike, and gradients through the unrolled steps equal the implicit-function
    derivative. Example values: an image-classification error curve (few-shot error falling
    from 0.95 to 0.2 between 1e6 and 1e10 examples seen).
    """
    K = ops.log(b) - c_neg * ops.log(x) + (a - 1) * ops.log(gap)

    def newton_step(u, a, K):
        sp = ops.softplus(u)  # sigmoid(-u) = exp(-sp), sigmoid(u) = exp(u - sp)
        return u - (u + (a - 1) * sp - K) / (ops.exp(-sp) + a * ops.exp(u - sp))

    u0 = K + (1 / a - 1) * (K + abs(K)) / 2  # K where K < 0, K / a where K >= 0
    u = ops.iterate(newton_step, u0, a, K, n=M4_NEWTON_STEPS)
    return e_inf + gap * ops.sigmoid(u)


@law(
    name="curve_power",
    inputs={"N": "N", "t": "D"},
    parameters=[
        Parameter("E", Prior("Normal", mu=0.5, sigma=1.0), 1.8,
                  "irreducible loss (nats/token), shared by all runs", log=True),
        Parameter("A", Prior("Normal", mu=10.0, sigma=6.0), 1.6e5,
                  "curve amplitude (nats/token x params^gamma x tokens^alpha)", log=True,
                  scale={"N": "gamma", "t": "alpha"}),
        Parameter("gamma", Prior("LogNormal", mu=-1.6, sigma=1.0), 0.2,
                  "model-size exponent of the amplitude: the mean of log A_r falls as -gamma log N"),
        Parameter("alpha", Prior("LogNormal", mu=-1.05, sigma=0.75), 0.35,
                  "decay exponent of each training curve in tokens seen"),
    ],
    reference="A per-run power law in the tokens seen, L_r(t) = E + A_r t**-alpha_r, with the "
              "amplitude scaling as N**-gamma; fitting intermediate checkpoints rather than final "
              "losses follows Choshen, Zhang, Andreas 2024, A Hitchhiker's Guide to Scaling Law "
              "Estimation (who fit the Chinchilla form to them)",
    formula="L(N, t) = E + A * N**-gamma * t**-alpha",
    min_distinct={"N": 2, "D": 4},
)
def curve_power(N, t, E, A, gamma, alpha):
    """L(N, t) = E + A * N**-gamma * t**-alpha

    Training curves of several model sizes: the loss of a model of N parameters after t tokens
    seen (read from D; for optimiser steps use ``get_law("curve_power").on("N", "step")`` and
    read A in steps). Meant for a hierarchical fit of checkpoints, with each run's amplitude A_r
    and exponent alpha_r partially pooled around ``A * N**-gamma`` and ``alpha``; as written here
    it is the population curve. Example values: a curve falling from 3.6 to 2.2 nats/token
    between 1e9 and 1e11 tokens for a 1e9-parameter model.
    """
    return E + A * N**-gamma * t**-alpha

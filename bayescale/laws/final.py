"""Laws for final losses of finished runs: L(N, D) and one-input power laws."""

from __future__ import annotations

from .base import Parameter, law
from .priors import Prior

__all__ = ["chinchilla", "chinchilla_bend", "kaplan", "power_law", "kaplan_power"]

# Exponents of loss scaling laws sit between ~0.05 and ~1: LogNormal(log 0.35, 0.75) puts 90% of
# its mass in 0.10-1.2 for Chinchilla-type laws; Kaplan-type exponents are smaller (~0.05-0.1).
_EXPONENT = Prior("LogNormal", mu=-1.05, sigma=0.75)
_SMALL_EXPONENT = Prior("LogNormal", mu=-2.5, sigma=1.0)
# Irreducible loss in nats/token: log E ~ N(0.5, 1) puts 90% of E in 0.3-8.5.
_FLOOR = Prior("Normal", mu=0.5, sigma=1.0)


@law(
    name="chinchilla",
    inputs=["N", "D"],
    parameters=[
        Parameter("E", _FLOOR, 1.69, "irreducible loss (nats/token)", log=True),
        Parameter("A", Prior("Normal", mu=6.0, sigma=3.0), 406.4,
                  "model-size term amplitude (nats/token x params^alpha)", log=True,
                  scale={"N": "alpha"}),
        Parameter("B", Prior("Normal", mu=6.0, sigma=3.0), 410.7,
                  "data term amplitude (nats/token x tokens^beta)", log=True,
                  scale={"D": "beta"}),
        Parameter("alpha", _EXPONENT, 0.34, "model-size exponent (dimensionless)"),
        Parameter("beta", _EXPONENT, 0.28, "data exponent (dimensionless)"),
    ],
    reference="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, eq. 2",
    formula="L(N, D) = E + A / N**alpha + B / D**beta",
    min_distinct={"N": 3, "D": 3},
)
def chinchilla(N, D, E, A, B, alpha, beta):
    """L(N, D) = E + A / N**alpha + B / D**beta

    N: parameters; D: training tokens; L in nats/token. Example values are Hoffmann et al.'s fit
    (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28).
    """
    return E + A / N**alpha + B / D**beta


@law(
    name="chinchilla_bend",
    inputs=["N", "D"],
    parameters=[  # Chinchilla's five, as declared there, and the compute term's two
        *chinchilla.parameters[:3],
        Parameter("G", Prior("Normal", mu=5.0, sigma=4.0), 30.0,
                  "compute term amplitude (nats/token x (N D)^gamma)", log=True,
                  scale={"N": "gamma", "D": "gamma"}),
        *chinchilla.parameters[3:],
        Parameter("gamma", Prior("LogNormal", mu=-1.6, sigma=0.75), 0.1,
                  "compute exponent of the extra term (dimensionless)"),
    ],
    reference=("Chinchilla's form (Hoffmann et al. 2022) plus a power law in N x D (so in C = 6 N D): a "
               "second segment that fades with compute, as in broken neural scaling laws (Caballero et "
               "al. 2023); the log-log curvature along C is no longer fixed by E, alpha and beta"),
    formula="L(N, D) = E + A / N**alpha + B / D**beta + G / (N D)**gamma",
    min_distinct={"N": 3, "D": 3},
)
def chinchilla_bend(N, D, E, A, B, G, alpha, beta, gamma):
    """L(N, D) = E + A / N**alpha + B / D**beta + G / (N D)**gamma

    Chinchilla's law with a third term in compute: where the runs bend along C in a way the floor
    and the two exponents cannot follow (a regime that fades with scale), the G term can, and a
    comparison by leave-future-out (``bs.compare(..., method="lfo")``) weighs it against
    ``chinchilla`` by how each extrapolated. G = 0 is Chinchilla. Example values: Hoffmann et al.'s
    fit with a small compute term (G 30, gamma 0.1).
    """
    return E + A / N**alpha + B / D**beta + G / (N * D) ** gamma


@law(
    name="kaplan",
    inputs=["N", "D"],
    parameters=[
        Parameter("Nc", Prior("Normal", mu=30.0, sigma=5.0), 8.8e13,
                  "critical model size (non-embedding params)", log=True, scale={"N": 1.0}),
        Parameter("Dc", Prior("Normal", mu=30.0, sigma=5.0), 5.4e13,
                  "critical dataset size (tokens)", log=True, scale={"D": 1.0}),
        Parameter("aN", _SMALL_EXPONENT, 0.076, "model-size exponent (dimensionless)"),
        Parameter("aD", _SMALL_EXPONENT, 0.095, "data exponent (dimensionless)"),
    ],
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models, eq. 1.5",
    formula="L(N, D) = ((Nc / N)**(aN / aD) + Dc / D)**aD",
    min_distinct={"N": 3, "D": 3},
)
def kaplan(N, D, Nc, Dc, aN, aD):
    """L(N, D) = ((Nc / N)**(aN / aD) + Dc / D)**aD

    N: non-embedding parameters; D: tokens; no irreducible floor. Example values are Kaplan et
    al.'s WebText2 fit (Nc 8.8e13, Dc 5.4e13, aN 0.076, aD 0.095).
    """
    return ((Nc / N) ** (aN / aD) + Dc / D) ** aD


@law(
    name="power_law",
    inputs={"x": "C"},
    parameters=[
        Parameter("E", _FLOOR, 1.69, "irreducible loss (nats/token)", log=True),
        Parameter("A", Prior("Normal", mu=5.0, sigma=5.0), 1.0e3,
                  "amplitude (nats/token x x^alpha)", log=True, scale={"x": "alpha"}),
        Parameter("alpha", Prior("LogNormal", mu=-1.9, sigma=1.0), 0.15,
                  "exponent (dimensionless)"),
    ],
    reference="Henighan et al. 2020, Scaling Laws for Autoregressive Generative Modeling, eq. 1.1",
    formula="L(x) = E + A * x**-alpha",
    min_distinct={"C": 4},
)
def power_law(x, E, A, alpha):
    """L(x) = E + A * x**-alpha

    One input with an irreducible floor; x is C (FLOPs) by default, ``.on("N")`` or
    ``"power_law:D"`` moves it to parameters or tokens.
    """
    return E + A * x**-alpha


@law(
    name="kaplan_power",
    inputs={"x": "C"},
    parameters=[
        Parameter("xc", Prior("Normal", mu=30.0, sigma=10.0), 2.3e28,
                  "critical scale, in the units of x", log=True, scale={"x": 1.0}),
        Parameter("alpha", _SMALL_EXPONENT, 0.050, "exponent (dimensionless)"),
    ],
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models, eqs. 1.1-1.3",
    formula="L(x) = (xc / x)**alpha",
    min_distinct={"C": 3},
)
def kaplan_power(x, xc, alpha):
    """L(x) = (xc / x)**alpha

    A pure power law with no floor, Kaplan et al.'s form for L(N), L(D) and L(C_min); x is C
    (FLOPs) by default. Example values: Kaplan's compute law (C_c 3.1e8 PF-days = 2.3e28 FLOPs,
    alpha_C 0.050).
    """
    return (xc / x) ** alpha

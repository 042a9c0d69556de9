"""Laws for training curves: loss against steps (or examples seen) during a run."""

from __future__ import annotations

from .base import Parameter, law
from .priors import Prior

__all__ = ["kaplan_steps", "m2", "broken_power_law"]


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

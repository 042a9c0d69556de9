"""Muennighoff et al.'s data-constrained law: L(N, D, U) with repeated tokens and excess parameters.

Chinchilla's law counts every token and every parameter at full value. Muennighoff et al. 2023
("Scaling Data-Constrained Language Models", arXiv:2305.16264; written here as their fitting code,
``utils/parametric_fit.ipynb`` and the README of github.com/huggingface/datablations, computes it)
replace D and N by effective counts that decay as data is repeated:

- ``U_D = min(U, D)`` unique tokens seen, ``R_D = D / U_D - 1`` repetitions beyond the first epoch,
  ``D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))``: repeated tokens are worth less and less, and
  however often the data is repeated, ``D'`` never exceeds ``U_D (1 + R_D*)``;
- ``U_N = min(N, N_opt(U_D))``, the parameters that are compute-optimal for ``U_D`` tokens by the
  law's own Chinchilla allocation (``alpha A / N**alpha = beta B / D**beta``, so
  ``N_opt(U_D) = (alpha A / (beta B))**(1/alpha) U_D**(beta/alpha)``), ``R_N = N / U_N - 1``
  excess parameters, ``N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*))``.

The paper's ``U_N`` is computed exactly so, with the law's A, B, alpha and beta (the notebook's
``min(optimal_N(D_to_C(U)), N)``), not with a fixed tokens-per-parameter ratio.
"""

from __future__ import annotations

import math

from . import _ops as ops
from .base import Parameter, law
from .priors import Prior

__all__ = ["data_constrained", "optimal_unique_parameters", "MUENNIGHOFF2023_C4"]

#: Muennighoff et al.'s published values, as printed by their fitting notebook: log A 6.255414,
#: log B 7.3049974, log E 0.6254804, alpha = beta 0.3526596 (fitted to Chinchilla's C4 isoFLOP
#: points, Hoffmann et al. 2022 appendix), then R_D* 15.387756 and R_N* 5.309743 (fitted to their
#: own C4 runs with the other five held fixed).
MUENNIGHOFF2023_C4 = {
    "E": math.exp(0.6254804),
    "A": math.exp(6.255414),
    "B": math.exp(7.3049974),
    "alpha": 0.3526596,
    "beta": 0.3526596,
    "R_D_star": 15.387756,
    "R_N_star": 5.309743,
}

# As in final.py: exponents LogNormal(log 0.35, 0.75), floor log E ~ N(0.5, 1), amplitudes
# log A, log B ~ N(6, 3).
_EXPONENT = Prior("LogNormal", mu=-1.05, sigma=0.75)
_FLOOR = Prior("Normal", mu=0.5, sigma=1.0)
_AMPLITUDE = Prior("Normal", mu=6.0, sigma=3.0)
# The decay constants R* are counts of repetitions (epochs beyond the first, or multiples of the
# compute-optimal size). LogNormal(2, 1): median e**2 = 7.4, 90% between 1.4 and 38. Deliberately
# not centred on the published 15.4 and 5.3: a fit that lands there has found them in the data.
_DECAY = Prior("LogNormal", mu=2.0, sigma=1.0)


def optimal_unique_parameters(U, A, B, alpha, beta):
    """Compute-optimal parameters for ``U`` tokens by Chinchilla's allocation: ``N_opt(U)``.

    The ``N`` at which ``alpha A / N**alpha = beta B / U**beta``: where the model-size and data
    terms shrink at the same rate per FLOP. Written with the ops shim, so it works on numpy,
    xarray and PyTensor input. Muennighoff et al. call the smaller of this and ``N`` the unique
    parameters ``U_N``.

    Parameters
    ----------
    U : array_like
        Unique tokens.
    A, B, alpha, beta : array_like
        Chinchilla parameters (natural scale).

    Returns
    -------
    array_like
        Parameters, broadcast over the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> # Muennighoff et al.'s C4 coefficients: 55B tokens are compute-optimal for 2.8B parameters
    >>> A, B, ab = np.exp(6.255414), np.exp(7.3049974), 0.3526596
    >>> round(float(optimal_unique_parameters(55e9, A, B, ab, ab)) / 1e9, 3)
    2.804
    """
    return ops.exp((ops.log(alpha * A / (beta * B)) + beta * ops.log(U)) / alpha)


@law(
    name="data_constrained",
    inputs=["N", "D", "U"],
    parameters=[
        Parameter("E", _FLOOR, MUENNIGHOFF2023_C4["E"], "irreducible loss (nats/token)", log=True),
        Parameter("A", _AMPLITUDE, MUENNIGHOFF2023_C4["A"],
                  "model-size term amplitude (nats/token x params^alpha)", log=True,
                  scale={"N": "alpha"}),
        Parameter("B", _AMPLITUDE, MUENNIGHOFF2023_C4["B"],
                  "data term amplitude (nats/token x tokens^beta)", log=True,
                  scale={"D": "beta"}),
        Parameter("alpha", _EXPONENT, MUENNIGHOFF2023_C4["alpha"],
                  "model-size exponent (dimensionless, > 0: N_opt takes the power 1/alpha)"),
        Parameter("beta", _EXPONENT, MUENNIGHOFF2023_C4["beta"], "data exponent (dimensionless, > 0)"),
        Parameter("R_D_star", _DECAY, MUENNIGHOFF2023_C4["R_D_star"],
                  "repetitions of the data after which repeated tokens are worth 1/e of fresh ones "
                  "(epochs beyond the first); D' saturates at U (1 + R_D_star)"),
        Parameter("R_N_star", _DECAY, MUENNIGHOFF2023_C4["R_N_star"],
                  "excess parameters (multiples of the compute-optimal size for U) after which "
                  "extra parameters are worth 1/e of useful ones"),
    ],
    reference=("Muennighoff et al. 2023, Scaling Data-Constrained Language Models "
               "(arXiv:2305.16264); fitting code: huggingface/datablations "
               "utils/parametric_fit.ipynb"),
    formula=("L(N, D, U) = E + A / N'**alpha + B / D'**beta, D' = U_D (1 + R_D* (1 - exp(-R_D / R_D*))), "
             "N' = U_N (1 + R_N* (1 - exp(-R_N / R_N*)))"),
    min_distinct={"N": 3, "D": 3, "U": 3},
    # D and U enter as a ratio (epochs), so they must share one pivot; the default pivots are
    # per input (the geometric mean of each column), which would change D / U. Fitting on the
    # raw inputs is always right; pass pivot={"N": pN, "D": pD, "U": pD} to bs.fit to pivot (the
    # scales above are declared for that, and checked in the tests).
    pivot=False,
)
def data_constrained(N, D, U, E, A, B, alpha, beta, R_D_star, R_N_star):
    """L(N, D, U) = E + A / N'**alpha + B / D'**beta with effective N' and D' for repeated data

    N: parameters; D: training tokens (all epochs); U: unique tokens available (U >= D means no
    repetition). Example values are Muennighoff et al.'s C4 fit (E 1.869, A 520.8, B 1487.7,
    alpha = beta 0.3527, R_D* 15.39, R_N* 5.31); A, B, E, alpha and beta there come from
    Chinchilla's C4 isoFLOP points and were held fixed while R_D* and R_N* were fitted.
    With U >= D and N no larger than compute-optimal for D tokens, the law is Chinchilla's exactly.
    """
    U_D = ops.minimum(U, D)
    R_D = D / U_D - 1.0
    D_eff = U_D * (1.0 - R_D_star * ops.expm1(-R_D / R_D_star))
    U_N = ops.minimum(N, optimal_unique_parameters(U_D, A, B, alpha, beta))
    R_N = N / U_N - 1.0
    N_eff = U_N * (1.0 - R_N_star * ops.expm1(-R_N / R_N_star))
    return E + A / N_eff**alpha + B / D_eff**beta

"""Laws for training curves under a known learning-rate schedule.

A schedule-aware law reads columns that summarise each run's learning-rate schedule up to the
checkpoint (built by :class:`bayescale.Schedule` and ``RunTable.with_schedules``; see
:mod:`bayescale.runs.schedule`), so a fit on runs with some schedules predicts the curve of a run with
another:

- ``multi_power``: Luo et al. 2025's multi-power law,
  ``L(t) = L0 + A (S1(t) + S_W)**-alpha - LD(t)`` with
  ``LD(t) = B sum_k (lr_{k-1} - lr_k) G(lr_k**-gamma S_k(t))``, ``G(x) = 1 - (C x + 1)**-beta`` and
  ``S_k(t) = sum_{tau=k..t} lr_tau``: a power law in the learning-rate area plus the loss reduction
  that each drop of the rate brings, saturating as training goes on after it.
- ``annealing``: Tissue et al. 2024's annealing law, ``L(t) = L0 + A S1**-alpha - C S2``, with S2 the
  annealing area (a momentum-smoothed sum of the drops, decay 0.999).

Both describe the loss after the warm-up and a learning rate that does not rise after it.
"""

from __future__ import annotations

import inspect

from . import _ops as ops
from .base import Law, Parameter, register
from .priors import Prior

__all__ = ["DROP_BINS", "LR_REF", "NONNEGATIVE_COLUMNS", "SCHEDULE_COLUMNS", "annealing", "drop_columns", "multi_power",
           "reads_schedule"]

#: Bins of a run's drop history (see :mod:`bayescale.runs.schedule`): bin j holds the drops
#: ``2**(j/2) .. 2**((j+1)/2)`` steps before the checkpoint; 40 bins reach 2**20 steps back.
DROP_BINS = 40


def drop_columns(j: int) -> tuple[str, str, str]:
    """Columns of drop bin ``j``: summed drop, mean area since the drop, mean rate at the drop."""
    return f"lr_drop_{j}", f"lr_drop_area_{j}", f"lr_drop_lr_{j}"


#: Schedule columns that are zero where nothing has happened yet (no drop in a bin, no annealing):
#: the run table checks them for >= 0 where other law inputs must be > 0.
NONNEGATIVE_COLUMNS = frozenset({"lr_anneal", *(drop_columns(j)[0] for j in range(DROP_BINS))})

#: Every column a schedule's features fill (``RunTable.with_schedules``, ``Schedule.features``).
SCHEDULE_COLUMNS = frozenset({"lr_area", "lr_anneal", *(c for j in range(DROP_BINS) for c in drop_columns(j))})


def reads_schedule(law: Law) -> bool:
    """Whether ``law`` reads the learning-rate schedule's columns (so its inputs come from a Schedule)."""
    return any(c in SCHEDULE_COLUMNS for c in law.inputs)


def _keyword_law(name: str, inputs: tuple[str, ...], parameters: list[Parameter], body, **kw) -> Law:
    """A registered law whose body takes many inputs as keywords (one signature for the checks)."""

    def func(**values):
        return body(**values)

    names = [*inputs, *(p.name for p in parameters)]
    func.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names])
    func.__name__ = func.__qualname__ = name
    func.__doc__ = body.__doc__
    func.__wrapped__ = body  # Law.source_hash hashes the body's source, not these two lines
    return register(Law(name=name, func=func, inputs=inputs, parameters=tuple(parameters), **kw))


#: The rate against which multi_power measures the rate after a drop: the law reads
#: ``C * (lr / LR_REF)**-gamma`` where Luo et al. write ``C' * lr**-gamma`` (``C' = C * LR_REF**gamma``), so C
#: and gamma are not bound together by the scale of the rate (with absolute rates near 3e-4,
#: ``lr**-gamma`` moves with gamma by a factor of 8 per unit and C must follow it).
LR_REF = 1e-3


def _drop_term(d, s, r, C, beta, gamma):
    """One drop bin's loss reduction (before the factor B): ``d (1 - (C (r / LR_REF)**-gamma s + 1)**-beta)``."""
    return d * (1 - (C * (r / LR_REF) ** -gamma * s + 1) ** -beta)


def _multi_power(*, lr_area, L0, A, alpha, B, C, beta, gamma, **bins):
    """L(t) = L0 + A * S1**-alpha - B * sum_j d_j * (1 - (C * (r_j / LR_REF)**-gamma * s_j + 1)**-beta)

    S1: the learning-rate area up to t, warm-up included (``lr_area``); per drop bin j: d_j the summed
    drops of the rate (``lr_drop_j``), s_j the mean area from the drops to t (``lr_drop_area_j``),
    r_j the mean rate just after the drops (``lr_drop_lr_j``).
    """
    reduction = ops.sum_over(_drop_term, [tuple(bins[c] for c in drop_columns(j)) for j in range(DROP_BINS)],
                             C, beta, gamma)
    return L0 + A * lr_area**-alpha - B * reduction


#: L0 + A * S1**-alpha, the power law in the learning-rate area both schedule laws start from.
_AREA_POWER = (
    Parameter("L0", Prior("Normal", mu=0.5, sigma=1.0), 3.0,
              "loss as the learning-rate area grows without bound (nats/token)", log=True),
    Parameter("A", Prior("Normal", mu=0.0, sigma=2.0), 0.5,
              "amplitude of the power law in the learning-rate area (nats/token x area^alpha)",
              log=True),
    Parameter("alpha", Prior("LogNormal", mu=-0.7, sigma=0.7), 0.5,
              "exponent of the power law in the learning-rate area"),
)


multi_power = _keyword_law(
    "multi_power",
    ("lr_area", *(c for j in range(DROP_BINS) for c in drop_columns(j))),
    [
        *_AREA_POWER,
        Parameter("B", Prior("Normal", mu=6.0, sigma=3.0), 500.0,
                  "loss reduction per unit drop of the learning rate, at saturation (nats/token / lr)",
                  log=True),
        Parameter("C", Prior("Normal", mu=0.0, sigma=3.0), 2.0,
                  "speed at which a drop's reduction saturates (per unit of (lr / 1e-3)**-gamma x area)",
                  log=True),
        Parameter("beta", Prior("LogNormal", mu=-0.7, sigma=0.7), 0.5,
                  "exponent of the saturation G(x) = 1 - (C x + 1)**-beta"),
        Parameter("gamma", Prior("LogNormal", mu=-0.7, sigma=0.7), 0.6,
                  "how the rate after a drop scales its saturation (lr**-gamma)"),
    ],
    _multi_power,
    reference=("Luo, Wen, Li et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning "
               "Rate Schedules, ICLR 2025 (arXiv:2503.12811), eq. 5"),
    formula="L(t) = L0 + A*S1**-alpha - B*sum_k (lr_{k-1}-lr_k)*(1 - (C*(lr_k/1e-3)**-gamma*S_k(t) + 1)**-beta)",
    min_distinct={"lr_area": 4},
    pivot=False,
)


def _annealing(*, lr_area, lr_anneal, L0, A, alpha, C):
    """L(t) = L0 + A * S1**-alpha - C * S2

    S1: the learning-rate area up to t (``lr_area``); S2: the annealing area (``lr_anneal``).
    """
    return L0 + A * lr_area**-alpha - C * lr_anneal


annealing = _keyword_law(
    "annealing",
    ("lr_area", "lr_anneal"),
    [
        *_AREA_POWER,
        Parameter("C", Prior("Normal", mu=0.0, sigma=3.0), 1.0,
                  "loss reduction per unit of annealing area (nats/token / (lr x steps))", log=True),
    ],
    _annealing,
    reference=("Tissue, Wang, Wang et al. 2024, Scaling Law with Learning Rate Annealing "
               "(arXiv:2408.11029), eq. 1 with decay 0.999"),
    formula="L(t) = L0 + A*S1**-alpha - C*S2",
    min_distinct={"lr_area": 4},
    pivot=False,
)

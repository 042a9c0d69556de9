"""Learning-rate schedules and the features of a run's schedule that schedule-aware laws read.

A :class:`Schedule` is the learning rate at every optimiser step of one run, ``lr[s - 1]`` at step
``s = 1 .. total``, with the length of its linear warm-up. Build one from the usual shapes
(:meth:`Schedule.constant`, :meth:`~Schedule.cosine`, :meth:`~Schedule.wsd`, :meth:`~Schedule.linear`,
:meth:`~Schedule.two_stage`) or from a logged learning-rate column (:meth:`Schedule.from_steps`).

Laws cannot read a schedule, only columns, so :func:`schedule_features` (and
:meth:`RunTable.with_schedules <bayescale.runs.RunTable.with_schedules>`) turns each run's schedule
into columns at its checkpoints:

- ``lr_area``: S1(t) = sum of the learning rate over steps 1..t, warm-up included (Luo et al.
  2025's S1 + S_W; Tissue et al. 2024's forward area S1).
- ``lr_anneal``: Tissue et al. 2024's annealing area S2(t) = sum_{i<=t} m_i with momentum
  m_i = decay * m_{i-1} + (lr_{i-1} - lr_i) (decay ``ANNEAL_DECAY`` = 0.999, their default), counted
  after the warm-up.
- ``lr_drop_j``, ``lr_drop_area_j``, ``lr_drop_lr_j`` for ``j < DROP_BINS``: the learning-rate
  drops before t grouped by how long ago they happened, which the multi-power law's loss-reduction
  term sums over (see :func:`bayescale.laws.schedule.multi_power`). Drop k (lr_{k-1} - lr_k, after
  the warm-up) enters bin j when the number of steps from k to t, ``t - k + 1``, is in
  ``[2**(j / 2), 2**((j + 1) / 2))``; per bin the columns hold the summed drop, the drop-weighted
  mean of ``S_k(t) = sum_{tau=k..t} lr_tau`` and the drop-weighted geometric mean of ``lr_k``.
  Within a bin S_k(t) varies by a factor of at most sqrt(2); evaluating the law at the bin's means
  instead of at every drop changes the loss by less than 2e-4 relative (0.02%, a fifth of the smallest
  error Luo et al. publish) at parameters like theirs (tests/runs/test_schedule.py measures it against the exact sum).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..laws.schedule import DROP_BINS, drop_columns

__all__ = [
    "ANNEAL_DECAY",
    "DROP_BINS",
    "Schedule",
    "ScheduleError",
    "drop_columns",
    "schedule_features",
]

#: Momentum decay of Tissue et al.'s annealing area S2 (their default, 0.999).
ANNEAL_DECAY = 0.999
#: Longest schedule the drop bins cover (steps).
MAX_STEPS = 2 ** (DROP_BINS // 2)


class ScheduleError(ValueError):
    """A learning-rate schedule that is malformed or that a schedule-aware law cannot use."""


@dataclass(frozen=True, eq=False)
class Schedule:
    """The learning rate at every step of a run: ``lr[s - 1]`` at step ``s``; the first ``warmup``
    steps are a warm-up, which schedule-aware laws do not represent (fit checkpoints after it)."""

    lr: np.ndarray
    warmup: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        lr = np.asarray(self.lr, dtype=float)
        if lr.ndim != 1 or lr.size == 0:
            raise ScheduleError(f"schedule {self.name!r}: lr must be a non-empty 1-D array, got shape {lr.shape}")
        bad = np.flatnonzero(~np.isfinite(lr) | (lr <= 0))
        if bad.size:
            raise ScheduleError(
                f"schedule {self.name!r}: the learning rate must be finite and > 0 at every step; "
                f"step {bad[0] + 1} has {lr[bad[0]]:g}"
            )
        if lr.size > MAX_STEPS:
            raise ScheduleError(f"schedule {self.name!r}: {lr.size} steps; at most {MAX_STEPS} are supported")
        if not 0 <= int(self.warmup) < lr.size:
            raise ScheduleError(f"schedule {self.name!r}: warmup={self.warmup} must be in [0, {lr.size})")
        lr.setflags(write=False)
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "warmup", int(self.warmup))

    # -- the usual shapes ---------------------------------------------------------------------
    @staticmethod
    def _warm(peak: float, warmup: int) -> np.ndarray:
        return peak * np.arange(1, warmup + 1) / warmup if warmup else np.empty(0)

    @classmethod
    def constant(cls, peak: float, steps: int, *, warmup: int = 0) -> Schedule:
        """Linear warm-up to ``peak`` over ``warmup`` steps, then ``peak`` until ``steps``."""
        cls._check_steps(steps, warmup)
        return cls(np.concatenate([cls._warm(peak, warmup), np.full(steps - warmup, float(peak))]), warmup,
                   f"constant_{steps}")

    @classmethod
    def cosine(cls, peak: float, final: float, steps: int, *, warmup: int = 0) -> Schedule:
        """Warm-up, then a half cosine from ``peak`` (at the end of the warm-up) to ``final`` at ``steps``."""
        cls._check_steps(steps, warmup)
        s = np.arange(warmup + 1, steps + 1)
        frac = (s - warmup) / (steps - warmup)
        body = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * frac))
        return cls(np.concatenate([cls._warm(peak, warmup), body]), warmup, f"cosine_{steps}")

    @classmethod
    def linear(cls, peak: float, final: float, steps: int, *, warmup: int = 0) -> Schedule:
        """Warm-up, then a straight line from ``peak`` to ``final`` at ``steps``."""
        return cls.wsd(peak, final, warmup, steps, warmup=warmup, decay="linear")

    @classmethod
    def wsd(cls, peak: float, final: float, stable_until: int, steps: int, *, warmup: int = 0,
            decay: str = "linear") -> Schedule:
        """Warm-up, stable at ``peak`` until ``stable_until``, then decay to ``final`` at ``steps``.

        ``decay``: ``"linear"``, ``"geometric"`` (log-linear) or ``"cosine"``.
        """
        cls._check_steps(steps, warmup)
        if not warmup <= stable_until < steps:
            raise ScheduleError(f"stable_until={stable_until} must be in [warmup={warmup}, steps={steps})")
        s = np.arange(stable_until + 1, steps + 1)
        frac = (s - stable_until) / (steps - stable_until)
        if decay == "linear":
            tail = peak + (final - peak) * frac
        elif decay == "geometric":
            tail = peak * (final / peak) ** frac
        elif decay == "cosine":
            tail = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * frac))
        else:
            raise ScheduleError(f"decay={decay!r}; use 'linear', 'geometric' or 'cosine'")
        stable = np.full(stable_until - warmup, float(peak))
        return cls(np.concatenate([cls._warm(peak, warmup), stable, tail]), warmup,
                   f"wsd_{decay}_{stable_until}_{steps}")

    @classmethod
    def two_stage(cls, peak: float, second: float, switch: int, steps: int, *, warmup: int = 0) -> Schedule:
        """Warm-up, ``peak`` before step ``switch``, then ``second`` from step ``switch`` to ``steps``."""
        cls._check_steps(steps, warmup)
        if not warmup < switch <= steps:
            raise ScheduleError(f"switch={switch} must be in (warmup={warmup}, steps={steps}]")
        body = np.where(np.arange(warmup + 1, steps + 1) < switch, float(peak), float(second))
        return cls(np.concatenate([cls._warm(peak, warmup), body]), warmup, f"two_stage_{switch}_{steps}")

    @classmethod
    def from_steps(cls, steps: Sequence[float], lr: Sequence[float], *, warmup: int = 0,
                   total: int | None = None) -> Schedule:
        """A schedule from the learning rate logged at some steps, linearly interpolated between them
        (and held constant after the last logged step up to ``total``).

        Logged rates between which the schedule changes shape (a two-stage drop between two logged
        steps) come out as a ramp: log the steps where the shape changes, or build the schedule from
        its shape.
        """
        s = np.asarray(steps, dtype=float)
        r = np.asarray(lr, dtype=float)
        if s.shape != r.shape or s.ndim != 1 or s.size < 1:
            raise ScheduleError(f"steps and lr must be 1-D arrays of one length; got {s.shape} and {r.shape}")
        if np.any(np.diff(s) <= 0):
            i = int(np.flatnonzero(np.diff(s) <= 0)[0])
            raise ScheduleError(f"steps must increase; step {s[i + 1]:g} (position {i + 1}) follows {s[i]:g}")
        end = int(total if total is not None else s[-1])
        if end < s[-1]:
            raise ScheduleError(f"total={end} is before the last logged step {s[-1]:g}")
        grid = np.arange(1, end + 1)
        return cls(np.interp(grid, s, r), warmup, "from_steps")

    @staticmethod
    def _check_steps(steps: int, warmup: int) -> None:
        if int(steps) != steps or steps < 1:
            raise ScheduleError(f"steps must be a positive integer, got {steps!r}")
        if not 0 <= warmup < steps:
            raise ScheduleError(f"warmup={warmup} must be in [0, steps={steps})")

    # -- what laws read -----------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Number of steps the schedule covers."""
        return int(self.lr.size)

    def __len__(self) -> int:
        return self.total

    def __repr__(self) -> str:
        return (f"Schedule({self.name or 'custom'!r}, steps={self.total}, warmup={self.warmup}, "
                f"lr {self.lr[self.warmup]:.3g} -> {self.lr[-1]:.3g})")

    def drops(self) -> np.ndarray:
        """``lr_{k-1} - lr_k`` at every step k (``drops()[k - 1]``), zero in the warm-up.

        Raises :class:`ScheduleError` where the rate rises after the warm-up (a re-warm): the
        multi-power and annealing laws describe non-increasing schedules only.
        """
        d = np.zeros(self.total)
        d[1:] = self.lr[:-1] - self.lr[1:]
        d[: self.warmup + 1] = 0.0
        rises = np.flatnonzero(d < -1e-12 * self.lr.max())
        if rises.size:
            k = int(rises[0]) + 1
            raise ScheduleError(
                f"schedule {self.name!r}: the learning rate rises after the warm-up (step {k}: "
                f"{self.lr[k - 2]:.4g} -> {self.lr[k - 1]:.4g}); schedule-aware laws here describe "
                "non-increasing schedules after the warm-up. Set warmup= to cover the rise, or fit the "
                "phases separately"
            )
        return np.maximum(d, 0.0)

    def features(self, steps: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """The schedule's columns at checkpoints ``steps`` (see the module docstring)."""
        t = np.asarray(steps, dtype=float)
        if t.ndim != 1:
            raise ScheduleError(f"steps must be 1-D, got shape {t.shape}")
        bad = np.flatnonzero((t != np.round(t)) | (t < 1) | (t > self.total))
        if bad.size:
            raise ScheduleError(
                f"schedule {self.name!r} covers steps 1..{self.total}; checkpoint step {t[bad[0]]:g} is "
                "outside it (give the schedule of the whole run, or its planned length)"
            )
        t = t.astype(int)
        lr = self.lr
        area = np.concatenate([[0.0], np.cumsum(lr)])  # area[s] = sum of lr over steps 1..s
        drops = self.drops()
        out: dict[str, np.ndarray] = {"lr_area": area[t]}

        # Tissue et al.'s S2: m_i = decay m_{i-1} + drop_i; S2(t) = sum_{i<=t} m_i
        m = np.zeros(self.total)
        acc = 0.0
        for i, d in enumerate(drops):  # a plain loop: 1e5 steps take ~20 ms
            acc = ANNEAL_DECAY * acc + d
            m[i] = acc
        out["lr_anneal"] = np.concatenate([[0.0], np.cumsum(m)])[t]

        cols = {name: np.zeros(t.size) for j in range(DROP_BINS) for name in drop_columns(j)}
        k_all = np.flatnonzero(drops > 0) + 1  # steps with a drop
        d_all = drops[k_all - 1]
        for row, tt in enumerate(t):
            k = k_all[k_all <= tt]
            if k.size == 0:
                continue
            d = d_all[: k.size]
            span = tt - k + 1  # steps from k to t
            s_k = area[tt] - area[k - 1]
            j = np.minimum((2 * np.log2(span)).astype(int), DROP_BINS - 1)
            tot = np.bincount(j, weights=d, minlength=DROP_BINS)
            mean_s = np.bincount(j, weights=d * s_k, minlength=DROP_BINS)
            mean_log_lr = np.bincount(j, weights=d * np.log(lr[k - 1]), minlength=DROP_BINS)
            hit = tot > 0
            for jj in np.flatnonzero(hit):
                c_drop, c_area, c_lr = drop_columns(jj)
                cols[c_drop][row] = tot[jj]
                cols[c_area][row] = mean_s[jj] / tot[jj]
                cols[c_lr][row] = np.exp(mean_log_lr[jj] / tot[jj])
        for j in range(DROP_BINS):  # an empty bin: drop 0, and area and rate 1 so that every power is finite
            c_drop, c_area, c_lr = drop_columns(j)
            empty = cols[c_drop] == 0
            cols[c_area][empty] = 1.0
            cols[c_lr][empty] = 1.0
        out.update(cols)
        return out


def schedule_features(steps: np.ndarray, runs: np.ndarray,
                      schedules: Schedule | Mapping[object, Schedule]) -> dict[str, np.ndarray]:
    """Columns of :meth:`Schedule.features` for a table's rows, and ``lr_warmup`` (each row's run's
    warm-up length): ``schedules`` maps each run id to its schedule (or is one schedule for every run)."""
    steps = np.asarray(steps, dtype=float)
    runs = np.asarray(runs, dtype=object)
    out: dict[str, np.ndarray] | None = None
    for rid in dict.fromkeys(runs.tolist()):
        if isinstance(schedules, Schedule):
            sched = schedules
        else:
            if rid not in schedules:
                raise ScheduleError(f"no schedule for run {rid!r}; schedules= has {list(schedules)[:5]}")
            sched = schedules[rid]
            if not isinstance(sched, Schedule):
                raise ScheduleError(f"schedules[{rid!r}] is a {type(sched).__name__}, not a bs.Schedule")
        rows = np.flatnonzero(runs == rid)
        try:
            feats = sched.features(steps[rows])
        except ScheduleError as err:
            raise ScheduleError(f"run {rid!r}: {err}") from None
        feats["lr_warmup"] = np.full(rows.size, float(sched.warmup))
        if out is None:
            out = {k: np.zeros(steps.size) for k in feats}
        for k, v in feats.items():
            out[k][rows] = v
    return out or {}

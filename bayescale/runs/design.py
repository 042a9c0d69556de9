"""Can these runs identify this law? Checks on the design alone (no fit needed): distinct values per
input, collinear inputs, runs per parameter. :func:`bayescale.fit` warns with these sentences."""

from __future__ import annotations

import numpy as np

from ..laws import Law, get_law
from ..laws.schedule import SCHEDULE_COLUMNS
from .table import RunTable

__all__ = ["design_problems", "IdentifiabilityWarning", "DISTINCT_RTOL", "COLLINEAR_R", "RUNS_PER_PARAMETER",
           "LEVEL_GAP", "compute_levels"]

#: Runs whose log10 C lie within this many decades of the next are one compute level (an isoFLOP
#: budget); continuous C (digitised points) gives one level per gap.
LEVEL_GAP = 0.04


def compute_levels(C: np.ndarray, *, gap: float = LEVEL_GAP) -> list[tuple[float, float]]:
    """The compute levels of a table, smallest first, as ``(lowest C, highest C)`` of each: sorted
    log10 C cut wherever two consecutive values are more than ``gap`` decades apart.

    Examples
    --------
    >>> compute_levels(np.array([1e18, 1.02e18, 1e19, 3e19]))
    [(1e+18, 1.02e+18), (1e+19, 1e+19), (3e+19, 3e+19)]
    """
    c = np.sort(np.asarray(C, dtype=float))
    cuts = np.flatnonzero(np.diff(np.log10(c)) > gap) + 1
    return [(float(g[0]), float(g[-1])) for g in np.split(c, cuts)]  # the runs' own values: no round trip

#: Values of an input within this relative distance count as one.
DISTINCT_RTOL = 0.01
#: Inputs whose logs correlate beyond this cannot be told apart.
COLLINEAR_R = 0.99
#: Fewer rows than this per law parameter leave the fit to the prior.
RUNS_PER_PARAMETER = 3


class IdentifiabilityWarning(UserWarning):
    """Runs whose design cannot pin down the law's parameters (the prior decides them)."""


def _n_distinct(values: np.ndarray, rtol: float = DISTINCT_RTOL) -> int:
    """Distinct values, counting those within ``rtol`` of their neighbour as one."""
    v = np.sort(np.log(np.asarray(values, dtype=float)))
    if v.size == 0:
        return 0
    return int(1 + np.sum(np.diff(v) > np.log1p(rtol)))


def design_problems(runs: RunTable, law: Law | str) -> list[str]:
    """What in the design of the runs keeps the law's parameters from being identified.

    For each input the law reads: at least 3 distinct values (more where the law declares it
    needs more; values within 1% count as one); no two inputs collinear in log space
    (``|corr(log N, log D)| > 0.99``, e.g. every run at one tokens-per-parameter ratio, so N and
    D cannot be told apart); and at least 3 rows per law parameter.

    Returns
    -------
    list of str
        One plain-language problem each; empty when the design is fine.

    Examples
    --------
    >>> design_problems(runs, "chinchilla")  # doctest: +SKIP
    ['only 2 distinct values of N (1e+08, 1e+09): ...']
    """
    law = get_law(law) if isinstance(law, str) else law
    out = []
    # a schedule's drop-bin columns summarise its history; they are not axes of the design
    cols = {inp: runs.column(inp) for inp in law.inputs if inp not in SCHEDULE_COLUMNS or inp == "lr_area"}
    for inp, x in cols.items():
        need = max(3, int(law.min_distinct.get(inp, 0)))
        have = _n_distinct(x)
        if have < need:
            shown = ", ".join(f"{v:.3g}" for v in np.unique(x)[:6])
            exps: list[str] = []
            for p in law.parameters:
                power = law.scale_exponents(p).get(inp)
                if power is not None:
                    exps += [p.name] + ([power] if isinstance(power, str) else [])
            what = f"the dependence on {inp}" + (f" ({', '.join(exps)})" if exps else "")
            out.append(
                f"only {have} distinct value(s) of {inp} ({shown}); law {law.spec!r} needs at least "
                f"{need} to pin down {what} and check the law's form along {inp}: with fewer, the "
                f"prior decides it. Add runs at other {inp}."
            )
    names = list(cols)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            la, lb = np.log(cols[a]), np.log(cols[b])
            if np.ptp(la) == 0 or np.ptp(lb) == 0:
                continue
            r = float(np.corrcoef(la, lb)[0, 1])
            if abs(r) > COLLINEAR_R:
                ratio = np.exp(np.median(lb - la))
                out.append(
                    f"{a} and {b} move together (correlation of log {a} and log {b} = {r:+.3f}; "
                    f"e.g. {b}/{a} about {ratio:.3g} throughout): the runs cannot tell the effect of "
                    f"{a} from that of {b}, so their separate terms and exponents rest on the prior. "
                    f"Vary {b} at a fixed {a} (an isoFLOP design does)."
                )
    n_par = len(law.parameters)
    unit = "checkpoints" if runs.curve_axis is not None else "runs"
    if len(runs) < RUNS_PER_PARAMETER * n_par:
        out.append(
            f"only {len(runs)} {unit} for a law of {n_par} parameters (fewer than "
            f"{RUNS_PER_PARAMETER} per parameter, {RUNS_PER_PARAMETER * n_par}): the fit leans on the "
            "prior and has little to check the law's form against. Add runs, or fit a law with "
            "fewer parameters."
        )
    return out



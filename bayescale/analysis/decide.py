"""Deciding what to train: the compute-optimal allocation and a decision table for candidate runs.

Both work on the stored posterior draws (numpy/xarray only): one optimum per draw, so the answer is a
posterior over N*, D*, tokens per parameter and the loss at the optimum, not a point read off a curve.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._policy import CI_PROB
from ..results import Fit
from .compare import AveragedFit, Comparison, mix_draws
from .predict import (
    SAMPLE_DIMS,
    PredictionInputError,
    _as_fit,
    extrapolation_decades,
    loss_draws,
    warn_if_far,
)

__all__ = ["Allocation", "DecisionError", "compute_optimal", "decide"]

#: The numerical optimiser searches tokens per parameter D/N over this range (both ends excluded:
#: a draw whose best grid point is an end has no interior optimum there and gets NaN).
TOKENS_PER_PARAM_RANGE = (1e-6, 1e10)
#: Golden-section steps after the grid: shrink the bracket by 0.618**GOLDEN_STEPS (about 1e-16).
GOLDEN_STEPS = 80
QUANTITIES = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")
_INV_PHI = (np.sqrt(5.0) - 1.0) / 2.0

AnyFit = Fit | AveragedFit | Comparison


class DecisionError(ValueError):
    """A budget, candidate or baseline that cannot be used, or a law with no compute-optimal split."""


class NoInteriorOptimumWarning(UserWarning):
    """Posterior draws whose loss at fixed compute has no minimum inside the searched range."""


# -- compute-optimal allocation ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Allocation:
    """The posterior of the compute-optimal allocation, from :func:`compute_optimal`.

    Attributes
    ----------
    draws : xarray.Dataset
        ``N_opt``, ``D_opt`` (= C / (6 N_opt)), ``tokens_per_param`` (D_opt / N_opt) and
        ``loss_opt`` (the law's mean loss at the optimum), dims ``(chain, draw, budget)`` with the
        budgets in FLOPs as the ``budget`` coordinate; for Chinchilla also the budget-free
        exponents ``a`` = beta/(alpha+beta) and ``b`` = alpha/(alpha+beta), dims ``(chain, draw)``
        (N* grows as C**a, D* as C**b).
    law : str
        The law (or, for a mixture, the laws and their weights).
    method : str
        ``"closed form"`` or ``"numerical"`` (per fit, for a mixture).
    ci_prob : float
        Default probability of the equal-tailed intervals in :meth:`summary` and :meth:`exponents`.
    """

    draws: xr.Dataset
    law: str
    method: str
    ci_prob: float = CI_PROB

    @property
    def budgets(self) -> np.ndarray:
        """The compute budgets C (FLOPs)."""
        return self.draws["budget"].values

    def summary(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Median and equal-tailed interval of each quantity at each budget.

        Parameters
        ----------
        ci_prob : float, optional
            Interval probability; defaults to the one given to :func:`compute_optimal`.

        Returns
        -------
        pandas.DataFrame
            One row per budget per quantity: ``C``, ``quantity`` (N_opt, D_opt, tokens_per_param,
            loss_opt), ``median``, ``lower``, ``upper``.

        Examples
        --------
        >>> bs.compute_optimal(fit, C=5.88e23).summary(0.8)  # doctest: +SKIP
        """
        p = _check_prob(self.ci_prob if ci_prob is None else ci_prob)
        rows = []
        for i, C in enumerate(self.budgets):
            for q in QUANTITIES:
                med, lo, hi = _eti(self.draws[q].isel(budget=i).values, p)
                rows.append({"C": float(C), "quantity": q, "median": med, "lower": lo, "upper": hi})
        return pd.DataFrame(rows)

    def exponents(self, ci_prob: float | None = None) -> pd.DataFrame:
        """The allocation exponents a (N* ~ C**a) and b (D* ~ C**b), Chinchilla only.

        Parameters
        ----------
        ci_prob : float, optional
            Interval probability; defaults to the one given to :func:`compute_optimal`.

        Returns
        -------
        pandas.DataFrame
            Index ``a``, ``b``; columns ``median``, ``sd``, ``lower``, ``upper`` (equal-tailed).
            All NaN for laws without a closed-form split (their exponent may change with C).

        Examples
        --------
        >>> bs.compute_optimal(fit, C=5.88e23).exponents(0.95)  # doctest: +SKIP
        """
        p = _check_prob(self.ci_prob if ci_prob is None else ci_prob)
        rows = {}
        for name in ("a", "b"):
            if name in self.draws:
                v = self.draws[name].values.ravel()
                med, lo, hi = _eti(v, p)
                rows[name] = {"median": med, "sd": float(np.nanstd(v, ddof=1)), "lower": lo, "upper": hi}
            else:
                rows[name] = dict.fromkeys(("median", "sd", "lower", "upper"), np.nan)
        return pd.DataFrame.from_dict(rows, orient="index")

    def __repr__(self) -> str:
        n = self.draws.sizes["chain"] * self.draws.sizes["draw"]
        head = (f"<Allocation {self.law} ({self.method}), {n} draws, {len(self.budgets)} budget(s); "
                f"median [{self.ci_prob:.0%} equal-tailed interval]>")
        lines = [head]
        s = self.summary()
        for C, part in s.groupby("C", sort=False):
            cells = [f"{q} {r['median']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]"
                     for q, r in part.set_index("quantity").iterrows()]
            lines.append(f"  C = {C:.3g}: " + "; ".join(cells))
        if "a" in self.draws:
            e = self.exponents()
            lines.append("  exponents: " + "; ".join(
                f"{k} {r['median']:.4f} [{r['lower']:.4f}, {r['upper']:.4f}]" for k, r in e.iterrows()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<p>{self.law} ({self.method})</p>" + self.summary().to_html(float_format="%.4g")


def compute_optimal(
    fit: AnyFit,
    *,
    C: float | Sequence[float] | np.ndarray,
    n_grid: int = 256,
    ci_prob: float = CI_PROB,
    method: Literal["auto", "closed_form", "numerical"] = "auto",
) -> Allocation:
    """Posterior of the compute-optimal model size and token count at fixed training compute.

    For every posterior draw, N* minimises the law's mean loss L(N, D) along C = 6 N D, and
    D* = C / (6 N*). For ``chinchilla`` this is Hoffmann et al.'s eq. 4,
    N* = G (C/6)**a and D* = (C/6)**b / G with G = (alpha A / (beta B))**(1/(alpha+beta)),
    a = beta/(alpha+beta), b = alpha/(alpha+beta). For any other law in N and D it is found
    numerically per draw: the loss on a log grid of N spanning tokens per parameter
    ``TOKENS_PER_PARAM_RANGE`` (1e-6 to 1e10), then golden-section search between the grid
    neighbours of the best point (to float64 round-off). A draw whose best grid point is an end of
    the range has no optimum inside it: NaN, with a :class:`NoInteriorOptimumWarning`.

    Parameters
    ----------
    fit : Fit, AveragedFit or Comparison
        A mixture (or a comparison, by its weights) gives the mixture of the fits' optimum draws.
    C : float or sequence of float
        Training compute budget(s) in FLOPs (C = 6 N D).
    n_grid : int
        Grid points of the numerical search (at least 16).
    ci_prob : float
        Default probability of the equal-tailed intervals of :meth:`Allocation.summary`.
    method : {"auto", "closed_form", "numerical"}
        ``"auto"``: the closed form for ``chinchilla``, numerical otherwise. ``"numerical"`` forces
        the search (a check of the closed form); ``"closed_form"`` is for ``chinchilla`` only.

    Returns
    -------
    Allocation
        ``.draws`` (dims chain, draw, budget), ``.summary()``, ``.exponents()``.

    Raises
    ------
    DecisionError
        A budget that is not a finite positive number, or a law whose inputs are not N and D.

    Warns
    -----
    ExtrapolationWarning
        When the median allocation lies more than a decade beyond the fitted runs in N, D or C.

    Examples
    --------
    >>> alloc = bs.compute_optimal(fit, C=[1e23, 5.88e23])  # doctest: +SKIP
    >>> alloc.summary(0.8).query("quantity == 'tokens_per_param'")  # doctest: +SKIP
    >>> alloc.exponents()  # doctest: +SKIP
    """
    alloc = _compute_optimal(fit, C=C, n_grid=n_grid, ci_prob=ci_prob, method=method)
    med_N = alloc.draws["N_opt"].median(SAMPLE_DIMS).values
    if np.all(np.isfinite(med_N)):
        warn_if_far(_as_fit(fit), N=med_N, D=alloc.budgets / (6.0 * med_N))
    return alloc


def _compute_optimal(fit: AnyFit, *, C, n_grid: int, ci_prob: float, method: str) -> Allocation:
    _check_prob(ci_prob)
    if method not in ("auto", "closed_form", "numerical"):
        raise DecisionError(f"method must be 'auto', 'closed_form' or 'numerical', got {method!r}")
    if int(n_grid) != n_grid or n_grid < 16:
        raise DecisionError(f"n_grid must be an integer >= 16, got {n_grid!r}")
    budgets = _budgets(C)
    fit = _as_fit(fit)
    if isinstance(fit, AveragedFit):
        parts = {k: _one_fit(f, budgets, int(n_grid), method) for k, f in fit.fits.items()
                 if fit.weights.get(k, 0.0) > 0}
        names = [*QUANTITIES, *(("a", "b") if all("a" in ds for ds, _ in parts.values()) else ())]
        draws = xr.Dataset({v: mix_draws(fit, {k: ds[v] for k, (ds, _) in parts.items()}) for v in names})
        law = "mixture of " + ", ".join(f"{k} ({w:.2f})" for k, w in fit.weights.items())
        how = ", ".join(f"{k}: {m}" for k, (_, m) in parts.items())
        return Allocation(draws, law, how, ci_prob)
    draws, how = _one_fit(fit, budgets, int(n_grid), method)
    return Allocation(draws, fit.law.spec, how, ci_prob)


def _budgets(C) -> np.ndarray:
    try:
        c = np.atleast_1d(np.asarray(C, dtype=float))
    except (TypeError, ValueError):
        raise DecisionError(f"C must be a number or a sequence of numbers (FLOPs), got {C!r}") from None
    if c.ndim != 1 or c.size == 0:
        raise DecisionError(f"C must be one budget or a flat, non-empty sequence of budgets; got shape {c.shape}")
    bad = ~np.isfinite(c) | (c <= 0)
    if bad.any():
        raise DecisionError(f"budgets C must be finite and > 0 (FLOPs); got {c[bad].tolist()}")
    return c


def _check_law(fit: Fit) -> None:
    inputs = set(fit.law.inputs)
    if not {"N", "D"} <= inputs:
        raise DecisionError(
            f"law {fit.law.spec!r} has inputs {list(fit.law.inputs)}: a compute-optimal split needs a law of "
            "both N and D (e.g. 'chinchilla' or 'kaplan'); a law of C alone says nothing about how to split it"
        )
    if inputs != {"N", "D"}:
        raise DecisionError(
            f"law {fit.law.spec!r} has inputs {list(fit.law.inputs)}; compute_optimal splits C between N and "
            f"D only and cannot fix the others ({sorted(inputs - {'N', 'D'})})"
        )


def _params(fit: Fit) -> dict[str, np.ndarray]:
    post = fit.posterior
    return {k: post[k].transpose(*SAMPLE_DIMS).values.astype(float) for k in fit.law.param_names}


def _one_fit(fit: Fit, budgets: np.ndarray, n_grid: int, method: str) -> tuple[xr.Dataset, str]:
    _check_law(fit)
    closed = fit.law.name == "chinchilla" and not fit.law.input_map
    if method == "closed_form" and not closed:
        raise DecisionError(f"method='closed_form' is for the chinchilla law only, not {fit.law.spec!r}; "
                            "use method='auto' or 'numerical'")
    use_closed = closed and method != "numerical"
    p = _params(fit)
    shape = next(iter(p.values())).shape  # (chain, draw)
    if use_closed:
        N_opt = _chinchilla_N_opt(p, budgets)
    else:
        N_opt = _numerical_N_opt(fit, {k: v.reshape(-1) for k, v in p.items()}, budgets, n_grid).reshape(
            *shape, budgets.size)
    D_opt = budgets / (6.0 * N_opt)
    with np.errstate(all="ignore"):
        loss = fit.law(N=N_opt, D=D_opt, **{k: v[..., None] for k, v in p.items()})
    post = fit.posterior
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "budget": budgets}
    dims = ("chain", "draw", "budget")
    ds = xr.Dataset(
        {"N_opt": (dims, N_opt), "D_opt": (dims, D_opt), "tokens_per_param": (dims, D_opt / N_opt),
         "loss_opt": (dims, np.asarray(loss, dtype=float))},
        coords=coords,
    )
    if closed:
        s = p["alpha"] + p["beta"]
        ds["a"] = (SAMPLE_DIMS, p["beta"] / s)
        ds["b"] = (SAMPLE_DIMS, p["alpha"] / s)
    ds["N_opt"].attrs["doc"] = "compute-optimal parameters"
    ds["D_opt"].attrs["doc"] = "compute-optimal training tokens, C / (6 N_opt)"
    ds["loss_opt"].attrs["doc"] = "the law's mean loss at (N_opt, D_opt)"
    return ds, "closed form" if use_closed else "numerical"


def _chinchilla_N_opt(p: Mapping[str, np.ndarray], budgets: np.ndarray) -> np.ndarray:
    """Hoffmann et al. eq. 4, in logs: log N* = (log(alpha A) - log(beta B)) / (alpha+beta) + a log(C/6)."""
    alpha, beta = p["alpha"][..., None], p["beta"][..., None]
    log_G = (np.log(alpha * p["A"][..., None]) - np.log(beta * p["B"][..., None])) / (alpha + beta)
    return np.exp(log_G + beta / (alpha + beta) * np.log(budgets / 6.0))


def _numerical_N_opt(fit: Fit, p: Mapping[str, np.ndarray], budgets: np.ndarray, n_grid: int) -> np.ndarray:
    """argmin over log N of L(N, C/(6N)) for every draw (rows of ``p``) and budget: shape (draws, budgets)."""
    log_c6 = np.log(budgets / 6.0)

    def loss(log_N: np.ndarray, extra: tuple[None, ...]) -> np.ndarray:
        """The law along C = 6 N D; ``extra`` adds trailing axes to the draws and budgets."""
        params = {k: v[(slice(None), None, *extra)] for k, v in p.items()}
        with np.errstate(all="ignore"):
            out = np.asarray(fit.law(N=np.exp(log_N), D=np.exp(log_c6[(slice(None), *extra)] - log_N),
                                     **params), dtype=float)
        return np.where(np.isfinite(out), out, np.inf)

    lo_r, hi_r = np.log(TOKENS_PER_PARAM_RANGE)
    t = np.linspace(0.0, 1.0, n_grid)
    grid = 0.5 * (log_c6[:, None] - hi_r) + t[None, :] * 0.5 * (hi_r - lo_r)  # (budgets, n_grid), log N
    vals = loss(grid[None, :, :], (None,))  # (draws, budgets, n_grid)
    i = np.argmin(vals, axis=-1)
    edge = (i == 0) | (i == n_grid - 1) | ~np.isfinite(np.min(vals, axis=-1))
    step = grid[:, 1] - grid[:, 0]
    a = grid[:, 0] + (np.clip(i, 1, n_grid - 2) - 1) * step  # bracket: the best point's two neighbours
    b = a + 2.0 * step
    x1, x2 = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)
    f1, f2 = loss(x1, ()), loss(x2, ())
    for _ in range(GOLDEN_STEPS):
        left = f1 <= f2  # the minimum is in [a, x2]: drop (x2, b]; else drop [a, x1)
        a, b = np.where(left, a, x1), np.where(left, x2, b)
        x_new = np.where(left, b - _INV_PHI * (b - a), a + _INV_PHI * (b - a))
        f_new = loss(x_new, ())
        x1, f1, x2, f2 = (np.where(left, x_new, x2), np.where(left, f_new, f2),
                          np.where(left, x1, x_new), np.where(left, f1, f_new))
    log_N = np.where(f1 <= f2, x1, x2)
    if edge.any():
        frac = edge.mean(axis=0)
        said = ", ".join(f"C={c:.3g}: {k:.1%}" for c, k in zip(budgets, frac, strict=True) if k > 0)
        warnings.warn(
            f"law {fit.law.spec!r}: for some posterior draws the loss at fixed compute keeps falling to the end "
            f"of the searched range (tokens per parameter {TOKENS_PER_PARAM_RANGE[0]:g} to "
            f"{TOKENS_PER_PARAM_RANGE[1]:g}); those draws have no interior optimum and are NaN ({said})",
            NoInteriorOptimumWarning,
            stacklevel=5,
        )
        log_N = np.where(edge, np.nan, log_N)
    return np.exp(log_N)


# -- decision table ------------------------------------------------------------------------------


def decide(
    fit: AnyFit,
    candidates: Sequence,
    *,
    target: float | None = None,
    baseline: float | Sequence[float] | Mapping[str, float] | None = None,
    ci_prob: float = CI_PROB,
    kind: Literal["mean", "new_run"] = "new_run",
    random_seed: int | None = None,
) -> pd.DataFrame:
    """A decision table: for each candidate run, its loss and its chance of meeting a target or
    beating a baseline, from the posterior.

    Parameters
    ----------
    fit : Fit, AveragedFit or Comparison
        A mixture (or a comparison, by its weights) decides under model uncertainty.
    candidates : sequence
        Each item a run to consider: an ``(N, D)`` pair, a dict with two of ``N``, ``D``, ``C``,
        or a plain number, a compute budget C in FLOPs. A budget is turned into one concrete run
        someone can launch: N = the posterior median of the compute-optimal N* at that budget
        (:func:`compute_optimal`) and D = C / (6 N); the ``allocation`` column says which.
    target : float, optional
        A loss to reach: adds ``p_below_target``, P(loss < target).
    baseline : (N, D) pair, dict, or float, optional
        A run to beat, existing or planned, given by its ``(N, D)``; it is treated as one more new
        run at those inputs (its recorded loss, if any, is not used: pass a number for that). A
        number is a loss value to beat. Adds ``p_better_than_baseline`` = P(candidate loss <
        baseline loss); the improvement, baseline loss - candidate loss (nats/token; positive means
        the candidate is better), as its posterior median ``improvement_median`` and equal-tailed
        ``ci_prob`` interval ``improvement_lower``, ``improvement_upper``; ``improvement_per_flop``
        = improvement_median / C of the candidate (nats/token per FLOP; the candidate's total
        cost, not the extra over the baseline) and ``improvement_per_1e21_flops`` (the same times
        1e21). Candidate and baseline are evaluated on the same posterior draw (their parameter
        uncertainty is shared); with ``kind="new_run"`` each gets its own run-to-run noise.
        The median, not the mean: with Student-t noise of few degrees of freedom (nu near 1.6 on
        the Epoch Chinchilla points, an infinite variance) the loss has tails so heavy that a mean
        over draws does not settle from seed to seed, while the median does
        (``tests/analysis/test_decide.py``).
    ci_prob : float
        Probability of the equal-tailed intervals of the loss and of the improvement (default 0.9).
    kind : {"new_run", "mean"}
        ``"new_run"`` (default): the loss one run would report, with the fitted run-to-run noise.
        ``"mean"``: the law's mean loss (the parameters' uncertainty, and the law's own error beyond
        the data where the observation model has one; no run-to-run noise).
    random_seed : int, optional
        For the new-run noise; defaults to one derived from the fit's seed.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, in the given order: ``candidate`` (its position), ``allocation``
        ("given" or "compute-optimal (median N*)"), ``N``, ``D``, ``C`` (= 6 N D),
        ``tokens_per_param``, ``loss_median``, ``loss_lower``, ``loss_upper``, ``decades_beyond_data``
        (the largest of N, D, C beyond the fitted runs, 0 inside), then the target and baseline
        columns above. ``attrs`` record ``ci_prob``, ``kind``, ``target`` and the baseline
        (its N, D, C and median loss, or the value).

    Raises
    ------
    DecisionError
        A candidate or baseline that is not a positive number, an (N, D) pair or such a dict.

    Warns
    -----
    ExtrapolationWarning
        Once, when a candidate lies more than a decade beyond the fitted runs in N, D or C.

    Examples
    --------
    >>> bs.decide(fit, [1e23, 5.88e23, (7e10, 1.4e12)], target=2.0,
    ...           baseline=(6.8e9, 3.2e11))  # doctest: +SKIP
    """
    _check_prob(ci_prob)
    if kind not in ("mean", "new_run"):
        raise DecisionError(f"kind must be 'new_run' or 'mean', got {kind!r}")
    if target is not None and not (_is_number(target) and np.isfinite(target)):
        raise DecisionError(f"target must be a finite loss value, got {target!r}")
    fit = _as_fit(fit)
    items = _parse_candidates(candidates)
    base_N, base_value = _parse_baseline(baseline)
    budgets = [c for c, (how, _) in enumerate(items) if how == "budget"]
    N = np.array([v[0] if how == "given" else np.nan for how, v in items], dtype=float)
    D = np.array([v[1] if how == "given" else np.nan for how, v in items], dtype=float)
    allocation = np.array(["given"] * len(items), dtype=object)
    if budgets:
        C_b = np.array([items[i][1][0] for i in budgets])
        alloc = _compute_optimal(fit, C=C_b, n_grid=256, ci_prob=ci_prob, method="auto")
        med_N = alloc.draws["N_opt"].median(SAMPLE_DIMS).values
        if not np.all(np.isfinite(med_N)):
            bad = C_b[~np.isfinite(med_N)].tolist()
            raise DecisionError(f"no compute-optimal N* for budget(s) {bad}: the law has no interior optimum "
                                "for most draws; give candidates as (N, D) pairs")
        N[budgets] = med_N
        D[budgets] = C_b / (6.0 * med_N)
        allocation[budgets] = "compute-optimal (median N*)"
    points_N, points_D = N, D
    if base_N is not None:
        points_N, points_D = np.append(N, base_N[0]), np.append(D, base_N[1])
    warn_if_far(fit, N=N, D=D)
    draws = loss_draws(fit, kind=kind, random_seed=random_seed, N=points_N, D=points_D)
    flat = draws.stack(sample=SAMPLE_DIMS).transpose("point", "sample").values  # (point, S)
    cand = flat[: len(items)]
    C = 6.0 * N * D
    if budgets:
        C[budgets] = C_b  # exactly the budget asked for, not 6 N D after round-off
    lo_q, hi_q = (1.0 - ci_prob) / 2.0, (1.0 + ci_prob) / 2.0
    one = next(iter(fit.fits.values())) if isinstance(fit, AveragedFit) else fit
    try:
        far = extrapolation_decades(one, N=N, D=D)
        beyond = np.max(np.vstack(list(far.values())), axis=0) if far else np.zeros(len(items))
    except PredictionInputError:
        beyond = np.full(len(items), np.nan)
    out = pd.DataFrame({
        "candidate": np.arange(len(items)),
        "allocation": allocation,
        "N": N,
        "D": D,
        "C": C,
        "tokens_per_param": D / N,
        "loss_median": np.median(cand, axis=1),
        "loss_lower": np.quantile(cand, lo_q, axis=1),
        "loss_upper": np.quantile(cand, hi_q, axis=1),
        "decades_beyond_data": beyond,
    })
    out.attrs.update({"ci_prob": ci_prob, "kind": kind, "target": target})
    if target is not None:
        out["p_below_target"] = (cand < target).mean(axis=1)
    if base_N is not None or base_value is not None:
        if base_N is not None:
            base = flat[-1][None, :]
            out.attrs["baseline"] = {"N": float(base_N[0]), "D": float(base_N[1]),
                                     "C": float(6.0 * base_N[0] * base_N[1]),
                                     "loss_median": float(np.median(base))}
        else:
            base = np.float64(base_value)
            out.attrs["baseline"] = {"loss": float(base_value)}
        gain = base - cand  # (candidate, S): same draw for both
        out["p_better_than_baseline"] = (gain > 0).mean(axis=1)
        out["improvement_median"] = np.median(gain, axis=1)
        out["improvement_lower"] = np.quantile(gain, lo_q, axis=1)
        out["improvement_upper"] = np.quantile(gain, hi_q, axis=1)
        out["improvement_per_flop"] = out["improvement_median"] / C
        out["improvement_per_1e21_flops"] = out["improvement_per_flop"] * 1e21
    return out


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _positive(v: object, what: str) -> float:
    if not _is_number(v) or not np.isfinite(v) or v <= 0:
        raise DecisionError(f"{what} must be a finite number > 0, got {v!r}")
    return float(v)


def _pair(item: object, what: str) -> tuple[float, float]:
    """(N, D) from an (N, D) pair or a dict with two of N, D, C."""
    if isinstance(item, Mapping):
        keys = set(item)
        unknown = keys - {"N", "D", "C"}
        if unknown or len(keys) != 2:
            raise DecisionError(f"{what} must give exactly two of 'N', 'D', 'C' (C = 6 N D), got keys "
                                f"{sorted(map(str, keys))}: {dict(item)!r}")
        v = {k: _positive(item[k], f"{what}[{k!r}]") for k in keys}
        if "N" in v and "D" in v:
            return v["N"], v["D"]
        if "N" in v:
            return v["N"], v["C"] / (6.0 * v["N"])
        return v["C"] / (6.0 * v["D"]), v["D"]
    if isinstance(item, str | bytes) or not isinstance(item, Sequence | np.ndarray):
        raise DecisionError(f"{what} must be a budget C (a number), an (N, D) pair or a dict "
                            f"{{'N': ..., 'D': ...}}; got {item!r}")
    seq = list(np.asarray(item, dtype=object).ravel()) if isinstance(item, np.ndarray) else list(item)
    if len(seq) != 2 or (isinstance(item, np.ndarray) and item.ndim != 1):
        raise DecisionError(f"{what} must be an (N, D) pair of two numbers, got {item!r}")
    return _positive(seq[0], f"N of {what}"), _positive(seq[1], f"D of {what}")


def _parse_candidates(candidates: object) -> list[tuple[str, tuple[float, ...]]]:
    if isinstance(candidates, str | bytes | Mapping) or _is_number(candidates) or not isinstance(
            candidates, Sequence | np.ndarray):
        raise DecisionError(f"candidates must be a list of budgets and/or (N, D) pairs, got {candidates!r}; "
                            "wrap a single candidate in a list: [5.88e23] or [(7e10, 1.4e12)]")
    items = []
    for i, item in enumerate(candidates):
        if isinstance(item, np.generic):
            item = item.item()
        if _is_number(item):
            items.append(("budget", (_positive(item, f"candidate {i} (a budget C in FLOPs)"),)))
        else:
            items.append(("given", _pair(item, f"candidate {i}")))
    if not items:
        raise DecisionError("candidates is empty: give at least one budget or (N, D) pair")
    return items


def _parse_baseline(baseline: object) -> tuple[tuple[float, float] | None, float | None]:
    if baseline is None:
        return None, None
    if isinstance(baseline, np.generic):
        baseline = baseline.item()
    if _is_number(baseline):
        v = _positive(baseline, "baseline (a loss value)")
        if v >= 1e6:
            raise DecisionError(f"baseline={baseline!r}: a number is read as a loss value to beat, and this looks "
                                "like a size or a budget; give the baseline run as (N, D)")
        return None, v
    return _pair(baseline, "baseline"), None


# -- small helpers -------------------------------------------------------------------------------


def _check_prob(p: float) -> float:
    if not _is_number(p) or not 0 < p < 1:
        raise DecisionError(f"ci_prob must be in (0, 1), got {p!r}")
    return float(p)


def _eti(v: np.ndarray, p: float) -> tuple[float, float, float]:
    """Median and equal-tailed ``p`` interval, ignoring NaN (draws with no optimum)."""
    v = np.asarray(v, dtype=float).ravel()
    if not np.isfinite(v).any():
        return np.nan, np.nan, np.nan
    med, lo, hi = np.nanquantile(v, [0.5, (1.0 - p) / 2.0, (1.0 + p) / 2.0])
    return float(med), float(lo), float(hi)

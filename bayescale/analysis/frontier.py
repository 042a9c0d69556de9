"""The compute-efficient frontier (Kaplan et al. 2020, section 6): L(C_min), N(C) and D(C).

Two routes to the same three exponents, each with a posterior interval:

- **from a law** (a fit of a law of N and tokens D, e.g. ``kaplan_steps`` on ``("N", "D")``): per
  posterior draw, the law's loss is minimised over N along C = 6 N D at a grid of budgets
  (:func:`bayescale.analysis.decide.compute_optimal`), giving the frontier L*(C) and N*(C); a
  least-squares line through log L* and log N* against log C, per draw, gives alpha_C
  (L* ~ C**-alpha_C), a (N* ~ C**a) and b = 1 - a (D* = C / (6 N*));
- **from the envelope** of the training curves (a curve table with tokens seen): at a grid of C,
  the lowest loss any run reaches at that compute and the run that reaches it
  (:func:`lower_envelope`); ``bs.fit`` of ``kaplan_power`` (L = (C_c/C)**alpha_C) and of
  ``power_law`` (L = E + A C**-alpha_C) on C gives alpha_C, and a conjugate Bayesian linear
  regression of log N of the envelope's winners on log C gives a (and b = 1 - a).

numpy/xarray only: the envelope route imports the fitting layer (PyMC) inside the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._policy import CI_PROB, analysis_seed, check_interval
from ..results import Fit
from ..runs import RunTable
from .compare import AveragedFit, Comparison
from .decide import DecisionError, compute_optimal
from .predict import _as_fit
from .predictive import SAMPLE_DIMS

__all__ = ["Frontier", "FrontierError", "FrontierWarning", "compute_frontier", "lower_envelope", "KAPLAN_FRONTIER"]

#: Kaplan et al. 2020's compute-efficient frontier (section 6.1, eqs. 1.7 and 6.7):
#: L(C_min) = (C_c / C_min)**alpha_C with alpha_C 0.050 and C_c 3.1e8 PF-days (2.3e28 FLOPs);
#: N ~ C**0.73, D ~ C**0.27 (their S_min ~ C**0.03 and B ~ C**0.24). Hoffmann et al. 2022: a = b = 0.5.
KAPLAN_FRONTIER = {"alpha_C": 0.050, "C_c": 2.3e28, "a": 0.73, "b": 0.27}
#: Share of posterior draws that may lack an interior optimum before the law route gives up.
MAX_NAN_SHARE = 0.5
#: The envelope's winners need at least this many distinct model sizes for a slope of N(C).
MIN_WINNER_SIZES = 2
#: The envelope route warns when fewer of its budgets than this are bracketed.
MIN_BRACKETED_SHARE = 0.5
#: Grid points on which :func:`lower_envelope` finds the bracketed range before its own grid.
FINE_GRID = 400
EXPONENTS = ("alpha_C", "C_c", "a", "b", "alpha_C_floor", "E", "C_c_floor")

AnyFit = Fit | AveragedFit | Comparison


class FrontierWarning(UserWarning):
    """An envelope that is mostly not a frontier: at most budgets the smallest or the largest model
    present wins, so N(C) follows which runs were trained rather than the compute-efficient size."""


class FrontierError(ValueError):
    """Input that cannot give a compute-efficient frontier: a law without N and tokens, a curve table
    without tokens seen, budgets that are not positive, or a law with no optimum along C = 6 N D."""


@dataclass(frozen=True, eq=False)
class Frontier:
    """The compute-efficient frontier and its exponents, from :func:`compute_frontier`.

    Attributes
    ----------
    draws : xarray.Dataset
        Per posterior draw, dims ``(chain, draw, budget)`` (the budgets in FLOPs as coordinate):
        ``loss`` (the frontier L(C)), ``N`` (compute-efficient parameters) and ``D`` (= C / (6 N)
        tokens); dims ``(chain, draw)``: ``alpha_C`` and ``C_c`` (L = (C_c / C)**alpha_C), ``a``
        (N ~ C**a), ``b`` (D ~ C**b, = 1 - a), and, where a floor was fitted, ``alpha_C_floor``,
        ``E``, ``C_c_floor`` (L = E + (C_c_floor / C)**alpha_C_floor) and ``loss_floor``. From the
        envelope, the loss, the floor and the N(C) draws come from three separate posteriors: a
        draw index pairs them arbitrarily (look at one quantity at a time).
    method : {"law", "envelope"}
        Which route (see :func:`compute_frontier`).
    law : str
        The law (route "law") or the laws fitted to the envelope.
    C_range : (float, float)
        The budgets spanned by the exponent fits (FLOPs).
    envelope : pandas.DataFrame or None
        The data's lower envelope (:func:`lower_envelope`), when the runs are curves with tokens
        (route "law": for pictures only, the bracketed envelope where there is one, else all of it).
    runs : RunTable or None
        The training curves (for plots).
    fits : mapping of str to Fit
        The envelope route's fits: ``"power"`` (``kaplan_power``) and ``"floor"`` (``power_law``).
    ci_prob : float
        Default probability of the equal-tailed intervals of :meth:`exponents` and :meth:`curve`.
    """

    draws: xr.Dataset
    method: str
    law: str
    C_range: tuple[float, float]
    envelope: pd.DataFrame | None = None
    runs: RunTable | None = None
    fits: Mapping[str, Fit] = field(default_factory=dict)
    ci_prob: float = CI_PROB

    @property
    def budgets(self) -> np.ndarray:
        """The compute budgets C (FLOPs) of the frontier curve."""
        return self.draws["budget"].values

    def exponents(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Median, sd and equal-tailed interval of alpha_C, C_c, a, b (and the floor variant's).

        Parameters
        ----------
        ci_prob : float, optional
            Interval probability; defaults to the one given to :func:`compute_frontier`.

        Returns
        -------
        pandas.DataFrame
            Index the quantities present (``alpha_C``, ``C_c``, ``a``, ``b``, ``alpha_C_floor``,
            ``E``, ``C_c_floor``); columns ``median``, ``sd``, ``lower``, ``upper``, ``nan_share``
            (draws without a value: no interior optimum) and ``kaplan`` (Kaplan et al. 2020's
            value, where there is one).

        Examples
        --------
        >>> bs.compute_frontier(fit).exponents(0.9)  # doctest: +SKIP
        """
        p = _prob(self.ci_prob if ci_prob is None else ci_prob)
        rows = {}
        for name in EXPONENTS:
            if name not in self.draws:
                continue
            v = self.draws[name].values.ravel()
            med, lo, hi = _eti(v, p)
            ok = v[np.isfinite(v)]
            rows[name] = {"median": med, "sd": float(np.std(ok, ddof=1)) if ok.size > 1 else np.nan,
                          "lower": lo, "upper": hi, "nan_share": float(np.mean(~np.isfinite(v))),
                          "kaplan": KAPLAN_FRONTIER.get(name, np.nan)}
        return pd.DataFrame.from_dict(rows, orient="index")

    def curve(self, ci_prob: float | None = None) -> pd.DataFrame:
        """The frontier at each budget: median and equal-tailed interval of the loss, N and D.

        Returns
        -------
        pandas.DataFrame
            One row per budget: ``C``, then ``<q>_median``, ``<q>_lower``, ``<q>_upper`` for q in
            ``loss``, ``N``, ``D`` (and ``loss_floor`` where fitted).

        Examples
        --------
        >>> bs.compute_frontier(fit).curve().head()  # doctest: +SKIP
        """
        p = _prob(self.ci_prob if ci_prob is None else ci_prob)
        out = {"C": self.budgets}
        for q in ("loss", "N", "D", "loss_floor"):
            if q not in self.draws:
                continue
            v = self.draws[q].transpose(*SAMPLE_DIMS, "budget").values.reshape(-1, self.budgets.size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN budgets stay NaN
                qs = np.nanquantile(v, [0.5, (1 - p) / 2, (1 + p) / 2], axis=0)
            out.update({f"{q}_median": qs[0], f"{q}_lower": qs[1], f"{q}_upper": qs[2]})
        return pd.DataFrame(out)

    def __repr__(self) -> str:
        n = self.draws.sizes["chain"] * self.draws.sizes["draw"]
        lines = [f"<Frontier from the {self.method} ({self.law}), {n} draws, C {self.C_range[0]:.3g} - "
                 f"{self.C_range[1]:.3g} FLOPs; median [{self.ci_prob:.0%} equal-tailed interval]>"]
        for name, r in self.exponents().iterrows():
            ref = f" (Kaplan {r['kaplan']:.3g})" if np.isfinite(r["kaplan"]) else ""
            lines.append(f"  {name} {r['median']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]{ref}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<p>frontier from the {self.method} ({self.law})</p>" + self.exponents().to_html(
            float_format="%.4g")


def compute_frontier(
    source: AnyFit | RunTable,
    *,
    C: float | Sequence[float] | np.ndarray | None = None,
    n_points: int = 20,
    ci_prob: float = CI_PROB,
    trim: bool = True,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int | None = None,
    **fit_kwargs: Any,
) -> Frontier:
    """The compute-efficient frontier with posterior intervals: L(C) ~ C**-alpha_C, N(C) ~ C**a,
    D(C) ~ C**b (Kaplan et al. 2020, section 6).

    **From a fit** of a law of N and tokens D (``get_law("kaplan_steps").on("N", "D")``,
    ``kaplan``, ``chinchilla``...): for every posterior draw and every budget C,
    the law's loss is minimised over N along C = 6 N D (:func:`compute_optimal`), which gives the
    frontier L*(C) and N*(C) per draw; then per draw a least-squares line through log L* and log
    N* against log C over the budgets gives alpha_C, C_c (L* = (C_c / C)**alpha_C), a and b = 1 -
    a. For a law with a floor ``E`` the line through log(L* - E) gives ``alpha_C_floor`` too. For
    L = (Nc/N)**aN + (Dc/D)**aD the frontier is an exact power law: N* ~ C**(aD/(aN+aD)), L* ~
    C**-(aN aD/(aN+aD)). A law that falls monotonically in N (or in D) along C = 6 N D has no
    compute-efficient size (``curve_power``: L - E = A (C/6)**-alpha N**(alpha - gamma)), and
    raises.

    **From training curves** (a :class:`RunTable` of checkpoints with tokens seen, so C = 6 N D
    per checkpoint): :func:`lower_envelope` at ``n_points`` budgets, then ``bs.fit`` of
    ``kaplan_power`` (L = (C_c/C)**alpha_C) and ``power_law`` (L = E + A C**-alpha_C, reported as
    ``alpha_C_floor``, ``E`` and ``C_c_floor`` = A**(1/alpha_C_floor)) on the envelope's (C, loss),
    and a Bayesian linear regression of log N of the envelope's winning runs on log C (flat prior
    on the intercept, the slope and log sd: the exact posterior is a Student-t, drawn here), giving
    a and b = 1 - a. Both fits use ``noise="iid"`` unless ``noise=`` is given (the envelope is one
    curve, not runs to extrapolate from). The envelope points are not independent measurements
    (neighbouring points come from the same run), so the fits' intervals are conditional on
    treating them as such.

    Parameters
    ----------
    source : Fit, AveragedFit, Comparison or RunTable
        A fit (route "law") or curves (route "envelope").
    C : float or sequence of float, optional
        The budgets (FLOPs). Default: ``n_points`` log-spaced over the C the fit's runs cover (law),
        or over the envelope's bracketed range (envelope, :func:`lower_envelope`). The exponents are fitted
        over these budgets.
    n_points : int
        Budgets when ``C`` is not given (at least 3).
    ci_prob : float
        Default interval probability of :meth:`Frontier.exponents` and :meth:`Frontier.curve`.
    trim : bool
        Envelope route: default budgets only where the winning run beat both a smaller and a
        larger model reaching the same compute (:func:`lower_envelope`).
    draws, tune, chains, random_seed, **fit_kwargs
        Envelope route: passed to ``bs.fit`` for both laws (``random_seed`` also seeds the N(C)
        regression's draws); not taken with a fit.

    Returns
    -------
    Frontier
        ``.exponents()``, ``.curve()``, ``.draws``; ``.envelope`` where the runs are curves with
        tokens.

    Raises
    ------
    FrontierError
        A law that is not a law of N and D, a curve table without tokens seen, budgets that are
        not finite and positive, a law whose loss has no minimum along C = 6 N D for most draws,
        or (``trim=True``) curves whose envelope is not bracketed over two winning sizes.

    Warns
    -----
    FrontierWarning
        Envelope route: when fewer than half of the budgets are bracketed (``trim=False`` or
        ``C=``), or one run wins the whole envelope (then a and b are NaN).

    Examples
    --------
    >>> law = bs.get_law("kaplan_steps").on("N", "D")
    >>> fit = bs.fit(curves, law, noise="ar1")  # doctest: +SKIP
    >>> bs.compute_frontier(fit).exponents()  # doctest: +SKIP
    >>> bs.compute_frontier(curves, draws=500, random_seed=1).exponents()  # doctest: +SKIP
    """
    check_interval(ci_prob=ci_prob, error=FrontierError)
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 3:
        raise FrontierError(f"n_points must be an integer >= 3, got {n_points!r}")
    if isinstance(source, RunTable):
        return _from_envelope(source, C=C, n_points=int(n_points), ci_prob=float(ci_prob), trim=trim,
                              draws=draws, tune=tune, chains=chains, random_seed=random_seed, **fit_kwargs)
    given = {k: v for k, v in {"draws": draws, "tune": tune, "chains": chains, "random_seed": random_seed,
                               **fit_kwargs}.items() if v is not None}
    if given:
        raise FrontierError(f"{sorted(given)} are for fitting the envelope of a curve table; a fit is "
                            "already sampled: drop them, or pass the RunTable of curves instead")
    if not isinstance(source, Fit | AveragedFit | Comparison):
        raise FrontierError(f"compute_frontier takes a Fit (or AveragedFit, Comparison) or a RunTable of "
                            f"training curves, got {type(source).__name__}")
    return _from_law(source, C=C, n_points=int(n_points), ci_prob=float(ci_prob))


# -- route 1: from a law ------------------------------------------------------------------------


def _from_law(fit: AnyFit, *, C, n_points: int, ci_prob: float) -> Frontier:
    fit = _as_fit(fit)
    one = next(iter(fit.fits.values())) if isinstance(fit, AveragedFit) else fit
    for f in fit.fits.values() if isinstance(fit, AveragedFit) else (fit,):
        if set(f.law.inputs) != {"N", "D"}:
            hint = (" (a law of N and optimiser steps: fit it on tokens seen instead, "
                    "get_law('kaplan_steps').on('N', 'D'), with D = step x tokens per step)"
                    if "step" in f.law.inputs else "")
            raise FrontierError(f"law {f.law.spec!r} has inputs {list(f.law.inputs)}: the frontier splits "
                                f"C = 6 N D between N and tokens D and needs a law of exactly N and D{hint}")
    runs = one.runs
    budgets = _budgets(C) if C is not None else _data_budgets(runs, n_points)
    if budgets.size < 2:
        raise FrontierError("the exponents need at least 2 budgets; give C= with several values")
    try:
        alloc = compute_optimal(fit, C=budgets, ci_prob=ci_prob)
    except DecisionError as err:
        raise FrontierError(str(err)) from None
    N = alloc.draws["N_opt"].transpose(*SAMPLE_DIMS, "budget")
    L = alloc.draws["loss_opt"].transpose(*SAMPLE_DIMS, "budget")
    log_C = np.log(budgets)
    missing = np.mean(~np.all(np.isfinite(N.values), axis=-1))
    if missing > MAX_NAN_SHARE:
        raise FrontierError(
            f"law {alloc.law!r}: for {missing:.0%} of the posterior draws the loss along C = 6 N D has no "
            "minimum inside the searched range of tokens per parameter: no compute-efficient model size (a "
            "law whose loss falls monotonically in N, or in D, at fixed C, as curve_power does: L - E = A "
            "(C/6)**-alpha * N**(alpha - gamma)). Use the envelope of the curves instead: "
            "compute_frontier(runs)"
        )
    slope_L, icpt_L = _slopes(log_C, np.log(L.values))
    slope_N, _ = _slopes(log_C, np.log(N.values))
    ds = xr.Dataset({"loss": L, "N": N, "D": alloc.draws["D_opt"].transpose(*SAMPLE_DIMS, "budget")})
    ds = ds.drop_vars([v for v in ds.coords if v not in ("chain", "draw", "budget")])
    dims = SAMPLE_DIMS
    alpha = -slope_L
    ds["alpha_C"] = (dims, alpha)
    with np.errstate(all="ignore"):
        ds["C_c"] = (dims, np.exp(icpt_L / alpha))
    ds["a"] = (dims, slope_N)
    ds["b"] = (dims, 1.0 - slope_N)
    if isinstance(fit, Fit) and "E" in fit.law.param_names:
        E = fit.posterior["E"].transpose(*dims).values
        with np.errstate(all="ignore"):
            gap = np.log(L.values - E[..., None])
        slope_f, icpt_f = _slopes(log_C, gap)
        ds["alpha_C_floor"] = (dims, -slope_f)
        ds["E"] = (dims, E)
        with np.errstate(all="ignore"):
            ds["C_c_floor"] = (dims, np.exp(icpt_f / -slope_f))
    _doc(ds)
    envelope = None
    if runs is not None and runs.is_curves and _has_tokens(runs):
        for trim in (True, False):  # for the picture: the bracketed envelope, else all of it
            try:
                envelope = lower_envelope(runs, n_points=n_points, trim=trim)
                break
            except FrontierError:
                continue
    return Frontier(ds, "law", alloc.law, (float(budgets.min()), float(budgets.max())), envelope=envelope,
                    runs=runs, ci_prob=ci_prob)


def _slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of ``y[..., k]`` on ``x[k]`` along the last axis (NaN where
    any point is not finite)."""
    xc = x - x.mean()
    ok = np.all(np.isfinite(y), axis=-1)
    y = np.where(ok[..., None], y, 0.0)
    slope = (y * xc).sum(axis=-1) / (xc**2).sum()
    icpt = y.mean(axis=-1) - slope * x.mean()
    return np.where(ok, slope, np.nan), np.where(ok, icpt, np.nan)


def _has_tokens(runs: RunTable) -> bool:
    cols = runs.to_dataframe().columns
    return {"N", "D", "C"} <= set(cols)


def _data_budgets(runs: RunTable | None, n_points: int) -> np.ndarray:
    if runs is None or not _has_tokens(runs):
        raise FrontierError("the fit's runs have no compute C = 6 N D (no tokens seen); give the budgets: C=[...]")
    c = runs.C
    return np.geomspace(float(c.min()), float(c.max()), n_points)


def _budgets(C) -> np.ndarray:
    try:
        c = np.atleast_1d(np.asarray(C, dtype=float))
    except (TypeError, ValueError):
        raise FrontierError(f"C must be a number or a sequence of numbers (FLOPs), got {C!r}") from None
    if c.ndim != 1 or c.size == 0:
        raise FrontierError(f"C must be a flat, non-empty sequence of budgets (FLOPs); got shape {c.shape}")
    bad = ~np.isfinite(c) | (c <= 0)
    if bad.any():
        raise FrontierError(f"budgets C must be finite and > 0 (FLOPs); got {c[bad].tolist()}")
    if np.unique(c).size < c.size:
        raise FrontierError(f"budgets C repeat a value: {c.tolist()}; give distinct budgets")
    return np.sort(c)


# -- route 2: from the envelope of the curves ---------------------------------------------------


def lower_envelope(
    runs: RunTable,
    *,
    C: float | Sequence[float] | np.ndarray | None = None,
    n_points: int = 20,
    trim: bool = True,
) -> pd.DataFrame:
    """The lower envelope of training curves against compute: at each budget, the lowest loss any
    run reaches at that compute, and the run (and its N) that reaches it.

    Each run's curve is interpolated linearly in (log C, log loss) between its checkpoints, C = 6 N
    D with D the tokens seen; a run takes part at a budget only between its first and its last
    checkpoint (nothing is extrapolated).

    The envelope is the compute-efficient frontier only where the winning run beat a smaller *and*
    a larger model at that compute (``bracketed``): where the smallest model present wins, a
    smaller one, never trained, might have done better, and where the largest wins, a larger one
    (Kaplan et al.'s frontier is a frontier over model sizes). With ``trim`` (the default) the
    default budgets span only the bracketed range.

    Parameters
    ----------
    runs : RunTable
        Training curves (a ``run`` column) with N and tokens seen (``tokens=`` when building the
        table, so that C = 6 N D exists per checkpoint).
    C : sequence of float, optional
        The budgets. Default: ``n_points`` log-spaced over the C at which the envelope is bracketed
        (``trim=True``), or at which at least 2 runs have checkpoints on both sides (``trim=False``).
    n_points : int
    trim : bool
        Default budgets over the bracketed range only (ignored when ``C`` is given).

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``C``, ``loss``, ``run``, ``N``, ``D`` (= C / (6 N) of the winner),
        ``n_runs`` (how many runs reach that C) and ``bracketed``. Budgets no run reaches are
        dropped.

    Raises
    ------
    FrontierError
        A table that is not curves, or has no N or no tokens seen; curves that do not overlap in C;
        with ``trim``, fewer than two winning sizes over the budgets where a run beats both a
        smaller and a larger model.

    Examples
    --------
    >>> lower_envelope(curves, n_points=30).head()  # doctest: +SKIP
    """
    if not isinstance(runs, RunTable):
        raise FrontierError(f"lower_envelope takes a RunTable of training curves, got {type(runs).__name__}")
    if not runs.is_curves:
        raise FrontierError("the envelope needs training curves (checkpoints of runs, a 'run' column with step or "
                            "tokens); this table has one row per run. Build it with RunTable.from_dataframe(df, "
                            "run=..., step=..., tokens=...)")
    df = runs.to_dataframe()
    if "N" not in df.columns:
        raise FrontierError("the envelope needs each run's model size N; this table has none (built with N=None)")
    if not {"D", "C"} <= set(df.columns):
        raise FrontierError(
            "the envelope needs the compute of every checkpoint, C = 6 N D with D the tokens seen; this curve "
            "table has steps only. Add the tokens: RunTable.from_dataframe(df, ..., step='step', tokens='<tokens "
            "column>'), e.g. df['tokens'] = df['step'] * tokens_per_step"
        )
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 3:
        raise FrontierError(f"n_points must be an integer >= 3, got {n_points!r}")
    curves = []
    for run, g in df.groupby("run", sort=False):
        g = g.sort_values("C", kind="stable").drop_duplicates("C", keep="last")
        curves.append((run, float(g["N"].iloc[0]), np.log(g["C"].to_numpy(float)),
                       np.log(g["loss"].to_numpy(float))))
    if C is not None:
        return _envelope_at(curves, np.log(_budgets(C)))
    lo_hi = np.array([[c[2][0], c[2][-1]] for c in curves])
    ends = np.unique(lo_hi)
    count = ((lo_hi[:, :1] <= ends[None, :] + 1e-12) & (ends[None, :] <= lo_hi[:, 1:] + 1e-12)).sum(axis=0)
    enough = ends[count >= 2]
    if enough.size < 2:
        raise FrontierError("the curves do not overlap in compute (no C is reached by two runs), so no run is "
                            "chosen over another; give curves that overlap in C = 6 N D, or the budgets C=[...]")
    if not trim:
        return _envelope_at(curves, np.linspace(enough[0], enough[-1], n_points))
    fine = _envelope_at(curves, np.linspace(enough[0], enough[-1], FINE_GRID))
    inside = fine.loc[fine["bracketed"], "C"].to_numpy()
    if inside.size < 2 or fine.loc[fine["bracketed"], "N"].nunique() < MIN_WINNER_SIZES:
        sizes = sorted({c[1] for c in curves})
        where = (f"only over C {inside[0]:.3g} - {inside[-1]:.3g} FLOPs, where one run wins"
                 if inside.size else "at no compute")
        raise FrontierError(
            f"a run beats both a smaller and a larger model at the same compute {where} ({len(sizes)} sizes "
            f"{[f'{n:.3g}' for n in sizes]}): elsewhere the smallest or the largest model present wins, so the "
            "envelope is not a frontier over sizes (typically the curves start too late in training: at their "
            "first checkpoint the larger models already beat the smaller ones at equal compute). Give curves "
            "of more sizes from earlier in training, or pass trim=False (or C=) to fit the envelope anyway"
        )
    return _envelope_at(curves, np.linspace(np.log(inside[0]), np.log(inside[-1]), n_points))


def _envelope_at(curves: Sequence[tuple[Any, float, np.ndarray, np.ndarray]], log_grid: np.ndarray) -> pd.DataFrame:
    losses = np.full((len(curves), log_grid.size), np.inf)
    for i, (_, _, lc, ll) in enumerate(curves):
        inside = (log_grid >= lc[0] - 1e-12) & (log_grid <= lc[-1] + 1e-12)
        losses[i, inside] = ll[0] if lc.size == 1 else np.interp(log_grid[inside], lc, ll)
    reach = np.isfinite(losses)
    best = np.argmin(losses, axis=0)
    sizes = np.array([c[1] for c in curves])
    N = sizes[best]
    smaller = (reach & (sizes[:, None] < N[None, :])).any(axis=0)
    larger = (reach & (sizes[:, None] > N[None, :])).any(axis=0)
    Cg = np.exp(log_grid)
    out = pd.DataFrame({
        "C": Cg, "loss": np.exp(losses[best, np.arange(log_grid.size)]),
        "run": [curves[k][0] for k in best], "N": N, "D": Cg / (6.0 * N), "n_runs": reach.sum(axis=0),
        "bracketed": smaller & larger,
    })
    return out[reach.any(axis=0)].reset_index(drop=True)


def _from_envelope(runs: RunTable, *, C, n_points: int, ci_prob: float, trim: bool, draws, tune, chains,
                   random_seed, **fit_kwargs) -> Frontier:
    env = lower_envelope(runs, C=C, n_points=n_points, trim=trim)
    if len(env) < 4:
        raise FrontierError(f"the envelope has {len(env)} budget(s); a power law in C needs at least 4: "
                            "give more budgets (n_points=, C=)")
    from ..inference import fit as _fit  # fitting imports PyMC; importing this module does not

    table = RunTable.from_dataframe(env[["C", "loss"]], N=None, C="C", loss="loss",
                                    source=f"lower envelope of {runs.source or 'training curves'}")
    share = float(env["bracketed"].mean())
    if share < MIN_BRACKETED_SHARE:
        warnings.warn(
            f"only {share:.0%} of the envelope's {len(env)} budgets are won by a run that beats both a smaller "
            "and a larger model at that compute; at the others the smallest or the largest model present wins, "
            "so the envelope's N(C) (a, b) follows which runs were trained and when their curves start, and its "
            "L(C) lies above the frontier there (use trim=True, the default, to keep the bracketed range only)",
            FrontierWarning, stacklevel=3)
    kw = {k: v for k, v in {"draws": draws, "tune": tune, "chains": chains}.items() if v is not None}
    kw.setdefault("progressbar", False)
    kw.setdefault("noise", "iid")
    kw.update(fit_kwargs)
    fits = {"power": _fit(table, "kaplan_power", random_seed=random_seed, **kw)}
    seed = fits["power"].provenance.get("random_seed") if random_seed is None else random_seed
    fits["floor"] = _fit(table, "power_law", random_seed=seed, **kw)
    post = fits["power"].posterior
    shape = post.sizes["chain"], post.sizes["draw"]
    budgets = env["C"].to_numpy(float)
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "budget": budgets}
    dims3 = (*SAMPLE_DIMS, "budget")

    def flat_params(fit: Fit, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The fit's draws reshaped (or trimmed) to ``shape``: fits may differ in draw counts."""
        n = shape[0] * shape[1]
        out = {}
        for k in names:
            v = fit.posterior[k].transpose(*SAMPLE_DIMS).values.reshape(-1)
            out[k] = np.resize(v, n).reshape(shape) if v.size != n else v.reshape(shape)
        return out

    pw = flat_params(fits["power"], ("xc", "alpha"))
    fl = flat_params(fits["floor"], ("E", "A", "alpha"))
    log_C = np.log(budgets)
    ds = xr.Dataset(coords=coords)
    ds["loss"] = (dims3, np.exp(pw["alpha"][..., None] * (np.log(pw["xc"])[..., None] - log_C)))
    ds["loss_floor"] = (dims3, fl["E"][..., None] + fl["A"][..., None] * np.exp(-fl["alpha"][..., None] * log_C))
    ds["alpha_C"] = (SAMPLE_DIMS, pw["alpha"])
    ds["C_c"] = (SAMPLE_DIMS, pw["xc"])
    rng = np.random.default_rng(analysis_seed(fits["power"], None) if seed is None else int(seed) + 1)
    n_sizes = env["N"].nunique()
    if n_sizes < MIN_WINNER_SIZES:
        warnings.warn(f"one run ({env['run'].iloc[0]}, N = {env['N'].iloc[0]:.3g}) wins the whole envelope: "
                      "no slope of N(C); a and b are NaN. Give curves of more model sizes that overlap in C",
                      FrontierWarning, stacklevel=3)
        slope = icpt = np.full(shape, np.nan)
    else:
        slope, icpt = _bayes_line(log_C, np.log(env["N"].to_numpy(float)), shape, rng)
    ds["N"] = (dims3, np.exp(icpt[..., None] + slope[..., None] * log_C))
    ds["D"] = (dims3, budgets / (6.0 * ds["N"].values))
    ds["a"] = (SAMPLE_DIMS, slope)
    ds["b"] = (SAMPLE_DIMS, 1.0 - slope)
    ds["alpha_C_floor"] = (SAMPLE_DIMS, fl["alpha"])
    ds["E"] = (SAMPLE_DIMS, fl["E"])
    ds["C_c_floor"] = (SAMPLE_DIMS, fl["A"] ** (1.0 / fl["alpha"]))
    _doc(ds)
    ds["N"].attrs["doc"] = ("N of the envelope's winning runs, a Bayesian line in log-log "
                            "(a draw index pairs it with the loss draws arbitrarily)")
    law = "kaplan_power and power_law on C; log N on log C by a Bayesian line"
    return Frontier(ds, "envelope", law, (float(budgets.min()), float(budgets.max())), envelope=env, runs=runs,
                    fits=fits, ci_prob=ci_prob)


def _bayes_line(x: np.ndarray, y: np.ndarray, shape: tuple[int, int],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draws of (slope, intercept) of y = c + s x + Normal(0, sd) under the flat prior p(c, s, log sd) = 1:
    sd**2 ~ RSS / chi2(n - 2), then (c, s) ~ Normal(OLS, sd**2 (X'X)^-1) (the exact posterior)."""
    n = x.size
    if n < 3:
        raise FrontierError(f"the N(C) line needs at least 3 envelope points, got {n}")
    X = np.column_stack([np.ones(n), x])
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    rss = float(np.sum((y - X @ beta) ** 2))
    m = shape[0] * shape[1]
    rss = max(rss, 1e-300)  # a perfect line: the draws collapse onto it
    sd2 = rss / rng.chisquare(n - 2, size=m)
    z = rng.standard_normal((m, 2)) @ np.linalg.cholesky(XtX_inv).T
    coef = beta[None, :] + np.sqrt(sd2)[:, None] * z
    return coef[:, 1].reshape(shape), coef[:, 0].reshape(shape)


# -- small helpers -------------------------------------------------------------------------------


def _doc(ds: xr.Dataset) -> None:
    docs = {
        "loss": "loss on the compute-efficient frontier (nats/token)",
        "N": "compute-efficient parameters",
        "D": "compute-efficient tokens, C / (6 N)",
        "alpha_C": "L ~ C**-alpha_C: minus the slope of log L against log C",
        "C_c": "L = (C_c / C)**alpha_C (FLOPs)",
        "a": "N ~ C**a",
        "b": "D ~ C**b, = 1 - a since C = 6 N D",
        "alpha_C_floor": "L = E + (C_c_floor / C)**alpha_C_floor",
        "E": "the floor of the floored frontier (nats/token)",
        "C_c_floor": "L = E + (C_c_floor / C)**alpha_C_floor (FLOPs)",
        "loss_floor": "the floored frontier E + (C_c_floor / C)**alpha_C_floor (nats/token)",
    }
    for k, v in docs.items():
        if k in ds:
            ds[k].attrs["doc"] = v


def _prob(p: Any) -> float:
    check_interval(ci_prob=p, error=FrontierError)
    return float(p)


def _eti(v: np.ndarray, p: float) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    med, lo, hi = np.quantile(v, [0.5, (1.0 - p) / 2.0, (1.0 + p) / 2.0])
    return float(med), float(lo), float(hi)


"""Backtesting on your own largest runs: fit the smaller ones, score the intervals on the rest.

Leave-largest-out is the check that matters for a scaling law: the law is fitted to be used
beyond the runs it saw, so the question is whether its intervals hold *there*. Held-out points
drawn at random from inside the design (or leave-one-out) test interpolation, which almost any
flexible curve passes; holding out the largest runs tests the extrapolation you will make.

Scores, per law, on the held-out runs:

- coverage of central predictive intervals (the share of held-out losses inside each);
- RMSLE of the predictive median, ``sqrt(mean((log yhat - log y)**2))``;
- the mean log predictive density of the held-out *log* losses under the new-run predictive
  (the exact mixture over posterior draws of the likelihood's Normal or Student-t density);
- ARE, the mean absolute relative error of the median, ``mean(|y - yhat| / y)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..results import Fit
from .._policy import CI_PROBS, SERIAL, check_interval
from ..laws import Law, get_law
from ..runs import RunTable
from .predict import interval, loss_draws, predict, predictive
from .predictive import SAMPLE_DIMS

__all__ = [
    "Backtest",
    "BacktestError",
    "backtest",
    "holdout_mask",
    "score_runs",
    "HOLDOUT_RULES",
    "CONTINUOUS_FRACTION",
]

#: The named hold-out rules: the largest slice of C, N or D.
HOLDOUT_RULES = ("largest_C", "largest_N", "largest_D")
#: Share of runs held out by a named rule when the column's largest value belongs to one run only.
CONTINUOUS_FRACTION = 0.1
#: Relative tolerance within which two values of a column count as the same grid value.
TIE_RTOL = 1e-6

Holdout = str | float | Callable[[pd.DataFrame], Any]
LawSpec = str | Law | Sequence[str | Law] | Mapping[str, str | Law]


class BacktestError(ValueError):
    """A hold-out rule that selects nothing, everything, or reads a column the runs lack."""


# -- which runs are held out ---------------------------------------------------------------------

def _column(runs: RunTable, by: str, what: str) -> np.ndarray:
    cols = list(runs.to_dataframe().columns)
    if by not in cols:
        raise BacktestError(
            f"{what} reads column {by!r}, which this run table lacks (it has {cols}); hold out by a "
            "column it has (holdout='largest_N', 'largest_D', or a fraction with by=...) or pass a "
            "predicate, holdout=lambda df: <boolean mask>"
        )
    return runs.column(by)


def _top_fraction(values: np.ndarray, fraction: float) -> np.ndarray:
    """The ``round(fraction * n)`` (at least one) largest values, and every value tied with the
    smallest of them (within :data:`TIE_RTOL`), so no run of a held-out size stays in training."""
    n_out = max(1, int(round(fraction * values.size)))
    threshold = np.sort(values, kind="stable")[-n_out]
    return values >= threshold * (1 - TIE_RTOL)


def holdout_mask(runs: RunTable, holdout: Holdout = "largest_C", *, by: str = "C") -> np.ndarray:
    """Which runs a hold-out rule holds out (True = held out, False = used for fitting).

    Parameters
    ----------
    runs : RunTable
    holdout : {"largest_C", "largest_N", "largest_D"}, float or callable
        - ``"largest_<col>"``: the largest slice of that column. On a grid design, where the
          largest value is shared by two or more runs (the top budget of an isoFLOP study, the
          largest model of a size sweep), exactly the runs at that value (within a relative
          tolerance of 1e-6) are held out. When the values are continuous and the largest
          belongs to one run only (digitised points, for example), the top 10%
          (:data:`CONTINUOUS_FRACTION`) of runs by that column are held out instead, with any
          runs tied with the smallest of them.
        - a float in (0, 1): that fraction of runs (at least one) with the largest ``by``, with
          ties as above.
        - a callable: called with ``runs.to_dataframe()``, it returns a boolean mask with one
          entry per run.
    by : str
        The column of a fractional ``holdout`` (default ``"C"``); ignored otherwise.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    BacktestError
        For an unknown rule, a missing column, a bad mask, or a rule that holds out no run or
        every run.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()  # 7 runs at each of 7 budgets
    >>> int(holdout_mask(runs, "largest_C").sum())
    7
    >>> int(holdout_mask(runs, 0.3, by="N").sum())  # 15 runs, and one tied with the 15th
    16
    """
    n = len(runs)
    if callable(holdout):
        what = "holdout=<predicate>"
        try:
            mask = np.asarray(holdout(runs.to_dataframe()))
        except Exception as err:  # noqa: BLE001 - say which predicate failed, then re-raise
            raise BacktestError(f"the holdout predicate raised {type(err).__name__}: {err}") from err
        if mask.shape != (n,) or mask.dtype != bool:
            raise BacktestError(
                f"the holdout predicate must return a boolean mask of {n} entries (True = held out); "
                f"it returned dtype {mask.dtype} with shape {mask.shape}"
            )
    elif isinstance(holdout, str):
        if holdout not in HOLDOUT_RULES:
            raise BacktestError(
                f"holdout={holdout!r} is not a rule; use one of {list(HOLDOUT_RULES)}, a fraction in "
                "(0, 1) with by=, or a predicate taking the run DataFrame"
            )
        what = f"holdout={holdout!r}"
        values = _column(runs, holdout.removeprefix("largest_"), what)
        top = values >= values.max() * (1 - TIE_RTOL)
        mask = top if top.sum() >= 2 else _top_fraction(values, CONTINUOUS_FRACTION)
    elif isinstance(holdout, (float, int)) and not isinstance(holdout, bool):
        what = f"holdout={holdout!r} (by={by!r})"
        if not 0 < holdout < 1:
            raise BacktestError(f"a fractional holdout is a share of the runs, in (0, 1); got {holdout}")
        mask = _top_fraction(_column(runs, by, what), float(holdout))
    else:
        raise BacktestError(
            f"holdout must be one of {list(HOLDOUT_RULES)}, a fraction or a predicate; got {holdout!r}"
        )
    mask = mask.copy()
    if not mask.any():
        raise BacktestError(f"{what} holds out no run; hold out at least one (a larger fraction, another rule)")
    if mask.all():
        raise BacktestError(
            f"{what} holds out all {n} runs, leaving none to fit; hold out fewer (a smaller fraction, "
            "or a predicate that keeps some runs)"
        )
    return mask


def _describe_holdout(runs: RunTable, holdout: Holdout, by: str, mask: np.ndarray) -> str:
    if callable(holdout):
        return "runs chosen by a predicate"
    col = holdout.removeprefix("largest_") if isinstance(holdout, str) else by
    lo = runs.column(col)[mask].min()
    if isinstance(holdout, str):
        kind = "slice" if np.ptp(runs.column(col)[mask]) <= TIE_RTOL * lo else "top 10%"
        return f"largest-{col} {kind}, {col} >= {lo:.3g}"
    return f"top {holdout:.0%} by {col}, {col} >= {lo:.3g}"


# -- scoring -------------------------------------------------------------------------------------

def _labels(law: LawSpec) -> dict[str, Law]:
    if isinstance(law, (str, Law)):
        items = [law]
    elif isinstance(law, Mapping):
        return {str(k): get_law(v) for k, v in law.items()}
    else:
        items = list(law)
    out: dict[str, Law] = {}
    for item in items:
        obj = get_law(item)
        label = item if isinstance(item, str) else obj.spec
        if label in out:
            raise BacktestError(f"law {label!r} given twice; pass a mapping of distinct labels to laws")
        out[label] = obj
    if not out:
        raise BacktestError("no law given; pass a law, a list of laws or a mapping label -> law")
    return out


def _pct(p: float) -> str:
    return f"{100 * p:g}"


def score_runs(
    result: Fit,
    runs: RunTable,
    *,
    ci_probs: Sequence[float] = CI_PROBS,
    kind: Literal["new_run", "mean"] = "new_run",
    ci_kind: Literal["eti", "hdi"] = "eti",
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Score a fit's predictions on runs it did not see, one row per run.

    With ``kind="new_run"`` and ``ci_kind="eti"`` (the defaults) everything is exact for the
    posterior draws at hand: the new-run predictive of one run is the equal-weight mixture over
    draws ``s`` of ``log y ~ Normal(log L_s, sigma_s)`` (Student-t with ``nu_s`` for
    ``likelihood="student_t"``), and its median, interval bounds and CDF are found from that
    mixture, with no noise drawn. ``ci_kind="hdi"`` takes highest-density intervals of simulated
    new-run losses (:func:`bayescale.analysis.loss_draws`); ``kind="mean"`` scores intervals of
    the law's mean loss alone, which are too narrow for a new run's loss (kept for comparison).

    Parameters
    ----------
    result : Fit
        A fit to final losses (one loss per run).
    runs : RunTable
        The runs to score, with their observed losses.
    ci_probs : sequence of float
        Central interval probabilities.
    kind : {"new_run", "mean"}
    ci_kind : {"eti", "hdi"}
    random_seed : int, optional
        Only for ``ci_kind="hdi"`` with ``kind="new_run"`` (simulated noise).

    Returns
    -------
    pandas.DataFrame
        ``run``, the inputs (N, D, C where known), ``loss``, ``median``, then per ci_prob ``p``
        ``lower_<p>``, ``upper_<p>`` and ``inside_<p>`` (``p`` as in ``0.9``); ``pit`` (the
        predictive CDF at the observed loss, exact; uniform when the predictions are calibrated)
        and ``log_density`` (the log predictive density of the observed log loss, exact).

    Examples
    --------
    >>> table = score_runs(fit, new_runs, ci_probs=(0.5, 0.9))  # doctest: +SKIP
    >>> table["inside_0.9"].mean()  # coverage of the 90% intervals  # doctest: +SKIP
    """
    check_interval(kind=kind, ci_kind=ci_kind)
    probs = [float(p) for p in ci_probs]
    if any(not 0 < p < 1 for p in probs):
        raise ValueError(f"ci_probs must be in (0, 1), got {probs}")
    if result.is_curve_fit or result.run_effects:
        raise BacktestError(
            "score_runs scores fits to final losses (one loss per run); this fit is to training "
            "curves: score forecasts with bayescale.analysis.forecast_draws instead"
        )
    inputs = {k: runs.column(k) for k in result.law.inputs}
    loss = runs.loss
    log_y = np.log(loss)
    pred, _ = predictive(result, kind="new_run", **inputs)
    df = runs.to_dataframe()
    table = pd.DataFrame({"run": runs.run_ids})
    for k in dict.fromkeys(("N", "D", "C", *result.law.inputs)):
        if k in df.columns:
            table[k] = runs.column(k)
    table["loss"] = loss
    tails = [q for p in probs for q in ((1 - p) / 2, (1 + p) / 2)]
    if kind == "new_run":
        qs = np.exp(pred.quantiles([0.5, *tails]))
        table["median"] = qs[0]
        bounds = {p: (qs[1 + 2 * i], qs[2 + 2 * i]) for i, p in enumerate(probs)}
    else:
        draws = predict(result, **inputs)
        table["median"] = draws.median(SAMPLE_DIMS).values
        bounds = {}
    if ci_kind == "hdi" or kind == "mean":
        draws = loss_draws(result, kind=kind, random_seed=random_seed, **inputs)
        for p in probs:
            ci = interval(draws, ci_prob=p, ci_kind=ci_kind)
            bounds[p] = (ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values)
    for p in probs:
        lo, hi = bounds[p]
        table[f"lower_{p:g}"], table[f"upper_{p:g}"] = lo, hi
        table[f"inside_{p:g}"] = (loss >= lo) & (loss <= hi)
    table["pit"] = pred.cdf(log_y)
    table["log_density"] = pred.logpdf(log_y)  # the density of log y
    return table


def summarize_scores(table: pd.DataFrame, ci_probs: Sequence[float]) -> dict[str, float]:
    """Coverage per ci_prob, RMSLE, mean log density and ARE of a table from :func:`score_runs`."""
    y, med = table["loss"].to_numpy(float), table["median"].to_numpy(float)
    out: dict[str, float] = {"n_test": int(len(table))}
    for p in ci_probs:
        out[f"coverage_{_pct(p)}"] = float(table[f"inside_{p:g}"].mean())
    out["rmsle"] = float(np.sqrt(np.mean((np.log(med) - np.log(y)) ** 2)))
    out["log_density"] = float(table["log_density"].mean())
    out["are"] = float(np.mean(np.abs(y - med) / y))
    return out


# -- the backtest --------------------------------------------------------------------------------

class Backtest:
    """Result of :func:`backtest`.

    Attributes
    ----------
    fits : dict of str to Fit
        The fit of each law (by label) on the training runs.
    table : pandas.DataFrame
        One row per held-out run per law: ``law``, ``run``, inputs, ``loss``, ``median``,
        ``lower_<p>``/``upper_<p>``/``inside_<p>`` per ci_prob, ``pit``, ``log_density``.
    ci_probs : tuple of float
    n_train : int
        Runs the laws were fitted on.
    holdout : str
        What was held out, in words.
    """

    def __init__(self, fits: Mapping[str, Fit], table: pd.DataFrame, *, ci_probs: Sequence[float],
                 n_train: int, holdout: str = "", kind: str = "new_run", ci_kind: str = "eti") -> None:
        self.fits = dict(fits)
        self.table = table
        self.ci_probs = tuple(float(p) for p in ci_probs)
        self.n_train = int(n_train)
        self.holdout = holdout
        self.kind = kind
        self.ci_kind = ci_kind

    @property
    def laws(self) -> list[str]:
        """The labels of the laws, in the order given."""
        return list(self.fits)

    @property
    def fit(self) -> Fit:
        """The fit, when one law was backtested (several: see :attr:`fits`)."""
        if len(self.fits) != 1:
            raise AttributeError(f"this backtest holds {len(self.fits)} fits; use .fits[label] "
                                 f"with a label in {self.laws}")
        return next(iter(self.fits.values()))

    def _rows(self, law: str) -> pd.DataFrame:
        if law not in self.fits:
            raise KeyError(f"no law {law!r} in this backtest; it has {self.laws}")
        return self.table[self.table["law"] == law]

    def scores(self) -> pd.DataFrame:
        """One row per law: ``n_train``, ``n_test``, ``coverage_<pct>`` per ci_prob, ``rmsle``,
        ``log_density`` (mean over held-out runs), ``are``, and the fit's ``divergences`` and
        ``max_r_hat``."""
        rows = {}
        for label, result in self.fits.items():
            diag = result.diagnostics() if "sample_stats" in result.idata.children else {}
            rows[label] = {"n_train": self.n_train, **summarize_scores(self._rows(label), self.ci_probs),
                           "divergences": diag.get("divergences", 0),
                           "max_r_hat": diag.get("max_r_hat", np.nan)}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "law"
        return out

    def coverage(self, law: str | None = None) -> pd.Series | pd.DataFrame:
        """Share of held-out losses inside each interval: a Series indexed by ci_prob for one law
        (``law=None`` with one law fitted), else a DataFrame with one row per law."""
        if law is None and len(self.fits) > 1:
            return pd.DataFrame({lab: self.coverage(lab) for lab in self.laws}).T.rename_axis("law")
        t = self._rows(law or self.laws[0])
        return pd.Series({p: float(t[f"inside_{p:g}"].mean()) for p in self.ci_probs}, name="coverage")

    def are(self, law: str | None = None) -> float | pd.Series:
        """Mean absolute relative error of the median, ``mean(|y - yhat| / y)`` (a Series by law
        when several laws were fitted and ``law`` is None)."""
        if law is None and len(self.fits) > 1:
            return pd.Series({lab: self.are(lab) for lab in self.laws}, name="are")
        t = self._rows(law or self.laws[0])
        return float(np.mean(np.abs(t["loss"] - t["median"]) / t["loss"]))

    def __repr__(self) -> str:
        s = self.scores()
        n_test = int(s["n_test"].iloc[0])
        cols = [c for c in s.columns if c.startswith("coverage_")] + ["rmsle", "log_density", "are"]
        body = s[cols].rename(columns=lambda c: c.replace("coverage_", "cov_")).to_string(float_format="{:.3f}".format)
        return (f"<Backtest: fitted on {self.n_train} runs, scored on {n_test} held-out runs "
                f"({self.holdout}); {self.kind} {self.ci_kind} intervals\n{body}>")


def backtest(
    runs: RunTable,
    law: LawSpec = "chinchilla",
    *,
    holdout: Holdout = "largest_C",
    by: str = "C",
    ci_probs: Sequence[float] = CI_PROBS,
    kind: Literal["new_run", "mean"] = "new_run",
    ci_kind: Literal["eti", "hdi"] = "eti",
    fit_kwargs: Mapping[str, Any] | None = None,
    executor: Executor | Literal["serial"] | None = SERIAL,
) -> Backtest:
    """Fit laws on all but the largest runs and score their predictions on the held-out ones.

    Leave-largest-out is the check that matters for extrapolation: a law's intervals are used
    beyond the runs it saw, and only held-out runs beyond the training runs test that. (Random or
    leave-one-out hold-outs test interpolation, which is much easier.) Expect few held-out runs;
    coverage on a handful of runs that share one extrapolation is a noisy, correlated number,
    which :func:`bayescale.analysis.calibration.calibrate` complements by simulation.

    Parameters
    ----------
    runs : RunTable
        Final losses, one per run.
    law : str, Law, sequence of them, or mapping of label to law
        Each law is fitted on the same training runs; labels are the law names (``law.spec`` for
        Law objects) unless a mapping gives them.
    holdout : {"largest_C", "largest_N", "largest_D"}, float or callable
        Which runs to hold out (see :func:`holdout_mask`). ``"largest_<col>"`` holds out the runs
        at the column's largest value when two or more share it (a grid design), else the top
        10% of runs by that column (continuous values). A float holds out that fraction of runs
        with the largest ``by``; a callable takes ``runs.to_dataframe()`` and returns a boolean
        mask (True = held out).
    by : str
        Column of a fractional ``holdout`` (default ``"C"``).
    ci_probs : sequence of float
        Central interval probabilities to score.
    kind : {"new_run", "mean"}
        ``"new_run"`` (default) scores what a held-out run should fall in: the law's uncertainty
        plus the fitted run-to-run noise.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default; exact from the draws) or highest-density intervals.
    fit_kwargs : mapping, optional
        Passed to :func:`bayescale.fit` for every law (``likelihood``, ``priors``,
        ``random_seed``, ``draws``...).
    executor : concurrent.futures.Executor, "serial" or None
        Where the laws' fits run, through :func:`bayescale.inference.many.fit_many`: ``"serial"``
        (default) one after another in this process; ``None`` a new process pool; or any
        ``concurrent.futures.Executor`` (a process pool you keep, a Dask ``distributed`` client's
        executor...). Several laws then fit at once; the numbers are the same.

    Returns
    -------
    Backtest
        ``.table`` (one row per held-out run per law), ``.scores()`` (one row per law: n_train,
        n_test, coverage per ci_prob, RMSLE, mean log density, ARE, divergences, max R-hat),
        ``.fits``; for one law also ``.fit``, ``.coverage()``, ``.are()``.

    Raises
    ------
    BacktestError
        When the hold-out rule selects no run or every run, reads a missing column, or the table
        holds training curves.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_demo_runs()
    >>> bt = backtest(runs, ["chinchilla", "kaplan"], fit_kwargs={"random_seed": 1})  # doctest: +SKIP
    >>> bt.scores()[["coverage_90", "rmsle", "log_density"]]  # doctest: +SKIP
    """
    if runs.curve_axis is not None and pd.Series(runs.run_ids).duplicated().any():
        raise BacktestError(
            "backtest scores finished runs (one loss per run); this table holds training curves. "
            "Use runs.final() for the final losses, or forecast the curves with "
            "bayescale.analysis.forecast_draws"
        )
    laws = _labels(law)
    kwargs = dict(fit_kwargs or {})
    if {"runs", "law"} & set(kwargs):
        raise BacktestError(f"fit_kwargs may not set {sorted({'runs', 'law'} & set(kwargs))}: give the runs "
                            "and the laws to backtest itself")
    mask = holdout_mask(runs, holdout, by=by)
    train, test = runs.filter(~mask), runs.filter(mask)
    if executor == SERIAL:
        kwargs.setdefault("progressbar", True)  # bs.fit's default, as when backtest called it directly
    from ..inference.many import fit_many  # fitting imports PyMC; importing this module does not

    done = fit_many([{"runs": train, "law": law_obj, **kwargs} for law_obj in laws.values()],
                    executor=executor, warn=False)
    for task_warnings in done.warnings:  # as bs.fit raised them, in task order
        for w in task_warnings:
            warnings.warn(w.message, w.category, stacklevel=2)
    for failure in done.failures:
        failure.reraise()
    fits, tables = {}, []
    for label, result in zip(laws, done, strict=True):
        fits[label] = result
        t = score_runs(fits[label], test, ci_probs=ci_probs, kind=kind, ci_kind=ci_kind)
        t.insert(0, "law", label)
        tables.append(t)
    return Backtest(fits, pd.concat(tables, ignore_index=True), ci_probs=ci_probs, n_train=len(train),
                    holdout=_describe_holdout(runs, holdout, by, mask), kind=kind, ci_kind=ci_kind)

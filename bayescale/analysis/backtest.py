"""Backtesting on your own largest runs: fit the smaller ones, check the intervals on the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..inference import Fit, fit
from ..laws import Law, get_law
from ..runs import RunTable
from .predict import SAMPLE_DIMS, interval, loss_draws

__all__ = ["backtest", "Backtest"]


class Backtest:
    """Result of :func:`backtest`: the fit on the training runs and one row per held-out run."""

    def __init__(self, fit: Fit, table: pd.DataFrame, ci_probs: Sequence[float]) -> None:
        self.fit = fit
        self.table = table
        self.ci_probs = tuple(ci_probs)

    def coverage(self) -> pd.Series:
        """Fraction of held-out losses inside each interval, indexed by ci_prob."""
        return pd.Series({p: float(self.table[f"inside_{p:g}"].mean()) for p in self.ci_probs},
                         name="coverage")

    def are(self) -> float:
        """Mean absolute relative error of the posterior median, mean(|y - yhat| / y)."""
        t = self.table
        return float(np.mean(np.abs(t["loss"] - t["median"]) / t["loss"]))

    def __repr__(self) -> str:
        cov = ", ".join(f"{p:.0%}: {c:.2f}" for p, c in self.coverage().items())
        return f"<Backtest on {len(self.table)} held-out runs: coverage {cov}; ARE {self.are():.4f}>"


def backtest(
    runs: RunTable,
    law: str | Law = "chinchilla",
    *,
    holdout: float = 0.1,
    by: str = "C",
    ci_probs: Sequence[float] = (0.5, 0.8, 0.9),
    kind: str = "new_run",
    ci_kind: str = "eti",
    fit_kwargs: Mapping[str, Any] | None = None,
) -> Backtest:
    """Fit on all but the largest runs and score the intervals on the held-out ones.

    Parameters
    ----------
    runs : RunTable
    law : str or Law
    holdout : float
        Fraction of runs held out: those with the largest ``by`` (at least one).
    by : str
        Column that defines "largest" (``"C"``, ``"N"`` or ``"D"``).
    ci_probs : sequence of float
        Interval probabilities to score.
    kind : {"new_run", "mean"}
        ``"new_run"`` (default) scores what a held-out run should fall in: the law's uncertainty
        plus run-to-run noise.
    ci_kind : {"eti", "hdi"}
    fit_kwargs : mapping, optional
        Passed to :func:`bayescale.fit` (``likelihood``, ``random_seed``, ``draws``...).

    Returns
    -------
    Backtest
        ``.table`` (inputs, loss, median, bounds and a hit flag per interval), ``.coverage()``,
        ``.are()``, ``.fit``.

    Examples
    --------
    >>> bt = bs.analysis.backtest(runs, "chinchilla", holdout=0.1)  # doctest: +SKIP
    >>> bt.coverage()  # doctest: +SKIP
    """
    law = get_law(law)
    if not 0 < holdout < 1:
        raise ValueError(f"holdout is a fraction of the runs, in (0, 1); got {holdout}")
    values = runs.column(by)
    n_out = max(1, int(round(holdout * len(runs))))
    order = np.argsort(values, kind="stable")
    test = np.zeros(len(runs), dtype=bool)
    test[order[-n_out:]] = True
    # ties at the threshold go to the test set, so no held-out size leaks into training
    test |= values >= values[order[-n_out]]
    train_runs, test_runs = runs.filter(~test), runs.filter(test)
    result = fit(train_runs, law, **dict(fit_kwargs or {}))
    inputs = {k: test_runs.column(k) for k in law.inputs}
    draws = loss_draws(result, kind=kind, **inputs)
    cols = dict.fromkeys(("N", "D", "C", *law.inputs))
    table = pd.DataFrame({k: test_runs.column(k) for k in cols if k in test_runs.to_dataframe()})
    table["run"] = test_runs.run_ids
    table["loss"] = test_runs.loss
    table["median"] = draws.median(SAMPLE_DIMS).values
    for p in ci_probs:
        ci = interval(draws, ci_prob=p, ci_kind=ci_kind)
        lo, hi = ci.sel(ci_bound="lower").values, ci.sel(ci_bound="upper").values
        table[f"lower_{p:g}"], table[f"upper_{p:g}"] = lo, hi
        table[f"inside_{p:g}"] = (table["loss"] >= lo) & (table["loss"] <= hi)
    return Backtest(result, table, ci_probs)

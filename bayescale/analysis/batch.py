"""The critical batch size and the steps/examples trade-off of Kaplan et al. 2020 (section 5.1), from a
``kaplan_smin`` fit.

For a target loss L, the critical batch size is ``B_crit(L) = Bstar / L**(1 / aB)``; a run trades steps S
against examples E = B S along ``(S / S_min - 1)(E / E_min - 1) = 1``, so at batch size B it needs
``S = S_min (1 + B_crit / B)`` steps and ``E = E_min (1 + B / B_crit)`` examples, with
``E_min = B_crit S_min``. A model of N parameters reaches L in ``S_min = Sc / (L - (Nc / N)**aN)**(1 / aS)``
steps at a large batch (never, when L is at or below its size-limited loss ``(Nc / N)**aN``).

Everything is computed per posterior draw (numpy/xarray only, no PyMC) and summarised as posterior
medians with equal-tailed intervals, like :func:`bayescale.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._policy import CI_PROB, check_interval
from ..results import Fit
from .compare import AveragedFit, Comparison
from .predictive import SAMPLE_DIMS

__all__ = ["BatchSizeError", "critical_batch_size", "LAW"]

#: The law whose parameters define B_crit(L), S_min and E_min.
LAW = "kaplan_smin"

ArrayLike = float | int | Sequence[float] | np.ndarray | pd.Series


class BatchSizeError(ValueError):
    """A fit of another law than ``kaplan_smin``, or a loss, size or batch size that cannot be used."""


def critical_batch_size(
    fit: Fit,
    *,
    loss: ArrayLike,
    N: ArrayLike | None = None,
    B: ArrayLike | None = None,
    ci_prob: float = CI_PROB,
) -> pd.DataFrame:
    """The critical batch size at target losses, and the steps and examples a run needs to reach them.

    Kaplan et al. 2020 (section 5.1): ``B_crit(L) = Bstar / L**(1 / aB)``; steps S and examples
    E = B S trade off as ``(S / S_min - 1)(E / E_min - 1) = 1``. Every quantity is computed on each
    posterior draw of a ``kaplan_smin`` fit and summarised by its median and equal-tailed
    ``ci_prob`` interval.

    Parameters
    ----------
    fit : Fit
        A fit of the ``kaplan_smin`` law (``bs.fit(runs, "kaplan_smin")`` on a table with ``N``,
        ``step`` and ``B`` columns).
    loss : float or array
        Target loss(es) L, in the units of the fitted loss (nats/token).
    N : float or array, optional
        Model size(s), in the units of the fitted N (non-embedding parameters). Adds the minimum
        steps and examples to reach ``loss`` with a model of that size.
    B : float or array, optional
        Batch size(s), in the units of the fitted ``B`` column (tokens per step); needs ``N``. Adds
        the steps ``S = S_min (1 + B_crit / B)`` and examples ``E = B S`` to reach ``loss`` at that
        batch size.
    ci_prob : float
        Probability of the equal-tailed intervals (default 0.9).

    ``loss``, ``N`` and ``B`` broadcast together (scalars against 1-d arrays); each element is one
    row of the result.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``loss``, then ``N`` and ``B`` when given, then for each quantity ``q``
        its posterior median ``q_median`` and interval ``q_lower``, ``q_upper``:

        - ``B_crit``: the critical batch size at ``loss`` (units of B);
        - with ``N``: ``p_reachable``, the posterior probability that a model of N parameters can
          reach ``loss`` at all (``(Nc / N)**aN < loss``); ``S_min``, the fewest steps (at
          B >> B_crit); ``E_min = B_crit S_min``, the fewest examples (at B << B_crit), in the units
          of B times steps (tokens). In draws where the loss is out of reach they are infinite, so
          an interval (or the median) may be ``inf``: more steps do not get there;
        - with ``B``: ``S`` and ``E``, the steps and examples (tokens) at that batch size.

        ``attrs`` record ``ci_prob``, ``law`` and ``draws``.

    Raises
    ------
    BatchSizeError
        A fit of another law (or a mixture of fits), a loss, N or B that is not a finite positive
        number, inputs that do not broadcast, ``B`` without ``N``, or ``ci_prob`` outside (0, 1).

    Examples
    --------
    >>> fit = bs.fit(runs, "kaplan_smin")  # doctest: +SKIP
    >>> bs.critical_batch_size(fit, loss=[3.0, 2.5], N=1e9, B=2**20)  # doctest: +SKIP
    """
    check_interval(ci_prob=ci_prob, error=BatchSizeError)
    _check_fit(fit)
    if B is not None and N is None:
        raise BatchSizeError("B= gives the steps and examples at that batch size, which need the model size: "
                             "pass N= too (B_crit alone needs only loss=)")
    given = {"loss": loss, "N": N, "B": B}
    x = _points({k: v for k, v in given.items() if v is not None})
    post = fit.posterior
    p = {k: post[k].transpose(*SAMPLE_DIMS).values.astype(float).reshape(-1, 1) for k in fit.law.param_names}
    L = x["loss"][None, :]
    with np.errstate(over="ignore", under="ignore"):
        B_crit = p["Bstar"] * L ** (-1.0 / p["aB"])  # (draws, points)
    out = {k: v for k, v in x.items()}
    out.update(_summary("B_crit", B_crit, ci_prob))
    if "N" in x:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            size_term = (p["Nc"] / x["N"][None, :]) ** p["aN"]
            gap = L - size_term
            reachable = gap > 0
            S_min = np.where(reachable, p["Sc"] * np.where(reachable, gap, 1.0) ** (-1.0 / p["aS"]), np.inf)
            E_min = B_crit * S_min
        out["p_reachable"] = reachable.mean(axis=0)
        out.update(_summary("S_min", S_min, ci_prob))
        out.update(_summary("E_min", E_min, ci_prob))
        if "B" in x:
            b = x["B"][None, :]
            with np.errstate(over="ignore", invalid="ignore"):
                S = S_min * (1.0 + B_crit / b)
                E = b * S
            out.update(_summary("S", S, ci_prob))
            out.update(_summary("E", E, ci_prob))
    df = pd.DataFrame(out)
    df.attrs.update({"ci_prob": float(ci_prob), "law": fit.law.spec, "draws": int(B_crit.shape[0])})
    return df


def _check_fit(fit: object) -> None:
    if isinstance(fit, AveragedFit | Comparison):
        raise BatchSizeError(
            "critical_batch_size reads the parameters of one kaplan_smin fit (Bstar, aB, Nc, aN, Sc, aS); "
            "it got a mixture of fits: pass the kaplan_smin fit itself"
        )
    if not isinstance(fit, Fit):
        raise BatchSizeError(f"expected a bayescale Fit of law {LAW!r}, got {type(fit).__name__}")
    if fit.law.name != LAW:
        raise BatchSizeError(
            f"critical_batch_size needs a fit of law {LAW!r}, whose parameters Bstar and aB give the critical "
            f"batch size B_crit(L) = Bstar / L**(1/aB); this fit is of law {fit.law.spec!r}, which has no critical "
            f"batch size (parameters {list(fit.law.param_names)}). Refit the runs with "
            f"bs.fit(runs, {LAW!r}) on a table with N, step and B (tokens per step) columns"
        )


def _points(given: dict[str, ArrayLike]) -> dict[str, np.ndarray]:
    vals = {}
    for name, v in given.items():
        if isinstance(v, (bool, np.bool_)) or np.asarray(v).dtype.kind == "b":
            raise BatchSizeError(f"{name}={v!r} is a boolean; give a number or an array of numbers")
        try:
            a = np.atleast_1d(np.asarray(v, dtype=float))
        except (TypeError, ValueError):
            raise BatchSizeError(f"{name} must be a number or an array of numbers, got {v!r}") from None
        if a.ndim != 1 or a.size == 0:
            raise BatchSizeError(f"{name} must be a scalar or a non-empty 1-d array, got shape {a.shape}")
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            raise BatchSizeError(f"{name} must be finite and > 0; got {a[bad][:5].tolist()} at positions "
                                 f"{np.flatnonzero(bad)[:5].tolist()}")
        vals[name] = a
    try:
        arrays = np.broadcast_arrays(*vals.values())
    except ValueError:
        shapes = {k: v.shape for k, v in vals.items()}
        raise BatchSizeError(f"loss, N and B do not broadcast together: {shapes}") from None
    return {k: np.array(a) for k, a in zip(vals, arrays, strict=True)}


def _summary(name: str, draws: np.ndarray, ci_prob: float) -> dict[str, np.ndarray]:
    """Median and equal-tailed interval over draws (axis 0) per point. Linear interpolation as in
    :func:`bayescale.decide`; a point with infinite draws (a loss out of reach) uses the empirical
    quantile (``inverted_cdf``), since interpolating next to ``inf`` gives NaN."""
    qs = [0.5, (1.0 - ci_prob) / 2.0, (1.0 + ci_prob) / 2.0]
    res = np.empty((3, draws.shape[1]))
    for j in range(draws.shape[1]):
        col = draws[:, j]
        method = "linear" if np.all(np.isfinite(col)) else "inverted_cdf"
        res[:, j] = np.quantile(col, qs, method=method)
    return {f"{name}_median": res[0], f"{name}_lower": res[1], f"{name}_upper": res[2]}

"""Scoring predictions against held-out losses: point error, log predictive density, calibration.

The scores of the extrapolation benchmarks (for example Alabdulmohsin et al. 2022's "Revisiting"
benchmark): RMSLE of a point prediction, the mean log predictive density of the held-out losses
(LL) and the mean squared calibration error of central intervals (MSCE). Each works for one fit
or for a weighted mixture of fits (a model average, e.g. with stacking weights from
:func:`bayescale.analysis.compare`). All numpy/xarray on the stored draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from ..results import Fit
from .predict import ArrayLike, predictive
from .predictive import SAMPLE_DIMS, weighted_quantiles

__all__ = [
    "CI_PROBS",
    "rmsle",
    "log_predictive_density",
    "mixture_log_density",
    "mixture_quantiles",
    "coverage",
    "msce",
]

#: The interval probabilities of the MSCE (Lee et al. 2025's calibration score; the toolkit's own
#: coverage tables use :data:`bayescale._policy.CI_PROBS`).
CI_PROBS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def rmsle(predicted: ArrayLike, observed: ArrayLike) -> float:
    """Root mean squared error of log losses: ``sqrt(mean((log predicted - log observed)**2))``.

    Examples
    --------
    >>> rmsle([1.0, 2.0], [1.0, 2.0])
    0.0
    >>> round(rmsle([1.1], [1.0]), 6)  # log 1.1
    0.09531
    """
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(observed, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"predicted has shape {p.shape} but observed has shape {y.shape}")
    if np.any(p <= 0) or np.any(y <= 0):
        raise ValueError("RMSLE needs positive predictions and observations")
    return float(np.sqrt(np.mean((np.log(p) - np.log(y)) ** 2)))


def log_predictive_density(
    fit: Fit,
    loss: ArrayLike,
    *,
    random_seed: int | None = None,
    **inputs: ArrayLike | None,
) -> np.ndarray:
    """Log density of new observed losses under the fit's posterior predictive, one per point.

    ``log p(y_i) = log mean_s p(y_i | theta_s)`` over the posterior draws ``s``, where
    ``p(y | theta_s)`` is the likelihood of one new observation: lognormal around the law's loss
    (``log y ~ Normal(log L, sigma)``; Student-t on log y for ``likelihood="student_t"``; for
    curve fits the loss of a new run, with the run offset and the AR(1) residual's stationary
    spread, and fresh run effects drawn as in :func:`bayescale.analysis.loss_draws`). The density
    is of the loss itself, so it includes the Jacobian ``-log y`` of the log transform; subtract
    ``-log y`` (add ``log y``) for the density of log loss.

    Parameters
    ----------
    fit : Fit
    loss : array
        Observed losses, one per point.
    random_seed : int, optional
        Only for fresh run effects (fits with ``run_effects``).
    **inputs
        The law's inputs at those points (``N=``, ``D=``...), as for :func:`bayescale.predict`.

    Returns
    -------
    numpy.ndarray
        ``log p(y_i)``, shape ``(point,)``.

    Examples
    --------
    >>> lpd = log_predictive_density(fit, test.loss, D=test.D)  # doctest: +SKIP
    >>> lpd.mean()  # the benchmark's LL  # doctest: +SKIP
    """
    log_y = np.log(np.atleast_1d(np.asarray(loss, dtype=float)))
    pred, _ = predictive(fit, kind="new_run", random_seed=random_seed, **inputs)
    if pred.n_points != log_y.shape[0]:
        raise ValueError(f"{log_y.shape[0]} losses for {pred.n_points} points")
    return pred.logpdf(log_y) - log_y


def mixture_log_density(
    log_densities: Mapping[str, ArrayLike], weights: Mapping[str, float]
) -> np.ndarray:
    """Log density of a weighted mixture: ``log sum_k w_k exp(log_densities[k])``, pointwise.

    Weights are normalised to sum to one; components of weight 0 are ignored.

    Examples
    --------
    >>> np.exp(mixture_log_density({"a": [np.log(1.0)], "b": [np.log(3.0)]}, {"a": 0.5, "b": 0.5}))
    array([2.])
    """
    w = _weights(log_densities, weights)
    terms = [np.asarray(log_densities[k], dtype=float) + np.log(w[k]) for k in w]
    return logsumexp(np.stack(terms), axis=0)


def mixture_quantiles(
    draws: xr.DataArray | Mapping[str, xr.DataArray],
    q: float | Sequence[float],
    *,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Quantiles over ``(chain, draw)`` of draws, or of a weighted mixture of several sets of draws.

    Each set of draws (dims ``chain, draw`` and ``point``) is a sample of its component; the
    mixture gives every draw of component ``k`` the weight ``w_k / n_k``. Quantiles interpolate
    the weighted empirical distribution between the midpoints of each draw's weight (for one set
    of draws, numpy's ``method="hazen"``).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(q), point)`` (``(point,)`` for a scalar q).

    Examples
    --------
    >>> med = mixture_quantiles({"m2": d2, "m4": d4}, 0.5, weights={"m2": 0.3, "m4": 0.7})  # doctest: +SKIP
    """
    if isinstance(draws, xr.DataArray):
        draws, weights = {"draws": draws}, {"draws": 1.0}
    if weights is None:
        raise ValueError("several sets of draws need weights=, one per set")
    w = _weights(draws, weights)
    values, wts = [], []
    for k, wk in w.items():
        d = draws[k].transpose(*SAMPLE_DIMS, ...)
        v = d.values.reshape(-1, *d.shape[2:])
        values.append(v)
        wts.append(np.full(v.shape[0], wk / v.shape[0]))
    qs = np.atleast_1d(np.asarray(q, dtype=float))
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError(f"quantiles must be in [0, 1], got {qs.tolist()}")
    out = weighted_quantiles(np.concatenate(values, axis=0), qs, np.concatenate(wts))
    return out[0] if np.ndim(q) == 0 else out


def coverage(
    draws: xr.DataArray | Mapping[str, xr.DataArray],
    observed: ArrayLike,
    *,
    ci_probs: Sequence[float] = CI_PROBS,
    weights: Mapping[str, float] | None = None,
) -> pd.Series:
    """Share of observed losses inside the central (equal-tailed) intervals of predictive draws.

    Parameters
    ----------
    draws : DataArray or mapping of str to DataArray
        Predictive draws of each observed point, dims ``(chain, draw, point)`` (for example
        ``loss_draws(fit, kind="new_run", D=...)``), or several such sets mixed by ``weights``.
    observed : array
        The observed values, one per point.
    ci_probs : sequence of float
        Interval probabilities (default :data:`CI_PROBS`).
    weights : mapping, optional
        Mixture weights when ``draws`` is a mapping (see :func:`mixture_quantiles`).

    Returns
    -------
    pandas.Series
        Coverage indexed by ``ci_prob``.

    Examples
    --------
    >>> cov = coverage(bs.analysis.loss_draws(fit, kind="new_run", D=test.D), test.loss)  # doctest: +SKIP
    >>> msce(cov)  # doctest: +SKIP
    """
    c = np.asarray(ci_probs, dtype=float)
    if np.any((c <= 0) | (c >= 1)):
        raise ValueError(f"ci_probs must be in (0, 1), got {c.tolist()}")
    y = np.atleast_1d(np.asarray(observed, dtype=float))
    qs = mixture_quantiles(draws, np.concatenate([(1 - c) / 2, (1 + c) / 2]), weights=weights)
    if qs.shape[1] != y.shape[0]:
        raise ValueError(f"{y.shape[0]} observations for {qs.shape[1]} predicted points")
    lower, upper = qs[: len(c)], qs[len(c):]
    inside = (y >= lower) & (y <= upper)
    return pd.Series(inside.mean(axis=1), index=pd.Index(c, name="ci_prob"), name="coverage")


def msce(cov: pd.Series) -> float:
    """Mean squared calibration error: ``mean over c of (coverage_c - c)**2``.

    Examples
    --------
    >>> round(msce(pd.Series([0.5, 0.7], index=[0.5, 0.9])), 6)
    0.02
    """
    c = np.asarray(cov.index, dtype=float)
    return float(np.mean((cov.to_numpy(dtype=float) - c) ** 2))


def _weights(components: Mapping[str, object], weights: Mapping[str, float]) -> dict[str, float]:
    missing = sorted(set(components) - set(weights))
    if missing:
        raise ValueError(f"no weight for {missing}; weights given for {sorted(weights)}")
    w = {k: float(weights[k]) for k in components}
    if any(v < 0 or not np.isfinite(v) for v in w.values()):
        raise ValueError(f"weights must be finite and >= 0, got {w}")
    total = sum(w.values())
    if total <= 0:
        raise ValueError("weights sum to zero")
    return {k: v / total for k, v in w.items() if v > 0}

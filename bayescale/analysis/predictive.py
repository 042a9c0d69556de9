"""The predictive distribution of log loss, per posterior draw and point: one numpy core.

In the style of arviz-stats: numpy first (:class:`Predictive`: arrays of draws x points), xarray on
top (:func:`predictive` reads a fit's posterior and the observation model it was fitted with). Each
draw ``s`` gives log loss at point ``i`` the distribution ``loc[s, i] + scale[s, i] * e``, ``e`` from
the fit's family (normal, or Student-t with the draw's ``nu``); the predictive is the mixture over
draws, weighted equally for one fit and by stacking weights for a model average.

Everything that turns a posterior into a statement about a loss uses it: ``predict``,
``loss_interval``, ``prob_below``, scoring, backtests, calibration, predictive checks and curve
forecasts. The observation model's math itself (which scale a new run has, how a run continues)
lives once in :mod:`bayescale.laws.noise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import logsumexp, ndtri

from ..laws.noise import FAMILIES, Family

__all__ = ["Predictive"]

SAMPLE_DIMS = ("chain", "draw")
#: Strata of the normal law error per draw for non-normal families (see :class:`Predictive`).
LAW_ERROR_STRATA = 8
#: Bisection steps of :meth:`Predictive.quantiles` at most (a bracket of 2e3 reaches 1e-10 in 45).
_MAX_BISECTIONS = 200
#: |log loss| beyond which a quantile is reported as infinite (a loss of e^1000 overflows anyway).
_LOG_LOSS_BOUND = 1e3


@dataclass(frozen=True)
class Predictive:
    """Per draw and point, the predictive distribution of log loss.

    Parameters
    ----------
    loc : numpy.ndarray
        Location of log loss, shape ``(draw, point)`` (draws flattened over chains).
    scale : numpy.ndarray
        Scale, broadcastable to ``loc`` (0 for the law's mean alone).
    family : Family or str
        ``"normal"`` or ``"student_t"``.
    shape : mapping of str to array
        The family's shape parameters per draw (``nu``), broadcastable to ``loc``.
    weights : numpy.ndarray, optional
        Weight of each draw (summing to one); equal weights by default.
    law_sd : numpy.ndarray, optional
        Sd of a normal error added to each draw's log loss (the law's own error beyond the data,
        :meth:`bayescale.laws.noise.Structure.law_error`), broadcastable to ``loc``. With the normal
        family it joins the scale exactly (``sqrt(scale^2 + law_sd^2)``); with another family each
        draw is expanded into ``LAW_ERROR_STRATA`` equally weighted normal quantiles, at
        ``(k + u_s) / K`` with ``u_s`` a golden-ratio sequence over draws (the strata of different
        draws interleave, so the mixture's cdf is smooth), without random numbers.

    Examples
    --------
    >>> p = Predictive(np.zeros((2, 1)), np.ones((2, 1)), "normal")
    >>> np.round(p.cdf(np.array([0.0])), 3), np.round(p.quantiles([0.5]), 6)
    (array([0.5]), array([[0.]]))
    """

    loc: np.ndarray
    scale: np.ndarray
    family: Family | str = "normal"
    shape: Mapping[str, np.ndarray] = field(default_factory=dict)
    weights: np.ndarray | None = None
    law_sd: np.ndarray | None = field(default=None, repr=False)
    #: Posterior draws represented (rows of ``loc`` before any Gauss-Hermite expansion): what
    #: :meth:`sample` returns one value per.
    n_draws: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.family, str):
            object.__setattr__(self, "family", FAMILIES[self.family])
        object.__setattr__(self, "loc", np.atleast_2d(np.asarray(self.loc, dtype=float)))
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=float))
        object.__setattr__(self, "n_draws", self.loc.shape[0])
        if self.law_sd is None or not np.any(self.law_sd):
            object.__setattr__(self, "law_sd", None)
            return
        err = np.broadcast_to(np.asarray(self.law_sd, dtype=float), self.loc.shape)
        if self.family.name == "normal":
            object.__setattr__(self, "scale", np.sqrt(self.scale ** 2 + err ** 2))
        else:
            s, n = self.loc.shape
            k, w0 = LAW_ERROR_STRATA, self._w()
            u = (np.arange(s) * 0.6180339887498949 + 0.5) % 1.0
            z = ndtri((np.arange(k)[None, :] + u[:, None]) / k)  # (draw, stratum)
            loc = (self.loc[:, None, :] + err[:, None, :] * z[:, :, None]).reshape(s * k, n)
            scale = np.broadcast_to(np.broadcast_to(self.scale, self.loc.shape)[:, None, :], (s, k, n)).reshape(s * k, n)
            shape = {q: np.repeat(np.asarray(v), k, axis=0) if np.ndim(v) == 2 and np.shape(v)[0] == s else v
                     for q, v in self.shape.items()}
            object.__setattr__(self, "loc", loc)
            object.__setattr__(self, "scale", scale)
            object.__setattr__(self, "shape", shape)
            object.__setattr__(self, "weights", np.repeat(w0 / k, k))
        object.__setattr__(self, "law_sd", None)  # folded in

    @property
    def n_points(self) -> int:
        return self.loc.shape[-1]

    def _w(self) -> np.ndarray:
        n = self.loc.shape[0]
        return np.full(n, 1.0 / n) if self.weights is None else np.asarray(self.weights, dtype=float)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of log loss per posterior draw and point, shape ``(n_draws, point)``; with
        weights (a model average, or the law error's strata), rows are resampled by weight first."""
        loc, scale = np.broadcast_arrays(self.loc, self.scale)
        shape = {k: np.broadcast_to(v, loc.shape) for k, v in self.shape.items()}
        if self.weights is not None:
            rows = rng.choice(len(loc), size=self.n_draws, p=self._w())
            loc, scale = loc[rows], scale[rows]
            shape = {k: v[rows] for k, v in shape.items()}
        e = self.family.sample(rng, loc.shape, **shape) if np.any(scale) else 0.0
        return loc + scale * e

    def logpdf(self, log_y: np.ndarray) -> np.ndarray:
        """``log sum_s w_s p(log y_i | s)``, one value per point: the density of log loss."""
        z = (np.asarray(log_y, dtype=float) - self.loc) / self.scale
        lp = self.family.logpdf(z, **self.shape) - np.log(self.scale)
        lp = np.broadcast_to(lp, np.broadcast_shapes(z.shape, np.shape(self.scale)))
        return logsumexp(lp + np.log(self._w())[:, None], axis=0)

    def cdf(self, log_y: np.ndarray) -> np.ndarray:
        """``P(log y_new <= log y_i)``, one value per point (a draw with scale 0 is a point mass)."""
        diff = np.asarray(log_y, dtype=float) - self.loc
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(self.scale > 0, diff / self.scale, np.where(diff >= 0, np.inf, -np.inf))
        return (self._w()[:, None] * np.broadcast_to(self.family.cdf(z, **self.shape), z.shape)).sum(axis=0)

    def quantiles(self, q: Sequence[float] | float, *, tol: float = 1e-10) -> np.ndarray:
        """Quantiles of log loss, exact for the mixture (Newton on its CDF, safeguarded by bisection), shape
        ``(len(q), point)``. The mixture's q-quantile lies between the smallest and the largest of
        the draws' q-quantiles, which bracket the search. With ``scale`` 0 (the law's mean), the
        weighted quantiles of the draws."""
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs <= 0) | (qs >= 1)):
            raise ValueError(f"quantiles must be in (0, 1), got {qs.tolist()}")
        if not np.any(self.scale):
            return weighted_quantiles(self.loc, qs, self._w())
        out = np.empty((len(qs), self.n_points))
        for i, qi in enumerate(qs):
            comp = self.loc + self.scale * self.family.ppf(qi, **self.shape)
            # brackets within +-_LOG_LOSS_BOUND (a draw at an infinite location would never shrink them)
            lo, hi = (np.clip(np.nan_to_num(b, nan=0.0), -_LOG_LOSS_BOUND, _LOG_LOSS_BOUND)
                      for b in (comp.min(axis=0), comp.max(axis=0)))
            x = 0.5 * (lo + hi)
            for _ in range(_MAX_BISECTIONS):  # Newton steps on the cdf, bisection where one leaves the bracket
                if not np.max(hi - lo) > tol:
                    break
                gap = self.cdf(x) - qi
                lo, hi = np.where(gap < 0, x, lo), np.where(gap < 0, hi, x)
                with np.errstate(all="ignore"):
                    step = x - gap / np.exp(self.logpdf(x))
                inside = np.isfinite(step) & (step > lo) & (step < hi)
                new = np.where(inside, step, 0.5 * (lo + hi))
                done = inside & (np.abs(new - x) <= tol)
                lo, hi, x = np.where(done, new, lo), np.where(done, new, hi), new
            out[i] = np.where(x >= _LOG_LOSS_BOUND - tol, np.inf, np.where(x <= tol - _LOG_LOSS_BOUND, -np.inf, x))
        return out

    def interval(self, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
        """Central (equal-tailed) interval of log loss: lower and upper, one per point."""
        lo, hi = self.quantiles([(1 - ci_prob) / 2, (1 + ci_prob) / 2])
        return lo, hi

    @staticmethod
    def mixture(components: Mapping[str, Predictive], weights: Mapping[str, float]) -> Predictive:
        """The weighted mixture of several predictives (one family), each draw of component ``k``
        weighted ``w_k / n_k``."""
        keys = [k for k in components if weights.get(k, 0) > 0]
        fams = {components[k].family.name for k in keys}
        if len(fams) != 1:
            raise ValueError(f"a mixture of predictives needs one family, got {sorted(fams)}")
        total = sum(weights[k] for k in keys)
        parts = [components[k] for k in keys]
        loc = np.concatenate([np.broadcast_to(c.loc, (c.loc.shape[0], parts[0].n_points)) for c in parts])
        scale = np.concatenate([np.broadcast_to(c.scale, (c.loc.shape[0], parts[0].n_points)) for c in parts])
        w = np.concatenate([c._w() * weights[k] / total for k, c in zip(keys, parts, strict=True)])
        names = set().union(*(c.shape for c in parts))
        shape = {n: np.concatenate([np.broadcast_to(c.shape[n], (c.loc.shape[0], 1)) for c in parts]) for n in names}
        out = Predictive(loc, scale, parts[0].family, shape, w)
        object.__setattr__(out, "n_draws", sum(c.n_draws for c in parts))
        return out


def weighted_quantiles(values: np.ndarray, qs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Quantiles of weighted draws ``(draw, point)``, interpolating between the midpoints of each
    draw's weight (for equal weights, numpy's ``method="hazen"``), shape ``(len(qs), point)``."""
    order = np.argsort(values, axis=0)
    v = np.take_along_axis(values, order, axis=0)
    w = weights[order]
    mid = np.cumsum(w, axis=0) - w / 2
    out = np.empty((len(qs), values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.interp(qs, mid[:, j], v[:, j])
    return out


def flat(da: xr.DataArray | np.ndarray) -> np.ndarray:
    """Draws ``(chain, draw, ...)`` flattened to ``(chain * draw, ...)``."""
    if isinstance(da, xr.DataArray):
        da = da.transpose(*SAMPLE_DIMS, ...).values
    a = np.asarray(da, dtype=float)
    return a.reshape(-1, *a.shape[2:])


def noise_params(post: xr.Dataset, names: Sequence[str]) -> dict[str, Any]:
    """The observation model's parameters per draw, shape ``(draw, 1)`` (against points)."""
    return {k: flat(post[k])[:, None] for k in names}


def to_draws(values: np.ndarray, like: xr.DataArray) -> xr.DataArray:
    """``(draw, point)`` values back onto the ``(chain, draw, point)`` dims and coords of ``like``."""
    return like.copy(data=values.reshape(like.shape))

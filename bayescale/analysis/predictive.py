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
from scipy.special import logsumexp

from ..laws.noise import FAMILIES, Family

__all__ = ["Predictive"]

SAMPLE_DIMS = ("chain", "draw")


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

    def __post_init__(self) -> None:
        if isinstance(self.family, str):
            object.__setattr__(self, "family", FAMILIES[self.family])
        object.__setattr__(self, "loc", np.atleast_2d(np.asarray(self.loc, dtype=float)))
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=float))

    @property
    def n_points(self) -> int:
        return self.loc.shape[-1]

    def _w(self) -> np.ndarray:
        n = self.loc.shape[0]
        return np.full(n, 1.0 / n) if self.weights is None else np.asarray(self.weights, dtype=float)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw of log loss per posterior draw and point, shape ``(draw, point)``; with weights,
        draws are resampled by weight first."""
        loc, scale = np.broadcast_arrays(self.loc, self.scale)
        shape = {k: np.broadcast_to(v, loc.shape) for k, v in self.shape.items()}
        e = self.family.sample(rng, loc.shape, **shape) if np.any(scale) else 0.0
        out = loc + scale * e
        if self.weights is not None:
            out = out[rng.choice(len(out), size=len(out), p=self._w())]
        return out

    def logpdf(self, log_y: np.ndarray) -> np.ndarray:
        """``log sum_s w_s p(log y_i | s)``, one value per point: the density of log loss."""
        z = (np.asarray(log_y, dtype=float) - self.loc) / self.scale
        lp = self.family.logpdf(z, **self.shape) - np.log(self.scale)
        lp = np.broadcast_to(lp, np.broadcast_shapes(z.shape, np.shape(self.scale)))
        return logsumexp(lp + np.log(self._w())[:, None], axis=0)

    def cdf(self, log_y: np.ndarray) -> np.ndarray:
        """``P(log y_new <= log y_i)``, one value per point."""
        z = (np.asarray(log_y, dtype=float) - self.loc) / self.scale
        return (self._w()[:, None] * np.broadcast_to(self.family.cdf(z, **self.shape), z.shape)).sum(axis=0)

    def quantiles(self, q: Sequence[float] | float, *, tol: float = 1e-10) -> np.ndarray:
        """Quantiles of log loss, exact for the mixture (bisection on its CDF), shape
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
            lo, hi = comp.min(axis=0), comp.max(axis=0)
            while np.max(hi - lo) > tol:
                mid = 0.5 * (lo + hi)
                below = self.cdf(mid) < qi
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            out[i] = 0.5 * (lo + hi)
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
        return Predictive(loc, scale, parts[0].family, shape, w)


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

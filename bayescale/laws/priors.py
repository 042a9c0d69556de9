"""Priors as small value objects: a distribution name and its parameters, serialisable to a dict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["Prior", "PriorError"]

#: Location families and the parameters that move them along the real line: adding the same
#: amount to all of them translates the distribution (and nothing else). ``mu`` of LogNormal, Gamma
#: and the like is not a location, so those families are absent on purpose.
LOCATION_FAMILIES: dict[str, tuple[str, ...]] = {
    "Normal": ("mu",),
    "StudentT": ("mu",),
    "Laplace": ("mu",),
    "Logistic": ("mu",),
    "Gumbel": ("mu",),
    "SkewNormal": ("mu",),
    "ExGaussian": ("mu",),
    "Cauchy": ("alpha",),
    "Uniform": ("lower", "upper"),
    "TruncatedNormal": ("mu", "lower", "upper"),
    "Triangular": ("lower", "c", "upper"),
}


class PriorError(ValueError):
    """A prior that cannot be used: unknown parameter name, bad value, wrong family."""


class Prior:
    """A prior distribution, named as in PyMC (``"Normal"``, ``"HalfNormal"``, ``"LogNormal"``...).

    Parameters
    ----------
    dist : str
        Name of a PyMC distribution class.
    **params : float
        Its parameters, by PyMC's keyword names.

    Examples
    --------
    >>> Prior("Normal", mu=6.0, sigma=3.0)
    Prior('Normal', mu=6.0, sigma=3.0)
    >>> Prior.from_dict(Prior("HalfNormal", sigma=0.1).to_dict())
    Prior('HalfNormal', sigma=0.1)
    """

    __slots__ = ("_dist", "_params")

    def __init__(self, dist: str, **params: float) -> None:
        if not isinstance(dist, str) or not dist:
            raise PriorError(f"a prior needs a distribution name such as 'Normal', got {dist!r}")
        clean = {}
        for key, value in params.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise PriorError(
                    f"prior {dist}: parameter {key}={value!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise PriorError(f"prior {dist}: parameter {key}={value!r} must be finite")
            clean[key] = v
        object.__setattr__(self, "_dist", dist)
        object.__setattr__(self, "_params", tuple(sorted(clean.items())))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Prior is immutable")

    @property
    def dist(self) -> str:
        """PyMC distribution name."""
        return self._dist

    @property
    def params(self) -> dict[str, float]:
        """The distribution's parameters (a fresh dict)."""
        return dict(self._params)

    def location_keys(self) -> tuple[str, ...]:
        """Parameters whose common shift translates the distribution; empty unless the family is a
        location family (see ``LOCATION_FAMILIES``)."""
        keys = LOCATION_FAMILIES.get(self._dist, ())
        return tuple(k for k in keys if k in self.params)

    def to_dict(self) -> dict[str, Any]:
        """``{"dist": name, **params}``; the inverse of :meth:`from_dict`."""
        return {"dist": self._dist, **self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        """Build a prior from :meth:`to_dict` output."""
        d = dict(d)
        try:
            dist = d.pop("dist")
        except KeyError:
            raise PriorError(f"a prior dict needs a 'dist' key, got {d!r}") from None
        return cls(dist, **d)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickle as :meth:`to_dict`, rebuilt by :meth:`from_dict`."""
        return type(self).from_dict, (self.to_dict(),)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prior) and (self._dist, self._params) == (
            other._dist,
            other._params,
        )

    def __hash__(self) -> int:
        return hash((self._dist, self._params))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self._params)
        return f"Prior({self._dist!r}{args})"

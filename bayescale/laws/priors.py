"""Priors as small value objects: a distribution name and its parameters, serialisable to a dict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Prior", "PriorError", "DISTRIBUTIONS", "IMPROPER"]


class Family(NamedTuple):
    """A distribution's parameters by PyMC's keyword names: required, optional, and those that must be > 0."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()


#: The distributions a prior may name, one parametrisation each (``Normal`` takes ``mu`` and
#: ``sigma``, not ``tau`` or ``sd``): what priors, prior cards and the model builder accept.
DISTRIBUTIONS: dict[str, Family] = {
    "Normal": Family(("mu", "sigma"), positive=("sigma",)),
    "HalfNormal": Family(("sigma",), positive=("sigma",)),
    "LogNormal": Family(("mu", "sigma"), positive=("sigma",)),
    "StudentT": Family(("nu", "mu", "sigma"), positive=("nu", "sigma")),
    "HalfStudentT": Family(("nu", "sigma"), positive=("nu", "sigma")),
    "Cauchy": Family(("alpha", "beta"), positive=("beta",)),
    "HalfCauchy": Family(("beta",), positive=("beta",)),
    "Laplace": Family(("mu", "b"), positive=("b",)),
    "Logistic": Family(("mu", "s"), positive=("s",)),
    "Gumbel": Family(("mu", "beta"), positive=("beta",)),
    "SkewNormal": Family(("mu", "sigma"), ("alpha",), positive=("sigma",)),
    "TruncatedNormal": Family(("mu", "sigma"), ("lower", "upper"), positive=("sigma",)),
    "Uniform": Family(("lower", "upper")),
    "Triangular": Family(("lower", "c", "upper")),
    "Gamma": Family(("alpha", "beta"), positive=("alpha", "beta")),
    "InverseGamma": Family(("alpha", "beta"), positive=("alpha", "beta")),
    "Exponential": Family(("lam",), positive=("lam",)),
    "Weibull": Family(("alpha", "beta"), positive=("alpha", "beta")),
    "Beta": Family(("alpha", "beta"), positive=("alpha", "beta")),
    "Flat": Family(()),  # improper: no prior predictive
    "HalfFlat": Family(()),
}


#: Improper distributions (no prior predictive; prior cards refuse them).
IMPROPER = frozenset({"Flat", "HalfFlat"})


def check_prior(dist: str, params: Mapping[str, float]) -> str:
    """What is wrong with ``dist`` and its (numeric) ``params`` ('' if nothing): an unknown
    distribution, missing or unknown parameter names, a scale <= 0, bounds out of order."""
    if dist not in DISTRIBUTIONS:
        return f"{dist!r} is not a distribution priors accept; use one of {sorted(DISTRIBUTIONS)} (PyMC's names)"
    family = DISTRIBUTIONS[dist]
    missing = [k for k in family.required if k not in params]
    unknown = sorted(set(params) - set(family.required + family.optional))
    if missing or unknown:
        what = "; ".join(t for t in (f"missing {missing}" if missing else "",
                                     f"unknown {unknown}" if unknown else "") if t)
        return (f"{dist} takes {list(family.required)}"
                + (f" (optional {list(family.optional)})" if family.optional else "") + f": {what}")
    bad = [k for k in family.positive if params[k] <= 0]
    if bad:
        return f"{dist}: {', '.join(f'{k}={params[k]!r}' for k in bad)} must be > 0"
    order = [k for k in ("lower", "c", "upper") if k in params]
    if any(params[a] > params[b] for a, b in zip(order, order[1:], strict=False)) or (
            "lower" in params and "upper" in params and params["lower"] >= params["upper"]):
        return (f"{dist}: needs lower < upper (and lower <= c <= upper), got "
                + ", ".join(f"{k}={params[k]!r}" for k in order))
    return ""

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
            if isinstance(value, bool) or not math.isfinite(v):
                raise PriorError(f"prior {dist}: parameter {key}={value!r} must be a finite number")
            clean[key] = v
        problem = check_prior(dist, clean)
        if problem:
            raise PriorError(f"prior {problem}")
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

"""What is fitted, in one object: the law, the observation model and the priors, resolved once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from .base import Law, get_law
from .cards import card_priors
from .noise import Noise, get_noise
from .priors import LOCATION_FAMILIES, Prior, PriorError

__all__ = ["ModelSpec", "resolve_priors"]


def resolve_priors(law: Law, noise: Noise, priors: Mapping[str, Any] | str | PathLike[str] | None) -> dict[str, Prior]:
    """Defaults of the law and the observation model, overridden per parameter by ``priors``.

    Keys are sampled names: ``log_A`` for a log-scale ``A``, ``alpha``, and the noise's parameters
    (``sigma``, ``nu``, ``tau``, ``ell``, ``<name>_run_sd``; see :attr:`Noise.names`). Values are
    :class:`Prior` objects or their dicts. A prior card's name or path (``"hoffmann2022"``) stands for
    its priors, and ``{"card": name, key: prior, ...}`` for its priors with overrides (see
    :func:`bayescale.laws.cards.card_priors`); a card's priors for noise parameters this model does
    not have (``nu`` with the normal likelihood, ``tau`` for final losses) are not used.
    """
    out = {**law.default_priors(), **noise.default_priors(law)}
    card, given = card_priors(law, priors)
    if card is not None:
        explicit = set(priors) - {"card"} if isinstance(priors, Mapping) else set()
        priors = {k: v for k, v in given.items() if k in out or k in explicit}
    for key, value in (priors or {}).items():
        if key not in out:
            hint = ""
            try:
                p = law.parameter(key)
                hint = f" {key} is sampled on the log scale: give a prior for {p.sampled_name!r}."
            except Exception:  # noqa: BLE001 - just a hint
                pass
            raise PriorError(
                f"no parameter {key!r} to put a prior on; law {law.spec!r} with the {noise.family} "
                f"likelihood and noise={noise.structure!r} samples {sorted(out)}.{hint}"
            )
        prior = Prior.from_dict(value) if isinstance(value, Mapping) else value
        if not isinstance(prior, Prior):
            raise PriorError(f"prior for {key!r} must be a bayescale Prior, got {value!r}")
        shifted = [q for q in law.parameters if q.log and q.scale and q.sampled_name == key]
        if shifted and not prior.location_keys():
            raise PriorError(
                f"prior for {key!r} is {prior!r}, which is not a location family: {key} is sampled at the "
                f"runs' pivot, which shifts its prior along the log scale. Use one of {sorted(LOCATION_FAMILIES)} "
                f"(e.g. {key}=Prior('Normal', mu=..., sigma=...) on the log scale)"
            )
        out[key] = prior
    return out


@dataclass(frozen=True)
class ModelSpec:
    """Law + observation model + resolved priors: everything but the data. Hashable, so one compiled
    model serves every fit of the same spec; serialisable to a dict (a fit's provenance).

    Examples
    --------
    >>> spec = ModelSpec.build("chinchilla", likelihood="student_t")
    >>> spec.noise.parameter_names, sorted(spec.priors)[:3]
    (('sigma', 'nu'), ['alpha', 'beta', 'log_A'])
    """

    law: Law
    noise: Noise
    priors_items: tuple[tuple[str, Prior], ...]
    card: str | None = None

    @classmethod
    def build(cls, law: str | Law = "chinchilla", *, noise: Noise | str | None = None, likelihood: str | None = None,
              priors: Mapping[str, Any] | str | PathLike[str] | None = None, run_effects=(),
              parameterization: str = "noncentered", runs: Any = None) -> ModelSpec:
        """From ``bs.fit``'s keywords (``noise=None``: ``"ar1"`` for curve tables, else ``"iid"``)."""
        law = get_law(law)
        nz = get_noise(noise, likelihood, runs=runs, run_effects=run_effects,
                       parameterization=parameterization).with_law(law)
        if runs is not None:
            nz.check(runs, law)
        card = card_priors(law, priors)[0]
        return cls(law, nz, tuple(resolve_priors(law, nz, priors).items()), card)

    @property
    def priors(self) -> dict[str, Prior]:
        return dict(self.priors_items)

    @property
    def var_names(self) -> list[str]:
        """Natural-scale law parameters then the noise parameters."""
        return [*self.law.param_names, *self.noise.names()]

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law.spec, "noise": self.noise.to_dict(),
                "priors": {k: p.to_dict() for k, p in self.priors_items}, "card": self.card}

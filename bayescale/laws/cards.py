"""Prior cards: TOML files in ``models/`` naming a law and priors, with their published source."""

from __future__ import annotations

import tomllib
from os import PathLike
from pathlib import Path

from .base import get_law
from .priors import Prior, PriorError

__all__ = ["read_prior_card"]


def read_prior_card(path: str | PathLike[str]) -> tuple[str, dict[str, Prior]]:
    """Read a prior card: returns the law spec and its priors keyed by sampled name.

    A card looks like::

        law = "chinchilla"
        source = "Besiroglu et al. 2024, Table 1"
        [priors.alpha]
        dist = "Normal"
        mu = 0.35
        sigma = 0.05

    Examples
    --------
    >>> law, priors = read_prior_card("models/chinchilla_besiroglu2024.toml")  # doctest: +SKIP
    >>> fit = bs.fit(runs, law, priors=priors)  # doctest: +SKIP
    """
    card = tomllib.loads(Path(path).read_text())
    if "law" not in card or "priors" not in card:
        raise PriorError(f"{path}: a prior card needs 'law' and a [priors.NAME] table per parameter")
    law = get_law(card["law"])
    priors = {}
    for name, spec in card["priors"].items():
        law_names = {p.sampled_name for p in law.parameters} | {"sigma", "nu"}
        if name not in law_names:
            raise PriorError(f"{path}: law {law.spec!r} has no sampled parameter {name!r}; "
                             f"use one of {sorted(law_names)}")
        priors[name] = Prior.from_dict(spec)
    return law.spec, priors

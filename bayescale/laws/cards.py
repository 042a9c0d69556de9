"""Prior cards: TOML files in ``models/`` naming a law and priors, with their published source."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from os import PathLike
from pathlib import Path

from .base import get_law
from .priors import Prior, PriorError

__all__ = ["read_prior_card", "list_prior_cards"]


def _card_dirs() -> list[Path]:
    """Installed cards (inside the wheel), then the repository's ``models/`` (source checkout)."""
    return [Path(str(files("bayescale") / "models")), Path(__file__).resolve().parents[2] / "models"]


def list_prior_cards() -> list[str]:
    """Names of the prior cards shipped with bayescale."""
    return sorted({p.stem for d in _card_dirs() if d.is_dir() for p in d.glob("*.toml")})


def _find_card(name_or_path: str | PathLike[str]) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    for d in _card_dirs():
        candidate = d / f"{Path(name_or_path).stem}.toml"
        if candidate.is_file():
            return candidate
    raise PriorError(f"no prior card {str(name_or_path)!r}: not a file, and not one of {list_prior_cards()}")


def read_prior_card(path: str | PathLike[str]) -> tuple[str, dict[str, Prior]]:
    """Read a prior card, by path or by the name of a shipped card (``"chinchilla_besiroglu2024"``):
    returns the law spec and its priors keyed by sampled name.

    A card looks like::

        law = "chinchilla"
        source = "Besiroglu et al. 2024, Table 1"
        [priors.alpha]
        dist = "Normal"
        mu = 0.35
        sigma = 0.05

    Examples
    --------
    >>> law, priors = read_prior_card("chinchilla_besiroglu2024")  # doctest: +SKIP
    >>> fit = bs.fit(runs, law, priors=priors)  # doctest: +SKIP
    """
    path = _find_card(path)
    card = tomllib.loads(path.read_text())
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

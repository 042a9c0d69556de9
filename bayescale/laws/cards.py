"""Prior cards: TOML files in ``models/`` naming a law and its priors, with their published source.

A card is data, checked when it is read::

    law = "chinchilla"
    source = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, Section 3.3"
    notes = "How the widths were chosen."    # optional

    [priors.log_E]                           # keyed by sampled name: log_E, log_A, alpha, sigma...
    dist = "Normal"
    mu = 0.5247
    sigma = 0.028

Cards are found by file name (``chinchilla_default``), by short name (``hoffmann2022``, or
``default`` when the law is known) or by path; the shipped ones live in ``models/`` (inside the wheel
as ``bayescale/models``), and a directory named by the environment variable ``BAYESCALE_PRIORS``
(several separated by ``os.pathsep``) is searched first. ``bayescale.fit(runs, law, priors=...)``
takes a card's name, or ``{"card": name, <sampled name>: Prior, ...}`` to override some of its priors.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Law, LawError, get_law, list_laws
from .noise import POSITIVE_FAMILIES, noise_parameters
from .priors import DISTRIBUTIONS, IMPROPER, LOCATION_FAMILIES, Prior, PriorError, check_prior

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CARD_DISTRIBUTIONS",
    "PriorCard",
    "PriorCardError",
    "card_priors",
    "list_prior_cards",
    "list_priors",
    "load_prior_card",
    "read_prior_card",
]

#: Environment variable naming directories of user cards (searched before the shipped ones).
ENV_VAR = "BAYESCALE_PRIORS"


_TOP_KEYS = ("law", "source", "notes", "priors")


#: The distributions a card may name: the proper ones of those every prior accepts
#: (:data:`bayescale.laws.priors.DISTRIBUTIONS`).
CARD_DISTRIBUTIONS = {k: v for k, v in DISTRIBUTIONS.items() if k not in IMPROPER}


class PriorCardError(PriorError):
    """A prior card that cannot be used: malformed TOML, missing source, unknown law or parameter, a
    distribution that is not known or whose parameters are missing or invalid, or a card for another
    law than the one being fitted."""


@dataclass(frozen=True)
class PriorCard:
    """A validated prior card.

    Attributes
    ----------
    name : str
        The file name without ``.toml`` (``"hoffmann2022"``, ``"chinchilla_default"``).
    law : str
        Spec of the law the priors are for (``"chinchilla"``).
    source : str
        The published source of the priors.
    priors : dict of str to Prior
        Keyed by sampled name (``log_A``, ``alpha``, ``sigma``...); parameters the card leaves out
        keep the law's and the likelihood's defaults when fitted.
    notes : str
        How the priors were derived from the source.
    path : Path or None
        Where the card was read from.
    """

    name: str
    law: str
    source: str
    priors: Mapping[str, Prior] = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None

    @property
    def short_name(self) -> str:
        """The name without a leading ``<law>_`` (``"default"`` for ``chinchilla_default``)."""
        return self.name.removeprefix(f"{get_law(self.law).name}_")


# -- finding cards ---------------------------------------------------------------------------------

def _card_dirs() -> list[Path]:
    """User directories (``$BAYESCALE_PRIORS``), the installed cards (inside the wheel), then the
    repository's ``models/`` (a source checkout or an editable install)."""
    user = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    shipped = [Path(str(files("bayescale") / "models")), Path(__file__).resolve().parents[2] / "models"]
    out: list[Path] = []
    for d in [*user, *shipped]:
        if d.is_dir() and d.resolve() not in {o.resolve() for o in out}:
            out.append(d)
    return out


def _card_files() -> dict[str, Path]:
    """Card name -> file; the first directory holding a name wins."""
    found: dict[str, Path] = {}
    for d in _card_dirs():
        for p in sorted(d.glob("*.toml")):
            found.setdefault(p.stem, p)
    return found


def list_prior_cards() -> list[str]:
    """Names of the prior cards that can be loaded by name (shipped, and any in ``$BAYESCALE_PRIORS``).

    Examples
    --------
    >>> import bayescale as bs
    >>> "hoffmann2022" in bs.laws.list_prior_cards()
    True
    """
    return sorted(_card_files())


def _find_card(ref: str | PathLike[str], law: Law | None = None) -> tuple[Path, str | None]:
    """The card file for a path, a card name or a short name, and the law a ``<law>_<name>`` reference
    implies (None when the reference names no law)."""
    text = os.fspath(ref)
    path = Path(text).expanduser()
    if path.suffix == ".toml" or path.is_file() or os.sep in text or (os.altsep and os.altsep in text):
        if path.is_file():
            return path, None
        raise PriorCardError(f"no prior card file {text!r}; give an existing .toml file or the name of a card "
                             f"(one of {list_prior_cards()})")
    known = _card_files()
    if text in known:
        return known[text], None
    if law is not None and f"{law.name}_{text}" in known:
        return known[f"{law.name}_{text}"], law.name
    for name in sorted(list_laws(), key=len, reverse=True):  # "chinchilla_besiroglu2024" -> "besiroglu2024"
        rest = text.removeprefix(f"{name}_")
        if rest != text and rest in known:
            return known[rest], name
    if law is None:
        endings = [s for s in known if s.endswith(f"_{text}")]
        if len(endings) == 1:
            return known[endings[0]], None
    raise PriorCardError(
        f"no prior card {text!r}: not a file, and not one of {list_prior_cards()}"
        + (f" (nor {law.name}_{text})" if law is not None else "")
        + f". bayescale.list_priors() lists them; a directory of your own cards can go in ${ENV_VAR}"
    )


# -- reading and checking --------------------------------------------------------------------------

def _sampled_names(law: Law) -> list[str]:
    """What a card for ``law`` may set: the law's sampled names, the noise parameters, run-effect sds."""
    return ([p.sampled_name for p in law.parameters] + list(noise_parameters())
            + [f"{p.name}_run_sd" for p in law.parameters])


def _valid_text(law: Law) -> str:
    return (f"the law's {[p.sampled_name for p in law.parameters]}, the noise's {list(noise_parameters())} or "
            f"'<parameter>_run_sd' for a run effect")


def _check_prior(where: str, law: Law, name: str, spec: Any) -> Prior:
    """One ``[priors.<name>]`` table as a Prior, or a PriorCardError naming what to fix."""
    valid = _sampled_names(law)
    if name not in valid:
        hint = ""
        try:
            p = law.parameter(name)
            if p.sampled_name != name:
                hint = (f" {name} is sampled on the log scale: write [priors.{p.sampled_name}] with a prior "
                        f"on log {name}.")
        except LawError:
            pass
        raise PriorCardError(f"{where}: [priors.{name}]: law {law.spec!r} has no sampled parameter {name!r}; "
                             f"use one of {_valid_text(law)}.{hint}")
    key = f"[priors.{name}]"
    if not isinstance(spec, Mapping):
        raise PriorCardError(f"{where}: {key} must be a table with 'dist' and its parameters, e.g. "
                             f"[priors.{name}] dist = \"Normal\", mu = 0.3, sigma = 0.05; got {spec!r}")
    spec = dict(spec)
    dist = spec.pop("dist", None)
    if dist is None:
        raise PriorCardError(f"{where}: {key} has no 'dist'; add e.g. dist = \"Normal\" (one of "
                             f"{sorted(CARD_DISTRIBUTIONS)})")
    if dist not in CARD_DISTRIBUTIONS:
        raise PriorCardError(f"{where}: {key} dist = {dist!r} is not a distribution cards accept; use one of "
                             f"{sorted(CARD_DISTRIBUTIONS)} (PyMC's names)")
    for k, v in spec.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PriorCardError(f"{where}: {key} {k} = {v!r} must be a finite number")
    problem = check_prior(dist, spec)
    if problem:
        raise PriorCardError(f"{where}: {key} {problem}")
    if name in {p.sampled_name for p in law.parameters}:
        p = law.parameter(name)
        if p.log and p.scale and dist not in LOCATION_FAMILIES:
            raise PriorCardError(
                f"{where}: {key} {dist}: {name} is sampled at the data's pivot, which shifts its prior along "
                f"the log scale, so it needs a location family: one of {sorted(LOCATION_FAMILIES)} "
                "(e.g. dist = \"Normal\")")
    else:  # a noise scale or a run-to-run sd: positive support
        lower_ok = dist in ("Uniform", "TruncatedNormal") and spec.get("lower", -1.0) >= 0
        positive = sorted(POSITIVE_FAMILIES & set(CARD_DISTRIBUTIONS))
        if dist not in positive and not lower_ok:
            raise PriorCardError(f"{where}: {key} {dist}: {name} must be positive; use one of "
                                 f"{positive} (or Uniform/TruncatedNormal with lower >= 0)")
    try:
        return Prior(dist, **spec)
    except PriorError as err:
        raise PriorCardError(f"{where}: {key}: {err}") from None


def load_prior_card(ref: str | PathLike[str], *, law: str | Law | None = None) -> PriorCard:
    """Read and check a prior card, by short name, card name or path.

    Parameters
    ----------
    ref : str or path
        ``"hoffmann2022"``, ``"chinchilla_besiroglu2024"`` (the card's name with its law in front),
        ``"default"`` when ``law`` is given (the card ``<law>_default``), or a path to a ``.toml`` file.
    law : str or Law, optional
        The law the card is for: helps resolve short names, and a card for another law is an error.

    Returns
    -------
    PriorCard

    Raises
    ------
    PriorCardError
        Malformed TOML; a missing ``law``, ``source`` or ``[priors]``; an unknown law; a prior for a
        parameter the law and likelihoods do not sample; a distribution not in
        :data:`CARD_DISTRIBUTIONS`, or missing, unknown or invalid parameters for it; a card whose
        law differs from ``law``. Each message names the file and the key.

    Examples
    --------
    >>> card = load_prior_card("hoffmann2022")
    >>> card.law, card.priors["alpha"]
    ('chinchilla', Prior('Normal', mu=0.34, sigma=0.029))
    >>> load_prior_card("default", law="chinchilla").name
    'chinchilla_default'
    """
    law_obj = get_law(law) if law is not None else None
    path, implied = _find_card(ref, law_obj)
    where = str(path)
    try:
        card = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise PriorCardError(f"{where}: not valid TOML ({err}); see models/chinchilla_default.toml for the "
                             "format") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PriorCardError(f"{where}: cannot read the card: {err}") from None
    unknown = sorted(set(card) - set(_TOP_KEYS))
    if unknown:
        raise PriorCardError(f"{where}: unknown top-level keys {unknown}; a card has {list(_TOP_KEYS)} "
                             "(priors as [priors.<sampled name>] tables, notes as a string)")
    for key in ("law", "source"):
        if not isinstance(card.get(key), str) or not card[key].strip():
            example = '"chinchilla"' if key == "law" else '"Author et al. 2024, arXiv:..., Table 1"'
            raise PriorCardError(f"{where}: missing or empty {key!r}; add e.g. {key} = {example}")
    if "notes" in card and not isinstance(card["notes"], str):
        raise PriorCardError(f"{where}: 'notes' must be a string, got {card['notes']!r}")
    try:
        card_law = get_law(card["law"])
    except LawError:
        raise PriorCardError(f"{where}: law = {card['law']!r} is not a registered law; use one of {list_laws()} "
                             "(or register the law before reading the card)") from None
    if implied is not None and card_law.name != implied:
        raise PriorCardError(f"{where}: asked for as {os.fspath(ref)!r}, but the card is for law {card_law.spec!r}, "
                             f"not {implied!r}")
    table = card.get("priors")
    if not isinstance(table, Mapping) or not table:
        raise PriorCardError(f"{where}: no priors; add a [priors.<sampled name>] table per parameter: "
                             f"{_valid_text(card_law)}")
    priors = {name: _check_prior(where, card_law, name, spec) for name, spec in table.items()}
    out = PriorCard(name=path.stem, law=card_law.spec, source=card["source"].strip(), priors=priors,
                    notes=card.get("notes", "").strip(), path=path)
    if law_obj is not None:
        _check_card_law(out, law_obj)
    return out


def _check_card_law(card: PriorCard, law: Law) -> None:
    if card.law != law.spec:
        same = [n for n, c in _cards_by_law(law.spec)]
        raise PriorCardError(
            f"prior card {card.name!r} ({card.path}) is for law {card.law!r}, but the fit is of law {law.spec!r}; "
            + (f"cards for {law.spec!r}: {same}" if same else f"there is no card for {law.spec!r}")
            + " (bayescale.list_priors()), or leave priors= out for the law's defaults")


def _cards_by_law(spec: str) -> list[tuple[str, PriorCard]]:
    out = []
    for name in _card_files():
        try:
            card = load_prior_card(name)
        except PriorCardError:
            continue
        if card.law == spec:
            out.append((card.short_name, card))
    return out


def read_prior_card(path: str | PathLike[str]) -> tuple[str, dict[str, Prior]]:
    """Read a prior card, by path or by name: the law spec and its priors keyed by sampled name.

    :func:`load_prior_card` gives the whole card (source, notes, path).

    Examples
    --------
    >>> law, priors = read_prior_card("besiroglu2024")
    >>> law, sorted(priors)
    ('chinchilla', ['alpha', 'beta', 'log_A', 'log_B', 'log_E'])
    """
    card = load_prior_card(path)
    return card.law, dict(card.priors)


def card_priors(law: Law, priors: Any) -> tuple[str | None, Any]:
    """What ``priors=`` of :func:`bayescale.fit` means: a card (by name or path), a card with overrides
    (``{"card": "hoffmann2022", "sigma": Prior(...)}``), or per-parameter priors as they are.

    Returns the card's name (None when no card was named) and the per-parameter priors.

    Examples
    --------
    >>> from bayescale.laws import Prior, get_law
    >>> name, priors = card_priors(get_law("chinchilla"),
    ...                            {"card": "hoffmann2022", "sigma": Prior("HalfNormal", sigma=0.05)})
    >>> name, priors["sigma"], priors["alpha"]
    ('hoffmann2022', Prior('HalfNormal', sigma=0.05), Prior('Normal', mu=0.34, sigma=0.029))
    """
    if priors is None:
        return None, None
    if isinstance(priors, (str, PathLike)):
        card = load_prior_card(priors, law=law)
        return card.name, dict(card.priors)
    if isinstance(priors, Mapping) and "card" in priors:
        ref = priors["card"]
        if not isinstance(ref, (str, PathLike)):
            raise PriorCardError(f"priors={{'card': {ref!r}, ...}}: 'card' must be a card name or path, e.g. "
                                 "'hoffmann2022'")
        card = load_prior_card(ref, law=law)
        return card.name, {**card.priors, **{k: v for k, v in priors.items() if k != "card"}}
    return None, priors


def list_priors(law: str | Law | None = None) -> pd.DataFrame:
    """The prior cards that can be loaded by name, as a table.

    Parameters
    ----------
    law : str or Law, optional
        Only the cards for this law.

    Returns
    -------
    pandas.DataFrame
        One row per card: ``name`` (what ``priors=`` takes, given the law), ``card`` (the file name,
        also accepted), ``law``, ``source``, ``parameters`` (the sampled names it sets, comma
        separated) and ``path``.

    Raises
    ------
    PriorCardError
        A card that does not pass the checks of :func:`load_prior_card` (naming its file).

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.list_priors("chinchilla")["name"].tolist()
    ['besiroglu2024', 'default', 'hoffmann2022']
    """
    import pandas as pd

    spec = get_law(law).spec if law is not None else None
    rows = []
    for name in _card_files():
        card = load_prior_card(name)
        if spec is not None and card.law != spec:
            continue
        rows.append({"name": card.short_name, "card": card.name, "law": card.law, "source": card.source,
                     "parameters": ", ".join(card.priors), "path": str(card.path)})
    cols = ["name", "card", "law", "source", "parameters", "path"]
    return pd.DataFrame(rows, columns=cols).sort_values(["law", "name"], ignore_index=True)

"""Public scaling-law datasets known by address and checksum, read from a local copy or a cache.

Nothing here touches the network unless asked with ``download=True``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd

from .table import RunTable

__all__ = ["DATASETS", "Dataset", "DatasetError", "ChecksumError", "load", "cache_dir"]


class DatasetError(RuntimeError):
    """A dataset that cannot be found or read."""


class ChecksumError(DatasetError):
    """A file whose sha256 differs from the published one."""


@dataclass(frozen=True)
class Dataset:
    """A public data file: where it lives, its checksum and how its columns map to a RunTable."""

    name: str
    url: str
    filename: str
    sha256: str
    mapping: dict[str, str]
    description: str


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            name="chinchilla_epoch2024",
            url=(
                "https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
                "92258837/data/svg_extracted_data.csv"
            ),
            filename="svg_extracted_data.csv",
            sha256="193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30",
            mapping={"N": "Model Size", "C": "Training FLOP", "loss": "loss"},
            description=(
                "Hoffmann et al. 2022 Fig. 4 (245 runs) as digitised by Besiroglu et al. 2024, "
                "Chinchilla Scaling: A replication attempt; D = C / (6 N)."
            ),
        )
    ]
}


def cache_dir() -> Path:
    """``$BAYESCALE_DATA`` if set, else ``~/.cache/bayescale``."""
    env = os.environ.get("BAYESCALE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "bayescale"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(
    name: str,
    path: str | PathLike[str] | None = None,
    *,
    download: bool = False,
    cache: str | PathLike[str] | None = None,
) -> RunTable:
    """Load a known public dataset as a :class:`RunTable`.

    Parameters
    ----------
    name : str
        Dataset name; see ``bayescale.datasets.DATASETS``.
    path : path-like, optional
        A local copy of the file. Otherwise the cache directory is searched.
    download : bool
        Fetch the file into the cache when it is not there. Off by default: no network unless
        asked.
    cache : path-like, optional
        Cache directory (default :func:`cache_dir`).

    Raises
    ------
    DatasetError
        Unknown name, or no local copy and ``download`` is false.
    ChecksumError
        The file's sha256 differs from the published one.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla_epoch2024", "svg_extracted_data.csv")  # doctest: +SKIP
    >>> len(runs)  # doctest: +SKIP
    245
    """
    try:
        ds = DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}") from None
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise DatasetError(f"{name}: no file at {file}")
    else:
        file = Path(cache) if cache is not None else cache_dir()
        file = file / name / ds.filename
        if not file.is_file():
            if not download:
                raise DatasetError(
                    f"{name}: no local copy at {file}. Pass path='<your copy of "
                    f"{ds.filename}>' (from {ds.url}), or download=True to fetch it."
                )
            _download(ds, file)
    digest = _sha256(file)
    if digest != ds.sha256:
        raise ChecksumError(
            f"{name}: {file} has sha256 {digest}, expected {ds.sha256}; the file is not the "
            f"published one (re-download it from {ds.url})"
        )
    return RunTable.from_dataframe(pd.read_csv(file), source=f"{name} ({file})", **ds.mapping)


def _download(ds: Dataset, target: Path) -> None:
    import urllib.error
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(ds.url, timeout=60) as resp:  # noqa: S310 - fixed https address
            tmp.write_bytes(resp.read())
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DatasetError(
            f"{ds.name}: could not download {ds.url} ({err}); download it by hand and pass "
            f"path='<your copy of {ds.filename}>', or put it at {target}"
        ) from None
    if _sha256(tmp) != ds.sha256:
        tmp.unlink()
        raise ChecksumError(f"{ds.name}: downloaded file from {ds.url} fails its checksum")
    tmp.replace(target)

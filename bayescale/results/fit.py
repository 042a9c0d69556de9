"""The result of a fit: law, priors, run table and posterior, with provenance; netCDF save/load."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .._policy import CI_PROB
from ..laws import Law, Prior, get_law
from ..laws.noise import Noise
from ..laws.spec import ModelSpec
from ..runs import RunTable
from .diagnostics import diagnose

__all__ = ["Fit", "load_fit", "SamplerWarning", "LawChangedWarning", "FitFileError"]


class SamplerWarning(UserWarning):
    """Divergences, R-hat above 1.01 or low effective sample size: the posterior may be wrong."""


class MemoryUseWarning(UserWarning):
    """A result that will take gigabytes of memory (the pointwise log-likelihood of a big curve fit)."""


class LawChangedWarning(UserWarning):
    """A saved fit whose law's source differs from the law registered now."""


class FitFileError(ValueError):
    """A file that is not a bayescale fit, or whose law is not registered."""


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted scaling law.

    Attributes
    ----------
    spec : ModelSpec
        What was fitted: the law, the observation model (:class:`bayescale.laws.noise.Noise`) and
        the priors actually used, keyed by sampled name.
    runs : RunTable
    idata : xarray.DataTree
        ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data`` groups; root attrs
        hold the provenance (see :attr:`provenance`).
    pivot : dict of str to float
        The inputs' pivots used for sampling.
    """

    spec: ModelSpec
    runs: RunTable
    idata: xr.DataTree
    pivot: Mapping[str, float] = field(default_factory=dict)

    @property
    def law(self) -> Law:
        return self.spec.law

    @property
    def priors(self) -> dict[str, Prior]:
        return self.spec.priors

    @property
    def noise(self) -> Noise:
        """The observation model: family, structure, run effects, parameterization."""
        return self.spec.noise

    @property
    def likelihood(self) -> str:
        """The family of log loss (``"normal"`` or ``"student_t"``)."""
        return self.spec.noise.family

    @property
    def run_effects(self) -> tuple[str, ...]:
        return self.spec.noise.run_effects

    @property
    def provenance(self) -> dict[str, Any]:
        """Package version, law and source hash, priors, data hash, sampler settings, seed."""
        return _decode_attrs(self.idata.attrs)

    @property
    def noise_names(self) -> tuple[str, ...]:
        """The observation model's parameters (``sigma``, ``nu``, ``tau``, ``ell``...; ``<name>_run_sd``
        for each run effect)."""
        return self.spec.noise.names()

    @property
    def is_curve_fit(self) -> bool:
        """True when the fit was made on a table of training curves."""
        return self.runs.is_curves

    @property
    def var_names(self) -> list[str]:
        """Natural-scale law parameters then the noise parameters."""
        return [*self.law.param_names, *self.noise_names]

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws of the natural-scale parameters, dims ``(chain, draw)``."""
        return self.idata.posterior.dataset[self.var_names]

    def summary(self, *, ci_prob: float = CI_PROB, ci_kind: str = "hdi") -> pd.DataFrame:
        """Posterior summary per natural-scale parameter.

        Columns: mean, sd, the interval bounds, ess_bulk, ess_tail, r_hat (unrounded).
        """
        return az.summary(
            self.idata,
            var_names=self.var_names,
            ci_prob=ci_prob,
            ci_kind=ci_kind,
            round_to="none",
        ).drop(columns=["mcse_mean", "mcse_sd"], errors="ignore")

    def diagnostics(self) -> dict[str, float]:
        """The sampler's numbers: divergences, largest R-hat, smallest bulk and tail ESS, tree-depth
        saturation, mean tree depth, smallest E-BFMI. :func:`bayescale.diagnose` gives the verdict."""
        d = diagnose(self).to_dict()
        return {k: v for k, v in d.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    def save(self, path: str | PathLike[str]) -> None:
        """Write the fit to netCDF (run table and provenance included; no pickle), with a checksum
        of every stored array that :func:`load_fit` verifies."""
        tree = self.idata.copy()
        tree["runs"] = xr.DataTree(_runs_to_dataset(self.runs))
        digest, names = _checksum(tree)
        tree.attrs["bayescale_checksum"] = digest
        tree.attrs["bayescale_checksum_vars"] = json.dumps(names)
        tree.to_netcdf(path, engine="h5netcdf")

    def __repr__(self) -> str:
        post = self.idata.posterior.sizes
        what = (f"{len(self.runs)} checkpoints of {self.runs.to_dataframe()['run'].nunique()} runs, "
                f"noise {self.noise.structure}" if self.is_curve_fit else f"{len(self.runs)} runs")
        return (
            f"<Fit {self.law.spec} ({self.likelihood}) on {what}: "
            f"{post['chain']} chains x {post['draw']} draws>"
        )


# -- provenance and netCDF -------------------------------------------------------------------

_JSON_ATTRS = ("priors", "pivot", "sampler", "law_spec_dict", "derived", "run_effects", "noise_model")


def make_attrs(**attrs: Any) -> dict[str, Any]:
    """Provenance attrs for a fit's DataTree root, prefixed ``bayescale_`` (JSON where needed)."""
    out = {}
    for key, value in attrs.items():
        out[f"bayescale_{key}"] = json.dumps(value) if key in _JSON_ATTRS else value
    return out


def _decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if not key.startswith("bayescale_"):
            continue
        name = key.removeprefix("bayescale_")
        out[name] = json.loads(value) if name in _JSON_ATTRS else value
    return out


_MISSING = "__missing"


def _runs_to_dataset(runs: RunTable) -> xr.Dataset:
    """The run table as a netCDF-safe Dataset (dim ``row``); text columns keep their missing
    values in a ``<col>__missing`` mask and tz-aware times are stored in UTC with their zone."""
    df = runs.to_dataframe()
    df.index = pd.RangeIndex(len(df), name="row")
    attrs: dict[str, str] = {"derived": json.dumps(runs.derived), "source": runs.source or "",
                             "curve_axis": runs.curve_axis or ""}
    timezones, dtypes = {}, {}
    for col in list(df.columns):
        s = df[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            timezones[col] = str(s.dt.tz)
            df[col] = s.dt.tz_convert("UTC").dt.tz_localize(None)
            continue
        default_text = isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is not pd.NA  # pandas' "str"
        if isinstance(s.dtype, (pd.api.extensions.ExtensionDtype, pd.CategoricalDtype)) and not default_text:
            # nullable, Arrow-backed or categorical: restored by name on load
            dtypes[col] = (f"arrow:{s.dtype.pyarrow_dtype}" if isinstance(s.dtype, pd.ArrowDtype)
                           else f"string[{s.dtype.storage}]" if isinstance(s.dtype, pd.StringDtype) else str(s.dtype))
            if pd.api.types.is_bool_dtype(s.dtype):
                missing = s.isna().to_numpy()
                df[col] = s.fillna(False).to_numpy(dtype=bool)
                if missing.any():
                    df[f"{col}{_MISSING}"] = missing
                continue
            if pd.api.types.is_numeric_dtype(s.dtype):
                df[col] = s.to_numpy(dtype=float, na_value=np.nan)  # NA as NaN; the dtype brings NA back
                continue
        if not (pd.api.types.is_numeric_dtype(df[col].dtype) or pd.api.types.is_datetime64_any_dtype(df[col].dtype)):
            missing = s.isna().to_numpy()
            df[col] = np.where(missing, "", s.astype(str)).astype(str)
            if missing.any():
                df[f"{col}{_MISSING}"] = missing
    attrs["timezones"] = json.dumps(timezones)
    attrs["dtypes"] = json.dumps(dtypes)
    ds = xr.Dataset.from_dataframe(df)
    ds.attrs.update(attrs)
    return ds


def _runs_from_dataset(ds: xr.Dataset) -> RunTable:
    df = ds.to_dataframe().reset_index(drop=True)
    for col in [c for c in df.columns if c.endswith(_MISSING)]:
        base = col.removesuffix(_MISSING)
        df[base] = df[base].astype(object).where(~df[col].astype(bool), np.nan)
        del df[col]
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    for col, tz in json.loads(ds.attrs.get("timezones", "{}")).items():
        df[col] = df[col].dt.tz_localize("UTC").dt.tz_convert(tz)
    for col, dtype in json.loads(ds.attrs.get("dtypes", "{}")).items():
        if dtype.startswith("arrow:"):
            import pyarrow as pa  # pandas' Arrow-backed dtypes: pyarrow is there when such a column was saved

            dtype = pd.ArrowDtype(pa.type_for_alias(dtype.removeprefix("arrow:")))
        df[col] = df[col].astype(dtype)
    return RunTable(df, derived=json.loads(ds.attrs.get("derived", "{}")),
                    source=ds.attrs.get("source") or None, curve_axis=ds.attrs.get("curve_axis") or None)


def _checksum(tree: xr.DataTree, names: list[str] | None = None) -> tuple[str, list[str]]:
    """sha256 over numeric data variables (``group/name``), in a fixed order, values cast to float64
    or int64 (what a netCDF round trip keeps), with their names and shapes; and the names used.
    ``names=None``: every numeric variable (at save); on load, the ones the file lists, since a text
    variable of nothing but missing values comes back as float."""
    h = hashlib.sha256()
    used = []
    for node in sorted(tree.subtree, key=lambda n: n.path):
        for name in sorted(node.data_vars):
            key = f"{node.path}/{name}"
            values = np.asarray(node.data_vars[name].values)
            if (names is None and values.dtype.kind not in "biuf") or (names is not None and key not in names):
                continue
            canon = values.astype(np.float64 if values.dtype.kind == "f" else np.int64)
            h.update(f"{key}{canon.shape}".encode() + np.ascontiguousarray(canon).tobytes())
            used.append(key)
    if names is not None and sorted(used) != sorted(names):
        return "", used  # a listed variable is missing: not the file that was saved
    return h.hexdigest(), used


def load_fit(path: str | PathLike[str]) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Warns with :class:`LawChangedWarning` when the law registered now has a different source hash
    from the one the fit was made with; raises :class:`FitFileError` when the law is unknown
    (register it, e.g. by running the cell that defines it, then load again), when the file cannot
    be read (truncated, not netCDF), when its arrays differ from what was saved (the checksum
    :meth:`Fit.save` stored; files saved before it carry none) or when its run table no longer
    hashes to the one the fit recorded.

    Examples
    --------
    >>> fit.save("fit.nc")  # doctest: +SKIP
    >>> again = bs.load_fit("fit.nc")  # doctest: +SKIP
    """
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise FitFileError(f"{path} cannot be read as a saved fit ({type(err).__name__}: {err}); it is damaged, "
                           "truncated or not a netCDF file written by Fit.save") from None
    tree.close()
    meta = _decode_attrs(tree.attrs)
    if "law" not in meta or "runs" not in tree.children:
        raise FitFileError(f"{path} is not a bayescale fit (no law or run table in it)")
    stored = meta.get("checksum")
    listed = json.loads(tree.attrs.get("bayescale_checksum_vars", "null"))
    if stored is not None and (listed is None or stored != _checksum(tree, listed)[0]):
        raise FitFileError(f"{path}: its arrays are not those Fit.save wrote (checksum mismatch): the file was "
                           "edited or damaged; refit, or load a good copy")
    try:
        law = get_law(meta["law_spec"])
    except ValueError as err:
        raise FitFileError(f"{path}: {err}") from None
    if law.source_hash != meta.get("law_source_hash"):
        warnings.warn(
            f"{path}: law {meta['law']!r} has changed since this fit was made (source hash "
            f"{meta.get('law_source_hash', '?')[:12]} then, {law.source_hash[:12]} now); "
            "predictions use the law as it is now. Refit to be safe.",
            LawChangedWarning,
            stacklevel=2,
        )
    runs = _runs_from_dataset(tree["runs"].to_dataset())
    if meta.get("data_hash") and runs.data_hash != meta["data_hash"]:
        raise FitFileError(f"{path}: its run table does not match the data the fit was made on (data hash "
                           f"{runs.data_hash[:12]} now, {str(meta['data_hash'])[:12]} recorded); it was edited")
    idata = tree.copy()
    idata.attrs.pop("bayescale_checksum", None)
    idata.attrs.pop("bayescale_checksum_vars", None)
    del idata["runs"]
    priors = tuple((k, Prior.from_dict(v)) for k, v in meta["priors"].items())
    noise = Noise.from_dict(meta.get("noise_model") or {
        "family": meta["likelihood"], "structure": meta.get("noise", "iid"),
        "run_effects": meta.get("run_effects", ()),
        "parameterization": meta.get("sampler", {}).get("parameterization", "noncentered")})
    spec = ModelSpec(law, noise, priors, meta.get("prior_card"))
    return Fit(spec=spec, runs=runs, idata=idata, pivot={k: float(v) for k, v in meta["pivot"].items()})


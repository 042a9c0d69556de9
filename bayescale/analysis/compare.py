"""Comparing laws fitted to the same runs (PSIS-LOO through ArviZ) and averaging their predictions."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ..results import Fit

__all__ = ["compare", "Comparison", "AveragedFit", "average", "CompareError", "ParetoKWarning"]

#: Above this Pareto k a point's PSIS-LOO estimate is unreliable (Vehtari et al. 2024).
PARETO_K_MAX = 0.7


class CompareError(ValueError):
    """Fits that cannot be compared (different runs, no pointwise log-likelihood)."""


class ParetoKWarning(UserWarning):
    """Runs whose leave-one-out estimate is unreliable (Pareto k above 0.7, or lower for few draws)."""


@dataclass(frozen=True, eq=False)
class AveragedFit:
    """Fits of different laws to the same runs, mixed with fixed weights (stacking by default).

    Anything that takes a fit's predictive draws takes this too: :func:`bayescale.loss_interval`,
    :func:`bayescale.prob_below`, :func:`bayescale.predict` and
    :func:`bayescale.analysis.loss_draws` draw from each law in proportion to its weight.
    """

    fits: Mapping[str, Fit]
    weights: Mapping[str, float]
    method: str = "stacking"
    random_seed: int = 0

    @property
    def inputs(self) -> tuple[str, ...]:
        """The inputs any of the laws needs (their union, in order)."""
        return tuple(dict.fromkeys(k for f in self.fits.values() for k in f.law.inputs))

    @property
    def runs(self):  # noqa: ANN201 - the shared RunTable
        return next(iter(self.fits.values())).runs

    def __repr__(self) -> str:
        w = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.weights.items(), key=lambda kv: -kv[1]))
        return f"<AveragedFit ({self.method}) of {len(self.fits)} fits: {w}>"


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`compare` returns: the ranking table, the fits and their weights.

    ``table`` is ArviZ's comparison (rank, elpd, se, elpd_diff, dse, p_worse, weight, ...) of the
    elpd of log loss, best first, plus ``n_high_k`` (runs with high Pareto k). ``loo`` holds each
    fit's PSIS-LOO result (``.pareto_k`` per run). Pass the comparison itself to
    :func:`bayescale.loss_interval` for a model-averaged interval, or call :meth:`averaged`.
    """

    table: pd.DataFrame
    fits: Mapping[str, Fit]
    loo: Mapping[str, object] = field(repr=False)
    method: str = "stacking"

    @property
    def weights(self) -> pd.Series:
        return self.table["weight"].rename("weight")

    @property
    def best(self) -> str:
        return str(self.table.index[0])

    def k_threshold(self, name: str) -> float:
        """The Pareto k above which fit ``name``'s LOO is unreliable: min(1 - 1/log10(S), 0.7) for
        S draws (ArviZ's ``good_k``)."""
        return float(min(getattr(self.loo[name], "good_k", PARETO_K_MAX) or PARETO_K_MAX, PARETO_K_MAX))

    def high_k(self) -> dict[str, list]:
        """Per fit, the run ids whose Pareto k exceeds :meth:`k_threshold` or could not be computed
        (their LOO estimate is unreliable)."""
        if self.method == "lfo":  # exact refits: no importance sampling, no Pareto k
            return {name: [] for name in self.fits}
        out = {}
        for name, res in self.loo.items():
            k = np.asarray(res.pareto_k).ravel()
            ll = self.fits[name].idata["log_likelihood"].dataset["log_loss"]
            ids = np.asarray(self.fits[name].runs.run_ids)
            if len(ids) != k.size:  # a curve fit: one k per checkpoint, or per run (log_likelihood='run')
                per_run = ll.dims[-1] == "run" and "run" in ll.coords
                ids = np.asarray(ll["run"].values) if per_run else np.arange(k.size)
            ids = ids.tolist()  # plain Python values, whatever the array's dtype (pandas strings are objects)
            out[name] = [ids[i] for i in np.flatnonzero(~(k <= self.k_threshold(name)))]
        return out

    def averaged(self, *, random_seed: int = 0) -> AveragedFit:
        """The fits mixed by this comparison's weights."""
        return AveragedFit(dict(self.fits), {k: float(v) for k, v in self.weights.items()}, self.method,
                           random_seed)

    @property
    def criterion(self) -> str:
        return ("exact leave-future-out along C (stacking weights)" if self.method == "lfo"
                else f"PSIS-LOO ({self.method} weights)")

    def __repr__(self) -> str:
        cols = [c for c in ("rank", "elpd", "elpd_lfo", "se", "elpd_diff", "dse", "weight", "n_high_k", "n_test")
                if c in self.table]
        return f"<Comparison by {self.criterion}>\n{self.table[cols].to_string(float_format='%.3f')}"

    def _repr_html_(self) -> str:
        return f"<p>Comparison by {self.criterion}</p>" + self.table.to_html(float_format="%.3f")


def compare(fits: Mapping[str, Fit], *, method: str = "stacking", **lfo: Any) -> Comparison:
    """Rank fits of different laws (or priors, or likelihoods) to the same runs by PSIS-LOO, or by
    how they extrapolate (``method="lfo"``).

    The score is the expected log predictive density of one held-out run's log loss (elpd),
    estimated from each fit's pointwise log-likelihood by Pareto-smoothed importance sampling.
    It measures interpolation among your runs, not extrapolation to bigger ones: for a prediction
    beyond the data, use ``method="lfo"`` (exact leave-future-out along compute, refitting each
    law without the largest budgets; :func:`bayescale.analysis.lfo.compare_lfo`), and check with
    :func:`bayescale.backtest`.

    Parameters
    ----------
    fits : mapping of str to Fit
        At least two fits, all to the same run table (checked by data hash).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA", "lfo"}
        How ArviZ computes the model weights from LOO. Stacking weights the laws so that their
        mixture predicts held-out runs best; a law can get weight 0 even when its elpd is close.
        ``"lfo"``: leave-future-out elpd and stacking weights on it.
    **lfo
        For ``method="lfo"``: ``origins``, ``gap``, ``random_seed``, ``fit_kwargs``.

    Returns
    -------
    Comparison
        ``.table`` (best first), ``.weights``, ``.best``, ``.high_k()``, ``.averaged()``.

    Warns
    -----
    ParetoKWarning
        When a fit has runs with Pareto k above ArviZ's threshold (0.7, less for few draws),
        naming them: its elpd is then optimistic and the comparison less trustworthy (such runs
        are often the outliers a robust likelihood handles).

    Examples
    --------
    >>> cmp = bs.compare({"chinchilla": fit_c, "kaplan": fit_k})  # doctest: +SKIP
    >>> cmp.table[["elpd", "se", "elpd_diff", "weight"]]  # doctest: +SKIP
    >>> bs.loss_interval(cmp, N=7e10, D=1.4e12)  # model-averaged  # doctest: +SKIP
    """
    if len(fits) < 2:
        raise CompareError(f"compare needs at least two fits, got {len(fits)}")
    for name, f in fits.items():
        if not isinstance(f, Fit):
            raise CompareError(f"fits[{name!r}] is a {type(f).__name__}, not a bayescale Fit")
    hashes = {name: f.runs.data_hash for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise CompareError(
            "fits were made on different run tables (data hashes "
            f"{ {k: v[:10] for k, v in hashes.items()} }); LOO compares laws on the same runs only"
        )
    if method == "lfo":
        from .lfo import compare_lfo  # lfo scores refits through backtest, which imports this module

        return compare_lfo(fits, **lfo)
    if lfo:
        raise CompareError(f"{sorted(lfo)} are options of method='lfo', not of method={method!r}")
    for name, f in fits.items():
        if "log_likelihood" not in f.idata.children:
            raise CompareError(f"fit {name!r} has no pointwise log-likelihood group; refit with bs.fit")
    kinds = {name: f.idata["log_likelihood"].dataset["log_loss"].dims[-1] for name, f in fits.items()}
    if len(set(kinds.values())) > 1:
        raise CompareError(
            f"fits stored their log-likelihood along different dims ({kinds}): one per checkpoint and one per "
            "run (log_likelihood='run') cannot be compared; refit them with the same log_likelihood="
        )
    loo, bad = {}, []
    for name, f in fits.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # we say it ourselves, naming the runs
                loo[name] = az.loo(f.idata, pointwise=True)
        except (ValueError, FloatingPointError):
            bad.append(name)
    if bad:
        raise CompareError(
            f"PSIS-LOO failed for {bad}: usually a chain that did not move (check bs.diagnose(fit), refit "
            "with more tuning); compare the other fits without it"
        )
    try:
        with np.errstate(divide="ignore"):  # log of a zero stacking weight inside ArviZ
            table = az.compare(loo, method=method, round_to="none")
    except (ValueError, FloatingPointError) as err:
        raise CompareError(f"arviz.compare failed ({err}); check bs.diagnose on each fit") from None
    table = pd.DataFrame(table)
    result = Comparison(table, dict(fits), loo, method)
    high = result.high_k()
    table["n_high_k"] = [len(high[name]) for name in table.index]
    for name, ids in high.items():
        if ids:
            shown = ", ".join(map(str, ids[:8])) + (" ..." if len(ids) > 8 else "")
            warnings.warn(
                f"{name}: {len(ids)} run(s) with Pareto k > {result.k_threshold(name):.2f} or not computable "
                f"({shown}): the LOO estimate leans on "
                "them and is optimistic for this fit; look at them (outliers?) and consider "
                "likelihood='student_t'",
                ParetoKWarning,
                stacklevel=2,
            )
    return result


def average(fits: Mapping[str, Fit] | Comparison, *, weights: Mapping[str, float] | None = None,
            method: str = "stacking", random_seed: int = 0) -> AveragedFit:
    """Mix fits of several laws into one predictive distribution.

    Parameters
    ----------
    fits : mapping of str to Fit, or Comparison
    weights : mapping, optional
        Fixed weights (normalised here). By default the weights come from :func:`compare`.
    method : str
        Weighting method for :func:`compare` when ``weights`` is not given.
    random_seed : int
        Which draws of each fit enter the mixture.

    Examples
    --------
    >>> avg = bs.average({"chinchilla": fit_c, "kaplan": fit_k})  # doctest: +SKIP
    >>> bs.loss_interval(avg, N=7e10, D=1.4e12)  # doctest: +SKIP
    """
    if isinstance(fits, Comparison):
        return fits.averaged(random_seed=random_seed) if weights is None else AveragedFit(
            dict(fits.fits), _normalise(weights, fits.fits), "fixed", random_seed)
    if weights is None:
        return compare(fits, method=method).averaged(random_seed=random_seed)
    return AveragedFit(dict(fits), _normalise(weights, fits), "fixed", random_seed)


def _normalise(weights: Mapping[str, float], fits: Mapping[str, Fit]) -> dict[str, float]:
    unknown = set(weights) - set(fits)
    if unknown:
        raise CompareError(f"weights for unknown fits {sorted(unknown)}; fits are {sorted(fits)}")
    w = {k: float(weights.get(k, 0.0)) for k in fits}
    if any(v < 0 or not np.isfinite(v) for v in w.values()) or sum(w.values()) <= 0:
        raise CompareError(f"weights must be finite, non-negative and not all zero; got {w}")
    total = sum(w.values())
    return {k: v / total for k, v in w.items()}


def mixture_counts(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """How many of ``total`` mixture draws come from each fit: largest-remainder rounding of
    ``weight * total``, so that the counts sum to ``total`` exactly."""
    raw = {k: w * total for k, w in weights.items()}
    counts = {k: int(np.floor(v)) for k, v in raw.items()}
    short = total - sum(counts.values())
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[:short]:
        counts[k] += 1
    return counts


def mix_draws(avg: AveragedFit, per_fit: Mapping[str, xr.DataArray]) -> xr.DataArray:
    """Draws ``(chain, draw, ...)`` of each fit mixed by weight into one ``(chain=1, draw)`` array.

    As many mixture draws as the smallest fit has; from each fit a weight-proportional number of
    its draws, chosen at random without replacement (seeded by ``avg.random_seed``)."""
    total = min(d.sizes["chain"] * d.sizes["draw"] for d in per_fit.values())
    counts = mixture_counts(avg.weights, total)
    rng = np.random.default_rng(avg.random_seed)
    parts = []
    for name, d in per_fit.items():
        if counts[name] == 0:
            continue
        flat = d.stack(sample=("chain", "draw")).transpose("sample", ...)
        pick = np.sort(rng.choice(flat.sizes["sample"], size=counts[name], replace=False))
        parts.append(flat.isel(sample=pick).drop_vars(["sample", "chain", "draw"]))
    mixed = xr.concat(parts, dim="sample", coords="minimal", compat="override")
    mixed = mixed.rename({"sample": "draw"}).expand_dims(chain=[0]).assign_coords(draw=np.arange(total))
    return mixed.transpose("chain", "draw", ...)

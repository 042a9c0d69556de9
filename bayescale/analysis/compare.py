"""Comparing laws fitted to the same runs: PSIS-LOO through ArviZ."""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import pandas as pd

from ..inference.result import Fit

__all__ = ["compare", "CompareError"]


class CompareError(ValueError):
    """Fits that cannot be compared (different runs, no pointwise log-likelihood)."""


def compare(fits: Mapping[str, Fit], *, method: str = "stacking") -> pd.DataFrame:
    """Rank fits of different laws (or priors, or likelihoods) to the same runs by PSIS-LOO.

    Parameters
    ----------
    fits : mapping of str to Fit
        At least two fits, all to the same run table (checked by data hash).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ArviZ computes the model weights.

    Returns
    -------
    pandas.DataFrame
        ``arviz.compare``'s table (elpd_loo, p_loo, elpd_diff, weight, se, dse, warning) sorted
        best first. The elpd is of log loss; a ``warning`` flags Pareto k > 0.7, where LOO itself
        is unreliable for that law.

    Examples
    --------
    >>> bs.analysis.compare({"chinchilla": fit_c, "kaplan": fit_k})  # doctest: +SKIP
    """
    if len(fits) < 2:
        raise CompareError("compare needs at least two fits")
    hashes = {name: f.runs.data_hash for name, f in fits.items()}
    if len(set(hashes.values())) > 1:
        raise CompareError(
            "fits were made on different run tables (data hashes "
            f"{ {k: v[:10] for k, v in hashes.items()} }); LOO compares laws on the same runs only"
        )
    for name, f in fits.items():
        if "log_likelihood" not in f.idata.children:
            raise CompareError(f"fit {name!r} has no pointwise log-likelihood group; refit with bs.fit")
    try:
        table = az.compare({name: f.idata for name, f in fits.items()}, method=method, round_to="none")
    except (ValueError, FloatingPointError) as err:
        bad = []
        for name, f in fits.items():
            try:
                az.loo(f.idata)
            except (ValueError, FloatingPointError):
                bad.append(name)
        raise CompareError(
            f"PSIS-LOO failed for {bad or 'one of the fits'} ({err}): usually a chain that did not move "
            "(check fit.diagnostics(), refit with more tuning); compare the other fits without it"
        ) from None
    return pd.DataFrame(table)

"""Leave-future-out comparison of laws: how each extrapolates, scored on your own larger runs.

PSIS-LOO (:func:`bayescale.compare`) scores a law on runs inside the data: interpolation. What a
funding decision needs is extrapolation, and the two can rank laws in opposite orders. Leave-future-
out cross-validation (Buerkner, Gabry & Vehtari 2020) orders the runs by compute and, for each of the
last ``origins`` compute levels, refits every law to the runs below that level and scores the
level's runs (one-step-ahead: the next budget the law has not seen). The refits are exact (no
importance-sampling approximation: a final-loss table has few compute levels, so a handful of refits
per law is cheap next to being wrong), with each fit's own law, priors, observation model and
sampler settings. Weights are stacking weights on the held-out log densities (Yao et al. 2018): the
mixture of laws that predicted the next budget best.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from ..results import Fit, SamplerWarning
from ..runs.design import LEVEL_GAP, compute_levels
from .backtest import score_runs
from .compare import CompareError, Comparison

__all__ = ["compare_lfo", "stacking_weights", "LFO_ORIGINS"]

#: Compute levels held out in turn by default (each one step ahead of its refit).
LFO_ORIGINS = 3


def stacking_weights(lpd: np.ndarray) -> np.ndarray:
    """Weights on the simplex maximising ``sum_i log sum_k w_k exp(lpd[i, k])`` (held-out points
    ``i``, models ``k``): stacking of predictive distributions."""
    lpd = np.asarray(lpd, dtype=float)
    k = lpd.shape[1]
    if k == 1:
        return np.ones(1)

    def loss(z: np.ndarray) -> float:
        logw = np.r_[z, 0.0] - logsumexp(np.r_[z, 0.0])
        return -float(logsumexp(lpd + logw[None, :], axis=1).sum())

    res = minimize(loss, np.zeros(k - 1), method="Nelder-Mead" if k <= 3 else "BFGS",
                   options={"xatol": 1e-8, "fatol": 1e-10} if k <= 3 else {})
    w = np.exp(np.r_[res.x, 0.0] - logsumexp(np.r_[res.x, 0.0]))
    return w / w.sum()


def _refit_kwargs(fit: Fit) -> dict[str, Any]:
    post = fit.idata.posterior.dataset
    sampler = fit.provenance.get("sampler", {}) or {}
    kw = {"draws": int(post.sizes["draw"]), "chains": int(post.sizes["chain"]),
          "tune": int(sampler.get("tune", 1000) or 1000)}
    if sampler.get("nuts"):
        kw["nuts"] = dict(sampler["nuts"])
    return kw


def compare_lfo(fits: Mapping[str, Fit], *, origins: int = LFO_ORIGINS, gap: float = LEVEL_GAP,
                random_seed: int | None = None, fit_kwargs: Mapping[str, Any] | None = None) -> Comparison:
    """Rank fits of different laws to the same final losses by exact leave-future-out along compute.

    Called by :func:`bayescale.compare` with ``method="lfo"``; see the module's notes.

    Parameters
    ----------
    fits : mapping of str to Fit
        At least two fits to the same table of final losses (with C, or N and D).
    origins : int
        How many of the largest compute levels are held out in turn (default 3), each predicted by
        refits to every run below it. At least 2 levels must remain below the last one.
    gap : float
        Runs within this many decades of C are one level (an isoFLOP budget).
    random_seed : int, optional
        Seeds the refits (one derived seed per level and law); default: from each fit's own seed.
    fit_kwargs : mapping, optional
        Sampler settings for the refits, over each fit's own (draws, tune, chains).

    Returns
    -------
    Comparison
        ``.table`` with ``elpd_lfo`` (sum of the held-out runs' log densities of log loss), its
        ``se``, ``elpd_diff``, ``weight`` (stacking on the held-out densities) and ``n_test``;
        ``.loo`` holds the pointwise table (one row per held-out run, one column per law); the
        fits' full-data posteriors are mixed by these weights in :func:`bayescale.loss_interval`.
    """
    from ..inference import fit as refit  # sampling imports PyMC; importing this module does not

    names = list(fits)
    first = fits[names[0]]
    runs = first.runs
    if runs.is_curves:
        raise CompareError("method='lfo' compares laws on final losses; for curves use bs.backtest by tokens")
    try:
        C = runs.column("C")
    except Exception as err:  # noqa: BLE001 - any missing-column error, named for the user
        raise CompareError(f"method='lfo' orders runs by compute C: {err}") from None
    levels = compute_levels(C, gap=gap)
    if int(origins) != origins or origins < 1 or len(levels) - origins < 2:
        raise CompareError(f"method='lfo' with origins={origins} needs at least {origins + 2} compute levels "
                           f"(2 to fit the first refit); this table has {len(levels)}: use fewer origins")
    rows = []
    for k in range(origins, 0, -1):
        lo, hi = levels[-k]
        train = runs.filter(C < lo)
        test = runs.filter((C >= lo) & (C <= hi))
        row = {"origin": float(train.column("C").max()), "level_C": hi, "n_test": len(test.loss)}
        scored = {}
        for name in names:
            f = fits[name]
            seed = f.provenance.get("random_seed", 0) if random_seed is None else random_seed
            seed = (int(seed or 0) * 1_000_003 + zlib.crc32(f"{name}|{k}".encode())) % 2**32
            kw = {**_refit_kwargs(f), **dict(fit_kwargs or {})}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SamplerWarning)
                r = refit(train, f.law, priors=f.priors, noise=f.noise, random_seed=seed, progressbar=False, **kw)
            row[f"warnings_{name}"] = sum(issubclass(w.category, SamplerWarning) for w in caught)
            scored[name] = score_runs(r, test, ci_probs=(0.9,))["log_density"].to_numpy()
        rows.append((row, scored))
    lpd = np.column_stack([np.concatenate([s[name] for _, s in rows]) for name in names])
    n = lpd.shape[0]
    elpd = lpd.sum(axis=0)
    se = np.sqrt(n * lpd.var(axis=0, ddof=1)) if n > 1 else np.full(len(names), np.nan)
    best = int(np.argmax(elpd))
    diff = lpd[:, best][:, None] - lpd
    weights = stacking_weights(lpd)
    table = pd.DataFrame({"elpd_lfo": elpd, "se": se, "elpd_diff": elpd - elpd[best],
                          "dse": np.sqrt(n * diff.var(axis=0, ddof=1)) if n > 1 else np.nan,
                          "weight": weights, "n_test": n,
                          "refit_warnings": [sum(r[f"warnings_{m}"] for r, _ in rows) for m in names]},
                         index=pd.Index(names, name="law"))
    table = table.sort_values("elpd_lfo", ascending=False)
    table.insert(0, "rank", np.arange(len(table)))
    pointwise = pd.DataFrame(lpd, columns=names)
    pointwise.insert(0, "level_C", np.concatenate([[r["level_C"]] * r["n_test"] for r, _ in rows]))
    pointwise.attrs["origins"] = [r["origin"] for r, _ in rows]
    return Comparison(table, dict(fits), {"pointwise": pointwise}, "lfo")

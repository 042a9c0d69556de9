"""How much a fit rests on its priors and on its design: prior power-scaling, posterior
correlations, identifiability of the law from the runs, and how far a query extrapolates.

Power-scaling the prior
-----------------------
A fit's posterior is ``prior x likelihood``. *Power-scaling* the prior by ``alpha`` asks what the
posterior would be with ``prior**alpha x likelihood`` instead: ``alpha = 2`` is a prior twice as
strong (for a normal prior, the same centre with its sd divided by sqrt(2)), ``alpha = 0.5`` one
half as strong (sd times sqrt(2)), ``alpha = 1`` the fit as it is. If the extrapolated loss hardly
moves between ``alpha = 0.5`` and ``2``, the data, not the prior, decide it; if it moves a lot,
report the prior with the prediction, or collect runs that pin the law down.

Nothing is refitted: each draw of the existing posterior gets the importance weight
``prior(draw)**(alpha - 1)``, i.e. ``log w = (alpha - 1) * log prior(draw)``, Pareto-smoothed
(PSIS, Vehtari et al. 2024). The Pareto k of the weights says whether that shortcut can be
trusted: above 0.7 the reweighted draws are too few to stand in for the power-scaled posterior,
and the honest answer is to refit with the changed prior. The per-parameter diagnostic is the
cumulative-Jensen-Shannon sensitivity of Kallioinen et al. 2024 (``arviz_stats.psense``).

Everything here is numpy/xarray/arviz on stored draws; no model is rebuilt.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import psense

from .._policy import CI_PROB, check_interval
from ..results import Fit
from ..laws import Law, get_law
from ..runs import RunTable
from ..runs.design import design_problems
from .compare import PARETO_K_MAX
from .predict import SAMPLE_DIMS, ArrayLike, extrapolation_decades, loss_draws

__all__ = [
    "CORRELATION_MAX",
    "PARETO_K_MAX",
    "SENSITIVITY_THRESHOLD",
    "PriorSensitivity",
    "PriorSensitivityWarning",
    "SensitivityError",
    "extrapolation_decades",
    "identifiability",
    "posterior_correlations",
    "power_scale_weights",
    "prior_sensitivity",
    "strong_correlations",
]

#: Power-scaling sensitivity above which a parameter counts as sensitive (Kallioinen et al. 2024).
SENSITIVITY_THRESHOLD = 0.05
#: Correlation above which a pair of parameters is flagged by :func:`strong_correlations`.
CORRELATION_MAX = 0.9


class SensitivityError(ValueError):
    """A fit or request that prior power-scaling or the correlation tools cannot work with."""


class PriorSensitivityWarning(UserWarning):
    """A power-scaled estimate whose importance weights are unreliable (Pareto k > 0.7)."""


# -- power-scaling the prior --------------------------------------------------------------------


def _log_prior_names(fit: Fit, var_names: Sequence[str] | None) -> list[str]:
    """The ``log_prior`` variables to scale: all of them, or those named (natural or sampled names)."""
    if "log_prior" not in fit.idata.children:
        raise SensitivityError(
            "this fit has no log_prior group (a fit made before bayescale stored it, or a posterior "
            "built by hand), so its prior cannot be power-scaled; refit with bs.fit(...), which stores "
            "the log prior density of every draw, or add the group yourself: fit.idata['log_prior'] = "
            "xr.DataTree(xr.Dataset({name: (('chain', 'draw'), log_density)}))"
        )
    available = list(fit.idata.log_prior.dataset.data_vars)
    if not available:
        raise SensitivityError("the fit's log_prior group holds no variables; refit with bs.fit(...)")
    if var_names is None:
        return available
    if isinstance(var_names, str):
        var_names = [var_names]
    out: list[str] = []
    for name in var_names:
        candidates = [name]
        if name in fit.law.param_names:
            sampled = fit.law.parameter(name).sampled_name
            candidates += [sampled, f"{sampled}_pivot"]
        elif name.startswith("log_") and name.removeprefix("log_") in fit.law.param_names:
            candidates += [f"{name}_pivot"]
        found = [c for c in candidates if c in available]
        if not found:
            raise SensitivityError(
                f"no prior named {name!r} in this fit; var_names may name {available} "
                f"(or the law's parameters {list(fit.law.param_names)})"
            )
        if found[0] not in out:
            out.append(found[0])
    return out


def _summed_log_prior(fit: Fit, names: Sequence[str]) -> xr.DataArray:
    """Sum of the named log prior terms per draw, dims ``(chain, draw)``."""
    ds = fit.idata.log_prior.dataset
    total = xr.zeros_like(ds[names[0]].isel({d: 0 for d in ds[names[0]].dims if d not in SAMPLE_DIMS}),
                          dtype=float)
    for name in names:
        term = ds[name]
        extra = [d for d in term.dims if d not in SAMPLE_DIMS]
        total = total + (term.sum(extra) if extra else term)
    total = total.transpose(*SAMPLE_DIMS)
    post = fit.idata.posterior.dataset
    if tuple(total.shape) != (post.sizes["chain"], post.sizes["draw"]):
        raise SensitivityError(
            f"log_prior has (chain, draw) = {tuple(total.shape)} but the posterior has "
            f"({post.sizes['chain']}, {post.sizes['draw']}); the group belongs to another posterior, "
            "refit with bs.fit(...)"
        )
    if not np.all(np.isfinite(total.values)):
        raise SensitivityError(
            f"the log prior density of {int((~np.isfinite(total.values)).sum())} draw(s) is not "
            "finite; the log_prior group does not match the posterior draws"
        )
    return total.reset_coords(drop=True)


def _check_alpha(alpha: float) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = float("nan")
    if not np.isfinite(a) or a <= 0:
        shown = f"{a:g}" if not np.isnan(a) else repr(alpha)
        raise SensitivityError(
            f"power-scaling alpha must be a finite number > 0 (1 = the fit as it is, 2 = prior twice "
            f"as strong, 0.5 = half as strong); got {shown}"
        )
    return a


def _psis(log_prior: xr.DataArray, alpha: float) -> tuple[np.ndarray | None, float]:
    """Normalised PSIS weights of power-scaling by ``alpha`` (None for alpha = 1) and their k."""
    if alpha == 1.0:
        return None, float("nan")
    raw = (alpha - 1.0) * log_prior
    if np.ptp(raw.values) == 0:
        return None, float("nan")  # a prior flat over the draws: power-scaling changes nothing
    ess = az.ess(log_prior, method="tail", relative=True)
    r_eff = float(ess) if np.isfinite(ess) and float(ess) > 0 else 1.0
    # psislw takes minus the log ratio (its LOO convention: weights are 1 / likelihood)
    lw, k = (-raw).azstats.psislw(dim=list(SAMPLE_DIMS), r_eff=r_eff)
    lw = lw.transpose(*SAMPLE_DIMS).values
    w = np.exp(lw - lw.max())
    return w / w.sum(), float(k)


def power_scale_weights(
    fit: Fit, alpha: float, *, var_names: Sequence[str] | None = None
) -> tuple[xr.DataArray, float]:
    """Importance weights that turn the fit's posterior into the one with its prior raised to
    the power ``alpha``, and their Pareto k.

    Parameters
    ----------
    fit : Fit
        A fit with a ``log_prior`` group (every :func:`bayescale.fit` result has one).
    alpha : float
        Power on the prior: 2 = twice as strong, 0.5 = half as strong, 1 = unchanged.
    var_names : sequence of str, optional
        Scale only these priors (natural names such as ``"A"`` or sampled ones such as
        ``"log_A_pivot"``); default all.

    Returns
    -------
    weights : xarray.DataArray
        Dims ``(chain, draw)``, summing to 1 (uniform for ``alpha = 1``).
    pareto_k : float
        The PSIS shape estimate; above 0.7 the reweighting is unreliable. NaN for ``alpha = 1``
        (nothing is reweighted).

    Examples
    --------
    >>> w, k = power_scale_weights(fit, 2.0)  # doctest: +SKIP
    >>> float((w * fit.posterior["alpha"]).sum())  # doctest: +SKIP
    0.33
    """
    alpha = _check_alpha(alpha)
    lp = _summed_log_prior(fit, _log_prior_names(fit, var_names))
    w, k = _psis(lp, alpha)
    if w is None:
        w = np.full(lp.shape, 1.0 / lp.size)
    return xr.DataArray(w, dims=SAMPLE_DIMS, coords={d: lp[d].values for d in SAMPLE_DIMS}, name="weight"), k


def _weighted_quantiles(x: np.ndarray, w: np.ndarray | None, q: Sequence[float]) -> np.ndarray:
    """Quantiles of draws ``x`` (1-d) under weights ``w``; numpy's "linear" rule (Hyndman-Fan
    type 7) generalised to weights, so uniform weights give ``np.quantile`` (exactly, via numpy)."""
    if w is None:
        return np.quantile(x, q)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cw = np.cumsum(ws)
    denom = cw[-1] - ws[-1]
    if denom <= 0:  # all the weight on the largest draw
        return np.full(len(q), xs[-1])
    p = (cw - ws) / denom
    return np.interp(q, p, xs)


@dataclass(frozen=True, eq=False)
class PriorSensitivity:
    """The extrapolated loss under power-scaled priors; see :func:`prior_sensitivity`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per alpha (and per point for several inputs): ``alpha``, ``point``, the inputs
        (N, D, C where known), ``median``, ``lower``, ``upper``, ``pareto_k``.
    sensitivity : pandas.DataFrame
        Per parameter: ``prior`` and ``likelihood`` power-scaling sensitivity (cumulative
        Jensen-Shannon distance per unit log2 alpha; > 0.05 is sensitive; ``likelihood`` is NaN
        when the fit has no log_likelihood group) and a plain-words ``diagnosis``.
    alphas : tuple of float
    ci_prob : float
    kind : str
        ``"mean"`` or ``"new_run"``: which loss was reweighted.
    scaled : tuple of str
        The log_prior variables that were power-scaled.
    pareto_k : dict of float to float
        Pareto k per alpha (NaN for alpha = 1).
    """

    table: pd.DataFrame
    sensitivity: pd.DataFrame
    alphas: tuple[float, ...]
    ci_prob: float
    kind: str
    scaled: tuple[str, ...]
    pareto_k: Mapping[float, float] = field(default_factory=dict)

    @property
    def unreliable(self) -> list[float]:
        """The alphas whose reweighting has Pareto k > 0.7: refit with that prior to know."""
        return [a for a, k in self.pareto_k.items() if np.isfinite(k) and k > PARETO_K_MAX]

    @property
    def problems(self) -> list[str]:
        """Plain-language warnings: unreliable reweightings and prior-sensitive parameters."""
        out = [_k_message(a, self.pareto_k[a]) for a in self.unreliable]
        sens = self.sensitivity
        for name, row in sens.iterrows():
            if row["diagnosis"] not in ("ok", "constant in the posterior"):
                out.append(f"{name}: {row['diagnosis']} (prior sensitivity {row['prior']:.3f})")
        return out

    def __repr__(self) -> str:
        t = self.table
        pct = f"{self.ci_prob:.0%}"
        head = (f"<PriorSensitivity: {self.kind} loss, median and {pct} interval with the prior "
                f"power-scaled (prior**alpha; 2 = twice as strong) on {', '.join(self.scaled)}>")
        lines = [head]
        for point, rows in t.groupby("point", sort=False):
            where = ", ".join(f"{c}={rows[c].iloc[0]:.3g}" for c in ("N", "D", "C", "S", "step")
                              if c in rows.columns)
            lines.append(f"  at {where}:" if where else f"  point {point}:")
            lines.append("    alpha   median    lower    upper  pareto_k")
            for _, r in rows.iterrows():
                k = "   -" if not np.isfinite(r["pareto_k"]) else f"{r['pareto_k']:6.2f}"
                flag = "  unreliable" if np.isfinite(r["pareto_k"]) and r["pareto_k"] > PARETO_K_MAX else ""
                lines.append(f"    {r['alpha']:5.3g} {r['median']:8.4g} {r['lower']:8.4g} "
                             f"{r['upper']:8.4g}    {k}{flag}")
        lines.append("  per-parameter sensitivity (> 0.05 is sensitive):")
        s = self.sensitivity
        for name, r in s.iterrows():
            pri = "    -" if not np.isfinite(r["prior"]) else f"{r['prior']:.3f}"
            lik = "    -" if not np.isfinite(r["likelihood"]) else f"{r['likelihood']:.3f}"
            lines.append(f"    {name:>8}  prior {pri}  likelihood {lik}  {r['diagnosis']}")
        return "\n".join(lines)


def _k_message(alpha: float, k: float) -> str:
    return (f"power-scaling the prior by alpha={alpha:g} gives Pareto k = {k:.2f} (> {PARETO_K_MAX}): "
            "the reweighted draws cannot stand in for that posterior and its interval is unreliable; "
            "refit with the changed prior (for a Normal prior, sd / sqrt(alpha)) to know")


def _diagnosis(prior: float, likelihood: float, threshold: float) -> str:
    if not np.isfinite(likelihood):
        return "prior-sensitive" if prior >= threshold else "ok"
    if prior >= threshold and likelihood >= threshold:
        return "prior-data conflict: prior and data pull this parameter apart"
    if prior >= threshold > likelihood:
        return "strong prior / weak data: the prior decides this parameter"
    if likelihood < threshold:
        return "weak data: neither prior nor data move it much"
    return "ok"


def _parameter_sensitivity(fit: Fit, scaled: Sequence[str], threshold: float) -> pd.DataFrame:
    post = fit.idata.posterior.dataset
    names = [v for v in fit.var_names if v in post.data_vars]
    if not names:
        raise SensitivityError(f"the posterior holds none of the fit's parameters {fit.var_names}")
    # a parameter held fixed (no spread over the draws) has no sensitivity to measure
    varying = [v for v in names if np.ptp(post[v].values) > 0]
    prior = lik = None
    if varying:
        prior = psense(fit.idata, var_names=varying, group="prior", group_var_names=list(scaled))
        if "log_likelihood" in fit.idata.children:
            lik = psense(fit.idata, var_names=varying, group="likelihood")
    rows = {}
    for v in names:
        if v not in varying:
            rows[v] = {"prior": np.nan, "likelihood": np.nan, "diagnosis": "constant in the posterior"}
            continue
        p = float(prior[v].max())
        lk = float(lik[v].max()) if lik is not None else float("nan")
        rows[v] = {"prior": p, "likelihood": lk, "diagnosis": _diagnosis(p, lk, threshold)}
    return pd.DataFrame.from_dict(rows, orient="index")


def prior_sensitivity(
    fit: Fit,
    *,
    alphas: Sequence[float] = (0.5, 0.8, 1.0, 1.25, 2.0),
    ci_prob: float = CI_PROB,
    kind: Literal["mean", "new_run"] = "new_run",
    var_names: Sequence[str] | None = None,
    random_seed: int | None = None,
    **inputs: ArrayLike | None,
) -> PriorSensitivity:
    """How the extrapolated loss would move if the prior were stronger or weaker.

    For each ``alpha`` the posterior is reweighted as if the prior had been ``prior**alpha``
    (``alpha = 2``: twice as strong, i.e. a normal prior's sd divided by sqrt(2); ``0.5``: half
    as strong), and the median and equal-tailed ``ci_prob`` interval of the loss at the inputs are
    read off the reweighted draws. Nothing is refitted: the draws are importance-weighted by
    ``prior(draw)**(alpha - 1)`` with Pareto smoothing, and the Pareto k of each reweighting says
    whether that can be trusted (k > 0.7: refit with the changed prior instead; a
    :class:`PriorSensitivityWarning` says so).

    Parameters
    ----------
    fit : Fit
        A fit with a ``log_prior`` group (every :func:`bayescale.fit` result has one).
    alphas : sequence of float
        Powers on the prior, each > 0; 1 is the fit as it is.
    ci_prob : float
        Probability of the equal-tailed interval.
    kind : {"new_run", "mean"}
        The loss one new run would report (default), or the law's mean loss.
    var_names : sequence of str, optional
        Power-scale only these priors, e.g. ``["alpha", "beta"]`` (natural names like ``"A"`` map to
        the sampled ``log_A_pivot``); default every prior.
    random_seed : int, optional
        For the new-run noise; defaults to one derived from the fit's seed.
    **inputs
        The law's inputs (``N=``, ``D=``, or ``N=`` and ``C=``); scalars or arrays.

    Returns
    -------
    PriorSensitivity
        ``.table`` (alpha, point, inputs, median, lower, upper, pareto_k), ``.sensitivity`` (per
        parameter: prior and likelihood sensitivity, diagnosis), ``.pareto_k``, ``.problems``.

    Raises
    ------
    SensitivityError
        No ``log_prior`` group, an unknown prior name, or an alpha that is not > 0.

    Examples
    --------
    >>> sens = prior_sensitivity(fit, N=7e10, D=1.4e12)  # doctest: +SKIP
    >>> sens.table[["alpha", "median", "lower", "upper", "pareto_k"]]  # doctest: +SKIP
       alpha  median  lower  upper  pareto_k
    0   0.50   1.941  1.902  1.987      0.12
    ...
    """
    check_interval(ci_prob=ci_prob, error=SensitivityError)
    alphas = tuple(_check_alpha(a) for a in np.atleast_1d(np.asarray(alphas, dtype=object)))
    if not alphas:
        raise SensitivityError("give at least one alpha, e.g. alphas=(0.5, 1.0, 2.0)")
    scaled = _log_prior_names(fit, var_names)
    lp = _summed_log_prior(fit, scaled)
    draws = loss_draws(fit, kind=kind, random_seed=random_seed, **inputs).transpose(*SAMPLE_DIMS, "point")
    flat = draws.values.reshape(-1, draws.sizes["point"])
    cols = {k: draws.coords[k].values for k in ("N", "D", "C", *fit.law.inputs) if k in draws.coords}
    edge = (1.0 - ci_prob) / 2.0
    rows, ks = [], {}
    for a in alphas:
        w, k = _psis(lp, a)
        ks[a] = k
        wf = None if w is None else w.reshape(-1)
        for j in range(flat.shape[1]):
            lo, hi = _weighted_quantiles(flat[:, j], wf, [edge, 1.0 - edge])
            med = float(np.median(flat[:, j])) if wf is None else float(_weighted_quantiles(flat[:, j], wf, [0.5])[0])
            rows.append({"alpha": a, "point": j, **{c: float(v[j]) for c, v in cols.items()},
                         "median": med, "lower": float(lo), "upper": float(hi), "pareto_k": k})
        if np.isfinite(k) and k > PARETO_K_MAX:
            warnings.warn(_k_message(a, k), PriorSensitivityWarning, stacklevel=2)
    table = pd.DataFrame(rows)
    sens = _parameter_sensitivity(fit, scaled, SENSITIVITY_THRESHOLD)
    return PriorSensitivity(table=table, sensitivity=sens, alphas=alphas, ci_prob=float(ci_prob),
                            kind=kind, scaled=tuple(scaled), pareto_k=ks)


# -- posterior correlations ---------------------------------------------------------------------


def _param_draws(fit: Fit, var_names: Sequence[str] | None, scale: str) -> dict[str, np.ndarray]:
    """Flattened draws per parameter, labelled as in :func:`posterior_correlations`."""
    if scale not in ("natural", "sampled"):
        raise SensitivityError(f"scale must be 'natural' or 'sampled', got {scale!r}")
    law = fit.law
    post = fit.idata.posterior.dataset
    allowed = [*law.param_names, *fit.noise_names]
    if var_names is None:
        names = list(law.param_names)
    else:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
    resolved = []
    for n in names:
        base = n
        if n not in allowed:
            for p in law.parameters:
                if n in (p.sampled_name, f"{p.sampled_name}_pivot"):
                    base = p.name
        if base not in allowed:
            raise SensitivityError(f"unknown parameter {n!r}; var_names may name {allowed}")
        if base not in post.data_vars:
            raise SensitivityError(f"the posterior has no draws of {base!r}; it has {list(post.data_vars)}")
        if base not in resolved:
            resolved.append(base)
    if len(resolved) < 2:
        raise SensitivityError(f"correlations need at least two parameters; got {resolved}")
    nat = {k: post[k].transpose(*SAMPLE_DIMS).values.reshape(-1) for k in post.data_vars
           if k in allowed}
    log_pivot = {k: np.log(v) for k, v in fit.pivot.items()}
    out = {}
    for name in resolved:
        p = law.parameter(name) if name in law.param_names else None
        if p is None or not p.log:
            out[name] = nat[name]
            continue
        if scale == "natural" or not p.scale:
            out[p.sampled_name] = np.log(nat[name])
            continue
        label = f"{p.sampled_name}_pivot"
        if label in post.data_vars:
            out[label] = post[label].transpose(*SAMPLE_DIMS).values.reshape(-1)
        else:  # a posterior without the sampled variable: shift the natural one to the pivot
            missing = [s for s in law.scale_exponents(p) if s not in log_pivot]
            if missing:
                raise SensitivityError(f"the fit records no pivot for {missing}; use scale='natural'")
            out[label] = np.log(nat[name]) - np.asarray(law.log_pivot_shift(p, nat, log_pivot))
    return out


def posterior_correlations(
    fit: Fit,
    *,
    var_names: Sequence[str] | None = None,
    scale: Literal["natural", "sampled"] = "natural",
) -> pd.DataFrame:
    """Correlation matrix of the posterior draws of the law's parameters.

    Parameters
    ----------
    fit : Fit
    var_names : sequence of str, optional
        Parameters to include (the law's by default; noise parameters such as ``sigma`` may be
        added).
    scale : {"natural", "sampled"}
        ``"natural"``: the law's parameters, positive scale constants on the log scale (``log_A``,
        since A spans decades), exponents as they are. ``"sampled"``: the variables the sampler
        saw, amplitudes at the pivot (``log_A_pivot = log A - alpha log N_pivot``), which removes
        most of the amplitude-exponent correlation.

    Returns
    -------
    pandas.DataFrame
        Square and symmetric, indexed and labelled by variable (``log_E``, ``log_A``, ``alpha``...);
        NaN off the diagonal for a parameter that is constant over the draws.

    Examples
    --------
    >>> posterior_correlations(fit).round(2)  # doctest: +SKIP
           log_E  log_A  log_B  alpha  beta
    log_A   0.71   1.00   0.02   0.99  0.03
    ...
    """
    draws = _param_draws(fit, var_names, scale)
    names = list(draws)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant parameter: NaN row and column
        mat = np.corrcoef(np.vstack([draws[n] for n in names]))
    np.fill_diagonal(mat, 1.0)
    return pd.DataFrame(mat, index=names, columns=names)


def _ridge_pair(law: Law | None, a: str, b: str) -> tuple[str, str, str] | None:
    """(amplitude, exponent, input) when ``a``, ``b`` are an amplitude and the exponent it scales by."""
    if law is None:
        return None
    for amp, exp in ((a, b), (b, a)):
        base = amp.removeprefix("log_").removesuffix("_pivot")
        if base not in law.param_names or exp not in law.param_names:
            continue
        for inp, power in law.scale_exponents(law.parameter(base)).items():
            if power == exp:
                return base, exp, inp
    return None


def strong_correlations(
    corr: pd.DataFrame | Fit,
    *,
    threshold: float = CORRELATION_MAX,
    scale: Literal["natural", "sampled"] = "natural",
    law: Law | str | None = None,
) -> list[str]:
    """Plain-language notes on pairs of parameters with ``|rho| > threshold``; empty when none.

    Parameters
    ----------
    corr : DataFrame or Fit
        A matrix from :func:`posterior_correlations`, or a fit (its law's parameters on ``scale``).
    threshold : float
        Absolute correlation above which a pair is flagged (default 0.9).
    scale : {"natural", "sampled"}
        Used when ``corr`` is a fit.
    law : Law or str, optional
        The law behind a matrix, to recognise an amplitude and the exponent it scales with (the
        amplitude-exponent ridge); taken from the fit when ``corr`` is one.

    Examples
    --------
    >>> strong_correlations(fit)  # doctest: +SKIP
    ['log_A and alpha are strongly correlated (rho = +0.99): the amplitude-exponent ridge...']
    """
    if isinstance(corr, Fit):
        law = corr.law if law is None else law
        corr = posterior_correlations(corr, scale=scale)
    law = get_law(law) if isinstance(law, str) else law
    if not 0 < threshold < 1:
        raise SensitivityError(f"threshold must be in (0, 1), got {threshold}")
    names = list(corr.columns)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = float(corr.loc[a, b])
            if not abs(rho) > threshold:
                continue
            head = f"{a} and {b} are strongly correlated (rho = {rho:+.2f})"
            ridge = _ridge_pair(law, a, b)
            if ridge:
                amp, exp, inp = ridge
                out.append(
                    f"{head}: the amplitude-exponent ridge. The runs pin down {amp} / {inp}**{exp} "
                    f"near the middle of the observed {inp}, not {amp} and {exp} separately, so "
                    f"their own intervals are wide while the loss near the data stays tight; how "
                    f"far the law extrapolates in {inp} rests on {exp}. Compare scale='sampled' "
                    f"(the amplitude at the data's pivot): if the pair stays near +-1 there too, "
                    f"the runs do not separate this term from the others (e.g. from the floor)."
                )
            else:
                out.append(
                    f"{head}: the data constrain a combination of the two better than either "
                    "alone; their separate intervals overstate how uncertain the loss is near the "
                    "data, and a prior on one moves the other."
                )
    return out


# -- design: identifiability and extrapolation distance -----------------------------------------


def identifiability(fit_or_runs: Fit | RunTable, law: Law | str | None = None) -> list[str]:
    """What in the design of the runs keeps the law's parameters from being identified.

    Checks, for each input the law reads: at least 3 distinct values (more where the law
    declares it needs more; values within 1% count as one); no two inputs collinear in log space
    (``|corr(log N, log D)| > 0.99``, e.g. every run at one tokens-per-parameter ratio, so N and D
    cannot be told apart); and at least 3 rows per law parameter.

    Parameters
    ----------
    fit_or_runs : Fit or RunTable
    law : Law or str, optional
        The law to check against; default the fit's law (required with a RunTable).

    Returns
    -------
    list of str
        One plain-language problem per line; empty when the design is fine.

    Examples
    --------
    >>> identifiability(runs, "chinchilla")  # doctest: +SKIP
    ['only 2 distinct values of N (1e+08, 1e+09): ...']
    """
    if isinstance(fit_or_runs, Fit):
        runs = fit_or_runs.runs
        law = fit_or_runs.law if law is None else law
    elif isinstance(fit_or_runs, RunTable):
        runs = fit_or_runs
        if law is None:
            raise SensitivityError("identifiability of a RunTable needs law=, e.g. law='chinchilla'")
    else:
        raise SensitivityError(f"expected a Fit or a RunTable, got {type(fit_or_runs).__name__}")
    return design_problems(runs, law)



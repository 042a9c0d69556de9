"""Is the sampler's answer trustworthy? R-hat, ESS, divergences, tree depth and E-BFMI, in plain words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import xarray as xr

from ..runs.design import compute_levels

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["Diagnosis", "diagnose", "nested_rhat", "RHAT_MAX", "ESS_MIN", "BFMI_MIN", "MisfitWarning",
           "largest_runs_missed",
           "MISS_LOG", "MISS_Z"]

#: Thresholds beyond which sampler trouble is reported (Vehtari et al. 2021; Betancourt 2016).
RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3

#: The fitted law misses its largest runs when their mean log residual from the law's median is more
#: than MISS_LOG (2%) and more than MISS_Z standard errors of the noise (sigma / sqrt(runs)).
MISS_LOG = 0.02
MISS_Z = 2.0


class MisfitWarning(UserWarning):
    """The fitted law misses the runs at the largest compute: a prediction beyond them may be biased."""


# the same statistic under nutpie's and PyMC's names
_MAXDEPTH = ("maxdepth_reached", "reached_max_treedepth")
_DEPTH = ("depth", "tree_depth")


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found. ``ok`` is True when nothing needs attention; ``problems`` says
    what is wrong and what to try, one sentence each.

    Attributes
    ----------
    max_r_hat, min_ess_bulk, min_ess_tail : float
        Over the law's parameters and the noise parameters (rank-normalised split R-hat, ESS).
    worst_r_hat, worst_ess : str
        The parameter with the largest R-hat and the one with the smallest ESS.
    divergences : int
        Divergent transitions after tuning.
    treedepth_saturation : float
        Fraction of draws whose trajectory hit the maximum tree depth (NaN if not recorded).
    mean_tree_depth : float
        Average tree depth (a pivoted Chinchilla model needs 3-4; 8-10 means a long ridge).
    min_bfmi : float
        Smallest energy Bayesian fraction of missing information over chains (NaN if not recorded).
    chains, draws : int
    max_nested_r_hat : float
        Nested R-hat (:func:`nested_rhat`) over the same parameters, for samplers that start their
        chains in superchains (``sampler="chees"``); NaN otherwise. Judged against ``RHAT_MAX``.
    frozen : tuple of str
        Parameters whose draws are all equal (a chain that never moved, or a value fixed by hand).
    """

    max_r_hat: float
    worst_r_hat: str
    min_ess_bulk: float
    min_ess_tail: float
    worst_ess: str
    divergences: int
    treedepth_saturation: float
    mean_tree_depth: float
    min_bfmi: float
    chains: int
    draws: int
    max_nested_r_hat: float = np.nan
    frozen: tuple[str, ...] = field(default=())
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a plain dict (``ok`` and ``problems`` included)."""
        out = asdict(self)
        out["problems"] = list(self.problems)
        out["ok"] = self.ok
        return out

    def __repr__(self) -> str:
        head = (
            f"<Diagnosis {'ok' if self.ok else 'NOT OK'}: {self.chains} chains x {self.draws} draws; "
            f"max R-hat {self.max_r_hat:.3f} ({self.worst_r_hat}), min ESS bulk {self.min_ess_bulk:.0f} / "
            f"tail {self.min_ess_tail:.0f} ({self.worst_ess}), {self.divergences} divergences, "
            f"tree depth {self.mean_tree_depth:.1f} (max reached {self.treedepth_saturation:.1%}), "
            f"min E-BFMI {self.min_bfmi:.2f}>"
        )
        return head + "".join(f"\n  - {p}" for p in self.problems)


def nested_rhat(draws: np.ndarray, superchains: int) -> float:
    """Nested R-hat (Margossian et al. 2024) of one scalar's draws (chains x draws), the chains taken in
    ``superchains`` consecutive groups whose chains started from one point.

    ``sqrt(1 + B / W)`` with B the variance of the superchain means and W the mean over superchains of
    the variance of their chains' means plus the mean within-chain variance: it works with many short
    chains, where R-hat needs each chain long enough to judge it alone. With one chain per superchain
    it is the (non-split) R-hat's ``sqrt(1 + B / W)`` form.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(nested_rhat(rng.normal(size=(64, 50)), 4), 2)
    1.0
    >>> nested_rhat(rng.normal(size=(64, 50)) + np.repeat([0, 0, 0, 3], 16)[:, None], 4) > 1.1
    True
    """
    x = np.asarray(draws, dtype=float)
    k = int(superchains)
    m = x.shape[0] // k
    x = x.reshape(k, m, x.shape[1])
    chain_means = x.mean(axis=2)
    super_means = chain_means.mean(axis=1)
    between = super_means.var(ddof=1) if k > 1 else 0.0
    within_chain = x.var(axis=2, ddof=1).mean(axis=1) if x.shape[2] > 1 else np.zeros(k)
    between_chains = chain_means.var(axis=1, ddof=1) if m > 1 else np.zeros(k)
    within = float(np.mean(within_chain + between_chains))
    return float(np.sqrt(1.0 + between / within)) if within > 0 else np.nan


def _stat(stats: xr.Dataset | None, names: Sequence[str]) -> xr.DataArray | None:
    if stats is None:
        return None
    for name in names:
        if name in stats:
            return stats[name]
    return None


def diagnose(fit: Fit) -> Diagnosis:
    """Check the sampler: R-hat, bulk and tail ESS, divergences, tree-depth saturation, E-BFMI.

    :func:`bayescale.fit` runs this after sampling and warns (:class:`SamplerWarning`) with the
    same sentences. A posterior made without a sampler (no ``sample_stats`` group) is judged on
    R-hat and ESS alone.

    Parameters
    ----------
    fit : Fit

    Returns
    -------
    Diagnosis
        ``.ok``, ``.problems`` (what is wrong and what to try) and the numbers.

    Examples
    --------
    >>> d = bs.diagnose(fit)  # doctest: +SKIP
    >>> d.ok, d.max_r_hat, d.divergences  # doctest: +SKIP
    (True, 1.002, 0)
    """
    return diagnose_idata(fit.idata, fit.var_names, likelihood=fit.likelihood)


def diagnose_idata(idata: xr.DataTree, var_names: Sequence[str], *, likelihood: str | None = None) -> Diagnosis:
    """:func:`diagnose` on a DataTree and the parameter names to judge."""
    post = idata.posterior.dataset[list(var_names)]
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    frozen = tuple(v for v in var_names if np.ptp(post[v].values) == 0)  # never moved: no R-hat, no ESS
    judged = [v for v in var_names if v not in frozen] or list(var_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(post[judged])
        bulk = az.ess(post[judged], method="bulk")
        tail = az.ess(post[judged], method="tail")

    def extreme(ds: xr.Dataset, largest: bool) -> tuple[float, str]:
        vals = {v: float(np.max(ds[v].values) if largest else np.min(ds[v].values)) for v in judged}
        vals = {k: x for k, x in vals.items() if np.isfinite(x)} or {judged[0]: np.nan}
        name = (max if largest else min)(vals, key=lambda k: vals[k])
        return vals[name], name

    max_rhat, worst_rhat = extreme(rhat, True)
    min_bulk, worst_bulk = extreme(bulk, False)
    min_tail, worst_tail = extreme(tail, False)
    stats = idata.sample_stats.dataset if "sample_stats" in idata.children else None
    div = _stat(stats, ("diverging",))
    maxdepth = _stat(stats, _MAXDEPTH)
    depth = _stat(stats, _DEPTH)
    superchains = idata.posterior.attrs.get("superchains")
    nested = np.nan
    if superchains and n_chain > 1:
        nested = max(nested_rhat(post[v].values.reshape(n_chain, n_draw, -1)[:, :, j], superchains)
                     for v in judged for j in range(int(np.prod(post[v].shape[2:], dtype=int))))
    bfmi = np.nan
    if stats is not None and "energy" in stats and n_draw > 2:
        bfmi = float(np.min(az.bfmi(idata).dataset["energy"].values))
    diag = dict(
        max_r_hat=max_rhat if n_chain > 1 else np.nan,
        worst_r_hat=worst_rhat,
        min_ess_bulk=min_bulk,
        min_ess_tail=min_tail,
        worst_ess=worst_bulk if min_bulk <= min_tail else worst_tail,
        divergences=int(div.sum()) if div is not None else 0,
        treedepth_saturation=float(maxdepth.mean()) if maxdepth is not None else np.nan,
        mean_tree_depth=float(depth.mean()) if depth is not None else np.nan,
        min_bfmi=bfmi,
        chains=int(n_chain),
        draws=int(n_draw),
        max_nested_r_hat=nested,
        frozen=frozen,
    )
    return Diagnosis(**diag, problems=tuple(_problems(diag, likelihood)))


def _problems(d: dict[str, Any], likelihood: str | None) -> list[str]:
    out = []
    if d["frozen"]:
        out.append(
            f"{', '.join(d['frozen'])} never moved (every draw equal): the sampler was stuck or the value was "
            "fixed; refit with more tuning, and check that parameter's prior"
        )
    robust = "" if likelihood == "student_t" else "; if a few runs sit far from the rest, try likelihood='student_t'"
    if d["divergences"]:
        share = d["divergences"] / (d["chains"] * d["draws"])
        out.append(
            f"{d['divergences']} divergent transitions ({share:.1%} of draws): the sampler could not explore "
            "part of the posterior, so the intervals may be wrong; refit with target_accept=0.95 (or 0.99) "
            f"and more tuning (tune=2000), or tighten the priors{robust}"
        )
    if d["chains"] > 1 and d["max_r_hat"] > RHAT_MAX:
        out.append(
            f"R-hat up to {d['max_r_hat']:.3f} for {d['worst_r_hat']} (> {RHAT_MAX}): the chains disagree; "
            "run longer (tune=2000, draws=2000), and if it persists tighten the prior on that parameter: the "
            "data may not pin it down"
        )
    if np.isfinite(d["max_nested_r_hat"]) and d["max_nested_r_hat"] > RHAT_MAX:
        out.append(
            f"nested R-hat up to {d['max_nested_r_hat']:.3f} (> {RHAT_MAX}): the groups of chains started apart "
            "have not met; tune longer (tune=2000) or with more chains"
        )
    ess_min = min(d["min_ess_bulk"], d["min_ess_tail"])
    if ess_min < ESS_MIN:
        out.append(
            f"effective sample size down to {ess_min:.0f} for {d['worst_ess']} (< {ESS_MIN}): interval ends "
            "are noisy; increase draws"
        )
    if np.isfinite(d["treedepth_saturation"]) and d["treedepth_saturation"] > 0:
        out.append(
            f"{d['treedepth_saturation']:.1%} of draws hit the maximum tree depth (mean depth "
            f"{d['mean_tree_depth']:.1f}): a long, narrow ridge between parameters (usually an amplitude and "
            "its exponent); the draws are valid but slow and may under-explore; tighten the priors or check "
            "bs.analysis.posterior_correlations"
        )
    if np.isfinite(d["min_bfmi"]) and d["min_bfmi"] < BFMI_MIN:
        out.append(
            f"E-BFMI down to {d['min_bfmi']:.2f} (< {BFMI_MIN}): the sampler moves poorly between energy levels, "
            "typically a heavy tail or a funnel; tighten the priors (e.g. on sigma) or reparameterise"
        )
    return out


def largest_runs_missed(fit: Fit) -> str | None:
    """What is wrong when the fitted law misses the runs at the largest compute level, or None.

    The runs of the largest compute level (:func:`bayescale.runs.design.compute_levels`) are the ones
    a prediction for a larger run leans on most. Their mean log residual from the law's posterior
    median is compared with ``MISS_LOG`` and with ``MISS_Z`` standard errors of the noise (the
    posterior median of ``sigma`` over the square root of their number). Tables of final losses
    with a compute column and no per-run parameters; None for others.
    """
    runs = fit.runs
    if runs.is_curves or "C" not in runs.to_dataframe().columns or fit.noise.run_effects \
            or "sigma" not in fit.posterior.data_vars:
        return None
    lo, hi = compute_levels(runs.C)[-1]
    top = runs.C >= lo
    post = fit.posterior
    draws = {k: post[k].values.reshape(-1)[:, None] for k in fit.law.param_names}
    law = fit.law(**{k: runs.column(k)[top][None, :] for k in fit.law.inputs}, **draws)
    resid = np.log(runs.loss[top]) - np.median(np.log(law), axis=0)
    mean, n = float(resid.mean()), int(top.sum())
    sigma = float(np.median(post["sigma"].values))
    if abs(mean) <= MISS_LOG or abs(mean) <= MISS_Z * sigma / np.sqrt(n):
        return None
    where = f"C {lo:.3g}" if lo == hi else f"C {lo:.3g} to {hi:.3g}"
    side = "below" if mean < 0 else "above"
    return (f"the law misses its largest runs ({n} at {where}): their losses lie {abs(np.expm1(mean)):.1%} {side} "
            f"the law's median on average, more than the noise (sigma {sigma:.3g} in log loss) explains, so a "
            "prediction beyond them leans on a law that does not pass through them; check how it extrapolates "
            "(bs.backtest(runs, law, holdout='largest_C')) and compare laws (bs.compare(fits, method='lfo'))")

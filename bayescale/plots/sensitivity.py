"""Pictures of how much a fit rests on its priors: the extrapolated loss under power-scaled
priors, and a pair plot of the law's parameters that shows the amplitude-exponent ridge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.predict import _rng
from ..analysis.sensitivity import (
    CORRELATION_MAX,
    PARETO_K_MAX,
    PriorSensitivity,
    _param_draws,
)
from ..results import Fit

__all__ = ["plot_prior_sensitivity", "plot_pair"]


def _where(rows) -> str:
    return ", ".join(f"{c}={rows[c].iloc[0]:.3g}" for c in ("N", "D", "C", "S", "step") if c in rows.columns)


def plot_prior_sensitivity(sens: PriorSensitivity, *, ax: Axes | None = None) -> Axes:
    """The extrapolated loss's median and interval against the power on the prior.

    One line (median) with error bars (the ``ci_prob`` interval) per query point, against alpha
    on a log axis (1 = the fit as it is, 2 = prior twice as strong). Reweightings with Pareto
    k > 0.7 are drawn as hollow red markers: their intervals are unreliable, refit to know.

    Parameters
    ----------
    sens : PriorSensitivity
        From :func:`bayescale.analysis.sensitivity.prior_sensitivity`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> sens = prior_sensitivity(fit, N=7e10, D=1.4e12)  # doctest: +SKIP
    >>> plot_prior_sensitivity(sens).figure.savefig("prior_sensitivity.png")  # doctest: +SKIP
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    t = sens.table
    points = list(dict.fromkeys(t["point"]))
    n = len(points)
    span = np.log(max(sens.alphas) / min(sens.alphas)) if len(sens.alphas) > 1 else 1.0
    any_bad = False
    for i, point in enumerate(points):
        rows = t[t["point"] == point].sort_values("alpha")
        # spread several points sideways a little so their bars do not overlap
        shift = np.exp(span * 0.012 * (i - (n - 1) / 2)) if n > 1 else 1.0
        a = rows["alpha"].to_numpy() * shift
        med, lo, hi = (rows[c].to_numpy() for c in ("median", "lower", "upper"))
        k = rows["pareto_k"].to_numpy()
        bad = np.isfinite(k) & (k > PARETO_K_MAX)
        colour = f"C{i % 10}"
        label = _where(rows) or f"point {point}"
        ax.plot(a, med, "-", color=colour, lw=1.2, label=label)
        good = ~bad
        ax.errorbar(a[good], med[good], yerr=[med[good] - lo[good], hi[good] - med[good]], fmt="o",
                    color=colour, capsize=4, ms=5)
        if bad.any():
            any_bad = True
            ax.errorbar(a[bad], med[bad], yerr=[med[bad] - lo[bad], hi[bad] - med[bad]], fmt="o",
                        mfc="white", mec="red", ecolor="red", capsize=4, ms=7, ls="none")
    if any_bad:
        ax.plot([], [], "o", mfc="white", mec="red", ms=7,
                label=f"Pareto k > {PARETO_K_MAX}: unreliable, refit")
    ax.axvline(1.0, color="0.6", lw=0.8, ls="--", zorder=0)
    ax.set_xscale("log")
    ticks = sorted(set(sens.alphas))
    ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(mticker.FixedFormatter([f"{a:g}" for a in ticks]))
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    lo_a, hi_a = min(ticks), max(ticks)
    ax.set_xlim(lo_a / (hi_a / lo_a) ** 0.08 if hi_a > lo_a else lo_a / 1.5,
                hi_a * (hi_a / lo_a) ** 0.08 if hi_a > lo_a else hi_a * 1.5)
    what = "new run's loss" if sens.kind == "new_run" else "mean loss"
    ax.set_xlabel("power on the prior, alpha (prior**alpha; 2 = twice as strong)")
    ax.set_ylabel(f"{what}: median, {sens.ci_prob:.0%} interval")
    scaled = ", ".join(sens.scaled) if len(sens.scaled) <= 4 else f"{len(sens.scaled)} priors"
    ax.set_title(f"Prior power-scaling ({scaled})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_pair(
    fit: Fit,
    *,
    var_names: Sequence[str] | None = None,
    scale: Literal["natural", "sampled"] = "natural",
    max_draws: int = 2000,
    random_seed: int | None = None,
) -> Figure:
    """Pair plot of the law's parameters: scatter below the diagonal with the correlation written
    in each panel (red when ``|rho| > 0.9``), histograms on the diagonal.

    Positive scale constants are shown as their logarithm (``log_A``), as in
    :func:`bayescale.analysis.sensitivity.posterior_correlations`; a straight, thin cloud between
    an amplitude and its exponent is the amplitude-exponent ridge.

    Parameters
    ----------
    fit : Fit
    var_names : sequence of str, optional
        Parameters to show (the law's by default).
    scale : {"natural", "sampled"}
        Natural parameters, or the variables the sampler saw (amplitudes at the pivot).
    max_draws : int
        Draws shown in the scatter panels (a random subset); histograms and correlations use all.
    random_seed : int, optional
        For the subset; defaults to one derived from the fit's seed.

    Returns
    -------
    matplotlib.figure.Figure
        Its ``axes`` are the k x k panels, row by row; those above the diagonal are hidden.

    Examples
    --------
    >>> fig = plot_pair(fit)  # doctest: +SKIP
    >>> fig.savefig("pair.png")  # doctest: +SKIP
    """
    if int(max_draws) < 2:
        raise ValueError(f"max_draws must be at least 2, got {max_draws}")
    draws = _param_draws(fit, var_names, scale)
    names = list(draws)
    k = len(names)
    n = next(iter(draws.values())).size
    rng = _rng(fit, random_seed)
    pick = np.sort(rng.choice(n, size=min(n, int(max_draws)), replace=False))
    corr = np.corrcoef(np.vstack([draws[v] for v in names]))
    size = min(2.2 * k, 14)
    fig, axes = plt.subplots(k, k, figsize=(size, size), squeeze=False)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(draws[xj], bins=40, color="C0", alpha=0.8)
                ax.set_yticks([])
            else:
                ax.plot(draws[xj][pick], draws[yi][pick], ".", ms=2, alpha=0.35, color="C0",
                        rasterized=True)
                rho = corr[i, j]
                strong = abs(rho) > CORRELATION_MAX
                shown = round(rho, 2) + 0.0  # + 0.0 turns -0.0 into 0.0: no "-0.00"
                ax.text(0.05, 0.92, f"rho = {shown:+.2f}", transform=ax.transAxes, fontsize=8, va="top",
                        color="red" if strong else "black", fontweight="bold" if strong else "normal",
                        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
            if i == k - 1:
                ax.set_xlabel(xj)
            else:
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(yi)
            elif i != j:
                ax.tick_params(labelleft=False)
            ax.tick_params(labelsize=7)
    for j in range(k):  # share x limits within each column
        lims = axes[j, j].get_xlim()
        for i in range(j, k):
            axes[i, j].set_xlim(lims)
    for i in range(1, k):  # and y limits within each row (scatter panels) from the diagonal's x
        for j in range(i):
            axes[i, j].set_ylim(axes[i, i].get_xlim())
    kind = "natural (log of scale constants)" if scale == "natural" else "as sampled (amplitudes at the pivot)"
    fig.suptitle(f"{fit.law.spec}: posterior pairs, {kind}", fontsize=10)
    fig.tight_layout()
    return fig

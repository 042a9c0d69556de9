"""Pictures of predictive checks on the log-loss scale: posterior and prior predictive ECDFs,
residuals against the inputs, and the LOO-PIT ECDF against its uniform band."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._policy import CI_PROB
from ..analysis.checks import (
    PARETO_K_MAX,
    PredictiveCheckError,
    _require,
    ecdf,
    loo_pit,
    pit_ecdf_inside,
    residuals,
    uniform_ecdf_band,
)
from ..analysis.predict import posterior_predictive
from ..results import Fit
from .fits import log_axis

__all__ = ["plot_ppc", "plot_prior_predictive", "plot_residuals", "plot_loo_pit"]

OBSERVED = {"color": "black", "lw": 2.0, "zorder": 3}
REPLICATED = {"lw": 0.8, "alpha": 0.25, "zorder": 1}
MAX_LABELLED = 5  # outlying runs named on a residual plot
#: The posterior predictive check's horizontal axis spans the observed values and this central share
#: of the replicated ones (a heavy-tailed likelihood's far draws would squeeze the data to a line).
PPC_SHOWN = 0.98


def _ecdf_steps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of an ECDF drawn with ``ax.step(..., where="post")`` (non-finite values last)."""
    v = np.sort(np.where(np.isnan(values), np.inf, values))
    n = v.size
    return np.r_[v[0], v], np.r_[0.0, np.arange(1, n + 1) / n]


def _pick_draws(ds: xr.Dataset, num: int, rng: np.random.Generator) -> np.ndarray:
    """``num`` replicated data sets (rows) of ``log_loss``, drawn without replacement."""
    y = ds["log_loss"]
    obs_dims = [d for d in y.dims if d not in ("chain", "draw")]
    flat = y.stack(sample=("chain", "draw")).transpose("sample", *obs_dims).values
    flat = flat.reshape(flat.shape[0], -1)
    idx = rng.choice(flat.shape[0], size=min(num, flat.shape[0]), replace=False)
    return flat[np.sort(idx)]


def _seed(fit: Fit | None, random_seed: int | None, offset: int) -> int:
    if random_seed is not None:
        return int(random_seed)
    base = int(fit.provenance.get("random_seed", 0)) if fit is not None else 0
    return base + offset


def _what(fit: Fit) -> str:
    if fit.runs.is_curves:
        n_runs = len(np.unique(np.asarray(fit.runs.run_ids).astype(str)))
        return f"{len(fit.runs)} checkpoints of {n_runs} runs"
    return f"{len(fit.runs)} runs"


def _unit(fit: Fit) -> str:
    return "checkpoints" if fit.runs.is_curves else "runs"


def _draw_ecdfs(ax: Axes, reps: np.ndarray, observed: np.ndarray, rep_label: str, color: str,
                unit: str = "runs") -> None:
    for i, row in enumerate(reps):
        x, y = _ecdf_steps(row)
        ax.step(x, y, where="post", color=color, label=rep_label if i == 0 else None, **REPLICATED)
    x, y = _ecdf_steps(observed)
    ax.step(x, y, where="post", label="observed", **OBSERVED)
    ax.set_xlabel("log loss")
    ax.set_ylabel(f"ECDF (fraction of {unit} at or below)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right")


def plot_ppc(fit: Fit, *, num_draws: int = 100, random_seed: int | None = None, ax: Axes | None = None) -> Axes:
    """Posterior predictive check: the ECDF of the observed log losses against the ECDFs of
    ``num_draws`` data sets replicated from the posterior predictive.

    Replicated data sets are drawn by :func:`bayescale.posterior_predictive` (each run's log loss
    with fresh noise, from one posterior draw). An observed ECDF inside the replicated ones is
    what a fitting model looks like; one shifted or steeper/flatter shows bias or a wrong noise
    scale. For curve fits all checkpoints are pooled, and each replicated data set is a set of new
    runs (fresh offset and the AR(1) residual's stationary spread at each checkpoint, independent
    between checkpoints); observed checkpoints of one run move together, so expect the observed
    ECDF to be bumpier than the replicated ones.

    Parameters
    ----------
    fit : Fit
    num_draws : int
        Replicated data sets drawn (default 100).
    random_seed : int, optional
        Seeds the noise and the choice of draws; by default one derived from the fit's seed.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``num_draws`` thin lines, then the observed ECDF (black, last line).

    Examples
    --------
    >>> ax = plot_ppc(fit, num_draws=50, random_seed=0)  # doctest: +SKIP
    >>> ax.figure.savefig("ppc.png")  # doctest: +SKIP
    """
    _require(fit, "posterior", [*fit.law.param_names, *fit.noise_names], "plot_ppc")
    seed = _seed(fit, random_seed, 7001)
    tree = posterior_predictive(fit, random_seed=seed)
    reps = _pick_draws(tree.posterior_predictive.to_dataset(), num_draws, np.random.default_rng(seed))
    observed = tree.observed_data.to_dataset()["log_loss"].values.ravel()
    x_lo, x_hi, outside = _shown_range(observed, reps, PPC_SHOWN)
    ax = ax if ax is not None else plt.subplots(figsize=(6.4, 4.4))[1]
    _draw_ecdfs(ax, reps, observed, f"replicated ({len(reps)} posterior predictive draws)", "C0", _unit(fit))
    ax.set_xlim(x_lo, x_hi)
    title = (f"Posterior predictive check of {fit.law.spec} ({fit.likelihood})\n{_what(fit)}"
             + (", replicated as new runs" if fit.runs.curve_axis is not None else ""))
    if outside > 0:
        share = f"{outside:.1%}" if outside >= 0.001 else "under 0.1%"
        title += f"; {share} of replicated values beyond the axis"
    ax.set_title(title, fontsize=10)
    return ax


def _shown_range(observed: np.ndarray, reps: np.ndarray, share: float) -> tuple[float, float, float]:
    """The horizontal range of an ECDF check: the observed values with a margin, widened to the
    central ``share`` of the replicated values; and the share of replicated values beyond it."""
    lo, hi = float(np.nanmin(observed)), float(np.nanmax(observed))
    pad = max(0.1 * (hi - lo), 0.02)
    finite = reps[np.isfinite(reps)]
    q_lo, q_hi = (np.quantile(finite, [(1 - share) / 2, (1 + share) / 2]) if finite.size else (lo, hi))
    x_lo, x_hi = min(lo - pad, float(q_lo)), max(hi + pad, float(q_hi))
    outside = float(np.mean(~np.isfinite(reps) | (reps < x_lo) | (reps > x_hi)))
    return x_lo, x_hi, outside


def plot_prior_predictive(
    fit_or_prior: Fit | xr.DataTree,
    *,
    draws: int = 100,
    random_seed: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Prior predictive check: the ECDF of the observed log losses against ``draws`` data sets
    simulated from the prior at the same runs.

    Power laws with exponents drawn from their priors can give wild log losses; the horizontal
    axis spans the observed data and the middle 90% of the simulated values, and the title says
    how many simulated data sets reach outside it. A prior whose simulated ECDFs miss the data
    entirely, or spread over many orders of magnitude of loss, deserves a second look.

    Parameters
    ----------
    fit_or_prior : xarray.DataTree
        What :func:`bayescale.sample_prior_predictive` returns (``prior_predictive`` and
        ``observed_data`` groups with ``log_loss``); ``bs.sample_prior_predictive(fit)`` samples a
        fit's law, priors and noise model at its runs.
    draws : int
        Simulated data sets shown (default 100).
    random_seed : int, optional
        By default one derived from the fit's seed (0 for a DataTree).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``draws`` thin lines, then the observed ECDF (black, last line).

    Raises
    ------
    PredictiveCheckError
        For a DataTree without ``prior_predictive``/``observed_data`` groups holding ``log_loss``.

    Examples
    --------
    >>> ax = plot_prior_predictive(bs.sample_prior_predictive(fit, draws=100))  # doctest: +SKIP
    >>> prior = bs.sample_prior_predictive(runs, "chinchilla", random_seed=0)  # doctest: +SKIP
    >>> ax = plot_prior_predictive(prior)  # doctest: +SKIP
    """
    if isinstance(fit_or_prior, Fit):
        raise TypeError(
            "plot_prior_predictive draws prior predictive data sets, it does not sample them: pass "
            "bs.sample_prior_predictive(fit, draws=100), which samples the fit's law, priors and noise "
            "model at its runs"
        )
    if isinstance(fit_or_prior, xr.DataTree):
        tree, seed = fit_or_prior, _seed(None, random_seed, 0)
        spec = tree.attrs.get("bayescale_law_spec")
        title = f"Prior predictive check of {spec}" if spec else "Prior predictive check"
    else:
        raise TypeError(f"expected a Fit or the DataTree of bs.sample_prior_predictive, got "
                        f"{type(fit_or_prior).__name__}")
    for group in ("prior_predictive", "observed_data"):
        if group not in tree.children or "log_loss" not in tree[group].to_dataset():
            raise PredictiveCheckError(
                f"plot_prior_predictive needs a {group!r} group with 'log_loss'; this DataTree has "
                f"{sorted(tree.children)}. Pass the result of bs.sample_prior_predictive(runs, law, ...) "
                "or a Fit"
            )
    reps = _pick_draws(tree.prior_predictive.to_dataset(), draws, np.random.default_rng(seed))
    observed = tree.observed_data.to_dataset()["log_loss"].values.ravel()
    lo, hi = float(observed.min()), float(observed.max())
    pad = max(0.5 * (hi - lo), 0.05)
    finite = reps[np.isfinite(reps)]
    q_lo, q_hi = np.quantile(finite, [0.05, 0.95]) if finite.size else (lo, hi)
    x_lo, x_hi = min(lo - pad, float(q_lo)), max(hi + pad, float(q_hi))
    outside = ~np.isfinite(reps) | (reps < x_lo) | (reps > x_hi)
    n_out = int(outside.any(axis=1).sum())
    ax = ax if ax is not None else plt.subplots(figsize=(6.4, 4.4))[1]
    _draw_ecdfs(ax, reps, observed, f"simulated ({len(reps)} prior predictive draws)", "C1",
                _unit(fit_or_prior) if isinstance(fit_or_prior, Fit) else "runs")
    ax.set_xlim(x_lo, x_hi)
    ax.set_title(f"{title}\n{n_out} of {len(reps)} draws reach outside the shown range "
                 f"({outside.mean():.0%} of simulated values)", fontsize=10)
    return ax


def plot_residuals(
    fit: Fit,
    *,
    against: Sequence[str] | None = None,
    ci_prob: float = CI_PROB,
) -> Figure:
    """Residuals on the log scale (``log loss - posterior median log L``) against each input.

    One panel per input, on a log horizontal axis, with a zero line and the band of ±2 sigma (the
    posterior median of the noise sd; ``sqrt(sigma^2 + tau^2)`` for ``noise="ar1"`` curve fits,
    where the residual includes each run's offset). Vertical bars show the ``ci_prob`` interval of
    the residual that comes from the uncertainty about the law. Runs more than 3 sigma out are
    named (up to five). Curve fits get one colour per run (the first ten runs in the legend).

    Parameters
    ----------
    fit : Fit
    against : sequence of str, optional
        Inputs for the panels; by default ``N``, ``D``, ``C`` where the run table has them and any
        other input of the law (e.g. ``step``).
    ci_prob : float

    Returns
    -------
    matplotlib.figure.Figure
        Its axes in the order of ``against``.

    Examples
    --------
    >>> fig = plot_residuals(fit)  # doctest: +SKIP
    >>> fig.savefig("residuals.png")  # doctest: +SKIP
    """
    table = residuals(fit, ci_prob=ci_prob)
    columns = fit.runs.to_dataframe().columns
    if against is None:
        against = [k for k in dict.fromkeys(("N", "D", "C", *fit.law.inputs)) if k in columns]
    against = list(against)
    missing = [k for k in against if k not in columns]
    if missing or not against:
        raise PredictiveCheckError(
            f"plot_residuals: the run table has no column(s) {missing or against}; it has {list(columns)}"
        )
    scale = table.attrs["scale"]
    runs = table["run"].astype(str).to_numpy()
    curves = fit.runs.is_curves
    run_names = list(dict.fromkeys(runs))
    colors = {r: f"C{i % 10}" for i, r in enumerate(run_names)} if curves else {}
    # the residual's interval from the law's: log y - [upper, lower] of log L
    err_lo = np.clip(table["residual"] - (np.log(table["loss"]) - table["log_law_upper"]), 0.0, None)
    err_hi = np.clip((np.log(table["loss"]) - table["log_law_lower"]) - table["residual"], 0.0, None)
    fig, axes = plt.subplots(1, len(against), figsize=(4.6 * len(against), 4.0), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], against, strict=True):
        x = fit.runs.column(name)
        ax.axhspan(-2 * scale, 2 * scale, color="0.85", zorder=0, label=f"±2σ (σ = {scale:.3g})")
        ax.axhline(0.0, color="black", lw=1.0, zorder=1)
        if curves:
            for r in run_names:
                m = runs == r
                ax.errorbar(x[m], table["residual"][m], yerr=[err_lo[m], err_hi[m]], fmt="o", ms=3, lw=0.6,
                            color=colors[r], label=r if run_names.index(r) < 10 else None, zorder=2)
        else:
            ax.errorbar(x, table["residual"], yerr=[err_lo, err_hi], fmt="o", ms=4, lw=0.8, color="C0",
                        label=f"runs ({int(ci_prob * 100)}% interval of log L)", zorder=2)
        far = np.flatnonzero(np.abs(table["std_residual"].to_numpy()) > 3)
        far = far[np.argsort(-np.abs(table["std_residual"].to_numpy()[far]))][:MAX_LABELLED]
        for i in far:
            ax.annotate(str(runs[i]), (x[i], table["residual"].iloc[i]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        log_axis(ax, "x")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("residual  log loss − median log L")
    axes[0][0].legend(loc="best", fontsize=7)
    fig.suptitle(f"Residuals of {fit.law.spec} ({fit.likelihood}) on {_what(fit)}, log scale")
    fig.tight_layout()
    return fig


def plot_loo_pit(fit: Fit, *, ci_prob: float = CI_PROB, random_seed: int = 0, ax: Axes | None = None,
                 pit: xr.DataArray | None = None) -> Axes:
    """The ECDF of the LOO-PIT values minus the uniform CDF, with a simultaneous ``ci_prob`` band.

    The band (:func:`bayescale.analysis.checks.uniform_ecdf_band`) is simultaneous: the ECDF of
    ``n`` truly uniform values stays inside it at every evaluation point with probability about
    ``ci_prob``. A calibrated fit stays inside. A curve above the band at the left and below it
    at the right (an S) means PIT values near 0 and 1: the noise is underestimated; the mirror
    image means it is overestimated; a curve on one side means the law is biased. PIT values are
    marked along the bottom; runs with Pareto k > 0.7 in red.

    Parameters
    ----------
    fit : Fit
        A fit with a ``log_likelihood`` group (from :func:`bayescale.fit`); see
        :func:`bayescale.analysis.checks.loo_pit`.
    ci_prob : float
    random_seed : int
        For the simulation that calibrates the band.
    ax : matplotlib Axes, optional
    pit : DataArray, optional
        ``loo_pit(fit)`` when the caller has it already (PSIS-LOO is then not run again).

    Returns
    -------
    matplotlib.axes.Axes
        Lines: the ECDF difference, the zero line, and the PIT marks.

    Raises
    ------
    PredictiveCheckError
        Without a ``log_likelihood`` group, or for a ``noise="ar1"`` curve fit.

    Examples
    --------
    >>> ax = plot_loo_pit(fit)  # doctest: +SKIP
    """
    pit = loo_pit(fit) if pit is None else pit
    values = pit.values
    band = uniform_ecdf_band(values.size, ci_prob=ci_prob, random_seed=random_seed)
    x = band["x"].to_numpy()
    diff = ecdf(values, x) - x
    lower, upper = band["lower"].to_numpy() - x, band["upper"].to_numpy() - x
    inside = pit_ecdf_inside(values, band)  # the verdict bayescale's report states in words
    ax = ax if ax is not None else plt.subplots(figsize=(6.4, 4.4))[1]
    ax.fill_between(x, lower, upper, color="C0", alpha=0.2,
                    label=f"simultaneous {ci_prob:.0%} band for {values.size} uniforms")
    ax.plot(x, diff, color="C0", lw=1.8, label="LOO-PIT ECDF − uniform CDF")
    ax.axhline(0.0, color="black", lw=0.8)
    k = np.nan_to_num(pit["pareto_k"].values, nan=0.0)
    rug = {"transform": ax.get_xaxis_transform()}  # x in data, y in axes units: along the bottom
    y_rug = np.full(values.size, 0.03)
    ax.plot(values, y_rug, "|", color="0.3", ms=8, label="PIT values", **rug)
    if np.any(k > PARETO_K_MAX):
        high = k > PARETO_K_MAX
        ax.plot(values[high], y_rug[high], "|", color="red", ms=10, mew=2, label=f"Pareto k > {PARETO_K_MAX}", **rug)
    y_lo, y_hi = ax.get_ylim()
    ax.set_ylim(y_lo - 0.12 * (y_hi - y_lo), y_hi)  # room for the marks
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("LOO-PIT value")
    ax.set_ylabel("ECDF − uniform CDF")
    verdict = "inside the band" if inside else "LEAVES the band"
    ax.set_title(f"LOO-PIT of {fit.law.spec} ({fit.likelihood}) on {_what(fit)}\nECDF {verdict}",
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    return ax

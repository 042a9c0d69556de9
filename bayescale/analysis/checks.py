"""Predictive checks of a fit on the log-loss scale: LOO-PIT, residuals, and the simultaneous band a
uniform ECDF stays in.

The model is ``log(loss) ~ Normal(log L, sigma)`` (or a Student-t with ``nu`` degrees of freedom),
so every check here works with log losses. All numpy/xarray/scipy on the stored draws.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats
from scipy.special import logsumexp

from .._policy import CI_PROB, check_interval
from ..laws.noise import runs_columns
from ..results import Fit
from .compare import PARETO_K_MAX, ParetoKWarning
from .predict import SAMPLE_DIMS, _law_draws, interval

__all__ = [
    "PARETO_K_MAX",
    "ParetoKWarning",
    "PredictiveCheckError",
    "ecdf",
    "law_log_mean",
    "loo_pit",
    "pit_ecdf_inside",
    "residuals",
    "uniform_ecdf_band",
]

#: PSIS needs at least this many draws in the smoothed tail (arviz-stats' rule).
_MIN_TAIL = 5


class PredictiveCheckError(ValueError):
    """A check that cannot be made on this fit: a group or variable it needs is missing, or its
    noise model has no predictive distribution the check can use."""


# -- what a check needs ---------------------------------------------------------------------------


def _require(fit: Fit, group: str, names: Iterable[str], what: str) -> xr.Dataset:
    """The dataset of ``group``, or a :class:`PredictiveCheckError` naming what is missing."""
    names = list(names)
    groups = sorted(fit.idata.children)
    if group not in fit.idata.children:
        extra = (" (bs.fit stores the pointwise log-likelihood of every draw)"
                 if group == "log_likelihood" else "")
        raise PredictiveCheckError(
            f"{what} needs the fit's {group!r} group, and this fit has only {groups}; refit with "
            f"bs.fit(runs, law, ...){extra}"
        )
    ds = fit.idata[group].to_dataset()
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise PredictiveCheckError(
            f"{what} needs {missing} in the fit's {group!r} group, which holds {sorted(ds.data_vars)}; "
            "refit with bs.fit(runs, law, ...)"
        )
    return ds


def _obs_dim(fit: Fit) -> str:
    """``"checkpoint"`` for a table of training curves, else ``"run"``."""
    return "checkpoint" if fit.runs.is_curves else "run"


def _noise_scale(fit: Fit, post: xr.Dataset) -> tuple[xr.DataArray, str]:
    """Per draw and row, the scale of one observation's log loss around the law (and what it is):
    the observation model's new-run scale at each row (for ``ar1``, offset and residual together)."""
    dim = _obs_dim(fit)
    p = {k: post[k] for k in fit.noise.parameter_names}
    cols = runs_columns(fit.runs)
    f = {k: xr.DataArray(v, dims=dim) for k, v in fit.noise.struct.features(cols, cols).items()}
    return fit.noise.new_run_scale(p, f), fit.noise.struct.scale_doc


def law_log_mean(fit: Fit) -> xr.DataArray:
    """``log L`` at every row of the fit's run table, per draw: dims ``(chain, draw, <obs>)`` with
    ``<obs>`` ``run`` (final losses) or ``checkpoint`` (curves), in the table's row order.

    Rows of a fit with run effects use their own run's parameters (``<name>_run`` in the posterior),
    as the likelihood does; the run offset and AR(1) residual of ``noise="ar1"`` are not included.

    Examples
    --------
    >>> law_log_mean(fit).median(("chain", "draw"))  # doctest: +SKIP
    """
    law = fit.law
    post = _require(fit, "posterior", [*law.param_names, *fit.noise_names], "a predictive check")
    params: dict[str, xr.DataArray] = {k: post[k] for k in law.param_names}
    ids = xr.DataArray(np.asarray(fit.runs.run_ids).astype(str), dims="point")
    for k in law.param_names:
        per_run = post.get(f"{k}_run")
        if per_run is not None:
            per_run = per_run.assign_coords(run=per_run["run"].values.astype(str))
            params[k] = per_run.sel(run=ids).drop_vars("run", errors="ignore")
    inputs = {k: fit.runs.column(k) for k in law.inputs}
    mean = _law_draws(fit, params, **inputs)
    dim = _obs_dim(fit)
    out = np.log(mean).rename({"point": dim}).drop_vars(list(mean.coords.keys() - set(SAMPLE_DIMS)))
    return out.assign_coords({dim: np.arange(len(fit.runs))}).rename("log_loss")


# -- LOO-PIT --------------------------------------------------------------------------------------


def _r_eff(post: xr.Dataset) -> float:
    """Relative efficiency of the draws: mean ESS ("mean" method) over the posterior's variables
    divided by the number of draws, as arviz-stats' ``loo`` uses (1 with a single chain)."""
    n = post.sizes["chain"] * post.sizes["draw"]
    if post.sizes["chain"] == 1:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws (hand-built fits) give nan
        ess = az.ess(post, method="mean")
    vals = np.hstack([np.asarray(ess[v].values, dtype=float).ravel() for v in ess.data_vars])
    vals = vals[np.isfinite(vals)]
    return float(vals.mean() / n) if vals.size else 1.0


def _psis_weights(log_lik: xr.DataArray, r_eff: float) -> tuple[xr.DataArray, xr.DataArray, str]:
    """Normalised leave-one-out weights per observation (``exp`` of the PSIS-smoothed log weights)
    and Pareto k. With too few draws for a smoothed tail of 5, the raw weights ``1 / p(y_i | draw)``
    (normalised) and k = nan."""
    n = log_lik.sizes["chain"] * log_lik.sizes["draw"]
    tail = math.floor(3 * math.sqrt(n / r_eff)) if n * r_eff > 225 else math.floor(n / 5)
    obs_dims = [d for d in log_lik.dims if d not in SAMPLE_DIMS]
    if tail >= _MIN_TAIL:
        log_w, k = log_lik.azstats.psislw(r_eff=r_eff, dim=list(SAMPLE_DIMS))
        method = "psis"
    else:
        log_w = -log_lik
        k = xr.full_like(log_lik.isel(chain=0, draw=0, drop=True), np.nan)
        method = "raw importance weights"
    log_w = log_w - xr.apply_ufunc(logsumexp, log_w, input_core_dims=[list(SAMPLE_DIMS)],
                                   kwargs={"axis": (-2, -1)})
    return np.exp(log_w).transpose(*SAMPLE_DIMS, *obs_dims), k, method


def _table_order(da: xr.DataArray, dim: str, n: int) -> xr.DataArray:
    """``da`` along ``dim`` in the run table's row order (curve fits store checkpoints grouped by
    run, with each one's row position as the coordinate)."""
    if da.sizes.get(dim) != n:
        raise PredictiveCheckError(
            f"the fit's log_likelihood has {da.sizes.get(dim)} values along {dim!r} but its run table "
            f"has {n} rows; the fit and its table disagree, refit with bs.fit"
        )
    coord = np.asarray(da[dim].values) if dim in da.coords else None
    if coord is not None and coord.dtype.kind in "iu" and np.array_equal(np.sort(coord), np.arange(n)):
        da = da.sortby(dim)
    return da.assign_coords({dim: np.arange(n)})


def loo_pit(fit: Fit, *, pareto_k_max: float = PARETO_K_MAX) -> xr.DataArray:
    """Leave-one-out probability integral transform of each observed log loss.

    ``PIT_i = P(log y_rep <= log y_i | all runs but i)``, computed exactly per draw from the
    predictive CDF (Normal: ``Phi((log y_i - log L_s) / sigma_s)``; Student-t: the t CDF with
    ``nu_s``) and averaged with the Pareto-smoothed importance weights ``1 / p(y_i | draw s)``
    from the fit's ``log_likelihood`` group (PSIS-LOO, Vehtari et al. 2017, 2024). No
    replicated data: no Monte Carlo noise beyond the posterior draws themselves. For a
    well-calibrated model the values are close to uniform on [0, 1]: piled near 0 and 1, the
    noise is underestimated; near 0.5, overestimated; on one side, the law is biased.

    Parameters
    ----------
    fit : Fit
        A fit from :func:`bayescale.fit` (it stores the ``log_likelihood`` group) on final losses,
        or on curves with ``noise="iid"``.
    pareto_k_max : float
        Runs with Pareto k above this are named in a :class:`ParetoKWarning` (default 0.7).

    Returns
    -------
    xarray.DataArray
        Named ``loo_pit``, dim ``run`` (``checkpoint`` for curves, with a ``run`` coordinate) in the
        run table's order, with a ``pareto_k`` coordinate; attrs say how the weights were made
        (``"psis"``; with fewer than ~25 draws ``"raw importance weights"`` and k = nan).

    Raises
    ------
    PredictiveCheckError
        When the fit has no ``log_likelihood`` group (fits built by hand), or was made with
        ``noise="ar1"`` (the leave-one-out predictive of a checkpoint would have to condition on
        its neighbours in the run, which the stored draws do not give; use
        :func:`bayescale.analysis.backtest` or forecasts of cut runs to check curve fits).

    Warns
    -----
    ParetoKWarning
        Naming the runs with Pareto k > ``pareto_k_max``.

    Examples
    --------
    >>> pit = loo_pit(fit)  # doctest: +SKIP
    >>> float(pit.mean())  # about 0.5 for a calibrated fit  # doctest: +SKIP
    """
    if not fit.noise.struct.independent:
        raise PredictiveCheckError(
            f"LOO-PIT for a curve fit with noise={fit.noise.structure!r} needs each checkpoint's predictive distribution "
            "given the rest of its run (the run offset and AR(1) residual tie checkpoints together), "
            "which the analysis layer cannot build from the stored draws; check curve fits with "
            "forecast backtests instead (bs.analysis.backtest, or bs.forecast_run on runs cut short), "
            "or refit with noise='iid' for a rough LOO-PIT"
        )
    dim = _obs_dim(fit)
    n = len(fit.runs)
    ll_ds = _require(fit, "log_likelihood", ["log_loss"], "LOO-PIT")
    if dim not in ll_ds["log_loss"].dims:
        raise PredictiveCheckError(
            f"LOO-PIT needs one log-likelihood term per {dim}; this fit stored {ll_ds['log_loss'].dims[-1]!r} "
            "sums (bs.fit(..., log_likelihood='run')); refit with log_likelihood=True"
        )
    log_lik = _table_order(ll_ds["log_loss"], dim, n)
    mu = law_log_mean(fit)
    post = fit.idata.posterior.dataset
    scale, _ = _noise_scale(fit, post)
    z = (xr.DataArray(np.log(fit.runs.loss), dims=dim, coords={dim: np.arange(n)}) - mu) / scale
    shape = {k: post[k] for k in fit.noise.shape_params(post)}
    cdf = xr.apply_ufunc(lambda zz, *vals: fit.noise.fam.cdf(zz, **dict(zip(shape, vals, strict=True))),
                         z, *shape.values())
    weights, k, method = _psis_weights(log_lik, _r_eff(post))
    pit = (weights * cdf).sum(SAMPLE_DIMS).clip(0.0, 1.0)
    ids = np.asarray(fit.runs.run_ids)
    coords: dict[str, tuple[str, np.ndarray]] = {"pareto_k": (dim, np.asarray(k.transpose(dim).values))}
    if dim == "run":
        coords["run"] = ("run", ids)
    else:
        coords["run"] = ("checkpoint", ids)
    out = xr.DataArray(np.asarray(pit.transpose(dim).values), dims=dim, coords=coords, name="loo_pit")
    out.attrs.update({"weights": method, "likelihood": fit.likelihood, "scale": "log loss"})
    bad = np.flatnonzero(np.nan_to_num(out["pareto_k"].values, nan=0.0) > pareto_k_max)
    if bad.size:
        shown = ", ".join(f"{ids[i]} (k={out['pareto_k'].values[i]:.2f})" for i in bad[:10])
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        warnings.warn(
            f"{bad.size} of {n} {'runs' if dim == 'run' else 'checkpoints'} have Pareto k > {pareto_k_max}: "
            f"{shown}{more}. Their LOO-PIT values rest on unreliable importance weights; these runs "
            "are influential, so refit without each of them to check it exactly",
            ParetoKWarning,
            stacklevel=2,
        )
    return out


# -- residuals ------------------------------------------------------------------------------------


def residuals(
    fit: Fit, *, ci_prob: float = CI_PROB, ci_kind: Literal["hdi", "eti"] = "hdi"
) -> pd.DataFrame:
    """Residuals of each run on the log-loss scale.

    Parameters
    ----------
    fit : Fit
    ci_prob : float
        Probability of the interval of ``log L`` (default 0.9).
    ci_kind : {"hdi", "eti"}

    Returns
    -------
    pandas.DataFrame
        One row per row of the run table, in its order: ``run``; the inputs (``N``, ``D``, ``C``
        where the table has them, and the law's other inputs such as ``step``); ``loss`` (observed);
        ``law_loss`` (posterior median of the law's loss L); ``log_law_lower`` and
        ``log_law_upper`` (the ``ci_prob`` interval of log L); ``residual`` (``log loss - median
        log L``); ``std_residual`` (the residual over the posterior median of sigma). ``attrs``
        hold ``scale`` (that median) and ``scale_kind``. For curve fits each checkpoint is a row;
        with ``noise="ar1"`` the residual includes the run's offset and the scale is
        ``sqrt(sigma^2 + tau^2)``, the marginal sd of one checkpoint; with run effects log L is
        the run's own curve.

    Examples
    --------
    >>> table = residuals(fit)  # doctest: +SKIP
    >>> table.loc[table.std_residual.abs() > 3, ["run", "loss", "law_loss"]]  # doctest: +SKIP
    """
    mu = law_log_mean(fit)
    dim = _obs_dim(fit)
    post = fit.idata.posterior.dataset
    scale_draws, scale_kind = _noise_scale(fit, post)
    row_scale = scale_draws.median(SAMPLE_DIMS) if set(scale_draws.dims) - set(SAMPLE_DIMS) else None
    scale = float(scale_draws.median())
    med = mu.median(SAMPLE_DIMS).values
    ci = interval(mu, ci_prob=ci_prob, ci_kind=ci_kind).transpose(dim, "ci_bound")
    log_y = np.log(fit.runs.loss)
    df = fit.runs.to_dataframe()
    cols: dict[str, np.ndarray] = {"run": np.asarray(fit.runs.run_ids)}
    for k in ("N", "D", "C", *fit.law.inputs):
        if k in df.columns and k not in cols:
            cols[k] = fit.runs.column(k)
    out = pd.DataFrame(
        {
            **cols,
            "loss": np.asarray(fit.runs.loss),
            "law_loss": np.exp(med),
            "log_law_lower": ci.sel(ci_bound="lower").values,
            "log_law_upper": ci.sel(ci_bound="upper").values,
            "residual": log_y - med,
            "std_residual": (log_y - med) / (scale if row_scale is None else row_scale.values),
        }
    )
    out.attrs.update({"scale": scale, "scale_kind": scale_kind, "ci_prob": ci_prob, "ci_kind": ci_kind})
    return out


# -- the band a uniform ECDF stays in -------------------------------------------------------------


def uniform_ecdf_band(
    n: int,
    *,
    ci_prob: float = CI_PROB,
    num_points: int | None = None,
    num_simulations: int = 1000,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Simultaneous band for the ECDF of ``n`` independent uniforms on [0, 1].

    The ECDF of ``n`` uniforms stays inside the band at every one of the evaluation points
    together with probability about ``ci_prob`` (slightly more: counts are discrete). The
    pointwise binomial level is adjusted by simulation (Säilynoja, Bürkner & Vehtari 2022,
    "Graphical test for discrete uniformity and its applications in goodness-of-fit evaluation
    and multiple sample comparison", Statistics and Computing 32:32).

    Parameters
    ----------
    n : int
        Number of PIT values.
    ci_prob : float
        Simultaneous coverage (default 0.95).
    num_points : int, optional
        Evaluation points ``x = i / num_points``, ``i = 1 .. num_points - 1``; default ``max(n, 20)``.
    num_simulations : int
        Uniform samples simulated to calibrate the band.
    random_seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``lower``, ``upper`` (bounds of the ECDF at ``x``), with the end points
        ``x = 0`` and ``x = 1`` (where the ECDF is 0 and 1) included; ``attrs["pointwise_prob"]``
        is the adjusted pointwise level.

    Examples
    --------
    >>> band = uniform_ecdf_band(40, random_seed=0)
    >>> bool(((band.lower <= band.x) & (band.x <= band.upper)).all())
    True
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    check_interval(ci_prob=ci_prob)
    k = max(n, 20) if num_points is None else int(num_points)
    x = np.arange(1, k) / k
    rng = np.random.default_rng(random_seed)
    samples = np.sort(rng.uniform(size=(num_simulations, n)), axis=1)
    counts = np.stack([np.searchsorted(row, x, side="right") for row in samples])
    below = stats.binom.cdf(counts, n, x)  # P(count <= observed), per simulation and point
    above = stats.binom.sf(counts - 1, n, x)  # P(count >= observed)
    p_min = 2.0 * np.minimum(below.min(axis=1), above.min(axis=1))
    level = float(np.quantile(p_min, 1.0 - ci_prob))  # two-sided pointwise tail level
    lower = stats.binom.ppf(level / 2.0, n, x) / n
    upper = stats.binom.ppf(1.0 - level / 2.0, n, x) / n
    band = pd.DataFrame({"x": np.r_[0.0, x, 1.0], "lower": np.r_[0.0, lower, 1.0], "upper": np.r_[0.0, upper, 1.0]})
    band.attrs.update({"ci_prob": ci_prob, "pointwise_prob": 1.0 - level, "n": n})
    return band


def ecdf(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Empirical CDF of ``values`` at ``x``."""
    return np.searchsorted(np.sort(values), x, side="right") / len(values)


def pit_ecdf_inside(pit: np.ndarray | xr.DataArray, band: pd.DataFrame) -> bool:
    """Whether the ECDF of ``pit`` stays inside ``band`` at every evaluation point.

    Examples
    --------
    >>> pit_ecdf_inside(np.linspace(0.01, 0.99, 40), uniform_ecdf_band(40))
    True
    """
    F = ecdf(np.asarray(pit, dtype=float), band["x"].to_numpy())
    return bool(np.all((F >= band["lower"].to_numpy() - 1e-12) & (F <= band["upper"].to_numpy() + 1e-12)))


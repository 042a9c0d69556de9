"""The observation model: how observed losses scatter around the law, declared once.

A law says what the loss should be; a :class:`Noise` says how runs report it. It is a small frozen
value made of four declared pieces:

- a **family** on log loss (``"normal"``, ``"student_t"``), with its shape parameters (``nu``);
- a **structure** (``"iid"``, ``"ar1"``, or one you register): the noise parameters it samples and,
  written once each, its math. ``conditional`` is the density of each observation given the earlier
  ones of its run (the same body builds the PyTensor model and runs on numpy); ``scale`` is the
  spread of one new run's log loss at new inputs (predictions, scores, backtests, calibration);
  ``simulate`` draws data sets from it;
- **run effects**: law parameters that vary from run to run (curve tables);
- the **parameterization** of those run effects.

Like laws, structures live in a registry (:func:`register_noise`, :func:`list_noise`): every part of
bayescale reads the structure's declared parameters and methods, so adding one (a noise whose scale
grows with compute, say) touches one module.

Everything here is numpy and the :mod:`~bayescale.laws._ops` shim: no PyMC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln, ndtr, ndtri, stdtr, stdtrit

from .._policy import DEFAULT_LIKELIHOOD
from . import _ops as ops
from .base import Law, LawError
from .priors import Prior

__all__ = [
    "NoiseParameter",
    "Family",
    "Structure",
    "Noise",
    "NoiseError",
    "FAMILIES",
    "STRUCTURES",
    "RUN_EFFECT_SD",
    "PARAMETERIZATIONS",
    "register_noise",
    "list_noise",
    "get_noise",
]


class NoiseError(ValueError):
    """An observation model that is unknown or does not fit the run table."""


@dataclass(frozen=True)
class NoiseParameter:
    """A parameter of the observation model: its name as sampled, default prior and meaning."""

    name: str
    prior: Prior
    doc: str
    positive: bool = True


# -- families -----------------------------------------------------------------------------------


class Family:
    """A location-scale family of log loss. Methods take the standardised value
    ``z = (log y - loc) / scale`` and the family's shape parameters by name."""

    name: ClassVar[str]
    pymc: ClassVar[str]  # the PyMC distribution class that takes mu, sigma and the shape parameters
    parameters: ClassVar[tuple[NoiseParameter, ...]] = ()

    def logpdf(self, z: Any, **shape: Any) -> Any:
        raise NotImplementedError

    def cdf(self, z: Any, **shape: Any) -> Any:
        raise NotImplementedError

    def ppf(self, q: Any, **shape: Any) -> Any:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: tuple[int, ...], **shape: Any) -> np.ndarray:
        raise NotImplementedError


class Normal(Family):
    name = "normal"
    pymc = "Normal"

    def logpdf(self, z, **shape):
        return -0.5 * z**2 - 0.5 * math.log(2 * math.pi)

    def cdf(self, z, **shape):
        return ndtr(z)

    def ppf(self, q, **shape):
        return ndtri(q)

    def sample(self, rng, size, **shape):
        return rng.standard_normal(size)


class StudentT(Family):
    name = "student_t"
    pymc = "StudentT"
    # nu ~ Gamma(2, 0.1) (Juarez & Steel 2010): mean 20, allows heavy tails when outliers need it.
    parameters = (NoiseParameter("nu", Prior("Gamma", alpha=2.0, beta=0.1), "degrees of freedom of the Student-t"),)

    def logpdf(self, z, *, nu, **shape):
        return gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - (nu + 1) / 2 * np.log1p(z**2 / nu)

    def cdf(self, z, *, nu, **shape):
        return stdtr(nu, z)

    def ppf(self, q, *, nu, **shape):
        return stdtrit(nu, q)

    def sample(self, rng, size, *, nu, **shape):
        return rng.standard_t(np.broadcast_to(nu, size), size=size)


FAMILIES: dict[str, Family] = {f.name: f for f in (Normal(), StudentT())}

# -- structures ---------------------------------------------------------------------------------

#: The sd of log loss: 0.1 = 10% multiplicative noise; runs of one study scatter by ~1-3%.
SIGMA = NoiseParameter("sigma", Prior("HalfNormal", sigma=0.1), "sd of log loss around the law")


class Structure:
    """How residuals of log loss are structured. Subclass, declare ``name``, ``parameters`` and
    ``doc``, override what differs from independent noise, and :func:`register_noise` it.

    Parameter values ``p`` arrive by name: PyTensor scalars in the model, numpy arrays of shape
    ``(draw, 1)`` (draws against points) in predictions. ``features`` are the per-point arrays the
    structure reads from the runs' columns (``N``, ``D``, ``C``, ``step``...), computed by
    :meth:`features` for the fitted runs and for new points alike.
    """

    name: ClassVar[str]
    doc: ClassVar[str] = ""
    parameters: ClassVar[tuple[NoiseParameter, ...]] = (SIGMA,)
    curves_only: ClassVar[bool] = False
    #: For tables of final losses only (one row per run).
    finals_only: ClassVar[bool] = False
    #: A new run's predictive depends on the fitted runs' residuals (see :meth:`predict`).
    needs_residuals: ClassVar[bool] = False
    #: Latent vectors the structure samples (each ``Normal(0, 1)``, one value per entry of the
    #: model-data array ``latent_size_of``; the posterior holds them).
    latents: ClassVar[tuple[str, ...]] = ()
    latent_size_of: ClassVar[str] = ""
    #: Observations independent given the parameters (pointwise LOO-PIT is then exact).
    independent: ClassVar[bool] = True
    #: What :meth:`scale` is, in words (plots and tables name it).
    scale_doc: ClassVar[str] = "sigma"
    #: The family of log loss where none is given (``likelihood=None``): the Student-t, robust to a
    #: stray run (the policy's ``DEFAULT_LIKELIHOOD``), unless the structure needs another.
    default_family: ClassVar[str] = DEFAULT_LIKELIHOOD

    def features(self, columns: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-point arrays the noise reads, from columns at those points (``reference``: the fitted
        runs' columns, e.g. for a pivot). None by default."""
        return {}

    def model_data(self, runs: Any, order: np.ndarray) -> dict[str, np.ndarray]:
        """The model's extra ``pm.Data`` arrays for the fitted runs, rows in ``order``."""
        cols = runs_columns(runs)
        return {k: v[order] for k, v in self.features(cols, cols).items()}

    def scale(self, p: Mapping[str, Any], f: Mapping[str, Any]) -> Any:
        """Scale (sd for the normal family) of one new run's log loss around the law."""
        return p["sigma"]

    def law_error(self, p: Mapping[str, Any], f: Mapping[str, Any]) -> Any:
        """Sd (log loss, normal) of the law's own error at new points: part of the uncertainty about
        the expected loss there, not of one run's noise (0: the law is taken as exact)."""
        return 0.0

    #: Names of the :meth:`model_data` arrays that are not one value per row.
    tables: ClassVar[tuple[str, ...]] = ()

    def conditional(self, mu: Any, y: Any, p: Mapping[str, Any], d: Mapping[str, Any]) -> tuple[Any, Any]:
        """Location and scale of each observation's log loss given the earlier ones of its run."""
        return mu, self.scale(p, d)

    @property
    def has_joint(self) -> bool:
        """Whether the structure overrides :meth:`joint`."""
        return type(self).joint is not Structure.joint

    def joint(self, mu: Any, y: Any, p: Mapping[str, Any], d: Mapping[str, Any]) -> Any:
        """Each run's log density under the normal family, where a closed form is cheaper than
        the sum of :meth:`conditional`'s terms."""
        raise NotImplementedError(f"noise={self.name!r} has no closed-form joint density")

    def predict(self, p: Mapping[str, np.ndarray], f_new: Mapping[str, np.ndarray],
                f_train: Mapping[str, np.ndarray], r_train: Any) -> tuple[Any, Any]:
        """Shift of location and scale of one new run's log loss at new points, per draw, given the
        fitted runs' features and residuals (``r_train()`` gives draws x rows, for
        ``needs_residuals``); latents arrive in ``p`` as draws x entries."""
        return 0.0, self.scale(p, f_new)

    def simulate(self, rng: np.random.Generator, log_mu: np.ndarray, p: Mapping[str, Any],
                 f: Mapping[str, np.ndarray], family: Family, shape: Mapping[str, Any],
                 run_idx: np.ndarray | None = None, log_t: np.ndarray | None = None) -> np.ndarray:
        """Log losses drawn around ``log_mu`` (last axis: points; rows of a run grouped, in order)."""
        return log_mu + self.scale(p, f) * family.sample(rng, np.shape(log_mu), **shape)


class IID(Structure):
    name = "iid"
    doc = "independent residuals: every row a run of its own (the only choice for final losses)"


class AR1(Structure):
    """Per-run offset plus residuals that follow a stationary AR(1) along each run, in continuous
    time on the log of the curve axis (an Ornstein-Uhlenbeck process: two checkpoints correlate as
    ``exp(-|log t1 - log t2| / ell)``, so uneven spacing and forecasts to any step are handled)."""

    name = "ar1"
    doc = "per-run offset (sd tau) plus AR(1) residuals along log(step) (sd sigma, correlation length ell)"
    curves_only = True
    independent = False
    scale_doc = "sqrt(sigma^2 + tau^2)"
    # the run offsets are integrated out exactly and forecasts condition exactly only under a normal;
    # with a Student-t the GPT-3 175B curve forecast from the smaller models was off by 14%, not 3%
    default_family = "normal"
    parameters = (
        SIGMA,
        # run offsets on log loss: seeds, data order and schedules move whole curves by ~1-5%
        NoiseParameter("tau", Prior("HalfNormal", sigma=0.05), "sd of a run's offset of log loss"),
        # correlation length in log(step): median 0.37 (consecutive checkpoints 10% apart correlate
        # at ~0.77); 90% prior mass in 0.03-4.4
        NoiseParameter("ell", Prior("LogNormal", mu=-1.0, sigma=1.5), "correlation length in log(step)"),
    )

    def model_data(self, runs, order):
        idx = run_codes(runs)[0][order]
        axis = runs.column(runs.curve_axis)[order]
        if np.any(axis <= 0):
            bad = np.sort(order[np.flatnonzero(axis <= 0)])[:5].tolist()
            raise NoiseError(
                f"noise='ar1' correlates checkpoints along log({runs.curve_axis}), which needs values > 0; "
                f"rows at positions {bad} have {runs.curve_axis} = 0. Drop them with "
                "runs.drop_warmup(steps=1) (or tokens=...)"
            )
        log_t = np.log(axis)
        first = np.r_[True, idx[1:] != idx[:-1]]
        dlog = np.where(first, 1.0, log_t - np.roll(log_t, 1))
        # each row's step from the one before, as an entry of a table of the distinct steps: runs
        # logged on one grid share a few (7 on the 100,000 rows of curves_hierarchical.py), so the
        # model works out rho and s once per entry, not once per row
        table, step = np.unique(np.c_[first, dlog], axis=0, return_inverse=True)
        return {"ar1_first": table[:, 0], "ar1_dlog": table[:, 1], "ar1_step": step.ravel().astype(np.int64)}

    tables = ("ar1_first", "ar1_dlog")  # the table of distinct steps

    def scale(self, p, f):  # a new run: fresh offset and the residual's stationary spread
        return ops.sqrt(p["sigma"] ** 2 + p["tau"] ** 2)

    @staticmethod
    def transitions(first: Any, dlog: Any, sigma: Any, ell: Any) -> tuple[Any, Any]:
        """``(rho, s)`` of steps of ``dlog`` in log t: ``rho = exp(-dlog / ell)``, ``s = sigma
        sqrt(1 - rho^2)`` (``rho = 0``, ``s = sigma`` where ``first``, a run's first checkpoint)."""
        rho = (1.0 - first) * ops.exp(-dlog / ell)
        s = sigma * ops.sqrt(first + (1.0 - first) * -ops.expm1(-2.0 * dlog / ell))
        return rho, s

    @staticmethod
    def whiten(r: Any, rho: Any, s: Any) -> tuple[Any, Any]:
        """``(w, v)`` of residuals ``r`` grouped by run (last axis), each row's ``rho`` and ``s``
        (:meth:`transitions`): given the run's offset u, ``w_i - u v_i`` is iid N(0, 1), with
        ``w_i = (r_i - rho_i r_{i-1}) / s_i`` and ``v_i = (1 - rho_i) / s_i``."""
        r_prev = ops.shift(r)  # rows grouped by run: the previous one (rho = 0 at a run's start)
        return (r - rho * r_prev) / s, (1.0 - rho) / s

    def _whitened(self, mu: Any, y: Any, p: Mapping[str, Any], d: Mapping[str, Any]) -> tuple[Any, ...]:
        """``(r, rho, s, log s, w, v)`` of the model's rows, ``rho`` and ``s`` from the table of steps."""
        rho_t, s_t = self.transitions(d["ar1_first"], d["ar1_dlog"], p["sigma"], p["ell"])
        step = d["ar1_step"]
        rho, s, log_s = ops.take(rho_t, step), ops.take(s_t, step), ops.take(ops.log(s_t), step)
        r = y - mu
        return (r, rho, s, log_s, *self.whiten(r, rho, s))

    def conditional(self, mu, y, p, d):
        """With u ~ N(0, tau) integrated out: after the run's earlier checkpoints u ~ N(A / P, 1 / P),
        ``P = 1 / tau^2 + sum v_j^2``, ``A = sum v_j w_j``, so ``w_i ~ N(v_i A / P, 1 + v_i^2 / P)``.
        The product of these is the exact joint density of each run (covariance
        ``tau^2 11' + sigma^2 exp(-|dlog t| / ell)``). ``d`` holds this structure's data and the
        rows' grouping by run (:func:`run_rows`)."""
        r, rho, s, _, w, v = self._whitened(mu, y, p, d)
        idx, bounds = d["run_idx"], d["run_bounds"]

        def before(x):  # sum over the earlier checkpoints of the same run
            exclusive = ops.cumsum(x) - x
            return exclusive - ops.repeat_runs(ops.take(exclusive, bounds[:-1]), idx, bounds)

        precision = 1.0 / p["tau"] ** 2 + before(v**2)
        mean = mu + rho * ops.shift(r) + s * v * before(v * w) / precision
        return mean, s * ops.sqrt(1.0 + v**2 / precision)

    def joint(self, mu, y, p, d):
        """Each run's log density under the normal family, in closed form: ``w ~ N(0, I + tau^2 v
        v')``, so ``log p(r) = -0.5 (w'w - A^2 / P) - 0.5 log(tau^2 P) - sum log s_i - n/2 log 2 pi``
        (``P``, ``A`` over the whole run). The sum of :meth:`conditional`'s terms, without their
        running sums and per-row square roots and logs: what the sampler evaluates."""
        _, _, _, log_s, w, v = self._whitened(mu, y, p, d)
        bounds = d["run_bounds"]
        tau2 = p["tau"] ** 2
        precision = 1.0 / tau2 + ops.run_sums(v**2, bounds)
        a = ops.run_sums(v * w, bounds)
        n = bounds[1:] - bounds[:-1]
        return (ops.run_sums(-0.5 * w**2 - log_s, bounds) + 0.5 * a**2 / precision
                - 0.5 * ops.log(tau2 * precision) - 0.5 * np.log(2.0 * np.pi) * n)

    def offset_posterior(self, r: np.ndarray, log_t: np.ndarray, p: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of one run's offset given its residuals ``r`` (draws x checkpoints) at ``log_t``."""
        first = np.r_[1.0, np.zeros(log_t.size - 1)]
        dlog = np.r_[1.0, np.diff(log_t)]
        w, v = self.whiten(r, *self.transitions(first, dlog, p["sigma"], p["ell"]))
        precision = 1.0 / p["tau"][..., 0] ** 2 + (v**2).sum(-1)
        return (v * w).sum(-1) / precision, 1.0 / np.sqrt(precision)

    @staticmethod
    def path(rng: np.random.Generator, log_t: np.ndarray, sigma: np.ndarray, ell: np.ndarray,
             e0: np.ndarray | None = None, log_t0: float | None = None) -> np.ndarray:
        """AR(1) residuals at increasing ``log_t`` (last axis), continuing from ``e0`` at ``log_t0``
        (``e0=None``: a fresh stationary start). ``sigma``, ``ell`` broadcast against the draws."""
        shape = np.broadcast_shapes(np.shape(sigma)[:-1], np.shape(ell)[:-1])
        out = np.empty((*shape, log_t.size))
        prev_e, prev_t = e0, log_t0
        sigma, ell = sigma[..., 0], ell[..., 0]
        for i, lt in enumerate(log_t):
            z = rng.standard_normal(shape)
            if prev_e is None:
                e = sigma * z
            else:
                gap = lt - prev_t
                e = np.exp(-gap / ell) * prev_e + sigma * np.sqrt(-np.expm1(-2.0 * gap / ell)) * z
            out[..., i] = e
            prev_e, prev_t = e, lt
        return out

    def simulate(self, rng, log_mu, p, f, family, shape, run_idx=None, log_t=None):
        if run_idx is None or log_t is None:
            raise NoiseError("noise='ar1' simulates runs: give run_idx and log_t (rows grouped by run)")
        out = np.array(log_mu, dtype=float, copy=True)
        lead = out.shape[:-1]
        tau = np.asarray(p["tau"])[..., 0]
        for r in np.unique(run_idx):
            rows = np.flatnonzero(run_idx == r)
            e = self.path(rng, log_t[rows], np.broadcast_to(p["sigma"], (*lead, 1)),
                          np.broadcast_to(p["ell"], (*lead, 1)))
            u = tau * rng.standard_normal(lead) if np.any(tau > 0) else 0.0  # no draw for tau = 0
            out[..., rows] += np.asarray(u)[..., None] + e
        return out


class GPLogC(Structure):
    """The law's own error as a Gaussian process in log10 C, plus run-to-run noise.

    ``log loss = log L + delta(log10 C) + e``: ``delta`` has sd ``eta`` and correlation
    ``exp(-|log10 C_i - log10 C_j| / ell_c)`` (an Ornstein-Uhlenbeck process along compute), ``e``
    is iid with scale ``sigma``. Runs at one compute budget share their ``delta`` (an isoFLOP
    budget's common offset); runs a decade apart share less of it. Fitted exactly (a Cholesky
    factor of the runs' covariance, written as each run's conditional given the earlier ones).
    A new run's ``delta`` is predicted from the fitted runs' residuals: near the data it follows
    them, beyond the data its uncertainty grows towards ``eta`` with distance in decades of C, so
    an interval for a larger run carries the law's own error, learnt from how the runs scatter
    around it along compute."""

    name = "gp_c"
    doc = "law discrepancy: a Gaussian process in log10 C (sd eta, length ell_c decades) plus iid noise (sigma)"
    finals_only = True
    needs_residuals = True
    independent = False
    scale_doc = "sqrt(sigma^2 + eta^2)"
    #: The most runs it fits (a dense covariance of this many rows per gradient).
    MAX_ROWS = 2000
    parameters = (
        SIGMA,
        # how far a law's curve sits from the runs, as a shared, smooth error along compute: a few %
        NoiseParameter("eta", Prior("HalfNormal", sigma=0.03), "sd of the law's discrepancy in log loss"),
        # the discrepancy's correlation length in decades of C: median 1 decade, 90% in 0.2-5
        NoiseParameter("ell_c", Prior("LogNormal", mu=0.0, sigma=1.0), "correlation length of the discrepancy, decades of C"),
    )

    def features(self, columns, reference):
        if "C" not in columns:
            raise NoiseError("noise='gp_c' reads compute C: give C, or N and D (C = 6 N D)")
        return {"log10_c": np.log10(columns["C"])}

    def model_data(self, runs, order):
        if len(order) > self.MAX_ROWS:
            raise NoiseError(f"noise='gp_c' fits a dense covariance of the runs; {len(order)} rows is more than "
                             f"{self.MAX_ROWS}: use noise='iid', or fewer runs")
        return super().model_data(runs, order)

    def scale(self, p, f):
        return ops.sqrt(p["sigma"] ** 2 + p["eta"] ** 2)

    @staticmethod
    def _kernel(x1: Any, x2: Any, eta: Any, ell: Any) -> Any:
        return eta**2 * ops.exp(-ops.abs(x1[..., :, None] - x2[..., None, :]) / ell)

    def conditional(self, mu, y, p, d):
        x = d["log10_c"]
        cov = self._kernel(x, x, p["eta"], p["ell_c"]) + (p["sigma"] ** 2 + 1e-10) * ops.eye_like(x)
        low = ops.cholesky(cov)
        r = y - mu
        z = ops.solve_lower(low, r)
        sd = ops.diagonal(low)
        return mu + r - sd * z, sd  # r_i given r_<i: N(r_i - L_ii z_i, L_ii^2)

    def predict(self, p, f_new, f_train, r_train):
        x_t, x_n = np.asarray(f_train["log10_c"]), np.asarray(f_new["log10_c"])
        r_train = r_train()
        n_draws = r_train.shape[0]
        sigma, eta, ell = (np.broadcast_to(np.asarray(p[k], dtype=float).reshape(-1), (n_draws,))
                           for k in ("sigma", "eta", "ell_c"))
        shift = np.empty((n_draws, x_n.size))
        var = np.empty((n_draws, x_n.size))
        from scipy.linalg import cho_factor, cho_solve

        eye = np.eye(x_t.size)
        for s in range(n_draws):
            k_tt = self._kernel(x_t, x_t, eta[s], ell[s]) + (sigma[s] ** 2 + 1e-10) * eye
            k_nt = self._kernel(x_n, x_t, eta[s], ell[s])
            c = cho_factor(k_tt, lower=True)
            shift[s] = k_nt @ cho_solve(c, r_train[s])
            v = np.linalg.solve(np.tril(c[0]), k_nt.T)
            var[s] = eta[s] ** 2 - (v**2).sum(axis=0)
        return shift, np.sqrt(np.maximum(var, 0.0) + sigma[:, None] ** 2)

    def simulate(self, rng, log_mu, p, f, family, shape, run_idx=None, log_t=None):
        x = np.asarray(f["log10_c"])
        lead = np.shape(log_mu)[:-1]
        eta = np.broadcast_to(np.asarray(p["eta"])[..., 0], lead)
        ell = np.broadcast_to(np.asarray(p["ell_c"])[..., 0], lead)
        out = np.array(log_mu, dtype=float, copy=True)
        for idx in np.ndindex(*lead) if lead else [()]:
            cov = self._kernel(x, x, eta[idx], ell[idx]) + 1e-12 * np.eye(x.size)
            out[idx] += np.linalg.cholesky(cov) @ rng.standard_normal(x.size)
        e = family.sample(rng, np.shape(log_mu), **shape)
        return out + np.asarray(p["sigma"]) * e


def compute_levels(log10_c: np.ndarray, width: float) -> np.ndarray:
    """Positions (mean log10 C) of the compute levels of a set of runs: sorted runs start a new level
    where they lie more than ``width`` decades beyond the current level's first run (an isoFLOP
    budget's runs form one level even when their C is digitised with scatter)."""
    x = np.sort(np.asarray(log10_c, dtype=float))
    levels, start, members = [], x[0], []
    for v in x:
        if v - start > width:
            levels.append(np.mean(members))
            start, members = v, []
        members.append(v)
    levels.append(np.mean(members))
    return np.asarray(levels)


class RandomWalkC(Structure):
    """The law's own error as a random walk along compute, plus run-to-run noise.

    Runs are grouped into compute levels (isoFLOP budgets; runs within ``LEVEL_WIDTH`` decades of C
    of each other). Each level ``k`` has an offset ``u_k`` of log loss from the law, and the offsets
    follow a Gaussian random walk in log10 C: ``u_k - u_(k-1) ~ Normal(0, kappa^2 * gap_k)`` (gap in
    decades), ``log loss = log L + u_level + e``, ``e`` iid with scale ``sigma``. ``kappa`` is learnt
    from how the levels' offsets drift along compute in the fitted runs. A new run beyond the data
    continues the walk from the last level: its offset's mean is the last level's and its variance
    grows by ``kappa^2`` per decade of extrapolation, so the interval for a larger run widens with
    the distance, as far as the runs say the law drifts. Between levels, the Brownian bridge."""

    name = "rw_c"
    doc = "law discrepancy: a random walk along log10 C over compute levels (kappa per sqrt decade) plus iid noise"
    finals_only = True
    scale_doc = "sigma"
    latents = ("rw_z",)
    latent_size_of = "level_x"
    #: Runs within this many decades of C form one compute level.
    LEVEL_WIDTH = 0.1
    parameters = (
        SIGMA,
        # drift of the law's error per sqrt(decade) of compute: 0.02 = 2% after one decade
        NoiseParameter("kappa", Prior("HalfNormal", sigma=0.02), "drift of the law's error in log loss per sqrt(decade) of C"),
    )

    def features(self, columns, reference):
        if "C" not in columns:
            raise NoiseError(f"noise={self.name!r} reads compute C: give C, or N and D (C = 6 N D)")
        return {"log10_c": np.log10(columns["C"])}

    def model_data(self, runs, order):
        x = np.log10(runs_columns(runs)["C"])[order]
        levels = compute_levels(x, self.LEVEL_WIDTH)
        idx = np.abs(x[:, None] - levels[None, :]).argmin(axis=1)
        return {"level_idx": idx.astype("int64"), "level_x": levels,
                "level_gap": np.r_[1.0, np.diff(levels)]}

    def _walk(self, z: Any, kappa: Any, gap: Any) -> Any:
        return ops.cumsum(kappa * ops.sqrt(gap) * z)

    def conditional(self, mu, y, p, d):
        u = self._walk(p["rw_z"], p["kappa"], d["level_gap"])
        return mu + ops.take(u, d["level_idx"]), p["sigma"]

    def predict(self, p, f_new, f_train, r_train):
        levels = compute_levels(f_train["log10_c"], self.LEVEL_WIDTH)
        gap = np.r_[1.0, np.diff(levels)]
        kappa = np.asarray(p["kappa"], dtype=float)  # (draw, 1)
        u = self._walk(np.asarray(p["rw_z"], dtype=float), kappa, gap)  # (draw, level)
        x = np.asarray(f_new["log10_c"], dtype=float)
        hi = np.clip(np.searchsorted(levels, x), 1, len(levels) - 1) if len(levels) > 1 else np.zeros(x.size, int)
        lo = hi - 1 if len(levels) > 1 else hi
        a, b = levels[lo], levels[hi]
        near = np.abs(x[:, None] - levels[None, :]).min(axis=1) <= self.LEVEL_WIDTH / 2
        at = np.abs(x[:, None] - levels[None, :]).argmin(axis=1)
        beyond, below = x > levels[-1], x < levels[0]
        t = np.where(b > a, (x - a) / np.where(b > a, b - a, 1.0), 0.0)
        mean = u[:, lo] + (u[:, hi] - u[:, lo]) * t
        var = np.where(b > a, (x - a) * (b - x) / np.where(b > a, b - a, 1.0), 0.0)
        mean = np.where(beyond, u[:, -1:], np.where(below, u[:, :1], mean))
        var = np.where(beyond, x - levels[-1], np.where(below, levels[0] - x, var))
        mean = np.where(near, u[:, at], mean)
        var = np.where(near, 0.0, var)
        return mean, np.sqrt(p["sigma"] ** 2 + kappa**2 * var)

    def simulate(self, rng, log_mu, p, f, family, shape, run_idx=None, log_t=None):
        x = np.asarray(f["log10_c"], dtype=float)
        levels = compute_levels(x, self.LEVEL_WIDTH)
        idx = np.abs(x[:, None] - levels[None, :]).argmin(axis=1)
        lead = np.shape(log_mu)[:-1]
        z = rng.standard_normal((*lead, levels.size))
        u = self._walk(z, np.asarray(p["kappa"], dtype=float), np.r_[1.0, np.diff(levels)])
        e = family.sample(rng, np.shape(log_mu), **shape)
        return np.asarray(log_mu) + u[..., idx] + np.asarray(p["sigma"]) * e


class Discrepancy(Structure):
    """Run-to-run noise, plus the law's own error beyond the fitted runs, growing with the distance.

    Within the compute range of the fitted runs this is ``iid``. A new run ``d`` decades of C (of N or
    D for a table without C) beyond
    that range (above the largest or below the smallest) has scale ``sqrt(sigma^2 + (kappa d)^2)``:
    how far a law fitted to smaller runs has been off at the larger ones, per decade. The fitted runs
    cannot tell ``kappa`` (they all lie inside their own range), so its posterior is its prior, and
    the prior is what other ladders showed. ``kappa ~ LogNormal(-3.90, 1.43)`` (median 0.020 per
    decade, 90% below 0.127, 99% below 0.54): the population of error rates of 19 public ladders (57
    rolling-origin splits of ``benchmarks/extrapolation.py``), fitted by marginal likelihood with one
    ``kappa`` per split; most laws extrapolate within a few percent per decade, a few are off by
    10-15%, and the heavy tail says so. Built by ``models/extrapolation_prior.py``
    (``benchmarks/results/extrapolation_prior.md``: a dataset left out of the fit is held at 0.78-1.00
    by 90% intervals). Put your own prior on ``kappa`` if your ladders say otherwise."""

    name = "discrepancy"
    doc = "iid noise plus the law's error beyond the fitted compute range, sd kappa per decade of C"
    finals_only = True
    scale_doc = "sigma (inside the fitted compute range)"
    parameters = (
        SIGMA,
        NoiseParameter("kappa", Prior("LogNormal", mu=-3.90, sigma=1.43),
                       "sd of the law's error in log loss per decade of C beyond the fitted runs"),
    )

    #: The axis the distance is measured along: compute, else the one size axis a table has.
    AXES = ("C", "N", "D")

    @classmethod
    def axis(cls, columns: Mapping[str, np.ndarray]) -> str | None:
        return next((a for a in cls.AXES if a in columns), None)

    def features(self, columns, reference):
        axis = self.axis(reference)
        if axis is None or axis not in columns:
            raise NoiseError(f"noise={self.name!r} measures the distance from the fitted runs in compute C (or N, "
                             "or D): give C, or N and D (C = 6 N D); or use noise='iid'")
        x, ref = np.log10(columns[axis]), np.log10(reference[axis])
        return {"decades_out": np.maximum(x - ref.max(), 0.0) + np.maximum(ref.min() - x, 0.0)}

    def law_error(self, p, f):
        return p["kappa"] * f["decades_out"]

    def scale(self, p, f):
        return ops.sqrt(p["sigma"] ** 2 + self.law_error(p, f) ** 2)

    def simulate(self, rng, log_mu, p, f, family, shape, run_idx=None, log_t=None):
        # the law's error is normal whatever the family of the run-to-run noise
        err = np.asarray(self.law_error(p, f), dtype=float) * rng.standard_normal(np.shape(log_mu))
        return log_mu + err + np.asarray(p["sigma"]) * family.sample(rng, np.shape(log_mu), **shape)


STRUCTURES: dict[str, Structure] = {}


def register_noise(structure: Structure | type[Structure], *, overwrite: bool = False) -> Structure:
    """Register a noise structure by its ``name`` (a class or an instance); returns the instance.

    Examples
    --------
    >>> class Flat(Structure):
    ...     name = "doc_flat"
    ...     doc = "iid noise, registered under another name"
    >>> register_noise(Flat).name
    'doc_flat'
    """
    inst = structure() if isinstance(structure, type) else structure
    if not isinstance(inst, Structure):
        raise TypeError(f"register_noise takes a Structure subclass, got {structure!r}")
    if inst.name in STRUCTURES and not overwrite and type(STRUCTURES[inst.name]) is not type(inst):
        raise NoiseError(f"noise structure {inst.name!r} is already registered; pass overwrite=True")
    names = [q.name for q in inst.parameters]
    if len(set(names)) != len(names):
        raise NoiseError(f"noise structure {inst.name!r} declares a parameter twice: {names}")
    STRUCTURES[inst.name] = inst
    return inst


register_noise(IID)
register_noise(AR1)
register_noise(GPLogC)
register_noise(RandomWalkC)
register_noise(Discrepancy)


def list_noise() -> list[str]:
    """Names of the registered noise structures."""
    return sorted(STRUCTURES)


# -- run effects --------------------------------------------------------------------------------

#: Prior on the sd of a parameter's run-to-run variation (log scale for scale constants,
#: multiplicative for positive parameters, additive otherwise).
RUN_EFFECT_SD = Prior("HalfNormal", sigma=0.2)
PARAMETERIZATIONS = ("noncentered", "centered")

#: Prior families whose support is positive: their parameters vary multiplicatively between runs.
POSITIVE_FAMILIES = frozenset({
    "LogNormal", "HalfNormal", "Gamma", "Exponential", "HalfCauchy", "HalfStudentT", "InverseGamma",
    "Weibull", "HalfFlat", "ChiSquared", "Pareto", "Chi", "Beta",
})


def noise_parameters() -> tuple[str, ...]:
    """Every parameter name of every registered family and structure (``sigma``, ``nu``, ``tau``...)."""
    names = [q.name for s in STRUCTURES.values() for q in s.parameters]
    names += [q.name for f in FAMILIES.values() for q in f.parameters]
    return tuple(dict.fromkeys(names))


def run_codes(runs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer run index per row and the run ids in order of first appearance."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(runs.run_ids), sort=False)
    return codes.astype("int64"), np.asarray(uniques)


def run_rows(runs: Any, order: np.ndarray) -> dict[str, np.ndarray]:
    """How the rows of a curve table, taken in ``order`` (grouped by run), fall into runs: ``run_idx``
    (each row's run, non-decreasing) and ``run_bounds`` (run ``r`` holds rows
    ``run_bounds[r]:run_bounds[r + 1]``). Structures read them in ``conditional`` beside their own data."""
    idx, ids = run_codes(runs)
    idx = idx[order]
    if np.any(np.diff(idx) < 0):
        raise ValueError("run_rows: order does not group the rows by run (sort by run_codes(runs)[0], stable)")
    return {"run_idx": idx, "run_bounds": np.searchsorted(idx, np.arange(len(ids) + 1)).astype("int64")}


def runs_columns(runs: Any) -> dict[str, np.ndarray]:
    """The numeric columns of a run table (N, D, C, step... that it has), as float arrays."""
    df = runs.to_dataframe()
    return {c: df[c].to_numpy(dtype=float) for c in ("N", "D", "C", "U", "step", "B") if c in df}


# -- the observation model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """The observation model of a fit: family, structure, run effects and their parameterization.

    Parameters
    ----------
    family : {"student_t", "normal"} or None
        Distribution of log loss around its conditional location. None (the default): the
        structure's ``default_family``, ``"student_t"`` (robust to a stray run) except for
        ``"ar1"``, whose run offsets are integrated out exactly only under ``"normal"``.
    structure : str
        A registered structure (:func:`list_noise`): ``"iid"`` or ``"ar1"`` (curve tables).
    run_effects : tuple of str
        Law parameters that vary from run to run, partially pooled (curve tables).
    parameterization : {"noncentered", "centered"}
        Of the run effects.

    Examples
    --------
    >>> Noise("student_t", "ar1").parameter_names
    ('sigma', 'tau', 'ell', 'nu')
    >>> Noise.from_dict(Noise("normal", "iid").to_dict())
    Noise(family='normal', structure='iid', run_effects=(), parameterization='noncentered')
    """

    family: str | None = None
    structure: str = "iid"
    run_effects: tuple[str, ...] = field(default=())
    parameterization: str = "noncentered"

    def __post_init__(self) -> None:
        if self.structure not in STRUCTURES:
            raise NoiseError(f"noise={self.structure!r} is not known; use one of {list_noise()}")
        if self.family is None:
            object.__setattr__(self, "family", STRUCTURES[self.structure].default_family)
        if self.family not in FAMILIES:
            raise NoiseError(f"likelihood={self.family!r} is not known; use one of {sorted(FAMILIES)}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise NoiseError(f"parameterization={self.parameterization!r} is not known; use one of "
                             f"{list(PARAMETERIZATIONS)}")
        object.__setattr__(self, "run_effects", tuple(self.run_effects))

    # declared pieces
    @property
    def fam(self) -> Family:
        return FAMILIES[self.family]

    @property
    def struct(self) -> Structure:
        return STRUCTURES[self.structure]

    @property
    def parameters(self) -> tuple[NoiseParameter, ...]:
        """The structure's, then the family's noise parameters (run-effect sds not included)."""
        return (*self.struct.parameters, *self.fam.parameters)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.parameters)

    def names(self) -> tuple[str, ...]:
        """Every noise parameter a fit samples, run-effect sds last (``<name>_run_sd``)."""
        return (*self.parameter_names, *(f"{n}_run_sd" for n in self.run_effects))

    def default_priors(self, law: Law) -> dict[str, Prior]:
        out = {q.name: q.prior for q in self.parameters}
        out.update({f"{law.parameter(n).name}_run_sd": RUN_EFFECT_SD for n in self.run_effects})
        return out

    def with_law(self, law: Law) -> Noise:
        """Run effects named as the law names its parameters (raises naming the law's parameters)."""
        return replace(self, run_effects=tuple(law.parameter(n).name for n in self.run_effects))

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "structure": self.structure, "run_effects": list(self.run_effects),
                "parameterization": self.parameterization}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Noise:
        return cls(d.get("family", "normal"), d.get("structure", "iid"), tuple(d.get("run_effects", ())),
                   d.get("parameterization", "noncentered"))

    # checks
    def check(self, runs: Any, law: Law) -> None:
        """Raise :class:`NoiseError` when this model does not fit the table (curve noise or run
        effects on final losses, run effects naming no parameter of the law)."""
        if not runs.is_curves:
            if self.struct.curves_only:
                raise NoiseError(
                    f"noise={self.structure!r} models checkpoints along a run, but this table holds one final "
                    "loss per run; use noise='discrepancy' (the default) or 'iid', or build a curve table with run= and "
                    "step=/tokens="
                )
            if self.run_effects:
                raise NoiseError("run_effects need several checkpoints per run; this table holds one final loss per run")
        elif self.struct.finals_only:
            raise NoiseError(f"noise={self.structure!r} models final losses (one row per run), but this table holds "
                             "training curves; use noise='ar1' (the default for curves), or runs.final()")
        for name in self.run_effects:
            try:
                law.parameter(name)
            except LawError as err:
                raise NoiseError(str(err)) from None

    # math on numpy draws
    def shape_params(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {q.name: p[q.name] for q in self.fam.parameters}

    def new_run_scale(self, p: Mapping[str, Any], f: Mapping[str, Any]) -> Any:
        return self.struct.scale(p, f)

    def new_run(self, p: Mapping[str, np.ndarray], f_new: Mapping[str, np.ndarray],
                f_train: Mapping[str, np.ndarray], r_train: Any) -> tuple[Any, Any, Any]:
        """One new run's log loss at new points, per draw: shift of location, scale of the run-to-run
        noise (this family) and sd of the law's own error (normal, :meth:`Structure.law_error`),
        for :class:`bayescale.analysis.predictive.Predictive` (``law_sd``), which adds the two."""
        shift, scale = self.struct.predict(p, f_new, f_train, r_train)
        err = np.asarray(self.struct.law_error(p, f_new), dtype=float)
        if not np.any(err):
            return shift, scale, None
        noise = np.sqrt(np.maximum(np.asarray(scale, dtype=float) ** 2 - err ** 2, 0.0))
        return shift, noise, err

    def run_effect_kind(self, law: Law, name: str, priors: Mapping[str, Prior]) -> str:
        """How parameter ``name`` varies between runs: ``"log"`` (scale constants: additive on the
        log scale), ``"mult"`` (positive parameters: multiplicative) or ``"add"``."""
        q = law.parameter(name)
        if q.log:
            return "log"
        return "mult" if priors[q.sampled_name].dist in POSITIVE_FAMILIES else "add"

    def run_value(self, kind: str, at_pivot: Any, sd: Any, z: Any) -> Any:
        """One run's value at the pivot: the population's moved by ``sd * z`` (additively, or on
        the log scale)."""
        return at_pivot + sd * z if kind == "add" else at_pivot * ops.exp(sd * z)

    def run_affected(self, law: Law) -> tuple[str, ...]:
        """Parameters whose natural value differs between runs: the run effects, and scale constants
        whose pivot shift depends on an exponent that varies between runs."""
        names = set(self.run_effects)
        for q in law.parameters:
            if q.log and any(isinstance(w, str) and w in self.run_effects for w in q.scale.values()):
                names.add(q.name)
        return tuple(n for n in law.param_names if n in names)

    def natural_run_values(self, law: Law, per_run: Mapping[str, Any], at_pivot: Mapping[str, Any],
                           log_pivot: Mapping[str, Any]) -> dict[str, Any]:
        """Natural-scale values of the run-affected parameters from per-run values at the pivot."""
        exps = {k: per_run.get(k, at_pivot[k]) for k in law.param_names if not law.parameter(k).log}
        out = {}
        for name in self.run_affected(law):
            q = law.parameter(name)
            value = per_run.get(name, at_pivot[name])
            if q.log and q.scale:
                value = value * ops.exp(law.log_pivot_shift(q, exps, log_pivot))
            out[name] = value
        return out

    def simulate(self, rng: np.random.Generator, log_mu: np.ndarray, p: Mapping[str, Any],
                 f: Mapping[str, np.ndarray] | None = None, *, run_idx: np.ndarray | None = None,
                 log_t: np.ndarray | None = None) -> np.ndarray:
        """Draws of log loss around ``log_mu`` (``(..., point)``), parameters ``p`` as ``(..., 1)``."""
        return self.struct.simulate(rng, log_mu, p, f or {}, self.fam, self.shape_params(p),
                                    run_idx=run_idx, log_t=log_t)


def default_structure(runs: Any) -> str:
    """The default noise structure for a table: ``"ar1"`` for training curves; ``"discrepancy"``
    for final losses (iid inside the fitted range, plus the law's own error beyond it: the honest
    interval for a larger run), measured along C (or N or D where the table has only one of them);
    ``"iid"`` for a table with none of C, N and D. ``noise="iid"`` is the model before the
    discrepancy term."""
    if runs.is_curves:
        return "ar1"
    return "discrepancy" if Discrepancy.axis(runs_columns(runs)) else "iid"


def get_noise(noise: Noise | str | None = None, likelihood: str | None = None, *,
              runs: Any = None, run_effects: Sequence[str] = (), parameterization: str = "noncentered") -> Noise:
    """A :class:`Noise` from ``bs.fit``'s keywords: ``noise`` a Noise, a structure name or None (the
    default: ``"ar1"`` for curve tables, ``"discrepancy"`` for final losses, or ``"iid"`` when no
    table is given)."""
    if isinstance(noise, Noise):
        return noise
    if isinstance(noise, Mapping):
        return Noise.from_dict(noise)
    if noise is None:
        noise = "iid" if runs is None else default_structure(runs)
    return Noise(likelihood, noise, tuple(run_effects), parameterization)

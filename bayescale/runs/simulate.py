"""Simulated run tables and training curves from a known law and observation model (the noise's own
simulator, :meth:`bayescale.laws.noise.Noise.simulate`), for recovery and calibration checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..laws import Law, get_law
from ..laws.noise import Noise
from .table import RunTable

__all__ = ["isoflop_design", "simulate_curves", "simulate_runs"]


def simulate_curves(
    law: str | Law,
    params: Mapping[str, float] | None = None,
    *,
    sizes: Sequence[float],
    steps: Sequence[float],
    tokens_per_step: float | None = None,
    sigma: float = 0.01,
    tau: float = 0.0,
    ell: float = 0.5,
    runs_per_size: int = 1,
    random_seed: int,
) -> RunTable:
    """Checkpoints of runs whose log loss is the law plus a per-run offset and AR(1) noise.

    ``log loss = log L(N, t) + offset_r + e_t``: ``offset_r ~ Normal(0, tau)`` per run and
    ``e`` a stationary AR(1) along the run in log(step) (correlation ``exp(-|dlog t| / ell)``,
    sd ``sigma``): the noise model of ``bs.fit(..., noise="ar1")``.

    Parameters
    ----------
    law : str or Law
        A law of N and step (``"kaplan_steps"``), or of N and D with ``tokens_per_step``.
    params : mapping, optional
        Natural-scale parameters; the law's example values by default.
    sizes : sequence of float
        Model sizes N, one run each (``runs_per_size`` runs each).
    steps : sequence of float
        Checkpoint steps, increasing, shared by all runs.
    tokens_per_step : float, optional
        Adds a tokens-seen column ``D = step * tokens_per_step`` (and C = 6 N D).
    sigma, tau, ell : float
        Noise: AR(1) sd, run-offset sd, correlation length in log(step).
    runs_per_size : int
    random_seed : int

    Returns
    -------
    RunTable
        A curve table (``run``, ``N``, ``step``, ``loss``, and ``D``/``C`` with tokens).

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.runs.simulate_curves("kaplan_steps", sizes=[1e7, 1e8, 1e9], steps=[1e3, 1e4],
    ...                                random_seed=0)
    >>> len(runs), runs.curve_axis
    (6, 'step')
    """
    law = get_law(law)
    params = dict(law.example if params is None else params)
    steps = np.asarray(steps, dtype=float)
    if steps.ndim != 1 or np.any(np.diff(steps) <= 0) or np.any(steps <= 0):
        raise ValueError("steps must be a 1-d increasing sequence of positive numbers")
    frames = []
    for N in sizes:
        for k in range(runs_per_size):
            run = f"N={N:.3g}" + (f"#{k}" if runs_per_size > 1 else "")
            cols = {"N": np.full(steps.size, float(N)), "step": steps}
            if tokens_per_step is not None:
                cols["D"] = steps * tokens_per_step
            frames.append(pd.DataFrame({"run": run, **cols}))
    df = pd.concat(frames, ignore_index=True)
    run_idx = pd.factorize(df["run"])[0]
    log_mu = np.log(np.asarray(law(**{c: df[c].to_numpy() for c in law.inputs}, **params), dtype=float))
    p = {"sigma": np.array([sigma]), "tau": np.array([tau]), "ell": np.array([ell])}
    log_loss = Noise("normal", "ar1").simulate(np.random.default_rng(random_seed), log_mu, p,
                                                run_idx=run_idx, log_t=np.log(df["step"].to_numpy()))
    df["loss"] = np.exp(log_loss)
    return RunTable.from_dataframe(df, run="run", step="step", tokens="D" if tokens_per_step is not None else None)


def isoflop_design(budgets: Sequence[float], factors: Sequence[float], *, round_sizes: bool = False) -> pd.DataFrame:
    """An isoFLOP design: per compute budget C, sizes ``N = f sqrt(C / 120)`` for each factor ``f``
    (around the Chinchilla rule) and ``D = C / (6 N)``. ``round_sizes`` rounds N to 3 significant
    digits, as a lab reports sizes.

    Examples
    --------
    >>> isoflop_design([6e18], [0.5, 1.0, 2.0]).shape
    (3, 3)
    """
    rows = []
    for C in budgets:
        for f in factors:
            N = np.sqrt(C / 120.0) * f
            if round_sizes:
                N = float(f"{N:.3g}")
            rows.append({"N": float(N), "D": C / (6.0 * N), "C": float(C)})
    return pd.DataFrame(rows)


def simulate_runs(
    law: str | Law,
    design: pd.DataFrame | RunTable,
    params: Mapping[str, float] | None = None,
    *,
    noise: Noise | str = "iid",
    noise_params: Mapping[str, float] | None = None,
    random_seed: int,
) -> RunTable:
    """Final losses of the runs of ``design`` from a known law and observation model.

    ``log loss = log L(inputs) + scale * e`` for iid noise (``e`` from the family of ``noise``),
    each run one draw: the simulator of tests, benchmarks, the demo data and
    :func:`bayescale.calibrate` for fixed parameters.

    Parameters
    ----------
    law : str or Law
    design : DataFrame or RunTable
        The runs' inputs (``N``, ``D``, ``C``, ...); other columns are kept.
    params : mapping, optional
        Natural-scale law parameters; the law's example values by default.
    noise : Noise or str
        An observation model for final losses (default ``"iid"``, normal).
    noise_params : mapping, optional
        Its parameters (default ``{"sigma": 0.02}``; ``nu`` too for the Student-t family).
    random_seed : int

    Examples
    --------
    >>> runs = simulate_runs("chinchilla", isoflop_design([6e18, 6e19], [0.5, 1.0, 2.0]), random_seed=0)
    >>> len(runs)
    6
    """
    law = get_law(law)
    noise = noise if isinstance(noise, Noise) else Noise("normal", noise)
    df = design.to_dataframe() if isinstance(design, RunTable) else pd.DataFrame(design).copy()
    cols = {c: df[c].to_numpy(dtype=float) for c in df.columns if c in {"N", "D", "C", "U", "step", "B"}}
    log_mu = np.log(np.asarray(law(**{c: cols[c] for c in law.inputs}, **dict(law.example if params is None
                                                                                else params)), dtype=float))
    given = {"sigma": 0.02, **(noise_params or {})}
    p = {k: np.array([float(given[k])]) for k in noise.names()}
    f = noise.struct.features(cols, cols)
    df["loss"] = np.exp(noise.simulate(np.random.default_rng(random_seed), log_mu, p, f))
    return RunTable.from_dataframe(df)

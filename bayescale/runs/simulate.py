"""Simulated training curves from a known law and noise model, for recovery and calibration checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..laws import Law, get_law
from .table import RunTable

__all__ = ["simulate_curves"]


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
    rng = np.random.default_rng(random_seed)
    rows = []
    gaps = np.diff(np.log(steps))
    for N in sizes:
        for k in range(runs_per_size):
            run = f"N={N:.3g}" + (f"#{k}" if runs_per_size > 1 else "")
            e = np.empty(steps.size)
            e[0] = rng.normal(0.0, sigma)
            for i, gap in enumerate(gaps, start=1):
                rho = np.exp(-gap / ell)
                e[i] = rho * e[i - 1] + rng.normal(0.0, sigma * np.sqrt(1.0 - rho**2))
            offset = rng.normal(0.0, tau) if tau > 0 else 0.0
            inputs = {"N": np.full(steps.size, float(N)), "step": steps}
            if tokens_per_step is not None:
                inputs["D"] = steps * tokens_per_step
            mean = law(**{c: inputs[c] for c in law.inputs}, **params)
            loss = np.asarray(mean) * np.exp(offset + e)
            rows.append(pd.DataFrame({"run": run, **inputs, "loss": loss}))
    df = pd.concat(rows, ignore_index=True)
    return RunTable.from_dataframe(df, run="run", step="step",
                                   tokens="D" if tokens_per_step is not None else None)

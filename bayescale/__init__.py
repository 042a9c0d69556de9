"""bayescale: Bayesian inference on neural scaling laws with PyMC and ArviZ.

>>> import bayescale as bs
>>> runs = bs.load_demo_runs()
>>> fit = bs.fit(runs, "chinchilla", random_seed=1)           # doctest: +SKIP
>>> bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9)      # doctest: +SKIP
"""

__version__ = "0.1.0"

from importlib.resources import files as _files

from . import analysis, laws, plots, results, runs
from .analysis import (
    average,
    backtest,
    calibrate,
    compare,
    compute_frontier,
    compute_optimal,
    critical_batch_size,
    decide,
    forecast_run,
    loss_interval,
    interval_sources,
    posterior_predictive,
    predict,
    prob_below,
)
from .results import Diagnosis, Fit, MemoryUseWarning, MisfitWarning, SamplerWarning, diagnose, load_fit
from .laws import ModelSpec, Noise, Parameter, Prior, get_law, law
from .laws.cards import list_priors
from .runs import DataWarning, RunTable, Schedule, datasets


#: What fits (and so imports PyMC) is loaded on first use: ``import bayescale`` and reading results,
#: predictions and plots never import PyMC or PyTensor.
_INFERENCE = {"fit": "fit", "fit_many": "fit_many", "sample_prior_predictive": "sample_prior_predictive"}


def __getattr__(name: str):
    if name == "inference" or name in _INFERENCE:
        import importlib

        inference = importlib.import_module(".inference", __name__)
        return inference if name == "inference" else getattr(inference, _INFERENCE[name])
    raise AttributeError(f"module 'bayescale' has no attribute {name!r}")


def load_demo_runs() -> RunTable:
    """The simulated demo table shipped with the package (49 runs from Hoffmann et al.'s law).

    See ``data/README.md`` in the repository: it is simulated, not measured.
    """
    path = _files("bayescale") / "data" / "demo_runs.csv"
    return RunTable.from_csv(str(path), run="run")


__all__ = [
    "DataWarning",
    "Diagnosis",
    "Fit",
    "ModelSpec",
    "Noise",
    "Parameter",
    "Prior",
    "RunTable",
    "Schedule",
    "MemoryUseWarning",
    "MisfitWarning",
    "SamplerWarning",
    "analysis",
    "average",
    "backtest",
    "calibrate",
    "compare",
    "compute_frontier",
    "compute_optimal",
    "critical_batch_size",
    "datasets",
    "decide",
    "diagnose",
    "fit",
    "fit_many",
    "forecast_run",
    "get_law",
    "inference",
    "law",
    "laws",
    "list_priors",
    "load_demo_runs",
    "load_fit",
    "loss_interval",
    "interval_sources",
    "plots",
    "posterior_predictive",
    "predict",
    "prob_below",
    "runs",
    "sample_prior_predictive",
]

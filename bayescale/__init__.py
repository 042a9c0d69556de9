"""bayescale: Bayesian inference on neural scaling laws with PyMC and ArviZ.

>>> import bayescale as bs
>>> runs = bs.load_demo_runs()
>>> fit = bs.fit(runs, "chinchilla", random_seed=1)           # doctest: +SKIP
>>> bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9)      # doctest: +SKIP
"""

__version__ = "0.1.0"

from importlib.resources import files as _files

from . import analysis, inference, laws, plots, runs
from .analysis import (
    average,
    backtest,
    calibrate,
    compare,
    compute_optimal,
    decide,
    forecast_run,
    loss_interval,
    posterior_predictive,
    predict,
    prob_below,
)
from .inference import (
    Diagnosis,
    Fit,
    MemoryUseWarning,
    SamplerWarning,
    diagnose,
    fit,
    fit_many,
    load_fit,
    sample_prior_predictive,
)
from .laws import Parameter, Prior, get_law, law
from .laws.cards import list_priors
from .runs import RunTable, datasets


def load_demo_runs() -> RunTable:
    """The simulated demo table shipped with the package (49 runs from Hoffmann et al.'s law).

    See ``data/README.md`` in the repository: it is simulated, not measured.
    """
    path = _files("bayescale") / "data" / "demo_runs.csv"
    return RunTable.from_csv(str(path), run="run")


__all__ = [
    "Diagnosis",
    "Fit",
    "Parameter",
    "Prior",
    "RunTable",
    "MemoryUseWarning",
    "SamplerWarning",
    "analysis",
    "average",
    "backtest",
    "calibrate",
    "compare",
    "compute_optimal",
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
    "plots",
    "posterior_predictive",
    "predict",
    "prob_below",
    "runs",
    "sample_prior_predictive",
]

"""What a fit means: predictions, intervals, probabilities, checks (numpy/xarray/arviz only)."""

from .backtest import Backtest, backtest
from .compare import AveragedFit, CompareError, Comparison, ParetoKWarning, average, compare
from .curves import (
    forecast_draws,
    forecast_log_density,
    forecast_run,
    new_run_params,
    run_offset_draws,
    run_params,
)
from .predict import (
    PredictionInputError,
    interval,
    loss_draws,
    loss_interval,
    posterior_predictive,
    predict,
    prob_below,
)
from .scoring import coverage, log_predictive_density, mixture_log_density, mixture_quantiles, msce, rmsle

__all__ = [
    "Backtest",
    "backtest",
    "AveragedFit",
    "CompareError",
    "Comparison",
    "ParetoKWarning",
    "average",
    "compare",
    "coverage",
    "log_predictive_density",
    "mixture_log_density",
    "mixture_quantiles",
    "msce",
    "rmsle",
    "forecast_draws",
    "forecast_log_density",
    "forecast_run",
    "new_run_params",
    "run_offset_draws",
    "run_params",
    "PredictionInputError",
    "interval",
    "loss_draws",
    "loss_interval",
    "posterior_predictive",
    "predict",
    "prob_below",
]

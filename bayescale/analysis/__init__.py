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
    ExtrapolationWarning,
    PredictionInputError,
    extrapolation_decades,
    interval,
    loss_draws,
    loss_interval,
    posterior_predictive,
    predict,
    prob_below,
)
from .scoring import coverage, log_predictive_density, mixture_log_density, mixture_quantiles, msce, rmsle
from .sensitivity import (
    PriorSensitivity,
    PriorSensitivityWarning,
    SensitivityError,
    identifiability,
    posterior_correlations,
    power_scale_weights,
    prior_sensitivity,
    strong_correlations,
)

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
    "ExtrapolationWarning",
    "PredictionInputError",
    "PriorSensitivity",
    "PriorSensitivityWarning",
    "SensitivityError",
    "extrapolation_decades",
    "identifiability",
    "posterior_correlations",
    "power_scale_weights",
    "prior_sensitivity",
    "strong_correlations",
    "interval",
    "loss_draws",
    "loss_interval",
    "posterior_predictive",
    "predict",
    "prob_below",
]

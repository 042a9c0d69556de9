"""What a fit means: predictions, intervals, probabilities, checks (numpy/xarray/arviz only)."""

from .backtest import Backtest, backtest
from .compare import CompareError, compare
from .curves import forecast_draws, forecast_run, new_run_params, run_offset_draws, run_params
from .predict import (
    PredictionInputError,
    interval,
    loss_draws,
    loss_interval,
    posterior_predictive,
    predict,
    prob_below,
)

__all__ = [
    "Backtest",
    "backtest",
    "CompareError",
    "compare",
    "forecast_draws",
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

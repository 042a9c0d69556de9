"""What a fit means: predictions, intervals, probabilities, checks (numpy/xarray/arviz only)."""

from .backtest import Backtest, backtest
from .compare import CompareError, compare
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
    "PredictionInputError",
    "interval",
    "loss_draws",
    "loss_interval",
    "posterior_predictive",
    "predict",
    "prob_below",
]

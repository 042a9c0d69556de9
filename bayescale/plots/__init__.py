"""Pictures: functions that take results and return matplotlib Axes."""

from .backtest import plot_backtest, plot_calibration
from .checks import plot_loo_pit, plot_ppc, plot_prior_predictive, plot_residuals
from .curves import plot_curves
from .decide import plot_isoflop
from .frontier import plot_frontier
from .fits import plot_extrapolation, plot_fit, plot_interval_sources
from .sensitivity import plot_pair, plot_prior_sensitivity

__all__ = [
    "plot_backtest",
    "plot_calibration",
    "plot_curves",
    "plot_extrapolation",
    "plot_fit",
    "plot_frontier",
    "plot_interval_sources",
    "plot_isoflop",
    "plot_loo_pit",
    "plot_pair",
    "plot_ppc",
    "plot_prior_predictive",
    "plot_prior_sensitivity",
    "plot_residuals",
]

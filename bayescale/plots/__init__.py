"""Pictures: functions that take results and return matplotlib Axes."""

from .curves import plot_curves
from .fits import plot_extrapolation, plot_fit
from .sensitivity import plot_pair, plot_prior_sensitivity

__all__ = ["plot_curves", "plot_extrapolation", "plot_fit", "plot_pair", "plot_prior_sensitivity"]

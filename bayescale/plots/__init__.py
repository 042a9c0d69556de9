"""Pictures: functions that take results and return matplotlib Axes."""

from .fits import plot_extrapolation, plot_fit

__all__ = ["plot_extrapolation", "plot_fit"]

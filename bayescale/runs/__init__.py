"""The run table: schema, units, validation and loaders."""

from . import datasets
from .schedule import Schedule, ScheduleError, schedule_features
from .design import IdentifiabilityWarning, design_problems
from .simulate import isoflop_design, simulate_curves, simulate_runs
from .table import (
    CurveOrderError,
    DataWarning,
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    NonPositiveError,
    RunTable,
    RunTableError,
    TooFewSizesError,
    data_problems,
)

__all__ = [
    "CurveOrderError",
    "DataWarning",
    "IdentifiabilityWarning",
    "MissingColumnError",
    "NonFiniteError",
    "NonNumericError",
    "NonPositiveError",
    "RunTable",
    "RunTableError",
    "Schedule",
    "ScheduleError",
    "TooFewSizesError",
    "data_problems",
    "datasets",
    "design_problems",
    "isoflop_design",
    "schedule_features",
    "simulate_curves",
    "simulate_runs",
]

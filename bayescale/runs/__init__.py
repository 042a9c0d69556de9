"""The run table: schema, units, validation and loaders."""

from . import datasets
from .design import IdentifiabilityWarning, design_problems
from .simulate import isoflop_design, simulate_curves, simulate_runs
from .table import (
    CurveOrderError,
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    NonPositiveError,
    RunTable,
    RunTableError,
    TooFewSizesError,
)

__all__ = [
    "CurveOrderError",
    "IdentifiabilityWarning",
    "MissingColumnError",
    "NonFiniteError",
    "NonNumericError",
    "NonPositiveError",
    "RunTable",
    "RunTableError",
    "TooFewSizesError",
    "datasets",
    "design_problems",
    "isoflop_design",
    "simulate_curves",
    "simulate_runs",
]

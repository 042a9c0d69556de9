"""The run table: schema, units, validation and loaders."""

from . import datasets
from .design import IdentifiabilityWarning, design_problems
from .simulate import simulate_curves
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
    "simulate_curves",
]

"""The run table: schema, units, validation and loaders."""

from . import datasets
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
    "MissingColumnError",
    "NonFiniteError",
    "NonNumericError",
    "NonPositiveError",
    "RunTable",
    "RunTableError",
    "TooFewSizesError",
    "datasets",
    "simulate_curves",
]

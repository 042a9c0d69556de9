"""The run table: schema, units, validation and loaders."""

from . import datasets
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
]

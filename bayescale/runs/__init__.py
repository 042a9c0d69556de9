"""The run table: schema, units, validation and loaders."""

from . import datasets
from .table import (
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    NonPositiveError,
    RunTable,
    RunTableError,
    TooFewSizesError,
)

__all__ = [
    "MissingColumnError",
    "NonFiniteError",
    "NonNumericError",
    "NonPositiveError",
    "RunTable",
    "RunTableError",
    "TooFewSizesError",
    "datasets",
]

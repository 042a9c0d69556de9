"""How laws are fitted: the only layer that builds PyMC models or samples."""

from .many import FitFailure, FitManyError, FitManyResult, WorkerLawError, default_executor, fit_many
from .model import build_model, pivots
from ..results import Diagnosis, Fit, FitFileError, LawChangedWarning, MemoryUseWarning, SamplerWarning, diagnose, load_fit
from .sampling import fit, sample_prior_predictive

__all__ = [
    "Diagnosis",
    "Fit",
    "FitFailure",
    "FitManyError",
    "FitManyResult",
    "FitFileError",
    "LawChangedWarning",
    "MemoryUseWarning",
    "SamplerWarning",
    "WorkerLawError",
    "build_model",
    "default_executor",
    "diagnose",
    "fit",
    "fit_many",
    "load_fit",
    "pivots",
    "sample_prior_predictive",
]

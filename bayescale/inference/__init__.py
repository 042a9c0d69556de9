"""How laws are fitted: the only layer that builds PyMC models or samples."""

from .many import FitFailure, FitManyError, FitManyResult, WorkerLawError, default_executor, fit_many
from .model import LIKELIHOODS, build_model, pivots, resolve_priors
from ..results import Diagnosis, Fit, FitFileError, LawChangedWarning, MemoryUseWarning, SamplerWarning, diagnose, load_fit
from .sampling import fit, sample_prior_predictive

__all__ = [
    "LIKELIHOODS",
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
    "resolve_priors",
    "sample_prior_predictive",
]

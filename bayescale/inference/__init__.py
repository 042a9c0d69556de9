"""How laws are fitted: the only layer that builds PyMC models or samples."""

import pytensor

# One seed, one posterior. With numba's fastmath, LLVM may order floating-point arithmetic one way when
# it compiles the log density afresh and another when it loads it from PyTensor's on-disk cache: the
# demo's seed gave other draws (and a divergence) in a process with an empty cache than with a warm one.
# Without it, cold and warm processes agree bit for bit (tests/test_cli.py); the cache key includes it.
pytensor.config.numba__fastmath = False

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

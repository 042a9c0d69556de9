"""Results are data: a fitted law (:class:`Fit`), its netCDF file and its sampler diagnostics.

Between the run table and inference in the layers: importing it never imports PyMC, so
:mod:`bayescale.analysis` and :mod:`bayescale.plots` can read fits without it.
"""

from .diagnostics import Diagnosis, MisfitWarning, diagnose, largest_runs_missed
from .fit import Fit, FitFileError, LawChangedWarning, MemoryUseWarning, SamplerWarning, load_fit, make_attrs

__all__ = [
    "Diagnosis",
    "Fit",
    "FitFileError",
    "LawChangedWarning",
    "MemoryUseWarning",
    "MisfitWarning",
    "SamplerWarning",
    "diagnose",
    "largest_runs_missed",
    "load_fit",
    "make_attrs",
]

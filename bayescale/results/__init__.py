"""Results are data: a fitted law (:class:`Fit`), its netCDF file and its sampler diagnostics.

Between the run table and inference in the layers: importing it never imports PyMC, so
:mod:`bayescale.analysis` and :mod:`bayescale.plots` can read fits without it.
"""

from .diagnostics import Diagnosis, diagnose
from .fit import Fit, FitFileError, LawChangedWarning, MemoryUseWarning, SamplerWarning, load_fit, make_attrs

__all__ = [
    "Diagnosis",
    "Fit",
    "FitFileError",
    "LawChangedWarning",
    "MemoryUseWarning",
    "SamplerWarning",
    "diagnose",
    "load_fit",
    "make_attrs",
]

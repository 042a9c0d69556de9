"""The compiled-model cache: one PyMC model per model structure, with what has been compiled from it.

A structure is the law, its priors, the noise model and the names of the data (and the number of
runs where run effects fix the model's output shapes). A fit of the same structure to new data
reuses the cached model: the data go into its ``pm.Data``, so the nutpie model, the JAX program
and the log-likelihood and deterministics functions (:mod:`bayescale.inference.loglik`) need no
recompile. One small LRU serves every sampler.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm

from ..laws.spec import ModelSpec
from .model import ModelData, build

if TYPE_CHECKING:
    from .jax_sampling import JaxProgram
    from .loglik import LoglikFunction, PosteriorFunction


@dataclass(eq=False)
class _Compiled:
    """A model built for one structure, with what has been compiled from it: the nutpie model, the
    JAX program (log density and jitted samplers), the log-likelihood function, the functions
    that give the deterministics, and the log density's value and gradient for the point-fit start
    (all read the model's ``pm.Data`` or take the data as an argument, so new data need no
    recompile).

    ``data`` is what the model holds now; ``lock`` keeps two threads from fitting it at once."""

    model: pm.Model
    spec: ModelSpec | None = None
    nutpie: Any = None
    #: log-likelihood functions by kind: "pointwise" (a model of the pointwise terms) and, where
    #: ``model`` holds each run's joint density, "run" (that model's own terms)
    loglik: dict[str, LoglikFunction] = field(default_factory=dict)
    deterministics: PosteriorFunction | None = None
    expand: PosteriorFunction | None = None
    jax: JaxProgram | None = None
    value_grad: Any = None  # log density and gradient of the flat vector, for the point-fit start
    data: ModelData | None = None
    lock: Any = field(default_factory=threading.RLock)

    def set_data(self, data: ModelData) -> None:
        """Put ``data`` into the model's ``pm.Data`` unless it holds them already (hold ``lock``)."""
        if self.data is not data:
            with self.model:
                pm.set_data(data.values, coords=data.coords)
            self.data = data


#: Models by structure, most recent last (a small LRU), for every sampler: nutpie's compiled model
#: and the log-likelihood function are kept with them.
_COMPILED: OrderedDict[tuple, _Compiled] = OrderedDict()
_COMPILED_MAX = 32
_CACHE_LOCK = threading.Lock()


def _structure_key(spec: ModelSpec, data: ModelData) -> tuple:
    prior_key = tuple(sorted((k, tuple(sorted(p.to_dict().items()))) for k, p in spec.priors_items))
    # per-run posterior variables fix the number of runs in the compiled model's output shapes
    n_runs = data.n_runs if spec.noise.run_effects else None
    noise = type(spec.noise.struct), spec.noise
    # a structure's latent vectors fix their length in the compiled model, as run effects do
    latents = tuple(int(np.size(data.values[spec.noise.struct.latent_size_of])) for _ in spec.noise.struct.latents)
    return (spec.law.spec, spec.law.source_hash, prior_key, noise, n_runs, latents, tuple(sorted(data.values)))


def _cached(spec: ModelSpec, data: ModelData) -> _Compiled:
    """The cached model of this spec (built now, with ``data``, if there is none)."""
    key = _structure_key(spec, data)
    with _CACHE_LOCK:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
        entry = _COMPILED[key] = _Compiled(build(spec, data, joint=True), spec=spec, data=data)
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
        return entry

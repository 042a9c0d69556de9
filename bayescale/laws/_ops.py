"""A tiny ops shim: the same law body runs on numpy arrays, xarray objects and PyTensor tensors.

Law bodies use ``+ - * / **`` and the functions here. Each function dispatches on its argument:
a PyTensor variable gets the ``pytensor.tensor`` op, anything else (floats, numpy arrays,
``xarray.DataArray``) gets the numpy ufunc, which xarray forwards with dims intact.
PyTensor is imported only when a symbolic argument arrives, so ``laws`` stays pure math.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exp", "log", "log1p", "expm1", "sqrt", "is_symbolic"]


def is_symbolic(*xs: object) -> bool:
    """True when any argument is a PyTensor variable."""
    return any(type(x).__module__.startswith("pytensor") for x in xs)


def _dispatch(name: str):
    np_fn = getattr(np, name)

    def op(x):
        if is_symbolic(x):
            import pytensor.tensor as pt

            return getattr(pt, name)(x)
        return np_fn(x)

    op.__name__ = name
    op.__doc__ = f"``{name}`` on numpy, xarray or PyTensor input."
    return op


exp = _dispatch("exp")
log = _dispatch("log")
log1p = _dispatch("log1p")
expm1 = _dispatch("expm1")
sqrt = _dispatch("sqrt")

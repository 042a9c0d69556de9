"""A tiny ops shim: the same law body runs on numpy arrays, xarray objects and PyTensor tensors.

Law bodies use ``+ - * / **`` and the functions here. Each function dispatches on its argument:
a PyTensor variable gets the ``pytensor.tensor`` op, anything else (floats, numpy arrays,
``xarray.DataArray``) gets the numpy ufunc, which xarray forwards with dims intact.
PyTensor is imported only when a symbolic argument arrives, so ``laws`` stays pure math.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "exp", "log", "log1p", "expm1", "sqrt", "softplus", "sigmoid", "minimum", "maximum", "iterate", "sum_over",
    "cumsum", "shift", "take", "repeat_runs", "run_sums", "cholesky", "solve_lower", "diagonal", "eye_like", "abs", "is_symbolic",
]


def is_symbolic(*xs: object) -> bool:
    """True when any argument is a PyTensor variable."""
    return any(type(x).__module__.startswith("pytensor") for x in xs)


def _dispatch(name: str, np_fn=None, doc: str | None = None):
    np_fn = np_fn or getattr(np, name)

    def op(x):
        if is_symbolic(x):
            import pytensor.tensor as pt

            return getattr(pt, name)(x)
        return np_fn(x)

    op.__name__ = name
    op.__doc__ = doc or f"``{name}`` on numpy, xarray or PyTensor input."
    return op


exp = _dispatch("exp")
log = _dispatch("log")
log1p = _dispatch("log1p")
expm1 = _dispatch("expm1")
sqrt = _dispatch("sqrt")
softplus = _dispatch(
    "softplus", lambda x: np.logaddexp(0.0, x),
    "``log(1 + exp(x))`` on numpy, xarray or PyTensor input, without overflow for large ``|x|``.",
)
sigmoid = _dispatch(
    "sigmoid", lambda x: np.exp(-np.logaddexp(0.0, -x)),
    "``1 / (1 + exp(-x))`` on numpy, xarray or PyTensor input, without overflow for large ``|x|``.",
)


def _dispatch2(name: str, doc: str):
    np_fn = getattr(np, name)

    def op(x, y):
        if is_symbolic(x, y):
            import pytensor.tensor as pt

            return getattr(pt, name)(x, y)
        return np_fn(x, y)

    op.__name__ = name
    op.__doc__ = doc
    return op


minimum = _dispatch2(
    "minimum", "Elementwise ``min(x, y)`` on numpy, xarray (broadcast by dims) or PyTensor input.",
)
maximum = _dispatch2(
    "maximum", "Elementwise ``max(x, y)`` on numpy, xarray (broadcast by dims) or PyTensor input.",
)


def iterate(step: Callable[..., object], x0: object, *args: object, n: int) -> object:
    """Apply ``x = step(x, *args)`` ``n`` times, from ``x0``: a fixed number of unrolled iterations.

    ``step`` is written with arithmetic and the functions here, like a law body. On numpy and
    xarray input it is a plain loop. On PyTensor input each iteration is one node wrapping the
    step's graph (an ``OpFromGraph``): the graph and its gradient are the same unrolled
    iterations, but PyTensor's rewrites, which walk arithmetic trees and grow faster than
    linearly in their depth, see ``n`` small nodes instead of one deep tree (16 Newton steps
    of ``m4`` compile their gradient in seconds instead of minutes).

    Examples
    --------
    >>> from bayescale.laws import ops
    >>> float(ops.iterate(lambda x, c: (x + c / x) / 2, 1.0, 2.0, n=6))  # Newton for sqrt(2)
    1.414213562373095
    """
    if not is_symbolic(x0, *args):
        x = x0
        for _ in range(n):
            x = step(x, *args)
        return x
    import pytensor.tensor as pt
    from pytensor.compile.builders import OpFromGraph

    x0, *args = (pt.as_tensor_variable(v) for v in (x0, *args))
    inner = [v.type() for v in (x0, *args)]
    out = pt.as_tensor_variable(step(*inner))
    if out.type != x0.type:
        raise TypeError(f"iterate: step maps {x0.type} to {out.type}; broadcast x0 to the output first")
    op = OpFromGraph(inner, [out], inline=False, name=getattr(step, "__name__", "step"))
    x = x0
    for _ in range(n):
        x = op(x, *args)
    return x


def sum_over(term: Callable[..., object], columns: list[tuple[object, ...]], *params: object) -> object:
    """``sum_j term(*columns[j], *params)``: one term per group of input columns, summed.

    On numpy and xarray input a plain loop. On PyTensor input the groups are stacked along a new
    last axis (parameters given a matching axis) and the term is built once and summed over it: a
    graph of a few nodes however many groups there are, where the loop would build one arithmetic
    tree per group (``multi_power``'s 40 drop bins took numba minutes to compile as a loop).

    Examples
    --------
    >>> from bayescale.laws import ops
    >>> float(ops.sum_over(lambda x, y, c: c * x * y, [(1.0, 2.0), (3.0, 4.0)], 0.5))
    7.0
    """
    if not is_symbolic(*(c for group in columns for c in group), *params):
        total = 0.0
        for group in columns:
            total = total + term(*group, *params)
        return total
    import pytensor.tensor as pt

    stacked = [pt.stack([pt.as_tensor_variable(g[k]) for g in columns], axis=-1) for k in range(len(columns[0]))]
    expanded = [p[..., None] if getattr(p, "ndim", 0) else p for p in map(pt.as_tensor_variable, params)]
    return pt.sum(term(*stacked, *expanded), axis=-1)


def cumsum(x):
    """Cumulative sum along the last axis, on numpy or PyTensor input."""
    if is_symbolic(x):
        import pytensor.tensor as pt

        return pt.cumsum(x, axis=-1)
    return np.cumsum(x, axis=-1)


def shift(x):
    """Each element's predecessor along the last axis (the first element repeats itself): rows grouped
    by run give each row the one before it, a shift rather than a gather."""
    if is_symbolic(x):
        import pytensor.tensor as pt

        return pt.concatenate([x[..., :1], x[..., :-1]], axis=-1)
    x = np.asarray(x)
    return np.concatenate([x[..., :1], x[..., :-1]], axis=-1)


def take(x, idx):
    """``x[..., idx]``: elements of the last axis at integer positions ``idx``."""
    if is_symbolic(x, idx):
        return x[..., idx]
    return np.take(x, idx, axis=-1)


def repeat_runs(values, run_idx, bounds):
    """``values[..., run_idx]`` for rows grouped by run: each run's value on each of its rows.

    ``run_idx`` (rows) is non-decreasing and ``bounds`` (runs + 1) gives where each run's rows
    start and end (``run_idx[bounds[r]:bounds[r + 1]] == r``). On numpy input a plain ``take``. On
    PyTensor input the gather's gradient, a sum over each run's rows, is a cumulative sum read at
    the run boundaries instead of the scatter-add autodiff would write, where hundreds of rows add
    into one place: on a GPU that scatter made the per-run model's gradient 22x slower than the
    offsets model's (issue 16). On the CPU the cumulative sum costs a little more than the scatter
    under JAX and the same under numba (``benchmarks/results/gradient_layout.md``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import ops
    >>> ops.repeat_runs(np.array([1.0, 2.0]), np.array([0, 0, 1]), np.array([0, 2, 3])).tolist()
    [1.0, 1.0, 2.0]
    """
    if not is_symbolic(values, run_idx, bounds):
        return np.take(values, run_idx, axis=-1)
    import pytensor.tensor as pt

    values = pt.as_tensor_variable(values)
    run_idx, bounds = (pt.cast(v, "int64") for v in (run_idx, bounds))
    return _repeat_runs_op(values.ndim, values.dtype)(values, run_idx, bounds)


def run_sums(x, bounds):
    """Each run's sum of ``x`` over its rows (last axis), rows grouped by run, run ``r`` on rows
    ``bounds[r]:bounds[r + 1]``: a cumulative sum read at the boundaries, whose gradient is a
    reversed cumulative sum rather than a scatter-add (:func:`repeat_runs`).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import ops
    >>> ops.run_sums(np.array([1.0, 2.0, 4.0]), np.array([0, 2, 3])).tolist()
    [3.0, 4.0]
    """
    if is_symbolic(x, bounds):
        import pytensor.tensor as pt

        total, bounds, where = pt.cumsum(x, axis=-1), pt.cast(bounds, "int64"), pt.switch
    else:
        total, bounds, where = np.cumsum(x, axis=-1), np.asarray(bounds, dtype=np.int64), np.where
    # the total up to each run's last row, less the total before its first (none for the first run;
    # no zero is prepended: JAX cannot trace an array sized from the data's shape)
    return total[..., bounds[1:] - 1] - where(bounds[:-1] > 0, total[..., bounds[:-1] - 1], 0.0)


def _repeat_runs_op(ndim: int, dtype: str):
    """The ``OpFromGraph`` of :func:`repeat_runs` for values of this ndim and dtype (built once each)."""
    if (ndim, dtype) not in _REPEAT_OPS:
        import pytensor.tensor as pt
        from pytensor.compile.builders import OpFromGraph
        from pytensor.gradient import DisconnectedType

        def pullback(inputs, outputs, cotangents):
            _, _, b = inputs
            (g,) = cotangents
            total = pt.concatenate([pt.zeros_like(g[..., :1]), pt.cumsum(g, axis=-1)], axis=-1)
            return [total[..., b[1:]] - total[..., b[:-1]], DisconnectedType()(), DisconnectedType()()]

        v = pt.tensor("values", shape=(None,) * ndim, dtype=dtype)
        i, b = pt.lvector("run_idx"), pt.lvector("bounds")
        _REPEAT_OPS[ndim, dtype] = OpFromGraph([v, i, b], [v[..., i]], pullback=pullback, inline=True,
                                        connection_pattern=[[True], [False], [False]], name="repeat_runs")
    return _REPEAT_OPS[ndim, dtype]


_REPEAT_OPS: dict[tuple[int, str], object] = {}


abs = _dispatch("abs")  # noqa: A001 - the shim mirrors numpy's names


def cholesky(a):
    """Lower Cholesky factor of a symmetric positive-definite matrix (last two axes)."""
    if is_symbolic(a):
        import pytensor.tensor as pt

        return pt.linalg.cholesky(a, lower=True)
    return np.linalg.cholesky(a)


def solve_lower(low, b):
    """``low^-1 b`` for a lower-triangular ``low`` (``b`` a vector or matrix)."""
    if is_symbolic(low, b):
        import pytensor.tensor as pt

        return pt.linalg.solve_triangular(low, b, lower=True)
    from scipy.linalg import solve_triangular

    return solve_triangular(low, b, lower=True)


def diagonal(a):
    """The diagonal of a matrix."""
    if is_symbolic(a):
        import pytensor.tensor as pt

        return pt.diagonal(a)
    return np.diagonal(a)


def eye_like(x):
    """The identity matrix of the length of vector ``x`` (its last axis)."""
    if is_symbolic(x):
        import pytensor.tensor as pt

        return pt.eye(x.shape[-1])
    return np.eye(np.shape(x)[-1])

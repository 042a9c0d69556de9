"""Laws as data: inputs, parameters with default priors, one body shared by numpy, xarray and PyTensor."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .priors import Prior

__all__ = [
    "Parameter",
    "Law",
    "LawError",
    "WorkerLawError",
    "law",
    "register",
    "get_law",
    "list_laws",
]


class LawError(ValueError):
    """A law that is unknown or declared inconsistently."""


class WorkerLawError(LawError):
    """An unpickled law that this process cannot rebuild: it is not registered here (a worker process
    of ``fit_many``, most often), or it is registered with a different source."""


@dataclass(frozen=True)
class Parameter:
    """One parameter of a law.

    Parameters
    ----------
    name : str
        Literature symbol used in the law body (``"A"``, ``"alpha"``).
    prior : Prior
        Default prior, on the sampled scale: on ``log(name)`` when ``log`` is true.
    example : float
        A plausible value on the natural scale (used by tests and prior checks).
    doc : str
        One line of meaning and units.
    log : bool
        Sample ``log_<name>`` instead of ``name`` (scale constants, which must be positive).
    scale : mapping of str to str or float
        How the parameter changes when an input is rescaled, ``x -> x / x_p``: the natural value
        is ``value_at_pivot * prod(x_p ** power)``, with ``power`` a number or the name of another
        parameter (an exponent). ``A`` in ``A / N**alpha`` has ``scale={"N": "alpha"}``; ``Nc`` in
        ``(Nc / N)**a`` has ``scale={"N": 1}``. Empty for parameters that do not change.
        Only log-scale parameters may declare a scale.
    """

    name: str
    prior: Prior
    example: float
    doc: str
    log: bool = False
    scale: Mapping[str, str | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scale and not self.log:
            raise LawError(
                f"parameter {self.name!r} declares a scale but is not sampled on the log scale; "
                "set log=True (a scale constant must be positive)"
            )
        if self.log and self.example <= 0:
            raise LawError(f"log-scale parameter {self.name!r} needs a positive example value")

    @property
    def sampled_name(self) -> str:
        """Name of the sampled variable and of its prior: ``log_A`` for a log-scale ``A``."""
        return f"log_{self.name}" if self.log else self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prior": self.prior.to_dict(),
            "example": self.example,
            "doc": self.doc,
            "log": self.log,
            "scale": dict(self.scale),
        }


@dataclass(frozen=True)
class Law:
    """A scaling law: a name, inputs, parameters and one function body.

    Call it with inputs and natural-scale parameters as keywords, on floats, numpy arrays,
    ``xarray.DataArray`` (broadcast by dims) or PyTensor tensors alike.

    Examples
    --------
    >>> import bayescale as bs
    >>> law = bs.laws.get_law("chinchilla")
    >>> round(float(law(N=7e10, D=1.4e12, **law.example)), 3)
    1.937
    """

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    reference: str
    formula: str
    min_distinct: Mapping[str, int] = field(default_factory=dict)
    input_map: Mapping[str, str] = field(default_factory=dict)
    pivot: bool = True

    def __post_init__(self) -> None:
        sig = inspect.signature(self.func)
        args = [p.name for p in sig.parameters.values()]
        expected = [*self._raw_inputs, *self.param_names]
        if sorted(args) != sorted(expected):
            raise LawError(
                f"law {self.name!r}: the function takes {args} but the law declares inputs "
                f"{list(self._raw_inputs)} and parameters {list(self.param_names)}"
            )
        names = set(self.param_names)
        for p in self.parameters:
            for inp, power in p.scale.items():
                if inp not in self._raw_inputs:
                    raise LawError(f"parameter {p.name!r} scales with unknown input {inp!r}")
                if isinstance(power, str) and (power not in names or self.parameter(power).log):
                    raise LawError(
                        f"parameter {p.name!r} scales with {power!r}, which must be a "
                        "linear-scale parameter of the same law"
                    )
        if self.pivot:
            self._check_pivot_invariance()

    def _check_pivot_invariance(self) -> None:
        """The declared ``scale`` must make the law invariant under rescaling its inputs.

        Fitting divides each input by a pivot and samples the scale constants at that pivot; a law
        whose ``scale`` declarations are missing or wrong would be fitted to the wrong function.
        Checked numerically at the example values, with a pivot of 1e3 on every input.
        """
        x = {raw: 1e9 * (1.7 ** i) for i, raw in enumerate(self._raw_inputs)}
        log_pivot = {col: np.log(1e3) for col in self.inputs}
        natural = self.example
        at_pivot = dict(natural)
        for p in self.parameters:
            if p.log and p.scale:
                at_pivot[p.name] = natural[p.name] * np.exp(-self.log_pivot_shift(p, natural, log_pivot))
        with np.errstate(all="ignore"):
            a = self.func(**x, **natural)
            b = self.func(**{k: v / 1e3 for k, v in x.items()}, **at_pivot)
        if not (np.isfinite(a) and np.isclose(a, b, rtol=1e-8)):
            raise LawError(
                f"law {self.name!r} changes when its inputs are rescaled (L = {a!r} at the example "
                f"values, {b!r} with inputs / 1e3 and the declared scales): declare how each scale "
                "constant moves with the inputs, e.g. Parameter('A', ..., log=True, scale={'N': "
                "'alpha'}) for A / N**alpha, or pass pivot=False to @law to fit without a pivot"
            )

    # -- declared structure -------------------------------------------------------------------
    @property
    def _raw_inputs(self) -> tuple[str, ...]:
        """The body's argument names for the inputs (differ from ``inputs`` after :meth:`on`)."""
        inv = {v: k for k, v in self.input_map.items()}
        return tuple(inv.get(i, i) for i in self.inputs)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Natural-scale parameter names, in declaration order."""
        return tuple(p.name for p in self.parameters)

    @property
    def spec(self) -> str:
        """``name`` or ``name:input`` for a law moved onto another input."""
        if self.input_map:
            return f"{self.name}:{','.join(self.inputs)}"
        return self.name

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name or p.sampled_name == name:
                return p
        raise LawError(f"law {self.name!r} has no parameter {name!r}; it has {self.param_names}")

    @property
    def example(self) -> dict[str, float]:
        """Plausible natural-scale parameter values."""
        return {p.name: p.example for p in self.parameters}

    def default_priors(self) -> dict[str, Prior]:
        """Default priors keyed by sampled name (``log_A``, ``alpha``...)."""
        return {p.sampled_name: p.prior for p in self.parameters}

    @property
    def source_hash(self) -> str:
        """sha256 of the law's declaration and body: changes when either does."""
        try:
            src = inspect.getsource(self.func)
        except (OSError, TypeError):
            code = self.func.__code__
            src = repr((code.co_code, code.co_consts, code.co_names))
        decl = repr(([p.to_dict() for p in self.parameters], self.formula))
        return hashlib.sha256((src + decl).encode()).hexdigest()

    # -- evaluation ---------------------------------------------------------------------------
    def __call__(self, **kwargs: Any) -> Any:
        """Evaluate the law; inputs by column name (``N``, ``D``, ``C``...), parameters by symbol."""
        missing = [k for k in (*self.inputs, *self.param_names) if k not in kwargs]
        if missing:
            raise LawError(f"law {self.name!r} needs {missing}")
        body = {p: kwargs[p] for p in self.param_names}
        for raw, col in zip(self._raw_inputs, self.inputs, strict=True):
            body[raw] = kwargs[col]
        return self.func(**body)

    def on(self, *inputs: str) -> Law:
        """The same law on other input columns, e.g. ``power_law.on("N")``.

        Examples
        --------
        >>> import bayescale as bs
        >>> bs.laws.get_law("power_law").on("N").inputs
        ('N',)
        """
        raw = self._raw_inputs
        if len(inputs) != len(raw):
            raise LawError(f"law {self.name!r} takes {len(raw)} input(s), got {inputs}")
        mapping = {r: c for r, c in zip(raw, inputs, strict=True) if r != c}
        min_distinct = {
            dict(zip(self.inputs, inputs, strict=True)).get(k, k): v
            for k, v in self.min_distinct.items()
        }
        return replace(self, inputs=tuple(inputs), input_map=mapping, min_distinct=min_distinct)

    def scale_exponents(self, param: Parameter) -> dict[str, str | float]:
        """``param.scale`` keyed by input column instead of body argument."""
        cols = dict(zip(self._raw_inputs, self.inputs, strict=True))
        return {cols[k]: v for k, v in param.scale.items()}

    def log_pivot_shift(self, param: Parameter, values: Mapping[str, Any], log_pivot: Mapping[str, float]):
        """``log(natural) - log(value at pivot)`` for a log-scale parameter.

        ``values`` gives the linear-scale parameters the shift depends on (exponents), as numbers,
        arrays, DataArrays or tensors; ``log_pivot`` the log of each input's pivot.
        """
        shift = 0.0
        for col, power in self.scale_exponents(param).items():
            power_value = values[power] if isinstance(power, str) else power
            shift = shift + power_value * log_pivot[col]
        return shift

    def to_dict(self) -> dict[str, Any]:
        """A description of the law (name, inputs, parameters, reference, source hash)."""
        return {
            "name": self.name,
            "spec": self.spec,
            "inputs": list(self.inputs),
            "parameters": [p.to_dict() for p in self.parameters],
            "formula": self.formula,
            "reference": self.reference,
            "source_hash": self.source_hash,
        }

    def __repr__(self) -> str:
        return f"<Law {self.spec}: {self.formula}>"

    # -- pickling -----------------------------------------------------------------------------
    def __reduce__(self) -> tuple[Callable[..., Law], tuple[str, str, str | None]]:
        """Pickle by reference to the registry: the spec, the source hash and the module that declared
        the law; unpickling looks the law up (see :func:`_unpickle_law`) and checks its source."""
        return _unpickle_law, (self.spec, self.source_hash, getattr(self.func, "__module__", None))

    def __copy__(self) -> Law:
        return self  # immutable; copying must not need the registry

    def __deepcopy__(self, memo: dict[int, Any]) -> Law:
        return self


_REGISTRY: dict[str, Law] = {}


def register(law_obj: Law, *, overwrite: bool = False) -> Law:
    """Add a law to the registry so ``fit(..., law="name")`` and ``load_fit`` find it."""
    if law_obj.name in _REGISTRY and not overwrite and _REGISTRY[law_obj.name] is not law_obj:
        old = _REGISTRY[law_obj.name]
        if old.source_hash != law_obj.source_hash:
            raise LawError(
                f"a different law named {law_obj.name!r} is already registered; pick another "
                "name or pass overwrite=True"
            )
    _REGISTRY[law_obj.name] = law_obj
    return law_obj


def law(
    *,
    name: str | None = None,
    inputs: Sequence[str] | Mapping[str, str],
    parameters: Sequence[Parameter],
    reference: str = "",
    formula: str | None = None,
    min_distinct: Mapping[str, int] | None = None,
    pivot: bool = True,
    overwrite: bool = False,
) -> Callable[[Callable[..., Any]], Law]:
    """Decorator turning a function body into a registered :class:`Law`.

    The body takes the inputs and the natural-scale parameters as arguments and uses only
    arithmetic and :mod:`bayescale.laws.ops` functions, so it runs on numpy, xarray and PyTensor.
    ``inputs`` lists the run-table columns the body reads (``["N", "D"]``), or maps body argument
    names to columns (``{"x": "C"}``) for a generic law that :meth:`Law.on` can move.
    Fitting divides inputs by a pivot, so every scale constant must declare its ``scale`` (checked
    when the law is declared); ``pivot=False`` fits a law that cannot be written that way on the
    raw inputs instead (slower, and NUTS may struggle).

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.laws import Parameter, Prior
    >>> @bs.laws.law(
    ...     name="doc_example_law",
    ...     inputs=["N"],
    ...     parameters=[
    ...         Parameter("E", Prior("Normal", mu=0.5, sigma=1.0), 1.7, "floor", log=True),
    ...         Parameter("A", Prior("Normal", mu=5, sigma=5), 50.0, "scale", log=True,
    ...                   scale={"N": "alpha"}),
    ...         Parameter("alpha", Prior("LogNormal", mu=-1.2, sigma=0.8), 0.3, "exponent"),
    ...     ],
    ...     overwrite=True,
    ... )
    ... def doc_example_law(N, E, A, alpha):
    ...     return E + A * N**-alpha
    >>> doc_example_law.param_names
    ('E', 'A', 'alpha')
    """

    def decorate(func: Callable[..., Any]) -> Law:
        doc = inspect.getdoc(func) or ""
        mapping = dict(inputs) if isinstance(inputs, Mapping) else {i: i for i in inputs}
        obj = Law(
            name=name or func.__name__,
            func=func,
            inputs=tuple(mapping.values()),
            input_map={k: v for k, v in mapping.items() if k != v},
            parameters=tuple(parameters),
            reference=reference,
            formula=formula or (doc.splitlines()[0] if doc else func.__name__),
            min_distinct=dict(min_distinct or {}),
            pivot=pivot,
        )
        return register(obj, overwrite=overwrite)

    return decorate


def get_law(spec: str | Law) -> Law:
    """Look a law up by name, or ``"name:input"`` to move a one-input law onto another column.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.laws.get_law("power_law:N").inputs
    ('N',)
    """
    if isinstance(spec, Law):
        return spec
    name, _, inputs = str(spec).partition(":")
    try:
        found = _REGISTRY[name]
    except KeyError:
        raise LawError(
            f"unknown law {name!r}; known laws: {sorted(_REGISTRY)}. Register your own with "
            "@bayescale.laws.law(...)"
        ) from None
    return found.on(*inputs.split(",")) if inputs else found


def _unpickle_law(spec: str, source_hash: str, module: str | None) -> Law:
    """The law ``spec`` of this process, importing the module that declared it if need be.

    Raises :class:`WorkerLawError` when the law is not registered here, or is registered with a
    source other than the one pickled.
    """
    pid = os.getpid()
    try:
        found = get_law(spec)
    except LawError:
        found = None
        if module and module not in ("__main__", "__mp_main__"):
            try:
                importlib.import_module(module)  # a law declared in a module registers on import
                found = get_law(spec)
            except (ImportError, LawError):
                found = None
    if found is None:
        where = (" in a notebook or an interactive session (its function lives in __main__)"
                 if module in ("__main__", "__mp_main__", None) else f" in module {module!r}")
        raise WorkerLawError(
            f"law {spec!r} is not registered in the process that unpickled it (pid {pid}). It was "
            f"declared{where}, and a new process (a worker of fit_many, say) starts fresh: it knows the "
            "built-in laws and those of modules it can import. Declare the law in an importable module "
            "(import it in the notebook too), or run in this process with fit_many(..., executor='serial') "
            "or a ThreadPoolExecutor"
        )
    if found.source_hash != source_hash:
        raise WorkerLawError(
            f"law {spec!r} in the process that unpickled it (pid {pid}) is not the pickled law: its "
            "source hash differs (an edited notebook law, or a different bayescale version on the "
            "worker). Give the law a new name, or make the workers import the same code"
        )
    return found


def list_laws() -> list[str]:
    """Names of the registered laws."""
    return sorted(_REGISTRY)

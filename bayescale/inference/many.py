"""Many independent fits at once, on any ``concurrent.futures`` executor.

:func:`fit_many` runs a list of :func:`bayescale.fit` calls, by default in a pool of worker
processes, and returns the results in task order with each task's failure and warnings kept in
its own slot. It schedules nothing itself: a ``ProcessPoolExecutor`` on one machine, a Dask
``distributed`` or Ray executor on a cluster, or ``"serial"`` to run in this process.

Transport. Tasks and results travel between processes with the standard pickle: laws, run
tables and priors pickle themselves as plain data (a law by its registered name and source hash,
a run table as its DataFrame, a prior as its dict) and a fit as those and its ``DataTree``. This
is in-memory transport between processes of one computation, never a file: fits are still saved
as netCDF only.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ..laws import Law
from ..laws.base import WorkerLawError
from ..runs import RunTable
from ..runs.design import IdentifiabilityWarning
from ..results import Fit, SamplerWarning

__all__ = [
    "SERIAL",
    "FitFailure",
    "FitManyError",
    "FitManyResult",
    "TaskWarning",
    "WorkerLawError",
    "default_executor",
    "fit_many",
]

#: The ``executor`` that runs every task in this process, one after another.
from .._policy import SERIAL  # noqa: E402 - "serial": fits one after another in this process

#: Start method of the default process pool (see :func:`default_executor`).
START_METHOD = "spawn"


class FitManyError(RuntimeError):
    """One or more tasks of :func:`fit_many` failed (raised by :meth:`FitManyResult.raise_failures`)."""

    def __init__(self, failures: Sequence[FitFailure], n_tasks: int) -> None:
        self.failures = list(failures)
        shown = "; ".join(str(f) for f in self.failures[:3])
        more = f"; and {len(self.failures) - 3} more" if len(self.failures) > 3 else ""
        super().__init__(f"{len(self.failures)} of {n_tasks} fits failed: {shown}{more}. Each "
                         "failure's traceback is in its FitFailure.traceback")


@dataclass(frozen=True)
class TaskWarning:
    """A warning raised while one task ran (in whatever process ran it).

    Attributes
    ----------
    category : type of Warning
        ``SamplerWarning``, ``IdentifiabilityWarning``... (``UserWarning`` when the category
        could not travel back from the worker; its name then starts the message).
    message : str
    filename, lineno : str, int
        Where it was raised.
    """

    category: type[Warning]
    message: str
    filename: str = ""
    lineno: int = 0

    def __str__(self) -> str:
        return f"{self.category.__name__}: {self.message}"


@dataclass(frozen=True)
class FitFailure:
    """What took the place of a fit that raised.

    Attributes
    ----------
    index : int
        Position of the task in the list given to :func:`fit_many`.
    task : str
        The task in words (law, number of runs, seed).
    error_type : str
        The exception's class name (``"LawError"``, ``"BrokenProcessPool"``...).
    message : str
    traceback : str
        The formatted traceback, from the process that ran the task.
    exception : BaseException or None
        The exception itself, when it could be brought back from the worker.
    """

    index: int
    task: str
    error_type: str
    message: str
    traceback: str = field(default="", repr=False)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"task {self.index} ({self.task}): {self.error_type}: {self.message}"

    def reraise(self) -> None:
        """Raise the task's exception again (with a note naming the task), or a
        :class:`FitManyError` when the exception itself did not come back."""
        if self.exception is not None:
            exc = self.exception
            note = f"raised by fit_many task {self.index} ({self.task})"
            if note not in getattr(exc, "__notes__", ()):
                exc.add_note(note)
            raise exc
        raise FitManyError([self], n_tasks=self.index + 1)


class FitManyResult(Sequence):
    """The results of :func:`fit_many`, in task order: a :class:`~bayescale.Fit` or a
    :class:`FitFailure` per task.

    Attributes
    ----------
    warnings : list of tuple of TaskWarning
        The warnings each task raised (``SamplerWarning``, ``IdentifiabilityWarning``...), in
        task order; already re-emitted in the calling process unless ``warn=False``.
    seconds : list of float
        Wall time of each task where it ran (the first task in a fresh worker includes the
        model's compilation).
    workers : list of str
        Where each task ran: ``"<host>:<pid>"``.
    """

    def __init__(self, items: Sequence[Fit | FitFailure], *, warnings: Sequence[tuple[TaskWarning, ...]],
                 seconds: Sequence[float], workers: Sequence[str]) -> None:
        self._items = list(items)
        self.warnings = list(warnings)
        self.seconds = list(seconds)
        self.workers = list(workers)

    def __getitem__(self, i):  # noqa: ANN001 - int or slice, as for a list
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Fit | FitFailure]:
        return iter(self._items)

    @property
    def failures(self) -> list[FitFailure]:
        """The failed tasks, in task order."""
        return [r for r in self._items if isinstance(r, FitFailure)]

    @property
    def ok(self) -> bool:
        """True when every task gave a fit."""
        return not self.failures

    def fits(self) -> list[Fit]:
        """Every fit, in task order; raises :class:`FitManyError` if any task failed."""
        self.raise_failures()
        return list(self._items)

    def raise_failures(self) -> None:
        """Raise :class:`FitManyError` naming every failed task (nothing when all succeeded)."""
        if self.failures:
            raise FitManyError(self.failures, n_tasks=len(self))

    def __repr__(self) -> str:
        n_warn = sum(bool(w) for w in self.warnings)
        fails = self.failures
        head = f"<FitManyResult: {len(self) - len(fails)} of {len(self)} fits succeeded"
        tail = "".join(f"\n {f}" for f in fails[:5])
        return f"{head}, {n_warn} with warnings; {sum(self.seconds):.1f} s of work{tail}>"


# -- running one task ----------------------------------------------------------------------------

#: Fits in one process share bs.fit's compiled-model cache, which is not safe to use from two
#: threads at once (one thread's data would reach the other's model): every task takes this lock,
#: so a process runs one fit at a time (serial, threads, Dask workers with several threads).
_IN_PROCESS = threading.RLock()


def _describe(task: Mapping[str, Any]) -> str:
    law = task.get("law", "chinchilla")
    spec = law.spec if isinstance(law, Law) else str(law)
    runs = task.get("runs")
    n = f"{len(runs)} runs" if isinstance(runs, (RunTable, pd.DataFrame)) else f"runs={type(runs).__name__}"
    seed = task.get("random_seed")
    return f"{spec} on {n}" + (f", random_seed={seed}" if seed is not None else "")


def _where() -> str:
    return f"{os.uname().nodename if hasattr(os, 'uname') else 'localhost'}:{os.getpid()}"


@dataclass
class _Outcome:
    fit: Fit | None
    failure: FitFailure | None
    warnings: tuple[TaskWarning, ...]
    seconds: float
    worker: str


def _fit_recording(index: int, task: Mapping[str, Any], describe: str) -> _Outcome:
    """Run ``bs.fit(**task)`` here, catching its exception and recording its warnings."""
    from .sampling import fit

    t0 = time.perf_counter()
    result, failure = None, None
    with warnings.catch_warnings(record=True) as caught:
        # every warning bayescale raises, once per task (the default filter would show a repeated
        # message once per process, so the second task in a worker would lose it); library warnings
        # keep their filters
        warnings.filterwarnings("always", module=r"bayescale(\.|$)")
        for cat in (SamplerWarning, IdentifiabilityWarning):
            warnings.filterwarnings("always", category=cat)
        try:
            result = fit(**task)
        except Exception as exc:  # noqa: BLE001 - reported in the task's slot
            failure = FitFailure(index=index, task=describe, error_type=type(exc).__name__,
                                 message=str(exc), traceback="".join(traceback.format_exception(exc)),
                                 exception=exc)
    seconds = time.perf_counter() - t0
    got = tuple(TaskWarning(w.category, str(w.message), str(w.filename), int(w.lineno or 0)) for w in caught)
    return _Outcome(result, failure, got, seconds, _where())


def _run_task(payload: bytes, index: int, call_id: str) -> bytes:
    """Worker side: unpack a task, fit it, pack the outcome. Never raises for the task's own errors.

    ``call_id`` makes each submission distinct (Dask would otherwise merge identical tasks into one).
    """
    del call_id
    describe = f"task {index}"
    try:
        describe, task = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - a law missing in this worker, most often
        failure = FitFailure(index=index, task=describe, error_type=type(exc).__name__, message=str(exc),
                             traceback="".join(traceback.format_exception(exc)), exception=exc)
        return _pack(_Outcome(None, failure, (), 0.0, _where()))
    # one fit at a time per process: threads of the caller, or of a worker with several (Dask)
    with _IN_PROCESS:
        return _pack(_fit_recording(index, task, describe))


def _pack(out: _Outcome) -> bytes:
    """The outcome as bytes; what cannot travel (an exotic exception or warning class) is replaced
    by its name and message."""
    try:
        return pickle.dumps(out, pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001
        pass
    safe = []
    for w in out.warnings:
        try:
            pickle.loads(pickle.dumps(w.category))
            safe.append(w)
        except Exception:  # noqa: BLE001
            safe.append(TaskWarning(UserWarning, f"{w.category.__name__}: {w.message}", w.filename, w.lineno))
    failure = out.failure
    if failure is not None:
        try:
            pickle.loads(pickle.dumps(failure.exception, pickle.HIGHEST_PROTOCOL))
        except Exception:  # noqa: BLE001
            failure = dataclasses.replace(failure, exception=None)
    return pickle.dumps(dataclasses.replace(out, warnings=tuple(safe), failure=failure), pickle.HIGHEST_PROTOCOL)


# -- the public function -------------------------------------------------------------------------

def default_executor(max_workers: int | None = None) -> ProcessPoolExecutor:
    """The process pool :func:`fit_many` uses when given no executor.

    A ``ProcessPoolExecutor`` whose workers are started with ``"spawn"``: each is a fresh Python
    process that imports bayescale itself. Forking a process that has imported PyMC is unsafe
    (pytensor's compile locks and caches, the thread pools of nutpie, BLAS and numba would be
    copied mid-state), and ``"spawn"`` behaves the same on Linux, macOS and Windows. The price is
    a few seconds of imports per worker, paid once, less than compiling the model.

    Keep the executor and pass it to several :func:`fit_many` calls: its workers keep their
    compiled models, so only the first call pays the compilation. Scripts need the usual
    ``if __name__ == "__main__":`` guard, as for any spawned pool.

    Parameters
    ----------
    max_workers : int, optional
        Default: the CPUs this process may use (``os.cpu_count()`` where affinity is unknown).

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.inference.many import default_executor, fit_many
    >>> with default_executor(2) as pool:  # doctest: +SKIP
    ...     first = fit_many(tasks[:10], executor=pool)   # workers compile here
    ...     rest = fit_many(tasks[10:], executor=pool)    # and reuse it here
    """
    if max_workers is None:
        max_workers = _cpus()
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context(START_METHOD))


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_tasks(tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(tasks, Mapping | str | bytes) or not hasattr(tasks, "__iter__"):
        raise TypeError("tasks must be a sequence of mappings of bs.fit arguments, e.g. "
                        "[{'runs': runs, 'law': 'chinchilla', 'random_seed': 1}, ...]")
    out = []
    for i, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise TypeError(f"task {i} is a {type(task).__name__}; each task must be a mapping of bs.fit "
                            "arguments, e.g. {'runs': runs, 'law': 'chinchilla', 'random_seed': 1}")
        if "runs" not in task:
            raise TypeError(f"task {i} has no 'runs'; each task needs the runs to fit (keys given: "
                            f"{sorted(task)})")
        out.append({"progressbar": False, **task})
    return out


def fit_many(
    tasks: Sequence[Mapping[str, Any]],
    *,
    executor: Executor | Literal["serial"] | None = None,
    return_exceptions: bool = True,
    warn: bool = True,
    callback: Callable[[int, Fit | FitFailure], None] | None = None,
) -> FitManyResult:
    """Run many independent fits, in parallel, and return them in task order.

    Each task is a mapping of :func:`bayescale.fit` arguments, ``{"runs": ..., "law": ...,
    "random_seed": ..., "draws": ...}``, passed to it unchanged, except that ``progressbar``
    defaults to False. A task that raises gives a :class:`FitFailure` in its slot; the other
    tasks go on. Each task's warnings (``SamplerWarning``, ``IdentifiabilityWarning``...) are
    recorded where it ran, kept in ``result.warnings[i]`` and re-emitted here, each message
    prefixed with its task.

    Results equal those of calling :func:`bayescale.fit` on each task in turn: with nutpie, the
    same seed gives the same posterior draws, bit for bit, whichever process runs the task (the
    pointwise log-likelihood, recomputed from the draws by a function each process compiles, may
    differ in the last bit).

    Parameters
    ----------
    tasks : sequence of mapping
        Arguments of :func:`bayescale.fit`, one mapping per fit; ``runs`` is required.
    executor : concurrent.futures.Executor, "serial" or None
        Where the tasks run. ``None`` (default): a new process pool with one worker per CPU (at
        most one per task), started with ``"spawn"`` (see :func:`default_executor`) and shut down
        on return. Any ``concurrent.futures.Executor``: a ``ProcessPoolExecutor`` you keep (its
        workers keep their compiled models between calls), a Dask ``distributed``
        ``Client(...).get_executor()``, Ray's ``RayExecutor``... ``"serial"``: one after another in
        this process (what :func:`~bayescale.analysis.backtest.backtest` and
        :func:`~bayescale.analysis.calibration.calibrate` do by default). The fits of one process
        share its compiled-model cache, so each process runs one fit at a time: threads (a
        ``ThreadPoolExecutor``, Dask with ``processes=False``) add no speed, and Dask workers
        are best started with one thread each (``LocalCluster(n_workers=k,
        threads_per_worker=1)``). Use processes for speed.
    return_exceptions : bool
        True (default): a failed task gives a :class:`FitFailure` in its slot. False: the first
        failure cancels the tasks not yet started and raises the task's exception (with a note
        naming the task), as a loop of :func:`bayescale.fit` calls would.
    warn : bool
        Re-emit each task's warnings in this process (default). False: keep them only in
        :attr:`FitManyResult.warnings`.
    callback : callable, optional
        Called here as ``callback(index, fit_or_failure)`` as each task finishes, in the order
        they finish (for progress reports).

    Returns
    -------
    FitManyResult
        A sequence with a :class:`~bayescale.Fit` or a :class:`FitFailure` per task, in task order;
        ``.warnings``, ``.seconds`` and ``.workers`` per task, ``.failures``, ``.fits()``.

    Raises
    ------
    TypeError
        When ``tasks`` is not a sequence of mappings with ``runs``, or ``executor`` is not an
        executor.

    Notes
    -----
    Worker processes compile each model structure (law, priors, likelihood) once and keep it, as
    :func:`bayescale.fit` does in one process: the first task in each worker pays the compilation
    (10-15 s), later tasks of the same structure take the sampling time only (1-3 s). Give
    workers many tasks each, and reuse an executor across calls.

    Laws travel by name: a worker looks the law up in its own registry, importing the module that
    declared it when needed, and checks its source hash against the caller's. A law declared with
    ``@bs.law`` in a notebook or an interactive session exists only in that process, so with
    worker processes its tasks fail with :class:`WorkerLawError`; declare it in an importable
    module, or use ``executor="serial"`` or threads.

    Each fit's chains may run in parallel too (nutpie's ``cores``): with as many workers as
    cores, ``cores=1`` in the tasks avoids oversubscribing them.

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.inference.many import fit_many
    >>> runs = bs.load_demo_runs()
    >>> tasks = [{"runs": runs, "law": law, "random_seed": 1} for law in ("chinchilla", "kaplan")]
    >>> results = fit_many(tasks)  # doctest: +SKIP
    >>> [r.law.name for r in results]  # doctest: +SKIP
    ['chinchilla', 'kaplan']
    >>> from distributed import Client  # doctest: +SKIP
    >>> results = fit_many(tasks, executor=Client().get_executor())  # doctest: +SKIP
    """
    specs = _check_tasks(tasks)
    n = len(specs)
    items: list[Any] = [None] * n
    got: list[tuple[TaskWarning, ...]] = [()] * n
    seconds, workers = [0.0] * n, [""] * n
    described = [_describe(t) for t in specs]

    def finish(i: int, out: _Outcome) -> FitFailure | None:
        items[i] = out.fit if out.failure is None else out.failure
        got[i], seconds[i], workers[i] = out.warnings, out.seconds, out.worker
        if warn:
            for w in out.warnings:
                warnings.warn(f"fit_many task {i} ({described[i]}): {w.message}", w.category, stacklevel=3)
        if callback is not None:
            callback(i, items[i])
        return out.failure

    if executor is None or executor == SERIAL:
        pass
    elif not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor, 'serial' or None; got {executor!r}")

    if executor == SERIAL:
        for i, task in enumerate(specs):
            with _IN_PROCESS:
                out = _fit_recording(i, task, described[i])
            failure = finish(i, out)
            if failure is not None and not return_exceptions:
                failure.reraise()
        return FitManyResult(items, warnings=got, seconds=seconds, workers=workers)

    own = executor is None
    pool = default_executor(min(_cpus(), n)) if own and n else executor
    futures: dict[Future, int] = {}
    first_failure: FitFailure | None = None
    done = False
    try:
        call_id = uuid.uuid4().hex
        for i, task in enumerate(specs):
            try:
                payload = pickle.dumps((described[i], task), pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - an argument that cannot be sent to a worker
                failure = FitFailure(index=i, task=described[i], error_type=type(exc).__name__,
                                     message=f"the task's arguments cannot be sent to a worker: {exc}",
                                     traceback="".join(traceback.format_exception(exc)), exception=exc)
                finish(i, _Outcome(None, failure, (), 0.0, ""))
                first_failure = first_failure or failure
                continue
            futures[pool.submit(_run_task, payload, i, call_id)] = i
        if first_failure is not None and not return_exceptions:
            first_failure.reraise()
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                out = pickle.loads(fut.result())
            except Exception as exc:  # noqa: BLE001 - the executor failed (a worker died, say)
                out = _Outcome(None, FitFailure(
                    index=i, task=described[i], error_type=type(exc).__name__, message=str(exc) or repr(exc),
                    traceback="".join(traceback.format_exception(exc)), exception=exc), (), 0.0, "")
            failure = finish(i, out)
            if failure is not None and not return_exceptions:
                first_failure = failure
                break
        done = True
    finally:
        if not done or first_failure is not None or own:  # an error, an interrupt or a failure: stop the rest
            for fut in futures:
                fut.cancel()
        if own and n:
            pool.shutdown(wait=True, cancel_futures=True)
    if first_failure is not None and not return_exceptions:
        first_failure.reraise()
    return FitManyResult(items, warnings=got, seconds=seconds, workers=workers)

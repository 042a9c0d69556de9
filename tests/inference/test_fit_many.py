"""fit_many: many fits on any executor, results in task order, failures and warnings per task.

Fast tests check the arguments, the transport of fits, laws, run tables and priors between
processes, and per-task failures without sampling. Slow ones sample tiny fits (2 chains x 200
draws) in a spawned process pool, a Dask LocalCluster, and through backtest and calibrate, and
compare every draw with ``bs.fit`` run here: nutpie with the same seed gives the same draws in
any process (the compiled model and the seed determine them), so that comparison is exact. The
pointwise log-likelihood, recomputed from the draws by a function each process compiles, can
differ across processes in the last bit, so it is compared to 1e-12.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.analysis.backtest import backtest
from bayescale.analysis.calibration import calibrate
from bayescale.inference.many import (
    SERIAL,
    FitFailure,
    FitManyError,
    FitManyResult,
    WorkerLawError,
    default_executor,
    fit_many,
)
from bayescale.laws import Prior, get_law, law, register
from bayescale.runs.table import MissingColumnError

from ..conftest import isoflop_runs

TINY = {"chains": 2, "draws": 200, "tune": 200}

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@law(name="fm_module_law", inputs=["N", "D"], parameters=get_law("chinchilla").parameters, overwrite=True)
def fm_module_law(N, D, E, A, B, alpha, beta):  # noqa: N803 - literature symbols
    """Chinchilla, declared in an importable module: worker processes find it by importing the module."""
    return E + A / N**alpha + B / D**beta


def _notebook_law():
    """A law as a notebook declares it: its function lives in __main__, which workers cannot import.
    Registered here only (not at import), so a worker importing this module does not learn it."""
    def body(N, D, E, A, B, alpha, beta):  # noqa: N803
        return E + A / N**alpha + B / D**beta

    body.__module__ = "__main__"
    return register(dataclasses.replace(get_law("chinchilla"), name="fm_notebook_law", func=body),
                    overwrite=True)


def draws_of(result, var="E"):
    return result.idata.posterior.dataset[var].values


def same_fit(a, b):
    """Every posterior draw, the log-likelihood, the law, the data and the provenance agree."""
    assert a.law is b.law  # rebuilt from the registry, not a copy
    assert a.runs.data_hash == b.runs.data_hash and a.priors == b.priors and a.pivot == b.pivot
    for var in ("E", "A", "B", "alpha", "beta", "sigma"):
        np.testing.assert_array_equal(draws_of(a, var), draws_of(b, var))
    # the pointwise log-likelihood is recomputed from the draws by a function each process compiles
    # for itself; across processes it can differ in the last bit (seen: 1e-15 absolute), never more
    np.testing.assert_allclose(a.idata.log_likelihood["log_loss"].values, b.idata.log_likelihood["log_loss"].values,
                               rtol=1e-12, atol=1e-13)
    assert a.provenance["random_seed"] == b.provenance["random_seed"]


# -- arguments -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("tasks", "match"), [
    ({"runs": 1}, "sequence of mappings"),
    ([("runs",)], "task 0 is a tuple"),
    ([{"runs": 1}, {"law": "chinchilla"}], r"task 1 has no 'runs'"),
])
def test_bad_tasks_are_refused_before_anything_runs(tasks, match):
    with pytest.raises(TypeError, match=match):
        fit_many(tasks, executor=SERIAL)


def test_executor_must_be_an_executor():
    with pytest.raises(TypeError, match="concurrent.futures.Executor, 'serial' or None; got 'threads'"):
        fit_many([{"runs": isoflop_runs()}], executor="threads")


def test_no_tasks_no_pool():
    out = fit_many([])
    assert isinstance(out, FitManyResult) and len(out) == 0 and out.ok


# -- transport between processes ------------------------------------------------------------------

def dumps(obj):
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def test_fits_laws_runs_and_priors_travel_as_data(chinchilla_fake_fit):
    # these objects pickle themselves as plain data (tests/laws/test_pickling.py), and are rebuilt exactly
    runs = isoflop_runs(seed=3).filter(np.arange(42) < 30)
    task = {"runs": runs, "law": get_law("power_law").on("N"), "priors": {"sigma": Prior("HalfNormal", sigma=0.1)}}
    back = pickle.loads(dumps(task))
    assert back["law"] is not task["law"] and back["law"].spec == "power_law:N"
    assert back["law"].source_hash == task["law"].source_hash
    assert back["runs"].data_hash == runs.data_hash and len(back["runs"]) == 30
    pd.testing.assert_frame_equal(back["runs"].to_dataframe(), runs.to_dataframe())
    assert back["priors"]["sigma"] == Prior("HalfNormal", sigma=0.1)
    fit = pickle.loads(dumps(chinchilla_fake_fit))
    assert fit.law is get_law("chinchilla") and fit.likelihood == chinchilla_fake_fit.likelihood
    assert fit.priors == chinchilla_fake_fit.priors and fit.pivot == chinchilla_fake_fit.pivot
    np.testing.assert_array_equal(draws_of(fit), draws_of(chinchilla_fake_fit))
    assert fit.provenance == chinchilla_fake_fit.provenance


def test_a_notebook_law_is_refused_with_the_fix():
    payload = dumps(_notebook_law())
    del bs.laws.base._REGISTRY["fm_notebook_law"]  # as in a fresh worker process
    with pytest.raises(WorkerLawError, match=r"law 'fm_notebook_law' is not registered in the process that "
                       r"unpickled it \(pid \d+\)\. It was declared in a notebook.*executor='serial'"):
        pickle.loads(payload)


def test_a_law_from_a_module_is_imported_and_its_source_checked():
    load, args = fm_module_law.__reduce__()  # what pickle calls in the worker
    assert args == ("fm_module_law", fm_module_law.source_hash, __name__)
    del bs.laws.base._REGISTRY["fm_module_law"]
    try:
        with pytest.raises(WorkerLawError, match="in module 'no_such_module_fm'"):
            load("fm_module_law", fm_module_law.source_hash, "no_such_module_fm")
    finally:
        register(fm_module_law)
    assert pickle.loads(dumps(fm_module_law)) is fm_module_law
    with pytest.raises(WorkerLawError, match="source hash differs"):
        load("chinchilla", "0" * 64, "bayescale.laws.final")


# -- failures per task (no sampling) --------------------------------------------------------------

def test_failures_stay_in_their_slots_serial():
    runs = isoflop_runs()
    tasks = [{"runs": runs, "law": "power_law:U"}, {"runs": runs, "law": "no_such_law"}]
    out = fit_many(tasks, executor=SERIAL)
    assert not out.ok and [f.index for f in out.failures] == [0, 1]
    first, second = out
    assert isinstance(first, FitFailure) and first.error_type == "MissingColumnError"
    assert "power_law:U on 42 runs" in first.task and "'U'" in first.message
    assert isinstance(first.exception, MissingColumnError) and "Traceback" in first.traceback
    assert second.error_type == "LawError" and "unknown law 'no_such_law'" in second.message
    assert str(first).startswith("task 0 (power_law:U on 42 runs): MissingColumnError: ")
    with pytest.raises(FitManyError, match=r"2 of 2 fits failed: task 0 .*; task 1 "):
        out.fits()
    with pytest.raises(MissingColumnError) as info:  # as a loop of bs.fit would raise
        fit_many(tasks, executor=SERIAL, return_exceptions=False)
    assert "raised by fit_many task 0 (power_law:U on 42 runs)" in info.value.__notes__


def test_failures_stay_in_their_slots_in_threads():
    runs = isoflop_runs()
    tasks = [{"runs": runs, "law": "power_law:U"},
             {"runs": runs, "law": "chinchilla", "priors": {"log_Z": Prior("Normal", mu=0.0, sigma=1.0)}}]
    with ThreadPoolExecutor(2) as pool:
        out = fit_many(tasks, executor=pool)
    assert [type(r) for r in out] == [FitFailure, FitFailure]
    assert out[0].error_type == "MissingColumnError" and out[0].index == 0
    assert out[1].error_type == "PriorError" and "no parameter 'log_Z'" in out[1].message
    assert all(w.endswith(f":{os.getpid()}") for w in out.workers)  # threads of this process


# -- real fits (slow) -----------------------------------------------------------------------------

def tiny_tasks():
    return [{"runs": isoflop_runs(seed=s), "law": "chinchilla", "random_seed": 10 + s, **TINY} for s in range(3)]


def fit_here(task):
    """bs.fit on a task, with the warnings it raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bs.fit(**{"progressbar": False, **task})
    return result, [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]


@pytest.fixture(scope="module")
def pool():
    """Two spawned workers, kept for the module so each compiles chinchilla once."""
    with default_executor(2) as ex:
        yield ex


@pytest.mark.slow
def test_process_pool_gives_the_serial_fits_in_order_with_failures_and_warnings(pool):
    tasks = tiny_tasks()
    here = [fit_here(t) for t in tasks]
    nb = _notebook_law()
    runs = isoflop_runs()
    tasks = [tasks[0], {"runs": runs, "law": "power_law:U"}, tasks[1], {"runs": runs, "law": nb, **TINY},
             tasks[2], {"runs": runs, "law": fm_module_law, "likelihood": "cauchy"}]
    prefix = r"fit_many task 2 \(chinchilla on 42 runs, random_seed=11\): chinchilla fit"
    with pytest.warns(bs.SamplerWarning, match=prefix):
        out = fit_many(tasks, executor=pool)
    assert [type(r).__name__ for r in out] == ["Fit", "FitFailure", "Fit", "FitFailure", "Fit", "FitFailure"]
    for slot, (result, msgs) in zip((0, 2, 4), here, strict=True):
        same_fit(out[slot], result)  # the same draws in a spawned worker as here
        assert [w.message for w in out.warnings[slot]] == msgs and msgs  # 400 draws: ESS < 400 warned
        assert out.workers[slot].split(":")[1] != str(os.getpid())
    assert out[1].error_type == "MissingColumnError" and out[1].index == 1
    assert out[3].error_type == "WorkerLawError" and "fm_notebook_law" in out[3].message
    assert isinstance(out[3].exception, WorkerLawError)
    # a law declared in an importable module reaches the worker (it imports this module), and the
    # task gets as far as bs.fit's own check of its arguments
    assert isinstance(out[5].exception, ValueError) and "likelihood='cauchy' is not known" in out[5].message


@pytest.mark.slow
def test_threads_and_serial_give_the_same_fits():
    tasks = tiny_tasks()[:2]
    serial = fit_many(tasks, executor=SERIAL, warn=False)
    with ThreadPoolExecutor(2) as ex:
        threaded = fit_many(tasks, executor=ex, warn=False)
    for a, b in zip(serial, threaded, strict=True):
        same_fit(a, b)
    assert serial.warnings == threaded.warnings


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_dask_local_cluster(processes):
    distributed = pytest.importorskip("distributed")
    tasks = tiny_tasks()[:2] + [{"runs": isoflop_runs(), "law": "power_law:U"}]
    here = [fit_here(t)[0] for t in tasks[:2]]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1 if processes else 2, processes=processes,
                                  dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)
            out = fit_many(tasks, executor=client.get_executor())
    same_fit(out[0], here[0])
    same_fit(out[1], here[1])
    assert isinstance(out[2], FitFailure) and out[2].error_type == "MissingColumnError"
    assert all(out.warnings[:2])
    assert (out.workers[0].split(":")[1] == str(os.getpid())) is not processes


@pytest.mark.slow
def test_backtest_with_an_executor_gives_the_serial_numbers(pool):
    runs = isoflop_runs(seed=2)
    kw = {"fit_kwargs": {"random_seed": 3, **TINY, "progressbar": False}}
    laws = {"first": "chinchilla", "second": "chinchilla"}  # two fits; one structure, compiled once per process
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        serial = backtest(runs, laws, **kw)
        with pytest.warns(bs.SamplerWarning, match="^chinchilla fit: "):  # re-emitted as bs.fit raised it
            parallel = backtest(runs, laws, executor=pool, **kw)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    pd.testing.assert_frame_equal(serial.scores(), parallel.scores())
    for label in serial.laws:
        same_fit(serial.fits[label], parallel.fits[label])
    with pytest.raises(MissingColumnError, match="'U'"):
        backtest(runs, ["chinchilla", "power_law:U"], executor=pool, **kw)


@pytest.mark.slow
def test_calibrate_with_an_executor_gives_the_serial_numbers(pool, capsys):
    design = isoflop_runs(noise_sd=0.0)
    kw = {"n_datasets": 3, "params": {**HOFFMANN, "sigma": 0.02}, "likelihood": "normal", "random_seed": 7,
          "fit_kwargs": {"draws": 200, "tune": 300, "chains": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        serial = calibrate(design, "chinchilla", **kw)
        parallel = calibrate(design, "chinchilla", executor=pool, progressbar=True, **kw)
    assert capsys.readouterr().out.count("of 3 done") == 3
    cols = [c for c in serial.datasets.columns if c != "seconds"]
    pd.testing.assert_frame_equal(serial.datasets[cols], parallel.datasets[cols])
    pd.testing.assert_frame_equal(serial.points, parallel.points)
    pd.testing.assert_frame_equal(serial.coverage(), parallel.coverage())
    assert serial.datasets["seed"].nunique() == 3 and (parallel.datasets["seconds"] > 0).all()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nutpie") is None, reason="determinism is checked for nutpie")
def test_default_executor_is_a_spawned_pool():
    out = fit_many(tiny_tasks()[:1], warn=False)  # executor=None: a pool of its own, shut down on return
    same_fit(out[0], fit_here(tiny_tasks()[0])[0])
    assert out.workers[0].split(":")[1] != str(os.getpid())

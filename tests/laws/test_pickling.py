"""Laws, priors, run tables and fits pickle themselves with the standard pickle.

A law pickles by reference to the registry (spec, source hash, declaring module) and is looked up
where it is unpickled; a prior as its dict; a run table as its DataFrame, ``derived``, ``source``
and ``curve_axis``; a fit, a frozen dataclass of these and a ``DataTree``, by the default
mechanism. The spawned-process tests check what ``fit_many``'s workers see: a fresh interpreter
that knows the built-in laws and the laws of the modules it can import, and no others.
"""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.inference.many import WorkerLawError
from bayescale.laws import LawError, Parameter, Prior, get_law, list_laws, register
from bayescale.laws.base import _REGISTRY
from bayescale.runs import simulate_curves

from ..conftest import isoflop_runs


def round_trip(obj):
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def inputs_of(law):
    return {i: np.geomspace(1e9, 1e12, 5) for i in law.inputs}


def evaluate(law):
    """The law at its example values, on five points of each input."""
    with np.errstate(all="ignore"):
        return np.asarray(law(**inputs_of(law), **law.example), dtype=float)


# -- in this process ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_laws())
def test_every_registered_law_round_trips(name):
    law = get_law(name)
    back = round_trip(law)
    # looked up in the registry, not copied: the registered object, or the same law moved onto its columns
    assert back is law or (law.input_map and back == law and back.func is law.func)
    assert back.spec == law.spec and back.source_hash == law.source_hash
    np.testing.assert_array_equal(evaluate(back), evaluate(law))
    for p in law.parameters:  # its priors and parameters pickle too
        assert round_trip(p.prior) == p.prior and round_trip(p) == p


def test_a_law_moved_onto_another_input_keeps_its_spec():
    law = get_law("power_law").on("N")
    back = round_trip(law)
    assert back.spec == "power_law:N" and back.inputs == ("N",) and back == law
    np.testing.assert_array_equal(evaluate(back), evaluate(law))


def test_a_law_is_its_own_copy():
    law = get_law("chinchilla")
    assert copy.copy(law) is law and copy.deepcopy(law) is law


def test_a_law_whose_source_changed_is_refused():
    params = get_law("chinchilla").parameters

    @bs.law(name="pk_changing_law", inputs=["N", "D"], parameters=params, overwrite=True)
    def first(N, D, E, A, B, alpha, beta):  # noqa: N803 - literature symbols
        return E + A / N**alpha + B / D**beta

    data = pickle.dumps(first)

    @bs.law(name="pk_changing_law", inputs=["N", "D"], parameters=params, overwrite=True)
    def second(N, D, E, A, B, alpha, beta):  # noqa: N803
        return E + A / N**alpha + B / D**beta + 0.0

    try:
        with pytest.raises(WorkerLawError, match=r"law 'pk_changing_law' .*source hash differs"):
            pickle.loads(data)
        assert pickle.loads(pickle.dumps(second)) is second
    finally:
        del _REGISTRY["pk_changing_law"]


def test_an_unregistered_law_is_refused_with_the_fix():
    # registered when pickled, gone when unpickled; its module imports but does not declare it
    law = register(dataclasses.replace(get_law("chinchilla"), name="pk_unknown_law"), overwrite=True)
    try:
        data = pickle.dumps(law)
    finally:
        del _REGISTRY["pk_unknown_law"]
    with pytest.raises(WorkerLawError, match=r"law 'pk_unknown_law' is not registered .*\(pid \d+\).*"
                       r"in module 'bayescale\.laws\.final'.*executor='serial'"):
        pickle.loads(data)
    assert issubclass(WorkerLawError, LawError)


@pytest.mark.parametrize("prior", [
    Prior("Normal", mu=6.0, sigma=3.0),
    Prior("HalfNormal", sigma=0.1),
    Prior("StudentT", nu=4, mu=-1.5, sigma=0.25),
    Prior("Flat"),
])
def test_prior_round_trips(prior):
    back = round_trip(prior)
    assert back == prior and back.to_dict() == prior.to_dict() and hash(back) == hash(prior)
    assert copy.deepcopy(prior) == prior
    with pytest.raises(AttributeError, match="immutable"):
        back._dist = "Cauchy"


def curve_table():
    return simulate_curves("kaplan_steps", sizes=[1e7, 1e8, 1e9], steps=np.geomspace(100, 1e5, 12),
                           tokens_per_step=1e5, random_seed=1)


@pytest.mark.parametrize("make", [
    lambda: isoflop_runs(seed=3).filter(np.arange(42) < 30),  # final losses, row labels with gaps
    lambda: bs.load_demo_runs(),
    curve_table,
    lambda: curve_table().final(),
    lambda: bs.RunTable.from_dataframe(pd.DataFrame({"C": [1e18, 1e19, 1e20], "loss": [3.1, 2.8, 2.6]}),
                                       N=None, C="C", source="one input"),
], ids=["isoflop", "demo", "curves", "curves-final", "no-N"])
def test_run_table_round_trips(make):
    runs = make()
    back = round_trip(runs)
    assert isinstance(back, bs.RunTable) and back is not runs
    pd.testing.assert_frame_equal(back.to_dataframe(), runs.to_dataframe())
    assert back.derived == runs.derived and back.source == runs.source
    assert back.curve_axis == runs.curve_axis and back.data_hash == runs.data_hash
    assert repr(back) == repr(runs)


def test_curve_table_keeps_its_axis():
    runs = curve_table()
    assert runs.curve_axis is not None  # the case the table above must carry
    assert round_trip(runs).curve_axis == runs.curve_axis


def test_a_fit_pickles_by_the_default_mechanism(chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    back = round_trip(fit)
    assert back.law is fit.law and back.likelihood == fit.likelihood
    assert back.priors == fit.priors and back.pivot == fit.pivot
    assert back.noise == fit.noise and back.run_effects == fit.run_effects
    pd.testing.assert_frame_equal(back.runs.to_dataframe(), fit.runs.to_dataframe())
    assert back.idata.equals(fit.idata) and back.provenance == fit.provenance


# -- in a spawned process, as fit_many's workers are -------------------------------------------

def _unpickle_and_evaluate(payload: bytes) -> dict[str, tuple[str, str, np.ndarray]]:
    """Runs in the child: unpickle the laws and evaluate each at its example values."""
    laws = pickle.loads(payload)
    return {law.spec: (law.spec, law.source_hash, evaluate(law)) for law in laws}


def _unpickle(payload: bytes) -> object:
    return pickle.loads(payload)


@pytest.fixture(scope="module")
def spawned():
    """One fresh worker process, started as fit_many's default pool starts them."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield ex


def test_registered_laws_are_found_in_a_spawned_process(spawned):
    # every law a fresh process can know: the package's own (laws that other tests declare inside
    # their test functions are registered only while those run, so a worker never knows them)
    laws = [get_law(n) for n in list_laws()]
    laws = [law for law in laws if law.func.__module__.startswith("bayescale.")]
    laws.append(get_law("power_law").on("N"))
    assert {"chinchilla", "kaplan_steps", "data_constrained"} <= {law.name for law in laws}
    got = spawned.submit(_unpickle_and_evaluate, pickle.dumps(laws)).result(timeout=300)
    assert sorted(got) == sorted(law.spec for law in laws)
    for law in laws:
        spec, source_hash, values = got[law.spec]
        assert source_hash == law.source_hash
        np.testing.assert_array_equal(values, evaluate(law))


def test_a_law_declared_only_here_is_refused_in_a_spawned_process(spawned):
    # declared with @bs.law in this module, but only when this test runs: the worker imports the
    # module and still does not know it, as a notebook law would not be known
    @bs.law(name="pk_test_only_law", inputs=["N"], overwrite=True, parameters=[
        Parameter("E", Prior("Normal", mu=0.5, sigma=1.0), 1.7, "floor", log=True),
        Parameter("A", Prior("Normal", mu=5, sigma=5), 50.0, "scale", log=True, scale={"N": "alpha"}),
        Parameter("alpha", Prior("LogNormal", mu=-1.2, sigma=0.8), 0.3, "exponent"),
    ])
    def pk_test_only_law(N, E, A, alpha):  # noqa: N803
        return E + A * N**-alpha

    try:
        assert round_trip(pk_test_only_law) is pk_test_only_law  # here it is registered
        payload = pickle.dumps({"runs": isoflop_runs(), "law": pk_test_only_law})
    finally:
        del _REGISTRY["pk_test_only_law"]
    future = spawned.submit(_unpickle, payload)
    with pytest.raises(WorkerLawError, match=r"law 'pk_test_only_law' is not registered in the process that "
                       rf"unpickled it \(pid \d+\)\. It was declared in module '{__name__}'.*importable module"):
        future.result(timeout=300)
    with pytest.raises(WorkerLawError, match="pk_test_only_law"):
        pickle.loads(payload)

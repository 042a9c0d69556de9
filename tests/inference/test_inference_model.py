"""Graph construction, priors and the pivot: no sampling."""

import numpy as np
import pytest

import bayescale as bs
from bayescale.inference import build_model
from bayescale.laws import Noise, resolve_priors
from bayescale.laws import Prior, PriorError

from ..conftest import isoflop_runs


@pytest.fixture(scope="module")
def runs():
    return isoflop_runs(seed=1)


def test_free_variables_and_deterministics(runs):
    m = build_model(runs, "chinchilla", likelihood="student_t")  # final losses: noise="discrepancy" by default
    assert {v.name for v in m.free_RVs} == {"alpha", "beta", "log_E", "log_A_pivot", "log_B_pivot", "sigma", "nu",
                                             "kappa"}
    iid = build_model(runs, "chinchilla", likelihood="student_t", noise="iid")
    assert {v.name for v in iid.free_RVs} == {v.name for v in m.free_RVs} - {"kappa"}
    assert {"A", "B", "E", "log_A", "log_B"} <= {v.name for v in m.deterministics}


@pytest.mark.parametrize("law", ["chinchilla", "kaplan"])
def test_pivot_changes_coordinates_not_the_posterior(runs, law):
    """Pivoted and unpivoted models give the same log density at the same natural point."""
    law_obj = bs.get_law(law)
    piv = bs.inference.pivots(runs, law_obj)
    m_piv = build_model(runs, law)
    m_raw = build_model(runs, law, pivot={k: 1.0 for k in law_obj.inputs})
    natural = law_obj.example
    point_raw, point_piv = {}, {}
    for p in law_obj.parameters:
        if not p.log:
            point_raw[p.name] = point_piv[p.name] = natural[p.name]
    for p in law_obj.parameters:
        if p.log:
            log_v = np.log(natural[p.name])
            shift = law_obj.log_pivot_shift(p, natural, {k: np.log(v) for k, v in piv.items()})
            name = f"{p.sampled_name}_pivot" if p.scale else p.sampled_name
            point_raw[name] = log_v  # with pivot 1 the pivot coordinates are the natural ones
            point_piv[name] = log_v - shift
    point_raw["sigma"] = point_piv["sigma"] = 0.02
    point_raw["kappa"] = point_piv["kappa"] = 0.03
    point_raw["nu"] = point_piv["nu"] = 4.0

    def logp(model, point):
        ip = model.initial_point()
        for rv in model.free_RVs:
            val = point[rv.name]
            tr = model.rvs_to_transforms[rv]
            ip[model.rvs_to_values[rv].name] = tr.forward(val, *rv.owner.inputs).eval() if tr else val
        return model.compile_logp()(ip)

    assert logp(m_piv, point_piv) == pytest.approx(logp(m_raw, point_raw), rel=1e-10)


def test_prior_override_and_errors(runs):
    pri = resolve_priors(bs.get_law("chinchilla"), Noise("normal"), {"alpha": Prior("Uniform", lower=0, upper=1)})
    assert pri["alpha"] == Prior("Uniform", lower=0.0, upper=1.0)
    assert pri["sigma"] == Prior("HalfNormal", sigma=0.1)
    with pytest.raises(PriorError, match="give a prior for 'log_A'"):
        resolve_priors(bs.get_law("chinchilla"), Noise("normal"), {"A": Prior("Normal", mu=6, sigma=1)})
    with pytest.raises(PriorError, match="not a distribution priors accept"):
        build_model(runs, "chinchilla", priors={"alpha": Prior("Nromal", mu=0, sigma=1)})
    for not_location in (Prior("HalfNormal", sigma=5), Prior("LogNormal", mu=1.8, sigma=0.3)):
        with pytest.raises(PriorError, match="not a location family"):
            build_model(runs, "chinchilla", priors={"log_A": not_location})
    with pytest.raises(ValueError, match="likelihood='huber' is not known"):
        build_model(runs, "chinchilla", likelihood="huber")


def test_shifted_prior_keeps_natural_prior(runs):
    """Prior draws of the natural log A follow the declared prior despite the pivot."""
    prior = bs.sample_prior_predictive(runs, "chinchilla", draws=4000, random_seed=0)
    log_A = prior.prior["log_A"].values.ravel()
    assert abs(log_A.mean() - 6.0) < 0.15 and abs(log_A.std() - 3.0) < 0.15
    assert prior.prior_predictive["log_loss"].dims == ("chain", "draw", "run")
    # a bounded location family: Uniform(2, 9) on log A stays Uniform(2, 9)
    prior = bs.sample_prior_predictive(runs, "chinchilla", priors={"log_A": Prior("Uniform", lower=2, upper=9)},
                                       draws=4000, random_seed=1)
    log_A = prior.prior["log_A"].values.ravel()
    assert 2.0 <= log_A.min() < 2.05 and 8.95 < log_A.max() <= 9.0
    assert abs(log_A.mean() - 5.5) < 0.1

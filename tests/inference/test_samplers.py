"""bs.fit(..., sampler=): choosing and checking the sampler, what each sampler's output carries
(diagnostics, log-likelihood, log prior), the batched log-likelihood, and agreement between samplers."""

import importlib.util
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

import bayescale as bs
from bayescale.inference import cache, loglik
from bayescale.inference.cache import _Compiled
from bayescale.inference.loglik import _add_log_likelihood
from bayescale.inference.model import build, model_data, pivots
from bayescale.inference.samplers import (
    SAMPLERS,
    _add_max_treedepth,
    _resolve_sampler,
    _sampler_defaults,
    available_samplers,
    default_sampler,
    low_rank_cutoff,
    nutpie_metric,
)

from ..conftest import CHINCHILLA_TRUE, isoflop_runs

INSTALLED = available_samplers()
needs = {name: pytest.mark.skipif(name not in INSTALLED, reason=f"{name} not installed") for name in SAMPLERS}


def hide(monkeypatch, *packages):
    """Pretend ``packages`` are not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in packages else real(name, *a))


# --- choosing the sampler ---------------------------------------------------------------------

def test_unknown_sampler_names_the_choices():
    with pytest.raises(ValueError, match=r"sampler='stan' is not known; use one of \['nutpie', 'numpyro', "
                                         r"'blackjax', 'chees', 'pymc'\]"):
        bs.fit(isoflop_runs(), sampler="stan")


def test_missing_package_names_it_and_the_extra(monkeypatch):
    hide(monkeypatch, "numpyro")
    with pytest.raises(ImportError, match=r"sampler='numpyro' needs numpyro, which is not installed; install "
                                          r"with pip install \"bayescale\[jax\]\""):
        bs.fit(isoflop_runs(), sampler="numpyro")
    hide(monkeypatch, "jax", "blackjax")
    with pytest.raises(ImportError, match=r"needs jax and blackjax, which are not installed"):
        bs.fit(isoflop_runs(), sampler="blackjax")
    assert "blackjax" not in available_samplers() and "pymc" in available_samplers()


def test_nuts_sampler_is_an_alias_that_must_agree():
    with pytest.raises(ValueError, match="sampler='pymc' and nuts_sampler='nutpie' disagree"):
        bs.fit(isoflop_runs(), sampler="pymc", nuts_sampler="nutpie")
    assert _resolve_sampler("pymc", "pymc") == "pymc"
    assert _resolve_sampler(None, "pymc") == "pymc"


def test_default_is_the_fastest_installed(monkeypatch):
    hide(monkeypatch)  # nothing hidden
    expected = next(s for s in ("nutpie", "numpyro", "pymc") if s in INSTALLED)
    assert default_sampler() == expected == _resolve_sampler(None, None)
    hide(monkeypatch, "nutpie")
    assert default_sampler() == ("numpyro" if "numpyro" in INSTALLED else "pymc")
    hide(monkeypatch, "nutpie", "jax")
    assert default_sampler() == "pymc"


def test_each_sampler_gets_a_dense_mass_matrix_and_its_own_tree_depth_word():
    assert _sampler_defaults({}, "nutpie") == {"nuts": {"target_accept": 0.9}}  # metric: nutpie_metric
    assert _sampler_defaults({"target_accept": 0.95}, "pymc") == {
        "init": "jitter+adapt_full", "nuts": {"target_accept": 0.95}}
    if "numpyro" in INSTALLED:
        got = _sampler_defaults({"nuts": {"max_treedepth": 6, "dense_mass": False}}, "numpyro")["nuts"]
        assert got["max_tree_depth"] == 6 and got["dense_mass"] is False and "max_treedepth" not in got
        assert _sampler_defaults({}, "numpyro")["nuts"]["dense_mass"] is True
    if "blackjax" in INSTALLED:
        got = _sampler_defaults({"nuts": {"max_treedepth": 6}}, "blackjax")["nuts"]
        assert got == {"max_num_doublings": 6, "target_accept": 0.9, "is_mass_matrix_diagonal": False,
                       **({"chain_method": got["chain_method"]} if "chain_method" in got else {})}


def test_low_rank_cutoff_lies_beyond_what_noise_gives():
    """nutpie's 2 up to 13 parameters; beyond, twice the Marchenko-Pastur edge (1 + sqrt(d / 80))^2.
    The largest eigenvalue of the covariance of 80 independent N(0, I) draws (what a window of a
    posterior without correlations gives) is near 2 at 14 parameters, past it at 50, and inside the
    cutoff."""
    assert low_rank_cutoff(6) == 2.0 and low_rank_cutoff(13) == 2.0
    assert low_rank_cutoff(14) == pytest.approx(2 * (1 + np.sqrt(14 / 80)) ** 2)
    assert low_rank_cutoff(409) == pytest.approx(21.27, abs=0.01)
    rng = np.random.default_rng(0)
    for d in (14, 50, 409):
        largest = [np.linalg.eigvalsh(np.cov(rng.standard_normal((80, d)), rowvar=False))[-1] for _ in range(20)]
        assert max(largest) < low_rank_cutoff(d) and (d < 50 or min(largest) > 2), (d, min(largest), max(largest))


def test_nutpie_metric_is_low_rank_up_to_a_window_of_parameters_and_what_the_caller_chose_stays():
    assert nutpie_metric({}, 6) == {"adaptation": "low_rank", "mass_matrix_eigval_cutoff": 2.0}
    assert nutpie_metric({}, 80) == {"adaptation": "low_rank", "mass_matrix_eigval_cutoff": 8.0}  # 2 (1 + 1)^2
    assert nutpie_metric({}, 81) == nutpie_metric({}, 409) == {"adaptation": "diag"}
    assert nutpie_metric({"target_accept": 0.9}, 409) == {"target_accept": 0.9, "adaptation": "diag"}
    assert nutpie_metric({"adaptation": "diag"}, 6) == {"adaptation": "diag"}
    assert nutpie_metric({"adaptation": "low_rank"}, 409) == {
        "adaptation": "low_rank", "mass_matrix_eigval_cutoff": low_rank_cutoff(409)}
    assert nutpie_metric({"mass_matrix_eigval_cutoff": 100}, 409) == {
        "adaptation": "low_rank", "mass_matrix_eigval_cutoff": 100}


def test_jax_samplers_get_the_max_treedepth_flag():
    depth = np.array([[3, 10, 10, 4], [10, 2, 5, 9]])
    for sampler, nuts, expected in [("numpyro", {}, depth >= 10), ("blackjax", {"max_num_doublings": 5}, depth >= 5),
                                    ("numpyro", {"max_tree_depth": (12, 9)}, depth >= 9)]:
        tree = xr.DataTree.from_dict({"sample_stats": xr.Dataset({"tree_depth": (("chain", "draw"), depth)})})
        _add_max_treedepth(tree, sampler, nuts)
        np.testing.assert_array_equal(tree.sample_stats["reached_max_treedepth"].values, expected)


# --- the log-likelihood, over a batch of draws --------------------------------------------------

def prior_as_posterior(model, draws=60, seed=0):
    """Prior draws of the model's free variables, shaped as a posterior (2 chains)."""
    names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
    with model:
        prior = pm.sample_prior_predictive(draws=2 * draws, var_names=names, random_seed=seed).prior.dataset
    post = xr.Dataset({
        k: (("chain", "draw", *prior[k].dims[2:]), prior[k].values.reshape(2, draws, *prior[k].shape[2:]))
        for k in names})
    post = post.assign_coords(chain=[0, 1], draw=np.arange(draws),
                              **{d: prior[d].values for k in names for d in prior[k].dims[2:]})
    return xr.DataTree.from_dict({"posterior": post})


def curve_runs(seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"run": f"r{r}", "N": N, "step": s, "D": s * 1e5,
             "loss": (1.8 + 300 * N**-0.3 + 50 * s**-0.4) * np.exp(rng.normal(0, 0.01))}
            for r, N in enumerate([1e7, 3e7, 1e8]) for s in np.geomspace(100, 1e4, 8)]
    return bs.RunTable.from_dataframe(pd.DataFrame(rows), N="N", D="D", loss="loss", run="run", step="step")


@pytest.mark.parametrize("case", ["final_student_t", "curve_ar1_run_effects"])
@pytest.mark.parametrize("batched", [True, False])
def test_log_likelihood_and_prior_match_pymc(case, batched, monkeypatch):
    """The groups bs.fit adds are PyMC's own numbers, to rounding (our function is built without C compilation)."""
    if case == "final_student_t":
        runs, law, likelihood, noise, effects = isoflop_runs(seed=3), bs.get_law("chinchilla"), "student_t", "iid", ()
    else:
        runs, law, likelihood, noise, effects = curve_runs(), bs.get_law("curve_power"), "normal", "ar1", ("A",)
    spec = bs.ModelSpec.build(law, likelihood=likelihood, noise=noise, run_effects=effects, runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, law))
    model = build(spec, data)
    idata = prior_as_posterior(model)
    if not batched:  # the one-draw-at-a-time fallback, for graphs that cannot be vectorised
        import pytensor.graph.replace

        def fail(*a, **k):
            raise NotImplementedError("no batched form")

        monkeypatch.setattr(pytensor.graph.replace, "vectorize_graph", fail)
    else:
        monkeypatch.setattr(loglik, "_LOGLIK_CHUNK", 7 * len(runs))  # several chunks of 7 draws
    entry = _Compiled(model)
    _add_log_likelihood(entry, idata, data)
    assert entry.loglik["pointwise"].function.vectorised is batched
    with model:
        ll = pm.stats.compute_log_likelihood(idata.copy(), extend_inferencedata=False, progressbar=False)
        lp = pm.stats.compute_log_prior(idata.copy(), extend_inferencedata=False, progressbar=False)
    dim = data.obs_dim
    ours = idata.log_likelihood.dataset["log_loss"]
    assert ours.dims == ("chain", "draw", dim) and ours.shape == (2, 60, len(runs))
    # numpy's implementations against PyTensor's C ones: equal to rounding, except that the ar1 terms
    # difference running sums (c - c[start]), which loses up to ~1e-9 relative at extreme prior draws
    np.testing.assert_allclose(ours.values, ll["log_loss"].values, rtol=1e-8, atol=1e-12)
    assert set(idata.log_prior.dataset.data_vars) == set(lp.data_vars) == {rv.name for rv in model.free_RVs}
    for k in lp.data_vars:
        np.testing.assert_allclose(idata.log_prior.dataset[k].values, lp[k].values, rtol=1e-14, atol=1e-14)
    assert np.isfinite(ours.values).all()


def test_per_run_log_likelihood_from_the_joint_model_is_the_sum_of_the_pointwise_terms():
    """AR(1) curves under the normal family sample a model holding each run's joint density
    (``build(..., joint=True)``): ``log_likelihood="run"`` reads its terms, the pointwise terms come
    from a model built for them, and each run's sum of those is its joint term."""
    runs, law = curve_runs(), bs.get_law("curve_power")
    spec = bs.ModelSpec.build(law, likelihood="normal", noise="ar1", run_effects=("A",), runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, law))
    entry = _Compiled(build(spec, data, joint=True), spec=spec, data=data)
    assert entry.model["log_loss"].owner.op.__class__.__name__ != "NormalRV"
    idata = prior_as_posterior(entry.model)
    _add_log_likelihood(entry, idata, data, "run")
    per_run = idata.log_likelihood.dataset["log_loss"]
    assert per_run.dims == ("chain", "draw", "run") and sorted(entry.loglik) == ["run"]
    _add_log_likelihood(entry, idata, data, "pointwise")
    pointwise = idata.log_likelihood.dataset["log_loss"]
    assert pointwise.dims == ("chain", "draw", "checkpoint") and sorted(entry.loglik) == ["pointwise", "run"]
    run_of = np.asarray(data.values["run_idx"])
    summed = np.stack([pointwise.values[..., run_of == r].sum(-1) for r in range(3)], axis=-1)
    np.testing.assert_allclose(per_run.values, summed, rtol=1e-9)


# --- real sampling ------------------------------------------------------------------------------

RUNS = isoflop_runs("chinchilla", CHINCHILLA_TRUE, noise_sd=0.02, seed=11)
KW = dict(draws=500, tune=500, chains=2, random_seed=4, progressbar=False)
PARAMS = ["E", "A", "B", "alpha", "beta"]


@pytest.fixture(scope="module")
def reference():
    """The posterior the others must agree with (nutpie, else PyMC's NUTS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        return bs.fit(RUNS, "chinchilla", sampler=INSTALLED[0], **KW)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["numpyro", "blackjax", "pymc"])
def test_sampler_agrees_and_carries_diagnostics(name, reference):
    if name not in INSTALLED or name == INSTALLED[0]:
        pytest.skip(f"{name} not installed, or it is the reference")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # PyMC's full-rank mass-matrix adaptation needs a longer warm-up than nutpie's low-rank one
        fit = bs.fit(RUNS, "chinchilla", sampler=name, **{**KW, "tune": 1000 if name == "pymc" else KW["tune"]})
    prov = fit.provenance["sampler"]
    assert prov["sampler"] == name and prov["library"] == name and prov["draws"] == 500
    stats = fit.idata.sample_stats.dataset
    assert {"diverging", "energy", "n_steps", "tree_depth", "reached_max_treedepth"} <= set(stats.data_vars)
    assert stats["diverging"].dtype == bool and stats["diverging"].shape == (2, 500)
    d = bs.diagnose(fit)
    assert np.isfinite([d.treedepth_saturation, d.mean_tree_depth, d.min_bfmi]).all()
    assert 1 <= d.mean_tree_depth <= 6 and d.max_r_hat < 1.05
    said = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
    assert said == [f"chinchilla fit: {p}" for p in d.problems]
    assert fit.idata.log_likelihood.dataset["log_loss"].shape == (2, 500, len(RUNS))
    assert set(fit.idata.log_prior.dataset.data_vars) == {"log_E", "log_A_pivot", "log_B_pivot", "alpha", "beta",
                                                           "sigma", "nu", "kappa"}
    assert fit.posterior["alpha"].dtype == np.float64
    # medians within a few Monte Carlo standard errors of the reference sampler's
    for p in PARAMS:
        se = np.hypot(*(float(az.mcse(f.idata, var_names=[p], method="median")[p]) for f in (fit, reference)))
        diff = float(fit.posterior[p].median() - reference.posterior[p].median())
        assert abs(diff) < 4 * se, (p, diff, se)


@pytest.mark.slow
def test_large_tables_sample_with_their_data_compiled_in(reference, monkeypatch):
    """From ``CONSTANT_DATA_ROWS`` observations nutpie compiles each fit's model with its data as
    constants: the posterior is the cached model's, and a second table gets its own data, not the
    first one's."""
    if INSTALLED[0] != "nutpie":
        pytest.skip("nutpie not installed")
    from bayescale.inference import samplers

    assert not reference.provenance["sampler"]["data_as_constants"]
    monkeypatch.setattr(samplers, "CONSTANT_DATA_ROWS", len(RUNS))
    fit = bs.fit(RUNS, "chinchilla", **KW)
    assert fit.provenance["sampler"]["data_as_constants"]
    for p in PARAMS:
        se = np.hypot(*(float(az.mcse(f.idata, var_names=[p], method="median")[p]) for f in (fit, reference)))
        assert abs(float(fit.posterior[p].median() - reference.posterior[p].median())) < 4 * se, p
    higher = isoflop_runs("chinchilla", dict(CHINCHILLA_TRUE, E=2.2), noise_sd=0.02, seed=11)
    other = bs.fit(higher, "chinchilla", **KW)
    assert abs(float(other.posterior["E"].median()) - 2.2) < 0.1 and abs(float(fit.posterior["E"].median()) - 1.69) < 0.1


@pytest.mark.slow
def test_chees_agrees_with_nuts_and_judges_its_superchains(reference):
    """ChEES-HMC (many chains, one trajectory length tuned across them) recovers the reference
    posterior; its chains start in 4 superchains and the fit carries their nested R-hat; every chain
    takes the same number of leapfrog steps at each draw (what keeps vectorised chains in lockstep)."""
    if "chees" not in INSTALLED:
        pytest.skip("jax and blackjax not installed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bs.fit(RUNS, "chinchilla", sampler="chees", draws=200, tune=500, chains=16, random_seed=4,
                     progressbar=False)
    assert fit.posterior.attrs["superchains"] == 4 and fit.posterior.sizes["chain"] == 16
    d = bs.diagnose(fit)
    assert d.max_nested_r_hat < 1.01 and d.max_r_hat < 1.01 and d.min_ess_bulk > 1000
    steps = fit.idata.sample_stats.dataset["n_steps"].values
    assert (steps == steps[:1]).all()  # same trajectory length across chains at each draw
    said = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
    assert said == [f"chinchilla fit: {p}" for p in d.problems]
    for p in PARAMS:
        se = np.hypot(*(float(az.mcse(f.idata, var_names=[p], method="median")[p]) for f in (fit, reference)))
        diff = float(fit.posterior[p].median() - reference.posterior[p].median())
        assert abs(diff) < 4 * se, (p, diff, se)
    with pytest.warns(bs.SamplerWarning, match="use chains=16 or more"):
        bs.fit(RUNS, "chinchilla", sampler="chees", draws=5, tune=5, chains=4, progressbar=False)
    with pytest.raises(ValueError, match="superchains=3: give a whole number >= 1 that divides chains=16"):
        bs.fit(RUNS, "chinchilla", sampler="chees", draws=5, tune=5, chains=16, nuts={"superchains": 3},
               progressbar=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["numpyro", "blackjax"])
def test_jax_refit_compiles_once_per_shape_and_warns_like_nutpie(name, monkeypatch):
    """A refit of the same structure to new data of the same shape reuses the cached model, the
    log-likelihood function and the jitted sampler (nothing is traced again); data of another shape
    are traced once; the new data reach the sampler (the posteriors differ) and every group."""
    if name not in INSTALLED:
        pytest.skip(f"{name} not installed")
    from bayescale.inference import jax_sampling

    traces = []
    maker = "_numpyro_chain" if name == "numpyro" else "_blackjax_chain"
    original = getattr(jax_sampling, maker)

    def counting(*args, **kwargs):
        chain = original(*args, **kwargs)

        def traced(*a):
            traces.append(1)  # runs only while JAX traces (compiles) the sampler
            return chain(*a)

        return traced

    monkeypatch.setattr(jax_sampling, maker, counting)
    kw = dict(sampler=name, draws=40, tune=100, chains=2, random_seed=1, progressbar=False)
    cache._COMPILED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = bs.fit(RUNS, "chinchilla", **kw)
    said = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
    assert said == [f"chinchilla fit: {p}" for p in bs.diagnose(first).problems]
    assert any("effective sample size" in s for s in said)  # 2 x 40 draws cannot reach 400
    assert len(traces) == 1
    entry = next(reversed(cache._COMPILED.values()))
    model, loglik_fn, program = entry.model, entry.loglik["pointwise"].function.fn, entry.jax
    other = isoflop_runs("chinchilla", {**CHINCHILLA_TRUE, "E": 2.2}, noise_sd=0.02, seed=12)  # same shape
    fewer = RUNS.filter(np.arange(len(RUNS)) % 3 != 0)  # another shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        same_shape = bs.fit(other, "chinchilla", **kw)
        assert len(traces) == 1  # not traced again
        smaller = bs.fit(fewer, "chinchilla", **kw)
        assert len(traces) == 2  # traced once for the new shape
    assert len(cache._COMPILED) == 1 and entry.model is model and entry.loglik["pointwise"].function.fn is loglik_fn
    assert entry.jax is program
    assert float(same_shape.posterior["E"].median()) > float(first.posterior["E"].median()) + 0.2
    for fit in (first, same_shape, smaller):
        n = len(fit.runs)
        assert fit.idata.observed_data["log_loss"].sizes["run"] == n
        assert fit.idata.log_likelihood["log_loss"].sizes["run"] == n
        np.testing.assert_allclose(fit.idata.observed_data["log_loss"].values, np.log(fit.runs.loss))
        assert fit.provenance["sampler"]["library"] == name
    assert len(smaller.runs) < len(first.runs)


@pytest.mark.parametrize("name", ["numpyro", "blackjax", "chees"])
def test_jax_options_are_checked_by_name(name):
    if name not in INSTALLED:
        pytest.skip(f"{name} not installed")
    with pytest.raises(ValueError, match=rf"nuts={{'max_depth': ...}} is not an option of the {name} sampler"):
        bs.fit(RUNS, "chinchilla", sampler=name, nuts={"max_depth": 5}, draws=5, tune=5, progressbar=False)
    with pytest.raises(TypeError, match=rf"sampler='{name}' takes its options in nuts="):
        bs.fit(RUNS, "chinchilla", sampler=name, init="adapt_diag", draws=5, tune=5, progressbar=False)
    with pytest.raises(ValueError, match="chain_method='sideways' is not known"):
        bs.fit(RUNS, "chinchilla", sampler=name, nuts={"chain_method": "sideways"}, draws=5, tune=5,
               progressbar=False)


@pytest.mark.slow
def test_log_likelihood_can_be_skipped(reference):
    """log_likelihood=False: no draws x runs array (for fits too big for it); the rest as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(RUNS, "chinchilla", sampler=INSTALLED[0], log_likelihood=False, **{**KW, "draws": 100})
    assert "log_likelihood" not in fit.idata.children and "log_prior" not in fit.idata.children
    assert {"posterior", "sample_stats", "observed_data"} <= set(fit.idata.children)
    assert bs.diagnose(fit).draws == 100
    assert "log_likelihood" in reference.idata.children


# --- run effects: centred and non-centred forms of the same model --------------------------------

def test_centered_run_effects_are_the_same_model():
    """log p_centred(log theta_r) = log p_noncentred(z_r) - sum log sd: the same posterior in other
    coordinates (the change of variables log theta_r = log theta + sd z_r), checked at a point."""
    runs, law = curve_runs(), bs.get_law("curve_power")
    spec = bs.ModelSpec.build(law, likelihood="normal", noise="ar1", run_effects=("A", "alpha"), runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, law))
    nc = build(spec, data)
    cspec = bs.ModelSpec.build(law, noise="ar1", run_effects=("A", "alpha"), parameterization="centered", runs=runs)
    c = build(cspec, model_data(runs, cspec, pivot=pivots(runs, law)))  # with the runs' tilts, zero
    assert {"A_run_z", "alpha_run_z"} <= set(nc.named_vars) and not {"A_run_log", "alpha_run_log"} & set(nc.named_vars)
    assert {"A_run_log", "alpha_run_log"} <= set(c.named_vars) and "A_run_z" not in c.named_vars
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.1, np.shape(v)) for k, v in nc.initial_point().items()}
    sd_a, sd_alpha = np.exp(point["A_run_sd_log__"]), np.exp(point["alpha_run_sd_log__"])
    other = {k: v for k, v in point.items() if not k.endswith("_run_z")}
    # the centred amplitude is each run's at its own centre: shifted by its exponents times the
    # mean of log(input / pivot) over its rows (a shear, Jacobian 1)
    log_alpha_r = point["alpha_log__"] + sd_alpha * point["alpha_run_z"]
    centre_n, centre_d = data.values["run_log_x_N"], data.values["run_log_x_D"]
    assert np.ptp(centre_n) > 1 and np.all(np.isfinite(centre_d))
    shift = np.exp(point["gamma_log__"]) * centre_n + np.exp(log_alpha_r) * centre_d
    cpoint = {**other,
              "A_run_log": point["log_A_pivot"] + sd_a * point["A_run_z"] - shift,
              "alpha_run_log": log_alpha_r}
    n_runs = data.n_runs
    expected = nc.compile_logp()(point) - n_runs * (np.log(sd_a) + np.log(sd_alpha))
    np.testing.assert_allclose(c.compile_logp()(cpoint), expected, rtol=1e-12)
    # the per-run natural values agree too (and are not all alike)
    f_nc, f_c = (m.compile_fn(m.replace_rvs_by_values([m["A_run"], m["alpha_run"]]), inputs=m.value_vars,
                              on_unused_input="ignore") for m in (nc, c))
    got, want = f_c(cpoint), f_nc(point)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.ptp(want[0]) > 0 and np.ptp(want[1]) > 0


def test_unknown_parameterization_is_refused():
    with pytest.raises(ValueError, match=r"parameterization='centred' is not known; use one of \['noncentered', "
                                         r"'centered'\]"):
        bs.fit(curve_runs(), "curve_power", run_effects=("A",), parameterization="centred")


# --- the per-run log-likelihood -----------------------------------------------------------------

def test_per_run_log_likelihood_is_each_runs_exact_joint_density():
    """log_likelihood='run' stores, per draw and run, the sum of the run's pointwise terms; under ar1
    noise that is the run's joint normal density (covariance tau^2 + sigma^2 exp(-|dlog t| / ell)),
    computed here independently with scipy for a few draws."""
    from scipy.stats import multivariate_normal

    runs, law = curve_runs(seed=2), bs.get_law("chinchilla")
    spec = bs.ModelSpec.build(law, likelihood="normal", noise="ar1", run_effects=(), runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, law))
    model = build(spec, data)
    pointwise, per_run = prior_as_posterior(model, draws=20, seed=3), prior_as_posterior(model, draws=20, seed=3)
    entry = _Compiled(model)
    _add_log_likelihood(entry, pointwise, data)
    _add_log_likelihood(entry, per_run, data, "run")
    by_run = per_run.log_likelihood.dataset["log_loss"]
    assert by_run.dims == ("chain", "draw", "run") and by_run.sizes["run"] == 3
    assert list(by_run["run"].values) == ["r0", "r1", "r2"]
    assert per_run.log_likelihood.attrs["bayescale_log_likelihood"] == "run"
    terms = pointwise.log_likelihood.dataset["log_loss"]
    ids = np.asarray(runs.run_ids)[terms["checkpoint"].values]  # checkpoint coords are table rows
    for r in ("r0", "r1", "r2"):
        np.testing.assert_allclose(by_run.sel(run=r).values, terms.values[..., ids == r].sum(-1), rtol=1e-12)
    post = per_run.posterior.dataset
    df = runs.to_dataframe()
    for chain, draw in ((0, 0), (1, 7), (0, 19)):
        p = {k: float(post[k].values[chain, draw]) for k in ("E", "A", "B", "alpha", "beta", "sigma", "tau", "ell")}
        for r in ("r0", "r1", "r2"):
            rows = df["run"].to_numpy() == r
            mu = np.log(law(N=runs.N[rows], D=runs.D[rows], **{k: p[k] for k in law.param_names}))
            t = np.log(df["step"].to_numpy()[rows])
            cov = p["sigma"] ** 2 * np.exp(-np.abs(t[:, None] - t[None, :]) / p["ell"]) + p["tau"] ** 2
            expected = multivariate_normal(mean=mu, cov=cov).logpdf(np.log(runs.loss[rows]))
            assert float(by_run.sel(run=r).values[chain, draw]) == pytest.approx(expected, rel=1e-9)


def test_unknown_log_likelihood_kind_is_refused():
    with pytest.raises(ValueError, match=r"log_likelihood='checkpoint' is not known; use True"):
        bs.fit(curve_runs(), "chinchilla", log_likelihood="checkpoint")


@pytest.mark.slow
def test_per_run_log_likelihood_in_a_fit_and_in_compare():
    """A curve fit with log_likelihood='run' has the same posterior (same seed) and groups of one term
    per run; bs.compare runs leave-one-run-out on such fits and refuses to mix the two kinds."""
    kw = dict(draws=200, tune=300, chains=2, random_seed=3, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pointwise = bs.fit(curve_runs(), "chinchilla", **kw)
        per_run = bs.fit(curve_runs(), "chinchilla", log_likelihood="run", **kw)
        per_run_m2 = bs.fit(curve_runs(), "curve_power", log_likelihood="run", **kw)
    np.testing.assert_array_equal(pointwise.posterior["alpha"].values, per_run.posterior["alpha"].values)
    assert per_run.provenance["log_likelihood"] == "run" and pointwise.provenance["log_likelihood"] == "pointwise"
    ll = per_run.idata.log_likelihood.dataset["log_loss"]
    assert ll.sizes["run"] == 3
    np.testing.assert_allclose(ll.sum("run").values,
                               pointwise.idata.log_likelihood.dataset["log_loss"].sum("checkpoint").values, rtol=1e-10)
    with pytest.warns(bs.analysis.ParetoKWarning):  # 3 runs: leaving one out moves the posterior a lot
        cmp = bs.compare({"chinchilla": per_run, "curve_power": per_run_m2})
    assert set(cmp.table.index) == {"chinchilla", "curve_power"}
    high = cmp.high_k()
    assert all(set(ids) <= {"r0", "r1", "r2"} for ids in high.values()) and any(high.values())
    with pytest.raises(bs.analysis.CompareError, match="along different dims"):
        bs.compare({"pointwise": pointwise, "per_run": per_run})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        iid = bs.fit(curve_runs(), "chinchilla", noise="iid", log_likelihood="run", **kw)
    with pytest.raises(bs.analysis.checks.PredictiveCheckError, match="LOO-PIT needs one log-likelihood term"):
        bs.analysis.loo_pit(iid)


@pytest.mark.slow
def test_a_pointwise_log_likelihood_of_gigabytes_is_announced(monkeypatch):
    """Before sampling, bs.fit says how much memory the pointwise log-likelihood will take and what to
    pass instead; log_likelihood='run' and False are quiet."""
    monkeypatch.setattr(loglik, "POINTWISE_WARN_BYTES", 1000.0)  # 24 checkpoints x 40 draws x 8 B = 7.7 kB
    kw = dict(draws=20, tune=20, chains=2, random_seed=1, progressbar=False)
    with pytest.warns(bs.MemoryUseWarning, match=r"40 draws x 24 checkpoints will take 0\.0 GB .* "
                                                 r"log_likelihood='run' \(one term per run: 0 MB"):
        bs.fit(curve_runs(), "chinchilla", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.MemoryUseWarning)
        warnings.simplefilter("ignore", bs.SamplerWarning)
        bs.fit(curve_runs(), "chinchilla", log_likelihood="run", **kw)
        bs.fit(curve_runs(), "chinchilla", log_likelihood=False, **kw)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"draws": 0}, r"draws=0: give a whole number >= 1"),
    ({"chains": 0}, r"chains=0: give a whole number >= 1"),
    ({"tune": -5}, r"tune=-5: give a whole number >= 0"),
    ({"draws": 10.5}, r"draws=10.5"),
    ({"draws": True}, r"draws=True"),
    ({"target_accept": 1.5}, r"target_accept=1.5: give a probability in \(0, 1\)"),
    ({"nuts": {"target_accept": 0}}, r"target_accept=0"),
    ({"random_seed": -1}, r"random_seed must be in \[0, 2\*\*32\)"),
    ({"random_seed": 1.7}, r"random_seed must be a non-negative integer"),
])
def test_sampler_settings_are_checked_before_anything_is_built(kwargs, pattern):
    from bayescale.inference.sampling import SamplerArgumentError

    runs = bs.load_demo_runs()
    before = runs.to_dataframe().copy()
    with pytest.raises((SamplerArgumentError, ValueError), match=pattern):
        bs.fit(runs, "chinchilla", progressbar=False, **kwargs)
    assert runs.to_dataframe().equals(before)

"""The observation model: every registered noise structure and family (walked from the registries),
and a new structure added in this file alone that fits, predicts, scores and simulates."""

import numpy as np
import pytest
import xarray as xr

import bayescale as bs
from bayescale.laws import ops
from bayescale.laws.noise import (
    FAMILIES,
    SIGMA,
    STRUCTURES,
    Noise,
    NoiseError,
    NoiseParameter,
    Structure,
    register_noise,
)
from bayescale.laws.priors import Prior


def _noises():
    return [Noise(f, s) for s in sorted(STRUCTURES) for f in sorted(FAMILIES)]


def _curves():
    return bs.runs.simulate_curves("kaplan_steps", sizes=[1e7, 1e8, 1e9], steps=np.geomspace(100, 1e4, 6),
                                   sigma=0.01, tau=0.02, ell=0.5, random_seed=4)


def _table(noise):
    """A table the structure fits, with the law it is fitted with: final losses for a structure of
    final losses, training curves otherwise."""
    if noise.struct.finals_only:
        return bs.load_demo_runs(), bs.get_law("chinchilla")
    return _curves(), bs.get_law("kaplan_steps")


def _point(noise):
    """Plausible values of every noise parameter: the prior median, drawn with a fixed seed."""
    import pymc as pm

    out = {}
    for q in noise.parameters:
        out[q.name] = float(np.median(pm.draw(getattr(pm, q.prior.dist).dist(**q.prior.params), 200,
                                              random_seed=1)))
    return out


@pytest.mark.parametrize("noise", _noises(), ids=lambda n: f"{n.structure}-{n.family}")
def test_every_noise_declares_itself_and_round_trips(noise):
    assert Noise.from_dict(noise.to_dict()) == noise
    assert len(set(noise.names())) == len(noise.names())
    for q in noise.parameters:
        assert isinstance(q.prior, Prior) and q.doc and q.name
    assert STRUCTURES[noise.structure].doc
    priors = noise.default_priors(bs.get_law("chinchilla"))
    assert set(priors) == set(noise.parameter_names)


@pytest.mark.parametrize("noise", _noises(), ids=lambda n: f"{n.structure}-{n.family}")
def test_every_noise_builds_the_model_it_declares(noise):
    """The PyTensor model's density of each observation equals the family's numpy density around the
    structure's conditional, the same body run on numpy."""
    from bayescale.inference.model import build, model_data, pivots

    runs, law = _table(noise)
    spec = bs.ModelSpec.build(law, noise=noise, runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, law))
    model = build(spec, data)
    assert set(noise.parameter_names) <= set(model.named_vars)
    point = model.initial_point()
    names = [*law.param_names, *noise.parameter_names, *noise.struct.latents]
    outs = model.replace_rvs_by_values([model[n] for n in names])  # the point's values, not random draws
    values = dict(zip(names, model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point),
                      strict=True))
    logp = model.compile_fn(model.logp(vars=[model["log_loss"]], sum=False)[0], inputs=model.value_vars,
                             on_unused_input="ignore")(point)
    order = data.coords[data.obs_dim] if data.obs_dim == "checkpoint" else np.arange(len(runs))
    x = {k: runs.column(k)[order] for k in law.inputs}
    mu = np.log(law(**x, **{k: float(values[k]) for k in law.param_names}))
    y = np.log(runs.loss)[order]
    extra = noise.struct.model_data(runs, order)
    if runs.is_curves:  # and the rows' grouping by run
        extra.update(bs.laws.noise.run_rows(runs, order))
    p = {k: float(values[k]) for k in noise.parameter_names}
    p.update({k: np.asarray(values[k]) for k in noise.struct.latents})
    mean, sd = noise.struct.conditional(mu, y, p, extra)
    expected = noise.fam.logpdf((y - mean) / sd, **noise.shape_params(p)) - np.log(sd)
    np.testing.assert_allclose(logp, expected, rtol=1e-8)


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_every_structure_simulates_and_scales(structure):
    noise = Noise("normal", structure)
    runs, _ = _table(noise)
    cols = bs.laws.noise.runs_columns(runs)
    p = {k: np.full((5, 1), v) for k, v in _point(noise).items()}
    log_mu = np.zeros((5, len(runs)))
    idx = bs.laws.noise.run_codes(runs)[0]
    log_t = np.log(runs.column("step")) if runs.is_curves else None
    sim = noise.simulate(np.random.default_rng(0), log_mu, p, noise.struct.features(cols, cols), run_idx=idx,
                         log_t=log_t)
    assert sim.shape == log_mu.shape and np.all(np.isfinite(sim)) and sim.std() > 0
    scale = np.broadcast_to(noise.new_run_scale(p, noise.struct.features(cols, cols)), log_mu.shape)
    assert np.all(scale > 0)


def test_ar1_conditional_on_numpy_is_the_joint_normal_density():
    """The structure's conditional, run on numpy, multiplies to the exact joint density of a run."""
    from scipy.stats import multivariate_normal, norm

    ar1 = STRUCTURES["ar1"]
    runs = _curves()
    order = np.arange(len(runs))
    d = {**ar1.model_data(runs, order), **bs.laws.noise.run_rows(runs, order)}
    rng = np.random.default_rng(2)
    y, mu = rng.normal(0, 0.03, len(runs)), np.zeros(len(runs))
    p = {"sigma": 0.02, "tau": 0.03, "ell": 0.7}
    mean, sd = ar1.conditional(mu, y, p, d)
    total = norm.logpdf(y, mean, sd).sum()
    log_t = np.log(runs.column("step"))
    idx = bs.laws.noise.run_codes(runs)[0]
    exact = []
    for r in np.unique(idx):
        t = log_t[idx == r]
        cov = p["tau"] ** 2 + p["sigma"] ** 2 * np.exp(-np.abs(t[:, None] - t[None, :]) / p["ell"])
        exact.append(multivariate_normal(np.zeros(t.size), cov).logpdf(y[idx == r]))
    assert total == pytest.approx(sum(exact), rel=1e-10)
    # the closed form the sampler evaluates: each run's density at once
    np.testing.assert_allclose(ar1.joint(mu, y, p, d), exact, rtol=1e-10)
    assert len(d["ar1_dlog"]) < len(runs)  # the rows share steps: a table of the distinct ones


def test_the_sampled_model_holds_the_joint_density_of_each_run():
    """``build(..., joint=True)`` (what fits sample) has the pointwise model's log density and
    gradient at any point; the pointwise model keeps one term per checkpoint."""
    from bayescale.inference.model import build, model_data, pivots

    runs = _curves()
    spec = bs.ModelSpec.build("kaplan_steps", noise="ar1", likelihood="normal", runs=runs)
    data = model_data(runs, spec, pivot=pivots(runs, spec.law))
    pointwise, joint = build(spec, data), build(spec, data, joint=True)
    point = pointwise.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in point.items()}
    f = [m.logp_dlogp_function(ravel_inputs=True) for m in (pointwise, joint)]
    for fn in f:
        fn.set_extra_values({})
    x = np.concatenate([np.ravel(point[v.name]) for v in pointwise.value_vars])
    (lp0, g0), (lp1, g1) = (fn(x) for fn in f)
    assert lp1 == pytest.approx(lp0, rel=1e-10)
    np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8 * np.abs(g0).max())
    rows = pointwise.compile_fn(pointwise.logp(vars=[pointwise["log_loss"]], sum=False)[0])(point)
    assert rows.shape == (len(runs),)


def test_noise_errors_name_the_choices():
    with pytest.raises(NoiseError, match="noise='white' is not known; use one of"):
        Noise("normal", "white")
    with pytest.raises(NoiseError, match="likelihood='huber' is not known"):
        Noise("huber")
    with pytest.raises(NoiseError, match="one final loss per run"):
        bs.ModelSpec.build("chinchilla", noise="ar1", runs=bs.load_demo_runs())


# -- a new noise structure, added here and nowhere else --------------------------------------------


class LogCScale(Structure):
    """Noise whose scale grows with compute: ``sd = sigma exp(gamma log(C / C_ref))``, C_ref the
    geometric mean of the fitted runs' C."""

    name = "test_log_c_scale"
    doc = "iid noise whose sd changes with log C"
    scale_doc = "sigma exp(gamma log(C / C_ref))"
    parameters = (SIGMA, NoiseParameter("gamma", Prior("Normal", mu=0.0, sigma=0.3), "change of log sd per unit log C"))

    def features(self, columns, reference):
        return {"log_c_rel": np.log(columns["C"]) - np.mean(np.log(reference["C"]))}

    def scale(self, p, f):
        return p["sigma"] * ops.exp(p["gamma"] * f["log_c_rel"])


@pytest.fixture
def log_c_noise():
    register_noise(LogCScale, overwrite=True)
    yield Noise("normal", "test_log_c_scale")
    STRUCTURES.pop("test_log_c_scale", None)


@pytest.mark.slow
def test_a_new_noise_structure_fits_predicts_scores_and_simulates(log_c_noise):
    truth = {"sigma": 0.02, "gamma": 0.25}
    design = bs.runs.isoflop_design([1e17, 1e18, 1e19, 1e20, 1e21, 1e22], [0.3, 0.5, 0.8, 1.2, 2.0, 3.3])
    runs = bs.runs.simulate_runs("chinchilla", design, noise=log_c_noise, noise_params=truth, random_seed=11)
    # simulated: the spread of log residuals grows with C as declared
    resid = np.log(runs.loss) - np.log(bs.get_law("chinchilla")(N=runs.N, D=runs.D, **bs.get_law("chinchilla").example))
    small, large = resid[runs.C < 1e19], resid[runs.C > 1e20]
    assert large.std() > 2 * small.std()

    fit = bs.fit(runs, "chinchilla", noise="test_log_c_scale", draws=400, tune=600, chains=2, random_seed=3,
                 progressbar=False)
    assert fit.noise.structure == "test_log_c_scale" and "gamma" in fit.posterior
    lo, hi = np.quantile(fit.posterior["gamma"].values, [0.03, 0.97])
    assert lo < truth["gamma"] < hi and lo > 0
    # predicts: a new run's interval is wider at large C than at small C, by the fitted gamma
    small_c = bs.loss_interval(fit, N=1e8, D=1e8 * 20, kind="new_run")
    large_c = bs.loss_interval(fit, N=3e9, D=3e9 * 20, kind="new_run")
    width = lambda t: float(np.log(t["upper"] / t["lower"]).iloc[0])  # noqa: E731
    assert width(large_c) > 1.5 * width(small_c)
    # scores (exact mixture of the declared family) and the saved fit reads back with its noise
    held = bs.runs.simulate_runs("chinchilla", bs.runs.isoflop_design([3e22], [0.5, 1.0, 2.0]),
                                 noise=log_c_noise, noise_params=truth, random_seed=12)
    table = bs.analysis.score_runs(fit, held)
    assert np.all(np.isfinite(table["log_density"])) and table["pit"].between(0, 1).all()
    lpd = bs.analysis.log_predictive_density(fit, held.loss, N=held.N, D=held.D)
    np.testing.assert_allclose(lpd + np.log(held.loss), table["log_density"], rtol=1e-8)
    draws = bs.analysis.loss_draws(fit, kind="new_run", N=held.N, D=held.D)
    assert isinstance(draws, xr.DataArray) and draws.dims == ("chain", "draw", "point")


def test_a_structure_is_known_only_while_registered(log_c_noise):
    assert "test_log_c_scale" in bs.laws.list_noise()
    STRUCTURES.pop("test_log_c_scale")
    with pytest.raises(NoiseError, match="noise='test_log_c_scale' is not known"):
        Noise("normal", "test_log_c_scale")


def test_the_default_structure_follows_the_table():
    from bayescale.laws.noise import default_structure

    demo = bs.load_demo_runs()
    assert default_structure(demo) == "discrepancy" and default_structure(_curves()) == "ar1"
    assert bs.ModelSpec.build("chinchilla", runs=demo).noise.structure == "discrepancy"
    assert bs.ModelSpec.build("chinchilla").noise.structure == "iid"  # no table: nothing to measure from
    d = STRUCTURES["discrepancy"]
    cols = bs.laws.noise.runs_columns(demo)
    f = d.features({"C": np.array([cols["C"].max() * 10, cols["C"].min() / 100, cols["C"].max()])}, cols)
    np.testing.assert_allclose(f["decades_out"], [1.0, 2.0, 0.0])
    # a table without C (final checkpoints of a step table) is measured along N
    n_only = {"N": cols["N"], "step": np.ones_like(cols["N"])}
    f = d.features({"N": np.array([cols["N"].max() * 10]), "step": np.ones(1)}, n_only)
    np.testing.assert_allclose(f["decades_out"], [1.0])
    with pytest.raises(NoiseError, match="noise='iid'"):
        d.features({"step": np.ones(1)}, {"step": np.ones(3)})


def test_discrepancy_simulates_normal_law_error_beyond_the_runs_and_family_noise_on_each_run():
    d = STRUCTURES["discrepancy"]
    n = 400_000
    f = {"decades_out": np.r_[np.zeros(n), np.full(n, 2.0)]}
    p = {"sigma": np.array([[0.01]]), "kappa": np.array([[0.05]]), "nu": np.array([[3.0]])}
    sim = Noise("student_t", "discrepancy").simulate(np.random.default_rng(0), np.zeros((1, 2 * n)), p, f)[0]
    inside, beyond = sim[:n], sim[n:]
    assert np.std(inside) == pytest.approx(0.01 * np.sqrt(3.0), rel=0.05)  # t(3): variance 3 sigma^2
    assert np.var(beyond) == pytest.approx(0.1**2 + 3 * 0.01**2, rel=0.03)
    assert d.law_error(p, f)[0, 0] == 0 and d.law_error(p, f)[0, -1] == pytest.approx(0.1)

"""Prior power-scaling, posterior correlations, identifiability of a design, extrapolation distance."""

import dataclasses
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayescale as bs
from bayescale.analysis.sensitivity import (
    PARETO_K_MAX,
    PriorSensitivity,
    PriorSensitivityWarning,
    SensitivityError,
    extrapolation_decades,
    identifiability,
    posterior_correlations,
    power_scale_weights,
    prior_sensitivity,
    strong_correlations,
)
from bayescale.plots.sensitivity import plot_pair, plot_prior_sensitivity

from ..conftest import CHINCHILLA_TRUE, fake_fit, isoflop_runs

SHAPE = (4, 1000)
Z90 = stats.norm.ppf(0.95)

# A conjugate case: theta = log xc has a Normal(M0, S0) prior and a Normal likelihood centred at YBAR
# with sd SL, so prior**alpha x likelihood is Normal with known mean and sd for every alpha.
M0, S0, YBAR, SL = 0.0, 1.0, 2.0, 1.0


def power_scaled_posterior(alpha: float) -> tuple[float, float]:
    prec = alpha / S0**2 + 1 / SL**2
    return (alpha * M0 / S0**2 + YBAR / SL**2) / prec, prec**-0.5


def one_input_runs() -> bs.RunTable:
    df = pd.DataFrame({"C": [1e18, 1e19, 1e20, 1e21], "loss": [3.0, 2.8, 2.6, 2.5]})
    return bs.RunTable.from_dataframe(df, N=None)


def conjugate_fit(theta: np.ndarray, log_prior: dict[str, np.ndarray]):
    """kaplan_power with alpha = 1 and C = 1: the loss is xc = exp(theta) exactly."""
    fit = fake_fit("kaplan_power", {"xc": np.exp(theta), "alpha": np.ones(theta.shape),
                                    "sigma": np.full(theta.shape, 0.01)}, one_input_runs())
    fit.idata["log_prior"] = xr.DataTree(xr.Dataset({k: (("chain", "draw"), v) for k, v in log_prior.items()}))
    return fit


@pytest.fixture
def conjugate():
    m, s = power_scaled_posterior(1.0)
    theta = np.random.default_rng(5).normal(m, s, SHAPE)
    # a constant term (alpha's prior at a fixed alpha) must not change anything
    return theta, conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, S0),
                                        "alpha": np.full(SHAPE, -0.3)})


def with_log_prior(fit, **terms):
    fit.idata["log_prior"] = xr.DataTree(xr.Dataset({k: (("chain", "draw"), v) for k, v in terms.items()}))
    return fit


# -- power-scaling ------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_power_scaling_recovers_conjugate_posterior(conjugate, alpha):
    """Weighted mean and sd match prior**alpha x likelihood; with (alpha - 1) flipped in sign they
    would match 2 - alpha instead, which is 0.5 or more away."""
    theta, fit = conjugate
    w, k = power_scale_weights(fit, alpha)
    assert w.dims == ("chain", "draw") and w.shape == SHAPE
    assert np.isclose(float(w.sum()), 1.0, rtol=1e-12)
    assert k < PARETO_K_MAX
    w = w.values
    mean = float(np.sum(w * theta))
    sd = float(np.sqrt(np.sum(w * (theta - mean) ** 2)))
    exp_mean, exp_sd = power_scaled_posterior(alpha)
    mcse = exp_sd / np.sqrt(1.0 / np.sum(w**2))  # importance-sampling effective sample size
    assert abs(mean - exp_mean) < 4 * mcse, (mean, exp_mean, mcse)
    assert abs(sd - exp_sd) < 0.05 * exp_sd, (sd, exp_sd)
    flipped_mean, _ = power_scaled_posterior(2.0 - alpha)
    assert abs(mean - flipped_mean) > 20 * mcse


def test_prior_sensitivity_interval_matches_conjugate_quantiles(conjugate):
    _, fit = conjugate
    sens = prior_sensitivity(fit, alphas=(0.5, 1.0, 2.0), ci_prob=0.9, kind="mean", C=1.0)
    assert isinstance(sens, PriorSensitivity)
    t = sens.table.set_index("alpha")
    assert list(t.columns[:2]) == ["point", "C"]
    for alpha in (0.5, 2.0):
        m, s = power_scaled_posterior(alpha)
        assert np.isclose(t.loc[alpha, "median"], np.exp(m), rtol=0.03)
        assert np.isclose(t.loc[alpha, "lower"], np.exp(m - Z90 * s), rtol=0.05)
        assert np.isclose(t.loc[alpha, "upper"], np.exp(m + Z90 * s), rtol=0.05)
    # a stronger prior centred at 0 pulls the loss = exp(theta) down and narrows it
    assert t.loc[2.0, "median"] < t.loc[1.0, "median"] < t.loc[0.5, "median"]
    assert (t.loc[2.0, "upper"] - t.loc[2.0, "lower"]) < (t.loc[0.5, "upper"] - t.loc[0.5, "lower"])
    assert np.isnan(sens.pareto_k[1.0]) and all(np.isfinite(sens.pareto_k[a]) for a in (0.5, 2.0))
    assert sens.scaled == ("log_xc", "alpha")
    assert sens.sensitivity.loc["xc", "prior"] > 0.05
    assert sens.sensitivity.loc["alpha", "diagnosis"] == "constant in the posterior"
    text = repr(sens)
    assert "alpha   median" in text and "at C=1" in text and "twice as strong" in text


def test_alpha_one_equals_unweighted_interval_exactly(chinchilla_fake_fit):
    rng = np.random.default_rng(1)
    fit = with_log_prior(chinchilla_fake_fit, alpha=rng.normal(size=(4, 250)), beta=rng.normal(size=(4, 250)))
    N, D = [7e10, 1e9], [1.4e12, 2e10]
    for kind in ("mean", "new_run"):
        sens = prior_sensitivity(fit, alphas=(1.0, 2.0), ci_prob=0.8, kind=kind, N=N, D=D)
        plain = bs.loss_interval(fit, ci_prob=0.8, ci_kind="eti", kind=kind, N=N, D=D)
        got = sens.table[sens.table["alpha"] == 1.0].reset_index(drop=True)
        for col in ("N", "D", "C", "median", "lower", "upper"):
            np.testing.assert_array_equal(got[col].to_numpy(), plain[col].to_numpy(), err_msg=col)
        assert got["point"].tolist() == [0, 1]
        assert len(sens.table) == 4


def test_scaling_a_subset_of_priors(conjugate):
    theta, fit = conjugate
    noise = np.random.default_rng(9).normal(0, 0.3, SHAPE)
    both = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, S0), "alpha": noise})
    only = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, S0)})
    a = prior_sensitivity(both, alphas=(0.5, 2.0), kind="mean", var_names=["xc"], C=1.0)
    b = prior_sensitivity(only, alphas=(0.5, 2.0), kind="mean", C=1.0)
    assert a.scaled == ("log_xc",)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = prior_sensitivity(both, alphas=(0.5, 2.0), kind="mean", C=1.0)  # scales the noise too
    assert not np.allclose(c.table["median"], b.table["median"])
    # natural, sampled and pivoted names all reach the same prior
    wa, _ = power_scale_weights(both, 2.0, var_names=["log_xc"])
    wb, _ = power_scale_weights(both, 2.0, var_names=["xc"])
    np.testing.assert_array_equal(wa.values, wb.values)


def test_log_prior_terms_with_extra_dims_are_summed(conjugate):
    """Run effects (curve fits) have one prior term per run: they enter the weight summed."""
    theta, _ = conjugate
    per_run = np.random.default_rng(4).normal(0, 0.2, (*SHAPE, 3))
    split = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, S0)})
    split.idata["log_prior"] = xr.DataTree(xr.Dataset({
        "log_xc": (("chain", "draw"), stats.norm.logpdf(theta, M0, S0)),
        "z_run": (("chain", "draw", "run"), per_run)}))
    summed = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, S0), "z_run": per_run.sum(-1)})
    wa, ka = power_scale_weights(split, 2.0)
    wb, kb = power_scale_weights(summed, 2.0)
    np.testing.assert_array_equal(wa.values, wb.values)
    assert ka == kb


def test_unreliable_reweighting_warns_and_says_refit():
    theta = np.random.default_rng(2).normal(0, 1, SHAPE)
    fit = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, 0, 0.2)})  # prior far narrower than posterior
    with pytest.warns(PriorSensitivityWarning, match="refit with the changed prior"):
        sens = prior_sensitivity(fit, alphas=(0.3, 1.0, 2.0), kind="mean", C=1.0)
    assert sens.pareto_k[0.3] > PARETO_K_MAX
    assert sens.unreliable == [0.3]
    assert any("alpha=0.3" in p and "Pareto k" in p for p in sens.problems)
    assert "unreliable" in repr(sens)


def test_missing_log_prior_and_bad_requests_are_explained(chinchilla_fake_fit, conjugate):
    with pytest.raises(SensitivityError, match="no log_prior group.*refit with bs.fit"):
        prior_sensitivity(chinchilla_fake_fit, N=7e10, D=1.4e12)
    with pytest.raises(SensitivityError, match="no log_prior group"):
        power_scale_weights(chinchilla_fake_fit, 2.0)
    _, fit = conjugate
    with pytest.raises(SensitivityError, match="no prior named 'gamma'.*log_xc"):
        prior_sensitivity(fit, var_names=["gamma"], C=1.0)
    with pytest.raises(SensitivityError, match="alpha must be a finite number > 0.*got -1"):
        prior_sensitivity(fit, alphas=(-1.0, 2.0), C=1.0)
    with pytest.raises(SensitivityError, match="ci_prob"):
        prior_sensitivity(fit, ci_prob=1.5, C=1.0)
    short = conjugate_fit(np.zeros((4, 10)), {"log_xc": np.zeros((4, 10))})
    short.idata["log_prior"] = xr.DataTree(xr.Dataset({"log_xc": (("chain", "draw"), np.zeros((2, 10)))}))
    with pytest.raises(SensitivityError, match="belongs to another posterior"):
        power_scale_weights(short, 2.0)


# -- correlations -------------------------------------------------------------------------------


def orthonormal(n: int, k: int, seed: int) -> np.ndarray:
    """k centred, mutually orthogonal columns of unit sd (sample correlations exactly 0)."""
    z = np.random.default_rng(seed).normal(size=(n, k))
    z -= z.mean(axis=0)
    q, _ = np.linalg.qr(z)
    return q * np.sqrt(n)


def test_posterior_correlations_exact_on_hand_made_draws():
    n = 1000
    u = orthonormal(n, 5, seed=3)
    rho = 0.6
    log_a_pivot, alpha = 0.3 * u[:, 0], 0.02 * u[:, 1]  # independent at the pivot
    log_np = np.log(1e9)
    draws = {
        "E": np.exp(0.5 + 0.01 * u[:, 2]),
        "A": np.exp(6.0 + log_a_pivot + alpha * log_np),  # log A = log A_pivot + alpha log N_pivot
        "B": np.exp(6.0 + 0.2 * u[:, 3]),
        "alpha": 0.34 + alpha,
        "beta": 0.28 + 0.02 * (rho * u[:, 3] + np.sqrt(1 - rho**2) * u[:, 4]),
        "sigma": np.full(n, 0.01),  # constant: NaN correlations, no warning
    }
    fit = fake_fit("chinchilla", {k: v.reshape(2, 500) for k, v in draws.items()})
    fit = dataclasses.replace(fit, pivot={"N": 1e9, "D": 1.0})
    nat = posterior_correlations(fit)
    assert list(nat.columns) == ["log_E", "log_A", "log_B", "alpha", "beta"]
    assert (nat.index == nat.columns).all()
    c = log_np * 0.02
    expected = c / np.sqrt(0.3**2 + c**2)  # corr(u0 * 0.3 + c u1, u1)
    assert nat.loc["log_A", "alpha"] == pytest.approx(expected, abs=1e-12)
    assert nat.loc["log_B", "beta"] == pytest.approx(rho, abs=1e-12)
    assert nat.loc["log_E", "alpha"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(np.diag(nat), 1.0)
    samp = posterior_correlations(fit, scale="sampled")  # computed from the natural draws and the pivot
    assert list(samp.columns) == ["log_E", "log_A_pivot", "log_B_pivot", "alpha", "beta"]
    assert samp.loc["log_A_pivot", "alpha"] == pytest.approx(0.0, abs=1e-12)
    assert samp.loc["log_B_pivot", "beta"] == pytest.approx(rho, abs=1e-12)  # D's pivot is 1
    sub = posterior_correlations(fit, var_names=["A", "alpha", "sigma"])
    assert list(sub.columns) == ["log_A", "alpha", "sigma"]
    assert np.isnan(sub.loc["sigma", "alpha"]) and sub.loc["sigma", "sigma"] == 1.0


def test_strong_correlations_flag_the_ridge():
    u = orthonormal(1000, 2, seed=4)
    draws = {"E": np.exp(0.5 + 0.01 * u[:, 0]),
             "A": np.exp(6 + 0.5 * u[:, 1]),
             "B": np.exp(6 + 0.1 * (0.95 * u[:, 0] + np.sqrt(1 - 0.95**2) * u[:, 1])),
             "alpha": 0.34 + 0.01 * u[:, 1],  # log A and alpha: rho = 1
             "beta": 0.28 + 0.01 * (0.5 * u[:, 0] + np.sqrt(0.75) * u[:, 1]),  # rho <= 0.87 with all
             "sigma": np.full(1000, 0.01)}
    fit = fake_fit("chinchilla", {k: v.reshape(4, 250) for k, v in draws.items()})
    corr = posterior_correlations(fit)
    notes = strong_correlations(corr, law="chinchilla")
    assert len(notes) == 2
    assert notes[0].startswith("log_E and log_B are strongly correlated (rho = +0.95): the data constrain")
    assert notes[1].startswith("log_A and alpha are strongly correlated (rho = +1.00): the amplitude-exponent "
                               "ridge. The runs pin down A / N**alpha")
    assert strong_correlations(fit) == notes
    assert strong_correlations(corr, threshold=0.99, law="chinchilla") == [notes[1]]
    no_law = strong_correlations(corr)
    assert len(no_law) == 2 and "ridge" not in no_law[1]
    assert strong_correlations(posterior_correlations(fit, var_names=["E", "alpha", "beta"])) == []
    with pytest.raises(SensitivityError, match="threshold"):
        strong_correlations(corr, threshold=1.5)
    with pytest.raises(SensitivityError, match="scale must be"):
        posterior_correlations(fit, scale="log")
    with pytest.raises(SensitivityError, match="unknown parameter 'gamma'"):
        posterior_correlations(fit, var_names=["A", "gamma"])


# -- identifiability and extrapolation distance -------------------------------------------------


def runs_from(N, D) -> bs.RunTable:
    N, D = np.asarray(N, float), np.asarray(D, float)
    loss = bs.get_law("chinchilla")(N=N, D=D, **CHINCHILLA_TRUE)
    return bs.RunTable.from_dataframe(pd.DataFrame({"N": N, "D": D, "loss": loss}))


def test_good_isoflop_design_is_identifiable(chinchilla_fake_fit):
    assert identifiability(isoflop_runs(), "chinchilla") == []
    assert identifiability(chinchilla_fake_fit) == []
    assert identifiability(isoflop_runs(), bs.get_law("kaplan")) == []
    assert identifiability(isoflop_runs(), "power_law") == []  # 6 budgets C


def test_two_sizes_warn():
    N = np.repeat([1e8, 1e9], 10)
    D = np.tile(np.geomspace(1e9, 1e11, 10), 2)
    out = identifiability(runs_from(N, D), "chinchilla")
    assert len(out) == 1
    assert out[0].startswith("only 2 distinct value(s) of N (1e+08, 1e+09)") and "(A, alpha)" in out[0]
    # values within 1% count as one: a third size at 1.005e9 does not help
    N3 = np.concatenate([N, [1.005e9] * 3])
    D3 = np.concatenate([D, [2e9, 2e10, 2e11]])
    assert identifiability(runs_from(N3, D3), "chinchilla")[0].startswith("only 2 distinct")


def test_constant_tokens_per_parameter_warns():
    N = np.repeat(np.geomspace(1e7, 1e10, 8), 2)
    out = identifiability(runs_from(N, 20 * N), "chinchilla")
    assert len(out) == 1
    assert "N and D move together" in out[0] and "+1.000" in out[0] and "D/N about 20" in out[0]
    near = identifiability(runs_from(N, 20 * N * np.exp(np.random.default_rng(0).normal(0, 0.05, N.size))),
                           "chinchilla")
    assert len(near) == 1 and "move together" in near[0]  # |r| > 0.99 even with a little spread


def test_few_runs_warn():
    runs = isoflop_runs(budgets=(1e18, 1e20), factors=(0.3, 0.6, 1.0, 1.7, 3.0))
    out = identifiability(runs, "chinchilla")
    assert out == [out[0]] and out[0].startswith("only 10 runs for a law of 5 parameters")
    with pytest.raises(SensitivityError, match="needs law="):
        identifiability(runs)


def test_extrapolation_decades_exact(chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    N, D = fit.runs.N, fit.runs.D
    C = 6 * N * D
    q_N = np.array([10 * N.max(), np.sqrt(N.min() * N.max()), N.min() / 1000])
    q_D = np.array([D.max(), D.min() / 100, D.min()])
    out = extrapolation_decades(fit, N=q_N, D=q_D)
    assert set(out) == {"N", "D", "C"}
    np.testing.assert_allclose(out["N"], [1.0, 0.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(out["D"], [0.0, 2.0, 0.0], atol=1e-12)
    qc = 6 * q_N * q_D
    exp_c = np.where(qc > C.max(), np.log10(qc / C.max()), np.where(qc < C.min(), np.log10(C.min() / qc), 0))
    np.testing.assert_allclose(out["C"], exp_c, atol=1e-12)
    # Chinchilla's 70B on 1.4T tokens against runs up to 2.5e10 params and 5e11 tokens
    far = extrapolation_decades(fit, N=7e10, D=1.4e12)
    assert far["N"][0] == pytest.approx(np.log10(7e10 / N.max()))
    assert far["C"][0] == pytest.approx(np.log10(5.88e23 / C.max()))


# -- plots --------------------------------------------------------------------------------------


def test_plot_prior_sensitivity_marks_unreliable(tmp_path):
    m, s = power_scaled_posterior(1.0)
    theta = np.random.default_rng(5).normal(m, s, SHAPE)
    fit = conjugate_fit(theta, {"log_xc": stats.norm.logpdf(theta, M0, 0.8)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sens = prior_sensitivity(fit, alphas=(0.2, 0.5, 0.8, 1.0, 1.25, 2.0), kind="mean", C=[1.0, 0.5])
    assert sens.unreliable == [0.2], sens.pareto_k
    assert any(issubclass(w.category, PriorSensitivityWarning) for w in caught)
    ax = plot_prior_sensitivity(sens)
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.2", "0.5", "0.8", "1", "1.25", "2"]
    assert "alpha" in ax.get_xlabel() and "90% interval" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["C=1", "C=0.5", "Pareto k > 0.7: unreliable, refit"]
    medians = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
    assert len(medians) == 2
    t0 = sens.table[sens.table["point"] == 0].sort_values("alpha")
    np.testing.assert_allclose(medians[0].get_ydata(), t0["median"])
    red = [ln for ln in ax.lines
           if ln.get_marker() == "o" and ln.get_markeredgecolor() == "red" and len(ln.get_xdata())]
    assert len(red) == 2 and all(len(ln.get_xdata()) == 1 for ln in red)  # the alpha=0.2 point of each
    lo, hi = ax.get_ylim()
    assert lo <= sens.table["lower"].min() and hi >= sens.table["upper"].max()
    ax.figure.savefig(tmp_path / "prior_sensitivity.png", dpi=90)
    assert (tmp_path / "prior_sensitivity.png").stat().st_size > 10_000
    plt.close("all")


def test_plot_pair_shows_ridge(tmp_path):
    n = 2000
    u = orthonormal(n, 4, seed=6)
    draws = {"E": np.exp(0.5 + 0.02 * u[:, 0]), "A": np.exp(6 + 0.4 * u[:, 1] + 0.03 * u[:, 2]),
             "B": np.exp(6 + 0.3 * u[:, 3]), "alpha": 0.34 + 0.02 * u[:, 1], "beta": 0.28 + 0.02 * u[:, 3],
             "sigma": np.full(n, 0.01)}
    fit = fake_fit("chinchilla", {k: v.reshape(4, 500) for k, v in draws.items()})
    fig = plot_pair(fit, max_draws=500, random_seed=0)
    axes = np.array(fig.axes).reshape(5, 5)
    visible = [[ax.get_visible() for ax in row] for row in axes]
    assert visible == [[j <= i for j in range(5)] for i in range(5)]
    assert [axes[4, j].get_xlabel() for j in range(5)] == ["log_E", "log_A", "log_B", "alpha", "beta"]
    assert [axes[i, 0].get_ylabel() for i in range(1, 5)] == ["log_A", "log_B", "alpha", "beta"]
    corr = posterior_correlations(fit)
    text = axes[3, 1].texts[0]  # alpha against log_A
    assert text.get_text() == f"rho = {corr.loc['alpha', 'log_A']:+.2f}" and text.get_color() == "red"
    assert axes[4, 3].texts[0].get_color() == "black"  # beta against alpha: uncorrelated
    assert axes[4, 3].texts[0].get_text() == "rho = +0.00"  # not "-0.00"
    fig.canvas.draw()
    for i in range(1, 5):
        for j in range(i):  # each correlation is written inside its own panel
            t, box = axes[i, j].texts[0].get_window_extent(), axes[i, j].get_window_extent()
            assert box.x0 <= t.x0 and t.x1 <= box.x1 and box.y0 <= t.y0 and t.y1 <= box.y1, (i, j)
    assert len(axes[3, 1].lines[0].get_xdata()) == 500
    assert len(axes[2, 2].patches) == 40  # histogram on the diagonal
    fig.savefig(tmp_path / "pair.png", dpi=80)
    assert (tmp_path / "pair.png").stat().st_size > 20_000
    again = plot_pair(fit, max_draws=500, random_seed=0)
    np.testing.assert_array_equal(np.array(again.axes[5].lines[0].get_xdata()), axes[1, 0].lines[0].get_xdata())
    plt.close("all")


# -- real sampling ------------------------------------------------------------------------------


@pytest.mark.slow
def test_prior_sensitivity_on_a_real_fit(tmp_path):
    runs = isoflop_runs(noise_sd=0.02, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        # noise="iid": the data decide every parameter here (the default's kappa is its prior by design)
        fit = bs.fit(runs, "chinchilla", noise="iid", likelihood="normal", chains=2, draws=400, tune=400,
                     random_seed=11, progressbar=False)
    assert set(fit.idata.log_prior.dataset.data_vars) == {"log_E", "log_A_pivot", "log_B_pivot", "alpha",
                                                          "beta", "sigma"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorSensitivityWarning)  # this design is benign: no k > 0.7
        sens = prior_sensitivity(fit, N=7e10, D=1.4e12)
    t = sens.table.set_index("alpha")
    assert list(t.index) == [0.5, 0.8, 1.0, 1.25, 2.0]
    plain = bs.loss_interval(fit, ci_kind="eti", kind="new_run", N=7e10, D=1.4e12)
    assert t.loc[1.0, "lower"] == plain["lower"][0] and t.loc[1.0, "upper"] == plain["upper"][0]
    assert np.isfinite(t[["median", "lower", "upper"]].to_numpy()).all()
    ks = [sens.pareto_k[a] for a in (0.5, 0.8, 1.25, 2.0)]
    assert all(np.isfinite(k) and k < PARETO_K_MAX for k in ks), ks
    width1 = t.loc[1.0, "upper"] - t.loc[1.0, "lower"]
    for a in (0.5, 2.0):  # 42 runs decide this loss: the prior moves it by a fraction of its interval
        assert abs(t.loc[a, "median"] - t.loc[1.0, "median"]) < 0.25 * width1
        assert 0.7 < (t.loc[a, "upper"] - t.loc[a, "lower"]) / width1 < 1.4
        assert not np.allclose(t.loc[a, ["median", "lower", "upper"]], t.loc[1.0, ["median", "lower", "upper"]],
                               rtol=1e-6)
    s = sens.sensitivity
    assert list(s.index) == ["E", "A", "B", "alpha", "beta", "sigma"]
    assert (s["likelihood"] > 0.05).all()  # the data inform every parameter
    only = prior_sensitivity(fit, var_names=["alpha", "beta"], alphas=(2.0,), kind="mean", N=7e10, D=1.4e12)
    assert only.scaled == ("alpha", "beta")
    # the design is fine, the 70B query lies 0.45 decades beyond the largest N, and the natural
    # amplitudes ride the exponent ridge more than the pivoted ones
    assert identifiability(fit) == []
    assert extrapolation_decades(fit, N=7e10, D=1.4e12)["N"][0] == pytest.approx(np.log10(7e10 / runs.N.max()))
    nat, samp = posterior_correlations(fit), posterior_correlations(fit, scale="sampled")
    assert abs(nat.loc["log_A", "alpha"]) > 0.9
    assert abs(samp.loc["log_A_pivot", "alpha"]) < abs(nat.loc["log_A", "alpha"])
    assert any("log_A and alpha" in n for n in strong_correlations(fit))
    plot_prior_sensitivity(sens).figure.savefig(tmp_path / "real_prior_sensitivity.png", dpi=90)
    plot_pair(fit).savefig(tmp_path / "real_pair.png", dpi=70)
    plot_pair(fit, scale="sampled").savefig(tmp_path / "real_pair_sampled.png", dpi=70)
    plt.close("all")

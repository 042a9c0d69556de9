"""Fitting training curves with real sampling (issue 3): recovery with run-aware noise, the naive
iid model's too-narrow intervals, forecasts, and hierarchical per-run curves."""

import warnings

import numpy as np
import pytest

import bayescale as bs

pytestmark = pytest.mark.slow

LAW = bs.get_law("kaplan_steps")
TRUTH = LAW.example


@pytest.fixture(scope="module")
def simulated():
    runs = bs.runs.simulate_curves(LAW, TRUTH, sizes=np.geomspace(1e7, 1e9, 5), steps=np.geomspace(500, 5e4, 30),
                                   sigma=0.01, tau=0.02, ell=0.5, random_seed=3)
    df = runs.to_dataframe()
    big = df.run == "N=1e+09"
    last = df[big].iloc[-1]
    return runs.filter(~(big & (df.step > 5e3)).to_numpy()), float(last.loss)


@pytest.fixture(scope="module")
def fits(simulated):
    runs, _ = simulated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        return {noise: bs.fit(runs, LAW, noise=noise, draws=500, tune=500, random_seed=4, progressbar=False)
                for noise in ("ar1", "iid")}


def test_run_aware_fit_recovers_the_law(fits):
    fit = fits["ar1"]
    summ = fit.summary(ci_prob=0.94)
    for name, value in TRUTH.items():
        assert summ.loc[name, "hdi94_lb"] < value < summ.loc[name, "hdi94_ub"], name
    diag = fit.diagnostics()
    assert diag["max_r_hat"] < 1.02 and diag["divergences"] <= 2
    assert {"tau", "ell"} <= set(summ.index)


def test_iid_noise_is_overconfident(fits):
    """150 checkpoints of 5 runs treated as 150 runs: the exponent's interval shrinks several-fold."""
    sd = {k: float(f.posterior["aN"].std()) for k, f in fits.items()}
    assert sd["iid"] < 0.4 * sd["ar1"]


def test_forecast_of_the_cut_run_covers_its_final_loss(fits, simulated):
    _, final = simulated
    # one dataset: the 99% interval (benchmarks/curves_recovery.py measures 90% coverage over many)
    table = bs.forecast_run(fits["ar1"], run="N=1e+09", at=5e4, ci_prob=0.99)
    assert table.lower[0] < final < table.upper[0]
    assert abs(table["median"][0] / final - 1) < 0.05


def test_hierarchical_per_run_curves():
    """curve_power with per-run A and alpha partially pooled: fits, and a new size's forecast
    widens with the fitted run-to-run spread of the exponent."""
    law = bs.get_law("curve_power")
    truth = dict(law.example)
    rng = np.random.default_rng(7)
    runs_list = []
    for k, N in enumerate(np.geomspace(1e7, 1e9, 6)):
        p = dict(truth, alpha=truth["alpha"] * np.exp(rng.normal(0, 0.1)))
        runs_list.append(bs.runs.simulate_curves(law, p, sizes=[N], steps=np.geomspace(1e3, 1e5, 15),
                                                 tokens_per_step=1e6, sigma=0.005, random_seed=k).to_dataframe())
    import pandas as pd

    df = pd.concat(runs_list, ignore_index=True)
    runs = bs.RunTable.from_dataframe(df, run="run", step="step", D="D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, law, run_effects=("alpha",), noise="iid", draws=400, tune=600,
                     random_seed=2, progressbar=False)
    post = fit.idata.posterior
    assert post["alpha_run"].sizes["run"] == 6 and post["A_run"].sizes["run"] == 6
    sd = float(post["alpha_run_sd"].median())
    assert 0.03 < sd < 0.3  # truth 0.1
    new = bs.analysis.forecast_draws(fit, N=3e9, D=1e11, at=[1e5])
    assert np.isfinite(new.values).all()


def test_curve_fit_round_trips_through_netcdf(fits, tmp_path):
    fit = fits["ar1"]
    fit.save(tmp_path / "curves.nc")
    again = bs.load_fit(tmp_path / "curves.nc")
    assert again.noise == fit.noise and again.noise.structure == "ar1" and again.runs.curve_axis == "step" and again.is_curve_fit
    a = bs.forecast_run(fit, run="N=1e+09", at=5e4, random_seed=1)
    b = bs.forecast_run(again, run="N=1e+09", at=5e4, random_seed=1)
    assert a.equals(b)

"""Muennighoff et al.'s data-constrained law: its math, the run table carrying U, recovery, real data."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

import bayescale as bs
from bayescale.laws import ops
from bayescale.laws.data_constrained import MUENNIGHOFF2023_C4, optimal_unique_parameters
from bayescale.runs.table import MissingColumnError, NonPositiveError
from tests.laws import test_laws as registry
from tests.conftest import SHARED, shared_file

LAW = bs.get_law("data_constrained")
CHIN = bs.get_law("chinchilla")
CHIN_PARAMS = {k: MUENNIGHOFF2023_C4[k] for k in CHIN.param_names}


# -- the registry-wide law checks, run on this law ------------------------------------------------
def test_registry_checks_pass():
    assert "data_constrained" in bs.laws.list_laws()
    registry.test_numpy_and_pytensor_agree_at_example("data_constrained")
    registry.test_xarray_broadcast_shape("data_constrained")
    registry.test_law_description_serialises("data_constrained")


def test_numpy_and_pytensor_agree_across_regimes():
    # repeated data and excess parameters (the registry check draws N, D, U independently, but make
    # sure every branch of both minimums is hit)
    N = np.array([1e7, 1e9, 8.67e9, 2e9, 3e8])
    D = np.array([1e8, 1e10, 178e9, 1e12, 3e9])
    U = np.array([1e8, 1e8, 25e9, 3e12, 1e9])
    expected = LAW(N=N, D=D, U=U, **LAW.example)
    sym = {k: pt.dscalar(k) for k in LAW.param_names}
    got = pytensor.function(list(sym.values()), LAW(N=N, D=D, U=U, **sym))(*LAW.example.values())
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    n_opt = optimal_unique_parameters(np.minimum(U, D), *(LAW.example[k] for k in ("A", "B", "alpha", "beta")))
    assert (N > n_opt).any() and (N < n_opt).any() and (U < D).any() and (U > D).any()


# -- the law's math ----------------------------------------------------------------------------------
def test_published_values_from_the_datablations_readme():
    # github.com/huggingface/datablations README, "Parametric Fit": the two models of Figure 1 (right)
    assert LAW(N=6.34e9, D=242e9, U=25e9, **MUENNIGHOFF2023_C4) == pytest.approx(2.2256440889984477, rel=1e-13)
    assert LAW(N=8.67e9, D=178e9, U=25e9, **MUENNIGHOFF2023_C4) == pytest.approx(2.2269634075087867, rel=1e-13)
    # the fitting notebook's optimal_N(D_to_C(U)) for U = 100M, 55B tokens
    p = [MUENNIGHOFF2023_C4[k] for k in ("A", "B", "alpha", "beta")]
    assert optimal_unique_parameters(100e6, *p) == pytest.approx(5098651.765365828, rel=1e-9)
    assert optimal_unique_parameters(55e9, *p) == pytest.approx(2804258470.9512057, rel=1e-9)


def test_optimal_unique_parameters_balances_the_two_terms():
    A, B, alpha, beta = 406.4, 410.7, 0.34, 0.28
    U = np.geomspace(1e8, 1e13, 6)
    n = optimal_unique_parameters(U, A, B, alpha, beta)
    np.testing.assert_allclose(alpha * A / n**alpha, beta * B / U**beta, rtol=1e-12)


def test_single_epoch_without_excess_parameters_is_chinchilla_exactly():
    rng = np.random.default_rng(0)
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e13), 50))
    p = [MUENNIGHOFF2023_C4[k] for k in ("A", "B", "alpha", "beta")]
    N = optimal_unique_parameters(D, *p) * rng.uniform(0.01, 1.0, 50)  # N <= N_opt(D)
    chin = CHIN(N=N, D=D, **CHIN_PARAMS)
    for U in (D, 3.0 * D, np.full_like(D, 1e14)):  # U >= D: every token seen once
        np.testing.assert_array_equal(LAW(N=N, D=D, U=U, **MUENNIGHOFF2023_C4), chin)


def test_single_epoch_with_excess_parameters_discounts_them():
    # The paper's U_N = min(N, N_opt(U_D)) applies at one epoch too: parameters beyond the
    # compute-optimal size for the data are worth less, so the law sits above Chinchilla there.
    p = [MUENNIGHOFF2023_C4[k] for k in ("A", "B", "alpha", "beta")]
    D = np.array([1e9, 1e10, 1e11])
    N = 10.0 * optimal_unique_parameters(D, *p)
    law = LAW(N=N, D=D, U=D, **MUENNIGHOFF2023_C4)
    assert np.all(law > CHIN(N=N, D=D, **CHIN_PARAMS))
    # ...and equals Chinchilla at the effective size N' = U_N (1 + R_N* (1 - exp(-R_N / R_N*)))
    u_n, r_n, rn_star = N / 10.0, 9.0, MUENNIGHOFF2023_C4["R_N_star"]
    n_eff = u_n * (1 + rn_star * (1 - np.exp(-r_n / rn_star)))
    np.testing.assert_allclose(law, CHIN(N=n_eff, D=D, **CHIN_PARAMS), rtol=1e-13)


def test_repeating_forever_saturates_at_u_times_one_plus_rd_star():
    p = dict(MUENNIGHOFF2023_C4)
    U = np.array([1e8, 1e9, 1e10])
    N = 0.5 * optimal_unique_parameters(U, p["A"], p["B"], p["alpha"], p["beta"])  # no excess
    ceiling = CHIN(N=N, D=U * (1 + p["R_D_star"]), **CHIN_PARAMS)
    np.testing.assert_allclose(LAW(N=N, D=U * 1e9, U=U, **p), ceiling, rtol=1e-12)
    # more epochs always help, less and less, and never beyond the ceiling
    epochs = np.geomspace(1, 100, 40)
    curve = LAW(N=N[1], D=U[1] * epochs, U=U[1], **p)
    assert np.all(np.diff(curve) < 0) and np.all(curve > ceiling[1])
    gains = -np.diff(curve) / np.diff(np.log(epochs))
    assert np.all(np.diff(gains) < 0)
    # Muennighoff et al.: up to ~4 epochs cost little; the loss of 4 epochs over D fresh tokens
    fresh = CHIN(N=N[1], D=4 * U[1], **CHIN_PARAMS)
    assert 0 < LAW(N=N[1], D=4 * U[1], U=U[1], **p) - fresh < 0.01 * fresh


def test_declared_scales_hold_for_a_shared_pivot_but_default_pivots_are_off():
    # D and U enter as a ratio, so per-input pivots (geometric mean of each column) would change
    # the law; the law is fitted on raw inputs (pivot=False). Its declared scales are right for a
    # pivot shared by D and U, which a caller may pass explicitly.
    assert LAW.pivot is False
    LAW._check_pivot_invariance()  # raises LawError if the scales were wrong
    runs = _toy_runs()
    assert bs.inference.pivots(runs, LAW) == {"N": 1.0, "D": 1.0, "U": 1.0}
    # a per-input pivot really would break it: D / U changes when D and U are divided differently
    x = {"N": 1e9, "D": 4e10, "U": 1e10}
    p_n, p_d, p_u = 1e8, 1e10, 3e9
    at = dict(MUENNIGHOFF2023_C4)
    at["A"] = at["A"] / p_n ** at["alpha"]
    at["B"] = at["B"] / p_d ** at["beta"]
    shared = LAW(N=x["N"] / p_n, D=x["D"] / p_d, U=x["U"] / p_d, **at)
    separate = LAW(N=x["N"] / p_n, D=x["D"] / p_d, U=x["U"] / p_u, **at)
    assert shared == pytest.approx(LAW(**x, **MUENNIGHOFF2023_C4), rel=1e-12)
    assert abs(separate / shared - 1) > 1e-3


def test_ops_minimum_maximum_on_numpy_xarray_pytensor():
    a, b = np.array([1.0, 5.0, 3.0]), np.array([2.0, 4.0, 3.0])
    np.testing.assert_array_equal(ops.minimum(a, b), [1.0, 4.0, 3.0])
    np.testing.assert_array_equal(ops.maximum(a, b), [2.0, 5.0, 3.0])
    xa = xr.DataArray(np.arange(1.0, 7.0).reshape(2, 3), dims=("chain", "draw"))
    xb = xr.DataArray([2.0, 3.5], dims="point")
    out = ops.minimum(xa, xb)
    assert out.dims == ("chain", "draw", "point") and float(out.sel(chain=1, draw=2, point=1)) == 3.5
    x, y = pt.dvector("x"), pt.dvector("y")
    f = pytensor.function([x, y], [ops.minimum(x, y), ops.maximum(2.0, y)])
    lo, hi = f(a, b)
    np.testing.assert_array_equal(lo, [1.0, 4.0, 3.0])
    np.testing.assert_array_equal(hi, [2.0, 4.0, 3.0])


# -- the run table carries U ----------------------------------------------------------------------
def _toy_runs(**overrides) -> bs.RunTable:
    df = pd.DataFrame({"params": [1e8, 4e8, 1e9, 1e8, 4e8, 1e9], "tokens": [4e9, 8e9, 2e10, 4e9, 8e9, 2e10],
                       "unique": [4e9, 2e9, 2e10, 1e8, 8e9, 5e9], "loss": [3.4, 3.1, 2.8, 3.9, 3.0, 2.9]})
    df = df.assign(**overrides)
    return bs.RunTable.from_dataframe(df.rename(columns={"unique": "U"}), N="params", D="tokens")


def test_run_table_carries_u_and_law_reads_it():
    runs = _toy_runs()
    np.testing.assert_array_equal(runs.column("U"), [4e9, 2e9, 2e10, 1e8, 8e9, 5e9])
    assert "U" in runs.to_dataframe().columns
    runs.check_law(LAW)  # U is numeric and positive: the law can read it
    sub = runs.filter(runs.column("U") < runs.D)
    assert len(sub) == 3 and np.all(sub.column("U") < sub.D)
    pred = bs.predict(_fake_fit(runs), N=1e9, D=2e10, U=[2e10, 5e9])
    assert pred.dims == ("chain", "draw", "point")
    assert float(pred.isel(point=1).mean()) > float(pred.isel(point=0).mean())  # repeating costs


def test_run_table_without_u_or_with_bad_u_is_refused_by_name():
    runs = bs.RunTable.from_dataframe(pd.DataFrame({"N": [1e8, 1e9], "D": [1e9, 1e10], "loss": [3.0, 2.5]}))
    with pytest.raises(MissingColumnError, match="'U'"):
        runs.check_law(LAW)
    with pytest.raises(NonPositiveError, match="U"):
        _toy_runs(unique=[4e9, 0.0, 2e10, 1e8, 8e9, 5e9]).check_law(LAW)


def _fake_fit(runs: bs.RunTable) -> bs.Fit:
    from tests.conftest import fake_fit

    rng = np.random.default_rng(1)
    draws = {k: v * np.exp(rng.normal(0, 0.01, (2, 50))) for k, v in MUENNIGHOFF2023_C4.items()}
    draws["sigma"] = np.full((2, 50), 0.02)
    return fake_fit("data_constrained", draws, runs)


# -- the prior card ---------------------------------------------------------------------------------
def test_muennighoff_card_loads_with_positive_exponents():
    from bayescale.laws import Noise, read_prior_card, resolve_priors

    law, priors = read_prior_card("muennighoff2023")
    assert law == "data_constrained" and set(priors) == {p.sampled_name for p in LAW.parameters}
    assert priors["alpha"].dist == "LogNormal" and priors["beta"].dist == "LogNormal"
    assert np.exp(priors["R_D_star"].params["mu"]) == pytest.approx(15.39, rel=1e-3)
    assert np.exp(priors["log_A"].params["mu"]) == pytest.approx(MUENNIGHOFF2023_C4["A"], rel=1e-6)
    resolve_priors(LAW, Noise("student_t"), priors)
    # the law's default R* priors are not the published values
    default = LAW.parameter("R_D_star").prior
    assert default.dist == "LogNormal" and abs(np.exp(default.params["mu"]) - 15.39) > 5


# -- sampling ---------------------------------------------------------------------------------------
def simulated_runs(params: dict, *, noise_sd: float = 0.01, seed: int = 0) -> bs.RunTable:
    """A datablations-like design: sizes x unique-token budgets x epochs, some runs over-sized."""
    rng = np.random.default_rng(seed)
    rows = []
    for U in (1e8, 4e8, 1.5e9, 1.2e10):
        for N in (1.4e7, 8.3e7, 2.2e8, 6.2e8, 2.8e9):
            for epochs in (1, 4, 16, 60):
                D = U * epochs
                if not 2 <= D / N <= 2000:  # the paper trained at 2-2000 tokens per parameter
                    continue
                mean = float(LAW(N=N, D=D, U=U, **params))
                rows.append({"N": N, "D": D, "U": U, "loss": mean * np.exp(rng.normal(0, noise_sd))})
    return bs.RunTable.from_dataframe(pd.DataFrame(rows))


@pytest.mark.slow
def test_recovery_of_r_d_star_from_simulated_runs():
    truth = dict(MUENNIGHOFF2023_C4)
    runs = simulated_runs(truth)
    assert len(runs) >= 40 and np.any(runs.column("U") < runs.D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)  # asserted on below
        fit = bs.fit(runs, "data_constrained", random_seed=11, draws=400, tune=400, chains=2, progressbar=False)
    post = fit.idata.posterior.dataset
    lo, hi = np.quantile(post["R_D_star"].values, [0.03, 0.97])
    assert lo < truth["R_D_star"] < hi
    assert hi / lo < 2  # the data pin it down (the prior's 94% interval spans a factor of 40)
    lo, hi = np.quantile(post["R_N_star"].values, [0.03, 0.97])
    assert lo < truth["R_N_star"] < hi and hi / lo < 3
    d = bs.diagnose(fit)
    assert d.max_r_hat < 1.05 and d.divergences == 0


@pytest.mark.slow
def test_datablations_paper_protocol_fit():
    shared_file(SHARED / "datablations_c4_final_losses.csv")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from datablations_fit import PUBLISHED, PUBLISHED_OBJECTIVE, huber_objective, load_runs, pinned_priors

    runs = load_runs("paper_fit")
    assert len(runs) == 182
    # the paper's Huber objective at its published values: same law, same runs
    at = huber_objective(runs, PUBLISHED["R_D_star"], PUBLISHED["R_N_star"])
    assert at == pytest.approx(PUBLISHED_OBJECTIVE, rel=1e-6)
    # ...which a better optimiser improves on along a ridge (see benchmarks/results/datablations_fit.md)
    assert huber_objective(runs, 47.0, 2.34) < at
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, "data_constrained", priors=pinned_priors(), likelihood="student_t",
                     random_seed=1, draws=500, tune=1000, chains=2, progressbar=False)
    post = fit.idata.posterior.dataset
    d = bs.diagnose(fit)
    assert d.max_r_hat < 1.05 and d.divergences == 0
    rd = np.quantile(post["R_D_star"].values, [0.025, 0.975])
    rn = np.quantile(post["R_N_star"].values, [0.025, 0.975])
    # What we found (benchmarks/results/datablations_fit.md): the published R_D* lies inside the
    # 95% interval (about 12 - 90); the published R_N* does NOT: the posterior sits at about 2.2
    # (95% about 1.3 - 4.4), where the same ridge fits these runs better. If this starts to fail,
    # the law, the run list or the sampler changed: re-run the benchmark and look.
    assert rd[0] < PUBLISHED["R_D_star"] < rd[1]
    assert rn[1] < PUBLISHED["R_N_star"] and rn[0] > 1.0


def test_unique_tokens_enter_the_data_hash():
    df = pd.DataFrame({"N": [1e8, 2e8, 4e8], "D": [4e9, 8e9, 1.6e10], "U": [4e9, 4e9, 4e9], "loss": [3.2, 3.0, 2.9]})
    a = bs.RunTable.from_dataframe(df)
    b = bs.RunTable.from_dataframe(df.assign(U=[4e9, 2e9, 1e9]))  # same N, D, loss; more repetition
    assert a.data_hash != b.data_hash  # bs.compare must not treat them as the same runs

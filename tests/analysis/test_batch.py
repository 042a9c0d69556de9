"""bs.critical_batch_size: B_crit(L), S_min, E_min and the steps/tokens at a batch size, on hand-built
posteriors of kaplan_smin (and, slow, a recovery fit from simulated runs)."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.analysis.batch import BatchSizeError, critical_batch_size

from ..conftest import CHINCHILLA_TRUE, fake_fit

LAW = bs.get_law("kaplan_smin")
KAPLAN = dict(LAW.example)  # Nc 6.5e13, Sc 2.1e3, aN 0.076, aS 0.76, Bstar 2e8 tokens, aB 0.21


def design(Ns=np.geomspace(1e7, 1e9, 4), Ss=np.geomspace(1e3, 1e5, 4), Bs=np.geomspace(1e4, 1e8, 5)) -> pd.DataFrame:
    rows = [{"N": n, "step": s, "B": b, "D": s * b} for n, s, b in itertools.product(Ns, Ss, Bs)]
    return pd.DataFrame(rows)


def smin_runs(seed=0, sigma=0.01) -> bs.RunTable:
    return bs.runs.simulate_runs(LAW, design(), KAPLAN, noise_params={"sigma": sigma}, random_seed=seed)


def smin_fit(params=None, shape=(1, 1), spread=0.0, seed=0):
    rng = np.random.default_rng(seed)
    params = params or KAPLAN
    draws = {k: v * np.exp(rng.normal(0, spread, shape)) for k, v in params.items()}
    draws["sigma"] = np.full(shape, 0.01)
    return fake_fit("kaplan_smin", draws, smin_runs())


def test_exact_values_at_kaplans_parameters():
    out = critical_batch_size(smin_fit(), loss=[2.5, 3.0, 4.0], N=1e9, B=2.0**20)
    assert isinstance(out, pd.DataFrame) and len(out) == 3
    L = np.array([2.5, 3.0, 4.0])
    B_crit = 2e8 / L ** (1 / 0.21)
    size = (6.5e13 / 1e9) ** 0.076  # 2.3216: the loss of a 1e9 model after infinitely many steps
    S_min = 2.1e3 / (L - size) ** (1 / 0.76)
    np.testing.assert_allclose(out["B_crit_median"], B_crit, rtol=1e-13)
    np.testing.assert_allclose(out["S_min_median"], S_min, rtol=1e-12)
    np.testing.assert_allclose(out["E_min_median"], B_crit * S_min, rtol=1e-12)
    np.testing.assert_allclose(out["S_median"], S_min * (1 + B_crit / 2.0**20), rtol=1e-12)
    np.testing.assert_allclose(out["E_median"], 2.0**20 * S_min * (1 + B_crit / 2.0**20), rtol=1e-12)
    # by hand, at L = 3: B_crit = 2e8 / 187.07 = 1.0691e6 tokens, S_min = 2.1e3 / 0.67843**(1/0.76) = 3498.9
    assert out["B_crit_median"][1] == pytest.approx(1.0691e6, rel=1e-4)
    assert out["S_min_median"][1] == pytest.approx(3498.9, rel=1e-4)
    assert (out["p_reachable"] == 1.0).all()
    # one draw: the interval is the point
    for q in ("B_crit", "S_min", "E_min", "S", "E"):
        assert np.array_equal(out[f"{q}_lower"], out[f"{q}_median"]) and np.array_equal(out[f"{q}_upper"], out[f"{q}_median"])
    assert out.attrs == {"ci_prob": 0.9, "law": LAW.spec, "draws": 1}


def test_the_trade_off_holds_and_the_law_agrees():
    """(S/S_min - 1)(E/E_min - 1) = 1 at every batch size, and a run of S steps at batch B reaches L."""
    B = np.geomspace(1e3, 1e9, 13)
    out = critical_batch_size(smin_fit(), loss=2.8, N=3e8, B=B)
    lhs = (out["S_median"] / out["S_min_median"] - 1) * (out["E_median"] / out["E_min_median"] - 1)
    np.testing.assert_allclose(lhs, 1.0, rtol=1e-10)
    np.testing.assert_allclose(out["E_median"], out["B"] * out["S_median"], rtol=1e-14)
    # the law, run for those steps at those batch sizes, gives back the target loss
    np.testing.assert_allclose(LAW(N=3e8, step=out["S_median"].to_numpy(), B=B, **KAPLAN), 2.8, rtol=1e-12)
    # steps fall and tokens rise with the batch size; at B = B_crit both are twice their minimum
    assert np.all(np.diff(out["S_median"]) < 0) and np.all(np.diff(out["E_median"]) > 0)
    at = critical_batch_size(smin_fit(), loss=2.8, N=3e8, B=float(out["B_crit_median"][0]))
    assert at["S_median"][0] == pytest.approx(2 * at["S_min_median"][0], rel=1e-12)
    assert at["E_median"][0] == pytest.approx(2 * at["E_min_median"][0], rel=1e-12)


def test_intervals_over_draws():
    fit = smin_fit(shape=(4, 250), spread=0.03, seed=1)
    out = critical_batch_size(fit, loss=[2.6, 3.2], N=1e9, B=1e6, ci_prob=0.9)
    wide = critical_batch_size(fit, loss=[2.6, 3.2], N=1e9, B=1e6, ci_prob=0.99)
    post = fit.posterior
    b_crit = (post["Bstar"] * 2.6 ** (-1 / post["aB"])).values.ravel()
    lo, med, hi = np.quantile(b_crit, [0.05, 0.5, 0.95])
    assert out["B_crit_median"][0] == pytest.approx(med, rel=1e-12)
    assert out["B_crit_lower"][0] == pytest.approx(lo, rel=1e-12) and out["B_crit_upper"][0] == pytest.approx(hi, rel=1e-12)
    for q in ("B_crit", "S_min", "E_min", "S", "E"):
        assert np.all(out[f"{q}_lower"] < out[f"{q}_median"]) and np.all(out[f"{q}_median"] < out[f"{q}_upper"])
        assert np.all(wide[f"{q}_lower"] < out[f"{q}_lower"]) and np.all(out[f"{q}_upper"] < wide[f"{q}_upper"])
    assert list(out.columns[:3]) == ["loss", "N", "B"]


def test_a_loss_out_of_reach_of_a_model_size():
    # a 1e7 model cannot go below (6.5e13/1e7)**0.076 = 3.30 however long it trains
    fit = smin_fit(shape=(2, 200), spread=0.01, seed=2)
    out = critical_batch_size(fit, loss=[3.0, 3.2985, 3.6], N=1e7)
    assert out["p_reachable"][0] == 0.0 and np.isinf(out["S_min_median"][0]) and np.isinf(out["E_min_lower"][0])
    assert 0.0 < out["p_reachable"][1] < 1.0 and np.isinf(out["S_min_upper"][1])
    assert out["p_reachable"][2] == 1.0 and np.isfinite(out["S_min_upper"][2])
    assert np.all(np.isfinite(out["B_crit_median"]))  # B_crit(L) does not depend on N


def test_loss_only_gives_the_critical_batch_size():
    out = critical_batch_size(smin_fit(), loss=np.array([2.0, 3.0]))
    assert list(out.columns) == ["loss", "B_crit_median", "B_crit_lower", "B_crit_upper"]
    # B_crit grows as the loss falls: L**(-1/0.21), 1.5**4.76 = 6.9x from L 3 to L 2
    assert out["B_crit_median"][0] / out["B_crit_median"][1] == pytest.approx(1.5 ** (1 / 0.21), rel=1e-12)


def test_exported():
    assert bs.critical_batch_size is critical_batch_size and bs.analysis.BatchSizeError is BatchSizeError


def test_another_law_is_refused_with_the_reason():
    chin = fake_fit("chinchilla", {k: np.full((1, 1), v) for k, v in {**CHINCHILLA_TRUE, "sigma": 0.01}.items()})
    with pytest.raises(BatchSizeError, match=r"needs a fit of law 'kaplan_smin'.*law 'chinchilla'"):
        critical_batch_size(chin, loss=2.5)
    with pytest.raises(BatchSizeError, match="expected a bayescale Fit"):
        critical_batch_size("fit", loss=2.5)


@pytest.mark.parametrize("kwargs, said", [
    ({"loss": -1.0}, r"loss must be finite and > 0; got \[-1.0\]"),
    ({"loss": [2.5, np.nan]}, r"loss must be finite and > 0; got \[nan\] at positions \[1\]"),
    ({"loss": "low"}, "loss must be a number"),
    ({"loss": True}, "boolean"),
    ({"loss": 2.5, "N": 0.0}, "N must be finite and > 0"),
    ({"loss": 2.5, "N": 1e9, "B": -4.0}, "B must be finite and > 0"),
    ({"loss": 2.5, "B": 1e6}, "pass N= too"),
    ({"loss": [2.5, 3.0], "N": [1e8, 1e9, 1e10]}, "do not broadcast"),
    ({"loss": [[2.5]]}, "1-d"),
    ({"loss": 2.5, "ci_prob": 90}, r"ci_prob must be a probability in \(0, 1\)"),
])
def test_bad_input(kwargs, said):
    with pytest.raises(BatchSizeError, match=said):
        critical_batch_size(smin_fit(), **kwargs)


@pytest.mark.slow
def test_recovery_from_simulated_runs():
    """80 simulated final losses over N (4), steps (4) and batch sizes (5, 1e4-1e8 tokens around B_crit of
    about 1e6) at Kaplan's values: the 94% HDIs cover the truth, and B_crit / S_min intervals cover theirs."""
    runs = smin_runs(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, LAW, likelihood="normal", noise="iid", draws=300, tune=300, chains=2, random_seed=6,
                     progressbar=False)
    summ = fit.summary(ci_prob=0.94)
    for name, value in KAPLAN.items():
        assert summ.loc[name, "hdi94_lb"] < value < summ.loc[name, "hdi94_ub"], name
    assert fit.diagnostics()["max_r_hat"] < 1.05
    out = critical_batch_size(fit, loss=[2.6, 3.0], N=1e9, B=2.0**20, ci_prob=0.94)
    truth = critical_batch_size(smin_fit(), loss=[2.6, 3.0], N=1e9, B=2.0**20)
    for q in ("B_crit", "S_min", "E_min", "S"):
        assert np.all(out[f"{q}_lower"] < truth[f"{q}_median"]) and np.all(truth[f"{q}_median"] < out[f"{q}_upper"]), q
    # and B_crit is pinned to within about +-15% at 94%
    assert np.all(out["B_crit_upper"] / out["B_crit_lower"] < 1.4)

"""Compute-optimal allocation, the decision table and the isoFLOP plot, on hand-built posteriors
(and, slow, one real fit)."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import bayescale as bs
from bayescale.analysis.compare import AveragedFit, Comparison
from bayescale.analysis.decide import (
    Allocation,
    DecisionError,
    NoInteriorOptimumWarning,
    compute_optimal,
    decide,
)
from bayescale.analysis.predict import ExtrapolationWarning, loss_draws
from bayescale.plots.decide import plot_isoflop

from ..conftest import CHINCHILLA_TRUE, fake_fit, isoflop_runs

C_CHINCHILLA = 5.88e23
KAPLAN_TRUE = {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095}


def one_draw_fit(law="chinchilla", params=None, sigma=0.01):
    params = params or CHINCHILLA_TRUE
    draws = {k: np.full((1, 1), v) for k, v in params.items()}
    draws["sigma"] = np.full((1, 1), sigma)
    return fake_fit(law, draws)


def kaplan_fit(seed=0, shape=(2, 200)):
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(rng.normal(0, 0.05, shape)) for k, v in KAPLAN_TRUE.items()}
    draws["sigma"] = np.full(shape, 0.01)
    return fake_fit("kaplan", draws)


def quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return f(*args, **kwargs)


def law_loss(law, N, D, **params):
    return float(bs.get_law(law)(N=N, D=D, **params))


# -- compute_optimal ------------------------------------------------------------------------------


def test_closed_form_matches_a_hand_computation_at_hoffmanns_values():
    fit = one_draw_fit()
    alloc = quiet(compute_optimal, fit, C=C_CHINCHILLA)
    assert isinstance(alloc, Allocation) and alloc.method == "closed form"
    N_opt = float(alloc.draws["N_opt"].squeeze())
    D_opt = float(alloc.draws["D_opt"].squeeze())
    # by hand: a = 0.28/0.62, G = (0.34*406.4 / (0.28*410.7))**(1/0.62) = 1.34467...
    G = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    assert G == pytest.approx(1.3447, abs=1e-4)
    assert N_opt == pytest.approx(G * (C_CHINCHILLA / 6) ** (0.28 / 0.62), rel=1e-12)
    assert N_opt == pytest.approx(3.2491e10, rel=1e-4) and D_opt == pytest.approx(3.0162e12, rel=1e-4)
    assert D_opt == pytest.approx((C_CHINCHILLA / 6) ** (0.34 / 0.62) / G, rel=1e-12)
    assert 6 * N_opt * D_opt == pytest.approx(C_CHINCHILLA, rel=1e-12)
    # an independent optimiser agrees, and the optimum is a minimum along C = 6ND
    along = lambda log_n: law_loss("chinchilla", np.exp(log_n), C_CHINCHILLA / (6 * np.exp(log_n)),  # noqa: E731
                                   **CHINCHILLA_TRUE)
    res = minimize_scalar(along, bracket=(20.0, 28.0), tol=1e-10)
    assert np.exp(res.x) == pytest.approx(N_opt, rel=1e-5)
    best = float(alloc.draws["loss_opt"].squeeze())
    assert best == pytest.approx(along(np.log(N_opt)), rel=1e-14)
    for nudge in (0.99, 1.01):
        assert along(np.log(N_opt * nudge)) > best
    assert float(alloc.draws["tokens_per_param"].squeeze()) == pytest.approx(D_opt / N_opt)
    assert float(alloc.draws["a"].squeeze()) == pytest.approx(0.28 / 0.62)
    assert float(alloc.draws["b"].squeeze()) == pytest.approx(0.34 / 0.62)


def test_numerical_route_agrees_with_the_closed_form(chinchilla_fake_fit):
    budgets = [1e19, 1e21, C_CHINCHILLA, 1e26]
    closed = quiet(compute_optimal, chinchilla_fake_fit, C=budgets)
    num = quiet(compute_optimal, chinchilla_fake_fit, C=budgets, method="numerical")
    assert closed.method == "closed form" and num.method == "numerical"
    assert num.draws["N_opt"].dims == ("chain", "draw", "budget") and num.draws.sizes["budget"] == 4
    for v in ("N_opt", "D_opt", "tokens_per_param", "loss_opt"):
        np.testing.assert_allclose(num.draws[v].values, closed.draws[v].values, rtol=1e-6)
    np.testing.assert_array_equal(num.draws["budget"].values, budgets)


def test_kaplan_optimum_is_found_numerically_and_is_a_minimum():
    fit = kaplan_fit()
    alloc = quiet(compute_optimal, fit, C=[1e21, C_CHINCHILLA])
    assert alloc.method == "numerical"
    post = {k: fit.posterior[k].values[..., None] for k in KAPLAN_TRUE}
    # Kaplan's law along C = 6ND has dL/dN = 0 at N**(r+1) = r Nc**r C / (6 Dc), r = aN/aD
    r = post["aN"] / post["aD"]
    C = np.array([1e21, C_CHINCHILLA])
    N_exact = (r * post["Nc"] ** r * C / (6 * post["Dc"])) ** (1 / (r + 1))
    np.testing.assert_allclose(alloc.draws["N_opt"].values, N_exact, rtol=1e-6)
    law = bs.get_law("kaplan")
    N_opt = alloc.draws["N_opt"].values
    best = alloc.draws["loss_opt"].values
    for nudge in (0.99, 1.01):
        N = N_opt * nudge
        assert np.all(law(N=N, D=C / (6 * N), **post) > best)
    assert alloc.exponents().isna().all().all()  # no closed-form exponents for kaplan
    assert "a" not in alloc.draws


def test_summary_and_exponents_are_the_draws_quantiles(chinchilla_fake_fit):
    alloc = quiet(compute_optimal, chinchilla_fake_fit, C=[1e21, C_CHINCHILLA], ci_prob=0.8)
    s = alloc.summary()
    assert list(s.columns) == ["C", "quantity", "median", "lower", "upper"] and len(s) == 8
    row = s[(s["C"] == C_CHINCHILLA) & (s["quantity"] == "tokens_per_param")].iloc[0]
    tpp = alloc.draws["tokens_per_param"].sel(budget=C_CHINCHILLA).values.ravel()
    assert row["median"] == pytest.approx(np.median(tpp))
    assert row["lower"] == pytest.approx(np.quantile(tpp, 0.1))
    assert row["upper"] == pytest.approx(np.quantile(tpp, 0.9))
    assert alloc.summary(0.5)["upper"].lt(s["upper"]).all()
    e = alloc.exponents(0.95)
    a = (chinchilla_fake_fit.posterior["beta"] / (chinchilla_fake_fit.posterior["alpha"]
                                                   + chinchilla_fake_fit.posterior["beta"])).values.ravel()
    assert e.loc["a", "median"] == pytest.approx(np.median(a))
    assert e.loc["a", "sd"] == pytest.approx(np.std(a, ddof=1))
    assert e.loc["a", "lower"] == pytest.approx(np.quantile(a, 0.025))
    assert e.loc["a", "median"] + e.loc["b", "median"] == pytest.approx(1.0, abs=1e-3)
    text = repr(alloc)
    assert "chinchilla (closed form)" in text and "C = 5.88e+23" in text and "exponents: a 0.45" in text


def test_compute_optimal_errors_name_the_problem(chinchilla_fake_fit):
    runs = isoflop_runs(noise_sd=0.0)
    one_input = fake_fit("power_law", {"E": np.full((1, 2), 1.7), "A": np.full((1, 2), 1e3),
                                       "alpha": np.full((1, 2), 0.15), "sigma": np.full((1, 2), 0.01)}, runs)
    with pytest.raises(DecisionError, match=r"inputs \['C'\].*both N and D"):
        compute_optimal(one_input, C=1e21)
    with pytest.raises(DecisionError, match=r"-1e\+21"):
        compute_optimal(chinchilla_fake_fit, C=[1e21, -1e21])
    with pytest.raises(DecisionError, match="finite"):
        compute_optimal(chinchilla_fake_fit, C=np.nan)
    with pytest.raises(DecisionError, match="chinchilla law only"):
        compute_optimal(kaplan_fit(), C=1e21, method="closed_form")
    with pytest.raises(DecisionError, match="ci_prob"):
        compute_optimal(chinchilla_fake_fit, C=1e21, ci_prob=80)
    with pytest.raises(TypeError, match="Fit"):
        compute_optimal({"E": 1.0}, C=1e21)


def test_draws_without_an_interior_optimum_are_nan_and_warned():
    params = {k: np.array([[v, v]]) for k, v in CHINCHILLA_TRUE.items()}
    params["beta"] = np.array([[0.28, 1e-7]])  # the second draw: data barely matters, bigger N always wins
    params["sigma"] = np.full((1, 2), 0.01)
    fit = fake_fit("chinchilla", params)
    with pytest.warns(NoInteriorOptimumWarning, match=r"C=1e\+21: 50.0%"):
        alloc = compute_optimal(fit, C=1e21, method="numerical")
    N = alloc.draws["N_opt"].values.ravel()
    assert np.isfinite(N[0]) and np.isnan(N[1])
    assert alloc.summary()["median"].notna().all()  # NaN draws are left out of the summary


def test_compute_optimal_warns_when_the_allocation_is_far_beyond_the_runs(chinchilla_fake_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        compute_optimal(chinchilla_fake_fit, C=1e20)  # inside the simulated design (1e18-3e21)
    with pytest.warns(ExtrapolationWarning, match="C 2.3 decades"):
        compute_optimal(chinchilla_fake_fit, C=C_CHINCHILLA)


def test_compute_optimal_on_a_mixture(chinchilla_fake_fit):
    kap = kaplan_fit(shape=(4, 250))
    fits = {"chinchilla": chinchilla_fake_fit, "kaplan": kap}
    only_c = quiet(compute_optimal, AveragedFit(fits, {"chinchilla": 1.0, "kaplan": 0.0}), C=1e21)
    alone = quiet(compute_optimal, chinchilla_fake_fit, C=1e21)
    np.testing.assert_array_equal(only_c.draws["N_opt"].values.ravel(), alone.draws["N_opt"].values.ravel())
    assert "a" in only_c.draws  # every fit with weight is chinchilla
    half = quiet(compute_optimal, AveragedFit(fits, {"chinchilla": 0.5, "kaplan": 0.5}), C=1e21)
    kap_alone = quiet(compute_optimal, kap, C=1e21).draws["N_opt"].values.ravel()
    mixed = half.draws["N_opt"].values.ravel()
    assert mixed.size == 1000 and np.isin(mixed, kap_alone).sum() == 500
    assert np.isin(mixed, alone.draws["N_opt"].values.ravel()).sum() == 500
    assert "a" not in half.draws and half.exponents().isna().all().all()
    assert "mixture of chinchilla (0.50), kaplan (0.50)" in repr(half)


# -- decide -----------------------------------------------------------------------------------------


def floor_fit(E_values, sigma=0.01, likelihood="normal"):
    """Chinchilla draws that differ only in E: every loss difference between two inputs is the same
    in every draw."""
    E = np.asarray(E_values, dtype=float)[None, :]
    draws = {k: np.full(E.shape, v) for k, v in CHINCHILLA_TRUE.items()}
    draws["E"] = E
    draws["sigma"] = np.full(E.shape, sigma)
    if likelihood == "student_t":
        draws["nu"] = np.full(E.shape, 5.0)
    return fake_fit("chinchilla", draws, likelihood=likelihood)


def excess(N, D):
    """Chinchilla's loss above E at Hoffmann's values."""
    return law_loss("chinchilla", N, D, **CHINCHILLA_TRUE) - CHINCHILLA_TRUE["E"]


def test_decide_probability_of_reaching_a_target_is_exact():
    fit = floor_fit([1.5] * 3 + [2.5] * 7)  # the law's loss at (7e10, 1.4e12) is E + 0.24
    t = quiet(decide, fit, [(7e10, 1.4e12)], target=2.0, kind="mean")
    assert t.loc[0, "p_below_target"] == 0.3
    assert t.loc[0, "allocation"] == "given"
    assert t.loc[0, "C"] == pytest.approx(6 * 7e10 * 1.4e12) and t.loc[0, "tokens_per_param"] == pytest.approx(20)
    assert t.loc[0, "loss_median"] == pytest.approx(2.5 + excess(7e10, 1.4e12))
    assert t.attrs["ci_prob"] == 0.9 and t.attrs["kind"] == "mean" and t.attrs["target"] == 2.0


def test_decide_compares_with_the_baseline_on_the_same_draw():
    fit = floor_fit([1.5] * 3 + [2.5] * 7)
    cand, base = (7e10, 1.4e12), (1e9, 2e10)
    t = quiet(decide, fit, [cand, base], baseline=base, kind="mean")
    gain = excess(*base) - excess(*cand)
    # E cancels within a draw: the candidate is better in every draw (independent pairing would give
    # P = 0.79 here), and the improvement is exact
    assert t.loc[0, "p_better_than_baseline"] == 1.0
    for col in ("improvement_median", "improvement_lower", "improvement_upper"):
        assert t.loc[0, col] == pytest.approx(gain, rel=1e-12)
        assert t.loc[1, col] == pytest.approx(0.0, abs=1e-15)
    assert t.loc[1, "p_better_than_baseline"] == 0.0
    C = 6 * cand[0] * cand[1]
    assert t.loc[0, "improvement_per_flop"] == pytest.approx(gain / C)
    assert t.loc[0, "improvement_per_1e21_flops"] == pytest.approx(gain / C * 1e21)
    assert t.attrs["baseline"]["N"] == 1e9 and t.attrs["baseline"]["C"] == pytest.approx(1.2e20)
    # a loss value as the baseline
    v = quiet(decide, fit, [cand], baseline=2.0, kind="mean")
    L = np.array([1.5] * 3 + [2.5] * 7) + excess(*cand)
    assert v.loc[0, "p_better_than_baseline"] == 0.3
    # 7 of 10 draws lose 0.5 + excess against 2.0, 3 gain 0.5 - excess: the median is a loss
    assert v.loc[0, "improvement_median"] == pytest.approx(2.0 - np.median(L))
    assert v.loc[0, "improvement_lower"] == pytest.approx(2.0 - L.max())
    assert v.loc[0, "improvement_upper"] == pytest.approx(2.0 - L.min())
    assert v.attrs["baseline"] == {"loss": 2.0}


def test_decide_new_run_noise_is_independent_for_candidate_and_baseline():
    fit = floor_fit(np.full(4000, 1.69), sigma=0.02)
    point = (1e9, 2e10)
    t = decide(fit, [point], baseline=point, target=float(law_loss("chinchilla", *point, **CHINCHILLA_TRUE)),
               random_seed=5)
    # same inputs, same parameters: only the two runs' own noise differs
    assert 0.45 < t.loc[0, "p_better_than_baseline"] < 0.55
    L = law_loss("chinchilla", *point, **CHINCHILLA_TRUE)
    sd = np.sqrt(2) * 0.02 * L  # of the difference of two runs' losses, L exp(e1) - L exp(e2)
    assert abs(t.loc[0, "improvement_median"]) < 4 * 1.2533 * sd / np.sqrt(4000)  # the median's s.e.
    assert t.loc[0, "improvement_upper"] == pytest.approx(1.645 * sd, rel=0.08)
    assert t.loc[0, "improvement_lower"] == pytest.approx(-1.645 * sd, rel=0.08)
    assert 0.45 < t.loc[0, "p_below_target"] < 0.55
    assert t.loc[0, "loss_upper"] / t.loc[0, "loss_median"] == pytest.approx(np.exp(1.645 * 0.02), rel=0.01)
    again = decide(fit, [point], baseline=point, random_seed=5)
    assert again.loc[0, "p_better_than_baseline"] == t.loc[0, "p_better_than_baseline"]
    mean = decide(fit, [point], kind="mean")
    assert mean.loc[0, "loss_lower"] == pytest.approx(L) and mean.loc[0, "loss_upper"] == pytest.approx(L)


def test_decide_improvement_is_a_median_that_settles_under_heavy_tailed_noise():
    # Student-t noise with nu = 1.6 (what real ladders give): infinite variance, and exp() of it has
    # no mean at all. A mean over draws of the improvement swings with the seed (here from 0.40 to 51
    # nats over 8 seeds); the median and its interval must not.
    rng = np.random.default_rng(1)
    shape = (4, 500)
    draws = {k: v * np.exp(rng.normal(0, 0.02, shape)) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = np.full(shape, 0.02)
    draws["nu"] = np.full(shape, 1.6)
    fit = fake_fit("chinchilla", draws, likelihood="student_t")
    cands, base = [1e20, 1e21, (7e9, 1.4e11)], (1e9, 2e10)
    tables = [decide(fit, cands, baseline=base, random_seed=seed) for seed in range(8)]
    med = np.array([t["improvement_median"].to_numpy() for t in tables])  # (seed, candidate)
    # measured: the medians spread by 0.005, 0.008 and 0.010 nats over the 8 seeds
    assert np.ptp(med, axis=0).max() < 0.02
    for t in tables:
        assert (t["improvement_lower"] < t["improvement_median"]).all()
        assert (t["improvement_median"] < t["improvement_upper"]).all()
        np.testing.assert_allclose(t["improvement_per_flop"], t["improvement_median"] / t["C"], rtol=1e-12)
    # the bigger candidates beat the baseline's size in the median; the smallest is about even with it
    assert med[:, 2].min() > med[:, 1].max() > 0.2 and abs(med[:, 0]).max() < 0.05
    # the mean is what the table used to give: over the same seeds it does not settle
    means = []
    for seed in range(8):
        d = loss_draws(fit, kind="new_run", random_seed=seed, N=[1e9, 7e9], D=[2e10, 1.4e11])
        flat = d.stack(sample=("chain", "draw")).transpose("point", "sample").values
        means.append((flat[0] - flat[1]).mean())
    assert np.ptp(means) > 10 * np.ptp(med[:, 2])


def test_decide_allocates_budgets_at_the_median_optimal_size(chinchilla_fake_fit):
    budgets = [1e20, 1e21]
    t = decide(chinchilla_fake_fit, [budgets[0], {"N": 2e8, "D": 4e9}, budgets[1], {"N": 5e8, "C": 3e19}],
               target=2.5, baseline=(1e9, 2e10))
    alloc = compute_optimal(chinchilla_fake_fit, C=budgets)
    med = alloc.summary().query("quantity == 'N_opt'")["median"].to_numpy()
    assert t["allocation"].tolist() == ["compute-optimal (median N*)", "given"] * 2
    np.testing.assert_allclose(t.loc[[0, 2], "N"], med, rtol=1e-12)
    np.testing.assert_array_equal(t.loc[[0, 2], "C"], budgets)
    np.testing.assert_allclose(t.loc[[0, 2], "D"], np.array(budgets) / (6 * med), rtol=1e-12)
    assert t.loc[3, "D"] == pytest.approx(3e19 / (6 * 5e8)) and t.loc[1, "C"] == pytest.approx(4.8e18)
    assert t["candidate"].tolist() == [0, 1, 2, 3]
    # the compute-optimal run beats a same-budget run that is far off the optimum
    off = decide(chinchilla_fake_fit, [{"N": med[1] * 20, "C": 1e21}], kind="mean")
    assert off.loc[0, "loss_median"] > t.loc[2, "loss_median"]
    cols = ["candidate", "allocation", "N", "D", "C", "tokens_per_param", "loss_median", "loss_lower",
            "loss_upper", "decades_beyond_data", "p_below_target", "p_better_than_baseline",
            "improvement_median", "improvement_lower", "improvement_upper", "improvement_per_flop",
            "improvement_per_1e21_flops"]
    assert list(t.columns) == cols
    assert (t["decades_beyond_data"] == 0).all()  # all inside the simulated design


@pytest.mark.parametrize(
    ("candidates", "said"),
    [
        ([-1e23], r"candidate 0 \(a budget C in FLOPs\) must be a finite number > 0, got -1e\+23"),
        ([1e21, (1e9, 2e10, 3.0)], r"candidate 1 must be an \(N, D\) pair of two numbers, got \(1000000000.0, "),
        ([(7e10, -1.0)], r"D of candidate 0 must be a finite number > 0, got -1.0"),
        ([{"N": 1e9}], r"exactly two of 'N', 'D', 'C'.*\['N'\]"),
        ([{"N": 1e9, "tokens": 2e10}], r"exactly two of 'N', 'D', 'C'"),
        (["big"], r"candidate 0 must be a budget C \(a number\), an \(N, D\) pair.*'big'"),
        ([True], r"candidate 0 must be a budget C"),
        ([], "candidates is empty"),
        (5.88e23, r"wrap a single candidate in a list"),
        ([float("nan")], r"got nan"),
    ],
)
def test_decide_rejects_bad_candidates_naming_them(chinchilla_fake_fit, candidates, said):
    with pytest.raises(DecisionError, match=said):
        decide(chinchilla_fake_fit, candidates)


def test_decide_rejects_bad_options(chinchilla_fake_fit):
    with pytest.raises(DecisionError, match=r"baseline=1e\+23.*looks like a size or a budget"):
        decide(chinchilla_fake_fit, [1e20], baseline=1e23)
    with pytest.raises(DecisionError, match=r"N of baseline must be a finite number > 0, got -5"):
        decide(chinchilla_fake_fit, [1e20], baseline=(-5, 1e10))
    with pytest.raises(DecisionError, match="target"):
        decide(chinchilla_fake_fit, [1e20], target="2.0")
    with pytest.raises(DecisionError, match="kind"):
        decide(chinchilla_fake_fit, [1e20], kind="posterior")
    with pytest.raises(DecisionError, match="ci_prob"):
        decide(chinchilla_fake_fit, [1e20], ci_prob=1.0)


def test_decide_warns_once_when_candidates_are_far_beyond_the_runs(chinchilla_fake_fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = decide(chinchilla_fake_fit, [1e23, C_CHINCHILLA, (7e10, 1.4e12)], baseline=(1e9, 2e10))
    far = [w for w in caught if issubclass(w.category, ExtrapolationWarning)]
    assert len(far) == 1 and "C 2.3 decades" in str(far[0].message)
    assert far[0].filename == __file__  # attributed to the caller
    np.testing.assert_allclose(t["decades_beyond_data"], np.log10(np.array([1e23, 5.88e23, 5.88e23]) / 3e21),
                               rtol=1e-9)


def test_decide_on_a_mixture_and_a_comparison(chinchilla_fake_fit):
    kap = kaplan_fit(shape=(4, 250))
    fits = {"chinchilla": chinchilla_fake_fit, "kaplan": kap}
    cands = [1e20, (1e9, 2e10)]
    kw = {"target": 2.6, "baseline": (5e8, 1e10), "kind": "mean"}
    alone = decide(chinchilla_fake_fit, cands, **kw)
    only_c = decide(AveragedFit(fits, {"chinchilla": 1.0, "kaplan": 0.0}), cands, **kw)
    pd.testing.assert_frame_equal(only_c, alone)
    table = pd.DataFrame({"weight": [0.5, 0.5]}, index=["chinchilla", "kaplan"])
    cmp = Comparison(table, fits, loo={})
    mixed = decide(cmp, cands, **kw)
    k_only = decide(kap, cands, **kw)
    # half the draws from each law: probabilities and expectations are the laws' averages
    lo, hi = sorted([alone.loc[1, "loss_median"], k_only.loc[1, "loss_median"]])
    assert lo + 0.02 < mixed.loc[1, "loss_median"] < hi - 0.02  # the two laws differ by 0.15 here
    for col in ("p_below_target", "p_better_than_baseline"):
        assert mixed.loc[1, col] == pytest.approx((alone.loc[1, col] + k_only.loc[1, col]) / 2, abs=0.02)
    # a quantile of a half-and-half mixture lies between the laws' quantiles at the same level
    for col in ("improvement_lower", "improvement_median", "improvement_upper"):
        lo, hi = sorted([alone.loc[1, col], k_only.loc[1, col]])
        assert lo < mixed.loc[1, col] < hi, col
    mix_alloc = compute_optimal(cmp, C=1e20)
    assert mixed.loc[0, "N"] == pytest.approx(mix_alloc.summary().query("quantity == 'N_opt'")["median"].item())


# -- plot ---------------------------------------------------------------------------------------------


def test_plot_isoflop(chinchilla_fake_fit, tmp_path):
    budgets = [1e19, 1e20, 1e21]
    ax = plot_isoflop(chinchilla_fake_fit, C=budgets, ci_prob=0.9)
    alloc = compute_optimal(chinchilla_fake_fit, C=budgets, ci_prob=0.9)
    med = alloc.summary().query("quantity == 'N_opt'")["median"].to_numpy()
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("parameters N") and "loss" in ax.get_ylabel()
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 100]
    assert len(curves) == 3
    for line, n_star in zip(curves, med, strict=True):
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert x.min() < n_star < x.max()
        # the median profile's lowest point sits at the median N* (within a grid step)
        assert abs(np.log(x[np.argmin(y)]) - np.log(n_star)) < 1.5 * np.log(x[1] / x[0])
    markers = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    np.testing.assert_allclose(sorted(float(m.get_xdata()[0]) for m in markers), sorted(med), rtol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("C = 1e+19: N* ") and any("observed runs" in t for t in labels)
    ax.figure.savefig(tmp_path / "isoflop.png", dpi=110)
    assert (tmp_path / "isoflop.png").stat().st_size > 10_000
    plt.close(ax.figure)

    kap = kaplan_fit()
    ax = plot_isoflop(kap, C=1e21, N_range=(1e8, 1e12), n_points=50)
    line = ax.get_lines()[0]
    assert len(line.get_xdata()) == 50 and line.get_xdata()[0] == pytest.approx(1e8)
    ax.figure.savefig(tmp_path / "isoflop_kaplan.png", dpi=110)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="N_range"):
        plot_isoflop(kap, C=1e21, N_range=(1e12, 1e8))


# -- slow: a real fit -------------------------------------------------------------------------------


@pytest.mark.slow
def test_allocation_recovers_the_truth_from_a_fit_to_simulated_runs():
    runs = isoflop_runs("chinchilla", CHINCHILLA_TRUE, noise_sd=0.01, seed=8)
    fit = bs.fit(runs, "chinchilla", draws=400, tune=400, chains=2, random_seed=3, progressbar=False)
    alloc = compute_optimal(fit, C=3e21, ci_prob=0.94)
    s = alloc.summary().set_index("quantity")
    true_N = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62) * (3e21 / 6) ** (0.28 / 0.62)
    assert s.loc["N_opt", "lower"] < true_N < s.loc["N_opt", "upper"]
    e = alloc.exponents(0.94)
    assert e.loc["a", "lower"] < 0.28 / 0.62 < e.loc["a", "upper"]
    t = decide(fit, [3e21], target=2.3, baseline=(float(runs.N[0]), float(runs.D[0])))
    assert t.loc[0, "p_better_than_baseline"] > 0.99 and t.loc[0, "improvement_lower"] > 0
    assert t.loc[0, "improvement_lower"] < t.loc[0, "improvement_median"] < t.loc[0, "improvement_upper"]

"""Training curves in long format: one row per checkpoint (issue 3, item 1)."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.runs import CurveOrderError, MissingColumnError, RunTableError

from ..conftest import SHARED, shared_file


def curves_df(sizes=(("small", 1e8), ("large", 1e9))):
    rows = []
    for run, N in sizes:
        for step in (100, 200, 400, 800, 1600):
            rows.append({"id": run, "params": N, "it": step, "seen": step * 5e5, "lr": 3e-4,
                         "val": 2.0 + 50 * N**-0.3 + 30 * (step * 5e5) ** -0.25})
    return pd.DataFrame(rows)


def test_long_format_with_step_and_tokens():
    df = curves_df()
    before = df.copy(deep=True)
    runs = bs.RunTable.from_dataframe(df, N="params", loss="val", run="id", step="it", tokens="seen", lr="lr")
    pd.testing.assert_frame_equal(df, before)
    assert runs.curve_axis == "step" and len(runs) == 10
    np.testing.assert_array_equal(runs.D, df.seen)  # D is the tokens seen so far
    np.testing.assert_allclose(runs.C, 6 * df.params * df.seen)
    np.testing.assert_array_equal(runs.column("step"), df.it)
    assert "checkpoints of 2 runs" in repr(runs)


def test_step_only_curves_have_no_D():
    df = curves_df().drop(columns=["seen"])
    runs = bs.RunTable.from_dataframe(df, N="params", loss="val", run="id", step="it")
    with pytest.raises(MissingColumnError, match="no column 'D'"):
        _ = runs.D
    final = runs.final()
    assert final.curve_axis == "step" and final.column("step").tolist() == [1600, 1600]
    with pytest.raises(MissingColumnError, match="need a run id"):
        bs.RunTable.from_dataframe(df.drop(columns=["id"]), N="params", loss="val", step="it")


def test_final_view_is_a_table_of_finished_runs():
    runs = bs.RunTable.from_dataframe(curves_df(), N="params", loss="val", run="id", tokens="seen")
    final = runs.final()
    assert final.curve_axis is None and list(final.run_ids) == ["small", "large"]
    np.testing.assert_array_equal(final.D, [1600 * 5e5, 1600 * 5e5])
    with pytest.raises(RunTableError, match="needs a table of checkpoints"):
        final.final()


def test_drop_warmup_and_thin():
    runs = bs.RunTable.from_dataframe(curves_df(), N="params", loss="val", run="id", step="it", tokens="seen")
    assert runs.drop_warmup(steps=400).column("step").tolist() == [400, 800, 1600] * 2
    assert runs.drop_warmup(tokens=4e8).column("step").tolist() == [800, 1600] * 2
    assert runs.drop_warmup(fraction=0.3).column("step").tolist() == [800, 1600] * 2  # 0.3 x 1600 = 480
    assert runs.thin(2).column("step").tolist() == [100, 400, 1600] * 2
    assert runs.thin(3).column("step").tolist() == [100, 800, 1600] * 2  # the last is always kept
    short = runs.filter((runs.run_ids == "large") | (runs.column("step") <= 400))  # 'small' stops at 400
    with pytest.warns(UserWarning, match=r"left no checkpoint in 1 run\(s\), dropped: \['small'\]"):
        assert short.drop_warmup(steps=800).column("step").tolist() == [800, 1600]
    with pytest.raises(ValueError, match="exactly one of"):
        runs.drop_warmup(steps=1, fraction=0.1)


def test_curve_errors_name_the_run_and_rows():
    df = curves_df()
    bad = df.copy()
    bad.loc[7, "params"] = 1.1e9
    with pytest.raises(CurveOrderError, match=r"run 'large'.*N changes within the run at row 7"):
        bs.RunTable.from_dataframe(bad, N="params", loss="val", run="id", step="it")
    bad = df.copy()
    bad.loc[3, "it"] = 150
    with pytest.raises(CurveOrderError, match=r"run 'small'.*step goes backwards at row 3 \('150 after 400'\)"):
        bs.RunTable.from_dataframe(bad, N="params", loss="val", run="id", step="it")
    bad = df.copy()
    bad.loc[2, "seen"] = bad.loc[1, "seen"]
    with pytest.raises(CurveOrderError, match=r"run 'small'.*tokens seen \(D\) repeats at row 2"):
        bs.RunTable.from_dataframe(bad, N="params", loss="val", run="id", tokens="seen")
    with pytest.raises(RunTableError, match="not both"):
        bs.RunTable.from_dataframe(df, N="params", loss="val", run="id", tokens="seen", D="seen")
    bad = df.copy()
    bad.loc[0, "it"] = -1
    with pytest.raises(bs.runs.NonPositiveError, match="'it' must be >= 0"):
        bs.RunTable.from_dataframe(bad, N="params", loss="val", run="id", step="it")


def test_real_curves_load_and_their_quirks_are_named():
    path = shared_file(SHARED / "misfitting_li2025_curves.csv")
    df = pd.read_csv(path)
    kw = dict(N="N_params_nonembed", tokens="D_tokens_seen", loss="c4_eval_loss", run="run_id", step="current_steps")
    with pytest.raises(CurveOrderError, match="the step repeats"):
        bs.RunTable.from_dataframe(df, **kw)  # the file flags these itself in dup_step_in_run
    clean = df[~df.dup_step_in_run].sort_values(["run_id", "current_steps"], kind="stable")
    runs = bs.RunTable.from_dataframe(clean, **kw)
    assert runs.final().n_distinct("N") == 11 and len(runs.final()) == runs.to_dataframe()["run"].nunique()


THREE = (("small", 1e8), ("mid", 3e8), ("large", 1e9))


def test_curve_table_gets_run_aware_noise_by_default():
    runs = bs.RunTable.from_dataframe(curves_df(THREE), N="params", loss="val", run="id", tokens="seen")
    model = bs.inference.build_model(runs, "kaplan_steps:N,D")
    names = {v.name for v in model.free_RVs}
    assert {"tau", "ell", "sigma"} <= names and not any("offset" in n for n in names)  # offsets integrated out
    assert model.named_vars_to_dims["log_loss"] == ("checkpoint",)
    assert list(model.coords["run"]) == ["small", "mid", "large"]
    iid = bs.inference.build_model(runs, "kaplan_steps:N,D", noise="iid")
    assert {v.name for v in iid.free_RVs} == {"aN", "aS", "log_Nc_pivot", "log_Sc_pivot", "sigma", "nu"}


def test_run_aware_noise_is_refused_for_final_losses():
    final = bs.RunTable.from_dataframe(curves_df(THREE), N="params", loss="val", run="id", tokens="seen").final()
    with pytest.raises(bs.laws.NoiseError, match="one final loss per run"):
        bs.inference.build_model(final, "kaplan_steps:N,D", noise="ar1")
    with pytest.raises(bs.laws.NoiseError, match="run_effects need several checkpoints"):
        bs.inference.build_model(final, "kaplan_steps:N,D", run_effects=["aS"])
    with pytest.raises(ValueError, match="noise='white' is not known"):
        bs.inference.build_model(final, "kaplan_steps:N,D", noise="white")


def test_ar1_likelihood_is_the_exact_gaussian_density_of_each_run():
    """The model writes each checkpoint given the earlier ones of its run, with the run offset
    integrated out; the product must equal the joint normal density of each run with covariance
    tau^2 + sigma^2 exp(-|log t_i - log t_j| / ell). Rows of the runs are interleaved on purpose."""
    from scipy.stats import multivariate_normal

    df = curves_df(THREE)
    df = df[df.it != 400].sample(frac=1.0, random_state=0).sort_values("it", kind="stable")  # uneven, interleaved
    runs = bs.RunTable.from_dataframe(df, N="params", loss="val", run="id", tokens="seen")
    law = bs.get_law("kaplan_steps").on("N", "D")
    model = bs.inference.build_model(runs, law, pivot={"N": 1.0, "D": 1.0})
    point = {"aN": 0.08, "aS": 0.3, "log_Nc_pivot": np.log(1e13), "log_Sc_pivot": np.log(1e3),
             "sigma": 0.02, "tau": 0.03, "ell": 0.7}
    ip = model.initial_point()
    vals = {}
    for k in ip:
        base = k.removesuffix("_log__")
        vals[k] = np.log(point[base]) if k.endswith("_log__") else np.asarray(point[base], dtype=float)
    logp = model.compile_fn(model.logp(vars=[model["log_loss"]], sum=True))(vals)
    mu = np.log(law(N=runs.N, D=runs.D, Nc=1e13, Sc=1e3, aN=0.08, aS=0.3))
    expected = 0.0
    for run in ("small", "mid", "large"):
        rows = runs.run_ids == run
        t = np.log(runs.D[rows])
        cov = 0.02**2 * np.exp(-np.abs(t[:, None] - t[None, :]) / 0.7) + 0.03**2
        expected += multivariate_normal(mean=mu[rows], cov=cov).logpdf(np.log(runs.loss[rows]))
    assert float(logp) == pytest.approx(expected, rel=1e-10)


def test_one_checkpoint_per_run_step_table_can_be_fitted():
    df = curves_df().drop(columns=["seen"])
    df = pd.concat([df[df.it <= last].assign(id=df.id + "-" + str(k), params=df.params * (1 + k))
                    for k, last in enumerate((400, 800, 1600))])  # runs of three lengths
    final = bs.RunTable.from_dataframe(df, N="params", loss="val", run="id", step="it").final()
    model = bs.inference.build_model(final, "kaplan_steps")  # one checkpoint per run: independent runs
    # final losses get the law's error beyond the fitted runs (along N: this table has no C)
    assert {v.name for v in model.free_RVs} == {"aN", "aS", "log_Nc_pivot", "log_Sc_pivot", "sigma", "nu", "kappa"}


@pytest.mark.slow
def test_kaplan_steps_recovery_from_final_losses_of_runs_of_different_lengths():
    law = bs.get_law("kaplan_steps")
    truth = law.example
    rng = np.random.default_rng(3)
    rows = [{"run": f"{N:.2e}-{S:.0f}", "N": N, "step": S,
             "loss": float(law(N=N, step=S, **truth)) * np.exp(rng.normal(0, 0.02))}
            for N in np.geomspace(1e7, 1e10, 6) for S in np.geomspace(1e3, 1e5, 6)]
    runs = bs.RunTable.from_dataframe(pd.DataFrame(rows), run="run", step="step")
    fit = bs.fit(runs, "kaplan_steps", random_seed=1, progressbar=False)
    summ = fit.summary(ci_prob=0.94)
    for name, value in truth.items():
        assert summ.loc[name, "hdi94_lb"] < value < summ.loc[name, "hdi94_ub"], name
    assert fit.diagnostics()["divergences"] == 0 and fit.diagnostics()["max_r_hat"] < 1.01

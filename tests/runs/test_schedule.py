"""Learning-rate schedules, their features, and schedule-aware laws against the exact sums."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.laws.schedule import DROP_BINS, LR_REF, NONNEGATIVE_COLUMNS, SCHEDULE_COLUMNS, drop_columns
from bayescale.runs import DataWarning, ScheduleError, schedule_features
from bayescale.runs.schedule import ANNEAL_DECAY


def test_shapes_give_the_textbook_rates():
    c = bs.Schedule.constant(3e-4, 100, warmup=10)
    assert c.total == 100 and c.warmup == 10
    np.testing.assert_allclose(c.lr[:10], 3e-4 * np.arange(1, 11) / 10)
    assert np.all(c.lr[10:] == 3e-4)

    cos = bs.Schedule.cosine(1.0, 0.1, 110, warmup=10)
    assert cos.lr[9] == pytest.approx(1.0)  # end of the warm-up: the peak
    assert cos.lr[-1] == pytest.approx(0.1)  # last step: the final rate
    assert cos.lr[59] == pytest.approx(0.55)  # halfway through the cosine: the mean of peak and final

    w = bs.Schedule.wsd(1.0, 0.01, 50, 100, decay="geometric")
    assert np.all(w.lr[:50] == 1.0)
    assert w.lr[74] == pytest.approx(0.1)  # halfway in log: sqrt(1 * 0.01)
    assert w.lr[-1] == pytest.approx(0.01)
    lin = bs.Schedule.linear(1.0, 1e-9, 100)  # step s runs at 1 - s / 100 (the peak is step 0's)
    assert lin.lr[49] == pytest.approx(0.5, abs=1e-8) and lin.lr[-1] == pytest.approx(1e-9)

    two = bs.Schedule.two_stage(3e-4, 3e-5, 8000, 16000, warmup=100)
    assert two.lr[7998] == 3e-4 and two.lr[7999] == 3e-5  # step 8000 runs at the second rate


def test_from_steps_interpolates_and_holds():
    s = bs.Schedule.from_steps([1, 11], [1.0, 0.5], total=20)
    assert s.total == 20
    np.testing.assert_allclose(s.lr[:11], np.linspace(1.0, 0.5, 11))
    assert np.all(s.lr[11:] == 0.5)


@pytest.mark.parametrize("make, match", [
    (lambda: bs.Schedule(np.array([1.0, -1.0])), "step 2 has -1$"),
    (lambda: bs.Schedule.constant(1.0, 10, warmup=10), "warmup=10"),
    (lambda: bs.Schedule.wsd(1.0, 0.1, 20, 10), "stable_until=20"),
    (lambda: bs.Schedule.wsd(1.0, 0.1, 5, 10, decay="step"), "decay='step'"),
    (lambda: bs.Schedule.two_stage(1.0, 0.1, 0, 10), "switch=0"),
    (lambda: bs.Schedule.from_steps([1, 5, 3], [1, 1, 1]), "step 3 .position 2. follows 5$"),
])
def test_malformed_schedules_are_refused_by_name(make, match):
    with pytest.raises(ScheduleError, match=match):
        make()


def test_a_rise_after_warmup_is_refused_with_its_step():
    lr = np.array([1.0, 1.0, 0.5, 0.8, 0.8])
    with pytest.raises(ScheduleError, match=r"rises after the warm-up \(step 4: 0.5 -> 0.8\)"):
        bs.Schedule(lr).features([5])


def test_checkpoints_outside_the_schedule_are_refused():
    with pytest.raises(ScheduleError, match="checkpoint step 11 is outside"):
        bs.Schedule.constant(1.0, 10).features([5, 11])


def test_area_and_annealing_area_are_the_exact_sums():
    s = bs.Schedule.wsd(2.0, 0.2, 30, 60, warmup=5)
    t = np.array([3, 30, 45, 60])
    f = s.features(t)
    np.testing.assert_allclose(f["lr_area"], [s.lr[:k].sum() for k in t], rtol=1e-14)
    m, acc = [], 0.0  # S2 straight from Tissue et al.'s recursion
    for k in range(1, s.total + 1):
        drop = s.lr[k - 2] - s.lr[k - 1] if k > s.warmup + 1 else 0.0
        acc = ANNEAL_DECAY * acc + drop
        m.append(acc)
    np.testing.assert_allclose(f["lr_anneal"], [sum(m[:k]) for k in t], rtol=1e-12, atol=1e-15)
    assert f["lr_anneal"][0] == 0.0 and f["lr_anneal"][1] == 0.0  # nothing anneals before the decay


def _exact_multi_power(schedule, t, L0, A, alpha, B, C, beta, gamma):
    """Luo et al. 2025 eq. 5 summed over every step (in this package's C, at LR_REF)."""
    lr = schedule.lr
    drops = schedule.drops()
    area = np.concatenate([[0.0], np.cumsum(lr)])
    out = []
    for tt in t:
        k = np.arange(1, tt + 1)
        s_k = area[tt] - area[k - 1]
        g = 1 - (C * (lr[k - 1] / LR_REF) ** -gamma * s_k + 1) ** -beta
        out.append(L0 + A * area[tt] ** -alpha - B * np.sum(drops[:tt] * g))
    return np.array(out)


@pytest.mark.parametrize("schedule", [
    bs.Schedule.cosine(3e-4, 3e-5, 24000, warmup=2160),
    bs.Schedule.wsd(3e-4, 3e-5, 20000, 24000, warmup=2160, decay="geometric"),
    bs.Schedule.two_stage(3e-4, 9e-5, 8000, 16000, warmup=2160),
], ids=["cosine", "wsd", "two_stage"])
def test_binned_multi_power_matches_the_exact_sum(schedule):
    law = bs.get_law("multi_power")
    p = dict(L0=3.2, A=0.45, alpha=0.6, B=450.0, C=2.0, beta=0.55, gamma=0.5)
    t = np.array([2500, 8000, 8001, 12000, 20500, schedule.total])
    t = t[t <= schedule.total]
    f = schedule.features(t)
    binned = law(**{c: f[c] for c in law.inputs}, **p)
    exact = _exact_multi_power(schedule, t, **p)
    assert np.max(np.abs(binned / exact - 1)) < 2e-4  # 0.02%: a fifth of the best published error
    assert np.all(exact < p["L0"] + p["A"] * f["lr_area"] ** -p["alpha"] + 1e-12)  # decay only lowers the loss


def test_constant_schedule_has_no_drops_and_the_power_law_alone():
    s = bs.Schedule.constant(1e-3, 1000, warmup=100)
    f = s.features([500, 1000])
    assert all(np.all(f[drop_columns(j)[0]] == 0) for j in range(DROP_BINS))
    law = bs.get_law("multi_power")
    out = law(**{c: f[c] for c in law.inputs}, **law.example)
    ex = law.example
    np.testing.assert_allclose(out, ex["L0"] + ex["A"] * f["lr_area"] ** -ex["alpha"], rtol=1e-14)


def test_schedule_columns_are_the_law_inputs():
    assert set(bs.get_law("multi_power").inputs) <= SCHEDULE_COLUMNS
    assert set(bs.get_law("annealing").inputs) == {"lr_area", "lr_anneal"}
    assert "lr_area" not in NONNEGATIVE_COLUMNS and "lr_anneal" in NONNEGATIVE_COLUMNS


def _curves(steps=(500, 1000, 2000, 3000, 4000)):
    rows = [(name, s, 3.0 + 1.0 / s) for name in ("a", "b") for s in steps]
    df = pd.DataFrame(rows, columns=["run", "step", "loss"])
    return bs.RunTable.from_dataframe(df, run="run", step="step", loss="loss", N=None)


def test_with_schedules_adds_the_columns_per_run():
    sched = {"a": bs.Schedule.constant(1e-3, 4000, warmup=100),
             "b": bs.Schedule.cosine(1e-3, 1e-4, 4000, warmup=100)}
    runs = _curves().with_schedules(sched)
    df = runs.to_dataframe()
    assert SCHEDULE_COLUMNS <= set(df.columns)
    a = df[df.run == "a"]
    np.testing.assert_allclose(a.lr_area, sched["a"].features(a.step)["lr_area"])
    assert np.all(df.lr_warmup == 100)
    assert "schedule columns" in repr(runs)


def test_with_schedules_names_a_run_without_one():
    with pytest.raises(ScheduleError, match="no schedule for run 'b'"):
        _curves().with_schedules({"a": bs.Schedule.constant(1e-3, 4000)})
    with pytest.raises(ScheduleError, match="run 'a'.*checkpoint step 4000"):
        schedule_features(np.array([4000.0]), np.array(["a"]), {"a": bs.Schedule.constant(1e-3, 3000)})


def test_warmup_checkpoints_warn_and_drop_warmup_removes_them():
    sched = {r: bs.Schedule.constant(1e-3, 4000, warmup=800) for r in ("a", "b")}
    runs = _curves().with_schedules(sched)
    with pytest.warns(DataWarning, match="warm-up"):
        runs.check_law(bs.get_law("annealing"))
    kept = runs.drop_warmup(schedule=True)
    assert kept.to_dataframe().step.min() == 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        kept.check_law(bs.get_law("annealing"))


def test_multi_power_numpy_and_pytensor_agree():
    import pytensor
    import pytensor.tensor as pt
    law = bs.get_law("multi_power")
    f = bs.Schedule.wsd(3e-4, 3e-5, 2000, 4000, warmup=100).features([1000, 2500, 4000])
    expected = law(**{c: f[c] for c in law.inputs}, **law.example)
    sym = {k: pt.dscalar(k) for k in law.param_names}
    fn = pytensor.function(list(sym.values()), law(**{c: f[c] for c in law.inputs}, **sym))
    np.testing.assert_allclose(fn(*[law.example[k] for k in law.param_names]), expected, rtol=1e-12)


# -- a sampled fit: the annealing law recovers its parameters and forecasts an unseen schedule -------
TRUE = {"L0": 2.8, "A": 0.6, "alpha": 0.5, "C": 0.4}
PEAK, WARM, TOTAL = 1e-3, 200, 6000


def _annealing_runs(schedules, steps, sigma=0.002, seed=0):
    law = bs.get_law("annealing")
    rng = np.random.default_rng(seed)
    rows = []
    for name, sched in schedules.items():
        f = sched.features(steps)
        loss = law(**{c: f[c] for c in law.inputs}, **TRUE) * np.exp(sigma * rng.standard_normal(steps.size))
        rows += [(name, s, y) for s, y in zip(steps, loss, strict=True)]
    df = pd.DataFrame(rows, columns=["run", "step", "loss"])
    return bs.RunTable.from_dataframe(df, run="run", step="step", loss="loss", N=None).with_schedules(schedules)


def test_run_centres_are_finite_where_an_input_is_zero():
    """A constant schedule's annealing area is 0: that run's centre is 0 (any centre is the same model),
    not log(0); the other runs keep the mean of their log inputs."""
    from bayescale.inference.model import model_data, pivots

    steps = np.arange(300, TOTAL + 1, 300)
    runs = _annealing_runs({"constant": bs.Schedule.constant(PEAK, TOTAL, warmup=WARM),
                            "cosine": bs.Schedule.cosine(PEAK, 0.1 * PEAK, TOTAL, warmup=WARM)}, steps)
    spec = bs.ModelSpec.build("annealing", runs=runs, noise="iid")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        values = model_data(runs, spec, pivot=pivots(runs, spec.law)).values
    x, bounds = values["x_lr_anneal"], values["run_bounds"]
    centres = values["run_log_x_lr_anneal"]
    assert np.all(np.isfinite(centres))
    for r in range(2):
        rows = x[bounds[r]:bounds[r + 1]]
        expected = np.mean(np.log(rows)) if np.all(rows > 0) else 0.0
        assert centres[r] == pytest.approx(expected)
    assert np.any(x <= 0)


@pytest.fixture(scope="module")
def annealing_fit():
    train = {"constant": bs.Schedule.constant(PEAK, TOTAL, warmup=WARM),
             "cosine": bs.Schedule.cosine(PEAK, 0.1 * PEAK, TOTAL, warmup=WARM),
             "wsd": bs.Schedule.wsd(PEAK, 0.1 * PEAK, 4000, TOTAL, warmup=WARM)}
    runs = _annealing_runs(train, np.arange(300, TOTAL + 1, 150))
    return bs.fit(runs, "annealing", noise="iid", likelihood="normal", draws=500, tune=500, chains=2,
                  random_seed=3, progressbar=False)


def test_annealing_fit_recovers_the_parameters(annealing_fit):
    s = annealing_fit.summary(ci_prob=0.94)
    for k, v in TRUE.items():
        lo, hi = s.loc[k].iloc[2], s.loc[k].iloc[3]
        assert lo <= v <= hi, (k, v, lo, hi)


def test_forecast_run_under_an_unseen_schedule(annealing_fit):
    unseen = bs.Schedule.linear(PEAK, 0.05 * PEAK, TOTAL, warmup=WARM)
    steps = np.arange(1000, TOTAL + 1, 1000)
    truth = _annealing_runs({"linear": unseen}, steps, sigma=0.0).to_dataframe().loss.to_numpy()
    fc = bs.forecast_run(annealing_fit, at=steps, schedule=unseen, ci_prob=0.9)
    np.testing.assert_allclose(fc["median"], truth, rtol=3e-3)
    assert np.all((fc.lower <= truth) & (truth <= fc.upper))
    # a schedule is needed, and only where the law reads one
    from bayescale.analysis import PredictionInputError
    with pytest.raises((PredictionInputError, ScheduleError), match="schedule"):
        bs.forecast_run(annealing_fit, at=steps)
    lpd = bs.analysis.forecast_log_density(annealing_fit, truth, at=steps, schedule=unseen)
    assert lpd.shape == (steps.size,) and np.all(np.isfinite(lpd))


def test_default_sampler_prefers_jax_for_laws_of_many_columns():
    from bayescale.inference.samplers import NUMBA_MAX_INPUTS, _missing, default_sampler
    assert len(bs.get_law("multi_power").inputs) > NUMBA_MAX_INPUTS >= len(bs.get_law("annealing").inputs)
    if not _missing("numpyro"):
        assert default_sampler(len(bs.get_law("multi_power").inputs)) == "numpyro"
    assert default_sampler(2) == default_sampler()

"""Calibration by simulation: pooled coverage and its standard errors, the screen on training data,
argument errors, the plot, and (slow) short real runs."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.analysis.backtest import BacktestError
from bayescale.analysis.calibration import Calibration, CalibrationError, _screen, calibrate
from bayescale.plots.backtest import plot_calibration

from ..conftest import CHINCHILLA_TRUE, isoflop_runs

HOFFMANN = {**CHINCHILLA_TRUE, "sigma": 0.02}


def hand_calibration(hits: list[list[bool]], warned: list[bool] | None = None) -> Calibration:
    """A Calibration whose 90% hits per data set are given (other intervals hit always)."""
    n = len(hits)
    warned = warned or [False] * n
    points = pd.DataFrame([{"dataset": i, "run": j, "loss": 2.0, "inside_0.5": h, "inside_0.9": h}
                           for i, hs in enumerate(hits) for j, h in enumerate(hs)])
    datasets = pd.DataFrame({"dataset": range(n), "divergences": [3 if w else 0 for w in warned], "max_r_hat": 1.0,
                             "sampler_warning": ["3 divergent transitions" if w else "" for w in warned]})
    skipped = pd.DataFrame({"candidate": [7], "seed": [1], "reason": ["training loss above 100 (max 1e+04)"]})
    return Calibration(datasets, points, skipped, ci_probs=(0.5, 0.9), law="chinchilla", source="prior",
                       holdout="largest-C slice", train_loss_range=(1e-2, 1e2))


def test_pooled_coverage_and_both_standard_errors():
    hits = [[True, True, True, True], [True, True, False, False], [False, False, False, False]]
    cal = hand_calibration(hits)
    cov = cal.coverage().loc[0.9]
    c = 6 / 12
    assert cov["coverage"] == pytest.approx(c) and cov["n_points"] == 12 and cov["n_datasets"] == 3
    assert cov["se"] == pytest.approx(np.sqrt(c * (1 - c) / 12))
    # clustered: sqrt(n/(n-1) * sum (h_i - c m_i)^2) / M with h = 4, 2, 0 and m = 4
    assert cov["se_datasets"] == pytest.approx(np.sqrt(3 / 2 * (2**2 + 0**2 + 2**2)) / 12)
    assert cov["se_datasets"] > cov["se"]  # points of one data set hit or miss together


def test_exclude_warned_drops_those_data_sets():
    cal = hand_calibration([[True, True], [False, False], [True, False]], warned=[False, True, False])
    assert cal.warned.tolist() == [False, True, False]
    assert cal.coverage().loc[0.9, "coverage"] == pytest.approx(3 / 6)
    clean = cal.coverage(exclude_warned=True).loc[0.9]
    assert clean["coverage"] == pytest.approx(3 / 4) and clean["n_datasets"] == 2
    by_id = cal.coverage(datasets=[0, 2]).loc[0.9]
    by_mask = cal.coverage(datasets=cal.datasets["divergences"] == 0).loc[0.9]
    assert by_id["coverage"] == by_mask["coverage"] == clean["coverage"] and by_id["n_points"] == 4
    assert cal.coverage(datasets=[1], exclude_warned=True).loc[0.9, "n_points"] == 0
    text = repr(cal)
    assert "skipped 1 candidates" in text and "1 fits raised SamplerWarning" in text and "90%: coverage 0.500" in text


def test_screen_reads_only_training_losses():
    loss = np.array([2.0, 3.0, 1e6, 1e-6])
    train = np.array([True, True, False, False])
    assert _screen(loss, train, (1e-2, 1e2)) == ""  # absurd held-out values do not matter
    assert _screen(np.array([2.0, 1e3, 2.0, 2.0]), train, (1e-2, 1e2)).startswith("training loss above 100")
    assert _screen(np.array([2e-3, 3.0, 2.0, 2.0]), train, (1e-2, 1e2)).startswith("training loss below 0.01")
    assert _screen(np.array([np.inf, 3.0, 2.0, 2.0]), train, None).startswith("non-finite")
    assert _screen(np.array([1e3, 3.0, 2.0, 2.0]), train, None) == ""


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fit_kwargs": {"priors": {}}}, r"may not set \['priors'\]"),
    ({"fit_kwargs": {"random_seed": 1}}, "random_seed"),
    ({"params": {"E": 1.7, "A": 400.0}}, r"missing \['B', 'alpha', 'beta', 'sigma', 'nu'\]"),
    ({"params": {**HOFFMANN, "nu": 5.0}, "likelihood": "normal"}, r"unknown \['nu'\]"),
    ({"params": HOFFMANN}, r"student_t likelihood .* missing \['nu'\]"),  # the default family
    ({"n_datasets": 0}, "positive integer"),
    ({"holdout": "largest_S"}, "not a rule"),
])
def test_calibrate_argument_errors(kwargs, match):
    with pytest.raises((CalibrationError, BacktestError), match=match):
        calibrate(isoflop_runs(noise_sd=0.0), "chinchilla", **kwargs)


def test_plot_calibration(tmp_path):
    cal = hand_calibration([[True, True, True, False], [True, True, True, True], [True, False, True, True]])
    ax = plot_calibration(cal)
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    diag = ax.lines[0]
    assert list(diag.get_xdata()) == [0, 1] and list(diag.get_ydata()) == [0, 1]
    pts = ax.containers[0]  # the errorbar container
    xs, ys = pts.lines[0].get_data()
    np.testing.assert_allclose(xs, [0.5, 0.9])
    np.testing.assert_allclose(ys, [10 / 12, 10 / 12])
    assert ax.get_xlabel() == "nominal interval probability"
    assert "3 data sets, 12 points" in ax.get_title()
    ax.figure.savefig(tmp_path / "calibration.png", dpi=120)
    plt.close("all")


@pytest.mark.slow
def test_calibrate_fixed_parameters_on_an_isoflop_design():
    design = isoflop_runs(noise_sd=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        cal = calibrate(design, "chinchilla", n_datasets=4, params=HOFFMANN, likelihood="normal", random_seed=3,
                        fit_kwargs={"draws": 300, "tune": 500, "chains": 2})
    d = cal.datasets
    assert len(d) == 4 and d["n_test"].tolist() == [7] * 4 and d["n_train"].tolist() == [35] * 4
    assert np.allclose(d[["E", "A", "B", "alpha", "beta", "sigma"]].to_numpy(),
                       [[HOFFMANN[k] for k in ("E", "A", "B", "alpha", "beta", "sigma")]] * 4)
    assert d["seed"].nunique() == 4 and len(cal.skipped) == 0
    assert len(cal.points) == 28 and cal.points["loss"].nunique() == 28  # fresh noise per data set
    cov = cal.coverage()
    assert cov.loc[0.95, "coverage"] >= 0.7 and cov.loc[0.5, "coverage"] <= cov.loc[0.95, "coverage"]
    assert d["max_r_hat"].max() < 1.1 and (d["rmsle"] < 0.05).all()


@pytest.mark.slow
def test_calibrate_from_the_prior_draws_truths_and_skips_on_training_data():
    design = bs.load_demo_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        cal = calibrate(design, "chinchilla", n_datasets=3, random_seed=1,
                        fit_kwargs={"draws": 300, "tune": 500, "chains": 2})
    d = cal.datasets
    assert cal.source == "prior" and len(d) == 3 and d["E"].nunique() == 3
    assert (d["candidate"].diff().dropna() >= 1).all()
    # whatever was skipped was skipped for its training losses, and the fitted ones pass the screen
    assert all(r.startswith(("training loss", "non-finite")) for r in cal.skipped["reason"])
    for i in d["dataset"]:
        pts = cal.points[cal.points["dataset"] == i]
        assert np.isfinite(pts["log_density"]).all() and ((pts["pit"] >= 0) & (pts["pit"] <= 1)).all()
    again = calibrate(design, "chinchilla", n_datasets=1, random_seed=1, train_loss_range=None,
                      fit_kwargs={"draws": 100, "tune": 200, "chains": 1})
    # same random_seed: the same candidates in the same order (and so the same data), whatever n_datasets
    assert d["candidate"][0] == 0 and again.datasets["seed"][0] == d["seed"][0]
    assert again.datasets["E"][0] == d["E"][0] and again.datasets["alpha"][0] == d["alpha"][0]
    np.testing.assert_array_equal(again.points["loss"], cal.points.loc[cal.points["dataset"] == 0, "loss"])

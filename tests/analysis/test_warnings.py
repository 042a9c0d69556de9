"""Warnings a user must see: predictions far beyond the runs, and designs that cannot identify a law."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

from ..conftest import isoflop_runs


def test_loss_interval_warns_far_beyond_the_runs_and_says_how_far(chinchilla_fake_fit):
    fit = chinchilla_fake_fit  # isoFLOP runs up to C = 3e21
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.analysis.ExtrapolationWarning)
        bs.loss_interval(fit, N=1e9, D=2e10)  # inside the data
        bs.loss_interval(fit, N=1e10, C=2.9e22)  # 0.99 decades beyond in C: not yet
    with pytest.warns(bs.analysis.ExtrapolationWarning, match=r"predicting C 2\.3 decades beyond") as rec:
        bs.loss_interval(fit, N=7e10, D=1.4e12)
    assert len(rec) == 1 and "holdout='largest_C'" in str(rec[0].message)
    with pytest.warns(bs.analysis.ExtrapolationWarning, match="N 1.0 decades, C 1.3 decades"):
        bs.prob_below(fit, 2.0, N=np.sqrt(3e21 / 120) * 5 * 10.5, C=6e22)


def test_extrapolation_decades_are_exact(chinchilla_fake_fit):
    runs = chinchilla_fake_fit.runs
    far = bs.analysis.extrapolation_decades(chinchilla_fake_fit, N=runs.N.max() * 100, D=runs.D.min() / 10)
    assert far["N"] == pytest.approx([2.0]) and far["D"] == pytest.approx([1.0])


def test_design_problems_name_the_collinear_inputs():
    N = np.geomspace(1e8, 1e10, 16)
    runs = bs.RunTable.from_dataframe(pd.DataFrame({"N": N, "D": 20 * N, "loss": 2 + 1 / np.log(N)}))
    (problem,) = bs.runs.design_problems(runs, "chinchilla")
    assert problem.startswith("N and D move together (correlation of log N and log D = +1.000")
    assert bs.runs.design_problems(isoflop_runs(), "chinchilla") == []


@pytest.mark.slow
def test_fit_warns_before_sampling_when_the_design_cannot_identify_the_law():
    N = np.geomspace(1e8, 1e10, 16)
    law = bs.get_law("chinchilla")
    loss = law(N=N, D=20 * N, **law.example) * np.exp(np.random.default_rng(0).normal(0, 0.01, N.size))
    runs = bs.RunTable.from_dataframe(pd.DataFrame({"N": N, "D": 20 * N, "loss": loss}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bs.fit(runs, "chinchilla", draws=100, tune=100, chains=2, random_seed=0, progressbar=False)
    said = [str(w.message) for w in caught if issubclass(w.category, bs.runs.IdentifiabilityWarning)]
    assert len(said) == 1 and said[0].startswith("chinchilla on these runs: N and D move together")

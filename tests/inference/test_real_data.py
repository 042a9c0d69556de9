"""Agreement with the published Chinchilla replication (Besiroglu et al. 2024) on its own data."""

import numpy as np
import pytest

import bayescale as bs

from ..conftest import EPOCH_RAW, shared_file

pytestmark = pytest.mark.slow

# 95% bootstrap intervals of the replication's Huber fit, from shared/data/README.md
REPLICATION_95 = {"E": (1.769, 1.871), "A": (285, 744), "B": (1042, 5810),
                  "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}

REPLICATION_ESTIMATE = {"E": 1.817, "A": 482, "B": 2085, "alpha": 0.348, "beta": 0.366}


@pytest.fixture(scope="module")
def epoch_runs():
    runs = bs.datasets.load("chinchilla_epoch2024", shared_file(EPOCH_RAW)).drop_highest_loss(5)
    assert len(runs) == 240
    return runs


@pytest.fixture(scope="module")
def epoch_fit(epoch_runs):
    """The model before the law's error term (noise="iid"), the one the replication's numbers are for."""
    return bs.fit(epoch_runs, "chinchilla", likelihood="student_t", noise="iid", random_seed=2024, progressbar=False)


@pytest.mark.parametrize("name", ["E", "A", "B", "alpha", "beta"])
def test_medians_inside_replication_intervals(epoch_fit, name):
    median = float(epoch_fit.posterior[name].median())
    lo, hi = REPLICATION_95[name]
    assert lo < median < hi, f"{name} median {median} outside the replication's 95% [{lo}, {hi}]"


def test_epoch_fit_is_clean_and_chinchilla_70b_is_plausible(epoch_fit):
    diag = epoch_fit.diagnostics()
    assert diag["divergences"] == 0 and diag["max_r_hat"] < 1.01 and diag["min_ess_bulk"] > 1000
    ci = bs.loss_interval(epoch_fit, N=7e10, D=1.4e12, ci_prob=0.9)
    # the replication's published point estimate, evaluated at Chinchilla-70B
    replication = bs.get_law("chinchilla")(N=7e10, D=1.4e12, **REPLICATION_ESTIMATE)
    assert ci["lower"][0] < replication < ci["upper"][0]
    assert ci["upper"][0] - ci["lower"][0] < 0.05


def test_the_default_adds_the_laws_error_at_chinchilla_70b(epoch_runs, epoch_fit):
    """The default fit has the same law posterior inside the data and a wider 70B interval, nearly
    all of it the law's own error (1.6 decades of C beyond the largest digitised run)."""
    fit = bs.fit(epoch_runs, "chinchilla", likelihood="student_t", random_seed=2024, progressbar=False)
    assert fit.noise.structure == "discrepancy"
    for name in ("E", "alpha", "beta"):  # the runs decide the law alike (Monte Carlo error only)
        a, b = fit.posterior[name], epoch_fit.posterior[name]
        assert abs(float(a.median()) - float(b.median())) < 0.25 * float(b.std())
    kw = dict(N=7e10, D=1.4e12, ci_prob=0.9, kind="new_run", ci_kind="eti")
    honest, before = bs.loss_interval(fit, sources=True, **kw), bs.loss_interval(epoch_fit, sources=True, **kw)
    assert honest["decades_beyond"][0] == pytest.approx(np.log10(5.88e23 / epoch_runs.C.max()))
    assert before["share_law"][0] == 0 and honest["share_law"][0] > 0.8
    assert (honest["width"][0] > 5 * before["width"][0]
            and honest["width_params"][0] == pytest.approx(before["width_params"][0], rel=0.2))
    assert honest["lower"][0] < 1.9367 < honest["upper"][0]  # Hoffmann et al.'s law at Chinchilla-70B

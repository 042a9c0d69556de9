"""Agreement with the published Chinchilla replication (Besiroglu et al. 2024) on its own data."""

import pytest

import bayescale as bs

from ..conftest import EPOCH_RAW, shared_file

pytestmark = pytest.mark.slow

# 95% bootstrap intervals of the replication's Huber fit, from shared/data/README.md
REPLICATION_95 = {"E": (1.769, 1.871), "A": (285, 744), "B": (1042, 5810),
                  "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}

REPLICATION_ESTIMATE = {"E": 1.817, "A": 482, "B": 2085, "alpha": 0.348, "beta": 0.366}


@pytest.fixture(scope="module")
def epoch_fit():
    runs = bs.datasets.load("chinchilla_epoch2024", shared_file(EPOCH_RAW)).drop_highest_loss(5)
    assert len(runs) == 240
    return bs.fit(runs, "chinchilla", likelihood="student_t", random_seed=2024, progressbar=False)


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

"""plot_frontier on a frontier from a hand-built posterior: what is drawn, on which axes."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescale as bs
from bayescale.analysis.predict import ExtrapolationWarning
from bayescale.plots.frontier import plot_frontier

from ..conftest import fake_fit  # conftest also sets the Agg backend

TRUTH = {"Nc": 6.5e13, "Sc": 2.1e3 * 5e5, "aN": 0.076, "aS": 0.76}


@pytest.fixture(scope="module")
def frontier():
    runs = bs.runs.simulate_curves("kaplan_steps", {**TRUTH, "Sc": 2.1e3}, sizes=np.geomspace(1e7, 1e9, 6),
                                   steps=np.geomspace(100, 1e5, 30), tokens_per_step=5e5, sigma=0.0,
                                   random_seed=0)
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(rng.normal(0, 0.03, (2, 40))) for k, v in TRUTH.items()}
    draws["sigma"] = np.full((2, 40), 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return bs.compute_frontier(fake_fit("kaplan_steps:N,D", draws, runs), C=np.geomspace(3e17, 3e19, 15))


def _gids(ax):
    return [a.get_gid() for a in [*ax.lines, *ax.collections, *ax.patches] if a.get_gid()]


def test_loss_panel_draws_curves_envelope_and_band(frontier, tmp_path):
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = plot_frontier(frontier, ax=a0)
    assert ax is a0 and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    gids = _gids(ax)
    assert sum(g.startswith("run:") for g in gids) == 6
    assert {"frontier", "frontier_band", "envelope", "fit_range"} <= set(gids)
    line = next(ln for ln in ax.lines if ln.get_gid() == "frontier")
    np.testing.assert_allclose(line.get_xdata(), frontier.budgets)
    np.testing.assert_allclose(line.get_ydata(), frontier.curve()["loss_median"])
    assert "alpha_C 0.069" in line.get_label()
    assert "FLOPs" in ax.get_xlabel() and "loss" in ax.get_ylabel()
    ax_n = plot_frontier(frontier, kind="N", ax=a1)
    line = next(ln for ln in ax_n.lines if ln.get_gid() == "frontier")
    np.testing.assert_allclose(line.get_ydata(), frontier.curve()["N_median"])
    assert "a 0.909" in line.get_label() and ax_n.get_yscale() == "log"
    fig.savefig(tmp_path / "frontier.png", dpi=80)
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
    plt.close(fig)


def test_band_follows_ci_prob(frontier):
    wide = plot_frontier(frontier, ci_prob=0.95, curves=False)
    narrow = plot_frontier(frontier, ci_prob=0.5, curves=False)
    assert not any((g or "").startswith("run:") for g in _gids(wide))

    def height(ax):
        band = next(c for c in ax.collections if c.get_gid() == "frontier_band")
        y = band.get_paths()[0].vertices[:, 1]
        return y.max() - y.min()

    assert height(wide) > height(narrow)
    plt.close("all")


def test_bad_arguments(frontier):
    with pytest.raises(ValueError, match="kind"):
        plot_frontier(frontier, kind="D")
    with pytest.raises(TypeError, match="Frontier"):
        plot_frontier(frontier.draws)
    with pytest.raises(ValueError, match="ci_prob"):
        plot_frontier(frontier, ci_prob=2.0)
    plt.close("all")

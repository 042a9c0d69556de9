import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescale as bs


def test_plot_fit_one_curve_per_size_group(tmp_path, chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    ax = bs.plots.plot_fit(fit)
    n_groups = min(8, np.unique(fit.runs.N).size)
    assert len(ax.lines) == n_groups  # one median curve per size (group)
    assert len(ax.collections) >= 2 * n_groups  # points and a band for each
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training tokens D" and ax.get_ylabel() == "final loss"
    lo, hi = ax.get_ylim()
    assert lo < fit.runs.loss.min() and hi > fit.runs.loss.max()
    ax.figure.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    ax_c = bs.plots.plot_fit(fit, x="C")
    assert ax_c.get_xlabel() == "training FLOPs C"
    plt.close("all")


def test_plot_extrapolation_reaches_target(tmp_path, chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    ax = bs.plots.plot_extrapolation(fit, N=7e10, D=1.4e12)
    C_target = 6 * 7e10 * 1.4e12
    median_line = ax.lines[0]
    assert median_line.get_xdata()[-1] == C_target
    med = float(bs.predict(fit, N=7e10, D=1.4e12).median())
    assert median_line.get_ydata()[-1] == med
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% interval" in labels and any(lbl.startswith("N=7e+10") for lbl in labels)
    assert ax.get_xlim()[1] > C_target
    ax.figure.savefig(tmp_path / "ext.png")
    plt.close("all")


def test_plot_interval_sources_stacks_the_widths_by_source(tmp_path):
    from ..analysis.test_analysis import discrepancy_fit

    fit = discrepancy_fit(kappa=0.05, sigma=0.02)  # E fixed at 2: no parameter uncertainty
    ax = bs.plots.plot_interval_sources(fit, decades=2.0, n_grid=5)
    params, law, noise = ax.collections[:3]
    top = noise.get_paths()[0].vertices[:, 1].max()
    src = bs.interval_sources(fit, N=np.sqrt(fit.runs.C.max() * 100 / (6 * 20.0)),
                              D=20.0 * np.sqrt(fit.runs.C.max() * 100 / (6 * 20.0)))
    assert top == pytest.approx(src["width"][0], rel=1e-9)  # the stack ends at the whole width, 2 decades out
    assert src["width_law"][0] > 10 * src["width_noise"][0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["parameters", "the law's own error",
                                                                   "run-to-run noise"]
    ax.figure.savefig(tmp_path / "sources.png")
    plt.close("all")

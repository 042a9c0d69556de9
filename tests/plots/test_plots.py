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


# -- readable at a glance: every axis labelled, bands told apart, data in view -------------------------


def labelled_ticks(axis) -> list[str]:
    """The non-empty labels of the major ticks inside the axis's view (after a draw)."""
    axis.figure.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    locs = [v for v in axis.get_majorticklocs() if lo - 1e-9 * abs(lo) <= v <= hi + 1e-9 * abs(hi)]
    return [t for t in axis.get_major_formatter().format_ticks(locs) if t]


@pytest.mark.parametrize("span", [(2.05, 2.15), (2.05, 2.3), (1.9, 2.4), (1.4, 5.2), (0.95, 1.15), (3e21, 5e21),
                                  (1e9, 1.5e10), (1e18, 1e24), (1e8, 1e30), (1e-3, 1.3e-3)])
def test_log_axes_always_have_labelled_ticks(span):
    from bayescale.plots.fits import log_axis

    _, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    for which in ("x", "y"):
        log_axis(ax, which)
    ax.set_xlim(*span)
    ax.set_ylim(*span)
    for axis in (ax.xaxis, ax.yaxis):
        labels = labelled_ticks(axis)
        # matplotlib's own LogLocator leaves 2.05-2.3 with no tick at all
        assert 2 <= len(labels) <= 9, (span, labels)
        assert len(set(labels)) == len(labels), labels  # enough digits to tell neighbours apart
    assert ax.get_xscale() == "log"
    plt.close("all")


def test_every_axis_of_the_fit_plots_has_labelled_ticks(chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    axes = [bs.plots.plot_fit(fit), bs.plots.plot_extrapolation(fit, N=7e10, D=1.4e12),
            bs.plots.plot_isoflop(fit, C=[1e20, 1e21]), *bs.plots.plot_residuals(fit).axes]
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            assert len(labelled_ticks(axis)) >= 2, (ax.get_title(), axis.axis_name)
    plt.close("all")


def test_fan_chart_bands_are_distinguishable(tmp_path, chinchilla_fake_fit):
    ax = bs.plots.plot_extrapolation(chinchilla_fake_fit, N=7e10, D=1.4e12, kind="new_run")
    bands = [c for c in ax.collections if c.get_label().endswith("% interval")]
    assert [b.get_label() for b in bands] == ["90% interval", "80% interval", "50% interval"]
    colours = [tuple(np.round(b.get_facecolor()[0], 3)) for b in bands]
    assert len(set(colours)) == 3
    assert all(c[3] == 1.0 for c in colours)  # opaque: a swatch shows its own colour, not a stack of alphas
    lightness = [sum(c[:3]) for c in colours]
    assert lightness[0] > lightness[1] > lightness[2] + 0.3  # widest palest, narrowest darkest
    legend = {t.get_text(): h for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles,
                                              strict=True)}
    swatches = [tuple(np.round(legend[f"{p}% interval"].get_facecolor(), 3)) for p in (90, 80, 50)]
    assert swatches == colours
    ax.figure.savefig(tmp_path / "fan.png", dpi=100)
    plt.close("all")


def test_ppc_axis_spans_the_data_not_the_heavy_tails(tmp_path):
    from ..analysis.test_checks import calibrated_fit

    fit = calibrated_fit(likelihood="student_t")
    fit.posterior["nu"][...] = 1.6  # what real ladders give: draws far out in both tails
    ax = bs.plots.plot_ppc(fit, num_draws=100, random_seed=0)
    log_y = np.log(fit.runs.loss)
    lo, hi = ax.get_xlim()
    assert lo < log_y.min() and log_y.max() < hi
    reps = np.concatenate([ln.get_xdata() for ln in ax.lines[:-1]])
    assert (hi - lo) < 0.2 * np.ptp(reps[np.isfinite(reps)])  # not the replicated extremes
    assert np.ptp(log_y) > 0.4 * (hi - lo)  # the observed ECDF is a curve across the panel, not a line
    assert "of replicated values beyond the axis" in ax.get_title()
    ax.figure.savefig(tmp_path / "ppc_heavy.png", dpi=80)
    plt.close("all")


def test_backtest_with_many_runs_labels_its_axes(tmp_path):
    from bayescale.analysis.backtest import Backtest, holdout_mask, score_runs

    from ..conftest import CHINCHILLA_TRUE, fake_fit, isoflop_runs

    runs = isoflop_runs(noise_sd=0.01, seed=2, budgets=(1e19, 1e20, 1e21), factors=np.geomspace(0.5, 2.0, 24))
    mask = holdout_mask(runs, "largest_C")
    rng = np.random.default_rng(1)
    draws = {k: v * np.exp(rng.normal(0, 0.01, (2, 200))) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = np.full((2, 200), 0.01)
    fit = fake_fit("chinchilla", draws, runs.filter(~mask))
    bt = Backtest({"chinchilla": fit}, score_runs(fit, runs.filter(mask)).assign(law="chinchilla"),
                  ci_probs=(0.5, 0.8, 0.9, 0.95), n_train=int((~mask).sum()), holdout="largest-C slice")
    for relative in (False, True):
        ax = bs.plots.plot_backtest(bt, relative=relative)
        x_labels = labelled_ticks(ax.xaxis)
        assert 8 <= len(x_labels) <= 16 and all(t.startswith("N ") for t in x_labels)  # one in 2 of 24 runs
        every = set(ax.xaxis.get_majorticklocs()) | set(ax.xaxis.get_minorticklocs())
        assert every == set(range(24)) and "one in 2 labelled" in ax.get_xlabel()  # a tick for every run
        lo, hi = ax.get_ylim()
        assert relative or hi / lo < 1.5  # a log axis inside one decade ...
        assert len(labelled_ticks(ax.yaxis)) >= 2  # ... still labelled
        ax.figure.savefig(tmp_path / f"backtest_{relative}.png", dpi=80)
    plt.close("all")

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

import bayescale as bs

from ..conftest import fake_fit

STEPS = np.geomspace(500, 5e4, 12)
CUT = 5000  # the largest run stops here; the others run to 5e4


def _curves(sizes, random_seed=1):
    return bs.runs.simulate_curves("kaplan_steps", sizes=sizes, steps=STEPS, sigma=0.01, tau=0.02,
                                   ell=0.5, random_seed=random_seed)


def _cut_largest(runs):
    df = runs.to_dataframe()
    return runs.filter(~((df["N"] == df["N"].max()) & (df["step"] > CUT)).to_numpy())


def _by_gid(artists, prefix):
    return {a.get_gid().removeprefix(prefix): a for a in artists
            if (a.get_gid() or "").startswith(prefix) and not a.get_gid().endswith("_band")}


@pytest.fixture(scope="module")
def curve_fit():
    """kaplan_steps with AR(1) noise on three simulated runs, the largest cut at step 5000."""
    runs = _cut_largest(_curves([1e7, 1e8, 1e9]))
    with warnings.catch_warnings():  # small draws for speed: low ESS is expected, not a failure here
        warnings.simplefilter("ignore", bs.SamplerWarning)
        return bs.fit(runs, "kaplan_steps", draws=300, tune=300, chains=2, random_seed=3, progressbar=False)


@pytest.fixture
def fake_curve_fit():
    """A hand-built posterior (no sampling) at kaplan_steps' example values, on 15 runs."""
    rng = np.random.default_rng(0)
    law = bs.get_law("kaplan_steps")
    shape = (2, 100)
    draws = {k: v * np.exp(rng.normal(0, 0.01, shape)) for k, v in law.example.items()}
    draws["sigma"] = np.full(shape, 0.01)
    return fake_fit("kaplan_steps", draws, _curves(np.geomspace(1e7, 1e9, 15)))


@pytest.mark.slow
def test_plot_curves_draws_each_run_and_the_forecast(tmp_path, curve_fit):
    fit = curve_fit
    df = fit.runs.to_dataframe()
    big = df.loc[df["N"] == 1e9, "run"].iloc[0]
    last_step = df.loc[df["run"] == big, "step"].max()
    ax = bs.plots.plot_curves(fit, until=5e4, random_seed=0)

    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert "kaplan_steps" in ax.get_title()
    fitted, forecasts = _by_gid(ax.lines, "fit:"), _by_gid(ax.lines, "forecast:")
    dots = _by_gid(ax.collections, "data:")
    bands = [c for c in ax.collections if (c.get_gid() or "").endswith("_band")]
    assert set(fitted) == set(dots) == set(df["run"]) and len(ax.lines) == 3 + 1
    assert list(forecasts) == [big]  # the other runs already reach step 5e4
    assert len(bands) == 3 + 1  # a fitted band per run and the forecast's band
    for run, line in fitted.items():  # the fitted curve spans the run's observed range
        steps = df.loc[df["run"] == run, "step"]
        assert line.get_xdata()[0] == pytest.approx(steps.min()) and line.get_xdata()[-1] == pytest.approx(steps.max())
    fc = forecasts[big]
    assert fc.get_linestyle() == "--"
    assert fc.get_xdata()[0] == pytest.approx(last_step) and fc.get_xdata()[-1] == 5e4
    assert ax.get_xlim()[1] >= 5e4
    # the forecast starts at the run's last checkpoint and brackets where the uncut run really ended
    truth = _curves([1e7, 1e8, 1e9]).to_dataframe().query("N == 1e9")["loss"].iloc[-1]
    band = next(c for c in bands if c.get_gid() == f"forecast:{big}_band")
    path = band.get_paths()[0].vertices
    at_end = path[np.isclose(path[:, 0], 5e4), 1]
    assert at_end.min() < truth < at_end.max()
    assert fc.get_ydata()[0] == pytest.approx(df.loc[df["run"] == big, "loss"].iloc[-1], rel=1e-6)
    # one colour per size, shared by a run's points, curve and forecast
    colours = {run: to_rgba(line.get_color()) for run, line in fitted.items()}
    assert len(set(colours.values())) == 3
    assert to_rgba(fc.get_color()) == colours[big]
    assert np.allclose(dots[big].get_facecolor()[0], colours[big])
    assert ax.figure.axes[-1].get_ylabel() == "parameters N"  # the colorbar
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "forecast (median)" in labels and "90% band" in labels

    for path in (tmp_path / "curves.png", "/tmp/plot_curves.png"):
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    assert (tmp_path / "curves.png").stat().st_size > 20_000
    plt.close("all")


@pytest.mark.slow
def test_plot_curves_runs_and_until_per_run(curve_fit):
    df = curve_fit.runs.to_dataframe()
    small, big = df.loc[df["N"] == 1e7, "run"].iloc[0], df.loc[df["N"] == 1e9, "run"].iloc[0]
    ax = bs.plots.plot_curves(curve_fit, runs=[small, big], until={big: 2e4, small: 1e5}, ci_prob=0.5)
    assert set(_by_gid(ax.lines, "fit:")) == {small, big}
    forecasts = _by_gid(ax.lines, "forecast:")
    assert forecasts[big].get_xdata()[-1] == 2e4 and forecasts[small].get_xdata()[-1] == 1e5
    assert "50% band" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="not beyond the run's last checkpoint"):
        bs.plots.plot_curves(curve_fit, until={big: 1000})
    plt.close("all")


def test_plot_curves_draws_at_most_twelve_runs_spread_over_sizes(fake_curve_fit):
    fit = fake_curve_fit
    ax = bs.plots.plot_curves(fit)
    drawn = _by_gid(ax.lines, "fit:")
    sizes = sorted(fit.runs.to_dataframe().groupby("run")["N"].first().loc[list(drawn)])
    assert len(drawn) == 12 and "12 of 15 runs" in ax.get_title()
    assert sizes[0] == pytest.approx(1e7) and sizes[-1] == pytest.approx(1e9)  # both ends kept
    assert not _by_gid(ax.lines, "forecast:")  # no until, no forecast
    # a run named in until is drawn even when the spread would skip it
    skipped = next(r for r in fit.runs.to_dataframe()["run"].unique() if r not in drawn)
    ax = bs.plots.plot_curves(fit, until={skipped: 1e5})
    assert skipped in _by_gid(ax.lines, "forecast:") and len(_by_gid(ax.lines, "fit:")) == 12
    with pytest.raises(ValueError, match="not in this fit"):
        bs.plots.plot_curves(fit, runs=["no-such-run"])
    plt.close("all")


def test_plot_curves_on_final_losses_points_to_plot_fit(chinchilla_fake_fit):
    with pytest.raises(ValueError, match="final losses.*plot_fit"):
        bs.plots.plot_curves(chinchilla_fake_fit)
    plt.close("all")

"""The funding report: files, content that matches the analysis, and a real browser rendering it."""

import html
import re
import shutil
import subprocess
from importlib.resources import files

import matplotlib.image as mpimg
import numpy as np
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.report import build_report

pytestmark = pytest.mark.slow

SMALL = {"draws": 300, "tune": 300, "chains": 2, "random_seed": 3}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(bs.load_demo_runs(), "chinchilla", budget=1e23, target=2.0, out_dir=out, **SMALL)


def test_report_writes_a_self_contained_page_and_markdown(report):
    page = report.html_path.read_text()
    md = report.md_path.read_text()
    for section in ("Answer", "Decision table", "Compute-optimal allocation", "Data", "Fit and diagnostics",
                    "Backtest on the largest runs", "Priors"):
        assert f">{section}</h2>" in page and f"## {section}" in md
    assert page.count("data:image/png;base64,") == len(report.figures) == 6  # figures inside the page
    assert 'src="figures/' not in page
    for name, path in report.figures.items():
        assert path.is_file() and path.stat().st_size > 10_000, name
        assert f"]({path.relative_to(report.md_path.parent).as_posix()})" in md


def test_report_numbers_are_the_analysis_numbers(report):
    page = report.html_path.read_text()
    row = report.decision.loc[np.isclose(report.decision["C"], 1e23)].iloc[0]
    assert f"would reach a loss of {row['loss_median']:.4f}" in page
    assert f"P(loss &lt; 2) = {row['p_below_target']:.2f}" in page
    assert len(report.decision) == 3 and np.allclose(sorted(report.decision["C"]), [1e23 / 3, 1e23, 3e23])
    assert report.backtest is not None and {"coverage_90", "rmsle"} <= set(report.backtest.columns)
    cov = float(report.backtest["coverage_90"].iloc[0])
    assert html.escape(f"the law's 90% intervals held {cov:.0%} of them") in page
    # the budget is beyond the data: the page says so rather than hiding it, and says what it costs
    assert "ExtrapolationWarning" in page
    src = report.sources.iloc[0]
    assert src["N"] == pytest.approx(row["N"]) and src["C"] == pytest.approx(1e23)
    assert src["decades_beyond"] == pytest.approx(np.log10(1e23 / bs.load_demo_runs().C.max()))
    assert src["share_law"] > 0.5  # 1.2 decades out: the law's own error is most of the interval
    assert (f"The run is {src['decades_beyond']:.2f} decades of compute beyond the largest in the data; "
            f"{src['share_law']:.0%} of that interval") in html.unescape(page)


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium chromium-driver)")
    shot = tmp_path / "report_screenshot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,2400", f"--screenshot={shot}", report.html_path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = mpimg.imread(shot)
    assert img.shape[0] == 2400 and img.shape[1] == 1280
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05  # text and figures, not a blank page
    # the embedded figures render: many rows hold mid-grey/colour pixels, not just black text on white
    coloured = (np.ptp(img[..., :3], axis=2) > 0.2).mean()
    assert coloured > 0.002, coloured
    shutil.copy(shot, report.html_path.parent / "screenshot.png")


def test_cli_report(tmp_path, capsys):
    csv = files("bayescale") / "data" / "demo_runs.csv"
    out = tmp_path / "rep"
    code = main(["report", str(csv), "--budget", "3e22", "--target", "2.1", "--out", str(out), "--no-backtest",
                 "--draws", "200", "--tune", "200", "--chains", "2", "--seed", "1", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and (out / "report.html").is_file() and (out / "report.md").is_file()
    assert re.search(r"p_below_target", printed)
    assert "Not run." in (out / "report.md").read_text()  # no backtest asked for


def test_cli_report_refuses_bad_input(tmp_path):
    csv = files("bayescale") / "data" / "demo_runs.csv"
    with pytest.raises(SystemExit, match="--budget is a compute in FLOPs"):
        main(["report", str(csv), "--budget", "-1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs a law in N and D"):
        main(["report", str(csv), "--budget", "1e23", "--law", "power_law", "--out", str(tmp_path)])

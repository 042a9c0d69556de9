"""The funding report: files, content that matches the analysis, words for headers, tables that fit
the page on screen and in print, the terminal table, and a real browser rendering it."""

import html
import re
import shutil
import subprocess
import types
import warnings
from importlib.resources import files

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.analysis.checks import uniform_ecdf_band
from bayescale.analysis.predict import ExtrapolationWarning
from bayescale.cli import main
from bayescale.report import (
    MAX_COLUMNS,
    _column_chunks,
    _diagnostics_verdict,
    _pit_words,
    build_report,
    format_decision,
)

SMALL = {"draws": 300, "tune": 300, "chains": 2, "random_seed": 3}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(bs.load_demo_runs(), "chinchilla", budget=1e23, target=2.0, out_dir=out, **SMALL)


@pytest.mark.slow
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


@pytest.mark.slow
def test_report_numbers_are_the_analysis_numbers(report):
    page = report.html_path.read_text()
    row = report.decision.loc[np.isclose(report.decision["C"], 1e23)].iloc[0]
    assert f"would reach a loss of {row['loss_median']:.4f}" in page
    assert f"P(loss &lt; 2) = {row['p_below_target']:.2f}" in page
    assert (f"the loss improves by {row['improvement_median']:.4f} in the median (90% interval "
            f"{row['improvement_lower']:.4f} to {row['improvement_upper']:.4f})") in page
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


#: Code names that must not reach the page: headers are words with the interval level.
CODE_NAMES = ("p_below_target", "p_better_than_baseline", "expected_improvement", "improvement_median",
              "improvement_lower", "loss_lower", "loss_upper", "tokens_per_param", "decades_beyond_data",
              "improvement_per_1e21_flops", "eti90", "ess_bulk", "r_hat", "coverage_90", "n_train", "N_opt", "loss_opt")


def _tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    """(headers, rows of cells) of every <table> on the page."""
    out = []
    for t in re.findall(r"<table>(.*?)</table>", page, flags=re.S):
        heads = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", t)]
        rows = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", t)]
        out.append((heads, [r for r in rows if r]))
    return out


@pytest.mark.slow
def test_report_tables_are_narrow_and_in_words(report):
    page = report.html_path.read_text()
    md = report.md_path.read_text()
    tables = _tables(page)
    assert tables and all(len(heads) <= MAX_COLUMNS for heads, _ in tables)
    for name in CODE_NAMES:
        assert name not in page and name not in md, name
    assert "@media print{" in page and 'class="scroll"' not in page  # nothing hides behind a scroll bar
    # the decision table, transposed: one column per candidate budget, one row per quantity in words
    heads, rows = next((h, r) for h, r in tables if h[0] == "compute C (FLOPs)" and r[0][0] == "allocation")
    assert heads[1:] == [f"{c:.3g}" for c in report.decision["C"]]
    by_label = {r[0]: r[1:] for r in rows}
    for label in ("loss, median", "loss, 90% interval", "P(loss < 2)", "P(better than baseline)",
                  "improvement, median", "improvement, 90% interval", "improvement per 1e21 FLOPs"):
        assert label in by_label, label
    d = report.decision
    assert by_label["improvement, median"] == [f"{v:.4f}" for v in d["improvement_median"]]
    assert by_label["loss, 90% interval"] == [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(d["loss_lower"],
                                                                                          d["loss_upper"], strict=True)]
    # each improvement interval holds its median
    assert (d["improvement_lower"] < d["improvement_median"]).all()
    assert (d["improvement_median"] < d["improvement_upper"]).all()
    # the sampler's verdict and the LOO-PIT's agree on the page, or the page says they do not
    if report.pit_inside is False:
        assert "predictive calibration is off" in page and 'class="warn">The sampler converged' in page
    elif report.diagnosis.ok:
        assert 'class="ok">Sampler diagnostics: all fine' in page


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.slow
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
    # nothing reaches past the right edge: at 1280 px on screen, and at a printed A4 page's width (186 mm
    # inside 12 mm margins, about 700 px) with the print stylesheet applied
    page = report.html_path.read_text()
    assert _overflow(browser, page, 1280, tmp_path / "screen.html") <= 0
    assert _overflow(browser, page.replace("@media print{", "@media all{"), 700, tmp_path / "print.html") <= 0


#: Appended to a copy of the page: how far the furthest element (or a scrolled one's content) reaches
#: past the page's width, written where --dump-dom shows it.
_PROBE = ("<script>window.addEventListener('load',()=>{const w=document.documentElement.clientWidth;"
          "const r=[...document.querySelectorAll('body *')].map(e=>Math.max(e.getBoundingClientRect().right,"
          "e.getBoundingClientRect().left+e.scrollWidth));"
          "document.body.setAttribute('data-overflow',String(Math.ceil(Math.max(...r))-w));});</script>")


def _overflow(browser: str, page: str, width: int, path) -> int:
    path.write_text(page.replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--window-size={width},2000", "--dump-dom", path.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-overflow="(-?\d+)"', dom)
    assert m, "the probe did not run"
    return int(m.group(1))


@pytest.mark.slow
def test_cli_report(tmp_path, capsys):
    csv = files("bayescale") / "data" / "demo_runs.csv"
    out = tmp_path / "rep"
    code = main(["report", str(csv), "--budget", "3e22", "--target", "2.1", "--out", str(out), "--no-backtest",
                 "--draws", "200", "--tune", "200", "--chains", "2", "--seed", "1", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and (out / "report.html").is_file() and (out / "report.md").is_file()
    # the decision table in words, within 100 columns
    assert "P(loss < 2.1)" in printed and "p_below_target" not in printed
    assert max(len(line) for line in printed.splitlines() if not line.startswith("wrote ")) <= 100
    assert "Not run." in (out / "report.md").read_text()  # no backtest asked for


@pytest.mark.slow
def test_cli_report_refuses_bad_input(tmp_path):
    csv = files("bayescale") / "data" / "demo_runs.csv"
    with pytest.raises(SystemExit, match="--budget is a compute in FLOPs"):
        main(["report", str(csv), "--budget", "-1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs a law in N and D"):
        main(["report", str(csv), "--budget", "1e23", "--law", "power_law", "--out", str(tmp_path)])


# -- fast: the terminal table, the page's pieces, on a hand-built posterior ------------------------------


@pytest.fixture
def decision(chinchilla_fake_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return bs.decide(chinchilla_fake_fit, [1e20, 1e21, 3e21], target=2.5, baseline=(1e9, 2e10))


def test_format_decision_fits_a_terminal_in_words(decision, chinchilla_fake_fit):
    text = format_decision(decision)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100
    for name in CODE_NAMES:
        assert name not in text, name
    assert lines[0].split()[-3:] == ["1e+20", "1e+21", "3e+21"]  # one column per candidate
    rows = {}
    for ln in lines[2:]:
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    assert rows["improvement, median"] == [f"{v:.4f}" for v in decision["improvement_median"]]
    assert rows["P(loss < 2.5)"] == [f"{v:.2f}" for v in decision["p_below_target"]]
    assert rows["loss, 90% interval"] == [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in
                                          zip(decision["loss_lower"], decision["loss_upper"], strict=True)]
    assert "improvement, 90% interval" in rows and "P(better than baseline)" in rows
    assert "baseline: a new run at N 1e+09, D 2e+10 (C 1.2e+20)" in " ".join(lines)
    # a narrow terminal, or many candidates: blocks one under another, each with the row labels
    narrow = format_decision(decision, width=60)
    assert max(map(len, narrow.splitlines())) <= 60 and narrow.count("loss, median") >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        many = bs.decide(chinchilla_fake_fit, list(np.geomspace(1e19, 1e21, 8)))
    wide = format_decision(many, width=100)
    assert max(map(len, wide.splitlines())) <= 100 and wide.count("loss, median") >= 2
    with pytest.raises(ValueError, match="width"):
        format_decision(decision, width=5)


def test_wide_tables_are_split_repeating_the_row_labels():
    df = pd.DataFrame({"quantity": ["a", "b"], **{f"c{i}": [i, i + 1] for i in range(9)}})
    parts = _column_chunks(df)  # 9 value columns: 5 and 4, each after the labels
    assert [p.shape[1] for p in parts] == [6, 5] and MAX_COLUMNS == 6
    assert all(p.columns[0] == "quantity" for p in parts)
    assert [c for p in parts for c in p.columns[1:]] == [f"c{i}" for i in range(9)]
    assert len(_column_chunks(df.iloc[:, :4])) == 1


def _diag(ok: bool = True):
    return types.SimpleNamespace(ok=ok, max_r_hat=1.003, min_ess_bulk=1305.0, min_ess_tail=1400.0, divergences=0,
                                 mean_tree_depth=3.8, problems=[] if ok else ["R-hat 1.2 > 1.01 for E"])


def test_the_verdict_says_when_the_sampler_and_the_loo_pit_disagree():
    text, cls = _diagnostics_verdict(_diag(), True, "")
    assert cls == "ok" and text.startswith("Sampler diagnostics: all fine") and "calibration is fine" in text
    # the tester's page: a green 'all fine' beside 'ECDF LEAVES the band'; now an orange box that says why
    text, cls = _diagnostics_verdict(_diag(), False, "The leave-one-out PIT ECDF leaves its band.")
    assert cls == "warn"
    assert text.startswith("The sampler converged (max R-hat 1.003")
    assert "the model's predictive calibration is off" in text and "leaves its band" in text
    assert "all fine" not in text
    text, cls = _diagnostics_verdict(_diag(ok=False), False, "The leave-one-out PIT ECDF leaves its band.")
    assert cls == "warn" and "PROBLEMS" in text and "R-hat 1.2" in text and "calibration is off too" in text
    text, cls = _diagnostics_verdict(_diag(), None, "")  # no LOO-PIT (no log-likelihood): the sampler only
    assert cls == "ok" and "calibration" not in text


def test_pit_words_say_where_the_ecdf_leaves_and_what_it_means():
    band = uniform_ecdf_band(200, random_seed=0)
    middle = np.linspace(0.15, 0.85, 200)  # no run in either tail: intervals wider than the scatter
    text = _pit_words(middle, band, 0.9)
    assert "leaves its simultaneous 90% band" in text and "0.0% of runs fall below" in text
    assert "wider than the runs' scatter" in text
    rng = np.random.default_rng(0)
    high = np.r_[rng.uniform(0, 0.95, 160), rng.uniform(0.95, 1.0, 40)]  # 20% above the 95% quantile
    text = _pit_words(high, band, 0.9)
    assert "20.0% above their 95%" in text and "too narrow" in text and "upper tail" in text

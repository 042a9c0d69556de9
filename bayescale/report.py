"""The funding report: one self-contained HTML page (and Markdown) answering "should we fund this run?".

Built on the public API only: fit, diagnostics, checks, a leave-largest-out backtest, the
extrapolation fan chart, the compute-optimal allocation and the decision table, with PNG figures.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import __version__

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    """What :func:`build_report` wrote and computed."""

    html_path: Path
    md_path: Path
    figures: dict[str, Path]
    decision: pd.DataFrame
    allocation: pd.DataFrame
    backtest: pd.DataFrame | None
    diagnosis: Any
    warnings: list[str] = field(default_factory=list)
    #: What the answer's interval is made of (:func:`bayescale.interval_sources` at the budget).
    sources: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return f"<Report {self.html_path} ({len(self.figures)} figures, {len(self.warnings)} warnings)>"


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{v:d}"
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        a = abs(v)
        return f"{v:.3e}" if (a >= 1e5 or (0 < a < 1e-3)) else f"{v:.4g}"
    return str(v)


def _table_md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em} th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right} th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} .warn{background:#fff4e5;border-left:4px solid #f0a030;
padding:.4em .8em;margin:.4em 0} .ok{background:#eaf7ea;border-left:4px solid #3a3;padding:.4em .8em}
.answer{background:#eef3fb;border-left:4px solid #3867d6;padding:.6em 1em;font-size:1.05em}
.meta{color:#666;font-size:.85em} .scroll{overflow-x:auto}
"""


class _Doc:
    """Writes the same content to Markdown and HTML."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md += ["#" * level + " " + text, ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str, cls: str | None = None) -> None:
        self.md += [text, ""]
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{attr}>{html.escape(text)}</p>")

    def bullets(self, items: Sequence[str], cls: str | None = None) -> None:
        self.md += [f"- {t}" for t in items] + [""]
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<ul{attr}>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>")

    def table(self, df: pd.DataFrame) -> None:
        self.md += [_table_md(df), ""]
        self.html.append(f'<div class="scroll">{_table_html(df)}</div>')

    def figure(self, path: Path, caption: str) -> None:
        rel = path.relative_to(self.out).as_posix()
        self.md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _save(fig_or_ax: Any, path: Path) -> Path:
    fig = fig_or_ax.figure if hasattr(fig_or_ax, "figure") and not isinstance(fig_or_ax, plt.Figure) else fig_or_ax
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def build_report(
    runs: Any,
    law: str = "chinchilla",
    *,
    budget: float,
    out_dir: str | Path,
    target: float | None = None,
    candidates: Sequence[float] | None = None,
    likelihood: str = "student_t",
    noise: str | None = None,
    priors: Any = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int = 0,
    backtest: bool = True,
    title: str | None = None,
    source: str | None = None,
) -> Report:
    """Fit, check, backtest and decide, and write ``report.html`` (self-contained) and ``report.md``.

    Parameters
    ----------
    runs : RunTable or DataFrame
        Finished runs (one row per run) with N, D (or C) and loss.
    law : str
        A law with inputs N and D (``"chinchilla"``, ``"kaplan"``...).
    budget : float
        The compute (FLOPs, C = 6 N D) of the run being considered.
    out_dir : path
        Folder to write into (created); figures go to ``out_dir/figures``.
    target : float, optional
        The loss that would justify the spend: the decision table gives P(loss < target).
    candidates : sequence of float, optional
        Budgets to compare (default: budget/3, budget, 3 x budget), each allocated at the
        posterior median of the compute-optimal N.
    likelihood, noise, priors, draws, tune, chains, random_seed
        Passed to :func:`bayescale.fit` (``noise=None``: its default for final losses,
        ``"discrepancy"``, the law's own error beyond the data; ``"iid"`` the model without it).
    backtest : bool
        Also fit all but the largest-compute slice and score the held-out runs (one more fit).
    title, source : str, optional
        Shown at the top of the report.

    Returns
    -------
    Report

    Examples
    --------
    >>> rep = bs.build_report(bs.load_demo_runs(), budget=1e23, target=2.0, out_dir="report")  # doctest: +SKIP
    >>> rep.html_path  # doctest: +SKIP
    PosixPath('report/report.html')
    """
    import bayescale as bs

    runs = runs if isinstance(runs, bs.RunTable) else bs.RunTable.from_dataframe(runs)
    out = Path(out_dir)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    budget = float(budget)
    if not budget > 0:
        raise ValueError(f"budget is a compute in FLOPs (> 0), e.g. 1e23; got {budget}")
    if candidates is None:
        candidates = [budget / 3, budget, budget * 3]
    said: list[str] = []

    def noted(fn: Any, *args: Any, where: str = "", skip: tuple = (), **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn(*args, **kwargs)
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning, RuntimeWarning, *skip)):
                continue
            text = f"{where}{w.category.__name__}: {w.message}"
            if text not in said:
                said.append(text)
        return value

    fit_kwargs = dict(likelihood=likelihood, noise=noise, priors=priors, draws=draws, tune=tune, chains=chains,
                      random_seed=random_seed, progressbar=False)
    # the main fit's sampler warnings are the diagnosis's problems: listed once, from there
    fit = noted(bs.fit, runs, law, skip=(bs.SamplerWarning,), **fit_kwargs)
    diag = bs.diagnose(fit)
    figures: dict[str, Path] = {}

    # -- allocation and decision
    alloc = noted(bs.compute_optimal, fit, C=sorted({*candidates, budget}), ci_prob=0.8)
    alloc_table = alloc.summary()
    top = int(np.argmax(runs.C))
    baseline = {"N": float(runs.N[top]), "D": float(runs.D[top])}
    decision = noted(bs.decide, fit, list(candidates), target=target, baseline=baseline, ci_prob=0.9)
    at_budget = alloc.draws.sel(budget=budget)
    N_star = float(at_budget["N_opt"].median())
    D_star = budget / (6 * N_star)

    # -- figures
    figures["fit"] = _save(bs.plots.plot_fit(fit), figs / "fit.png")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    bs.plots.plot_ppc(fit, random_seed=random_seed, ax=axes[0])
    try:
        bs.plots.plot_loo_pit(fit, ax=axes[1])
    except ValueError as err:  # e.g. a fit without pointwise log-likelihood
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, f"LOO-PIT not available:\n{err}", ha="center", va="center", wrap=True)
    fig.tight_layout()
    figures["checks"] = _save(fig, figs / "checks.png")
    figures["residuals"] = _save(bs.plots.plot_residuals(fit), figs / "residuals.png")
    figures["fan"] = _save(noted(bs.plots.plot_extrapolation, fit, N=N_star, D=D_star,
                                 kind="new_run"), figs / "fan.png")
    figures["isoflop"] = _save(noted(bs.plots.plot_isoflop, fit, C=sorted({*candidates, budget})),
                               figs / "isoflop.png")

    bt_scores = None
    if backtest:
        try:
            bt = noted(bs.backtest, runs, law, holdout="largest_C", fit_kwargs=fit_kwargs, where="backtest fit: ")
        except ValueError as err:
            said.append(f"backtest not run: {err}")
        else:
            bt_scores = bt.scores().reset_index()
            figures["backtest"] = _save(bs.plots.plot_backtest(bt, relative=True), figs / "backtest.png")

    # -- the page
    doc = _Doc(out)
    name = title or f"Should we fund a {budget:.3g} FLOP run? ({law})"
    doc.heading(name, 1)
    doc.para(f"bayescale {__version__}, {dt.datetime.now():%Y-%m-%d %H:%M}; law {fit.law.spec!r}, likelihood "
             f"{likelihood}, noise {fit.noise.structure!r}, {chains} chains x {draws} draws, random_seed {random_seed}; data hash "
             f"{runs.data_hash[:12]}." + (f" Data: {source}." if source else ""), cls="meta")

    row = decision.loc[np.isclose(decision["C"], budget, rtol=1e-6)].iloc[0]
    answer = (f"At {budget:.3g} FLOPs, allocated compute-optimally (N = {row['N']:.3g} parameters, "
              f"D = {row['D']:.3g} tokens, {row['tokens_per_param']:.1f} tokens per parameter), one new run "
              f"would reach a loss of {row['loss_median']:.4f} (90% interval {row['loss_lower']:.4f} - "
              f"{row['loss_upper']:.4f}).")
    sources = noted(bs.interval_sources, fit, ci_prob=0.9, N=row["N"], D=row["D"])
    src = sources.iloc[0]
    decades = float(src["decades_beyond"])
    if src["width_law"] > 0:
        answer += (f" The run is {decades:.2f} decades of compute beyond the largest in the data; "
                   f"{src['share_law']:.0%} of that interval's width ({src['width_law']:.4f} of "
                   f"{src['width']:.4f}) is the law's own error beyond the data, at the rate "
                   "public ladders showed (kappa's prior, which your runs cannot check); the parameters' "
                   f"uncertainty adds {src['width_params']:.4f} and run-to-run noise {src['width_noise']:.4f}.")
    elif decades > 0:
        answer += (f" The run is {decades:.2f} decades of compute beyond the largest in the data, and this "
                   f"model (noise={fit.noise.structure!r}) takes the law as exact there: the interval is the "
                   "parameters' uncertainty and run-to-run noise only.")
    if target is not None:
        answer += f" P(loss < {target:g}) = {row['p_below_target']:.2f}."
    answer += (f" Against the largest run in the data (N {baseline['N']:.3g}, D {baseline['D']:.3g}): "
               f"P(better) = {row['p_better_than_baseline']:.2f}, expected improvement "
               f"{row['expected_improvement']:.4f}.")
    if bt_scores is not None and "coverage_90" in bt_scores:
        cov = float(bt_scores["coverage_90"].iloc[0])
        answer += (f" Check on the data: refitted without the largest-compute runs, the law's 90% intervals held "
                   f"{cov:.0%} of them" + ("; treat the intervals above as too narrow." if cov < 0.8 else "."))
    doc.heading("Answer")
    doc.para(answer, cls="answer")
    if not diag.ok or said:
        doc.para("Read these before trusting the numbers:", cls="warn")
        doc.bullets([*diag.problems, *said], cls="warn")

    doc.heading("Decision table")
    doc.para("One row per candidate budget (allocated at the posterior median of the compute-optimal N). "
             "Loss: median and 90% interval for one new run. Improvement: over the largest run in the data, "
             "on the same posterior draw, each run with its own run-to-run noise.")
    first = ["C", "N", "D", "tokens_per_param", "loss_median", "loss_lower", "loss_upper", "p_below_target",
             "p_better_than_baseline", "expected_improvement", "improvement_per_1e21_flops", "decades_beyond_data"]
    cols = [c for c in first if c in decision] + [c for c in decision if c not in first
                                                   and c not in ("candidate", "improvement_per_flop")]
    shown = decision[cols].replace({"allocation": {"compute-optimal (median N*)": "optimal"}})
    doc.table(shown)

    doc.heading("Compute-optimal allocation")
    doc.para("Posterior median and 80% interval of the compute-optimal model size N*, tokens D*, tokens "
             "per parameter and the law's loss at the optimum, per budget (the law's parameters only: its own "
             "error beyond the data shifts every size at a budget alike, so it does not move N*, and it is in "
             "the decision table's loss intervals).")
    doc.table(alloc_table)
    exps = alloc.exponents() if hasattr(alloc, "exponents") else None
    if exps is not None and len(exps):
        doc.para("Allocation exponents (N* ~ C^a, D* ~ C^b):")
        doc.table(exps.reset_index(names="exponent"))
    doc.figure(figures["isoflop"], "Loss against model size at fixed compute; the posterior of N* marked.")
    doc.figure(figures["fan"], "Extrapolation from the largest run to the compute-optimal run at the budget "
                               "(50/80/90% bands, one new run).")

    doc.heading("Data")
    doc.para(f"{len(runs)} runs; N {runs.N.min():.3g} - {runs.N.max():.3g}, D {runs.D.min():.3g} - "
             f"{runs.D.max():.3g}, C {runs.C.min():.3g} - {runs.C.max():.3g}, loss {runs.loss.min():.4f} - "
             f"{runs.loss.max():.4f}. The budget is {np.log10(budget / runs.C.max()):.2f} decades beyond the "
             "largest run in compute.")
    doc.figure(figures["fit"], "The runs and the fitted law (median and 90% band per size).")

    doc.heading("Fit and diagnostics")
    summ = fit.summary(ci_prob=0.9, ci_kind="eti").reset_index(names="parameter")
    doc.table(summ)
    verdict = ("Sampler diagnostics: all fine (" if diag.ok else "Sampler diagnostics: PROBLEMS (")
    verdict += (f"max R-hat {diag.max_r_hat:.3f}, min ESS {min(diag.min_ess_bulk, diag.min_ess_tail):.0f}, "
                f"{diag.divergences} divergences, mean tree depth {diag.mean_tree_depth:.1f}).")
    doc.para(verdict, cls="ok" if diag.ok else "warn")
    doc.figure(figures["checks"], "Posterior predictive check (left) and LOO-PIT (right): the observed "
                                  "curve should sit among the replicates, and the PIT ECDF inside the band.")
    doc.figure(figures["residuals"], "Log residuals against N, D and C with the +-2 sigma band.")

    doc.heading("Backtest on the largest runs")
    if bt_scores is not None:
        doc.para("The law refitted without the largest-compute slice, predicting it: how often the intervals "
                 "held the held-out losses. This is the check that matters for extrapolation; coverage well "
                 "below nominal means the intervals above are too narrow.")
        doc.table(bt_scores)
        doc.figure(figures["backtest"], "Predicted/observed loss for the held-out runs (50% and 90% bars).")
    else:
        doc.para("Not run.")

    doc.heading("Priors")
    doc.table(pd.DataFrame([{"parameter": k, "prior": repr(p)} for k, p in fit.priors.items()]))

    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text("\n".join(doc.md) + "\n")
    html_path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(name)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(doc.html) + "</body></html>\n"
    )
    return Report(html_path, md_path, figures, decision, alloc_table, bt_scores, diag, said, sources)

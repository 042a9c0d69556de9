"""The funding report: one self-contained HTML page (and Markdown) answering "should we fund this run?".

Built on the public API only: fit, diagnostics, checks, a leave-largest-out backtest, the
extrapolation fan chart, the compute-optimal allocation and the decision table, with PNG figures.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import __version__
from ._policy import CI_PROB
from .analysis.checks import ecdf, loo_pit, pit_ecdf_inside, uniform_ecdf_band

__all__ = ["Report", "build_report", "format_decision"]


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
    #: Whether the LOO-PIT ECDF stayed inside its band (None: not computed, e.g. no log-likelihood).
    pit_inside: bool | None = None
    #: The fit the report read (``bs.loss_interval(rep.fit, ...)`` for any other point).
    fit: Any = None

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


#: A table on the page has at most this many columns (the row labels and five values): wider ones are
#: split into several tables, so the page never scrolls sideways at 1280 px or loses columns in print.
MAX_COLUMNS = 6


def _column_chunks(df: pd.DataFrame, max_columns: int = MAX_COLUMNS) -> list[pd.DataFrame]:
    """``df`` as tables of at most ``max_columns`` columns, each repeating the first (the row labels)."""
    if df.shape[1] <= max_columns:
        return [df]
    first, rest = df.columns[0], list(df.columns[1:])
    step = max_columns - 1
    return [df[[first, *rest[i:i + step]]] for i in range(0, len(rest), step)]


def _interval(lo: float, hi: float, fmt: str) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def _decision_words(decision: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The decision table transposed for reading: one column per candidate, one row per quantity,
    in words with the interval level; and the notes that say what the baseline is."""
    p = float(decision.attrs.get("ci_prob", CI_PROB))
    level = f"{p:.0%}"
    rows: list[tuple[str, Any]] = []
    if "allocation" in decision and (decision["allocation"] != "given").any():
        rows.append(("allocation", lambda r: "compute-optimal" if str(r["allocation"]).startswith("compute")
                     else "as given"))
    rows += [
        ("parameters N", lambda r: f"{r['N']:.3g}"),
        ("training tokens D", lambda r: f"{r['D']:.3g}"),
        ("tokens per parameter", lambda r: f"{r['tokens_per_param']:.1f}"),
    ]
    if "decades_beyond_data" in decision:
        rows.append(("decades beyond the data", lambda r: f"{r['decades_beyond_data']:.2f}"))
    rows += [
        ("loss, median", lambda r: f"{r['loss_median']:.4f}"),
        (f"loss, {level} interval", lambda r: _interval(r["loss_lower"], r["loss_upper"], ".4f")),
    ]
    if "p_below_target" in decision:
        target = decision.attrs.get("target")
        rows.append((f"P(loss < {target:g})" if target is not None else "P(loss < target)",
                     lambda r: f"{r['p_below_target']:.2f}"))
    notes = []
    if "p_better_than_baseline" in decision:
        rows += [
            ("P(better than baseline)", lambda r: f"{r['p_better_than_baseline']:.2f}"),
            ("improvement, median", lambda r: f"{r['improvement_median']:.4f}"),
            (f"improvement, {level} interval",
             lambda r: _interval(r["improvement_lower"], r["improvement_upper"], ".4f")),
            ("improvement per 1e21 FLOPs", lambda r: f"{r['improvement_per_1e21_flops']:.3g}"),
        ]
        base = decision.attrs.get("baseline", {})
        what = (f"a new run at N {base['N']:.3g}, D {base['D']:.3g} (C {base['C']:.3g})" if "N" in base
                else f"a loss of {base['loss']:g}" if "loss" in base else "the baseline")
        notes.append(f"improvement = baseline loss - candidate loss (nats/token, > 0 is better), on the same "
                     f"posterior draw; baseline: {what}.")
    kind = decision.attrs.get("kind")
    if kind:
        notes.append("loss: one new run's, with run-to-run noise." if kind == "new_run"
                     else "loss: the law's mean loss, without run-to-run noise.")
    C = decision["C"].to_numpy(float)
    heads = [f"{c:.3g}" for c in C]
    if len(set(heads)) < len(heads):  # two candidates at one compute: number them
        heads = [f"#{i}: {h}" for i, h in enumerate(heads)]
    table = pd.DataFrame({"compute C (FLOPs)": [label for label, _ in rows]})
    for head, (_, r) in zip(heads, decision.iterrows(), strict=True):
        table[head] = [fn(r) for _, fn in rows]
    return table, notes


def format_decision(decision: pd.DataFrame, *, width: int = 100) -> str:
    """The decision table of :func:`bayescale.decide` as plain text for a terminal.

    Transposed: one column per candidate (headed by its compute), one row per quantity in words
    with the interval level ("loss, 90% interval", "P(loss < 2)"), followed by what the baseline
    is. Candidates that do not fit in ``width`` characters go to further blocks below, each
    repeating the row labels.

    Parameters
    ----------
    decision : pandas.DataFrame
        What :func:`bayescale.decide` returns (its ``attrs`` give the interval level, the target and
        the baseline).
    width : int
        Most characters per line (default 100); a block always holds at least one candidate.

    Returns
    -------
    str

    Examples
    --------
    >>> t = bs.decide(fit, [1e23, 3e23], target=2.0, baseline=(6.8e9, 3.2e11))  # doctest: +SKIP
    >>> print(format_decision(t, width=80))  # doctest: +SKIP
    """
    if int(width) != width or width < 20:
        raise ValueError(f"width must be a whole number of characters >= 20, got {width!r}")
    table, notes = _decision_words(decision)
    labels = [str(table.columns[0]), *table.iloc[:, 0].astype(str)]
    label_w = max(map(len, labels))
    cols = [[str(c), *table[c].astype(str)] for c in table.columns[1:]]
    widths = [max(map(len, col)) for col in cols]
    blocks: list[list[int]] = [[]]
    used = label_w
    for j, w in enumerate(widths):
        if blocks[-1] and used + 2 + w > width:
            blocks.append([])
            used = label_w
        blocks[-1].append(j)
        used += 2 + w
    out = []
    for block in blocks:
        lines = []
        for i, label in enumerate(labels):
            cells = "".join("  " + cols[j][i].rjust(widths[j]) for j in block)
            lines.append(label.ljust(label_w) + cells)
        lines.insert(1, "-" * len(lines[0]))
        out.append("\n".join(lines))
    text = "\n\n".join(out)
    for note in notes:
        text += "\n" + textwrap.fill(note, width=width)
    return text


def _words_summary(summ: pd.DataFrame, ci_prob: float) -> pd.DataFrame:
    """The fit summary with words for headers and the interval in one column."""
    lb = next((c for c in summ.columns if c.endswith("_lb")), None)
    ub = next((c for c in summ.columns if c.endswith("_ub")), None)
    out = pd.DataFrame({"parameter": summ["parameter"], "mean": summ["mean"].map(_fmt), "sd": summ["sd"].map(_fmt)})
    if lb and ub:
        out[f"{ci_prob:.0%} interval"] = [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(summ[lb], summ[ub], strict=True)]
    if {"ess_bulk", "ess_tail"} <= set(summ.columns):
        out["ESS (bulk / tail)"] = [f"{a:.0f} / {b:.0f}" for a, b in zip(summ["ess_bulk"], summ["ess_tail"],
                                                                             strict=True)]
    if "r_hat" in summ:
        out["R-hat"] = [f"{v:.3f}" for v in summ["r_hat"]]
    return out


_ALLOC_WORDS = {"N_opt": "parameters N*", "D_opt": "training tokens D*", "tokens_per_param": "tokens per parameter",
                "loss_opt": "the law's loss at the optimum"}


def _words_allocation(alloc_table: pd.DataFrame, ci_prob: float) -> pd.DataFrame:
    """:meth:`Allocation.summary` transposed: one column per budget, median and interval rows per quantity."""
    budgets = list(dict.fromkeys(alloc_table["C"]))
    rows: dict[str, list[str]] = {}
    for q, name in _ALLOC_WORDS.items():
        part = alloc_table[alloc_table["quantity"] == q].set_index("C")
        if part.empty:
            continue
        fmt = ".4f" if q == "loss_opt" else ".1f" if q == "tokens_per_param" else ".3g"
        rows[f"{name}, median"] = [f"{part.loc[c, 'median']:{fmt}}" for c in budgets]
        rows[f"{name}, {ci_prob:.0%} interval"] = [_interval(part.loc[c, "lower"], part.loc[c, "upper"], fmt)
                                                   for c in budgets]
    table = pd.DataFrame({"compute C (FLOPs)": list(rows)})
    for k, c in enumerate(budgets):
        table[f"{c:.3g}"] = [v[k] for v in rows.values()]
    return table


def _words_backtest(scores: pd.DataFrame) -> pd.DataFrame:
    """Backtest scores transposed: one column per law, one row per score in words."""
    names = {"n_train": "runs fitted", "n_test": "runs held out", "rmsle": "RMSLE of the median",
             "log_density": "mean log predictive density", "are": "mean absolute relative error",
             "divergences": "divergences (refit)", "max_r_hat": "largest R-hat (refit)"}
    s = scores.set_index("law") if "law" in scores.columns else scores
    labels, rows = [], []
    for c in s.columns:
        if c.startswith("coverage_"):
            label = f"share held out inside the {c.removeprefix('coverage_')}% interval"
            cells = [f"{v:.0%}" for v in s[c]]
        else:
            label = names.get(c, c.replace("_", " "))
            cells = [_fmt(v) for v in s[c]]
        labels.append(label)
        rows.append(cells)
    table = pd.DataFrame({"law": labels})
    for k, law in enumerate(s.index):
        table[str(law)] = [r[k] for r in rows]
    return table


def _pit_words(pit: np.ndarray, band: pd.DataFrame, ci_prob: float) -> str:
    """What the LOO-PIT ECDF says, in words, for a funder: where it leaves its band and what that means."""
    x = band["x"].to_numpy()
    F = ecdf(pit, x)
    above = F > band["upper"].to_numpy() + 1e-12
    below = F < band["lower"].to_numpy() - 1e-12
    said = []
    if above.any():
        said.append(f"above it at PIT {x[above].min():.2f} - {x[above].max():.2f} (more runs than a calibrated "
                    "model expects fall below that point of their predictive distribution)")
    if below.any():
        said.append(f"below it at PIT {x[below].min():.2f} - {x[below].max():.2f} (fewer runs than expected fall "
                    "below that point)")
    low, high = float(np.mean(pit < 0.05)), float(np.mean(pit > 0.95))
    middle = float(np.mean((pit >= 0.25) & (pit <= 0.75)))
    text = (f"The leave-one-out PIT ECDF leaves its simultaneous {ci_prob:.0%} band: " + "; ".join(said) + ". "
            f"{low:.1%} of runs fall below their leave-one-out 5% quantile and {high:.1%} above their 95% "
            f"quantile (5% each if calibrated); {middle:.0%} fall in the middle half (50%).")
    if low + high < 0.06 and middle > 0.55:
        text += (" The predictive distributions are wider than the runs' scatter around the law: its intervals "
                 "for runs like these are cautious rather than too narrow.")
    elif low + high > 0.15:
        text += " Runs land in the tails too often: the intervals are too narrow for runs like these."
    if abs(high - low) > 0.03:
        more, fewer = ("upper", "lower") if high > low else ("lower", "upper")
        text += (f" Runs land in the {more} tail of their predictive distribution far more often than in the {fewer}: "
                 + ("some runs report higher losses than the model allows for." if high > low
                    else "some runs report lower losses than the model allows for."))
    mean = float(np.mean(pit))
    if mean < 0.42 or mean > 0.58:
        text += (" The runs tend to come in " + ("below" if mean < 0.5 else "above")
                 + " what the model predicts for them: the law is biased on this data.")
    return text


def _diagnostics_verdict(diag: Any, pit_inside: bool | None, pit_text: str) -> tuple[str, str]:
    """The sentence under the fit summary and its box ("ok" green, "warn" orange): what the sampler's
    diagnostics and the LOO-PIT say, and in words what it means when they disagree (a converged
    sampler does not make a calibrated model)."""
    numbers = (f"max R-hat {diag.max_r_hat:.3f}, min ESS {min(diag.min_ess_bulk, diag.min_ess_tail):.0f}, "
               f"{diag.divergences} divergences, mean tree depth {diag.mean_tree_depth:.1f}")
    if not diag.ok:
        verdict = f"Sampler diagnostics: PROBLEMS ({numbers}): " + "; ".join(diag.problems) + "."
        if pit_inside is False:
            verdict += " The model's predictive calibration is off too. "
    elif pit_inside is False:
        verdict = (f"The sampler converged ({numbers}), so the numbers are what this model says; but the model's "
                   "predictive calibration is off: it does not describe these runs as well as its intervals assume. ")
    else:
        verdict = f"Sampler diagnostics: all fine ({numbers})."
        if pit_inside:
            verdict += f" The LOO-PIT ECDF stays inside its {CI_PROB:.0%} band: the predictive calibration is fine."
    if pit_inside is False:
        verdict += pit_text + (" Weigh the backtest below, which checks the intervals on held-out runs, before "
                               "the intervals above.")
    return verdict, "ok" if diag.ok and pit_inside is not False else "warn"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em;max-width:100%} th,td{border:1px solid #ccc;
padding:.25em .6em;text-align:right;overflow-wrap:anywhere} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left} td:first-child{background:#fafafa}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} figure{margin:.6em 0}
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:.4em .8em;margin:.4em 0}
ul.warn{padding-left:2.2em}
.ok{background:#eaf7ea;border-left:4px solid #3a3;padding:.4em .8em}
.answer{background:#eef3fb;border-left:4px solid #3867d6;padding:.6em 1em;font-size:1.05em}
.meta{color:#666;font-size:.85em} .note{color:#555;font-size:.85em;margin-top:0}
@page{size:A4;margin:12mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:10pt;line-height:1.35}
h1{font-size:16pt} h2{font-size:13pt;margin-top:1.1em;break-after:avoid;page-break-after:avoid}
table{font-size:8pt;break-inside:avoid;page-break-inside:avoid} th,td{padding:.15em .4em}
figure{break-inside:avoid;page-break-inside:avoid} img{border:none;max-height:24cm}
.answer,.warn,.ok{break-inside:avoid;page-break-inside:avoid}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
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
        """A table, split into several of at most ``MAX_COLUMNS`` columns when wider."""
        for part in _column_chunks(df):
            self.md += [_table_md(part), ""]
            self.html.append(_table_html(part))

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
    likelihood: str | None = None,
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
        Passed to :func:`bayescale.fit` (``likelihood=None``: its default, ``"student_t"``;
        ``noise=None``: its default for final losses,
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
    decision = noted(bs.decide, fit, list(candidates), target=target, baseline=baseline, ci_prob=CI_PROB)
    at_budget = alloc.draws.sel(budget=budget)
    N_star = float(at_budget["N_opt"].median())
    D_star = budget / (6 * N_star)

    # -- figures
    figures["fit"] = _save(bs.plots.plot_fit(fit), figs / "fit.png")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    bs.plots.plot_ppc(fit, random_seed=random_seed, ax=axes[0])
    pit_inside, pit_text = None, ""
    try:
        pit = noted(loo_pit, fit)  # PSIS-LOO once: the plot and the words below read it
    except ValueError as err:  # e.g. a fit without pointwise log-likelihood
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, f"LOO-PIT not available:\n{err}", ha="center", va="center", wrap=True)
    else:  # the verdict the plot's title gives, from the same PIT values and band, in words
        bs.plots.plot_loo_pit(fit, ci_prob=CI_PROB, random_seed=0, ax=axes[1], pit=pit)
        values = np.asarray(pit.values, dtype=float)
        band = uniform_ecdf_band(values.size, ci_prob=CI_PROB, random_seed=0)
        pit_inside = pit_ecdf_inside(values, band)
        if not pit_inside:
            pit_text = _pit_words(values, band, CI_PROB)
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
            # at most 10 inches wide, so its labels stay legible where the page shrinks it to print
            fig, ax = plt.subplots(figsize=(10, 4.2))
            bs.plots.plot_backtest(bt, relative=True, ax=ax)
            fig.tight_layout()
            figures["backtest"] = _save(fig, figs / "backtest.png")

    # -- the page
    doc = _Doc(out)
    name = title or f"Should we fund a {budget:.3g} FLOP run? ({law})"
    doc.heading(name, 1)
    doc.para(f"bayescale {__version__}, {dt.datetime.now():%Y-%m-%d %H:%M}; law {fit.law.spec!r}, likelihood "
             f"{fit.likelihood}, noise {fit.noise.structure!r}, {chains} chains x {draws} draws, "
             f"random_seed {random_seed}; data hash "
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
    answer += (f" Against a new run the size of the largest in the data (N {baseline['N']:.3g}, D "
               f"{baseline['D']:.3g}): P(better) = {row['p_better_than_baseline']:.2f}, and the loss improves by "
               f"{row['improvement_median']:.4f} in the median ({CI_PROB:.0%} interval "
               f"{row['improvement_lower']:.4f} to {row['improvement_upper']:.4f}).")
    if bt_scores is not None and "coverage_90" in bt_scores:
        cov = float(bt_scores["coverage_90"].iloc[0])
        answer += (f" Check on the data: refitted without the largest-compute runs, the law's 90% intervals held "
                   f"{cov:.0%} of them" + ("; treat the intervals above as too narrow." if cov < 0.8 else "."))
    doc.heading("Answer")
    doc.para(answer, cls="answer")
    calibration = (["Predictive calibration: the sampler converged, but the model's predictive calibration is off "
                    "(LOO-PIT outside its band; see Fit and diagnostics)."] if pit_inside is False else [])
    if not diag.ok or said or calibration:
        doc.para("Read these before trusting the numbers:", cls="warn")
        doc.bullets([*diag.problems, *calibration, *said], cls="warn")

    doc.heading("Decision table")
    doc.para("One column per candidate budget, each allocated at the posterior median of the compute-optimal "
             f"N. Loss: median and {CI_PROB:.0%} interval for one new run. Improvement: the baseline's loss minus "
             "the candidate's, against a new run the size of the largest in the data, on the same posterior draw, "
             "each run with its own run-to-run noise: its median and interval, which settle where a mean over "
             "heavy-tailed draws (Student-t noise with few degrees of freedom) would not.")
    words, notes = _decision_words(decision)
    doc.table(words)
    doc.para(" ".join(notes), cls="note")

    doc.heading("Compute-optimal allocation")
    doc.para("Posterior median and 80% interval of the compute-optimal model size N*, tokens D*, tokens "
             "per parameter and the law's loss at the optimum, per budget (the law's parameters only: its own "
             "error beyond the data shifts every size at a budget alike, so it does not move N*, and it is in "
             "the decision table's loss intervals).")
    doc.table(_words_allocation(alloc_table, alloc.ci_prob))
    exps = alloc.exponents() if hasattr(alloc, "exponents") else None
    if exps is not None and len(exps) and exps["median"].notna().any():
        doc.para("Allocation exponents (N* ~ C^a, D* ~ C^b):")
        doc.table(pd.DataFrame({
            "exponent": [f"{k} ({'N' if k == 'a' else 'D'}* ~ C^{k})" for k in exps.index],
            "median": [f"{v:.4f}" for v in exps["median"]], "sd": [f"{v:.4f}" for v in exps["sd"]],
            f"{alloc.ci_prob:.0%} interval": [_interval(lo, hi, ".4f") for lo, hi in zip(exps["lower"], exps["upper"],
                                                                                           strict=True)]}))
    doc.figure(figures["isoflop"], "Loss against model size at fixed compute; the posterior of N* marked.")
    doc.figure(figures["fan"], "Extrapolation from the largest run to the compute-optimal run at the budget: "
                               "one new run's loss, 90% (palest), 80% and 50% (darkest) bands.")

    doc.heading("Data")
    doc.para(f"{len(runs)} runs; N {runs.N.min():.3g} - {runs.N.max():.3g}, D {runs.D.min():.3g} - "
             f"{runs.D.max():.3g}, C {runs.C.min():.3g} - {runs.C.max():.3g}, loss {runs.loss.min():.4f} - "
             f"{runs.loss.max():.4f}. The budget is {np.log10(budget / runs.C.max()):.2f} decades beyond the "
             "largest run in compute.")
    doc.figure(figures["fit"], "The runs and the fitted law (median and 90% band per size).")

    doc.heading("Fit and diagnostics")
    summ = fit.summary(ci_prob=CI_PROB, ci_kind="eti").reset_index(names="parameter")
    doc.table(_words_summary(summ, CI_PROB))
    doc.para(*_diagnostics_verdict(diag, pit_inside, pit_text))
    doc.figure(figures["checks"], "Posterior predictive check (left) and LOO-PIT (right): the observed "
                                  "curve should sit among the replicates, and the PIT ECDF inside the band.")
    doc.figure(figures["residuals"], "Log residuals against N, D and C with the +-2 sigma band.")

    doc.heading("Backtest on the largest runs")
    if bt_scores is not None:
        doc.para("The law refitted without the largest-compute slice, predicting it: how often the intervals "
                 "held the held-out losses. This is the check that matters for extrapolation; coverage well "
                 "below nominal means the intervals above are too narrow.")
        doc.table(_words_backtest(bt_scores))
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
    return Report(html_path, md_path, figures, decision, alloc_table, bt_scores, diag, said, sources, pit_inside, fit)

"""The ``bayescale`` command line: a thin layer over the public API."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from . import __version__
from ._policy import CI_PROB, DEFAULT_LIKELIHOOD, check_interval
from .laws.base import list_laws
from .laws.noise import list_noise

__all__ = ["main"]

DEMO_EPILOG = """\
The demo table is SIMULATED from Hoffmann et al. 2022's published law (see data/README.md in the
repository); the true loss of the 10x run is printed beside the interval so you can check it.
"""


def _parse_pairs(text: str, what: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"bayescale: {what} expects KEY=VALUE pairs separated by commas, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_point(text: str) -> dict[str, float]:
    out = {}
    for key, value in _parse_pairs(text, "--predict").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise SystemExit(f"bayescale: --predict {key}={value!r} is not a number") from None
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayescale",
        description="Bayesian inference on neural scaling laws (PyMC + ArviZ).",
    )
    p.add_argument("--version", action="version", version=f"bayescale {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def sampler_args(sp: argparse.ArgumentParser, seed: int | None = None) -> None:
        sp.add_argument("--draws", type=_count(1), default=1000, help="draws per chain (default %(default)s)")
        sp.add_argument("--tune", type=_count(0), default=1000, help="tuning steps per chain (default %(default)s)")
        sp.add_argument("--chains", type=_count(1), default=4, help="chains (default %(default)s)")
        sp.add_argument("--seed", type=_count(0), default=seed,
                        help="random seed, recorded in the fit (default: %(default)s; none = drawn and printed)")
        sp.add_argument("--no-progress", action="store_true", help="hide the sampling progress bar")

    demo = sub.add_parser(
        "demo",
        help="fit the shipped (simulated) run table and extrapolate to a 10x larger run",
        description="Fit the Chinchilla law to the demo table shipped with bayescale, print the "
        "parameter summary and the 90% interval for a run with 10x the compute of the largest, "
        "and write a PNG.",
        epilog=DEMO_EPILOG,
    )
    demo.add_argument("--plot", default="bayescale_demo.png", help="PNG to write (default %(default)s)")
    sampler_args(demo, seed=2022)
    demo.set_defaults(func=_demo)

    fitp = sub.add_parser(
        "fit",
        help="fit a law to a CSV of runs and print intervals at new points",
        description="Fit a scaling law to a CSV of finished runs (one row per run).",
    )
    fitp.add_argument("runs", help="CSV file of runs")
    fitp.add_argument("--law", default="chinchilla", metavar="LAW",
                      help=f"one of {', '.join(list_laws())}; power_law, kaplan_power and the one-input curve "
                      "laws take an input as power_law:N (default %(default)s)")
    model_args(fitp)
    fitp.add_argument("--predict", action="append", default=[], metavar="N=7e10,D=1.4e12",
                      help="a point to predict; repeat for several")
    fitp.add_argument("--ci-prob", type=_probability, default=CI_PROB,
                      help="interval probability (default %(default)s)")
    fitp.add_argument("--ci-kind", default="hdi", choices=["hdi", "eti"],
                      help="highest-density or equal-tailed interval (default %(default)s)")
    fitp.add_argument("--kind", default="mean", choices=["mean", "new_run"],
                      help="interval of the law's loss (with its own error beyond the fitted runs), or of one "
                      "new run's loss, its noise included (default %(default)s)")
    fitp.add_argument("--out", help="write the fit to this netCDF file")
    fitp.add_argument("--plot", help="write a PNG of the fit (and the first --predict point)")
    fitp.add_argument("--json", action="store_true",
                      help="print one JSON object (summary, intervals, diagnostics) on stdout")
    sampler_args(fitp)
    fitp.set_defaults(func=_fit)

    rep = sub.add_parser(
        "report",
        help="write an HTML + Markdown report: should we fund a run of this compute?",
        description="Fit a law to a CSV of finished runs, check it (diagnostics, predictive checks, a "
        "backtest on the largest runs), and write a self-contained HTML page and a Markdown file with the "
        "extrapolation, the compute-optimal allocation and the decision table for the budget.",
    )
    rep.add_argument("runs", help="CSV file of runs")
    rep.add_argument("--law", default="chinchilla", help="a law in N and D (default %(default)s)")
    rep.add_argument("--budget", type=float, required=True, help="compute of the run to decide on, FLOPs (e.g. 1e23)")
    rep.add_argument("--target", type=float, help="the loss that would justify the spend")
    rep.add_argument("--candidates", default="", metavar="C1,C2,...",
                     help="budgets to compare (default: budget/3, budget, 3 x budget)")
    model_args(rep)
    rep.add_argument("--priors", help="a prior card by name (see bayescale.list_priors()) or a .toml path")
    rep.add_argument("--no-backtest", action="store_true", help="skip the leave-largest-out backtest (one fit less)")
    rep.add_argument("--out", required=True, help="folder to write report.html, report.md and figures/ into")
    sampler_args(rep, seed=0)
    rep.set_defaults(func=_report)
    return p


def _count(least: int):
    """An argparse type: a whole number >= ``least`` (a clean usage error otherwise, before any fit)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is below {least}")
        return value

    parse.__name__ = f"whole number >= {least}"
    return parse


def _probability(text: str) -> float:
    """An argparse type: an interval probability, checked as every function checks it."""
    try:
        value = float(text)
        check_interval(ci_prob=value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number" if "ci_prob" not in str(err) else
                                         f"{value} is not a probability in (0, 1), e.g. {CI_PROB}") from None
    return value


def model_args(parser: argparse.ArgumentParser) -> None:
    """The column map and the observation model, as ``fit`` and ``report`` take them."""
    parser.add_argument("--map", default="", metavar="N=col,D=col,...",
                        help="map the CSV's columns to N, D, C, loss, run (defaults: same names)")
    parser.add_argument("--likelihood", default=None, choices=["student_t", "normal"],
                        help=f"family of log loss around the law (default {DEFAULT_LIKELIHOOD}, robust to a stray "
                        "run; normal for training curves under --noise ar1, whose run offsets are integrated out "
                        "exactly only under a normal)")
    parser.add_argument("--noise", default=None, choices=list_noise(),
                        help="observation model: discrepancy (default for final losses: iid noise plus the law's "
                        "own error beyond the fitted compute range), iid (the model without it), ar1 (default for "
                        "training curves, --map run=...,step=... or tokens=...: per-run offset + AR(1) along each "
                        "run), gp_c and rw_c (the law's discrepancy as a process along compute, final losses)")


def _report(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import bayescale as bs
    from bayescale.report import build_report, format_decision

    mapping = _parse_pairs(args.map, "--map")
    unknown = set(mapping) - {"N", "D", "C", "loss", "run"}
    if unknown:
        raise SystemExit(f"bayescale: --map keys must be N, D, C, loss or run; got {sorted(unknown)}")
    try:
        candidates = [float(v) for v in args.candidates.split(",") if v.strip()] or None
    except ValueError:
        raise SystemExit(f"bayescale: --candidates expects budgets like 1e22,1e23; got {args.candidates!r}") from None
    if not args.budget > 0:
        raise SystemExit(f"bayescale: --budget is a compute in FLOPs (> 0), e.g. 1e23; got {args.budget}")
    try:
        runs = bs.RunTable.from_csv(args.runs, **mapping)
        law = bs.get_law(args.law)
        runs.check_law(law)
        if not {"N", "D"} <= set(law.inputs):
            raise ValueError(f"the report needs a law in N and D; {law.spec!r} takes {list(law.inputs)}")
        rep = build_report(runs, args.law, budget=args.budget, out_dir=args.out, target=args.target,
                           candidates=candidates, likelihood=args.likelihood, noise=args.noise, priors=args.priors,
                           draws=args.draws, tune=args.tune, chains=args.chains, random_seed=args.seed,
                           backtest=not args.no_backtest, source=str(args.runs))
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"bayescale: {err}") from None
    for w in rep.warnings:
        warnings.warn(w, stacklevel=1)
    print(format_decision(rep.decision, width=100))
    print(f"\nwrote {rep.html_path} and {rep.md_path} ({len(rep.figures)} figures in "
          f"{rep.html_path.parent / 'figures'})")
    return 0


class _OneLineWarnings(warnings.catch_warnings):
    """Within it, every warning prints as one line, ``warning: ...`` on stderr, and each text once
    (no file path or source line: the command line is not a traceback)."""

    def __enter__(self):
        super().__enter__()
        self.said: list[str] = []
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *_, **__: self.say(str(message))
        return self

    def say(self, text: str) -> None:
        text = " ".join(text.split())
        if text not in self.said:
            self.said.append(text)
            print(f"warning: {text}", file=sys.stderr)


def _sample(bs, runs, law: str, args, likelihood: str | None = None):
    # --json keeps stdout for the JSON object alone: no progress bar there
    progress = not (args.no_progress or getattr(args, "json", False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bs.fit(runs, law, likelihood=likelihood, noise=getattr(args, "noise", None), draws=args.draws,
                        tune=args.tune, chains=args.chains, random_seed=args.seed, progressbar=progress)
    problems = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, problems


def _finite_or_none(v: float) -> float | None:
    """JSON has no NaN: R-hat of a single chain, say, is written as null."""
    v = float(v)
    return v if v == v and abs(v) != float("inf") else None


def _save_plot(bs, result, path: str, point: dict[str, float] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result.runs.curve_axis is not None and "run" in result.runs.to_dataframe():
        ax = bs.plots.plot_curves(result)
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
        return
    has_nd = {"N", "D"} <= set(result.law.inputs)
    ncols = 2 if (has_nd and point and {"N", "D"} <= point.keys()) else 1
    fig, axes = plt.subplots(1, ncols, figsize=(7 * ncols, 4.8), squeeze=False)
    if has_nd:
        bs.plots.plot_fit(result, ax=axes[0, 0])
    else:
        axes[0, 0].scatter(result.runs.column(result.law.inputs[0]), result.runs.loss)
        axes[0, 0].set(xscale="log", yscale="log", xlabel=result.law.inputs[0], ylabel="loss")
    if ncols == 2:
        bs.plots.plot_extrapolation(result, N=point["N"], D=point["D"], ax=axes[0, 1])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _demo(args) -> int:
    import numpy as np

    import bayescale as bs

    runs = bs.load_demo_runs()
    print(f"demo table (SIMULATED from Hoffmann et al. 2022's law): {runs!r}")
    result, _ = _sample(bs, runs, "chinchilla", args)
    print("\nposterior summary (natural scale, 94% HDI):")
    print(result.summary().to_string(float_format=lambda v: f"{v:.4g}"))
    top = np.flatnonzero(runs.C == runs.C.max())
    best = top[np.argmin(runs.loss[top])]
    N = runs.N[best] * np.sqrt(10)
    D = 10 * runs.C[best] / (6 * N)  # C exactly 10x the table's (its D is rounded: 6 N D is off by 2e-6)
    ci = bs.loss_interval(result, N=N, D=D, ci_prob=0.9)
    new = bs.loss_interval(result, N=N, D=D, ci_prob=0.9, kind="new_run")
    truth = bs.get_law("chinchilla")(N=N, D=D, **bs.get_law("chinchilla").example)
    print(f"\n10x larger run (N and D of the best largest run times sqrt(10)): N={N:.3g}, D={D:.3g}, "
          f"C={6 * N * D:.3g}")
    print(f"  law's loss     median {ci['median'][0]:.4f}, 90% HDI [{ci['lower'][0]:.4f}, {ci['upper'][0]:.4f}]")
    print(f"  one new run    median {new['median'][0]:.4f}, 90% HDI [{new['lower'][0]:.4f}, {new['upper'][0]:.4f}]")
    print(f"  true law value {truth:.4f} (known because the data are simulated)")
    print(f"  best observed  {runs.loss[best]:.4f} at C={runs.C[best]:.3g}")
    _save_plot(bs, result, args.plot, {"N": N, "D": D})
    print(f"\nwrote {args.plot}")
    return 0


def _fit(args) -> int:
    import bayescale as bs

    mapping = _parse_pairs(args.map, "--map")
    unknown = set(mapping) - {"N", "D", "C", "loss", "run", "step", "tokens", "lr"}
    if unknown:
        raise SystemExit(f"bayescale: --map keys must be N, D, C, loss, run, or for training curves step, "
                         f"tokens, lr; got {sorted(unknown)}")
    points = [_parse_point(p) for p in args.predict]
    for out in (args.out, args.plot):
        if out and not Path(out).resolve().parent.is_dir():
            raise SystemExit(f"bayescale: cannot write {out}: folder {Path(out).parent} does not exist")
    try:
        runs = bs.RunTable.from_csv(args.runs, **mapping)
        law = bs.get_law(args.law)
        runs.check_law(law)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"bayescale: {err}") from None
    from .analysis.predict import PredictionInputError, prediction_inputs

    for text, point in zip(args.predict, points, strict=True):  # checked before the fit, not after it
        try:
            prediction_inputs(law, **point)
        except PredictionInputError as err:
            raise SystemExit(f"bayescale: --predict {text}: {err}") from None
    try:
        result, problems = _sample(bs, runs, args.law, args, args.likelihood)
    except (bs.runs.RunTableError, bs.laws.LawError, bs.laws.PriorError, bs.laws.NoiseError) as err:
        raise SystemExit(f"bayescale: {err}") from None
    intervals = []
    for point in points:
        try:
            row = bs.loss_interval(result, ci_prob=args.ci_prob, ci_kind=args.ci_kind,
                                   kind=args.kind, **point)
        except ValueError as err:
            raise SystemExit(f"bayescale: --predict {point}: {err}") from None
        intervals.append(row.iloc[0].to_dict())
    if args.out:
        result.save(args.out)
    if args.plot:
        _save_plot(bs, result, args.plot, points[0] if points else None)
    summary = result.summary()
    if args.json:
        out = {
            "law": result.law.spec,
            "likelihood": result.likelihood,
            "n_runs": len(runs),
            "summary": {k: {c: _finite_or_none(v) for c, v in row.items()} for k, row in summary.iterrows()},
            "intervals": [{k: _finite_or_none(v) for k, v in r.items()} for r in intervals],
            "ci_prob": args.ci_prob,
            "ci_kind": args.ci_kind,
            "kind": args.kind,
            "diagnostics": {k: _finite_or_none(v) for k, v in result.diagnostics().items()},
            "sampler_problems": problems,
            "random_seed": int(result.provenance["random_seed"]),
        }
        print(json.dumps(out, indent=2, allow_nan=False))
        return 0
    print(f"{result!r}, random_seed={result.provenance['random_seed']}\n")
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    for r in intervals:
        inputs = ", ".join(f"{k}={r[k]:.3g}" for k in ("N", "D", "C") if k in r)
        print(f"\n{inputs}: median {r['median']:.4f}, {args.ci_prob:.0%} {args.ci_kind.upper()} "
              f"[{r['lower']:.4f}, {r['upper']:.4f}] ({args.kind})")
    if args.out:
        print(f"\nwrote {args.out}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayescale`` command."""
    args = _parser().parse_args(argv)
    if getattr(args, "plot", None) and Path(args.plot).suffix.lower() != ".png":
        raise SystemExit(f"bayescale: --plot writes PNG; give a .png path, not {args.plot!r}")
    with _OneLineWarnings():
        return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())

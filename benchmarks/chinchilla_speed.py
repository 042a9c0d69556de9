"""Speed and agreement on the Chinchilla replication data, ours beside the method in use today.

On the 240 Epoch points (Besiroglu et al. 2024, the 5 highest losses dropped), in one run:

* bayescale: Student-t likelihood on log loss, 4 chains x 1000 draws after 1000 tune, with the
  pivot (default) and without it (``pivot={"N": 1, "D": 1}``), and with PyMC's own NUTS;
* the replication's method (``epoch_huber.py``): Huber loss (delta 1e-3) on log loss, L-BFGS-B
  from the replication's grid of starts, and a 4000-resample bootstrap.

Reports wall times, minimum ESS, NUTS gradient evaluations per draw, and both sets of 95%
intervals; writes ``benchmarks/results/chinchilla_speed.md``.

Run from the repository root, with an empty compile cache so compilation is billed:
``PYTENSOR_FLAGS=base_compiledir=$(mktemp -d) python benchmarks/chinchilla_speed.py --n-boot 4000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import epoch_huber  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw" / "epoch_chinchilla_svg_extracted_data.csv"
PARAMS = ["E", "A", "B", "alpha", "beta"]
PUBLISHED_95 = {"E": (1.769, 1.871), "A": (285, 744), "B": (1042, 5810), "alpha": (0.317, 0.373),
                "beta": (0.331, 0.415)}


def md_table(df: pd.DataFrame) -> str:
    """A markdown table (pandas' to_markdown needs tabulate, which we do not depend on)."""

    def fmt(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def our_fit(runs: bs.RunTable, label: str, **kwargs) -> tuple[bs.Fit, dict]:
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.SamplerWarning)
        fit = bs.fit(runs, "chinchilla", likelihood="student_t", draws=1000, tune=1000, chains=4,
                     random_seed=2024, progressbar=False, **kwargs)
    wall = time.perf_counter() - t0
    diag = fit.diagnostics()
    steps = fit.idata.sample_stats.dataset["n_steps"]
    row = {"method": label, "wall_s": wall, "grad_evals_per_draw": float(steps.mean()),
           "min_ess_bulk": diag["min_ess_bulk"], "min_ess_tail": diag["min_ess_tail"],
           "max_r_hat": diag["max_r_hat"], "divergences": diag["divergences"],
           "warnings": "; ".join(str(w.message)[:60] for w in caught)}
    print(row, flush=True)
    return fit, row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=4000)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--skip-pymc", action="store_true", help="skip the PyMC-NUTS timing")
    args = ap.parse_args()

    runs = bs.datasets.load("chinchilla_epoch2024", RAW).drop_highest_loss(5)
    rows = []
    # warm-up fit on the demo table so that library import/JIT set-up is not billed to either side
    bs.fit(bs.load_demo_runs(), "chinchilla", draws=50, tune=50, chains=1, random_seed=0, progressbar=False)

    fit, row = our_fit(runs, "bayescale default (nutpie, pivot, low-rank), 1st call: compiles")
    rows.append(row)
    _, row = our_fit(runs, "bayescale default, 2nd call (model compiled)")
    rows.append(row)
    no_pivot = {"N": 1.0, "D": 1.0}
    diag = {"adaptation": "diag", "target_accept": 0.9}
    _, row = our_fit(runs, "nutpie, low-rank, no pivot", pivot=no_pivot)
    rows.append(row)
    _, row = our_fit(runs, "nutpie, diagonal mass matrix, pivot", nuts=diag)
    rows.append(row)
    _, row = our_fit(runs, "nutpie, diagonal mass matrix, no pivot", pivot=no_pivot, nuts=diag)
    rows.append(row)
    if not args.skip_pymc:
        _, row = our_fit(runs, "bayescale, PyMC NUTS, pivot", nuts_sampler="pymc")
        rows.append(row)

    N, D, loss = runs.N, runs.D, runs.loss
    t0 = time.perf_counter()
    point = epoch_huber.huber_fit(N, D, loss)
    t_point = time.perf_counter() - t0
    t0 = time.perf_counter()
    boot = epoch_huber.bootstrap(N, D, loss, n_boot=args.n_boot, random_seed=0, n_jobs=args.n_jobs)
    t_boot = time.perf_counter() - t0
    rows.append({"method": f"Huber grid fit + {args.n_boot}-resample bootstrap (n_jobs={args.n_jobs})",
                 "wall_s": t_point + t_boot, "grad_evals_per_draw": np.nan, "min_ess_bulk": np.nan,
                 "min_ess_tail": np.nan, "max_r_hat": np.nan, "divergences": np.nan,
                 "warnings": f"point fit {t_point:.1f} s, bootstrap {t_boot:.1f} s"})
    print(rows[-1], flush=True)
    boot_ci = epoch_huber.intervals(boot, prob=0.95)

    summ = fit.summary(ci_prob=0.95, ci_kind="eti")
    cmp_rows = []
    for p in PARAMS:
        lo, hi = PUBLISHED_95[p]
        cmp_rows.append({
            "parameter": p,
            "bayescale median": float(fit.posterior[p].median()),
            "bayescale 95% ETI": f"{summ.loc[p, 'eti95_lb']:.4g} - {summ.loc[p, 'eti95_ub']:.4g}",
            "Huber point (ours)": point[p],
            "bootstrap 95% (ours)": f"{boot_ci.loc[p].iloc[0]:.4g} - {boot_ci.loc[p].iloc[1]:.4g}",
            "published 95%": f"{lo:g} - {hi:g}",
            "median inside published": lo < float(fit.posterior[p].median()) < hi,
        })
    ci70 = bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9)
    ci70_new = bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9, kind="new_run")

    import arviz
    import pymc

    try:
        import nutpie
        nutpie_version = nutpie.__version__
    except ImportError:
        nutpie_version = "not installed"
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = (f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs visible "
               f"(PyMC sees {pymc.sampling.parallel._cpu_count()}), Python {platform.python_version()}, "
               f"pymc {pymc.__version__}, arviz {arviz.__version__}, nutpie {nutpie_version}")
    table = pd.DataFrame(rows)
    huber_wall = rows[-1]["wall_s"]
    default_wall = rows[0]["wall_s"]
    text = [
        "# Chinchilla replication data: bayescale vs. Huber + bootstrap",
        "",
        f"Measured {when} on {machine}.",
        "Command: `PYTENSOR_FLAGS=base_compiledir=$(mktemp -d) python benchmarks/chinchilla_speed.py "
        f"--n-boot {args.n_boot} --n-jobs {args.n_jobs}`. Data: 240 Epoch points (5 highest losses dropped).",
        "bayescale: Student-t likelihood, 4 chains x 1000 draws after 1000 tune, seed 2024; wall time",
        "includes building and compiling the model (a warm-up fit on the demo table runs first; run with",
        "PYTENSOR_FLAGS=base_compiledir=<empty dir> so the first call pays the compile).",
        "",
        md_table(table),
        "",
        f"Ratio (Huber + bootstrap) / (bayescale default): {huber_wall / default_wall:.1f}x.",
        "",
        "## Parameters: our posterior beside the replication",
        "",
        md_table(pd.DataFrame(cmp_rows)),
        "",
        "## Chinchilla-70B (N 7e10, D 1.4e12), 90% HDI",
        "",
        f"- law's loss: median {ci70['median'][0]:.4f}, [{ci70['lower'][0]:.4f}, {ci70['upper'][0]:.4f}]",
        f"- one new run: median {ci70_new['median'][0]:.4f}, "
        f"[{ci70_new['lower'][0]:.4f}, {ci70_new['upper'][0]:.4f}]",
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "chinchilla_speed.md"
    out.write_text("\n".join(text))
    print("\n".join(text))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Many small fits through ``fit_many``: wall time and speed-up with 1, 2... worker processes.

``--n-fits`` simulated isoFLOP tables (6 budgets x 7 sizes, Hoffmann et al.'s law x lognormal
noise of sd 0.02, the design of tests/conftest.py, one noise seed per table), each fitted with
Chinchilla (4 chains x 2000 draws after 1000 tune by default, about 1 s warm on one core; nutpie,
one seed per table):

* serial, in this process (``executor="serial"``), after one warm-up fit that compiles;
* through a spawned ``ProcessPoolExecutor`` of each worker count in ``--workers``. Each pool first
  runs a warm-up batch (two tasks per worker, so every worker imports bayescale and compiles the
  model: the "cold" column), then the timed batch of ``--n-fits`` on the warm workers.

Each fit is given ``cores=1`` (``--cores``): nutpie then runs its chains one after another, and
the workers are the only parallelism, which is what this benchmark measures. (With nutpie's
default, one worker already samples its chains on every core.)

Reports wall time, fits per second, the median time of one fit inside a worker, and the speed-up
and parallel efficiency against one worker, with the load average before and after each phase
(the speed-up means little on a machine others are using). Writes
``benchmarks/results/fit_many.md``.

Run from the repository root: ``python benchmarks/fit_many.py --n-fits 100 --workers 1,2``.
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
from bayescale.inference.many import START_METHOD, default_executor, fit_many

ROOT = Path(__file__).resolve().parents[1]
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = (1e18, 6e18, 3e19, 1e20, 6e20, 3e21)
FACTORS = (0.2, 0.35, 0.6, 1.0, 1.7, 3.0, 5.0)


def isoflop_table(seed: int, noise_sd: float = 0.02) -> bs.RunTable:
    """42 runs on an isoFLOP design (sizes around sqrt(C / 120)), as tests/conftest.py makes them."""
    law = bs.get_law("chinchilla")
    rng = np.random.default_rng(seed)
    rows = []
    for C in BUDGETS:
        for f in FACTORS:
            N = np.sqrt(C / 120.0) * f
            D = C / (6 * N)
            mean = float(law(N=N, D=D, **HOFFMANN))
            rows.append({"N": N, "D": D, "loss": mean * np.exp(rng.normal(0, noise_sd))})
    return bs.RunTable.from_dataframe(pd.DataFrame(rows))


def md_table(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc; NaN elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14, 15 of stat)
    return total


def timed(tasks, executor) -> tuple[float, bs.inference.many.FitManyResult]:
    t0 = time.perf_counter()
    out = fit_many(tasks, executor=executor, warn=False)
    wall = time.perf_counter() - t0
    if out.failures:
        raise RuntimeError(f"benchmark fits failed: {out.failures[:3]}")
    return wall, out


def row(label: str, workers: int | str, wall: float, out, cold: float, load_before: str, cpu: float) -> dict:
    n = len(out)
    k = 1 if workers == "-" else workers
    return {"executor": label, "workers": workers, "fits": n, "cold_s": cold, "wall_s": wall,
            "fits_per_s": n / wall, "fit_s_median": float(np.median(out.seconds)),
            "worker_s_total": float(np.sum(out.seconds)), "cpu_s": cpu, "cpu_per_worker": cpu / (wall * k),
            "fits_warned": sum(bool(w) for w in out.warnings),
            "load_before": load_before, "load_after": load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fits", type=int, default=100)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts, e.g. 1,2,4")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=1, help="nutpie cores per fit (0: nutpie's default)")
    ap.add_argument("--no-serial", action="store_true", help="skip the serial reference")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fit_many.md"))
    args = ap.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]

    sampler = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    if args.cores:
        sampler["cores"] = args.cores
    tasks = [{"runs": isoflop_table(i), "law": "chinchilla", "random_seed": 1000 + i, **sampler}
             for i in range(args.n_fits)]
    warm = [{"runs": isoflop_table(10_000 + i), "law": "chinchilla", "random_seed": i, **sampler}
            for i in range(2 * max(worker_counts))]
    uptime_start = os.popen("uptime").read().strip()
    print(f"uptime at start: {uptime_start}", flush=True)
    rows = []
    if not args.no_serial:
        lb = load()
        t0 = time.perf_counter()
        timed(warm[:1], "serial")
        cold = time.perf_counter() - t0
        c0 = time.process_time()
        wall, out = timed(tasks, "serial")
        rows.append(row("serial (this process)", "-", wall, out, cold, lb, time.process_time() - c0))
        print(rows[-1], flush=True)
    for w in worker_counts:
        lb = load()
        t0 = time.perf_counter()
        with default_executor(w) as pool:
            _, first = timed(warm[: 2 * w], pool)
            cold = time.perf_counter() - t0
            n_warm = len(set(first.workers))
            if n_warm < w:
                print(f"warning: only {n_warm} of {w} workers ran a warm-up task; the timed batch "
                      "includes a compile", flush=True)
            pids = sorted({int(x.rsplit(":", 1)[1]) for x in first.workers})
            c0 = cpu_seconds(pids)
            wall, out = timed(tasks, pool)
            cpu = cpu_seconds(pids) - c0
        rows.append(row(f"process pool ({START_METHOD})", w, wall, out, cold, lb, cpu))
        rows[-1]["workers_used"] = len(set(out.workers))
        print(rows[-1], flush=True)
    uptime_end = os.popen("uptime").read().strip()
    table = pd.DataFrame(rows)
    base = table.loc[table["workers"] == 1, "wall_s"]
    if len(base):
        table["speedup_vs_1"] = [base.iloc[0] / r.wall_s if r.workers != "-" else np.nan for r in table.itertuples()]
        table["efficiency"] = [s / r.workers if r.workers != "-" else np.nan
                               for s, r in zip(table["speedup_vs_1"], table.itertuples(), strict=True)]
    cols = ["executor", "workers", "fits", "cold_s", "wall_s", "fits_per_s", "fit_s_median", "worker_s_total",
            "cpu_s", "cpu_per_worker",
            *[c for c in ("speedup_vs_1", "efficiency") if c in table], "fits_warned", "load_before", "load_after"]
    text = md_table(table[cols])
    print(text)

    import nutpie
    import pymc

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = "python benchmarks/fit_many.py " + " ".join(sys.argv[1:])
    md = f"""# Many small fits through `fit_many`

Measured {now} on {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs ({cpus} usable by this
process), Python {platform.python_version()}, pymc {pymc.__version__}, nutpie {nutpie.__version__}.
Command: `{cmd}`.

{args.n_fits} fits of Chinchilla to simulated isoFLOP tables (42 runs each: 6 budgets x 7 sizes, Hoffmann
et al.'s law, lognormal noise sd 0.02), {args.chains} chains x {args.draws} draws after {args.tune} tune,
nutpie `cores={args.cores or "default"}` per fit, one seed per table. `cold_s`: a fresh pool's warm-up batch (two tasks
per worker: spawn, import, compile); `wall_s`: the timed batch on warm workers (serial: after one warm-up fit
here); `fit_s_median`: one fit's time inside its worker; `worker_s_total`: the sum of those; `cpu_s`: CPU
seconds the fitting processes used during the timed batch, and `cpu_per_worker` = cpu_s / (wall_s x workers):
1.0 when each worker had a core to itself, less when other programs took a share. Load average (1/5/15 min)
before and after each phase: the machine is shared, and the speed-up is only meaningful when the load before
is below the number of cores and cpu_per_worker is near 1. `fits_warned`: fits with a SamplerWarning (the
same seeds give the same draws, so the same count, in every row).

uptime at start: `{uptime_start}`
uptime at end: `{uptime_end}`

{text}
"""
    Path(args.out).write_text(md)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        main()

"""Value and gradient of the curve models' log density: per-run terms with and without a scatter.

The 200-run x 500-checkpoint tables of ``curves_hierarchical.py`` (issue 16, item 2): ``offsets``
(``chinchilla``, ``noise="ar1"``: one level per run, integrated out) and ``run-effects``
(``curve_power`` with ``run_effects=("A", "alpha")``, centred: 400 per-run parameters). For each,
the model's log density and its gradient at the initial point, timed as the samplers call them:

- ``jax``: the JAX function the numpyro and blackjax samplers run (``jax.jit(jax.value_and_grad)``);
- ``numba``: the PyTensor function compiled by numba, nutpie's backend on the CPU, with the data
  frozen as nutpie compiles them for tables of 10,000 rows or more
  (:data:`bayescale.inference.samplers.CONSTANT_DATA_ROWS`).

The model is the one fits sample: each run's joint density in closed form (``build(...,
joint=True)``), inputs' powers as ``exp(p log x)``.

Two layouts of the per-run terms, each in a model of its own:

- ``segment`` (the library): rows grouped by run; a per-run value reaches its rows with
  :func:`bayescale.laws.ops.repeat_runs`, whose gradient is a cumulative sum read at the run
  boundaries;
- ``scatter`` (before issue 16): the plain gather ``values[run_idx]``, whose gradient autodiff writes
  as a scatter-add of 100,000 rows into 200 places.

Median wall time of ``--repeats`` calls after two warm-up calls; values and gradients of the two
layouts are checked equal. Run from the repository root: ``python benchmarks/gradient_layout.py``
(about 2 minutes on 2 cores; ``--backends jax`` skips numba's compile). Writes
``benchmarks/results/gradient_layout.md``. On a machine whose JAX sees a GPU the ``jax`` rows are
the GPU's.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import curve_data  # noqa: E402
import curves_hierarchical  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.laws import _ops  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


@contextmanager
def layout(name: str):
    """``segment``: the library as it is; ``scatter``: ``repeat_runs`` replaced by the plain gather."""
    original = _ops.repeat_runs
    if name == "scatter":
        _ops.repeat_runs = lambda values, run_idx, bounds: values[..., run_idx]
    try:
        yield
    finally:
        _ops.repeat_runs = original


def model_for(config: str, runs):
    """The model a fit samples (``build(..., joint=True)``: each run's joint density)."""
    from bayescale.inference.model import build, model_data, pivots

    fit_kw = curves_hierarchical.CONFIGS[config]["fit"]
    spec = bs.ModelSpec.build(curves_hierarchical.CONFIGS[config]["law"], runs=runs, noise=fit_kw["noise"],
                              run_effects=fit_kw.get("run_effects", ()),
                              parameterization=fit_kw.get("parameterization", "noncentered"))
    return build(spec, model_data(runs, spec, pivot=pivots(runs, spec.law)), joint=True)


def median_time(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_jax(model, repeats: int) -> tuple[float, float, np.ndarray, str]:
    import jax

    from bayescale.inference.jax_sampling import jax_program

    program = jax_program(model)
    point = model.initial_point()
    values = [np.asarray(point[k], dtype=np.float64) for k in program.value_names]
    data = program.data()
    vg = jax.jit(jax.value_and_grad(lambda vals, d: program.logp(vals, d)))
    t0 = time.perf_counter()
    value, grad = jax.block_until_ready(vg(values, data))
    compile_s = time.perf_counter() - t0
    seconds = median_time(lambda: jax.block_until_ready(vg(values, data)), repeats)
    return seconds, compile_s, np.concatenate([np.ravel(g) for g in grad]), str(jax.devices()[0].platform)


def time_numba(model, repeats: int) -> tuple[float, float, np.ndarray, str]:
    import pytensor
    from pymc.model.transform.optimization import freeze_dims_and_data

    model = freeze_dims_and_data(model)  # as nutpie compiles tables of 10,000 rows or more
    logp = model.logp()
    grads = pytensor.grad(logp, model.value_vars)
    t0 = time.perf_counter()
    fn = model.compile_fn([logp, *grads], inputs=model.value_vars, mode="NUMBA", point_fn=False)
    point = model.initial_point()
    args = [point[v.name] for v in model.value_vars]
    out = fn(*args)
    compile_s = time.perf_counter() - t0
    seconds = median_time(lambda: fn(*args), repeats)
    return seconds, compile_s, np.concatenate([np.ravel(g) for g in out[1:]]), "cpu"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--checkpoints", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--backends", default="jax,numba")
    ap.add_argument("--out", default=str(RESULTS / "gradient_layout.md"))
    args = ap.parse_args()
    timers = {"jax": time_jax, "numba": time_numba}
    rows, grads = [], {}
    for config in ("offsets", "run-effects"):
        runs, _ = curves_hierarchical.simulate(config, args.runs, args.checkpoints, seed=2026)
        for backend in args.backends.split(","):
            for name in ("segment", "scatter"):
                with layout(name):
                    model = model_for(config, runs)
                    seconds, compile_s, grad, device = timers[backend](model, args.repeats)
                grads[config, backend, name] = grad
                rows.append({"config": config, "backend": backend, "device": device, "layout": name,
                             "rows": len(runs), "parameters": grad.size, "ms": 1e3 * seconds,
                             "compile_s": compile_s})
                print(rows[-1], flush=True)
            same = np.allclose(grads[config, backend, "segment"], grads[config, backend, "scatter"],
                               rtol=1e-8, atol=1e-8)
            for row in rows[-2:]:
                row["gradients agree"] = same
    lines = curve_data.results_header("Value and gradient of the curve models: per-run terms without a scatter")
    lines += [
        f"{args.runs} runs x {args.checkpoints} checkpoints (the tables of `curves_hierarchical.py`, seed 2026); "
        f"median of {args.repeats} calls of the log density and its gradient at the model's initial point, after "
        "two warm-up calls; `compile_s` is the first call (tracing and compiling). `segment`: the library "
        "(`ops.repeat_runs`, gradient a cumulative sum read at the run boundaries); `scatter`: the plain gather "
        "`values[run_idx]`, whose gradient is a scatter-add. `ratio to offsets`: against the offsets model, "
        "same backend and layout.", "",
        "| config | backend | device | layout | rows | gradient size | value + gradient ms | ratio to offsets "
        "| compile s | gradients agree |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(r["backend"], r["layout"]): r["ms"] for r in rows if r["config"] == "offsets"}
    for r in rows:
        ratio = r["ms"] / base[r["backend"], r["layout"]]
        lines.append(f"| {r['config']} | {r['backend']} | {r['device']} | {r['layout']} | {r['rows']:,} | "
                     f"{r['parameters']} | {r['ms']:.3g} | {ratio:.2f} | {r['compile_s']:.1f} | "
                     f"{r['gradients agree']} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

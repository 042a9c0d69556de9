"""A curve fit at scale (issue 6, benchmark c): 200 runs x 500 checkpoints, simulated.

Each configuration runs in a fresh Python process, timed from its start (import, simulation,
model build, compilation, sampling, log-likelihood, diagnostics: a cold fit), with the peak
resident memory of that process (``ru_maxrss``: nutpie's sampling threads run inside it) and the
wall time of each phase of ``bs.fit`` (timed by wrapping the functions it calls; behaviour
unchanged). Configurations:

- ``offsets``: ``chinchilla`` on tokens seen with the default curve noise (``noise="ar1"``): each
  run's curve is the law times a per-run level ``exp(u_r)``, ``u_r ~ Normal(0, tau)`` (a random
  effect per run, integrated out exactly), plus AR(1) residuals along log step. Simulated from
  that model (Hoffmann et al.'s values, tau 0.02, sigma 0.01, ell 0.5). ``target_accept=0.8`` and
  ``log_likelihood="run"`` (each run's joint log density: chains x draws x 200 instead of
  chains x draws x 100,000 values).
- ``offsets-pointwise``: the same fit storing the pointwise log-likelihood (``log_likelihood=True``,
  the default): what the memory target is about.
- ``run-effects``: ``curve_power`` (``E + A_r N**-gamma t**-alpha_r``) with each run's amplitude
  and decay exponent partially pooled (``run_effects=("A", "alpha")``, centred), 400 per-run
  parameters, plus the same noise. Simulated from it (run spreads 0.1 in log A, 0.05 in log alpha).
  The fit's defaults apply: chains start near a point fit (``start="auto"``,
  :mod:`bayescale.inference.start`), each run's amplitude is sampled at the run's own centre.

Truths are checked against the 94% equal-tailed intervals of the global parameters.

Run from the repository root: ``python benchmarks/curves_hierarchical.py`` (``offsets`` and
``offsets-pointwise``); ``--configs run-effects --append`` for the hierarchical per-run fit
(measured against the same targets: see the results file); ``--quick`` for a smoke run
(20 runs x 100 checkpoints, nothing written). Writes ``benchmarks/results/curves_hierarchical.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

T_START = time.perf_counter()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

NOISE = {"sigma": 0.01, "tau": 0.02, "ell": 0.5}
SPREADS = {"A_run_sd": 0.1, "alpha_run_sd": 0.05}
TOKENS_PER_STEP = 1e6
CONFIGS = {
    "offsets": {"law": "chinchilla", "fit": {"noise": "ar1", "target_accept": 0.8, "log_likelihood": "run"}},
    "offsets-pointwise": {"law": "chinchilla", "fit": {"noise": "ar1", "target_accept": 0.8, "log_likelihood": True}},
    "run-effects": {"law": "curve_power", "fit": {"noise": "ar1", "run_effects": ("A", "alpha"),
                                                  "parameterization": "centered", "log_likelihood": "run"}},
}
TARGETS = {"wall_s": 300, "peak_rss_gb": 4.0, "r_hat": 1.01}


# -- measuring (in the child process) ------------------------------------------------------------

def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class Phases:
    """Wall time of named phases, in the order they started."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    @contextmanager
    def __call__(self, name: str):
        row = {"phase": name}
        self.rows.append(row)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            row["wall_s"] = time.perf_counter() - t0
            row["peak_rss_gb_after"] = peak_rss_gb()

    def wrap(self, owner, attr: str, name: str) -> None:
        func = getattr(owner, attr)
        phases = self

        def timed(*args, **kwargs):
            with phases(name):
                return func(*args, **kwargs)

        setattr(owner, attr, timed)


def simulate(config: str, n_runs: int, n_checkpoints: int, seed: int):
    """The curve table and the global truths for ``config``."""
    import pandas as pd

    import bayescale as bs

    sizes = np.geomspace(1e7, 1e10, n_runs)
    steps = np.geomspace(1e2, 1e5, n_checkpoints)
    law = bs.get_law(CONFIGS[config]["law"])
    truth = dict(law.example)
    if law.name == "chinchilla":
        runs = bs.runs.simulate_curves(law, truth, sizes=sizes, steps=steps, tokens_per_step=TOKENS_PER_STEP,
                                       random_seed=seed, **NOISE)
        return runs, {**truth, **NOISE}
    # per-run A_r (varying at the pivot, the geometric mean of N and of tokens) and alpha_r
    log_np = float(np.mean(np.log(sizes)))
    log_tp = float(np.mean(np.log(steps * TOKENS_PER_STEP)))
    a_pivot = truth["A"] * np.exp(-truth["gamma"] * log_np - truth["alpha"] * log_tp)
    z_a, z_alpha = np.random.default_rng(seed).normal(size=(2, n_runs))
    alpha_r = truth["alpha"] * np.exp(SPREADS["alpha_run_sd"] * z_alpha)
    a_r = a_pivot * np.exp(SPREADS["A_run_sd"] * z_a) * np.exp(truth["gamma"] * log_np + alpha_r * log_tp)
    frames = []
    for k, N in enumerate(sizes):
        df = bs.runs.simulate_curves(law, dict(truth, A=float(a_r[k]), alpha=float(alpha_r[k])), sizes=[N],
                                     steps=steps, tokens_per_step=TOKENS_PER_STEP,
                                     random_seed=seed * 100_003 + k, **NOISE).to_dataframe()
        frames.append(df.assign(run=f"r{k:04d}"))
    runs = bs.RunTable.from_dataframe(pd.concat(frames, ignore_index=True), run="run", step="step", D="D")
    return runs, {**truth, **SPREADS, **NOISE}


def child(args) -> dict:
    phases = Phases()
    with phases("import bayescale"):
        import arviz as az
        import nutpie

        import bayescale as bs
        from bayescale.inference import samplers, sampling
    with phases(f"simulate {args.runs} x {args.checkpoints} curves"):
        runs, truth = simulate(args.config, args.runs, args.checkpoints, args.seed)
    phases.wrap(sampling, "_cached", "bs.fit: model build")
    phases.wrap(sampling, "value_and_grad", "bs.fit: compile the point fit's log density (PyTensor, C)")
    phases.wrap(sampling, "point_start", "bs.fit: point fit (start)")
    phases.wrap(nutpie, "compile_pymc_model", "bs.fit: compile (nutpie, numba)")
    phases.wrap(nutpie, "sample", "bs.fit: sampling (nutpie)")
    phases.wrap(samplers, "_add_deterministics", "bs.fit: deterministics")
    phases.wrap(sampling, "_add_log_likelihood", "bs.fit: log-likelihood + log prior")
    phases.wrap(sampling, "diagnose", "bs.fit: diagnose")
    cfg = CONFIGS[args.config]
    kwargs = dict(cfg["fit"], **({} if args.target_accept is None else {"target_accept": args.target_accept}),
                  draws=args.draws, tune=args.tune, chains=args.chains, random_seed=args.seed,
                  progressbar=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with phases("bs.fit (all)"):
            fit = bs.fit(runs, cfg["law"], **kwargs)
    process_wall = time.perf_counter() - T_START
    peak = peak_rss_gb()
    said = [f"{w.category.__name__}: {w.message}" for w in caught
            if w.category.__name__ in ("SamplerWarning", "IdentifiabilityWarning")]
    post = fit.idata.posterior.dataset
    rhat = az.rhat(post)
    ess = az.ess(post, method="bulk")
    glob = []
    for name, value in truth.items():
        d = post[name].values.ravel()
        lo, hi = np.quantile(d, [0.03, 0.97])
        glob.append({"parameter": name, "truth": value, "median": float(np.median(d)), "94% lower": float(lo),
                     "94% upper": float(hi), "inside": bool(lo <= value <= hi), "r_hat": float(rhat[name]),
                     "ess_bulk": float(ess[name])})
    diag = bs.diagnose(fit).to_dict()
    stats = fit.idata.sample_stats.dataset
    model = next(reversed(sampling._COMPILED.values())).model
    return {
        "config": args.config, "law": cfg["law"], "fit_kwargs": {k: v for k, v in kwargs.items() if k != "progressbar"},
        "n_rows": len(runs), "n_runs": args.runs, "n_checkpoints": args.checkpoints,
        "n_free": int(sum(np.size(v) for v in model.initial_point().values())),
        "process_wall_s": process_wall, "peak_rss_gb": peak,
        "phases": phases.rows,
        "datatree_mb": {name: float(sum(v.nbytes for v in node.dataset.variables.values())) / 1e6
                        for name, node in fit.idata.children.items()},
        "max_r_hat_all": max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars),
        "min_ess_bulk_all": min(float(np.nanmin(ess[v].values)) for v in ess.data_vars),
        "diagnosis": {k: v for k, v in diag.items() if k != "problems"}, "problems": diag["problems"],
        "mean_leapfrog_steps": float(stats["n_steps"].mean()),
        "global": glob, "warnings": said,
        "load_after": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- the orchestrating process -------------------------------------------------------------------

def run_config(config: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config, "--runs", str(args.runs),
           "--checkpoints", str(args.checkpoints), "--draws", str(args.draws), "--tune", str(args.tune),
           "--chains", str(args.chains), "--seed", str(args.seed)]
    if args.target_accept is not None:
        cmd += ["--target-accept", str(args.target_accept)]
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"configuration {config} failed (exit {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["outer_wall_s"] = wall
    out["load_before"] = load_before
    return out


def report(results: list[dict], started: dt.datetime) -> list[str]:
    from curve_data import md_table, results_header

    lines = results_header("Curve fits at scale (issue 6, benchmark c)", started=started)
    lines += [
        "Each configuration in a fresh process: wall time from the process's start (import, simulation, model "
        "build, compilation, sampling, log-likelihood, diagnostics), peak resident memory of that process "
        "(`ru_maxrss`; nutpie samples in threads inside it). Targets (issue 6): under 300 s and 4 GB on 2 cores, "
        "R-hat < 1.01. Designs: sizes log-spaced 1e7-1e10, steps log-spaced 1e2-1e5 (1e6 tokens per step), "
        f"noise {NOISE}; see the script's docstring for the models.", "",
        "| config | law | rows | free parameters | chains x (tune + draws) | process wall s | < 300 s | peak RSS GB "
        "| < 4 GB | max R-hat (all variables) | < 1.01 | min ESS bulk | divergences | leapfrog steps per draw "
        "| globals inside 94% | load before / after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        k = r["fit_kwargs"]
        lines.append(
            f"| {r['config']} | {r['law']} | {r['n_rows']:,} | {r['n_free']} | {k['chains']} x ({k['tune']} + "
            f"{k['draws']}) | {r['process_wall_s']:.0f} | {r['process_wall_s'] < TARGETS['wall_s']} | "
            f"{r['peak_rss_gb']:.2f} | {r['peak_rss_gb'] < TARGETS['peak_rss_gb']} | {r['max_r_hat_all']:.3f} | "
            f"{r['max_r_hat_all'] < TARGETS['r_hat']} | {r['min_ess_bulk_all']:.0f} | {r['diagnosis']['divergences']} "
            f"| {r['mean_leapfrog_steps']:.1f} | {sum(g['inside'] for g in r['global'])}/{len(r['global'])} | "
            f"{r['load_before']} / {r['load_after']} |")
    lines.append("")
    for r in results:
        k = {kk: v for kk, v in r["fit_kwargs"].items()}
        lines += [f"## {r['config']}", "", f"`bs.fit(runs, {r['law']!r}, " + ", ".join(
            f"{kk}={v!r}" for kk, v in k.items()) + ")`", "",
            md_table([{"phase": p["phase"], "wall s": p["wall_s"], "peak RSS GB so far": p["peak_rss_gb_after"]}
                      for p in r["phases"]]), "",
            "DataTree groups (MB): " + ", ".join(f"{g} {mb:.1f}" for g, mb in r["datatree_mb"].items()), "",
            md_table(r["global"]), ""]
        lines += [f"- {w}" for w in r["warnings"]] + ([""] if r["warnings"] else [])
    return lines


KEEP = "## Notes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="offsets,offsets-pointwise", help=f"comma-separated, from {list(CONFIGS)}")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--checkpoints", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--target-accept", type=float, help="instead of the configuration's (the library's default 0.9 "
                    "for run-effects)")
    ap.add_argument("--quick", action="store_true", help="20 runs x 100 checkpoints, 2 chains x 100 + 100; no file")
    ap.add_argument("--append", action="store_true",
                    help="add these configurations to the recorded ones (results JSON) and rewrite the file")
    ap.add_argument("--child", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.config = args.child
        print(json.dumps(child(args), default=float))
        return
    if args.quick:
        args.runs, args.checkpoints, args.draws, args.tune, args.chains = 20, 100, 100, 100, 2
    started = dt.datetime.now()
    raw = ROOT / "benchmarks" / "results" / "curves_hierarchical.json"
    results = json.loads(raw.read_text()) if args.append and raw.exists() else []
    for config in args.configs.split(","):
        results = [r for r in results if r["config"] != config]
        results.append(run_config(config, args))
        r = results[-1]
        print(f"{config}: process {r['process_wall_s']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB, "
              f"max R-hat {r['max_r_hat_all']:.3f}", flush=True)
    results.sort(key=lambda r: list(CONFIGS).index(r["config"]))
    text = report(results, started)
    print("\n".join(text))
    if args.quick:
        return
    out = ROOT / "benchmarks" / "results" / "curves_hierarchical.md"
    kept = ""
    if out.exists() and KEEP in out.read_text():
        old = out.read_text()
        kept = old[old.index(KEEP):]
    out.write_text("\n".join(text) + "\n" + kept)
    raw.write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Does bayescale's ``data_constrained`` law reproduce Muennighoff et al.'s R_D* 15.4 and R_N* 5.3?

Muennighoff et al. 2023 ("Scaling Data-Constrained Language Models", arXiv:2305.16264) fitted
their law in ``utils/parametric_fit.ipynb`` (github.com/huggingface/datablations) in two steps:

1. Chinchilla's L(N, D) with alpha tied to beta, Huber loss (delta 1e-3) on log loss, L-BFGS from a
   grid, on 54 C4 isoFLOP points digitised from Hoffmann et al. 2022's appendix (not their own runs):
   log A 6.255414, log B 7.3049974, log E 0.6254804, alpha = beta 0.3526596.
2. With those five held fixed, R_D* and R_N* by the same Huber/L-BFGS fit, started from a 4 x 4 grid
   (0, 6.7, 13.3, 20 each), on 182 of their C4 runs: the ``Fit default`` cell, whose run list
   drops by hand the runs whose loss blew up with many epochs or excess parameters (e.g. ``1b15b9100m``
   at loss 6.0, ``2b836b100m`` at 10.7), the seed replicates, the deduplicated-data runs and a few
   others. It printed R_D* 15.387756, R_N* 5.309743 and a Huber objective of 0.015825937.

The shared data file's ``used_in_paper_fit_cell2`` flag marks the 296 finished, non-deduplicated runs
of the notebook's *first* data cell (seeds and blow-ups included), which the notebook used for its
exploratory Chinchilla fits; the published R* come from the 182-run list, copied here as
:data:`PAPER_FIT_RUNS` from the notebook's ``Fit default`` cell. Both subsets are fitted below.

What this script measures, on one table:

* the Huber objective of the law at the published values on the 182 runs (it must match the printed
  0.015825937: same law, same data), and its minimum over a grid of (R_D*, R_N*);
* Bayesian fits (``bs.fit``, 4 chains x 1000 draws after 1000 tuning): the paper's protocol (the five
  Chinchilla parameters held at the published values by priors of relative sd 0.1%, R_D* and R_N* with the
  law's default LogNormal(2, 1) priors, which are not centred on the published values), and the law
  with every parameter free under its default priors;
* what repeating costs: the loss of N = 8.67e9 parameters trained on D = 178e9 tokens (their largest
  isoFLOP run) when U = D, D/4 and D/16 of them are unique.

Run from the repository root: ``python benchmarks/datablations_fit.py``; writes
``benchmarks/results/datablations_fit.md`` (``--quick``: fewer draws, writes nothing).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale.laws import Prior, read_prior_card
from bayescale.laws.data_constrained import MUENNIGHOFF2023_C4

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curve_data import md_table, results_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "datablations_c4_final_losses.csv"
RESULTS = ROOT / "benchmarks" / "results" / "datablations_fit.md"
HUBER_DELTA = 1e-3
PUBLISHED = {"R_D_star": 15.387756, "R_N_star": 5.309743}
#: The Huber objective the notebook printed at its optimum.
PUBLISHED_OBJECTIVE = 0.015825936570763588
#: What-repeating-costs point: the 8.7B model on 178B tokens (their largest C4 isoFLOP run).
REPEAT_AT = {"N": 8.67e9, "D": 178e9}

#: The 182 runs of the notebook's ``Fit default`` cell (``NAMES_TO_VAL_LOSSES`` there, entries with
#: a loss, not commented out and not ``dedup``), in its order: the runs R_D* and R_N* were fitted on.
PAPER_FIT_RUNS = tuple("""
2b832b4b 2b840b4b 2b855b4b 2b855b9b 2b855b11b 2b855b14b 2b855b18b 2b855b28b 2b855b55b
4b236b12b 4b248b12b 4b260b12b 4b272b12b 4b284b12b 4b284b17b 4b284b21b 4b284b28b 4b284b42b 4b284b84b
8b7178b13b 8b7178b25b 8b7178b35b 8b7178b44b 8b7178b58b 8b7178b88b 8b7178b178b
7m100m100m 7m200m100m 1b1100m100m 14m100m100m 20m400m400m 25m400m400m
25m200m100m 25m400m100m 25m800m100m 14m200m100m 14m400m100m 14m800m100m
14m1b5100m 14m2b7100m 14m3b9100m 14m5b9100m 14m14b100m 14m20b100m 14m91b100m 14m174b100m
14m600b100m 14m900b100m
44m200m100m 44m400m100m 44m1b5100m 44m2b7100m 44m3b9100m 44m5b9100m 44m7b5100m 44m14b100m
44m20b100m 44m32b100m 44m91b100m 44m174b100m
83m1b51b5 196m1b51b5 1b11b51b5 1b11b5400m 1b11b5100m
619m2b72b7 619m2b71b5 619m2b7400m 619m2b7100m 619m1b5100m
421m3b93b9 421m3b91b5 421m3b9400m 421m3b9100m 421m1b5100m 421m2b7100m 421m5b9100m 421m7b5100m
280m5b95b9 280m5b91b5 280m5b9400m 280m5b9100m 280m1b5100m 280m2b7100m 280m3b9100m 280m7b5100m
280m91b400m
220m7b57b5 220m7b51b5 220m7b5400m 220m7b5100m 220m1b5100m 220m2b7100m 220m3b9100m 220m5b9100m
146m14b14b 146m14b1b5 146m14b400m 146m14b100m 146m60b400m 146m91b400m 146m174b400m
146m1b5100m 146m2b7100m 146m3b9100m 146m5b9100m 146m7b5100m 146m20b100m 146m32b100m 146m60b100m
146m91b100m 146m174b100m
83m20b20b 83m20b1b5 83m20b400m 83m20b100m
83m400m100m 83m1b5100m 83m2b7100m 83m3b9100m 83m5b9100m 83m7b5100m 83m14b100m 83m32b100m
83m60b100m 83m91b100m 83m174b100m 83m300b100m
2b84b84b8 2b84b81b5 2b84b8400m 1b58b88b8 1b58b84b8 1b58b81b5 1b58b8400m
1b112b12b 1b112b4b8 1b112b1b5 1b112b400m
619m22b22b 619m22b4b8 619m22b1b5 619m22b400m 619m60b400m 619m91b400m
421m32b32b 421m32b4b8 421m32b1b5 421m32b400m 421m32b100m 421m60b400m 421m91b400m 421m91b1b5
421m250b1b5
221m60b60b 221m60b4b8 221m60b1b5 221m60b400m 221m3b9400m 221m32b400m 221m300b400m
3b926b26b 3b926b12b 2b836b36b 2b836b12b 2b246b46b 2b246b12b 2b246b1b5 1b566b66b 1b566b12b
1b191b91b 1b191b12b
574m174b174b 574m174b12b 574m174b1b5 574m174b400m 220m300b1b5 220m600b1b5 574m300b1b5 574m600b1b5
1b1174b1b5 1b591b1b5
""".split())


def load_runs(subset: str = "paper_fit", path: Path = DATA) -> bs.RunTable:
    """The datablations C4 runs as a RunTable with columns N, D, U (unique tokens), loss, run.

    ``subset="paper_fit"``: the 182 runs R_D* and R_N* were fitted on (:data:`PAPER_FIT_RUNS`);
    ``"cell2"``: the 296 runs flagged ``used_in_paper_fit_cell2`` in the shared file.
    """
    df = pd.read_csv(path)
    if subset == "paper_fit":
        missing = sorted(set(PAPER_FIT_RUNS) - set(df["run_name"]))
        if missing:
            raise ValueError(f"{path} lacks runs of the paper's fit: {missing[:5]}")
        df = df[df["run_name"].isin(PAPER_FIT_RUNS)]
    elif subset == "cell2":
        df = df[df["used_in_paper_fit_cell2"].astype(bool)]
    else:
        raise ValueError(f"subset must be 'paper_fit' or 'cell2', got {subset!r}")
    df = df.rename(columns={"run_name": "run", "N_params": "N", "D_tokens": "D",
                            "U_unique_tokens": "U", "val_loss_c4": "loss"})
    return bs.RunTable.from_dataframe(df[["run", "N", "D", "U", "loss"]], source=f"{path.name} ({subset})")


def pinned_priors(sd: float = 1e-3) -> dict[str, Prior]:
    """Priors that hold E, A, B, alpha, beta at the published C4 values (the paper held them fixed):
    each to a relative sd of ``sd``."""
    p = MUENNIGHOFF2023_C4
    return {
        "log_E": Prior("Normal", mu=float(np.log(p["E"])), sigma=sd),
        "log_A": Prior("Normal", mu=float(np.log(p["A"])), sigma=sd),
        "log_B": Prior("Normal", mu=float(np.log(p["B"])), sigma=sd),
        # LogNormal, not Normal: the law needs alpha, beta > 0 (N_opt takes a power 1/alpha)
        "alpha": Prior("LogNormal", mu=float(np.log(p["alpha"])), sigma=sd),
        "beta": Prior("LogNormal", mu=float(np.log(p["beta"])), sigma=sd),
    }


def huber_objective(runs: bs.RunTable, R_D_star, R_N_star, *, delta: float = HUBER_DELTA) -> np.ndarray:
    """The paper's objective: sum over runs of Huber(log L - log loss), the other five parameters at
    their published values. ``R_D_star`` and ``R_N_star`` broadcast (pass a grid)."""
    law = bs.get_law("data_constrained")
    R_D_star, R_N_star = np.broadcast_arrays(np.asarray(R_D_star, float), np.asarray(R_N_star, float))
    cols = {k: runs.column(k).reshape((-1,) + (1,) * R_D_star.ndim) for k in ("N", "D", "U")}
    params = {**MUENNIGHOFF2023_C4, "R_D_star": R_D_star[None], "R_N_star": R_N_star[None]}
    r = np.log(law(**cols, **params)) - np.log(runs.loss.reshape(cols["N"].shape))
    a = np.abs(r)
    return np.sum(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta)), axis=0)


def objective_landscape(runs: bs.RunTable, n: int = 240) -> tuple[list[dict], dict]:
    """Local minima of the Huber objective on a log grid of (R_D*, R_N*), and its profile over R_D*."""
    rd = np.geomspace(2.0, 500.0, n)
    rn = np.geomspace(0.3, 50.0, n)
    H = huber_objective(runs, rd[:, None], rn[None, :])
    pad = np.pad(H, 2, constant_values=np.inf)
    neigh = np.min([pad[2 + i:2 + i + n, 2 + j:2 + j + n] for i in range(-2, 3) for j in range(-2, 3)], axis=0)
    minima = [{"R_D*": rd[i], "R_N*": rn[j], "Huber objective": H[i, j]}
              for i, j in zip(*np.nonzero(H <= neigh), strict=True)]
    minima.sort(key=lambda m: m["Huber objective"])
    profile = {float(t): (float(rn[H[k].argmin()]), float(H[k].min()))
               for t in (10.0, 15.4, 20.0, 30.0, 47.0, 93.0, 200.0) for k in [int(np.argmin(abs(rd - t)))]}
    return minima, profile


def summarise(fit: bs.Fit) -> dict:
    """R_D*, R_N* medians and 90%/95% equal-tailed intervals, the other parameters, diagnostics."""
    post = fit.idata.posterior.dataset
    out: dict = {}
    for name in ("R_D_star", "R_N_star"):
        v = post[name].values.ravel()
        q = np.quantile(v, [0.025, 0.05, 0.5, 0.95, 0.975])
        out[name] = {"median": q[2], "90%": (q[1], q[3]), "95%": (q[0], q[4]),
                     "in90": bool(q[1] <= PUBLISHED[name] <= q[3]),
                     "in95": bool(q[0] <= PUBLISHED[name] <= q[4])}
    for name in ("E", "A", "B", "alpha", "beta", "sigma", "nu"):
        if name in post:
            q = np.quantile(post[name].values.ravel(), [0.05, 0.5, 0.95])
            out[name] = (q[1], q[0], q[2])
    v = post["R_D_star"].values.ravel()
    out["corr"] = float(np.corrcoef(np.log(v), np.log(post["R_N_star"].values.ravel()))[0, 1])
    out["diagnosis"] = bs.diagnose(fit)
    return out


def repeat_cost(fit: bs.Fit, epochs=(1, 4, 16)) -> list[dict]:
    """Predicted loss at REPEAT_AT with U = D / epochs, and the increase over U = D (paired by draw)."""
    U = np.array([REPEAT_AT["D"] / e for e in epochs])
    draws = bs.predict(fit, N=REPEAT_AT["N"], D=REPEAT_AT["D"], U=U).values.reshape(-1, len(U))
    rows = []
    for k, e in enumerate(epochs):
        q = np.quantile(draws[:, k], [0.05, 0.5, 0.95])
        dq = np.quantile(draws[:, k] - draws[:, 0], [0.05, 0.5, 0.95])
        rows.append({"epochs": e, "U": U[k], "loss median": q[1], "loss 90%": f"{q[0]:.4f} - {q[2]:.4f}",
                     "increase over U = D": dq[1], "increase 90%": f"{dq[0]:.4f} - {dq[2]:.4f}"})
    return rows


def mean_log_residual(runs: bs.RunTable) -> float:
    """Mean of log L - log loss over the runs, the law at the published values."""
    law = bs.get_law("data_constrained")
    pred = law(N=runs.N, D=runs.D, U=runs.column("U"), **MUENNIGHOFF2023_C4)
    return float(np.mean(np.log(pred) - np.log(runs.loss)))


def _verdict(s: dict) -> str:
    if s["in90"]:
        return "inside the 90% (and the 95%) interval"
    if s["in95"]:
        return "inside the 95% interval but not the 90%"
    return "outside the 95% interval"


def _fmt_interval(lo: float, hi: float) -> str:
    return f"{lo:.3g} - {hi:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="300 draws, 2 chains; do not write results")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.tune, args.chains = 300, 300, 2
    header = results_header("Muennighoff et al.'s data-constrained law on datablations (C4 final losses)")

    paper = load_runs("paper_fit")
    cell2 = load_runs("cell2")
    at_published = float(huber_objective(paper, PUBLISHED["R_D_star"], PUBLISHED["R_N_star"]))
    minima, profile = objective_landscape(paper)

    _, card = read_prior_card("muennighoff2023")
    card_chinchilla = {k: v for k, v in card.items() if not k.startswith("R_")}  # R*: law defaults
    configs = [
        ("paper protocol", "student_t", "paper_fit", pinned_priors()),
        ("paper protocol", "normal", "paper_fit", pinned_priors()),
        ("card priors on E, A, B, alpha, beta", "student_t", "paper_fit", card_chinchilla),
        ("card priors on E, A, B, alpha, beta", "normal", "paper_fit", card_chinchilla),
        ("all free, default priors", "student_t", "paper_fit", None),
        ("all free, default priors", "normal", "paper_fit", None),
        ("paper protocol", "student_t", "cell2", pinned_priors()),
    ]
    results = []
    for label, likelihood, subset, priors in configs:
        runs = paper if subset == "paper_fit" else cell2
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplerWarning)  # bs.diagnose reports them below
            fit = bs.fit(runs, "data_constrained", priors=priors, likelihood=likelihood,
                         random_seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains,
                         progressbar=False)
        wall = time.perf_counter() - t0
        s = summarise(fit)
        results.append((label, likelihood, subset, len(runs), fit, s, wall))
        d = s["diagnosis"]
        print(f"{label:26s} {likelihood:9s} {subset:9s} n={len(runs)}  "
              f"R_D* {s['R_D_star']['median']:.3g} [95% {_fmt_interval(*s['R_D_star']['95%'])}]  "
              f"R_N* {s['R_N_star']['median']:.3g} [95% {_fmt_interval(*s['R_N_star']['95%'])}]  "
              f"R-hat {d.max_r_hat:.3f}  {wall:.0f} s", flush=True)

    rows = []
    for label, likelihood, subset, n, _, s, _ in results:
        rows.append({
            "fit": label, "likelihood": likelihood, "runs": f"{subset} ({n})",
            "R_D* median": s["R_D_star"]["median"], "R_D* 90%": _fmt_interval(*s["R_D_star"]["90%"]),
            "R_D* 95%": _fmt_interval(*s["R_D_star"]["95%"]),
            "15.4 in 90% / 95%": f"{'yes' if s['R_D_star']['in90'] else 'no'} / "
                                 f"{'yes' if s['R_D_star']['in95'] else 'no'}",
            "R_N* median": s["R_N_star"]["median"], "R_N* 90%": _fmt_interval(*s["R_N_star"]["90%"]),
            "R_N* 95%": _fmt_interval(*s["R_N_star"]["95%"]),
            "5.3 in 90% / 95%": f"{'yes' if s['R_N_star']['in90'] else 'no'} / "
                                f"{'yes' if s['R_N_star']['in95'] else 'no'}",
            "corr(log R_D*, log R_N*)": s["corr"],
        })
    par_rows = []
    for label, likelihood, subset, n, _, s, _ in results:
        row = {"fit": label, "likelihood": likelihood, "runs": f"{subset} ({n})"}
        for name in ("E", "A", "B", "alpha", "beta", "sigma", "nu"):
            if name in s:
                med, lo, hi = s[name]
                row[name] = f"{med:.4g} ({lo:.4g} - {hi:.4g})"
            else:
                row[name] = ""
        par_rows.append(row)
    diag_rows = []
    for label, likelihood, subset, n, _, s, wall in results:
        d = s["diagnosis"]
        diag_rows.append({"fit": label, "likelihood": likelihood, "runs": f"{subset} ({n})", "ok": d.ok,
                          "max R-hat": d.max_r_hat, "min ESS bulk": d.min_ess_bulk,
                          "min ESS tail": d.min_ess_tail, "divergences": d.divergences,
                          "mean tree depth": d.mean_tree_depth, "wall s": wall,
                          "problems": "; ".join(p.split(":")[0] for p in d.problems) or "none"})
    by_key = {(r[0], r[1], r[2]): r for r in results}
    primary_row = by_key[("paper protocol", "student_t", "paper_fit")]
    primary = primary_row[4]
    free = by_key[("all free, default priors", "normal", "paper_fit")][4]
    law = bs.get_law("data_constrained")
    U = np.array([REPEAT_AT["D"] / e for e in (1, 4, 16)])
    at_pub = law(N=REPEAT_AT["N"], D=REPEAT_AT["D"], U=U, **MUENNIGHOFF2023_C4)
    cost_primary = repeat_cost(primary)
    cost_free = repeat_cost(free)
    for r, pub in zip(cost_primary, at_pub, strict=True):
        r["published point"] = float(pub)
        r["published increase"] = float(pub - at_pub[0])

    rel_rows, rel = [], {4: [], 16: []}
    for label, likelihood, subset, n, fit, s, _ in results:
        draws = bs.predict(fit, N=REPEAT_AT["N"], D=REPEAT_AT["D"], U=U).values.reshape(-1, len(U))
        row = {"fit": label, "likelihood": likelihood, "runs": f"{subset} ({n})", "sampler ok": s["diagnosis"].ok,
               "loss at U = D": float(np.median(draws[:, 0]))}
        for k, e in ((1, 4), (2, 16)):
            q = 100 * np.quantile(draws[:, k] / draws[:, 0] - 1, [0.05, 0.5, 0.95])
            row[f"+% at {e} epochs"] = f"{q[1]:.2f} ({q[0]:.2f} - {q[2]:.2f})"
            if s["diagnosis"].ok and subset == "paper_fit":
                rel[e].append(q[1])
        rel_rows.append(row)
    rel_range = {e: (min(v), max(v)) for e, v in rel.items()}
    on_paper = [r for r in results if r[2] == "paper_fit"]
    moving = [r for r in on_paper if r[0] != "paper protocol"]
    e_range = (min(r[5]["E"][0] for r in moving), max(r[5]["E"][0] for r in moving))
    rn_range = (min(r[5]["R_N_star"]["median"] for r in moving), max(r[5]["R_N_star"]["median"] for r in moving))
    rd_range = (min(r[5]["R_D_star"]["median"] for r in on_paper), max(r[5]["R_D_star"]["median"] for r in on_paper))
    s0 = primary_row[5]
    bias = mean_log_residual(paper)
    lines = header + [
        f"{args.chains} chains x {args.draws} draws ({args.tune} tuning), seed {args.seed}, "
        "`bs.fit(runs, \"data_constrained\", priors=..., likelihood=..., ...)`; intervals are equal-tailed.",
        "",
        "**Runs.** `paper_fit` = the 182 runs of the notebook's `Fit default` cell, on which R_D* and R_N* "
        "were fitted (listed in `PAPER_FIT_RUNS`); `cell2` = the 296 runs flagged "
        "`used_in_paper_fit_cell2` in the shared file (the notebook's first data cell: seed "
        "replicates and the runs whose loss blew up with many epochs or excess parameters included; "
        "one row, `4b284b12bc4opt2`, carries the notebook's parsing slip U = 2.2e9).",
        "",
        "**Paper protocol.** The paper fitted only R_D* and R_N*, with E, A, B, alpha, beta fixed at "
        "values fitted to Chinchilla's C4 isoFLOP points (not to these runs); here those five have "
        "priors with a relative sd of 0.1% at the published values (normal on log E, log A, log B, "
        "log-normal on alpha, beta). R_D* and R_N* keep the law's default "
        "LogNormal(2, 1) priors (median 7.4, 90% 1.4 - 38), not centred on the published values. "
        "`card priors`: E, A, B, alpha, beta under the `muennighoff2023` prior card (centred on the "
        "same values, E to ~5%, A and B to a factor ~1.6, exponents to ~15%), R_D* and R_N* under "
        "the law's defaults. `all free`: every parameter under the law's default priors.",
        "",
        "## Method check: the paper's own objective",
        "",
        f"Huber objective (delta 1e-3, log loss) of `data_constrained` at the published values on the "
        f"182 runs: **{at_published:.9f}**; the notebook printed {PUBLISHED_OBJECTIVE:.9f}. Same law, "
        "same data. But that point is one of several local minima of a nearly flat objective "
        "(with delta = 1e-3 the Huber loss is an L1 fit, piecewise linear in the residuals):",
        "",
        md_table(minima[:6], digits=5),
        "",
        "Best R_N* for a given R_D* (profile of the objective):",
        "",
        md_table([{"R_D*": k, "best R_N*": v[0], "Huber objective": v[1]} for k, v in profile.items()],
                 digits=5),
        "",
        f"Along the ridge the objective changes by {100 * (profile[15.4][1] / minima[0]['Huber objective'] - 1):.2f}% "
        "between the published point and the grid minimum: the runs fix a combination of R_D* and "
        "R_N* (more data decay is traded for less parameter decay), not each one. The notebook's "
        "L-BFGS (float32, 4 x 4 starts) stopped at the local minimum near 15.4 / 5.3.",
        "",
        "## R_D* and R_N* (published 15.39 and 5.31)",
        "",
        md_table(rows, digits=4),
        "",
        "## The other parameters (median and 90% interval)",
        "",
        "Published (paper protocol inputs): E 1.869, A 520.8, B 1487.7, alpha = beta 0.3527.",
        "",
        md_table(par_rows),
        "",
        "## Sampler (`bs.diagnose`)",
        "",
        md_table(diag_rows, digits=4),
        "",
        f"## What repeating costs: N = {REPEAT_AT['N']:.3g} parameters, D = {REPEAT_AT['D']:.3g} tokens",
        "",
        "Predicted loss (the law's mean) when only U = D / epochs of the tokens are unique; the "
        "increase is over U = D, paired by draw. Paper-protocol fit (Student-t, 182 runs), with the "
        "law at the published values beside it:",
        "",
        md_table(cost_primary, digits=4),
        "",
        "All parameters free (normal, 182 runs):",
        "",
        md_table(cost_free, digits=4),
        "",
        "Relative increase over U = D in every fit (median and 90% interval, paired by draw):",
        "",
        md_table(rel_rows),
        "",
        "## Verdict",
        "",
        f"Paper protocol, Student-t, 182 runs: R_D* {s0['R_D_star']['median']:.3g} "
        f"(90% {_fmt_interval(*s0['R_D_star']['90%'])}, 95% {_fmt_interval(*s0['R_D_star']['95%'])}), "
        f"R_N* {s0['R_N_star']['median']:.3g} (90% {_fmt_interval(*s0['R_N_star']['90%'])}, "
        f"95% {_fmt_interval(*s0['R_N_star']['95%'])}); published 15.39 and 5.31. "
        f"R_D* is reproduced within its intervals: {_verdict(s0['R_D_star'])}. "
        f"R_N* is {_verdict(s0['R_N_star'])}.",
        "",
        "Why R_N* is not reproduced, as far as we can tell:",
        "",
        "* The paper's own objective does not single out 5.3. Its Huber objective is flat along a "
        "ridge of (R_D*, R_N*) with several local minima (table above); the published point is one of "
        "them, and points with R_N* 1.5 - 2.3 (R_D* 47 - 170) fit slightly better by that same "
        "objective. The L-BFGS run in the notebook stopped at the first. The posterior under the "
        "paper protocol lies on the same ridge, at its better-fitting end.",
        f"* With E, A, B, alpha, beta held at the values fitted to Chinchilla's C4 points, the law "
        f"misses these runs systematically: the mean log residual at the published values is "
        f"{bias:+.3f} (predictions {100 * (1 - np.exp(bias)):.0f}% too low on average). A likelihood "
        "(normal or Student-t) cares about that offset, and the only free parameters that can raise the "
        "predicted loss are R_D* and R_N*: smaller R_N* discounts the excess parameters of the many "
        "over-sized runs (100M unique tokens with 14M-1B parameters). The paper's delta = 1e-3 Huber "
        "loss is an L1 fit, which weighs that offset differently.",
        f"* When the five Chinchilla parameters may move (card priors, or all free), E rises to "
        f"{e_range[0]:.2f} - {e_range[1]:.2f}, the offset goes, and R_N* rises to medians of "
        f"{rn_range[0]:.0f} - {rn_range[1]:.0f} (excess parameters barely discounted): R_N* is traded "
        "against E and the Chinchilla coefficients, and these runs do not pin it down on their own. "
        f"R_D* medians stay within {rd_range[0]:.0f} - {rd_range[1]:.0f} in every fit on the 182 runs. "
        "The all-free Student-t posterior is bimodal (one chain in a mode with nu < 1 that treats "
        "many runs as outliers; R-hat above), so read its row with care.",
        "* On the 296 flagged runs (the blow-up runs kept) the paper protocol gives R_N* below 1 and "
        "R_D* above 50: the hand-picked run list matters as much as the method.",
        "",
        "What repeating costs at this point depends on the fit as much as R_N* does: over the fits on "
        f"the 182 runs that converged, 4 epochs of the same tokens cost {rel_range[4][0]:.1f}% - "
        f"{rel_range[4][1]:.1f}% in loss over fresh data and 16 epochs {rel_range[16][0]:.1f}% - "
        f"{rel_range[16][1]:.1f}% (posterior medians; the law at the published values: "
        f"{100 * (at_pub[1] / at_pub[0] - 1):.1f}% and {100 * (at_pub[2] / at_pub[0] - 1):.1f}%). Every "
        "fit agrees with the paper's qualitative finding that a few epochs cost little and 16 cost "
        "several times more; the fits with the Chinchilla part pinned, which must absorb the offset "
        "through R*, give the largest costs.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

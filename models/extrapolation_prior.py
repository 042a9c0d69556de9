"""The prior on the law's extrapolation error (``kappa`` of ``noise="discrepancy"``), from public ladders.

Reads the per-run rows of the extrapolation benchmark (``benchmarks/results/extrapolation.json.gz``,
written by ``python benchmarks/extrapolation.py``): for every held-out larger run, the observed loss,
the median and 90% interval of the ``chinchilla`` Student-t ``noise="iid"`` fit (the default before
the discrepancy term) and its distance ``d`` in decades of C beyond the fitted runs.

The model is hierarchical, with the ladder as the unit: each split of each ladder (one fit, all its
larger runs) has its own error rate ``kappa``, shared by its held-out runs, and the ladders' rates are
draws from one population, ``LogNormal(mu, sigma)`` or ``HalfNormal(s)``. A held-out run's log loss is
approximated as normal around the fit's median with sd ``sqrt(s0^2 + (kappa d)^2)`` (``s0`` from the
fit's 90% interval). The population's parameters maximise the marginal likelihood of all held-out runs,
``kappa`` integrated out per split by quadrature: the empirical-Bayes prior for a new ladder. Porian et
al.'s 15 training configurations are 15 ladders, as each is its own experiment. The family is chosen
by the log density of held-out data of a dataset left out (each of the five in turn, the prior refitted
without it), which is also how the prior is expected to do on a ladder it has not seen.

    python models/extrapolation_prior.py [path/to/extrapolation.json.gz]

The table it prints is kept in ``benchmarks/results/extrapolation_prior.md``; the chosen prior is the
one ``bayescale/laws/noise.py`` uses (``Discrepancy``).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
METHOD = "bayescale:chinchilla:student_t:iid"
#: Quadrature nodes: kappa at the population's quantiles (k + 0.5) / K.
_U = (np.arange(400) + 0.5) / 400
FAMILIES = {
    "LogNormal": (lambda p: np.exp(p[0] + abs(p[1]) * norm.ppf(_U)), (np.log(0.03), 1.0), ("mu", "sigma")),
    "HalfNormal": (lambda p: abs(p[-1]) * norm.ppf(0.5 + _U / 2), (0.03,), ("sigma",)),
}


def load(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    rows = pd.DataFrame(data["rows"] if isinstance(data, dict) else data)
    rows = rows[rows.method == METHOD].copy()
    rows["res"] = np.log(rows.loss / rows["median"])
    rows["s0"] = (np.log(rows["upper_0.9"]) - np.log(rows["lower_0.9"])) / (2 * norm.ppf(0.95))
    rows["d"] = rows.distance.clip(lower=0.0)
    return rows


def _sd(kappa: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    return np.sqrt(df.s0.to_numpy()[:, None] ** 2 + (kappa[None, :] * df.d.to_numpy()[:, None]) ** 2)


def marginal_loglik(kappa: np.ndarray, df: pd.DataFrame) -> float:
    """Sum over splits of log mean over the population's nodes of the split's joint density."""
    total = 0.0
    for _, g in df.groupby(["ladder", "fraction"]):
        ll = norm.logpdf(g.res.to_numpy()[:, None], 0.0, _sd(kappa, g)).sum(axis=0)
        top = ll.max()
        total += top + np.log(np.exp(ll - top).mean())
    return float(total)


def fit_population(family: str, df: pd.DataFrame) -> np.ndarray:
    nodes, start, _ = FAMILIES[family]
    res = minimize(lambda p: -marginal_loglik(nodes(p), df), np.asarray(start, dtype=float), method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-3})
    return np.r_[res.x[:-1], abs(res.x[-1])]  # the last parameter is a scale; its sign does not matter


def run_log_density(kappa: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    """Each held-out run's log predictive density, kappa integrated over the population."""
    return np.log(norm.pdf(df.res.to_numpy()[:, None], 0.0, _sd(kappa, df)).mean(axis=1))


def interval(kappa: np.ndarray, df: pd.DataFrame, p: float) -> np.ndarray:
    """Half-width of the central ``p`` interval of each run's widened predictive (bisection on its cdf)."""
    sd = _sd(kappa, df)
    lo, hi = np.zeros(len(df)), np.full(len(df), 5.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = norm.cdf(mid[:, None] / sd).mean(axis=1) < 0.5 + p / 2
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return lo


def scores(kappa: np.ndarray, df: pd.DataFrame) -> dict[str, float]:
    out = {"n": len(df)}
    r = np.abs(df.res.to_numpy())
    for p in (0.5, 0.9):
        half = interval(kappa, df, p)
        out[f"cov{round(100 * p)}"] = float((r <= half).mean())
    half = interval(kappa, df, 0.9)
    out["width90"] = float((2 * half).mean())
    out["IS90"] = float((2 * half + 20 * np.maximum(r - half, 0.0)).mean())
    out["log_density"] = float(run_log_density(kappa, df).mean())
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "results" / "extrapolation.json.gz"
    rows = load(path)
    none = np.zeros(1)
    base = scores(none, rows)
    lines = [f"{len(rows)} held-out runs of {rows.dataset.nunique()} datasets, {rows.ladder.nunique()} ladders, "
             f"{rows.groupby(['ladder', 'fraction']).ngroups} splits ({path.name}; method {METHOD})", "",
             f"Without a discrepancy term: cov50 {base['cov50']:.3f}, cov90 {base['cov90']:.3f}, "
             f"width90 {base['width90']:.3f}, IS90 {base['IS90']:.3f}, log density {base['log_density']:.3f}", ""]
    lodo_density = {}
    for family, (nodes, _, names) in FAMILIES.items():
        par = fit_population(family, rows)
        k = nodes(par)
        s = scores(k, rows)
        desc = ", ".join(f"{n}={v:.4f}" for n, v in zip(names, par))
        lines += [f"## kappa ~ {family}({desc})", "",
                  f"kappa quantiles 50/90/99%: {np.quantile(k, 0.5):.4f} / {np.quantile(k, 0.9):.4f} / "
                  f"{np.quantile(k, 0.99):.4f} per decade; marginal log likelihood {marginal_loglik(k, rows):.1f}", "",
                  f"All held-out runs, prior fitted on all: cov50 {s['cov50']:.3f}, cov90 {s['cov90']:.3f}, "
                  f"width90 {s['width90']:.3f}, IS90 {s['IS90']:.3f}, log density {s['log_density']:.3f}", "",
                  "| dataset | n | fitted on all: cov50 / cov90 | left out: prior without it | cov50 | cov90 | "
                  "width90 | IS90 | log density (no term) |", "|---|---|---|---|---|---|---|---|---|"]
        dens = []
        for ds in sorted(rows.dataset.unique()):
            test = rows[rows.dataset == ds]
            on_all = scores(k, test)
            par_ds = fit_population(family, rows[rows.dataset != ds])
            lo = scores(nodes(par_ds), test)
            dens.append(lo["log_density"])
            d_ds = ", ".join(f"{v:.3f}" for v in par_ds)
            lines.append(f"| {ds} | {lo['n']} | {on_all['cov50']:.2f} / {on_all['cov90']:.2f} | ({d_ds}) | "
                         f"{lo['cov50']:.2f} | {lo['cov90']:.2f} | {lo['width90']:.3f} | {lo['IS90']:.3f} | "
                         f"{lo['log_density']:.2f} ({scores(none, test)['log_density']:.2f}) |")
        lodo_density[family] = float(np.mean(dens))
        lines += ["", f"Mean over left-out datasets of the held-out log density: {lodo_density[family]:.3f}", ""]
    best = max(lodo_density, key=lodo_density.get)
    lines.append(f"Chosen (best left-out log density): {best}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

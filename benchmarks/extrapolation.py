"""Rolling-origin extrapolation benchmark on every public final-loss ladder with a size or compute axis.

What it asks: fitted to the runs up to some compute, do a method's intervals for a *new* run hold
on the larger runs the fit never saw, and how does that change with how far it extrapolates?

Data (``extrapolation_data.py``): Epoch's digitisation of Chinchilla (240 runs), Porian et al.'s
isoFLOP points (15 configurations, each its own ladder, pooled as "porian"), datablations'
single-epoch runs (41), the (Mis)Fitting final losses (224) and Step Law's best run per (N, D) cell
(17).

Splits (per ladder): C-levels are the runs' compute values grouped where consecutive values (in
log10 C) lie within :data:`LEVEL_GAP` decades of each other, so an isoFLOP budget is one level and
on continuous C (Epoch) a level is a run or a tight cluster. For each held-out share ``f`` of
:data:`FRACTIONS` (0.15, 0.30, 0.45 of the levels: the largest 10-20%, 20-35% and 35-50%), the
top ``max(1, round(f * K))`` of the ``K`` levels are held out: the *origin* is the largest C of the
last level kept; every run with ``C <= origin`` is fitted and every run with ``C > origin`` is
predicted. ``--origins n`` uses the first ``n`` shares. Origins leaving fewer than
:data:`MIN_TRAIN` runs to fit are skipped. Each held-out run records its distance of
extrapolation, ``log10(C / max C fitted)``.

Methods (named by strings, ``--methods``):

* ``bayescale:LAW:LIKELIHOOD:NOISE``: ``bs.fit(train, LAW, likelihood=LIKELIHOOD, noise=NOISE,
  draws=500, tune=1000, chains=4, random_seed=<fixed per split>, progressbar=False, **fit_kwargs)``
  scored by ``bs.analysis.score_runs(fit, test, ci_probs=(0.5, 0.8, 0.9, 0.95))``: exact
  equal-tailed new-run intervals, PIT and log density of the held-out log loss. NOISE is passed
  through as a string, so a structure registered by a module given with ``--import`` works.
* ``huber``: the method in use today (Besiroglu et al. 2024, ``epoch_huber.py``), generalised to any
  ladder: the Chinchilla law fitted by Huber loss (delta 1e-3) on log loss with L-BFGS-B at the
  replication's tight tolerances, from the replication's grid of 4500 starts screened to the 100
  with the lowest objective plus Hoffmann et al.'s estimates (``epoch_huber.screened_grid``:
  the full grid's minimum on the data checked, at 1/50 of the cost; ``--huber-starts 0`` runs all
  4500); then a nonparametric bootstrap of the training runs (default 200 resamples here, not
  the replication's 4000, for speed), each refit started from the full-data fit as the
  replication started each from the published estimates. Its predictive distribution of a new
  run's log loss is the equal-weight mixture over resamples of Normal(bootstrap prediction, s),
  ``s`` the standard deviation of the full-data fit's training log residuals: the bootstrap
  covers the law's uncertainty and ``s`` the run-to-run scatter, as people add a residual
  spread to bootstrap curves. Quantiles, PIT and log density come from that mixture exactly
  (``bayescale.analysis.predictive.Predictive``, the same code as ``score_runs``). Refits are kept
  on the log scale (``epoch_huber.bootstrap_theta``): on small ladders a resample with few distinct
  sizes can send ``log A`` past 700 with ``alpha`` in the tens (a step in N), whose prediction is
  finite though ``A`` overflows; a refit whose predictions are still not finite would be dropped
  and counted (``boot_dropped`` in the JSON; none in the default run).

Scores (per dataset, pooled over all held-out runs, and the mean over datasets; also per
distance bin, per Porian configuration, per held-out share and per fit): coverage of the central
50/80/90/95% intervals; the mean 90% interval score on log loss (Gneiting & Raftery 2007: width +
(2/0.1) * distance outside; lower is better); the mean 90% width (log); the mean log predictive
density of the held-out log loss (higher is better); ARE of the median (mean |y - median| / y); bias
(mean log(y / median): positive = the method predicts too low).

Run from the repository root: ``python benchmarks/extrapolation.py`` (about 5-6 minutes on 2
cores, one BLAS thread); ``--quick`` for a smoke run (1 origin, 2 chains x 200 draws, 50
resamples; written only with ``--out``). Writes ``benchmarks/results/extrapolation.md`` and ``.json.gz`` (per held-out run rows,
per fit rows and the settings, for comparing later runs).
"""

from __future__ import annotations

import os

# One BLAS thread: the Huber fits make thousands of tiny numpy calls, and OpenBLAS's worker threads,
# spinning against other processes on a shared 2-core machine, made them 50-200x slower (a 15-run
# fit and bootstrap: 1.3 s single-threaded, 4-260 s with 2 threads under load). Set before numpy
# is imported; main() also applies threadpoolctl's limit when it is installed.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.analysis.predictive import Predictive  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402
import epoch_huber as eh  # noqa: E402
import extrapolation_data as xd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "extrapolation"
CI_PROBS = (0.5, 0.8, 0.9, 0.95)
#: Held-out shares of a ladder's C-levels, one per origin, nearest the largest first.
FRACTIONS = (0.15, 0.30, 0.45)
#: Consecutive compute values closer than this (decades of C) belong to one C-level.
LEVEL_GAP = bs.runs.design.LEVEL_GAP
c_levels = bs.runs.design.compute_levels
#: An origin must leave at least this many runs to fit.
MIN_TRAIN = 8
#: Bins of the distance of extrapolation, log10(C / max C fitted), in decades.
DISTANCE_BINS = (0.0, 0.25, 0.5, 1.0, np.inf)
DISTANCE_LABELS = ("0-0.25", "0.25-0.5", "0.5-1", ">1")
DEFAULT_METHODS = ("bayescale:chinchilla:student_t:iid,huber,bayescale:chinchilla:normal:discrepancy,"
                   "bayescale:chinchilla:student_t:discrepancy")
INTERVAL_ALPHA = 0.1  # the interval score is of the 90% interval


# -- splits --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """One rolling-origin split of a ladder: fit on ``C <= origin``, predict ``C > origin``."""

    dataset: str
    ladder: str
    fraction: float  # the held-out share of C-levels asked for
    origin: float  # largest C of the last fitted level
    levels_out: int
    levels: int
    train: bs.RunTable
    test: bs.RunTable

    @property
    def key(self) -> str:
        return f"{self.dataset}|{self.ladder}|{self.fraction:g}"

    def seed(self, base: int) -> int:
        """The split's fixed random_seed: ``base`` and a checksum of its key."""
        return (base * 1_000_003 + zlib.crc32(self.key.encode())) % 2**32


def make_splits(ladder: xd.Ladder, fractions: Sequence[float], *, gap: float = LEVEL_GAP,
                min_train: int = MIN_TRAIN, skipped: list[str] | None = None) -> list[Split]:
    """The rolling-origin splits of one ladder, one per held-out share (duplicates dropped)."""
    C = ladder.runs.column("C")
    levels = c_levels(C, gap=gap)
    out, seen = [], set()
    for f in fractions:
        k = max(1, int(round(f * len(levels))))
        if k >= len(levels) or k in seen:
            continue
        seen.add(k)
        origin = levels[len(levels) - k - 1][1]
        train_mask = C <= origin
        if train_mask.sum() < min_train:
            if skipped is not None:
                skipped.append(f"{ladder.dataset}/{ladder.ladder}, share {f:g}: only {int(train_mask.sum())} "
                               f"runs with C <= {origin:.3g} (< {min_train}); skipped")
            continue
        out.append(Split(ladder.dataset, ladder.ladder, float(f), float(origin), k, len(levels),
                         ladder.runs.filter(train_mask), ladder.runs.filter(~train_mask)))
    return out


# -- methods -------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a method returns for a split: one row per held-out run and a dict about the fit."""

    table: pd.DataFrame  # run, N, D, C, loss, median, lower_<p>, upper_<p>, inside_<p>, pit, log_density
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    draws: int = 500
    tune: int = 1000
    chains: int = 4
    n_boot: int = 200
    huber_starts: int = 100
    fit_kwargs: dict[str, Any] = field(default_factory=dict)


class BayescaleMethod:
    """``bayescale:LAW:LIKELIHOOD:NOISE``: ``bs.fit`` on the training runs, ``score_runs`` on the rest."""

    def __init__(self, spec: str) -> None:
        parts = spec.split(":")
        if parts[0] != "bayescale" or not 2 <= len(parts) <= 4 or not all(parts[1:]):
            raise ValueError(f"method {spec!r}: write bayescale:LAW[:LIKELIHOOD[:NOISE]], "
                             "e.g. bayescale:chinchilla:student_t:iid")
        self.law = parts[1]
        self.likelihood = parts[2] if len(parts) > 2 else "student_t"
        self.noise = parts[3] if len(parts) > 3 else "iid"
        self.name = f"bayescale:{self.law}:{self.likelihood}:{self.noise}"

    def run(self, split: Split, seed: int, s: Settings) -> Outcome:
        kwargs = {"likelihood": self.likelihood, **s.fit_kwargs}
        fit, wall, warns = cd.timed_fit(split.train, self.law, noise=self.noise, draws=s.draws, tune=s.tune,
                                        chains=s.chains, random_seed=seed, **kwargs)
        t0 = time.perf_counter()
        table = bs.analysis.score_runs(fit, split.test, ci_probs=CI_PROBS)
        diag = fit.diagnostics()
        return Outcome(table, {"fit_s": wall, "score_s": time.perf_counter() - t0,
                               "divergences": int(diag.get("divergences", 0)),
                               "max_r_hat": float(diag.get("max_r_hat", np.nan)),
                               "min_ess_bulk": float(diag.get("min_ess_bulk", np.nan)),
                               "warnings": warns})


class HuberMethod:
    """``huber``: Huber fit (delta 1e-3, log loss, L-BFGS-B from a grid) plus a bootstrap, with a
    Normal residual spread around each bootstrap prediction (see the module docstring)."""

    name = "huber"

    def run(self, split: Split, seed: int, s: Settings) -> Outcome:
        tr, te = split.train, split.test
        N, D, y = tr.column("N"), tr.column("D"), tr.loss
        t0 = time.perf_counter()
        starts = eh.screened_grid(N, D, y, n_starts=s.huber_starts)
        point = eh.huber_fit(N, D, y, grid=starts)
        resid = eh.predict_log_loss(point, N, D)[0] - np.log(y)
        sd = float(np.std(resid))
        theta_hat = np.array([math.log(point["A"]), math.log(point["B"]), math.log(point["E"]),
                              point["alpha"], point["beta"]])
        t1 = time.perf_counter()
        boot = eh.bootstrap_theta(N, D, y, n_boot=s.n_boot, random_seed=seed, grid=theta_hat[None, :])
        t2 = time.perf_counter()
        loc = eh.predict_log_loss_theta(boot, te.column("N"), te.column("D"))
        # A refit whose parameters are not finite predicts nothing; drop it (counted) rather than let
        # an infinite location stall the mixture's quantile search.
        finite = np.isfinite(loc).all(axis=1)
        if not finite.any():
            raise RuntimeError(f"{split.key}: no bootstrap refit gave finite predictions")
        loc = loc[finite]
        pred = Predictive(loc, np.full_like(loc, sd), "normal")
        log_y = np.log(te.loss)
        table = _base_table(te)
        tails = [q for p in CI_PROBS for q in ((1 - p) / 2, (1 + p) / 2)]
        qs = np.exp(pred.quantiles([0.5, *tails]))
        table["median"] = qs[0]
        for i, p in enumerate(CI_PROBS):
            lo, hi = qs[1 + 2 * i], qs[2 + 2 * i]
            table[f"lower_{p:g}"], table[f"upper_{p:g}"] = lo, hi
            table[f"inside_{p:g}"] = (te.loss >= lo) & (te.loss <= hi)
        table["pit"] = pred.cdf(log_y)
        table["log_density"] = pred.logpdf(log_y)
        return Outcome(table, {"fit_s": t1 - t0, "boot_s": t2 - t1, "score_s": time.perf_counter() - t2,
                               "resid_sd": sd, "objective": point["objective"], "n_starts": len(starts),
                               "boot_dropped": int((~finite).sum()),
                               "boot_alpha_gt5": int((boot[:, 3] > 5).sum()),
                               **{f"hat_{k}": point[k] for k in eh.PARAM_NAMES}, "warnings": []})


def _base_table(runs: bs.RunTable) -> pd.DataFrame:
    df = runs.to_dataframe()
    t = pd.DataFrame({"run": runs.run_ids})
    for k in ("N", "D", "C"):
        if k in df.columns:
            t[k] = runs.column(k)
    t["loss"] = runs.loss
    return t


def parse_method(spec: str) -> BayescaleMethod | HuberMethod:
    spec = spec.strip()
    if spec == "huber":
        return HuberMethod()
    if spec.startswith("bayescale"):
        return BayescaleMethod(spec)
    raise ValueError(f"unknown method {spec!r}; use 'huber' or 'bayescale:LAW:LIKELIHOOD:NOISE'")


# -- scores --------------------------------------------------------------------------------------

def score_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Add per-run ``is90`` (interval score of the 90% interval on log loss), ``width90`` (log),
    ``rel_err`` and ``log_ratio`` (log(y / median))."""
    ly = np.log(rows["loss"].to_numpy(float))
    lo, hi = np.log(rows["lower_0.9"].to_numpy(float)), np.log(rows["upper_0.9"].to_numpy(float))
    out = rows.copy()
    out["width90"] = hi - lo
    out["is90"] = (hi - lo) + (2 / INTERVAL_ALPHA) * (np.maximum(lo - ly, 0) + np.maximum(ly - hi, 0))
    out["rel_err"] = np.abs(rows["loss"] - rows["median"]) / rows["loss"]
    out["log_ratio"] = ly - np.log(rows["median"].to_numpy(float))
    return out


METRICS = [*(f"cov{100 * p:g}" for p in CI_PROBS), "IS90", "width90", "log_dens", "ARE", "bias"]


def summarize(rows: pd.DataFrame) -> dict[str, float]:
    """The scores of a set of held-out rows (from :func:`score_columns`)."""
    out: dict[str, float] = {"n_runs": len(rows),
                             "n_splits": rows[["dataset", "ladder", "fraction"]].drop_duplicates().shape[0]}
    for p in CI_PROBS:
        out[f"cov{100 * p:g}"] = float(rows[f"inside_{p:g}"].mean())
    out["IS90"] = float(rows["is90"].mean())
    out["width90"] = float(rows["width90"].mean())
    out["log_dens"] = float(rows["log_density"].mean())
    out["ARE"] = float(rows["rel_err"].mean())
    out["bias"] = float(rows["log_ratio"].mean())
    return out


def group_table(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`summarize` per group, groups in sorted order (``dataset`` and ``method`` are ordered
    categoricals in :func:`main`, so they keep the order they were given in)."""
    recs = [{**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), **summarize(g)}
            for key, g in rows.groupby(list(by), sort=True, observed=True)]
    return pd.DataFrame(recs)


def pooled_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method: every held-out run pooled, and the unweighted mean of the per-dataset scores."""
    recs = []
    for method, g in rows.groupby("method", sort=True, observed=True):
        recs.append({"method": method, "pool": "all held-out runs", **summarize(g)})
        per = group_table(g, ["dataset"])
        mean = {k: float(per[k].mean()) for k in METRICS}
        recs.append({"method": method, "pool": f"mean over {len(per)} datasets",
                     "n_runs": int(per["n_runs"].sum()), "n_splits": int(per["n_splits"].sum()), **mean})
    return pd.DataFrame(recs)


def add_bins(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    out["distance bin"] = pd.cut(out["distance"], DISTANCE_BINS, labels=DISTANCE_LABELS, right=True)
    return out


# -- run -----------------------------------------------------------------------------------------

def import_module(name: str) -> None:
    """Import a module by dotted name or by the path of a ``.py`` file."""
    if name.endswith(".py"):
        path = Path(name).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {name}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
    else:
        importlib.import_module(name)


def run_all(splits: Sequence[Split], methods: Sequence[BayescaleMethod | HuberMethod], settings: Settings,
            *, base_seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every method on every split; return per-held-out-run rows and per-fit rows."""
    rows, fits = [], []
    for i, sp in enumerate(splits):
        seed = sp.seed(base_seed)
        cmax = float(sp.train.column("C").max())
        for m in methods:
            t0 = time.perf_counter()
            res = m.run(sp, seed, settings)
            wall = time.perf_counter() - t0
            t = res.table.copy()
            t.insert(0, "method", m.name)
            t.insert(0, "origin", sp.origin)
            t.insert(0, "fraction", sp.fraction)
            t.insert(0, "ladder", sp.ladder)
            t.insert(0, "dataset", sp.dataset)
            t["distance"] = np.log10(t["C"].to_numpy(float) / cmax)
            rows.append(t)
            st = score_columns(t)
            fits.append({"dataset": sp.dataset, "ladder": sp.ladder, "fraction": sp.fraction, "origin": sp.origin,
                         "levels_out": f"{sp.levels_out}/{sp.levels}", "n_train": len(sp.train.loss),
                         "n_test": len(t), "max_distance": float(t["distance"].max()), "method": m.name,
                         "seed": seed, "wall_s": wall, "cov90": float(st["inside_0.9"].mean()),
                         "IS90": float(st["is90"].mean()), "bias": float(st["log_ratio"].mean()),
                         "divergences": res.detail.get("divergences", np.nan),
                         "max_r_hat": res.detail.get("max_r_hat", np.nan),
                         **{k: v for k, v in res.detail.items() if k not in ("divergences", "max_r_hat")}})
            w = res.detail.get("warnings") or []
            print(f"[{i + 1}/{len(splits)}] {sp.dataset}/{sp.ladder} share {sp.fraction:g} (train {len(sp.train.loss)},"
                  f" test {len(t)}, C > {sp.origin:.3g}) {m.name}: {wall:.1f} s, cov90 {fits[-1]['cov90']:.2f}, "
                  f"IS90 {fits[-1]['IS90']:.3f}, bias {fits[-1]['bias']:+.4f}"
                  + (f", div {fits[-1]['divergences']}, R-hat {fits[-1]['max_r_hat']:.3f}"
                     if not pd.isna(fits[-1]["divergences"]) else "")
                  + (f" [{len(w)} sampler warning(s)]" if w else ""), flush=True)
    return pd.concat(rows, ignore_index=True), pd.DataFrame(fits)


def _jsonable(df: pd.DataFrame) -> list[dict]:
    recs = df.to_dict("records")
    def clean(v: Any) -> Any:
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating, float)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, (np.bool_,)):
            return bool(v)
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return [{k: clean(v) for k, v in r.items()} for r in recs]


def dataset_rows(ladders: Sequence[xd.Ladder], splits: Sequence[Split]) -> list[dict[str, Any]]:
    """One row per dataset: ladders, runs, C-levels, splits, held-out runs and the origins."""
    out = []
    for name in dict.fromkeys(lad.dataset for lad in ladders):
        lads = [lad for lad in ladders if lad.dataset == name]
        sps = [sp for sp in splits if sp.dataset == name]
        if len(lads) == 1:
            origins = ", ".join(f"{sp.origin:.3g}" for sp in sps)
        else:
            out_levels = "/".join(sorted({str(sp.levels_out) for sp in sps}))
            origins = f"budget levels per configuration (top {out_levels} levels out)"
        out.append({"dataset": name, "ladders": len(lads), "runs": sum(len(lad) for lad in lads),
                    "C-levels": "/".join(sorted({str(len(c_levels(lad.runs.column("C")))) for lad in lads})),
                    "splits": len(sps), "held-out runs (all splits)": sum(len(sp.test.loss) for sp in sps),
                    "origins (C)": origins})
    return out


def _nproc() -> int:
    """Usable CPUs, as ``nproc`` would say without the OMP_NUM_THREADS this script sets."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _one_blas_thread() -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def main() -> None:
    with _one_blas_thread():
        _main()


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=DEFAULT_METHODS,
                    help=f"comma-separated method names (default {DEFAULT_METHODS})")
    ap.add_argument("--datasets", default=",".join(xd.DEFAULT_DATASETS),
                    help=f"comma-separated, from {list(xd.DATASETS)} (default {','.join(xd.DEFAULT_DATASETS)})")
    ap.add_argument("--origins", type=int, default=3, help="origins per ladder, 1-3 (held-out shares "
                    f"{FRACTIONS} of C-levels, first n)")
    ap.add_argument("--draws", type=int, default=500, help="posterior draws per chain (500)")
    ap.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (1000)")
    ap.add_argument("--chains", type=int, default=4, help="chains (4)")
    ap.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of the huber method (200)")
    ap.add_argument("--huber-starts", type=int, default=100,
                    help="grid starts kept by screening (100; 0 = all 4500, several minutes per fit)")
    ap.add_argument("--seed", type=int, default=2026, help="base seed; each split's seed derives from it (2026)")
    ap.add_argument("--fit-kwargs", default="{}", help="JSON of extra bs.fit keywords, e.g. '{\"nuts\": "
                    "{\"target_accept\": 0.95}}'")
    ap.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                    help="module (dotted name or .py path) imported before fitting, e.g. to register a noise "
                         "structure; may be repeated")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 origin, 2 chains x 200 draws after 300 "
                    "tune, 50 resamples, 20 starts; results written only with --out")
    ap.add_argument("--out", type=Path, default=None, help=f"results file stem (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    if args.quick:
        args.origins, args.draws, args.tune, args.chains = 1, 200, 300, 2
        args.n_boot, args.huber_starts = 50, 20
    if not 1 <= args.origins <= len(FRACTIONS):
        ap.error(f"--origins must be 1-{len(FRACTIONS)}")
    for mod in args.imports:
        import_module(mod)
    methods = [parse_method(s) for s in args.methods.split(",") if s.strip()]
    settings = Settings(draws=args.draws, tune=args.tune, chains=args.chains, n_boot=args.n_boot,
                        huber_starts=args.huber_starts, fit_kwargs=json.loads(args.fit_kwargs))
    started = dt.datetime.now()
    t_all = time.perf_counter()

    notes: list[str] = []
    ladders = xd.load([d.strip() for d in args.datasets.split(",") if d.strip()], notes=notes)
    skipped: list[str] = []
    splits = [sp for lad in ladders for sp in make_splits(lad, FRACTIONS[: args.origins], skipped=skipped)]
    ds_rows = dataset_rows(ladders, splits)
    print(cd.md_table(ds_rows), flush=True)

    rows, fits = run_all(splits, methods, settings, base_seed=args.seed)
    minutes = (time.perf_counter() - t_all) / 60
    scored = add_bins(score_columns(rows))
    scored["method"] = pd.Categorical(scored["method"], categories=[m.name for m in methods], ordered=True)
    scored["dataset"] = pd.Categorical(scored["dataset"], categories=list(dict.fromkeys(scored["dataset"])),
                                       ordered=True)

    pooled = pooled_table(scored)
    per_ds = group_table(scored, ["dataset", "method"])
    by_dist = group_table(scored, ["distance bin", "method"])
    by_ds_dist = group_table(scored, ["dataset", "distance bin", "method"])
    by_share = group_table(scored, ["fraction", "method"])
    porian = scored[scored["dataset"] == "porian"]
    by_cfg = group_table(porian, ["ladder", "method"]) if len(porian) else None
    fit_cols = ["dataset", "ladder", "fraction", "origin", "levels_out", "n_train", "n_test", "max_distance",
                "method", "wall_s", "cov90", "IS90", "bias", "divergences", "max_r_hat", "min_ess_bulk",
                "resid_sd", "hat_alpha", "hat_beta"]
    detail = fits.reindex(columns=fit_cols)
    if "hat_alpha" in fits:
        neg = fits[(fits["hat_alpha"] < 0) | (fits["hat_beta"] < 0)]
        neg_text = (f"Huber point fits with a negative exponent (the loss then *rises* with N or D; the replication's "
                    f"fit has no bounds): {len(neg)} of {int(fits['hat_alpha'].notna().sum())}"
                    + (": " + "; ".join(f"{r.ladder} share {r.fraction:g} (alpha {r.hat_alpha:.2f}, beta "
                                        f"{r.hat_beta:.2f}, cov90 {r.cov90:.2f}, bias {r.bias:+.3f})"
                                        for r in neg.itertuples()) if len(neg) else "") + ".")
    else:
        neg_text = ""

    method_text = {m.name: ("bs.fit(train, {!r}, likelihood={!r}, noise={!r}, draws={}, tune={}, chains={}, "
                            "random_seed=<per split>, progressbar=False{}), scored by score_runs".format(
                                m.law, m.likelihood, m.noise, args.draws, args.tune, args.chains,
                                "".join(f", {k}={v!r}" for k, v in settings.fit_kwargs.items()))
                            if isinstance(m, BayescaleMethod) else
                            f"Huber (delta 1e-3) on log loss, L-BFGS-B (ftol 1e-15, gtol 1e-12) from "
                            f"{'all 4500' if args.huber_starts <= 0 else f'the best {args.huber_starts} of 4500'} "
                            f"grid starts + Hoffmann's estimates; {args.n_boot}-resample bootstrap (refits started at "
                            "the full fit); predictive = mixture over resamples of Normal(prediction, sd of the "
                            "full fit's training log residuals)")
                   for m in methods}
    n_div = fits["divergences"].fillna(0).astype(int)
    lines = cd.results_header("Rolling-origin extrapolation benchmark on public final-loss ladders", started=started)
    # the header's `nproc` obeys the OMP_NUM_THREADS=1 set above; say how many CPUs there are
    lines = [ln.replace(f"nproc {cd._nproc()},", f"nproc {_nproc()},") for ln in lines]
    lines += [
        f"Machine: `{platform.node()}`, nproc {_nproc()}, load average at the end "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}. Total wall time {minutes:.1f} min "
        f"({len(splits)} splits x {len(methods)} methods), one BLAS thread. "
        f"Other packages: scipy {cd._version('scipy')}.",
        *(f"Imported before fitting: `{m}`." for m in args.imports),
        "",
        "Methods:", "",
        *[f"- `{k}`: {v}." for k, v in method_text.items()],
        "",
        f"Splits: per ladder, C-levels = runs' C grouped where consecutive log10 C differ by <= {LEVEL_GAP} decades; "
        f"origins hold out the top round(f x levels) levels for f in {FRACTIONS[: args.origins]}; fit on C <= origin, "
        "predict every run with C > origin. Distance = log10(C / max C fitted). Each split has a fixed seed "
        f"(from --seed {args.seed} and the split's name), shared by all methods.",
        "Scores: coverage of central intervals; IS90 = mean 90% interval score on log loss (width + 20 x distance "
        "outside; lower is better); width90 = mean 90% width in log loss; log_dens = mean log predictive density "
        "of held-out log loss (higher is better); ARE = mean |y - median| / y; bias = mean log(y / median) "
        "(positive: predictions too low).",
        "",
        "Data:", "",
        *[f"- {n}" for n in notes],
        *[f"- {s}" for s in skipped],
        "",
        cd.md_table(ds_rows),
        "",
        "## Pooled",
        "",
        "All held-out runs of all datasets and origins (Porian's 15 configurations count as one dataset), and the "
        "unweighted mean of the per-dataset scores.",
        "",
        cd.md_table(pooled),
        "",
        "## Per dataset",
        "",
        cd.md_table(per_ds),
        "",
        "## Against distance of extrapolation (pooled)",
        "",
        cd.md_table(by_dist),
        "",
        "## Per held-out share of C-levels (pooled)",
        "",
        cd.md_table(by_share),
        "",
        "## Per dataset and distance",
        "",
        cd.md_table(by_ds_dist),
        "",
    ]
    if by_cfg is not None:
        lines += ["## Porian et al.: per configuration (all origins)", "", cd.md_table(by_cfg), ""]
    rhat = fits["max_r_hat"].to_numpy(float)
    lines += ["## Per fit", "",
              f"Bayescale fits: {int(n_div.sum())} divergences in all (in {int((n_div > 0).sum())} fits); "
              f"R-hat > 1.01 in {int((rhat > 1.01).sum())} and > 1.1 in {int((rhat > 1.1).sum())} of "
              f"{int(np.isfinite(rhat).sum())} fits "
              f"(largest {np.nanmax(rhat) if np.isfinite(rhat).any() else float('nan'):.3f}).",
              *([neg_text] if neg_text else []),
              "Columns: wall_s = the method's time for the split; min_ess_bulk (bayescale); resid_sd = sd of the "
              "training log residuals and hat_alpha, hat_beta = the exponents of the Huber point fit (huber).",
              "", cd.md_table(detail), ""]
    warn_lines = [f"- {r.dataset}/{r.ladder} share {r.fraction:g} {r.method}: {w}" for r in fits.itertuples()
                  for w in (r.warnings or [])]
    if warn_lines:
        lines += ["## Sampler warnings", "", *warn_lines, ""]
    text = "\n".join(lines)
    print(text)

    out = args.out if args.out is not None else (None if args.quick else OUT)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text)
        keep = ["dataset", "ladder", "fraction", "origin", "method", "run", "N", "D", "C", "distance", "loss",
                "median", *(f"{b}_{p:g}" for p in CI_PROBS for b in ("lower", "upper")), "pit", "log_density"]
        payload = {
            "meta": {"date": started.isoformat(timespec="seconds"), "machine": platform.node(),
                     "nproc": _nproc(), "command": " ".join(sys.argv), "wall_min": minutes,
                     "versions": {p: cd._version(p) for p in ("bayescale", "pymc", "pytensor", "arviz", "nutpie",
                                                              "numpy", "scipy", "pandas")},
                     "methods": method_text, "settings": {**vars(args), "out": str(out),
                                                          "fit_kwargs": settings.fit_kwargs},
                     "fractions": list(FRACTIONS[: args.origins]), "level_gap": LEVEL_GAP, "ci_probs": list(CI_PROBS),
                     "datasets": _jsonable(pd.DataFrame(ds_rows)), "notes": notes + skipped},
            "rows": _jsonable(rows[keep]),
            "fits": _jsonable(fits.drop(columns=["warnings"])),
            "warnings": warn_lines,
        }
        rows_file = out.with_suffix(".json.gz")  # gzipped: 0.7 MB instead of 4.7 MB in the repository
        rows_file.write_bytes(gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), 9, mtime=0))
        print(f"wrote {out.with_suffix('.md')} and {rows_file}")


if __name__ == "__main__":
    main()

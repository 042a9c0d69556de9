"""Training-curve tables for the curve benchmarks (``curves_*.py``), read from ``../shared/data``.

Each loader returns a validated :class:`bayescale.RunTable` of checkpoints and says, in its
docstring and in the ``notes`` list it is given, every row it drops and why. No loss, size or
token value is ever changed, with one documented exception: the GPT-3 curves are digitised from a
figure, and checkpoints digitised at exactly the same token value are averaged into one.

The data folder is ``<repo>/../shared/data`` (the layout the project's tests and CI use); set
``BAYESCALE_SHARED_DATA`` to read it elsewhere.

Also here: the scores the benchmarks share (median error, interval coverage on posterior-predictive
draws) and the header of a results file (date, machine, command, package versions).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import bayescale as bs

__all__ = [
    "data_dir",
    "gpt3_val_curves",
    "misfitting_curves",
    "clark_dense_curves",
    "thin_log_even",
    "score_draws",
    "md_table",
    "results_header",
]

SAMPLE_DIMS = ("chain", "draw")


def data_dir() -> Path:
    """The shared data folder: ``$BAYESCALE_SHARED_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("BAYESCALE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _read(name: str) -> pd.DataFrame:
    path = data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the curve benchmarks read the shared data folder; set "
            "BAYESCALE_SHARED_DATA to the folder that holds it"
        )
    return pd.read_csv(path)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)


def thin_log_even(axis: np.ndarray, max_points: int) -> np.ndarray:
    """Boolean mask keeping at most ``max_points`` of one run's sorted, distinct, positive
    checkpoints, as evenly spaced in log(axis) as the checkpoints allow; the last is always kept.

    For each of ``max_points`` targets spaced evenly in log between the first and the last value,
    the nearest checkpoint (in log) is kept; targets sharing a nearest checkpoint keep it once, so
    a run may keep fewer than ``max_points``. Values are selected, never interpolated.
    """
    axis = np.asarray(axis, dtype=float)
    keep = np.zeros(axis.size, dtype=bool)
    if axis.size <= max_points:
        keep[:] = True
        return keep
    la = np.log(axis)
    targets = np.linspace(la[0], la[-1], max_points)
    pos = np.clip(np.searchsorted(la, targets), 1, axis.size - 1)
    nearer_left = (targets - la[pos - 1]) < (la[pos] - targets)
    keep[np.where(nearer_left, pos - 1, pos)] = True
    keep[-1] = True
    return keep


def gpt3_val_curves(*, max_points: int | None = 60, notes: list[str] | None = None) -> bs.RunTable:
    """GPT-3 validation-loss curves (Brown et al. 2020, Fig. 3.1 digitised), one run per model.

    Reads ``colpret_family_curves.csv``, rows with ``family == "GPT-3"`` and
    ``metric == "val_loss"`` (8 models, 125M-175B, to about 3e11 tokens). Columns: run =
    ``model_name``, N = ``N_params``, D = ``tokens`` = ``D_tokens`` (tokens seen), loss =
    ``value`` (nats/token); the table is indexed by tokens (``curve_axis == "D"``).

    The points were digitised from a figure, so within a run the token values go backwards now and
    then and often repeat exactly (the digitiser's pixel grid). What this does, in order:

    1. sorts each run's points by tokens (stable, so points at equal tokens keep file order);
    2. collapses points at exactly the same token value into one checkpoint whose loss is the
       mean of their losses (the only place a loss value is computed rather than copied; the count
       of rows merged is put in ``notes``);
    3. keeps at most ``max_points`` checkpoints per run, evenly spaced in log tokens, always the
       last (:func:`thin_log_even`); ``max_points=None`` keeps all.

    Nothing else is dropped. ``N_params`` is the paper's nominal size (total parameters).
    """
    df = _read("colpret_family_curves.csv")
    df = df[(df["family"] == "GPT-3") & (df["metric"] == "val_loss")]
    n_raw = len(df)
    df = df.sort_values(["model_name", "D_tokens"], kind="stable")
    grouped = df.groupby(["model_name", "D_tokens"], sort=False)
    size = grouped["value"].transform("size")
    merged = (
        grouped.agg(N_params=("N_params", "first"), value=("value", "mean"), n_merged=("value", "size"))
        .reset_index()
    )
    if merged.groupby("model_name")["N_params"].nunique().max() != 1:
        raise ValueError("a GPT-3 model_name has more than one N_params in colpret_family_curves.csv")
    _note(notes, f"GPT-3 val_loss: {n_raw} digitised rows; {int((size > 1).sum())} of them share an "
                 f"exact token value with another row of their run and were averaged into "
                 f"{int((merged['n_merged'] > 1).sum())} checkpoints ({n_raw - len(merged)} rows fewer), "
                 f"leaving {len(merged)} checkpoints")
    if max_points is not None:
        keep = np.concatenate([
            thin_log_even(g["D_tokens"].to_numpy(), max_points)
            for _, g in merged.groupby("model_name", sort=False)
        ])
        _note(notes, f"GPT-3 val_loss: thinned to at most {max_points} checkpoints per run, evenly in "
                     f"log tokens (last kept): {len(merged)} -> {int(keep.sum())} checkpoints")
        merged = merged[keep]
    merged = merged.reset_index(drop=True)
    return bs.RunTable.from_dataframe(
        merged, N="N_params", tokens="D_tokens", loss="value", run="model_name",
        source="colpret_family_curves.csv (GPT-3 val_loss)",
    )


def misfitting_curves(*, notes: list[str] | None = None) -> bs.RunTable:
    """Li, Kudugunta & Zettlemoyer 2025 ("(Mis)Fitting", arXiv 2502.18969) training curves.

    Reads ``misfitting_li2025_curves.csv`` (240 runs, 11 sizes, C4 eval loss at checkpoints).
    Columns: run = ``run_id``, N = ``N_params_nonembed``, step = ``current_steps``, D = ``tokens`` =
    ``D_tokens_seen``, loss = ``c4_eval_loss``, lr = ``peak_lr``; ``total_steps`` and
    ``portion_steps_elapsed`` (= step / total_steps) are kept. Indexed by step
    (``curve_axis == "step"``). Every run uses 2**20 tokens per step.

    Which N: the paper's own fits count all parameters, embeddings included (``N_params_total``
    here; ``n_field_name="N"`` in hadasah/scaling_laws ``paper_analysis_and_plots.py``), and
    non-embedding parameters (``N_params_nonembed``) only in its "counting" ablation
    (``*_noemb_n``). We use the non-embedding count, as Kaplan et al. and the ``kaplan_steps`` law
    do: for these small models the embeddings are most of the total (12M non-embedding vs 57M
    total for the smallest), so the total count squeezes 83x of sizes (12M-1.0B) into 21x
    (57M-1.18B) and bends the size term of the law.

    Dropped (counted in ``notes``):

    * every row flagged ``dup_step_in_run`` (63 rows in 16 runs of ``misfitting_17m``: the file
      holds several copies of those runs' step-128 and final checkpoints with different losses, and
      the flag marks all copies, so the final checkpoint of those runs goes too, and the three
      ``steps=200`` runs, which had only flagged rows, go entirely);
    * rows with ``current_steps > total_steps`` (2 rows, step 256 of the two
      ``misfitting_70m|steps=250`` runs: both also flagged final, with a loss far above the step-250
      loss; not a checkpoint of a 250-step run).

    Then rows are sorted by run, then step.
    """
    df = _read("misfitting_li2025_curves.csv")
    n_raw, runs_raw = len(df), df["run_id"].nunique()
    dup = df["dup_step_in_run"].astype(bool)
    _note(notes, f"(Mis)Fitting: dropped {int(dup.sum())} of {n_raw} rows flagged dup_step_in_run "
                 f"({df.loc[dup, 'run_id'].nunique()} runs; "
                 f"{len(set(df.loc[dup, 'run_id']) - set(df.loc[~dup, 'run_id']))} runs had no other rows "
                 f"and are gone)")
    df = df[~dup]
    past_end = df["current_steps"] > df["total_steps"]
    _note(notes, f"(Mis)Fitting: dropped {int(past_end.sum())} rows whose step exceeds the run's "
                 f"total_steps: {sorted(df.loc[past_end, 'run_id'].str.split('|').str[:2].str.join('|'))}")
    df = df[~past_end]
    df = df.sort_values(["run_id", "current_steps"], kind="stable").reset_index(drop=True)
    _note(notes, f"(Mis)Fitting: {len(df)} checkpoints of {df['run_id'].nunique()} runs "
                 f"(from {n_raw} rows of {runs_raw} runs)")
    return bs.RunTable.from_dataframe(
        df, N="N_params_nonembed", step="current_steps", tokens="D_tokens_seen", loss="c4_eval_loss",
        run="run_id", lr="peak_lr", source="misfitting_li2025_curves.csv",
    )


def clark_dense_curves(*, notes: list[str] | None = None) -> bs.RunTable:
    """Clark et al. 2022 (Unified Scaling Laws for Routed Language Models) dense-model curves.

    Reads ``deepmind_routing_clark2022_curves.csv``, rows with ``router_type == "Dense"`` (13
    runs, loss every 10k steps to 249k). Columns: run = ``hyper_id``, N =
    ``dense_parameter_count``, step = ``step``, loss = ``loss_validation``; indexed by step, no
    tokens (the file has no batch size). Other columns are kept.

    Dropped (counted in ``notes``): step 0 (the untrained model, loss about ln(vocabulary); a power
    law in S cannot reach S = 0) and rows whose ``loss_validation`` is NaN (one: hyper_id 128 at
    step 248000, where the file splits the last evaluation over steps 248000 and 249000).

    Caution, not acted on: 5 of the 13 "Dense" runs (hyper_id 114-118) have ``flop_increase``
    and ``k`` of 2 or 4 and a total parameter count above their dense count; they share N with a
    plain run (flop_increase 1) but reach a lower loss. The ``flop_increase`` column is kept so a
    caller can select the 8 plain runs.
    """
    df = _read("deepmind_routing_clark2022_curves.csv")
    df = df[df["router_type"] == "Dense"]
    n_raw = len(df)
    at_zero = df["step"] == 0
    nan_loss = df["loss_validation"].isna()
    _note(notes, f"Clark dense: {n_raw} rows of {df['hyper_id'].nunique()} runs; dropped {int(at_zero.sum())} "
                 f"step-0 rows and {int(nan_loss.sum())} NaN loss_validation row(s) "
                 f"{[(int(h), int(s)) for h, s in df.loc[nan_loss, ['hyper_id', 'step']].to_numpy()]} "
                 "(hyper_id, step)")
    df = df[~at_zero & ~nan_loss]
    df = df.sort_values(["hyper_id", "step"], kind="stable").reset_index(drop=True)
    return bs.RunTable.from_dataframe(
        df, N="dense_parameter_count", step="step", loss="loss_validation", run="hyper_id",
        source="deepmind_routing_clark2022_curves.csv (router_type Dense)",
    )


# -- scores --------------------------------------------------------------------------------------

def score_draws(draws: xr.DataArray, y: Sequence[float] | np.ndarray, *,
                ci_probs: Sequence[float] = (0.5, 0.8, 0.9)) -> pd.DataFrame:
    """Per point: observed ``y``, predictive median, |error|, relative error and whether ``y`` lies
    inside each equal-tailed interval (columns ``lower_<p>``, ``upper_<p>``, ``in_<p>``).

    ``draws`` has dims ``(chain, draw, point)``; the intervals come from
    :func:`bayescale.analysis.interval` with ``ci_kind="eti"``.
    """
    y = np.asarray(y, dtype=float)
    if draws.dims != (*SAMPLE_DIMS, "point") or draws.sizes["point"] != y.size:
        raise ValueError(f"draws must have dims (chain, draw, point) with {y.size} points; got "
                         f"{dict(draws.sizes)}")
    med = draws.median(SAMPLE_DIMS).to_numpy()
    out = pd.DataFrame({"y": y, "median": med, "abs_err": np.abs(y - med), "rel_err": np.abs(y - med) / y})
    for p in ci_probs:
        iv = bs.analysis.interval(draws, ci_prob=p, ci_kind="eti")
        lo = iv.sel(ci_bound="lower").to_numpy()
        hi = iv.sel(ci_bound="upper").to_numpy()
        out[f"lower_{p:g}"], out[f"upper_{p:g}"] = lo, hi
        out[f"in_{p:g}"] = (lo <= y) & (y <= hi)
    return out


# -- results files -------------------------------------------------------------------------------

def md_table(rows: Sequence[dict] | pd.DataFrame, *, digits: int = 4) -> str:
    """A Markdown table (no tabulate dependency); floats to ``digits`` significant figures."""
    df = pd.DataFrame(rows)

    def fmt(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def results_header(title: str, *, started: dt.datetime | None = None) -> list[str]:
    """Title, date, machine (platform + nproc), the command as run and package versions."""
    started = started or dt.datetime.now()
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    versions = ", ".join(f"{p} {_version(p)}" for p in ("bayescale", "pymc", "pytensor", "arviz", "nutpie",
                                                        "numpy", "pandas", "xarray"))
    return [
        f"# {title}", "",
        f"Measured {started:%Y-%m-%d %H:%M} on {platform.node()}, {platform.platform()} "
        f"({platform.machine()}), nproc {_nproc()}, Python {platform.python_version()}.",
        f"Command (from the repository root): `{cmd}`.",
        f"Packages: {versions}.", "",
    ]


# -- fitting -------------------------------------------------------------------------------------

def timed_fit(runs: bs.RunTable, law: str | bs.laws.Law, *, noise: str, draws: int, tune: int,
              chains: int, random_seed: int, **kwargs) -> tuple[bs.Fit, float, list[str]]:
    """``bs.fit`` with its wall time (build + compile + sample) and the SamplerWarnings it raised."""
    import time
    import warnings

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.SamplerWarning)
        fit = bs.fit(runs, law, noise=noise, draws=draws, tune=tune, chains=chains,
                     random_seed=random_seed, progressbar=False, **kwargs)
    wall = time.perf_counter() - t0
    msgs = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
    for w in caught:
        if not issubclass(w.category, bs.SamplerWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fit, wall, msgs


def add_run_args(ap, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 2026) -> None:
    """The options every curve benchmark takes."""
    ap.add_argument("--draws", type=int, default=draws, help=f"posterior draws per chain ({draws})")
    ap.add_argument("--tune", type=int, default=tune, help=f"tuning steps per chain ({tune})")
    ap.add_argument("--chains", type=int, default=chains, help=f"chains ({chains})")
    ap.add_argument("--seed", type=int, default=seed, help=f"random_seed of every fit ({seed})")
    ap.add_argument("--target-accept", type=float, default=None,
                    help="NUTS target acceptance (default: the library's, 0.9)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 chains x 200 draws after 200 tune, results not written")


def apply_quick(args) -> None:
    if args.quick:
        args.draws, args.tune, args.chains = 200, 200, 2


def sampler_kwargs(args) -> dict:
    """Extra ``bs.fit`` keywords from the command line (``nuts={"target_accept": ...}``)."""
    return {} if args.target_accept is None else {"nuts": {"target_accept": args.target_accept}}


def sampler_text(args) -> str:
    ta = "library default target_accept 0.9" if args.target_accept is None else f"target_accept {args.target_accept}"
    return f"{args.chains} chains x {args.draws} draws after {args.tune} tune, {ta}, random_seed {args.seed}"


def param_table(fit: bs.Fit, *, ci_prob: float = 0.94, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per parameter: posterior median, HDI at ``ci_prob``, R-hat and bulk ESS."""
    names = list(names or fit.var_names)
    summ = fit.summary(ci_prob=ci_prob)
    pct = f"{100 * ci_prob:g}"
    rows = []
    for name in names:
        draws = fit.posterior[name]
        hdi = bs.analysis.interval(draws, ci_prob=ci_prob, ci_kind="hdi")
        rows.append({"parameter": name, "median": float(draws.median()),
                     f"{pct}% HDI lower": float(hdi.sel(ci_bound="lower")),
                     f"{pct}% HDI upper": float(hdi.sel(ci_bound="upper")),
                     "r_hat": float(summ.loc[name, "r_hat"]), "ess_bulk": float(summ.loc[name, "ess_bulk"])})
    return pd.DataFrame(rows)


def finish_results(lines: list[str], posteriors: Sequence[tuple[str, bs.Fit, Sequence[str]]], *, out: Path,
                   quick: bool) -> None:
    """Append a posterior table (and the sampler's warnings) per fit, print, and write ``out``
    unless ``quick``."""
    lines = list(lines)
    for title, fit, warns in posteriors:
        lines += [f"## Posterior: {title}", "", md_table(param_table(fit)), ""]
        lines += [f"Sampler warning: {w}" for w in warns] + ([""] if warns else [])
    text = "\n".join(lines)
    print(text)
    if not quick:
        out.write_text(text)



#: Peak and final learning rates and warm-up of every run in ``mpl_luo2025_curves.csv`` (README).
MPL_PEAK, MPL_FINAL, MPL_WARMUP = 3e-4, 3e-5, 2160


#: The (Mis)Fitting runs' schedule (hadasah/scaling_laws, ``open_lm/constants/slurm_constants.py``:
#: NUM_WARMUP_STEPS 50, END_LR_RATIO 0.1, open_lm's cosine): linear warm-up over 50 steps to the
#: run's peak_lr, then a half cosine to 0.1 x peak_lr at total_steps.
MISFITTING_WARMUP, MISFITTING_END_RATIO = 50, 0.1


def misfitting_schedules(table: bs.RunTable) -> dict[str, bs.Schedule]:
    """The learning-rate schedule of every run of :func:`misfitting_curves` (by run id), from its
    ``lr`` (peak) and ``total_steps`` columns."""
    df = table.to_dataframe().groupby("run", sort=False)[["lr", "total_steps"]].first()
    return {run: bs.Schedule.cosine(float(r.lr), MISFITTING_END_RATIO * float(r.lr), int(r.total_steps),
                                    warmup=MISFITTING_WARMUP)
            for run, r in df.iterrows()}


def mpl_schedule(name: str) -> bs.Schedule:
    """The learning-rate schedule of a ``mpl_luo2025_curves.csv`` run, from its name (as the data's
    README gives them, after the authors' data loader)."""
    kind, *rest = name.split("_")
    if kind == "constant":
        return bs.Schedule.constant(MPL_PEAK, int(rest[0]), warmup=MPL_WARMUP)
    if kind == "cosine":
        return bs.Schedule.cosine(MPL_PEAK, MPL_FINAL, int(rest[0]), warmup=MPL_WARMUP)
    if kind in ("wsd", "wsdld"):
        return bs.Schedule.wsd(MPL_PEAK, MPL_FINAL, int(rest[0]), int(rest[1]), warmup=MPL_WARMUP,
                               decay="geometric" if kind == "wsd" else "linear")
    if kind == "wsdcon":
        return bs.Schedule.two_stage(MPL_PEAK, int(rest[0]) * 1e-5, 8000, 16000, warmup=MPL_WARMUP)
    raise ValueError(f"unknown schedule {name!r}")


def mpl_curves(model: str, *, notes: list[str] | None = None) -> tuple[bs.RunTable, dict[str, bs.Schedule]]:
    """Luo et al. 2025's loss curves of one model size (``"25M"``, ``"100M"``, ``"400M"``) under 9
    schedules, with the schedule columns; run = schedule name, step, loss, ``split`` (the authors'
    train/test split) kept. Returns the table and the schedules by run.

    Checks that each built schedule gives the logged ``lr`` at every logged step (raises if not).
    """
    df = _read("mpl_luo2025_curves.csv")
    df = df[df["model"] == model].sort_values(["schedule", "step"], kind="stable").reset_index(drop=True)
    if df.empty:
        raise ValueError(f"no model {model!r} in mpl_luo2025_curves.csv")
    schedules = {name: mpl_schedule(name) for name in df["schedule"].unique()}
    for name, g in df.groupby("schedule"):
        built = schedules[name].lr[g["step"].to_numpy() - 1]
        worst = float(np.max(np.abs(built / g["lr"].to_numpy() - 1)))
        if worst > 1e-9:
            raise ValueError(f"{model} {name}: the built schedule differs from the logged lr by {worst:.3g}")
    _note(notes, f"MPL {model}: {len(df)} checkpoints of {len(schedules)} schedules; every built schedule "
                 "matches the logged lr at every logged step")
    runs = bs.RunTable.from_dataframe(df, step="step", loss="loss", run="schedule", N=None,
                                      source=f"mpl_luo2025_curves.csv ({model})")
    return runs.with_schedules(schedules), schedules

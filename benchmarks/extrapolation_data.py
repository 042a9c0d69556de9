"""Final-loss ladders for the extrapolation benchmark (``extrapolation.py``), read from ``../shared/data``.

A *ladder* is one family of runs trained the same way at many sizes: one loss per finished run, with
N (parameters), D (tokens) and C (FLOPs; ``6 N D`` unless the file gives it). Every loader returns
:class:`Ladder` objects holding a validated :class:`bayescale.RunTable` and appends to ``notes`` (when
given) every row it drops and why; no loss, size or token value is changed. Loaders that
``final_data.py`` already has are reused.

===============  =======  ======  ============================================================
dataset          ladders  runs    what
===============  =======  ======  ============================================================
``epoch``        1        240     Hoffmann et al. 2022 Fig. 4 as digitised by Epoch (5 highest
                                  losses dropped), C continuous
``porian``       15       1,745   Porian et al. 2024 isoFLOP points, one ladder per training
                                  configuration (88-132 points, 11-13 budgets each)
``datablations`` 1        41      Muennighoff et al. 2023, single-epoch C4 runs
``misfitting``   1        224     Li et al. 2025 (Mis)Fitting, final C4 eval loss of every run
                                  that has its final checkpoint (3 learning rates per cell)
``steplaw``      1        17      Step Law (Li et al. 2025) dense grid: the best run of each
                                  (N, D) cell by smoothed loss over its lr x batch-size grid
===============  =======  ======  ============================================================

Two variants are available by name but not run by default: ``steplaw_raw`` (the best run of each
cell by the raw, one-step ``loss`` column, as the brief literally said; see :func:`steplaw`) and
``misfitting_best_lr`` (the best of the learning rates of each (N, steps) cell).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402
import final_data as fd  # noqa: E402
from curve_data import _note, _read  # noqa: E402

__all__ = [
    "Ladder",
    "epoch",
    "porian",
    "datablations",
    "misfitting",
    "misfitting_best_lr",
    "steplaw",
    "steplaw_raw",
    "DATASETS",
    "DEFAULT_DATASETS",
    "load",
]


@dataclass(frozen=True)
class Ladder:
    """One ladder of final losses: ``dataset`` (the pooled name), ``ladder`` (its own name, the
    dataset's name when the dataset has one ladder) and the runs."""

    dataset: str
    ladder: str
    runs: bs.RunTable

    def __len__(self) -> int:
        return len(self.runs.loss)


def epoch(*, notes: list[str] | None = None) -> list[Ladder]:
    """Hoffmann et al. 2022's Fig. 4 points as digitised by Besiroglu et al. 2024: 240 runs.

    ``bs.datasets.load("chinchilla_epoch2024", path).drop_highest_loss(5)`` through
    :func:`final_data.epoch_chinchilla` (245 digitised points, the 5 highest losses dropped as the
    replication did). N = ``Model Size``, C = ``Training FLOP`` (continuous: no two runs share a
    budget), D = C / (6 N). One ladder; C spans 1.4e18 - 1.3e22.
    """
    return [Ladder("epoch", "epoch", fd.epoch_chinchilla(notes=notes))]


def porian(*, notes: list[str] | None = None) -> list[Ladder]:
    """Porian et al. 2024's isoFLOP points, each of the 15 training configurations its own ladder.

    1,745 points in all, 88-132 per configuration on 11-13 budgets (C = ``C_flop``, equal to
    6 N D in the file), through :func:`final_data.porian`. A configuration is named by
    dataset/hparams/warmup/decay/param_count/loss_split (for example
    ``rw/tuned/short/const/standard/val``, their corrected setting). Configurations differ in how N
    is counted (``kaplan``, ``standard``, ``attention``) and in which loss is reported (``train``
    or ``val``), so they are separate ladders, pooled as one dataset ``porian`` only in scores.
    """
    out = []
    for cfg in fd.porian_configs().to_dict("records"):
        cfg.pop("n_points")
        label = "/".join(cfg[k] for k in fd.PORIAN_KEYS)
        out.append(Ladder("porian", label, fd.porian(cfg, notes=notes)))
    return out


def datablations(*, notes: list[str] | None = None) -> list[Ladder]:
    """Muennighoff et al. 2023's single-epoch C4 runs: 41 runs (of 308 finished).

    Through :func:`final_data.datablations` with ``single_epoch=True`` (``epochs == 1``; in this
    file exactly the finished runs with unique tokens U >= tokens D). C = 6 N D, 4e15 - 9e21.
    Included as they are: repeated seeds (5 at 2.8B/55B, 5 at 4.2B/84B) and four runs of only 1e8
    tokens at 7M-2.8B parameters (losses 6.6-8.1, far above the rest), which sit at small C and are
    always in the training set.
    """
    return [Ladder("datablations", "datablations", fd.datablations(single_epoch=True, notes=notes))]


def _misfitting_final(notes: list[str] | None) -> pd.DataFrame:
    """One row per (Mis)Fitting run: its final checkpoint (step == total_steps)."""
    df = cd.misfitting_curves(notes=notes).to_dataframe()
    last = df.sort_values(["run", "step"], kind="stable").groupby("run", sort=False).tail(1)
    final = last[last["step"] == last["total_steps"]]
    _note(notes, f"(Mis)Fitting final losses: {len(last)} runs, of which {len(last) - len(final)} lost their "
                 "final checkpoint to the dup_step_in_run filter (their last remaining checkpoint is mid-run, "
                 f"not a final loss) and are dropped -> {len(final)} runs")
    return final


def misfitting(*, notes: list[str] | None = None) -> list[Ladder]:
    """Li, Kudugunta & Zettlemoyer 2025 ((Mis)Fitting): the final C4 eval loss of 224 runs.

    From :func:`curve_data.misfitting_curves` (its drops: duplicated-step rows, two checkpoints
    past the end), the last checkpoint of each run, kept only when it is the run's final step
    (``step == total_steps``): 224 of 237 runs. N = ``N_params_nonembed`` (12M-1.0B, as the curve
    benchmarks use), D = tokens seen (2**20 per step), C = 6 N D (non-embedding), 7.6e15 - 1.3e20.
    Each (N, steps) cell holds (usually) 3 runs at different peak learning rates, all kept, so the
    spread between them (up to 0.3 nats: a few runs are far from their cell's best) is part of
    the run-to-run noise the methods must predict; ``misfitting_best_lr`` keeps the best only.
    """
    final = _misfitting_final(notes)
    return [Ladder("misfitting", "misfitting", bs.RunTable.from_dataframe(
        final, N="N", D="D", loss="loss", run="run", source="misfitting_li2025_curves.csv (final checkpoints)"))]


def misfitting_best_lr(*, notes: list[str] | None = None) -> list[Ladder]:
    """(Mis)Fitting as :func:`misfitting`, but only the lowest final loss of each (N, total_steps)
    cell over its learning rates: 78 runs (one cell, 199M at 9000 steps, has a single run)."""
    final = _misfitting_final(notes)
    best = final.loc[final.groupby(["N", "total_steps"])["loss"].idxmin()]
    _note(notes, f"(Mis)Fitting best learning rate per (N, steps) cell: {len(best)} of {len(final)} runs")
    return [Ladder("misfitting_best_lr", "misfitting_best_lr", bs.RunTable.from_dataframe(
        best, N="N", D="D", loss="loss", run="run", source="misfitting_li2025_curves.csv (best lr per cell)"))]


def _steplaw(column: str, name: str, notes: list[str] | None) -> list[Ladder]:
    df = _read("steplaw_dense_lr_bs_loss.csv")
    df = df.assign(N=df["N"].astype(float), D=df["D"].astype(float))  # int64 N * D overflows
    idx = df.groupby(["N", "D"])[column].idxmin()
    best = df.loc[idx].rename(columns={"loss": "raw_loss"}).assign(loss=df.loc[idx, column].to_numpy())
    sizes = df.groupby(["N", "D"]).size()
    _note(notes, f"Step Law ({name}): {len(df)} runs in {len(sizes)} (N, D) cells ({sizes.min()}-{sizes.max()} "
                 f"runs per cell); kept the run with the lowest `{column}` of each cell -> {len(best)} runs")
    return [Ladder(name, name, bs.RunTable.from_dataframe(
        best, N="N", D="D", loss="loss", run="exp_name", lr="lr",
        source=f"steplaw_dense_lr_bs_loss.csv (min {column} per cell)"))]


def steplaw(*, notes: list[str] | None = None) -> list[Ladder]:
    """Step Law's dense runs (``steplaw_dense_lr_bs_loss.csv``): the best run of each of 17 (N, D) cells.

    1,911 runs on 17 cells (5 sizes, 215M-1.07B; 4e9-1e11 tokens), each a grid of learning rates x
    batch sizes (47-120 runs per cell). Per cell the run with the lowest ``smooth loss`` is kept,
    with that smoothed loss. C = 6 N D, 5e18 - 3.7e20 (five cells share C ~ 1.29e20).

    Why ``smooth loss`` and not the raw ``loss`` column: the raw value is a one-step training loss,
    noisy at small batch sizes (up to 0.12 nats below the smoothed value of the same run), so its
    minimum over about 120 runs picks mostly small-batch runs with a lucky last batch and is biased
    low by a varying amount (raw minima are not even monotone in D at fixed N: 537M reaches 2.162
    at 28.4B tokens and 2.219 at 50B). The raw-minimum variant is ``steplaw_raw``.
    """
    return _steplaw("smooth loss", "steplaw", notes)


def steplaw_raw(*, notes: list[str] | None = None) -> list[Ladder]:
    """Step Law as :func:`steplaw`, but the best run of each cell by the raw ``loss`` column (17 runs)."""
    return _steplaw("loss", "steplaw_raw", notes)


#: Loaders by dataset name.
DATASETS: dict[str, Callable[..., list[Ladder]]] = {
    "epoch": epoch,
    "porian": porian,
    "datablations": datablations,
    "misfitting": misfitting,
    "steplaw": steplaw,
    "steplaw_raw": steplaw_raw,
    "misfitting_best_lr": misfitting_best_lr,
}
#: What the benchmark runs unless told otherwise.
DEFAULT_DATASETS = ("epoch", "porian", "datablations", "misfitting", "steplaw")


def load(names: Sequence[str] = DEFAULT_DATASETS, *, notes: list[str] | None = None) -> list[Ladder]:
    """All ladders of the named datasets, in order."""
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    out: list[Ladder] = []
    for name in names:
        out += DATASETS[name](notes=notes)
    for lad in out:
        c = lad.runs.column("C")
        if not np.all(np.isfinite(c)) or np.any(c <= 0):
            raise ValueError(f"{lad.dataset}/{lad.ladder}: C must be finite and positive")
    return out

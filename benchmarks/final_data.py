"""Final-loss tables (one loss per finished run) for the backtest benchmarks, read from ``../shared/data``.

Each loader returns a validated :class:`bayescale.RunTable` and appends to ``notes`` (when given)
every row it drops and why. No value is changed. The data folder is ``<repo>/../shared/data``, or
``$BAYESCALE_SHARED_DATA`` (see ``curve_data.data_dir``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curve_data import _note, _read, data_dir  # noqa: E402

__all__ = [
    "epoch_chinchilla",
    "datablations",
    "porian",
    "porian_configs",
    "PORIAN_KEYS",
    "PORIAN_CORRECTED",
]

#: The columns that name one of Porian et al.'s 15 training configurations.
PORIAN_KEYS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_split")
#: Their corrected setting (tuned hyper-parameters, short warmup, constant learning rate,
#: standard parameter count, validation loss) on RefinedWeb.
PORIAN_CORRECTED = {"dataset": "rw", "hparams": "tuned", "warmup": "short", "decay": "const",
                    "param_count": "standard", "loss_split": "val"}


def epoch_chinchilla(*, drop_highest: int = 5, notes: list[str] | None = None) -> bs.RunTable:
    """Hoffmann et al. 2022's Fig. 4 points as digitised by Besiroglu et al. 2024 (245 runs).

    Loaded with ``bs.datasets.load("chinchilla_epoch2024", path=raw/epoch_chinchilla_svg_extracted_data.csv)``
    (checksum verified): N = ``Model Size``, C = ``Training FLOP``, D = C / (6 N), loss in
    nats/token. The ``drop_highest`` highest-loss points are dropped, as Besiroglu et al. did
    (5 -> 240 runs).
    """
    path = data_dir() / "raw" / "epoch_chinchilla_svg_extracted_data.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set BAYESCALE_SHARED_DATA to the shared data folder")
    runs = bs.datasets.load("chinchilla_epoch2024", path=path)
    out = runs.drop_highest_loss(drop_highest) if drop_highest else runs
    _note(notes, f"Epoch Chinchilla: {len(runs)} digitised points, the {drop_highest} highest-loss dropped "
                 f"(as Besiroglu et al.) -> {len(out)} runs")
    return out


def datablations(*, single_epoch: bool = True, notes: list[str] | None = None) -> bs.RunTable:
    """Muennighoff et al. 2023's C4 runs (``datablations_c4_final_losses.csv``, 317 rows).

    N = ``N_params``, D = ``D_tokens`` (tokens trained on, repeats included), C = 6 N D,
    loss = ``val_loss_c4``, run = ``run_name``. Rows with ``finished == False`` are dropped (9,
    all without a loss). With ``single_epoch`` (default) only runs that saw each token once are
    kept (``epochs == 1``, equivalently ``D_tokens <= U_unique_tokens``): the laws fitted here
    have no term for repeated data, so multi-epoch runs would be misspecified by construction.
    Repeated seeds of one configuration are kept as separate runs.
    """
    df = _read("datablations_c4_final_losses.csv")
    n_raw = len(df)
    fin = df[df["finished"].astype(bool)]
    _note(notes, f"datablations: {n_raw} rows, {n_raw - len(fin)} not finished (no loss) dropped -> {len(fin)}")
    if fin["val_loss_c4"].isna().any():
        raise ValueError("a finished datablations run has no loss; check the file")
    if single_epoch:
        one = fin[fin["epochs"] == 1]
        if not (one["D_tokens"] <= one["U_unique_tokens"]).all():
            raise ValueError("a one-epoch datablations run has more tokens than unique tokens; check the file")
        _note(notes, f"datablations: single-epoch runs (epochs == 1, D <= U) only: {len(one)} of {len(fin)}")
        fin = one
    return bs.RunTable.from_dataframe(fin, N="N_params", D="D_tokens", loss="val_loss_c4", run="run_name",
                                      source="datablations_c4_final_losses.csv")


def porian_configs() -> pd.DataFrame:
    """Porian et al. 2024's 15 configurations with their number of isoFLOP points."""
    df = _read("porian2024_isoflop_points.csv")
    return df.groupby(list(PORIAN_KEYS)).size().rename("n_points").reset_index()


def porian(config: dict[str, str] | None = None, *, notes: list[str] | None = None) -> bs.RunTable:
    """Porian et al. 2024's isoFLOP points of one configuration (default :data:`PORIAN_CORRECTED`).

    N = ``N_params`` (counted as the configuration's ``param_count`` says), D = ``D_tokens``,
    C = ``C_flop`` (equal to 6 N D in the file), loss = ``loss`` (the configuration's
    ``loss_split``). The run id is ``C_flop|N_params``.
    """
    config = dict(PORIAN_CORRECTED if config is None else config)
    unknown = sorted(set(config) - set(PORIAN_KEYS))
    if unknown:
        raise ValueError(f"unknown configuration keys {unknown}; use {list(PORIAN_KEYS)}")
    df = _read("porian2024_isoflop_points.csv")
    sel = df
    for k, v in config.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        raise ValueError(f"no Porian configuration {config}; see porian_configs()")
    sel = sel.assign(run=[f"{c:.3g}|{n:.4g}" for c, n in zip(sel["C_flop"], sel["N_params"], strict=True)])
    _note(notes, f"Porian {'/'.join(config[k] for k in PORIAN_KEYS if k in config)}: {len(sel)} isoFLOP points, "
                 f"{sel['C_flop'].nunique()} budgets")
    return bs.RunTable.from_dataframe(sel, N="N_params", D="D_tokens", C="C_flop", loss="loss", run="run",
                                      source="porian2024_isoflop_points.csv")

"""The run table: one row per finished run, canonical columns N, D, C, loss, validated on the way in."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..laws.schedule import NONNEGATIVE_COLUMNS
from .schedule import Schedule, schedule_features

if TYPE_CHECKING:
    from ..laws import Law

__all__ = [
    "RunTable",
    "RunTableError",
    "MissingColumnError",
    "NonNumericError",
    "NonFiniteError",
    "NonPositiveError",
    "TooFewSizesError",
    "DataWarning",
    "data_problems",
]

CANONICAL = ("N", "D", "C", "loss")
#: Columns every table has. With N, D and C come together and only a step-indexed curve table may
#: lack them; without N (one-input learning curves, ``N=None``) the table holds D or C as given.
REQUIRED = ("loss",)
#: Curve tables (one row per checkpoint): the run id, the step, the learning rate.
CURVE_COLUMNS = ("run", "step", "lr")
_MAX_LISTED = 8


class RunTableError(ValueError):
    """A run table that cannot be used as given; the message names the column and rows."""


class MissingColumnError(RunTableError, KeyError):
    """A required column is absent."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class NonNumericError(RunTableError):
    """A column holds values that are not numbers."""


class NonFiniteError(RunTableError):
    """A column holds NaN or infinite values."""


class NonPositiveError(RunTableError):
    """N, D, C or loss is zero or negative."""


class TooFewSizesError(RunTableError):
    """Fewer distinct values of an input than the law needs to be identified."""


class DataWarning(UserWarning):
    """Numbers a table of language-model runs rarely holds: other units, or mistakes. They are fitted
    as given (bayescale never alters data); the warning names the rows and what to check."""


#: The plausibility checks of :func:`data_problems`, for tables with a model size N. A cross-entropy in
#: nats per token above MAX_NATS is not one (ln of a 3-million-token vocabulary is 15).
MAX_NATS = 15.0
#: A loss this many times above or below the table's median stands out from the ladder.
LOSS_FACTOR = 20.0
#: Parameter counts outside this range look like other units (7e10 is 70B; 70 is N in billions).
N_RANGE = (1e4, 1e14)
#: Token counts of finished runs outside this range look like other units.
D_RANGE = (1e6, 1e16)
#: Rank correlation of the loss with compute above this, over at least RISING_MIN_RUNS runs: losses
#: that rise with scale (an accuracy or a score, not a loss?).
RISING_R = 0.5
RISING_MIN_RUNS = 5


class CurveOrderError(RunTableError):
    """Checkpoints of a run that go backwards, repeat a step, or change model size."""


#: The index name :meth:`RunTable.from_csv` gives a CSV's rows: their line in the file.
_FILE_LINE = "line in file"


def _rows(labels: Sequence[object], values: Sequence[object] | None = None) -> str:
    """``rows 3 (nan), 7 (-1.0)``: the frame's index labels; ``lines ...`` for a table read by
    :meth:`RunTable.from_csv`, whose rows are labelled by their line in the file."""
    word = "line" if getattr(labels, "name", None) == _FILE_LINE else "row"
    labels = list(labels)
    shown = labels[:_MAX_LISTED]
    if values is not None:
        values = [v.item() if hasattr(v, "item") else v for v in list(values)[:_MAX_LISTED]]
        text = ", ".join(f"{r} ({v!r})" for r, v in zip(shown, values, strict=True))
    else:
        text = ", ".join(str(r) for r in shown)
    more = f" and {len(labels) - _MAX_LISTED} more" if len(labels) > _MAX_LISTED else ""
    return f"{word}{'s' if len(labels) > 1 else ''} {text}{more}"


class RunTable:
    """A validated table of training runs.

    Canonical columns: ``N`` (parameters), ``D`` (training tokens), ``C`` (training FLOPs) and
    ``loss`` (final loss, nats/token), all finite and positive; an optional ``run`` id; any other
    columns of the source are kept unchanged. A table of one-input learning curves may lack ``N``
    (``from_dataframe(df, N=None, D=...)``) and then holds D or C only as given. Build it with
    :meth:`from_dataframe` or :meth:`from_csv`; the object is immutable and never holds a
    reference to the caller's frame.

    Examples
    --------
    >>> import pandas as pd, bayescale as bs
    >>> df = pd.DataFrame({"params": [1e8, 4e8, 1.6e9], "tokens": [2e9, 8e9, 3.2e10],
    ...                    "loss": [3.3, 2.9, 2.6]})
    >>> runs = bs.RunTable.from_dataframe(df, N="params", D="tokens")
    >>> runs.C.tolist()  # C = 6 N D when only D is given
    [1.2e+18, 1.92e+19, 3.072e+20]
    """

    __slots__ = ("_df", "_derived", "_source", "_curve_axis")

    def __init__(self, df: pd.DataFrame, *, derived: Mapping[str, str] | None = None,
                 source: str | None = None, curve_axis: str | None = None) -> None:
        has_n = "N" in df.columns
        inputs = [c for c in ("D", "C") if c in df.columns]
        missing = [c for c in REQUIRED if c not in df.columns]
        if curve_axis != "step":
            if has_n and len(inputs) < 2:  # with N, D and C come together
                missing += [c for c in ("D", "C") if c not in inputs]
            elif not has_n and not inputs:
                missing.append("D or C")
        if missing:
            raise MissingColumnError(
                f"RunTable needs the columns {list(CANONICAL)} (or, for one-input learning curves, "
                f"loss with D or C); missing {missing}. Build it with RunTable.from_dataframe(df, "
                "N=..., D=..., loss=...) to map and validate."
            )
        if curve_axis not in (None, "step", "D"):
            raise ValueError(f"curve_axis must be None, 'step' or 'D', got {curve_axis!r}")
        if curve_axis is not None and "run" not in df.columns:
            raise MissingColumnError("a curve table needs a 'run' column naming each checkpoint's run")
        if len(df) == 0:
            raise RunTableError("the run table has no rows; a fit needs runs")
        for c in (*REQUIRED, *(("N",) if has_n else ()), *inputs):  # cheap re-check: the constructor is public
            _check_positive(_numeric_column(df[c], c, ""), c, "")
        _check_mixed_columns(df, f" in {source}" if source else "")
        object.__setattr__(self, "_df", df.copy())
        object.__setattr__(self, "_derived", dict(derived or {}))
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_curve_axis", curve_axis)
        if curve_axis is not None:
            _check_curves(self._df, curve_axis, f" in {source}" if source else "")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RunTable is immutable; its methods return new tables")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as the DataFrame, ``derived``, ``source`` and ``curve_axis``; unpickling validates
        the table again, as the constructor does."""
        return _unpickle_run_table, (self._df, dict(self._derived), self._source, self._curve_axis)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        N: str | None = "N",
        D: str | None = None,
        C: str | None = None,
        loss: str = "loss",
        run: str | None = None,
        step: str | None = None,
        tokens: str | None = None,
        lr: str | None = None,
        source: str | None = None,
    ) -> RunTable:
        """Map, validate and copy a DataFrame of runs, or of checkpoints (training curves).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per run; it is copied, never modified.
        N : str or None
            Column holding parameters. ``None`` for one-input learning curves without a model
            size (loss against examples or tokens seen, as in the Revisiting benchmark): the table
            then has no N and derives nothing, so it holds D or C only as given (``C = 6 N D``
            cannot be computed), and it can be fitted with laws that read only D or C (``m2``,
            ``m4``, ``broken_power_law``, ``power_law``).
        loss : str
            Column holding the final loss.
        D, C : str, optional
            Columns holding training tokens and FLOPs. By default the columns ``D`` and ``C``
            are used when present. Give at least one: ``D = C / (6 N)`` when only C is known,
            ``C = 6 N D`` when only D is.
        run : str, optional
            Column holding a run id (kept as ``run``; a column named ``run`` is used by default).
        step, tokens : str, optional
            Training curves in long format, one row per checkpoint: the column of the optimiser
            step and/or of the tokens seen so far (which becomes D, so C = 6 N D is the compute
            spent so far). Either one makes this a curve table: ``run`` is then required, a run
            must keep one N, and within a run the step (or tokens) must increase row by row.
            Without tokens, D and C, a curve table is indexed by step alone.
        lr : str, optional
            Column holding the learning rate of each checkpoint (kept as ``lr``).
        source : str, optional
            Where the table came from, shown in error messages and provenance.

        Raises
        ------
        MissingColumnError, NonNumericError, NonFiniteError, NonPositiveError
            Each names the column and the offending rows (by the frame's index) and says how to
            fix it.

        Examples
        --------
        >>> import pandas as pd, bayescale as bs
        >>> curve = pd.DataFrame({"Seen Examples": [1e6, 1e7, 1e8, 1e9, 1e10],
        ...                       "Loss": [0.93, 0.81, 0.55, 0.33, 0.24]})
        >>> runs = bs.RunTable.from_dataframe(curve, N=None, D="Seen Examples", loss="Loss")
        >>> runs.to_dataframe().columns.tolist()  # no N, and no C = 6 N D
        ['D', 'loss']
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
        where = f" in {source}" if source else ""
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        if dup:
            raise RunTableError(f"duplicate column names{where}: {dup}; rename them so each is unique")
        bad_names = [c for c in df.columns if not isinstance(c, str)]
        if bad_names:
            raise RunTableError(
                f"column names must be strings{where}; got {bad_names[:5]} (a CSV without a header "
                "row?). Rename them, e.g. df.columns = df.columns.astype(str)"
            )
        if len(df) == 0:
            raise RunTableError(f"the table{where} has no rows")
        if run is None and "run" in df.columns:
            run = "run"
        curve_axis = "step" if step is not None else "D" if tokens is not None else None
        if curve_axis is not None and run is None:
            raise MissingColumnError(
                f"training curves{where} need a run id: pass run='<column naming each checkpoint's run>'"
            )
        if tokens is not None:
            if D is not None:
                raise RunTableError(f"give tokens= or D=, not both{where}: for curves D is the tokens seen so far")
            D = tokens
        explicit = {"N": N, "loss": loss} if N is not None else {"loss": loss}
        for key, col in (("D", D), ("C", C)):
            if col is not None:
                explicit[key] = col
            elif key in df.columns:
                explicit[key] = key
        for key, col in explicit.items():
            if col not in df.columns:
                raise MissingColumnError(
                    f"column {col!r} (for {key}) not found{where}; the table has columns "
                    f"{list(df.columns)}. Map it: {key}='<your column>' (command line: --map {key}=<your column>)"
                )
        extra_cols = {k: v for k, v in (("step", step), ("lr", lr)) if v is not None}
        for key, col in extra_cols.items():
            if col not in df.columns:
                raise MissingColumnError(
                    f"column {col!r} (for {key}) not found{where}; the table has columns {list(df.columns)}"
                )
        if "D" not in explicit and "C" not in explicit and curve_axis != "step":
            raise MissingColumnError(
                f"neither tokens D nor compute C found{where}: the table has columns "
                f"{list(df.columns)}. Map one: D='<tokens column>' or C='<FLOPs column>' (command line: "
                "--map D=<column> or --map C=<column>)"
            )
        if run is not None and run not in df.columns:
            raise MissingColumnError(
                f"run id column {run!r} not found{where}; the table has columns {list(df.columns)}"
            )
        if N is None and "N" in df.columns:
            raise RunTableError(
                f"N=None, but the table{where} has a column 'N'; pass N='N' to use it as the model "
                "size, or drop or rename it for one-input learning curves"
            )
        used = set(explicit.values()) | ({run} if run else set()) | set(extra_cols.values())
        mapped = {**explicit, **extra_cols, **({"run": run} if run else {})}
        for canon in mapped:
            if canon in df.columns and canon not in used:
                raise RunTableError(
                    f"column {canon!r}{where} would be overwritten by the mapped column "
                    f"{mapped[canon]!r}; rename or drop {canon!r} first"
                )

        out = pd.DataFrame(index=df.index)
        for key, col in explicit.items():
            out[key] = _numeric_column(df[col], col, where)
        for key, col in explicit.items():
            _check_positive(out[key], col, where)
        derived = {}
        if "N" in out:  # without N (one-input curves) neither D nor C can be derived
            if "D" not in out and "C" in out:
                out["D"] = out["C"] / (6.0 * out["N"])
                derived["D"] = "C / (6 N)"
            if "C" not in out and "D" in out:
                out["C"] = 6.0 * out["N"] * out["D"]
                derived["C"] = "6 N D"
        out = out[[c for c in CANONICAL if c in out]]
        if run is not None:
            out["run"] = df[run].array.copy()
        if step is not None:
            out["step"] = _numeric_column(df[step], step, where)
            _check_nonnegative(out["step"], step, where)
        if lr is not None:
            out["lr"] = _numeric_column(df[lr], lr, where)
            _check_positive(out["lr"], lr, where)
        for col in df.columns:
            if col not in used:
                out[col] = df[col].array.copy()  # dtype kept (category, Int64, datetime...)
        return cls(out, derived=derived, source=source, curve_axis=curve_axis)

    @classmethod
    def from_csv(cls, path: str | PathLike[str], **mapping: str | None) -> RunTable:
        """Read a CSV file of runs; keywords as in :meth:`from_dataframe`.

        Errors name the file's lines (line 1 is the header, line 2 the first run); the table's rows
        are numbered from 0 as in ``pd.read_csv``.
        """
        try:
            header = pd.read_csv(path, header=None, nrows=1).iloc[0].astype(str).tolist()
            df = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise RunTableError(f"{path} is empty: a runs CSV needs a header line and one row per run") from None
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise RunTableError(f"{path}: the header names {twice} more than once; rename or drop the copies "
                                "(which one is the loss, say, would be a guess)")
        source = mapping.pop("source", None) or str(path)
        df.index = pd.RangeIndex(2, len(df) + 2, name=_FILE_LINE)  # errors name the line in the file
        table = cls.from_dataframe(df, source=source, **mapping)
        return cls(table._df.reset_index(drop=True), derived=table._derived, source=table._source,
                   curve_axis=table._curve_axis)

    # -- access -------------------------------------------------------------------------------
    def _col(self, name: str) -> np.ndarray:
        if name not in self._df.columns:
            if "N" not in self._df.columns and name in ("N", "D", "C"):
                why = "a table of one-input learning curves, built with N=None"
            elif name in ("D", "C"):
                why = "a step-indexed curve table without tokens"
            else:
                why = "not mapped when the table was built"
            raise MissingColumnError(
                f"this run table has no column {name!r} ({why}); it has {list(self._df.columns)}"
            )
        a = self._df[name].to_numpy(dtype=float, copy=True)
        a.flags.writeable = False
        return a

    @property
    def N(self) -> np.ndarray:  # noqa: N802 - literature symbol
        """Parameters per run (read-only array); :class:`MissingColumnError` for a table built with
        ``N=None``."""
        return self._col("N")

    @property
    def D(self) -> np.ndarray:  # noqa: N802
        """Training tokens per run (read-only array)."""
        return self._col("D")

    @property
    def C(self) -> np.ndarray:  # noqa: N802
        """Training FLOPs per run (read-only array)."""
        return self._col("C")

    @property
    def loss(self) -> np.ndarray:
        """Final loss per run (read-only array)."""
        return self._col("loss")

    def column(self, name: str) -> np.ndarray:
        """A numeric column by name, as a read-only float array."""
        return self._col(name)

    @property
    def run_ids(self) -> np.ndarray:
        """Run ids: the ``run`` column when given, else the row labels."""
        if "run" in self._df.columns:
            return self._df["run"].to_numpy(copy=True)
        return self._df.index.to_numpy(copy=True)

    @property
    def derived(self) -> dict[str, str]:
        """Columns computed from others, e.g. ``{"D": "C / (6 N)"}``."""
        return dict(self._derived)

    @property
    def source(self) -> str | None:
        return self._source

    def check_plausible(self) -> list[str]:
        """Warn (:class:`DataWarning`) once for each of :func:`data_problems`, and return them."""
        problems = data_problems(self)
        for problem in problems:
            warnings.warn(problem, DataWarning, stacklevel=2)
        return problems

    def to_dataframe(self) -> pd.DataFrame:
        """A copy of the table as a DataFrame."""
        return self._df.copy()

    def __len__(self) -> int:
        return len(self._df)

    def __repr__(self) -> str:
        extra = [c for c in self._df.columns if c not in (*CANONICAL, *CURVE_COLUMNS) and not c.startswith("lr_")]
        if "lr_area" in self._df.columns:
            extra.append(f"{sum(c.startswith('lr_') for c in self._df.columns)} schedule columns (lr_*)")
        der = f", derived {self._derived}" if self._derived else ""
        kind = "runs" if self._curve_axis is None else (
            f"checkpoints of {self._df['run'].nunique()} runs (by {self._curve_axis})")
        cols = self._df.columns
        n = f", {self.n_distinct('N')} sizes N {self.N.min():.3g}-{self.N.max():.3g}" if "N" in cols else ", no N"
        x = "D" if "D" in cols else "C" if "C" in cols and "N" not in cols else None
        d = f", {x} {self._col(x).min():.3g}-{self._col(x).max():.3g}" if x else ""
        return (
            f"<RunTable: {len(self)} {kind}{n}{d}"
            f"{der}{', extra columns ' + str(extra) if extra else ''}>"
        )

    # -- derived tables -----------------------------------------------------------------------
    def filter(self, mask: np.ndarray | Sequence[bool] | pd.Series) -> RunTable:
        """A new table with the rows where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"mask has shape {mask.shape}, expected ({len(self)},)")
        return RunTable(self._df[mask], derived=self._derived, source=self._source,
                        curve_axis=self._curve_axis)

    def drop_highest_loss(self, k: int) -> RunTable:
        """A new table without the ``k`` runs of highest loss (as in Besiroglu et al. 2024)."""
        if not 0 <= k < len(self):
            raise ValueError(f"k must be in [0, {len(self)}) for a table of {len(self)} runs; got {k}")
        order = np.argsort(self.loss, kind="stable")
        keep = np.zeros(len(self), dtype=bool)
        keep[order[: len(self) - k]] = True
        return self.filter(keep)

    # -- training curves ----------------------------------------------------------------------
    @property
    def curve_axis(self) -> str | None:
        """``"step"`` or ``"D"`` (tokens seen) for a table of checkpoints; None for final losses."""
        return self._curve_axis

    @property
    def is_curves(self) -> bool:
        """True for a table of training curves (some run has several checkpoints); False for final
        losses, one row per run, whatever the axis: the one answer to "curves or final losses?"."""
        return self._curve_axis is not None and bool(self._df["run"].nunique() < len(self._df))

    def _require_curves(self, what: str) -> str:
        if self._curve_axis is None:
            raise RunTableError(
                f"{what} needs a table of checkpoints; build it with step= or tokens= "
                "(RunTable.from_csv(path, run=..., step=..., tokens=...))"
            )
        return self._curve_axis

    def _axis(self) -> np.ndarray:
        return self._col(self._require_curves("this"))

    def drop_warmup(self, *, tokens: float | None = None, steps: float | None = None,
                    fraction: float | None = None, schedule: bool = False) -> RunTable:
        """A new table without each run's early checkpoints.

        Give one of: ``tokens`` (drop checkpoints with fewer tokens seen), ``steps`` (fewer
        steps), ``fraction`` (drop the first part of each run, as a fraction of that run's last
        step or tokens), or ``schedule=True`` (drop the checkpoints inside each run's learning-rate
        warm-up, from :meth:`with_schedules`). Runs left with no checkpoint are dropped, with a
        warning naming them.
        """
        self._require_curves("drop_warmup")
        given = {k: v for k, v in (("tokens", tokens), ("steps", steps), ("fraction", fraction),
                                   ("schedule", schedule or None)) if v is not None}
        if len(given) != 1:
            raise ValueError("give exactly one of tokens=, steps=, fraction=, schedule=True; got "
                             f"{sorted(given) or 'none'}")
        if schedule:
            if "lr_warmup" not in self._df.columns:
                raise MissingColumnError("drop_warmup(schedule=True) needs the schedules: call "
                                         "table.with_schedules(...) first")
            keep = self._col("step") >= self._col("lr_warmup")
        elif tokens is not None:
            keep = self._col("D") >= tokens
        elif steps is not None:
            keep = self._col("step") >= steps
        else:
            if not 0 <= fraction < 1:
                raise ValueError(f"fraction must be in [0, 1), got {fraction}")
            axis = pd.Series(self._axis(), index=self._df.index)
            last = axis.groupby(self._df["run"].to_numpy(), sort=False).transform("max")
            keep = (axis >= fraction * last).to_numpy()
        return self._keep_checkpoints(keep, f"drop_warmup({next(iter(given))}={next(iter(given.values()))})")

    def with_schedules(self, schedules: Schedule | Mapping[object, Schedule]) -> RunTable:
        """A new table with the columns that schedule-aware laws (``multi_power``, ``annealing``) read.

        ``schedules`` maps each run id to its :class:`~bayescale.Schedule` (or is one schedule for
        every run); the table needs a ``step`` column. Adds ``lr_area``, ``lr_anneal``, the drop-bin
        columns (:mod:`bayescale.runs.schedule`) and ``lr_warmup`` (each run's warm-up length, so a fit
        can warn about checkpoints in the warm-up, which these laws do not represent).
        """
        self._require_curves("with_schedules")
        if "step" not in self._df.columns:
            raise MissingColumnError("with_schedules needs a 'step' column (map it with step=...)")
        feats = schedule_features(self._col("step"), self.run_ids, schedules)  # with lr_warmup
        df = self._df.drop(columns=[c for c in self._df.columns if c in feats])
        new = pd.DataFrame(feats, index=df.index)
        return RunTable(pd.concat([df, new], axis=1), derived=self._derived, source=self._source,
                        curve_axis=self._curve_axis)

    def thin(self, every: int) -> RunTable:
        """A new table with every ``every``-th checkpoint of each run, always keeping its last."""
        self._require_curves("thin")
        if int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        groups = self._df.groupby(self._df["run"].to_numpy(), sort=False)
        pos = groups.cumcount().to_numpy()
        size = groups["run"].transform("size").to_numpy()
        keep = (pos % int(every) == 0) | (pos == size - 1)
        return self._keep_checkpoints(keep, f"thin({every})")

    def final(self) -> RunTable:
        """Final-loss view: the last checkpoint of each run, as a table of finished runs.

        A step-indexed table without tokens has no D to describe a finished run by, so its final
        view stays indexed by step (one checkpoint per run).
        """
        self._require_curves("final")
        last = self._df.groupby(self._df["run"].to_numpy(), sort=False).tail(1)
        axis = None if "D" in last.columns else "step"
        return RunTable(last, derived=self._derived, source=self._source, curve_axis=axis)

    def _keep_checkpoints(self, keep: np.ndarray, what: str) -> RunTable:
        before = pd.unique(self._df["run"])
        after = set(self._df["run"][keep])
        gone = [r for r in before if r not in after]
        if gone:
            warnings.warn(f"{what} left no checkpoint in {len(gone)} run(s), dropped: {gone[:_MAX_LISTED]}",
                          UserWarning, stacklevel=3)
        return self.filter(keep)

    # -- checks -------------------------------------------------------------------------------
    def n_distinct(self, column: str) -> int:
        """Number of distinct values in a column."""
        return int(np.unique(self._col(column)).size)

    def check_law(self, law: Law) -> None:
        """Raise :class:`TooFewSizesError` when the table cannot identify ``law``.

        Also raises :class:`MissingColumnError` when the law reads a column the table lacks.
        """
        for inp in law.inputs:
            if inp not in self._df.columns:
                hint = ""
                if inp == "N":
                    hint = (" (the table was built with N=None: fit a law of one input, such as "
                            "'m2', 'm4' or 'power_law:D', or map a model-size column with N=...)")
                raise MissingColumnError(
                    f"law {law.spec!r} reads column {inp!r}, which the run table lacks{hint}; "
                    f"it has {list(self._df.columns)}"
                )
            if inp not in CANONICAL:  # a user law reading an extra column: validate it now
                where = f" in {self._source}" if self._source else ""
                check = _check_nonnegative if inp in NONNEGATIVE_COLUMNS else _check_positive
                check(_numeric_column(self._df[inp], inp, where), inp, where)
        if "lr_area" in law.inputs and "lr_warmup" in self._df.columns:
            early = self._col("step") < self._col("lr_warmup")
            if early.any():
                runs = list(pd.unique(self.run_ids[early]))
                warnings.warn(
                    f"{int(early.sum())} checkpoint(s) of {len(runs)} run(s) ({runs[:_MAX_LISTED]}) are inside "
                    f"the learning-rate warm-up, which law {law.spec!r} does not describe; drop them with "
                    "table.drop_warmup(schedule=True)", DataWarning, stacklevel=3)
        for col, need in law.min_distinct.items():
            have = self.n_distinct(col)
            if have < need:
                raise TooFewSizesError(
                    f"law {law.spec!r} needs at least {need} distinct values of {col} to be "
                    f"identified; the run table has {have} ({np.unique(self._col(col)).tolist()}). "
                    f"Add runs at other {col}, or fit a law with fewer parameters."
                )

    @property
    def data_hash(self) -> str:
        """sha256 of the numeric columns (the canonical ones first, then any other a law may read:
        ``U``, ``B``, another loss, the schedule's ``lr_*`` columns...) and the ``run`` ids when given:
        identifies the data a fit saw. Row labels do not enter, so a saved and reloaded table hashes
        the same."""
        h = hashlib.sha256()
        other = sorted(c for c in self._df.columns if c not in (*CANONICAL, "run")
                       and pd.api.types.is_numeric_dtype(self._df[c]) and not pd.api.types.is_bool_dtype(self._df[c]))
        for c in (*CANONICAL, *other):
            if c in self._df.columns:
                h.update(c.encode() + np.ascontiguousarray(self._df[c].to_numpy(dtype=float)).tobytes())
        if "run" in self._df.columns:
            h.update("\x1f".join(map(str, self._df["run"])).encode())
        return h.hexdigest()


def _unpickle_run_table(df: pd.DataFrame, derived: Mapping[str, str], source: str | None,
                        curve_axis: str | None) -> RunTable:
    return RunTable(df, derived=derived, source=source, curve_axis=curve_axis)


def _check_mixed_columns(df: pd.DataFrame, where: str) -> None:
    """Refuse an object column that mixes text with numbers (it would come back from a saved fit as
    text), naming the column and rows, before anything is fitted."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = df[col].dropna()
        is_text = values.map(lambda v: isinstance(v, (str, bytes)))
        if is_text.any() and not is_text.all():
            odd = values.index[~is_text] if is_text.mean() >= 0.5 else values.index[is_text]
            raise RunTableError(
                f"column {col!r}{where} mixes text and numbers (e.g. {_rows(odd)}); make it one kind, e.g. "
                f"df[{col!r}] = df[{col!r}].astype(str), or drop it"
            )


def _numeric_column(col: pd.Series, name: str, where: str) -> pd.Series:
    dtype = col.dtype
    if (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_complex_dtype(dtype)):
        raise NonNumericError(
            f"column {name!r}{where} holds {dtype} values, not real numbers; convert it explicitly"
        )
    if pd.api.types.is_object_dtype(dtype):
        odd = col.map(lambda v: isinstance(v, (bool, np.bool_, complex)))
        if odd.any():
            raise NonNumericError(
                f"column {name!r}{where} has non-numeric values at {_rows(col.index[odd], col[odd])}; "
                "convert them to numbers or drop those rows"
            )
    if pd.api.types.is_numeric_dtype(dtype):
        values = col.astype(float)
    else:
        values = pd.to_numeric(col, errors="coerce")
        bad = values.isna() & col.notna()
        if bad.any():
            raise NonNumericError(
                f"column {name!r}{where} has non-numeric values at "
                f"{_rows(col.index[bad], col[bad])}; convert them to numbers or drop those rows"
            )
        values = values.astype(float)
    nonfinite = ~np.isfinite(values.to_numpy())
    if nonfinite.any():
        raise NonFiniteError(
            f"column {name!r}{where} has missing (NaN) or infinite values at "
            f"{_rows(col.index[nonfinite], col[nonfinite])}; drop or fill those rows "
            "explicitly (bayescale never fills them for you)"
        )
    return values


def _check_positive(values: pd.Series, name: str, where: str) -> None:
    bad = values.to_numpy() <= 0
    if bad.any():
        raise NonPositiveError(
            f"column {name!r}{where} must be > 0 but has {_rows(values.index[bad], values[bad])}; "
            "scaling laws need positive sizes and losses (check units and sign)"
        )


def _check_nonnegative(values: pd.Series, name: str, where: str) -> None:
    bad = values.to_numpy() < 0
    if bad.any():
        raise NonPositiveError(
            f"column {name!r}{where} must be >= 0 but has {_rows(values.index[bad], values[bad])}"
        )


def _check_curves(df: pd.DataFrame, axis: str, where: str) -> None:
    """Within each run: one model size (when the table has N), and the step (or tokens)
    increasing row by row."""
    run = df["run"]
    unnamed = run.isna().to_numpy()
    if unnamed.any():
        raise RunTableError(
            f"column 'run'{where} has no run id at {_rows(df.index[unnamed], run[unnamed])}: each checkpoint "
            "belongs to a run; fill those ids or drop those rows"
        )
    if "N" in df.columns:
        n_first = df.groupby(run.to_numpy(), sort=False)["N"].transform("first")
        changed = df["N"].to_numpy() != n_first.to_numpy()
        if changed.any():
            first_bad = run[changed].iloc[0]
            pos = np.flatnonzero(changed & (run == first_bad).to_numpy())
            raise CurveOrderError(
                f"run {first_bad!r}{where}: N changes within the run at "
                f"{_rows(df.index[pos], df['N'].iloc[pos])} (first N {n_first.iloc[pos[0]]!r}); a run "
                "has one model size: fix N or give those checkpoints their own run id"
            )
    values = df[axis].to_numpy(dtype=float)
    prev = df.groupby(run.to_numpy(), sort=False)[axis].shift(1).to_numpy(dtype=float)
    name = "step" if axis == "step" else "tokens seen (D)"
    for test, problem, fix in (
        (values == prev, "repeats", "drop the duplicate checkpoints"),
        (values < prev, "goes backwards", "sort each run's checkpoints, or split restarted runs"),
    ):
        if test.any():
            first_bad = run[test].iloc[0]
            pos = np.flatnonzero(test & (run == first_bad).to_numpy())
            pairs = [f"{v:g} after {p:g}" for v, p in zip(values[pos], prev[pos], strict=True)]
            raise CurveOrderError(
                f"run {first_bad!r}{where}: the {name} {problem} at {_rows(df.index[pos], pairs)}; {fix}"
            )


def data_problems(runs: RunTable) -> list[str]:
    """What in a table of language-model runs looks like other units or a mistake, one sentence each,
    naming the rows (empty when nothing does). ``bs.fit`` warns with them (:class:`DataWarning`).

    For tables with a model size N: a loss above ``MAX_NATS`` (not a cross-entropy in nats per token:
    a perplexity, or a sum over a sequence?); a loss more than ``LOSS_FACTOR`` times from the median;
    N or D (finished runs) outside ``N_RANGE`` / ``D_RANGE`` (millions or billions instead of counts?);
    losses that rise with compute (rank correlation above ``RISING_R``; on final checkpoints for curves).
    For every table: rows repeated exactly (one run entered twice counts twice).
    One-input learning curves (no N) hold errors or scores on any scale, so only the last check applies.
    """
    df = runs.to_dataframe()
    out = []
    twice = df.index[df.duplicated(keep=False)]
    if len(twice):
        out.append(f"{_rows(twice)} repeat another row exactly: one run entered twice counts twice in the fit; "
                   "drop the copies (df.drop_duplicates()) unless they are distinct runs")
    if "N" not in df.columns:
        return out
    loss = df["loss"]
    high = loss > MAX_NATS
    if high.any():
        out.append(f"loss above {MAX_NATS:g} at {_rows(df.index[high], loss[high])}: not a cross-entropy in nats "
                   "per token (a perplexity? a loss summed over a sequence?); give log(perplexity), in nats")
    ratio = np.abs(np.log(loss / loss.median()))
    far = (ratio > np.log(LOSS_FACTOR)) & ~high
    if far.any():
        out.append(f"loss more than {LOSS_FACTOR:g} times from the table's median ({loss.median():.4g}) at "
                   f"{_rows(df.index[far], loss[far])}: a typo or another unit? check those rows")
    checks = [("N", N_RANGE, "parameters (7e10 for 70B; is N in millions or billions?)")]
    if not runs.is_curves:
        checks.append(("D", D_RANGE, "tokens (1.4e12 for 1.4T; is D in millions or billions?)"))
    for col, (lo, hi), unit in checks:
        if col in df.columns:
            odd = (df[col] < lo) | (df[col] > hi)
            if odd.any():
                out.append(f"{col} outside {lo:.0e}..{hi:.0e} at {_rows(df.index[odd], df[col][odd])}: {col} counts "
                           f"{unit}; scale the column, e.g. df[{col!r}] * 1e9")
    final = runs.final() if runs.is_curves else runs
    fdf = final.to_dataframe()
    if "C" in fdf.columns and len(fdf) >= RISING_MIN_RUNS and fdf["C"].nunique() > 1:
        r = float(np.corrcoef(fdf["C"].rank(), fdf["loss"].rank())[0, 1])
        if r > RISING_R:
            lo_c, hi_c = fdf["C"].idxmin(), fdf["C"].idxmax()
            out.append(f"losses rise with compute (rank correlation {r:+.2f} over {len(fdf)} runs; row {hi_c} at "
                       f"C={fdf['C'][hi_c]:.3g} has loss {fdf['loss'][hi_c]:.4g}, row {lo_c} at C={fdf['C'][lo_c]:.3g} "
                       f"{fdf['loss'][lo_c]:.4g}): a scaling law's loss falls with scale; is this column an accuracy "
                       "or a score? map the loss column (loss=..., --map loss=...)")
    return out

"""One probe of bad input, case by case: each is refused (or warned about) where it enters, with the
expected exception or warning, a message naming the culprit (column, row, value, argument or file),
and the caller's data left as they were.

No case samples: ``bs.fit`` cases run with the sampler replaced by a tripwire (an error there means
the bad input was not checked at the boundary), CLI cases with ``bs.fit`` itself replaced by one,
and cases that need a fit use posterior draws made by hand (``tests/conftest.py``). Errors must be
raised by bayescale's own code, not from deep inside pandas, numpy, PyMC or h5py.

Each case is a function ``setup(ctx) -> (action, guarded)``: ``action()`` does the bad thing and
``guarded`` lists what the caller handed in (DataFrames, dicts, arrays, file paths), compared with a
deep copy taken before the call.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale as bs
from bayescale.analysis.predict import PredictionInputError
from bayescale.cli import main as cli
from bayescale.laws import LawError, NoiseError, PriorError
from bayescale.results.fit import FitFileError
from bayescale.runs.table import (
    CurveOrderError,
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    NonPositiveError,
    RunTableError,
    TooFewSizesError,
)

from .conftest import isoflop_runs

PACKAGE_DIR = Path(bs.__file__).resolve().parent


class SamplerReached(AssertionError):
    """The tripwire: a bad input got as far as the sampler instead of being refused first."""


class FitCalled(AssertionError):
    """The tripwire of CLI cases: the command started a fit before refusing its arguments."""


# -- the cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Ctx], tuple[Callable[[], Any], list[Any]]]
    raises: type[BaseException] | None = None
    warns: str | None = None  # name of a warning class in bayescale, resolved when the case runs
    match: tuple[str, ...] = ()  # every regex must be found in the message
    own: bool = True  # the exception must be raised by bayescale's code, not from a dependency
    cli: bool = False  # a CLI case: SystemExit, no traceback in the output, bs.fit never called


CASES: list[Case] = []


def case(id: str, *, raises=None, warns=None, match=(), own=True, cli=False):  # noqa: A002
    def register(setup):
        CASES.append(Case(id, setup, raises, warns, (match,) if isinstance(match, str) else tuple(match), own, cli))
        return setup
    return register


class Ctx:
    """What a case may need: a tmp folder, a fit made from hand-drawn posterior draws, a saved fit."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request = request
        self.tmp = tmp_path

    @functools.cached_property
    def fit(self):
        return self.request.getfixturevalue("chinchilla_fake_fit")

    @functools.cached_property
    def saved_fit(self) -> Path:
        path = self.tmp / "fit.nc"
        self.fit.save(path)
        return path

    def csv(self, text: str, name: str = "runs.csv") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


@functools.lru_cache(maxsize=1)
def _base_runs() -> pd.DataFrame:
    df = isoflop_runs(noise_sd=0.01, seed=1).to_dataframe()[["N", "D", "loss"]].reset_index(drop=True)
    df.index = [f"r{i}" for i in range(len(df))]  # labels the messages must quote
    return df


def runs_df() -> pd.DataFrame:
    """A valid, plausible table of 42 final losses on an isoFLOP design, rows labelled r0, r1..."""
    return _base_runs().copy(deep=True)


def curves_df() -> pd.DataFrame:
    """Three runs x five checkpoints, valid; rows labelled c0..c14 (run a: c0-c4, b: c5-c9, c: c10-c14)."""
    rows = []
    for run, n in (("a", 1e8), ("b", 4e8), ("c", 1.6e9)):
        for step in (1000, 2000, 3000, 4000, 5000):
            tokens = step * 5e5
            rows.append({"run": run, "N": n, "step": step, "tokens": tokens,
                         "loss": 1.7 + 400 / n ** 0.34 + 400 / tokens ** 0.28})
    df = pd.DataFrame(rows)
    df.index = [f"c{i}" for i in range(len(df))]
    return df


def as_csv(df: pd.DataFrame) -> str:
    return df.rename(columns={"N": "params", "D": "tokens"}).to_csv(index=False)


def fit_quietly(runs, law="chinchilla", **kw):
    """bs.fit with tiny settings; the sampler itself is a tripwire in these tests."""
    settings = {"draws": 10, "tune": 10, "chains": 1, "random_seed": 0, "progressbar": False, **kw}
    return bs.fit(runs, law, **settings)


def valid_table():
    return bs.RunTable.from_dataframe(runs_df())


# Priors ------------------------------------------------------------------------------------------

@case("prior Normal with sd= instead of sigma=", raises=PriorError, match=r"\bsd\b")
def _(ctx):
    return lambda: bs.Prior("Normal", mu=0.3, sd=0.1), []


@case("prior Normal without sigma", raises=PriorError, match=r"\bsigma\b")
def _(ctx):
    return lambda: bs.Prior("Normal", mu=0.3), []


@case("prior Normal with negative sigma", raises=PriorError, match=[r"\bsigma\b", r"-0\.1"])
def _(ctx):
    return lambda: bs.Prior("Normal", mu=0.3, sigma=-0.1), []


@case("prior Uniform with lower above upper", raises=PriorError, match=[r"\blower\b", r"\bupper\b", "2", "1"])
def _(ctx):
    return lambda: bs.Prior("Uniform", lower=2.0, upper=1.0), []


@case("prior with an unknown distribution name", raises=PriorError, match="Normall")
def _(ctx):
    return lambda: bs.Prior("Normall", mu=0.3, sigma=0.1), []


@case("prior with a NaN parameter", raises=PriorError, match=r"\bmu\b")
def _(ctx):
    return lambda: bs.Prior("Normal", mu=float("nan"), sigma=0.1), []


@case("fit with a prior dict using sd=", raises=PriorError, match=r"\bsd\b")
def _(ctx):
    runs, priors = valid_table(), {"alpha": {"dist": "Normal", "mu": 0.3, "sd": 0.1}}
    return lambda: fit_quietly(runs, priors=priors), [priors]


@case("fit with a prior on an unknown parameter", raises=PriorError, match="alph'")
def _(ctx):
    runs, priors = valid_table(), {"alph": bs.Prior("Normal", mu=0.3, sigma=0.1)}
    return lambda: fit_quietly(runs, priors=priors), [priors]


@case("fit with a non-location prior on log_A", raises=PriorError, match=r"\blog_A\b")
def _(ctx):
    runs, priors = valid_table(), {"log_A": bs.Prior("HalfNormal", sigma=3.0)}
    return lambda: fit_quietly(runs, priors=priors), [priors]


@case("fit with an unknown prior card", raises=PriorError, match="hofmann2022")
def _(ctx):
    return lambda: fit_quietly(valid_table(), priors="hofmann2022"), []


@case("fit with a negative pivot", raises=ValueError, match=[r"\bpivot\b", r"\bN\b"])
def _(ctx):
    df = runs_df()
    pivot = {"N": -1e9, "D": 2e10}
    return lambda: fit_quietly(df, pivot=pivot), [df, pivot]


@case("fit with a zero pivot", raises=ValueError, match=[r"\bpivot\b", r"\bD\b"])
def _(ctx):
    df = runs_df()
    pivot = {"N": 1e9, "D": 0.0}
    return lambda: fit_quietly(df, pivot=pivot), [df, pivot]


@case("fit with a pivot missing an input", raises=ValueError, match=[r"\bpivot\b", r"\bD\b"])
def _(ctx):
    df = runs_df()
    pivot = {"N": 1e9}
    return lambda: fit_quietly(df, pivot=pivot), [df, pivot]


# Sampler arguments -------------------------------------------------------------------------------

def _sampler_case(id_, kw, exc, culprit):
    @case(id_, raises=exc, match=culprit)
    def _(ctx):
        df = runs_df()
        return lambda: fit_quietly(df, **kw), [df]


from bayescale.inference.samplers import SamplerArgumentError  # noqa: E402 - imports PyMC, after the cheap cases

_sampler_case("fit draws=0", {"draws": 0}, SamplerArgumentError, r"\bdraws\b")
_sampler_case("fit chains=0", {"chains": 0}, SamplerArgumentError, r"\bchains\b")
_sampler_case("fit tune=-5", {"tune": -5}, SamplerArgumentError, r"\btune\b")
_sampler_case("fit draws=1.5", {"draws": 1.5}, SamplerArgumentError, r"\bdraws\b")
_sampler_case("fit random_seed=-1", {"random_seed": -1}, ValueError, r"\brandom_seed\b")
_sampler_case("fit random_seed=1.7", {"random_seed": 1.7}, ValueError, r"\brandom_seed\b")
_sampler_case("fit target_accept=1.5", {"target_accept": 1.5}, SamplerArgumentError, r"\btarget_accept\b")
_sampler_case("fit unknown sampler", {"sampler": "stan"}, ValueError, "'stan'")
_sampler_case("fit unknown likelihood", {"likelihood": "gaussian"}, ValueError, "gaussian")
_sampler_case("fit unknown noise", {"noise": "ar2"}, NoiseError, "ar2")


@case("fit unknown law", raises=LawError, match="nonexistent")
def _(ctx):
    df = runs_df()
    return lambda: fit_quietly(df, law="nonexistent"), [df]


@case("fit a list instead of a table", raises=TypeError, match=r"\blist\b")
def _(ctx):
    data = [[1e8, 2e9, 3.3], [2e8, 4e9, 3.1]]
    return lambda: fit_quietly(data), [data]


# Run tables: what the README promises ------------------------------------------------------------

def _fit_df_case(id_, edit, exc, culprit):
    """bs.fit on a DataFrame edited by ``edit(df)``: refused before sampling, the frame unchanged."""
    @case(id_, raises=exc, match=culprit)
    def _(ctx):
        df = edit(runs_df())
        return lambda: fit_quietly(df), [df]


def _set(col, row, value, dtype=None):
    def edit(df):
        df = df.copy()
        if dtype is not None:
            df[col] = df[col].astype(dtype)
        df.loc[row, col] = value
        return df
    return edit


_fit_df_case("missing column loss", lambda df: df.drop(columns="loss"), MissingColumnError, "'loss'")
_fit_df_case("missing column D (and no C)", lambda df: df.drop(columns="D"), MissingColumnError, r"\bD\b")
_fit_df_case("text in N", _set("N", "r3", "1e9x", object), NonNumericError, ["'N'", r"\br3\b", "1e9x"])
_fit_df_case("N mixes ints and strings", _set("N", "r5", "big", object), NonNumericError, ["'N'", r"\br5\b", "big"])
_fit_df_case("N=True (boolean as a size)", _set("N", "r2", True, object), NonNumericError, ["'N'", r"\br2\b"])
_fit_df_case("NaN in loss", _set("loss", "r5", np.nan), NonFiniteError, ["'loss'", r"\br5\b"])
_fit_df_case("inf in D", _set("D", "r2", np.inf), NonFiniteError, ["'D'", r"\br2\b"])
_fit_df_case("NaN in N", _set("N", "r9", np.nan), NonFiniteError, ["'N'", r"\br9\b"])
_fit_df_case("zero loss", _set("loss", "r4", 0.0), NonPositiveError, ["'loss'", r"\br4\b"])
_fit_df_case("negative N", _set("N", "r1", -1e8), NonPositiveError, ["'N'", r"\br1\b"])
_fit_df_case("negative D", _set("D", "r6", -2e9), NonPositiveError, ["'D'", r"\br6\b"])
_fit_df_case("extra column mixing ints and strings",
             lambda df: df.assign(tag=[1, "x"] * (len(df) // 2) + [1] * (len(df) % 2)), RunTableError, "'tag'")


@case("too few distinct sizes for the law", raises=TooFewSizesError, match=[r"\bN\b", "chinchilla"])
def _(ctx):
    df = runs_df()
    df["N"] = np.where(np.arange(len(df)) % 2 == 0, 1e8, 4e8)
    return lambda: fit_quietly(df), [df]


@case("mapped column not in the table", raises=MissingColumnError, match="'tokens'")
def _(ctx):
    df = runs_df()
    return lambda: bs.RunTable.from_dataframe(df, D="tokens"), [df]


# CSV files ---------------------------------------------------------------------------------------

@case("CSV header loss,loss (a name repeated)", raises=RunTableError, match="'loss'")
def _(ctx):
    path = ctx.csv("params,tokens,loss,loss\n1e8,2e9,3.3,3.2\n2e8,4e9,3.1,3.0\n")
    return lambda: bs.RunTable.from_csv(path, N="params", D="tokens"), [path]


@case("empty CSV file", raises=RunTableError, match="empty.csv")
def _(ctx):
    path = ctx.csv("", "empty.csv")
    return lambda: bs.RunTable.from_csv(path), [path]


@case("CSV with a header and no rows", raises=RunTableError, match="header_only.csv")
def _(ctx):
    path = ctx.csv("N,D,loss\n", "header_only.csv")
    return lambda: bs.RunTable.from_csv(path), [path]


@case("CSV with text in a numeric column", raises=NonNumericError, match=["'tokens'", "lots", "tokens.csv"])
def _(ctx):
    path = ctx.csv("params,tokens,loss\n1e8,2e9,3.3\n2e8,lots,3.1\n4e8,8e9,2.9\n", "tokens.csv")
    return lambda: bs.RunTable.from_csv(path, N="params", D="tokens"), [path]


@case("missing CSV file", raises=FileNotFoundError, match="no_such_runs.csv", own=False)
def _(ctx):
    return lambda: bs.RunTable.from_csv(ctx.tmp / "no_such_runs.csv"), []


# Training curves ---------------------------------------------------------------------------------

def _curves(df):
    return lambda: bs.RunTable.from_dataframe(df, run="run", step="step", tokens="tokens")


@case("curves with a NaN run id", raises=RunTableError, match=[r"\brun\b", r"\bc6\b"])
def _(ctx):
    df = curves_df()
    df.loc["c6", "run"] = np.nan
    return _curves(df), [df]


@case("curves whose steps go backwards", raises=CurveOrderError, match=["'b'", r"\bc7\b"])
def _(ctx):
    df = curves_df()
    df.loc["c7", ["step", "tokens"]] = [1500, 1500 * 5e5]
    return _curves(df), [df]


@case("curves with a repeated step", raises=CurveOrderError, match=["'c'", r"\bc12\b"])
def _(ctx):
    df = curves_df()
    df.loc["c12", ["step", "tokens"]] = df.loc["c11", ["step", "tokens"]].to_numpy()
    return _curves(df), [df]


@case("curves with a run of two N", raises=CurveOrderError, match=["'b'", r"\bc8\b", r"\bN\b"])
def _(ctx):
    df = curves_df()
    df.loc["c8", "N"] = 8e8
    return _curves(df), [df]


# Plausibility: tables that are valid numbers but probably not what the user meant (warnings) -------

def _plausible(df):
    return lambda: bs.RunTable.from_dataframe(df).check_plausible()


@case("one loss of 1e-300", warns="DataWarning", match=["loss", r"\br7\b"])
def _(ctx):
    df = runs_df()
    df.loc["r7", "loss"] = 1e-300
    return _plausible(df), [df]


@case("losses that rise with N and D", warns="DataWarning", match=[r"\bloss", r"ris|increas|grow"])
def _(ctx):
    df = runs_df()
    df["loss"] = df["loss"].max() + df["loss"].min() - df["loss"]
    return _plausible(df), [df]


@case("duplicate rows", warns="DataWarning", match=["duplicate", r"\br3\b", r"\br10\b"])
def _(ctx):
    df = runs_df()
    df.loc["r10"] = df.loc["r3"]
    return _plausible(df), [df]


@case("N given in billions", warns="DataWarning", match=r"\bN\b")
def _(ctx):
    df = runs_df()
    df["N"] = df["N"] / 1e9  # 0.018 .. 25
    return _plausible(df), [df]


@case("D given in billions", warns="DataWarning", match=r"\bD\b")
def _(ctx):
    df = runs_df()
    df["D"] = df["D"] / 1e9
    return _plausible(df), [df]


@case("losses in the hundreds (not nats)", warns="DataWarning", match=r"\bloss\b")
def _(ctx):
    df = runs_df()
    df["loss"] = df["loss"] * 100
    return _plausible(df), [df]


@case("perplexities given as losses", warns="DataWarning", match=r"\bloss\b")
def _(ctx):
    df = runs_df()
    df["loss"] = np.exp(df["loss"])
    return _plausible(df), [df]


@case("bs.fit warns on a loss of 1e-300 before sampling", raises=SamplerReached, warns="DataWarning",
      match=["loss", r"\br7\b"])
def _(ctx):
    df = runs_df()
    df.loc["r7", "loss"] = 1e-300
    return lambda: fit_quietly(df), [df]


# Predictions from a fit --------------------------------------------------------------------------

@case("prob_below target=NaN", raises=PredictionInputError, match=r"\btarget\b")
def _(ctx):
    fit = ctx.fit
    return lambda: bs.prob_below(fit, float("nan"), N=7e10, D=1.4e12), [fit.idata.posterior]


@case("prob_below N=True", raises=PredictionInputError, match=r"\bN\b")
def _(ctx):
    fit = ctx.fit
    return lambda: bs.prob_below(fit, 2.0, N=True, D=1.4e12), [fit.idata.posterior]


@case("predict with a NaN in an array of N", raises=PredictionInputError,
      match=[r"\bN\b", "nan"])
def _(ctx):
    fit, n = ctx.fit, np.array([7e10, np.nan, 1e11])
    return lambda: bs.predict(fit, N=n, D=1.4e12), [n, fit.idata.posterior]


@case("predict with an unknown input", raises=PredictionInputError, match="'T'")
def _(ctx):
    fit = ctx.fit
    return lambda: bs.predict(fit, N=7e10, T=1.4e12), [fit.idata.posterior]


@case("loss_interval ci_prob=1.5", raises=ValueError, match=r"\bci_prob\b")
def _(ctx):
    fit = ctx.fit
    return lambda: bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=1.5), [fit.idata.posterior]


@case("loss_interval unknown kind", raises=ValueError, match="median")
def _(ctx):
    fit = ctx.fit
    return lambda: bs.loss_interval(fit, N=7e10, D=1.4e12, kind="median"), [fit.idata.posterior]


# Saved fits --------------------------------------------------------------------------------------




@case("load_fit of a truncated file", raises=FitFileError, match="fit.nc")
def _(ctx):
    path = ctx.saved_fit
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return lambda: bs.load_fit(path), [path]


@case("load_fit of a file that is not netCDF", raises=FitFileError, match="notes.nc")
def _(ctx):
    path = ctx.csv("these are my notes, not a fit\n", "notes.nc")
    return lambda: bs.load_fit(path), [path]


@case("load_fit of a foreign netCDF", raises=FitFileError, match="foreign.nc")
def _(ctx):
    path = ctx.tmp / "foreign.nc"
    xr.Dataset({"temperature": ("time", np.arange(5.0))}).to_netcdf(path, engine="h5netcdf")
    return lambda: bs.load_fit(path), [path]


@case("load_fit of a file with edited draws", raises=FitFileError, match=["fit.nc", "checksum"])
def _(ctx):
    import h5py

    path = ctx.saved_fit
    with h5py.File(path, "r+") as f:
        f["posterior/alpha"][0, :10] = 0.5
    return lambda: bs.load_fit(path), [path]


@case("load_fit of a missing file", raises=FileNotFoundError, match="missing_fit.nc", own=False)
def _(ctx):
    return lambda: bs.load_fit(ctx.tmp / "missing_fit.nc"), []


@case("save into a folder that does not exist", raises=OSError, match="no_such_folder", own=False)
def _(ctx):
    fit = ctx.fit
    return lambda: fit.save(ctx.tmp / "no_such_folder" / "fit.nc"), [fit.idata.posterior]


# Command line: refused before any fit, one line naming the argument, no traceback ----------------

def _cli_case(id_, args, culprit, *, csv_text=None, csv_name="runs.csv"):
    @case(id_, raises=SystemExit, match=culprit, cli=True)
    def _(ctx):
        text = as_csv(runs_df()) if csv_text is None else csv_text
        path = ctx.csv(text, csv_name)
        argv = [a.replace("{csv}", str(path)).replace("{tmp}", str(ctx.tmp)) for a in args]
        return lambda: cli(argv), [path, list(argv)]


MAP = ["--map", "N=params,D=tokens"]
_cli_case("cli fit --draws 0", ["fit", "{csv}", *MAP, "--draws", "0"], ["--draws", r"\b0\b"])
_cli_case("cli fit --tune -5", ["fit", "{csv}", *MAP, "--tune", "-5"], ["--tune", "-5"])
_cli_case("cli fit --seed -1", ["fit", "{csv}", *MAP, "--seed", "-1"], ["--seed", "-1"])
_cli_case("cli fit --chains 1.5", ["fit", "{csv}", *MAP, "--chains", "1.5"], ["--chains", r"1\.5"])
_cli_case("cli --predict with an unknown input", ["fit", "{csv}", *MAP, "--predict", "N=7e10,T=1e12"], "'T'")
_cli_case("cli --predict with a non-number", ["fit", "{csv}", *MAP, "--predict", "N=7e10,D=lots"],
          [r"\bD\b", "lots"])
_cli_case("cli --predict with NaN", ["fit", "{csv}", *MAP, "--predict", "N=nan,D=1.4e12"], [r"\bN\b", "nan"])
_cli_case("cli --predict with a negative size", ["fit", "{csv}", *MAP, "--predict", "N=-7e10,D=1.4e12"],
          [r"\bN\b", "-7e\\+?10|-70000000000"])
_cli_case("cli --predict missing an input", ["fit", "{csv}", *MAP, "--predict", "N=7e10"], [r"\bD\b"])
_cli_case("cli --map with a bad key", ["fit", "{csv}", "--map", "size=params,D=tokens"], "size")
_cli_case("cli --map to a column not in the file", ["fit", "{csv}", "--map", "N=parameters,D=tokens"],
          "parameters")
_cli_case("cli --plot x.pdf", ["fit", "{csv}", *MAP, "--plot", "{tmp}/x.pdf"], r"x\.pdf")
_cli_case("cli --ci-prob 1.5", ["fit", "{csv}", *MAP, "--ci-prob", "1.5"], ["--ci-prob", r"1\.5"])
_cli_case("cli --out into a missing folder", ["fit", "{csv}", *MAP, "--out", "{tmp}/nowhere/fit.nc"], "nowhere")
_cli_case("cli --law nonexistent", ["fit", "{csv}", *MAP, "--law", "nonexistent"], "nonexistent")
_cli_case("cli fit an empty file", ["fit", "{csv}"], "empty_runs.csv", csv_text="", csv_name="empty_runs.csv")
_cli_case("cli fit a missing file", ["fit", "{tmp}/absent_runs.csv"], "absent_runs.csv")
_cli_case("cli fit a file with text in a column", ["fit", "{csv}", *MAP], ["'tokens'", "lots"],
          csv_text="params,tokens,loss\n1e8,2e9,3.3\n2e8,lots,3.1\n4e8,8e9,2.9\n")
_cli_case("cli report --budget -1", ["report", "{csv}", *MAP, "--budget", "-1", "--out", "{tmp}/rep"], "--budget")


# -- the probe ---------------------------------------------------------------------------------------


def _snapshot(obj: Any) -> Any:
    if isinstance(obj, Path):
        return obj.read_bytes() if obj.exists() else None
    return copy.deepcopy(obj)


def _assert_unchanged(before: Any, after: Any) -> None:
    if isinstance(after, Path):
        now = after.read_bytes() if after.exists() else None
        assert now == before, f"the file {after} was modified"
    elif isinstance(after, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before, check_exact=True)
    elif isinstance(after, (xr.Dataset, xr.DataArray)):
        xr.testing.assert_identical(after, before)
    elif isinstance(after, np.ndarray):
        np.testing.assert_array_equal(after, before)
        assert after.dtype == before.dtype
    elif isinstance(after, dict):
        assert after.keys() == before.keys(), f"keys of {after!r} changed"
        for k in after:
            _assert_unchanged(before[k], after[k])
    elif isinstance(after, (list, tuple)):
        assert len(after) == len(before)
        for b, a in zip(before, after, strict=True):
            _assert_unchanged(b, a)
    else:
        assert after == before


def _without_usage(err: str) -> str:
    """argparse's error without its usage block, which names every flag and so would match any culprit."""
    lines, in_usage = [], False
    for line in err.splitlines():
        if line.startswith("usage:"):
            in_usage = True
        elif in_usage and line[:1].isspace():
            continue
        else:
            in_usage = False
            lines.append(line)
    return "\n".join(lines)


def _raising_frame(excinfo: pytest.ExceptionInfo) -> Path:
    return Path(str(excinfo.traceback[-1].path)).resolve()


def _warning_class(name: str) -> type[Warning]:
    cls = getattr(bs, name, None)
    if not (isinstance(cls, type) and issubclass(cls, UserWarning)):
        pytest.fail(f"bs.{name} does not exist (or is not a UserWarning subclass): the plausibility checks "
                    "this case probes are not there")
    return cls


def _check_message(text: str, patterns: tuple[str, ...], what: str) -> None:
    missing = [p for p in patterns if not re.search(p, text)]
    assert not missing, f"{what} does not name the culprit: no {missing} in:\n{text}"


@pytest.fixture
def tripwires(monkeypatch):
    """The sampler raises if reached: bad input must be refused before it."""
    import bayescale.inference.sampling as sampling

    def reached(*args, **kwargs):
        raise SamplerReached("the sampler was reached: the bad input was not refused before sampling")

    monkeypatch.setattr(sampling, "_run_sampler", reached)
    return monkeypatch


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_where_it_enters(c: Case, request, tmp_path, capsys, tripwires):
    ctx = Ctx(request, tmp_path)
    action, guarded = c.setup(ctx)
    before = [_snapshot(g) for g in guarded]
    if c.cli:
        import bayescale.inference

        def fit_called(*args, **kwargs):
            raise FitCalled("bs.fit was called: the command line started a fit before refusing its arguments")

        tripwires.setattr(bayescale.inference, "fit", fit_called)
    capsys.readouterr()

    if c.warns is not None:
        wclass = _warning_class(c.warns)
        with pytest.warns(wclass) as record:
            if c.raises is not None:
                with pytest.raises(c.raises):
                    action()
            else:
                action()
        texts = [str(w.message) for w in record if issubclass(w.category, wclass)]
        assert any(all(re.search(p, t) for p in c.match) for t in texts), (
            f"no {c.warns} names the culprit {list(c.match)}; got:\n" + "\n".join(texts))
    else:
        with pytest.raises(c.raises) as excinfo:
            action()
        out = capsys.readouterr()
        if c.cli:
            code = excinfo.value.code
            text = f"{code if isinstance(code, str) else ''}\n{out.out}\n{_without_usage(out.err)}"
            assert code not in (0, None), f"exit status {code!r} for a refused command"
            assert "Traceback" not in text, f"a traceback in the command's output:\n{text}"
            _check_message(text, c.match, "the command's message")
        else:
            _check_message(str(excinfo.value), c.match, f"{type(excinfo.value).__name__} message")
            if c.own:
                where = _raising_frame(excinfo)
                assert PACKAGE_DIR in where.parents, (
                    f"{type(excinfo.value).__name__} raised from inside a dependency ({where}), not by "
                    f"bayescale at its boundary: {excinfo.value}")

    for b, g in zip(before, guarded, strict=True):
        _assert_unchanged(b, g)


def test_a_plausible_table_raises_no_data_warning():
    """The control of the plausibility cases: the clean table they all start from does not warn."""
    import warnings

    wclass = _warning_class("DataWarning")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        bs.RunTable.from_dataframe(runs_df()).check_plausible()
    assert not [w for w in record if issubclass(w.category, wclass)], [str(w.message) for w in record]

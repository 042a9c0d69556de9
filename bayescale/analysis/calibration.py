"""Calibration by simulation: are a law's extrapolation intervals as wide as they claim?

Simulate many data sets on your own design of runs, each from known parameters; fit the smaller
runs of each; check how often the held-out largest runs fall inside the predictive intervals.
When the parameters are drawn from the prior that the fit uses, a correct Bayesian analysis
covers at exactly the nominal rate, averaged over the data sets (whatever the design or the
number of runs): a shortfall measures what the engine gets wrong (sampler trouble, numerics),
not the law. With fixed parameters (say Hoffmann et al.'s), coverage is that of one point of
parameter space, which need not be nominal in small designs but should be close.

The truth is simulated by the fits' own observation model, with the held-out runs placed against
the training runs: with the default ``noise="discrepancy"`` a held-out run ``d`` decades of C beyond
the training runs gets the law's own error (sd ``kappa d``, ``kappa`` drawn from its prior with the
other parameters), so the prior-drawn check stays nominal for the honest model too.

Screening data sets. Prior draws can give absurd data (losses of 1e4 or 1e-4 nats). Dropping
them is harmless for calibration as long as the rule reads only the *training* runs: for any
event on the training data, coverage conditional on that event is still nominal, because the
posterior conditions on the training data anyway. A rule that read the held-out losses would
select on the very quantity being predicted and bias the result, so none is offered. The same
argument makes it valid to look at the coverage of only the fits without sampler warnings
(:meth:`Calibration.coverage` with ``exclude_warned=True``): the sampler sees only training data.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._policy import CI_PROBS, SERIAL, check_seed, new_seed
from ..laws import Law, get_law
from ..laws.noise import Noise, get_noise, runs_columns
from ..results import Fit, SamplerWarning
from ..runs import RunTable
from .backtest import Holdout, _describe_holdout, _pct, holdout_mask, score_runs, summarize_scores

__all__ = ["Calibration", "CalibrationError", "calibrate", "DEFAULT_FIT_KWARGS", "TRAIN_LOSS_RANGE"]

#: Sampler settings of each refit unless ``fit_kwargs`` says otherwise (compiled once, then
#: about 1-3 s per data set with nutpie). Posteriors of prior-drawn truths are often harder than
#: those of real studies (a term too small to see, a floor traded against an amplitude): 4 chains,
#: 1000 tuning steps and target_accept 0.95 keep divergences rare at little cost.
DEFAULT_FIT_KWARGS: dict[str, Any] = {"draws": 500, "tune": 1000, "chains": 4,
                                      "nuts": {"target_accept": 0.95}, "progressbar": False}
#: Data sets whose training losses leave this range (nats/token) are skipped.
TRAIN_LOSS_RANGE = (1e-2, 1e2)
#: Candidate data sets drawn per data set wanted, before giving up.
_CANDIDATES_PER_DATASET = 5


class CalibrationError(ValueError):
    """Bad arguments to :func:`calibrate`, or too few plausible simulated data sets."""


class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    datasets : pandas.DataFrame
        One row per fitted data set: ``dataset``, ``candidate`` (its index among the simulated
        candidates), ``seed`` (seeds its noise and its fit), the true parameters, ``n_train``,
        ``n_test``, ``coverage_<pct>`` per ci_prob, ``rmsle``, ``log_density``, ``are``, the fit's
        ``divergences``, ``max_r_hat``, ``min_ess_bulk``, ``sampler_warning`` (the
        :class:`~bayescale.SamplerWarning` messages joined, empty if none) and ``seconds``.
    points : pandas.DataFrame
        One row per held-out run per data set (as in :attr:`Backtest.table`, with ``dataset``).
    skipped : pandas.DataFrame
        Candidates not fitted: ``candidate``, ``seed``, ``reason``.
    ci_probs : tuple of float
    source : str
        ``"prior"`` or ``"fixed parameters"``.
    random_seed : int
        The seed everything was drawn from (drawn from the OS and recorded when none was given).
    """

    def __init__(self, datasets: pd.DataFrame, points: pd.DataFrame, skipped: pd.DataFrame, *,
                 ci_probs: Sequence[float], law: str, source: str, holdout: str,
                 train_loss_range: tuple[float, float] | None, random_seed: int | None = None) -> None:
        self.datasets = datasets
        self.random_seed = random_seed
        self.points = points
        self.skipped = skipped
        self.ci_probs = tuple(float(p) for p in ci_probs)
        self.law = law
        self.source = source
        self.holdout = holdout
        self.train_loss_range = train_loss_range

    @property
    def warned(self) -> np.ndarray:
        """Boolean per data set: its fit raised a SamplerWarning."""
        return (self.datasets["sampler_warning"] != "").to_numpy()

    def coverage(self, *, exclude_warned: bool = False, datasets: Sequence[int] | np.ndarray | None = None
                 ) -> pd.DataFrame:
        """Pooled coverage over all held-out points of all data sets, per ci_prob.

        Columns: ``nominal``, ``coverage``, ``se`` (binomial, ``sqrt(c (1 - c) / n_points)``, which
        treats points as independent), ``se_datasets`` (clustered by data set: the held-out runs
        of one data set share one extrapolation, so they hit or miss together and the binomial se
        is too small; this is the one to judge by), ``n_points``, ``n_datasets``.

        Parameters
        ----------
        exclude_warned : bool
            Pool only the data sets whose fit raised no SamplerWarning (still a valid check: see
            the module's notes).
        datasets : sequence of int or boolean array, optional
            Pool only these data sets (ids of the ``dataset`` column, or a mask over
            :attr:`datasets`' rows), e.g. ``cal.datasets["divergences"] == 0``. Select on what the
            fits saw (training data, sampler diagnostics), never on held-out losses.

        Examples
        --------
        >>> cal.coverage(datasets=cal.datasets["divergences"] == 0)  # doctest: +SKIP
        """
        keep = self.datasets["dataset"]
        if datasets is not None:
            sel = np.asarray(datasets)
            keep = keep[sel] if sel.dtype == bool else keep[keep.isin(set(sel.tolist()))]
        if exclude_warned:
            keep = keep[~self.warned[keep.index]]
        pts = self.points[self.points["dataset"].isin(set(keep))]
        n_ds = int(pts["dataset"].nunique())
        rows = {}
        for p in self.ci_probs:
            hits = pts.groupby("dataset")[f"inside_{p:g}"].agg(["sum", "count"])
            h, m = hits["sum"].to_numpy(float), hits["count"].to_numpy(float)
            total = m.sum()
            c = h.sum() / total if total else np.nan
            se_ds = (np.sqrt(n_ds / (n_ds - 1) * np.sum((h - c * m) ** 2)) / total) if n_ds > 1 else np.nan
            rows[p] = {"nominal": p, "coverage": c,
                       "se": np.sqrt(c * (1 - c) / total) if total else np.nan,
                       "se_datasets": se_ds, "n_points": int(total), "n_datasets": n_ds}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "ci_prob"
        return out

    def __repr__(self) -> str:
        cov = self.coverage()
        what = "the prior" if self.source == "prior" else self.source
        lines = [f"<Calibration of {self.law} from {what}: {len(self.datasets)} simulated data sets, "
                 f"held out {self.holdout}"]
        if len(self.skipped):
            lo, hi = self.train_loss_range or (np.nan, np.nan)
            lines.append(f" skipped {len(self.skipped)} candidates whose training losses left [{lo:g}, {hi:g}]")
        n_warn = int(self.warned.sum())
        lines.append(f" {n_warn} fits raised SamplerWarning (kept); divergences in "
                     f"{int((self.datasets['divergences'] > 0).sum())}, max R-hat "
                     f"{self.datasets['max_r_hat'].max():.3f}")
        for p, r in cov.iterrows():
            lines.append(f" {p:.0%}: coverage {r['coverage']:.3f} (se {r['se']:.3f}, by data set "
                         f"{r['se_datasets']:.3f}) on {int(r['n_points'])} points")
        return "\n".join(lines) + ">"


#: Noise parameters a fixed truth may leave out, and their value then: no law error beyond the data.
_OPTIONAL_TRUTH = {"kappa": 0.0}


def _check_params(law: Law, params: Mapping[str, float], noise: Noise) -> dict[str, float]:
    need = [*law.param_names, *noise.names()]
    missing = [k for k in need if k not in params and k not in _OPTIONAL_TRUTH]
    extra = sorted(set(params) - set(need))
    if missing or extra:
        optional = [k for k in need if k in _OPTIONAL_TRUTH]
        raise CalibrationError(
            f"params for law {law.spec!r} with the {noise.family} likelihood and noise={noise.structure!r} need "
            f"{[k for k in need if k not in _OPTIONAL_TRUTH]}" + (f" (optional: {optional})" if optional else "")
            + f" (natural scale, sigma the sd of log loss); missing {missing}, unknown {extra}"
        )
    return {k: float(params[k]) if k in params else _OPTIONAL_TRUTH[k] for k in need}


def _screen(loss: np.ndarray, train: np.ndarray, loss_range: tuple[float, float] | None) -> str:
    """Why a candidate's training losses are implausible ('' if they are not)."""
    y = loss[train]
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        return "non-finite or non-positive training loss"
    if loss_range is None:
        return ""
    lo, hi = loss_range
    if y.max() > hi:
        return f"training loss above {hi:g} (max {y.max():.3g})"
    if y.min() < lo:
        return f"training loss below {lo:g} (min {y.min():.3g})"
    return ""


def calibrate(
    design: RunTable,
    law: str | Law = "chinchilla",
    *,
    n_datasets: int = 50,
    params: Mapping[str, float] | None = None,
    priors: Mapping[str, Any] | None = None,
    likelihood: str | None = None,
    noise: Noise | str | None = None,
    holdout: Holdout = "largest_C",
    ci_probs: Sequence[float] = CI_PROBS,
    train_loss_range: tuple[float, float] | None = TRAIN_LOSS_RANGE,
    fit_kwargs: Mapping[str, Any] | None = None,
    random_seed: int | None = None,
    progressbar: bool = False,
    executor: Executor | Literal["serial"] | None = SERIAL,
) -> Calibration:
    """Coverage of a law's leave-largest-out intervals on data simulated on your design.

    For each of ``n_datasets`` data sets: draw true parameters from the prior (``params=None``;
    :func:`bayescale.sample_prior_predictive` with the same ``priors`` and ``likelihood`` as the
    fits) or take the fixed ``params`` with fresh noise; simulate every run's loss; fit the law to
    the training runs (all but the ``holdout``); score the held-out runs' new-run intervals
    against the simulated truth, as :func:`bayescale.analysis.backtest.backtest` does.

    From the prior, a correct analysis covers at the nominal rate (see the module's notes): this
    checks the engine on your design. From fixed parameters it checks one plausible truth.

    Parameters
    ----------
    design : RunTable
        The runs (their N, D, C); its losses are ignored.
    law : str or Law
    n_datasets : int
        Data sets fitted and scored.
    params : mapping, optional
        True values of the law's natural parameters and the noise (``sigma``, the sd of log
        loss; ``nu`` too for ``likelihood="student_t"``). Default: drawn from the prior.
    priors : mapping, optional
        Prior overrides for the fits (and, with ``params=None``, for the simulation).
    likelihood : {"student_t", "normal"}, optional
        Of the simulation and of the fits (default as in :func:`bayescale.fit`).
    noise : str or Noise, optional
        The observation model of the simulation and of the fits, as in :func:`bayescale.fit`
        (default ``"discrepancy"``: held-out runs beyond the training runs' compute get the law's
        own error; ``"iid"`` the model without it). With fixed ``params``, ``kappa`` may be left
        out (0: the truth follows the law exactly).
    holdout : {"largest_C", "largest_N", "largest_D"}, float or callable
        As in :func:`bayescale.analysis.backtest.holdout_mask`, applied to the design.
    ci_probs : sequence of float
    train_loss_range : (float, float) or None
        Candidate data sets with a *training* loss outside this range are skipped and replaced by
        the next candidate (default 0.01-100); ``None`` keeps all with finite losses. Held-out
        losses are never looked at.
    fit_kwargs : mapping, optional
        Sampler settings for every fit, over :data:`DEFAULT_FIT_KWARGS` (4 chains x 500 draws
        after 1000 tuning steps, target_accept 0.95); not ``priors``, ``likelihood`` or
        ``random_seed``.
    random_seed : int, optional
        Seeds the prior draws and, through one derived seed per candidate, each data set's noise
        and fit; drawn from the OS when not given, and recorded (``.random_seed``).
    progressbar : bool
        Print one line per data set, as each fit finishes.
    executor : concurrent.futures.Executor, "serial" or None
        Where the data sets' fits run, through :func:`bayescale.inference.many.fit_many`:
        ``"serial"`` (default) one after another in this process; ``None`` a new process pool;
        or any ``concurrent.futures.Executor`` (a process pool you keep, a Dask ``distributed``
        client's executor...). Each fit has its own seed, so the numbers are the same whichever
        runs them; ``seconds`` is then each fit's time where it ran.

    Returns
    -------
    Calibration
        ``.datasets``, ``.points``, ``.skipped``, ``.coverage()``.

    Raises
    ------
    CalibrationError
        On bad ``params`` or ``fit_kwargs``, or when fewer than ``n_datasets`` of the
        ``5 n_datasets`` candidates pass the screen.

    Warns
    -----
    SamplerWarning
        Once, summarising the fits that raised one (they are kept, and listed in ``.datasets``).

    Examples
    --------
    >>> import bayescale as bs
    >>> cal = calibrate(bs.load_demo_runs(), "chinchilla", n_datasets=50, random_seed=1)  # doctest: +SKIP
    >>> cal.coverage()[["coverage", "se_datasets"]]  # doctest: +SKIP
    """
    law_obj = get_law(law)
    if int(n_datasets) != n_datasets or n_datasets < 1:
        raise CalibrationError(f"n_datasets must be a positive integer, got {n_datasets!r}")
    bad = sorted({"priors", "likelihood", "random_seed"} & set(fit_kwargs or {}))
    if bad:
        raise CalibrationError(
            f"fit_kwargs may not set {bad}: give priors= and likelihood= to calibrate itself (they "
            "generate the data too), and random_seed= to seed everything"
        )
    given = dict(fit_kwargs or {})
    defaults = {k: v for k, v in DEFAULT_FIT_KWARGS.items()
                if not (k == "nuts" and ("nuts" in given or "target_accept" in given))}
    obs = get_noise(noise, likelihood, runs=design)
    kwargs = {**defaults, **given, "priors": priors, "likelihood": likelihood, "noise": obs}
    mask = holdout_mask(design, holdout)
    n_candidates = _CANDIDATES_PER_DATASET * int(n_datasets)
    random_seed = new_seed() if random_seed is None else check_seed(random_seed)
    root = np.random.SeedSequence(random_seed)
    prior_seed, *seeds = (int(s) for s in root.generate_state(n_candidates + 1) % (2**31))
    inputs = {k: design.column(k) for k in law_obj.inputs}
    # every run's noise features placed against the training runs (a held-out run beyond them is extrapolated)
    features = obs.struct.features(runs_columns(design), runs_columns(design.filter(~mask)))
    names = [*law_obj.param_names, *obs.names()]
    from ..inference import sample_prior_predictive  # sampling imports PyMC; importing this module does not

    if params is None:
        source = "prior"
        prior = sample_prior_predictive(design, law_obj, priors=priors, likelihood=likelihood, noise=obs,
                                        draws=n_candidates, random_seed=prior_seed)
        flat = prior.prior.dataset
        true = {k: flat[k].values.reshape(-1) for k in names}
    else:
        source = "fixed parameters"
        fixed = _check_params(law_obj, params, obs)
        true = {k: np.full(n_candidates, v) for k, v in fixed.items()}

    base = design.to_dataframe()
    skipped: list[dict[str, Any]] = []
    chosen: list[tuple[int, int, RunTable]] = []  # (candidate, seed, runs) of the data sets to fit
    for cand, seed in enumerate(seeds):
        if len(chosen) == n_datasets:
            break
        with np.errstate(all="ignore"):
            mean = np.asarray(law_obj(**inputs, **{k: true[k][cand] for k in law_obj.param_names}), dtype=float)
            p = {k: np.asarray([[true[k][cand]]]) for k in obs.names()}
            loss = np.exp(obs.simulate(np.random.default_rng(seed), np.log(mean)[None], p, features)[0])
        reason = _screen(loss, ~mask, train_loss_range)
        if reason:
            skipped.append({"candidate": cand, "seed": seed, "reason": reason})
            continue
        df = base.copy()
        df["loss"] = loss
        chosen.append((cand, seed, RunTable(df, derived=design.derived, source=f"calibrate candidate {cand}")))
    if len(chosen) < n_datasets:
        reasons = pd.Series([s["reason"].split(" (")[0] for s in skipped]).value_counts().to_dict()
        raise CalibrationError(
            f"only {len(chosen)} of {n_candidates} simulated data sets passed the screen on training "
            f"losses (skipped: {reasons}); widen train_loss_range, tighten the priors, or ask for "
            "fewer data sets"
        )

    probs = tuple(float(p) for p in ci_probs)
    tables: dict[int, pd.DataFrame] = {}
    score_seconds: dict[int, float] = {}

    def score(i: int, result: Any) -> None:
        """Score data set i's held-out runs as its fit arrives (and report progress)."""
        if not isinstance(result, Fit):
            return
        t0 = time.perf_counter()
        tables[i] = score_runs(result, chosen[i][2].filter(mask), ci_probs=probs)
        score_seconds[i] = time.perf_counter() - t0
        if progressbar:
            r = summarize_scores(tables[i], probs)
            cov = " ".join(f"{r[f'coverage_{_pct(p)}']:.2f}" for p in probs)
            print(f"data set {i + 1}/{n_datasets} (candidate {chosen[i][0]}): coverage {cov}; "
                  f"{len(tables)} of {n_datasets} done", flush=True)

    tasks = [{"runs": runs.filter(~mask), "law": law_obj, **kwargs, "random_seed": seed}
             for _, seed, runs in chosen]
    from ..inference.many import FitFailure, fit_many

    done = fit_many(tasks, executor=executor, return_exceptions=False, warn=False, callback=score)
    rows, points = [], []
    warn_count = 0
    other: dict[tuple[type, str], Any] = {}
    for i, (cand, seed, _runs) in enumerate(chosen):
        result, table = done[i], tables[i]
        msgs = [w.message for w in done.warnings[i] if issubclass(w.category, SamplerWarning)]
        for w in done.warnings[i]:  # other warnings (about the design, say) repeat for every data set: keep one each
            if not issubclass(w.category, SamplerWarning):
                other.setdefault((w.category, w.message), w)
        warn_count += bool(msgs)
        diag = result.diagnostics()
        rows.append({"dataset": i, "candidate": cand, "seed": seed,
                     **{k: float(true[k][cand]) for k in names},
                     "n_train": len(result.runs), **summarize_scores(table, probs),
                     "divergences": diag["divergences"], "max_r_hat": diag["max_r_hat"],
                     "min_ess_bulk": diag["min_ess_bulk"], "sampler_warning": " | ".join(msgs),
                     "seconds": done.seconds[i] + score_seconds[i]})
        points.append(table.assign(dataset=i))
    for w in other.values():
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if warn_count:
        warnings.warn(
            f"{warn_count} of {n_datasets} calibration fits raised a SamplerWarning; they are kept in "
            "the coverage (see .datasets['sampler_warning'] and .coverage(exclude_warned=True))",
            SamplerWarning, stacklevel=2,
        )
    pts = pd.concat(points, ignore_index=True)
    pts = pts[["dataset", *[c for c in pts.columns if c != "dataset"]]]
    return Calibration(
        pd.DataFrame(rows), pts, pd.DataFrame(skipped, columns=["candidate", "seed", "reason"]),
        ci_probs=ci_probs, law=law if isinstance(law, str) else law_obj.spec, source=source,
        holdout=_describe_holdout(design, holdout, "C", mask), train_loss_range=train_loss_range,
        random_seed=random_seed,
    )

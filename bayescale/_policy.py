"""The policies every function follows, stated once.

**Likelihood.** Wherever a function takes ``likelihood=``, the default is ``DEFAULT_LIKELIHOOD``
(``"student_t"``): ``bs.fit``, ``bayescale fit``, ``bayescale report`` and the calibration give the
same interval for the same table and seed.

**Interval probability.** Every function that reports an interval defaults to ``ci_prob=CI_PROB``
(0.9): the same number in a summary, a prediction, a forecast, a decision table and a plot, so two
intervals a user puts side by side mean the same thing. Coverage scores use ``CI_PROBS``.

**Seeds.** ``random_seed=None`` means one thing in each of two kinds of function:

- functions that *sample a posterior or a prior* (``bs.fit``, ``bs.sample_prior_predictive``,
  ``bs.backtest``, ``bs.calibrate``, ``bs.fit_many``): a fresh seed from the operating system,
  recorded in what they return (``fit.provenance["random_seed"]``), so any result can be rerun;
- functions that *read a fit* (predictions, intervals, scores, forecasts, checks, plots):
  a seed derived from the fit's recorded seed, so the same fit always gives the same numbers.

An integer seed is used as given everywhere; nothing seeds numpy's global state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CI_PROB", "CI_PROBS", "DEFAULT_LIKELIHOOD", "SERIAL", "new_seed", "analysis_seed", "check_interval"]

#: ``executor="serial"``: fits run one after another in this process.
SERIAL = "serial"

#: The default probability of every credible or predictive interval.
CI_PROB = 0.9
#: The interval probabilities coverage is scored at.
CI_PROBS = (0.5, 0.8, 0.9, 0.95)
#: The family of log loss around the law wherever none is given (``bs.fit``, the CLI, the report,
#: calibration): the Student-t, robust to a stray run (the counterpart of the Huber fits in the literature).
DEFAULT_LIKELIHOOD = "student_t"
#: Offset of an analysis's seed from the fit's own seed (an analysis never reuses the sampler's stream).
_ANALYSIS_OFFSET = 7919


def check_interval(*, ci_prob: Any = None, ci_kind: Any = None, kind: Any = None,
                   error: type[Exception] = ValueError) -> None:
    """The interval arguments every function takes, checked the same way before any work: ``ci_prob``
    in (0, 1), ``ci_kind`` "hdi" or "eti", ``kind`` "mean" or "new_run" (None: not taken)."""
    if ci_prob is not None:
        ok = isinstance(ci_prob, (int, float, np.integer, np.floating)) and not isinstance(ci_prob, bool)
        if not ok or not 0 < ci_prob < 1:
            raise error(f"ci_prob must be a probability in (0, 1), e.g. {CI_PROB}; got {ci_prob!r}")
    if ci_kind is not None and ci_kind not in ("hdi", "eti"):
        raise error(f"ci_kind must be 'hdi' (highest density) or 'eti' (equal-tailed), got {ci_kind!r}")
    if kind is not None and kind not in ("mean", "new_run"):
        raise error(f"kind must be 'mean' (the law's loss) or 'new_run' (one run's loss, noise included), "
                    f"got {kind!r}")


def new_seed() -> int:
    """A fresh seed from the OS, to be recorded where the caller gave none."""
    return int(np.random.SeedSequence().entropy % (2**31))


def check_seed(random_seed: Any) -> int:
    """``random_seed`` as an int in [0, 2**32), or a :class:`ValueError` naming the value."""
    if isinstance(random_seed, bool) or not isinstance(random_seed, (int, np.integer)):
        raise ValueError(f"random_seed must be a non-negative integer or None, got {random_seed!r}")
    if not 0 <= int(random_seed) < 2**32:
        raise ValueError(f"random_seed must be in [0, 2**32), got {random_seed}")
    return int(random_seed)


def analysis_seed(fit: Any, random_seed: int | None) -> int:
    """The seed of an analysis of ``fit``: ``random_seed`` if given, else derived from the fit's."""
    if random_seed is not None:
        return check_seed(random_seed)
    return int(fit.provenance.get("random_seed", 0)) + _ANALYSIS_OFFSET

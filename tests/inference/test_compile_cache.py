"""Refitting the same law to new data reuses the compiled nutpie model (no recompilation), and the
new data really reach the sampler, the log-likelihood and the observed-data group."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.inference import cache

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("nutpie") is None, reason="needs nutpie")]


def curve(n, e_inf, seed):
    x = np.geomspace(1e5, 1e8, n)
    y = (e_inf + 30 * x**-0.35) * np.exp(np.random.default_rng(seed).normal(0, 0.005, n))
    return bs.RunTable.from_dataframe(pd.DataFrame({"x": x, "y": y}), N=None, D="x", loss="y")


def test_refit_reuses_the_compiled_model_with_new_data():
    kw = dict(draws=300, tune=300, chains=2, progressbar=False)
    first = bs.fit(curve(12, 0.2, 0), "m2", random_seed=1, **kw)
    n_cached = len(cache._COMPILED)
    entry = next(reversed(cache._COMPILED.values()))
    nutpie_model, loglik_fn = entry.nutpie, entry.loglik["pointwise"].function.fn
    second = bs.fit(curve(20, 0.5, 1), "m2", random_seed=1, **kw)
    assert len(cache._COMPILED) == n_cached  # same structure: no new compilation
    assert entry.nutpie is nutpie_model and entry.loglik["pointwise"].function.fn is loglik_fn
    for fit, n, e_inf in ((first, 12, 0.2), (second, 20, 0.5)):
        assert fit.idata.observed_data["log_loss"].sizes["run"] == n
        assert fit.idata.log_likelihood["log_loss"].sizes["run"] == n
        np.testing.assert_allclose(fit.idata.observed_data["log_loss"].values, np.log(fit.runs.loss))
        assert float(fit.posterior["e_inf"].median()) == pytest.approx(e_inf, rel=0.1)

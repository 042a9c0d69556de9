"""Loss-to-loss laws: exact values, and recovery of known parameters from paired losses."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs


def test_published_forms_and_their_special_cases():
    ltl, shift = bs.get_law("loss_to_loss"), bs.get_law("loss_shift")
    assert ltl.inputs == ("loss_x",) and bs.get_law("loss_to_loss:loss_validation").inputs == ("loss_validation",)
    # K (Lx - Ex)**kappa + Ey at Lx 3: 1.1 * 1.5**0.9 + 1.6
    assert ltl(loss_x=3.0, Ex=1.5, Ey=1.6, K=1.1, kappa=0.9) == pytest.approx(1.1 * 1.5**0.9 + 1.6, rel=1e-14)
    lx = np.array([2.5, 3.0, 4.0])
    # kappa = K = 1 is Kaplan's constant offset, Ey - Ex
    np.testing.assert_allclose(ltl(loss_x=lx, Ex=1.5, Ey=1.8, K=1.0, kappa=1.0), shift(loss_x=lx, c=0.3), rtol=1e-14)
    assert shift(loss_x=2.0, c=-0.25) == 1.75


def paired_runs(law: str, truth: dict, *, sd: float = 0.004, seed: int = 0) -> bs.RunTable:
    """Final losses of 30 runs on the training set (Chinchilla's law, 20 tokens per parameter) and on
    another set through ``law``, with lognormal noise of sd ``sd``."""
    rng = np.random.default_rng(seed)
    N = np.geomspace(2e7, 2e9, 30)
    D = 20 * N
    lx = bs.get_law("chinchilla")(N=N, D=D, **bs.get_law("chinchilla").example)
    ly = bs.get_law(law)(loss_x=lx, **truth) * np.exp(rng.normal(0, sd, N.size))
    return bs.RunTable.from_dataframe(pd.DataFrame({"N": N, "D": D, "loss": ly, "loss_x": lx}))


@pytest.mark.slow
def test_loss_shift_recovers_the_offset():
    runs = paired_runs("loss_shift", {"c": 0.21})
    fit = bs.fit(runs, "loss_shift", noise="iid", draws=500, tune=500, chains=2, random_seed=3, progressbar=False)
    c = fit.posterior["c"].values
    assert abs(np.median(c) - 0.21) < 3 * c.std() and c.std() < 0.005
    assert bs.diagnose(fit).ok


@pytest.mark.slow
def test_loss_to_loss_recovers_K_and_kappa_given_the_irreducible_losses():
    """As Brandfonbrener et al. do, E_x and E_y come from each set's own fit: here priors at the truth
    (sd 0.02); K and kappa are then learned from the paired losses."""
    truth = {"Ex": 1.69, "Ey": 1.95, "K": 1.3, "kappa": 0.85}
    runs = paired_runs("loss_to_loss", truth)
    priors = {"Ex": bs.Prior("Normal", mu=1.69, sigma=0.02), "Ey": bs.Prior("Normal", mu=1.95, sigma=0.02)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplerWarning)
        fit = bs.fit(runs, "loss_to_loss", priors=priors, noise="iid", draws=500, tune=1000, chains=2,
                     random_seed=4, progressbar=False)
    for name in ("K", "kappa"):
        draws = fit.posterior[name].values
        lo, hi = np.quantile(draws, [0.03, 0.97])
        assert lo < truth[name] < hi, (name, lo, hi)
    assert np.quantile(fit.posterior["kappa"].values, 0.97) - np.quantile(fit.posterior["kappa"].values, 0.03) < 0.2

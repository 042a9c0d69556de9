"""Prior cards: the shipped cards load and pass their checks, names resolve, bad cards fail clearly, and
fit/resolve_priors take a card by name."""

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import re

import pymc as pm
import pytest

import bayescale as bs
from bayescale.laws import Noise, Prior, PriorError, get_law, resolve_priors
from bayescale.laws.noise import FAMILIES, STRUCTURES, noise_parameters
from bayescale.laws.cards import (
    CARD_DISTRIBUTIONS,
    PriorCard,
    PriorCardError,
    card_priors,
    list_priors,
    load_prior_card,
    read_prior_card,
)

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = sorted(MODELS.glob("*.toml"))


@pytest.fixture(autouse=True)
def _no_user_cards(monkeypatch):
    """Only the shipped cards, whatever the environment says."""
    monkeypatch.delenv("BAYESCALE_PRIORS", raising=False)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_card_loads_and_builds(path):
    card = load_prior_card(path)
    law = get_law(card.law)
    assert card.name == path.stem and card.source and card.priors
    sampled = {p.sampled_name for p in law.parameters}
    assert set(card.priors) <= sampled | set(noise_parameters()) | {f"{p.name}_run_sd" for p in law.parameters}
    for likelihood in FAMILIES:
        resolved = resolve_priors(law, Noise(likelihood), path)
        for key, prior in card.priors.items():
            if key in resolved:
                assert resolved[key] == prior
    # by name too, as an installed user would
    assert load_prior_card(card.name) == card
    assert load_prior_card(card.short_name, law=law) == card


def test_shipped_cards_are_the_ones_the_issue_names():
    names = set(bs.laws.list_prior_cards())
    assert {"chinchilla_default", "hoffmann2022", "besiroglu2024", "kaplan2020"} <= names
    assert {p.stem for p in SHIPPED} <= names


def test_hoffmann_card_is_centred_on_their_fit():
    card = load_prior_card("hoffmann2022")
    assert card.law == "chinchilla" and "Hoffmann" in card.source and "no intervals" in card.notes
    published = {"E": 1.69, "A": 406.4, "B": 410.7}
    for name, value in published.items():
        assert card.priors[f"log_{name}"].dist == "Normal"
        assert math.exp(card.priors[f"log_{name}"].params["mu"]) == pytest.approx(value, rel=1e-4)
    assert card.priors["alpha"].params["mu"] == 0.34 and card.priors["beta"].params["mu"] == 0.28
    # widths are the replication card's: the two differ only in their centres
    repl = load_prior_card("besiroglu2024")
    for key in card.priors:
        assert card.priors[key].params["sigma"] == repl.priors[key].params["sigma"]
        assert card.priors[key].params["mu"] != repl.priors[key].params["mu"]


def test_kaplan_card_matches_the_law_and_table_2():
    law = get_law("kaplan")
    card = load_prior_card("kaplan2020")
    assert set(card.priors) == {p.sampled_name for p in law.parameters} == {"log_Nc", "log_Dc", "aN", "aD"}
    centre = {"Nc": math.exp(card.priors["log_Nc"].params["mu"]), "Dc": math.exp(card.priors["log_Dc"].params["mu"]),
              "aN": math.exp(card.priors["aN"].params["mu"]), "aD": math.exp(card.priors["aD"].params["mu"])}
    assert centre == pytest.approx({"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103}, rel=1e-3)


def test_besiroglu_card_keeps_its_old_name():
    new = load_prior_card("besiroglu2024")
    assert load_prior_card("chinchilla_besiroglu2024") == new
    assert read_prior_card("chinchilla_besiroglu2024") == ("chinchilla", dict(new.priors))
    assert new.priors["log_E"] == Prior("Normal", mu=0.5972, sigma=0.028)


def test_names_paths_and_default_card():
    by_path = load_prior_card(MODELS / "hoffmann2022.toml")
    assert load_prior_card(str(MODELS / "hoffmann2022.toml")) == by_path == load_prior_card("hoffmann2022")
    default = load_prior_card("default", law="chinchilla")
    assert default.name == "chinchilla_default" and default.short_name == "default"
    assert resolve_priors(get_law("chinchilla"), Noise("normal"), "default") == resolve_priors(
        get_law("chinchilla"), Noise("normal"), None)
    with pytest.raises(PriorCardError, match="no prior card 'default'.*nor kaplan_default"):
        load_prior_card("default", law="kaplan")
    with pytest.raises(PriorCardError, match="no prior card file"):
        load_prior_card(MODELS / "nothing_here.toml")
    # a law prefix that is not the card's law
    with pytest.raises(PriorCardError, match="card is for law 'chinchilla', not 'kaplan'"):
        load_prior_card("kaplan_hoffmann2022")


def test_card_distributions_are_pymc_families_with_those_parameters():
    rng = np.random.default_rng(0)
    for dist, family in CARD_DISTRIBUTIONS.items():
        params = dict.fromkeys(family.required + family.optional, 2.0)
        params.update({k: v for k, v in {"mu": 0.0, "lower": 0.0, "c": 1.0, "upper": 3.0}.items() if k in params})
        if dist == "Beta":
            params = {"alpha": 2.0, "beta": 3.0}
        cls = getattr(pm, dist)
        named = set(inspect.signature(cls.dist).parameters)
        assert set(params) <= named, (dist, set(params) - named)  # dist() would swallow a wrong keyword
        draws = pm.draw(cls.dist(**params), draws=20, random_seed=rng, mode="FAST_COMPILE")
        assert np.all(np.isfinite(draws)), dist


def test_noise_parameters_are_the_registered_ones():
    declared = {q.name for f in FAMILIES.values() for q in f.parameters}
    declared |= {q.name for s in STRUCTURES.values() for q in s.parameters}
    assert set(noise_parameters()) == declared >= {"sigma", "nu", "tau", "ell"}


GOOD = '''law = "chinchilla"
source = "A. Author 2099, Table 1"
[priors.alpha]
dist = "Normal"
mu = 0.3
sigma = 0.05
'''


def _card(tmp_path, text, name="mycard"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


BAD = {
    "malformed": ('law = "chinchilla"\nsource = "x"\n[priors.alpha\ndist = "Normal"', r"not valid TOML"),
    "no_source": (GOOD.replace('source = "A. Author 2099, Table 1"\n', ""), r"missing or empty 'source'"),
    "empty_source": (GOOD.replace("A. Author 2099, Table 1", "  "), r"missing or empty 'source'"),
    "no_law": (GOOD.replace('law = "chinchilla"\n', ""), r"missing or empty 'law'"),
    "unknown_law": (GOOD.replace('"chinchilla"', '"chinchila"'),
                    r"law = 'chinchila' is not a registered law; use one of \[.*'chinchilla'"),
    "unknown_param": (GOOD.replace("priors.alpha", "priors.gamma"),
                      r"\[priors.gamma\]: law 'chinchilla' has no sampled parameter 'gamma'; use one of "
                      r"the law's \['log_E', 'log_A', 'log_B', 'alpha', 'beta'\], the noise's " + re.escape(str(list(noise_parameters())))
                      + r" or '<parameter>_run_sd'"),
    "natural_name": (GOOD.replace("priors.alpha", "priors.A"),
                     r"A is sampled on the log scale: write \[priors.log_A\]"),
    "bad_dist": (GOOD.replace('"Normal"', '"Normall"'), r"dist = 'Normall' is not a distribution cards accept"),
    "no_dist": (GOOD.replace('dist = "Normal"\n', ""), r"\[priors.alpha\] has no 'dist'"),
    "no_sigma": (GOOD.replace("sigma = 0.05\n", ""), r"Normal takes \['mu', 'sigma'\]: missing \['sigma'\]"),
    "extra_param": (GOOD + "tau = 3\n", r"unknown \['tau'\]"),
    "negative_sigma": (GOOD.replace("0.05", "-0.05"), r"sigma=-0.05 must be > 0"),
    "text_value": (GOOD.replace("0.05", '"wide"'), r"sigma = 'wide' must be a finite number"),
    "nan_value": (GOOD.replace("0.05", "nan"), r"must be a finite number"),
    "uniform_order": (GOOD.replace('"Normal"\nmu = 0.3\nsigma = 0.05', '"Uniform"\nlower = 1.0\nupper = 0.5'),
                      r"needs lower < upper"),
    "pivot_family": (GOOD.replace("priors.alpha", "priors.log_A").replace('"Normal"', '"LogNormal"'),
                     r"log_A is sampled at the data's pivot.*location family"),
    "negative_noise": (GOOD.replace("priors.alpha", "priors.sigma"), r"sigma must be positive"),
    "top_key_typo": (GOOD.replace("[priors.alpha]", "[prior.alpha]"), r"unknown top-level keys \['prior'\]"),
    "no_priors": ('law = "chinchilla"\nsource = "x"\n', r"no priors; add a \[priors.<sampled name>\] table"),
    "not_a_table": ('law = "chinchilla"\nsource = "x"\npriors = {alpha = 0.3}\n', r"must be a table with 'dist'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_cards_fail_with_file_key_and_fix(tmp_path, case):
    text, pattern = BAD[case]
    path = _card(tmp_path, text)
    with pytest.raises(PriorCardError, match=pattern) as info:
        load_prior_card(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PriorError)


def test_good_card_from_a_path(tmp_path):
    card = load_prior_card(_card(tmp_path, 'notes = """\n  made up\n"""\n' + GOOD))
    assert card == PriorCard("mycard", "chinchilla", "A. Author 2099, Table 1",
                             {"alpha": Prior("Normal", mu=0.3, sigma=0.05)}, "made up", tmp_path / "mycard.toml")


def test_card_for_another_law_names_both():
    runs = bs.load_demo_runs()
    with pytest.raises(PriorCardError, match=r"'hoffmann2022' .* is for law 'chinchilla', but the fit is of law "
                                             r"'kaplan'; cards for 'kaplan': \['kaplan2020'\]"):
        bs.fit(runs, "kaplan", priors="hoffmann2022", draws=10, tune=10, chains=1, random_seed=0)
    with pytest.raises(PriorCardError, match="is for law 'kaplan'"):
        bs.sample_prior_predictive(runs, "chinchilla", priors="kaplan2020", draws=5, random_seed=0)


def test_card_with_overrides_and_noise_priors(tmp_path):
    law = get_law("chinchilla")
    sigma = Prior("HalfNormal", sigma=0.02)
    name, priors = card_priors(law, {"card": "hoffmann2022", "sigma": sigma, "alpha": {"dist": "Normal", "mu": 0.5,
                                                                                          "sigma": 0.1}})
    assert name == "hoffmann2022" and priors["sigma"] == sigma and priors["log_E"].params["mu"] == 0.5247
    resolved = resolve_priors(law, Noise("normal"), {"card": "hoffmann2022", "sigma": sigma,
                                              "alpha": {"dist": "Normal", "mu": 0.5, "sigma": 0.1}})
    assert resolved["alpha"] == Prior("Normal", mu=0.5, sigma=0.1) and resolved["sigma"] == sigma
    assert resolved["beta"] == load_prior_card("hoffmann2022").priors["beta"]
    with pytest.raises(PriorError, match="no parameter 'gamma'"):
        resolve_priors(law, Noise("normal"), {"card": "hoffmann2022", "gamma": sigma})
    with pytest.raises(PriorCardError, match="'card' must be a card name or path"):
        card_priors(law, {"card": 3})
    assert card_priors(law, {"alpha": sigma}) == (None, {"alpha": sigma})
    # a card's prior on nu applies with the Student-t likelihood and is not used with the normal one
    path = _card(tmp_path, GOOD + '[priors.nu]\ndist = "Gamma"\nalpha = 3\nbeta = 0.2\n')
    assert "nu" not in resolve_priors(law, Noise("normal"), path)
    assert resolve_priors(law, Noise("student_t"), path)["nu"] == Prior("Gamma", alpha=3.0, beta=0.2)
    with pytest.raises(PriorError, match="no parameter 'nu'"):  # given explicitly, it is an error
        resolve_priors(law, Noise("normal"), {"card": path, "nu": Prior("Gamma", alpha=3.0, beta=0.2)})


def test_list_priors_table_and_user_directory(tmp_path, monkeypatch):
    table = bs.list_priors()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["name", "card", "law", "source", "parameters", "path"]
    assert bs.list_priors("chinchilla")["name"].tolist() == ["besiroglu2024", "default", "hoffmann2022"]
    row = table.set_index("card").loc["kaplan2020"]
    assert row["law"] == "kaplan" and row["parameters"] == "log_Nc, log_Dc, aN, aD"
    assert len(table) == len(SHIPPED)
    # a directory of one's own cards, searched first
    user = tmp_path / "cards"
    user.mkdir()
    (user / "mine2025.toml").write_text(GOOD)
    monkeypatch.setenv("BAYESCALE_PRIORS", str(user))
    table = list_priors("chinchilla")
    assert "mine2025" in table["name"].tolist() and len(table) == 4
    assert load_prior_card("mine2025", law="chinchilla").priors == {"alpha": Prior("Normal", mu=0.3, sigma=0.05)}
    (user / "broken.toml").write_text("law = ")
    with pytest.raises(PriorCardError, match="broken.toml: not valid TOML"):
        list_priors()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayescale.SamplerWarning")
def test_fit_by_card_name_uses_the_card_and_records_it(tmp_path):
    """A tight card on alpha far from the truth must drag the posterior there; the card's name is kept."""
    runs = bs.load_demo_runs()  # simulated from Hoffmann et al.'s law (alpha 0.34)
    path = _card(tmp_path, GOOD.replace("mu = 0.3", "mu = 0.6").replace("0.05", "0.005"), name="pull")
    fit = bs.fit(runs, "chinchilla", priors=path, draws=300, tune=300, chains=2, random_seed=3, progressbar=False)
    alpha = fit.idata.posterior["alpha"].values
    assert abs(np.median(alpha) - 0.6) < 0.02
    assert fit.provenance["prior_card"] == "pull"
    assert fit.priors["alpha"] == Prior("Normal", mu=0.6, sigma=0.005)
    fit.save(tmp_path / "fit.nc")
    assert bs.load_fit(tmp_path / "fit.nc").provenance["prior_card"] == "pull"
    plain = bs.fit(runs, "chinchilla", draws=300, tune=300, chains=2, random_seed=3, progressbar=False)
    assert "prior_card" not in plain.provenance
    assert abs(np.median(plain.idata.posterior["alpha"].values) - 0.34) < 0.05

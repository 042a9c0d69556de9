import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

import bayescale as bs
from bayescale.laws import LawError, Parameter, Prior, get_law, list_laws

BUILTIN = ["chinchilla", "chinchilla_bend", "kaplan", "data_constrained", "power_law", "kaplan_power", "kaplan_steps", "kaplan_smin", "m2", "m4",
           "broken_power_law", "curve_power"]


def test_builtin_laws_registered():
    assert set(BUILTIN) <= set(list_laws())


@pytest.mark.parametrize("name", BUILTIN)
def test_numpy_and_pytensor_agree_at_example(name):
    law = get_law(name)
    rng = np.random.default_rng(0)
    x = {i: np.exp(rng.uniform(np.log(1e8), np.log(1e22), 5)) for i in law.inputs}
    expected = law(**x, **law.example)
    sym = {k: pt.dscalar(k) for k in law.param_names}
    fn = pytensor.function(list(sym.values()), law(**x, **sym))
    got = fn(*[law.example[k] for k in law.param_names])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)


@pytest.mark.parametrize("name", BUILTIN)
def test_xarray_broadcast_shape(name):
    law = get_law(name)
    params = {k: xr.DataArray(np.full((2, 3), v), dims=("chain", "draw")) for k, v in law.example.items()}
    x = {i: xr.DataArray(np.geomspace(1e9, 1e12, 5), dims="point") for i in law.inputs}
    out = law(**x, **params)
    assert out.dims == ("chain", "draw", "point") and out.shape == (2, 3, 5)


@pytest.mark.parametrize("name", BUILTIN)
def test_law_description_serialises(name):
    law = get_law(name)
    d = json.loads(json.dumps(law.to_dict()))
    assert d["source_hash"] == law.source_hash
    for p in d["parameters"]:
        assert Prior.from_dict(p["prior"]) == law.parameter(p["name"]).prior
    assert get_law(d["spec"]).source_hash == law.source_hash


def test_published_values():
    # Hoffmann et al.'s law at Chinchilla-70B (N 7e10, D 1.4e12), computed by hand
    chin = get_law("chinchilla")
    expected = 1.69 + 406.4 / 7e10**0.34 + 410.7 / 1.4e12**0.28
    assert chin(N=7e10, D=1.4e12, **chin.example) == pytest.approx(expected, rel=1e-14)
    assert expected == pytest.approx(1.93665, abs=1e-5)
    # Kaplan et al. at D -> infinity reduces to (Nc/N)^aN
    kap = get_law("kaplan")
    assert kap(N=1e9, D=1e40, **kap.example) == pytest.approx((8.8e13 / 1e9) ** 0.076, rel=1e-9)


def test_pivot_shift_matches_scaling():
    chin = get_law("chinchilla")
    A = chin.parameter("A")
    # A / N**alpha == A_p / (N / Np)**alpha with log A = log A_p + alpha log Np
    shift = chin.log_pivot_shift(A, {"alpha": 0.3}, {"N": np.log(1e9), "D": np.log(2e10)})
    assert shift == pytest.approx(0.3 * np.log(1e9))
    A_p = 400.0 / np.exp(shift)
    assert 400.0 / 5e9**0.3 == pytest.approx(A_p / (5e9 / 1e9) ** 0.3)


def test_on_moves_one_input_law():
    law = get_law("power_law:N")
    assert law.inputs == ("N",) and law.min_distinct == {"N": 4}
    assert law(N=1e9, E=1.0, A=10.0, alpha=0.5) == pytest.approx(1.0 + 10.0 / np.sqrt(1e9))
    with pytest.raises(LawError, match="takes 2 input"):
        get_law("chinchilla").on("N")


def test_unknown_law_lists_known():
    with pytest.raises(LawError, match="known laws"):
        get_law("chinchila")


def test_user_law_decorator_and_checks():
    @bs.law(name="test_user_law", inputs=["N"], overwrite=True, parameters=[
        Parameter("E", Prior("Normal", mu=0.5, sigma=1), 1.5, "floor", log=True),
        Parameter("A", Prior("Normal", mu=3, sigma=3), 20.0, "amp", log=True, scale={"N": "alpha"}),
        Parameter("alpha", Prior("LogNormal", mu=-1, sigma=1), 0.2, "exponent"),
    ])
    def user(N, E, A, alpha):
        """L = E + A N^-alpha"""
        return E + A * N**-alpha

    assert get_law("test_user_law") is user
    assert user.formula == "L = E + A N^-alpha"
    with pytest.raises(LawError, match="the function takes"):
        bs.law(name="bad_law", inputs=["N"], parameters=[
            Parameter("E", Prior("Normal", mu=0, sigma=1), 1.0, "floor", log=True)])(lambda N, F: F)
    with pytest.raises(LawError, match="not sampled on the log scale"):
        Parameter("A", Prior("Normal", mu=0, sigma=1), 1.0, "amp", scale={"N": 1.0})


def test_prior_value_object():
    p = Prior("Normal", mu=6, sigma=3)
    assert p.to_dict() == {"dist": "Normal", "mu": 6.0, "sigma": 3.0}
    assert Prior.from_dict(p.to_dict()) == p and hash(p) == hash(Prior("Normal", sigma=3, mu=6))
    assert p.location_keys() == ("mu",)
    with pytest.raises(AttributeError):
        p.dist = "x"
    with pytest.raises(bs.laws.PriorError, match="not a number"):
        Prior("Normal", mu="a")


def test_prior_cards_parse_and_default_card_matches_code():
    from pathlib import Path

    from bayescale.laws import Noise, read_prior_card, resolve_priors

    cards = sorted((Path(__file__).resolve().parents[2] / "models").glob("*.toml"))
    assert cards
    for card in cards:
        law, priors = read_prior_card(card)
        resolve_priors(get_law(law), Noise("normal"), priors)
    law, priors = read_prior_card("chinchilla_default")  # by name, as an installed user would
    assert priors == resolve_priors(get_law(law), Noise("normal"), None)
    assert {c.stem for c in cards} <= set(bs.laws.list_prior_cards())


def test_missing_scale_declaration_is_caught_at_declaration():
    params = [Parameter("E", Prior("Normal", mu=0.5, sigma=1), 1.7, "floor", log=True),
              Parameter("A", Prior("Normal", mu=5, sigma=5), 50.0, "amp", log=True),  # no scale=
              Parameter("alpha", Prior("LogNormal", mu=-1, sigma=1), 0.3, "exponent")]

    def body(N, E, A, alpha):
        return E + A * N**-alpha

    with pytest.raises(LawError, match="changes when its inputs are rescaled"):
        bs.law(name="missing_scale_law", inputs=["N"], parameters=params)(body)
    assert "missing_scale_law" not in list_laws()
    no_pivot = bs.law(name="no_pivot_law", inputs=["N"], parameters=params, pivot=False, overwrite=True)(body)
    runs = bs.RunTable.from_dataframe(__import__("pandas").DataFrame(
        {"N": [1e8, 1e9, 1e10, 1e11], "D": [1e10] * 4, "loss": [3.0, 2.6, 2.3, 2.1]}))
    assert bs.inference.pivots(runs, no_pivot) == {"N": 1.0}


def test_cauchy_is_a_location_family_and_lognormal_is_not():
    assert Prior("Cauchy", alpha=6, beta=2).location_keys() == ("alpha",)
    assert Prior("LogNormal", mu=1, sigma=1).location_keys() == ()
    assert Prior("Uniform", lower=0, upper=1).location_keys() == ("lower", "upper")


def test_broken_power_law_slopes_on_either_side_of_the_break():
    bpl = get_law("broken_power_law")
    p = {"a": 0.0, "b": 10.0, "c0": 0.3, "c1": 0.4, "d1": 1e6, "f1": 0.2}

    def slope(x):
        return (np.log(bpl(D=x * 1.01, **p)) - np.log(bpl(D=x, **p))) / np.log(1.01)

    assert slope(1e2) == pytest.approx(-0.3, abs=1e-6)   # well before the break: -c0
    assert slope(1e10) == pytest.approx(-0.7, abs=1e-6)  # well after: -(c0 + c1)
    p["c1"] = 0.0  # no change of slope: a plain power law
    assert bpl(D=123.0, **p) == pytest.approx(10.0 * 123.0**-0.3, rel=1e-12)


def test_curve_laws_reduce_to_their_published_forms():
    ks = get_law("kaplan_steps")
    assert ks.inputs == ("N", "step")
    assert ks(N=1e9, step=1e30, **ks.example) == pytest.approx((6.5e13 / 1e9) ** 0.076, rel=1e-9)
    assert ks.on("N", "D").inputs == ("N", "D")
    m2 = get_law("m2")
    assert m2(D=1e4, e_inf=0.1, b=2.0, c_neg=0.5) == pytest.approx(0.1 + 2.0 / 100.0)

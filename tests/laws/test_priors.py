"""A prior checks its distribution's parameters when it is made, not deep inside PyMC or nutpie."""

import pymc as pm
import pytest

from bayescale.laws import Prior, PriorError
from bayescale.laws.priors import DISTRIBUTIONS, check_prior

BAD = {
    # the cases: each refused at construction, naming the culprit and the fix
    "sd for sigma": (("Normal", {"mu": 0.3, "sd": 0.1}), r"Normal takes \['mu', 'sigma'\]: missing \['sigma'\]; unknown \['sd'\]"),
    "Normal without sigma": (("Normal", {"mu": 0.3}), r"missing \['sigma'\]"),
    "negative sigma": (("HalfNormal", {"sigma": -0.1}), r"sigma=-0.1 must be > 0"),
    "zero scale": (("LogNormal", {"mu": 0.0, "sigma": 0.0}), r"sigma=0.0 must be > 0"),
    "Uniform lower > upper": (("Uniform", {"lower": 2.0, "upper": 1.0}), r"needs lower < upper"),
    "Uniform lower = upper": (("Uniform", {"lower": 1.0, "upper": 1.0}), r"needs lower < upper"),
    "misspelt family": (("Nromal", {"mu": 0.0, "sigma": 1.0}), r"'Nromal' is not a distribution priors accept"),
    "text value": (("Normal", {"mu": "zero", "sigma": 1.0}), r"mu='zero' is not a number"),
    "infinite value": (("Normal", {"mu": float("inf"), "sigma": 1.0}), r"must be a finite number"),
    "boolean value": (("HalfNormal", {"sigma": True}), r"sigma=True must be a finite number"),
    "Gamma in mu/sigma": (("Gamma", {"mu": 2.0, "sigma": 1.0}), r"Gamma takes \['alpha', 'beta'\]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_prior_is_refused_where_it_is_made(case):
    (dist, params), pattern = BAD[case]
    with pytest.raises(PriorError, match=pattern):
        Prior(dist, **params)


def test_every_accepted_distribution_is_pymcs_with_those_parameter_names():
    import inspect

    for dist, family in DISTRIBUTIONS.items():
        named = set(inspect.signature(getattr(pm, dist).dist).parameters)
        assert set(family.required + family.optional) <= named, dist  # PyMC would not swallow them silently
        ordered = {"lower": 0.0, "c": 1.0, "upper": 2.0}
        params = {k: ordered.get(k, 0.5) for k in family.required}
        assert check_prior(dist, params) == "", dist
        assert check_prior(dist, {**params, "tau": 1.0}).endswith("unknown ['tau']"), dist


def test_good_priors_keep_their_values():
    p = Prior("TruncatedNormal", mu=0.3, sigma=0.1, lower=0.0)
    assert p.params == {"mu": 0.3, "sigma": 0.1, "lower": 0.0}
    assert Prior("Triangular", lower=0, c=1, upper=2).params == {"lower": 0.0, "c": 1.0, "upper": 2.0}
    assert Prior("HalfFlat").params == {}

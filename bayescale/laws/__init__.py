"""What is fitted: scaling laws and observation models as small declarative objects (pure math, no
PyMC model), and the spec that joins them with their priors."""

from . import _ops as ops
from .base import Law, LawError, Parameter, get_law, law, list_laws, register
from .cards import PriorCard, PriorCardError, list_prior_cards, list_priors, load_prior_card, read_prior_card
from .curves import broken_power_law, curve_power, kaplan_smin, kaplan_steps, m2, m4
from .data_constrained import data_constrained
from .final import chinchilla, kaplan, kaplan_power, power_law
from .noise import Noise, NoiseError, Structure, list_noise, register_noise
from .priors import Prior, PriorError
from .schedule import annealing, multi_power
from .spec import ModelSpec, resolve_priors
from .transfer import loss_shift, loss_to_loss

__all__ = [
    "annealing",
    "multi_power",
    "broken_power_law",
    "curve_power",
    "data_constrained",
    "kaplan_smin",
    "kaplan_steps",
    "loss_shift",
    "loss_to_loss",
    "m2",
    "m4",
    "Law",
    "LawError",
    "ModelSpec",
    "Noise",
    "NoiseError",
    "Structure",
    "list_noise",
    "register_noise",
    "resolve_priors",
    "Parameter",
    "Prior",
    "PriorCard",
    "PriorCardError",
    "PriorError",
    "chinchilla",
    "get_law",
    "kaplan",
    "kaplan_power",
    "law",
    "list_laws",
    "list_prior_cards",
    "list_priors",
    "load_prior_card",
    "ops",
    "power_law",
    "read_prior_card",
    "register",
]

"""Loss-to-loss laws: the loss on another distribution as a function of the training-distribution loss.

A law here reads another loss column as its input (``"loss_to_loss:loss_validation"`` maps it), so
paired losses of small runs (each checkpoint's loss on the training distribution and on the other
set) predict a larger run's loss on the other set from its training loss, with an interval.

- ``loss_shift``: Kaplan et al. 2020 (section 3.2.2, fig. 8) found the loss on other text
  distributions to track the training loss with a roughly constant offset: ``L_y = L_x + c``.
- ``loss_to_loss``: Brandfonbrener et al. 2024 ("Loss-to-Loss Prediction: Scaling Laws for All
  Datasets", arXiv:2411.12925, eq. 3) fit a shifted power law between the reducible parts of the two
  losses, ``L_y = K (L_x - E_x)**kappa + E_y``, with E_x and E_y the two distributions'
  irreducible losses. ``kappa = 1, K = 1`` is a constant offset ``E_y - E_x``.
"""

from __future__ import annotations

from .base import Parameter, law
from .priors import Prior

__all__ = ["loss_shift", "loss_to_loss"]


@law(
    name="loss_shift",
    inputs={"Lx": "loss_x"},
    parameters=[
        Parameter("c", Prior("Normal", mu=0.0, sigma=1.0), 0.1,
                  "offset of the other distribution's loss (nats/token)"),
    ],
    reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models, section 3.2.2 (fig. 8)",
    formula="L_y(L_x) = L_x + c",
    min_distinct={"loss_x": 2},
    pivot=False,
)
def loss_shift(Lx, c):
    """L_y = L_x + c

    Lx: the loss of the same model on the training distribution (map its column:
    ``"loss_shift:loss_validation"``); L_y is the table's loss column.
    """
    return Lx + c


@law(
    name="loss_to_loss",
    inputs={"Lx": "loss_x"},
    parameters=[
        # irreducible losses of LM cross-entropy in nats/token sit near 1-2 (Chinchilla's E 1.69):
        # LogNormal(log 1.2, 0.4) puts 90% in 0.62-2.3; a draw above the smallest L_x has no
        # likelihood (L_x - E_x must be > 0), the data push E_x below it
        Parameter("Ex", Prior("LogNormal", mu=0.18, sigma=0.4), 1.5,
                  "irreducible loss on the training distribution (nats/token)"),
        Parameter("Ey", Prior("LogNormal", mu=0.18, sigma=0.4), 1.6,
                  "irreducible loss on the other distribution (nats/token)"),
        Parameter("K", Prior("Normal", mu=0.0, sigma=0.5), 1.1,
                  "ratio of reducible losses at L_x - E_x = 1 (dimensionless)", log=True),
        Parameter("kappa", Prior("LogNormal", mu=0.0, sigma=0.3), 1.0,
                  "exponent between the reducible losses (dimensionless; 1: proportional)"),
    ],
    reference=("Brandfonbrener et al. 2024, Loss-to-Loss Prediction: Scaling Laws for All Datasets, "
               "arXiv:2411.12925, eq. 3"),
    formula="L_y(L_x) = K * (L_x - E_x)**kappa + E_y",
    min_distinct={"loss_x": 5},
    pivot=False,
)
def loss_to_loss(Lx, Ex, Ey, K, kappa):
    """L_y = K * (L_x - E_x)**kappa + E_y

    A shifted power law between the reducible losses of two distributions. Lx: the loss of the same
    model on the training distribution (``"loss_to_loss:loss_validation"`` maps its column); it must
    exceed E_x.
    """
    return K * (Lx - Ex) ** kappa + Ey

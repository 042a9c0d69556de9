"""Shared fixtures: hand-built posteriors (no sampling), simulated run tables, shared data paths."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr

matplotlib.use("Agg")

import bayescale as bs  # noqa: E402
from bayescale.results.fit import Fit, make_attrs  # noqa: E402

SHARED = Path(os.environ.get("BAYESCALE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
EPOCH_RAW = SHARED / "raw" / "epoch_chinchilla_svg_extracted_data.csv"

CHINCHILLA_TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def shared_file(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared data not available at {path} (set BAYESCALE_SHARED_DATA)")
    return path


def isoflop_runs(law: str = "chinchilla", params: dict | None = None, *, noise_sd: float = 0.02,
                 budgets=(1e18, 6e18, 3e19, 1e20, 6e20, 3e21), factors=(0.2, 0.35, 0.6, 1.0, 1.7, 3.0, 5.0),
                 seed: int = 0) -> bs.RunTable:
    """Runs on an isoFLOP design (sizes around sqrt(C/120)), losses from a law x lognormal noise."""
    design = bs.runs.isoflop_design(budgets, factors)[["N", "D"]]
    return bs.runs.simulate_runs(law, design, params, noise_params={"sigma": noise_sd}, random_seed=seed)


def fake_fit(law: str, draws: dict[str, np.ndarray], runs: bs.RunTable | None = None, *,
             likelihood: str = "normal", noise: str = "iid", run_effects: tuple[str, ...] = (), seed: int = 3) -> Fit:
    """A Fit from posterior draws given by hand, shape (chain, draw) per natural parameter."""
    law_obj = bs.get_law(law)
    runs = runs if runs is not None else isoflop_runs(noise_sd=0.0) if law_obj.inputs == ("N", "D") else None
    post = xr.Dataset({k: (("chain", "draw"), np.asarray(v, dtype=float)) for k, v in draws.items()})
    post = post.assign_coords(chain=np.arange(post.sizes["chain"]), draw=np.arange(post.sizes["draw"]))
    tree = xr.DataTree.from_dict({"posterior": post})
    spec = bs.ModelSpec.build(law_obj, likelihood=likelihood, noise=noise, run_effects=run_effects)
    priors = spec.priors
    tree.attrs.update(make_attrs(version=bs.__version__, law=law_obj.name, law_spec=law_obj.spec,
                                 law_source_hash=law_obj.source_hash, likelihood=likelihood,
                                 priors={k: p.to_dict() for k, p in priors.items()},
                                 pivot={k: 1.0 for k in law_obj.inputs}, data_hash=runs.data_hash,
                                 sampler={"draws": post.sizes["draw"]}, random_seed=seed))
    return Fit(spec=spec, runs=runs, idata=tree, pivot={k: 1.0 for k in law_obj.inputs})


@pytest.fixture
def chinchilla_fake_fit() -> Fit:
    """Chinchilla posterior: 4 chains x 250 draws scattered around Hoffmann et al.'s values."""
    rng = np.random.default_rng(42)
    shape = (4, 250)
    draws = {k: v * np.exp(rng.normal(0, 0.02, shape)) for k, v in CHINCHILLA_TRUE.items()}
    draws["sigma"] = np.full(shape, 0.01)
    return fake_fit("chinchilla", draws)

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Training curves: where will a run end?
#
# Fit Kaplan et al.'s L(N, S) = (Nc/N)^aN + (Sc/S)^aS to the checkpoints of five runs, one of
# them stopped early, and forecast (a) where the stopped run would have ended and (b) the curve of
# a new run three times larger than any we trained.
#
# **The data here are simulated**, from the law at Kaplan et al.'s values with the noise that
# `bs.fit(..., noise="ar1")` models: a per-run offset (runs differ by seed, data order...) and
# residuals correlated along each run. Simulated data let us compare forecasts with the truth.
# Real curves (GPT-3, Clark et al. 2022, Li et al. 2025) are in `../shared/data`, with loaders
# in `benchmarks/curve_data.py` (`gpt3_val_curves()`, `clark_dense_curves()`, `misfitting_curves()`).

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayescale as bs

LAW = bs.get_law("kaplan_steps")
SIZES = np.geomspace(1e7, 1e9, 5)
STEPS = np.geomspace(300, 1e5, 20)
full = bs.runs.simulate_curves("kaplan_steps", sizes=SIZES, steps=STEPS, sigma=0.01, tau=0.02,
                               ell=0.5, random_seed=7)

# %% [markdown]
# Stop the largest run at 30% of its steps: we see its first 30,000 of 100,000 steps.

# %%
df = full.to_dataframe()
big = df.loc[df["N"] == SIZES[-1], "run"].iloc[0]
cut = df["run"].eq(big) & (df["step"] > 0.3 * STEPS[-1])
runs = full.filter(~cut.to_numpy())
print(runs)
print(f"run {big}: {int((~cut & df['run'].eq(big)).sum())} of {len(STEPS)} checkpoints kept")

# %% [markdown]
# ## Fit, twice
# `noise="ar1"` (the default for curves) knows that 20 checkpoints of one run are not 20
# independent runs; `noise="iid"` treats every checkpoint as independent. Small draws to keep
# the example quick: use the defaults (4 chains x 1000) for real work.

# %%
settings = dict(draws=500, tune=500, chains=2, random_seed=2024, progressbar=False)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bs.SamplerWarning)  # short chains: we show the diagnostics below
    fits = {noise: bs.fit(runs, "kaplan_steps", noise=noise, **settings) for noise in ("ar1", "iid")}
for noise, fit in fits.items():
    print(f"\n--- noise={noise}: {fit}")
    print(fit.summary(ci_prob=0.9).to_string(float_format="%.4g"))
print("\ntruth:", LAW.example)

# %% [markdown]
# ## Where would the stopped run have ended?
# The truth is the run's simulated loss at step 100,000 (its noise included) and the law's own
# value there (the run's offset not included).

# %%
observed_end = float(df.loc[df["run"].eq(big), "loss"].iloc[-1])
law_end = float(LAW(N=SIZES[-1], step=STEPS[-1], **LAW.example))
rows = []
for noise, fit in fits.items():
    f = bs.forecast_run(fit, run=big, at=STEPS[-1], ci_prob=0.9, random_seed=0).iloc[0]
    rows.append({"noise": noise, "median": f["median"], "lower": f["lower"], "upper": f["upper"],
                 "width": f["upper"] - f["lower"], "covers truth": f["lower"] <= observed_end <= f["upper"]})
print(pd.DataFrame(rows).to_string(index=False, float_format="%.4f"))
print(f"truth: simulated loss {observed_end:.4f}, law value {law_end:.4f}")

# %% [markdown]
# `noise="ar1"` forecasts from what this run has shown: its offset from the law and its last
# residual (which fades along the run). `noise="iid"` forecasts the law plus fresh noise, as if the
# run were anyone's. One simulated data set decides nothing about calibration: the curve
# benchmarks (`benchmarks/curves_*.py`) score interval coverage on real curves.

# %% [markdown]
# ## A new run, 3x larger than the largest
# A run that has not started gets a fresh run offset (sd `tau`) under `noise="ar1"`: its interval
# is wider than the stopped run's, whose offset the fit has already seen. `noise="iid"` has no
# run offset, only the per-checkpoint `sigma`.

# %%
N_new = 3 * SIZES[-1]
at = [1e4, 3e4, 1e5]
for noise, fit in fits.items():
    print(f"noise={noise}")
    print(bs.forecast_run(fit, N=N_new, at=at, random_seed=0).to_string(index=False, float_format="%.4g"))
print("law value:", np.round(LAW(N=np.full(3, N_new), step=np.array(at), **LAW.example), 4))

# %% [markdown]
# ## Pictures
# Each run's checkpoints, its fitted curve with a 90% band, and the stopped run's forecast.

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 5.5), sharey=True)
for ax, (noise, fit) in zip(axes, fits.items(), strict=True):
    bs.plots.plot_curves(fit, until={big: STEPS[-1]}, ax=ax, random_seed=0)
    ax.scatter(STEPS[-1], observed_end, marker="*", s=120, color="tab:red", zorder=5)
    ax.set_title(f"noise={noise}: the red star is where the stopped run really ended", fontsize=10)
fig.tight_layout()
fig.savefig("02_training_curves.png", dpi=110)
print("saved 02_training_curves.png")

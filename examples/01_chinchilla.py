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
# # Chinchilla, with honest uncertainty
#
# Fit L(N, D) = E + A/N^alpha + B/D^beta to the 240 runs of Hoffmann et al. (2022) as digitised
# by Besiroglu et al. (2024), check the fit, and read the loss of Chinchilla-70B
# (N = 7e10, D = 1.4e12) with a 90% credible interval.
#
# The data file is `svg_extracted_data.csv` from github.com/epoch-research/analyzing-chinchilla;
# bayescale checks its sha256. Point `EPOCH_CSV` at your copy, or let the loader fetch it
# (`download=True`) into `~/.cache/bayescale`.

# %%
import os
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt

import bayescale as bs

candidates = [os.environ.get("EPOCH_CSV"), "../shared/data/raw/epoch_chinchilla_svg_extracted_data.csv",
              "../../shared/data/raw/epoch_chinchilla_svg_extracted_data.csv"]
path = next((p for p in candidates if p and Path(p).is_file()), None)
runs = bs.datasets.load("chinchilla_epoch2024", path, download=path is None)
runs = runs.drop_highest_loss(5)  # as the replication did: 240 runs
print(runs)

# %% [markdown]
# ## Prior predictive check
# Do the default priors allow the losses we see, without being absurd?

# %%
prior = bs.sample_prior_predictive(runs, "chinchilla", likelihood="student_t", random_seed=0)
ax = bs.plots.plot_prior_predictive(prior)
ax.figure.savefig("01_prior_predictive.png")

# %% [markdown]
# ## Fit
# The Student-t likelihood on log loss is the robust choice, the Bayesian counterpart of the
# replication's Huber loss.

# %%
fit = bs.fit(runs, "chinchilla", likelihood="student_t", random_seed=2024)
fit.summary(ci_prob=0.95)

# %%
bs.diagnose(fit)  # R-hat, ESS, divergences, tree depth, E-BFMI: fit() warns when these are bad

# %% [markdown]
# ## Posterior predictive checks, residuals, LOO-PIT, the amplitude-exponent ridge

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
bs.plots.plot_ppc(fit, random_seed=1, ax=axes[0])
bs.plots.plot_loo_pit(fit, ax=axes[1])
fig.tight_layout()
fig.savefig("01_ppc_loo_pit.png", dpi=110)
bs.plots.plot_residuals(fit).savefig("01_residuals.png", dpi=110)
bs.plots.plot_pair(fit, random_seed=0).savefig("01_pair.png", dpi=90)
pc = az.plot_rank(fit.idata, var_names=["E", "alpha", "beta"])
pc.savefig("01_rank.png")

# %% [markdown]
# ## Which law? And does it extrapolate?
# `bs.compare` ranks laws by how well they predict one left-out run (PSIS-LOO); a backtest on the
# largest-compute runs is the check that matters for a bigger run.

# %%
kaplan = bs.fit(runs, "kaplan", likelihood="student_t", random_seed=2024)
cmp = bs.compare({"chinchilla": fit, "kaplan": kaplan})
print(cmp)
print("model-averaged:", bs.loss_interval(cmp, N=7e10, D=1.4e12, ci_prob=0.9).round(4).to_dict("records"))

# %%
bt = bs.backtest(runs, ["chinchilla", "kaplan"], holdout="largest_C",
                 fit_kwargs={"likelihood": "student_t", "random_seed": 1})
print(bt.scores().round(3).to_string())
bs.plots.plot_backtest(bt, relative=True).figure.savefig("01_backtest.png", dpi=110)

# %% [markdown]
# ## Chinchilla-70B
# `kind="mean"` is the law's loss at (N, D); `kind="new_run"` adds the run-to-run scatter the fit
# found, i.e. what one training run would report.

# %%
for kind in ("mean", "new_run"):
    print(kind, bs.loss_interval(fit, N=7e10, D=1.4e12, ci_prob=0.9, kind=kind).round(4).to_dict("records"))
print("P(loss < 1.95) =", bs.prob_below(fit, 1.95, N=7e10, D=1.4e12))

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5))
bs.plots.plot_fit(fit, ax=axes[0])
bs.plots.plot_extrapolation(fit, N=7e10, D=1.4e12, ax=axes[1])
fig.tight_layout()
fig.savefig("01_chinchilla.png", dpi=110)

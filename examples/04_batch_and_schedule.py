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
# # Batch size, the compute frontier, transfer, and learning-rate schedules
#
# Four questions beyond L(N, D), each answered with an interval:
#
# 1. **What batch size, how many steps?** Kaplan et al.'s critical batch size B_crit(L) and the
#    minimum steps S_min from a `kaplan_smin` fit.
# 2. **How fast does the loss fall along the compute-efficient frontier, and how should N grow with C?**
#    `bs.compute_frontier` from training curves.
# 3. **What will the loss be on another distribution?** `loss_to_loss` (Brandfonbrener et al. 2024)
#    from paired losses of small runs.
# 4. **What will this run's curve be under its learning-rate schedule?** The annealing law (Tissue
#    et al. 2024) and the multi-power law (Luo et al. 2025) read the schedule, so a fit on runs with some
#    schedules forecasts a run with another.
#
# **The data here are simulated** from each law at known values, so every answer can be checked
# against the truth, and the example runs in about two minutes on two cores. The same calls on real
# data are in `benchmarks/` (`batch_steplaw.py`, `batch_clark.py`, `frontier_clark.py`,
# `transfer_clark.py`, `mpl_luo.py`), with their results in `benchmarks/results/`.

# %%
import itertools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayescale as bs

QUICK = dict(draws=400, tune=400, chains=2, progressbar=False)
warnings.simplefilter("ignore", bs.SamplerWarning)  # diagnostics are printed below, per fit

# %% [markdown]
# ## 1. Critical batch size and S_min
# 80 final losses: 4 model sizes x 4 step counts x 5 batch sizes (tokens per step), from Kaplan et
# al.'s fitted values (B* = 2e8 tokens, alpha_B = 0.21). The batch size enters the law through
# S_min = S / (1 + B_crit(L) / B), solved inside the law.

# %%
smin = bs.get_law("kaplan_smin")
truth = dict(smin.example)
design = pd.DataFrame([{"N": n, "step": s, "B": b, "D": s * b} for n, s, b in itertools.product(
    np.geomspace(1e7, 1e9, 4), np.geomspace(1e3, 1e5, 4), np.geomspace(1e4, 1e8, 5))])
batch_runs = bs.runs.simulate_runs(smin, design, truth, noise_params={"sigma": 0.01}, random_seed=5)
batch_fit = bs.fit(batch_runs, "kaplan_smin", likelihood="normal", noise="iid", random_seed=6, **QUICK)
print(bs.diagnose(batch_fit))
print(batch_fit.summary(ci_prob=0.9).loc[["Bstar", "aB", "aN", "aS"]].iloc[:, :4].to_string())
print("truth:", {k: truth[k] for k in ("Bstar", "aB", "aN", "aS")})

# %% [markdown]
# What batch size and how many steps does a 1e9-parameter model need to reach a loss of 2.6 or 3.0,
# and how many steps at a batch of 2**20 tokens?

# %%
plan = bs.critical_batch_size(batch_fit, loss=[2.6, 3.0], N=1e9, B=2.0**20)
print(plan[["loss", "B_crit_median", "B_crit_lower", "B_crit_upper", "S_min_median", "S_median",
            "S_lower", "S_upper"]].to_string(float_format=lambda v: f"{v:.3g}"))

# %% [markdown]
# ## 2. The compute-efficient frontier
# Nine training curves of Kaplan et al.'s L(N, S) (with 2**19 tokens per step, so C = 6 N D per
# checkpoint). The envelope route takes the lowest loss at each compute and fits L = (C_c / C)**alpha_C
# (and L = E + A C**-alpha_C) to it; the model size that reaches the envelope gives N(C) ~ C**a.
# Kaplan et al. report alpha_C 0.050 and a 0.73 on their data; Hoffmann et al.'s a is 0.5.

# %%
curves = bs.runs.simulate_curves("kaplan_steps", sizes=np.geomspace(1e7, 1e9, 9),
                                 steps=np.geomspace(100, 1e5, 40), tokens_per_step=2.0**19, sigma=0.003,
                                 random_seed=0)
frontier = bs.compute_frontier(curves, random_seed=1, **QUICK)
print(frontier.exponents(0.9).round(4).to_string())
bs.plots.plot_frontier(frontier)
plt.show()

# %% [markdown]
# ## 3. Transfer to another distribution
# Thirty runs with their loss on the training distribution (`loss_x`) and on another set (`loss`).
# Fit `loss_to_loss` on the 25 smaller runs, then predict the other-set loss of the five largest from
# their training-set loss. As Brandfonbrener et al. do, the two irreducible losses come from each
# set's own scaling fit: here, priors near them.

# %%
rng = np.random.default_rng(0)
N = np.geomspace(2e7, 2e9, 30)
chin = bs.get_law("chinchilla")
loss_x = chin(N=N, D=20 * N, **chin.example)
t_truth = {"Ex": 1.69, "Ey": 1.95, "K": 1.3, "kappa": 0.85}
loss_y = bs.get_law("loss_to_loss")(loss_x=loss_x, **t_truth) * np.exp(rng.normal(0, 0.004, N.size))
paired = bs.RunTable.from_dataframe(pd.DataFrame({"N": N, "D": 20 * N, "loss": loss_y, "loss_x": loss_x}))
small = paired.filter(N < N[25])
transfer_fit = bs.fit(small, "loss_to_loss", noise="iid", random_seed=4, **QUICK,
                      priors={"Ex": bs.Prior("Normal", mu=1.69, sigma=0.02),
                              "Ey": bs.Prior("Normal", mu=1.95, sigma=0.02)})
pred = bs.loss_interval(transfer_fit, kind="new_run", ci_prob=0.9, ci_kind="eti", loss_x=loss_x[25:])
pred["truth"] = loss_y[25:]
print(pred.round(4).to_string())

# %% [markdown]
# ## 4. Curves under a learning-rate schedule
# A schedule is the learning rate at every step (`bs.Schedule.constant`, `.cosine`, `.wsd`,
# `.linear`, `.two_stage`, or `.from_steps` for a logged rate). `RunTable.with_schedules` turns each
# run's schedule into the columns schedule-aware laws read; `drop_warmup(schedule=True)` drops the
# checkpoints inside the warm-up, which these laws do not describe (a fit that keeps them warns).
# Three runs with constant, cosine and WSD schedules are simulated from the annealing law
# L = L0 + A S1**-alpha - C S2; a fourth, with a linear decay, is forecast from its schedule alone.

# %%
peak, total = 1e-3, 6000
train_schedules = {"constant": bs.Schedule.constant(peak, total, warmup=200),
                   "cosine": bs.Schedule.cosine(peak, 0.1 * peak, total, warmup=200),
                   "wsd": bs.Schedule.wsd(peak, 0.1 * peak, 4500, total, warmup=200)}
unseen = bs.Schedule.linear(peak, 0.05 * peak, total, warmup=200)
anneal = bs.get_law("annealing")
a_truth = {"L0": 2.8, "A": 0.6, "alpha": 0.5, "C": 0.4}
steps = np.arange(100, total + 1, 100)


def simulate(schedules, sigma=0.002, seed=0):
    rows, rng = [], np.random.default_rng(seed)
    for name, sched in schedules.items():
        f = sched.features(steps)
        loss = anneal(**{c: f[c] for c in anneal.inputs}, **a_truth) * np.exp(sigma * rng.normal(size=steps.size))
        rows += [(name, s, y) for s, y in zip(steps, loss, strict=True)]
    df = pd.DataFrame(rows, columns=["run", "step", "loss"])
    return bs.RunTable.from_dataframe(df, run="run", step="step", loss="loss", N=None).with_schedules(schedules)


sched_runs = simulate(train_schedules).drop_warmup(schedule=True)
print(sched_runs)
sched_fit = bs.fit(sched_runs, "annealing", random_seed=3, **{**QUICK, "draws": 1000, "tune": 1000})
print(bs.diagnose(sched_fit))

forecast = bs.forecast_run(sched_fit, at=steps[2:], schedule=unseen, ci_prob=0.9)
truth_curve = simulate({"linear": unseen}, sigma=0.0).to_dataframe().loss.to_numpy()[2:]
inside = np.mean((forecast.lower <= truth_curve) & (truth_curve <= forecast.upper))
print(f"unseen linear-decay schedule: median within {np.max(np.abs(forecast['median'] / truth_curve - 1)):.2%} "
      f"of the true curve; the 90% band holds {inside:.0%} of it")

fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, sched in {**train_schedules, "linear (forecast)": unseen}.items():
    ax_lr.plot(np.arange(1, total + 1), sched.lr, label=name)
ax_lr.set(xlabel="step", ylabel="learning rate", title="schedules")
ax_lr.legend()
for name, g in sched_runs.to_dataframe().groupby("run"):
    ax_loss.plot(g.step, g.loss, ".", ms=3, label=f"{name} (fitted)")
ax_loss.fill_between(forecast.step, forecast.lower, forecast.upper, alpha=0.3, color="k", label="forecast, 90%")
ax_loss.plot(forecast.step, truth_curve, "k-", lw=1, label="linear decay, truth")
ax_loss.set(xlabel="step", ylabel="loss", title="a new schedule, forecast", ylim=(2.85, 3.3))
ax_loss.legend(fontsize=8)
plt.show()

# %% [markdown]
# The multi-power law (`"multi_power"`) is fitted the same way; it sums the loss reduction of every
# drop of the rate, saturating with the area trained after it, and forecasts WSD and two-stage
# schedules better than the annealing law does on Luo et al.'s curves
# (`benchmarks/results/mpl_luo.md`), at the price of a slower fit.

"""``kaplan_smin`` beside ``kaplan_steps`` on Clark et al. 2022's dense training curves (issue 15, item 1b).

The curves (``curve_data.clark_dense_curves``: 13 ``Dense`` runs, N = ``dense_parameter_count``, loss =
``loss_validation`` every 10k steps, step 0 and one NaN row dropped) have no batch-size column. Every run
used the same batch: B = 256 sequences x 2048 tokens = 524,288 tokens per step (Clark et al. 2022, appendix:
all models trained for 250k steps, about 130B tokens; 250k x 524,288 = 1.31e11). This value comes from the
paper, not from the data: ``flops_per_step`` (the data's estimate of a forward step's FLOPs) divided by the
usual per-token forward FLOPs (2N plus attention) gives 0.6-1.3e6 tokens per step depending on the model
and on how embeddings are counted, the same order but no exact check (printed below).

Both laws are fitted with the default noise for curves (``ar1``: per-run offset + AR(1) along log step),
a normal likelihood as in ``curves_clark.py``, and the same sampler settings; aN and aS are reported beside
Kaplan et al. 2020's 0.076 and 0.76. With a single batch size, B* and alpha_B are identified only through
how S_min / S = 1 / (1 + B_crit(L) / B) changes as the loss falls along the curves: the table shows their
prior and posterior 90% intervals side by side.

Run from the repository root: ``python benchmarks/batch_clark.py``; writes
``benchmarks/results/batch_clark.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

import bayescale as bs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "batch_clark.md"
#: Tokens per step of every Clark et al. 2022 run: 256 sequences of 2048 tokens (the paper, not the data).
B_TOKENS = 256 * 2048
KAPLAN = {"aN": 0.076, "aS": 0.76, "Bstar": 2e8, "aB": 0.21}
Z90 = 1.6448536269514722


def with_batch(notes: list[str]) -> bs.RunTable:
    runs = cd.clark_dense_curves(notes=notes)
    df = runs.to_dataframe()
    df["B"] = float(B_TOKENS)
    per_fwd = 2 * df["N"] + 2 * df["num_blocks"] * 2048 * df["num_heads"] * df["kqv_size"]
    implied = (df["flops_per_step"] / per_fwd)[df["flop_increase"] == 1]
    notes.append(f"B = {B_TOKENS} tokens per step for every run (256 x 2048, Clark et al. 2022); "
                 f"flops_per_step / (2 N + 2 n_layer n_ctx d_attn) implies {implied.min():.3g}-{implied.max():.3g} "
                 "tokens per step over the plain runs: the same order, not an exact check")
    return bs.RunTable.from_dataframe(df, N="N", loss="loss", run="run", step="step",
                                      source="Clark dense, B = 256 x 2048 tokens")


def prior_interval(law: bs.laws.Law, name: str) -> str:
    """90% interval of a parameter's default prior, on the natural scale (Normal on log, or LogNormal)."""
    prior = law.parameter(name).prior
    mu, sigma = prior.params["mu"], prior.params["sigma"]
    return f"{np.exp(mu - Z90 * sigma):.3g} - {np.exp(mu + Z90 * sigma):.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    ap.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()
    notes: list[str] = []
    runs = with_batch(notes)
    print(runs, *notes, sep="\n", flush=True)
    smin = bs.get_law("kaplan_smin")
    rows, posteriors = [], []
    for law in ("kaplan_smin", "kaplan_steps"):
        fit, wall, warns = cd.timed_fit(runs, law, noise="ar1", likelihood=args.likelihood, draws=args.draws,
                                        tune=args.tune, chains=args.chains, random_seed=args.seed,
                                        **cd.sampler_kwargs(args))
        p = cd.param_table(fit, ci_prob=0.9).set_index("parameter")
        diag = fit.diagnostics()
        for name in ("aN", "aS", "Bstar", "aB"):
            if name not in p.index:
                continue
            rows.append({"law": law, "parameter": name, "median": p.loc[name, "median"],
                         "90% HDI": f"{p.loc[name, '90% HDI lower']:.4g} - {p.loc[name, '90% HDI upper']:.4g}",
                         "prior 90%": prior_interval(smin, name) if name in ("Bstar", "aB") else "",
                         "Kaplan et al. 2020": KAPLAN[name], "divergences": diag["divergences"],
                         "max R-hat": diag["max_r_hat"], "min ESS bulk": diag["min_ess_bulk"], "wall_s": wall})
        posteriors.append((f"{law}, noise=ar1", fit, warns))
        print(pd.DataFrame(rows[-4:]), *warns, sep="\n", flush=True)
    table = pd.DataFrame(rows)
    lines = cd.results_header("kaplan_smin and kaplan_steps on Clark et al. 2022's dense curves", started=started)
    lines += [
        f"Fits: noise ar1, {args.likelihood} likelihood on log loss, {cd.sampler_text(args)}; {len(runs)} checkpoints "
        f"of 13 Dense runs (steps 10k-249k). B = {B_TOKENS:,} tokens per step for every run (256 sequences x 2048 "
        "tokens, from Clark et al. 2022; the data has no batch-size column). Intervals: 90% HDI.", "",
        "Kaplan et al. 2020: aN 0.076, aS 0.76 (for L(N, S_min), Table 3), B* 2e8 tokens, alpha_B 0.21. With one batch "
        "size, B* and alpha_B are identified only weakly, through how S_min / S = 1 / (1 + B_crit(L) / B) changes as "
        "the loss falls along each curve: compare their posterior with the prior column; where the two are alike, "
        "the prior set them. `kaplan_steps` is the same law with S_min = S (B >> B_crit).", "",
        cd.md_table(table), "", "## Data handling", "", *[f"- {n}" for n in notes], "",
    ]
    cd.finish_results(lines, posteriors, out=OUT, quick=args.quick)


if __name__ == "__main__":
    main()

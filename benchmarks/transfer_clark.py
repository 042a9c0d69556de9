"""Transfer to other distributions on Clark et al. 2022's dense runs: the largest model's losses on five
other sets predicted from its validation loss (issue 15, item 3).

For each other distribution y (C4, the curation corpus, LAMBADA, the Pile, WikiText-103): a curve table
of the 13 ``Dense`` runs (``curve_data.clark_dense_curves``; loss = ``loss_<y>``, the validation loss
kept as the law's input), fitted on every run but the largest (1.3B, hyper_id 5) with ``loss_shift``
(Kaplan et al.'s constant offset) and ``loss_to_loss`` (Brandfonbrener et al.'s shifted power law), each
with the default noise for curves (``ar1``: per-run offset + AR(1) along log step, normal). The largest
run's checkpoints are then predicted from its validation losses: a new run's loss
(``kind="new_run"``), scored by the absolute relative error of the median and the coverage of the
50% and 90% equal-tailed intervals over its checkpoints, with the interval width.

Run from the repository root: ``python benchmarks/transfer_clark.py``; writes
``benchmarks/results/transfer_clark.md`` (not with ``--quick``).
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
OUT = ROOT / "benchmarks" / "results" / "transfer_clark.md"
TARGETS = ("c4", "curation_corpus", "lambada", "pile", "wikitext103")
LAWS = ("loss_shift", "loss_to_loss")
LARGEST = 5  # hyper_id of the 1.3B run, the only run of its size


def target_table(base: bs.RunTable, y: str, notes: list[str]) -> bs.RunTable:
    df = base.to_dataframe()
    col = f"loss_{y}"
    missing = df[col].isna()
    if missing.any():
        notes.append(f"{y}: {int(missing.sum())} checkpoint(s) without a {col} value dropped")
    df = df[~missing].rename(columns={"loss": "loss_validation"}).rename(columns={col: "loss"})
    return bs.RunTable.from_dataframe(df, N="N", loss="loss", run="run", step="step",
                                      source=f"Clark dense, {col}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()
    notes: list[str] = []
    base = cd.clark_dense_curves(notes=notes)
    rows, posteriors, panels = [], [], {}
    for y in TARGETS:
        runs = target_table(base, y, notes)
        held = (runs.to_dataframe()["run"] == LARGEST).to_numpy()
        train, test = runs.filter(~held), runs.filter(held)
        lx = test.column("loss_validation")
        for name in LAWS:
            fit, wall, warns = cd.timed_fit(train, f"{name}:loss_validation", noise="ar1", draws=args.draws,
                                            tune=args.tune, chains=args.chains, random_seed=args.seed,
                                            **cd.sampler_kwargs(args))
            draws = bs.analysis.loss_draws(fit, kind="new_run", loss_validation=lx, random_seed=args.seed)
            s = cd.score_draws(draws, test.loss, ci_probs=(0.5, 0.9))
            panels.setdefault(y, {"train": (train.column("loss_validation"), train.loss),
                                  "test": (lx, test.loss)})[name] = s
            rows.append({"distribution": y, "law": name, "checkpoints": len(s), "ARE": s["rel_err"].mean(),
                         "worst RE": s["rel_err"].max(), "cov50": s["in_0.5"].mean(), "cov90": s["in_0.9"].mean(),
                         "width90 (rel.)": ((s["upper_0.9"] - s["lower_0.9"]) / s["median"]).mean(),
                         "sampler warnings": len(warns), "fit s": wall})
            posteriors.append((f"{name}, {y}", fit, warns))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    pooled = table.groupby("law").apply(lambda t: pd.Series({
        "ARE": np.average(t["ARE"], weights=t["checkpoints"]), "cov50": np.average(t["cov50"], weights=t["checkpoints"]),
        "cov90": np.average(t["cov90"], weights=t["checkpoints"]),
        "width90 (rel.)": np.average(t["width90 (rel.)"], weights=t["checkpoints"])}), include_groups=False)
    lines = cd.results_header("Transfer to other distributions: Clark et al. 2022 dense runs", started=started)
    lines += [f"Fitted on the 12 runs below 1.3B, predicting the 1.3B run (hyper_id {LARGEST}) on each other "
              f"distribution from its validation loss; noise ar1 (normal); {cd.sampler_text(args)}. "
              "ARE: mean |median - observed| / observed over the run's checkpoints; coverage of the new-run "
              "50%/90% equal-tailed intervals; width90 relative to the median.", ""]
    lines += [f"Note: {n}" for n in notes] + [""]
    lines += ["## Per distribution", "", cd.md_table(table), "", "## Pooled over the five distributions", "",
              cd.md_table(pooled.reset_index()), ""]
    cd.finish_results(lines, posteriors, out=OUT, quick=args.quick)
    if not args.quick:
        plot(panels, OUT.with_suffix(".png"))


def plot(panels: dict, path: Path) -> None:
    """Per distribution: the smaller runs' paired losses (grey), the 1.3B run's (black) and each law's
    median and 90% band for it, against the validation loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), constrained_layout=True)
    for ax, (y, p) in zip(axes, panels.items(), strict=True):
        ax.plot(*p["train"], ".", color="0.7", ms=3, label="smaller runs (fitted)")
        lx, ly = (np.asarray(v, dtype=float) for v in p["test"])
        order = np.argsort(lx)
        for name, colour in zip(LAWS, ("tab:orange", "tab:blue"), strict=True):
            s = p[name]
            ax.fill_between(lx[order], s["lower_0.9"].to_numpy()[order], s["upper_0.9"].to_numpy()[order],
                            color=colour, alpha=0.25, lw=0)
            ax.plot(lx[order], s["median"].to_numpy()[order], color=colour, lw=1.2, label=f"{name} (90% band)")
        ax.plot(lx, ly, "k.", ms=4, label="1.3B run (held out)")
        ax.set(title=y, xlabel="validation loss", ylabel=f"loss on {y}")
    axes[0].legend(fontsize=7)
    fig.suptitle("Clark et al. dense runs: the 1.3B run's loss on other sets from its validation loss")
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Which law do the Epoch Chinchilla points prefer, and what does the model-averaged interval for
Chinchilla-70B look like?

Fits ``chinchilla`` and ``kaplan`` with the normal and the Student-t likelihood to the 240 Epoch points
(Besiroglu et al. 2024's digitisation of Hoffmann et al. Fig. 4, 5 highest-loss points dropped), ranks
them with ``bs.compare`` (PSIS-LOO, stacking weights) and reports each fit's and the stacked mixture's
90% interval at N = 7e10, D = 1.4e12 (Chinchilla-70B; its published loss is not in the data).

Run from the repository root: ``python benchmarks/compare_epoch.py``; writes
``benchmarks/results/compare_epoch.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

import bayescale as bs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curve_data import md_table, results_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw" / "epoch_chinchilla_svg_extracted_data.csv"
CHINCHILLA_70B = {"N": 7e10, "D": 1.4e12}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer draws; do not write results")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.tune = 300, 300
    runs = bs.datasets.load("chinchilla_epoch2024", RAW).drop_highest_loss(5)
    fits, warned = {}, {}
    for law in ("chinchilla", "kaplan"):
        for lik in ("normal", "student_t"):
            name = f"{law}/{lik}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", bs.SamplerWarning)
                fits[name] = bs.fit(runs, law, likelihood=lik, draws=args.draws, tune=args.tune, chains=4,
                                    random_seed=args.seed, progressbar=False)
            warned[name] = [str(w.message) for w in caught if issubclass(w.category, bs.SamplerWarning)]
            print(name, bs.diagnose(fits[name]), flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.analysis.ParetoKWarning)
        cmp = bs.compare(fits)
    k_warnings = [str(w.message) for w in caught if issubclass(w.category, bs.analysis.ParetoKWarning)]
    table = cmp.table.reset_index(names="fit")[["fit", "rank", "elpd", "se", "elpd_diff", "dse", "p", "weight",
                                                "n_high_k"]]
    rows = []
    for name, f in {**fits, "stacked mixture": cmp}.items():
        for kind in ("mean", "new_run"):
            ci = bs.loss_interval(f, ci_prob=0.9, ci_kind="eti", kind=kind, **CHINCHILLA_70B).iloc[0]
            rows.append({"fit": name, "kind": kind, "median": ci["median"], "lower 5%": ci["lower"],
                         "upper 95%": ci["upper"]})
    diag = pd.DataFrame([{"fit": k, **{c: v for c, v in bs.diagnose(f).to_dict().items()
                                       if c in ("divergences", "max_r_hat", "min_ess_bulk", "mean_tree_depth")}}
                         for k, f in fits.items()])
    lines = results_header("Comparing laws on the Epoch Chinchilla points (240 runs)")
    lines += [f"4 chains x {args.draws} draws ({args.tune} tuning), seed {args.seed}, nutpie. "
              "elpd is of log loss (PSIS-LOO); weights by stacking.", "",
              "## Ranking (`bs.compare`)", "", md_table(table), ""]
    lines += [f"Pareto-k warning: {w}" for w in k_warnings] + ([""] if k_warnings else [])
    lines += ["## 90% equal-tailed interval at Chinchilla-70B (N = 7e10, D = 1.4e12)", "",
              "`mean`: the law's loss; `new_run`: what one run would report (adds the fitted run-to-run noise). "
              "The stacked mixture draws from each fit in proportion to its weight.", "",
              md_table(pd.DataFrame(rows)), "", "## Sampler", "", md_table(diag), ""]
    for k, ws in warned.items():
        lines += [f"Sampler warning ({k}): {w}" for w in ws]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        (ROOT / "benchmarks" / "results" / "compare_epoch.md").write_text(text)


if __name__ == "__main__":
    main()

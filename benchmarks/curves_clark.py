"""Kaplan's L(N, S) on Clark et al. 2022's dense training curves: exponents beside Kaplan's.

Fits ``kaplan_steps`` (L = (Nc/N)**aN + (Sc/S)**aS, S = optimiser step) to the ``Dense`` runs
of ``deepmind_routing_clark2022_curves.csv`` (``curve_data.clark_dense_curves``: N =
``dense_parameter_count``, loss = ``loss_validation``, step 0 and the NaN row dropped), with
``noise="ar1"`` and ``noise="iid"``, and prints the medians and 94% HDIs of aN and aS next to
Kaplan et al. 2020's aN = 0.076, aS = 0.76. A comparison, not a test: Kaplan's S is S_min (steps
at the critical batch size) and his N excludes embeddings; Clark's runs use a fixed batch.

Also fits the 8 of the 13 ``Dense`` runs with ``flop_increase == 1``: the other 5 share an N
with a plain run but spend 2x or 4x its FLOPs (see ``clark_dense_curves``).

Run from the repository root: ``python benchmarks/curves_clark.py``; writes
``benchmarks/results/curves_clark.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curve_data as cd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "curves_clark.md"
KAPLAN = {"aN": 0.076, "aS": 0.76, "Nc": 6.5e13, "Sc": 2.1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cd.add_run_args(ap)
    ap.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    ap.add_argument("--no-plain", action="store_true", help="skip the fits on the 8 flop_increase == 1 runs")
    args = ap.parse_args()
    cd.apply_quick(args)
    started = dt.datetime.now()

    notes: list[str] = []
    runs = cd.clark_dense_curves(notes=notes)
    plain = runs.filter(runs.column("flop_increase") == 1)
    tables = {"all 13 Dense runs": runs}
    if not args.no_plain:
        tables["8 runs with flop_increase 1"] = plain

    rows, fits = [], {}
    for label, table in tables.items():
        for noise in ("ar1", "iid"):
            print(f"-- {label}, noise={noise}: {table}", flush=True)
            fit, wall, warns = cd.timed_fit(table, "kaplan_steps", noise=noise, likelihood=args.likelihood,
                                            draws=args.draws, tune=args.tune, chains=args.chains,
                                            random_seed=args.seed, **cd.sampler_kwargs(args))
            p = cd.param_table(fit).set_index("parameter")
            diag = fit.diagnostics()
            row = {"runs": label, "checkpoints": len(table), "noise": noise}
            for name in ("aN", "aS"):
                row[f"{name} median"] = p.loc[name, "median"]
                row[f"{name} 94% HDI"] = f"{p.loc[name, '94% HDI lower']:.4g} - {p.loc[name, '94% HDI upper']:.4g}"
                row[f"{name} Kaplan"] = KAPLAN[name]
            row.update({"divergences": diag["divergences"], "max R-hat": diag["max_r_hat"],
                        "min ESS bulk": diag["min_ess_bulk"], "wall_s": wall})
            rows.append(row)
            fits[(label, noise)] = (fit, warns)
            print(row, *warns, sep="\n", flush=True)

    lines = cd.results_header("kaplan_steps on Clark et al. 2022's dense curves", started=started)
    lines += [
        f"Fit: `kaplan_steps` (S = step), {args.likelihood} likelihood on log loss, "
        f"{cd.sampler_text(args)}. N = `dense_parameter_count`, "
        "loss = `loss_validation`, steps 10k-249k. Kaplan et al. 2020, L(N, S_min): aN 0.076, "
        "aS 0.76. A comparison, not a test: Kaplan's S is S_min, steps at the critical batch size, and "
        "his N excludes embeddings; these runs use one fixed batch size.", "",
        cd.md_table(pd.DataFrame(rows)), "",
        "## Data handling", "",
        *[f"- {n}" for n in notes], "",
    ]
    posteriors = [(f"{label}, noise={noise}", fit, warns) for (label, noise), (fit, warns) in fits.items()]
    cd.finish_results(lines, posteriors, out=OUT, quick=args.quick)


if __name__ == "__main__":
    main()

"""Cost of one gradient inside nutpie: the model compiled once with ``pm.Data`` (shared) against
the same model compiled with this table's data as constants (``freeze_dims_and_data``), on the
200 x 500 curve table of ``curves_hierarchical.py`` (issue 16; ``samplers.CONSTANT_DATA_ROWS``).

Each variant samples one chain of 30 + 30 draws on one core; the time over the leapfrog steps it
took (warm-up included) is the cost per gradient, sampler overhead included. Run from the
repository root: ``python benchmarks/constant_data.py`` (both configurations; prints a table).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import nutpie
    from pymc.model.transform.optimization import freeze_dims_and_data

    import curves_hierarchical as ch
    from bayescale.inference.model import build, model_data, pivots
    from bayescale.laws.spec import ModelSpec

    print("| config | data | leapfrog steps | seconds | ms per gradient |")
    print("|---|---|---|---|---|")
    for config in ("offsets", "run-effects"):
        runs, _ = ch.simulate(config, 200, 500, 2026)
        cfg = ch.CONFIGS[config]
        spec = ModelSpec.build(cfg["law"], runs=runs, noise="ar1", run_effects=cfg["fit"].get("run_effects", ()),
                               parameterization="centered", likelihood="normal")
        model = build(spec, model_data(runs, spec, pivot=pivots(runs, spec.law)))
        for name, m in (("pm.Data", model), ("constants", freeze_dims_and_data(model))):
            compiled = nutpie.compile_pymc_model(m, var_names=[rv.name for rv in m.free_RVs])
            t0 = time.perf_counter()
            idata = nutpie.sample(compiled, draws=30, tune=30, chains=1, cores=1, seed=1, progress_bar=False,
                                  save_warmup=True)
            wall = time.perf_counter() - t0
            steps = int(idata.warmup_sample_stats["n_steps"].sum() + idata.sample_stats["n_steps"].sum())
            print(f"| {config} | {name} | {steps} | {wall:.1f} | {wall / steps * 1e3:.2f} |", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

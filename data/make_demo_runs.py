"""Simulate the demo run table shipped with bayescale (``data/demo_runs.csv``).

SIMULATED DATA. Losses come from Hoffmann et al. 2022's published Chinchilla law,
L(N, D) = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28, on an isoFLOP design like theirs: seven
compute budgets from 6e18 to 6e21 FLOPs, seven model sizes per budget spread by factors of
1/4 to 4 around the Chinchilla rule N_opt = sqrt(C / 120), D = C / (6 N). Each loss is multiplied
by exp(eps), eps ~ Normal(0, 0.01) (1% multiplicative noise), seed 20221129.

Run from the repository root: ``python data/make_demo_runs.py``. It writes the table here and
the identical copy the package carries (``bayescale/data/demo_runs.csv``).
"""

from pathlib import Path

import pandas as pd

from bayescale.runs import isoflop_design, simulate_runs

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = [6e18, 2e19, 6e19, 2e20, 6e20, 2e21, 6e21]
SIZE_FACTORS = [0.25, 0.4, 0.63, 1.0, 1.6, 2.5, 4.0]
NOISE_SD = 0.01
SEED = 20221129


def simulate() -> pd.DataFrame:
    design = isoflop_design(BUDGETS, SIZE_FACTORS, round_sizes=True)  # sizes as a lab would report them
    design.insert(0, "run", [f"c{C:.0e}-n{N:.2e}".replace("+", "") for C, N in zip(design.C, design.N, strict=True)])
    runs = simulate_runs("chinchilla", design, TRUE, noise_params={"sigma": NOISE_SD}, random_seed=SEED)
    df = runs.to_dataframe()[["run", "N", "D", "C", "loss"]]
    df["D"] = df["D"].map(lambda x: float(f"{x:.6g}"))
    df["loss"] = df["loss"].round(5)
    return df


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    df = simulate()
    for out in (root / "data" / "demo_runs.csv", root / "bayescale" / "data" / "demo_runs.csv"):
        df.to_csv(out, index=False)
        print(f"wrote {len(df)} runs to {out}")

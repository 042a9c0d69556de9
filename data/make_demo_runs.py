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

import numpy as np
import pandas as pd

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = [6e18, 2e19, 6e19, 2e20, 6e20, 2e21, 6e21]
SIZE_FACTORS = [0.25, 0.4, 0.63, 1.0, 1.6, 2.5, 4.0]
NOISE_SD = 0.01
SEED = 20221129


def simulate() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    rows = []
    for C in BUDGETS:
        n_opt = np.sqrt(C / 120.0)
        for f in SIZE_FACTORS:
            N = float(f"{n_opt * f:.3g}")  # sizes as a lab would report them
            D = C / (6.0 * N)
            mean = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
            rows.append({"run": f"c{C:.0e}-n{N:.2e}".replace("+", ""), "N": N, "D": D, "C": C,
                         "loss": mean * np.exp(rng.normal(0.0, NOISE_SD))})
    df = pd.DataFrame(rows)
    df["D"] = df["D"].map(lambda x: float(f"{x:.6g}"))
    df["loss"] = df["loss"].round(5)
    return df


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    df = simulate()
    for out in (root / "data" / "demo_runs.csv", root / "bayescale" / "data" / "demo_runs.csv"):
        df.to_csv(out, index=False)
        print(f"wrote {len(df)} runs to {out}")

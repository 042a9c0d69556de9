import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.runs import (
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    NonPositiveError,
    RunTableError,
    TooFewSizesError,
)


def runs_df(**overrides):
    df = pd.DataFrame({
        "params": [1e8, 2e8, 4e8, 8e8, 1.6e9],
        "tokens": [2e9, 4e9, 8e9, 1.6e10, 3.2e10],
        "loss": [3.3, 3.1, 2.9, 2.75, 2.6],
        "lr": [3e-4] * 5,
    })
    for k, v in overrides.items():
        df[k] = v
    return df


def test_mapping_derives_C_and_keeps_extras():
    df = runs_df()
    before = df.copy(deep=True)
    runs = bs.RunTable.from_dataframe(df, N="params", D="tokens")
    pd.testing.assert_frame_equal(df, before)  # caller's frame untouched
    np.testing.assert_allclose(runs.C, 6 * df.params * df.tokens)
    assert runs.derived == {"C": "6 N D"}
    assert list(runs.to_dataframe().columns) == ["N", "D", "C", "loss", "lr"]
    with pytest.raises(ValueError):
        runs.N[0] = 1.0  # read-only view


def test_D_from_C():
    df = pd.DataFrame({"N": [1e8, 1e9, 1e10], "C": [6e18, 6e19, 6e20], "loss": [3.0, 2.5, 2.2]})
    runs = bs.RunTable.from_dataframe(df)
    np.testing.assert_allclose(runs.D, [1e10, 1e10, 1e10])
    assert runs.derived == {"D": "C / (6 N)"}


def test_both_D_and_C_kept_as_given():
    df = pd.DataFrame({"N": [1e8, 1e9, 1e10], "D": [1e10] * 3, "C": [7e18, 7e19, 7e20], "loss": [3.0, 2.5, 2.2]})
    runs = bs.RunTable.from_dataframe(df)
    np.testing.assert_array_equal(runs.C, df.C)
    assert runs.derived == {}


def test_missing_column_names_it():
    with pytest.raises(MissingColumnError, match=r"column 'N' \(for N\) not found.*'params'.*Pass N="):
        bs.RunTable.from_dataframe(runs_df(), D="tokens")
    with pytest.raises(MissingColumnError, match=r"column 'size' \(for N\) not found"):
        bs.RunTable.from_dataframe(runs_df(), N="size", D="tokens")
    with pytest.raises(MissingColumnError, match="neither tokens D nor compute C"):
        bs.RunTable.from_dataframe(runs_df(), N="params")


def test_non_numeric_names_column_and_rows():
    df = runs_df(loss=[3.3, "abc", 2.9, "n/a", 2.6])
    with pytest.raises(NonNumericError, match=r"column 'loss'.*rows 1 \('abc'\), 3 \('n/a'\)"):
        bs.RunTable.from_dataframe(df, N="params", D="tokens")


def test_nan_and_inf_name_column_and_rows():
    df = runs_df(tokens=[2e9, np.nan, 8e9, np.inf, 3.2e10])
    with pytest.raises(NonFiniteError, match=r"column 'tokens'.*rows 1 \(nan\), 3 \(inf\)"):
        bs.RunTable.from_dataframe(df, N="params", D="tokens")


def test_non_positive_names_column_and_rows():
    df = runs_df(params=[1e8, 0.0, 4e8, -8e8, 1.6e9])
    with pytest.raises(NonPositiveError, match=r"column 'params' must be > 0.*rows 1 \(0.0\), 3 \(-800000000.0\)"):
        bs.RunTable.from_dataframe(df, N="params", D="tokens")


def test_too_few_sizes_names_input_and_count():
    df = runs_df(params=[1e8, 1e8, 4e8, 4e8, 4e8])
    runs = bs.RunTable.from_dataframe(df, N="params", D="tokens")
    with pytest.raises(TooFewSizesError, match=r"at least 3 distinct values of N.*has 2"):
        runs.check_law(bs.get_law("chinchilla"))
    with pytest.raises(TooFewSizesError):
        bs.inference.build_model(runs, "chinchilla")


def test_error_rows_use_caller_index_and_csv_source(tmp_path):
    path = tmp_path / "runs.csv"
    runs_df(loss=[3.3, 3.1, -1.0, 2.75, 2.6]).to_csv(path, index=False)
    with pytest.raises(NonPositiveError, match=r"'loss' in .*runs.csv must be > 0.*row 2 \(-1.0\)"):
        bs.RunTable.from_csv(path, N="params", D="tokens")


def test_canonical_name_collision_is_an_error():
    df = runs_df()
    df["N"] = 1.0
    with pytest.raises(RunTableError, match="'N'.*would be overwritten"):
        bs.RunTable.from_dataframe(df, N="params", D="tokens")


def test_run_ids_filter_and_drop_highest():
    df = runs_df(name=list("abcde"))
    runs = bs.RunTable.from_dataframe(df, N="params", D="tokens", run="name")
    assert list(runs.run_ids) == list("abcde")
    top2 = runs.drop_highest_loss(2)
    assert sorted(top2.loss) == [2.6, 2.75, 2.9]
    assert len(runs.filter(runs.N > 2e8)) == 3
    assert runs.data_hash != top2.data_hash
    assert runs.data_hash == bs.RunTable.from_dataframe(df, N="params", D="tokens", run="name").data_hash


def test_demo_table_is_the_generated_one():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_demo_runs", root / "data" / "make_demo_runs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shipped = pd.read_csv(root / "data" / "demo_runs.csv")
    pd.testing.assert_frame_equal(shipped, mod.simulate(), check_exact=False, rtol=1e-12)
    package_copy = root / "bayescale" / "data" / "demo_runs.csv"
    assert (root / "data" / "demo_runs.csv").read_bytes() == package_copy.read_bytes()
    assert len(bs.load_demo_runs()) == len(shipped)

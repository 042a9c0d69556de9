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
    with pytest.raises(MissingColumnError, match=r"column 'N' \(for N\) not found.*'params'.*Map it: N=.*--map N="):
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


def _write(path, df):
    df.to_csv(path, index=False)
    return path


def test_csv_errors_name_the_line_in_the_file_and_the_table_counts_rows_from_0(tmp_path):
    path = tmp_path / "runs.csv"
    runs_df(loss=[3.3, 3.1, -1.0, 2.75, 2.6]).to_csv(path, index=False)
    with pytest.raises(NonPositiveError, match=r"'loss' in .*runs.csv must be > 0.*line 4 \(-1.0\)"):
        bs.RunTable.from_csv(path, N="params", D="tokens")  # header on line 1, the third run on line 4
    ok = bs.RunTable.from_csv(_write(path, runs_df()), N="params", D="tokens")
    assert ok.to_dataframe().index.tolist() == list(range(len(runs_df())))


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

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("make_demo_runs", root / "data" / "make_demo_runs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shipped = pd.read_csv(root / "data" / "demo_runs.csv")
    pd.testing.assert_frame_equal(shipped, mod.simulate(), check_exact=False, rtol=1e-12)
    package_copy = root / "bayescale" / "data" / "demo_runs.csv"
    assert (root / "data" / "demo_runs.csv").read_bytes() == package_copy.read_bytes()
    assert len(bs.load_demo_runs()) == len(shipped)


def test_type_and_structure_errors():
    with pytest.raises(NonNumericError, match=r"'params'.*row 1 \(True\)"):
        bs.RunTable.from_dataframe(runs_df(params=[1e8, True, 4e8, 8e8, 1.6e9]), N="params", D="tokens")
    with pytest.raises(NonNumericError, match="'params' .*datetime64"):
        bs.RunTable.from_dataframe(runs_df(params=pd.date_range("2024", periods=5)), N="params", D="tokens")
    with pytest.raises(RunTableError, match="duplicate column names.*'loss'"):
        bs.RunTable.from_dataframe(pd.concat([runs_df(), runs_df()[["loss"]]], axis=1), N="params", D="tokens")
    with pytest.raises(RunTableError, match="no rows"):
        bs.RunTable.from_dataframe(runs_df().iloc[:0], N="params", D="tokens")
    with pytest.raises(NonPositiveError, match="'loss'"):
        bs.RunTable(pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, 1e9], "C": [1.0, 1.0], "loss": [3.0, -1.0]}))


def test_run_column_detected_and_extras_keep_dtype():
    df = runs_df(run=list("abcde"), tag=pd.Categorical(list("xxyyz")), seen=pd.array([1, 2, None, 4, 5], "Int64"))
    runs = bs.RunTable.from_dataframe(df, N="params", D="tokens")
    assert list(runs.run_ids) == list("abcde")
    out = runs.to_dataframe()
    assert isinstance(out["tag"].dtype, pd.CategoricalDtype) and str(out["seen"].dtype) == "Int64"


def test_user_law_input_columns_are_validated():
    from bayescale.laws import Parameter, Prior

    @bs.law(name="test_extra_input_law", inputs=["S"], overwrite=True, parameters=[
        Parameter("E", Prior("Normal", mu=0.5, sigma=1), 1.5, "floor", log=True),
        Parameter("A", Prior("Normal", mu=3, sigma=3), 20.0, "amp", log=True, scale={"S": "alpha"}),
        Parameter("alpha", Prior("LogNormal", mu=-1, sigma=1), 0.2, "exponent")])
    def extra_input_law(S, E, A, alpha):
        return E + A * S**-alpha

    runs = bs.RunTable.from_dataframe(runs_df(S=[1e3, np.nan, 1e5, -5.0, 1e7]), N="params", D="tokens")
    with pytest.raises(NonFiniteError, match=r"column 'S'.*row 1"):
        runs.check_law(extra_input_law)


def test_drop_highest_bounds_and_csv_source(tmp_path):
    runs = bs.RunTable.from_dataframe(runs_df(), N="params", D="tokens")
    with pytest.raises(ValueError, match=r"k must be in \[0, 5\)"):
        runs.drop_highest_loss(7)
    path = tmp_path / "r.csv"
    runs_df().to_csv(path, index=False)
    assert bs.RunTable.from_csv(path, N="params", D="tokens", source="my runs").source == "my runs"


def curve_df(**overrides):
    df = pd.DataFrame({"Seen Examples": [1e6, 1e7, 1e8, 1e9, 1e10, 1e11],
                       "Loss": [0.95, 0.90, 0.62, 0.35, 0.24, 0.21]})
    for k, v in overrides.items():
        df[k] = v
    return df


def test_one_input_learning_curve_without_N():
    df = curve_df()
    before = df.copy(deep=True)
    runs = bs.RunTable.from_dataframe(df, N=None, D="Seen Examples", loss="Loss")
    pd.testing.assert_frame_equal(df, before)
    assert list(runs.to_dataframe().columns) == ["D", "loss"] and runs.derived == {}
    np.testing.assert_array_equal(runs.D, df["Seen Examples"])
    with pytest.raises(MissingColumnError, match=r"no column 'C' \(a table of one-input learning curves"):
        _ = runs.C  # C = 6 N D cannot be derived without N
    with pytest.raises(MissingColumnError, match=r"no column 'N' \(.*built with N=None"):
        _ = runs.N
    assert repr(runs) == "<RunTable: 6 runs, no N, D 1e+06-1e+11>"
    for spec in ("m2", "m4", "broken_power_law", "power_law:D"):
        runs.check_law(bs.get_law(spec))
    with pytest.raises(MissingColumnError, match=r"'chinchilla' reads column 'N'.*N=None"):
        runs.check_law(bs.get_law("chinchilla"))
    with pytest.raises(TooFewSizesError, match="at least 6 distinct values of D"):
        runs.filter(runs.D < 1e11).check_law(bs.get_law("broken_power_law"))
    assert len(runs.drop_highest_loss(1)) == 5 and runs.data_hash != runs.drop_highest_loss(1).data_hash


def test_one_input_table_errors_name_column_and_rows():
    kw = dict(N=None, D="Seen Examples", loss="Loss")
    with pytest.raises(NonNumericError, match=r"column 'Seen Examples'.*row 2 \('lots'\)"):
        bs.RunTable.from_dataframe(curve_df(**{"Seen Examples": [1e6, 1e7, "lots", 1e9, 1e10, 1e11]}), **kw)
    with pytest.raises(NonFiniteError, match=r"column 'Seen Examples'.*row 4 \(nan\)"):
        bs.RunTable.from_dataframe(curve_df(**{"Seen Examples": [1e6, 1e7, 1e8, 1e9, np.nan, 1e11]}), **kw)
    with pytest.raises(NonPositiveError, match=r"column 'Seen Examples' must be > 0.*rows 0 \(0.0\), 1 \(-1.0\)"):
        bs.RunTable.from_dataframe(curve_df(**{"Seen Examples": [0.0, -1.0, 1e8, 1e9, 1e10, 1e11]}), **kw)
    with pytest.raises(MissingColumnError, match="neither tokens D nor compute C"):
        bs.RunTable.from_dataframe(curve_df(), N=None, loss="Loss")
    with pytest.raises(RunTableError, match="N=None, but the table has a column 'N'"):
        bs.RunTable.from_dataframe(curve_df(N=1e9), **kw)
    # the default still needs N, and names it
    with pytest.raises(MissingColumnError, match=r"column 'N' \(for N\) not found"):
        bs.RunTable.from_dataframe(curve_df(), D="Seen Examples", loss="Loss")


def test_one_input_curves_of_several_runs_without_N():
    df = pd.concat([curve_df(model="a"), curve_df(model="b").assign(Loss=lambda d: d.Loss * 0.9)])
    runs = bs.RunTable.from_dataframe(df.reset_index(drop=True), N=None, tokens="Seen Examples",
                                      loss="Loss", run="model")
    assert runs.curve_axis == "D" and "checkpoints of 2 runs (by D), no N" in repr(runs)
    final = runs.final()
    assert final.curve_axis is None and list(final.run_ids) == ["a", "b"]
    np.testing.assert_array_equal(final.D, [1e11, 1e11])


def test_a_csv_with_a_repeated_header_or_no_content_is_refused_by_name(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("N,D,loss,loss\n1e8,2e9,3.1,3.3\n2e8,4e9,3.0,3.2\n")
    with pytest.raises(bs.runs.table.RunTableError, match=r"twice.csv: the header names \['loss'\] more than once"):
        bs.RunTable.from_csv(twice)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(bs.runs.table.RunTableError, match="empty.csv is empty"):
        bs.RunTable.from_csv(empty)


def test_predictions_refuse_boolean_sizes_and_a_target_that_is_not_a_number(chinchilla_fake_fit):
    from bayescale.analysis import PredictionInputError

    with pytest.raises(PredictionInputError, match="N=True is a boolean"):
        bs.loss_interval(chinchilla_fake_fit, N=True, D=1.4e12)
    for bad in (float("nan"), float("inf"), True):
        with pytest.raises(PredictionInputError, match="target="):
            bs.prob_below(chinchilla_fake_fit, bad, N=7e10, D=1.4e12)


# -- plausibility: numbers a table of language-model runs rarely holds warn, naming the rows ----------
@pytest.mark.parametrize("change, said", [
    (dict(loss=[3.3, 3.1, 1e-300, 2.75, 2.6]), r"more than 20 times from the table's median \(2.75\) at row 2 \(1e-300\)"),
    (dict(loss=[26.0, 22.0, 18.0, 16.0, 14.0]), r"loss above 15 at rows 0 \(26.0\), 1 \(22.0\), 2 \(18.0\), 3 \(16.0\)"),
    (dict(loss=[2.6, 2.75, 2.9, 3.1, 3.3]), r"losses rise with compute \(rank correlation \+1.00 over 5 runs; row 4"),
    (dict(params=[0.1, 0.2, 0.4, 0.8, 1.6]), r"N outside 1e\+04..1e\+14 at rows 0 \(0.1\).*is N in millions or billions"),
    (dict(tokens=[2.0, 4.0, 8.0, 16.0, 32.0]), r"D outside 1e\+06..1e\+16 at rows 0 \(2.0\)"),
], ids=["loss-far-from-the-rest", "loss-not-nats", "loss-rises-with-scale", "N-in-billions", "D-in-billions"])
def test_implausible_numbers_warn_naming_the_rows_and_are_kept(change, said):
    df = runs_df(**change)
    before = df.copy()
    runs = bs.RunTable.from_dataframe(df, N="params", D="tokens")
    with pytest.warns(bs.DataWarning, match=said):
        problems = runs.check_plausible()
    assert len(problems) == 1
    pd.testing.assert_frame_equal(df, before)
    assert runs.loss.tolist() == df["loss"].tolist()  # fitted as given, never altered


def test_a_repeated_row_warns_and_a_clean_table_does_not():
    df = pd.concat([runs_df(), runs_df().iloc[[1]]], ignore_index=True)
    assert bs.runs.data_problems(bs.RunTable.from_dataframe(df, N="params", D="tokens")) == [
        "rows 1, 5 repeat another row exactly: one run entered twice counts twice in the fit; drop the copies "
        "(df.drop_duplicates()) unless they are distinct runs"]
    assert bs.runs.data_problems(bs.RunTable.from_dataframe(runs_df(), N="params", D="tokens")) == []
    assert bs.runs.data_problems(bs.load_demo_runs()) == []


def test_one_input_learning_curves_keep_their_own_scale():
    """Errors of a vision task (no N): small numbers that fall with examples are not suspicious."""
    df = pd.DataFrame({"x": [1e2, 1e3, 1e4, 1e5, 1e6], "err": [0.93, 0.81, 0.55, 0.033, 0.024]})
    assert bs.runs.data_problems(bs.RunTable.from_dataframe(df, N=None, D="x", loss="err")) == []


def test_the_public_ladders_raise_no_plausibility_warning():
    from tests.conftest import SHARED, shared_file

    raw = pd.read_csv(shared_file(SHARED / "chinchilla_epoch_svg_extracted.csv"))
    runs = bs.RunTable.from_dataframe(raw, N="N_params", D="D_tokens", C="C_flop")
    assert bs.runs.data_problems(runs) == []


def test_every_numeric_column_a_law_may_read_enters_the_data_hash():
    """A batch-size column (kaplan_smin's B) or a schedule column changes what a fit saw."""
    df = pd.DataFrame({"N": [1e8, 1e9, 1e10], "D": [2e9, 2e10, 2e11], "loss": [3.0, 2.7, 2.5],
                       "B": [1e5, 1e6, 1e7], "note": ["a", "b", "c"]})
    base = bs.RunTable.from_dataframe(df)
    other_b = bs.RunTable.from_dataframe(df.assign(B=[1e5, 1e6, 2e7]))
    assert base.data_hash != other_b.data_hash
    assert base.data_hash == bs.RunTable.from_dataframe(df.assign(note=["x", "y", "z"])).data_hash

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale as bs
from bayescale.inference import FitFileError, LawChangedWarning
from bayescale.laws import Parameter, Prior

from ..conftest import fake_fit, isoflop_runs


def test_save_load_round_trip(tmp_path, chinchilla_fake_fit):
    fit = chinchilla_fake_fit
    path = tmp_path / "fit.nc"
    fit.save(path)
    back = bs.load_fit(path)
    xr.testing.assert_allclose(back.posterior, fit.posterior)
    pd.testing.assert_frame_equal(back.runs.to_dataframe().reset_index(drop=True),
                                  fit.runs.to_dataframe().reset_index(drop=True))
    assert back.runs.data_hash == fit.runs.data_hash == back.provenance["data_hash"]
    assert back.priors == fit.priors and back.likelihood == "normal"
    assert back.provenance["law_source_hash"] == fit.law.source_hash
    assert back.provenance["version"] == bs.__version__
    np.testing.assert_allclose(bs.loss_interval(back, N=7e10, D=1.4e12), bs.loss_interval(fit, N=7e10, D=1.4e12))


def _user_law(offset):
    @bs.law(name="io_test_law", inputs=["N"], overwrite=True, pivot=False, parameters=[
        Parameter("E", Prior("Normal", mu=0.5, sigma=1), 1.5, "floor", log=True),
        Parameter("alpha", Prior("LogNormal", mu=-1, sigma=1), 0.2, "exponent"),
    ])
    def io_test_law(N, E, alpha):
        return E + offset * N**-alpha

    return io_test_law


def test_changed_law_warns_on_load(tmp_path):
    _user_law(1.0)
    runs = isoflop_runs()
    shape = (2, 10)
    fit = fake_fit("io_test_law", {"E": np.full(shape, 1.7), "alpha": np.full(shape, 0.3),
                                   "sigma": np.full(shape, 0.01)}, runs)
    fit.save(tmp_path / "f.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LawChangedWarning)
        bs.load_fit(tmp_path / "f.nc")  # unchanged: no warning
    _user_law(2.0)  # same name, new body: a different source line (offset differs only at run time)
    reg = bs.get_law("io_test_law")

    @bs.law(name="io_test_law", inputs=["N"], overwrite=True, pivot=False, parameters=list(reg.parameters))
    def io_test_law(N, E, alpha):
        return E + 3.0 * N**-alpha

    with pytest.warns(LawChangedWarning, match="has changed since this fit was made"):
        bs.load_fit(tmp_path / "f.nc")


def test_not_a_fit(tmp_path):
    xr.Dataset({"x": ("i", [1.0])}).to_netcdf(tmp_path / "x.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match="not a bayescale fit"):
        bs.load_fit(tmp_path / "x.nc")


def test_round_trip_of_filtered_table_with_text_and_times(tmp_path):
    base = isoflop_runs(noise_sd=0.0).to_dataframe()
    base["note"] = ["ok"] * len(base)
    base.loc[3, "note"] = np.nan
    base["finished"] = pd.date_range("2024-01-01", periods=len(base), freq="D", tz="Europe/Paris")
    base["lr"] = np.linspace(1e-4, 3e-4, len(base))
    runs = bs.RunTable.from_dataframe(base).drop_highest_loss(3)  # index now has gaps
    shape = (2, 10)
    draws = {k: np.full(shape, v) for k, v in {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3,
                                               "sigma": 0.01}.items()}
    fit = fake_fit("chinchilla", draws, runs)
    fit.save(tmp_path / "f.nc")
    back = bs.load_fit(tmp_path / "f.nc")
    assert back.runs.data_hash == runs.data_hash == back.provenance["data_hash"]
    got, want = back.runs.to_dataframe(), runs.to_dataframe().reset_index(drop=True)
    assert got["note"].isna().sum() == want["note"].isna().sum() == 1
    assert list(got["note"].dropna()) == list(want["note"].dropna())
    assert str(got["finished"].dt.tz) == "Europe/Paris" and (got["finished"] == want["finished"]).all()
    np.testing.assert_array_equal(got["lr"], want["lr"])


def test_load_fit_refuses_damaged_edited_or_truncated_files(tmp_path, chinchilla_fake_fit):
    import h5py

    path = tmp_path / "fit.nc"
    chinchilla_fake_fit.save(path)
    good = path.read_bytes()
    bs.load_fit(path)  # intact: loads, and the checksum it carried is not left in the provenance
    assert "checksum" not in bs.load_fit(path).provenance

    with h5py.File(path, "r+") as f:  # zero a block of draws in place
        f["posterior/alpha"][0, :50] = 0.0
    with pytest.raises(FitFileError, match="checksum mismatch"):
        bs.load_fit(path)

    path.write_bytes(good)
    with h5py.File(path, "r+") as f:  # edit a loss in the stored run table
        f["runs/loss"][0] = f["runs/loss"][0] * 1.5
    with pytest.raises(FitFileError, match="checksum mismatch"):
        bs.load_fit(path)

    path.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(FitFileError, match="cannot be read as a saved fit"):
        bs.load_fit(path)
    path.write_bytes(b"not a netCDF file at all")
    with pytest.raises(FitFileError, match="cannot be read as a saved fit"):
        bs.load_fit(path)
    with pytest.raises(FileNotFoundError):
        bs.load_fit(tmp_path / "missing.nc")


def test_a_run_table_that_no_longer_matches_its_hash_is_refused(tmp_path, chinchilla_fake_fit):
    path = tmp_path / "fit.nc"
    chinchilla_fake_fit.save(path)
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    tree.close()
    tree["runs"] = tree["runs"].to_dataset().assign(loss=tree["runs"]["loss"] * 1.01)
    del tree.attrs["bayescale_checksum"]  # an edit that also dropped the checksum
    tree.to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match="does not match the data the fit was made on"):
        bs.load_fit(tmp_path / "edited.nc")


@pytest.mark.parametrize("convert", ["numpy_nullable", "pyarrow", "category"])
def test_pandas_extension_dtypes_round_trip(tmp_path, convert):
    base = isoflop_runs(noise_sd=0.0).to_dataframe()
    base["lr"] = np.linspace(1e-4, 3e-4, len(base))
    base["tag"] = ["a", "b"] * (len(base) // 2) + ["a"] * (len(base) % 2)
    base["k"] = pd.array([1, None] * (len(base) // 2) + [1] * (len(base) % 2), dtype="Int64")
    df = base.assign(tag=base["tag"].astype("category")) if convert == "category" else base.convert_dtypes(
        dtype_backend=convert)
    runs = bs.RunTable.from_dataframe(df)
    shape = (2, 5)
    fit = fake_fit("chinchilla", {k: np.full(shape, v) for k, v in {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 0.3,
                                                                    "beta": 0.3, "sigma": 0.01}.items()}, runs)
    fit.save(tmp_path / "f.nc")
    back = bs.load_fit(tmp_path / "f.nc").runs.to_dataframe().reset_index(drop=True)
    orig = runs.to_dataframe().reset_index(drop=True)
    pd.testing.assert_frame_equal(back, orig)  # values, missing values and dtypes alike


def test_a_column_mixing_text_and_numbers_is_refused_before_the_fit():
    df = isoflop_runs(noise_sd=0.0).to_dataframe()
    df["note"] = [1, "x"] * (len(df) // 2) + [1] * (len(df) % 2)
    with pytest.raises(bs.runs.table.RunTableError, match="column 'note' mixes text and numbers"):
        bs.RunTable.from_dataframe(df)


def test_a_text_variable_of_missing_values_does_not_break_the_checksum(tmp_path, chinchilla_fake_fit):
    """nutpie's divergence_message is text that is all missing without divergences: it comes back as
    float NaN, and the checksum covers only what was numeric when saved."""
    fit = chinchilla_fake_fit
    tree = fit.idata.copy()
    shape = fit.posterior["alpha"].shape
    msg = np.full(shape, None, dtype=object)
    tree["sample_stats"] = xr.DataTree(xr.Dataset({"divergence_message": (("chain", "draw"), msg),
                                                   "diverging": (("chain", "draw"), np.zeros(shape, bool))}))
    import dataclasses

    with_stats = dataclasses.replace(fit, idata=tree)
    with_stats.save(tmp_path / "f.nc")
    back = bs.load_fit(tmp_path / "f.nc")
    assert not back.idata.sample_stats["diverging"].values.any()

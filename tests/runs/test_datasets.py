import urllib.request

import numpy as np
import pandas as pd
import pytest

from bayescale.runs import datasets

from ..conftest import EPOCH_RAW, SHARED, shared_file


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_load_epoch_from_path_matches_processed_copy():
    runs = datasets.load("chinchilla_epoch2024", shared_file(EPOCH_RAW))
    assert len(runs) == 245
    ref = pd.read_csv(shared_file(SHARED / "chinchilla_epoch_svg_extracted.csv"))
    np.testing.assert_allclose(runs.N, ref.N_params)
    np.testing.assert_allclose(runs.D, ref.D_tokens, rtol=1e-12)
    assert runs.derived == {"D": "C / (6 N)"}
    assert len(runs.drop_highest_loss(5)) == 240


def test_load_from_cache_dir(tmp_path):
    src = shared_file(EPOCH_RAW)
    target = tmp_path / "chinchilla_epoch2024" / "svg_extracted_data.csv"
    target.parent.mkdir()
    target.write_bytes(src.read_bytes())
    assert len(datasets.load("chinchilla_epoch2024", cache=tmp_path)) == 245


def test_checksum_mismatch(tmp_path):
    bad = tmp_path / "svg_extracted_data.csv"
    bad.write_text(shared_file(EPOCH_RAW).read_text().replace("5.005581996196243", "5.1"))
    with pytest.raises(datasets.ChecksumError, match="expected 193478df"):
        datasets.load("chinchilla_epoch2024", bad)


def test_missing_copy_without_download_says_how(tmp_path):
    with pytest.raises(datasets.DatasetError, match=r"no local copy.*download=True"):
        datasets.load("chinchilla_epoch2024", cache=tmp_path)


def test_unknown_dataset():
    with pytest.raises(datasets.DatasetError, match="known"):
        datasets.load("nope")


def test_failed_download_is_a_clear_error_not_a_socket_traceback(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path))
    with pytest.raises(datasets.DatasetError, match=r"could not download https://.*pass path='<your copy of "):
        datasets.load("chinchilla_epoch2024", download=True)
    assert not list(tmp_path.rglob("*.part"))

import json
import subprocess
import sys

import pytest

from bayescale.cli import main


def test_help_is_clean():
    out = subprocess.run([sys.executable, "-m", "bayescale.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    assert "demo" in out.stdout and "fit" in out.stdout
    out = subprocess.run([sys.executable, "-m", "bayescale.cli", "fit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--predict" in out.stdout and out.stderr == ""


def test_bad_input_is_one_line_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss\n1e8,2e9,3.3\n2e8,4e9,-1\n4e8,8e9,2.9\n")
    with pytest.raises(SystemExit, match=r"bayescale: column 'loss'.*must be > 0.*line 3 \(-1.0\)"):
        main(["fit", str(path), "--map", "N=params,D=tokens"])
    with pytest.raises(SystemExit, match="--map keys must be"):
        main(["fit", str(path), "--map", "size=params"])
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        main(["fit", str(path), "--predict", "N7e10"])
    good = tmp_path / "good.csv"
    good.write_text("params,tokens,loss\n1e8,2e9,3.3\n2e8,4e9,3.1\n4e8,8e9,2.9\n")
    with pytest.raises(SystemExit, match="unknown law"):
        main(["fit", str(good), "--map", "N=params,D=tokens", "--law", "chinchila"])
    with pytest.raises(SystemExit, match="at least 4 distinct values of C"):
        main(["fit", str(good), "--map", "N=params,D=tokens", "--law", "power_law"])


@pytest.mark.slow
def test_fit_json_end_to_end(tmp_path, capsys):
    from .conftest import isoflop_runs

    path = tmp_path / "runs.csv"
    isoflop_runs(noise_sd=0.01, seed=5).to_dataframe().rename(columns={"N": "params"}).to_csv(path, index=False)
    rc = main(["fit", str(path), "--map", "N=params", "--predict", "N=7e10,D=1.4e12", "--draws", "300",
               "--tune", "500", "--seed", "3", "--json", "--no-progress", "--out", str(tmp_path / "f.nc"),
               "--plot", str(tmp_path / "f.png")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["summary"]) == {"E", "A", "B", "alpha", "beta", "sigma", "nu", "kappa"}  # student_t, discrepancy
    (iv,) = out["intervals"]
    assert iv["lower"] < 1.9367 < iv["upper"]  # Hoffmann et al.'s law at Chinchilla-70B
    assert out["random_seed"] == 3 and out["diagnostics"]["divergences"] == 0
    assert (tmp_path / "f.nc").exists() and (tmp_path / "f.png").stat().st_size > 10_000


@pytest.mark.slow
def test_json_stdout_is_valid_json_with_progress_and_one_chain(tmp_path, capsys):
    from .conftest import isoflop_runs

    path = tmp_path / "runs.csv"
    isoflop_runs(noise_sd=0.01, seed=5).to_dataframe().to_csv(path, index=False)
    rc = main(["fit", str(path), "--draws", "30", "--tune", "30", "--chains", "1", "--seed", "1", "--json",
               "--predict", "N=7e10,D=1.4e12"])
    assert rc == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # no progress bar, no NaN
    assert "warning: chinchilla fit:" in captured.err and "effective sample size" in captured.err  # too few draws
    assert out["sampler_problems"]
    assert out["summary"]["E"]["r_hat"] is None and out["diagnostics"]["max_r_hat"] is None
    with pytest.raises(SystemExit, match=r"--predict N=7e10,D=1.4e12,T=5: unknown argument\(s\) \['T'\]"):
        main(["fit", str(path), "--predict", "N=7e10,D=1.4e12,T=5"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # argparse: a usage error, before the table is read
        main(["fit", str(path), "--ci-prob", "90"])
    assert stop.value.code == 2 and "--ci-prob: 90.0 is not a probability in (0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_and_covers_the_simulated_truth(tmp_path, capsys):
    png = tmp_path / "demo.png"
    assert main(["demo", "--no-progress", "--plot", str(png)]) == 0  # as a new user runs it
    captured = capsys.readouterr()
    out = captured.out
    assert captured.err == ""  # no warning at all: the sampler is happy and the run is 1 decade out, not more
    assert "SIMULATED" in out and "posterior summary" in out
    assert "C=6e+22" in out  # exactly 10x the largest run's compute
    line = next(x for x in out.splitlines() if "law's loss" in x)
    lo, hi = (float(v) for v in line.split("[")[1].rstrip("]").split(","))
    truth = float(next(x for x in out.splitlines() if "true law value" in x).split()[3])
    assert lo < truth < hi
    assert png.stat().st_size > 20_000


@pytest.mark.slow
def test_fit_training_curves_from_the_command_line(tmp_path, capsys):
    import bayescale as bs

    path = tmp_path / "curves.csv"
    bs.runs.simulate_curves("kaplan_steps", sizes=[1e7, 1e8, 1e9], steps=[500, 1000, 2000, 4000, 8000],
                            sigma=0.01, tau=0.02, random_seed=0).to_dataframe().to_csv(path, index=False)
    plot = tmp_path / "curves.png"
    assert main(["fit", str(path), "--law", "kaplan_steps", "--map", "run=run,step=step", "--json",
                 "--draws", "200", "--tune", "300", "--chains", "2", "--seed", "1", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"tau", "ell", "sigma", "aN", "aS"} <= set(out["summary"])
    assert plot.stat().st_size > 10_000
    final = tmp_path / "final.csv"
    final.write_text("params,tokens,loss\n1e8,2e9,3.3\n2e8,4e9,3.1\n4e8,8e9,2.9\n")
    with pytest.raises(SystemExit, match="bayescale: noise='ar1'.*one final loss per run"):
        main(["fit", str(final), "--map", "N=params,D=tokens", "--noise", "ar1"])


@pytest.mark.parametrize("flag, value, said", [("--draws", "0", "0 is below 1"), ("--tune", "-5", "-5 is below 0"),
                                               ("--chains", "x", "'x' is not a whole number"),
                                               ("--seed", "1.5", "'1.5' is not a whole number")])
def test_sampler_flags_are_checked_before_any_fit(capsys, flag, value, said):
    with pytest.raises(SystemExit) as info:
        main(["demo", flag, value])
    assert info.value.code == 2 and f"argument {flag}: {said}" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_fit_is_the_same_with_cold_and_warm_compile_caches(tmp_path):
    """The demo's fit (its table, law, likelihood and seed 2022) in three fresh processes: two with
    their own empty PyTensor and numba caches, one reusing the first's warm cache. Draws agree bit
    for bit, and the shipped table samples without a sampler warning."""
    import os
    from importlib.resources import files

    import bayescale as bs

    demo_csv = files("bayescale") / "data" / "demo_runs.csv"

    draws = []
    for i, cache in enumerate(["a", "b", "a"]):
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / cache}",
               "NUMBA_CACHE_DIR": str(tmp_path / cache / "numba")}
        out = subprocess.run([sys.executable, "-m", "bayescale.cli", "fit", str(demo_csv), "--seed", "2022",
                              "--no-progress", "--out", str(tmp_path / f"{i}.nc")],  # the demo's fit, as it is
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert "warning" not in out.stderr.lower(), out.stderr
        draws.append(bs.load_fit(tmp_path / f"{i}.nc").posterior)
    assert (tmp_path / "a").is_dir() and (tmp_path / "b").is_dir()  # the caches were where we put them
    for other in draws[1:]:
        for name in ("E", "A", "B", "alpha", "beta", "sigma", "nu", "kappa"):
            assert (other[name].values == draws[0][name].values).all(), name


def test_version_and_help_name_every_law_and_the_defaults(capsys):
    import bayescale as bs

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"bayescale {bs.__version__}"
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in bs.laws.list_laws():
        assert name in text
    assert "(default student_t," in text and "(default hdi)" in text and "(default mean)" in text
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "90%%" not in capsys.readouterr().out


def test_predict_is_checked_before_anything_is_fitted(tmp_path, monkeypatch):
    import bayescale as bs

    def no_fit(*args, **kwargs):
        raise AssertionError("sampled before checking --predict")

    monkeypatch.setattr(bs, "fit", no_fit)
    path = tmp_path / "runs.csv"
    bs.load_demo_runs().to_dataframe().to_csv(path, index=False)
    for bad, said in [("N=7e10", r"--predict N=7e10: law 'chinchilla' needs \['N', 'D'\]; missing \['D'\]"),
                      ("N=-1,D=1e12", r"--predict N=-1,D=1e12: N must be finite and > 0; got \[-1.0\]"),
                      ("Q=3,N=7e10,D=1e12", r"--predict Q=3,N=7e10,D=1e12: unknown argument\(s\) \['Q'\]"),
                      ("N=big", r"--predict N='big' is not a number")]:
        with pytest.raises(SystemExit, match=said):
            main(["fit", str(path), "--predict", bad])


def test_warnings_on_the_command_line_are_one_line_each_and_said_once(capsys):
    import warnings

    from bayescale.cli import _OneLineWarnings

    with _OneLineWarnings():
        for _ in range(3):
            warnings.warn("predicting C 2.0 decades beyond\n  the fitted runs", UserWarning, stacklevel=1)
        warnings.warn("another", UserWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == ["warning: predicting C 2.0 decades beyond the fitted runs",
                                                    "warning: another"]

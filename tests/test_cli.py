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
    with pytest.raises(SystemExit, match=r"bayescale: column 'loss'.*must be > 0.*row 1 \(-1.0\)"):
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
    assert set(out["summary"]) == {"E", "A", "B", "alpha", "beta", "sigma", "kappa"}  # the default noise="discrepancy"
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
    assert "WARNING:" in captured.err and "effective sample size" in captured.err  # too few draws: told
    assert out["sampler_problems"]
    assert out["summary"]["E"]["r_hat"] is None and out["diagnostics"]["max_r_hat"] is None
    with pytest.raises(SystemExit, match="--predict \\['T'\\]"):
        main(["fit", str(path), "--predict", "N=7e10,D=1.4e12,T=5"])
    with pytest.raises(SystemExit, match="--ci-prob is a probability"):
        main(["fit", str(path), "--ci-prob", "90"])


@pytest.mark.slow
def test_demo_runs_and_covers_the_simulated_truth(tmp_path, capsys):
    png = tmp_path / "demo.png"
    assert main(["demo", "--draws", "500", "--no-progress", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "posterior summary" in out
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

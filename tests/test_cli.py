"""cli.py: the forecast command end to end, its one-line errors (status 2) and --force."""

from __future__ import annotations

import inspect

import pytest
from products_helpers import assen_forecast, cli_forecast_run, scratch

from assen_demand import pipeline, plots
from assen_demand.cli import main


def _error(capsys, argv) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def _parser_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    assert exc.value.code == 2
    assert len(captured.err.strip().splitlines()) == 1
    return captured.err


def test_forecast_writes_every_file_and_says_where():
    out, status, stdout = cli_forecast_run()
    assert status == 0
    for name in ("population.csv", "care_need.csv", "dwellings.csv", "doorstroming.csv", "mantelzorg.csv",
                 "households.csv", "forecast.xlsx", "provenance.json"):
        assert (out / name).is_file(), name
    assert f"wrote to {out}/" in stdout
    assert "forecast.xlsx" in stdout and "figures/" in stdout and "provenance.json" in stdout


def test_forecast_refuses_a_non_empty_folder(capsys):
    out, _, _ = cli_forecast_run()
    line = _error(capsys, ["forecast", "--out", str(out)])
    assert f"output folder {out} is not empty; choose another --out or add --force" in line


def test_force_replaces_only_the_run_files(monkeypatch, capsys):
    out = scratch("forced")
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "waaier_geclusterd.png").write_bytes(b"stale")
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(pipeline, "forecast", lambda *a, **k: assen_forecast())
    monkeypatch.setattr(plots, "save_figures", lambda result, folder: [])
    assert main(["forecast", "--out", str(out), "--force"]) == 0
    assert not (out / "figures" / "waaier_geclusterd.png").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "forecast.xlsx").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gemeente", "Atlantis"], r"gemeente 'Atlantis' is not in the bundled data"),
        (["--base-year", "2024", "--end-year", "2020"], r"--end-year 2020 must come after --base-year 2024"),
        (["--supply", "no_such_supply.csv"], r"--supply no_such_supply.csv not found"),
        (["--seed", "3"], r"--seed only applies to Monte Carlo draws; add --draws N"),
        (["--draws", "-1"], r"--draws must be 0 or more"),
        (["--data-dir", "/no/such/folder"], r"--data-dir /no/such/folder is not a folder"),
        (["--base-year", "2019"], r"no .*2019"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    import re

    out = scratch("bad")
    line = _error(capsys, ["forecast", "--out", str(out), *argv])
    assert re.search(message, line), line
    assert not out.exists()


def test_parser_errors_are_one_line(capsys):
    assert "required: --out" in _parser_error(capsys, ["forecast"])
    assert "invalid int value" in _parser_error(capsys, ["forecast", "--out", "x", "--draws", "many"])


@pytest.mark.parametrize(("option", "module"), [("--draws", "uncertainty"), ("--scenario", "scenario")])
def test_uncertainty_and_scenario_options_need_their_modules(capsys, option, module):
    key = option.lstrip("-")
    if key in inspect.signature(pipeline.forecast).parameters:
        pytest.skip(f"forecast() takes {key}= on this branch")
    value = "10" if key == "draws" else "vergrijzing_hoog"
    line = _error(capsys, ["forecast", "--out", str(scratch("opt")), option, value])
    assert f"{option} needs the {module} module" in line


def test_draws_zero_is_the_central_run(monkeypatch):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return assen_forecast()

    monkeypatch.setattr(pipeline, "forecast", fake)
    monkeypatch.setattr(plots, "save_figures", lambda result, folder: [])
    assert main(["forecast", "--out", str(scratch("zero")), "--draws", "0"]) == 0
    assert "draws" not in seen and "seed" not in seen and "scenario" not in seen

"""Fault injection (issue 16): bad files, hostile folders, kills and wrong calls, by class.

Classes (the issue's list) and what each case injects:

A. lost or mixed output -- kill during writing, concurrent runs, --force with user files and
   links, reruns, unwritable --out;
B. tracebacks -- files that are not UTF-8, 0 bytes, text years, damaged run folders, deep TOML,
   huge --draws: each must end in exit 2 and exactly one stderr line;
C. silently accepted -- doubled rows, header-only files, parts above totals, absurd supply and
   pipeline values, --processes 0, overwriting files;
D. misleading messages -- a byte-order mark, latin-1, inf in a pipeline, eight warning lines,
   scenario paths;
E. spreadsheet formulas -- text starting with = + - @ stored as text;
F. Python API -- wrong types and unknown keywords raise the package's own errors.

Hand-made inputs: every bad file is a few lines written here (or the first rows of a real CBS
file with one row doubled), so each case shows exactly what was injected.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assen_demand import errors
from assen_demand.cli import main
from assen_demand.inputs import validation
from assen_demand.outputs import runfolder


def _one_line_error(capsys, argv, status=2) -> str:
    """Run the CLI; it must exit ``status`` with exactly one stderr line and no traceback."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == status, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def _fake_run(out: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """An earlier run's folder made through atomic_output (tables, a figure, provenance, manifest)."""
    with runfolder.atomic_output(out) as staging:
        for rel, content in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(content)
        (staging / "provenance.json").write_text(json.dumps({"command": "earlier run"}))
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


EARLIER = {"population.csv": b"area,persons\nGM0106,1\n", "forecast.xlsx": b"old workbook",
           "figures/waaier.png": b"old png"}


# --------------------------------------------------------------------------------------------
# A. lost or mixed output
# --------------------------------------------------------------------------------------------


def test_a_manifest_lists_every_file_with_its_checksum(tmp_path):
    import hashlib

    out = tmp_path / "results"
    _fake_run(out, EARLIER)
    manifest = json.loads((out / "provenance.json").read_text())["manifest"]
    assert {e["path"] for e in manifest} == set(EARLIER)
    for e in manifest:
        assert e["sha256"] == hashlib.sha256(EARLIER[e["path"]]).hexdigest()
    # nothing of the staging or the lock is left beside the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_rerun_into_an_earlier_runs_folder_replaces_it_without_force(tmp_path):
    # issue 19: running the README command twice works
    out = tmp_path / "results"
    _fake_run(out, EARLIER)
    _fake_run(out, {"population.csv": b"new"})
    assert _snapshot(out).keys() == {"population.csv", "provenance.json"}
    assert (out / "population.csv").read_bytes() == b"new"


def test_a_folder_with_a_user_file_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "results"
    _fake_run(out, EARLIER)
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(errors.OutputError, match=r"bevat bestanden die geen eerdere run schreef \(notes.txt\).*--force"):
        with runfolder.atomic_output(out):
            raise AssertionError("must not be reached: the folder is checked on entering")
    assert _snapshot(out) == before


def test_a_force_keeps_user_files_and_a_linked_folders_contents(tmp_path):
    out = tmp_path / "results"
    _fake_run(out, EARLIER)
    (out / "notes.txt").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "waaier.png").write_bytes(b"not yours")
    (elsewhere / "keep.txt").write_text("keep")
    shutil.rmtree(out / "figures")
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)
    with runfolder.atomic_output(out, force=True) as staging:
        (staging / "figures").mkdir()
        (staging / "figures" / "waaier.png").write_bytes(b"new png")
        (staging / "population.csv").write_bytes(b"new")
        (staging / "provenance.json").write_text("{}")
    assert (out / "notes.txt").read_text() == "mine"
    assert _snapshot(elsewhere) == {"waaier.png": b"not yours", "keep.txt": b"keep"}  # link not followed
    assert not (out / "figures").is_symlink() and (out / "figures" / "waaier.png").read_bytes() == b"new png"
    assert not (out / "forecast.xlsx").exists()  # the earlier run's file the new run did not write
    assert (out / "population.csv").read_bytes() == b"new"


def test_a_failure_while_writing_leaves_the_old_results_byte_identical(tmp_path):
    out = tmp_path / "results"
    before = _fake_run(out, EARLIER)
    with pytest.raises(RuntimeError):
        with runfolder.atomic_output(out) as staging:
            (staging / "population.csv").write_bytes(b"half")
            raise RuntimeError("killed while writing")
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(tmp_path, capsys):
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "results"
        runfolder.lock_path(out).write_text(json.dumps({"pid": first.pid, "started": "2026-12-01 09:00:00"}))
        line = _one_line_error(capsys, ["forecast", "--out", out])
        assert f"een andere run schrijft naar {out} (pid {first.pid}, gestart 2026-12-01 09:00:00)" in line
        assert not out.exists()
    finally:
        first.kill()
        first.wait()


def test_a_lock_and_staging_left_by_a_killed_run_are_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "results"
    runfolder.lock_path(out).write_text(json.dumps({"pid": dead.pid, "started": "earlier"}))
    stale = tmp_path / f".results.staging-{dead.pid}-abc"
    stale.mkdir()
    (stale / "population.csv").write_text("half")
    _fake_run(out, EARLIER)
    assert not stale.exists() and not runfolder.lock_path(out).exists()


def test_a_unwritable_out_is_found_before_computing(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    started = time.perf_counter()
    line = _one_line_error(capsys, ["forecast", "--out", blocker / "results"])
    assert "kan de map" in line and "niet maken" in line and str(blocker) in line
    assert time.perf_counter() - started < 30  # nothing was computed (a forecast takes longer)


def _run_and_kill(out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start the CLI into ``out``, send ``sig`` once it is writing into its staging folder."""
    cmd = [sys.executable, "-m", "assen_demand.cli", "forecast", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 900
    while time.time() < deadline and proc.poll() is None:
        if any((s / "population.csv").exists() for s in out.parent.glob(f".{out.name}.staging-*")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_a_sigkill_while_writing_leaves_the_previous_results_byte_identical(tmp_path):
    out = tmp_path / "results"
    before = _fake_run(out, EARLIER)
    done = _run_and_kill(out, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert _snapshot(out) == before


@pytest.mark.slow
def test_a_sigterm_while_writing_is_one_line_143_and_nothing_half_written(tmp_path):
    out = tmp_path / "results"
    before = _fake_run(out, EARLIER)
    done = _run_and_kill(out, signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # staging and lock removed


# --------------------------------------------------------------------------------------------
# B. tracebacks -> one line, exit 2
# --------------------------------------------------------------------------------------------


def _data_dir_with_kwb(tmp_path: Path, content: bytes) -> Path:
    data = tmp_path / "data"
    (data / "kwb").mkdir(parents=True)
    (data / "kwb" / "kwb_2024_85984NED.csv").write_bytes(content)
    return data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ID,WijkenEnBuurten\n0,Nederland\n".encode("utf-16"), r"kwb_2024_85984NED.csv is UTF-16/UTF-32 text"),
        (b"", r"kwb_2024_85984NED.csv is empty \(0 bytes"),
        (bytes(np.random.default_rng(16).integers(0, 256, 4000, dtype=np.uint8)), r"kwb_2024_85984NED.csv (holds|is not)"),
        (b"\x01\x02binary\x03" * 40, r"kwb_2024_85984NED.csv holds control characters"),
    ],
    ids=["utf16", "zero-bytes", "random-bytes", "control-characters"],
)
def test_b_a_file_that_is_not_text_gives_one_line(tmp_path, capsys, content, message):
    import re

    data = _data_dir_with_kwb(tmp_path, content)
    line = _one_line_error(capsys, ["forecast", "--data-dir", data, "--out", tmp_path / "out"])
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("year", ["twintig", "", "2026.7"])
def test_b_a_supply_year_that_is_text_empty_or_fractional_gives_one_line(tmp_path, capsys, year):
    supply = tmp_path / "supply.csv"
    supply.write_text(f"area,dwelling_type,year,units,status\nWK010600,zorggeschikt,{year},10,bekend\n")
    line = _one_line_error(capsys, ["forecast", "--supply", supply, "--out", tmp_path / "out"])
    assert "supply file supply.csv: year" in line and "(line 2) is not a whole year" in line


def test_b_a_damaged_run_folder_for_report_gives_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "population.csv").write_text("area,persons\n")
    (run / "dwellings.csv").write_text("")
    (run / "provenance.json").write_text("{not json")
    line = _one_line_error(capsys, ["report", "--previous", run, "--current", run])
    assert "run" in line


def test_b_backtest_out_that_is_a_folder_gives_one_line(tmp_path, capsys):
    line = _one_line_error(capsys, ["backtest", "--base-year", "2022", "--target-year", "2024", "--out", tmp_path])
    assert f"--out {tmp_path} is een map; geef een bestandsnaam die eindigt op .csv" in line


def test_b_a_deeply_nested_scenario_gives_one_line(tmp_path, capsys):
    toml = tmp_path / "deep.toml"
    toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    line = _one_line_error(capsys, ["forecast", "--scenario", toml, "--out", tmp_path / "out"])
    assert "deep.toml" in line and "nested" in line


def test_b_draws_beyond_memory_are_refused_before_computing(tmp_path, capsys):
    line = _one_line_error(capsys, ["forecast", "--draws", "10000000", "--out", tmp_path / "out"])
    assert "--draws 10000000 vraagt ongeveer" in line and "GiB vrij; gebruik hoogstens --draws" in line
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# C. silently accepted -> errors naming the row
# --------------------------------------------------------------------------------------------


def _kwb_head(raw_dir: Path, rows: int) -> list[str]:
    with open(raw_dir / "kwb" / "kwb_2024_85984NED_drenthe.csv", encoding="utf-8") as handle:
        return [next(handle) for _ in range(rows + 1)]


def test_c_a_doubled_gemeente_row_in_kwb_is_an_error(raw_dir, tmp_path):
    from assen_demand.inputs.kwb import _read_kwb_file

    lines = _kwb_head(raw_dir, 6)
    gemeente = next(i for i, line in enumerate(lines) if i and ",Gemeente " in line)
    path = tmp_path / "kwb_2024_85984NED.csv"
    path.write_text("".join(lines + [lines[gemeente]]), encoding="utf-8")
    with pytest.raises(errors.DataFormatError, match=r"label='Aa en Hunze' appears 2 times \(lines 3, 8\)"):
        _read_kwb_file(path, 2024)


def test_c_a_header_only_kwb_file_is_an_error(raw_dir, tmp_path, capsys):
    data = _data_dir_with_kwb(tmp_path, "".join(_kwb_head(raw_dir, 0)).encode())
    line = _one_line_error(capsys, ["forecast", "--data-dir", data, "--out", tmp_path / "out"])
    assert "kwb_2024_85984NED.csv has a header but no data rows" in line


def test_c_postcode_men_above_the_total_is_an_error(tmp_path):
    from assen_demand.inputs.cbs import read_postcode_population

    folder = tmp_path / "pc4_2021"
    folder.mkdir()
    # 9401: 60 + 40 = 100 fits; 9402: men 2,251 in a total of 50 (the issue's +2,201 persons)
    (folder / "population_by_postcode_age_sex_2021.csv").write_text(
        "postcode,leeftijd,inwoners,inwoners_man,inwoners_vrouw\n9401,0-4,100,60,40\n9402,0-4,50,2251,20\n")
    with pytest.raises(errors.InvalidValueError, match=r"postcode=9402.*inwoners_man 2251 \+ inwoners_vrouw 20 "
                                                        r"does not fit inwoners 50.*line 3"):
        read_postcode_population(tmp_path, level="pc4")


def test_c_rounding_differences_of_cbs_are_accepted():
    # hand-made: 103 persons published as total 105, men 50 (52), women 50 (51): differences of 5 and 10
    frame = pd.DataFrame({"m": [50.0, 55.0], "f": [50.0, 55.0], "t": [105.0, 100.0]})
    validation.check_parts_within_total(frame, ["m", "f"], "t", source="x.csv", labels=["m"])


@pytest.mark.parametrize("units", ["inf", "1e300", "-3"])
def test_c_supply_of_inf_huge_or_negative_units_is_an_error(tmp_path, units):
    from assen_demand.housing.dwellings import read_supply

    path = tmp_path / "supply.csv"
    path.write_text(f"area,dwelling_type,year,units,status\nWK010600,zorggeschikt,2027,{units},bekend\n")
    with pytest.raises(errors.InvalidValueError, match=r"supply file supply.csv(, line \d+)?: units"):
        read_supply(path)


def _light_population():
    """Population (area, sex, age, year) of the forecast's shape, 2024..2040: the supply checks read only its labels
    and base-year totals, so no Assen forecast is needed (it cost ~8 s of CPU in a worker that had none yet)."""
    import xarray as xr

    years, ages = list(range(2024, 2041)), list(range(101))
    return xr.DataArray(np.ones((2, 2, len(ages), len(years))), dims=("area", "sex", "age", "year"),
                        coords={"area": ["GM0106", "WK010600"], "sex": ["male", "female"], "age": ages, "year": years})


@pytest.mark.parametrize("year", [1900, 2100])
def test_c_supply_years_outside_the_forecast_are_an_error(assen, year):
    from assen_demand.pipeline import _check_supply_range

    population = _light_population()
    table = pd.DataFrame({"area": ["WK010600"], "dwelling_type": ["zorggeschikt"], "year": [year], "units": [10.0]})
    with pytest.raises(errors.InvalidValueError, match=rf"year {year} .* outside the forecast years 2024..2040"):
        _check_supply_range(table, population, source="supply file s.csv")


def test_c_supply_above_the_areas_inhabitants_is_an_error():
    from assen_demand.pipeline import _check_supply_range

    population = _light_population()
    table = pd.DataFrame({"area": ["WK010600"], "dwelling_type": ["zorggeschikt"], "year": [2030], "units": [9e5]})
    with pytest.raises(errors.InvalidValueError, match=r"900,000 units of zorggeschikt in WK010600 \(2030\) exceed"):
        _check_supply_range(table, population, source="supply file s.csv")


def test_c_a_pipeline_of_a_billion_homes_in_one_wijk_is_an_error():
    from assen_demand.demography.projection import dwelling_stock

    base = pd.Series({"WK1": 2000.0, "WK2": 100.0})
    ok = pd.DataFrame({"area": ["WK1", "WK2"], "year": [2025, 2025], "dwellings_added": [1500, 450],
                       "dwellings_removed": [0, 0]})
    assert dwelling_stock(base, ok, start_year=2025, end_year=2026).sel(year=2026).values.tolist() == [3500.0, 550.0]
    plan = ok.assign(dwellings_added=[1e9, 0])
    with pytest.raises(errors.InvalidValueError, match=r"adds 1,000,000,000 dwellings to WK1 in 2025"):
        dwelling_stock(base, plan, start_year=2025, end_year=2026)
    small = ok.assign(dwellings_added=[0, 501])  # a small wijk: the floor of 500 applies
    with pytest.raises(errors.InvalidValueError, match=r"adds 501 dwellings to WK2"):
        dwelling_stock(base, small, start_year=2025, end_year=2026)


def test_c_duplicate_pipeline_rows_are_an_error_not_a_sum(tmp_path):
    from assen_demand.inputs.datasets import load_dwelling_pipeline

    path = tmp_path / "plan.csv"
    path.write_text("area,year,dwellings_added,dwellings_removed\nWK010600,2027,100,0\nWK010601,2027,5,0\n"
                    "WK010600,2027,100,0\n")
    with pytest.raises(errors.DataFormatError, match=r"area='WK010600', year=2027 appears 2 times \(lines 2, 4\)"):
        load_dwelling_pipeline(path)


def test_c_processes_zero_is_an_error(tmp_path, capsys):
    line = _one_line_error(capsys, ["forecast", "--processes", "0", "--out", tmp_path / "out"])
    assert "--processes moet 1 of meer zijn, niet 0" in line


@pytest.mark.parametrize("command", [
    ["backtest", "--base-year", "2022", "--target-year", "2024"],
    ["report", "--previous", ".", "--current", "."],
])
def test_c_backtest_and_report_do_not_overwrite_a_file_without_force(tmp_path, capsys, command):
    target = tmp_path / "existing.csv"
    target.write_text("precious")
    line = _one_line_error(capsys, [*command, "--out", target])
    assert f"--out {target} bestaat al; kies een andere naam of voeg --force toe" in line
    assert target.read_text() == "precious"


# --------------------------------------------------------------------------------------------
# D. misleading messages
# --------------------------------------------------------------------------------------------


def test_d_a_scenario_with_a_byte_order_mark_is_read(tmp_path):
    from assen_demand.scenario import _scenario_dir, load_scenario

    text = _scenario_dir().joinpath("lage_migratie.toml").read_bytes()
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text)
    columns = ["section", "key", "value"]
    assert load_scenario(path).to_frame()[columns].equals(load_scenario("lage_migratie").to_frame()[columns])


def test_d_latin1_is_read_with_a_warning_and_the_right_letters(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_bytes("area,name\nGM1900,Súdwest-Fryslân\n".encode("latin-1"))
    with pytest.warns(validation.InputWarning, match="plan.csv is not UTF-8; read as latin-1"):
        frame = validation.read_csv(path)
    assert frame.loc[0, "name"] == "Súdwest-Fryslân"


def test_d_inf_in_a_pipeline_names_the_value_not_nan_migration(tmp_path):
    from assen_demand.inputs.datasets import load_dwelling_pipeline

    path = tmp_path / "plan.csv"
    path.write_text("area,year,dwellings_added,dwellings_removed\nWK010600,2027,inf,0\n")
    with pytest.raises(errors.InvalidValueError, match=r"plan.csv: dwellings_added = inf for area='WK010600'"):
        load_dwelling_pipeline(path)


def test_d_data_warnings_are_one_summary_line(capsys):
    from assen_demand.cli import _DataWarnings
    from assen_demand.inputs.cbs import DataWarning

    with _DataWarnings(verbose=False) as caught:
        for i in range(8):
            warnings.warn(f"warning number {i}", DataWarning)
    caught.report()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("assen-demand: 8 gegevenswaarschuwing(en)")
    assert len(caught.messages) == 8  # all of them go to provenance.json
    caught.verbose = True
    caught.report()
    assert len(capsys.readouterr().err.strip().splitlines()) == 8


def test_d_scenario_pipeline_paths_resolve_and_say_where_they_looked(tmp_path):
    from assen_demand.scenario import scenario_from_mapping

    (tmp_path / "plan.csv").write_text("area,year,dwellings_added,dwellings_removed\nWK010600,2027,10,0\n")
    raw = {"name": "mine", "description": "test", "projection": {"method": "housing_led", "pipeline": "plan.csv", "source": "test plan"}}
    scen = scenario_from_mapping(raw, file=str(tmp_path / "mine.toml"))
    assert scen._pipeline_path() == str(tmp_path / "plan.csv")  # relative to the scenario file
    bundled = scenario_from_mapping({**raw, "projection": {**raw["projection"], "pipeline": "assen_example_pipeline.csv"}},
                                    file=str(tmp_path / "mine.toml"))
    assert bundled._pipeline_path().endswith("data/pipelines/assen_example_pipeline.csv")
    folder = scenario_from_mapping({**raw, "projection": {**raw["projection"], "pipeline": str(tmp_path)}},
                                   file=str(tmp_path / "mine.toml"))
    with pytest.raises(errors.ScenarioError, match=rf"is not a file \(looked in: {tmp_path}\)"):
        folder._pipeline_path()


# --------------------------------------------------------------------------------------------
# E. spreadsheet formulas
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"klik\")", "+31 6 1234", "-2+3", "@SUM(A1:A9)"])
def test_e_text_that_looks_like_a_formula_is_stored_as_text(tmp_path, text):
    from assen_demand.outputs.export import write_workbook

    path = write_workbook({"Bronnen en aannames": pd.DataFrame({"Bron": [text, "CBS"], "Waarde": [1.0, 2.0]})},
                          tmp_path / "w.xlsx")
    cell = openpyxl.load_workbook(path)["Bronnen en aannames"]["A2"]
    assert cell.value == text and cell.data_type == "s" and cell.quotePrefix
    assert openpyxl.load_workbook(path)["Bronnen en aannames"]["B2"].data_type == "n"  # numbers stay numbers


# --------------------------------------------------------------------------------------------
# F. Python API
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"end_year": "2040"}, r"forecast\(\): end_year must be a whole number \(int\), got the str '2040'; pass end_year=2040"),
        ({"base_year": 2024.0}, r"base_year must be a whole number \(int\), got the float 2024.0"),
        ({"draws": True}, r"draws must be a whole number \(int\), got the bool True"),
        ({"mortalty": "lee_carter"}, r"forecast\(\) got an unknown keyword mortalty=; did you mean mortality=\?"),
        ({"colour": "red"}, r"forecast\(\) got an unknown keyword colour=; accepted: "),
    ],
)
def test_f_wrong_types_and_unknown_keywords_raise_the_packages_error(call, message):
    import assen_demand

    with pytest.raises(errors.ArgumentError, match=message) as caught:
        assen_demand.forecast(**call)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, errors.AssenDemandError)


def test_f_project_population_checks_its_arguments_too():
    from assen_demand.pipeline import project_population

    with pytest.raises(errors.ArgumentError, match=r"project_population\(\): end_year"):
        project_population(end_year="2040")
    with pytest.raises(errors.ArgumentError, match=r"unknown keyword tfr_multiplyer=; did you mean tfr_multiplier="):
        project_population(tfr_multiplyer=1.1)


# --------------------------------------------------------------------------------------------
# more of C and A: report's run folders, and the manifest of a real run
# --------------------------------------------------------------------------------------------


def _run_folder(tmp_path: Path, population: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "population.csv").write_text(population)
    (run / "dwellings.csv").write_text("area,dwelling_type,model,year,need\nGM0106,geclusterd,need,2024,1.0\n")
    (run / "provenance.json").write_text(json.dumps({"gemeente": "GM0106"}))
    return run


def test_c_report_on_a_cut_off_population_table_is_an_error(tmp_path):
    from assen_demand.outputs.export import read_run

    rows = "".join(f"GM0106,{sex},{age},2024,10\n" for sex in ("male", "female") for age in range(3))
    run = _run_folder(tmp_path, "area,sex,age,year,persons\n" + rows[: rows.rfind("GM0106")])  # last row cut off
    with pytest.raises(errors.DataFormatError, match=r"run/population.csv has 5 rows where .* give 6: the table was cut"):
        read_run(run)


def test_c_report_on_a_negative_population_is_an_error(tmp_path):
    from assen_demand.outputs.export import read_run

    run = _run_folder(tmp_path, "area,sex,age,year,persons\nGM0106,male,0,2024,10\nGM0106,female,0,2024,-4\n")
    with pytest.raises(errors.InvalidValueError, match=r"persons = -4 for area='GM0106', sex='female'.*line 3"):
        read_run(run)


@pytest.mark.slow
def test_a_a_real_runs_manifest_lists_every_file_it_wrote():
    import hashlib

    from products_helpers import cli_forecast_run

    out, status, _ = cli_forecast_run()
    assert status == 0
    manifest = json.loads((out / "provenance.json").read_text())["manifest"]
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"provenance.json"}
    assert {e["path"] for e in manifest} == on_disk
    assert any(p.startswith("figures/") for p in on_disk) and "forecast.xlsx" in on_disk
    for e in manifest:
        assert hashlib.sha256((out / e["path"]).read_bytes()).hexdigest() == e["sha256"]


def test_a_ctrl_c_is_one_line_and_exit_130(monkeypatch, tmp_path, capsys):
    from assen_demand import cli

    out = tmp_path / "results"
    before = _fake_run(out, EARLIER)

    def interrupted(args):
        with runfolder.atomic_output(args.out) as staging:
            (staging / "population.csv").write_text("half")
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_forecast", interrupted)
    line = _one_line_error(capsys, ["forecast", "--out", out], status=130)
    assert "onderbroken (Ctrl-C)" in line
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@given(st.text(alphabet=st.characters(max_codepoint=0x1FF), max_size=60))
def test_control_character_rule_is_the_stated_one(text):
    # the rule in words (validation._CONTROL_CHARACTER): a C0 control other than tab, LF or CR,
    # DEL, or a C1 control (U+0080-U+009F); Latin-1 letters such as "â" of Súdwest-Fryslân are text
    stated = any((ord(ch) < 32 and ch not in "\t\r\n") or 0x7F <= ord(ch) <= 0x9F for ch in text)
    assert validation._has_control_characters(text) == stated
    assert not validation._has_control_characters("Súdwest-Fryslân\tGM1900\r\n")

"""monitoring.py: input changes from provenance, causes per row, realised KWB, and the report command."""

from __future__ import annotations

import copy
import json

import openpyxl
import pytest
from products_helpers import cli_forecast_run, previous_run, scratch

from assen_demand.outputs import export
from assen_demand.cli import main
from assen_demand.inputs.datasets import load_assen
from assen_demand.errors import DataFormatError
from assen_demand.outputs.monitoring import RunOutput, compare_runs, input_changes


@pytest.fixture(scope="module")
def runs():
    current, status, _ = cli_forecast_run()
    assert status == 0
    return export.read_run(previous_run()), export.read_run(current)


def _row(report, area, quantity, year):
    c = report.comparison
    rows = c[(c["Wijkcode"] == area) & (c["Grootheid"] == quantity) & (c["Jaar"] == year)]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.mark.slow
def test_a_new_base_year_is_new_data(runs):
    previous, current = runs
    report = compare_runs(previous, current, realised=load_assen().kwb)
    assert report.changes[["Onderdeel", "Soort"]].values.tolist() == [["basisjaar", "gegevens"]]
    observed = _row(report, "GM0106", "Inwoners", 2024)
    assert observed["Gerealiseerd (KWB)"] == 69701
    assert observed["Huidige run"] == pytest.approx(69701, abs=1)
    assert observed["Oorzaak"] == "gegevens (KWB 2024 gerealiseerd)"
    assert observed["Verschil"] == pytest.approx(observed["Huidige run"] - observed["Vorige run"])
    future = _row(report, "WK010601", "Behoefte verpleegzorgplek", 2040)
    assert future["Oorzaak"] == "nieuwe gegevens"
    assert sorted(report.comparison["Jaar"].unique()) == [2024, 2030, 2040]
    assert "basisjaar 2023" in report.summary() and "gegevens" in report.summary()


@pytest.mark.slow
def test_changed_parameters_are_assumptions_and_leave_the_population_alone(runs):
    _, current = runs
    record = copy.deepcopy(current.provenance)
    record["parameters"][0]["sha256"] = "0" * 64
    changed_need = current.dwellings.assign(need=current.dwellings["need"] * 1.1)
    report = compare_runs(current, RunOutput(current.population, changed_need, record, "edited"))
    kinds = report.changes.set_index("Onderdeel")["Soort"]
    assert kinds[f"parameterbestand {record['parameters'][0]['file']}"] == "aannames"
    assert _row(report, "GM0106", "Inwoners", 2030)["Oorzaak"] == "geen wijziging"
    assert _row(report, "GM0106", "Behoefte geclusterde woonvorm", 2030)["Oorzaak"] == "gewijzigde aannames"


@pytest.mark.slow
def test_same_inputs_with_different_numbers_are_flagged(runs):
    _, current = runs
    other = current.population.assign(persons=current.population["persons"] * 1.01)
    report = compare_runs(current, RunOutput(other, current.dwellings, current.provenance, "odd"))
    assert report.changes.empty
    assert _row(report, "GM0106", "Inwoners", 2040)["Oorzaak"].startswith("onverklaard")


def test_input_changes_classifies_every_kind():
    a = {"base_year": 2024, "variant": "central", "assen_demand_version": "0.1.0", "scenario": None,
         "supply": {"source": "example", "sha256": "a" * 64}, "end_year": 2040,
         "data": {"source": "bundled", "files": [{"path": "kwb.csv", "sha256": "1"}]}}
    b = dict(a, variant="high", assen_demand_version="0.2.0", scenario={"name": "hoog"},
             supply={"source": "file", "file": "aanbod.csv", "sha256": "b" * 64},
             data={"source": "bundled", "files": [{"path": "kwb.csv", "sha256": "2"}]})
    kinds = input_changes(a, b).set_index("Onderdeel")["Soort"].to_dict()
    assert kinds == {"invoerbestand kwb.csv": "gegevens", "parametervariant": "aannames", "aanbodtabel": "aanbod",
                     "scenario": "scenario", "versie assen_demand": "software"}


@pytest.mark.slow
def test_runs_of_different_gemeenten_are_refused(runs):
    previous, current = runs
    other = RunOutput(previous.population, previous.dwellings, dict(previous.provenance, gemeente="GM0114"), "emmen")
    with pytest.raises(DataFormatError, match=r"different gemeenten \(GM0114 in emmen, GM0106"):
        compare_runs(other, current)


@pytest.mark.slow
def test_report_command_writes_a_workbook(runs, capsys):
    current, _, _ = cli_forecast_run()
    path = scratch("report") / "monitoring.xlsx"
    assert main(["report", "--previous", str(previous_run()), "--current", str(current), "--out", str(path)]) == 0
    assert f"geschreven: {path}" in capsys.readouterr().out
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Samenvatting", "Gewijzigde invoer", "Vergelijking"]
    header = next(wb["Vergelijking"].iter_rows(values_only=True))
    assert header == ("Wijkcode", "Wijk", "Grootheid", "Jaar", "Vorige run", "Huidige run", "Gerealiseerd (KWB)",
                      "Verschil", "Verschil (%)", "Oorzaak")


@pytest.mark.slow
def test_report_command_prints_text_and_rejects_bad_folders(runs, capsys):
    current, _, _ = cli_forecast_run()
    assert main(["report", "--previous", str(previous_run()), "--current", str(current)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Monitoring") and "Lariks" in text
    assert main(["report", "--previous", "/no/such", "--current", str(current)]) == 2
    assert "--previous /no/such is geen map" in capsys.readouterr().err
    folder = scratch("notarun")
    folder.mkdir()
    assert main(["report", "--previous", str(folder), "--current", str(current)]) == 2
    assert "is not an output folder of 'assen-demand forecast'" in capsys.readouterr().err
    json.dumps(runs[1].provenance)  # the record stays JSON

"""export.py: CSV tables, the workbook (opened with openpyxl), sources sheet, provenance, reading a run back."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

import numpy as np
import openpyxl
import pandas as pd
import pytest
from products_helpers import WithQuantiles, assen_forecast, assen_forecast_example_supply, cli_forecast_run, scratch

import assen_demand
from assen_demand.inputs.datasets import bundled_dir
from assen_demand.parameters import STATUSES
from assen_demand.outputs import export
from assen_demand.errors import DataFormatError, MissingDataError

WIJKEN = ["Centrum", "Lariks", "Noorderpark", "Assen-Oost", "Pittelo", "Assen-West", "Peelo", "Marsdijk",
          "Kloosterveen", "Buitengebied"]


@pytest.fixture(scope="module")
def run():
    out, status, _ = cli_forecast_run()
    assert status == 0
    return out


@pytest.fixture(scope="module")
def workbook(run):
    return openpyxl.load_workbook(run / "forecast.xlsx", read_only=True)


def _rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


@pytest.mark.slow
def test_workbook_sheets_in_order(workbook):
    assert workbook.sheetnames == [
        "Toelichting", "Bevolking", "Ouderen", "Huishoudens", "Zorgvraag", "Woningbehoefte", "Woningbehoefte norm",
        "Opgave per wijk", "Voorraad", "Doorstroming", "Mantelzorg", "Voorzieningen", "Volkshuisvestingsprogramma",
        "Segmenten ouderen", "Programmatekst", "Bronnen en aannames",
    ]


@pytest.mark.slow
def test_woningbehoefte_has_a_row_per_wijk_and_dwelling_type_and_a_column_per_year(workbook):
    rows = _rows(workbook["Woningbehoefte"])
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Wijkcode", "Wijk", "Woningtype"]
    assert header[3:] == list(range(2024, 2041))
    assert len(body) == 11 * 5
    assert body[0][:3] == ["GM0106", "Assen (gemeente)", "Nultredenwoning"]
    names = {r[1] for r in body}
    assert set(WIJKEN) <= names
    lariks = {r[2]: r for r in body if r[1] == "Lariks"}
    assert set(lariks) == set(export.DWELLING_LABELS.values())
    expected = float(assen_forecast().dwellings["need"].sel(area="WK010601", dwelling_type="verpleegzorgplek",
                                                             model="need", year=2030))
    assert lariks["Verpleegzorgplek"][3 + 2030 - 2024] == pytest.approx(expected)


@pytest.mark.slow
def test_wijk_rows_add_up_to_the_gemeente_in_the_population_sheet(workbook):
    rows = _rows(workbook["Bevolking"])
    body = [r for r in rows[1:] if r[2] == "Totaal"]
    gemeente = body[0]
    wijken = body[1:]
    assert [r[1] for r in wijken] == WIJKEN
    for col in range(3, len(gemeente)):
        assert sum(r[col] for r in wijken) == pytest.approx(gemeente[col], rel=1e-9)
    assert gemeente[3] == pytest.approx(69701, abs=1)  # KWB 2024


@pytest.mark.slow
def test_supply_sheet_only_with_a_supply_table_and_keeps_unknown_supply_empty(workbook):
    # the default run has no supply table: the opgave (need - estimated stock) replaces the old sheet
    assert "Aanbod en tekort" not in workbook.sheetnames
    assert {"Opgave per wijk", "Voorraad"} <= set(workbook.sheetnames)
    sheet = export.workbook_sheets(assen_forecast_example_supply())["Aanbod en tekort"]
    rows = [list(sheet.columns)] + [[None if (isinstance(v, float) and np.isnan(v)) else v for v in r]
                                    for r in sheet.itertuples(index=False)]
    header = rows[0]
    assert header[:4] == ["Wijkcode", "Wijk", "Woningtype", "Maat"]
    supply = [r for r in rows[1:] if r[1] == "Pittelo" and r[3].startswith("Aanbod")]
    assert len(supply) == 5 and all(v is None for r in supply for v in r[4:])
    lariks = {r[3]: r for r in rows[1:] if r[1] == "Lariks" and r[2] == "Verpleegzorgplek"}
    assert lariks["Aanbod (leeg = onbekend)"][4 + 2026 - 2024] == 176
    assert lariks["Status aanbod"][4 + 2026 - 2024] == "aanname"  # the example supply is never bekend


@pytest.mark.slow
def test_sources_sheet_lists_data_parameters_supply_version_and_date(workbook):
    rows = _rows(workbook["Bronnen en aannames"])
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Soort", "Bestand", "Onderwerp"] and "Bron" in header and "Status" in header
    col = {name: i for i, name in enumerate(header)}
    kinds = [r[col["Soort"]] for r in body]
    assert kinds.count("Parameter") == len(export.parameter_sources())
    data = [r for r in body if r[col["Soort"]] == "Gegevens"]
    text = " ".join(str(r[col["Bron"]]) for r in data)
    for table_id in ("85039NED", "85984NED", "37259", "83502NED", "WPP 2024"):
        assert table_id in text
    run = {r[col["Onderwerp"]]: r[col["Toelichting"]] for r in body if r[col["Soort"]] == "Run"}
    assert run["Versie assen_demand"] == assen_demand.__version__
    assert run["Rundatum"][:2] == "20"
    assert "Scenario" in kinds
    supply = [r for r in body if r[col["Soort"]] == "Aanbod"]
    assert len(supply) == len(assen_forecast().supply)
    params = [r for r in body if r[col["Soort"]] == "Parameter"]
    assert all(r[col["Bron"]] and r[col["Status"]] in STATUSES and r[col["Jaar"]] for r in params)
    # the choice per wijk of issue 18 item 3: WK010605 follows its households, the other nine wijken do not
    method = {r[col["Onderwerp"]]: r[col["Toelichting"]] for r in body if r[col["Soort"]] == "Methode"}
    assert len(method) == 10 and "volgt de huishoudens" in method["WK010605 huishoudtrend"]
    assert sum("volgt de combinatie" in text for text in method.values()) == 9


@pytest.mark.slow
def test_csv_tables_have_the_documented_columns(run):
    pop = pd.read_csv(run / "population.csv")
    assert list(pop.columns) == ["area", "area_name", "sex", "age", "year", "persons"]
    dw = pd.read_csv(run / "dwellings.csv")
    assert list(dw.columns[:9]) == ["area", "area_name", "dwelling_type", "model", "year", "need", "supply", "gap",
                                    "supply_status"]
    assert set(dw["model"]) == {"need", "norm"}
    assert dw.loc[dw["model"] == "norm", "gap"].isna().all()
    for name, first in (("care_need", ["area", "area_name", "indicator", "year", "persons"]),
                        ("doorstroming", ["area", "area_name", "year", "willing", "willing_family_home", "available_new",
                                          "available_turnover", "realised", "moved_in", "freed_direct", "freed_chain"]),
                        ("mantelzorg", ["area", "area_name", "year", "carers_per_85plus", "need_per_carer"])):
        assert list(pd.read_csv(run / f"{name}.csv").columns) == first
    total = pop[(pop["area"] == "GM0106") & (pop["year"] == 2024)]["persons"].sum()
    assert total == pytest.approx(69701, abs=1)


@pytest.mark.slow
def test_provenance_records_checksums_version_and_command(run):
    record = json.loads((run / "provenance.json").read_text())
    assert record["assen_demand_version"] == assen_demand.__version__
    assert record["command"] == f"assen-demand forecast --out {run}"
    assert record["base_year"] == 2024 and record["end_year"] == 2040 and record["gemeente"] == "GM0106"
    assert record["scenario"] is None and record["draws"] == 0 and record["seed"] is None
    kwb = bundled_dir().joinpath("kwb.csv").read_bytes()
    by_path = {f["path"]: f["sha256"] for f in record["data"]["files"]}
    assert by_path["kwb.csv"] == hashlib.sha256(kwb).hexdigest()
    assert {p["file"] for p in record["parameters"]} == set(export.parameter_sources()["file"])
    assert record["supply"] == {"source": "none"}  # the press example is not the default (issue 13)


def test_provenance_names_the_workbook_writer_and_its_version():
    # the workbook is written with xlsxwriter since issue 20; openpyxl only reads workbooks in the tests
    from importlib import metadata
    from types import SimpleNamespace

    import xarray as xr

    light = SimpleNamespace(population=xr.DataArray([0.0, 0.0], coords={"year": [2024, 2025]}, dims="year"),
                            gemeente="GM0106", area_names={"GM0106": "Assen"})
    packages = export.provenance(light, command="test")["packages"]
    assert packages["xlsxwriter"] == metadata.version("xlsxwriter")
    assert "openpyxl" not in packages
    assert set(packages) == set(export.RECORDED_PACKAGES)
    assert all(packages.values())  # every recorded package is a dependency, so installed


def test_provenance_of_a_raw_data_folder_lists_its_files(raw_dir):
    listed = export.file_checksums(raw_dir)
    paths = [f["path"] for f in listed]
    assert "kwb/kwb_2024_85984NED_drenthe.csv" in paths
    assert not any(p.endswith("_extract.csv") for p in paths)


@pytest.mark.slow  # workbook with quantile columns: ~4 s CPU
def test_quantile_columns_pass_through_and_get_their_own_sheet():
    result = WithQuantiles(assen_forecast())
    tables = export.csv_tables(result)
    assert {"need_q05", "need_q50", "need_q95"} <= set(tables["dwellings"].columns)
    sheets = export.workbook_sheets(result)
    sheet = sheets["Onzekerheid"]
    assert list(sheet.columns[:4]) == ["Wijkcode", "Wijk", "Woningtype", "Maat"]
    assert set(sheet["Maat"]) == {"Percentiel 5", "Percentiel 50", "Percentiel 95"}
    assert len(sheet) == 11 * 5 * 3


@pytest.mark.slow  # writes and reads back a whole run folder: ~10 s CPU
def test_write_forecast_and_read_run_round_trip():
    out = scratch("roundtrip")
    written = export.write_forecast(assen_forecast(), out)
    assert set(written) == ({f"{s}.csv" for s in export.CSV_TABLES} | {"voorzieningen.csv", "opgave.csv", "stock.csv"}
                            | {"forecast.xlsx", "provenance.json"})
    run = export.read_run(out)
    assert run.base_year == 2024
    assert run.population["area"].iloc[0] == "GM0106"


def test_read_run_names_the_missing_files():
    empty = scratch("empty")
    empty.mkdir()
    with pytest.raises(MissingDataError, match=r"missing population.csv, dwellings.csv, provenance.json.*--out"):
        export.read_run(empty)


def test_write_report_refuses_an_unknown_format():
    with pytest.raises(DataFormatError, match=r"report\.pdf.*\.xlsx, \.csv or \.md"):
        export.write_report(None, scratch("x") / "report.pdf")


@pytest.mark.slow
def test_write_products_writes_what_the_command_line_writes(run):
    """outputs.products.write_products is the command line's writer (issue 20): without figures it
    writes the same tables byte for byte, the workbook with the same sheets, and the provenance."""
    from assen_demand.outputs.products import write_products

    data = assen_demand.load_assen()
    out = scratch("products_api")
    summary = write_products(assen_forecast(), out, data=data, figures=False)
    assert summary["figures"] == 0 and not (out / "figures").exists()
    assert sorted(summary["tables"]) == sorted(p.name for p in run.glob("*.csv"))
    for name in summary["tables"]:
        assert (out / name).read_bytes() == (run / name).read_bytes(), name
    ours = openpyxl.load_workbook(out / summary["workbook"], read_only=True).sheetnames
    assert ours == openpyxl.load_workbook(run / "forecast.xlsx", read_only=True).sheetnames
    assert json.loads((out / export.PROVENANCE).read_text())["assen_demand_version"] == assen_demand.__version__
    with pytest.raises(DataFormatError, match="table_format must be one of csv, parquet"):
        write_products(assen_forecast(), out, data=data, table_format="xlsx", figures=False)

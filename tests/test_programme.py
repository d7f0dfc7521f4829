"""programme.py: affordability checks on hand-worked pipelines, the programme table, the sheet and --evaluatie."""

from __future__ import annotations

import dataclasses

import numpy as np
import openpyxl
import pandas as pd
import pytest
from products_helpers import assen_forecast, cli_forecast_run

from assen_demand.cli import main
from assen_demand.errors import DataFormatError
from assen_demand.housing import groups, programme
from assen_demand.housing import segments as seg
from assen_demand.inputs.datasets import load_gemeente
from assen_demand.outputs import export, monitoring

YEARS = list(range(2026, 2036))


def _pipeline(rows):
    return pd.DataFrame(rows, columns=["area", "year", "dwellings_added", "dwellings_removed", "segment"])


# Two small hand-worked pipelines for 2026 (Assen wijken):
#   meets: 50 sociale huur + 10 middenhuur + 10 betaalbare koop + 30 vrije sector = 100; betaalbaar 70/100 = 70 %
#          >= 66.7 %; sociale huur 50/70 = 71 % of the betaalbare part >= 50 %.
#   fails: 20 sociale huur + 20 middenhuur + 60 vrije sector = 100; betaalbaar 40 % < 66.7 %; social 20/40 = 50 %
#          (exactly half: meets the second aim).
MEETS = _pipeline([("WK010600", 2026, 50, 0, "sociale_huur"), ("WK010608", 2026, 10, 0, "middenhuur"),
                   ("WK010608", 2026, 10, 0, "betaalbare_koop"), ("WK010608", 2026, 30, 0, "vrije_sector")])
FAILS = _pipeline([("WK010600", 2026, 20, 0, "sociale_huur"), ("WK010608", 2026, 20, 0, "middenhuur"),
                   ("WK010608", 2026, 60, 0, "vrije_sector")])
AREAS = ["GM0106", "WK010600", "WK010608"]


def test_a_pipeline_that_meets_the_two_thirds_aim():
    checks = programme.affordability_checks(programme.planned_by_segment(MEETS, areas=AREAS, years=[2026]))
    row = checks.set_index("year").loc[2026]
    assert row["planned"] == 100 and row["betaalbaar"] == 70 and row["sociale_huur"] == 50
    assert row["betaalbaar_share"] == pytest.approx(0.70)
    assert row["meets_two_thirds"] is True or bool(row["meets_two_thirds"])
    assert row["social_share_of_betaalbaar"] == pytest.approx(50 / 70)
    assert bool(row["meets_half_social"])


def test_a_pipeline_that_fails_the_two_thirds_aim():
    checks = programme.affordability_checks(programme.planned_by_segment(FAILS, areas=AREAS, years=[2026]))
    row = checks.set_index("year").loc[2026]
    assert row["betaalbaar_share"] == pytest.approx(0.40)
    assert not bool(row["meets_two_thirds"])
    assert row["social_share_of_betaalbaar"] == pytest.approx(0.5) and bool(row["meets_half_social"])


def test_unknown_segment_leaves_the_check_open_and_bad_plans_are_named():
    plan = MEETS.drop(columns="segment")
    checks = programme.affordability_checks(programme.planned_by_segment(plan, areas=AREAS, years=[2026, 2027]))
    assert checks["betaalbaar_share"].isna().all() and checks["meets_two_thirds"].isna().all()
    # a year without plans is shown as 0 planned, not left out
    assert checks.set_index("year").loc[2027, "planned"] == 0
    with pytest.raises(DataFormatError, match="segment \\['koop'\\] unknown"):
        programme.planned_by_segment(MEETS.assign(segment="koop"), areas=AREAS)
    with pytest.raises(DataFormatError, match="outside the gemeente"):
        programme.planned_by_segment(MEETS.assign(area="WK999999"), areas=AREAS)


def test_social_stock_share_against_thirty_percent_hand_worked():
    # 10,000 homes of which 28 % social = 2,800; 2026: +100 sociale huur +100 vrije sector ->
    # 1 January 2027: 2,900 / 10,200 = 28.4 %; the aim (30 %) is not met.
    plan = pd.DataFrame({"year": [2026, 2026], "segment": ["sociale_huur", "vrije_sector"], "dwellings": [100.0, 100.0]})
    check = programme.social_stock_check(10_000, 0.28, plan, base_year=2026, years=[2026, 2027]).set_index("year")
    assert check.loc[2027, "social_stock"] == pytest.approx(2_900)
    assert check.loc[2027, "social_stock_share"] == pytest.approx(2_900 / 10_200)
    assert not check["meets_30"].any()


def test_aims_say_they_are_national_aims_not_law():
    for value, kind, url in programme.AIMS.values():
        assert "landelijk streven" in kind and "geen wettelijke regel" in kind
        assert url.startswith("https://www.tweedekamer.nl/")
    assert programme.AIMS["betaalbaar_share"][0] == pytest.approx(2 / 3)
    assert programme.AIMS["social_stock_share"][0] == 0.30


@pytest.fixture(scope="module")
def assen_programme():
    data = load_gemeente("GM0106")
    return programme.volkshuisvestingsprogramma(assen_forecast(), kwb=data.kwb, dwelling_stock=33_165,
                                                pipeline=MEETS)


def test_programme_table_has_groups_segments_and_years(assen_programme):
    table = assen_programme.table
    assert sorted(table["year"].unique()) == YEARS
    groups_rows = table[table["section"] == "aandachtsgroepen"]
    assert set(groups.GROUPS) <= set(groups_rows["item"])
    growth = table[(table["section"] == "nodig") & (table["item"] == "huishoudensgroei")]
    assert set(growth["segment"]) == set(seg.SEGMENTS) | {"totaal"}
    # the segment rows add up to the total in every year
    by = growth.pivot_table(index="year", columns="segment", values="value")
    np.testing.assert_allclose(by[list(seg.SEGMENTS)].sum(axis=1), by["totaal"], rtol=1e-9)
    gap = table[(table["section"] == "tekort") & (table["item"] == "huishoudensgroei min gepland")
                & (table["segment"] == "totaal")].set_index("year")["value"]
    planned = table[(table["section"] == "gepland") & (table["segment"] == "totaal")].set_index("year")["value"]
    assert planned.loc[2026] == 100 and planned.loc[2027] == 0
    np.testing.assert_allclose(gap, by["totaal"] - planned, rtol=1e-9)
    checks = assen_programme.checks.set_index("year")
    assert checks.loc[2026, "betaalbaar_share"] == pytest.approx(0.70)
    assert "landelijk streven" in assen_programme.text and "Assen" in assen_programme.text
    assert set(table["status"]) <= {"bekend", "geschat", "aanname"}


def test_homes_needed_is_the_one_switchable_definition():
    fc = assen_forecast()
    needed = programme.homes_needed(fc, years=[2026])
    total = fc.households["households"].sum(["sex", "age"])
    growth = float(total.sel(area="GM0106", year=2027) - total.sel(area="GM0106", year=2026))
    assert float(needed.sel(area="GM0106", category="huishoudensgroei", year=2026)) == pytest.approx(growth)
    assert "Forecast.need" in needed.attrs["basis"]
    need = fc.need["total"].sel(area="GM0106", dwelling_type="geclusterd")
    assert float(needed.sel(area="GM0106", category="geclusterd", year=2026)) == \
        pytest.approx(float(need.sel(year=2027) - need.sel(year=2026)))


@pytest.fixture(scope="module")
def run():
    out, status, _ = cli_forecast_run()
    assert status == 0
    return out


@pytest.mark.slow
def test_the_default_run_has_the_programme_sheet_and_csv(run):
    wb = openpyxl.load_workbook(run / "forecast.xlsx", read_only=True)
    assert "Volkshuisvestingsprogramma" in wb.sheetnames and "Programmatekst" in wb.sheetnames
    rows = [list(r) for r in wb["Volkshuisvestingsprogramma"].iter_rows(values_only=True)]
    header, body = rows[0], rows[1:]
    assert header[:6] == ["Onderdeel", "Groep", "Segment", "Eenheid", "Status", "Toelichting"]
    assert header[6:] == YEARS
    names = {r[1] for r in body}
    assert set(groups.GROUP_LABELS.values()) <= names
    assert {"Sociale huur", "Middenhuur", "Betaalbare koop", "Vrije sector", "Totaal"} <= {r[2] for r in body}
    assert {"Nodig", "Gepland", "Tekort", "Toetsen"} <= {r[0] for r in body}
    csv = pd.read_csv(run / export.PROGRAMME_CSV)
    assert sorted(csv["year"].unique()) == YEARS
    # the sheet shows the CSV's numbers: vergunninghouders total 2030
    row = next(r for r in body if r[1] == groups.GROUP_LABELS["vergunninghouders"] and r[2] == "Totaal")
    value = csv[(csv["item"] == "vergunninghouders") & (csv["segment"] == "totaal") & (csv["year"] == 2030)]["value"]
    assert row[6 + YEARS.index(2030)] == pytest.approx(float(value.iloc[0]), abs=1e-3)
    # older households by segment: every wijk (and the gemeente) x 4 segments, summing to 100 % in every year
    seg_rows = [list(r) for r in wb["Segmenten ouderen"].iter_rows(values_only=True)]
    assert seg_rows[0][:3] == ["Wijkcode", "Wijk", "Segment (% van huishoudens 65+)"] and seg_rows[0][3:] == YEARS
    shares = pd.DataFrame(seg_rows[1:], columns=["code", "wijk", "segment"] + YEARS)
    assert len(shares) == 11 * 4 and set(shares["segment"]) == set(seg.SEGMENT_LABELS.values())
    np.testing.assert_allclose(shares.groupby("code")[YEARS].sum().to_numpy(), 100.0, atol=1e-6)
    per_wijk = pd.read_csv(run / "aandachtsgroepen.csv", dtype={"area": str})
    assert per_wijk["area"].nunique() == 11 and set(per_wijk["group"]) == set(groups.GROUPS)
    text = [r[0] for r in wb["Programmatekst"].iter_rows(values_only=True)]
    assert any("landelijk streven" in (t or "") for t in text)


@pytest.mark.slow
def test_report_follows_the_programme_and_evaluatie_compares_two_runs(run, capsys, tmp_path):
    current = export.read_run(run)
    assert current.programme is not None
    report = monitoring.compare_runs(current, current)
    assert report.comparison["Grootheid"].str.startswith("Programma:").any()
    # a run two base years back with 10 % fewer vergunninghouders: the evaluation shows the difference
    table = current.programme.copy()
    mask = table["item"] == "vergunninghouders"
    table.loc[mask, "value"] *= 0.9
    previous = dataclasses.replace(current, programme=table,
                                   provenance={**current.provenance, "base_year": current.base_year - 2})
    evaluation = monitoring.evaluate_programme(previous, current)
    row = evaluation[(evaluation["Grootheid"] == "Programma: vergunninghouders (huishoudens/jaar)")
                     & (evaluation["Jaar"] == 2030)].iloc[0]
    assert row["Verschil"] == pytest.approx(row["Huidige run"] / 10, rel=1e-9)
    assert (evaluation["Opmerking"] == "").all()
    # the CLI: the same run twice -> no differences, and a note that the base years are not two apart
    out = tmp_path / "evaluatie.csv"
    assert main(["report", "--previous", str(run), "--current", str(run), "--evaluatie", "--out", str(out)]) == 0
    written = pd.read_csv(out)
    # (the betaalbaar share is NaN in both: the example plan has no segments)
    known = written["Vorige run"].notna()
    assert (written.loc[known, "Verschil"] == 0).all() and written["Opmerking"].str.contains("0 jaar").all()
    with pytest.raises(DataFormatError, match="volkshuisvestingsprogramma.csv"):
        monitoring.evaluate_programme(dataclasses.replace(current, programme=None), current)

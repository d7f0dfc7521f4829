"""Facilities per wijk (issue 15): demand, norms, distances (KWB and a cbsodata stand-in), the
gemeente's list of places, the pressure table and its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from products_helpers import assen_forecast, cli_forecast_run

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError
from assen_demand.housing import facilities as F
from assen_demand.inputs import nabijheid as N

DATA = Path(__file__).parent / "data"
AGES = np.arange(101)


# ------------------------------------------------------------------ small hand-made gemeente


def _persons(cells: dict, areas, years=(2024,)) -> xr.DataArray:
    """Population (area, sex, age, year) with {(area, age): persons}, all put on women."""
    da = xr.DataArray(np.zeros((len(areas), 2, 101, len(years))), dims=("area", "sex", "age", "year"),
                      coords={"area": list(areas), "sex": ["male", "female"], "age": AGES, "year": list(years)})
    for (area, age), n in cells.items():
        da.loc[dict(area=area, sex="female", age=age)] = n
    return da


def _need(population: xr.DataArray, dementia_share: float, adl_share: float) -> xr.DataArray:
    layers = [population * dementia_share, population * adl_share]
    return xr.concat(layers, dim="indicator").assign_coords(indicator=["dementia_at_home", "adl_limitation"]) \
        .transpose("area", "sex", "age", "year", "indicator")


AREAS = ["GM9999", "WK999901", "WK999902"]
WIJK_CELLS = {("WK999901", 40): 10_000, ("WK999901", 60): 1_700, ("WK999901", 80): 300,
              ("WK999902", 40): 2_800, ("WK999902", 90): 200}


def _hand_case():
    cells = dict(WIJK_CELLS)
    for (area, age), n in WIJK_CELLS.items():  # the gemeente row holds the sum of its wijken
        cells[("GM9999", age)] = cells.get(("GM9999", age), 0) + n
    pop = _persons(cells, AREAS)
    alone = pop * 0.4
    need = _need(pop, 0.05, 0.1)
    clustered = xr.DataArray([[30.0], [30.0], [0.0]], dims=("area", "year"),
                             coords={"area": AREAS, "year": [2024]})
    return pop, alone, need, clustered


def _distances(values: dict) -> pd.DataFrame:
    rows = [(a, "large_supermarket", v, 2024, "test", "bekend" if v == v else "onbekend", "") for a, v in values.items()]
    return pd.DataFrame(rows, columns=["area", "facility", "distance_km", "data_year", "cbs_table", "status", "message"])


def test_hand_worked_norms():
    # tests/data/hand_worked.md, case F
    pop, alone, need, clustered = _hand_case()
    demand = F.facility_demand(pop, alone, need, clustered_dwellings=clustered, gemeente="GM9999")
    d = demand.sel(year=2024)
    assert d["residents"].values.tolist() == [15_000, 12_000, 3_000]
    assert d["residents_75plus"].values.tolist() == [500, 300, 200]
    places = d["meeting_places_needed"]
    assert places.sel(norm="catchment").values == pytest.approx([1.5, 1.2, 0.3])
    assert places.sel(norm="per_75plus").values == pytest.approx([0.5, 0.3, 0.2])
    ratio = d["mantelzorg_ratio"].values
    assert ratio[0] == pytest.approx(8.5) and np.isnan(ratio[1]) and ratio[2] == 0
    assert d["clustered_woonvormen"].values == pytest.approx([2.5, 2.5, 0.0])
    low = F.facility_demand(pop, alone, need, clustered_dwellings=clustered, gemeente="GM9999", variant="low")
    assert low["meeting_places_needed"].sel(norm="catchment", year=2024).values == pytest.approx([3.0, 2.4, 0.6])

    present = pd.DataFrame({"name": ["a", "b", "c"], "kind": ["steunpunt", "ontmoetingsplek", "wijkcentrum"],
                            "area": ["WK999901", "WK999902", "BU99990201"], "capacity": [20, None, 5]})
    present = N.read_facility_list(present, wijken=AREAS[1:])
    table = F.facility_pressure(demand, _distances({"GM9999": 0.9, "WK999901": 0.3, "WK999902": 0.6}),
                                present=present).set_index("area")
    assert table["places_needed"].tolist() == [3, 2, 1]
    assert table["places_present"].tolist() == [3, 1, 2]
    assert table["shortfall"].tolist() == [1, 1, 0]
    assert table.loc["WK999901", "beyond_threshold"] == False  # noqa: E712 - 300 m < 400 m
    assert table.loc["WK999902", "beyond_threshold"] == True  # noqa: E712
    low_table = F.facility_pressure(low, _distances({"GM9999": 0.9}), present=present).set_index("area")
    assert low_table["places_needed"].tolist() == [4, 3, 1]
    assert low_table.loc["WK999901", "beyond_threshold"] is pd.NA  # no distance known: unknown, not "near"


def test_exact_catchment_is_one_place_not_two():
    # 10,000 inhabitants at a 10,000 catchment: 1.0 place, which must not round up to 2
    pop = _persons({("WK999901", 30): 10_000}, ["WK999901"])
    demand = F.facility_demand(pop, pop * 0, _need(pop, 0, 0), clustered_dwellings=pop.sum(["sex", "age"]) * 0)
    table = F.facility_pressure(demand, _distances({"WK999901": 0.5}))
    assert table["places_needed"].tolist() == [1]
    assert np.isnan(table["places_present"]).all() and np.isnan(table["shortfall"]).all()  # no list: unknown


@pytest.mark.slow  # reads the raw KWB files / Hypothesis invariant: 4-9 s CPU
@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 5_000, allow_nan=False), min_size=3 * 101, max_size=3 * 101),
       st.floats(0, 1), st.floats(0, 0.3), st.floats(0, 0.5))
def test_counts_of_the_gemeente_are_the_sums_of_its_wijken(values, alone_share, dementia, adl):
    wijken = ["WK999901", "WK999902", "WK999903"]
    pop = xr.DataArray(np.array(values).reshape(3, 1, 101, 1).repeat(2, axis=1).repeat(2, axis=3),
                       dims=("area", "sex", "age", "year"),
                       coords={"area": wijken, "sex": ["male", "female"], "age": AGES, "year": [2024, 2030]})
    # a gemeente row that does NOT equal the sum (as the households step's own gemeente row can differ)
    gm = pop.sum("area").expand_dims(area=["GM9999"]) * 1.1
    pop = xr.concat([gm, pop], dim="area")
    clustered = pop.sum(["sex", "age"]) * 0.01
    demand = F.facility_demand(pop, pop * alone_share, _need(pop, dementia, adl), clustered_dwellings=clustered,
                               gemeente="GM9999")
    for name in F.COUNT_INDICATORS + ("clustered_woonvormen", "meeting_places_needed"):
        wijk_sum = demand[name].sel(area=wijken).sum("area")
        np.testing.assert_allclose(demand[name].sel(area="GM9999"), wijk_sum, rtol=1e-12, atol=1e-9)
    ratio = demand["carers_50_74"].sel(area="GM9999") / demand["residents_85plus"].sel(area="GM9999")
    np.testing.assert_allclose(demand["mantelzorg_ratio"].sel(area="GM9999"), ratio.where(np.isfinite(ratio)))


def test_assen_demand_adds_up_and_follows_the_care_chain():
    fc = assen_forecast()
    table = fc.facilities.to_frame()
    wijken = [a for a in table["area"].unique() if a != "GM0106"]
    for col in F.COUNT_INDICATORS + ("places_needed",):
        by_year = table[table["area"].isin(wijken)].groupby("year")[col].sum()
        gm = table[table["area"] == "GM0106"].set_index("year")[col]
        np.testing.assert_allclose(gm, by_year, rtol=1e-12)
    # the wijk values are the care chain's own numbers, not re-estimated
    c = fc.care_need.sel(area="WK010600", year=2030, indicator="dementia_at_home").sum()
    row = table[(table["area"] == "WK010600") & (table["year"] == 2030)].iloc[0]
    assert row["dementia_at_home"] == pytest.approx(float(c))
    alone = fc.households["alone"].sel(area="WK010607", year=2040).where(fc.households["age"] >= 75, 0).sum()
    assert table[(table["area"] == "WK010607") & (table["year"] == 2040)]["alone_75plus"].iloc[0] == pytest.approx(
        float(alone))
    assert row["residents"] == pytest.approx(float(fc.population.sel(area="WK010600", year=2030).sum()))


def test_unknown_norm_and_missing_areas_are_errors():
    pop, alone, need, clustered = _hand_case()
    demand = F.facility_demand(pop, alone, need, clustered_dwellings=clustered, gemeente="GM9999")
    with pytest.raises(DataFormatError, match="unknown norm 'per_wijk'; choose one of catchment, per_75plus"):
        F.facility_pressure(demand, _distances({}), norm="per_wijk")
    with pytest.raises(DataFormatError, match=r"clustered_dwellings has no value for area\(s\) \['WK999902'\]"):
        F.facility_demand(pop, alone, need, clustered_dwellings=clustered.sel(area=["GM9999", "WK999901"]))
    with pytest.raises(UnknownAreaError, match="gemeente 'GM0106' is not an area"):
        F.facility_demand(pop, alone, need, clustered_dwellings=clustered, gemeente="GM0106")


def test_flag_needs_faster_growth_and_a_long_distance():
    years = (2024, 2040)
    cells = {("WK999901", 80): 100, ("WK999902", 80): 100}
    pop = _persons(cells, ["GM9999", "WK999901", "WK999902"], years)
    pop.loc[dict(area="WK999901", sex="female", age=80, year=2040)] = 300  # triples
    pop.loc[dict(area="WK999902", sex="female", age=80, year=2040)] = 110  # +10 %
    clustered = pop.sum(["sex", "age"]) * 0
    demand = F.facility_demand(pop, pop * 0.5, _need(pop, 0.1, 0.1), clustered_dwellings=clustered, gemeente="GM9999")
    far = F.facility_pressure(demand, _distances({"WK999901": 1.2, "WK999902": 1.2})).set_index(["area", "year"])
    assert far.loc[("WK999901", 2040), "growth_alone_75plus_pct"] == pytest.approx(200.0)
    assert bool(far.loc[("WK999901", 2040), "flag"]) and not bool(far.loc[("WK999902", 2040), "flag"])
    assert not far.xs(2024, level="year")["flag"].any()  # no growth in the base year
    # gemeente: (300 + 110) / 200 - 1 = 105 %; wijk 1 +200 % ranks first of two, the fastest third is 1 wijk
    assert far.loc[("GM9999", 2040), "vulnerable_growth_pct"] == pytest.approx(105.0)
    assert far.xs(2040, level="year")["growth_rank"].tolist()[1:] == [1, 2]
    near = F.facility_pressure(demand, _distances({"WK999901": 0.3, "WK999902": 1.2})).set_index(["area", "year"])
    assert not bool(near.loc[("WK999901", 2040), "flag"])  # fast growth, but within 400 m


# ------------------------------------------------------------------ distances


def test_missing_distance_is_unknown_with_the_command_that_fetches_it(assen):
    nearby = N.nearby_distances(assen.kwb, areas=["GM0106", "WK010600", "WK010699"], year=2024, gemeente="GM0106")
    gp = nearby[nearby["facility"] == "gp_practice"]
    assert gp["distance_km"].isna().all() and (gp["status"] == "onbekend").all()
    command = N.fetch_command("GM0106", 2024)
    assert command == ('python -c "from assen_demand.inputs.nabijheid import fetch_nabijheid; '
                       "fetch_nabijheid('GM0106', 2024).to_csv('nabijheid_GM0106_2024.csv', index=False)\"")
    assert all(command in m for m in gp["message"])
    # the KWB 2024 supermarket column is empty for Drenthe: the 2023 value is used and said so, never 0
    shop = nearby[nearby["facility"] == "large_supermarket"].set_index("area")
    assert shop.loc["WK010600", "distance_km"] == 0.5 and shop.loc["WK010699", "distance_km"] == 2.9
    assert (shop["data_year"] == 2023).all() and (shop["cbs_table"] == "85618NED").all()
    assert shop["message"].str.contains("laatst beschikbare jaar 2023").all()


def test_empty_distance_column_stays_unknown_not_zero(assen):
    kwb = assen.kwb.copy()
    kwb["distance_large_supermarket_km"] = np.nan  # as CBS publishes KWB 2024 for Drenthe
    nearby = N.nearby_distances(kwb, areas=["WK010600"], year=2024, gemeente="GM0106",
                                facilities=["large_supermarket"])
    assert np.isnan(nearby["distance_km"].iloc[0]) and nearby["status"].iloc[0] == "onbekend"
    assert "fetch_nabijheid('GM0106', 2024)" in nearby["message"].iloc[0]


class RecordedClient:
    """Replays tests/data/nabijheid_85830NED_GM0106.json like the cbsodata module."""

    def __init__(self):
        self.response = json.loads((DATA / "nabijheid_85830NED_GM0106.json").read_text())
        self.calls = []

    def get_meta(self, table, name):
        self.calls.append(("meta", table, name))
        assert table == self.response["table"] and name == "DataProperties"
        return self.response["DataProperties"]

    def get_data(self, table, filters=None, select=None):
        self.calls.append(("data", table, filters, tuple(select)))
        return [{k: r[k] for k in select} for r in self.response["TypedDataSet"]]


def test_fetch_nabijheid_finds_columns_by_key_and_keeps_the_gemeente():
    client = RecordedClient()
    got = N.fetch_nabijheid("GM0106", 2023, client=client)
    _, table, filters, select = client.calls[1]
    assert table == "85830NED"
    assert "startswith(WijkenEnBuurten,'WK0106')" in filters and "startswith(WijkenEnBuurten,'GM0106')" in filters
    assert set(select) == {"WijkenEnBuurten", "AfstandTotHuisartsenpraktijk_5", "AfstandTotApotheek_10",
                           "AfstandTotGroteSupermarkt_24"}  # the table has no library/train/post columns
    assert set(got["area"]) == {"GM0106", "BU01060001", *(f"WK0106{n:02d}" for n in (*range(9), 99))}
    value = got.set_index(["area", "facility"])["distance_km"]
    assert value[("WK010600", "large_supermarket")] == 0.5  # KWB 2023 value carried in the stand-in
    assert value[("WK010608", "gp_practice")] == 1.2
    assert np.isnan(value[("WK010699", "pharmacy")])  # empty CBS cell stays unknown
    assert (got["cbs_table"] == "85830NED").all() and (got["year"] == 2023).all()


def test_fetched_distances_fill_the_gaps_and_round_trip_through_csv(assen, tmp_path):
    fetched = N.fetch_nabijheid("GM0106", 2023, client=RecordedClient())
    path = tmp_path / "nabijheid_GM0106_2023.csv"
    fetched.to_csv(path, index=False)
    nearby = N.nearby_distances(assen.kwb, areas=["GM0106", "WK010699"], year=2024, gemeente="GM0106",
                                fetched=N.read_distances(path)).set_index(["area", "facility"])
    assert nearby.loc[("WK010699", "gp_practice"), "distance_km"] == 3.4
    assert nearby.loc[("WK010699", "gp_practice"), "cbs_table"] == "85830NED"
    assert nearby.loc[("WK010699", "pharmacy"), "status"] == "onbekend"  # empty in the table: still unknown
    assert nearby.loc[("WK010699", "large_supermarket"), "cbs_table"] == "85830NED"  # same year: fuller table wins


def test_fetch_errors_say_what_to_do():
    with pytest.raises(MissingDataError, match=r"no CBS nabijheid table id known for 2019 .*table='<id>'"):
        N.fetch_nabijheid("GM0106", 2019, client=RecordedClient())
    with pytest.raises(UnknownAreaError, match="give it as GM0106"):
        N.fetch_nabijheid("Assen", 2023, client=RecordedClient())

    class NoDistances(RecordedClient):
        def get_meta(self, table, name):
            return [p for p in super().get_meta(table, name) if not p["Key"].startswith("Afstand")]

    with pytest.raises(DataFormatError, match="has none of the distance columns"):
        N.fetch_nabijheid("GM0106", 2023, client=NoDistances())


@pytest.mark.slow  # reads the raw KWB files / Hypothesis invariant: 4-9 s CPU
@pytest.mark.filterwarnings("ignore::assen_demand.inputs.cbs.DataWarning")  # buurten sharing a name: not ours
def test_read_kwb_picks_up_the_gp_distance_when_the_download_has_it(raw_dir, tmp_path):
    from assen_demand.inputs import cbs

    # the raw folder as it is (gemeente codes come from the other files), KWB 2024 with a huisarts column
    for item in raw_dir.iterdir():
        if item.name != "kwb":
            (tmp_path / item.name).symlink_to(item)
    (tmp_path / "kwb").mkdir()
    source = next((raw_dir / "kwb").glob("kwb_2024_*.csv"))
    for other in (raw_dir / "kwb").glob("kwb_*.csv"):
        if other != source:
            (tmp_path / "kwb" / other.name).symlink_to(other)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    # key as in the CBS DataProperties of 85984NED (raw kwb_2024_codes_drenthe/DataProperties.json)
    frame.insert(list(frame.columns).index("AfstandTotGroteSupermarkt_118"), "AfstandTotHuisartsenpraktijk_117",
                 ["0.7"] * len(frame))
    frame.to_csv(tmp_path / "kwb" / source.name, index=False)
    kwb = cbs.read_kwb(tmp_path, gemeente="GM0106")
    kwb = kwb[kwb["year"] == 2024]
    assert (kwb["distance_gp_practice_km"] == 0.7).all()
    long = N.distances_from_kwb(kwb)
    assert set(long["facility"]) == {"gp_practice", "large_supermarket"}
    assert long[long["facility"] == "large_supermarket"]["distance_km"].isna().all()  # empty in KWB 2024 Drenthe


def test_fetch_resolves_the_real_kwb_2024_keys(raw_dir):
    # CBS's own DataProperties of 85984NED (KWB 2024): huisarts _117 and supermarket _118, found by key
    properties = json.loads((raw_dir / "kwb_2024_codes_drenthe" / "DataProperties.json").read_text())

    class Kwb2024(RecordedClient):
        def get_meta(self, table, name):
            return properties

        def get_data(self, table, filters=None, select=None):
            self.calls.append(("data", table, filters, tuple(select)))
            return [{"WijkenEnBuurten": "WK010600  ", "AfstandTotHuisartsenpraktijk_117": 0.4,
                     "AfstandTotGroteSupermarkt_118": None}]

    client = Kwb2024()
    got = N.fetch_nabijheid("GM0106", 2024, table="85984NED", client=client)
    assert client.calls[0][3] == ("WijkenEnBuurten", "AfstandTotHuisartsenpraktijk_117", "AfstandTotGroteSupermarkt_118")
    value = got.set_index("facility")["distance_km"]
    assert value["gp_practice"] == 0.4 and np.isnan(value["large_supermarket"])


# ------------------------------------------------------------------ the gemeente's list


WIJKEN = [f"WK0106{n:02d}" for n in (*range(9), 99)]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "voorzieningen.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_template_reads_and_buurt_codes_map_to_their_wijk():
    places = N.read_facility_list(N.template_path(), wijken=WIJKEN)
    assert places["wijk"].tolist() == ["WK010600", "WK010607"]
    assert places["capacity"].iloc[0] == 40 and np.isnan(places["capacity"].iloc[1])
    assert "note" in places  # extra columns are kept


@pytest.mark.parametrize(
    "line, error, match",
    [
        ("Buurthuis,ontmoetingsplek,WK019900,30", UnknownAreaError,
         r"line 3 \(Buurthuis\): area 'WK019900' is not a wijk or buurt of this gemeente; give a wijk code"),
        ("Buurthuis,ontmoetingsplek,BU16800001,30", UnknownAreaError, r"area 'BU16800001' is not a wijk or buurt"),
        ("Buurthuis,ontmoetingsplek,WK010601,-5", InvalidValueError,
         r"line 3 \(Buurthuis\): capacity '-5' must be a whole number >= 0"),
        ("Buurthuis,ontmoetingsplek,WK010601,2.5", InvalidValueError, r"capacity '2.5' must be a whole number"),
        ("Buurthuis,ontmoetingsplek,WK010601,veel", InvalidValueError, r"capacity 'veel' is not a number"),
        ("Buurthuis,sportschool,WK010601,30", DataFormatError,
         r"kind 'sportschool' is unknown; use one of ontmoetingsplek, steunpunt, wijkcentrum"),
        (",steunpunt,WK010601,30", DataFormatError, r"line 3: name is empty"),
        ("De Wending,steunpunt,WK010601,", DataFormatError, r"line 3: 'De Wending' in WK010601 is listed twice"),
    ],
)
def test_bad_facility_list_names_the_line_and_the_fix(tmp_path, line, error, match):
    path = _write(tmp_path, f"name,kind,area,capacity\nDe Wending,steunpunt,WK010601,25\n{line}\n")
    with pytest.raises(error, match=match):
        N.read_facility_list(path, wijken=WIJKEN)


def test_facility_list_file_problems(tmp_path):
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['capacity'\]; the header must read"):
        N.read_facility_list(_write(tmp_path, "name,kind,area\nx,steunpunt,WK010601\n"), wijken=WIJKEN)
    with pytest.raises(DataFormatError, match="has no rows"):
        N.read_facility_list(_write(tmp_path, "name,kind,area,capacity\n"), wijken=WIJKEN)
    with pytest.raises(DataFormatError, match="is empty; start from"):
        N.read_facility_list(_write(tmp_path, ""), wijken=WIJKEN)
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,kind,area,capacity\nCaf\xe9,steunpunt,WK010601,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="is not UTF-8"):
        N.read_facility_list(path, wijken=WIJKEN)
    names = {"WK010601": "Lariks"}
    ok = N.read_facility_list(_write(tmp_path, "name,kind,area,capacity\nx,Steunpunt,lariks,3\n"), wijken=WIJKEN,
                              area_names=names)
    assert ok["wijk"].tolist() == ["WK010601"] and ok["kind"].tolist() == ["steunpunt"]


def test_a_list_gives_present_places_and_shortfall_in_the_forecast():
    fc = assen_forecast()
    present = N.read_facility_list(N.template_path(), wijken=WIJKEN)
    demand = fc.facilities.demand
    table = F.facility_pressure(demand, fc.facilities.distances, present=present, base_year=2024)
    row = table.set_index(["area", "year"])
    assert row.loc[("WK010600", 2024), "places_present"] == 1 and row.loc[("WK010601", 2024), "places_present"] == 0
    # Marsdijk 11,930 inhabitants in 2024 (KWB): 1.19 places by the 10,000 catchment -> 2 whole, 1 listed
    assert row.loc[("WK010607", 2024), "places_needed"] == 2 and row.loc[("WK010607", 2024), "shortfall"] == 1
    gm = row.loc[("GM0106", 2024)]
    wijk_rows = table[(table["area"] != "GM0106") & (table["year"] == 2024)]
    assert gm["shortfall"] == wijk_rows["shortfall"].sum() and gm["places_present"] == 2


# ------------------------------------------------------------------ outputs of the default run


@pytest.mark.slow  # the CLI: a full forecast (with figures for the default run)
def test_default_run_writes_sheet_csv_and_chart():
    import openpyxl

    out, status, _ = cli_forecast_run()
    assert status == 0
    csv = pd.read_csv(out / "voorzieningen.csv", dtype={"area": str})
    assert list(csv.columns[:4]) == ["area", "area_name", "year", "norm"]
    assert len(csv) == 11 * 17 and csv["distance_note"].str.contains("fetch_nabijheid").all()
    assert csv["distance_gp_practice_km"].isna().all()  # unknown in the bundled data, never 0
    book = openpyxl.load_workbook(out / "forecast.xlsx", read_only=True)
    rows = list(book["Voorzieningen"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Wijkcode", "Wijk", "Jaar") and "Signaal: snelle groei en lange afstand" in rows[0]
    assert len(rows) == 1 + 11 * 17
    assert (out / "figures" / "voorzieningen_druk_en_afstand.png").is_file()


@pytest.mark.slow  # the CLI: a full forecast (with figures for the default run)
def test_cli_rejects_a_missing_facility_list(tmp_path, capsys):
    from assen_demand.cli import main

    status = main(["forecast", "--out", str(tmp_path / "o"), "--voorzieningen", str(tmp_path / "nope.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "--voorzieningen" in err and "niet gevonden; geef een CSV-bestand" in err
    bad = _write(tmp_path, "name,kind,area,capacity\nBuurthuis,ontmoetingsplek,WK019900,30\n")
    status = main(["forecast", "--out", str(tmp_path / "o2"), "--voorzieningen", str(bad)])
    err = capsys.readouterr().err
    assert status == 2 and "area 'WK019900' is not a wijk or buurt of this gemeente" in err
    assert err.count("\n") == 1  # one line

"""Readers of the raw CBS/UN files: reference figures, code recovery, error paths.

Reference figures are the published CBS numbers (KWB 85039NED/85984NED, postcode tables
83502NED/83503NED, 37259eng) as listed in shared/data/raw/SOURCES.md.
"""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

from assen_demand.inputs import cbs
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError

ASSEN_WIJKEN = {
    "WK010600": "Centrum",
    "WK010601": "Lariks",
    "WK010602": "Noorderpark",
    "WK010603": "Assen-Oost",
    "WK010604": "Pittelo",
    "WK010605": "Assen-West",
    "WK010606": "Peelo",
    "WK010607": "Marsdijk",
    "WK010608": "Kloosterveen",
    "WK010699": "Buitengebied",
}


@pytest.fixture(scope="module")
def kwb(raw_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cbs.DataWarning)
        return cbs.read_kwb(raw_dir)


def _value(frame, area, year, column):
    row = frame[(frame["area"] == area) & (frame["year"] == year)]
    assert len(row) == 1, f"{area} {year}: {len(row)} rows"
    return row[column].iloc[0]


# ---------------------------------------------------------------- reference figures


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_kwb_assen_totals(kwb):
    assert _value(kwb, "GM0106", 2021, "population") == 68_836
    assert _value(kwb, "GM0106", 2024, "population") == 69_701
    assert _value(kwb, "GM0106", 2021, "age_65_plus") == 14_276


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_assen_wijken_found_in_every_kwb_year(kwb):
    for year in (2021, 2022, 2023, 2024):
        wijken = kwb[(kwb["gemeente"] == "GM0106") & (kwb["area_level"] == "wijk") & (kwb["year"] == year)]
        assert sorted(wijken["area"]) == sorted(ASSEN_WIJKEN), year
    # 2024 names are the plain CBS names; 2021 labels lose their 'Wijk NN' prefix
    names_2024 = kwb[(kwb["year"] == 2024) & kwb["area"].isin(list(ASSEN_WIJKEN))].set_index("area")["area_name"]
    assert names_2024.to_dict() == ASSEN_WIJKEN
    assert _value(kwb, "WK010600", 2021, "area_name") == "Assen centrum"


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_wijk_codes_match_the_2024_codes_file_for_every_drenthe_gemeente(kwb, raw_dir):
    codes = cbs.read_kwb_codes(raw_dir)
    drenthe = codes[codes["area_level"] == "gemeente"]["area"]
    assert len(drenthe) == 12
    ours = kwb[(kwb["year"] == 2024) & kwb["gemeente"].isin(drenthe) & (kwb["area_level"] == "wijk")]
    theirs = codes[codes["area_level"] == "wijk"]
    merged = ours.merge(theirs[["area", "population"]], on="area", how="outer", suffixes=("", "_codes"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][["area", "_merge"]]
    assert (merged["population"] == merged["population_codes"]).all()
    # gemeente codes recovered from names agree with the codes file too
    gem = kwb[(kwb["year"] == 2024) & (kwb["area_level"] == "gemeente")].merge(
        codes[codes["area_level"] == "gemeente"][["area", "population"]], on="area", suffixes=("", "_codes")
    )
    assert len(gem) == 12 and (gem["population"] == gem["population_codes"]).all()


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_every_drenthe_wijk_has_a_code_in_every_year(kwb, raw_dir):
    codes = cbs.read_kwb_codes(raw_dir)
    drenthe = set(codes.loc[codes["area_level"] == "gemeente", "area"])
    wijken = kwb[kwb["gemeente"].isin(drenthe) & (kwb["area_level"] == "wijk")]
    assert wijken["area"].str.fullmatch(r"WK\d{6}").all()
    per_year = wijken.groupby("year")["area"].apply(frozenset)
    assert len(set(per_year)) == 1  # the same 189 wijken each year
    assert len(per_year.iloc[0]) == 189


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_buurten_get_stable_keys_under_their_wijk(kwb):
    brink = kwb[(kwb["area_level"] == "buurt") & (kwb["area_name"] == "Brinkkwartier") & (kwb["gemeente"] == "GM0106")]
    assert set(brink["area"]) == {"WK010600:brinkkwartier"}
    assert set(brink["year"]) == {2021, 2022, 2023, 2024}
    assert (brink["wijk"] == "WK010600").all()


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_wijken_without_codes_get_a_key_from_gemeente_and_name(kwb):
    # Groningen labels its wijken without 'Wijk NN' and no codes file covers it
    gron = kwb[(kwb["gemeente"] == "GM0014") & (kwb["area_level"] == "wijk")]
    assert len(gron) > 0 and gron["area"].str.startswith("GM0014:").all()
    assert set(gron["code_source"]) == {"key"}


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_gemeente_codes_recovered_for_every_gemeente(kwb):
    gem = kwb[kwb["area_level"] == "gemeente"]
    assert gem["area"].str.fullmatch(r"GM\d{4}").all(), gem.loc[~gem["area"].str.fullmatch(r"GM\d{4}"), "area_name"]
    assert _value(kwb, "GM0518", 2021, "area_name") == "'s-Gravenhage"
    assert _value(kwb, "GM0014", 2022, "area_name") == "Groningen"
    assert gem.groupby("year").size().to_dict() == {2021: 352, 2022: 345, 2023: 12, 2024: 12}


@pytest.mark.slow  # reads every raw KWB year (the kwb fixture) or the raw postcode table: ~9 s CPU
def test_postcode_population_assen(raw_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cbs.DataWarning)
        pc = cbs.read_postcode_population(raw_dir)
    assen = pc[pc["area"] == "GM0106"]
    total = assen[assen["sex"] == "total"]
    assert total["persons"].sum() == 68_835
    assert assen.loc[assen["sex"] == "male", "persons"].sum() == 34_075
    assert assen.loc[assen["sex"] == "female", "persons"].sum() == 34_750
    assert total.loc[total["age_lo"] >= 65, "persons"].sum() == 14_275
    assert total.loc[total["age_lo"] >= 75, "persons"].sum() == 6_030
    assert total.loc[total["age_lo"] >= 85, "persons"].sum() == 1_645
    top = total[total["age_lo"] == 95]
    assert top["age_hi"].isna().all()


def test_postcode_population_has_no_double_counting(raw_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cbs.DataWarning)
        nl = cbs.read_postcode_population(raw_dir, level="national")
    # PC4 rows only: the Netherlands on 1 Jan 2021 had 17.48 million inhabitants, not 3x that
    assert 17.40e6 < nl.loc[nl["sex"] == "total", "persons"].sum() < 17.50e6


@pytest.mark.slow  # reads raw CBS/UN files: 1.5-2 s CPU each
def test_population_dynamics_assen_2023(raw_dir):
    dyn = cbs.read_population_dynamics(raw_dir)
    row = dyn[(dyn["area"] == "GM0106") & (dyn["year"] == 2023) & (dyn["sex"] == "total")].iloc[0]
    assert (row["births"], row["deaths"]) == (591, 736)
    assert row["population_jan1"] == 69_414 and row["population_dec31"] == 69_701
    # the balancing equation holds in the CBS table up to CBS's small unexplained correction
    # (2023: 69,414 + 591 - 736 + 437 = 69,706 vs 69,701 published; growth 287 = natural -145 + 432)
    balance = row["population_jan1"] + row["births"] - row["deaths"] + row["net_migration"]
    assert balance - row["population_dec31"] == 5
    assert row["population_growth"] == row["population_dec31"] - row["population_jan1"]
    # older 1 January stocks come from the Dutch StatLine download
    old = dyn[(dyn["area"] == "GM0106") & (dyn["year"] == 1960) & (dyn["sex"] == "total")]
    assert old["population_jan1"].iloc[0] == 28_918 and old["source_table"].iloc[0] == "37259ned"


@pytest.mark.slow  # reads raw CBS/UN files: 1.5-2 s CPU each
def test_statline_untyped_70072ned(raw_dir):
    path = next((raw_dir / "cbs_37259ned_70072ned_ijhidding").glob("70072ned_UntypedDataSet_*.csv"))
    frame = cbs.read_statline_untyped(path)
    drenthe_1995 = frame[(frame["area"] == "PV22") & (frame["year"] == 1995)].iloc[0]
    assert drenthe_1995["population_jan1"] == 454_864  # TotaleBevolking_1, see the extract in the same folder


def test_kwb_codes_dwelling_stock(raw_dir):
    codes = cbs.read_kwb_codes(raw_dir)
    assert _value(codes, "GM0106", 2024, "dwelling_stock") == 33_215


@pytest.mark.slow  # reads raw CBS/UN files: 1.5-2 s CPU each
def test_wpp_readers(raw_dir):
    mx = cbs.read_wpp_mx(raw_dir)
    nl0 = mx[(mx["sex"] == "female") & (mx["age_lo"] == 0) & (mx["period_start"] == 1950)]
    assert nl0["mx"].iloc[0] == pytest.approx(0.02042)
    assert mx.loc[mx["age_lo"] == 100, "age_hi"].isna().all()
    assert set(mx.loc[mx["age_lo"] == 1, "age_hi"]) == {5}
    tfr = cbs.read_wpp_tfr(raw_dir)
    assert tfr.loc[tfr["year"] == 1950, "tfr"].iloc[0] == pytest.approx(3.104176)
    assert set(tfr.loc[tfr["year"] >= 2024, "variant"]) == {"medium"}
    asfr = cbs.read_wpp_asfr(raw_dir)
    by_year = asfr.groupby("year")["percent"].sum()
    assert by_year.between(99.9, 100.1).all()
    e0 = cbs.read_wpp_e0(raw_dir)
    assert e0[(e0["sex"] == "female") & (e0["year"] == 1950)]["e0"].iloc[0] == pytest.approx(72.5856)
    with pytest.raises(UnknownAreaError, match="country code 99999"):
        cbs.read_wpp_mx(raw_dir, country_code=99999)


# ---------------------------------------------------------------- error paths


def _copy_kwb(raw_dir, tmp_path, year=2021):
    (tmp_path / "kwb").mkdir()
    source = next((raw_dir / "kwb").glob(f"kwb_{year}_*.csv"))
    target = tmp_path / "kwb" / source.name
    shutil.copy(source, target)
    return target


@pytest.mark.slow
def test_unknown_gemeente_is_named(raw_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cbs.DataWarning)
        with pytest.raises(UnknownAreaError, match=r"gemeente 'Atlantis' is not in the KWB data; give a CBS code"):
            cbs.read_kwb(raw_dir, gemeente="Atlantis")
        with pytest.raises(UnknownAreaError, match="GM9999"):
            cbs.read_kwb(raw_dir, gemeente="GM9999")


def test_kwb_year_without_file(raw_dir):
    with pytest.raises(MissingDataError, match=r"no KWB file for year\(s\) 2019 .*add kwb/kwb_<year>_<table>.csv"):
        cbs.read_kwb(raw_dir, years=[2019])


def test_kwb_wrong_columns(tmp_path):
    (tmp_path / "kwb").mkdir()
    pd.DataFrame({"ID": [0], "Regio": ["Nederland"], "Inwoners": [1]}).to_csv(tmp_path / "kwb" / "kwb_2021_X.csv", index=False)
    with pytest.raises(DataFormatError, match=r"kwb_2021_X.csv is not a KWB table .*WijkenEnBuurten"):
        cbs.read_kwb(tmp_path)


def test_kwb_non_numeric_count(raw_dir, tmp_path):
    path = _copy_kwb(raw_dir, tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[5, "AantalInwoners_5"] = "veel"
    frame.to_csv(path, index=False)
    with pytest.raises(DataFormatError, match=r"column 'population' holds non-numeric value 'veel' \(row 5"):
        cbs.read_kwb(tmp_path)


@pytest.mark.slow  # reads raw CBS/UN files: 1.5-2 s CPU each
def test_kwb_negative_count(raw_dir, tmp_path):
    path = _copy_kwb(raw_dir, tmp_path)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[7, "k_65JaarOfOuder_12"] = "-5"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidValueError, match=r"column 'age_65_plus' holds negative count -5.0 \(row 7\)"):
        cbs.read_kwb(tmp_path)


def test_postcode_file_wrong_columns(tmp_path):
    (tmp_path / "pc4_2021").mkdir()
    pd.DataFrame({"postcode": [9401], "age": ["0-4"], "n": [5]}).to_csv(
        tmp_path / "pc4_2021" / "population_by_postcode_2021.csv", index=False
    )
    with pytest.raises(DataFormatError, match="lacks column.*leeftijd"):
        cbs.read_postcode_population(tmp_path)


def test_missing_data_directory(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        cbs.read_kwb(tmp_path / "nope")


def test_age_labels():
    assert cbs.parse_age_label("0-4") == (0, 5)
    assert cbs.parse_age_label("95+") == (95, None)
    with pytest.raises(DataFormatError, match="age band 'oud' not understood"):
        cbs.parse_age_label("oud")
    with pytest.raises(DataFormatError, match="ends before it starts"):
        cbs.parse_age_label("9-4")


def test_kwb_age_bands_long(assen):
    bands = cbs.kwb_age_bands(assen.kwb)
    gm = bands[(bands["area"] == "GM0106") & (bands["year"] == 2021)]
    assert list(gm["band"]) == ["0-15", "15-25", "25-45", "45-65", "65+"]
    assert gm["persons"].tolist() == [10779, 8247, 15914, 19620, 14276]

"""The bundled tables and load_assen(): the same reference figures as test_cbs, without the raw files."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from assen_demand.inputs import cbs
from assen_demand.inputs.datasets import find_raw_dir, load_gemeente, load_national
from assen_demand.errors import MissingDataError, UnknownAreaError


def test_bundled_assen_reference_figures(assen):
    kwb = assen.kwb
    gm = kwb[kwb["area"] == "GM0106"].set_index("year")
    assert gm.loc[2021, "population"] == 68_836
    assert gm.loc[2024, "population"] == 69_701
    assert gm.loc[2021, "age_65_plus"] == 14_276
    bands = assen.population_bands
    total = bands[bands["sex"] == "total"]
    assert total["persons"].sum() == 68_835
    assert bands.loc[bands["sex"] == "male", "persons"].sum() == 34_075
    assert bands.loc[bands["sex"] == "female", "persons"].sum() == 34_750
    assert total.loc[total["age_lo"] >= 65, "persons"].sum() == 14_275
    assert total.loc[total["age_lo"] >= 75, "persons"].sum() == 6_030
    assert total.loc[total["age_lo"] >= 85, "persons"].sum() == 1_645
    dyn = assen.dynamics.set_index(["year", "sex"])
    assert dyn.loc[(2023, "total"), "births"] == 591
    assert dyn.loc[(2023, "total"), "deaths"] == 736
    stock = assen.kwb_codes.set_index("area")
    assert stock.loc["GM0106", "dwelling_stock"] == 33_215
    for year in assen.kwb_years:
        assert len(assen.wijken(year)) == 10


@pytest.mark.slow
def test_bundled_tables_equal_a_fresh_read_of_the_raw_files(raw_dir):
    bundled = load_national()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cbs.DataWarning)
        fresh = cbs.read_kwb(raw_dir)
    fresh = fresh[fresh["gemeente"].isin(bundled.kwb["gemeente"].dropna().unique()) | (fresh["area_level"] == "land")]
    pd.testing.assert_series_equal(
        bundled.kwb["population"].reset_index(drop=True).astype(float),
        fresh["population"].reset_index(drop=True).astype(float),
    )
    assert list(bundled.kwb["area"]) == list(fresh["area"])


def test_load_gemeente_by_name_and_code(assen):
    assert load_gemeente("assen").gemeente == "GM0106"
    emmen = load_gemeente("Emmen")
    assert emmen.gemeente == "GM0114" and len(emmen.wijken(2024)) > 10
    with pytest.raises(UnknownAreaError, match=r"gemeente 'Atlantis' is not in the bundled data.*data_dir="):
        load_gemeente("Atlantis")


def test_missing_kwb_year_is_named(assen):
    with pytest.raises(MissingDataError, match=r"no KWB data for Assen \(GM0106\) in 2019"):
        assen.wijken(2019)


def test_as_of_keeps_only_what_was_known(assen):
    known = assen.as_of(2022)
    assert known.kwb_years == [2021, 2022]
    dyn = known.dynamics[known.dynamics["sex"] == "total"].set_index("year")
    assert dyn.loc[2022, "population_jan1"] == 68_979
    assert pd.isna(dyn.loc[2022, "births"])  # births of 2022 were not known on 1 Jan 2022
    assert dyn.loc[2021, "births"] == 676
    assert known.wpp_mx["period_end"].max() <= 2022
    assert known.wpp_tfr["year"].max() == 2021
    assert known.as_of_year == 2022


def test_the_raw_folder_is_found_one_way(tmp_path, monkeypatch):
    # a worktree two levels below the folder that holds shared/data/raw, as /work/wt/<name>
    work = tmp_path / "work"
    raw = work / "shared" / "data" / "raw"
    raw.mkdir(parents=True)
    checkout = work / "wt" / "branch"
    checkout.mkdir(parents=True)
    monkeypatch.delenv("ASSEN_DEMAND_RAW", raising=False)
    assert find_raw_dir(checkout) == raw
    assert find_raw_dir(work) == raw  # the folder itself counts
    lone = tmp_path / "elsewhere"
    lone.mkdir()
    assert find_raw_dir(lone) != raw  # None, unless a shared/data/raw sits above the temporary folder
    monkeypatch.setenv("ASSEN_DEMAND_RAW", str(lone))
    assert find_raw_dir(checkout) == lone  # the environment variable wins

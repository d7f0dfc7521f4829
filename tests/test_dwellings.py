"""dwellings.py: hand-worked need and norm, gap rules (Hypothesis), supply checks, doorstroming, mantelzorg."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from care_helpers import make_population, single_cell_population
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.housing import dwellings as D
from assen_demand.housing import households as H
from assen_demand.housing.care import care_need
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError


def test_hand_worked_need_and_norm_women_80():
    # tests/data/hand_worked.md, case 3: 1000 women aged 80 in 2021 (no men: every partner is without a profile).
    pop = single_cell_population(sex="female", age=80, persons=1000.0)
    ds = D.dwelling_need(pop)
    inst, private = 84.0, 916.0                       # institutional share 0.084 in 2021
    alone, with_others = private * 0.55, private * 0.45
    households = alone + with_others * 0.5            # 709.9 households
    vv_home = 1000 * 0.112 - inst * 0.95               # VV 0.112 at 80-84 minus 79.8 with stay = 32.2
    dementia_home = 1000 * 0.135 - inst * 0.70         # 135 - 58.8 = 76.2
    dementia_not_vv = dementia_home - 0.35 * vv_home   # 64.979
    adl_not_vv = private * 0.17 - vv_home - 0.5 * dementia_not_vv
    mob_not_adl = private * 0.32 - private * 0.17
    p = {k: v / private for k, v in dict(vv=vv_home, dem=dementia_not_vv, adl=adl_not_vv, mob=mob_not_adl).items()}
    none = 1 - sum(p.values())
    care = {
        "verpleegzorgplek": inst * 0.95,
        "zorggeschikt": households * (p["vv"] * 1.0 + p["dem"] * 0.2 + p["adl"] * 0.10),
        "geclusterd": households * (p["dem"] * 0.5 + p["adl"] * 0.40 + p["mob"] * 0.20),
        "nultredenwoning": households * (p["dem"] * 0.3 + p["adl"] * 0.50 + p["mob"] * 0.80),
        "begeleid_wonen": 0.0,
    }
    # preference_demand.csv, 75-84: alone / couple shares; households without a profile
    pref = {
        "nultredenwoning": alone * none * 0.071 + with_others * 0.5 * none * 0.071,
        "geclusterd": alone * none * 0.1216 + with_others * 0.5 * none * 0.0862,
        "zorggeschikt": alone * none * 0.0365 + with_others * 0.5 * none * 0.0258,
        "verpleegzorgplek": 0.0,
        "begeleid_wonen": 0.0,
    }
    need = ds["need"].sel(area="WK010600", year=2021).sel(model="need")
    for dtype in D.DWELLING_TYPES:
        assert float(need.sel(dwelling_type=dtype)) == pytest.approx(care[dtype] + pref[dtype]), dtype
    norm = ds["need"].sel(area="WK010600", year=2021).sel(model="norm")
    assert float(norm.sel(dwelling_type="nultredenwoning")) == pytest.approx(40.48)
    assert float(norm.sel(dwelling_type="geclusterd")) == pytest.approx(19.05)
    assert float(norm.sel(dwelling_type="zorggeschikt")) == pytest.approx(9.52)
    assert np.isnan(float(norm.sel(dwelling_type="verpleegzorgplek")))
    # No supply given: supply and gap stay unknown, never zero.
    assert ds["supply"].isnull().all() and ds["gap"].isnull().all()


AREAS = ("GM0106", "WK010600", "WK010601")
populations = arrays(np.float64, (3, 2, 101, 2), elements=st.floats(0, 300, allow_nan=False, width=32))
supply_rows = st.lists(
    st.tuples(st.sampled_from(AREAS), st.sampled_from(D.DWELLING_TYPES), st.sampled_from([2024, 2030]),
              st.floats(0, 500, allow_nan=False), st.sampled_from(["bekend", "aanname"])),
    max_size=8, unique_by=lambda r: r[:3],
)


@pytest.mark.slow  # Hypothesis invariant, dwelling_need per example: ~15 s CPU
@settings(max_examples=20, deadline=None)
@given(values=populations, rows=supply_rows)
def test_gap_is_need_minus_supply_where_known(values, rows):
    pop = make_population(values, areas=AREAS, years=(2024, 2030))
    supply = pd.DataFrame(rows, columns=["area", "dwelling_type", "year", "units", "status"])
    ds = D.dwelling_need(pop, supply=supply)
    need = ds["need"].sel(model="need")
    assert float(need.min()) >= 0
    known = ds["supply"].sel(model="need").notnull()
    assert int(known.sum()) == len(rows)
    gap = ds["gap"].sel(model="need")
    np.testing.assert_allclose(gap.where(known).values, (need - ds["supply"].sel(model="need")).where(known).values)
    assert gap.where(~known).isnull().all()
    assert ds["gap"].sel(model="norm").isnull().all()


def test_example_supply_and_status():
    supply = D.load_example_supply()
    # the bundled file is an example from local press: every row is an assumption (issue 13)
    assert set(supply["status"]) == {"aanname"} and supply["note"].str.startswith("voorbeeld").all()
    assert (supply["units"] > 0).all()
    row = supply[(supply["area"] == "WK010601") & (supply["year"] == 2026)]
    assert float(row["units"].iloc[0]) == 176
    areas = ["GM0106", *(f"WK0106{i:02d}" for i in range(9)), "WK010699"]
    units, status = D.supply_array(supply, areas=areas, years=[2024, 2026, 2030])
    assert np.isnan(float(units.sel(area="WK010608", dwelling_type="geclusterd", year=2024)))
    assert np.isnan(float(units.sel(area="WK010601", dwelling_type="verpleegzorgplek", year=2030)))
    carried, cstatus = D.supply_array(supply, areas=areas, years=[2030], carry_forward=True)
    assert float(carried.sel(area="WK010601", dwelling_type="verpleegzorgplek", year=2030)) == 176
    assert str(cstatus.sel(area="WK010601", dwelling_type="verpleegzorgplek", year=2030).values) == "aanname"


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"dwelling_type": "verpleeghuis"}, DataFormatError, r"unknown dwelling type\(s\) \['verpleeghuis'\]; use one of"),
        ({"units": -5}, InvalidValueError, r"missing or negative; leave the row out"),
        ({"units": np.nan}, InvalidValueError, r"never write 0 for unknown"),
        ({"status": "guessed"}, DataFormatError, r"use bekend, geschat or aanname"),
    ],
)
def test_bad_supply(change, error, match):
    row = {"area": "WK010601", "dwelling_type": "geclusterd", "year": 2024, "units": 10, "status": "bekend"}
    row.update(change)
    with pytest.raises(error, match=match):
        D.read_supply(pd.DataFrame([row]))


def test_supply_duplicates_and_unknown_area(synthetic_population):
    row = {"area": "WK010601", "dwelling_type": "geclusterd", "year": 2024, "units": 10, "status": "bekend"}
    with pytest.raises(DataFormatError, match=r"two rows for WK010601, geclusterd, 2024; sum them"):
        D.read_supply(pd.DataFrame([row, row]))
    with pytest.raises(UnknownAreaError, match=r"area\(s\) \['WK019999'\] that are not in the population"):
        D.dwelling_need(synthetic_population, supply=pd.DataFrame([{**row, "area": "WK019999"}]))
    with pytest.raises(DataFormatError, match=r"lacks column\(s\) \['status'\]"):
        D.read_supply(pd.DataFrame([row]).drop(columns="status"))


def test_doorstroming_hand_worked():
    # 1000 persons aged 70 (female): private 993, alone 0.28 -> households 278.04 + 714.96 * 0.5 = 635.52;
    # x family_home_share 0.55 x move rate 0.016 = 5.5926 family homes per year.
    hh = H.households(single_cell_population(sex="female", age=70, persons=1000.0))
    freed = D.doorstroming(hh)
    assert float(freed.squeeze()) == pytest.approx((993 * 0.28 + 993 * 0.72 * 0.5) * 0.55 * 0.016)
    local = D.doorstroming(hh, family_home_share=0.8)
    assert float(local.squeeze()) == pytest.approx((993 * 0.28 + 993 * 0.72 * 0.5) * 0.8 * 0.016)
    with pytest.raises(InvalidValueError, match=r"family_home_share must be a share in \[0, 1\]"):
        D.doorstroming(hh, family_home_share=55)


def test_informal_care_hand_worked():
    data = np.zeros((1, 2, 101, 1))
    data[0, 0, 60, 0] = 300.0   # potential carers 50-74
    data[0, 1, 90, 0] = 100.0   # 85+
    pop = make_population(data, areas=("WK010600",), years=(2021,))
    ds = D.informal_care(pop, care_need(pop))
    assert float(ds["carers_per_85plus"].squeeze()) == pytest.approx(3.0)
    assert float(ds["need_per_carer"].squeeze()) > 0
    frame = D.to_frame(ds)
    assert list(frame.columns) == ["area", "year", "carers_per_85plus", "need_per_carer"]


def test_to_frame_layout(synthetic_population):
    ds = D.dwelling_need(synthetic_population, supply=D.load_example_supply().query("year in (2030, 2040)"))
    frame = D.to_frame(ds)
    assert list(frame.columns[:4]) == ["area", "dwelling_type", "model", "year"]
    assert {"need", "supply", "gap", "supply_status"} <= set(frame.columns)
    assert len(frame) == 3 * 5 * 3 * 2

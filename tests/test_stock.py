"""Existing stock per wijk and type, the register override, planned additions and the opgave (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError
from assen_demand.housing import opgave as O
from assen_demand.housing import stock as S
from assen_demand.inputs.datasets import load_dwelling_stock, load_national

from care_helpers import make_population

# RIVM Monitor Langer Thuis, indicator 30 (RIGO inventory 1-5-2021, 84 % of gemeenten):
# 132,001 clustered units, https://www.rivm.nl/monitor-langer-thuis/resultaten/resultaten-actielijn-3-wonen/
# aantal-nieuwe-initiatieven-van-vernieuwende-woonzorg-vormen-voor-ouderen
RIVM_CLUSTERED_2021 = 132_001


def _hand_population():
    """GM = W1 + W2 in 2024: W1 100 women aged 70 and 50 aged 85; W2 200 aged 40 and 20 aged 82."""
    data = np.zeros((3, 2, 101, 1))
    data[1, 1, 70, 0], data[1, 1, 85, 0] = 100, 50
    data[2, 0, 40, 0], data[2, 0, 82, 0] = 200, 20
    data[0] = data[1] + data[2]
    return make_population(data, areas=("GM9999", "WK999901", "WK999902"), years=(2024,))


DWELLINGS = pd.DataFrame({"area": ["GM9999", "WK999901", "WK999902"], "dwelling_stock": [3000.0, 1000.0, 2000.0]})
TENURE = pd.DataFrame({"area": ["GM9999", "WK999901", "WK999902"], "rented_pct": [33.0, 60.0, 20.0]})


@pytest.fixture
def hand_stock():
    return S.estimate_stock(_hand_population(), DWELLINGS, TENURE, gemeente="GM9999")


def test_hand_worked_stock(hand_stock):
    # Bundled stock_shares.csv (central): step-free 0.30 of rented, 0.12 of owner-occupied;
    # 45.45 clustered per 1,000 65+; 20 care-suitable per 1,000 75+; 130.6 nursing places per 1,000 80+.
    # W1: step-free 1000 x (0.6 x 0.30 + 0.4 x 0.12) = 228; clustered 150 x 0.04545 = 6.8175;
    #     care-suitable 50 x 0.020 = 1.0; nultreden (disjoint) 228 - 6.8175 - 1.0 = 220.1825.
    # W2: step-free 2000 x (0.2 x 0.30 + 0.8 x 0.12) = 312; clustered 20 x 0.04545 = 0.909;
    #     care-suitable 0.4; nultreden 310.691.
    # GM: sums of the wijken; nursing places 70 (80+) x 0.1306 = 9.142, wijken none.
    c = hand_stock["central"]
    assert float(c.sel(area="WK999901", dwelling_type="nultredenwoning")) == pytest.approx(220.1825)
    assert float(c.sel(area="WK999901", dwelling_type="geclusterd")) == pytest.approx(6.8175)
    assert float(c.sel(area="WK999902", dwelling_type="nultredenwoning")) == pytest.approx(310.691)
    assert float(c.sel(area="GM9999", dwelling_type="nultredenwoning")) == pytest.approx(530.8735)
    assert float(c.sel(area="GM9999", dwelling_type="verpleegzorgplek")) == pytest.approx(9.142)
    assert np.isnan(float(c.sel(area="WK999901", dwelling_type="verpleegzorgplek")))
    # low: W1 step-free 1000 x (0.6 x 0.25 + 0.4 x 0.08) = 182; minus the central clustered/care-suitable
    assert float(hand_stock["low"].sel(area="WK999901", dwelling_type="nultredenwoning")) == pytest.approx(174.1825)
    assert (hand_stock["status"].sel(area="GM9999") == "geschat").all()
    assert float(hand_stock["stepfree_total"].sel(area="GM9999")) == pytest.approx(540.0)


populations = arrays(np.float64, (3, 2, 101, 1), elements=st.floats(0, 200, allow_nan=False, width=32))


@pytest.mark.slow  # the stock of every Assen wijk and year: ~1.5 s CPU
@settings(max_examples=25, deadline=None)
@given(values=populations, stock=st.lists(st.floats(0, 5000), min_size=2, max_size=2),
       rented=st.lists(st.floats(0, 100), min_size=2, max_size=2))
def test_wijken_add_up_and_bounds_are_ordered(values, stock, rented):
    values = values.copy()
    values[0] = values[1] + values[2]
    pop = make_population(values, areas=("GM9999", "WK999901", "WK999902"), years=(2024,))
    dw = pd.DataFrame({"area": ["GM9999", "WK999901", "WK999902"], "dwelling_stock": [sum(stock), *stock]})
    ten = pd.DataFrame({"area": ["WK999901", "WK999902"], "rented_pct": rented})
    est = S.estimate_stock(pop, dw, ten, gemeente="GM9999")
    for b in S.BOUNDS:
        for t in ("nultredenwoning", "geclusterd", "zorggeschikt"):
            wijken = float(est[b].sel(area=["WK999901", "WK999902"], dwelling_type=t).sum())
            assert float(est[b].sel(area="GM9999", dwelling_type=t)) == pytest.approx(wijken, abs=1e-6)
    assert (est["low"] <= est["central"] + 1e-9).where(est["central"].notnull(), True).all()
    assert (est["central"] <= est["high"] + 1e-9).where(est["central"].notnull(), True).all()
    assert float(est["central"].min()) >= 0


@pytest.mark.slow  # reads the raw KWB/postcode files: ~3 s CPU
def test_assen_stepfree_stock_is_15_to_30_percent_of_kwb():
    from assen_demand.pipeline import project_population

    proj = project_population("GM0106", end_year=2025)
    kwb = load_national().kwb
    ten = kwb[(kwb["year"] == 2024)][["area", "rented_pct"]]
    est = S.estimate_stock(proj.population, load_dwelling_stock(), ten, gemeente="GM0106")
    share = float(est["stepfree_total"].sel(area="GM0106") / est["kwb_dwellings"].sel(area="GM0106"))
    assert 0.15 <= share <= 0.30
    assert float(est["kwb_dwellings"].sel(area="GM0106")) == 33215  # CBS 85984NED, KWB 2024


def test_national_clustered_estimate_within_30_percent_of_rivm_monitor():
    # The Netherlands as one "gemeente" with one "wijk": NL population 1-1-2021 (CBS postcode tables)
    # and the sum of the KWB 2024 gemeente dwelling stocks. The rate comes from the same monitor, so
    # this checks the arithmetic chain (population ages, units per 1,000) rather than the figure itself.
    bands = load_national().population_bands
    nl = bands[(bands["area"] == "NL00") & (bands["sex"] != "total")]
    data = np.zeros((2, 2, 101, 1))
    for r in nl.itertuples(index=False):
        hi = 101 if pd.isna(r.age_hi) else int(r.age_hi)
        ages = range(int(r.age_lo), hi)
        data[:, ["male", "female"].index(r.sex), list(ages), 0] = r.persons / len(ages)
    pop = make_population(data, areas=("NL", "NLW"), years=(2021,))
    stock = load_dwelling_stock()
    total = float(stock.loc[stock["area_level"] == "gemeente", "dwelling_stock"].sum())
    dw = pd.DataFrame({"area": ["NL", "NLW"], "dwelling_stock": [total, total]})
    ten = pd.DataFrame({"area": ["NL", "NLW"], "rented_pct": [42.0, 42.0]})
    est = S.estimate_stock(pop, dw, ten, gemeente="NL")
    clustered = float(est["central"].sel(area="NL", dwelling_type="geclusterd"))
    assert clustered == pytest.approx(RIVM_CLUSTERED_2021, rel=0.30)


# --- register override ------------------------------------------------------------------------

def test_register_rows_replace_the_estimate_and_wijken_still_add_up(hand_stock):
    reg = pd.DataFrame([
        {"area": "WK999901", "dwelling_type": "geclusterd", "year": 2023, "units": 40, "status": "bekend"},
        {"area": "GM9999", "dwelling_type": "verpleegzorgplek", "year": 2024, "units": 12, "status": "bekend"},
        {"area": "GM9999", "dwelling_type": "zorggeschikt", "year": 2024, "units": 10, "status": "bekend"},
    ])
    out = S.apply_register(hand_stock, reg)
    assert float(out["central"].sel(area="WK999901", dwelling_type="geclusterd")) == 40
    assert float(out["low"].sel(area="WK999901", dwelling_type="geclusterd")) == 40
    assert str(out["status"].sel(area="WK999901", dwelling_type="geclusterd").values) == "bekend"
    # gemeente clustered = known W1 + estimated W2 (0.909)
    assert float(out["central"].sel(area="GM9999", dwelling_type="geclusterd")) == pytest.approx(40.909)
    assert float(out["central"].sel(area="GM9999", dwelling_type="verpleegzorgplek")) == 12
    # a gemeente total rescales the estimated wijken: 1.0 and 0.4 become 10 x 1/1.4 and 10 x 0.4/1.4
    assert float(out["central"].sel(area="WK999901", dwelling_type="zorggeschikt")) == pytest.approx(10 / 1.4)
    assert float(out["central"].sel(area=["WK999901", "WK999902"], dwelling_type="zorggeschikt").sum()) == pytest.approx(10)


@pytest.mark.parametrize("change, error, match", [
    ({"area": "WK000000"}, UnknownAreaError, r"area\(s\) \['WK000000'\] that are not in the forecast"),
    ({"dwelling_type": "hofje"}, DataFormatError, r"unknown dwelling type\(s\) \['hofje'\]"),
    ({"units": -3}, InvalidValueError, r"missing or negative"),
    ({"units": np.nan}, InvalidValueError, r"missing or negative"),
    ({"status": "known"}, DataFormatError, r"use bekend, geschat or aanname"),
])
def test_bad_register_rows_raise(hand_stock, change, error, match):
    row = {"area": "WK999901", "dwelling_type": "geclusterd", "year": 2024, "units": 5, "status": "bekend"}
    with pytest.raises(error, match=match):
        S.apply_register(hand_stock, pd.DataFrame([{**row, **change}]))


def test_register_rows_after_the_base_year_are_reported(hand_stock):
    reg = pd.DataFrame([{"area": "WK999901", "dwelling_type": "geclusterd", "year": 2026, "units": 5,
                         "status": "bekend"}])
    with pytest.warns(UserWarning, match=r"after the base year 2024 are not used as stock"):
        out = S.apply_register(hand_stock, reg)
    assert float(out["central"].sel(area="WK999901", dwelling_type="geclusterd")) == pytest.approx(6.8175)


def test_bundled_template_and_example_are_valid_registers():
    from importlib.resources import files

    template = S.read_stock_register(files("assen_demand").joinpath("data", "stock", "stock_template.csv"))
    assert set(template["status"]) == {"bekend"}
    example = S.read_stock_register(files("assen_demand").joinpath("data", "supply", "assen_supply_example.csv"))
    assert (example["status"] == "aanname").all()


# --- planned additions and the opgave -----------------------------------------------------------

PIPELINE = pd.DataFrame([
    {"area": "WK999901", "year": 2025, "dwellings_added": 100, "dwellings_removed": 0},   # regular homes
    {"area": "WK999902", "year": 2026, "dwellings_added": 10, "dwellings_removed": 0, "dwelling_type": "geclusterd"},
])


def test_stock_by_year_hand_worked(hand_stock):
    # 100 regular homes completed in 2025 in W1: 0.35 step-free (new_build_stepfree_share) = 35 from 1-1-2026;
    # 10 clustered in W2 completed in 2026: in the stock of 1-1-2027 on.
    years = S.stock_by_year(hand_stock, PIPELINE, [2024, 2026, 2030])
    ntr = years["stock"].sel(area="WK999901", dwelling_type="nultredenwoning")
    assert ntr.values.tolist() == pytest.approx([220.1825, 255.1825, 255.1825])
    gec = years["stock"].sel(area="WK999902", dwelling_type="geclusterd")
    assert gec.values.tolist() == pytest.approx([0.909, 0.909, 10.909])
    assert float(years["planned"].sel(area="GM9999", dwelling_type="geclusterd", year=2030)) == 10
    assert float(years["planned"].sel(area="GM9999", dwelling_type="nultredenwoning", year=2030)) == 35


def test_pipeline_with_unknown_type_or_area_raises(hand_stock):
    with pytest.raises(DataFormatError, match=r"unknown dwelling type\(s\) \['villa'\]"):
        S.stock_by_year(hand_stock, PIPELINE.assign(dwelling_type="villa"), [2024])
    with pytest.raises(UnknownAreaError, match=r"WK000000"):
        S.stock_by_year(hand_stock, PIPELINE.assign(area="WK000000"), [2024])


def _need(value, years=(2024, 2026, 2030), draws=None):
    areas = ["GM9999", "WK999901", "WK999902"]
    shape = (3, len(S.STOCK_TYPES), len(years))
    da = xr.DataArray(np.full(shape, float(value)), dims=("area", "dwelling_type", "year"),
                      coords={"area": areas, "dwelling_type": list(S.STOCK_TYPES), "year": list(years)})
    if draws is not None:
        da = da.expand_dims(draw=np.arange(len(draws))) * xr.DataArray(draws, dims="draw")
    return da


def test_opgave_is_need_minus_stock_minus_planned_and_keeps_surplus(hand_stock):
    years = S.stock_by_year(hand_stock, PIPELINE, [2024, 2026, 2030])
    op = O.compute_opgave(_need(300), years)  # no backlog: the uncalibrated comparison
    # the need is compared with the part of the stock households 55+ hold (stepfree_held_by_older_share 0.55)
    # plus the planned homes: W1 nultreden 2030: 300 - (220.1825 x 0.55 + 35) = 300 - 156.100375 = 143.899625;
    # W2: 300 - 310.691 x 0.55 = 129.11995; with need 100 it is 100 - 170.88005 = -70.88005 (a surplus, not clipped)
    assert op.attrs["method"] == "uncalibrated"
    assert float(op["opgave"].sel(area="WK999901", dwelling_type="nultredenwoning", year=2030)) == pytest.approx(143.899625)
    assert float(op["opgave"].sel(area="WK999902", dwelling_type="nultredenwoning", year=2030)) == pytest.approx(129.11995)
    assert float(op["stock"].sel(area="WK999901", dwelling_type="nultredenwoning", year=2030)) == pytest.approx(255.1825)
    low = O.compute_opgave(_need(100), years)
    assert float(low["opgave"].sel(area="WK999902", dwelling_type="nultredenwoning", year=2030)) == pytest.approx(-70.88005)
    # nursing places: a gemeente gap only
    assert op["opgave"].sel(area=["WK999901", "WK999902"], dwelling_type="verpleegzorgplek").isnull().all()
    assert float(op["opgave"].sel(area="GM9999", dwelling_type="verpleegzorgplek", year=2024)) == pytest.approx(300 - 9.142)
    assert float(op["need"].sel(area="WK999901", dwelling_type="verpleegzorgplek", year=2024)) == 300


def test_opgave_under_draws_uses_the_central_stock(hand_stock):
    years = S.stock_by_year(hand_stock, None, [2024, 2030])
    op = O.compute_opgave(_need(1.0, years=(2024, 2030), draws=[100.0, 200.0, 300.0]), years)
    assert op["opgave"].dims[0] == "draw"
    cell = op["opgave"].sel(area="WK999901", dwelling_type="geclusterd", year=2030).values
    assert cell.tolist() == pytest.approx([100 - 6.8175, 200 - 6.8175, 300 - 6.8175])
    frame = O.to_frame(op)
    row = frame[(frame["area"] == "WK999901") & (frame["dwelling_type"] == "geclusterd") & (frame["year"] == 2030)]
    assert float(row["opgave_q50"].iloc[0]) == pytest.approx(200 - 6.8175)
    assert float(row["opgave_q05"].iloc[0]) < float(row["opgave_q95"].iloc[0])


def test_norm_appears_only_for_2030(hand_stock):
    years = S.stock_by_year(hand_stock, None, [2024, 2030, 2035])
    norm = _need(7.0, years=(2024, 2030, 2035))
    op = O.compute_opgave(_need(50, years=(2024, 2030, 2035)), years, norm=norm)
    assert "year" not in op["programme_share_2030"].dims
    frame = O.to_frame(op, {"GM9999": "Testgemeente"})
    assert frame.loc[frame["year"] != 2030, "programme_share_2030"].isnull().all()
    assert (frame.loc[frame["year"] == 2030, "programme_share_2030"] == 7.0).all()
    wide = O.wide_table(op, {"GM9999": "Testgemeente"})
    assert wide.iloc[0]["Wijk"] == "Testgemeente" and "geclusterd 2030" in wide.columns
    assert pd.isna(wide.iloc[1]["verpleegzorgplek 2030"])


def test_opgave_rejects_need_without_types(hand_stock):
    years = S.stock_by_year(hand_stock, None, [2024])
    with pytest.raises(DataFormatError, match=r"no dwelling type\(s\)"):
        O.compute_opgave(_need(1, years=(2024,)).sel(dwelling_type=["geclusterd"]), years)

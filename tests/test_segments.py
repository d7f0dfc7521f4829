"""segments.py: income -> segment with the year's limits; shares sum to 1 for every wijk and year."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from products_helpers import assen_forecast

from assen_demand.errors import InvalidValueError
from assen_demand.housing import segments as seg
from assen_demand.housing.programme import _older_one_person_share
from assen_demand.inputs.datasets import load_gemeente

YEARS = list(range(2026, 2036))


def test_limits_are_the_cited_values():
    # Rijksoverheid 2024-11-18 (2025) and 2025-11-25 (2026); Huurcommissie bijlage 3 (186 points, 2026)
    assert seg.limit("daeb_income_limit_one_person", [2025, 2026]).tolist() == [49669, 51537]
    assert seg.limit("daeb_income_limit_multi_person", [2025, 2026]).tolist() == [54847, 56910]
    assert seg.limit("social_rent_limit", [2025, 2026]).tolist() == [900.07, 932.93]
    assert seg.limit("middenhuur_rent_limit", [2025, 2026]).tolist() == [1184.82, 1228.07]
    # officielebekendmakingen ah-tk-20222023-3052: 355,000 in 2023; held after the last reference year
    assert seg.limit("affordable_purchase_price_limit", [2023, 2035]).tolist() == [355000, 405000]


def test_income_to_segment_hand_worked():
    # 2026, one-person: sociale huur up to 51,537; middenhuur up to 67,366; betaalbare koop up to
    # 405,000 / 4.5 = 90,000. Households of 30,000 / 51,537 (on the limit: still social) / 51,538 /
    # 70,000 / 120,000 -> 2 social, 1 midden, 1 koop, 1 vrij.
    th = seg.income_thresholds([2026], household="one_person").sel(year=2026).values
    assert th.tolist() == [51537, 67366, 90000]
    shares = seg.shares_from_incomes([30_000, 51_537, 51_538, 70_000, 120_000], th)
    assert shares.tolist() == [0.4, 0.2, 0.2, 0.2]
    # weights count households
    assert seg.shares_from_incomes([30_000, 120_000], th, weights=[3, 1]).tolist() == [0.75, 0, 0, 0.25]
    with pytest.raises(InvalidValueError):
        seg.shares_from_incomes([1.0], [3.0, 2.0, 1.0])


def test_lognormal_median_on_a_limit_gives_half():
    th = xr.DataArray([50_000.0, 60_000.0, 90_000.0], dims="bound")
    mean = 50_000.0 * math.exp(0.5 ** 2 / 2)  # median 50,000
    shares = seg.shares_lognormal(mean, 0.5, th)
    assert float(shares.sel(segment="sociale_huur")) == pytest.approx(0.5, abs=1e-12)
    # the lognormal integrates what the empirical step counts: a large sample agrees
    rng = np.random.default_rng(1)
    sample = rng.lognormal(math.log(50_000), 0.5, 200_000)
    np.testing.assert_allclose(shares.values, seg.shares_from_incomes(sample, th.values), atol=0.005)


@settings(max_examples=60, deadline=None)
@given(mean=st.floats(5_000, 300_000), sd=st.floats(0.05, 1.5),
       bounds=st.lists(st.floats(1_000, 500_000), min_size=3, max_size=3))
def test_lognormal_shares_are_shares_that_sum_to_one(mean, sd, bounds):
    th = xr.DataArray(sorted(bounds), dims="bound")
    shares = seg.shares_lognormal(mean, sd, th).values
    assert (shares >= -1e-12).all()
    assert shares.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(incomes=st.lists(st.floats(0, 1e6), min_size=1, max_size=30),
       bounds=st.lists(st.floats(0, 1e6), min_size=3, max_size=3))
def test_empirical_shares_sum_to_one(incomes, bounds):
    shares = seg.shares_from_incomes(incomes, sorted(bounds))
    assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()


def test_thresholds_never_decrease():
    for household in ("one_person", "multi_person"):
        for variant in ("low", "central", "high"):
            th = seg.income_thresholds(YEARS, household=household, variant=variant).values
            assert (np.diff(th, axis=1) >= 0).all()


def test_assen_older_households_shares_sum_to_one_for_every_wijk_and_year():
    fc = assen_forecast()
    kwb = load_gemeente("GM0106").kwb
    areas = fc.population["area"].values
    one = _older_one_person_share(fc.households)
    shares = seg.segment_shares(kwb, areas, YEARS, gemeente="GM0106", older=True, one_person_share=one)
    assert shares.dims == ("area", "year", "segment")
    assert len(shares["area"]) == 11 and shares["year"].values.tolist() == YEARS
    np.testing.assert_allclose(shares.sum("segment").values, 1.0, atol=1e-12)
    assert ((shares >= 0) & (shares <= 1)).all()
    # a low-income wijk (Lariks) has more sociale huur than a high-income one (Kloosterveen)
    assert float(shares.sel(area="WK010601", year=2026, segment="sociale_huur")) > float(
        shares.sel(area="WK010608", year=2026, segment="sociale_huur"))
    # Buitengebied has no income in KWB 2023 (suppressed): its own latest published year (2022) is used
    assert shares.attrs["income_from"]["WK010699"] == "area"
    assert shares.attrs["kwb_income_year"]["WK010699"] == 2022 and shares.attrs["kwb_income_year"]["GM0106"] == 2023
    # older households have lower incomes (ratio < 1) -> more sociale huur than all households
    all_hh = seg.segment_shares(kwb, areas, YEARS, gemeente="GM0106")
    assert float(shares.sel(area="GM0106", year=2026, segment="sociale_huur")) > float(
        all_hh.sel(area="GM0106", year=2026, segment="sociale_huur"))


def test_split_by_segment_adds_back_up():
    fc = assen_forecast()
    kwb = load_gemeente("GM0106").kwb
    need = fc.dwellings["need"].sel(model="need", drop=True).sel(year=YEARS)
    shares = seg.segment_shares(kwb, need["area"].values, YEARS, gemeente="GM0106", older=True)
    split = seg.split_by_segment(need, shares)
    assert set(split.dims) == {"area", "dwelling_type", "year", "segment"}
    xr.testing.assert_allclose(split.sum("segment"), need)
    frame = seg.to_frame(shares)
    assert list(frame.columns) == ["area", "year", "segment", "share"]

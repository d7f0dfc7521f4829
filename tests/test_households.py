"""households.py: hand-worked case, conservation (Hypothesis), calibration, national check, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from care_helpers import make_population, single_cell_population
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.housing import households as H
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError


def test_hand_worked_women_85():
    # tests/data/hand_worked.md, case 1.
    r = H.households(single_cell_population(sex="female", age=85, persons=1000.0))
    cell = r.sel(area="WK010600", sex="female", age=85, year=2021)
    assert float(cell["institutional"]) == pytest.approx(84.0)
    assert float(cell["private"]) == pytest.approx(916.0)
    assert float(cell["alone"]) == pytest.approx(641.2)
    assert float(cell["households"]) == pytest.approx(641.2 + 274.8 * 0.5)
    assert float(r["mean_size"].sel(area="WK010600", year=2021)) == pytest.approx(916.0 / 778.6)


populations = arrays(np.float64, (2, 2, 101, 2), elements=st.floats(0, 500, allow_nan=False, width=32))


@pytest.mark.slow  # Hypothesis invariant: ~4 s CPU
@settings(max_examples=25, deadline=None)
@given(values=populations, variant=st.sampled_from(["low", "central", "high"]))
def test_conservation(values, variant):
    pop = make_population(values, areas=("WK010600", "WK010601"), years=(2021, 2035))
    r = H.households(pop, variant=variant)
    xr.testing.assert_allclose(r["institutional"] + r["private"], pop.transpose(*r["private"].dims))
    xr.testing.assert_allclose(r["alone"] + r["with_others"], r["private"])
    for name in ("institutional", "private", "alone", "with_others", "households"):
        assert float(r[name].min()) >= 0
    totals = r["households"].sum(["sex", "age"])
    private = r["private"].sum(["sex", "age"])
    product = (totals * r["mean_size"]).where(totals > 0, 0.0)
    np.testing.assert_allclose(product.values, private.where(totals > 0, 0.0).values, rtol=1e-9, atol=1e-6)


def test_calibration_hits_one_person_count(synthetic_population):
    targets = pd.Series({"WK010600": 900.0, "WK010601": 500.0})
    r = H.households(synthetic_population, one_person_households=targets, base_year=2021)
    alone = r["alone"].sel(year=2021).sum(["sex", "age"])
    assert float(alone.sel(area="WK010600")) == pytest.approx(900.0, rel=1e-8)
    assert float(alone.sel(area="WK010601")) == pytest.approx(500.0, rel=1e-8)
    assert r["alone_offset"].attrs["uncalibrated_areas"] == ["GM0106"]
    # The local shift persists into later years, and shares stay inside [0, 1].
    later = r["alone"].sel(year=2040) / r["private"].sel(year=2040).where(r["private"].sel(year=2040) > 0)
    assert float(later.max()) <= 1.0


def test_calibration_errors(synthetic_population):
    with pytest.raises(UnknownAreaError, match=r"area\(s\) \['WK019999'\] that are not in the population"):
        H.households(synthetic_population, one_person_households=pd.Series({"WK019999": 10.0}), base_year=2021)
    with pytest.raises(InvalidValueError, match=r"WK010600: .* only .* persons of ages that can live alone; check the KWB"):
        H.households(synthetic_population, one_person_households=pd.Series({"WK010600": 1e9}), base_year=2021)
    with pytest.raises(DataFormatError, match=r"needs base_year"):
        H.households(synthetic_population, one_person_households=pd.Series({"WK010600": 10.0}))
    with pytest.raises(DataFormatError, match=r"base_year 1999 is not a year"):
        H.households(synthetic_population, one_person_households=pd.Series({"WK010600": 10.0}), base_year=1999)
    with pytest.raises(InvalidValueError, match=r"NaN or negative"):
        H.households(synthetic_population, one_person_households=pd.Series({"WK010600": -1.0}), base_year=2021)


def test_unreachable_targets_are_reported_not_fatal_in_report_mode(synthetic_population):
    # KWB rounds to 5: a business park gives "0 one-person households" or "5" for 4.98 adults
    targets = pd.Series({"WK010600": 900.0, "WK010601": 0.0, "GM0106": 1e9})
    with pytest.raises(InvalidValueError, match="zero one-person households|only"):
        H.households(synthetic_population, one_person_households=targets, base_year=2021)
    with pytest.warns(H.HouseholdsWarning, match=r"not calibrated for 2 area\(s\).*WK010601: 0 one-person.*no shift"):
        r = H.households(synthetic_population, one_person_households=targets, base_year=2021,
                         unusable_targets="report")
    offset = r["alone_offset"]
    assert set(offset.attrs["unusable_targets"]) == {"WK010601", "GM0106"}
    assert "not below the" in offset.attrs["unusable_targets"]["GM0106"]
    assert float(offset.sel(area="WK010601")) == 0.0 and float(offset.sel(area="GM0106")) == 0.0
    # the usable target is still met exactly
    alone = r["alone"].sel(year=2021, area="WK010600").sum(["sex", "age"])
    assert float(alone) == pytest.approx(900.0, rel=1e-8)
    with pytest.raises(InvalidValueError, match="'raise' or 'report'"):
        H.calibrate_living_alone(r["private"], one_person_households=targets, base_year=2021, unusable="skip")


def test_bad_population(synthetic_population):
    bad = synthetic_population.copy()
    bad[0, 1, 80, 0] = np.nan
    with pytest.raises(InvalidValueError, match=r"NaN at area=GM0106, sex=female, age=80, year=2021; fill in"):
        H.households(bad)
    bad[0, 1, 80, 0] = -3
    with pytest.raises(InvalidValueError, match=r"negative at area=GM0106, sex=female, age=80"):
        H.households(bad)
    with pytest.raises(DataFormatError, match=r"lacks dimension\(s\) \['year'\]"):
        H.households(synthetic_population.isel(year=0, drop=True))
    with pytest.raises(DataFormatError, match=r"sex label\(s\) \['M'\]"):
        H.households(synthetic_population.assign_coords(sex=["M", "female"]))


def test_override_shares_out_of_range(synthetic_population):
    shares = xr.full_like(H.institutional_shares(years=[2021, 2030, 2040]), 1.2)
    with pytest.raises(InvalidValueError, match=r"institutional shares lies outside \[0, 1\].*fractions"):
        H.split_institutional(synthetic_population, shares=shares)


def test_national_households_2021(nl_population_2021):
    # CBS Huishoudensprognose 2021-2070: begin 2021 'iets meer dan 8 miljoen huishoudens', 38.5% one-person.
    r = H.households(nl_population_2021)
    total = float(r["households"].sum())
    alone = float(r["alone"].sum())
    assert total == pytest.approx(8.0e6, rel=0.05)
    assert alone / total == pytest.approx(0.385, abs=0.03)
    assert float(r["mean_size"].squeeze()) == pytest.approx(2.16, rel=0.05)


def test_to_frame(synthetic_population):
    r = H.households(synthetic_population)
    wide = H.to_frame(r, by_age=False)
    assert list(wide.columns[:2]) == ["area", "year"] and "mean_size" in wide.columns
    long = H.to_frame(r)
    assert {"area", "sex", "age", "year", "households"} <= set(long.columns)
    assert len(long) == 3 * 2 * 101 * 3


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scale=arrays(np.float64, (3,), elements=st.floats(0.3, 3.0)),
       share_shift=arrays(np.float64, (3,), elements=st.floats(-0.2, 0.2)),
       target_share=st.floats(0.15, 0.45))
def test_calibration_with_draws_equals_each_draw_calibrated_alone(synthetic_population, scale, share_shift,
                                                                    target_share):
    # with a draw dimension the logistic is evaluated as s e / (1 - s + s e) (issue 20: no exponential per
    # age); without one as expit(logit(s) + delta): the same root, draw by draw (the fixture is not
    # changed by the test, so one per test is enough)
    private = H.split_institutional(synthetic_population)["private"]
    base = H.living_alone_shares()
    draws = xr.DataArray(np.arange(3), dims="draw")
    shares = (base + xr.DataArray(share_shift, dims="draw", coords={"draw": draws}) * base * (1 - base)).clip(0, 1)
    private_draws = private * xr.DataArray(scale, dims="draw", coords={"draw": draws})
    year = int(private["year"].values[0])
    adults = private.sel(year=year).where(base > 0).sum(("sex", "age")).to_series()
    targets = (adults * scale.min() * target_share).round().clip(lower=1.0)
    together = H.calibrate_living_alone(private_draws, one_person_households=targets, base_year=year, shares=shares)
    for d in range(3):
        alone = H.calibrate_living_alone(private_draws.isel(draw=d, drop=True), one_person_households=targets,
                                         base_year=year, shares=shares.isel(draw=d, drop=True))
        np.testing.assert_allclose(together.isel(draw=d).values, alone.values, rtol=0, atol=1e-10)

"""The chain end to end: hindcast accuracy at gemeente level, consistency of the Forecast tables."""

from __future__ import annotations

import numpy as np
import pytest

from assen_demand import load_assen, project_population
from products_helpers import assen_forecast as shared_assen_forecast


@pytest.fixture(scope="module")
def hindcast_2021_2024():
    return project_population("GM0106", base_year=2021, end_year=2024)


def test_assen_hindcast_2021_to_2024_total_and_65plus(hindcast_2021_2024):
    # only data known on 1 Jan 2021 are used (GemeenteData.as_of); KWB 2024: 69,701 and 65+ 15,147
    pop = hindcast_2021_2024.population.sel(area="GM0106", year=2024)
    assert float(pop.sum()) == pytest.approx(69_701, rel=0.01)
    assert float(pop.sel(age=slice(65, 100)).sum()) == pytest.approx(15_147, rel=0.02)


def test_projection_uses_nothing_after_the_base_year(hindcast_2021_2024):
    data = load_assen()
    later = data.kwb.copy()
    later.loc[later["year"] > 2021, ["population", "age_65_plus"]] *= 2  # nonsense after the base year
    from dataclasses import replace

    doubled = project_population(base_year=2021, end_year=2024, data=replace(data, kwb=later))
    np.testing.assert_allclose(doubled.population.values, hindcast_2021_2024.population.values)


def test_wijken_add_up_to_the_gemeente(hindcast_2021_2024):
    pop = hindcast_2021_2024.population
    wijken = pop.drop_sel(area="GM0106").sum("area")
    np.testing.assert_allclose(wijken.values, pop.sel(area="GM0106").values, rtol=1e-9, atol=1e-6)
    assert (pop >= 0).all()


@pytest.fixture(scope="module")
def assen_forecast():
    return shared_assen_forecast()  # the one default forecast of the session (products_helpers)


def test_forecast_defaults_run_from_the_latest_kwb_year_to_2040(assen_forecast):
    years = assen_forecast.population["year"].values
    assert years[0] == 2024 and years[-1] == 2040
    assert float(assen_forecast.population.sel(area="GM0106", year=2024).sum()) == pytest.approx(69_701, abs=1e-6)


def test_forecast_conservation(assen_forecast):
    hh = assen_forecast.households
    pop = assen_forecast.population
    np.testing.assert_allclose((hh["institutional"] + hh["private"]).values, pop.values, rtol=1e-12, atol=1e-9)
    dwell = assen_forecast.dwellings
    assert float(dwell["need"].min(skipna=True)) >= 0
    known = dwell["supply"].notnull() & (dwell["model"] == "need")
    np.testing.assert_allclose(
        dwell["gap"].where(known).values, (dwell["need"] - dwell["supply"]).where(known).values, equal_nan=True
    )


def test_forecast_tables_are_tidy(assen_forecast):
    for name in ("population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg"):
        frame = assen_forecast.to_frame(name)
        assert {"area", "area_name", "year"} <= set(frame.columns), name
        assert frame["area_name"].notna().all(), name
    with pytest.raises(KeyError, match="no table 'woningen'"):
        assen_forecast.to_frame("woningen")


def test_opgave_only_leaves_out_facilities_and_moves_and_changes_nothing_else():
    import assen_demand
    import xarray as xr

    full = shared_assen_forecast()
    lean = assen_demand.forecast(progress=False, opgave_only=True)
    assert full.facilities is not None and full.doorstroming_moves is not None
    assert lean.facilities is None and lean.doorstroming_moves is None
    for name in ("population", "households", "care_need", "dwellings", "opgave", "stock", "need", "mantelzorg",
                 "doorstroming"):
        xr.testing.assert_identical(getattr(lean, name), getattr(full, name))

"""Short summaries of result objects: ``repr`` for the console, ``_repr_html_`` for Jupyter (issue 19).

Before: ``repr(forecast())`` was 48,764 characters of raw arrays. Now a few lines with the
dimensions, areas, years, scenario and headline numbers.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import xarray as xr

import assen_demand
from assen_demand.display import describe_value, summary_repr

LIMIT = 2_000


@functools.cache
def scenario_forecast():
    """Extramuralisering with a few draws: a scenario and the uncertainty object in one run."""
    return assen_demand.forecast(scenario="extramuralisering", draws=8, seed=3, progress=False)


def _result_objects():
    fc = scenario_forecast()
    p = fc.projection
    c = p.components
    return {
        "Forecast": fc, "ForecastDraws": fc.uncertainty, "PopulationProjection": p, "BasePopulation": p.base,
        "Components": c, "ProjectionReport": p.report, "Scenario": fc.scenario, "SMRResult": c.smr,
        "FertilityLevel": c.fertility_level, "LeeCarterFit": c.lee_carter,
        "NetMigrationSchedule": next(iter(c.migration_schedules.values())),
        "GemeenteData": assen_demand.load_assen(),
    }


@pytest.mark.slow  # a forecast with draws (once per session)
@pytest.mark.parametrize("name", ["Forecast", "ForecastDraws", "PopulationProjection", "BasePopulation",
                                  "Components", "ProjectionReport", "Scenario", "SMRResult", "FertilityLevel",
                                  "LeeCarterFit", "NetMigrationSchedule", "GemeenteData"])
def test_repr_is_short_and_names_the_class(name):
    obj = _result_objects()[name]
    text, page = repr(obj), obj._repr_html_()
    assert text.startswith(name)
    assert len(text) < LIMIT, f"{name} repr is {len(text)} characters"
    assert len(page) < 2 * LIMIT
    assert "<table>" in page and name in page
    assert "array(" not in text and "[[" not in text  # no raw array values


@pytest.mark.slow
def test_forecast_repr_names_scenario_years_areas_and_headline_numbers():
    fc = scenario_forecast()
    text = repr(fc)
    first_line = text.splitlines()[0]
    assert "scenario extramuralisering" in first_line and "2024-2040" in first_line and "Assen (GM0106)" in first_line
    assert "GM0106 + 10 wijken" in text
    # the headline population is the model's own number, formatted: 2040 gemeente total
    total_2040 = float(fc.population.sel(area="GM0106", year=2040).sum())
    assert f"{total_2040:,.0f} (2040)" in text
    assert "8 (seed 3)" in text
    assert "extramuralisering" in fc._repr_html_()


@pytest.mark.slow
def test_basis_forecast_names_basis():
    from products_helpers import assen_forecast

    assert "scenario basis" in repr(assen_forecast()).splitlines()[0]


def test_gemeente_data_repr_counts_wijken_of_the_latest_kwb_year():
    data = assen_demand.load_assen()
    latest = max(data.kwb_years)
    wijken = int(((data.kwb["year"] == latest) & (data.kwb["area_level"] == "wijk")).sum())
    assert f"{wijken} wijken" in repr(data)
    assert "as known on 1 January 2022" in repr(data.as_of(2022))


def test_html_escapes_text():
    @summary_repr
    @dataclasses.dataclass
    class Holder:
        label: str

    assert "&lt;b&gt;" in Holder("<b>")._repr_html_()


def test_describe_value_gives_dims_and_units_not_values():
    arr = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("area", "year"), attrs={"units": "persons"})
    assert describe_value(arr) == "DataArray (area: 2, year: 3) [persons]"
    assert describe_value(arr.to_dataset(name="need")) == "Dataset (area: 2, year: 3): need"
    assert describe_value(list(range(10))) == "list of 10: 0, 1, 2, 3, ... (10 in all)"

"""Clipping in the streamed Monte Carlo run (assen_demand.scale, issue 20, engine floors).

The clipped persons are added per (draw, area) once per sub-block of draws (one bincount)
instead of every year; checked against the clipping table of
:func:`~assen_demand.demography.projection.project` run on the same draws, area by area, with
sub-blocks that split the draws unevenly.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from assen_demand import scale
from assen_demand.demography.projection import ProjectionInputs, project

pytestmark = pytest.mark.filterwarnings("ignore::assen_demand.demography.projection.ClippingWarning")

AGES = np.arange(101)
SEXES = ["male", "female"]
START, END = 2024, 2030


def _inputs(draws: int):
    """Three areas; two lose more people at some ages than they have, by a survival draw."""
    rng = np.random.default_rng(3)
    areas = ["WK0000", "WK0001", "WK0002"]
    years = list(range(START, END))
    pop = rng.uniform(2, 30, (3, 2, 101))
    base = xr.DataArray(pop, dims=("area", "sex", "age"), coords={"area": areas, "sex": SEXES, "age": AGES})
    q = np.clip(np.exp(-9.5 + 0.088 * AGES), 0, 0.7)
    shock = np.exp(0.3 * rng.standard_normal((draws, len(years), 1)))
    surv = xr.DataArray(np.clip(1 - q * shock, 0, 1), dims=("draw", "year", "age"),
                        coords={"draw": np.arange(draws), "year": years, "age": AGES})
    mig = np.zeros_like(pop)
    mig[1, :, 70:90] = -25.0  # clipped in every draw, by how many depends on the survival draw
    mig[2, 1, 3] = -40.0
    mig[0] = rng.uniform(0, 1, (2, 101))  # never clipped
    inputs = ProjectionInputs(
        survival=surv, births_survival=xr.DataArray(0.996),
        fertility=xr.DataArray(np.where((AGES >= 15) & (AGES < 50), 0.05, 0.0), dims="age", coords={"age": AGES}),
        net_migration=xr.DataArray(mig, dims=("area", "sex", "age"),
                                   coords={"area": areas, "sex": SEXES, "age": AGES}))
    return base, inputs


@pytest.mark.parametrize("draw_block", [32, 5])
def test_clipped_persons_per_area_are_the_engines(draw_block):
    draws = 41
    base, inputs = _inputs(draws)
    got = scale.stochastic_projection(base, components=inputs, start_year=START, end_year=END, draws=draws,
                                      seed=1, dtype=np.float64, workers=1, draw_block=draw_block)
    _, report = project(base, components=inputs, start_year=START, end_year=END, return_report=True)
    want = report.clipped.groupby("area")["clipped_persons"].sum().reindex(got.clipped["area"].values, fill_value=0.0)
    assert want.loc["WK0001"] > 0 and want.loc["WK0002"] > 0
    np.testing.assert_allclose(got.clipped.values, want.to_numpy() / draws, rtol=1e-12)
    assert float(got.clipped.sel(area="WK0000")) == 0.0

"""The Monte Carlo chunks' engine path equals the labelled one (issue 20).

``uncertainty._engine_of_chunk`` takes a chunk's draws out of an engine aligned once for all
draws, instead of aligning every chunk with ``project``; ``projection.run_prepared`` runs it
without labels. Both must give exactly what ``project`` gives for the same draws (same arrays,
same fertility trimming, same clipped total), or seeded draws would change with the chunking.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.demography.engine import ProjectionInputs, prepare_engine
from assen_demand.demography.projection import project, run_prepared
from assen_demand.uncertainty import _engine_of_chunk

SEXES = ["male", "female"]
AGES = np.arange(101)
START, END = 2024, 2030


def _inputs(seed: int, draws: int, areas: int):
    rng = np.random.default_rng(seed)
    years = np.arange(START, END)
    names = [f"A{i}" for i in range(areas)]
    base = xr.DataArray(rng.uniform(0, 40, (areas, 2, 101)), dims=("area", "sex", "age"),
                        coords={"area": names, "sex": SEXES, "age": AGES})
    surv = xr.DataArray(rng.uniform(0.9, 1.0, (draws, 2, 101, len(years))), dims=("draw", "sex", "age", "year"),
                        coords={"draw": np.arange(draws), "sex": SEXES, "age": AGES, "year": years})
    # fertility ages differ by draw, so a chunk's trimmed age range differs from all draws'
    fert = np.zeros((draws, 101, len(years)))
    for d in range(draws):
        lo, hi = rng.integers(14, 20), rng.integers(40, 50)
        fert[d, lo:hi] = rng.uniform(0.01, 0.1, (hi - lo, len(years)))
    fert = xr.DataArray(fert, dims=("draw", "age", "year"), coords={"draw": np.arange(draws), "age": AGES, "year": years})
    bsurv = xr.DataArray(rng.uniform(0.99, 1.0, (draws, 2, len(years))), dims=("draw", "sex", "year"),
                         coords={"draw": np.arange(draws), "sex": SEXES, "year": years})
    # noisy migration: thin cells clip
    mig = rng.normal(0, 3, (draws, areas, 2, 101, len(years)))
    return base, surv, fert, bsurv, mig, years


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), draws=st.integers(1, 7), areas=st.integers(2, 5), data=st.data())
def test_chunk_engine_equals_project_of_the_chunk(seed, draws, areas, data):
    base, surv, fert, bsurv, mig, years = _inputs(seed, draws, areas)
    idx = np.asarray(sorted(data.draw(st.sets(st.integers(0, draws - 1), min_size=1))))
    srb = 1.05
    template_inputs = ProjectionInputs(survival=surv, births_survival=bsurv, fertility=fert, sex_ratio_at_birth=srb,
                                       net_migration=xr.DataArray(mig[0], dims=("area", "sex", "age", "year"),
                                                                  coords={"area": base["area"], "sex": SEXES,
                                                                          "age": AGES, "year": years}))
    template = prepare_engine(base, template_inputs, START, END, None)
    # first area alone, then the others constrained to it, as the draws run the gemeente and its wijken
    gm_mig = mig[idx][:, :1]
    values, clipped = run_prepared(_engine_of_chunk(template, idx, slice(0, 1), gm_mig))
    labelled_inputs = ProjectionInputs(
        survival=surv.isel(draw=idx), births_survival=bsurv.isel(draw=idx), fertility=fert.isel(draw=idx),
        sex_ratio_at_birth=srb,
        net_migration=xr.DataArray(gm_mig, dims=("draw", "area", "sex", "age", "year"),
                                   coords={"draw": idx, "area": base["area"].values[:1], "sex": SEXES, "age": AGES,
                                           "year": years}))
    expected, report = project(base.isel(area=[0]), components=labelled_inputs, start_year=START, end_year=END,
                               return_report=True)
    assert np.array_equal(np.moveaxis(values, 0, -1), expected.transpose("draw", "area", "sex", "age", "year").values)
    assert clipped == report.clipped_total
    # the other areas under the first one's projection as control
    rest_mig = mig[idx][:, 1:]
    values2, clipped2 = run_prepared(_engine_of_chunk(template, idx, slice(1, None), rest_mig, ctrl=values[1:, :, 0]))
    expected2, report2 = project(
        base.isel(area=slice(1, None)),
        components=replace(labelled_inputs, net_migration=xr.DataArray(
            rest_mig, dims=("draw", "area", "sex", "age", "year"),
            coords={"draw": idx, "area": base["area"].values[1:], "sex": SEXES, "age": AGES, "year": years})),
        start_year=START, end_year=END, constrain_to=expected.isel(area=0, drop=True), return_report=True)
    assert np.array_equal(np.moveaxis(values2, 0, -1), expected2.transpose("draw", "area", "sex", "age", "year").values)
    assert clipped2 == report2.clipped_total
    assert clipped + clipped2 > 0  # the noisy migration clips: the totals were compared on real records


def test_run_prepared_without_clipping_reports_zero():
    base, surv, fert, bsurv, mig, years = _inputs(1, 2, 2)
    inputs = ProjectionInputs(survival=surv, births_survival=bsurv, fertility=fert, sex_ratio_at_birth=1.05,
                              net_migration=xr.DataArray(np.zeros((2, 2, 101, len(years))),
                                                         dims=("area", "sex", "age", "year"),
                                                         coords={"area": base["area"], "sex": SEXES, "age": AGES,
                                                                 "year": years}))
    values, clipped = run_prepared(prepare_engine(base, inputs, START, END, None))
    assert clipped == 0.0 and values.shape == (END - START + 1, 2, 2, 2, 101)
    assert np.array_equal(values[0, 0], base.values) and np.array_equal(values[0, 1], base.values)
    assert np.all(values >= 0)

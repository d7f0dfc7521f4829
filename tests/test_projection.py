"""Tests of the cohort-component engine (projection.py) on synthetic data.

The reference values of the hand-worked case are derived step by step in
``tests/data/handworked_projection.md``. The Hypothesis tests compare the engine with a
deliberately naive loop implementation of the same documented model (``_reference``) and check
the invariants: cohort shift and conservation, non-negativity, constraint margins, draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.errors import (
    DataFormatError,
    InvalidValueError,
    MissingDataError,
    UnknownAreaError,
)
from assen_demand.demography.projection import (
    ClippingWarning,
    ProjectionInputs,
    ProjectionReport,
    constrain,
    project,
)

SEXES = ["male", "female"]
AREAS = ["WK000101", "WK000102"]
AGES4 = [0, 1, 2, 3]

FAST = settings(max_examples=40, deadline=None)


# ---------------------------------------------------------------------------------------------
# Hand-worked case (tests/data/handworked_projection.md)
# ---------------------------------------------------------------------------------------------


def _handworked_inputs() -> tuple[xr.DataArray, ProjectionInputs]:
    base = xr.DataArray(
        np.array([[[10, 20, 30, 40], [12, 24, 36, 48]], [[5, 10, 0, 20], [6, 8, 10, 30]]],
                 dtype=float),
        dims=("area", "sex", "age"), coords={"area": AREAS, "sex": SEXES, "age": AGES4},
    )
    # Reduced dims on purpose: survival varies by sex, age and year only, and is stored in an
    # unusual dim order; fertility is given for ages 1..2 only.
    survival = xr.DataArray(
        np.array([[[0.9, 0.8, 0.5, 0.5], [0.9, 0.8, 0.5, 0.4]],
                  [[1.0, 0.9, 0.8, 0.5], [1.0, 0.9, 0.8, 0.5]]]),
        dims=("sex", "year", "age"), coords={"sex": SEXES, "year": [2024, 2025], "age": AGES4},
    )
    births_survival = xr.DataArray([[0.9, 0.8], [0.95, 0.9]], dims=("sex", "year"),
                                   coords={"sex": SEXES, "year": [2024, 2025]})
    fertility = xr.DataArray(np.array([[[0.1, 0.2]] * 2, [[0.2, 0.1]] * 2]),
                             dims=("area", "year", "age"),
                             coords={"area": AREAS, "year": [2024, 2025], "age": [1, 2]})
    mig = np.zeros((2, 2, 4, 2))
    mig[0, 0, :, 0] = [1, 0, -2, 0]
    mig[0, 1, :, 0] = [0, 2, 0, 0]
    mig[1, 0, :, 0] = [0, 0, 0, -5]
    mig[0, 1, :, 1] = [-1, 0, 0, 3]
    mig[1, 0, :, 1] = [2, 0, 0, 0]
    net_migration = xr.DataArray(mig, dims=("area", "sex", "age", "year"),
                                 coords={"area": AREAS, "sex": SEXES, "age": AGES4,
                                         "year": [2024, 2025]})
    inputs = ProjectionInputs(survival=survival, births_survival=births_survival,
                              fertility=fertility, net_migration=net_migration,
                              sex_ratio_at_birth=1.5)
    return base, inputs


HANDWORKED = {  # (area, sex) -> {year: ages 0..3+}, from handworked_projection.md
    ("WK000101", "male"): {2025: [5.1364, 9, 14, 35], 2026: [2.0474592, 4.62276, 7.2, 21]},
    ("WK000101", "female"): {2025: [2.9108, 14, 21.6, 52.8],
                             2026: [0.5355944, 2.9108, 12.6, 46.68]},
    ("WK000102", "male"): {2025: [1.2204, 4.5, 8, 5], 2026: [2.6316224, 1.09836, 3.6, 6]},
    ("WK000102", "female"): {2025: [0.8588, 6, 7.2, 23], 2026: [0.4737168, 0.8588, 5.4, 17.26]},
}


def test_handworked_two_areas_two_years():
    base, inputs = _handworked_inputs()
    result, report = project(base, components=inputs, start_year=2024, end_year=2026,
                             return_report=True)
    assert result.dims == ("area", "sex", "age", "year")
    assert result["year"].values.tolist() == [2024, 2025, 2026]
    np.testing.assert_array_equal(result.sel(year=2024).transpose("area", "sex", "age"), base)
    for (area, sex), by_year in HANDWORKED.items():
        for year, expected in by_year.items():
            got = result.sel(area=area, sex=sex, year=year).values
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert report.clipped_total == 0 and report.clipped.empty
    assert result.attrs["clipped_persons_total"] == 0


def test_labels_not_positions():
    """Shuffling the order of every coordinate of every input changes nothing."""
    base, inputs = _handworked_inputs()
    expected = project(base, components=inputs, start_year=2024, end_year=2026)

    def rev(da):
        return da.isel({d: slice(None, None, -1) for d in da.dims})

    shuffled = ProjectionInputs(survival=rev(inputs.survival),
                                births_survival=rev(inputs.births_survival),
                                fertility=rev(inputs.fertility),
                                net_migration=rev(inputs.net_migration).transpose("year", "age",
                                                                                  "sex", "area"),
                                sex_ratio_at_birth=1.5)
    got = project(rev(base), components=shuffled, start_year=2024, end_year=2026)
    xr.testing.assert_allclose(got.sel(area=AREAS), expected, rtol=0, atol=1e-12)


def test_extra_years_and_base_with_year_dim():
    base, inputs = _handworked_inputs()
    base_y = base.expand_dims(year=[2024])
    one = project(base_y, components=inputs, start_year=2024, end_year=2025)
    np.testing.assert_allclose(one.sel(area="WK000101", sex="male", year=2025),
                               [5.1364, 9, 14, 35], atol=1e-12)
    assert project(base, components=inputs, start_year=2024, end_year=2024).sizes["year"] == 1


def test_migration_rate_handworked():
    """One step with rates: P(x, t+1) = closed(x, t+1) * (1 + r(x))."""
    base = xr.DataArray(np.array([[[10.0, 20.0, 30.0], [10.0, 20.0, 30.0]]]),
                        dims=("area", "sex", "age"),
                        coords={"area": ["WK01"], "sex": SEXES, "age": [0, 1, 2]})
    survival = xr.DataArray([0.5, 0.5, 0.5], dims="age", coords={"age": [0, 1, 2]})
    births_survival = xr.DataArray(1.0)
    fertility = xr.DataArray([0.0, 0.1, 0.0], dims="age", coords={"age": [0, 1, 2]})
    rate = xr.DataArray([0.1, -0.5, 0.2], dims="age", coords={"age": [0, 1, 2]})
    inputs = ProjectionInputs(survival=survival, births_survival=births_survival,
                              fertility=fertility, migration_rate=rate, sex_ratio_at_birth=1.0)
    got = project(base, components=inputs, start_year=2020, end_year=2021).sel(year=2021)
    # closed: age 1 = 0.5*10 = 5; age 2+ = 0.5*20 + 0.5*30 = 25.
    # with rates: age 1 = 5 * 0.5 = 2.5; age 2+ = 25 * 1.2 = 30.
    # births = 0.1 * (20 + 2.5) / 2 = 1.125; each sex 0.5625; age 0 = 0.5625 * 1.1 = 0.61875.
    np.testing.assert_allclose(got.sel(area="WK01", sex="female"), [0.61875, 2.5, 30.0],
                               atol=1e-12)
    np.testing.assert_allclose(got.sel(area="WK01", sex="male"), [0.61875, 2.5, 30.0],
                               atol=1e-12)


def test_residual_migration_reproduces_observed_population():
    """The timing convention matches the residual method: with residual migration the
    projection gives back the observed end-of-year population exactly."""
    rng = np.random.default_rng(7)
    base, inputs = _handworked_inputs()
    observed = base * rng.uniform(0.5, 1.5, base.shape)
    s = inputs.survival.sel(year=2024).transpose("sex", "age").values
    p0 = base.transpose("area", "sex", "age").values
    closed = np.zeros_like(p0)
    closed[..., 1:] = p0[..., :-1] * s[:, :-1]
    closed[..., -1] += p0[..., -1] * s[:, -1]
    residual = observed.transpose("area", "sex", "age").values - closed
    residual[..., 0] = 0.0  # age 0 is checked separately: its residual depends on births
    mig = xr.DataArray(residual, dims=("area", "sex", "age"),
                       coords={"area": AREAS, "sex": SEXES, "age": AGES4})
    res_inputs = ProjectionInputs(survival=inputs.survival,
                                  births_survival=inputs.births_survival,
                                  fertility=inputs.fertility, net_migration=mig)
    got = project(base, components=res_inputs, start_year=2024, end_year=2025)
    np.testing.assert_allclose(got.sel(year=2025, age=[1, 2, 3]),
                               observed.sel(age=[1, 2, 3]), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# A naive reference implementation and random inputs for the Hypothesis tests
# ---------------------------------------------------------------------------------------------


def _reference(base, surv, l0, fert, mig, srb, *, rate=False, control=None):
    """Loop-by-cell version of the documented model.

    base (A, 2, X); surv (T, A, 2, X); l0 (T, A, 2); fert (T, A, X); mig (T, A, 2, X);
    srb (T, A); control (T, 2, X) or None. Returns (T+1, A, 2, X) and the clipped total.
    """
    nstep, narea, _, nage = surv.shape
    out = np.zeros((nstep + 1, narea, 2, nage))
    out[0] = base
    clipped = 0.0
    for t in range(nstep):
        for a in range(narea):
            for s in range(2):
                new = [0.0] * nage
                for x in range(nage - 1):
                    new[x + 1] += surv[t, a, s, x] * out[t, a, s, x]
                new[nage - 1] += surv[t, a, s, nage - 1] * out[t, a, s, nage - 1]
                for x in range(1, nage):
                    new[x] = new[x] * (1 + mig[t, a, s, x]) if rate else new[x] + mig[t, a, s, x]
                    if new[x] < 0:
                        clipped -= new[x]
                        new[x] = 0.0
                out[t + 1, a, s] = new
            births = 0.0
            for x in range(1, nage):
                exposure = (out[t, a, 1, x] + out[t + 1, a, 1, x]) / 2
                births += fert[t, a, x] * exposure
            for s, share in ((0, srb[t, a] / (1 + srb[t, a])), (1, 1 / (1 + srb[t, a]))):
                infants = births * share * l0[t, a, s]
                infants = infants * (1 + mig[t, a, s, 0]) if rate else infants + mig[t, a, s, 0]
                if infants < 0:
                    clipped -= infants
                    infants = 0.0
                out[t + 1, a, s, 0] = infants
        if control is not None:
            sizes = out[t + 1].sum(axis=(1, 2))  # shares before any scaling of this year
            for s in range(2):
                for x in range(nage):
                    total = out[t + 1, :, s, x].sum()
                    if total > 0:
                        out[t + 1, :, s, x] *= control[t, s, x] / total
                    elif control[t, s, x] > 0:
                        out[t + 1, :, s, x] = control[t, s, x] * sizes / sizes.sum()
    return out, clipped


def _random_case(rng, *, n_area, n_age, n_step, n_draw=None, mig_scale=5.0, rate=False,
                 empty_share=0.2):
    """Random inputs with every dim present, as numpy arrays and as ProjectionInputs."""
    lead = (n_draw,) if n_draw else ()
    base = rng.uniform(0, 50, lead + (n_area, 2, n_age))
    base[rng.uniform(size=base.shape) < empty_share] = 0.0  # empty cells, as in small wijken
    surv = rng.uniform(0, 1, lead + (n_step, n_area, 2, n_age))
    l0 = rng.uniform(0.9, 1, lead + (n_step, n_area, 2))
    fert = rng.uniform(0, 0.3, lead + (n_step, n_area, n_age))
    fert[..., 0] = 0.0
    if rate:
        mig = rng.uniform(-1.5, 0.5, lead + (n_step, n_area, 2, n_age))
    else:
        mig = rng.normal(-mig_scale / 2, mig_scale, lead + (n_step, n_area, 2, n_age))
    srb = rng.uniform(0.9, 1.2, lead + (n_step, n_area))
    arrays = dict(base=base, surv=surv, l0=l0, fert=fert, mig=mig, srb=srb)

    years = list(range(2030, 2030 + n_step))
    ddims = ("draw",) if n_draw else ()
    coords = {"area": [f"WK{i:02d}" for i in range(n_area)], "sex": SEXES,
              "age": list(range(n_age)), "year": years}
    if n_draw:
        coords["draw"] = list(range(n_draw))

    def da(values, dims):
        return xr.DataArray(values, dims=ddims + dims, coords={d: coords[d] for d in ddims + dims})

    inputs = ProjectionInputs(
        survival=da(surv, ("year", "area", "sex", "age")),
        births_survival=da(l0, ("year", "area", "sex")),
        fertility=da(fert, ("year", "area", "age")),
        sex_ratio_at_birth=da(srb, ("year", "area")),
        **{("migration_rate" if rate else "net_migration"): da(mig, ("year", "area", "sex",
                                                                        "age"))},
    )
    return arrays, da(base, ("area", "sex", "age")), inputs


case_sizes = st.fixed_dictionaries({
    "n_area": st.integers(1, 3),
    "n_age": st.integers(2, 6),
    "n_step": st.integers(1, 3),
    "seed": st.integers(0, 2**32 - 1),
})


@FAST
@given(case_sizes, st.booleans(), st.floats(0, 200))
def test_engine_matches_reference_and_is_never_negative(sizes, rate, mig_scale):
    rng = np.random.default_rng(sizes["seed"])
    arrays, base, inputs = _random_case(rng, n_area=sizes["n_area"], n_age=sizes["n_age"],
                                        n_step=sizes["n_step"], mig_scale=mig_scale, rate=rate)
    result, report = project(base, components=inputs, start_year=2030,
                             end_year=2030 + sizes["n_step"], return_report=True)
    expected, clipped = _reference(
        arrays["base"], arrays["surv"], arrays["l0"], arrays["fert"], arrays["mig"],
        arrays["srb"], rate=rate)
    got = result.transpose("year", "area", "sex", "age").values
    assert (got >= 0).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
    assert report.clipped_total == pytest.approx(clipped, rel=1e-12, abs=1e-9)
    assert report.clipped_total == pytest.approx(report.clipped["clipped_persons"].sum())
    assert (report.clipped["clipped_persons"] > 0).all()


@FAST
@given(case_sizes)
def test_closed_immortal_population_shifts_cohorts_and_conserves_total(sizes):
    rng = np.random.default_rng(sizes["seed"])
    n_area, n_age, n_step = sizes["n_area"], sizes["n_age"], sizes["n_step"]
    _, base, _ = _random_case(rng, n_area=n_area, n_age=n_age, n_step=n_step)
    zero = xr.zeros_like(base)
    inputs = ProjectionInputs(survival=xr.DataArray(1.0), births_survival=xr.DataArray(1.0),
                              fertility=xr.DataArray(np.zeros(n_age), dims="age",
                                                     coords={"age": list(range(n_age))}),
                              net_migration=zero)
    result = project(base, components=inputs, start_year=2030, end_year=2030 + n_step)
    totals = result.sum(("area", "sex", "age"))
    np.testing.assert_allclose(totals, float(base.sum()), rtol=1e-12)
    for k in range(1, n_step + 1):
        now = result.sel(year=2030 + k).values
        before = result.sel(year=2030 + k - 1).values
        np.testing.assert_array_equal(now[..., 0], 0.0)
        np.testing.assert_array_equal(now[..., 1:-1], before[..., :-2])
        np.testing.assert_allclose(now[..., -1], before[..., -2] + before[..., -1], rtol=1e-15)


@FAST
@given(case_sizes, st.booleans())
def test_constrained_areas_sum_to_control(sizes, empty_cells):
    rng = np.random.default_rng(sizes["seed"])
    n_area, n_age, n_step = sizes["n_area"], sizes["n_age"], sizes["n_step"]
    # No empty base cells and no migration: a control needs some population to share it by.
    arrays, base, inputs = _random_case(rng, n_area=n_area, n_age=n_age, n_step=n_step,
                                        mig_scale=0.0, empty_share=0.0)
    control_values = rng.uniform(0, 100, (n_step, 2, n_age))
    if empty_cells:
        # Force the "areas sum to zero, control positive" branch at the top age.
        arrays["surv"][..., -2:] = 0.0
        inputs = _replace(inputs, survival=inputs.survival.copy(data=arrays["surv"]))
    control = xr.DataArray(control_values, dims=("year", "sex", "age"),
                           coords={"year": list(range(2031, 2031 + n_step)), "sex": SEXES,
                                   "age": list(range(n_age))})
    result, report = project(base, components=inputs, start_year=2030,
                             end_year=2030 + n_step, constrain_to=control, return_report=True)
    sums = result.sum("area").sel(year=control["year"])
    np.testing.assert_allclose(sums.transpose("year", "sex", "age"), control_values,
                               rtol=1e-10, atol=1e-9)
    assert (result >= 0).all()
    expected, _ = _reference(arrays["base"], arrays["surv"], arrays["l0"], arrays["fert"],
                             arrays["mig"], arrays["srb"], control=control_values)
    np.testing.assert_allclose(result.transpose("year", "area", "sex", "age").values, expected,
                               rtol=1e-10, atol=1e-9)
    if empty_cells:
        assert not report.constraint_filled.empty
        assert set(report.constraint_filled["age"]) >= {n_age - 1}


@pytest.mark.slow  # whole Assen projections: 2-3 s CPU each
@FAST
@given(case_sizes, st.integers(2, 3), st.booleans())
def test_each_draw_equals_its_own_run(sizes, n_draw, constrained):
    rng = np.random.default_rng(sizes["seed"])
    n_step = sizes["n_step"]
    # Heavy out-migration (clipping) without a constraint; with one, no migration, so that
    # no draw empties every area (which is an error under a positive control).
    _, base, inputs = _random_case(rng, n_area=sizes["n_area"], n_age=sizes["n_age"],
                                   n_step=n_step, n_draw=n_draw,
                                   mig_scale=0.0 if constrained else 20.0,
                                   empty_share=0.0 if constrained else 0.2)
    control = None
    if constrained:
        control = base.sum("area").expand_dims(year=list(range(2031, 2031 + n_step))) * 1.1
    together = project(base, components=inputs, start_year=2030, end_year=2030 + n_step,
                       constrain_to=control, return_report=True)[0]
    assert together.dims == ("draw", "area", "sex", "age", "year")
    for d in range(n_draw):
        alone_inputs = ProjectionInputs(
            survival=inputs.survival.sel(draw=d),
            births_survival=inputs.births_survival.sel(draw=d),
            fertility=inputs.fertility.sel(draw=d), net_migration=inputs.net_migration.sel(draw=d),
            sex_ratio_at_birth=inputs.sex_ratio_at_birth.sel(draw=d))
        alone = project(base.sel(draw=d), components=alone_inputs, start_year=2030,
                        end_year=2030 + n_step,
                        constrain_to=None if control is None else control.sel(draw=d),
                        return_report=True)[0]
        np.testing.assert_allclose(together.sel(draw=d).values, alone.values, rtol=1e-13,
                                   atol=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("constrained", [False, True])
def test_blocks_and_threads_change_nothing(monkeypatch, threads, constrained):
    """Blocks of a few (draw, area) rows, on several threads, give the whole-array numbers."""
    import assen_demand.demography.engine as engine

    rng = np.random.default_rng(17)
    _, base, inputs = _random_case(rng, n_area=37, n_age=7, n_step=4, n_draw=3,
                                   mig_scale=0.0 if constrained else 20.0,
                                   empty_share=0.0 if constrained else 0.2)
    control = None
    if constrained:
        control = base.sum("area").expand_dims(year=list(range(2031, 2035))) * 1.1

    def run():
        return project(base, components=inputs, start_year=2030, end_year=2034,
                       constrain_to=control, return_report=True, threads=threads)

    monkeypatch.setattr(engine, "_BLOCK_ROWS", 10**6)
    monkeypatch.setattr(engine, "_BLOCK_ROWS_THREADED", 10**6)
    whole, whole_report = run()
    monkeypatch.setattr(engine, "_BLOCK_ROWS", 5)
    monkeypatch.setattr(engine, "_BLOCK_ROWS_THREADED", 5)
    assert len(engine._blocks(3, 37, 2 * 7 * 8, 5)) > 3 * 5
    blocked, blocked_report = run()
    np.testing.assert_allclose(blocked.values, whole.values, rtol=1e-14, atol=0)
    pd.testing.assert_frame_equal(blocked_report.clipped, whole_report.clipped)
    assert constrained or len(whole_report.clipped) > 0


def test_keep_years_dtype_and_out_buffer():
    rng = np.random.default_rng(3)
    _, base, inputs = _random_case(rng, n_area=4, n_age=6, n_step=5, mig_scale=30)
    kw = dict(components=inputs, start_year=2030, end_year=2035, return_report=True)
    full, report = project(base, **kw)
    kept, kept_report = project(base, keep_years=[2035, 2032], **kw)
    assert list(kept["year"].values) == [2032, 2035]
    np.testing.assert_array_equal(kept.values, full.sel(year=[2032, 2035]).values)
    pd.testing.assert_frame_equal(kept_report.clipped, report.clipped)  # every year is projected
    single, _ = project(base, keep_years=[2035], dtype="float32", **kw)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.values, full.sel(year=[2035]).values, rtol=1e-6, atol=1e-5)
    buffer = np.empty((6, 1, 4, 2, 6))
    into, _ = project(base, out=buffer, **kw)
    assert np.shares_memory(into.values, buffer)
    np.testing.assert_array_equal(into.values, full.values)


def test_option_errors():
    base, inputs = _handworked_inputs()
    kw = dict(components=inputs, start_year=2024, end_year=2026)
    with pytest.raises(InvalidValueError, match=r"keep_years \[2030\] are not years of the projection; "
                                                r"give years from 2024 to 2026"):
        project(base, keep_years=[2025, 2030], **kw)
    with pytest.raises(DataFormatError, match="dtype must be float64 or float32, got int64"):
        project(base, dtype=np.int64, **kw)
    with pytest.raises(DataFormatError, match=r"out must be a C-contiguous float64 or float32 numpy "
                                              r"array of shape \(3, 1, 2, 2, 4\)"):
        project(base, out=np.empty((3, 2, 2, 4)), **kw)


def test_draws_from_inputs_only_broadcast_the_base():
    base, inputs = _handworked_inputs()
    surv = xr.concat([inputs.survival, inputs.survival * 0.5], dim="draw").assign_coords(
        draw=["low", "high"])
    drawn = ProjectionInputs(survival=surv, births_survival=inputs.births_survival,
                             fertility=inputs.fertility, net_migration=inputs.net_migration,
                             sex_ratio_at_birth=1.5)
    result, report = project(base, components=drawn, start_year=2024, end_year=2026,
                             return_report=True)
    assert result["draw"].values.tolist() == ["low", "high"]
    expected = project(base, components=inputs, start_year=2024, end_year=2026)
    xr.testing.assert_allclose(result.sel(draw="low", drop=True), expected)
    assert "draw" in report.clipped.columns


# ---------------------------------------------------------------------------------------------
# Clipping
# ---------------------------------------------------------------------------------------------


def _one_area_case(mig_age1: float):
    base = xr.DataArray(np.array([[[10.0, 20.0, 30.0], [10.0, 20.0, 30.0]]]),
                        dims=("area", "sex", "age"),
                        coords={"area": ["WK01"], "sex": SEXES, "age": [0, 1, 2]})
    mig = xr.zeros_like(base)
    mig.loc[{"sex": "female", "age": 1}] = mig_age1
    inputs = ProjectionInputs(
        survival=xr.DataArray(0.5), births_survival=xr.DataArray(1.0),
        fertility=xr.DataArray([0.0, 0.0, 0.0], dims="age", coords={"age": [0, 1, 2]}),
        net_migration=mig)
    return base, inputs


def test_clipping_reports_the_shortfall():
    base, inputs = _one_area_case(-8.0)  # 5 survivors aged 1 (0.5 x 10), 8 want to leave
    result, report = project(base, components=inputs, start_year=2024, end_year=2025,
                             return_report=True)
    assert isinstance(report, ProjectionReport)
    assert float(result.sel(area="WK01", sex="female", age=1, year=2025)) == 0.0
    expected = pd.DataFrame({"area": ["WK01"], "sex": ["female"], "age": [1], "year": [2025],
                             "clipped_persons": [3.0]})
    pd.testing.assert_frame_equal(report.clipped, expected, check_dtype=False)
    assert report.clipped_total == pytest.approx(3.0)
    assert result.attrs["clipped_persons_total"] == pytest.approx(3.0)
    pd.testing.assert_frame_equal(report.to_frame(), report.clipped)


def test_clipping_without_report_warns():
    base, inputs = _one_area_case(-8.0)
    with pytest.warns(ClippingWarning, match=r"3 persons were clipped"):
        project(base, components=inputs, start_year=2024, end_year=2025)
    base, inputs = _one_area_case(-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        project(base, components=inputs, start_year=2024, end_year=2025)


# ---------------------------------------------------------------------------------------------
# The standalone constraint
# ---------------------------------------------------------------------------------------------


def test_constrain_scales_proportionally_and_fills_empty_cells_by_total_share():
    areas = xr.DataArray(
        np.array([[[1.0, 0.0], [3.0, 0.0]], [[3.0, 0.0], [1.0, 0.0]]]),  # (area, sex, age)
        dims=("area", "sex", "age"),
        coords={"area": ["WK01", "WK02"], "sex": SEXES, "age": [0, 1]})
    control = xr.DataArray([[8.0, 2.0], [4.0, 0.0]], dims=("sex", "age"),
                           coords={"sex": SEXES, "age": [0, 1]}).expand_dims(area=["GM0106"])
    got = constrain(areas, control)
    # male age 0: 1:3 of 8 -> 2, 6. female age 0: 3:1 of 4 -> 3, 1. female age 1: 0 -> 0.
    # male age 1: both areas 0, control 2 -> by total population shares 4:4 -> 1, 1.
    expected = np.array([[[2.0, 1.0], [3.0, 0.0]], [[6.0, 1.0], [1.0, 0.0]]])
    np.testing.assert_allclose(got.transpose("area", "sex", "age").values, expected)
    assert got.dims == areas.dims
    np.testing.assert_array_equal(areas.values[:, 0, 0], [1.0, 3.0])  # input untouched


def test_constrain_matches_in_loop_constraint_for_one_step():
    base, inputs = _handworked_inputs()
    control = xr.DataArray(np.full((1, 2, 4), 10.0), dims=("year", "sex", "age"),
                           coords={"year": [2025], "sex": SEXES, "age": AGES4})
    in_loop = project(base, components=inputs, start_year=2024, end_year=2025,
                      constrain_to=control)
    after = constrain(project(base, components=inputs, start_year=2024, end_year=2025),
                      control.reindex(year=[2024, 2025]).fillna(0.0))
    xr.testing.assert_allclose(in_loop.sel(year=2025), after.sel(year=2025))


def test_constrain_errors():
    areas = xr.DataArray(np.zeros((2, 2, 2)), dims=("area", "sex", "age"),
                         coords={"area": ["WK01", "WK02"], "sex": SEXES, "age": [0, 1]})
    control = xr.DataArray(np.ones((2, 2)), dims=("sex", "age"),
                           coords={"sex": SEXES, "age": [0, 1]})
    with pytest.raises(InvalidValueError, match="every area is empty"):
        constrain(areas, control)
    with pytest.raises(MissingDataError, match=r"constrain_to has no values for age \[1\]"):
        constrain(areas + 1, control.sel(age=[0]))
    with pytest.raises(InvalidValueError, match=r"constrain_to has 2 value\(s\) below 0"):
        constrain(areas + 1, control.where(control.age == 0, -1.0))
    with pytest.raises(DataFormatError, match="constrain_to has 2 areas"):
        constrain(areas + 1, control.expand_dims(area=["GM1", "GM2"]))


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _replace(inputs: ProjectionInputs, **changes) -> ProjectionInputs:
    fields = dict(survival=inputs.survival, births_survival=inputs.births_survival,
                  fertility=inputs.fertility, net_migration=inputs.net_migration,
                  migration_rate=inputs.migration_rate,
                  sex_ratio_at_birth=inputs.sex_ratio_at_birth)
    fields.update(changes)
    return ProjectionInputs(**fields)


def test_missing_year_in_survival_is_named():
    base, inputs = _handworked_inputs()
    short = _replace(inputs, survival=inputs.survival.sel(year=[2024]))
    with pytest.raises(MissingDataError, match=r"survival has no values for year \[2025\]"):
        project(base, components=short, start_year=2024, end_year=2026)
    # One year fewer to project needs no 2025 rates.
    project(base, components=short, start_year=2024, end_year=2025)


def test_missing_area_and_age_are_named():
    base, inputs = _handworked_inputs()
    one_area = _replace(inputs, fertility=inputs.fertility.sel(area=["WK000101"]))
    with pytest.raises(UnknownAreaError, match=r"fertility has no values for area \['WK000102'\]"):
        project(base, components=one_area, start_year=2024, end_year=2025)
    no_age2 = _replace(inputs, survival=inputs.survival.sel(age=[0, 1, 3]))
    with pytest.raises(MissingDataError, match=r"survival has no values for age \[2\]"):
        project(base, components=no_age2, start_year=2024, end_year=2025)
    gap = inputs.fertility.reindex(age=[1, 3]).fillna(0.0)
    with pytest.raises(MissingDataError, match=r"fertility has no values for age \[2\]"):
        project(base, components=_replace(inputs, fertility=gap), start_year=2024, end_year=2025)


def test_fertility_with_wrong_dims():
    _, inputs = _handworked_inputs()
    by_sex = inputs.fertility.expand_dims(sex=SEXES)
    with pytest.raises(DataFormatError, match=r"fertility has dims .* \['sex'\] are not allowed"):
        _replace(inputs, fertility=by_sex)
    with pytest.raises(DataFormatError, match=r"fertility .* needs \('age',\)"):
        _replace(inputs, fertility=inputs.fertility.sel(age=1, drop=True))
    beyond = inputs.fertility.reindex(age=[1, 2, 3, 4]).fillna(0.0)
    with pytest.raises(DataFormatError, match=r"fertility has age labels \[4\] that the population"):
        project(_handworked_inputs()[0], components=_replace(inputs, fertility=beyond),
                start_year=2024, end_year=2025)
    with pytest.raises(InvalidValueError, match="fertility is positive at age 0"):
        _replace(inputs, fertility=inputs.fertility.reindex(age=[0, 1, 2]).fillna(0.5))


def test_negative_base():
    base, inputs = _handworked_inputs()
    bad = base.copy()
    bad.loc[{"area": "WK000102", "sex": "male", "age": 2}] = -1.0
    with pytest.raises(InvalidValueError,
                       match=r"base has 1 value\(s\) below 0, first at area='WK000102', "
                             r"sex='male', age=2"):
        project(bad, components=inputs, start_year=2024, end_year=2025)


def test_nan_is_rejected():
    base, inputs = _handworked_inputs()
    bad = base.copy()
    bad.loc[{"area": "WK000101", "sex": "female", "age": 0}] = np.nan
    with pytest.raises(InvalidValueError, match=r"base has 1 NaN .* area='WK000101'"):
        project(bad, components=inputs, start_year=2024, end_year=2025)
    mig = inputs.net_migration.copy()
    mig[0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidValueError, match="net_migration has 1 NaN"):
        _replace(inputs, net_migration=mig)


def test_survival_above_one():
    _, inputs = _handworked_inputs()
    surv = inputs.survival.copy()
    surv.loc[{"sex": "female", "age": 0, "year": 2025}] = 1.2
    with pytest.raises(InvalidValueError,
                       match=r"survival has 1 value\(s\) above 1, first at sex='female', "
                             r"year=2025, age=0 \(value 1.2\); survival is a probability"):
        _replace(inputs, survival=surv)


def test_other_input_errors():
    base, inputs = _handworked_inputs()
    with pytest.raises(DataFormatError, match="exactly one of net_migration"):
        _replace(inputs, migration_rate=inputs.net_migration * 0)
    with pytest.raises(DataFormatError, match="exactly one of net_migration.*neither"):
        _replace(inputs, net_migration=None)
    with pytest.raises(DataFormatError, match=r"net_migration .* needs \('area', 'sex', 'age'\)"):
        _replace(inputs, net_migration=inputs.net_migration.sum("area"))
    with pytest.raises(InvalidValueError, match="sex_ratio_at_birth must be a positive"):
        _replace(inputs, sex_ratio_at_birth=0.0)
    with pytest.raises(DataFormatError, match=r"births_survival has sex labels \['M'\]"):
        _replace(inputs, births_survival=inputs.births_survival.assign_coords(sex=["M", "female"]))
    with pytest.raises(InvalidValueError, match="end_year 2023 is before start_year 2024"):
        project(base, components=inputs, start_year=2024, end_year=2023)
    with pytest.raises(DataFormatError, match=r"base must have ages 0, 1, \.\.\., w"):
        project(base.assign_coords(age=[1, 2, 3, 4]), components=inputs, start_year=2024,
                end_year=2025)
    with pytest.raises(MissingDataError, match="base has no year 2024"):
        project(base.expand_dims(year=[2023]), components=inputs, start_year=2024, end_year=2025)
    with pytest.raises(DataFormatError, match="components must be a ProjectionInputs"):
        project(base, components={"survival": 1}, start_year=2024, end_year=2025)
    control = base.sum("area").expand_dims(year=[2025])
    with pytest.raises(MissingDataError, match=r"constrain_to has no values for year \[2026\]"):
        project(base, components=inputs, start_year=2024, end_year=2026, constrain_to=control)


# ---------------------------------------------------------------------------------------------
# Small-area methods: Hamilton-Perry (tests/data/hamilton_perry.md) and housing-led
# ---------------------------------------------------------------------------------------------

from assen_demand.demography.projection import dwelling_stock, hamilton_perry  # noqa: E402


def _hp_inputs():
    coords = {"area": ["WK1"], "sex": SEXES, "age": AGES4}
    earlier = xr.DataArray([[[10, 10, 10, 5], [10, 10, 10, 5]]], dims=("area", "sex", "age"), coords=coords)
    later = xr.DataArray([[[12, 9, 8, 10], [11, 10, 9, 12]]], dims=("area", "sex", "age"), coords=coords)
    return earlier.astype(float), later.astype(float)


def test_hamilton_perry_hand_worked():
    earlier, later = _hp_inputs()
    out = hamilton_perry(earlier, later, start_year=2021, end_year=2023, mother_ages=(1, 3)).sel(area="WK1")
    expected = {
        2022: [[240 / 19, 10.8, 7.2, 12.0], [220 / 19, 11.0, 9.0, 16.8]],
        2023: [[4897.2 / 361, 216 / 19, 8.64, 12.8], [4489.1 / 361, 220 / 19, 9.9, 20.64]],
    }
    np.testing.assert_allclose(out.sel(year=2021).values, later.sel(area="WK1").values)
    for year, values in expected.items():
        np.testing.assert_allclose(out.sel(year=year).transpose("sex", "age").values, values, rtol=1e-12)


def test_hamilton_perry_constrained_to_control_and_small_denominator_fallback():
    earlier, later = _hp_inputs()
    # a second area with nobody aged 0..1 earlier: its ratios come from both areas together
    other_e = earlier.assign_coords(area=["WK2"]).copy()
    other_e.loc[dict(age=[0, 1])] = 0.0
    e = xr.concat([earlier, other_e], dim="area")
    l_ = xr.concat([later, later.assign_coords(area=["WK2"])], dim="area")
    control = (l_.sum("area") * 1.1).expand_dims(year=[2022, 2023]).transpose("sex", "age", "year")
    out = hamilton_perry(e, l_, start_year=2021, end_year=2023, mother_ages=(1, 3), constrain_to=control)
    np.testing.assert_allclose(out.sel(year=[2022, 2023]).sum("area").values, control.values, rtol=1e-12)
    assert np.isfinite(out.values).all() and (out.values >= 0).all()


def test_hamilton_perry_errors():
    earlier, later = _hp_inputs()
    with pytest.raises(InvalidValueError, match="interval 0 must be a whole number of years >= 1"):
        hamilton_perry(earlier, later, start_year=2021, end_year=2022, interval=0)
    with pytest.raises(UnknownAreaError, match=r"\['WK1', 'WK9'\] are in only one of them"):
        hamilton_perry(earlier, later.assign_coords(area=["WK9"]), start_year=2021, end_year=2022)


def test_dwelling_stock_and_its_errors():
    base = pd.Series({"WK1": 100.0, "WK2": 50.0})
    plan = pd.DataFrame({"area": ["WK1", "WK2"], "year": [2025, 2026], "dwellings_added": [30, 0],
                         "dwellings_removed": [10, 5]})
    stock = dwelling_stock(base, plan, start_year=2025, end_year=2027)
    assert stock.sel(area="WK1").values.tolist() == [100.0, 120.0, 120.0]
    assert stock.sel(area="WK2").values.tolist() == [50.0, 50.0, 45.0]
    with pytest.raises(UnknownAreaError, match=r"names area\(s\) \['WK7'\] that are not wijken"):
        dwelling_stock(base, plan.assign(area="WK7"), start_year=2025, end_year=2027)
    with pytest.raises(InvalidValueError, match=r"removes more dwellings than WK1 has \(stock -370 on 1 January 2026\)"):
        dwelling_stock(base, plan.assign(dwellings_removed=500), start_year=2025, end_year=2027)


@pytest.mark.slow  # whole Assen projections: 2-3 s CPU each
def test_housing_led_population_is_stock_times_occupancy():
    """Every wijk's population equals its dwelling stock x persons per dwelling, every year."""
    from assen_demand.pipeline import project_population

    result = project_population("GM0106", base_year=2024, end_year=2030, method="housing_led",
                                dwelling_pipeline="example")
    housing = result.notes["housing"]
    wijken = result.population.sel(area=result.wijken).sum(["sex", "age"])
    expected = housing["stock"] * housing["occupancy"]
    np.testing.assert_allclose(wijken.transpose("area", "year").values,
                               expected.sel(area=result.wijken).transpose("area", "year").values, atol=1e-4)
    # the pipeline adds dwellings in Kloosterveen (WK010608): 100 in 2024 and 2025
    assert float(housing["stock"].sel(area="WK010608", year=2026) - housing["stock"].sel(area="WK010608", year=2024)) == 200
    # bottom-up: the gemeente is the sum of its wijken
    np.testing.assert_allclose(result.population.sel(area="GM0106").values,
                               result.population.sel(area=result.wijken).sum("area").values)
    assert (result.population.values >= 0).all()


@pytest.mark.slow  # whole Assen projections: 2-3 s CPU each
def test_project_population_methods_and_errors():
    from assen_demand.pipeline import project_population

    hp = project_population("GM0106", base_year=2022, end_year=2024, method="hamilton_perry")
    assert hp.notes["hamilton_perry_years"] == (2021, 2022)
    gm, wijken = hp.population.sel(area="GM0106"), hp.population.sel(area=hp.wijken).sum("area")
    np.testing.assert_allclose(gm.values, wijken.values, rtol=1e-9)
    with pytest.raises(MissingDataError, match="base_year 2021 allows an interval of at most 0 year"):
        project_population("GM0106", base_year=2021, end_year=2023, method="hamilton_perry")
    with pytest.raises(InvalidValueError, match="unknown small-area method 'shift_share'"):
        project_population("GM0106", base_year=2021, end_year=2023, method="shift_share")

    def held(*, base, components, start_year, end_year, control, data):
        return base.expand_dims(year=list(range(start_year, end_year + 1))).transpose("area", "sex", "age", "year")

    kept = project_population("GM0106", base_year=2021, end_year=2023, method=held)
    assert kept.method == "held"
    np.testing.assert_allclose(kept.population.sel(area=kept.wijken, year=2023).values,
                               kept.population.sel(area=kept.wijken, year=2021).values)

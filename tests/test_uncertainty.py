"""uncertainty.py: parameter draws, zero width, same seed, ordered quantiles, a small coverage check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import example, given, settings
from hypothesis import strategies as st

from assen_demand.housing import care
from assen_demand import uncertainty
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.parameters import load_parameter_table
from assen_demand.pipeline import forecast, project_population

DRAWS = 12


@pytest.fixture(scope="module")
def fc(assen):
    return forecast(data=assen, draws=DRAWS, seed=7, progress=False)


@pytest.fixture(scope="module")
def fc_zero(assen):
    return forecast(data=assen, draws=3, seed=1, zero_width=True, progress=False)


# ---- parameter draws ------------------------------------------------------------------------


def test_split_normal_quantiles_match_range():
    # low/high are the 5% and 95% points, central the median (on the transformed scale)
    z = np.random.default_rng(0).standard_normal(200_000)
    low, cen, high = np.array([0.2]), np.array([0.3]), np.array([0.5])
    for share in (True, False):
        v = uncertainty._split_normal(low, cen, high, z, share=share)[:, 0]
        assert np.quantile(v, [0.05, 0.5, 0.95]) == pytest.approx([0.2, 0.3, 0.5], abs=0.004)
    # a zero low bound: the lower side is linear and clipped at 0
    v = uncertainty._split_normal(np.array([0.0]), np.array([0.01]), np.array([0.02]), z, share=True)[:, 0]
    assert v.min() == 0.0 and np.quantile(v, 0.95) == pytest.approx(0.02, abs=5e-4)


@settings(max_examples=30, deadline=None)
@given(low=st.floats(0, 1), a=st.floats(0, 1), b=st.floats(0, 1), share=st.booleans(),
       z=st.lists(st.floats(-6, 6), min_size=1, max_size=5))
@example(low=2.2250738585072014e-308, a=0.0, b=1.0, share=False, z=[4.0, 4.0])  # exp overflowed to inf
def test_split_normal_stays_in_range_and_is_monotone(low, a, b, share, z):
    cen = low + (1 - low) * a
    high = cen + (1 - cen) * b
    z = np.sort(np.asarray(z))
    v = uncertainty._split_normal(np.array([low]), np.array([cen]), np.array([high]), z, share=share)[:, 0]
    assert np.all(v >= 0) and np.all(np.isfinite(v)) and (not share or np.all(v <= 1))
    assert np.all(np.diff(v) >= -1e-12)  # a larger normal never gives a smaller value
    assert uncertainty._split_normal(np.array([low]), np.array([cen]), np.array([high]), np.zeros(1),
                                     share=share)[0, 0] == cen


def test_parameter_draws_as_variant():
    p = uncertainty.ParameterDraws(draws=400, seed=3)
    dem = care.prevalence("dementia", variant=p)
    assert dem.dims == ("draw", "sex", "age") and dem.sizes["draw"] == 400
    # one normal per parameter: every age moves together (same rank order over the draws)
    at80, at90 = (dem.sel(sex="female", age=a).values for a in (80, 90))
    np.testing.assert_array_equal(np.argsort(at80), np.argsort(at90))
    # a chunk sees exactly the same values
    np.testing.assert_array_equal(care.prevalence("dementia", variant=p.subset([5, 6])).values, dem.values[[5, 6]])
    table = load_parameter_table("care_prevalence.csv")
    zero = uncertainty.ParameterDraws(draws=5, seed=3, zero_width=True)
    from assen_demand.parameters import scalar_parameter

    assert (scalar_parameter(table, indicator="wlz_vv_at_home_dementia_share", variant=zero).values
            == scalar_parameter(table, indicator="wlz_vv_at_home_dementia_share")).all()


# ---- the whole chain ------------------------------------------------------------------------


@pytest.mark.slow
def test_zero_width_collapses_onto_the_central_forecast(fc_zero):
    u = fc_zero.uncertainty
    # population draws are held in float32 (uncertainty.POPULATION_DTYPE, issue 20): 24-bit mantissa,
    # so a draw equals the central value to about 6e-8 relative, and so does what follows from it
    close = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(u.population.values, np.broadcast_to(fc_zero.population.values, u.population.shape), **close)
    xr.testing.assert_allclose(u.care_need, fc_zero.care_need.sum(["sex", "age"]).broadcast_like(u.care_need), **close)
    xr.testing.assert_allclose(u.dwellings["need"], fc_zero.dwellings["need"].broadcast_like(u.dwellings["need"]), **close)
    gap = fc_zero.dwellings["gap"].broadcast_like(u.dwellings["gap"])
    xr.testing.assert_allclose(u.dwellings["gap"], gap, **close)
    xr.testing.assert_allclose(u.households["households"],
                               fc_zero.households["households"].sum(["sex", "age"]).broadcast_like(u.households["households"]), **close)
    xr.testing.assert_allclose(u.doorstroming, fc_zero.doorstroming.broadcast_like(u.doorstroming), **close)
    frame = fc_zero.to_frame("dwellings")
    need = frame[frame["model"] == "need"]
    np.testing.assert_allclose(need["need_q05"], need["need"], **close)
    np.testing.assert_allclose(need["need_q95"], need["need"], **close)


@pytest.mark.slow
def test_same_seed_is_bit_identical(fc, assen):
    u = fc.uncertainty
    kwb = assen.kwb
    one = kwb[(kwb["year"] == fc.projection.base_year) & (kwb["area"].isin(list(fc.population["area"].values)))]
    settings = dict(data=assen, draws=DRAWS, seed=7, progress=False,
                    supply=fc.dwellings["supply"].sel(model="need", drop=True),
                    one_person_households=one.set_index("area")["one_person_households"].dropna())
    again = uncertainty.simulate_forecast(fc.projection, **settings)
    for name in ("population", "care_need", "doorstroming"):
        np.testing.assert_array_equal(getattr(again, name).values, getattr(u, name).values)
    for var in ("need", "gap"):
        np.testing.assert_array_equal(again.dwellings[var].values, u.dwellings[var].values)
    # all random numbers are drawn before the chunks: another chunk size changes only the rounding
    # of the engine's sums (its einsum over mothers' ages is batched per chunk)
    chunked = uncertainty.simulate_forecast(fc.projection, chunk_size=5, **settings)
    np.testing.assert_allclose(chunked.population.values, u.population.values, rtol=1e-12)
    np.testing.assert_allclose(chunked.dwellings["need"].values, u.dwellings["need"].values, rtol=1e-12)
    other = uncertainty.simulate_population(fc.projection, data=assen, draws=DRAWS, seed=8, progress=False)
    assert not np.array_equal(other.values, u.population.values)


@pytest.mark.slow
def test_chunks_in_threads_give_the_draws_of_one_thread(fc, assen):
    # issue 20: the chunks of draws run side by side; each writes only its own rows and the
    # clipped persons are summed in chunk order, so the threads change no bit
    settings = dict(data=assen, draws=DRAWS, seed=7, progress=False, chunk_size=4)
    one = uncertainty.simulate_forecast(fc.projection, threads=1, **settings)
    three = uncertainty.simulate_forecast(fc.projection, threads=3, **settings)
    for name in ("population", "care_need", "doorstroming"):
        np.testing.assert_array_equal(getattr(three, name).values, getattr(one, name).values)
    for var in one.households.data_vars:
        np.testing.assert_array_equal(three.households[var].values, one.households[var].values)
    np.testing.assert_array_equal(three.dwellings["need"].values, one.dwellings["need"].values)
    assert three.clipped_persons == one.clipped_persons
    with pytest.raises(InvalidValueError, match="threads must be a whole number"):
        uncertainty.simulate_forecast(fc.projection, threads=0, **settings)


@pytest.mark.slow
def test_draws_vary_and_quantiles_are_ordered(fc):
    u = fc.uncertainty
    assert u.draws == DRAWS and u.seed == 7
    assert float(u.population.sel(area="GM0106", year=2040).sum(["sex", "age"]).std()) > 100
    for name in ("population", "households", "care_need", "dwellings", "doorstroming"):
        q = fc.quantiles(name)
        data = [q] if isinstance(q, xr.DataArray) else [q[v] for v in q.data_vars]
        for da in data:
            lo, mid, hi = (da.sel(quantile=v).values for v in (0.05, 0.5, 0.95))
            ok = np.isnan(lo) | ((lo <= mid) & (mid <= hi))
            assert ok.all(), name  # every cell of every table


@pytest.mark.slow
def test_to_frame_columns(fc):
    frame = fc.to_frame("dwellings")
    cols = list(frame.columns)
    assert cols[cols.index("need"):cols.index("need") + 4] == ["need", "need_q05", "need_q50", "need_q95"]
    assert {"gap_q05", "gap_q50", "gap_q95"} <= set(cols)
    known = frame[(frame["model"] == "need") & frame["supply"].notna()]
    assert known["gap_q05"].notna().all()
    assert frame[frame["model"] == "norm"]["gap_q50"].isna().all()
    assert {"persons_q05", "persons_q95"} <= set(fc.to_frame("population").columns)
    assert {"persons_q05", "persons_q95"} <= set(fc.to_frame("care_need").columns)
    assert "households_q50" in fc.to_frame("households").columns
    assert "family_homes_freed_q95" in fc.to_frame("doorstroming").columns
    assert not any("_q" in c for c in fc.to_frame("mantelzorg").columns)
    assert len(fc.to_frame("dwellings")) == len(fc.dwellings["need"].to_dataframe())


@pytest.mark.slow
def test_settings_report_every_sd(fc):
    s = fc.uncertainty.settings
    assert {"mortality", "fertility", "migration", "care and dwelling parameters"} <= set(s["component"])
    assert (s["basis"].str.len() > 5).all()


@pytest.mark.slow
def test_errors(assen, fc):
    with pytest.raises(InvalidValueError, match=r"draws must be a whole number >= 1"):
        uncertainty.simulate_population(fc.projection, data=assen, draws=-3)
    with pytest.raises(InvalidValueError, match=r"seed must be a non-negative integer"):
        uncertainty.simulate_population(fc.projection, data=assen, draws=2, seed="abc")
    with pytest.raises(InvalidValueError, match=r"quantiles \[5\.0\] must lie in \[0, 1\]"):
        fc.quantiles("dwellings", q=[5])
    with pytest.raises(KeyError, match=r"no draws of 'mantelzorg'"):
        fc.quantiles("mantelzorg")
    with pytest.raises(MissingDataError, match=r"no Monte Carlo draws; run forecast\(\.\.\., draws=1000"):
        replace(fc, uncertainty=None).quantiles()
    with pytest.raises(InvalidValueError, match=r"draws need mortality='lee_carter'"):
        uncertainty.demographic_draws(replace(fc.projection, components=replace(fc.projection.components, lee_carter=None)),
                                      data=assen, draws=2)


def test_gemeente_migration_process_read_from_the_error_table(assen):
    # Assen 2024: ~69,700 persons, assumed growth under 1 % a year -> kind 50k-100k|stable; the sds
    # of the draws are the table's (per person) times the base population, nothing copied into code
    from assen_demand.evaluation import error_process_from_table

    proc, basis = uncertainty._migration_process(assen.dynamics, "GM0106", 2024, 69_700.0)
    assert "kind 50k-100k|stable" in basis
    assert proc == error_process_from_table("50k-100k|stable")


def test_gemeente_migration_process_without_history_is_classed_stable(assen):
    dyn = assen.dynamics[assen.dynamics["year"] >= 2022]  # no five flow years before 2023: like a merger in 2022
    proc, basis = uncertainty._migration_process(dyn, "GM0106", 2023, 10_000.0)
    assert "kind lt20k|stable" in basis and "growth unknown" in basis
    assert proc.sigma_level > 0


@pytest.mark.slow  # Monte Carlo draws of the Assen projection: ~6 s CPU
def test_gemeente_migration_shift_is_persistent_and_widens(assen):
    # the drawn deviations follow the fitted process: sd of the summed shift over h years as
    # evaluation.error_process_variance gives it (2,000 draws: +-4 % on an sd), and yearly
    # deviations are positively correlated (not independent yearly noise)
    from assen_demand.evaluation import error_process_from_table

    proj = project_population(data=assen)
    demo = uncertainty.demographic_draws(proj, data=assen, draws=2000, seed=3)
    shift = demo.migration_shift.values  # (draw, year) [net migrants per year]
    pop = float(proj.base.population.sel(area="GM0106").sum())
    proc = error_process_from_table("50k-100k|stable")
    cum = np.cumsum(shift, axis=1) / pop
    for h in (1, 5, 16):
        assert np.std(cum[:, h - 1]) == pytest.approx(proc.sd([h])[0], rel=0.08)
    assert np.corrcoef(shift[:, 3], shift[:, 4])[0, 1] > 0.2
    assert np.std(cum[:, 15]) > 2.5 * np.std(cum[:, 4])


@pytest.mark.slow
def test_progress_bar_can_be_switched_off(fc, assen, capsys):
    uncertainty.simulate_population(fc.projection, data=assen, draws=4, seed=1, progress=False, chunk_size=2)
    assert capsys.readouterr().err == ""
    uncertainty.simulate_population(fc.projection, data=assen, draws=4, seed=1, progress=True, chunk_size=2)
    assert "population draws" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::assen_demand.demography.components.ComponentsWarning")  # no KWB pair before 2021
def test_small_coverage_assen_2021_to_2022(assen):
    # benchmarks/coverage.py in small: one gemeente, base 2021 (only what was known then), 2022 KWB bands
    proj = project_population(data=assen, base_year=2021, end_year=2022)
    sim = uncertainty.simulate_population(proj, data=assen, draws=200, seed=2021, progress=False)
    edges = [0, 15, 25, 45, 65, 101]
    band = xr.DataArray(np.searchsorted(edges, np.arange(101), side="right") - 1, dims="age",
                        coords={"age": np.arange(101)})
    bands = sim.sel(year=2022).sum("sex").groupby(band.rename("band")).sum()
    q = bands.quantile([0.05, 0.95], dim="draw")
    kwb = assen.kwb[(assen.kwb["year"] == 2022) & (assen.kwb["area_level"] == "wijk")].set_index("area")
    observed = kwb[["age_0_15", "age_15_25", "age_25_45", "age_45_65", "age_65_plus"]]
    wijken = [a for a in observed.index if a in q["area"].values]
    lo = q.sel(quantile=0.05, area=wijken).transpose("area", "band").values - 2.5  # CBS rounds to 5
    hi = q.sel(quantile=0.95, area=wijken).transpose("area", "band").values + 2.5
    obs = observed.loc[wijken].to_numpy(float)
    inside = (obs >= lo) & (obs <= hi)
    assert len(wijken) == 10 and inside.size == 50
    assert inside.mean() >= 0.75, pd.DataFrame(inside, index=wijken)

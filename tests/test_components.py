"""Tests of the component estimators: components, mortality, fertility and migration.

Life tables, WPP ungrouping, Lee-Carter, SMR, fertility, migration.

Reference values are either hand-worked below (with how they were made) or published numbers
named at the test (UN WPP 2024 e0; Rogers & Castro 1981 fundamental parameters).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.demography import components as c
from assen_demand.demography import fertility, migration, mortality
from assen_demand.inputs.datasets import load_assen
from assen_demand.errors import ArgumentError, DataFormatError, InvalidValueError, MissingDataError


@pytest.fixture(scope="module")
def assen():
    return load_assen()


@pytest.fixture(scope="module")
def comp2024(assen):
    return c.estimate_components(assen, base_year=2024)


def _wpp_e0_mean(data, sex, first, last):
    e0 = data.wpp_e0
    return float(e0[(e0["sex"] == sex) & (e0["year"] >= first) & (e0["year"] <= last)]["e0"].mean())


# --------------------------------------------------------------------------------------------
# life tables
# --------------------------------------------------------------------------------------------

# Hand-worked three-age life table: ages 0, 1, 2+ with m = [0.01, 0.02, 0.5 (open)], a0 = 0.1,
# a1 = 0.5 (worked on paper, then checked with a calculator to 10 digits):
#   q0 = m0 / (1 + (1 - a0) m0) = 0.01 / 1.009             = 0.0099108028
#   l1 = 1 - q0                                            = 0.9900891972
#   d0 = l0 q0                                             = 0.0099108028
#   L0 = l1 + a0 d0 = 0.9900891972 + 0.0009910803          = 0.9910802775   (= d0 / m0)
#   q1 = 0.02 / (1 + 0.5 x 0.02) = 0.02 / 1.01             = 0.0198019802
#   d1 = l1 q1                                             = 0.0196057267
#   l2 = l1 - d1                                           = 0.9704834705
#   L1 = l2 + 0.5 d1                                       = 0.9802863339   (= d1 / m1)
#   L2 = l2 / m2 = 0.9704834705 / 0.5 (open group)         = 1.9409669410
#   T2 = 1.9409669410, T1 = T2 + L1 = 2.9212532749, T0 = T1 + L0 = 3.9123335524
#   e0 = T0 / l0 = 3.9123335524, e1 = T1 / l1 = 2.9504950495, e2 = 1 / m2 = 2
#   S(0) = L1 / L0 = 0.9891089109; S(1) = S(2) = T2 / T1 = 0.6644295302 (open-group rule)
#   births survival = L0 / l0 = 0.9910802775
HAND = {
    "qx": [0.0099108028, 0.0198019802, 1.0],
    "lx": [1.0, 0.9900891972, 0.9704834705],
    "dx": [0.0099108028, 0.0196057267, 0.9704834705],
    "Lx": [0.9910802775, 0.9802863339, 1.9409669410],
    "Tx": [3.9123335524, 2.9212532749, 1.9409669410],
    "ex": [3.9123335524, 2.9504950495, 2.0],
}


def test_life_table_hand_worked_three_ages():
    mx = xr.DataArray([0.01, 0.02, 0.5], dims="age", coords={"age": [0, 1, 2]})
    table = mortality.life_table(mx, a0=0.1)
    for column, expected in HAND.items():
        np.testing.assert_allclose(table[column].values, expected, rtol=0, atol=2e-10, err_msg=column)
    surv, births = mortality.survival_ratios(table)
    np.testing.assert_allclose(surv.values, [0.9891089109, 0.6644295302, 0.6644295302], atol=2e-10)
    assert float(births) == pytest.approx(0.9910802775, abs=2e-10)


def test_andreev_kingkade_a0_is_consistent_with_q0():
    m0 = np.array([0.001, 0.004, 0.02, 0.05, 0.1])
    for sex in c.SEXES:
        a0 = mortality.andreev_kingkade_a0(m0, sex)
        q0 = m0 / (1 + (1 - a0) * m0)
        for (upper, const, slope), lower in zip(mortality._AK_SEGMENTS[sex], (0, *[s[0] for s in mortality._AK_SEGMENTS[sex][:-1]])):
            sel = (m0 >= lower) & (m0 < upper)
            # on each segment a0 is the Andreev-Kingkade line in q0 (their table 3)
            np.testing.assert_allclose(a0[sel], const + slope * q0[sel], atol=1e-12)
    # low mortality (Netherlands today, m0 about 0.0035): a0 near 0.14, never the old 0.3 of Coale-Demeny
    assert 0.13 < mortality.andreev_kingkade_a0(0.0035, "male") < 0.15


def test_survival_reproduces_the_stationary_population(assen):
    mx = mortality.wpp_single_year_mx(assen.wpp_mx, base_year=2020, years=[2017])
    table = mortality.life_table(mx)
    surv, births_surv = mortality.survival_ratios(table)
    pop = table["Lx"]  # stationary population with l(0) = 1 birth per year
    nxt = xr.zeros_like(pop)
    nxt.loc[dict(age=slice(1, 100))] = (pop * surv).sel(age=slice(0, 99)).values
    nxt.loc[dict(age=100)] += (pop * surv).sel(age=100)
    nxt.loc[dict(age=0)] = births_surv
    np.testing.assert_allclose(nxt.values, pop.values, rtol=1e-12)
    assert float(surv.min()) >= 0 and float(surv.max()) <= 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(1e-5, 0.9), min_size=3, max_size=30), st.floats(0.05, 0.5))
def test_life_table_invariants(rates, a0):
    mx = xr.DataArray(np.array(rates), dims="age", coords={"age": np.arange(len(rates))})
    table = mortality.life_table(mx, a0=a0)
    assert float(table["dx"].sum()) == pytest.approx(1.0)
    assert np.all(np.diff(table["lx"].values) <= 0)
    assert float(table["ex"].sel(age=0)) == pytest.approx(float(table["Lx"].sum()))
    surv, _ = mortality.survival_ratios(table)
    assert np.all((surv.values >= 0) & (surv.values <= 1))


# --------------------------------------------------------------------------------------------
# WPP ungrouping: e0 preserved
# --------------------------------------------------------------------------------------------


def test_wpp_2015_2020_e0_matches_wpp(assen):
    """Our ungrouping + life table vs WPP e0 for 2015-2020.

    WPP publishes annual e0 from its own single-year life tables; the period value is taken as
    the mean of the annual values 2015..2019 (the calendar years of the period).
    Measured (WPP 2024): male 80.053 vs 80.063 (-0.010), female 83.286 vs 83.291 (-0.005) with the PCLM
    ungrouping (80.051 and 83.284 with the log-spline it replaced).
    """
    period = mortality.wpp_period_mx(assen.wpp_mx, base_year=2020).sel(time=2017.5)
    e0 = mortality.life_table(mortality.ungroup_mx(period))["ex"].sel(age=0)
    for sex in c.SEXES:
        diff = float(e0.sel(sex=sex)) - _wpp_e0_mean(assen, sex, 2015, 2019)
        assert abs(diff) < 0.3, (sex, diff)
        assert abs(diff) < 0.05  # what we measured; a regression guard


def test_ungroup_mx_is_pclm_with_stationary_exposures(assen):
    # the fixed point: pclm_rates, given the band deaths and the person-years of a stationary
    # population at the returned rates, gives those rates back (to the < 1e-4 of the last round)
    from assen_demand.demography.ungroup import pclm_rates

    bands = mortality.wpp_period_mx(assen.wpp_mx, base_year=2020).sel(time=2017.5, sex="female")
    single = mortality.ungroup_mx(bands).values
    starts = bands["age_lo"].values
    exposures = mortality._stationary_person_years(single, mortality.STATIONARY_RADIX)
    band_of_age = np.searchsorted(starts, np.arange(101), side="right") - 1
    deaths = bands.values * np.bincount(band_of_age, weights=exposures)
    again = pclm_rates(deaths, exposures, starts, max_age=100, lambdas=10.0 ** mortality.WPP_PCLM_LOG10_LAMBDA)
    np.testing.assert_allclose(again.values, single, rtol=1e-4)
    assert single[0] == pytest.approx(float(bands.sel(age_lo=0)), rel=1e-9)  # one-year bands stay exact
    assert single[100] == pytest.approx(float(bands.sel(age_lo=100)), rel=1e-9)
    with pytest.raises(InvalidValueError, match="pclm"):
        mortality.ungroup_mx(bands, method="log_spline")


def test_ungroup_keeps_band_rates(assen):
    bands = mortality.wpp_period_mx(assen.wpp_mx, base_year=2020).sel(time=2017.5)
    single = mortality.ungroup_mx(bands)
    table = mortality.life_table(single)
    edges = list(bands["age_lo"].values) + [101]
    for sex in c.SEXES:
        for lo, hi, rate in zip(edges[:-1], edges[1:], bands.sel(sex=sex).values):
            ages = slice(lo, hi - 1)
            L = table["Lx"].sel(sex=sex, age=ages)
            m = single.sel(sex=sex, age=ages)
            # stationary-population (life-table) rate of the band = the WPP band rate
            assert float((L * m).sum() / L.sum()) == pytest.approx(rate, rel=1e-3), (sex, lo)
    assert (single > 0).all()


def test_time_interpolation_is_log_linear_between_mid_years(assen):
    per = mortality.ungroup_mx(mortality.wpp_period_mx(assen.wpp_mx, base_year=2020))
    yearly = mortality.interpolate_log_rates(per, [2012, 2015, 2017])
    a, b = per.sel(time=2012.5), per.sel(time=2017.5)
    np.testing.assert_allclose(yearly.sel(year=2012), a, rtol=1e-12)
    np.testing.assert_allclose(yearly.sel(year=2017), b, rtol=1e-12)
    np.testing.assert_allclose(yearly.sel(year=2015), np.exp((np.log(a) * 2 + np.log(b) * 3) / 5), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Lee-Carter
# --------------------------------------------------------------------------------------------


def test_lee_carter_normalisation_and_drift_agrees_with_statsmodels(assen):
    from statsmodels.tsa.arima.model import ARIMA

    per = mortality.ungroup_mx(mortality.wpp_period_mx(assen.wpp_mx, base_year=2024))
    fit = mortality.fit_lee_carter(per.sel(time=per["time"] > 1970))
    np.testing.assert_allclose(fit.bx.sum("age"), 1.0)
    np.testing.assert_allclose(fit.kt.sum("time"), 0.0, atol=1e-9)
    assert (fit.explained > 0.9).all() and (fit.drift < 0).all()
    for sex in c.SEXES:
        k = fit.kt.sel(sex=sex).values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ARIMA(k, order=(0, 1, 0), trend="t").fit()
        assert res.params[0] / 5 == pytest.approx(float(fit.drift.sel(sex=sex)), rel=1e-5)
        # fit_lee_carter takes sigma from statsmodels' exact MLE (divides by n), per year = per step / 5
        assert res.params[-1] == pytest.approx(float(fit.sigma.sel(sex=sex)) ** 2 * 5, rel=1e-3)


def _rank_one_mx(k_values, step=5.0):
    """m(x, t) = exp(a(x) + b(x) k(t)) for two sexes, b summing to 1 and k to 0: Lee-Carter recovers k exactly."""
    ages = np.arange(101)
    ax = -9.0 + 0.08 * ages
    bx = np.linspace(2.0, 0.5, ages.size)
    bx = bx / bx.sum()
    t = 1992.5 + step * np.arange(len(k_values))  # period mid-points, as the WPP periods
    logm = ax[None, :, None] + bx[None, :, None] * np.asarray(k_values, float)[None, None, :]
    return xr.DataArray(np.exp(np.repeat(logm, 2, axis=0)), dims=("sex", "age", "time"),
                        coords={"sex": list(c.SEXES), "age": ages, "time": t})


def test_lee_carter_random_walk_hand_worked():
    # Hand-worked: k = 6, 1, -1, -6 at 5-year steps (sum 0, so the SVD returns it unchanged).
    # Drift = (k_T - k_1) / (T - 1) = (-6 - 6) / 3 = -4 per step = -0.8 per year.
    # Increments -5, -2, -5 around -4: squares 1, 4, 1 -> MLE variance 6 / 3 = 2 per step, so
    # sigma^2 = 2 / 5 = 0.4 per year; drift standard error sqrt(2 / 3) per step = sqrt(2 / 3) / 5 per year.
    fit = mortality.fit_lee_carter(_rank_one_mx([6.0, 1.0, -1.0, -6.0]))
    np.testing.assert_allclose(fit.kt.sel(sex="male"), [6.0, 1.0, -1.0, -6.0], atol=1e-9)
    np.testing.assert_allclose(fit.drift, -0.8, rtol=1e-9)
    np.testing.assert_allclose(fit.sigma, np.sqrt(0.4), rtol=1e-6)
    np.testing.assert_allclose(fit.drift_se, np.sqrt(2.0 / 3.0) / 5.0, rtol=1e-4)


def test_lee_carter_interval_grows_with_the_square_root_of_the_horizon():
    # Lee & Carter (1992), JASA 87(419):659-671, https://doi.org/10.1080/01621459.1992.10475265:
    # k is a random walk with drift, so the forecast interval of k widens with sqrt(h)
    from statsmodels.tsa.arima.model import ARIMA

    k = [9.0, 4.0, 3.0, -2.0, -6.0, -8.0]
    fit = mortality.fit_lee_carter(_rank_one_mx(k))
    years = [int(fit.last_time - 0.5) + h for h in (5, 10, 15, 20)]  # 1, 2, 3, 4 steps of 5 years ahead
    band = fit.k_interval(years, level=0.9)
    width = (band["upper"] - band["lower"]).sel(sex="female").values
    np.testing.assert_allclose(width / width[0], np.sqrt([1.0, 2.0, 3.0, 4.0]), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ARIMA(np.asarray(k), order=(0, 1, 0), trend="t").fit(method="innovations_mle")
    interval = res.get_forecast(4).conf_int(alpha=0.1) - k[-1]  # relative to the jump-off, as k_interval
    np.testing.assert_allclose(band["lower"].sel(sex="male"), interval[:, 0], rtol=1e-6)
    np.testing.assert_allclose(band["upper"].sel(sex="male"), interval[:, 1], rtol=1e-6)
    with pytest.raises(InvalidValueError, match="level"):
        fit.k_interval(years, level=1.0)


def test_lee_carter_needs_equally_spaced_time_points():
    mx = _rank_one_mx([3.0, 1.0, -1.0, -3.0])
    mx = mx.assign_coords(time=[1992.5, 1997.5, 2002.5, 2012.5])
    with pytest.raises(DataFormatError, match="equally spaced"):
        mortality.fit_lee_carter(mx)


def test_lee_carter_hindcast_2015_2020(assen):
    """Fit on WPP periods 1950-2010 (ending by 2010), forecast calendar years 2015-2019.

    Measured vs mean WPP annual e0 2015..2019: male -1.06 years, female +0.23 (fit start 1950);
    with the default fit start 1970: male -0.45, female +0.11.
    """
    years = range(2015, 2020)
    for fit_start, bound in ((1950, 1.5), (1970, 0.75)):
        mx, fit = mortality.national_mortality(assen.wpp_mx, base_year=2010, years=years, fit_start=fit_start)
        assert fit.last_time == 2007.5
        e0 = mortality.life_table(mx)["ex"].sel(age=0).mean("year")
        for sex in c.SEXES:
            diff = float(e0.sel(sex=sex)) - _wpp_e0_mean(assen, sex, 2015, 2019)
            assert abs(diff) < bound, (fit_start, sex, diff)


def test_lee_carter_simulation_draws(assen):
    per = mortality.ungroup_mx(mortality.wpp_period_mx(assen.wpp_mx, base_year=2024))
    fit = mortality.fit_lee_carter(per.sel(time=per["time"] > 1970))
    years = [2024, 2030, 2040]
    sims = fit.simulate(years, draws=400, seed=1)
    assert sims.dims == ("draw", "sex", "age", "year") and sims.sizes["draw"] == 400
    xr.testing.assert_identical(sims, fit.simulate(years, draws=400, seed=1))
    logm = np.log(sims).sel(age=80)
    # spread grows with the horizon; the mean path stays near the central forecast
    sd = logm.std("draw")
    assert (sd.sel(year=2040) > sd.sel(year=2024)).all()
    central = np.log(fit.forecast(years)).sel(age=80)
    assert float(abs(logm.mean("draw") - central).max()) < 3 * float(sd.max()) / math.sqrt(400) + 0.02


# --------------------------------------------------------------------------------------------
# jump-off level (Lee & Miller 2001)
# --------------------------------------------------------------------------------------------

# CBS StatLine 37360ned "Levensverwachting; geslacht, leeftijd (per jaar en periode van vijf jaren)",
# https://www.cbs.nl/nl-nl/cijfers/detail/37360ned , life expectancy at birth:
# 2020 men 79.67, women 83.08; 2023 men 80.31, women 83.33
CBS_E0 = {2020: {"male": 79.67, "female": 83.08}, 2023: {"male": 80.31, "female": 83.33}}


def _national_e0(data, base_year, jump_off):
    d = data.as_of(base_year)
    mx, _ = mortality.national_mortality(d.wpp_mx, base_year=base_year, years=range(2016, base_year + 1))
    last = mortality.ungroup_mx(mortality.wpp_period_mx(d.wpp_mx, base_year=base_year)).isel(time=-1, drop=True)
    structure = c.single_year_population(d.national_population_bands, open_weights=c._stationary_open_weights(last))
    level = mortality.jump_off_level(mx, d.national_dynamics, structure, base_year=base_year, population_year=2021)
    rates = mx.sel(year=level.year) * (level.factor if jump_off else 1.0)
    return level, mortality.life_table(rates)["ex"].sel(age=0)


@pytest.mark.parametrize("base_year", [2021, 2024])
def test_jump_off_level_brings_e0_to_cbs(assen, base_year):
    """The model e0 of the last observed year, before and after the jump-off level, against CBS.

    Measured (issue 18 note 6): 2020 model 80.54 / 83.62, with the level 79.87 / 83.24 (CBS 79.67 /
    83.08); 2023 model 81.01 / 83.94, with the level 80.61 / 83.42 (CBS 80.31 / 83.33). What is left
    is mostly the 2021 postcode bands spread uniformly within five years of age.
    """
    level, model = _national_e0(assen, base_year, jump_off=False)
    _, adjusted = _national_e0(assen, base_year, jump_off=True)
    assert level.year == base_year - 1
    for sex in c.SEXES:
        cbs = CBS_E0[level.year][sex]
        assert abs(float(adjusted.sel(sex=sex)) - cbs) < 0.35, (sex, float(adjusted.sel(sex=sex)), cbs)
        assert abs(float(adjusted.sel(sex=sex)) - cbs) < abs(float(model.sel(sex=sex)) - cbs) - 0.08
    assert (level.factor > 1.0).all() and (level.factor < 1.12).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(10.0, 1e4), min_size=8, max_size=8), st.floats(0.001, 0.05), st.floats(0.5, 1.5))
def test_age_structure_moves_and_returns(counts, rate, scale):
    """Forward one year then back: ages 0..w-2 come back exactly, the last two together; the deaths of
    a step add up to the observed ones."""
    ages = np.arange(8)
    pop = xr.DataArray(np.array([counts, counts[::-1]]), dims=("sex", "age"), coords={"sex": list(c.SEXES), "age": ages})
    mx = xr.DataArray(np.broadcast_to((rate * np.exp(0.3 * ages))[None, :, None], (2, 8, 1)).copy(),
                      dims=("sex", "age", "year"), coords={"sex": list(c.SEXES), "age": ages, "year": [2020]})
    ahead = mortality.age_structure_to(pop, mx, from_year=2020, to_year=2021)
    back = mortality.age_structure_to(ahead, mx, from_year=2021, to_year=2020)
    np.testing.assert_allclose(back.values[:, :-2], pop.values[:, :-2], rtol=1e-9)
    np.testing.assert_allclose(back.values[:, -2:].sum(axis=1), pop.values[:, -2:].sum(axis=1), rtol=1e-9)
    model_deaths = pop.sum("age").values - ahead.isel(age=slice(1, None)).sum("age").values
    deaths = xr.DataArray((model_deaths * scale)[:, None], dims=("sex", "year"),
                          coords={"sex": list(c.SEXES), "year": [2020]})
    # rates up to 0.05 e^2.1 = 0.41 die at most a third of an age group, 1.5 times that: no age runs empty
    calibrated = mortality.age_structure_to(pop, mx, from_year=2020, to_year=2021, deaths=deaths)
    lost = pop.sum("age").values - calibrated.isel(age=slice(1, None)).sum("age").values
    np.testing.assert_allclose(lost, model_deaths * scale, rtol=1e-9)


def test_jump_off_level_is_one_when_deaths_are_the_models():
    """A stationary population with the rates' own deaths: the factor is 1 (hand-worked: nothing moves)."""
    ages = np.arange(101)
    mx = xr.DataArray(np.broadcast_to((0.0002 * np.exp(0.085 * ages))[None, :, None], (2, 101, 3)).copy(),
                      dims=("sex", "age", "year"), coords={"sex": list(c.SEXES), "age": ages, "year": [2019, 2020, 2021]})
    L = mortality.life_table(mx.sel(year=2020))["Lx"] * 1000.0
    deaths = float((mx.sel(year=2020) * L).sum("age").isel(sex=0))
    dyn = pd.DataFrame({"sex": list(c.SEXES), "year": 2020, "deaths": deaths, "population_jan1": float(L.sum("age")[0]),
                        "population_dec31": float(L.sum("age")[0])})
    level = mortality.jump_off_level(mx, dyn, L, base_year=2021, population_year=2021)
    assert level.year == 2020
    # not exactly 1: the deaths of the year include the infants born and dead within it, which a
    # structure on 1 January cannot hold (7e-6 here)
    np.testing.assert_allclose(level.factor.values, 1.0, rtol=1e-4)
    assert mortality.jump_off_level(mx, dyn.assign(year=2021), L, base_year=2021, population_year=2021) is None


@pytest.mark.slow  # two Assen projections, ~2 s each
def test_jump_off_level_brings_assen_deaths_to_cbs(assen):
    """Assen's deaths in the base year, projected from 1 January 2023, against CBS 37259 (736 deaths in
    2023, https://opendata.cbs.nl/statline/#/CBS/en/dataset/37259eng): 711 with the jump-off level
    (-3.4 %), 671 without it (-8.8 %); from 2022, 725 and 680 against 730 (issue 18 note 6)."""
    from assen_demand.pipeline import project_population

    observed = float(assen.dynamics.query("sex == 'total' and year == 2023")["deaths"].iloc[0])
    assert observed == 736
    deaths = {}
    for jump_off in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = project_population(data=assen, base_year=2023, end_year=2024, method="cohort_component",
                                   mortality_jump_off=jump_off)
        pop = p.population.sel(area="GM0106")
        deaths[jump_off] = float((p.components.mx.sel(year=2023) * (pop.sel(year=2023) + pop.sel(year=2024)) / 2).sum())
    assert abs(deaths[True] / observed - 1) < 0.05
    assert abs(deaths[True] - observed) < abs(deaths[False] - observed) - 25


def test_components_carry_the_jump_off_level(assen, comp2024):
    """The projection years' national rates and the Lee-Carter paths carry the level; the past does not."""
    plain = c.estimate_components(assen, base_year=2024, mortality_jump_off=False)
    assert plain.jump_off is None and comp2024.jump_off.year == 2023
    ratio = comp2024.national_mx / plain.national_mx
    np.testing.assert_allclose(ratio.sel(year=2030).transpose("sex", "age").values,
                               np.broadcast_to(comp2024.jump_off.factor.values[:, None], (2, 101)), rtol=1e-12)
    np.testing.assert_allclose(ratio.sel(year=2020).values, 1.0, rtol=1e-12)
    np.testing.assert_allclose(comp2024.lee_carter.forecast([2030]).values,
                               comp2024.national_mx.sel(year=[2030]).values, rtol=1e-10)
    assert "2023" in comp2024.assumptions["mortality_jump_off"]


# --------------------------------------------------------------------------------------------
# local mortality level
# --------------------------------------------------------------------------------------------


def test_smr_shrinkage_hand_worked():
    # O = 120, E = 100, alpha = 100: raw 1.2, posterior mean (120 + 100) / (100 + 100) = 1.1;
    # Garwood interval: chi2(0.025, 240) / 200 = 0.9950, chi2(0.975, 242) / 200 = 1.4350
    r = mortality.smr_shrinkage(120, 100, prior_shape=100)
    assert r["smr"] == pytest.approx(1.2)
    assert r["shrunk"] == pytest.approx(1.1)
    assert r["smr_low"] == pytest.approx(0.9950, abs=5e-4) and r["smr_high"] == pytest.approx(1.4350, abs=5e-4)
    # posterior gamma(220, rate 200): narrower than the raw interval, centred on 1.1
    assert r["shrunk_low"] < r["shrunk"] < r["shrunk_high"]
    assert r["shrunk_high"] - r["shrunk_low"] < r["smr_high"] - r["smr_low"]
    # a small area is pulled most of the way to 1
    assert mortality.smr_shrinkage(12, 10, prior_shape=100)["shrunk"] == pytest.approx(112 / 110)


def test_smr_prior_shape_recovers_between_area_variance():
    rng = np.random.default_rng(3)
    tau = 0.1
    e = rng.uniform(200, 3000, 2000)
    theta = rng.gamma(1 / tau**2, tau**2, e.size)
    o = rng.poisson(theta * e)
    alpha = mortality.smr_prior_shape(o, e)
    assert 1 / math.sqrt(alpha) == pytest.approx(tau, rel=0.15)


def test_assen_smr_and_fertility_level(comp2024):
    # Assen 2019-2023: 3,496 deaths against about 3,398 expected at national rates
    smr = comp2024.smr
    assert smr.observed == 3496
    assert smr.years == (2019, 2020, 2021, 2022, 2023)
    assert 0.95 < smr.shrunk < 1.1 and smr.smr_low < smr.smr < smr.smr_high
    assert abs(smr.shrunk - 1) <= abs(smr.smr - 1)
    fl = comp2024.fertility_level
    assert fl.observed == 3088 and 0.9 < fl.factor < 1.2


# --------------------------------------------------------------------------------------------
# fertility
# --------------------------------------------------------------------------------------------


def test_asfr_sums_to_tfr_and_keeps_the_band_rates(assen):
    tfr, pct = fertility.tfr_path(assen.wpp_tfr, assen.wpp_asfr, base_year=2024, years=[2019, 2023, 2030])
    asfr = fertility.national_asfr(tfr, pct)
    np.testing.assert_allclose(asfr.sum("age").values, tfr.values, rtol=1e-12)
    assert float(asfr.sel(age=slice(0, 14)).sum()) == 0 and float(asfr.sel(age=slice(50, 100)).sum()) == 0
    assert (asfr >= 0).all()
    # 5-year band rate ASFR5 = TFR x percent / 100 / 5 = the mean of the single-year rates (bands 20-44)
    row = pct[pct["year"] == 2019].set_index("age_lo")["percent"]
    for lo in (20, 25, 30, 35, 40):
        asfr5 = tfr.loc[2019] * row.loc[lo] / row.sum() / 5
        assert float(asfr.sel(year=2019, age=slice(lo, lo + 4)).mean()) == pytest.approx(asfr5, rel=1e-9)
    # held constant after the base year (default assumption)
    assert tfr.loc[2030] == tfr.loc[2023] == pytest.approx(1.43)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=1, max_size=12))
def test_spread_band_totals_preserves_sums(totals):
    edges = np.arange(0, 5 * len(totals) + 1, 5)
    single = fertility.spread_band_totals(np.array(totals), edges)
    assert (single >= 0).all()
    np.testing.assert_allclose(single.reshape(-1, 5).sum(axis=1), totals, atol=1e-9 * (1 + max(totals)))


def test_local_fertility_factor_hand_worked():
    # Women: 100 at each age 20..39 on the structure (2,000), female mid-year population 1,000
    # ((950 + 1050) / 2), so 50 women at each of ages 25..34. National ASFR 0.05 at 25..34:
    # expected births per year = 0.05 x 10 x 50 = 25; two years: 50. Observed 30 + 36 = 66,
    # factor = 66 / 50 = 1.32.
    dyn = pd.DataFrame({
        "area": "GM9999", "year": [2019, 2019, 2019, 2020, 2020, 2020],
        "sex": ["female", "male", "total"] * 2,
        "population_jan1": [950, 900, 1850, 950, 900, 1850],
        "population_dec31": [1050, 900, 1950, 1050, 900, 1950],
        "births": [np.nan, np.nan, 30, np.nan, np.nan, 36],
    })
    women = xr.DataArray(np.where((c.AGES >= 20) & (c.AGES < 40), 100.0, 0.0), dims="age", coords={"age": c.AGES})
    asfr = xr.DataArray(np.where((c.AGES >= 25) & (c.AGES < 35), 0.05, 0.0)[:, None] * np.ones(2),
                        dims=("age", "year"), coords={"age": c.AGES, "year": [2019, 2020]})
    level = fertility.local_fertility_factor(dyn, base_year=2021, asfr=asfr, female_population=women)
    assert level.expected == pytest.approx(50.0)
    assert level.factor == pytest.approx(1.32)
    assert level.factor_low < 1.32 < level.factor_high


# --------------------------------------------------------------------------------------------
# migration
# --------------------------------------------------------------------------------------------


def test_rogers_castro_reference_values():
    # Rogers & Castro (1981), Model Migration Schedules, IIASA RR-81-30, fundamental schedule
    # (as reproduced in migest's rc9.fund)
    assert migration.RC_FUNDAMENTAL == {"a1": 0.02, "alpha1": 0.1, "a2": 0.06, "alpha2": 0.1, "mu2": 20.0,
                                "lambda2": 0.4, "c": 0.003}
    m = migration.rogers_castro(np.arange(101), migration.RC_FUNDAMENTAL)
    # the labour-force peak lies a little after mu2, the trough in the late teens
    assert 20 <= int(np.argmax(m[10:])) + 10 <= 25
    assert 10 <= int(np.argmin(m[:25])) <= 18


@pytest.mark.parametrize("form", ["7", "11"])
def test_rogers_castro_fit_recovers_parameters(form):
    truth = {"a1": 0.03, "alpha1": 0.12, "a2": 0.08, "alpha2": 0.09, "mu2": 22.0, "lambda2": 0.35, "c": 0.004}
    start = dict(migration.RC_FUNDAMENTAL)
    if form == "11":
        truth.update({"a3": 0.002, "alpha3": 0.8, "mu3": 65.0, "lambda3": 0.5})
        start.update(migration.RC_RETIREMENT_EXAMPLE)
    x = np.arange(101)
    fit = migration.fit_rogers_castro(migration.rogers_castro(x, truth), ages=x, initial=start)
    assert fit.success
    for key, value in truth.items():
        assert fit.params[key] == pytest.approx(value, rel=1e-3), key


def test_rogers_castro_band_integrated_fit_preserves_band_totals():
    truth = {"a1": 0.03, "alpha1": 0.12, "a2": 0.08, "alpha2": 0.09, "mu2": 22.0, "lambda2": 0.35, "c": 0.004}
    rng = np.random.default_rng(7)
    edges = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 101]
    single = migration.rogers_castro(np.arange(101), truth) * 1000
    totals = np.add.reduceat(single, edges[:-1]) * rng.uniform(0.97, 1.03, len(edges) - 1)  # noisy bands
    fit = migration.fit_rogers_castro(totals, edges=edges)
    np.testing.assert_allclose(np.add.reduceat(fit.single.values, edges[:-1]), totals, rtol=0.08)
    assert fit.single.sum() == pytest.approx(totals.sum(), rel=0.01)
    assert fit.params["mu2"] == pytest.approx(22.0, abs=2.0)


def test_signed_net_schedule_recovers_amplitudes_and_peak():
    shape = {**migration.RC_FUNDAMENTAL, "mu2": 25.0}
    pop = xr.DataArray(np.full(101, 500.0), dims="age", coords={"age": c.AGES})
    names, basis = migration._net_basis(shape, retirement=False)
    truth = np.array([0.004, -0.05, 0.002])  # children in, young adults out, older in
    counts = basis @ truth * 500.0
    edges = [0, 15, 25, 45, 65, 101]
    bands = np.add.reduceat(counts, edges[:-1])
    fixed = migration.fit_net_migration_schedule(bands, edges=edges, population=pop, shape=shape)
    np.testing.assert_allclose([fixed.amplitudes[n] for n in names], truth, rtol=1e-8)
    free = migration.fit_net_migration_schedule(bands, edges=edges, population=pop, shape={**shape, "mu2": 20.0},
                                        free=("mu2",))
    assert free.shape["mu2"] == pytest.approx(25.0, abs=0.05)
    np.testing.assert_allclose(free.band_fitted, bands, atol=1e-6 * np.abs(bands).max())


def test_net_migration_totals_match_the_residual(assen):
    totals = migration.net_migration_totals(assen.dynamics, base_year=2024)
    assert sorted(totals["year"].unique()) == [2019, 2020, 2021, 2022, 2023]
    assert (totals["difference"].abs() <= 10).all()
    broken = assen.dynamics.copy()
    broken.loc[(broken["year"] == 2022) & (broken["sex"] == "male"), "net_migration"] += 500
    with pytest.warns(c.ComponentsWarning, match=r"differs from population change minus natural change by \+497 in 2022 \(male"):
        migration.net_migration_totals(broken, base_year=2024)


def test_components_migration_adds_up(comp2024, assen):
    net = comp2024.net_migration
    gem = net.sel(area="GM0106", year=2024)
    totals = comp2024.migration_totals.groupby("sex")["net_migration"].mean()
    for sex in c.SEXES:  # the gemeente keeps CBS 37259's mean net migration 2019-2023 per sex
        assert float(gem.sel(sex=sex).sum()) == pytest.approx(totals[sex])
    wijken = [a for a in comp2024.areas if a != "GM0106"]
    assert len(wijken) == 10
    xr.testing.assert_allclose(net.sel(area=wijken).sum("area"), net.sel(area="GM0106", drop=True))
    fit = comp2024.migration_fit.dropna(subset=["observed"])
    assert set(fit["area"]) == set(comp2024.areas) and (fit["pairs"] == 3).all()
    assert (net.sel(year=2024) == net.sel(year=2040)).all()


def test_net_migration_counts_options(comp2024):
    residuals = comp2024.migration_residuals
    totals = comp2024.migration_totals
    pop = xr.DataArray(np.ones((3, 2, 101)) * 50.0, dims=("area", "sex", "age"),
                       coords={"area": ["GM0106", "WK010600", "WK010608"], "sex": list(c.SEXES), "age": c.AGES})
    edges = np.array([0, 15, 25, 45, 65, 101])
    band_of = np.searchsorted(edges, c.AGES, side="right") - 1
    kw = dict(residuals=residuals, totals=totals, population=pop, gemeente="GM0106", years=[2024, 2025])
    free, _, _ = migration.net_migration_counts(**kw, constrain_wijken=False)
    observed = residuals.groupby(["area", "age_lo"])["net_migration"].mean()
    for wijk in ("WK010600", "WK010608"):  # unconstrained wijken keep their observed band volumes
        got = np.bincount(band_of, weights=free.sel(area=wijk, year=2024).sum("sex").values)
        np.testing.assert_allclose(got, observed.loc[wijk].to_numpy(), rtol=1e-9)
    smooth, fit, _ = migration.net_migration_counts(**kw, constrain_wijken=False, preserve_bands=False)
    row = fit[(fit["area"] == "WK010608") & (fit["age_lo"] == 65)].iloc[0]
    got = np.bincount(band_of, weights=smooth.sel(area="WK010608", year=2024).sum("sex").values)
    assert got[-1] == pytest.approx(row["fitted"]) and row["fitted"] != pytest.approx(row["observed"])
    over, _, _ = migration.net_migration_counts(**kw, level=250.0)
    assert float(over.sel(area="GM0106", year=2025).sum()) == pytest.approx(250.0)
    assert float(over.sel(area=["WK010600", "WK010608"], year=2025).sum()) == pytest.approx(250.0)


# --------------------------------------------------------------------------------------------
# assembly, honesty, errors
# --------------------------------------------------------------------------------------------


def test_components_have_the_engine_shapes(comp2024):
    years = list(range(2024, 2041))
    assert comp2024.survival.dims == ("area", "sex", "age", "year")
    assert comp2024.births_survival.dims == ("area", "sex", "year")
    assert comp2024.fertility.dims == ("area", "age", "year")
    assert comp2024.net_migration.dims == ("area", "sex", "age", "year")
    for da in (comp2024.survival, comp2024.net_migration):
        assert da["sex"].values.tolist() == ["male", "female"]
        assert da["age"].values.tolist() == list(range(101))
        assert da["year"].values.tolist() == years
    assert comp2024.areas[0] == "GM0106"
    assert float(comp2024.survival.min()) > 0 and float(comp2024.survival.max()) <= 1
    assert comp2024.sex_ratio_at_birth == 1.05
    local_tfr = comp2024.fertility.sel(area="GM0106").sum("age")
    np.testing.assert_allclose(local_tfr, comp2024.tfr.loc[years].to_numpy() * comp2024.fertility_level.factor)
    # mortality keeps improving under Lee-Carter
    s80 = comp2024.survival.sel(area="GM0106", age=80)
    assert (s80.sel(year=2040) > s80.sel(year=2024)).all()
    from assen_demand.demography.projection import ProjectionInputs

    inputs = comp2024.to_projection_inputs()
    assert isinstance(inputs, ProjectionInputs) and inputs.net_migration is comp2024.net_migration
    frame = comp2024.to_frame()
    assert list(frame.columns) == ["area", "sex", "age", "year", "survival", "net_migration", "fertility",
                                   "births_survival"]
    assert len(frame) == 11 * 2 * 101 * 17
    assert frame.loc[frame["sex"] == "male", "fertility"].isna().all()


def test_stochastic_survival_has_a_draw_dimension(comp2024):
    surv, births = comp2024.stochastic_survival(draws=5, seed=2)
    assert surv.dims == ("draw", "area", "sex", "age", "year") and surv.sizes["draw"] == 5
    assert births.dims == ("draw", "area", "sex", "year")
    assert float(surv.min()) >= 0 and float(surv.max()) <= 1


@pytest.mark.slow  # whole Assen component estimates: ~3 s CPU each
def test_hindcast_ignores_everything_published_after_the_base_year(assen):
    base = 2022
    honest = c.estimate_components(assen, base_year=base, end_year=2030)

    def scramble(frame, column, after, factor=1.7):
        frame = frame.copy()
        late = frame[column] >= after
        numeric = [k for k in frame.columns if frame[k].dtype.kind == "f" and k != column]
        frame.loc[late, numeric] = frame.loc[late, numeric] * factor
        return frame

    fake_kwb = assen.kwb[assen.kwb["year"] == 2024].assign(year=2025)
    tampered = replace(
        assen,
        dynamics=scramble(assen.dynamics, "year", base),  # flows of 2022 and later
        national_dynamics=scramble(assen.national_dynamics, "year", base),
        kwb=pd.concat([assen.kwb[assen.kwb["year"] <= base],
                       scramble(pd.concat([assen.kwb[assen.kwb["year"] > base], fake_kwb]), "year", base + 1)]),
        wpp_mx=scramble(assen.wpp_mx, "period_end", base + 1),
        wpp_tfr=scramble(assen.wpp_tfr, "year", base),
        wpp_asfr=scramble(assen.wpp_asfr, "year", base),
    )
    tampered = replace(tampered, kwb=tampered.kwb.assign(population=lambda f: f["population"].where(
        f["year"] <= base, f["population"] * 2), age_65_plus=lambda f: f["age_65_plus"].where(f["year"] <= base, 1)))
    assert not tampered.kwb.equals(assen.kwb)
    again = c.estimate_components(tampered, base_year=base, end_year=2030)
    for name in ("survival", "births_survival", "fertility", "net_migration"):
        xr.testing.assert_identical(getattr(honest, name), getattr(again, name))
    assert honest.smr.years == (2017, 2018, 2019, 2020, 2021)
    assert honest.lee_carter.last_time == 2017.5
    assert honest.jump_off.year == 2021  # the national deaths of 2022 on are scrambled above
    xr.testing.assert_identical(honest.jump_off.factor, again.jump_off.factor)
    assert sorted(honest.migration_residuals["year"].unique()) == [2021]


def test_errors_name_the_problem(assen):
    mx = xr.DataArray([0.01, -0.02, 0.5], dims="age", coords={"age": [0, 1, 2]})
    with pytest.raises(InvalidValueError, match="negative values"):
        mortality.life_table(mx, a0=0.1)
    with pytest.raises(InvalidValueError, match="contains NaN"):
        mortality.life_table(mx.where(mx > 0), a0=0.1)
    with pytest.raises(InvalidValueError, match="open age group 2\\+ has a zero death rate"):
        mortality.life_table(xr.DataArray([0.01, 0.02, 0.0], dims="age", coords={"age": [0, 1, 2]}), a0=0.1)
    with pytest.raises(DataFormatError, match="unknown sex label.*'total'"):
        mortality.life_table(xr.DataArray([[0.01, 0.5]], dims=("sex", "age"), coords={"sex": ["total"], "age": [0, 1]}))
    with pytest.raises(DataFormatError, match="pass a0="):
        mortality.life_table(xr.DataArray([0.01, 0.5], dims="age", coords={"age": [0, 1]}))
    with pytest.raises(DataFormatError, match="ages must be consecutive"):
        mortality.life_table(xr.DataArray([0.01, 0.5], dims="age", coords={"age": [0, 5]}), a0=0.1)
    with pytest.raises(MissingDataError, match="no population of Assen \\(GM0106\\) on 1 January 2031"):
        c.estimate_components(assen, base_year=2031, end_year=2040)
    with pytest.raises(MissingDataError, match="no age structure of GM0106 known on 1 January 2016"):
        c.estimate_components(assen, base_year=2016)
    with pytest.raises(MissingDataError, match="no WPP mortality period ends by 1954"):
        mortality.wpp_period_mx(assen.wpp_mx, base_year=1954)
    with pytest.raises(InvalidValueError, match="unknown mortality model 'cairns'"):
        mortality.national_mortality(assen.wpp_mx, base_year=2024, years=[2024], model="cairns")
    with pytest.raises(InvalidValueError, match="unknown TFR assumption"):
        fertility.tfr_path(assen.wpp_tfr, assen.wpp_asfr, base_year=2024, years=[2024], assumption="rising")
    with pytest.raises(InvalidValueError, match="the labour family needs all of"):
        migration.rogers_castro([20], {"a2": 0.1, "mu2": 20})
    with pytest.raises(InvalidValueError, match="for net migration use fit_net_migration_schedule"):
        migration.fit_rogers_castro([1.0, -2.0], edges=[0, 5, 10])
    with pytest.raises(MissingDataError, match="mortality='wpp_medium' needs the WPP projection periods"):
        mortality.national_mortality(assen.as_of(2024).wpp_mx, base_year=2024, years=[2024], model="wpp_medium")
    with pytest.warns(c.ComponentsWarning, match="not an honest hindcast"):
        mortality.national_mortality(assen.wpp_mx, base_year=2020, years=[2020], model="wpp_medium")


# --------------------------------------------------------------------------------------------
# shrinkage of wijk migration residuals toward the allocation
# --------------------------------------------------------------------------------------------

def _residual_rows(gemeente_value, wijk_starts, wijk_values, years=(2022,)):
    rows = []
    for year in years:
        rows.append(("GM1", "gemeente", year, 0, float(sum(wijk_starts)), float(gemeente_value)))
        for i, (start, value) in enumerate(zip(wijk_starts, wijk_values)):
            rows.append((f"W{i}", "wijk", year, 0, float(start), float(value)))
    return pd.DataFrame(rows, columns=["area", "area_level", "year", "age_lo", "start", "net_migration"])


def _dispersion(alloc, year):
    return pd.DataFrame({"allocation": [alloc], "year": [year]}, index=pd.Index([0], name="age_lo"))


def test_shrinkage_hand_worked_two_pairs():
    # two wijken of 100 and 300 in a band, two flow years with the same residuals: k = 2,
    # s2 = 1.0 - 0.5 = 0.5, noise 0.5 / 2 = 0.25, w = 0.5 / 0.75 = 2/3;
    # allocation 10 x 1/4 = 2.5 and 7.5; shrunk 2.5 + 2/3 x 3.5 = 4.8333 and 7.5 - 2/3 x 3.5 = 5.1667
    rows = _residual_rows(10, [100, 300], [6, 4], years=(2022, 2023))
    out = migration.shrink_wijk_residuals(rows, dispersion=_dispersion(1.0, 0.5))
    wijk = out[out["area_level"] == "wijk"]
    assert wijk["shrinkage_weight"].tolist() == pytest.approx([2 / 3] * 4)
    assert wijk["pairs"].tolist() == [2, 2, 2, 2]
    assert wijk["net_migration"].tolist() == pytest.approx([2.5 + 7 / 3, 7.5 - 7 / 3] * 2)
    assert out.loc[out["area_level"] == "gemeente", "net_migration"].tolist() == [10.0, 10.0]
    assert wijk["net_migration_observed"].tolist() == [6.0, 4.0, 6.0, 4.0]


@pytest.mark.slow  # whole Assen component estimates: ~3 s CPU each
@settings(max_examples=60, deadline=None)
@given(
    gem=st.floats(-200, 200), starts=st.lists(st.floats(1, 5_000), min_size=2, max_size=6),
    values=st.lists(st.floats(-100, 100), min_size=6, max_size=6),
    alloc=st.floats(0, 3), year=st.floats(0, 3),
)
def test_shrinkage_lies_between_allocation_and_observation(gem, starts, values, alloc, year):
    rows = _residual_rows(gem, starts, values[: len(starts)])
    out = migration.shrink_wijk_residuals(rows, dispersion=_dispersion(alloc, year))
    wijk = out[out["area_level"] == "wijk"]
    w = wijk["shrinkage_weight"].to_numpy()
    assert ((w >= 0) & (w <= 1)).all()
    lo = np.minimum(wijk["allocation"], wijk["net_migration_observed"]) - 1e-9
    hi = np.maximum(wijk["allocation"], wijk["net_migration_observed"]) + 1e-9
    assert ((wijk["net_migration"] >= lo) & (wijk["net_migration"] <= hi)).all()
    # the allocations share the gemeente's residual exactly; with one weight for all, so do the shrunk values' gap
    assert wijk["allocation"].sum() == pytest.approx(gem, abs=1e-9)
    gap = wijk["net_migration"].sum() - gem
    assert gap == pytest.approx(w[0] * (wijk["net_migration_observed"].sum() - gem), abs=1e-7)


def test_shrinkage_limits():
    rows = _residual_rows(10, [100, 300], [6, 4])
    no_signal = migration.shrink_wijk_residuals(rows, dispersion=_dispersion(0.5, 0.5))  # all noise: allocation
    assert no_signal.loc[no_signal["area_level"] == "wijk", "net_migration"].tolist() == pytest.approx([2.5, 7.5])
    no_noise = migration.shrink_wijk_residuals(rows, dispersion=_dispersion(0.5, 0.0))  # all signal: as observed
    assert no_noise.loc[no_noise["area_level"] == "wijk", "net_migration"].tolist() == pytest.approx([6.0, 4.0])
    with pytest.raises(MissingDataError, match="lacks band"):
        migration.shrink_wijk_residuals(rows.assign(age_lo=15), dispersion=_dispersion(1.0, 0.5))
    with pytest.raises(InvalidValueError, match=">= 0"):
        migration.shrink_wijk_residuals(rows, dispersion=_dispersion(-1.0, 0.5))


def test_component_options_join_the_options_object_and_the_keywords():
    base = c.ComponentOptions(tfr="wpp_medium", n_years=3)
    assert c.ComponentOptions.from_keywords() == c.ComponentOptions()
    assert c.ComponentOptions.from_keywords(base) is base
    joined = c.ComponentOptions.from_keywords(base, n_years=4, retirement=True)
    assert joined == c.ComponentOptions(tfr="wpp_medium", n_years=4, retirement=True)
    assert base.n_years == 3  # frozen: from_keywords returns a new object
    with pytest.raises(FrozenInstanceError):
        base.n_years = 5
    with pytest.raises(ArgumentError, match=r"unknown keyword n_yeras=; accepted: .*n_years"):
        c.ComponentOptions.from_keywords(n_yeras=3)
    with pytest.raises(TypeError, match="options must be a ComponentOptions, got the dict"):
        c.ComponentOptions.from_keywords({"n_years": 3})


def test_bundled_dispersion_covers_every_band_and_gives_weights_below_one():
    d = migration.migration_dispersion()
    assert d.index.tolist() == [0, 15, 25, 45, 65]
    signal = (d["allocation"] - d["year"]).clip(lower=0)
    w_one_pair = signal / (signal + d["year"])
    # children move with their parents: little persistent wijk effect, so one pair counts for little
    assert (w_one_pair > 0).all() and (w_one_pair < 1).all() and w_one_pair.loc[0] < 0.1


@pytest.mark.slow  # whole Assen component estimates: ~3 s CPU each
def test_estimate_components_shrinks_assen_wijk_migration(assen):
    on = c.estimate_components(assen, base_year=2024, end_year=2026)
    # the options object and the keywords are the same call (the keyword path is used above)
    off = c.estimate_components(assen, base_year=2024, end_year=2026,
                                options=c.ComponentOptions(shrink_wijk_migration=False))
    assert off.assumptions["shrink_wijk_migration"] is False
    res = on.migration_residuals
    wijk = res[res["area_level"] == "wijk"]
    assert (wijk["pairs"] == 3).all()  # KWB 2021-2024: three flow years
    assert not np.allclose(wijk["net_migration"], wijk["net_migration_observed"])
    # the gemeente's migration is the same; the wijken move toward their population shares
    gm = assen.gemeente
    xr.testing.assert_allclose(on.net_migration.sel(area=gm), off.net_migration.sel(area=gm))
    assert float(abs(on.net_migration - off.net_migration).sum()) > 10
    assert on.assumptions["shrink_wijk_migration"] is True


def test_prior_gives_the_within_band_contrasts_of_gemeente_and_wijken():
    # Hand-worked: one band layout, flat population 10 per sex and age in the gemeente, a wijk
    # holding 30 % of every age. The prior gains 40 at ages 18-20 and loses 30 at 23-25
    # (a student town). Observed band volumes (one pair): 0-15: 0, 15-25: +40, 25-45: -60,
    # 45-65: 0, 65+: 0 (gemeente); the wijk 0.3 x those except 25-45: -30.
    # Gemeente within 15-25: prior band sum 40 - 20 = 20 (ages 23, 24 = -10 each; age 25 is in
    # 25-45), gap 40 - 20 = 20 spread over the 10 ages by population: +2 each, so age 19
    # gets 40/3 + 2 and age 23 gets -10 + 2. Within 25-45: prior -10 (age 25), gap -50 over
    # 20 ages: -2.5 each, age 25 = -12.5, age 30 = -2.5.
    # Wijk: pattern 0.3 x gemeente prior; 15-25: 0.3 x 20 = 6, gap 12 - 6 = 6 -> +0.6 per age;
    # 25-45: 0.3 x -10 = -3, gap -30 + 3 = -27 -> -1.35 per age; age 25 = -3 - 1.35.
    ages = c.AGES
    pop = xr.DataArray(np.stack([np.full((2, 101), 10.0), np.full((2, 101), 3.0)]), dims=("area", "sex", "age"),
                       coords={"area": ["GM1", "W1"], "sex": list(c.SEXES), "age": ages})
    prior_age = np.zeros(101)
    prior_age[18:21] = 40 / 3
    prior_age[23:26] = -10
    prior = xr.DataArray(np.stack([prior_age / 2, prior_age / 2]), dims=("sex", "age"),
                         coords={"sex": list(c.SEXES), "age": ages})
    bands = {0: 0.0, 15: 40.0, 25: -60.0, 45: 0.0, 65: 0.0}
    wijk_bands = {0: 0.0, 15: 12.0, 25: -30.0, 45: 0.0, 65: 0.0}
    rows = [("GM1", "gemeente", 2022, lo, v) for lo, v in bands.items()]
    rows += [("W1", "wijk", 2022, lo, v) for lo, v in wijk_bands.items()]
    residuals = pd.DataFrame(rows, columns=["area", "area_level", "year", "age_lo", "net_migration"])
    totals = pd.DataFrame({"sex": list(c.SEXES), "year": 2022, "net_migration": [-10.0, -10.0]})
    counts, _, _ = migration.net_migration_counts(residuals=residuals, totals=totals, population=pop, gemeente="GM1",
                                          years=[2023], prior=prior, constrain_wijken=False)
    gm = counts.sel(area="GM1", year=2023).sum("sex")
    assert float(gm.sel(age=19)) == pytest.approx(40 / 3 + 2)
    assert float(gm.sel(age=23)) == pytest.approx(-10 + 2)
    assert float(gm.sel(age=25)) == pytest.approx(-12.5)
    assert float(gm.sel(age=30)) == pytest.approx(-2.5)
    wijk = counts.sel(area="W1", year=2023).sum("sex")
    assert float(wijk.sel(age=19)) == pytest.approx(0.3 * 40 / 3 + 0.6)
    assert float(wijk.sel(age=25)) == pytest.approx(-3 - 1.35)
    assert float(wijk.sel(age=50)) == pytest.approx(0.0)


@pytest.mark.slow
def test_student_city_wijken_do_not_empty_their_cohorts(raw_dir):
    # Groningen from 2022: with a Rogers-Castro curve inside the bands, the graduates' outflow
    # landed at ages 32-46 and emptied those cohorts (145,512 persons clipped over 2023-2040);
    # with the age-profile contrasts inside the bands 1,222 (measured 2026-11-28).
    import warnings

    from assen_demand.inputs.datasets import load_national
    from assen_demand.pipeline import project_population

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_national(raw_dir).for_gemeente("GM0014")
        projection = project_population("GM0014", base_year=2022, end_year=2040, data=data)
    assert projection.components.assumptions["migration_age_pattern"] == "kwb_bands_structural_within"
    assert projection.report.clipped_total < 5_000


def _kwb_with_buurten(year_buurten: dict) -> pd.DataFrame:
    rows = []
    for year, wijken in year_buurten.items():
        for wijk, buurten in wijken.items():
            rows += [{"year": year, "area": f"{wijk}:{b}", "area_level": "buurt", "wijk": wijk, "area_name": b}
                     for b in buurten]
    return pd.DataFrame(rows)


def test_changed_wijken_leave_out_only_pairs_that_moved_people():
    kwb = _kwb_with_buurten({
        2021: {"W1": ["Dorp", "Angeren", "Ressen"], "W2": ["Oost", "West"], "W3": ["Noord"]},
        2022: {"W1": ["Dorp"], "W4": ["Angeren", "Ressen"], "W2": ["Oost-West"], "W3": ["Noord"]},
    })
    res = pd.DataFrame({
        "area": ["GM1", "W1", "W2", "W3"], "area_level": ["gemeente", "wijk", "wijk", "wijk"], "year": 2021,
        "age_lo": 0, "start": [3_000.0, 1_000.0, 1_000.0, 1_000.0],
        "net_migration": [20.0, -400.0, -5.0, 300.0],  # W1 lost two buurten; W2 renamed inside; W3 grew
    })
    with pytest.warns(c.ComponentsWarning, match=r"1 wijk year pair\(s\) .* buurten changed: W1 2021->2022"):
        kept, dropped = migration.drop_changed_wijken(res, kwb)
    assert dropped == [("W1", 2021)]
    assert kept["area"].tolist() == ["GM1", "W2", "W3"]  # W3 grew but kept its buurten: real migration
    no_buurten = kwb[kwb["year"] == 2021]
    assert migration.drop_changed_wijken(res, no_buurten)[1] == []  # nothing to compare: kept


@pytest.mark.slow
def test_boundary_changes_are_left_out_nationally(raw_dir):
    # Purmerend took in Beemster on 1 January 2022 (KWB 81,683 -> 92,240); Bemmel (Lingewaard)
    # lost four villages to new wijken in 2022. Before the checks: 61,907 and 23,417 persons clipped.
    import warnings

    from assen_demand.inputs.datasets import load_national
    from assen_demand.pipeline import project_population

    national = load_national(raw_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purmerend = project_population("GM0439", base_year=2022, data=national.for_gemeente("GM0439"))
        lingewaard = project_population("GM1705", base_year=2022, data=national.for_gemeente("GM1705"))
    assert purmerend.components.assumptions["kwb_pairs_left_out"] == [2021]
    assert lingewaard.components.assumptions["wijk_pairs_left_out"] == [("WK170500", 2021)]
    assert purmerend.report.clipped_total < 100 and lingewaard.report.clipped_total < 100

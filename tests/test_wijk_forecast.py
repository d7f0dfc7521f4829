"""Issue 18: smooth single-age seed, constant share and the combined wijk method.

Reference cases are hand-worked (stated in each test); invariants are Hypothesis tests.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.datamodel import AGES, KWB_BAND_EDGES, SEXES
from assen_demand.demography.base import BAND_OF_AGE, SMOOTH_KNOTS, _band_matrix, estimate_base, smooth_band_factor
from assen_demand.demography.combination import (
    COMBINED_METHODS,
    band_control,
    combine_projections,
    combined_wijken,
    constant_share,
    constrain_to_bands,
    HouseholdTrendParameters,
    follow_households,
    gemeente_weights,
    held_population,
    household_trend,
    method_weights,
    published_bands,
)
from assen_demand.errors import InvalidValueError

EDGES = [int(e) for e in KWB_BAND_EDGES[1:-1]]  # 15, 25, 45, 65


# ------------------------------------------------------------------------------------------
# smooth band factor
# ------------------------------------------------------------------------------------------


def test_smooth_factor_hand_worked_flat_table():
    """One person per age, band targets = the band widths (15, 10, 20, 20, 36): factor 1 everywhere."""
    table = np.ones((1, 2, AGES.size)) / 2
    target = np.array([[15.0, 10.0, 20.0, 20.0, 36.0]])
    np.testing.assert_allclose(smooth_band_factor(table, target), 1.0, atol=1e-10)


def test_smooth_factor_is_log_linear_between_knots_and_meets_bands():
    """Doubling 0-15 of a flat table: bands met exactly; log factor linear off the knots (no step at 15)."""
    table = np.ones((1, 1, AGES.size))
    target = np.array([[30.0, 10.0, 20.0, 20.0, 36.0]])
    f = smooth_band_factor(table, target)[0]
    np.testing.assert_allclose(f @ _band_matrix(), target[0], rtol=1e-9)
    second = np.abs(np.diff(np.log(f), n=2))  # second[i] is centred on age i + 1
    off_knots = np.ones(second.size, bool)
    off_knots[SMOOTH_KNOTS.astype(int) - 1] = False
    assert second[off_knots].max() < 1e-9
    # a step factor would jump from 2 to 1 at 15; the smooth one changes by a few percent per year
    assert abs(np.log(f[15] / f[14])) < 0.1


def test_smooth_factor_falls_back_to_step_for_an_empty_band():
    table = np.ones((1, 1, AGES.size))
    target = np.array([[30.0, 0.0, 20.0, 20.0, 36.0]])
    f = smooth_band_factor(table, target)[0]
    np.testing.assert_allclose(f @ _band_matrix(), target[0], atol=1e-12)
    assert (f[15:25] == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.floats(0.2, 5.0), min_size=5, max_size=5),
    ratios=st.lists(st.floats(0.3, 3.0), min_size=5, max_size=5),
)
def test_smooth_factor_keeps_band_totals_and_has_no_edge_kink(shape, ratios):
    """Any positive seed and band targets: band totals exact, log factor with zero second difference at the edges."""
    seed = np.interp(AGES, [0, 20, 40, 70, 100], shape)[None, None, :] * np.ones((1, 2, 1))
    current = seed.sum(axis=1)[0] @ _band_matrix()
    target = (current * np.asarray(ratios))[None]
    f = smooth_band_factor(seed, target)
    np.testing.assert_allclose((seed.sum(axis=1) * f) @ _band_matrix(), target, rtol=1e-8)
    log_f = np.log(f[0])
    for edge in EDGES:
        assert abs(log_f[edge + 1] - 2 * log_f[edge] + log_f[edge - 1]) < 1e-8


# ------------------------------------------------------------------------------------------
# the base population: band-edge jumps (the acceptance line of issue 18)
# ------------------------------------------------------------------------------------------


#: Profiles the band-edge test compares (issue 18, acceptance line 2). ``count``: the wijk's
#: single-age profile itself, the literal acceptance; ``log_count``: its relative bends, so a
#: small wijk counts as much as a large one; ``log_share``: the log of its share of the gemeente,
#: the strictest, because the cohort texture the wijk shares with its gemeente (birth-year sizes
#: aged forward) cancels and what is left is what the seed's band raking did.
PROFILES = ("count", "log_count", "log_share")


def edge_and_inside_jumps(population: xr.DataArray, gemeente: str, *, shift: int = 0,
                          profile: str = "log_share") -> pd.DataFrame:
    """Per wijk and sex: largest |second difference| of a profile at the band edges and inside the bands.

    The edges are 15, 25, 45 and 65 and the same edges aged by 1..``shift`` years (the 2021 seed's
    edges carried forward: 65 in 2021 is 68 in 2024); a second difference centred on an edge age or
    on the age before it counts as "at the edge" (a step between ages e-1 and e shows in both).
    Ages 0..90 (the 5-year open-ended tail of the postcode table is not a band of KWB).
    """
    gm = population.sel(area=gemeente)
    edge_ages = sorted({e + k for e in EDGES for k in range(shift + 1)})
    ages = np.arange(1, 90)
    at_edge = np.isin(ages, edge_ages) | np.isin(ages, [e - 1 for e in edge_ages])
    rows = []
    for area in population["area"].values:
        if area == gemeente:
            continue
        for sex in SEXES:
            counts = population.sel(area=area, sex=sex).values[:91]
            if profile == "count":
                y = counts
            elif profile == "log_count":
                y = np.log(np.maximum(counts, 1e-12))
            else:
                y = np.log(np.maximum(counts / gm.sel(sex=sex).values[:91], 1e-12))
            second = np.abs(y[2:] - 2 * y[1:-1] + y[:-2])  # centred on ages 1..89
            rows.append(dict(area=area, sex=sex, edge=second[at_edge].max(), inside=second[~at_edge].max(),
                             edge_age=int(ages[at_edge][np.argmax(second[at_edge])])))
    return pd.DataFrame(rows)


_BASES: dict = {}


def assen_base(assen, year: int, smooth: bool = True):
    """The Assen base population of ``year`` (cached: 2024 ages the 2021 seed three years, ~5 s)."""
    key = (year, smooth)
    if key not in _BASES:
        _BASES[key] = estimate_base(assen, year=year, smooth_wijk_seed=smooth)
    return _BASES[key]


@pytest.mark.parametrize("year", [2021, 2022, 2023, 2024])
def test_assen_base_has_no_band_edge_jump(assen, year):
    """Acceptance line 2 of issue 18: in every base year the Assen data give (KWB 2021-2024), no
    wijk's single-age profile (either sex) bends more at a band edge than inside the bands, for
    each of :data:`PROFILES`.

    Hand check of what this catches: with the step raking of before, Kloosterveen's share in
    2024 fell by x0.48 from age 67 to 68 (the 2021 edge at 65, aged 3 years): a second
    difference of |log 0.48| = 0.73 at 68 against < 0.05 inside the bands
    (:func:`test_step_seed_fails_the_band_edge_test`).
    """
    base = assen_base(assen, year)
    for profile in PROFILES:
        jumps = edge_and_inside_jumps(base.population, "GM0106", shift=year - 2021, profile=profile)
        assert len(jumps) == 20  # ten wijken x two sexes
        bad = jumps[jumps["edge"] > jumps["inside"]]
        assert bad.empty, (profile, bad.to_string())
    # the margins stay exact: every wijk band and the gemeente by sex and age
    assert base.residuals["residual"].abs().max() < 1e-3


@pytest.mark.parametrize("year", [2021, 2024])
def test_step_seed_fails_the_band_edge_test(assen, year):
    """The test above can fail: the step seed (plain raking per band) fails it for most wijken,
    and in 2024 Kloosterveen's share drops at 67 -> 68 by about x0.48 (the issue: x0.47)."""
    step = assen_base(assen, year, smooth=False).population
    jumps = edge_and_inside_jumps(step, "GM0106", shift=year - 2021)
    assert (jumps["edge"] > jumps["inside"]).sum() >= 15
    if year == 2024:
        share = step.sum("sex").sel(area="WK010608") / step.sum("sex").sel(area="GM0106")
        assert 0.4 < float(share.sel(age=68) / share.sel(age=67)) < 0.55


def test_smooth_seed_keeps_the_gemeente_and_the_wijk_bands(assen):
    """The seed changes only how each wijk's band total is spread over its single ages: the
    gemeente row is bit-identical to the step seed's, and every wijk's KWB band totals agree
    with the step seed's to 1e-6 persons (both are raked to the same margins)."""
    smooth, step = assen_base(assen, 2024).population, assen_base(assen, 2024, smooth=False).population
    np.testing.assert_array_equal(smooth.sel(area="GM0106").values, step.sel(area="GM0106").values)
    bands_of = lambda pop: pop.sum("sex").values @ _band_matrix()  # noqa: E731 (area, band)
    np.testing.assert_allclose(bands_of(smooth), bands_of(step), atol=1e-6)
    assert not np.allclose(smooth.values, step.values, atol=1.0)  # the single ages do differ


def test_assen_base_2024_share_is_smooth_at_68(assen):
    """2024: Kloosterveen's and Centrum's share of the gemeente change by a few percent from 67 to 68
    (the issue measured x0.47 and x1.70 with the step raking)."""
    pop = assen_base(assen, 2024).population.sum("sex")
    for area in ("WK010608", "WK010600"):
        share = pop.sel(area=area) / pop.sel(area="GM0106")
        step = float(share.sel(age=68) / share.sel(age=67))
        before = float(share.sel(age=67) / share.sel(age=66))
        assert abs(np.log(step)) < 0.1 and abs(np.log(step) - np.log(before)) < 0.02, (area, step, before)


@pytest.mark.slow
def test_assen_75_plus_has_no_2031_kink(assen):
    """The second half of acceptance line 2: the 2031 kink is gone from the 75+ chart. With the
    step seed the 2021 band edge at 65 reaches 75 in 2031, and Kloosterveen's 75+ bent by +9.7 %
    of its level in that one year (main 5d26f1b7, default run; Marsdijk +4.7 %, Centrum -3.2 %)
    against at most 1.8 % in any other year: 5.4 and 6.0 times the largest other bend. Here no
    wijk's yearly second difference of 75+ in 2031 or 2032 is more than 1 % of its level, nor
    more than 1.5 times its largest in the other years 2025-2039 (measured on this branch:
    Kloosterveen 0.82 % against 1.30 %, Marsdijk 0.53 % against 0.52 %: the texture of the other
    years, no step)."""
    from assen_demand.pipeline import project_population

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pop = project_population(data=assen, end_year=2040).population
    old = pop.sel(age=slice(75, None)).sum(["sex", "age"])
    second = (old.shift(year=-1) - 2 * old + old.shift(year=1)) / old  # (area, year), relative
    for area in pop["area"].values:
        series = second.sel(area=area).dropna("year")
        kink = float(abs(series.sel(year=[2031, 2032])).max())
        other = float(abs(series.drop_sel(year=[2031, 2032])).max())
        assert kink <= 0.01 and kink <= 1.5 * other, (area, kink, other)


# ------------------------------------------------------------------------------------------
# constant share and the combination
# ------------------------------------------------------------------------------------------


def test_constant_share_hand_worked():
    """Wijken of 1 and 3 persons (one sex, one age); the gemeente goes 4 -> 8 -> 2: shares 1/4 and 3/4 kept."""
    base = xr.DataArray([[[1.0]], [[3.0]]], dims=("area", "sex", "age"),
                        coords={"area": ["W0", "W1"], "sex": ["female"], "age": [0]})
    control = xr.DataArray([[[4.0, 8.0, 2.0]]], dims=("sex", "age", "year"),
                           coords={"sex": ["female"], "age": [0], "year": [2021, 2022, 2023]})
    out = constant_share(base=base, start_year=2021, end_year=2023, control=control)
    np.testing.assert_allclose(out.sel(area="W0").values.ravel(), [1.0, 2.0, 0.5])
    np.testing.assert_allclose(out.sel(area="W1").values.ravel(), [3.0, 6.0, 1.5])


def _random_case(values, growth):
    """Three wijken, both sexes, ages 0 and 70 (bands 0-15 and 65+), a gemeente growing by ``growth``."""
    base = xr.DataArray(np.asarray(values).reshape(3, 2, 2) + 0.1, dims=("area", "sex", "age"),
                        coords={"area": ["W0", "W1", "W2"], "sex": list(SEXES), "age": [0, 70]})
    gm = base.sum("area")
    control = xr.concat([gm, gm * growth, gm * growth ** 2], dim=pd.Index([2021, 2022, 2023], name="year"))
    cohort = constant_share(base=base, start_year=2021, end_year=2023, control=control) * 1.0
    cohort = cohort * xr.DataArray([1.0, 1.2, 0.8], dims="area", coords={"area": base["area"]})
    from assen_demand.demography.projection import constrain

    cohort = constrain(cohort, control)
    weights = {"cohort_component": np.full((1, 5), 0.5), "constant_share": np.full((1, 5), 0.3),
               "naive": np.full((1, 5), 0.2)}
    return base, control, cohort, weights


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=12, max_size=12), st.floats(0.5, 2.0))
def test_combined_wijken_add_up_to_the_gemeente(values, growth):
    """Any wijken and weights, constraint sex_age: the combination adds up to the control at every sex, age, year."""
    base, control, cohort, weights = _random_case(values, growth)
    out = combined_wijken(cohort, base, control, start_year=2021, weights=weights, constraint="sex_age")
    np.testing.assert_allclose(out.sum("area").transpose("sex", "age", "year").values,
                               control.transpose("sex", "age", "year").values, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=12, max_size=12), st.floats(0.5, 2.0),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_band_constraint_meets_the_damped_gemeente_bands(values, growth, held_young, held_old):
    """Any wijken, growth and gemeente weights: every band of the wijken adds up to
    (1 - lam) * the gemeente's projected band + lam * its base band, each year after the base year;
    the base year is the base itself; nothing is negative."""
    base, control, cohort, weights = _random_case(values, growth)
    held = np.array([[held_young, 0.0, 0.0, 0.0, held_old]])
    out = combined_wijken(cohort, base, control, start_year=2021, weights=weights, constraint="band", held=held)
    for age, lam in ((0, held_young), (70, held_old)):
        got = out.sel(age=age).sum(["area", "sex"]).values
        projected = control.sel(age=age).sum("sex").transpose("year").values
        expected = (1 - lam) * projected + lam * base.sel(age=age).sum().item()
        np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-9)
    np.testing.assert_allclose(out.sel(year=2021).transpose("area", "sex", "age").values,
                               base.transpose("area", "sex", "age").values)
    assert (out.values >= 0).all()


def _held_cell_case(wijken):
    """Two wijken of men aged 30 (band 25-45) holding ``wijken`` persons in 2021, a gemeente going
    4 -> 8 by cohort-component, and weights that take the naive part only."""
    base = xr.DataArray(np.asarray(wijken, float).reshape(2, 1, 1), dims=("area", "sex", "age"),
                        coords={"area": ["W0", "W1"], "sex": ["male"], "age": [30]})
    control = xr.DataArray([[[4.0, 8.0]]], dims=("sex", "age", "year"),
                           coords={"sex": ["male"], "age": [30], "year": [2021, 2022]})
    cohort = constant_share(base=base, start_year=2021, end_year=2022, control=control)
    weights = {"cohort_component": np.zeros((1, 5)), "constant_share": np.zeros((1, 5)), "naive": np.ones((1, 5))}
    return base, control, cohort, weights


def test_band_constraint_hand_worked():
    """One cell, two wijken held at 1 and 3 (naive weight 1); the gemeente goes 4 -> 8 by cohort-component,
    gemeente weight 0.25: the band control is 0.75 * 8 + 0.25 * 4 = 7, split 1:3 -> 1.75 and 5.25."""
    base, control, cohort, weights = _held_cell_case([1.0, 3.0])
    held = np.array([[0.0, 0.0, 0.25, 0.0, 0.0]])
    out = combined_wijken(cohort, base, control, start_year=2021, weights=weights, held=held)
    np.testing.assert_allclose(out.sel(year=2022).values.ravel(), [1.75, 5.25])
    target = band_control(control, base, held, start_year=2021)
    assert target.sel(band=2).values.tolist() == [4.0, 7.0]


def test_naive_part_holds_the_published_bands_hand_worked():
    """Two wijken raked to 1.2 and 2.8 persons (one cell of 25-45); the KWB published 0 and 5 (rounded
    to 5: the benchmark's naive forecast). Naive weight 1 and the gemeente held (weight 1): the wijken
    hold 0 and 5 the next year, the published figures, and the base year stays the raked base."""
    base, control, cohort, weights = _held_cell_case([1.2, 2.8])
    published = xr.DataArray([[np.nan, np.nan, 0.0, np.nan, np.nan], [np.nan, np.nan, 5.0, np.nan, np.nan]],
                             dims=("area", "band"), coords={"area": ["W0", "W1"], "band": np.arange(5)})
    out = combined_wijken(cohort, base, control, start_year=2021, weights=weights, held=np.ones((1, 5)),
                          held_bands=published)
    np.testing.assert_allclose(out.sel(year=2022).values.ravel(), [0.0, 5.0])
    np.testing.assert_allclose(out.sel(year=2021).values.ravel(), [1.2, 2.8])
    # without published figures the raked base is held
    plain = combined_wijken(cohort, base, control, start_year=2021, weights=weights, held=np.ones((1, 5)))
    np.testing.assert_allclose(plain.sel(year=2022).values.ravel(), [1.2, 2.8])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=12, max_size=12),
       st.lists(st.one_of(st.none(), st.floats(0.0, 200.0)), min_size=6, max_size=6))
def test_held_population_meets_published_bands_and_keeps_profiles(values, published):
    """Any base and any published figures (some missing): each wijk band with a figure and people in
    the base sums to the figure, keeping its sex-age profile; the others are the base untouched."""
    base, *_ = _random_case(values, 1.0)
    figures = np.full((3, 5), np.nan)
    figures[:, 0] = [np.nan if v is None else v for v in published[:3]]
    figures[:, 4] = [np.nan if v is None else v for v in published[3:]]
    bands = xr.DataArray(figures, dims=("area", "band"), coords={"area": base["area"].values, "band": np.arange(5)})
    held = held_population(base, bands)
    for i, area in enumerate(base["area"].values):
        for age, band in ((0, 0), (70, 4)):
            had = base.sel(area=area, age=age)
            got = held.sel(area=area, age=age)
            if np.isfinite(figures[i, band]) and float(had.sum()) > 0:
                assert float(got.sum()) == pytest.approx(figures[i, band], abs=1e-9)
                np.testing.assert_allclose(got.values * float(had.sum()), had.values * float(got.sum()), atol=1e-9)
            else:
                np.testing.assert_array_equal(got.values, had.values)


def test_published_bands_read_the_kwb_year():
    kwb = pd.DataFrame({"area": ["WK1", "WK2", "WK1"], "area_name": ["a", "b", "a"], "area_level": "wijk",
                        "gemeente": "GM1", "year": [2021, 2021, 2022], "age_0_15": [10.0, np.nan, 15.0],
                        "age_15_25": 5.0, "age_25_45": 20.0, "age_45_65": 25.0, "age_65_plus": [30.0, 35.0, 40.0]})
    bands = published_bands(kwb, year=2021, areas=["WK1", "WK2", "WK3"])
    assert bands.sel(area="WK1").values.tolist() == [10.0, 5.0, 20.0, 25.0, 30.0]
    assert np.isnan(bands.sel(area="WK2", band=0)) and bands.sel(area="WK2", band=4) == 35.0
    assert bool(bands.sel(area="WK3").isnull().all())
    assert published_bands(kwb, year=2023, areas=["WK1"]) is None


def _household_case(values, target_growth):
    """Two wijken, ages 5 and 30 (bands 0-15 and 25-45), both sexes, base 2021 and 2022; W0 grows."""
    wijken = xr.DataArray(np.asarray(values, float).reshape(2, 2, 2, 1).repeat(2, axis=3) + 1.0,
                          dims=("area", "sex", "age", "year"),
                          coords={"area": ["W0", "W1"], "sex": list(SEXES), "age": [5, 30], "year": [2021, 2022]})
    total0 = float(wijken.sel(area="W0", year=2021).sum())
    trend = pd.DataFrame({"area": ["W0", "W1"], "households": [total0 / 2, 10.0], "slope": [target_growth * total0 / 2, 0.0],
                          "persons_per_household": [2.0, 2.0], "follows": [True, False]})
    return wijken, trend, total0


def test_follow_households_hand_worked():
    """W0 holds 10 persons (5 at age 5, 5 at age 30, one sex), its households would house 14 next year
    (5 households + 2 a year, 2 persons each); weight 0.5 and band shares 0.25 (0-15) and 0.75 (25-45):
    it gains 0.5 * (14 - 10) = 2 persons, 0.5 at age 5 and 1.5 at age 30. W1 (10 and 10) gives them up:
    9.5 and 8.5."""
    wijken = xr.DataArray(np.array([[[[5.0, 5.0], [5.0, 5.0]]], [[[10.0, 10.0], [10.0, 10.0]]]]),
                          dims=("area", "sex", "age", "year"),
                          coords={"area": ["W0", "W1"], "sex": ["male"], "age": [5, 30], "year": [2021, 2022]})
    trend = pd.DataFrame({"area": ["W0", "W1"], "households": [5.0, 8.0], "slope": [2.0, 0.0],
                          "persons_per_household": [2.0, 2.5], "follows": [True, False]})
    params = HouseholdTrendParameters()
    params.weights = np.array([0.5])
    params.band_shares = np.array([0.25, 0.0, 0.75, 0.0, 0.0])
    out = follow_households(wijken, trend, start_year=2021, parameters=params)
    np.testing.assert_allclose(out.sel(year=2022, area="W0").values.ravel(), [5.5, 6.5])
    np.testing.assert_allclose(out.sel(year=2022, area="W1").values.ravel(), [9.5, 8.5])
    xr.testing.assert_equal(out.sel(year=2021), wijken.sel(year=2021))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 50.0), min_size=8, max_size=8), st.floats(-0.2, 0.5))
def test_follow_households_keeps_every_band_of_the_gemeente(values, growth):
    """Any wijken and household trend: each band's sum over the wijken is kept every year, the base
    year is untouched, nothing is negative, and the growing wijk moves toward its target."""
    wijken, trend, total0 = _household_case(values, growth)
    out = follow_households(wijken, trend, start_year=2021)
    # one age per band here (5 in 0-15, 30 in 25-45), so the band sums are the age sums
    np.testing.assert_allclose(out.sum(["area", "sex"]).values, wijken.sum(["area", "sex"]).values, rtol=1e-9)
    xr.testing.assert_equal(out.sel(year=2021), wijken.sel(year=2021))
    assert (out.values >= 0).all()
    target = total0 * (1 + growth)
    before, after = float(wijken.sel(area="W0", year=2022).sum()), float(out.sel(area="W0", year=2022).sum())
    assert abs(after - target) <= abs(before - target) + 1e-9


def test_household_trend_needs_two_years():
    kwb = pd.DataFrame({"area": ["W", "W", "V", "V", "V"], "year": [2023, 2024, 2021, 2023, 2024],
                        "households": [100.0, 110.0, 100.0, 104.0, 110.0], "population": [250.0, 270.0, 200.0, 205.0, 215.0]})
    t = household_trend(kwb, year=2024, areas=["W", "V", "X"], threshold=0.03).set_index("area")
    # W grew 10 % in one year: too short a trend; V grew 10 over 3 years (3.0 % a year of 110): above 0.03
    assert not t.loc["W", "follows"] and t.loc["W", "growth"] == pytest.approx(10 / 110)
    assert t.loc["V", "follows"] and t.loc["V", "slope"] == pytest.approx(10 / 3)
    assert not t.loc["X", "follows"] and np.isnan(t.loc["X", "slope"])
    assert household_trend(kwb, year=2024, areas=["W"], threshold=0.03, min_years=1).set_index("area").loc["W", "follows"]


def test_assen_household_trend_is_reported(assen):
    """The pipeline's notes say which wijken follow their households (Assen 2021-2024: WK010605 alone,
    households 1,870 -> 2,120, 3.9 % a year)."""
    from assen_demand.pipeline import project_population

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = project_population(data=assen, end_year=2026)
    trend = p.notes["household_trend"].set_index("area")
    assert trend.index[trend["follows"]].tolist() == ["WK010605"]
    assert trend.loc["WK010605", "growth"] == pytest.approx(250 / 3 / 2120)


def test_band_constraint_falls_back_to_cohort_component_where_the_mix_is_empty():
    """Both wijken empty in the mix but the control is 6: spread by the cohort-component wijken (2 and 4)."""
    coords = {"area": ["W0", "W1"], "sex": ["female"], "age": [10], "year": [2022]}
    mix = xr.DataArray(np.zeros((2, 1, 1, 1)), dims=("area", "sex", "age", "year"), coords=coords)
    cohort = xr.DataArray(np.array([1.0, 2.0]).reshape(2, 1, 1, 1), dims=("area", "sex", "age", "year"),
                          coords=coords)
    control = xr.DataArray([[6.0, 0, 0, 0, 0]], dims=("year", "band"), coords={"year": [2022]}).T
    assert constrain_to_bands(mix, cohort, control).values.ravel().tolist() == [2.0, 4.0]


def test_combined_wijken_errors():
    base = xr.DataArray([[[1.0]]], dims=("area", "sex", "age"), coords={"area": ["W0"], "sex": ["male"], "age": [0]})
    control = xr.DataArray([[[1.0, 1.0]]], dims=("sex", "age", "year"),
                           coords={"sex": ["male"], "age": [0], "year": [2021, 2022]})
    cohort = base.expand_dims(year=[2021, 2022]).transpose("area", "sex", "age", "year")
    with pytest.raises(InvalidValueError, match="constraint 'total' is not one of"):
        combined_wijken(cohort, base, control, start_year=2021, constraint="total")
    with pytest.raises(InvalidValueError, match="one column per KWB band"):
        band_control(control, base, np.zeros((1, 3)), start_year=2021)
    table = pd.DataFrame({"indicator": "gemeente_held_weight", "horizon": 1, "age_lo": [0, 15, 25, 45, 65],
                          "central": [0.5, 0.5, 0.5, 0.5, 1.5]})
    with pytest.raises(InvalidValueError, match=r"must lie in \[0, 1\]"):
        gemeente_weights(table)


def test_combine_projections_weights_by_band_and_horizon():
    """Horizon 1 weights (0.25, 0.75), horizon 2 (1, 0); horizon 3 keeps the last row: 10, 17.5, 10, 10."""
    a = xr.DataArray(np.full((1, 1, AGES.size, 4), 10.0), dims=("area", "sex", "age", "year"),
                     coords={"area": ["W"], "sex": ["male"], "age": AGES, "year": [2021, 2022, 2023, 2024]})
    w = {"a": np.array([[0.25] * 5, [1.0] * 5]), "b": np.array([[0.75] * 5, [0.0] * 5])}
    out = combine_projections({"a": a, "b": a * 2}, w, start_year=2021)
    assert out.sel(age=70).values.ravel().tolist() == [10.0, 17.5, 10.0, 10.0]
    with pytest.raises(InvalidValueError, match="sum to 1"):
        combine_projections({"a": a, "b": a}, {"a": np.full((1, 5), 0.5), "b": np.full((1, 5), 0.6)}, start_year=2021)
    with pytest.raises(InvalidValueError, match="one weight table per projection"):
        combine_projections({"a": a}, w, start_year=2021)


def test_bundled_method_weights():
    w = method_weights()
    assert set(w) == set(COMBINED_METHODS)
    total = sum(w.values())
    np.testing.assert_allclose(total, 1.0)
    # the elderly are forecast by ageing, never held as they are (the 75+ chart of Assen), in the
    # wijken and in the gemeente
    assert (w["naive"][:, 4] == 0).all()
    held = gemeente_weights()
    assert held.shape[1] == 5 and (held[:, 4] == 0).all() and ((held >= 0) & (held <= 1)).all()


def test_combined_method_in_the_pipeline(assen):
    from assen_demand.pipeline import project_population

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = project_population(data=assen, base_year=2021, end_year=2025, method="combined")
    pop = p.population
    wijken = pop.drop_sel(area="GM0106").sum("area")
    np.testing.assert_allclose(wijken.values, pop.sel(area="GM0106").values, rtol=1e-9, atol=1e-9)
    assert p.method == "combined"
    # the gemeente's 65+ is its cohort-component projection (gemeente weight 0): compare with the default run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc = project_population(data=assen, base_year=2021, end_year=2025).population.sel(area="GM0106")
    np.testing.assert_allclose(pop.sel(area="GM0106", age=slice(65, None)).sum().item(),
                               cc.sel(age=slice(65, None)).sum().item(), rtol=1e-9)


def test_unconstrained_combination_is_the_weighted_average():
    """Hand-worked: one wijk-cell of 10 held (naive), cohort 8, constant share 12 at horizon 1 with
    weights 0.5 / 0.25 / 0.25 -> 0.5*8 + 0.25*12 + 0.25*10 = 9.5 (the gemeente control 12 is not imposed)."""
    base = xr.DataArray([[[10.0]]], dims=("area", "sex", "age"), coords={"area": ["W0"], "sex": ["male"], "age": [0]})
    control = xr.DataArray([[[10.0, 12.0]]], dims=("sex", "age", "year"),
                           coords={"sex": ["male"], "age": [0], "year": [2021, 2022]})
    cohort = xr.DataArray([[[[10.0, 8.0]]]], dims=("area", "sex", "age", "year"),
                          coords={"area": ["W0"], "sex": ["male"], "age": [0], "year": [2021, 2022]})
    weights = {"cohort_component": np.full((1, 5), 0.5), "constant_share": np.full((1, 5), 0.25),
               "naive": np.full((1, 5), 0.25)}
    out = combined_wijken(cohort, base, control, start_year=2021, weights=weights, constraint=None)
    assert out.values.ravel().tolist() == [10.0, 9.5]
    constrained = combined_wijken(cohort, base, control, start_year=2021, weights=weights, constraint="sex_age")
    assert constrained.values.ravel().tolist() == [10.0, 12.0]
    # band control with gemeente weight 0.5: 0.5 * 12 + 0.5 * 10 = 11 (the one wijk takes all of it)
    banded = combined_wijken(cohort, base, control, start_year=2021, weights=weights, held=np.full((1, 5), 0.5))
    assert banded.values.ravel().tolist() == [10.0, 11.0]


def test_bundled_weights_taper_to_cohort_component_beyond_the_hindcasts():
    """The weights were estimated at horizons 1, 2 and 3 (one row each: the hindcast origins are one, two
    and three years long; issue 18 note 3). Beyond them the bundled table moves linearly to the
    cohort-component projection, reached at horizon 10 (an assumption, status aanname):
    w(h) = w(3) + (h - 3) / 7 * (target - w(3)). Hand-worked for 0-15: cohort-component 0.4 at h = 3
    (issue 18 note 4), so 0.4 + 3/7 * 0.6 = 0.6571 at h = 6; gemeente held 0.7 at h = 3 -> 0.7 * 4/7 = 0.4."""
    from assen_demand.parameters import load_parameter_table

    w = method_weights()
    held = gemeente_weights()
    assert w["cohort_component"].shape[0] == held.shape[0] == 10
    targets = {"cohort_component": 1.0, "constant_share": 0.0, "naive": 0.0, "gemeente_held": 0.0}
    for name, table in (*w.items(), ("gemeente_held", held)):
        for h in range(4, 11):
            expected = table[2] + (h - 3) / 7 * (targets[name] - table[2])
            np.testing.assert_allclose(table[h - 1], expected, atol=1e-9, err_msg=f"{name} h={h}")
    np.testing.assert_allclose(w["cohort_component"][5, 0], 0.4 + 3 / 7 * 0.6)
    np.testing.assert_allclose(held[5, 0], 0.4)
    frame = load_parameter_table("wijk_method_weights.csv")
    assert set(frame.loc[frame["horizon"] <= 3, "status"]) == {"geschat"}
    assert set(frame.loc[frame["horizon"] > 3, "status"]) == {"aanname"}
    # one estimated row per horizon, not one row held for h = 1..3
    assert not all(np.array_equal(t[0], t[2]) for t in (*w.values(), held))


def _variants_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "wijk_control_variants.py"
    spec = importlib.util.spec_from_file_location("wijk_control_variants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_refine_with_total_holds_the_total_hand_worked():
    """One origin, one gemeente, two wijken, two candidate weights per band (index 0 and 1, one gemeente
    weight). Band by band, candidate 0 is best (0-15: 9 vs 10 persons of error, naive 10; the other
    bands equal), but the wijk totals it gives miss by 12 against naive's 10; candidate 1 of 0-15 has
    band error 10 (= naive) and takes the totals to 8. The refinement moves 0-15 to candidate 1: the
    larger of its band ratio (1.0) and the total ratio (0.8) is 1.0 < max(0.9, 1.2)."""
    script = _variants_script()
    key = ("a", 2023, 2024)
    obs_total = np.array([100.0, 100.0])
    naive_total = np.array([105.0, 95.0])  # |5| + |5| = 10
    preds = {b: np.zeros((2, 2, 1)) for b in script.BANDS}
    preds["0-15"][:, 0, 0] = [106.0, 106.0]  # totals 106 and 106: error 12
    preds["0-15"][:, 1, 0] = [104.0, 104.0]  # totals 104 and 104: error 8
    predictions = {key: (np.array(["GM1", "GM1"]), np.array([True, True]), obs_total, naive_total, preds)}
    cells = {(key, b): (["GM1"], np.array([[[9.0], [10.0]]]) if b == "0-15" else np.ones((1, 2, 1)), 100.0,
                        np.array([10.0])) for b in script.BANDS}
    best = script.fit(cells, rows="horizon", objective="worst")
    assert best[(1, "0-15")] == (0, 0)
    refined = script.refine_with_total(best, cells, predictions, rows="horizon")
    assert refined[(1, "0-15")] == (1, 0)
    # a total already at or below naive leaves the bands' own weights alone
    preds["0-15"][:, 0, 0] = [103.0, 103.0]
    assert script.refine_with_total(best, cells, predictions, rows="horizon") == best


def test_weight_search_worst_origin_and_aged_band_hand_worked():
    """Two one-year origins, one gemeente each, two candidate weights, naive error 10 in both:
    errors 8 and 10.5 for the first candidate, 9.5 and 10 for the second (observed 100).
    The mean weighted APE prefers the first (18.5 < 19.5 persons); the worst origin's ratio to
    naive prefers the second (max(0.95, 1.0) = 1.0 < max(0.8, 1.05) = 1.05), which is at or below
    naive at both origins. 65+ may not take a naive part or a held gemeente."""
    script = _variants_script()
    cells = {
        (("a", 2021, 2022), "0-15"): (["GM1"], np.array([[[8.0], [9.5]]]), 100.0, np.array([10.0])),
        (("b", 2023, 2024), "0-15"): (["GM2"], np.array([[[10.5], [10.0]]]), 100.0, np.array([10.0])),
    }
    for band in script.BANDS[1:]:  # the other bands: any data, not asserted
        for key in (("a", 2021, 2022), ("b", 2023, 2024)):
            cells[(key, band)] = (["GM1" if key[0] == "a" else "GM2"], np.ones((1, 2, 1)), 100.0, np.ones(1))
    assert script.fit(cells, rows="horizon", objective="mean")[(1, "0-15")] == (0, 0)
    assert script.fit(cells, rows="horizon", objective="worst")[(1, "0-15")] == (1, 0)
    # leaving GM2 out, only origin a counts: the first candidate (0.8 of naive) wins again
    assert script.fit(cells, leave_out=["GM2"], rows="horizon", objective="worst")[(1, "0-15")] == (0, 0)
    grid = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    mask = script.allowed(grid, np.array([0.0, 0.5]), "65+")
    assert mask.tolist() == [[True, False], [False, False]]
    assert script.allowed(grid, np.array([0.0, 0.5]), "0-15").all()
    folds = script.folds_of(["GM3", "GM1", "GM2", "GM5", "GM4"], 2)
    assert folds == {"GM1": 0, "GM2": 1, "GM3": 0, "GM4": 1, "GM5": 0}
    assert [script.group_of(("d", 2021, 2024), rows) for rows in script.ROWS] == [3, 2, 1]

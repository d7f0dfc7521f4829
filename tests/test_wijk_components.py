"""Issue 18 items 1 and 2: wijk births from the child-woman ratio, wijk migration from the age structure."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.datamodel import AGES, MAX_AGE, SEXES
from assen_demand.demography import components as c
from assen_demand.demography.fertility import wijk_fertility_factors
from assen_demand.demography.migration import (
    STRUCTURAL_WIJK_MAX_AGE,
    add_structural_wijk_migration,
    structural_wijk_migration,
)
from assen_demand.errors import InvalidValueError


def _population(rows: dict[str, dict[tuple[str, int], float]]) -> xr.DataArray:
    """(area, sex, age) [persons] from {area: {(sex, age): persons}}."""
    out = xr.DataArray(np.zeros((len(rows), 2, AGES.size)), dims=("area", "sex", "age"),
                       coords={"area": list(rows), "sex": list(SEXES), "age": AGES})
    for area, cells in rows.items():
        for (sex, age), persons in cells.items():
            out.loc[dict(area=area, sex=sex, age=age)] = persons
    return out


FLAT_ASFR = xr.DataArray(np.where((AGES >= 15) & (AGES < 50), 0.05, 0.0), dims="age", coords={"age": AGES})


# --------------------------------------------------------------------------------------------
# item 2: births from the child-woman ratio
# --------------------------------------------------------------------------------------------

def test_cwr_factors_hand_worked():
    # Hand-worked (paper and calculator). ASFR 0.05 at every age 15-49 (only its shape matters),
    # all women aged 30. Wijk A: 100 women, 40 children aged 2; B: 300 women, 40 children; the
    # gemeente is their sum (400 women, 80 children).
    #   expected children E_A = 80 * 100/400 = 20, E_B = 80 * 300/400 = 60; raw ratios 2 and 2/3
    #   shrunk with alpha = 10: A (40+10)/(20+10) = 5/3, B (40+10)/(60+10) = 5/7
    #   births add up: ASFR-weighted women F_A = 5, F_B = 15, F_gm = 20;
    #   k = 20 / (5/3 * 5 + 5/7 * 15) = 20 / (8.3333 + 10.7143) = 1.05
    #   factors 5/3 * 1.05 = 1.75 and 5/7 * 1.05 = 0.75
    pop = _population({
        "GM1": {("female", 30): 400.0, ("male", 2): 40.0, ("female", 2): 40.0},
        "WA": {("female", 30): 100.0, ("male", 2): 20.0, ("female", 2): 20.0},
        "WB": {("female", 30): 300.0, ("male", 2): 20.0, ("female", 2): 20.0},
    })
    result = wijk_fertility_factors(pop, FLAT_ASFR, gemeente="GM1", prior_shape=10.0)
    table = result.table.set_index("area")
    np.testing.assert_allclose(table["expected_children"], [20.0, 60.0])
    np.testing.assert_allclose(table["cwr_ratio"], [2.0, 2.0 / 3.0])
    np.testing.assert_allclose(table["shrunk"], [5.0 / 3.0, 5.0 / 7.0])
    np.testing.assert_allclose(table["factor"], [1.75, 0.75])
    assert result.prior_shape == 10.0


def test_cwr_small_wijk_is_pulled_toward_one():
    # same raw ratio 2 in a wijk of 10 and one of 1,000 women: alpha = 10 pulls the small one
    # (E = 5: (10+10)/(5+10) = 1.333) much more than the large one (E = 500: 1010/510 = 1.980)
    pop = _population({
        "GM1": {("female", 30): 2010.0, ("female", 2): 1020.0},
        "WS": {("female", 30): 10.0, ("female", 2): 10.0},
        "WL": {("female", 30): 1000.0, ("female", 2): 1000.0},
        "WR": {("female", 30): 1000.0, ("female", 2): 10.0},
    })
    table = wijk_fertility_factors(pop, FLAT_ASFR, gemeente="GM1", prior_shape=10.0).table.set_index("area")
    e_small = 1020.0 * 10 / 2010
    assert table.loc["WS", "cwr_ratio"] == pytest.approx(10.0 / e_small)
    assert table.loc["WS", "shrunk"] == pytest.approx((10 + 10) / (e_small + 10))
    assert abs(table.loc["WS", "shrunk"] - 1) < abs(table.loc["WL", "shrunk"] - 1) / 2


def test_cwr_prior_shape_from_the_wijken_and_inf_means_no_wijk_effect():
    pop = _population({
        "GM1": {("female", 30): 300.0, ("female", 2): 90.0},
        "W1": {("female", 30): 100.0, ("female", 2): 30.0},
        "W2": {("female", 30): 100.0, ("female", 2): 30.0},
        "W3": {("female", 30): 100.0, ("female", 2): 30.0},
    })
    equal = wijk_fertility_factors(pop, FLAT_ASFR, gemeente="GM1")
    assert math.isinf(equal.prior_shape)  # no variation beyond Poisson noise: every wijk 1
    np.testing.assert_allclose(equal.table["factor"], 1.0)
    with pytest.raises(InvalidValueError, match="prior_shape must be positive"):
        wijk_fertility_factors(pop, FLAT_ASFR, gemeente="GM1", prior_shape=0.0)


@settings(max_examples=40, deadline=None)
@given(arrays(float, (3, 2, AGES.size), elements=st.floats(0.0, 50.0)),
       st.one_of(st.none(), st.floats(0.5, 500.0)))
def test_cwr_wijk_births_add_up_to_the_gemeente(wijken, alpha):
    wijken[:, 1, 30] += 20.0  # every wijk has women of childbearing age
    wijken[:, :, 1] += 1.0     # and children
    pop = xr.DataArray(np.concatenate([wijken.sum(axis=0, keepdims=True), wijken]), dims=("area", "sex", "age"),
                       coords={"area": ["GM1", "W1", "W2", "W3"], "sex": list(SEXES), "age": AGES})
    asfr = FLAT_ASFR * xr.DataArray(np.linspace(0.5, 1.5, AGES.size), dims="age", coords={"age": AGES})
    result = wijk_fertility_factors(pop, asfr, gemeente="GM1", prior_shape=alpha)
    women = pop.sel(sex="female") * asfr.where((AGES >= 15) & (AGES < 45), 0.0)
    births = women.sum("age").to_series()
    factors = result.table.set_index("area")["factor"]
    assert (factors >= 0).all()
    assert float((factors * births[factors.index]).sum()) == pytest.approx(float(births["GM1"]), rel=1e-9)


# --------------------------------------------------------------------------------------------
# item 1: migration that keeps the wijk's young-age share
# --------------------------------------------------------------------------------------------

def test_structural_wijk_migration_hand_worked():
    # W1 holds 10, 20, 40 % of the wijken at ages 0, 1, 2 (100 persons at every age, survival
    # 0.9 at every age): W1 gains 0.9 * 100 * (0.2 - 0.1) = 9 at age 1 and 0.9 * 100 * (0.4 - 0.2) = 18
    # at age 2; W2 loses the same; half weight halves it.
    pop = xr.DataArray([[[10.0, 20.0, 40.0]], [[90.0, 80.0, 60.0]]], dims=("area", "sex", "age"),
                       coords={"area": ["W1", "W2"], "sex": ["female"], "age": [0, 1, 2]})
    surv = xr.DataArray([[0.9, 0.9, 0.9]], dims=("sex", "age"), coords={"sex": ["female"], "age": [0, 1, 2]})
    d = structural_wijk_migration(pop, surv, gemeente="GM1")
    np.testing.assert_allclose(d.sel(sex="female").values, [[0.0, 9.0, 18.0], [0.0, -9.0, -18.0]])
    half = structural_wijk_migration(pop, surv, gemeente="GM1", weight=0.5)
    np.testing.assert_allclose(half.values, d.values / 2)
    only_age_1 = structural_wijk_migration(pop, surv, gemeente="GM1", max_age=1)
    np.testing.assert_allclose(only_age_1.sel(sex="female").values, [[0.0, 9.0, 0.0], [0.0, -9.0, 0.0]])
    with pytest.raises(InvalidValueError, match="weight must be"):
        structural_wijk_migration(pop, surv, gemeente="GM1", weight=-1.0)


@settings(max_examples=40, deadline=None)
@given(arrays(float, (3, 2, AGES.size), elements=st.floats(0.0, 80.0)),
       arrays(float, (2, AGES.size), elements=st.floats(0.5, 1.0)))
def test_structural_term_moves_migrants_between_wijken_and_keeps_young_shares(wijken, survival):
    wijken = wijken + 0.5  # every age occupied
    pop = xr.DataArray(np.concatenate([wijken.sum(axis=0, keepdims=True), wijken]), dims=("area", "sex", "age"),
                       coords={"area": ["GM1", "W1", "W2", "W3"], "sex": list(SEXES), "age": AGES})
    surv = xr.DataArray(survival, dims=("sex", "age"), coords={"sex": list(SEXES), "age": AGES})
    d = structural_wijk_migration(pop, surv, gemeente="GM1")
    np.testing.assert_allclose(d.sum("area").values, 0.0, atol=1e-9)  # the gemeente gets no migrant from it
    assert float(abs(d.sel(age=slice(STRUCTURAL_WIJK_MAX_AGE + 1, None))).max()) == 0.0
    assert float(abs(d.sel(age=0)).max()) == 0.0
    # a closed gemeente, one year on: survivors plus D leave every wijk's share at ages 1..45 as it was
    w = pop.sel(area=["W1", "W2", "W3"]).values
    next_year = np.zeros_like(w)
    next_year[:, :, 1:] = w[:, :, :-1] * survival[None, :, :-1] + d.values[:, :, 1:]
    share_before = w / w.sum(axis=0)
    share_after = next_year[:, :, 1:] / next_year[:, :, 1:].sum(axis=0)
    young = slice(0, STRUCTURAL_WIJK_MAX_AGE)  # ages 1..45 in the sliced arrays
    np.testing.assert_allclose(share_after[:, :, young], share_before[:, :, 1:][:, :, young], rtol=1e-9)


def test_structural_term_gives_way_to_kwb_pairs():
    pop = xr.DataArray(np.ones((2, 2, AGES.size)), dims=("area", "sex", "age"),
                       coords={"area": ["W1", "W2"], "sex": list(SEXES), "age": AGES})
    pop.loc[dict(area="W1", age=slice(20, 40))] = 3.0
    net = xr.zeros_like(pop).expand_dims(year=[2024, 2025]).transpose("area", "sex", "age", "year")
    structural = xr.DataArray(np.zeros((2, 2, AGES.size)), dims=("area", "sex", "age"), coords=pop.coords)
    structural.loc[dict(area="W1", age=30)] = 4.0
    structural.loc[dict(area="W2", age=30)] = -4.0
    full = add_structural_wijk_migration(net, structural, population=pop)
    assert float(full.sel(area="W1", age=30, year=2025).sum()) == pytest.approx(8.0)
    weights = xr.DataArray([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]], dims=("area", "age_lo"),
                           coords={"area": ["W1", "W2"], "age_lo": [0, 15, 25, 45, 65]})
    np.testing.assert_allclose(add_structural_wijk_migration(net, structural, population=pop, pair_weight=weights).values,
                               0.0)
    # unequal weights: what one wijk keeps is taken back by population, so the wijken add up as before
    weights.loc[dict(area="W2")] = 0.5
    mixed = add_structural_wijk_migration(net, structural, population=pop, pair_weight=weights)
    np.testing.assert_allclose(mixed.sum("area").values, 0.0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# note 5: the same term at old ages (care homes, senior flats keep their share of the very old)
# --------------------------------------------------------------------------------------------

def test_structural_wijk_migration_at_old_ages_hand_worked():
    # Two wijken, one sex, ages 0..4 (4 is the open group here), 100 persons at every age,
    # survival 0.8. W1 holds 50, 50, 10, 20, 50 % of the wijken at ages 0..4. Term from age 3 on:
    # W1 gains 0.8 * 100 * (0.2 - 0.1) = 8 at age 3 and 0.8 * 100 * (0.5 - 0.2) = 24 at age 4,
    # W2 loses the same; ages 1 and 2 get nothing although the share falls from 0.5 to 0.1 at 2
    # (the young term would move 0.8 * 100 * (0.1 - 0.5) = -32 there).
    pop = xr.DataArray([[[50.0, 50.0, 10.0, 20.0, 50.0]], [[50.0, 50.0, 90.0, 80.0, 50.0]]],
                       dims=("area", "sex", "age"),
                       coords={"area": ["W1", "W2"], "sex": ["female"], "age": [0, 1, 2, 3, 4]})
    surv = xr.DataArray([[0.8] * 5], dims=("sex", "age"), coords={"sex": ["female"], "age": [0, 1, 2, 3, 4]})
    d = structural_wijk_migration(pop, surv, gemeente="GM1", min_age=3, max_age=4)
    np.testing.assert_allclose(d.sel(sex="female").values, [[0, 0, 0, 8.0, 24.0], [0, 0, 0, -8.0, -24.0]])
    young = structural_wijk_migration(pop, surv, gemeente="GM1", max_age=4)
    assert float(young.sel(area="W1", sex="female", age=2)) == pytest.approx(-32.0)
    np.testing.assert_allclose(structural_wijk_migration(pop, surv, gemeente="GM1", min_age=3, max_age=4,
                                                         weight=0.5).values, d.values / 2)
    for bad in (dict(min_age=0), dict(min_age=4, max_age=3)):
        with pytest.raises(InvalidValueError, match="min_age <= max_age"):
            structural_wijk_migration(pop, surv, gemeente="GM1", **bad)


@settings(max_examples=40, deadline=None)
@given(arrays(float, (3, 2, AGES.size), elements=st.floats(0.0, 80.0)),
       arrays(float, (2, AGES.size), elements=st.floats(0.3, 1.0)),
       st.sampled_from([65, 75, 85]))
def test_old_age_term_sums_to_zero_is_zero_below_its_ages_and_keeps_old_shares(wijken, survival, old_min):
    wijken = wijken + 0.5  # every age occupied
    pop = xr.DataArray(np.concatenate([wijken.sum(axis=0, keepdims=True), wijken]), dims=("area", "sex", "age"),
                       coords={"area": ["GM1", "W1", "W2", "W3"], "sex": list(SEXES), "age": AGES})
    surv = xr.DataArray(survival, dims=("sex", "age"), coords={"sex": list(SEXES), "age": AGES})
    d = structural_wijk_migration(pop, surv, gemeente="GM1", min_age=old_min, max_age=MAX_AGE)
    np.testing.assert_allclose(d.sum("area").values, 0.0, atol=1e-9)
    assert float(abs(d.sel(age=slice(0, old_min - 1))).max()) == 0.0
    # a closed gemeente, one year on (the oldest age an open group: its survivors stay): every
    # wijk's share at ages old_min..MAX_AGE is what it was
    w = pop.sel(area=["W1", "W2", "W3"]).values
    next_year = np.zeros_like(w)
    next_year[:, :, 1:] = w[:, :, :-1] * survival[None, :, :-1]
    next_year[:, :, -1] += w[:, :, -1] * survival[None, :, -1]
    next_year += d.values
    share_before = w / w.sum(axis=0)
    share_after = next_year / next_year.sum(axis=0)
    np.testing.assert_allclose(share_after[:, :, old_min:], share_before[:, :, old_min:], rtol=1e-9)


@pytest.mark.slow  # two Assen component estimates, ~3 s CPU each
def test_old_age_option_moves_only_old_wijk_migrants(assen):
    from assen_demand.demography.base import estimate_base

    # the pipeline's base population: the wijk shares at old ages come from the 2021 postcode bands
    # (the KWB split alone gives every wijk the gemeente's profile within 65+, and no term)
    known = assen.as_of(2021)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = estimate_base(known, year=2021).population
        plain = c.estimate_components(known, base_year=2021, end_year=2024, base_population=base)
        old = c.estimate_components(known, base_year=2021, end_year=2024, base_population=base,
                                    wijk_structural_migration_old=1.0, wijk_structural_old_min_age=75)
    gm = assen.gemeente
    wijken = [a for a in plain.areas if a != gm]
    diff = old.net_migration - plain.net_migration
    assert float(abs(diff.sel(area=gm)).max()) == 0.0  # the gemeente is not touched
    np.testing.assert_allclose(diff.sel(area=wijken).sum("area").values, 0.0, atol=1e-8)
    assert float(abs(diff.sel(age=slice(0, 74))).max()) == 0.0
    assert float(abs(diff.sel(area=wijken, age=slice(75, None))).max()) > 0.1
    assert old.assumptions["wijk_structural_migration_old"] == 1.0
    assert old.assumptions["wijk_structural_old_min_age"] == 75
    for bad in (dict(wijk_structural_migration_old=-0.5), dict(wijk_structural_old_min_age=45),
                dict(wijk_structural_old_min_age=70.5), dict(wijk_structural_old_min_age=MAX_AGE + 1)):
        with pytest.raises(InvalidValueError, match="wijk_structural"):
            c.estimate_components(known, base_year=2021, end_year=2024, base_population=base, **bad)


# --------------------------------------------------------------------------------------------
# both in the components: the gemeente is not touched
# --------------------------------------------------------------------------------------------

@pytest.mark.slow  # two Assen component estimates, ~3 s CPU each
def test_options_change_the_wijken_only(assen):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = c.estimate_components(assen, base_year=2022, end_year=2026, wijk_structural_migration=0.0)
        both = c.estimate_components(assen, base_year=2022, end_year=2026, wijk_fertility="cwr",
                                     wijk_structural_migration=1.0)
    gm = assen.gemeente
    xr.testing.assert_identical(plain.fertility.sel(area=gm), both.fertility.sel(area=gm))
    xr.testing.assert_identical(plain.net_migration.sel(area=gm), both.net_migration.sel(area=gm))
    wijken = [a for a in plain.areas if a != gm]
    xr.testing.assert_allclose(plain.net_migration.sel(area=wijken).sum("area"),
                               both.net_migration.sel(area=wijken).sum("area"), atol=1e-8)
    assert not np.allclose(plain.net_migration.sel(area=wijken).values, both.net_migration.sel(area=wijken).values)
    table = both.wijk_fertility.table.set_index("area")
    assert set(table.index) == set(wijken) and table["factor"].between(0.2, 3.0).all()
    assert both.assumptions["wijk_fertility"] == "cwr" and both.assumptions["wijk_structural_migration"] == 1.0
    with pytest.raises(InvalidValueError, match="wijk_fertility must be"):
        c.estimate_components(assen, base_year=2022, wijk_fertility="kwb")


@pytest.mark.slow  # two Assen projections 2021 -> 2024, ~4 s CPU each
def test_wijk_projection_keeps_births_and_young_shares(assen):
    from assen_demand.pipeline import project_population

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = project_population(data=assen, base_year=2021, end_year=2024, method="cohort_component",
                                   wijk_structural_migration=0.0)
        both = project_population(data=assen, base_year=2021, end_year=2024, method="cohort_component",
                                  wijk_fertility="cwr", wijk_structural_migration=1.0)
    gm = assen.gemeente
    wijken = [a for a in plain.population["area"].values.tolist() if a != gm]
    for p in (plain, both):  # the wijken's infants (the births) add up to the gemeente's every year
        infants = p.population.sel(age=0)
        np.testing.assert_allclose(infants.sel(area=wijken).sum("area"), infants.sel(area=gm), rtol=1e-9)

    def drift(p):  # how far the wijken's shares of ages 1-45 move from the base year by 2024
        young = p.population.sel(area=wijken, age=slice(1, 45)).sum("sex")
        share = young / young.sum("area")
        return float(abs(share.sel(year=2024) - share.sel(year=2021)).sum())

    assert drift(both) < 0.5 * drift(plain)

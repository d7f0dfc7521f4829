"""Base population: raking (IPF), the Assen estimates 2021 and 2024, other gemeenten, error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from assen_demand.demography.base import (BAND_OF_AGE, RAKE_STALL_PERSONS, RAKE_STALL_STEPS, _rake_wijken,
                                          base_population, estimate_base, ipf)
from assen_demand.inputs.cbs import KWB_BAND_LABELS
from assen_demand.inputs.datasets import load_gemeente
from assen_demand.errors import InvalidValueError, MissingDataError


# ---------------------------------------------------------------- IPF


def test_ipf_hand_worked():
    # seed [[1, 2], [3, 4]], rows -> [4, 6], columns -> [5, 5].
    # Deming-Stephan converges to the table with the seed's odds ratio (1*4)/(2*3) = 2/3 and these
    # margins: x11 = a, x12 = 4 - a, x21 = 5 - a, x22 = 1 + a, a(1 + a) / ((4 - a)(5 - a)) = 2/3
    # -> 3a + 3a^2 = 40 - 18a + 2a^2 -> a^2 + 21a - 40 = 0 -> a = (-21 + sqrt(601)) / 2 = 1.757650...
    a = (-21 + np.sqrt(601)) / 2
    fit = ipf(np.array([[1.0, 2.0], [3.0, 4.0]]), [((0,), np.array([4.0, 6.0])), ((1,), np.array([5.0, 5.0]))])
    np.testing.assert_allclose(fit.fitted, [[a, 4 - a], [5 - a, 1 + a]], rtol=1e-9)
    assert fit.max_abs_residual < 1e-8


@settings(max_examples=40, deadline=None)
@given(
    seed=hnp.arrays(float, (4, 3), elements=st.floats(0.1, 100)),
    rows=hnp.arrays(float, 4, elements=st.floats(0, 50)),
    cols=hnp.arrays(float, 3, elements=st.floats(0.1, 50)),
)
def test_ipf_meets_consistent_margins(seed, rows, cols):
    cols = cols / cols.sum() * rows.sum() if rows.sum() > 0 else cols * 0
    fit = ipf(seed, [((0,), rows), ((1,), cols)])
    assert (fit.fitted >= 0).all()
    np.testing.assert_allclose(fit.fitted.sum(axis=1), rows, atol=1e-6 * (1 + rows.max()))
    np.testing.assert_allclose(fit.fitted.sum(axis=0), cols, atol=1e-6 * (1 + rows.max()))


def test_ipf_rejects_negative_seed():
    with pytest.raises(InvalidValueError, match="seed holds negative"):
        ipf(np.array([[1.0, -1.0]]), [((0,), np.array([1.0]))])


# ---------------------------------------------------------------- Assen


@pytest.fixture(scope="module", params=[2021, 2024])
def assen_base(request, assen):
    return estimate_base(assen, year=request.param)


def _kwb(assen, year):
    return assen.kwb[assen.kwb["year"] == year].set_index("area")


def test_margins_equal_kwb_after_rounding_treatment(assen_base, assen):
    pop = assen_base.population
    year = assen_base.year
    kwb = _kwb(assen, year)
    res = assen_base.residuals[assen_base.residuals["year"] == year]
    # every published figure is met after the documented adjustment
    assert res["residual"].abs().max() < 1e-4  # persons
    # the adjustment is rounding-sized: at most a few persons per wijk x band cell
    wijk_band = res[res["margin"] == "wijk_band"]
    assert wijk_band["adjustment"].abs().max() <= 10
    # gemeente bands are exact in KWB and are met exactly
    bands = pop.sel(area="GM0106").sum("sex").groupby(xr_band(pop)).sum().values
    gm = kwb.loc["GM0106", ["age_0_15", "age_15_25", "age_25_45", "age_45_65", "age_65_plus"]].to_numpy(float)
    np.testing.assert_allclose(bands, gm, atol=1e-6)
    assert float(pop.sel(area="GM0106").sum()) == pytest.approx(kwb.loc["GM0106", "population"], abs=1e-6)


def xr_band(pop):
    import xarray as xr

    return xr.DataArray(np.asarray(KWB_BAND_LABELS)[BAND_OF_AGE], dims="age", coords={"age": pop["age"]}, name="band")


def test_wijken_sum_to_gemeente_and_are_non_negative(assen_base):
    pop = assen_base.population
    assert (pop >= 0).all()
    wijken = pop.drop_sel(area="GM0106").sum("area")
    np.testing.assert_allclose(wijken.values, pop.sel(area="GM0106").values, atol=1e-6)
    assert pop.sizes["area"] == 11 and pop.sizes["age"] == 101


def test_2021_reproduces_the_postcode_five_year_bands(assen):
    base = estimate_base(assen, year=2021)
    gm = base.population.sel(area="GM0106")
    bands = assen.population_bands
    for sex in ("male", "female"):
        pc = bands[bands["sex"] == sex].sort_values("age_lo")
        ours = np.add.reduceat(gm.sel(sex=sex).values, pc["age_lo"].to_numpy(int))
        # each PC4 cell is rounded to 5 (error <= 2.5) and Assen has 14 PC4 areas; the raking to the
        # exact KWB bands and CBS sex totals moves each 5-year band by less than that
        assert np.max(np.abs(ours - pc["persons"].to_numpy(float))) <= 14 * 2.5


@pytest.mark.slow  # a second Assen base population: ~4 s CPU
def test_2024_uses_the_published_men_and_women_per_wijk(assen):
    base = estimate_base(assen, year=2024)
    res = base.residuals[(base.residuals["margin"] == "wijk_sex") & (base.residuals["year"] == 2024)]
    assert len(res) == 20
    # published men + women per wijk miss the wijk totals by rounding (Kloosterveen: 5,750 + 5,715 vs
    # 11,470) and the wijk men add up to 34,560 against 34,576 for the gemeente: reconciling both
    # moves no wijk's men or women by more than 0.5 %
    assert (res["adjustment"].abs() / res["published"]).max() < 0.005
    assert res["residual"].abs().max() < 1e-4  # persons


def test_to_frame_and_attrs(assen):
    pop = base_population(assen, year=2021)
    assert isinstance(pop.attrs["residuals"], pd.DataFrame)
    frame = estimate_base(assen, year=2021).to_frame()
    assert list(frame.columns) == ["area", "area_name", "sex", "age", "year", "persons"]
    assert frame.loc[frame["area"] == "WK010608", "area_name"].iloc[0] == "Kloosterveen"


@pytest.mark.slow
@pytest.mark.parametrize("gemeente", ["GM1680", "GM0114", "GM0118", "GM1690"])
def test_other_drenthe_gemeenten_without_special_casing(gemeente):
    data = load_gemeente(gemeente)
    base = estimate_base(data, year=2024)
    pop = base.population
    assert (pop >= 0).all()
    np.testing.assert_allclose(pop.drop_sel(area=gemeente).sum("area").values, pop.sel(area=gemeente).values, atol=1e-6)
    assert base.residuals["residual"].abs().max() < 1e-4


# ---------------------------------------------------------------- bad input


def _with_kwb(data, frame):
    from dataclasses import replace

    return replace(data, kwb=frame)


def test_missing_base_year(assen):
    with pytest.raises(MissingDataError, match=r"no age x sex table .* on or before 1 January 2019"):
        estimate_base(assen, year=2019)
    with pytest.raises(MissingDataError, match=r"no KWB table for Assen \(GM0106\) in 2025"):
        estimate_base(assen, year=2025)
    from dataclasses import replace

    formed_later = replace(assen, population_bands=assen.population_bands.iloc[0:0])
    with pytest.raises(MissingDataError, match=r"no age x sex table .* known on 1 January 2024: .* forecast the gemeenten it was formed from"):
        estimate_base(formed_later, year=2024)


def test_wijk_totals_that_do_not_add_up(assen):
    kwb = assen.kwb.copy()
    drop = (kwb["area"] == "WK010607") & (kwb["year"] == 2021)
    with pytest.raises(InvalidValueError, match=r"wijken of Assen \(GM0106\) add up to 56,890 persons.*a wijk is missing"):
        estimate_base(_with_kwb(assen, kwb[~drop]), year=2021)


def test_wijk_with_an_empty_band_is_named(assen):
    kwb = assen.kwb.copy()
    cell = (kwb["area"] == "WK010699") & (kwb["year"] == 2021)
    kwb.loc[cell, "age_65_plus"] = np.nan
    with pytest.raises(InvalidValueError, match=r"wijk WK010699 of Assen has no value for band 65\+.*set it to 0"):
        estimate_base(_with_kwb(assen, kwb), year=2021)


def test_wijk_with_a_zero_band_keeps_zero_and_others_absorb_it(assen):
    kwb = assen.kwb.copy()
    cell = (kwb["area"] == "WK010699") & (kwb["year"] == 2021)
    moved = float(kwb.loc[cell, "age_0_15"].iloc[0])
    kwb.loc[cell, "age_0_15"] = 0.0
    kwb.loc[cell, "population"] -= moved
    other = (kwb["area"] == "WK010608") & (kwb["year"] == 2021)
    kwb.loc[other, ["age_0_15", "population"]] += moved
    base = estimate_base(_with_kwb(assen, kwb), year=2021)
    assert float(base.population.sel(area="WK010699", age=slice(0, 14)).sum()) == 0.0


# --------------------------------------------------------------------------------------------
# raking the wijk seed: it stops where the margins stop improving (issue 20)
# --------------------------------------------------------------------------------------------


def _wijk_margins(seed: np.ndarray):
    """Consistent margins of a (wijk, sex, age) table: (wijk, band), (sex, age), (wijk, sex)."""
    bands = np.stack([seed[:, :, BAND_OF_AGE == b].sum(axis=(1, 2)) for b in range(BAND_OF_AGE.max() + 1)], axis=1)
    return bands, seed.sum(axis=0), seed.sum(axis=2)


def test_raking_stops_where_margins_that_disagree_by_rounding_stall():
    # Hand-made case of Assen 2024: the wijk margins add up to the gemeente's only to a few
    # millionths of a person (different CBS tables). Before, raking ran all 20,000 steps there.
    rng = np.random.default_rng(3)
    truth = rng.uniform(5, 60, size=(4, 2, BAND_OF_AGE.size))
    wijk_band, gemeente, wijk_sex = _wijk_margins(truth)
    wijk_band = wijk_band.copy()
    wijk_band[0, 2] += 3e-6  # a rounding-size disagreement no raking can close
    seed = truth * rng.uniform(0.8, 1.2, size=truth.shape)
    table, steps = _rake_wijken(seed, wijk_band, gemeente, wijk_sex, return_steps=True)
    assert steps < 200
    assert np.abs(_wijk_margins(table)[0] - wijk_band).max() < RAKE_STALL_PERSONS
    assert np.abs(table.sum(axis=0) - gemeente).max() < 1e-9
    # as good as running on: 2,000 more steps move no cell by more than a millionth of a person
    longer = _rake_wijken(table, wijk_band, gemeente, wijk_sex, smooth=False)
    assert np.abs(longer - table).max() < 1e-6


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6))
def test_raking_meets_consistent_margins_to_rounding(seed_value, wijken):
    rng = np.random.default_rng(seed_value)
    truth = rng.uniform(1, 80, size=(wijken, 2, BAND_OF_AGE.size))
    wijk_band, gemeente, wijk_sex = _wijk_margins(truth)
    seed = truth * rng.uniform(0.5, 1.5, size=truth.shape)
    table, steps = _rake_wijken(seed, wijk_band, gemeente, wijk_sex, return_steps=True)
    tolerance = 1e-8 * (1 + wijk_band.max())
    assert np.abs(_wijk_margins(table)[0] - wijk_band).max() < tolerance
    assert np.abs(table.sum(axis=2) - wijk_sex).max() < tolerance
    assert np.abs(table.sum(axis=0) - gemeente).max() < tolerance
    assert (table >= 0).all() and steps <= 20000

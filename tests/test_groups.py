"""groups.py: aandachtsgroepen per gemeente and wijk, taakstelling rule, regional key, urgency input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from products_helpers import assen_forecast

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError
from assen_demand.housing import groups
from assen_demand.inputs.datasets import load_gemeente

YEARS = list(range(2026, 2036))


@pytest.fixture(scope="module")
def kwb():
    return load_gemeente("GM0106").kwb


@pytest.fixture(scope="module")
def assen_groups(kwb):
    fc = assen_forecast()
    return groups.aandachtsgroepen(fc.population, care_need=fc.care_need, kwb=kwb, gemeente="GM0106")


def _toy_population(persons_per_age: float = 10.0):
    """A gemeente and two wijken of equal size: persons_per_age at every age 0-100, both sexes, 2025-2026."""
    areas, ages, years = ["GM0106", "WK010600", "WK010601"], np.arange(101), [2025, 2026]
    data = np.full((3, 2, 101, 2), persons_per_age)
    data[0] *= 2  # the gemeente is the sum of its two wijken
    return xr.DataArray(data, dims=("area", "sex", "age", "year"),
                        coords={"area": areas, "sex": ["male", "female"], "age": ages, "year": years})


def _toy_care(population):
    need = population.expand_dims(indicator=["dementia_at_home"]).transpose(..., "indicator") * 0.0
    # 10 more persons with dementia at home in 2026 than in 2025, in the gemeente (5 per wijk)
    need.loc[dict(indicator="dementia_at_home", sex="female", age=85, year=2026)] = [10.0, 5.0, 5.0]
    return need


def test_taakstelling_is_the_national_number_pro_rata_inhabitants():
    # hand-worked: 10,000 x 69,414 / 17,811,291 = 38.97 -> 39 (KWB 2023 Assen and NL)
    assert groups.taakstelling_share(10_000, 69_414, 17_811_291) == 39
    # half up: 2.5 -> 3
    assert groups.taakstelling_share(5, 50, 100) == 3
    with pytest.raises(InvalidValueError, match="national_population"):
        groups.taakstelling_share(10, 200, 100)
    with pytest.raises(InvalidValueError, match="national_persons"):
        groups.taakstelling_share(float("nan"), 1, 100)


def test_published_half_years_replace_the_rate_exactly(kwb):
    # A published gemeente number (two half-years of a year) is used as it is: persons / persons per household.
    pop = _toy_population()
    table = pd.DataFrame({"period": ["2026H1", "2026H2", "2025H1"], "national_persons": [9000, 9000, 9000],
                          "gemeente": ["GM0106"] * 3, "gemeente_persons": [31, 29, 40]})
    published = groups.published_taakstelling("GM0106", table)
    assert published.set_index("year")["persons"].to_dict() == {2025: 40.0, 2026: 60.0}
    ds = groups.aandachtsgroepen(pop, care_need=_toy_care(pop), kwb=kwb, gemeente="GM0106", taakstelling=published)
    per_household = groups.group_parameters().set_index("indicator").loc["vergunninghouders_persons_per_household", "value"]
    gm = ds["households"].sel(area="GM0106", group="vergunninghouders")
    assert float(gm.sel(year=2026)) == pytest.approx(60.0 / per_household)
    # 2025 has one half-year only: the rate stays (a half-year is not a year)
    rate = groups.group_parameters().set_index("indicator").loc["vergunninghouders", "value"]
    assert float(gm.sel(year=2025)) == pytest.approx(float(pop.sel(area="GM0106", year=2025).sum()) * rate / 1000
                                                     / per_household)
    assert groups.published_taakstelling("GM0106").empty  # the bundled table has no Assen row (annex not read)
    with pytest.raises(DataFormatError, match="2026H1"):
        groups.published_taakstelling("GM0106", table.assign(period=["2026-1", "2026H2", "2025H1"]))


def test_rates_times_the_band_population_hand_worked(kwb):
    # 10 persons per single age and sex in each wijk: 18-64 = 47 ages x 2 sexes x 10 = 940 persons per wijk
    pop = _toy_population()
    ds = groups.aandachtsgroepen(pop, care_need=_toy_care(pop), kwb=kwb, gemeente="GM0106")
    params = groups.group_parameters().set_index("indicator")
    for group, persons in (("dakloos", 940.0), ("detentie_uitstroom", 940.0), ("ggz_lvb_uitstroom", 940.0),
                           ("jeugdhulp_uitstroom", 9 * 2 * 10.0)):
        expected = persons * params.loc[group, "value"] / 1000.0
        assert float(ds["households"].sel(area="WK010600", group=group, year=2026)) == pytest.approx(expected), group
    # dementia: the yearly change of dementia at home x the 24-hour share (care_need is reused, not re-estimated)
    share = params.loc["dementie_24uurs_toezicht", "value"]
    assert float(ds["households"].sel(area="GM0106", group="dementie_24uurs_toezicht", year=2026)) == pytest.approx(10 * share)
    assert bool(ds["in_older_need"].sel(group="dementie_24uurs_toezicht"))


def test_regional_allocation_by_population_share():
    assert groups.regional_allocation(pd.Series({"GM0106": 69_700, "GM1680": 25_800}), "GM1680") == pytest.approx(
        25_800 / 95_500)
    with pytest.raises(UnknownAreaError):
        groups.regional_allocation(pd.Series({"A": 1.0}), "B")
    region = groups.load_region()
    assert set(region["gemeente"]) == {"GM0106", "GM1680", "GM1731", "GM1699", "GM1730"}
    assert (region["centrumgemeente"] == "GM0106").all()


def test_bw_mo_with_an_explicit_share_uses_the_region(kwb):
    pop = _toy_population()
    care = _toy_care(pop)
    by_pop = groups.aandachtsgroepen(pop, care_need=care, kwb=kwb, gemeente="GM0106")
    members = groups.load_region()["gemeente"]
    region = pd.Series({g: float(load_gemeente(g).kwb.query("area == @g and year == 2024")["population"].iloc[0])
                        for g in members})
    # the population key given explicitly gives the same numbers as the default
    same = groups.aandachtsgroepen(pop, care_need=care, kwb=kwb, gemeente="GM0106", region_population=region)
    xr.testing.assert_allclose(by_pop["households"].sel(group="bw_mo_uitstroom"),
                               same["households"].sel(group="bw_mo_uitstroom"))
    # a centrumgemeente key of 50 % instead of its population share (about 35 %) raises Assen's part by 0.5 / share
    half = groups.aandachtsgroepen(pop, care_need=care, kwb=kwb, gemeente="GM0106", region_population=region,
                                   bw_mo_share=0.5)
    ratio = half["households"].sel(group="bw_mo_uitstroom") / by_pop["households"].sel(group="bw_mo_uitstroom")
    np.testing.assert_allclose(ratio.values, 0.5 / groups.regional_allocation(region, "GM0106"))
    assert 0.3 < groups.regional_allocation(region, "GM0106") < 0.4
    with pytest.raises(InvalidValueError):
        groups.aandachtsgroepen(pop, care_need=care, kwb=kwb, gemeente="GM0106", region_population=region,
                                bw_mo_share=1.5)
    with pytest.raises(MissingDataError, match="region_population"):
        groups.aandachtsgroepen(pop, care_need=care, kwb=kwb, gemeente="GM0106", bw_mo_share=0.5)


def test_every_group_has_an_assen_number_for_every_programme_year(assen_groups):
    gm = assen_groups["households"].sel(area="GM0106", year=YEARS)
    assert list(gm["group"].values) == list(groups.GROUPS)
    assert np.isfinite(gm.values).all()
    assert (gm.drop_sel(group="dementie_24uurs_toezicht") > 0).all()
    assert set(assen_groups["status"].values) <= {"bekend", "geschat", "aanname"}
    assert set(assen_groups["dwelling_need"].values) <= set(groups.DWELLING_NEEDS)
    for source in assen_groups["source"].values:
        assert "http" in source or "no source found" in source
    # order of magnitude checked by hand: vergunninghouders 1.56 per 1000 x ~70,000 / 2 per home = ~55 a year
    assert 45 < float(gm.sel(group="vergunninghouders", year=2026)) < 65


def test_wijken_add_up_to_the_gemeente(assen_groups):
    hh = assen_groups["households"].sel(year=YEARS)
    wijken = hh.drop_sel(area="GM0106").sum("area")
    np.testing.assert_allclose(wijken.values, hh.sel(area="GM0106").values, rtol=1e-9, atol=1e-9)


def test_low_central_high_are_ordered(kwb):
    fc = assen_forecast()
    out = {v: groups.aandachtsgroepen(fc.population, care_need=fc.care_need, kwb=kwb, gemeente="GM0106", variant=v)
           ["households"].sel(area="GM0106", year=2030).drop_sel(group="dementie_24uurs_toezicht") for v in
           ("low", "central", "high")}
    assert (out["low"] <= out["central"]).all() and (out["central"] <= out["high"]).all()


def test_urgency_input_replaces_the_rate_and_bad_input_is_named(kwb):
    pop = _toy_population()
    urgency = groups.read_urgency(pd.DataFrame({"gemeente": ["GM0106", "GM0106"], "group": ["medisch", "sociaal"],
                                                "year": [2026, 2026], "households": [12, 8], "source": ["x", "x"]}))
    ds = groups.aandachtsgroepen(pop, care_need=_toy_care(pop), kwb=kwb, gemeente="GM0106", urgency=urgency)
    assert float(ds["households"].sel(area="GM0106", group="urgentie", year=2026)) == pytest.approx(20.0)
    # equal wijken get equal halves
    assert float(ds["households"].sel(area="WK010601", group="urgentie", year=2026)) == pytest.approx(10.0)
    assert str(ds["status"].sel(group="urgentie").values) == "bekend"
    template = groups.load_urgency_template()
    assert set(template["group"]) == set(groups.URGENCY_GROUPS)
    bad = template.copy()
    bad.loc[0, "households"] = -1
    with pytest.raises(InvalidValueError, match="line 2: households -1"):
        groups.read_urgency(bad)
    with pytest.raises(DataFormatError, match="group \\['acuut'\\] unknown"):
        groups.read_urgency(template.assign(group="acuut"))
    with pytest.raises(DataFormatError, match="two rows"):
        groups.read_urgency(pd.concat([template, template.iloc[:1]]))


def test_wijk_key_is_the_share_of_rented_homes(kwb):
    key = groups.rented_key(kwb, ["GM0106", "WK010600", "WK010601"], gemeente="GM0106", year=2024)
    rows = kwb[(kwb["year"] == 2024) & kwb["area"].isin(["WK010600", "WK010601"])].set_index("area")
    rented = rows["households"] * rows["rented_pct"]
    assert float(key.sel(area="WK010600")) == pytest.approx(rented["WK010600"] / rented.sum())
    assert float(key.sel(area="GM0106")) == 1.0

"""The data model: one definition of each label, grid and constant, checked against its source."""

from __future__ import annotations

import numpy as np
import pytest

from assen_demand import datamodel as dm
from assen_demand import parameters, scale, uncertainty
from assen_demand.demography import base, components, projection
from assen_demand.inputs import cbs


def test_sex_ratio_at_birth_matches_cbs_live_births(assen):
    # CBS StatLine 37259eng, the Netherlands, live-born children by sex 2012-2023 (bundled rows):
    # 1,052,227 boys and 1,001,438 girls, ratio 1.0507; the constant 1.05 is within 0.001 of it.
    nl = assen.national_dynamics
    nl = nl[(nl["area"] == "NL01") & nl["year"].between(2012, 2023)]
    births = nl.groupby("sex")["births"].sum()
    assert births["male"] == 1_052_227 and births["female"] == 1_001_438
    assert births["male"] / births["female"] == pytest.approx(dm.SEX_RATIO_AT_BIRTH, abs=1e-3)


def test_kwb_band_edges_labels_and_band_of_age_agree():
    assert len(dm.KWB_BANDS) == len(dm.KWB_BAND_LABELS) == dm.KWB_BAND_EDGES.size - 1
    for (lo, hi), label, edge_lo, edge_hi in zip(dm.KWB_BANDS, dm.KWB_BAND_LABELS, dm.KWB_BAND_EDGES[:-1],
                                                 dm.KWB_BAND_EDGES[1:]):
        assert lo == edge_lo and (hi if hi is not None else dm.MAX_AGE + 1) == edge_hi
        assert label.startswith(str(lo))
    band = dm.kwb_band_of_age()
    assert band.shape == dm.AGES.shape and band[0] == 0 and band[-1] == len(dm.KWB_BANDS) - 1
    assert np.all(np.diff(band) >= 0) and np.bincount(band).tolist() == [15, 10, 20, 20, 36]


def test_the_old_names_are_the_one_definition():
    # every module that had its own copy now re-exports the data model's object
    assert components.SEXES is dm.SEXES and base.SEXES is dm.SEXES and projection.SEXES is dm.SEXES
    assert parameters.SEXES is dm.SEXES and parameters.AGES == tuple(dm.AGES.tolist())
    assert components.AGES is dm.AGES and base.AGES is dm.AGES and components.MAX_AGE == dm.MAX_AGE
    assert components.SEX_RATIO_AT_BIRTH is dm.SEX_RATIO_AT_BIRTH
    assert projection.ProjectionInputs.__dataclass_fields__["sex_ratio_at_birth"].default is dm.SEX_RATIO_AT_BIRTH
    assert cbs.KWB_BANDS is dm.KWB_BANDS and cbs.KWB_BAND_LABELS is dm.KWB_BAND_LABELS
    assert uncertainty.QUANTILES is dm.QUANTILES and scale.QUANTILES is dm.QUANTILES
    assert uncertainty.quantile_name is dm.quantile_name


def test_check_population_names_the_cell_and_the_fix():
    import xarray as xr

    from assen_demand.errors import DataFormatError, InvalidValueError

    pop = xr.DataArray(np.ones((1, 2, 101, 1)), dims=dm.POPULATION_DIMS,
                       coords={"area": ["GM0106"], "sex": list(dm.SEXES), "age": dm.AGES, "year": [2024]})
    assert dm.check_population(pop.transpose("year", "age", "sex", "area")).dims == dm.POPULATION_DIMS
    with pytest.raises(InvalidValueError, match="negative at area=GM0106, sex=female, age=7, year=2024"):
        dm.check_population(pop.where(~((pop.sex == "female") & (pop.age == 7)), -1.0))
    with pytest.raises(DataFormatError, match="lacks dimension"):
        dm.check_population(pop.isel(year=0, drop=True))
    with pytest.raises(InvalidValueError, match="outside \\[0, 1\\]"):
        dm.check_share(pop * 2, name="share")

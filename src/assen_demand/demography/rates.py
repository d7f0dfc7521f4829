"""Shared helpers of the component estimators: checks, the observed window, age shapes.

Used by :mod:`~assen_demand.demography.mortality`, :mod:`~assen_demand.demography.fertility`,
:mod:`~assen_demand.demography.migration` and :mod:`~assen_demand.demography.components`:

* :class:`ComponentsWarning`, the warning of a documented fallback in any of them;
* input checks that name the problem and the fix (:func:`check_finite_nonneg`,
  :func:`check_sex_coord`, :func:`check_single_ages`);
* the observed window of CBS 37259 (StatLine 37259, population dynamics by sex and year):
  :func:`window_years`, :func:`mid_year_population`, :func:`observed_counts`;
* age structures: :func:`age_shape` (shares by age within each sex) and :func:`split_bands`
  (band totals spread over single ages with a shape).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import SEXES
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError

__all__ = [
    "ComponentsWarning",
    "check_finite_nonneg",
    "check_sex_coord",
    "check_single_ages",
    "window_years",
    "mid_year_population",
    "observed_counts",
    "age_shape",
    "split_bands",
]


class ComponentsWarning(UserWarning):
    """A component was estimated with a documented fallback or from inconsistent input rows."""


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def check_finite_nonneg(values: np.ndarray, what: str, fix: str) -> None:
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():
        raise InvalidValueError(f"{what} contains NaN ({int(np.isnan(values).sum())} cells); {fix}")
    if (values < 0).any():
        raise InvalidValueError(f"{what} contains negative values (min {values.min():.4g}); {fix}")


def check_sex_coord(da: xr.DataArray | xr.Dataset, what: str) -> None:
    if "sex" not in da.coords:
        return
    labels = np.atleast_1d(da["sex"].values).tolist()
    unknown = [s for s in labels if s not in SEXES]
    if unknown:
        raise DataFormatError(
            f"{what} has unknown sex label(s) {unknown}; use 'male' and 'female' "
            "(the projection has no 'total' sex: compute each sex and add)"
        )


def check_single_ages(ages: np.ndarray, what: str) -> None:
    ages = np.asarray(ages)
    if ages.size < 2 or ages[0] != 0 or not np.array_equal(ages, np.arange(ages.size)):
        raise DataFormatError(
            f"{what}: ages must be consecutive single years 0, 1, ..., with the last one open "
            f"(got {ages[:5].tolist()}...{ages[-2:].tolist()}); reindex the age coordinate"
        )



# --------------------------------------------------------------------------------------------
# the observed window of CBS 37259 (gemeente or national dynamics)
# --------------------------------------------------------------------------------------------


def window_years(dyn: pd.DataFrame, column: str, base_year: int, n_years: int, what: str) -> list[int]:
    rows = dyn[(dyn["year"] < base_year) & dyn[column].notna()]
    years = sorted(int(y) for y in rows["year"].unique())[-n_years:]
    if not years:
        raise MissingDataError(
            f"{what}: no {column} in CBS 37259 for years before {base_year}; choose a base year after the "
            "first year with flows (2012 for the 37259eng files)"
        )
    return years


def mid_year_population(dyn: pd.DataFrame, years: Sequence[int]) -> xr.DataArray:
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["year"].isin(years)].copy()
    end = rows["population_dec31"].where(rows["population_dec31"].notna(), rows["population_jan1"])
    rows["mid"] = (rows["population_jan1"].astype(float) + end.astype(float)) / 2.0
    da = rows.set_index(["sex", "year"])["mid"].to_xarray().reindex(sex=list(SEXES), year=list(years))
    if da.isnull().any():
        raise MissingDataError("CBS 37259: a 1 January population is missing for a sex in the window years")
    return da


def observed_counts(dyn: pd.DataFrame, column: str, years: Sequence[int]) -> xr.DataArray:
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["year"].isin(years)]
    da = rows.set_index(["sex", "year"])[column].astype(float).to_xarray().reindex(sex=list(SEXES), year=list(years))
    if da.isnull().any():
        raise MissingDataError(f"CBS 37259: {column} is missing for a sex in years {list(years)}")
    check_finite_nonneg(da.values, f"CBS 37259 {column}", "fix the dynamics table")
    return da


def age_shape(population: xr.DataArray) -> xr.DataArray:
    total = population.sum("age")
    if (total <= 0).any():
        raise InvalidValueError("population by age sums to zero for a sex; cannot use it as an age structure")
    return population / total


def split_bands(band_totals: np.ndarray, band_index: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(area, band) totals -> (area, sex, age) using a (sex, age) within-band shape."""
    per_band = np.zeros(band_totals.shape[-1])
    np.add.at(per_band, band_index, shape.sum(axis=0))
    frac = shape / per_band[band_index][None, :]
    return band_totals[:, None, band_index] * frac[None, :, :]

"""The housing chain, wired once: population -> households -> care -> need (-> stock -> opgave).

:func:`run_housing_chain` is the only place these steps are put together. The deterministic
forecast (:func:`assen_demand.pipeline.forecast`), the Monte Carlo draws
(:func:`assen_demand.uncertainty.simulate_forecast`, per chunk of draws) and the national runs
(:func:`assen_demand.scale.national_forecast`, through ``forecast``) all call it with one
:class:`~assen_demand.parameters.ParameterSet`; for draws the set carries a parameter sampler as
its variant (:meth:`~assen_demand.parameters.ParameterSet.with_variant`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import xarray as xr

from assen_demand.datamodel import check_population
from assen_demand.housing import care as care_step
from assen_demand.housing import dwellings as dwellings_step
from assen_demand.housing import households as households_step
from assen_demand.housing import need as need_step
from assen_demand.parameters import ParameterSet, resolve_parameters

__all__ = ["HousingChain", "run_housing_chain"]


@dataclass(frozen=True, eq=False)
class HousingChain:
    """Results of one run of the housing chain.

    Attributes
    ----------
    households : xarray.Dataset (area, sex, age, year[, draw])
        :func:`assen_demand.housing.households.households`.
    care_need : xarray.DataArray (area, sex, age, year, indicator[, draw]) [persons]
        :func:`assen_demand.housing.care.care_need`.
    need : xarray.Dataset (area, dwelling_type, year[, draw])
        ``care``, ``preference``, ``total`` [households / places]
        (:func:`assen_demand.housing.need.dwelling_need_parts`); gemeente = sum of wijken.
    doorstroming : xarray.DataArray (area, year[, draw]) [family homes freed per year]
    mantelzorg : xarray.Dataset (area, year) or None
        Informal-care indicators (deterministic runs only).
    stock, opgave : xarray.Dataset or None
        Existing stock per type and the opgave (need - stock - planned), when the stock and
        opgave steps are available (``assen_demand.housing.stock`` / ``.opgave``).
    parameters : ParameterSet
        The set used.
    """

    households: xr.Dataset
    care_need: xr.DataArray
    need: xr.Dataset
    doorstroming: xr.DataArray
    mantelzorg: xr.Dataset | None
    parameters: ParameterSet
    stock: xr.Dataset | None = None
    opgave: xr.Dataset | None = None


def run_housing_chain(
    population: xr.DataArray,
    *,
    parameters: ParameterSet | None = None,
    one_person_households=None,
    base_year: int | None = None,
    institutional_multiplier: xr.DataArray | float | None = None,
    prevalence_trend: Mapping[str, float] | None = None,
    trend_start: int | None = None,
    unusable_targets: str = "report",
    informal_care: bool = True,
) -> HousingChain:
    """Population -> households -> care need -> dwelling need (care + preference).

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Population on 1 January.
    parameters : ParameterSet, optional, keyword-only
        Every parameter table and the variant (or a sampler for draws); default
        ``ParameterSet.bundled()``.
    one_person_households : pandas.Series (area), optional, keyword-only [households]
        Base-year one-person households for the living-alone calibration.
    base_year : int, optional, keyword-only [year]
        Year of ``one_person_households``.
    institutional_multiplier : float or xarray.DataArray (year[, draw]), optional, keyword-only [1]
        Extramuralisation factor on the institutional shares; it reaches the Wlz clients with
        stay through the institutional population (one place).
    prevalence_trend : mapping, optional, keyword-only [relative change per year]
        See :func:`assen_demand.housing.care.care_need`.
    trend_start : int, optional, keyword-only [year]
    unusable_targets : {"raise", "report"}, keyword-only
        See :func:`assen_demand.housing.households.households`.
    informal_care : bool, keyword-only
        Also compute the mantelzorg indicators.

    Returns
    -------
    HousingChain
    """
    population = check_population(population)
    params = resolve_parameters(parameters)
    hh = households_step.households(
        population, parameters=params, one_person_households=one_person_households,
        base_year=base_year if one_person_households is not None else None,
        institutional_multiplier=institutional_multiplier, unusable_targets=unusable_targets,
    )
    care = care_step.care_need(
        population, parameters=params, private_population=hh["private"], prevalence_trend=prevalence_trend,
        trend_start=trend_start,
    )
    need = need_step.dwelling_need_parts(care, hh, parameters=params)
    # Stock and opgave are not computed here: the stock needs inputs (KWB dwelling stock, tenure,
    # a gemeente's register, the pipeline) that a step must not read, so pipeline.stock_and_opgave
    # applies them once to this need (the central run and every draw).
    stock = opgave = None
    return HousingChain(
        households=hh,
        care_need=care,
        need=need,
        doorstroming=dwellings_step.doorstroming(hh, parameters=params),
        mantelzorg=dwellings_step.informal_care(population, care) if informal_care else None,
        parameters=params,
        stock=stock,
        opgave=opgave,
    )

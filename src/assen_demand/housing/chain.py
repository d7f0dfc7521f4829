"""The housing chain, wired once: population -> households -> care -> need -> stock -> opgave.

:func:`run_housing_chain` is the only place these steps are put together. The deterministic
forecast (:func:`assen_demand.pipeline.forecast`), the Monte Carlo draws
(:func:`assen_demand.uncertainty.simulate_forecast`, per chunk of draws) and the national runs
(:func:`assen_demand.scale.national_forecast`, through ``forecast``) all call it with one
:class:`~assen_demand.parameters.ParameterSet`; for draws the set carries a parameter sampler as
its variant (:meth:`~assen_demand.parameters.ParameterSet.with_variant`). The stock inputs (KWB
dwelling stock, tenure, a gemeente's register, the pipeline) travel as data in a
:class:`~assen_demand.housing.stock.StockInputs`; the chain never reads files.
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
from assen_demand.housing import opgave as opgave_step
from assen_demand.housing import stock as stock_step
from assen_demand.parameters import ParameterSet, resolve_parameters

__all__ = ["HousingChain", "run_housing_chain", "stock_and_opgave"]


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
    stock : xarray.Dataset (area, dwelling_type) or None
        Base-year stock per type (:func:`assen_demand.housing.stock.estimate_stock`, register rows
        applied), when ``stock_inputs`` were given.
    opgave : xarray.Dataset (area, dwelling_type, year[, draw]) or None
        :func:`assen_demand.housing.opgave.compute_opgave` of ``need["total"]`` (calibrated with
        the cited base-year backlog), when ``stock_inputs`` were given.
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
    stock_inputs: stock_step.StockInputs | None = None,
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
    stock_inputs : assen_demand.housing.stock.StockInputs, optional, keyword-only
        Data for the stock and opgave steps; ``None``: no stock and no opgave.

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
    stock = opgave = None
    if stock_inputs is not None:
        stock, opgave = stock_and_opgave(population, need["total"], stock_inputs, parameters=params)
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


def stock_and_opgave(population: xr.DataArray, need_total: xr.DataArray, inputs: stock_step.StockInputs, *,
                     parameters: ParameterSet | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """Stock (estimated, register rows applied) and the calibrated opgave of a need.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        The population the need was computed on (its years are the opgave's years).
    need_total : xarray.DataArray (area, dwelling_type, year[, draw]) [dwellings or places]
    inputs : StockInputs
        The stock is estimated from ``inputs.population`` when given (one central stock for
        every draw), else from ``population`` (which must then have no ``draw``).
    parameters : ParameterSet, optional
        For the programme norm (``programme_share_2030``).

    Returns
    -------
    (xarray.Dataset, xarray.Dataset)
        The base-year stock and the opgave.
    """
    params = resolve_parameters(parameters)
    central = inputs.population if inputs.population is not None else population
    estimate = stock_step.estimate_stock(central, inputs.dwelling_stock, inputs.tenure, gemeente=inputs.gemeente,
                                         base_year=inputs.base_year, shares=inputs.shares)
    if inputs.register is not None:
        estimate = stock_step.apply_register(estimate, inputs.register)
    years = [int(y) for y in population["year"].values]
    stock_years = stock_step.stock_by_year(estimate, inputs.pipeline, years, shares=inputs.shares)
    backlog = stock_step.estimate_backlog(central, gemeente=inputs.gemeente, base_year=inputs.base_year,
                                          shares=inputs.shares)
    norm = dwellings_step.norm_model(central, parameters=params.with_variant("central")
                                     if not isinstance(params.variant, str) else params)
    return estimate, opgave_step.compute_opgave(need_total, stock_years, backlog=backlog, norm=norm,
                                                gemeente=inputs.gemeente)

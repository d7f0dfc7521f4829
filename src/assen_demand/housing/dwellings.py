"""Care need + households -> dwellings needed by type; supply, gap, doorstroming, mantelzorg.

Dwelling types (national definitions, VERA typology as used in the CBS monitoring of housing
for older people):

``nultredenwoning``  zero-step dwelling (all rooms reachable without stairs);
``geclusterd``       VERA GEC: >= 12 independent units, indoor meeting room, zero-step, >= 50% for 55+;
``zorggeschikt``     VERA ZWO: independent dwelling where 24-hour (Wlz-level) care can be given;
``verpleegzorgplek`` a place in Wlz care with stay (nursing home);
``begeleid_wonen``   a supported-living unit for young people (18-29).

Two methods, both per area x dwelling_type x year:

``need``  the total need of :mod:`assen_demand.housing.need` (care-driven + preference,
          households with at least one member with a profile); this is the *stock* needed.
``norm``  national programme targets 2022-2030 per 1,000 residents aged 65+ in 2030
          (``dwelling_norms.csv``) x the area's 65+ residents; this is the area's proportional
          share of the national *construction* programme, not a stock, so its gap is not defined
          (NaN) and types without a national norm are NaN.

Supply comes from a CSV ``area, dwelling_type, year, units, status[, source, note]``; what it
does not list stays unknown (NaN), never zero, and ``gap = need - supply`` only where supply is
given.
"""

from __future__ import annotations

from importlib.resources import files
from os import PathLike

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import DWELLING_TYPES, check_population, tidy
from assen_demand.housing.care import care_need
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError
from assen_demand.housing.households import households as households_fn
from assen_demand.housing.need import dwelling_need_parts
from assen_demand.parameters import STATUSES, ParameterSet, resolve_parameters
from assen_demand.inputs import validation

__all__ = [
    "DWELLING_TYPES",
    "PROFILES",
    "care_profiles",
    "need_model",
    "norm_model",
    "read_supply",
    "load_example_supply",
    "supply_array",
    "dwelling_need",
    "doorstroming",
    "informal_care",
    "to_frame",
]

PROFILES = ("wlz_vv_intramural", "wlz_vv_at_home", "adl_not_vv", "mobility_not_adl", "young_support_need")
# Profiles counted per person (a place or an individual unit) rather than per household.
_PERSON_BASED = {"wlz_vv_intramural", "young_support_need"}
_SUPPLY_COLUMNS = ("area", "dwelling_type", "year", "units", "status")
#: units of one supply row above this are an input error: Amsterdam, the largest gemeente, had
#: 882,633 inhabitants on 31 December 2021 (CBS 37259eng, PopulationOn31December,
#: https://opendata.cbs.nl/statline/#/CBS/en/dataset/37259eng/table; shared/data/raw copy);
#: the forecast also checks each row against its own area's population (pipeline.forecast).
SUPPLY_UNITS_LIMIT = 1_000_000


def _check_types(types, *, where: str) -> None:
    unknown = sorted(set(map(str, types)) - set(DWELLING_TYPES))
    if unknown:
        raise DataFormatError(
            f"{where}: unknown dwelling type(s) {unknown}; use one of {', '.join(DWELLING_TYPES)}"
        )


def care_profiles(need: xr.DataArray) -> xr.DataArray:
    """Disjoint care profiles of persons, so no one is counted for two dwellings.

    Parameters
    ----------
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`assen_demand.housing.care.care_need`.

    Returns
    -------
    xarray.DataArray (area, sex, age, year, profile) [persons]
        ``wlz_vv_intramural``; ``wlz_vv_at_home``; ``adl_not_vv`` = ADL-limited minus VV at
        home (floored at 0); ``mobility_not_adl`` = mobility-limited minus ADL-limited (floored
        at 0); ``young_support_need``.
    """
    ind = need.sel
    layers = {
        "wlz_vv_intramural": ind(indicator="wlz_vv_intramural", drop=True),
        "wlz_vv_at_home": ind(indicator="wlz_vv_at_home", drop=True),
        # Wlz-level clients at home mostly have ADL limitations too, hence the subtraction.
        "adl_not_vv": (ind(indicator="adl_limitation", drop=True) - ind(indicator="wlz_vv_at_home", drop=True)).clip(min=0),
        "mobility_not_adl": (ind(indicator="mobility_limitation", drop=True) - ind(indicator="adl_limitation", drop=True)).clip(min=0),
        "young_support_need": ind(indicator="young_support_need", drop=True),
    }
    out = xr.concat([layers[p] for p in PROFILES], dim="profile").assign_coords(profile=list(PROFILES))
    return out.transpose(..., "area", "sex", "age", "year", "profile")


def need_model(need: xr.DataArray, households: xr.Dataset, *, variant: str = "central",
               parameters: ParameterSet | None = None) -> xr.DataArray:
    """Dwellings needed by type: the ``total`` of :func:`assen_demand.housing.need.dwelling_need_parts`.

    Parameters
    ----------
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`assen_demand.housing.care.care_need`.
    households : xarray.Dataset
        Output of :func:`assen_demand.housing.households.households` for the same population.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant (ignored when ``parameters`` is given).
    parameters : ParameterSet, optional, keyword-only

    Returns
    -------
    xarray.DataArray (area, dwelling_type, year) [dwellings or places]
    """
    out = dwelling_need_parts(need, households, parameters=resolve_parameters(parameters, variant))["total"]
    out.name = "need"
    return out


def norm_model(population: xr.DataArray, *, variant: str = "central",
               parameters: ParameterSet | None = None) -> xr.DataArray:
    """Area share of the national 2022-2030 programme, from norms per 1,000 residents.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Population on 1 January.
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant of ``dwelling_norms.csv``.

    Returns
    -------
    xarray.DataArray (area, dwelling_type, year) [dwellings]
        NaN for types without a national norm (verpleegzorgplek, begeleid_wonen).
    """
    population = check_population(population)
    params = resolve_parameters(parameters, variant)
    table = params.table("dwelling_norms")
    _check_types(table["dwelling_type"].unique(), where="dwelling_norms.csv")
    result = []
    for dtype in DWELLING_TYPES:
        rows = table[table["dwelling_type"] == dtype]
        if rows.empty:
            result.append(xr.full_like(population.sum(["sex", "age"]), np.nan, dtype=float))
            continue
        # per-age norm (0 outside the norm's age band) so that a parameter sampler can give one per draw
        norm = params.banded("dwelling_norms", indicator="norm", dwelling_type=dtype,
                             fill=0.0).sel(sex=population["sex"], age=population["age"])
        result.append(xr.dot(population, norm, dim=["sex", "age"]) / 1000.0)
    out = xr.concat(result, dim="dwelling_type").assign_coords(dwelling_type=list(DWELLING_TYPES))
    out.name = "need"
    return out.transpose("area", "dwelling_type", "year", ...)


def read_supply(source: str | PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a supply table.

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV with columns ``area, dwelling_type, year, units, status`` (``source``, ``note``
        optional); status ``bekend``, ``geschat`` or ``aanname``.

    Returns
    -------
    pandas.DataFrame
        The checked table.

    Raises
    ------
    DataFormatError
        Missing columns, unknown dwelling type or status, duplicate rows.
    InvalidValueError
        Units NaN or negative.
    """

    if isinstance(source, pd.DataFrame):
        frame, label = source.copy(), "supply table"
    else:
        label = f"supply file {Path(source).name}"
        frame = validation.read_csv(source, what=f"a supply table ({', '.join(_SUPPLY_COLUMNS)})",
                                    dtype={"area": str, "year": str})
    missing = [c for c in _SUPPLY_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{label} lacks column(s) {missing}; it needs {', '.join(_SUPPLY_COLUMNS)}")
    years = validation.check_whole_years(frame, "year", source=label, labels=["area", "dwelling_type"])
    _check_types(frame["dwelling_type"].unique(), where="supply table")
    bad_status = sorted(set(frame["status"]) - set(STATUSES))
    if bad_status:
        raise DataFormatError(f"{label}: status {bad_status} unknown; use bekend, geschat or aanname "
                              "(known -> bekend, assumed -> aanname)")
    frame["units"] = validation.check_counts(
        frame, "units", source=label, labels=["area", "dwelling_type", "year"],
        fix="leave the row out when supply is unknown (it then stays NaN), never write 0 for unknown")
    # inf or 1e300 units would pass as 'not negative' and swamp every gap
    validation.check_finite_range(frame, "units", source=label, labels=["area", "dwelling_type", "year"],
                                  high=SUPPLY_UNITS_LIMIT, reason="more than the largest Dutch gemeente has inhabitants")
    frame["year"] = years.astype(int)
    frame["area"] = frame["area"].astype(str)
    dup = frame.duplicated(["area", "dwelling_type", "year"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise DataFormatError(
            f"{label}: two rows for {r['area']}, {r['dwelling_type']}, {r['year']}; sum them into one row"
        )
    return frame


def load_example_supply() -> pd.DataFrame:
    """The bundled example of publicly known supply in Assen (``data/supply/assen_supply_example.csv``).

    Returns
    -------
    pandas.DataFrame
        Checked supply table; most rows are lower bounds marked ``assumed`` (see the notes).
    """
    path = files("assen_demand").joinpath("data", "supply", "assen_supply_example.csv")
    with path.open("r", encoding="utf-8") as handle:
        return read_supply(pd.read_csv(handle))


def supply_array(
    supply: pd.DataFrame, *, areas, years, carry_forward: bool = False
) -> tuple[xr.DataArray, xr.DataArray]:
    """Supply as arrays aligned to the need, NaN where not known.

    Parameters
    ----------
    supply : pandas.DataFrame
        Output of :func:`read_supply`.
    areas : sequence of str, keyword-only
        Area codes of the result.
    years : sequence of int, keyword-only [year]
        Years of the result.
    carry_forward : bool, keyword-only
        Carry the last listed value forward to later years (marked ``assumed``).

    Returns
    -------
    (units, status) : tuple of xarray.DataArray (area, dwelling_type, year)
        ``units`` [dwellings or places], NaN where unknown; ``status`` "bekend"/"geschat"/"aanname"/"".

    Raises
    ------
    UnknownAreaError
        If the supply names an area that is not in ``areas``.
    """
    areas = [str(a) for a in areas]
    years = [int(y) for y in years]
    unknown = sorted(set(supply["area"]) - set(areas))
    if unknown:
        raise UnknownAreaError(f"supply lists area(s) {unknown} that are not in the population; known: {areas}")
    units = np.full((len(areas), len(DWELLING_TYPES), len(years)), np.nan)
    status = np.full(units.shape, "", dtype=object)
    for (area, dtype), rows in supply.groupby(["area", "dwelling_type"]):
        rows = rows.sort_values("year")
        ai, ti = areas.index(area), DWELLING_TYPES.index(dtype)
        for yi, year in enumerate(years):
            exact = rows[rows["year"] == year]
            if not exact.empty:
                units[ai, ti, yi] = exact["units"].iloc[0]
                status[ai, ti, yi] = exact["status"].iloc[0]
            elif carry_forward and (rows["year"] < year).any():
                units[ai, ti, yi] = rows[rows["year"] < year]["units"].iloc[-1]
                status[ai, ti, yi] = "aanname"
    coords = {"area": areas, "dwelling_type": list(DWELLING_TYPES), "year": years}
    dims = ("area", "dwelling_type", "year")
    return (xr.DataArray(units, dims=dims, coords=coords, name="supply"),
            xr.DataArray(status.astype(str), dims=dims, coords=coords, name="supply_status"))


def dwelling_need(
    population: xr.DataArray,
    *,
    variant: str = "central",
    supply: pd.DataFrame | None = None,
    carry_forward_supply: bool = False,
    one_person_households=None,
    base_year: int | None = None,
    households: xr.Dataset | None = None,
    need: xr.DataArray | None = None,
    need_total: xr.DataArray | None = None,
    parameters: ParameterSet | None = None,
) -> xr.Dataset:
    """The whole chain: population -> households -> care need -> dwellings, supply and gap.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant used throughout.
    supply : pandas.DataFrame, optional, keyword-only
        Supply table (:func:`read_supply`); without it supply is all NaN.
    carry_forward_supply : bool, keyword-only
        See :func:`supply_array`.
    one_person_households : pandas.Series (area), optional, keyword-only [households]
        Base-year one-person households for the living-alone calibration.
    base_year : int, optional, keyword-only [year]
        Year of ``one_person_households``.
    households : xarray.Dataset, optional, keyword-only
        :func:`assen_demand.housing.households.households` of ``population`` when already computed.
    need : xarray.DataArray (area, sex, age, year, indicator), optional, keyword-only [persons]
        :func:`assen_demand.housing.care.care_need` of ``population`` when already computed.
    need_total : xarray.DataArray (area, dwelling_type, year), optional, keyword-only [dwellings]
        The total need when already computed (``HousingChain.need["total"]``).
    parameters : ParameterSet, optional, keyword-only
        Parameter tables and variant (then ``variant`` is ignored).

    Returns
    -------
    xarray.Dataset (area, dwelling_type, year, model)
        ``need`` [dwellings], ``supply`` [dwellings, NaN unknown], ``gap`` = need - supply
        (NaN where supply is unknown, and for the norm model), ``supply_status``.
        Select a model with ``ds.sel(model="need")`` (need model) or ``model="norm"`` (norm model).
    """
    population = check_population(population)
    params = resolve_parameters(parameters, variant)
    if need_total is None:
        hh = households if households is not None else households_fn(
            population, parameters=params, one_person_households=one_person_households, base_year=base_year
        )
        need = need if need is not None else care_need(population, parameters=params, private_population=hh["private"])
        need_total = need_model(need, hh, parameters=params)
    by_need = need_total.rename("need")
    by_norm = norm_model(population, parameters=params)
    needs = xr.concat([by_need, by_norm], dim="model").assign_coords(model=["need", "norm"])
    if supply is None:
        supply = pd.DataFrame(columns=list(_SUPPLY_COLUMNS))
    else:
        supply = read_supply(supply)
    units, status = supply_array(
        supply, areas=population["area"].values, years=population["year"].values, carry_forward=carry_forward_supply
    )
    units_b = units.broadcast_like(needs)
    gap = (needs - units_b).where(needs["model"] == "need")
    return xr.Dataset(
        {"need": needs.transpose("area", "dwelling_type", "year", "model", ...),
         "supply": units_b.transpose("area", "dwelling_type", "year", "model", ...),
         "gap": gap.transpose("area", "dwelling_type", "year", "model", ...),
         "supply_status": status},
        attrs={"variant": str(params.variant),
               "norm_method": "share of the national 2022-2030 programme (an increment, not a stock); gap not defined"},
    )


def doorstroming(
    households: xr.Dataset,
    *,
    variant: str = "central",
    family_home_share: float | xr.DataArray | None = None,
    parameters: ParameterSet | None = None,
) -> xr.DataArray:
    """Family homes freed per year by older households moving to a suitable or clustered home.

    Parameters
    ----------
    households : xarray.Dataset
        Output of :func:`assen_demand.housing.households.households` (uses ``households``).
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant of ``moving_rates.csv``.
    family_home_share : float or xarray.DataArray (area[, age]), optional, keyword-only [share of households]
        Share of older households living in a family home; defaults to the national assumption
        in ``moving_rates.csv`` by age.

    Returns
    -------
    xarray.DataArray (area, year) [family homes per year]
        Households by age of their members (position-based) x share in a family home x the
        yearly moving rate to a suitable home, summed over sex and age 55+.
    """
    params = resolve_parameters(parameters, variant)
    hh = households["households"]
    rate = params.banded("moving_rates", indicator="move_rate_family_to_suitable",
                         fill=0.0).sel(sex=hh["sex"], age=hh["age"])
    if family_home_share is None:
        share = params.banded("moving_rates", indicator="family_home_share",
                              fill=0.0).sel(sex=hh["sex"], age=hh["age"])
    else:
        share = xr.DataArray(family_home_share) if np.isscalar(family_home_share) else family_home_share
        values = np.asarray(share.values, dtype=float)
        if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
            raise InvalidValueError("family_home_share must be a share in [0, 1] without NaN; give 0.55 for 55%")
        # A user share applies to the older ages only, as the default does.
        share = share * (hh["age"] >= 55)
    out = (hh * share * rate).sum(["sex", "age"], skipna=False)
    out.name = "family_homes_freed"
    out.attrs = {"unit": "family homes per year", "variant": str(params.variant)}
    return out.transpose("area", "year", ...)


def informal_care(population: xr.DataArray, need: xr.DataArray) -> xr.Dataset:
    """Mantelzorg indicators per area and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January.
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`assen_demand.housing.care.care_need` for the same population.

    Returns
    -------
    xarray.Dataset (area, year)
        ``carers_per_85plus`` = persons 50-74 per person 85+ [ratio] (the mantelzorgpotentieel
        used by the NZa Monitor Ouderenzorg); ``need_per_carer`` = persons with a care need
        living at home (VV at home + ADL-limited without VV, the disjoint profiles) per person
        50-74 [ratio]. NaN where the denominator is 0.
    """
    population = check_population(population)
    age = population["age"]
    carers = population.where((age >= 50) & (age < 75), 0).sum(["sex", "age"])
    oldest = population.where(age >= 85, 0).sum(["sex", "age"])
    profiles = care_profiles(need)
    at_home = profiles.sel(profile=["wlz_vv_at_home", "adl_not_vv"]).sum(["profile", "sex", "age"])
    return xr.Dataset({
        "carers_per_85plus": carers / oldest.where(oldest > 0),
        "need_per_carer": at_home / carers.where(carers > 0),
    })


def to_frame(result: xr.Dataset | xr.DataArray) -> pd.DataFrame:
    """Tidy table of a dwellings result.

    Parameters
    ----------
    result : xarray.Dataset or xarray.DataArray
        Output of :func:`dwelling_need`, :func:`need_model`, :func:`doorstroming` or
        :func:`informal_care`.

    Returns
    -------
    pandas.DataFrame
        One row per combination of the dimensions (``area, dwelling_type, year, model`` for
        :func:`dwelling_need`) with one column per variable.
    """
    frame = tidy(result)
    first = [c for c in ("area", "dwelling_type", "model", "year") if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]

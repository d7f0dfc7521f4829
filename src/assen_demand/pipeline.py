"""The steps run in order: inputs -> base population -> components -> projection.

This is the glue behind the public entry points :func:`project_population` (and later
``forecast``): it calls each step module with the output of the one before and keeps
everything it produced, so every number can be traced back. No formula lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from assen_demand.base import BasePopulation, estimate_base
from assen_demand.components import Components, estimate_components
from assen_demand.datasets import GemeenteData, load_gemeente
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.projection import ProjectionReport, project

__all__ = ["Forecast", "PopulationProjection", "forecast", "project_population", "default_base_year"]


@dataclass(frozen=True)
class PopulationProjection:
    """A projected population with everything that produced it.

    Attributes
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        1 January of each year from the base year to the end year; the gemeente first, then its
        wijken, which add up to the gemeente by sex, age and year.
    gemeente : str
    base : BasePopulation
        The base population and its residuals table.
    components : Components
        Mortality, fertility and migration with their diagnostics.
    report : ProjectionReport
        Persons clipped by the engine (out-migration larger than a cohort).
    area_names : dict
        Area code -> name (CBS label without a ``Wijk NN`` prefix).
    method : str
        The small-area method of the wijken.
    notes : dict
        What the method used (e.g. Hamilton-Perry years, housing targets), by name.
    """

    population: xr.DataArray
    gemeente: str
    base: BasePopulation
    components: Components
    report: ProjectionReport
    area_names: dict = field(repr=False)
    method: str = "cohort_component"
    notes: dict = field(default_factory=dict, repr=False)

    @property
    def base_year(self) -> int:
        return int(self.population["year"].values[0])

    @property
    def end_year(self) -> int:
        return int(self.population["year"].values[-1])

    @property
    def wijken(self) -> list[str]:
        return [str(a) for a in self.population["area"].values if a != self.gemeente]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``area, area_name, sex, age, year, persons``."""
        frame = self.population.to_dataframe(name="persons").reset_index()
        frame.insert(1, "area_name", frame["area"].map(self.area_names))
        return frame[["area", "area_name", "sex", "age", "year", "persons"]]


def default_base_year(data: GemeenteData) -> int:
    """The latest KWB year of the gemeente: the most recent published wijk figures."""
    if not data.kwb_years:
        raise MissingDataError(f"no KWB year for {data.name} ({data.gemeente}); a base year needs KWB wijk figures")
    return max(data.kwb_years)


def project_population(
    gemeente: str = "GM0106",
    *,
    base_year: int | None = None,
    end_year: int = 2040,
    data_dir=None,
    data: GemeenteData | None = None,
    method="cohort_component",
    dwelling_pipeline=None,
    occupancy: str = "trend",
    hp_interval: int | None = None,
    **component_options,
) -> PopulationProjection:
    """Project a gemeente and its wijken by sex and single year of age to ``end_year``.

    Uses only what was known on 1 January ``base_year`` (``GemeenteData.as_of``).

    Parameters
    ----------
    gemeente : str
        CBS code or name (default Assen).
    base_year : int, optional
        Jump-off year (1 January); default the latest KWB year.
    end_year : int
        Last projected year (1 January).
    data_dir : path, optional
        Folder of raw CBS/UN files; ``None`` uses the bundled tables.
    data : GemeenteData, optional
        Inputs already loaded (takes precedence over ``gemeente``/``data_dir``).
    method : {"cohort_component", "hamilton_perry", "housing_led"} or callable
        How the wijken are projected (the gemeente is always projected by cohort-component):

        * ``"cohort_component"``: every wijk with its own net migration counts
          (:func:`assen_demand.components.net_migration_counts`), constrained to the gemeente by
          sex and age each year.
        * ``"hamilton_perry"``: cohort change ratios between the base population estimates of
          ``base_year - hp_interval`` and ``base_year`` (:func:`assen_demand.projection.hamilton_perry`),
          constrained to the gemeente. Wijken not in both years are projected by
          cohort-component and listed in ``PopulationProjection.notes``.
        * ``"housing_led"``: each wijk's total follows its dwellings x persons per dwelling
          (:func:`housing_targets`); migration fills the gap along the migration age profile
          (:func:`assen_demand.projection.housing_led`). The wijken are not constrained: the
          gemeente row is the sum of its wijken (bottom-up).
        * a callable ``method(*, base, components, start_year, end_year, control, data)`` returning
          the wijken (area, sex, age, year) [persons]; ``base`` is the wijken's base population,
          ``components`` their :class:`~assen_demand.projection.ProjectionInputs`, ``control``
          the gemeente projection (sex, age, year) and ``data`` the inputs as of ``base_year``.
          Its result is used as it is (constrain it yourself with
          :func:`assen_demand.projection.constrain` if wanted).
    dwelling_pipeline : path, pandas.DataFrame or "example", optional
        Planned completions and demolitions per wijk and year for ``"housing_led"``
        (:func:`assen_demand.datasets.load_dwelling_pipeline`); ``None`` holds the stock.
    occupancy : {"trend", "held"}
        Persons per dwelling for ``"housing_led"`` (see :func:`housing_targets`).
    hp_interval : int, optional [years]
        Interval of the Hamilton-Perry ratios; default the longest (at most 5 years) for which
        base populations can be estimated (KWB years from the 2021 postcode table on).
    **component_options
        Passed to :func:`assen_demand.components.estimate_components` (e.g. ``mortality=
        "wpp_medium"``, ``tfr="wpp_medium"``, ``migration_level=...``).

    Returns
    -------
    PopulationProjection
    """
    data = data if data is not None else load_gemeente(gemeente, data_dir=data_dir)
    base_year = default_base_year(data) if base_year is None else base_year
    known = data.as_of(base_year)
    base = estimate_base(known, year=base_year)
    components = estimate_components(
        known, base_year=base_year, end_year=end_year, base_population=base.population, **component_options
    )
    inputs = components.to_projection_inputs()
    areas = list(base.population["area"].values)
    gm = known.gemeente
    wijken = [a for a in areas if a != gm]
    gemeente_projection, gm_report = project(
        base.population.sel(area=[gm]),
        components=_select_areas(inputs, [gm]),
        start_year=base_year,
        end_year=end_year,
        return_report=True,
    )
    wijk_projection, wijk_report, notes = _project_wijken(
        method, known=known, base=base, inputs=_select_areas(inputs, wijken), wijken=wijken,
        control=gemeente_projection.sel(area=gm, drop=True), base_year=base_year, end_year=end_year,
        dwelling_pipeline=dwelling_pipeline, occupancy=occupancy, hp_interval=hp_interval)
    if method == "housing_led":
        # bottom-up: the gemeente is what its dwellings hold
        gemeente_projection = wijk_projection.sum("area").expand_dims(area=[gm])
    population = xr.concat([gemeente_projection, wijk_projection], dim="area").transpose("area", "sex", "age", "year")
    population.name = "persons"
    report = ProjectionReport(
        clipped=pd.concat([gm_report.clipped, wijk_report.clipped], ignore_index=True),
        clipped_total=gm_report.clipped_total + wijk_report.clipped_total,
        constraint_filled=wijk_report.constraint_filled,
    )
    return PopulationProjection(
        population=population,
        gemeente=gm,
        base=base,
        components=components,
        report=report,
        area_names=base.area_names,
        method=method if isinstance(method, str) else getattr(method, "__name__", "callable"),
        notes=notes,
    )


def _project_wijken(method, *, known, base, inputs, wijken, control, base_year, end_year,
                    dwelling_pipeline, occupancy, hp_interval):
    """The wijken by the chosen small-area method -> (projection, report, notes)."""
    from assen_demand import projection as proj

    notes: dict = {}
    wijk_base = base.population.sel(area=wijken)
    if callable(method):
        result = method(base=wijk_base, components=inputs, start_year=base_year, end_year=end_year,
                        control=control, data=known)
        _check_method_result(result, wijken, base_year, end_year)
        empty = ProjectionReport(clipped=pd.DataFrame(columns=["area", "sex", "age", "year", "clipped_persons"]),
                                 clipped_total=0.0, constraint_filled=pd.DataFrame())
        return result.transpose("area", "sex", "age", "year"), empty, notes
    if method not in proj.SMALL_AREA_METHODS:
        raise InvalidValueError(
            f"unknown small-area method {method!r}; choose one of {', '.join(proj.SMALL_AREA_METHODS)} or pass a callable"
        )
    cohort, report = project(wijk_base, components=inputs, start_year=base_year, end_year=end_year,
                             constrain_to=control, return_report=True)
    if method == "cohort_component":
        return cohort, report, notes
    if method == "hamilton_perry":
        seed_years = sorted(int(y) for y in known.population_bands["year"].unique())
        first = max([y for y in seed_years if y <= base_year] or [base_year])
        chain = [y for y in range(first, base_year + 1) if y in known.kwb_years]
        longest = 0
        for y in range(base_year - 1, first - 1, -1):  # every KWB year between must exist to age the base
            if y in chain:
                longest = base_year - y
            else:
                break
        interval = min(longest, 5) if hp_interval is None else int(hp_interval)
        if interval < 1 or interval > longest:
            raise MissingDataError(
                f"Hamilton-Perry needs base populations of two KWB years; for {known.name} ({known.gemeente}) "
                f"they can be estimated for {', '.join(map(str, chain)) or 'no year'} (from the {first} postcode "
                f"table on), so base_year {base_year} allows an interval of at most {longest} year(s)"
                + (f", not {interval}" if hp_interval is not None else "")
                + ". Choose a later base year or method='cohort_component'"
            )
        earlier = estimate_base(known, year=base_year - interval).population
        both = [w for w in wijken if w in set(map(str, earlier["area"].values))]
        only_now = [w for w in wijken if w not in both]
        hp = proj.hamilton_perry(earlier.sel(area=both), wijk_base.sel(area=both), start_year=base_year,
                                 end_year=end_year, interval=interval)
        # wijken without an earlier estimate keep their cohort-component path; then all are constrained
        combined = xr.concat([hp, cohort.sel(area=only_now)], dim="area").sel(area=wijken)
        notes.update(hamilton_perry_years=(base_year - interval, base_year), cohort_component_wijken=only_now)
        return proj.constrain(combined, control), report, notes
    # housing-led
    from assen_demand.datasets import load_dwelling_pipeline

    changes = None if dwelling_pipeline is None else load_dwelling_pipeline(dwelling_pipeline)
    targets = proj.housing_targets(known.kwb, areas=wijken, gemeente=known.gemeente, base_year=base_year,
                                   end_year=end_year, changes=changes, occupancy=occupancy,
                                   base_population=wijk_base.sum(["sex", "age"]).to_series())
    led, led_report = proj.housing_led(wijk_base, components=inputs, start_year=base_year, end_year=end_year,
                                       target=targets["population"], return_report=True)
    notes.update(housing=targets)
    return led, led_report, notes


def _check_method_result(result, wijken, base_year, end_year) -> None:
    if not isinstance(result, xr.DataArray) or set(result.dims) != {"area", "sex", "age", "year"}:
        raise InvalidValueError(
            "a small-area method must return an xarray.DataArray with dims (area, sex, age, year) [persons]"
        )
    missing = [w for w in wijken if w not in set(map(str, result["area"].values))]
    years = set(int(y) for y in result["year"].values)
    gaps = [y for y in range(base_year, end_year + 1) if y not in years]
    if missing or gaps:
        raise MissingDataError(
            f"the small-area method returned no wijk {missing[:5]} / no year {gaps[:5]}; "
            f"it must return every wijk for years {base_year}..{end_year}"
        )


def _select_areas(inputs, areas: list[str]):
    from dataclasses import replace

    def pick(da):
        if da is None or not isinstance(da, xr.DataArray) or "area" not in da.dims:
            return da
        return da.sel(area=areas)

    return replace(
        inputs,
        survival=pick(inputs.survival),
        births_survival=pick(inputs.births_survival),
        fertility=pick(inputs.fertility),
        net_migration=pick(inputs.net_migration),
        migration_rate=pick(inputs.migration_rate),
        sex_ratio_at_birth=pick(inputs.sex_ratio_at_birth),
    )


# --------------------------------------------------------------------------------------------
# the whole chain: population -> households -> care need -> dwellings
# --------------------------------------------------------------------------------------------

#: Tables of a Forecast, by the name ``to_frame`` takes
FORECAST_TABLES = ("population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg")


@dataclass(frozen=True)
class Forecast:
    """Population, households, care need and dwelling need of a gemeente and its wijken per year.

    Attributes
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
    households : xarray.Dataset (area, sex, age, year)
        ``institutional``, ``private``, ``alone``, ``with_others``, ``households``
        [persons, households] and ``mean_size`` (area, year).
    care_need : xarray.DataArray (area, sex, age, year, indicator) [persons]
    dwellings : xarray.Dataset (area, dwelling_type, year, model)
        ``need``, ``supply`` (NaN = unknown), ``gap`` [dwellings]; ``model`` is ``need`` (care
        profiles x living arrangements) or ``norm`` (national programme per 1,000 residents).
    doorstroming : xarray.DataArray (area, year) [family homes freed per year]
    mantelzorg : xarray.Dataset (area, year)
        ``carers_per_85plus`` and ``need_per_carer`` [ratio].
    projection : PopulationProjection
        The population projection with its base population and components.
    variant : str
        Parameter variant (low/central/high).
    supply : pandas.DataFrame
        The supply table used (``area, dwelling_type, year, units, status``); empty if none.
    """

    population: xr.DataArray
    households: xr.Dataset
    care_need: xr.DataArray
    dwellings: xr.Dataset
    doorstroming: xr.DataArray
    mantelzorg: xr.Dataset
    projection: PopulationProjection
    variant: str
    supply: pd.DataFrame = field(repr=False)

    @property
    def gemeente(self) -> str:
        return self.projection.gemeente

    @property
    def area_names(self) -> dict:
        return self.projection.area_names

    def to_frame(self, name: str = "dwellings") -> pd.DataFrame:
        """One of the tables as a tidy long table with ``area_name`` next to ``area``.

        Parameters
        ----------
        name : {"population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg"}
        """
        from assen_demand import care, dwellings, households

        if name not in FORECAST_TABLES:
            raise KeyError(f"no table {name!r}; choose one of {', '.join(FORECAST_TABLES)}")
        if name == "population":
            frame = self.projection.to_frame()
            return frame
        if name == "households":
            frame = households.to_frame(self.households, by_age=False)
        elif name == "care_need":
            frame = care.to_frame(self.care_need, by_age=False)
        elif name == "dwellings":
            frame = dwellings.to_frame(self.dwellings)
        elif name == "doorstroming":
            frame = dwellings.to_frame(self.doorstroming)
        else:
            frame = dwellings.to_frame(self.mantelzorg)
        frame.insert(1, "area_name", frame["area"].map(self.area_names))
        return frame


def forecast(
    gemeente: str = "GM0106",
    *,
    base_year: int | None = None,
    end_year: int = 2040,
    data_dir=None,
    variant: str = "central",
    supply: pd.DataFrame | str | None = "example",
    data: GemeenteData | None = None,
    **component_options,
) -> Forecast:
    """Project the population and derive households, care need and dwelling need per wijk.

    Parameters
    ----------
    gemeente : str
        CBS code or name (default Assen, GM0106).
    base_year : int, optional
        Jump-off year; default the latest KWB year.
    end_year : int
        Last year (1 January).
    data_dir : path, optional
        Folder of raw CBS/UN files; ``None`` uses the bundled tables.
    variant : {"central", "low", "high"}
        Which end of every care/dwelling parameter range to use.
    supply : pandas.DataFrame, path, "example" or None
        Dwelling supply (``area, dwelling_type, year, units, status``); ``"example"`` uses the
        bundled Assen example for Assen and no supply (unknown) elsewhere.
    data : GemeenteData, optional
        Inputs already loaded.
    **component_options
        Passed to :func:`assen_demand.components.estimate_components`.

    Returns
    -------
    Forecast
    """
    from assen_demand import care, dwellings, households

    projection = project_population(
        gemeente, base_year=base_year, end_year=end_year, data_dir=data_dir, data=data, **component_options
    )
    population = projection.population
    base_kwb = projection.base.population  # areas of the base year
    kwb = (data if data is not None else load_gemeente(projection.gemeente, data_dir=data_dir)).kwb
    one_person = (
        kwb[(kwb["year"] == projection.base_year) & kwb["area"].isin(list(base_kwb["area"].values))]
        .set_index("area")["one_person_households"]
        .dropna()
    )
    hh = households.households(
        population,
        variant=variant,
        one_person_households=one_person if len(one_person) else None,
        base_year=projection.base_year if len(one_person) else None,
    )
    need = care.care_need(population, variant=variant, private_population=hh["private"])
    supply_table = _supply_table(supply, projection.gemeente)
    # supply listed for a year stays in later years (marked assumed) until a later row changes it
    dwelling = dwellings.dwelling_need(
        population, variant=variant, supply=supply_table, carry_forward_supply=True, households=hh, need=need
    )
    return Forecast(
        population=population,
        households=hh,
        care_need=need,
        dwellings=dwelling,
        doorstroming=dwellings.doorstroming(hh, variant=variant),
        mantelzorg=dwellings.informal_care(population, need),
        projection=projection,
        variant=variant,
        supply=supply_table,
    )


def _supply_table(supply, gemeente: str) -> pd.DataFrame:
    from assen_demand import dwellings

    if supply is None:
        return pd.DataFrame(columns=["area", "dwelling_type", "year", "units", "status"])
    if isinstance(supply, str) and supply == "example":
        example = dwellings.load_example_supply()
        mine = example["area"].astype(str).str.contains(gemeente[2:6]) | (example["area"] == gemeente)
        return example[mine].reset_index(drop=True)
    return dwellings.read_supply(supply)

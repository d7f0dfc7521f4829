"""The steps run in order: inputs -> base population -> components -> projection.

This is the glue behind the public entry points :func:`project_population` (and later
``forecast``): it calls each step module with the output of the one before and keeps
everything it produced, so every number can be traced back. No formula lives here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import xarray as xr

from assen_demand.demography.base import BasePopulation, estimate_base
from assen_demand.arguments import check_keywords, check_whole_numbers
from assen_demand.demography.components import ComponentOptions, Components, estimate_components
from assen_demand.inputs.datasets import GemeenteData, load_gemeente
from assen_demand.display import format_count, summary_repr
from assen_demand.errors import InvalidValueError, MissingDataError, ScenarioError
from assen_demand.demography.projection import ProjectionReport, project
from assen_demand.outputs.labels import with_quantile_columns
from assen_demand.demography import projection as proj
from assen_demand.inputs.datasets import load_dwelling_pipeline
from assen_demand.demography.combination import combined_wijken, kwb_inputs
from assen_demand.scenario import load_scenario
from assen_demand.housing import dwellings
from assen_demand.housing.chain import run_housing_chain
from assen_demand.parameters import ParameterSet, resolve_parameters
from assen_demand.uncertainty import simulate_forecast
from assen_demand.outputs import doorstroming as doorstroming_products
from assen_demand.uncertainty import QUANTILES, quantile_name
from assen_demand.draw_quantiles import quantiles_over_draws
from assen_demand.housing.stock import StockInputs
from assen_demand.inputs.datasets import load_dwelling_stock
from assen_demand.housing import doorstroming
from assen_demand.housing import facilities
from assen_demand.inputs import nabijheid
from assen_demand.inputs import validation
from assen_demand.housing import care, households
from assen_demand.housing import need as need_step
from assen_demand.outputs import export, store, voorzieningen

__all__ = [
    "Forecast",
    "PopulationProjection",
    "forecast",
    "forecast_comparison",
    "project_population",
    "default_base_year",
]


@summary_repr
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

    def _summary_title(self) -> str:
        name = self.area_names.get(self.gemeente, self.gemeente)
        return f"{name} ({self.gemeente}), {self.base_year}-{self.end_year}, method {self.method}"

    def _summary_headline(self) -> list[tuple[str, str]]:
        return [("areas", f"{self.gemeente} + {len(self.wijken)} wijken"),
                *_population_headline(self.population, self.gemeente)]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``area, area_name, sex, age, year, persons``."""
        frame = self.population.to_dataframe(name="persons").reset_index()
        frame.insert(1, "area_name", frame["area"].map(self.area_names))
        return frame[["area", "area_name", "sex", "age", "year", "persons"]]


def _population_headline(population: xr.DataArray, gemeente: str) -> list[tuple[str, str]]:
    """Population and 65+/85+ of the gemeente in the first and last year, for the summaries."""
    g = population.sel(area=gemeente)
    first, last = (int(y) for y in population["year"].values[[0, -1]])
    rows = []
    for label, ages in (("population", slice(None)), ("65+", slice(65, None)), ("85+", slice(85, None))):
        total = g.sel(age=ages).sum(["sex", "age"])
        rows.append((label, f"{format_count(total.sel(year=first))} ({first}) -> "
                            f"{format_count(total.sel(year=last))} ({last})"))
    return rows


def default_base_year(data: GemeenteData) -> int:
    """The latest KWB year of the gemeente: the most recent published wijk figures."""
    if not data.kwb_years:
        raise MissingDataError(f"no KWB year for {data.name} ({data.gemeente}); a base year needs KWB wijk figures")
    return max(data.kwb_years)


#: The default small-area method (issue 18: it beats the naive forecast in more hindcast cells than
#: cohort-component, leaving whole gemeenten out, and forecasts 65+ better at every origin)
DEFAULT_SMALL_AREA_METHOD = "combined"


def project_population(
    gemeente: str = "GM0106",
    *,
    base_year: int | None = None,
    end_year: int = 2040,
    data_dir=None,
    data: GemeenteData | None = None,
    method=DEFAULT_SMALL_AREA_METHOD,
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
    method : {"combined", "cohort_component", "hamilton_perry", "housing_led"} or callable
        How the wijken are projected (default ``"combined"``; the gemeente is projected by
        cohort-component, and for ``"combined"`` and ``"housing_led"`` it is the sum of its wijken):

        * ``"cohort_component"``: every wijk with its own net migration counts
          (:func:`assen_demand.demography.migration.net_migration_counts`), constrained to the gemeente by
          sex and age each year.
        * ``"hamilton_perry"``: cohort change ratios between the base population estimates of
          ``base_year - hp_interval`` and ``base_year`` (:func:`assen_demand.demography.projection.hamilton_perry`),
          constrained to the gemeente. Wijken not in both years are projected by
          cohort-component and listed in ``PopulationProjection.notes``.
        * ``"combined"`` (default): the weighted average of cohort-component, constant share and the naive
          forecast, weights per KWB band and horizon estimated on the project's own hindcasts
          (:func:`assen_demand.demography.combination.combined_wijken`), constrained to the gemeente's
          band totals, whose cohort-component change is damped toward the base year by a weight per
          band (also estimated on the hindcasts); the naive part holds the published KWB figures of the
          base year; wijken whose households grow fast follow them part of the way (the trend and the
          choice per wijk in ``PopulationProjection.notes["household_trend"]``); the gemeente row is the
          sum of its wijken.
        * ``"housing_led"``: each wijk's total follows its dwellings x persons per dwelling
          (:func:`housing_targets`); migration fills the gap along the migration age profile
          (:func:`assen_demand.demography.projection.housing_led`). The wijken are not constrained: the
          gemeente row is the sum of its wijken (bottom-up).
        * a callable ``method(*, base, components, start_year, end_year, control, data)`` returning
          the wijken (area, sex, age, year) [persons]; ``base`` is the wijken's base population,
          ``components`` their :class:`~assen_demand.demography.projection.ProjectionInputs`, ``control``
          the gemeente projection (sex, age, year) and ``data`` the inputs as of ``base_year``.
          Its result is used as it is (constrain it yourself with
          :func:`assen_demand.demography.projection.constrain` if wanted).
    dwelling_pipeline : path, pandas.DataFrame or "example", optional
        Planned completions and demolitions per wijk and year for ``"housing_led"``
        (:func:`assen_demand.inputs.datasets.load_dwelling_pipeline`); ``None`` holds the stock.
    occupancy : {"trend", "held"}
        Persons per dwelling for ``"housing_led"`` (see :func:`housing_targets`).
    hp_interval : int, optional [years]
        Interval of the Hamilton-Perry ratios; default the longest (at most 5 years) for which
        base populations can be estimated (KWB years from the 2021 postcode table on).
    **component_options
        Passed to :func:`assen_demand.demography.components.estimate_components` (e.g. ``mortality=
        "wpp_medium"``, ``tfr="wpp_medium"``, ``migration_level=...``).

    Returns
    -------
    PopulationProjection
    """

    check_whole_numbers("project_population", {"base_year": base_year, "end_year": end_year}, optional=("base_year",))
    check_keywords("project_population", component_options, project_population, estimate_components, ComponentOptions)
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
    if method in ("housing_led", "combined"):
        # bottom-up: the gemeente is what its dwellings hold (housing_led) or the sum of the combined
        # wijken, which meet its band totals damped toward the base year (issue 18)
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

    notes: dict = {}
    wijk_base = base.population.sel(area=wijken)
    if callable(method):
        result = method(base=wijk_base, components=inputs, start_year=base_year, end_year=end_year,
                        control=control, data=known)
        _check_method_result(result, wijken, base_year, end_year)
        empty = ProjectionReport(clipped=pd.DataFrame(columns=["area", "sex", "age", "year", "clipped_persons"]),
                                 clipped_total=0.0, constraint_filled=pd.DataFrame())
        return result.transpose("area", "sex", "age", "year"), empty, notes
    if method not in (*proj.SMALL_AREA_METHODS, "combined"):
        raise InvalidValueError(
            f"unknown small-area method {method!r}; choose one of {', '.join(proj.SMALL_AREA_METHODS)}, combined "
            "or pass a callable"
        )
    cohort, report = project(wijk_base, components=inputs, start_year=base_year, end_year=end_year,
                             constrain_to=control, return_report=True)
    if method == "cohort_component":
        return cohort, report, notes
    if method == "combined":  # issue 18: weights by band and horizon from the project's own hindcasts

        # the cohort-component wijken stay at hand: the Monte Carlo draws spread around the combination by
        # their deviation from them (uncertainty._combined_draws)
        notes.update(cohort_component_projection=cohort)
        bands, trend = kwb_inputs(known.kwb, year=base_year, areas=wijken)
        notes.update(household_trend=trend)  # issue 18 item 3: which wijken follow their households
        return (combined_wijken(cohort, wijk_base, control, start_year=base_year, held_bands=bands, households=trend),
                report, notes)
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


@summary_repr
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
    scenario : assen_demand.scenario.Scenario or None
        The scenario applied (``None``: the defaults without a scenario file).
    uncertainty : assen_demand.uncertainty.ForecastDraws or None
        Monte Carlo draws and their quantiles when ``draws > 0``; the attributes above are
        always the deterministic (central) forecast.
    facilities : assen_demand.housing.facilities.Facilities or None
        Low-threshold facilities per wijk and year (demand, places needed, distances, flag);
        deterministic only.
    need : xarray.Dataset (area, dwelling_type, year)
        The dwelling need in two parts: ``care`` (care-driven, households with at least one
        member with a care profile; places for verpleegzorgplek), ``preference`` (older
        households without a care profile who live in or want the type) and ``total``; the
        gemeente row is the sum of its wijken (:mod:`assen_demand.housing.need`). The ``need``
        model of :attr:`dwellings` holds the same ``total``.
    parameters : assen_demand.parameters.ParameterSet
        The parameter tables and variant used.
    stock : xarray.Dataset (area, dwelling_type) or None
        Base-year stock per type (:func:`assen_demand.housing.stock.estimate_stock`, register rows
        applied): ``low``, ``central``, ``high``, ``status``, ``source``.
    opgave : xarray.Dataset (area, dwelling_type, year[, draw]) or None
        ``need``, ``stock``, ``stock_target``, ``planned``, ``backlog``, ``opgave`` (calibrated:
        need - need in the base year + backlog - planned), ``opgave_uncalibrated`` (need -
        stock_target - planned) (:func:`assen_demand.housing.opgave.compute_opgave`, run in the
        chain); with draws the ``draw`` dimension holds each draw's need against the central stock
        and backlog.
    doorstroming_moves : xarray.Dataset (area, year) or None
        Willing movers, realised moves and freed family homes (direct; chain separately), limited
        by the suitable homes that become available (:mod:`assen_demand.housing.doorstroming`);
        deterministic (central parameters of ``doorstroming.csv`` at the forecast's variant).
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
    scenario: object | None = None
    uncertainty: object | None = field(default=None, repr=False)
    facilities: object | None = field(default=None, repr=False)
    need: xr.Dataset | None = field(default=None, repr=False)
    parameters: object | None = field(default=None, repr=False)
    stock: xr.Dataset | None = field(default=None, repr=False)
    opgave: xr.Dataset | None = field(default=None, repr=False)
    doorstroming_moves: xr.Dataset | None = field(default=None, repr=False)

    @property
    def gemeente(self) -> str:
        return self.projection.gemeente

    @property
    def area_names(self) -> dict:
        return self.projection.area_names

    @property
    def scenario_name(self) -> str:
        """The scenario's name, ``"basis"`` without a scenario."""
        return self.scenario.name if self.scenario is not None else "basis"

    def _summary_title(self) -> str:
        name = self.area_names.get(self.gemeente, self.gemeente)
        p = self.projection
        return f"{name} ({self.gemeente}), scenario {self.scenario_name}, {p.base_year}-{p.end_year}, variant {self.variant}"

    def _summary_headline(self) -> list[tuple[str, str]]:
        p = self.projection
        rows = [("areas", f"{self.gemeente} + {len(p.wijken)} wijken"),
                *_population_headline(self.population, self.gemeente)]
        need = self.dwellings["need"].sel(area=self.gemeente, model="need", year=p.end_year)
        rows.append((f"need {p.end_year}", ", ".join(f"{t} {format_count(v)}" for t, v in
                                                      zip(need["dwelling_type"].values, need.values))))
        draws = "none" if self.uncertainty is None else f"{self.uncertainty.draws} (seed {self.uncertainty.seed})"
        rows.append(("draws", draws))
        return rows

    def quantiles(self, name: str = "dwellings", q=None):
        """Quantiles over the Monte Carlo draws (see :meth:`assen_demand.uncertainty.ForecastDraws.quantiles`).

        Raises
        ------
        MissingDataError
            If the forecast was made without draws.
        """
        if self.uncertainty is None:
            raise MissingDataError("this forecast has no Monte Carlo draws; run forecast(..., draws=1000, seed=1)")

        return self.uncertainty.quantiles(name, QUANTILES if q is None else q)

    def to_frame(self, name: str = "dwellings") -> pd.DataFrame:
        """One of the tables as a tidy long table with ``area_name`` next to ``area``.

        With Monte Carlo draws every value column ``v`` gets ``v_q05, v_q50, v_q95`` next to it
        (``population``: per single age; ``households``, ``care_need``, ``doorstroming``: the
        area totals the table shows; ``dwellings``: ``need_q05 .. gap_q95``). ``mantelzorg``
        has no draws.

        Parameters
        ----------
        name : {"population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg", "need"}
            ``need``: ``care``, ``preference``, ``total`` per area, dwelling type and year.
        """

        if name not in FORECAST_TABLES and name != "need":
            raise KeyError(f"no table {name!r}; choose one of {', '.join(FORECAST_TABLES)}, need")
        if name == "population":
            frame = self.projection.to_frame()
            keys = ["area", "sex", "age", "year"]
        else:
            if name == "households":
                frame = households.to_frame(self.households, by_age=False)
            elif name == "care_need":
                frame = care.to_frame(self.care_need, by_age=False)
            elif name == "dwellings":
                frame = dwellings.to_frame(self.dwellings)
            elif name == "need":
                frame = need_step.to_frame(self.need)
            elif name == "doorstroming":
                frame = dwellings.to_frame(self.doorstroming)
            else:
                frame = dwellings.to_frame(self.mantelzorg)
            frame.insert(1, "area_name", frame["area"].map(self.area_names))
            keys = [c for c in ("area", "dwelling_type", "model", "indicator", "year") if c in frame.columns]
        if self.uncertainty is not None and name != "mantelzorg":
            # each value column followed by its quantiles: need, need_q05, need_q50, need_q95, supply, gap, ...
            frame = with_quantile_columns(frame, self.uncertainty.frame_columns(name, keys), keys)
        return frame

    def to_zarr(self, path, *, provenance_record=None, overwrite: bool = False, keep_draws: bool = False):
        """Write the labelled arrays (and draws) to a Zarr store; read it with :func:`assen_demand.open_forecast`.

        See :func:`assen_demand.outputs.store.write_forecast_store`: one group per table,
        chunked by area, with the scenario, base year, sources and version as attributes.

        Parameters
        ----------
        path : path
            The store folder (e.g. ``"assen.zarr"``).
        provenance_record : mapping, optional
            The run's provenance; default :func:`assen_demand.outputs.export.provenance` of this
            forecast with the bundled data.
        overwrite : bool
            Replace an existing store.
        keep_draws : bool
            Store every Monte Carlo draw, not only their quantiles (the default).

        Returns
        -------
        pathlib.Path
        """

        record = provenance_record if provenance_record is not None else export.provenance(self)
        return store.write_forecast_store(self, path, provenance_record=record, sources=export.sources_table(self),
                                          facilities=voorzieningen.facility_csv(self), overwrite=overwrite,
                                          keep_draws=keep_draws)


def _resolve_scenario(scenario):
    if scenario is None:
        return None

    return load_scenario(scenario)


def forecast(
    gemeente: str = "GM0106",
    *,
    base_year: int | None = None,
    end_year: int = 2040,
    data_dir=None,
    variant: str | None = None,
    supply: pd.DataFrame | str | None = None,
    data: GemeenteData | None = None,
    scenario=None,
    draws: int = 0,
    seed: int | None = None,
    zero_width: bool = False,
    progress: bool = True,
    facility_list: pd.DataFrame | str | None = None,
    distances: pd.DataFrame | str | None = None,
    parameters=None,
    stock_register=None,
    opgave_only: bool = False,
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
    variant : {"central", "low", "high"}, optional
        Which end of every care/dwelling parameter range to use; default the variant of
        ``parameters`` if given, else the scenario's (``central`` without a scenario).
    supply : pandas.DataFrame, path, "example" or None
        Dwelling supply (``area, dwelling_type, year, units, status``) for the old need-minus-supply
        gap; ``None`` (default): unknown. ``"example"`` uses the bundled Assen example, built from
        local press to show the format (every row ``aanname``), and no supply elsewhere. The
        opgave uses the stock (``stock_register``), not this table.
    data : GemeenteData, optional
        Inputs already loaded.
    scenario : str, path or Scenario, optional
        A bundled scenario name (``assen_demand.scenario.list_scenarios()``: ``"basis"``,
        ``"hoge_levensduur"``, ...) or the path of a scenario TOML file. ``None`` = the defaults
        (the same numbers as ``"basis"``).
    draws : int
        Monte Carlo draws through the whole chain (0 = none); see
        :mod:`assen_demand.uncertainty`. 1,000 draws for Assen take about 5 s on two cores (580 MB peak; issue 20).
    seed : int, optional
        Seed of the draws; the same seed gives bit-identical results.
    zero_width : bool
        Draws with every sd and parameter range set to zero (a check: each draw equals the
        central forecast).
    progress : bool
        Show a progress bar over the chunks of draws.
    facility_list : pandas.DataFrame or path, optional
        The gemeente's meeting places and support points (``name, kind, area, capacity``; see
        :func:`assen_demand.inputs.nabijheid.read_facility_list`); ``None``: present unknown.
    distances : pandas.DataFrame or path, optional
        Distances fetched with :func:`assen_demand.inputs.nabijheid.fetch_nabijheid`, used next
        to the KWB distance columns.
    parameters : assen_demand.parameters.ParameterSet, optional
        The care and dwelling parameter tables, e.g.
        ``ParameterSet.bundled().replace(care_prevalence=my_table)`` with a gemeente's own
        prevalences; used by the central run and, drawn around their own ranges, by the draws.
        Default the bundled tables.
    stock_register : path or pandas.DataFrame, optional
        A gemeente's register of the existing stock (``area, dwelling_type, year, units, status``;
        see ``data/stock/stock_template.csv``); its rows replace the estimate. ``None``: the
        estimated stock (status ``geschat``).
    opgave_only : bool
        Leave out the two steps that nothing else of the forecast needs, the facilities per wijk
        and the doorstroming moves (``facilities`` and ``doorstroming_moves`` are then None); every
        other result is the same. The national stochastic run keeps only the opgave per draw, and
        these steps were about a tenth of its time per gemeente (issue 20).
    **component_options
        Passed to :func:`assen_demand.demography.components.estimate_components`; they override the
        scenario's settings of the same name.

    Returns
    -------
    Forecast

    Raises
    ------
    ScenarioError
        A bad scenario file, or a scenario needing a projection method this version lacks.
    """

    check_whole_numbers("forecast", {"base_year": base_year, "end_year": end_year, "draws": draws, "seed": seed},
                        optional=("base_year", "seed"))
    check_keywords("forecast", component_options, forecast, project_population, estimate_components, ComponentOptions)
    scen = _resolve_scenario(scenario)
    data = data if data is not None else load_gemeente(gemeente, data_dir=data_dir)
    base_year = default_base_year(data) if base_year is None else base_year
    if parameters is None:
        parameters = ParameterSet.bundled(variant if variant is not None else (scen.variant if scen is not None else "central"))
    else:
        parameters = resolve_parameters(parameters)
        if variant is not None:
            parameters = parameters.with_variant(variant)
    variant = str(parameters.variant)
    projection_options = {}
    if scen is not None:
        n_years = component_options.get("n_years", 5)
        component_options = {**scen.component_options(data, base_year=base_year, n_years=n_years), **component_options}
        projection_options = scen.projection_options(project_population)
    projection = project_population(
        gemeente, base_year=base_year, end_year=end_year, data_dir=data_dir, data=data,
        **projection_options, **component_options,
    )
    population = projection.population
    years = population["year"].values.tolist()
    multiplier = scen.institutional_multiplier(years) if scen is not None else None
    trend = dict(scen.prevalence_trend) if scen is not None and scen.prevalence_trend else None
    base_kwb = projection.base.population  # areas of the base year
    kwb = data.kwb
    one_person = (
        kwb[(kwb["year"] == projection.base_year) & kwb["area"].isin(list(base_kwb["area"].values))]
        .set_index("area")["one_person_households"]
        .dropna()
    )
    one_person = one_person if len(one_person) else None
    stocks = stock_inputs(projection, data, pipeline=projection_options.get("dwelling_pipeline"),
                          register=stock_register)
    chain = run_housing_chain(
        population,
        parameters=parameters,
        one_person_households=one_person,
        base_year=projection.base_year if one_person is not None else None,
        institutional_multiplier=multiplier,
        prevalence_trend=trend,
        trend_start=projection.base_year if trend else None,
        unusable_targets="report",
        stock_inputs=stocks,
    )
    hh, need = chain.households, chain.care_need
    supply_table = _supply_table(supply, projection.gemeente)
    if not (isinstance(supply, str) and supply == "example"):
        _check_supply_range(supply_table, population, source=_supply_label(supply))
    # supply listed for a year stays in later years (marked assumed) until a later row changes it
    dwelling = dwellings.dwelling_need(
        population, parameters=parameters, supply=supply_table, carry_forward_supply=True,
        need_total=chain.need["total"],
    )
    draws_result = None
    if draws:

        if projection_options.get("method") not in (None, "cohort_component", "combined"):
            raise ScenarioError(
                f"Monte Carlo draws run the cohort-component engine (and its combination) only; scenario {scen.name!r} uses "
                f"method={projection_options['method']!r}: run it with draws=0"
            )
        draws_result = simulate_forecast(
            projection, data=data, draws=draws, seed=seed, zero_width=zero_width, progress=progress,
            supply=dwelling["supply"].sel(model="need", drop=True), one_person_households=one_person,
            institutional_multiplier=multiplier, prevalence_trend=trend,
            trend_start=projection.base_year if trend else None, parameters=parameters, stock_inputs=stocks,
        )
    plan = component_options.get("dwelling_pipeline", projection_options.get("dwelling_pipeline"))
    return Forecast(
        population=population,
        households=hh,
        care_need=need,
        dwellings=dwelling,
        doorstroming=chain.doorstroming,
        mantelzorg=chain.mantelzorg,
        projection=projection,
        variant=variant,
        supply=supply_table,
        scenario=scen,
        uncertainty=draws_result,
        facilities=None if opgave_only else _facility_step(data, projection, hh, need, chain.need, variant=variant,
                                                           facility_list=facility_list, distances=distances),
        need=chain.need,
        parameters=parameters,
        stock=chain.stock,
        opgave=chain.opgave if draws_result is None or draws_result.opgave is None else draws_result.opgave,
        # issue 23: doorstroming limited by the suitable homes that exist and are built
        doorstroming_moves=None if opgave_only else _doorstroming_step(hh, chain.stock, plan, projection, parameters),
    )


#: Age groups of the population rows of :func:`forecast_comparison`
COMPARISON_AGES = (65, 75, 85)


def forecast_comparison(
    scenarios=("basis", "hoge_levensduur", "lage_migratie", "extramuralisering", "dementie_daling"),
    gemeente: str = "GM0106",
    *,
    draws: int = 0,
    seed: int | None = None,
    progress: bool = True,
    **forecast_options,
) -> pd.DataFrame:
    """One tidy table comparing scenarios side by side.

    Parameters
    ----------
    scenarios : sequence of str, path or Scenario
        Scenario names or files (see :func:`forecast`).
    gemeente : str
        CBS code or name.
    draws : int, keyword-only
        Monte Carlo draws per scenario (0 = none); adds ``value_q05, value_q50, value_q95``.
    seed : int, optional, keyword-only
        The same seed for every scenario (common random numbers: differences between
        scenarios are not blurred by different draws).
    progress : bool, keyword-only
    **forecast_options
        Passed to :func:`forecast` for every scenario (``base_year``, ``end_year``, ``data``,
        ``supply``, ...).

    Returns
    -------
    pandas.DataFrame
        ``scenario, area, area_name, year, measure, dwelling_type, value[, value_q05, value_q50,
        value_q95]``: measures ``population_65plus``, ``population_75plus``,
        ``population_85plus`` [persons] (``dwelling_type`` = ``"all"``) and ``dwelling_need``,
        ``dwelling_gap`` [dwellings, need model; gap NaN where supply is unknown] per dwelling
        type; ``doorstroming_willing``, ``doorstroming_realised``, ``doorstroming_freed_direct``,
        ``doorstroming_freed_chain`` [per year] (``dwelling_type`` = ``"all"``; no quantiles).
        Side by side: ``frame.pivot_table(index=["area", "measure", "dwelling_type", "year"],
        columns="scenario", values="value")``.

    Raises
    ------
    ScenarioError
        A bad or unknown scenario (before anything is computed).
    """
    if isinstance(scenarios, (str, bytes)) or not hasattr(scenarios, "__iter__"):
        scenarios = [scenarios]
    resolved = [_resolve_scenario(s) for s in scenarios]  # fail fast on a bad file
    names = [s.name for s in resolved]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"scenario name(s) {dup} appear twice; give each compared scenario a distinct name")
    if "data" not in forecast_options:
        forecast_options["data"] = load_gemeente(gemeente, data_dir=forecast_options.get("data_dir"))
    frames = []
    for scen in resolved:
        fc = forecast(gemeente, scenario=scen, draws=draws, seed=seed, progress=progress, **forecast_options)
        frames.append(_comparison_rows(fc))
    return pd.concat(frames, ignore_index=True)


def _comparison_rows(fc: Forecast) -> pd.DataFrame:
    def population_rows(pop: xr.DataArray) -> xr.DataArray:
        parts = [pop.where(pop["age"] >= a, 0.0).sum(["sex", "age"]).expand_dims(measure=[f"population_{a}plus"])
                 for a in COMPARISON_AGES]
        return xr.concat(parts, dim="measure").expand_dims(dwelling_type=["all"])

    def dwelling_rows(ds: xr.Dataset) -> xr.DataArray:
        sel = ds.sel(model="need", drop=True)
        return xr.concat([sel["need"].expand_dims(measure=["dwelling_need"]),
                          sel["gap"].expand_dims(measure=["dwelling_gap"])], dim="measure")

    def long(pop: xr.DataArray, ds: xr.Dataset, value: str) -> pd.DataFrame:
        rows = []
        for da in (population_rows(pop), dwelling_rows(ds)):
            frame = da.rename(value).to_dataframe().reset_index()
            rows.append(frame[["area", "year", "measure", "dwelling_type", value]])
        return pd.concat(rows, ignore_index=True)

    keys = ["area", "year", "measure", "dwelling_type"]
    frame = long(fc.population, fc.dwellings[["need", "gap"]], "value")
    frame = pd.concat([frame, doorstroming_products.comparison_rows(fc)], ignore_index=True)  # issue 23
    if fc.uncertainty is not None:
        unc = fc.uncertainty
        # the quantile of an aggregate, not the sum of the quantiles of its parts; every
        # probability from one sort of the draws
        pop_all = quantiles_over_draws(population_rows(unc.population), list(QUANTILES))
        dw_all = unc.quantiles("dwellings")  # taken once per run, shared with the tables
        for q in QUANTILES:
            pop_agg = pop_all.sel(quantile=q, drop=True)
            dw_q = dw_all.sel(quantile=q, drop=True)
            part_pop = pop_agg.rename(f"value_{quantile_name(q)}").to_dataframe().reset_index()
            part_dw = dwelling_rows(dw_q).rename(f"value_{quantile_name(q)}").to_dataframe().reset_index()
            col = f"value_{quantile_name(q)}"
            part = pd.concat([part_pop[keys + [col]], part_dw[keys + [col]]], ignore_index=True)
            frame = frame.merge(part, on=keys, how="left")
    frame.insert(0, "scenario", fc.scenario_name)
    frame.insert(2, "area_name", frame["area"].map(fc.area_names))
    return frame[["scenario", "area", "area_name", "year", "measure", "dwelling_type"]
                 + [c for c in frame.columns if c.startswith("value")]]


def stock_inputs(projection: PopulationProjection, data: GemeenteData, *, pipeline=None, register=None):
    """The stock step's data for the chain, read here at the edge.

    Returns
    -------
    assen_demand.housing.stock.StockInputs
        KWB dwelling stock (bundled ``data/cbs/dwelling_stock.csv``), tenure (latest KWB
        ``rented_pct`` at or before the base year), the register and pipeline as given, and the
        central population (so that every Monte Carlo draw shares one stock).
    """

    base = projection.base_year
    kwb = data.kwb[data.kwb["year"] <= max(base, int(data.kwb["year"].min()))]
    tenure = kwb.sort_values("year").groupby("area").tail(1)[["area", "rented_pct"]]
    return StockInputs(dwelling_stock=load_dwelling_stock(), tenure=tenure, gemeente=projection.gemeente,
                       base_year=base, register=register,
                       pipeline=None if pipeline is None else load_dwelling_pipeline(pipeline),
                       population=projection.population)


def _doorstroming_step(households, stock, plan, projection, parameters):
    """Doorstroming of the forecast (issue 23): the pipeline is the scenario's or the user's."""

    return doorstroming.forecast_moves(households, stock, plan, gemeente=projection.gemeente,
                                       base_year=projection.base_year, variant=parameters.variant)


def _supply_table(supply, gemeente: str) -> pd.DataFrame:
    if supply is None:
        return pd.DataFrame(columns=["area", "dwelling_type", "year", "units", "status"])
    if isinstance(supply, str) and supply == "example":
        example = dwellings.load_example_supply()
        mine = example["area"].astype(str).str.contains(gemeente[2:6]) | (example["area"] == gemeente)
        return example[mine].reset_index(drop=True)
    return dwellings.read_supply(supply)


def _facility_step(data, projection, hh, need, dwelling_need, *, variant, facility_list, distances):
    """Facilities per wijk (issue 15): distances and the gemeente's list read here, at the edge."""

    population = projection.population
    areas = [str(a) for a in population["area"].values]
    wijken = [a for a in areas if a != projection.gemeente]
    fetched = None if distances is None else nabijheid.read_distances(distances)
    nearby = nabijheid.nearby_distances(data.kwb, areas=areas, year=projection.base_year,
                                        gemeente=projection.gemeente, fetched=fetched)
    present = None if facility_list is None else nabijheid.read_facility_list(
        facility_list, wijken=wijken, area_names=projection.area_names)
    # the chain's need for geclusterd homes (Forecast.need total): every older household that needs one,
    # whether or not it already lives in one, is a potential visitor of a meeting place
    clustered = dwelling_need["total"].sel(dwelling_type="geclusterd", drop=True)
    return facilities.facilities(population, hh["alone"], need, clustered_dwellings=clustered, distances=nearby,
                                 gemeente=projection.gemeente, base_year=projection.base_year, present=present,
                                 variant=variant)


def _supply_label(supply) -> str:
    return "supply table" if isinstance(supply, pd.DataFrame) else f"supply file {Path(str(supply)).name}"


def _check_supply_range(table: pd.DataFrame, population: xr.DataArray, *, source: str) -> None:
    """A user's supply: years within the forecast, units no more than the area's inhabitants."""

    if not len(table):
        return
    years = [int(y) for y in population["year"].values]
    validation.check_whole_years(table, "year", source=source, labels=["area", "dwelling_type"],
                                 first=years[0], last=years[-1])
    persons = population.sel(year=years[0]).sum(["sex", "age"]).to_series()
    limit = table["area"].astype(str).map(persons)
    over = limit.notna() & (table["units"] > limit)
    if over.any():
        i = table.index[over.to_numpy().argmax()]
        r = table.loc[i]
        raise InvalidValueError(
            f"{source}: {r['units']:,.0f} units of {r['dwelling_type']} in {r['area']} ({r['year']}) exceed its "
            f"{limit.loc[i]:,.0f} inhabitants in {years[0]} ({validation.file_lines(table.index[over])}); "
            "correct the units (homes or places, not persons or euros)"
        )

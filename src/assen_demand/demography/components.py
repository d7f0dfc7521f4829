"""The demographic components of a projection, estimated together: :func:`estimate_components`.

Everything the projection engine needs besides the base population, estimated from what was
known on 1 January of the base year (so a hindcast is honest). The steps live in their own
modules; this one assembles them into a frozen :class:`Components`:

* :mod:`~assen_demand.demography.mortality` -- life tables, survival ratios, national m(x) from
  UN WPP with Lee-Carter, the local SMR;
* :mod:`~assen_demand.demography.fertility` -- ASFR from the WPP TFR and the local level;
* :mod:`~assen_demand.demography.migration` -- Rogers-Castro, the residual method per KWB band,
  wijk shrinkage, net migration counts;
* :mod:`~assen_demand.demography.rates` -- the checks and observed-window helpers they share.

The options of the estimation are one frozen :class:`ComponentOptions`; ``estimate_components``
also takes each of its fields as a keyword (``mortality="wpp_medium"``).

The conventions (ages 0..100 with 100 the open group, sexes, calendar years) and the sources
(CBS, UN WPP 2024) are those of :mod:`~assen_demand.demography.mortality`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import xarray as xr

# SEXES, MAX_AGE, AGES and SEX_RATIO_AT_BIRTH are re-exported: they were defined here before datamodel
from assen_demand.datamodel import AGES, KWB_BAND_EDGES, MAX_AGE, SEX_RATIO_AT_BIRTH, SEXES
from assen_demand.demography.engine import ProjectionInputs
from assen_demand.demography.fertility import (
    FertilityLevel,
    WijkFertility,
    local_fertility_factor,
    national_asfr,
    tfr_path,
    wijk_fertility_factors,
)
from assen_demand.demography.migration import (
    STRUCTURAL_WIJK_MAX_AGE,
    add_structural_wijk_migration,
    drop_boundary_changes,
    drop_changed_wijken,
    kwb_band_residuals,
    migration_dispersion,
    net_migration_counts,
    net_migration_totals,
    shrink_wijk_residuals,
    structural_net_migration,
    structural_wijk_migration,
)
from assen_demand.demography.mortality import (
    SMR_PRIOR_SHAPE,
    JumpOffLevel,
    LeeCarterFit,
    SMRResult,
    jump_off_level,
    life_table,
    local_smr,
    national_mortality,
    survival_ratios,
    ungroup_mx,
    wpp_period_mx,
)
# ComponentsWarning is re-exported: callers filter the warnings of every component by this name
from assen_demand.demography.rates import (
    ComponentsWarning,
    age_shape,
    check_finite_nonneg,
    check_sex_coord,
    mid_year_population,
    observed_counts,
    split_bands,
)
from assen_demand.display import summary_repr
from assen_demand.errors import ArgumentError, DataFormatError, InvalidValueError, MissingDataError
from assen_demand.inputs.kwb import kwb_age_bands

__all__ = [
    "SEXES",
    "MAX_AGE",
    "AGES",
    "SEX_RATIO_AT_BIRTH",
    "ComponentsWarning",
    "ComponentOptions",
    "single_year_population",
    "Components",
    "estimate_components",
]


@dataclass(frozen=True)
class ComponentOptions:
    """The options of :func:`estimate_components`, with their defaults.

    ``estimate_components(data, base_year=2024, mortality="wpp_medium")`` and
    ``estimate_components(data, base_year=2024, options=ComponentOptions(mortality="wpp_medium"))``
    are the same call; :meth:`from_keywords` joins the two.

    Attributes
    ----------
    mortality : {"lee_carter", "wpp_medium"}
        National mortality model (see :func:`~assen_demand.demography.mortality.national_mortality`).
    fit_start : int
        First WPP period start used by Lee-Carter [year].
    tfr : {"constant", "wpp_medium"}
        National TFR after ``base_year`` (see :func:`~assen_demand.demography.fertility.tfr_path`).
    n_years : int
        Window of observed years (before ``base_year``) for the SMR, the fertility factor and
        the net migration totals.
    local_level : bool
        Estimate the SMR and fertility factor (else both are 1).
    smr_prior_shape : float
        Gamma prior shape of the SMR shrinkage.
    migration_level : float or mapping, optional [net migrants per year]
        Override of the gemeente (or per-area) net migration.
    retirement : bool
        Retirement term in the net migration schedules.
    constrain_wijken : bool
        Make wijk net migration add up to the gemeente by sex and age.
    preserve_bands : bool
        Keep the observed net migration per KWB band (see :func:`~assen_demand.demography.migration.net_migration_counts`).
    sex_ratio_at_birth : float [boys per girl]
        Default :data:`assen_demand.datamodel.SEX_RATIO_AT_BIRTH` (1.05, CBS 37259eng).
    ungroup_method : str
        Method of :func:`~assen_demand.demography.mortality.ungroup_mx`.
    structural_weight : float
        The gemeente's net migration age pattern read from its age profile relative to the
        Netherlands (:func:`~assen_demand.demography.migration.structural_net_migration`, same postcode year), times this weight:
        without successive KWB years up to ``base_year`` it is the whole pattern; with them it
        places migrants within each KWB band (the band volumes stay the observed ones; wijken
        take their population share of it). 0 falls back to the Rogers-Castro schedules.
    drift_multiplier : float [1]
        Factor on the Lee-Carter drift (scenario of faster or slower mortality improvement,
        see :func:`~assen_demand.demography.mortality.national_mortality`).
    tfr_multiplier : float [1]
        Factor on the national TFR from ``base_year`` on (scenario of higher or lower
        fertility); observed years are not touched.
    shrink_wijk_migration : bool
        Pull each wijk's observed band net migration toward its population share of the
        gemeente's, by the weight the wijk migration dispersion gives a mean of its ``k`` year
        pairs (:func:`~assen_demand.demography.migration.shrink_wijk_residuals`). Measured on the twelve Drenthe gemeenten,
        hindcast 2022 -> 2024 (one pair): weighted APE of the wijk 0-15 band 5.6 % without,
        see the backtest module for the table with it.
    wijk_fertility : {"gemeente", "cwr"}
        ``"gemeente"`` (default): every wijk has the gemeente's ASFR. ``"cwr"``: each wijk's ASFR
        times its child-woman ratio relative to the gemeente's, shrunk toward 1 and scaled so the
        wijken's births add up (:func:`~assen_demand.demography.fertility.wijk_fertility_factors`;
        issue 18 item 2, measured in issue 18 note 4).
    wijk_structural_migration : float [1]
        Weight of the net migration that keeps each wijk's share of the gemeente at ages up to 45
        (:func:`~assen_demand.demography.migration.structural_wijk_migration`), entering per band
        with one minus the shrinkage weight of the wijk's KWB pairs; 0 leaves it out. Default 0.5:
        with it and the wijk method weights refitted on its hindcasts the combination beats naive in
        18 of 24 hindcast cells leaving whole gemeenten out, against 16 without (issue 18 note 4).
    wijk_structural_migration_old : float [1]
        Weight of the same term at old ages, ``wijk_structural_old_min_age`` to the oldest age:
        wijken with care homes and senior flats keep their share of the very old (people move in
        at 75+), where pure ageing lets it die out. Enters like the young-age term (one minus the
        KWB-pair shrinkage weight of the wijk's 65+ band). 0 (default) leaves it out (issue 18
        note 5).
    wijk_structural_old_min_age : int [years]
        Youngest arrival age of the old-age term; above
        :data:`~assen_demand.demography.migration.STRUCTURAL_WIJK_MAX_AGE` (the young-age term's
        last age), at most the oldest age.
    mortality_jump_off : bool
        With ``mortality="lee_carter"``: start the national rates of the projection years at the
        level observed in the last year before ``base_year`` (observed national deaths over the
        model's, :func:`~assen_demand.demography.mortality.jump_off_level`; Lee & Miller 2001),
        kept for every later year and in the Lee-Carter paths of the draws. Default True: the
        WPP periods known at base years 2021-2024 end in 2020, and the model's e0 of 2023 was
        0.7 years above CBS's for men (issue 18 note 6).
    """

    mortality: str = "lee_carter"
    fit_start: int = 1970
    tfr: str = "constant"
    n_years: int = 5
    local_level: bool = True
    smr_prior_shape: float = SMR_PRIOR_SHAPE
    migration_level: float | Mapping[str, float] | None = None
    retirement: bool = False
    constrain_wijken: bool = True
    preserve_bands: bool = True
    sex_ratio_at_birth: float = SEX_RATIO_AT_BIRTH
    ungroup_method: str = "pclm"
    structural_weight: float = 1.0
    drift_multiplier: float = 1.0
    tfr_multiplier: float = 1.0
    shrink_wijk_migration: bool = True
    wijk_fertility: str = "gemeente"
    wijk_structural_migration: float = 0.5
    wijk_structural_migration_old: float = 0.0
    wijk_structural_old_min_age: int = 75
    mortality_jump_off: bool = True

    @classmethod
    def from_keywords(cls, options: ComponentOptions | None = None, **values) -> ComponentOptions:
        """``options`` (default all defaults) with the fields in ``values`` replaced.

        Raises
        ------
        ArgumentError
            ``options`` is not a ComponentOptions, or a keyword is not one of its fields.
        """
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise ArgumentError(
                f"estimate_components(): options must be a ComponentOptions, got the {type(options).__name__} "
                f"{options!r}; pass options=ComponentOptions(...) or the options as keywords"
            )
        names = [f.name for f in fields(cls)]
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ArgumentError(
                f"estimate_components() got an unknown keyword {unknown[0]}=; accepted: "
                f"base_population, end_year, options, {', '.join(names)}"
            )
        return replace(options, **values) if values else options


# --------------------------------------------------------------------------------------------
# population by single year of age (until base.py exists)
# --------------------------------------------------------------------------------------------


def single_year_population(bands: pd.DataFrame, *, open_weights: xr.DataArray | None = None) -> xr.DataArray:
    """Population by band -> single years 0..100, uniform within closed bands (naive on purpose).

    A stand-in until ``assen_demand.demography.base`` provides the raked single-year base population: each
    closed band is spread evenly over its ages; the open band (95+ in the postcode table) is
    spread over its ages up to 100+ in proportion to ``open_weights``, by default the national
    stationary population (L(x) for 95..99, T(100) for 100+) when given, else evenly.

    Parameters
    ----------
    bands : pandas.DataFrame
        Rows ``sex`` (male/female; other sexes are ignored), ``age_lo``, ``age_hi`` (exclusive,
        <NA> = open) and ``persons`` [persons], e.g. ``GemeenteData.population_bands``.
    open_weights : xarray.DataArray (sex, age), optional [persons]
        Relative weights by single age for the open band, e.g. a life table's L(x) with
        ``Lx[100]`` replaced by ``Tx[100]``.

    Returns
    -------
    xarray.DataArray (sex, age) [persons]
    """
    frame = bands[bands["sex"].isin(SEXES)]
    if frame.empty:
        raise MissingDataError("single_year_population: no male/female rows in the band table")
    check_finite_nonneg(frame["persons"].to_numpy(float), "population bands", "fix the counts")
    out = xr.DataArray(np.zeros((2, MAX_AGE + 1)), dims=("sex", "age"), coords={"sex": list(SEXES), "age": AGES})
    for row in frame.itertuples(index=False):
        lo = int(row.age_lo)
        hi = MAX_AGE + 1 if pd.isna(row.age_hi) else min(int(row.age_hi), MAX_AGE + 1)
        ages = np.arange(lo, hi)
        if pd.isna(row.age_hi) and open_weights is not None:
            w = open_weights.sel(sex=row.sex, age=ages).values.astype(float)
        else:
            w = np.ones(ages.size)
        out.loc[dict(sex=row.sex, age=ages)] += float(row.persons) * w / w.sum()
    return out.rename("population")


def _stationary_open_weights(mx: xr.DataArray) -> xr.DataArray:
    lt = life_table(mx)
    w = lt["Lx"].copy()
    w.loc[dict(age=MAX_AGE)] = lt["Tx"].sel(age=MAX_AGE)
    return w


# --------------------------------------------------------------------------------------------
# the components together
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True)
class Components:
    """The demographic components of a projection from ``base_year`` to ``end_year``.

    The first five fields are what ``assen_demand.demography.projection.project`` takes; the rest are the
    diagnostics and the fitted models behind them.

    Attributes
    ----------
    survival : xarray.DataArray (area, sex, age, year) [probability]
        S(x): aged x on 1 January ``year`` and alive on 1 January ``year + 1`` (age 99 moves into
        100+, age 100 stays in 100+; see :func:`survival_ratios`).
    births_survival : xarray.DataArray (area, sex, year) [probability]
        Births during ``year`` alive on 1 January ``year + 1`` (L(0) / l(0)).
    fertility : xarray.DataArray (area, age, year) [births per woman-year]
        ASFR by single age of mother, zero outside 15..49.
    sex_ratio_at_birth : float [boys per girl]
    net_migration : xarray.DataArray (area, sex, age, year) [net migrants per year]
        Counts of net migrants during ``year`` by their age on 1 January ``year + 1`` (the
        residual method measures them in the end-of-year age structure), to be added after
        survival: P(x, t+1) = S(x-1, t) P(x-1, t) + M(x, t), with M(0, t) the migrants born
        in year t. The same every year (see :func:`net_migration_counts`).
    base_year, end_year : int
    mx : xarray.DataArray (sex, age, year) [deaths per person-year]
        Local death rates (national x SMR) behind ``survival``.
    national_mx : xarray.DataArray (sex, age, year) [deaths per person-year]
    smr : SMRResult or None
        None when ``local_level=False``.
    fertility_level : FertilityLevel or None
    lee_carter : LeeCarterFit or None
        None for ``mortality="wpp_medium"``. With ``mortality_jump_off`` its jump-off rates carry
        the observed level.
    tfr : pandas.Series (year) [children per woman]
        National TFR path (local TFR = factor x this).
    migration_totals : pandas.DataFrame
        CBS 37259 net migration by sex and year with the residual check.
    migration_residuals : pandas.DataFrame
        KWB band residuals per area and year (wijken shrunk toward their population share,
        with the raw value, allocation and weight, see :func:`shrink_wijk_residuals`).
    migration_fit : pandas.DataFrame
        Observed and fitted band residuals per area, and each area's total.
    migration_schedules : dict
        :class:`NetMigrationSchedule` per area.
    assumptions : dict
        The options used (mortality model, TFR assumption, windows, ...).
    wijk_fertility : WijkFertility or None
        The wijken's fertility multipliers with ``wijk_fertility="cwr"`` (else None).
    jump_off : JumpOffLevel or None
        The national mortality level of the jump-off year against the model rates, applied to the
        projection years (``mortality_jump_off``); None when not applied.
    """

    survival: xr.DataArray
    births_survival: xr.DataArray
    fertility: xr.DataArray
    sex_ratio_at_birth: float
    net_migration: xr.DataArray
    base_year: int
    end_year: int
    mx: xr.DataArray
    national_mx: xr.DataArray
    smr: SMRResult | None
    fertility_level: FertilityLevel | None
    lee_carter: LeeCarterFit | None
    tfr: pd.Series
    migration_totals: pd.DataFrame
    migration_residuals: pd.DataFrame
    migration_fit: pd.DataFrame
    migration_schedules: dict = field(repr=False)
    assumptions: dict = field(default_factory=dict)
    wijk_fertility: WijkFertility | None = None
    jump_off: JumpOffLevel | None = None

    @property
    def areas(self) -> list[str]:
        """Area codes, gemeente first."""
        return [str(a) for a in self.net_migration["area"].values]

    def to_projection_inputs(self):
        """The engine's :class:`assen_demand.demography.engine.ProjectionInputs`."""
        return ProjectionInputs(
            survival=self.survival, births_survival=self.births_survival, fertility=self.fertility,
            sex_ratio_at_birth=self.sex_ratio_at_birth, net_migration=self.net_migration,
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy long table: area, sex, age, year, survival, net_migration, fertility, births_survival.

        ``fertility`` is filled on the female rows only (ASFR per woman); ``births_survival``
        is repeated on every age of its area, sex and year.
        """
        frame = xr.Dataset({"survival": self.survival, "net_migration": self.net_migration}).to_dataframe()
        frame = frame.reset_index()
        fert = self.fertility.to_dataframe().reset_index().assign(sex="female")
        frame = frame.merge(fert, on=["area", "sex", "age", "year"], how="left")
        births = self.births_survival.to_dataframe().reset_index()
        frame = frame.merge(births, on=["area", "sex", "year"], how="left")
        columns = ["area", "sex", "age", "year", "survival", "net_migration", "fertility", "births_survival"]
        return frame[columns].sort_values(columns[:4]).reset_index(drop=True)

    def stochastic_survival(self, *, draws: int, seed: int | None = None) -> tuple[xr.DataArray, xr.DataArray]:
        """Survival and births survival with a ``draw`` dimension from Lee-Carter k(t) paths.

        Years after the Lee-Carter jump-off get simulated rates (:meth:`LeeCarterFit.simulate`),
        multiplied by the SMR; earlier years keep the central rates.

        Returns
        -------
        survival : xarray.DataArray (draw, area, sex, age, year) [probability]
        births_survival : xarray.DataArray (draw, area, sex, year) [probability]
        """
        if self.lee_carter is None:
            raise InvalidValueError("stochastic_survival needs mortality='lee_carter'")
        years = self.survival["year"].values
        later = years[years + 0.5 > self.lee_carter.last_time]
        sim = self.lee_carter.simulate(later, draws=draws, seed=seed)
        level = self.smr.shrunk if self.smr is not None else 1.0
        mx = self.mx.sel(year=years).expand_dims(draw=np.arange(draws)).copy()
        mx.loc[dict(year=later)] = (sim * level).transpose(*mx.sel(year=later).dims)
        surv, bsurv = survival_ratios(life_table(mx))
        area = self.survival["area"]
        return (surv.expand_dims(area=area).transpose("draw", "area", "sex", "age", "year"),
                bsurv.expand_dims(area=area).transpose("draw", "area", "sex", "year"))

    def summary(self) -> pd.DataFrame:
        """Headline numbers: SMR, fertility factor, e0 in the base year, TFR, net migration."""
        e0 = life_table(self.mx.sel(year=[self.base_year]))["ex"].sel(age=0, year=self.base_year)
        local_tfr = self.fertility.sel(year=self.base_year).sum("age")
        rows = {
            "smr": self.smr.shrunk if self.smr else 1.0,
            "smr_raw": self.smr.smr if self.smr else float("nan"),
            "fertility_factor": self.fertility_level.factor if self.fertility_level else 1.0,
            "e0_male": float(e0.sel(sex="male")), "e0_female": float(e0.sel(sex="female")),
            "tfr_local": float(local_tfr.isel(area=0)),
            "net_migration_per_year": float(self.net_migration.isel(area=0, year=0).sum()),
        }
        return pd.Series(rows, name=self.areas[0]).to_frame()


def _population_on(dyn: pd.DataFrame, base_year: int) -> xr.DataArray | None:
    rows = dyn[dyn["sex"].isin(SEXES)]
    jan = rows[rows["year"] == base_year].set_index("sex")["population_jan1"]
    if len(jan) == 2 and jan.notna().all():
        values = jan
    else:
        dec = rows[rows["year"] == base_year - 1].set_index("sex")["population_dec31"]
        if len(dec) != 2 or dec.isna().any():
            return None
        values = dec
    return xr.DataArray(values.reindex(list(SEXES)).to_numpy(float), dims="sex", coords={"sex": list(SEXES)})


def _observed_mortality_factor(dyn: pd.DataFrame, mx: xr.DataArray, structure: xr.DataArray,
                               years: Sequence[int], fallback: float) -> xr.DataArray:
    """Per sex and year: observed deaths / deaths the rates give (fallback where deaths are unknown)."""
    out = xr.DataArray(np.full((2, len(years)), fallback), dims=("sex", "year"),
                       coords={"sex": list(SEXES), "year": list(years)})
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["deaths"].notna() & dyn["population_jan1"].notna()]
    counts = rows.groupby("year")["sex"].nunique()
    known = [y for y in years if counts.get(y, 0) == len(SEXES)]
    if known:
        obs = observed_counts(dyn, "deaths", known)
        exp = (mx.sel(year=known) * age_shape(structure) * mid_year_population(dyn, known)).sum("age")
        out.loc[dict(year=known)] = obs / exp
    return out


def estimate_components(
    data,
    *,
    base_year: int,
    end_year: int = 2040,
    base_population: xr.DataArray | None = None,
    options: ComponentOptions | None = None,
    **option_values,
) -> Components:
    """Estimate every demographic component of a gemeente and its wijken, as known at ``base_year``.

    The data are first cut with ``data.as_of(base_year)`` (nothing published after 1 January
    ``base_year``), so a hindcast is honest whatever ``data`` holds.

    Mortality: national m(x) (WPP periods ending by ``base_year``, Lee-Carter beyond, or the WPP
    medium variant) x the shrunk gemeente SMR; every wijk gets the gemeente's rates (there are
    no deaths per wijk). Fertility: national ASFR (TFR ``tfr`` assumption) x the gemeente factor;
    wijken likewise. Migration: :func:`net_migration_counts`.

    Parameters
    ----------
    data : assen_demand.inputs.datasets.GemeenteData
    base_year : int
        Jump-off: 1 January ``base_year``.
    end_year : int
        Last year of the components (inclusive).
    base_population : xarray.DataArray (area, sex, age), optional [persons]
        Population on 1 January ``base_year`` by single age (from ``assen_demand.demography.base``). Without
        it, the 2021 postcode bands are spread uniformly within bands (needs ``base_year >=
        2021``) and wijken are split from their KWB bands with the gemeente structure.
    options : ComponentOptions, optional
        The estimation options (default ``ComponentOptions()``).
    **option_values
        Any field of :class:`ComponentOptions` as a keyword (``mortality="wpp_medium"``,
        ``n_years=3``, ...); it overrides the same field of ``options``.

    Returns
    -------
    Components
    """
    opts = ComponentOptions.from_keywords(options, **option_values)
    if opts.wijk_fertility not in ("gemeente", "cwr"):
        raise InvalidValueError(f"wijk_fertility must be 'gemeente' or 'cwr' (got {opts.wijk_fertility!r})")
    if not (np.isfinite(opts.wijk_structural_migration) and opts.wijk_structural_migration >= 0):
        raise InvalidValueError(
            f"wijk_structural_migration must be a number >= 0 (got {opts.wijk_structural_migration!r}); 0 leaves it out")
    if not (np.isfinite(opts.wijk_structural_migration_old) and opts.wijk_structural_migration_old >= 0):
        raise InvalidValueError(
            f"wijk_structural_migration_old must be a number >= 0 (got {opts.wijk_structural_migration_old!r}); "
            "0 leaves it out")
    if not (float(opts.wijk_structural_old_min_age).is_integer()
            and STRUCTURAL_WIJK_MAX_AGE < opts.wijk_structural_old_min_age <= MAX_AGE):
        raise InvalidValueError(
            f"wijk_structural_old_min_age must be a whole age from {STRUCTURAL_WIJK_MAX_AGE + 1} to {MAX_AGE} (got "
            f"{opts.wijk_structural_old_min_age!r}); the young-age term covers ages 1-{STRUCTURAL_WIJK_MAX_AGE}")
    if end_year <= base_year:
        raise InvalidValueError(f"end_year {end_year} must be after base_year {base_year}")
    if not opts.sex_ratio_at_birth > 0:
        raise InvalidValueError(f"sex_ratio_at_birth must be positive (got {opts.sex_ratio_at_birth})")
    d = data.as_of(base_year)
    gemeente = d.gemeente
    pop_total = _population_on(d.dynamics, base_year)
    if pop_total is None and base_population is None:
        raise MissingDataError(
            f"no population of {d.name} ({gemeente}) on 1 January {base_year} in CBS 37259 (years "
            f"{int(data.dynamics['year'].min())}-{int(data.dynamics['year'].max())}); choose a base year "
            "covered by the data or pass base_population="
        )
    horizon = list(range(base_year, end_year + 1))
    first = min(base_year - opts.n_years, min(d.kwb_years, default=base_year))
    all_years = list(range(first, end_year + 1))

    # national_mortality and tfr_path cut the WPP tables at base_year themselves; they get the
    # full tables so that the explicit "wpp_medium" assumptions can reach the projection rows
    national_mx, lc = national_mortality(data.wpp_mx, base_year=base_year, years=all_years, model=opts.mortality,
                                         fit_start=opts.fit_start, method=opts.ungroup_method,
                                         drift_multiplier=opts.drift_multiplier)
    last_period = ungroup_mx(wpp_period_mx(d.wpp_mx, base_year=base_year), method=opts.ungroup_method).isel(time=-1, drop=True)
    open_w = _stationary_open_weights(last_period)

    # age structure of the gemeente (and the country, for calibration)
    if base_population is not None:
        check_sex_coord(base_population, "base_population")
        check_finite_nonneg(base_population.values, "base_population", "persons cannot be negative or NaN")
        if gemeente not in base_population["area"].values:
            raise DataFormatError(f"base_population has no area {gemeente!r}; include the gemeente row")
        structure = base_population.sel(area=gemeente, drop=True).reindex(age=AGES, fill_value=0.0)
    elif not d.population_bands.empty:
        structure = single_year_population(d.population_bands, open_weights=open_w)
    else:
        raise MissingDataError(
            f"no age structure of {gemeente} known on 1 January {base_year} (the postcode table is of "
            "1 January 2021); pass base_population= (area, sex, age) from assen_demand.demography.base"
        )
    national_structure = (single_year_population(d.national_population_bands, open_weights=open_w)
                          if not d.national_population_bands.empty else None)

    # national level at the jump-off (Lee & Miller 2001): the known WPP periods end years before
    # the base year, so the model rates of the last observed year are a forecast already
    jump = None
    if opts.mortality_jump_off and lc is not None and national_structure is not None:
        jump = jump_off_level(national_mx, d.national_dynamics, national_structure, base_year=base_year,
                              population_year=int(d.national_population_bands["year"].max()))
    if jump is not None:
        in_projection = xr.DataArray(np.asarray(all_years) >= base_year, dims="year", coords={"year": all_years})
        national_mx = xr.where(in_projection, national_mx * jump.factor, national_mx).transpose(*national_mx.dims)
        national_mx = national_mx.rename("mx")
        lc = replace(lc, jump_off=lc.jump_off + np.log(jump.factor))

    # mortality level
    smr = None
    level = 1.0
    if opts.local_level:
        smr = local_smr(d.dynamics, base_year=base_year, national_mx=national_mx, population=structure,
                        national_dynamics=d.national_dynamics, national_population=national_structure,
                        n_years=opts.n_years, prior_shape=opts.smr_prior_shape)
        level = smr.shrunk
    local_mx = (national_mx * level).rename("mx")
    surv, bsurv = survival_ratios(life_table(local_mx))

    # fertility
    tfr_series, pct = tfr_path(data.wpp_tfr, data.wpp_asfr, base_year=base_year, years=all_years, assumption=opts.tfr)
    if not (np.isfinite(opts.tfr_multiplier) and opts.tfr_multiplier > 0):
        raise InvalidValueError(f"tfr_multiplier must be a positive number (got {opts.tfr_multiplier!r})")
    if opts.tfr_multiplier != 1.0:
        # only the assumption about the future changes; the observed window keeps its TFR, so
        # the local fertility factor is estimated exactly as without the scenario
        tfr_series = tfr_series.where(tfr_series.index < base_year, tfr_series * opts.tfr_multiplier)
    asfr = national_asfr(tfr_series, pct)
    fert_level = None
    factor = 1.0
    if opts.local_level:
        fert_level = local_fertility_factor(
            d.dynamics, base_year=base_year, asfr=asfr, female_population=structure.sel(sex="female", drop=True),
            national_dynamics=d.national_dynamics,
            national_female_population=None if national_structure is None else national_structure.sel(sex="female", drop=True),
            n_years=opts.n_years)
        factor = fert_level.factor

    # migration: residual survival reproduces each year's observed deaths where known
    totals = net_migration_totals(d.dynamics, base_year=base_year, n_years=opts.n_years)
    flow_years = [y for y in all_years if y < base_year]
    obs_factor = _observed_mortality_factor(d.dynamics[d.dynamics["year"] < base_year], national_mx,
                                            structure, flow_years, fallback=level)
    resid_surv, resid_bsurv = survival_ratios(life_table(national_mx.sel(year=flow_years) * obs_factor))
    births = d.dynamics[(d.dynamics["sex"] == "total") & (d.dynamics["year"] < base_year)].set_index("year")["births"].dropna()
    residuals = kwb_band_residuals(d.kwb, base_year=base_year, survival=resid_surv, births_survival=resid_bsurv,
                                   births=births, structure=structure, asfr=asfr,
                                   sex_ratio_at_birth=opts.sex_ratio_at_birth)
    residuals, boundary_changes = drop_boundary_changes(
        residuals, totals, gemeente=gemeente, population=float(structure.sum()))
    residuals, changed_wijken = drop_changed_wijken(residuals, d.kwb)
    if opts.shrink_wijk_migration and len(residuals):
        residuals = shrink_wijk_residuals(residuals, dispersion=migration_dispersion())
    area_pop = _area_population(d, base_year=base_year, structure=structure, pop_total=pop_total,
                                base_population=base_population)
    prior = None
    has_pairs = len(residuals) and (residuals["area"] == gemeente).any()
    if opts.structural_weight and not d.population_bands.empty and not d.national_population_bands.empty:
        band_year = int(d.population_bands["year"].max())
        prior = structural_net_migration(
            d.population_bands[d.population_bands["year"] == band_year],
            d.national_population_bands[d.national_population_bands["year"] == band_year],
            area_pop.sel(area=gemeente, drop=True), weight=opts.structural_weight)
    net, fit_diag, schedules = net_migration_counts(
        residuals=residuals, totals=totals, population=area_pop, gemeente=gemeente, years=horizon,
        level=opts.migration_level, retirement=opts.retirement, constrain_wijken=opts.constrain_wijken,
        preserve_bands=opts.preserve_bands, prior=prior)

    wijken = [a for a in area_pop["area"].values.tolist() if a != gemeente]
    if (opts.wijk_structural_migration or opts.wijk_structural_migration_old) and wijken:
        # issue 18 item 1: the wijk keeps its young-age share of the gemeente, as far as its own KWB
        # pairs do not say otherwise (their shrinkage weight takes the structural term's place);
        # note 5: optionally also its share of the old (care homes, senior flats)
        base_survival = surv.sel(year=base_year, drop=True)
        structural = structural_wijk_migration(area_pop, base_survival, gemeente=gemeente,
                                               weight=opts.wijk_structural_migration)
        if opts.wijk_structural_migration_old:
            structural = structural + structural_wijk_migration(
                area_pop, base_survival, gemeente=gemeente, weight=opts.wijk_structural_migration_old,
                min_age=int(opts.wijk_structural_old_min_age), max_age=MAX_AGE)
        pair_weight = None
        rows = residuals[residuals["area_level"] == "wijk"] if len(residuals) else residuals
        if len(rows):  # unshrunk residuals are taken at face value: weight 1
            weights = (rows["shrinkage_weight"] if "shrinkage_weight" in rows else pd.Series(1.0, index=rows.index))
            pair_weight = xr.DataArray.from_series(weights.groupby([rows["area"], rows["age_lo"]]).mean())
        net = add_structural_wijk_migration(net, structural, population=area_pop, pair_weight=pair_weight,
                                            balance=opts.constrain_wijken)

    areas = area_pop["area"]
    survival = surv.sel(year=horizon).expand_dims(area=areas).transpose("area", "sex", "age", "year")
    births_survival = bsurv.sel(year=horizon).expand_dims(area=areas).transpose("area", "sex", "year")
    fertility = (asfr.sel(year=horizon) * factor).expand_dims(area=areas).transpose("area", "age", "year")
    wijk_fert = None
    if opts.wijk_fertility == "cwr" and wijken:
        # issue 18 item 2: births per wijk follow its child-woman ratio relative to the gemeente's
        wijk_fert = wijk_fertility_factors(area_pop, asfr.sel(year=base_year, drop=True) * factor, gemeente=gemeente)
        multiplier = xr.DataArray(np.ones(areas.size), dims="area", coords={"area": areas.values})
        multiplier.loc[dict(area=wijk_fert.table["area"].tolist())] = wijk_fert.table["factor"].to_numpy(float)
        fertility = (fertility * multiplier).transpose("area", "age", "year")
    return Components(
        survival=survival.rename("survival"),
        births_survival=births_survival.rename("births_survival"),
        fertility=fertility.rename("fertility"),
        sex_ratio_at_birth=float(opts.sex_ratio_at_birth),
        net_migration=net,
        base_year=int(base_year),
        end_year=int(end_year),
        mx=local_mx,
        national_mx=national_mx,
        smr=smr,
        fertility_level=fert_level,
        lee_carter=lc,
        tfr=tfr_series,
        migration_totals=totals,
        migration_residuals=residuals,
        migration_fit=fit_diag,
        migration_schedules=schedules,
        assumptions=dict(mortality=opts.mortality, fit_start=opts.fit_start, tfr=opts.tfr, n_years=opts.n_years,
                         local_level=opts.local_level, smr_prior_shape=opts.smr_prior_shape,
                         migration_level=opts.migration_level, retirement=opts.retirement,
                         constrain_wijken=opts.constrain_wijken, preserve_bands=opts.preserve_bands,
                         ungroup_method=opts.ungroup_method, drift_multiplier=opts.drift_multiplier,
                         tfr_multiplier=opts.tfr_multiplier,
                         migration_age_pattern=(("kwb_bands_structural_within" if prior is not None else "kwb_residuals")
                                                if has_pairs else
                                                "structural" if prior is not None else "rogers_castro"),
                         structural_weight=opts.structural_weight, shrink_wijk_migration=opts.shrink_wijk_migration,
                         kwb_pairs_left_out=[d["year"] for d in boundary_changes],
                         wijk_pairs_left_out=changed_wijken,
                         base_population="given" if base_population is not None else "postcode bands 2021, uniform",
                         wijk_fertility=opts.wijk_fertility,
                         wijk_structural_migration=opts.wijk_structural_migration,
                         wijk_structural_migration_old=opts.wijk_structural_migration_old,
                         wijk_structural_old_min_age=int(opts.wijk_structural_old_min_age),
                         mortality_jump_off=(f"{jump.year}: " + ", ".join(
                             f"{sx} x{float(f):.3f}" for sx, f in zip(jump.factor["sex"].values, jump.factor.values))
                             if jump is not None else "not applied")),
        wijk_fertility=wijk_fert,
        jump_off=jump,
    )


def _area_population(d, *, base_year: int, structure: xr.DataArray, pop_total: xr.DataArray | None,
                     base_population: xr.DataArray | None) -> xr.DataArray:
    """(area, sex, age) on 1 January ``base_year``: gemeente first, then its wijken."""
    gemeente = d.gemeente
    if base_population is not None and base_population.sizes.get("area", 0) > 1:
        pop = base_population.reindex(age=AGES, fill_value=0.0).transpose("area", "sex", "age").astype(float)
        others = [a for a in pop["area"].values.tolist() if a != gemeente]
        return pop.sel(area=[gemeente] + others)
    if base_population is not None:
        gem = base_population.sel(area=gemeente, drop=True).reindex(age=AGES, fill_value=0.0)
    else:
        gem = age_shape(structure) * pop_total
    parts = [gem.expand_dims(area=[gemeente])]
    years = [y for y in d.kwb_years if y <= base_year]
    if years:
        latest = max(years)
        wijk_rows = d.kwb[(d.kwb["year"] == latest) & (d.kwb["area_level"] == "wijk")]
        if not wijk_rows.empty:
            long = kwb_age_bands(wijk_rows)
            bands = long.pivot_table(index="area", columns="age_lo", values="persons")
            edges = KWB_BAND_EDGES
            band_index = np.searchsorted(edges, AGES, side="right") - 1
            split = split_bands(bands.to_numpy(float), band_index, structure.transpose("sex", "age").values)
            parts.append(xr.DataArray(split, dims=("area", "sex", "age"),
                                      coords={"area": bands.index.astype(str).tolist(), "sex": list(SEXES), "age": AGES}))
    return xr.concat(parts, dim="area").transpose("area", "sex", "age").rename("population")

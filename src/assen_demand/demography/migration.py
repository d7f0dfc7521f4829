"""Migration: Rogers-Castro schedules, the residual method, wijk shrinkage, net migration counts.

* **Model schedules**: :func:`rogers_castro` (:data:`RC_FUNDAMENTAL`, :data:`RC_RETIREMENT_EXAMPLE`)
  and :func:`fit_rogers_castro`.
* **Residual method**: net migration totals of the gemeente from CBS 37259
  (:func:`net_migration_totals`) and per KWB age band and area from successive KWB years
  (:func:`kwb_band_residuals`), leaving out years with boundary changes
  (:func:`drop_boundary_changes`, :func:`drop_changed_wijken`).
* **Wijk shrinkage** toward the wijk's population share of the gemeente, weighted by the wijk
  migration dispersion (:func:`migration_dispersion`, :func:`shrinkage_weight`,
  :func:`shrink_wijk_residuals`).
* **Schedules and counts**: :func:`fit_net_migration_schedule` (:class:`NetMigrationSchedule`),
  :func:`net_migration_counts` (area, sex, age, year) and the structural age pattern of a
  gemeente relative to the Netherlands (:func:`structural_net_migration`).

Bron: CBS (CC BY 4.0).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize

from assen_demand.datamodel import AGES, KWB_BAND_EDGES, KWB_BANDS, MAX_AGE, SEX_RATIO_AT_BIRTH, SEXES
from assen_demand.demography.ageing import age_one_year
from assen_demand.display import summary_repr
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.demography.rates import ComponentsWarning, check_finite_nonneg, split_bands, window_years
from assen_demand.inputs.kwb import buurt_sets, kwb_age_bands, same_buurten
from assen_demand.parameters import load_parameter_table

__all__ = [
    "RC_FUNDAMENTAL",
    "RC_RETIREMENT_EXAMPLE",
    "rogers_castro",
    "RogersCastroFit",
    "fit_rogers_castro",
    "net_migration_totals",
    "kwb_band_residuals",
    "MIGRATION_DISPERSION_TABLE",
    "migration_dispersion",
    "drop_boundary_changes",
    "drop_changed_wijken",
    "shrinkage_weight",
    "shrink_wijk_residuals",
    "NetMigrationSchedule",
    "fit_net_migration_schedule",
    "net_migration_counts",
    "structural_net_migration",
    "STRUCTURAL_WIJK_MAX_AGE",
    "structural_wijk_migration",
    "add_structural_wijk_migration",
]


# --------------------------------------------------------------------------------------------
# 6. migration: Rogers-Castro model schedules and the residual method
# --------------------------------------------------------------------------------------------

#: The "fundamental" 7-parameter Rogers-Castro schedule of Rogers & Castro (1981), Model
#: Migration Schedules, IIASA RR-81-30 (the values reproduced as ``rc9.fund`` in the R package
#: migest, Abel): childhood a1, alpha1; labour-force peak a2, alpha2, mu2, lambda2; constant c.
RC_FUNDAMENTAL: dict[str, float] = {
    "a1": 0.02, "alpha1": 0.1, "a2": 0.06, "alpha2": 0.1, "mu2": 20.0, "lambda2": 0.4, "c": 0.003,
}
#: An illustrative retirement peak (a3, alpha3, mu3, lambda3) for the 11-parameter form, the
#: example values of ``mig_calculate_rc`` in DemoTools/rcbayes (Riffe, Alexander et al.); not
#: fitted to Dutch data, used only as a starting point and in the synthetic tests.
RC_RETIREMENT_EXAMPLE: dict[str, float] = {"a3": 0.001, "alpha3": 1.0, "mu3": 67.0, "lambda3": 0.6}

_RC_FAMILIES = {
    "childhood": ("a1", "alpha1"),
    "labour": ("a2", "alpha2", "mu2", "lambda2"),
    "retirement": ("a3", "alpha3", "mu3", "lambda3"),
    "elderly": ("a4", "lambda4"),
}


def _rc_terms(ages: np.ndarray, p: Mapping[str, float]) -> dict[str, np.ndarray]:
    x = np.asarray(ages, dtype=float)
    terms: dict[str, np.ndarray] = {}
    if "alpha1" in p:
        terms["childhood"] = np.exp(-p["alpha1"] * x)
    if "mu2" in p:
        u = x - p["mu2"]
        terms["labour"] = np.exp(-p["alpha2"] * u - np.exp(-p["lambda2"] * u))
    if "mu3" in p:
        u = x - p["mu3"]
        terms["retirement"] = np.exp(-p["alpha3"] * u - np.exp(-p["lambda3"] * u))
    if "lambda4" in p:
        terms["elderly"] = np.exp(p["lambda4"] * x)
    return terms


def rogers_castro(ages, params: Mapping[str, float]) -> np.ndarray:
    """Rogers-Castro model migration schedule at exact ages.

    m(x) = a1 exp(-alpha1 x)
         + a2 exp(-alpha2 (x - mu2) - exp(-lambda2 (x - mu2)))
         + a3 exp(-alpha3 (x - mu3) - exp(-lambda3 (x - mu3)))   (11-parameter form)
         + a4 exp(lambda4 x)                                      (13-parameter form)
         + c

    (Rogers & Castro 1981). A family of terms is included when all its parameters are given.

    Parameters
    ----------
    ages : array-like [years]
    params : mapping
        Parameter values, e.g. :data:`RC_FUNDAMENTAL` [rates per person-year for a1, a2, a3, a4, c;
        per year for alpha, lambda; years for mu].

    Returns
    -------
    numpy.ndarray [migrations per person-year]
    """
    for family, names in _RC_FAMILIES.items():
        present = [n for n in names if n in params]
        if present and len(present) != len(names):
            raise InvalidValueError(
                f"rogers_castro: the {family} family needs all of {names} (got only {present})"
            )
    terms = _rc_terms(np.asarray(ages), params)
    amp = {"childhood": "a1", "labour": "a2", "retirement": "a3", "elderly": "a4"}
    out = np.full(np.shape(ages), float(params.get("c", 0.0)))
    for family, values in terms.items():
        out = out + params[amp[family]] * values
    return out


@summary_repr
@dataclass(frozen=True)
class RogersCastroFit:
    """Result of :func:`fit_rogers_castro`.

    Attributes
    ----------
    params : dict
        Fitted (and fixed) parameters.
    single : xarray.DataArray (age) [same unit as the data per single year]
        The fitted schedule at single ages 0..100.
    fitted, observed : numpy.ndarray
        Fitted and observed values at the data points (single ages or bands).
    success : bool
        Whether the optimiser converged.
    cost : float
        Half the sum of squared residuals.
    """

    params: dict[str, float]
    single: xr.DataArray
    fitted: np.ndarray
    observed: np.ndarray
    success: bool
    cost: float


_RC_BOUNDS = {
    "a1": (0.0, np.inf), "alpha1": (1e-4, 2.0), "a2": (0.0, np.inf), "alpha2": (1e-4, 2.0),
    "mu2": (10.0, 45.0), "lambda2": (1e-3, 3.0), "a3": (0.0, np.inf), "alpha3": (1e-4, 5.0),
    "mu3": (50.0, 85.0), "lambda3": (1e-3, 5.0), "a4": (0.0, np.inf), "lambda4": (1e-4, 1.0),
    "c": (0.0, np.inf),
}


def fit_rogers_castro(
    values,
    *,
    ages=None,
    edges: Sequence[int] | None = None,
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    weights=None,
    max_age: int = MAX_AGE,
) -> RogersCastroFit:
    """Fit a Rogers-Castro schedule by (weighted) nonlinear least squares (scipy ``least_squares``).

    Either single-age data (``ages``) or band totals (``edges``): in the band-integrated fit the
    model value of band [lo, hi) is the sum of the schedule over its single ages lo..hi-1 (the
    last band may be open: hi = ``max_age + 1``), so the fitted single-year schedule reproduces
    the band totals as closely as the model allows.

    Parameters
    ----------
    values : array-like [migrations per person-year, or migrants]
        Non-negative data at single ages or per band.
    ages : array-like of int, optional [years]
        Ages of single-age data.
    edges : sequence of int, optional [years]
        Band edges (len(values) + 1) for band totals.
    initial : mapping, optional
        Starting values, which also choose the form: 7 parameters (default,
        :data:`RC_FUNDAMENTAL` scaled to the data) or 11 with the retirement family.
    fixed : mapping, optional
        Parameters held at the given values.
    weights : array-like, optional
        Weights of the squared residuals.
    max_age : int
        Oldest single age of the schedule (the open group).

    Returns
    -------
    RogersCastroFit
    """
    y = np.asarray(values, dtype=float)
    check_finite_nonneg(y, "fit_rogers_castro: values", "fit gross flows or rates; for net migration use "
                         "fit_net_migration_schedule")
    if (ages is None) == (edges is None):
        raise InvalidValueError("fit_rogers_castro: give exactly one of ages= (single ages) or edges= (bands)")
    grid = np.arange(max_age + 1)
    if edges is not None:
        edges = np.asarray(edges, dtype=int)
        if edges.size != y.size + 1 or np.any(np.diff(edges) <= 0):
            raise DataFormatError(f"fit_rogers_castro: {y.size} band totals need {y.size + 1} rising edges")
        band = np.searchsorted(edges, grid, side="right") - 1
        inside = (band >= 0) & (band < y.size)

        def model(p):
            s = rogers_castro(grid, p)
            return np.bincount(band[inside], weights=s[inside], minlength=y.size)
    else:
        x = np.asarray(ages, dtype=float)
        if x.size != y.size:
            raise DataFormatError("fit_rogers_castro: ages and values differ in length")

        def model(p):
            return rogers_castro(x, p)

    start = dict(initial) if initial is not None else dict(RC_FUNDAMENTAL)
    if initial is None:
        # scale the amplitudes of the fundamental schedule to the level of the data
        scale = y.sum() / max(model(start).sum(), 1e-300)
        for k in ("a1", "a2", "c"):
            start[k] *= scale
    fixed = dict(fixed or {})
    free = [k for k in start if k not in fixed]
    lower = np.array([_RC_BOUNDS.get(k, (-np.inf, np.inf))[0] for k in free])
    upper = np.array([_RC_BOUNDS.get(k, (-np.inf, np.inf))[1] for k in free])
    x0 = np.clip(np.array([start[k] for k in free], dtype=float), lower + 1e-12, np.where(np.isinf(upper), np.inf, upper - 1e-12))
    w = np.sqrt(np.asarray(weights, dtype=float)) if weights is not None else np.ones_like(y)
    level = max(np.abs(y).max(), 1e-300)

    def resid(theta):
        p = {**fixed, **dict(zip(free, theta))}
        return w * (model(p) - y) / level

    sol = optimize.least_squares(resid, x0, bounds=(lower, upper), x_scale="jac", max_nfev=5000,
                                 xtol=1e-12, ftol=1e-12, gtol=1e-12)
    params = {**fixed, **dict(zip(free, sol.x.tolist()))}
    single = xr.DataArray(rogers_castro(grid, params), dims="age", coords={"age": grid}, name="rogers_castro")
    return RogersCastroFit(params=params, single=single, fitted=model(params), observed=y,
                           success=bool(sol.success), cost=float(sol.cost) * level**2)


def net_migration_totals(dynamics: pd.DataFrame, *, base_year: int, n_years: int = 5) -> pd.DataFrame:
    """Net migration per sex and year (CBS 37259), checked against the demographic residual.

    The reported ``net_migration`` (immigration + in-movers - emigration - out-movers, including
    administrative corrections) is used. The residual population change minus natural change,
    (31 Dec - 1 Jan) - (births - deaths), should equal it; CBS's "other corrections" make them
    differ by a few persons. A difference larger than max(10, 0.1 % of the population) is
    reported with a :class:`ComponentsWarning`.

    Parameters
    ----------
    dynamics : pandas.DataFrame
        ``GemeenteData.dynamics`` [persons].
    base_year : int
        Years before ``base_year`` only.
    n_years : int
        The last ``n_years`` years with flows.

    Returns
    -------
    pandas.DataFrame
        ``sex, year, net_migration, residual, difference`` [persons per year] for male and female.
    """
    dyn = dynamics[dynamics["year"] < base_year]
    years = window_years(dyn, "net_migration", base_year, n_years, "net migration")
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["year"].isin(years)].copy()
    rows["residual"] = rows["population_dec31"] - rows["population_jan1"] - rows["births"] + rows["deaths"]
    rows["difference"] = rows["net_migration"] - rows["residual"]
    tol = np.maximum(10.0, 0.001 * rows["population_jan1"].astype(float))
    bad = rows[rows["difference"].abs() > tol]
    if not bad.empty:
        first = bad.iloc[0]
        warnings.warn(
            f"CBS 37259 {first['area']}: reported net migration differs from population change minus natural "
            f"change by {first['difference']:+.0f} in {int(first['year'])} ({first['sex']}; {len(bad)} such rows); "
            "the reported value is used", ComponentsWarning, stacklevel=2)
    out = rows[["sex", "year", "net_migration", "residual", "difference"]].sort_values(["sex", "year"])
    return out.reset_index(drop=True)


def _age_one_year(pop: np.ndarray, surv: np.ndarray, births: np.ndarray, bsurv: np.ndarray,
                  srb: float = SEX_RATIO_AT_BIRTH) -> np.ndarray:
    """(area, sex, age) on 1 Jan t -> expected (area, sex, age) on 1 Jan t+1 without migration."""
    out = age_one_year(pop, surv)
    shares = np.array([srb, 1.0]) / (1.0 + srb)
    out[..., 0] = births[:, None] * shares[None, :] * bsurv[None, :]
    return out


def kwb_band_residuals(
    kwb: pd.DataFrame,
    *,
    base_year: int,
    survival: xr.DataArray,
    births_survival: xr.DataArray,
    births: pd.Series,
    structure: xr.DataArray,
    asfr: xr.DataArray,
    sex_ratio_at_birth: float = SEX_RATIO_AT_BIRTH,
) -> pd.DataFrame:
    """Net migration by KWB age band per area and year from successive KWB years (residual method).

    For each area and each pair of KWB years (t, t+1) with t+1 <= ``base_year``: the 1 January t
    band totals are split by sex and single age with the gemeente ``structure`` (within each band),
    survived and aged one year with the local survival of year t, births of year t added at age 0;
    net migration per band = observed band total on 1 January t+1 minus this expectation (so it
    includes moves between wijken, which is what a wijk projection needs). Gemeente births are
    shared among wijken in proportion to expected births (national ASFR x the wijk's women).

    Parameters
    ----------
    kwb : pandas.DataFrame
        ``GemeenteData.kwb`` (gemeente and wijk rows; buurten are ignored) [persons].
    base_year : int
        Only KWB years up to ``base_year`` (stocks on 1 January) are used.
    survival : xarray.DataArray (sex, age, year) [probability]
        Local one-year survival (:func:`survival_ratios`) for the flow years.
    births_survival : xarray.DataArray (sex, year) [probability]
    births : pandas.Series [births per year]
        Gemeente live births by calendar year (CBS 37259).
    structure : xarray.DataArray (sex, age) [persons]
        Gemeente population by sex and single age; only its shape within the KWB bands is used.
    asfr : xarray.DataArray (age, year) [births per woman-year]
        Used to share births among wijken.
    sex_ratio_at_birth : float [boys per girl]

    Returns
    -------
    pandas.DataFrame
        ``area, area_level, year`` (flow year t), ``age_lo, age_hi, start, expected, observed,
        net_migration`` [persons]; empty if fewer than two KWB years are known.
    """
    rows = kwb[(kwb["year"] <= base_year) & kwb["area_level"].isin(["gemeente", "wijk"])]
    cols = ["area", "area_level", "year", "age_lo", "age_hi", "start", "expected", "observed", "net_migration"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    long = kwb_age_bands(rows)
    kwb_years = sorted(int(y) for y in long["year"].unique())
    edges = KWB_BAND_EDGES
    band_index = np.searchsorted(edges, AGES, side="right") - 1
    shape = structure.transpose("sex", "age").values.astype(float)
    out = []
    for t in kwb_years:
        if t + 1 not in kwb_years:
            continue
        a = long[long["year"] == t].pivot_table(index="area", columns="age_lo", values="persons")
        b = long[long["year"] == t + 1].pivot_table(index="area", columns="age_lo", values="persons")
        areas = sorted(set(a.index) & set(b.index))
        dropped = sorted(set(a.index) ^ set(b.index))
        if dropped:
            warnings.warn(f"KWB {t}->{t + 1}: area(s) {dropped[:5]} not in both years (boundary change?); "
                          "no migration residual for them", ComponentsWarning, stacklevel=2)
        if t not in births.index:
            raise MissingDataError(f"residual method: no gemeente births for {t}")
        for name, da in (("survival", survival), ("births_survival", births_survival)):
            if t not in da["year"].values:
                raise MissingDataError(f"residual method: {name} lacks year {t}")
        level = rows.drop_duplicates("area").set_index("area")["area_level"]
        start = a.loc[areas].to_numpy(float)
        pop = split_bands(start, band_index, shape)
        fert = asfr.sel(year=t).values if t in asfr["year"].values else asfr.isel(year=-1).values
        weight = (pop[:, 1, :] * fert[None, :]).sum(axis=1)
        is_wijk = (level.loc[areas] == "wijk").to_numpy()
        share = np.where(is_wijk, weight / max(weight[is_wijk].sum(), 1e-300), 1.0)
        area_births = float(births.loc[t]) * share
        expected_pop = _age_one_year(pop, survival.sel(year=t).transpose("sex", "age").values,
                                     area_births, births_survival.sel(year=t).transpose("sex").values,
                                     sex_ratio_at_birth)
        expected = np.zeros_like(start)
        np.add.at(expected.T, band_index, expected_pop.sum(axis=1).T)
        observed = b.loc[areas].to_numpy(float)
        for i, area in enumerate(areas):
            for j, (lo, hi) in enumerate(KWB_BANDS):
                out.append((area, level.loc[area], t, lo, hi, start[i, j], expected[i, j], observed[i, j],
                            observed[i, j] - expected[i, j]))
    frame = pd.DataFrame(out, columns=cols)
    frame["age_hi"] = frame["age_hi"].astype("Int64")
    return frame


#: Parameter table of the wijk migration dispersion (estimated on the Drenthe wijken, KWB 2022-2024)
MIGRATION_DISPERSION_TABLE = "migration_dispersion.csv"


def migration_dispersion(variant: str = "central") -> pd.DataFrame:
    """Over-dispersion of wijk net migration per KWB band, from ``data/parameters/migration_dispersion.csv``.

    Returns
    -------
    pandas.DataFrame
        Index ``age_lo`` (0, 15, 25, 45, 65); columns ``allocation`` (yearly variance of a
        wijk's band net migration around its population share of the gemeente's, per person of
        the band) and ``year`` (year-to-year variance around the wijk's own mean, per person)
        [persons^2 per person per year].
    """
    table = load_parameter_table(MIGRATION_DISPERSION_TABLE)
    if variant not in ("low", "central", "high"):
        raise InvalidValueError(f"variant must be 'low', 'central' or 'high', got {variant!r}")
    out = {}
    for column, indicator in (("allocation", "wijk_migration_dispersion_allocation"),
                              ("year", "wijk_migration_dispersion_year")):
        rows = table[table["indicator"] == indicator].set_index("age_lo")[variant].astype(float)
        out[column] = rows.reindex([lo for lo, _ in KWB_BANDS])
    frame = pd.DataFrame(out)
    frame.index.name = "age_lo"
    if frame.isna().any().any():
        raise MissingDataError(f"{MIGRATION_DISPERSION_TABLE}: a KWB band lacks its dispersion rows; "
                               "give every band 0, 15, 25, 45, 65 for both indicators")
    return frame


def drop_boundary_changes(
    residuals: pd.DataFrame, totals: pd.DataFrame, *, gemeente: str, population: float,
) -> tuple[pd.DataFrame, list[dict]]:
    """Leave out the KWB year pairs in which the gemeente's boundaries changed.

    A merger (Purmerend took in Beemster on 1 January 2022: KWB 81,683 -> 92,240 persons) makes
    the residual method read the annexed population as one year's net migration, which a
    projection would then repeat every year. A pair is left out, for the gemeente and all its
    wijken, when the gemeente's KWB residual (all bands) differs from its CBS 37259 net
    migration of that year by more than ``max(250, 2 % of the population)`` persons: KWB
    rounding (to 5 per band) and the residual method's own error stay far below that, a
    boundary change far above it.

    Parameters
    ----------
    residuals : pandas.DataFrame
        :func:`kwb_band_residuals` output.
    totals : pandas.DataFrame
        :func:`net_migration_totals` output (``sex, year, net_migration``).
    gemeente : str
    population : float [persons]
        The gemeente's population (sets the tolerance).

    Returns
    -------
    (pandas.DataFrame, list of dict)
        The residuals without those pairs, and one record per pair left out (``year``,
        ``kwb_residual``, ``cbs_net_migration``, ``difference``).

    Examples
    --------
    >>> r = pd.DataFrame({"area": "GM1", "area_level": "gemeente", "year": [2021, 2022],
    ...                   "age_lo": 0, "net_migration": [10_900.0, 480.0]})
    >>> t = pd.DataFrame({"sex": "male", "year": [2021, 2022], "net_migration": [350.0, 240.0]})
    >>> kept, dropped = drop_boundary_changes(r, t, gemeente="GM1", population=90_000)
    >>> kept["year"].tolist(), [d["year"] for d in dropped]
    ([2022], [2021])
    """
    if residuals.empty:
        return residuals, []
    tolerance = max(250.0, 0.02 * float(population))
    observed = residuals[residuals["area"] == gemeente].groupby("year")["net_migration"].sum()
    cbs = totals.groupby("year")["net_migration"].sum()
    dropped = []
    for year, value in observed.items():
        if year not in cbs.index:
            continue  # nothing to compare with: keep (37259 covers the window of the totals)
        difference = float(value) - float(cbs.loc[year])
        if abs(difference) > tolerance:
            dropped.append({"year": int(year), "kwb_residual": float(value), "cbs_net_migration": float(cbs.loc[year]),
                            "difference": difference})
    if dropped:
        years = [d["year"] for d in dropped]
        differences = ", ".join(f"{d['difference']:+,.0f}" for d in dropped)
        warnings.warn(
            f"{gemeente}: KWB {', '.join(f'{y}->{y + 1}' for y in years)} not used for migration: the KWB population "
            f"change differs from CBS 37259 net migration by {differences} "
            "persons (a boundary change such as a merger); the other year pairs are used",
            ComponentsWarning, stacklevel=2)
        residuals = residuals[~residuals["year"].isin(years)]
    return residuals, dropped


def drop_changed_wijken(residuals: pd.DataFrame, kwb: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Leave out a wijk's KWB year pair when its boundaries moved people between the two years.

    A wijk that lost buurten to a new wijk (Bemmel in Lingewaard, 2022: 19,970 -> 12,205
    persons when Angeren, Doornenburg, Haalderen and Ressen became wijken of their own) would
    otherwise read the move as net out-migration and repeat it every year. A pair is left out
    when the wijk's buurten changed (:func:`assen_demand.inputs.kwb.same_buurten`) *and* its
    residual net migration (all bands) exceeds ``max(50, 5 %)`` of its population: buurten
    are often renamed or re-divided inside a wijk (Assen-Oost, 2023: Amelterhout and
    Vreebergen became Vreebergen-Amelterhout, the wijk 9,370 -> 9,350), which moves no one
    and keeps its pair. The wijk keeps its other pairs; without any it gets its population
    share of the gemeente's migration. Where a year has no buurt rows the pair is kept.

    Returns
    -------
    (pandas.DataFrame, list of (area, year))
        The residuals without those rows, and the (wijk, flow year) pairs left out.
    """
    if residuals.empty or "wijk" not in kwb.columns:
        return residuals, []
    dropped = []
    for year in sorted(residuals["year"].unique()):
        before, after = buurt_sets(kwb, int(year)), buurt_sets(kwb, int(year) + 1)
        if not before or not after:
            continue
        rows = residuals[(residuals["year"] == year) & (residuals["area_level"] == "wijk")]
        size = rows.groupby("area").agg(residual=("net_migration", "sum"), population=("start", "sum"))
        for area, row in size.iterrows():
            large = abs(row["residual"]) > max(50.0, 0.05 * row["population"])
            if large and area in before and area in after and not same_buurten(before[area], after[area]):
                dropped.append((str(area), int(year)))
    if dropped:
        warnings.warn(
            f"{len(dropped)} wijk year pair(s) not used for migration because the wijk's buurten changed: "
            + ", ".join(f"{a} {y}->{y + 1}" for a, y in dropped[:6]) + (", ..." if len(dropped) > 6 else ""),
            ComponentsWarning, stacklevel=2)
        drop = pd.MultiIndex.from_tuples(dropped, names=["area", "year"])
        keys = pd.MultiIndex.from_frame(residuals[["area", "year"]].astype({"year": int}))
        residuals = residuals[~keys.isin(drop)]
    return residuals, dropped


def shrinkage_weight(phi_allocation, phi_year, pairs):
    """Weight of a wijk's mean of ``pairs`` KWB years against its allocation (random-effects model).

    ``w = s2 / (s2 + phi_year / k)`` with ``s2 = max(phi_allocation - phi_year, 0)``; 1 where
    both variances are 0. Arrays broadcast. The posterior variance of the shrunk mean is
    ``w * phi_year / k`` (per person of the band).

    >>> float(shrinkage_weight(1.0, 0.5, 2))
    0.6666666666666666
    """
    signal = np.maximum(np.asarray(phi_allocation, float) - np.asarray(phi_year, float), 0.0)
    noise = np.asarray(phi_year, float) / np.maximum(np.asarray(pairs, float), 1.0)
    total = signal + noise
    return np.where(total > 0, signal / np.where(total > 0, total, 1.0), 1.0)


def shrink_wijk_residuals(residuals: pd.DataFrame, *, dispersion: pd.DataFrame) -> pd.DataFrame:
    """Empirical-Bayes shrinkage of each wijk's band net migration toward its population share.

    One or two KWB year pairs per wijk are noisy (rounding to 5, a single large move, a
    one-off new-build street): taken at face value and repeated for 16 years they overshoot.
    Each year's wijk band residual ``r`` is pulled toward the allocation ``A`` (the wijk's share
    of the wijken's band population at the start of the year times the gemeente's band
    residual):

        r' = A + w (r - A),   w = s2 / (s2 + phi_year / k),   s2 = max(phi_alloc - phi_year, 0)

    with ``k`` the wijk's number of year pairs, ``phi_year`` the year-to-year variance of a wijk
    around its own mean and ``phi_alloc - phi_year`` the variance of the persistent wijk effect
    (both per person of the band, so the band population cancels in ``w``; see
    :func:`migration_dispersion`). ``w`` is the weight a normal random-effects model gives a
    mean of ``k`` noisy years against the prior mean ``A`` (e.g. Gelman et al. 2013, Bayesian
    Data Analysis, ch. 5.4). Gemeente rows are unchanged.

    Parameters
    ----------
    residuals : pandas.DataFrame
        :func:`kwb_band_residuals` (``area, area_level, year, age_lo, start, net_migration``).
    dispersion : pandas.DataFrame
        :func:`migration_dispersion` (index ``age_lo``, columns ``allocation, year``).

    Returns
    -------
    pandas.DataFrame
        The rows with ``net_migration`` shrunk, the raw value in ``net_migration_observed``, and
        ``allocation``, ``shrinkage_weight`` [1] and ``pairs`` added (gemeente rows: weight 1).

    Examples
    --------
    Two wijken of 100 and 300 persons in a band, the gemeente gained 10, the wijken 6 and 4;
    phi_alloc = 1, phi_year = 0.5 and one pair: w = 0.5 / (0.5 + 0.5) = 0.5, allocation 2.5
    and 7.5, shrunk 2.5 + 0.5 (6 - 2.5) = 4.25 and 7.5 + 0.5 (4 - 7.5) = 5.75.

    >>> r = pd.DataFrame({"area": ["GM1", "W1", "W2"], "area_level": ["gemeente", "wijk", "wijk"],
    ...                   "year": 2022, "age_lo": 0, "start": [400.0, 100.0, 300.0],
    ...                   "net_migration": [10.0, 6.0, 4.0]})
    >>> d = pd.DataFrame({"allocation": [1.0], "year": [0.5]}, index=pd.Index([0], name="age_lo"))
    >>> shrink_wijk_residuals(r, dispersion=d)["net_migration"].tolist()
    [10.0, 4.25, 5.75]
    """
    out = residuals.copy()
    out["net_migration_observed"] = out["net_migration"].astype(float)
    out["allocation"] = out["net_migration_observed"]
    out["shrinkage_weight"] = 1.0
    out["pairs"] = 0
    if out.empty:
        return out
    missing = sorted(set(out["age_lo"].astype(int)) - set(dispersion.index.astype(int)))
    if missing:
        raise MissingDataError(f"migration dispersion lacks band(s) starting at {missing}; add them to "
                               f"{MIGRATION_DISPERSION_TABLE}")
    if (dispersion[["allocation", "year"]] < 0).any().any():
        raise InvalidValueError(f"{MIGRATION_DISPERSION_TABLE}: dispersions must be >= 0")
    wijk = out["area_level"] == "wijk"
    gem = out.loc[~wijk].set_index(["year", "age_lo"])["net_migration_observed"]
    gem = gem[~gem.index.duplicated()]
    start_total = out.loc[wijk].groupby(["year", "age_lo"])["start"].transform("sum")
    key = pd.MultiIndex.from_frame(out.loc[wijk, ["year", "age_lo"]])
    gem_value = gem.reindex(key).to_numpy(float)
    share = np.where(start_total > 0, out.loc[wijk, "start"].to_numpy(float) / start_total.clip(lower=1e-300), 0.0)
    allocation = np.where(np.isfinite(gem_value), share * gem_value, out.loc[wijk, "net_migration_observed"])
    pairs = out.loc[wijk].groupby("area")["year"].transform("nunique").to_numpy(float)
    bands = out.loc[wijk, "age_lo"].astype(int).to_numpy()
    weight = shrinkage_weight(dispersion["allocation"].reindex(bands).to_numpy(float),
                              dispersion["year"].reindex(bands).to_numpy(float), pairs)
    weight = np.where(np.isfinite(gem_value), weight, 1.0)  # no gemeente row: nothing to shrink toward
    observed = out.loc[wijk, "net_migration_observed"].to_numpy(float)
    out.loc[wijk, "allocation"] = allocation
    out.loc[wijk, "shrinkage_weight"] = weight
    out.loc[wijk, "pairs"] = pairs.astype(int)
    out.loc[wijk, "net_migration"] = allocation + weight * (observed - allocation)
    out.loc[~wijk, "pairs"] = out.loc[~wijk].groupby("area")["year"].transform("nunique").astype(int)
    return out


@summary_repr
@dataclass(frozen=True)
class NetMigrationSchedule:
    """A net migration schedule by single age fitted to band totals (:func:`fit_net_migration_schedule`).

    Attributes
    ----------
    amplitudes : dict
        Signed amplitudes of the Rogers-Castro terms (``a1``, ``a2``, [``a3``], ``c``) [net
        migrations per person-year].
    shape : dict
        The fixed shape parameters (alpha1, alpha2, mu2, lambda2, ...).
    rates : xarray.DataArray (age) [net migrations per person-year]
    counts : xarray.DataArray (age) [net migrants per year]
    band_observed, band_fitted : numpy.ndarray [net migrants per year]
    edges : numpy.ndarray
        Band edges [years].
    """

    amplitudes: dict[str, float]
    shape: dict[str, float]
    rates: xr.DataArray
    counts: xr.DataArray
    band_observed: np.ndarray
    band_fitted: np.ndarray
    edges: np.ndarray


def _net_basis(shape: Mapping[str, float], retirement: bool) -> tuple[list[str], np.ndarray]:
    p = {k: v for k, v in shape.items() if k not in ("a1", "a2", "a3", "a4", "c")}
    terms = _rc_terms(AGES, p)
    names, cols = [], []
    for family, amp in (("childhood", "a1"), ("labour", "a2"), ("retirement", "a3")):
        if family in terms and (family != "retirement" or retirement):
            names.append(amp)
            cols.append(terms[family])
    names.append("c")
    cols.append(np.ones(AGES.size))
    return names, np.column_stack(cols)


def fit_net_migration_schedule(
    band_net,
    *,
    edges: Sequence[int],
    population: xr.DataArray,
    shape: Mapping[str, float] | None = None,
    retirement: bool = False,
    free: Sequence[str] = (),
) -> NetMigrationSchedule:
    """Signed Rogers-Castro schedule of net migration fitted to band totals (band-integrated).

    Net migration changes sign with age (students leave, families arrive), which a gross
    Rogers-Castro schedule cannot show. We keep the Rogers-Castro *shapes* (alpha1; alpha2,
    mu2, lambda2; [alpha3, mu3, lambda3]) fixed, by default at the fundamental values of Rogers
    & Castro (1981) (:data:`RC_FUNDAMENTAL`), and let the amplitudes a1, a2, [a3] and c take
    either sign: the net rate r(x) = a1 exp(-alpha1 x) + a2 labour(x) [+ a3 retirement(x)] + c
    and net migrants n(x) = r(x) P(x). The band sums of n are linear in the amplitudes, so the
    fit is an ordinary least-squares solve on the band totals. With the five KWB bands and three
    amplitudes the schedule smooths the bands (two degrees of freedom left); ``band_fitted``
    shows how closely.

    Parameters
    ----------
    band_net : array-like [net migrants per year]
        Net migration per band (any sign).
    edges : sequence of int [years]
        Band edges; the last may be ``MAX_AGE + 1`` (open band).
    population : xarray.DataArray (age) or (sex, age) [persons]
        Population at risk by single age (summed over sex).
    shape : mapping, optional
        Shape parameters; default :data:`RC_FUNDAMENTAL` (+ :data:`RC_RETIREMENT_EXAMPLE`).
    retirement : bool
        Add a retirement term (amplitude a3).
    free : sequence of str
        Shape parameters to estimate too (e.g. ``("mu2",)``), by variable projection: the
        amplitudes are solved linearly for each trial shape and the shape minimises the
        residual sum of squares within the bounds of :func:`fit_rogers_castro` (bounded
        scalar search for one parameter, L-BFGS-B otherwise).

    Returns
    -------
    NetMigrationSchedule
    """
    y = np.asarray(band_net, dtype=float)
    if np.isnan(y).any():
        raise InvalidValueError("fit_net_migration_schedule: band totals contain NaN")
    edges = np.asarray(edges, dtype=int)
    if edges.size != y.size + 1 or np.any(np.diff(edges) <= 0) or edges[0] != 0:
        raise DataFormatError(f"fit_net_migration_schedule: {y.size} bands need {y.size + 1} rising edges from 0")
    shape = dict(shape) if shape is not None else {**RC_FUNDAMENTAL, **RC_RETIREMENT_EXAMPLE}
    if retirement and "mu3" not in shape:
        shape.update(RC_RETIREMENT_EXAMPLE)
    pop = population.sum("sex") if "sex" in population.dims else population
    pop = pop.reindex(age=AGES, fill_value=0.0).values.astype(float)
    check_finite_nonneg(pop, "fit_net_migration_schedule: population", "fix the base population")
    band = np.searchsorted(edges, AGES, side="right") - 1
    inside = (band >= 0) & (band < y.size)

    def solve(trial: Mapping[str, float]):
        names, basis = _net_basis(trial, retirement)
        design = np.zeros((y.size, len(names)))
        np.add.at(design, band[inside], (basis * pop[:, None])[inside])
        theta, *_ = np.linalg.lstsq(design, y, rcond=None)
        return names, basis, design, theta

    free = list(free)
    unknown = [k for k in free if k in ("a1", "a2", "a3", "a4", "c") or k not in _RC_BOUNDS]
    if unknown:
        raise InvalidValueError(f"fit_net_migration_schedule: cannot free {unknown}; free shape parameters "
                                "such as 'mu2', 'alpha2', 'lambda2'")
    if free:
        if len(free) >= y.size - len(_net_basis(shape, retirement)[0]) + 1:
            raise InvalidValueError(
                f"fit_net_migration_schedule: {len(free)} free shape parameter(s) plus the amplitudes leave "
                f"no degrees of freedom with {y.size} bands")

        def sse(v) -> float:
            trial = {**shape, **dict(zip(free, np.atleast_1d(v)))}
            _, _, design, theta = solve(trial)
            return float(((design @ theta - y) ** 2).sum())

        bounds = [_RC_BOUNDS[k] for k in free]
        if len(free) == 1:
            best = optimize.minimize_scalar(sse, bounds=bounds[0], method="bounded",
                                            options={"xatol": 1e-4}).x
        else:
            best = optimize.minimize(sse, [shape[k] for k in free], bounds=bounds, method="L-BFGS-B").x
        shape = {**shape, **dict(zip(free, np.atleast_1d(best).tolist()))}
    names, basis, design, theta = solve(shape)
    rates = basis @ theta
    used_shape = {k: v for k, v in shape.items() if k not in ("a1", "a2", "a3", "a4", "c")}
    if not retirement:
        used_shape = {k: v for k, v in used_shape.items() if k not in RC_RETIREMENT_EXAMPLE}
    return NetMigrationSchedule(
        amplitudes=dict(zip(names, theta.tolist())),
        shape=used_shape,
        rates=xr.DataArray(rates, dims="age", coords={"age": AGES}, name="net_migration_rate"),
        counts=xr.DataArray(rates * pop, dims="age", coords={"age": AGES}, name="net_migration"),
        band_observed=y,
        band_fitted=design @ theta,
        edges=edges,
    )


def _standard_profile(population: xr.DataArray) -> xr.DataArray:
    """Positive age profile (sums to 1 over age) used to add or remove migrants: RC fundamental x P(x)."""
    w = xr.DataArray(rogers_castro(AGES, RC_FUNDAMENTAL), dims="age", coords={"age": AGES}) * population
    total = w.sum("age")
    return xr.where(total > 0, w / total.where(total > 0, 1.0), 1.0 / AGES.size)


def net_migration_counts(
    *,
    residuals: pd.DataFrame,
    totals: pd.DataFrame,
    population: xr.DataArray,
    gemeente: str,
    years: Sequence[int],
    level: float | Mapping[str, float] | None = None,
    retirement: bool = False,
    constrain_wijken: bool = True,
    shape: Mapping[str, float] | None = None,
    free: Sequence[str] = ("mu2",),
    preserve_bands: bool = True,
    prior: xr.DataArray | None = None,
) -> tuple[xr.DataArray, pd.DataFrame, dict[str, NetMigrationSchedule]]:
    """Net migration counts (area, sex, age, year) for the projection horizon.

    Counts, not rates: a count keeps the observed volume of a small wijk and cannot run away
    as the population grows or shrinks (a rate applied to a growing new-build wijk compounds);
    rates are the right choice for long horizons in large areas, which is not this case.

    * Gemeente: the age pattern is the signed Rogers-Castro schedule fitted to its KWB band
      residuals averaged over the known year pairs (:func:`fit_net_migration_schedule`; the
      shape parameters in ``free``, by default the labour-force peak age mu2, are estimated
      here, the others stay at Rogers & Castro's fundamental values), split
      by sex in proportion to the population of each sex at each age; each sex is then brought
      to its mean CBS 37259 net migration over the window (``totals``) by adding the difference
      along a positive standard profile (Rogers-Castro fundamental schedule x population).
      Without KWB pairs the whole total follows that standard profile.
    * Wijken: amplitudes fitted to their own band residuals with the gemeente's shape (five
      rounded bands per wijk cannot carry a shape of their own), total = their mean residual;
      with ``constrain_wijken`` the difference between the gemeente and the sum of its wijken
      is shared among the wijken by age and sex in proportion to their population, so the
      wijken add up to the gemeente exactly (a wijk without residuals gets its population
      share of the gemeente).
    * ``preserve_bands`` (default): the difference between the observed and the fitted band
      residual is added back within each band in proportion to population, so every band
      keeps its observed net migration and the Rogers-Castro schedule only shapes the single
      ages within bands. With three amplitudes for five bands a pure fit can move migrants
      between bands, even flip the sign of the 65+ band of a wijk, which matters more here than
      smoothness across band edges. Broad-band residuals carry an artefact at band edges when
      a wijk's ages within a band differ from the gemeente's (a cohort bulge crossing 45 shows
      as -migration at 25-45 and +migration at 45-65); a projection whose base population is
      split the same way (``assen_demand.demography.base``) ages the same bulge the same way, so keeping
      the band volumes is consistent in the first years.
    * ``level`` overrides the gemeente total per year (a number) or per area (a mapping area ->
      total, wijken then unconstrained for those areas); the difference is added along the
      standard profile, split evenly between the sexes.

    Ages are those on 1 January ``year + 1`` (end of the flow year), as in the KWB residuals.
    The result is the same every year of ``years``.

    Parameters
    ----------
    residuals : pandas.DataFrame
        :func:`kwb_band_residuals` output [persons per year].
    totals : pandas.DataFrame
        :func:`net_migration_totals` output for the gemeente [persons per year].
    population : xarray.DataArray (area, sex, age) [persons]
        Population at the base year per area (gemeente first); the areas of the result.
    gemeente : str
        The gemeente code among ``population.area``.
    years : sequence of int
        Calendar years of the result.
    level : float or mapping, optional [net migrants per year]
    retirement : bool
        Include a retirement term in the schedules.
    constrain_wijken : bool
    shape : mapping, optional
        Rogers-Castro shape parameters (default :data:`RC_FUNDAMENTAL`).
    free : sequence of str
        Shape parameters estimated on the gemeente's residuals (``()`` keeps them all fixed).
    preserve_bands : bool
        Keep each band's observed net migration exactly (see above).
    prior : xarray.DataArray (sex, age), optional [net migrants per year]
        Age pattern of the gemeente when it has no KWB band residuals (e.g.
        :func:`structural_net_migration`); its total is then brought to ``totals`` along the
        standard profile like a fitted schedule.

    Returns
    -------
    counts : xarray.DataArray (area, sex, age, year) [net migrants per year]
    diagnostics : pandas.DataFrame
        Per area and band: observed and fitted band residuals, and the area totals.
    schedules : dict
        The fitted :class:`NetMigrationSchedule` per area.
    """

    areas = [str(a) for a in population["area"].values]
    if gemeente not in areas:
        raise DataFormatError(f"net_migration_counts: population has no area {gemeente!r}")
    edges = KWB_BAND_EDGES
    pop = population.transpose("area", "sex", "age").astype(float)
    counts = xr.zeros_like(pop)
    schedules: dict[str, NetMigrationSchedule] = {}
    diag = []
    shared_shape = dict(shape) if shape is not None else None
    gemeente_pattern = None
    for area in [gemeente] + [a for a in areas if a != gemeente]:
        res = residuals[residuals["area"] == area] if len(residuals) else residuals
        if res is None or res.empty:
            continue
        band = res.groupby("age_lo")["net_migration"].mean().reindex(edges[:-1]).to_numpy()
        if np.isnan(band).any():
            continue
        p_area = pop.sel(area=area)
        is_gemeente = area == gemeente
        sched = fit_net_migration_schedule(band, edges=edges, population=p_area, shape=shared_shape,
                                           retirement=retirement, free=free if is_gemeente else ())
        if is_gemeente:
            shared_shape = dict(sched.shape)
        schedules[area] = sched
        single = sched.counts
        if prior is not None and preserve_bands and (is_gemeente or gemeente_pattern is not None):
            # Within each band the gemeente follows the prior's single-age contrasts (a student
            # city gains at 17-22 and loses at 23-30, which five bands and a Rogers-Castro curve
            # cannot place) and a wijk its population share of the gemeente's pattern; the
            # observed band volumes are then restored by population as below.
            if is_gemeente:
                single = prior.sum("sex").reindex(age=AGES, fill_value=0.0).astype(float)
                gemeente_pattern = single
            else:
                p_gm = pop.sel(area=gemeente).sum("sex")
                single = (gemeente_pattern * p_area.sum("sex") / p_gm.where(p_gm > 0)).fillna(0.0)
            band_of = np.searchsorted(edges, AGES, side="right") - 1
            shape_band = np.bincount(band_of, weights=single.values, minlength=len(edges) - 1)
            sched = replace(sched, band_fitted=shape_band)
        if preserve_bands:
            band_of = np.searchsorted(edges, AGES, side="right") - 1
            p_age = p_area.sum("sex").values
            p_band = np.bincount(band_of, weights=p_age, minlength=len(edges) - 1)
            gap = sched.band_observed - sched.band_fitted
            add = np.where(p_band[band_of] > 0, gap[band_of] * p_age / np.where(p_band[band_of] > 0, p_band[band_of], 1), 0)
            single = single + xr.DataArray(add, dims="age", coords={"age": AGES})
        share = (p_area / p_area.sum("sex").where(p_area.sum("sex") > 0)).fillna(0.5)
        counts.loc[dict(area=area)] = (single * share).transpose("sex", "age")
        for (lo, hi), o, f in zip(KWB_BANDS, sched.band_observed, sched.band_fitted):
            diag.append(dict(area=area, age_lo=lo, age_hi=hi, observed=o, fitted=f,
                             pairs=int(res["year"].nunique())))
    if gemeente not in schedules and prior is not None:
        counts.loc[dict(area=gemeente)] = prior.transpose("sex", "age").reindex(age=AGES, fill_value=0.0).values
    elif gemeente not in schedules:
        warnings.warn(
            f"no successive KWB years up to the base year for {gemeente}: its net migration follows the "
            "Rogers-Castro fundamental profile (no local age pattern)", ComponentsWarning, stacklevel=2)

    def bring_to(area: str, target_by_sex: xr.DataArray) -> None:
        cur = counts.sel(area=area).sum("age")
        prof = _standard_profile(pop.sel(area=area))
        counts.loc[dict(area=area)] = (counts.sel(area=area) + (target_by_sex - cur) * prof).transpose("sex", "age")

    sex_totals = totals.groupby("sex")["net_migration"].mean().reindex(list(SEXES))
    if sex_totals.isna().any():
        raise MissingDataError("net_migration_counts: CBS 37259 net migration is missing for a sex")
    target = xr.DataArray(sex_totals.to_numpy(float), dims="sex", coords={"sex": list(SEXES)})
    overrides = {} if level is None else ({gemeente: float(level)} if np.isscalar(level) else dict(level))
    if gemeente in overrides:
        target = target + (overrides[gemeente] - float(target.sum())) / 2.0
    bring_to(gemeente, target)

    wijken = [a for a in areas if a != gemeente]
    for area in wijken:
        if area in overrides:
            cur = counts.sel(area=area).sum("age")
            add = (overrides[area] - float(cur.sum())) / 2.0
            bring_to(area, cur + add)
    free = [a for a in wijken if a not in overrides]
    if wijken and constrain_wijken and free:
        gap = counts.sel(area=gemeente) - counts.sel(area=wijken).sum("area")
        p_free = pop.sel(area=free)
        weight = p_free / p_free.sum("area").where(p_free.sum("area") > 0)
        weight = weight.fillna(1.0 / len(free))
        counts.loc[dict(area=free)] = (counts.sel(area=free) + gap * weight).transpose("area", "sex", "age")
    diagnostics = pd.DataFrame(diag, columns=["area", "age_lo", "age_hi", "observed", "fitted", "pairs"])
    totals_area = counts.sum(["sex", "age"]).to_series().rename("total_per_year")
    diagnostics = diagnostics.merge(totals_area.reset_index(), on="area", how="outer")
    years = np.asarray(list(years), dtype=int)
    out = counts.expand_dims(year=years).transpose("area", "sex", "age", "year").rename("net_migration")
    return out, diagnostics, schedules


def structural_net_migration(
    bands: pd.DataFrame, reference_bands: pd.DataFrame, population: xr.DataArray, *, weight: float = 1.0
) -> xr.DataArray:
    """Net migration by age implied by an area's age profile relative to a reference area.

    Used when no two successive age tables of the area are known (a base year 2021 has only the
    1 January 2021 postcode table). If an area's net migration rate *relative to the reference*
    (the Netherlands for a gemeente) has been the same for decades, its age profile relative to
    the reference is shaped by it: with ``R(x) = g(x) / n(x)`` the ratio of the area's and the
    reference's age shares, the relative net migration rate of persons moving from age ``x`` to
    ``x + 1`` is ``m(x) = log R(x+1) - log R(x)``. A gemeente that loses its students and gains
    families shows a dip of ``R`` at 20-29 and so a negative ``m`` at 17-24 and a positive one
    at 28-40. Five-year bands give ``log R`` at band midpoints; it is interpolated linearly
    over single ages (flat beyond the first and last midpoint), so ``m`` is a step per band gap.

    This is an assumption about persistence (the past pattern shaped the profile and continues),
    stated here because it carries the age pattern of a hindcast from 2021: differences in
    mortality and fertility between area and reference also shape ``R`` and are read as
    migration. The *level* is not taken from it: the caller brings the total to the observed
    net migration.

    Parameters
    ----------
    bands, reference_bands : pandas.DataFrame
        ``sex, age_lo, persons`` 5-year bands of the area and the reference (e.g.
        ``GemeenteData.population_bands`` and ``national_population_bands``) [persons].
    population : xarray.DataArray (sex, age) [persons]
        The area by single age on 1 January of the base year (persons at risk).
    weight : float
        Multiplies ``m`` (0 = no relative pattern, 1 = full persistence).

    Returns
    -------
    xarray.DataArray (sex, age) [net migrants per year]
        By age on 1 January of the next year: ``population(x-1) (exp(weight m(x-1)) - 1)``.

    Examples
    --------
    >>> b = pd.DataFrame({"sex": "female", "age_lo": [0, 5], "persons": [10.0, 20.0]})
    >>> r = pd.DataFrame({"sex": "female", "age_lo": [0, 5], "persons": [10.0, 10.0]})
    >>> p = xr.DataArray(np.ones((2, MAX_AGE + 1)), dims=("sex", "age"),
    ...                  coords={"sex": list(SEXES), "age": AGES})
    >>> m = structural_net_migration(b, r, p)  # R doubles from band 0-4 to 5-9: m = log(2) / 5
    >>> round(float(m.sel(sex="female", age=5)), 4), round(2 ** 0.2 - 1, 4), float(m.sel(sex="male", age=20))
    (0.1487, 0.1487, 0.0)
    """
    def shares(frame: pd.DataFrame) -> pd.Series:
        rows = frame[frame["sex"].isin(SEXES)].groupby("age_lo")["persons"].sum().astype(float)
        return rows / rows.sum()

    g, n = shares(bands), shares(reference_bands)
    common = g.index.intersection(n.index)
    ok = (g.loc[common] > 0) & (n.loc[common] > 0)
    common = common[ok.to_numpy()]
    pop = population.transpose("sex", "age").reindex(age=AGES, fill_value=0.0)
    out = xr.zeros_like(pop, dtype=float)
    if len(common) < 2:
        return out.rename("net_migration")
    starts = common.to_numpy(float)
    widths = np.diff(np.append(starts, starts[-1] + 5.0))
    log_ratio = np.log(g.loc[common].to_numpy() / n.loc[common].to_numpy())
    at_age = np.interp(AGES + 0.5, starts + widths / 2.0, log_ratio)
    m = np.diff(at_age)  # persons moving x -> x+1, x = 0..MAX_AGE-1
    values = np.zeros(pop.shape)
    values[:, 1:] = pop.values[:, :-1] * np.expm1(weight * m)[None, :]
    out.values[:] = values
    return out.rename("net_migration")


#: Oldest age (on 1 January after the move) whose wijk share of the gemeente is kept by
#: :func:`structural_wijk_migration`: the ages of young families (children 0-15 and parents 25-45)
#: and students; above it the wijk ages in place (issue 18, item 1).
STRUCTURAL_WIJK_MAX_AGE = 45


def structural_wijk_migration(population: xr.DataArray, survival: xr.DataArray, *, gemeente: str,
                              max_age: int = STRUCTURAL_WIJK_MAX_AGE, weight: float = 1.0,
                              min_age: int = 1) -> xr.DataArray:
    """The net migration that keeps each wijk's young-age share of its gemeente ("stable age structure").

    A settled wijk's age profile relative to its gemeente persists: young families keep moving
    in as the children grow up and leave, students keep arriving in student wijken. A
    cohort-component wijk without its own migration history instead ages its children out and
    replaces them only by births. With ``R_w(s, x) = P_w(s, x) / sum_v P_v(s, x)`` the wijk's share
    of the wijken at sex ``s`` and single age ``x`` in the base year, keeping ``R_w`` fixed while a
    cohort moves from ``x - 1`` to ``x`` needs, beyond its share ``R_w(x) M_gm(x)`` of the gemeente's
    net migrants (which the wijk gets already),

        D_w(s, x) = weight * S(s, x-1) * G(s, x-1) * (R_w(s, x) - R_w(s, x-1)),   x = min_age..max_age

    net migrants a year, with ``G`` the wijken together and ``S`` the survival ratio. ``D`` sums
    to zero over the wijken at every sex and age (it moves migrants between wijken, never adds
    any to the gemeente). Outside ``min_age..max_age`` it is 0: by default (ages 1..45) the wijk's
    own ageing is the signal above 45 (65+ is forecast well by ageing alone, issue 18). The same
    term at old ages (``min_age`` 65 or 75, ``max_age`` 100) is the option
    ``wijk_structural_migration_old`` of the components: wijken with care homes and senior
    flats keep their share of the very old, whom pure ageing lets die out (issue 18 note 5). This is the persistence assumption of
    :func:`structural_net_migration` (a gemeente against the country) applied to a wijk against its
    gemeente; the full-persistence limit at all ages is the constant-share method
    (:mod:`assen_demand.demography.combination`; the ratio / share and Hamilton-Perry methods of
    small-area projection keep such relative profiles: Smith, Tayman & Swanson 2013,
    https://doi.org/10.1007/978-94-007-7551-0 ; Baker, Swanson, Tayman & Tedrow 2017, *Cohort Change
    Ratios and their Applications*, https://doi.org/10.1007/978-3-319-53745-0 ; net-migration
    cohort-component models for local areas: Wilson 2016, Population Research and Policy Review
    35:241-261, https://doi.org/10.1007/s11113-015-9380-y ; Wilson, Grossman,
    Alexander, Rees & Temple 2022, "Methods for small area population forecasts: state-of-the-art and
    research needs", Population Research and Policy Review 41(3):865-898,
    https://doi.org/10.1007/s11113-021-09671-6 ).

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age) [persons]
        Base population; the gemeente row is left out of the shares (they are over the wijken).
    survival : xarray.DataArray (sex, age) [probability]
        S(x): aged x on 1 January and alive a year later (the gemeente's, base year).
    gemeente : str
    max_age : int
        Oldest arrival age with a structural term.
    weight : float
        Multiplies ``D`` (0 = none, 1 = the share is kept in full).
    min_age : int
        Youngest arrival age with a structural term (at least 1: births are the fertility's).

    Returns
    -------
    xarray.DataArray (area, sex, age) [net migrants per year]
        The wijken only, by age on 1 January after the move (age 0: 0, births are the fertility's).

    Examples
    --------
    Two wijken, one sex, ages 0..2 (hand-worked; ``tests/test_wijk_components.py`` has it too):
    W1 holds 10, 20, 40 % of the wijken at ages 0, 1, 2; 100 persons at every age, survival 1.
    W1 gains 100 (0.2 - 0.1) = 10 at age 1 and 100 (0.4 - 0.2) = 20 at age 2; W2 loses the same.

    >>> pop = xr.DataArray([[[10.0, 20.0, 40.0]], [[90.0, 80.0, 60.0]]], dims=("area", "sex", "age"),
    ...                    coords={"area": ["W1", "W2"], "sex": ["female"], "age": [0, 1, 2]})
    >>> surv = xr.DataArray([[1.0, 1.0, 1.0]], dims=("sex", "age"), coords={"sex": ["female"], "age": [0, 1, 2]})
    >>> structural_wijk_migration(pop, surv, gemeente="GM1").sel(sex="female").values.round(9).tolist()
    [[0.0, 10.0, 20.0], [0.0, -10.0, -20.0]]
    """
    if not np.isfinite(weight) or weight < 0:
        raise InvalidValueError(f"structural_wijk_migration: weight must be a number >= 0 (got {weight!r})")
    if not 1 <= int(min_age) <= int(max_age):
        raise InvalidValueError(f"structural_wijk_migration: ages must satisfy 1 <= min_age <= max_age (got "
                                f"min_age={min_age!r}, max_age={max_age!r}); age 0 is the births'")
    areas = [str(a) for a in population["area"].values]
    wijken = [a for a in areas if a != gemeente]
    pop = population.sel(area=wijken).transpose("area", "sex", "age").astype(float)
    check_finite_nonneg(pop.values, "structural_wijk_migration: population", "fix the base population")
    total = pop.sum("area")
    share = (pop / total.where(total > 0)).fillna(0.0).values  # (area, sex, age)
    ages = pop["age"].values
    surv = survival.transpose("sex", "age").sel(sex=pop["sex"].values).reindex(age=ages).fillna(0.0).values
    feeders = (surv * total.values)  # survivors of the wijken together, by age before the move (sex, age)
    out = np.zeros(pop.shape)
    moving = (ages[1:] >= min_age) & (ages[1:] <= max_age)
    step = share[:, :, 1:] - share[:, :, :-1]
    out[:, :, 1:] = np.where(moving[None, None, :], weight * feeders[None, :, :-1] * step, 0.0)
    return xr.DataArray(out, dims=("area", "sex", "age"), coords=pop.coords, name="net_migration")


def add_structural_wijk_migration(net: xr.DataArray, structural: xr.DataArray, *, population: xr.DataArray,
                                  pair_weight: xr.DataArray | None = None, balance: bool = True) -> xr.DataArray:
    """Wijk net migration counts plus the structural term, shrunk away as KWB pairs accumulate.

    The structural term is the prior of a wijk's age pattern of migration; its own KWB year
    pairs are the data. Per wijk and KWB band the term enters with ``1 - w``, ``w`` the weight
    :func:`shrink_wijk_residuals` gives the wijk's mean of ``k`` pairs (0 without pairs, so a wijk
    without KWB history keeps its share profile in full; with pairs the observed band residuals,
    which already hold the wijk's real persistence, take over). With ``balance`` the sum over
    the wijken of what was added (zero when every wijk has the same weight) is taken back from
    the wijken in proportion to their population, so the wijken still add up to the gemeente.

    Parameters
    ----------
    net : xarray.DataArray (area, sex, age, year) [net migrants per year]
        :func:`net_migration_counts` (the gemeente row is not changed).
    structural : xarray.DataArray (area, sex, age) [net migrants per year]
        :func:`structural_wijk_migration` (wijken only).
    population : xarray.DataArray (area, sex, age) [persons]
        Base population (for the balance).
    pair_weight : xarray.DataArray (area, age_lo), optional [1]
        The shrinkage weight of each wijk's band residuals (0 where missing).
    balance : bool

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [net migrants per year]
    """
    wijken = [str(a) for a in structural["area"].values]
    band_of = np.searchsorted(KWB_BAND_EDGES, AGES, side="right") - 1
    keep = np.ones((len(wijken), AGES.size))
    if pair_weight is not None and pair_weight.size:
        w = pair_weight.reindex(area=wijken, age_lo=list(KWB_BAND_EDGES[:-1])).fillna(0.0).values
        keep = 1.0 - np.clip(w, 0.0, 1.0)[:, band_of]
    add = structural.transpose("area", "sex", "age").reindex(age=AGES, fill_value=0.0).values * keep[:, None, :]
    if balance and len(wijken):
        p = population.sel(area=wijken).transpose("area", "sex", "age").reindex(age=AGES, fill_value=0.0).values
        ptot = p.sum(axis=0, keepdims=True)
        share = np.where(ptot > 0, p / np.where(ptot > 0, ptot, 1.0), 1.0 / len(wijken))
        add = add - share * add.sum(axis=0, keepdims=True)
    out = net.copy()
    extra = xr.DataArray(add, dims=("area", "sex", "age"), coords={"area": wijken, "sex": net["sex"].values, "age": AGES})
    out.loc[dict(area=wijken)] = (out.sel(area=wijken) + extra).transpose(*out.dims)
    return out

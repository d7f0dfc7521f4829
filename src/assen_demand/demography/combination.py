"""Small-area methods for wijken next to cohort-component: constant share, and a weighted combination.

Constant share by single age ("stable age structure")
-----------------------------------------------------
Every wijk keeps, at each sex and single year of age, the share of the gemeente it had on
1 January of the base year:

    P_w(s, x, t) = P_w(s, x, t0) / P_gm(s, x, t0) * P_gm(s, x, t)

with ``P_gm`` the gemeente's cohort-component projection. It is the naive forecast ("the wijk's
age structure stays as it is") made consistent with the gemeente: holding each wijk's base
population fixed and constraining it to the gemeente per sex and age
(:func:`assen_demand.demography.projection.constrain`) gives exactly this. A settled wijk's
age profile persists (young families keep moving in as their children grow older and leave),
and births follow each wijk's own share of infants (its child-woman ratio relative to the
gemeente's). It is the ratio / share method of small-area projection (Smith, Tayman & Swanson
2013, *A Practitioner's Guide to State and Local Population Projections*, Springer,
https://doi.org/10.1007/978-94-007-7551-0 , ch. 8) applied by age and sex; Wilson (2015, "New
evaluations of simple models for small area population forecasts", Population, Space and Place
21(4), https://doi.org/10.1002/psp.1847 ) found such simple share models and averages of models
among the most accurate small-area forecasts.

In terms of migration it is the limit of the structural assumption
(:func:`assen_demand.demography.components.structural_net_migration`) applied to a wijk
against its gemeente with full persistence: the wijk's relative age profile ``R_w(x)`` stays
fixed, so its relative net migration from age ``x`` to ``x + 1`` is ``log R_w(x+1) - log
R_w(x)`` each year.

Combination by evidence
-----------------------
:func:`combine_projections` averages wijk projections of several methods with weights per KWB
age band and horizon (years since the base year). A weighted average of projections that each
add up to the gemeente adds up to the gemeente too. The weights are estimated on the project's
own hindcasts (``scripts/wijk_forecast_backtest.py``) and validated leaving whole gemeenten out;
they are a parameter table (``data/parameters/wijk_method_weights.csv``). There is one estimated
row per horizon 1, 2 and 3 (Drenthe 2023 -> 2024 and all gemeenten 2021 -> 2022 for h = 1; Drenthe
2022 and 2021 -> 2024 for h = 2 and 3), each minimising the worst origin's ratio to the naive
forecast, refined band by band where the wijk total was above naive (issue 18 note 6); the table
then tapers to the cohort-component projection at horizon 10. The naive part holds the wijk's KWB
figure of the base year as published (:func:`published_bands`, :func:`held_population`), as the naive
forecast does; at h = 1 the bands 0-15 and 15-25 are that forecast, with the gemeente held.

Wijken that follow their households
-----------------------------------
Where a wijk's KWB households grew faster than a threshold over two or three years up to the base
year (new-build wijken), its total moves part of the way toward its household trend
(:func:`household_trend`, :func:`follow_households`, ``data/parameters/wijk_household_trend.csv``;
issue 18 item 3): the housing unit method (Smith, Tayman & Swanson 2013) with the households as
the occupied stock, since KWB gives the dwelling stock per wijk for 2024 only.

Tied to the gemeente by band, its change damped toward the base year
--------------------------------------------------------------------
The naive part does not add up to the gemeente, so the average is scaled. Scaling it to the
gemeente's cohort-component projection per sex and age (``constraint="sex_age"``) imposes the
gemeente's projected change on every wijk; measured on the Drenthe hindcasts that change was
wrong for the young bands in 2021-2023 (net migration 1.5-6 times its 2016-2020 mean) and the
constraint gave back the naive part's gain for 0-15 and 15-25. The default (``"band"``) scales
each KWB band of the wijken together to

    C_b(t) = (1 - lam_b) * G_b^cc(t) + lam_b * G_b(t0)

the gemeente's cohort-component band total damped toward its base-year band total by the weight
``lam_b`` (indicator ``gemeente_held_weight`` of the same table, estimated with the method
weights by ``scripts/wijk_control_variants.py``). Within a band each wijk keeps the sex-age
profile of its average; the gemeente is the sum of its wijken. Damping a projected trend toward
no change is the damped-trend idea of Gardner & McKenzie (1985, "Forecasting trends in time
series", Management Science 31(10):1237-1246, https://doi.org/10.1287/mnsc.31.10.1237).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import AGES, KWB_BAND_EDGES
from assen_demand.demography.projection import constrain, project
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.inputs.kwb import kwb_age_bands
from assen_demand.parameters import load_parameter_table

__all__ = ["constant_share", "combine_projections", "combined_wijken", "band_control", "constrain_to_bands",
           "gemeente_weights", "method_weights", "published_bands", "held_population", "household_trend",
           "kwb_inputs", "follow_households", "HouseholdTrendParameters"]


def constant_share(*, base: xr.DataArray, components=None, start_year: int, end_year: int,
                   control: xr.DataArray, data=None) -> xr.DataArray:
    """Wijken that keep their base-year share of the gemeente at every sex and single age.

    The signature is that of a small-area method of
    :func:`assen_demand.pipeline.project_population` (``method=constant_share``).

    Parameters
    ----------
    base : xarray.DataArray (area, sex, age) [persons]
        The wijken on 1 January ``start_year``.
    components : ProjectionInputs, optional
        Not used (the gemeente projection carries mortality, fertility and migration).
    start_year, end_year : int
    control : xarray.DataArray (sex, age, year) [persons]
        The gemeente's projection; it must hold every year ``start_year .. end_year``.
    data : GemeenteData, optional
        Not used.

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
        Sums to ``control`` at every sex, age and year where the wijken are not all empty at
        that sex and age in the base year (there the control is spread by the wijken's
        population shares, as :func:`~assen_demand.demography.projection.constrain` does).

    Examples
    --------
    Two wijken with 1 and 3 persons of one age; the gemeente grows to 8:

    >>> base = xr.DataArray([[[1.0]], [[3.0]]], dims=("area", "sex", "age"),
    ...     coords={"area": ["W1", "W2"], "sex": ["female"], "age": [0]})
    >>> control = xr.DataArray([[[4.0, 8.0]]], dims=("sex", "age", "year"),
    ...     coords={"sex": ["female"], "age": [0], "year": [2021, 2022]})
    >>> constant_share(base=base, start_year=2021, end_year=2022, control=control).sel(year=2022).values.ravel().tolist()
    [2.0, 6.0]
    """
    if end_year < start_year:
        raise InvalidValueError(f"end_year {end_year} is before start_year {start_year}")
    years = np.arange(int(start_year), int(end_year) + 1)
    held = base.transpose("area", "sex", "age").expand_dims(year=years).transpose("area", "sex", "age", "year")
    held = held.assign_coords(year=years)
    out = constrain(held.astype(float), control.sel(year=years))
    # the base year stays the estimate itself (the control equals its sum up to rounding)
    out.loc[dict(year=int(start_year))] = base.transpose("area", "sex", "age").values
    out.name = "persons"
    out.attrs = {"units": "persons", "method": "constant_share"}
    return out


def band_weights_by_age(weights: np.ndarray, ages=AGES) -> np.ndarray:
    """Spread per-band weights (method, band) to single ages (method, age)."""
    band_of = np.searchsorted(KWB_BAND_EDGES, np.asarray(ages), side="right") - 1
    return np.asarray(weights, float)[:, band_of]


def combine_projections(projections: dict[str, xr.DataArray], weights: dict[str, np.ndarray], *,
                        start_year: int) -> xr.DataArray:
    """Weighted average of wijk projections, weights per KWB band and horizon.

    Parameters
    ----------
    projections : dict of str -> xarray.DataArray (area, sex, age, year) [persons]
        The same areas, ages and years in every projection.
    weights : dict of str -> numpy.ndarray (horizon, band) [1]
        Weight of each method by horizon ``h = year - start_year`` (row ``h - 1``; years beyond
        the last row keep the last row) and KWB band (5 columns). The weights of each (horizon,
        band) must sum to 1 over the methods.
    start_year : int

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
        The base year is that of the first projection (all agree there).

    Examples
    --------
    >>> a = xr.DataArray(np.full((1, 1, 101, 2), 10.0), dims=("area", "sex", "age", "year"),
    ...     coords={"area": ["W"], "sex": ["male"], "age": np.arange(101), "year": [2021, 2022]})
    >>> w = {"a": np.array([[0.25] * 5]), "b": np.array([[0.75] * 5])}
    >>> float(combine_projections({"a": a, "b": a * 2}, w, start_year=2021).sel(year=2022, age=70).item())
    17.5
    """
    names = list(projections)
    if set(names) != set(weights):
        raise InvalidValueError(f"weights are for {sorted(weights)}, projections for {sorted(names)}; give one "
                                "weight table per projection")
    first = projections[names[0]].transpose("area", "sex", "age", "year")
    years = np.asarray(first["year"].values, int)
    stacked = np.stack([np.asarray(weights[n], float) for n in names])  # (method, horizon, band)
    if stacked.ndim != 3 or stacked.shape[2] != len(KWB_BAND_EDGES) - 1:
        raise InvalidValueError("weights must be arrays (horizon, band) with one column per KWB band")
    if not np.allclose(stacked.sum(axis=0), 1.0, atol=1e-9) or (stacked < 0).any():
        raise InvalidValueError("method weights must be >= 0 and sum to 1 in every horizon and band")
    out = np.zeros(first.shape)
    for m, name in enumerate(names):
        values = projections[name].transpose("area", "sex", "age", "year").sel(year=years).values
        for k, year in enumerate(years):
            h = int(year) - int(start_year)
            if h <= 0:
                if m == 0:
                    out[..., k] = values[..., k]
                continue
            row = stacked[m, min(h, stacked.shape[1]) - 1]
            out[..., k] += values[..., k] * band_weights_by_age(row[None], first["age"].values)[0][None, None, :]
    return first.copy(data=out)


#: Parameter table of the method weights (``scripts/wijk_control_variants.py``)
WEIGHTS_TABLE = "wijk_method_weights.csv"
#: Methods of the combination, in the order of the weight arrays
COMBINED_METHODS = ("cohort_component", "constant_share", "naive")


def method_weights(table=None) -> dict[str, np.ndarray]:
    """Weights of the wijk methods by horizon and KWB band, from ``wijk_method_weights.csv``.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        Rows ``indicator = wijk_method_weight`` with ``method, horizon, age_lo, central``;
        default the bundled table.

    Returns
    -------
    dict of str -> numpy.ndarray (horizon, band) [1]
        Row ``h - 1`` holds horizon ``h``; a horizon beyond the table takes its last row.

    Examples
    --------
    >>> w = method_weights()
    >>> sorted(w) == sorted(COMBINED_METHODS) and bool(np.allclose(sum(w.values()), 1.0))
    True
    """
    frame = load_parameter_table(WEIGHTS_TABLE) if table is None else table
    frame = frame[frame["indicator"] == "wijk_method_weight"]
    los = [int(lo) for lo in KWB_BAND_EDGES[:-1]]
    horizons = sorted(int(h) for h in frame["horizon"].unique())
    if not horizons or horizons != list(range(1, len(horizons) + 1)):
        raise MissingDataError(f"{WEIGHTS_TABLE}: the horizons must run 1, 2, ... (found {horizons})")
    out = {}
    for method in COMBINED_METHODS:
        rows = frame[frame["method"] == method].pivot_table(index="horizon", columns="age_lo", values="central")
        rows = rows.reindex(index=horizons, columns=los)
        if rows.isna().any().any():
            raise MissingDataError(f"{WEIGHTS_TABLE}: method {method!r} lacks a weight for a horizon or band; "
                                   "every method needs one per horizon and KWB band")
        out[method] = rows.to_numpy(float)
    return out


#: Indicator of the gemeente weight in ``wijk_method_weights.csv``
GEMEENTE_WEIGHT = "gemeente_held_weight"
#: How the combination is tied to the gemeente
CONSTRAINTS = ("band", "sex_age", None)


def gemeente_weights(table=None) -> np.ndarray:
    """Weight of the gemeente held at its base year in the band control, by horizon and KWB band.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        Rows ``indicator = gemeente_held_weight`` with ``horizon, age_lo, central``; default
        the bundled ``wijk_method_weights.csv``.

    Returns
    -------
    numpy.ndarray (horizon, band) [1]
        Row ``h - 1`` holds horizon ``h``; a horizon beyond the table takes its last row. A table
        without such rows gives one row of zeros (the gemeente's cohort-component change as it is).

    Examples
    --------
    >>> w = gemeente_weights()
    >>> w.shape[1], bool(((w >= 0) & (w <= 1)).all())
    (5, True)
    """
    frame = load_parameter_table(WEIGHTS_TABLE) if table is None else table
    frame = frame[frame["indicator"] == GEMEENTE_WEIGHT]
    los = [int(lo) for lo in KWB_BAND_EDGES[:-1]]
    if frame.empty:
        return np.zeros((1, len(los)))
    horizons = sorted(int(h) for h in frame["horizon"].unique())
    if horizons != list(range(1, len(horizons) + 1)):
        raise MissingDataError(f"{WEIGHTS_TABLE}: the horizons of {GEMEENTE_WEIGHT} must run 1, 2, ... "
                               f"(found {horizons})")
    rows = frame.pivot_table(index="horizon", columns="age_lo", values="central").reindex(index=horizons, columns=los)
    if rows.isna().any().any():
        raise MissingDataError(f"{WEIGHTS_TABLE}: {GEMEENTE_WEIGHT} lacks a value for a horizon or band; give one "
                               "per horizon and KWB band")
    out = rows.to_numpy(float)
    if ((out < 0) | (out > 1)).any():
        raise InvalidValueError(f"{WEIGHTS_TABLE}: {GEMEENTE_WEIGHT} must lie in [0, 1]")
    return out


def band_control(control: xr.DataArray, base: xr.DataArray, held: np.ndarray, *, start_year: int) -> xr.DataArray:
    """Gemeente band totals: its cohort-component change damped toward the base year.

    ``C(b, t) = (1 - lam(b, h)) * sum_{s, x in b} control(s, x, t) + lam(b, h) * sum_{w, s, x in b} base(w, s, x)``
    with ``h = t - start_year`` and ``lam`` the weight of the gemeente held at its base year.

    Parameters
    ----------
    control : xarray.DataArray (sex, age, year) [persons]
        The gemeente's cohort-component projection.
    base : xarray.DataArray (area, sex, age) [persons]
        The wijken on 1 January ``start_year`` (their sum is the gemeente held).
    held : numpy.ndarray (horizon, band) [1]
        :func:`gemeente_weights`.
    start_year : int

    Returns
    -------
    xarray.DataArray (band, year) [persons]
        ``band`` is the index of the KWB band (0 = 0-15 ... 4 = 65+).

    Examples
    --------
    A gemeente of 100 children that its cohort-component projection takes to 80; weight 0.6:
    0.4 * 80 + 0.6 * 100 = 92.

    >>> control = xr.DataArray([[[100.0, 80.0]]], dims=("sex", "age", "year"),
    ...     coords={"sex": ["female"], "age": [5], "year": [2021, 2022]})
    >>> base = control.sel(year=2021, drop=True).expand_dims(area=["W"])
    >>> band_control(control, base, np.array([[0.6, 0, 0, 0, 0]]), start_year=2021).sel(band=0).values.tolist()
    [100.0, 92.0]
    """
    held = np.asarray(held, float)
    if held.ndim != 2 or held.shape[1] != len(KWB_BAND_EDGES) - 1:
        raise InvalidValueError("the gemeente weights must be an array (horizon, band) with one column per KWB band")
    ages = np.asarray(control["age"].values)
    band_of = xr.DataArray(np.searchsorted(KWB_BAND_EDGES, ages, side="right") - 1, dims="age",
                           coords={"age": ages}, name="band")
    projected = control.sum("sex").groupby(band_of).sum().transpose("band", "year")
    base_bands = base.sum(["area", "sex"]).reindex(age=ages, fill_value=0.0).groupby(band_of).sum()
    bands = np.arange(len(KWB_BAND_EDGES) - 1)
    projected = projected.reindex(band=bands, fill_value=0.0)
    base_bands = base_bands.reindex(band=bands, fill_value=0.0)
    years = np.asarray(projected["year"].values, int)
    lam = np.stack([held[min(max(int(y) - int(start_year), 1), held.shape[0]) - 1] for y in years], axis=1)
    lam[:, years <= int(start_year)] = 0.0
    out = (1.0 - lam) * projected.values + lam * base_bands.values[:, None]
    return xr.DataArray(out, dims=("band", "year"), coords={"band": bands, "year": years}, name="persons",
                        attrs={"units": "persons"})


def constrain_to_bands(mix: xr.DataArray, fallback: xr.DataArray, control: xr.DataArray) -> xr.DataArray:
    """Scale wijken so that every KWB band adds up to a band total each year.

    Parameters
    ----------
    mix : xarray.DataArray (area, sex, age, year) [persons]
    fallback : xarray.DataArray (area, sex, age, year) [persons]
        Used for a band and year where ``mix`` is empty in every wijk (so the control is not
        lost); the cohort-component wijken.
    control : xarray.DataArray (band, year) [persons]
        :func:`band_control`.

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
        Within a wijk and band the sex-age profile of ``mix`` is kept.

    Examples
    --------
    >>> mix = xr.DataArray(np.array([1.0, 3.0]).reshape(2, 1, 1, 1), dims=("area", "sex", "age", "year"),
    ...     coords={"area": ["W0", "W1"], "sex": ["male"], "age": [70], "year": [2022]})
    >>> control = xr.DataArray([[0, 0, 0, 0, 8.0]], dims=("year", "band"), coords={"year": [2022]}).T
    >>> constrain_to_bands(mix, mix, control).values.ravel().tolist()
    [2.0, 6.0]
    """
    mix = mix.transpose("area", "sex", "age", "year")
    fallback = fallback.transpose("area", "sex", "age", "year")
    ages = np.asarray(mix["age"].values)
    band_of = np.searchsorted(KWB_BAND_EDGES, ages, side="right") - 1
    years = np.asarray(mix["year"].values, int)
    target = control.transpose("band", "year").sel(year=years).values  # (band, year)
    values = mix.values.copy()
    spare = fallback.sel(year=years).values
    for b in np.unique(band_of):
        in_band = band_of == b
        for k in range(len(years)):
            total = values[:, :, in_band, k].sum()
            if total <= 0:
                values[:, :, in_band, k] = spare[:, :, in_band, k]
                total = values[:, :, in_band, k].sum()
            if total > 0:
                values[:, :, in_band, k] *= target[b, k] / total
    return mix.copy(data=values)


def published_bands(kwb: pd.DataFrame, *, year: int, areas) -> xr.DataArray | None:
    """The KWB band figures of ``year`` for ``areas``, as published (rounded to 5 persons).

    Parameters
    ----------
    kwb : pandas.DataFrame
        ``GemeenteData.kwb`` (:func:`assen_demand.inputs.cbs.read_kwb`).
    year : int
    areas : sequence of str

    Returns
    -------
    xarray.DataArray (area, band) [persons] or None
        ``band`` is the index of the KWB band (0 = 0-15 ... 4 = 65+); NaN where an area or band has
        no figure. None when ``kwb`` has no row of ``year`` for any of ``areas``.
    """
    rows = kwb[(kwb["year"] == int(year)) & kwb["area"].isin(list(areas))]
    if rows.empty:
        return None
    long = kwb_age_bands(rows)
    long = long.assign(band=np.searchsorted(KWB_BAND_EDGES, long["age_lo"].to_numpy(int), side="right") - 1)
    wide = long.pivot_table(index="area", columns="band", values="persons", aggfunc="first", dropna=False)
    wide = wide.reindex(index=list(areas), columns=np.arange(len(KWB_BAND_EDGES) - 1))
    return xr.DataArray(wide.to_numpy(float), dims=("area", "band"),
                        coords={"area": list(areas), "band": wide.columns.to_numpy()}, name="persons")


def held_population(base: xr.DataArray, bands: xr.DataArray | None) -> xr.DataArray:
    """The base population with each wijk's band scaled to its published figure.

    The naive forecast holds what the KWB published for the base year; the base population of the
    projection is those figures raked to the gemeente's exact band totals
    (:mod:`assen_demand.demography.base`), which moves a wijk's band by about one person (mean
    absolute difference 0.8-1.0 persons over the wijken of the project's hindcasts). Within a band
    the sex-age profile of ``base`` is kept; a band without a published figure, or empty in
    ``base``, keeps ``base``.

    Parameters
    ----------
    base : xarray.DataArray (area, sex, age) [persons]
    bands : xarray.DataArray (area, band) [persons] or None
        :func:`published_bands`; None returns ``base``.

    Returns
    -------
    xarray.DataArray (area, sex, age) [persons]

    Examples
    --------
    >>> base = xr.DataArray(np.array([[[3.0, 1.0]]]), dims=("area", "sex", "age"),
    ...     coords={"area": ["W"], "sex": ["male"], "age": [0, 1]})
    >>> bands = xr.DataArray([[5.0, np.nan, np.nan, np.nan, np.nan]], dims=("area", "band"),
    ...     coords={"area": ["W"], "band": np.arange(5)})
    >>> held_population(base, bands).values.ravel().tolist()
    [3.75, 1.25]
    """
    if bands is None:
        return base
    base = base.transpose("area", "sex", "age")
    ages = np.asarray(base["age"].values)
    band_of = np.searchsorted(KWB_BAND_EDGES, ages, side="right") - 1
    values = base.values.astype(float).copy()
    published = bands.reindex(area=base["area"].values).transpose("area", "band")
    for b in np.unique(band_of):
        in_band = band_of == b
        have = values[:, :, in_band].sum(axis=(1, 2))
        target = published.sel(band=int(b)).values if int(b) in published["band"].values else np.full(len(have), np.nan)
        ok = np.isfinite(target) & (have > 0) & (target >= 0)
        factor = np.where(ok, target / np.where(have > 0, have, 1.0), 1.0)
        values[:, :, in_band] *= factor[:, None, None]
    return base.copy(data=values)


#: Parameter table of the household trend of growing wijken (issue 18 item 3, note 6)
HOUSEHOLD_TREND_TABLE = "wijk_household_trend.csv"


class HouseholdTrendParameters:
    """Threshold, weight by horizon and band profile of :func:`follow_households`, from ``wijk_household_trend.csv``.

    Attributes
    ----------
    threshold : float [share of households per year]
    weights : numpy.ndarray (horizon,) [1]
        Row ``h - 1`` holds horizon ``h``; a later horizon takes the last row.
    band_shares : numpy.ndarray (band,) [1]
        Summing to 1.
    """

    def __init__(self, table=None):
        frame = load_parameter_table(HOUSEHOLD_TREND_TABLE) if table is None else table
        threshold = frame[frame["indicator"] == "household_growth_threshold"]["central"]
        weights = frame[frame["indicator"] == "household_trend_weight"].sort_values("horizon")
        shares = frame[frame["indicator"] == "household_trend_band_share"].set_index("age_lo")["central"]
        los = [int(lo) for lo in KWB_BAND_EDGES[:-1]]
        if len(threshold) != 1 or weights.empty or shares.reindex(los).isna().any():
            raise MissingDataError(f"{HOUSEHOLD_TREND_TABLE}: needs one household_growth_threshold, household_trend_weight "
                                   "rows for horizons 1, 2, ... and a household_trend_band_share per KWB band")
        if [int(h) for h in weights["horizon"]] != list(range(1, len(weights) + 1)):
            raise MissingDataError(f"{HOUSEHOLD_TREND_TABLE}: the horizons of household_trend_weight must run 1, 2, ...")
        self.threshold = float(threshold.iloc[0])
        self.weights = weights["central"].to_numpy(float)
        values = shares.reindex(los).to_numpy(float)
        if (values < 0).any() or values.sum() <= 0:
            raise InvalidValueError(f"{HOUSEHOLD_TREND_TABLE}: the band shares must be >= 0 with a positive sum")
        self.band_shares = values / values.sum()
        if ((self.weights < 0) | (self.weights > 1)).any():
            raise InvalidValueError(f"{HOUSEHOLD_TREND_TABLE}: household_trend_weight must lie in [0, 1]")


def household_trend(kwb: pd.DataFrame, *, year: int, areas, threshold: float | None = None, years: int = 3,
                    min_years: int = 2) -> pd.DataFrame:
    """Each wijk's households over the KWB years up to ``year``, and whether it grows fast enough to follow them.

    Parameters
    ----------
    kwb : pandas.DataFrame
        ``GemeenteData.kwb`` (columns ``area, year, population, households``).
    year : int
        The base year; only KWB years from ``year - years`` to ``year`` count.
    areas : sequence of str
    threshold : float, optional [share of households per year]
        Default that of the bundled ``wijk_household_trend.csv``.
    years : int
        The longest span of the trend.
    min_years : int
        The shortest span a wijk may follow: a one-year change of the KWB households is noisy (on
        the Drenthe hindcast from 2022, following one-year trends took 0-15 from 3.90 to 3.98 % against
        naive's 3.94; issue 18 note 6).

    Returns
    -------
    pandas.DataFrame
        One row per area: ``area, first_year, households_first, households, population, slope``
        [households per year], ``growth`` [share a year], ``persons_per_household``, ``follows``
        (bool: a trend over at least ``min_years`` years, and ``growth > threshold``).

    Examples
    --------
    >>> kwb = pd.DataFrame({"area": ["W", "W"], "year": [2021, 2023], "households": [100.0, 110.0],
    ...                     "population": [240.0, 253.0]})
    >>> t = household_trend(kwb, year=2023, areas=["W"], threshold=0.03)
    >>> t[["slope", "persons_per_household", "follows"]].values.tolist()
    [[5.0, 2.3, True]]
    """
    if threshold is None:
        threshold = HouseholdTrendParameters().threshold
    rows = kwb[kwb["area"].isin(list(areas)) & kwb["year"].between(int(year) - int(years), int(year))
               & kwb["households"].notna() & (kwb["households"] > 0)]
    out = []
    for area in areas:
        own = rows[rows["area"] == area].sort_values("year")
        now = own[own["year"] == int(year)]
        if now.empty or len(own) < 2:
            out.append(dict(area=area, first_year=np.nan, households_first=np.nan, households=np.nan,
                            population=np.nan, slope=np.nan, growth=np.nan, persons_per_household=np.nan,
                            follows=False))
            continue
        first, last = own.iloc[0], now.iloc[-1]
        slope = (float(last["households"]) - float(first["households"])) / (int(last["year"]) - int(first["year"]))
        growth = slope / float(last["households"])
        out.append(dict(area=area, first_year=int(first["year"]), households_first=float(first["households"]),
                        households=float(last["households"]), population=float(last["population"]), slope=slope,
                        growth=growth, persons_per_household=float(last["population"]) / float(last["households"]),
                        follows=bool(growth > threshold and int(last["year"]) - int(first["year"]) >= min_years)))
    return pd.DataFrame(out)


def kwb_inputs(kwb: pd.DataFrame, *, year: int, areas) -> tuple[xr.DataArray | None, pd.DataFrame]:
    """What the combination reads from the KWB: the wijken's published bands of ``year``
    (:func:`published_bands`) and their household trend up to it (:func:`household_trend`)."""
    areas = [str(a) for a in areas]
    return published_bands(kwb, year=year, areas=areas), household_trend(kwb, year=year, areas=areas)


def follow_households(wijken: xr.DataArray, trend: pd.DataFrame, *, start_year: int,
                      parameters: HouseholdTrendParameters | None = None) -> xr.DataArray:
    """Growing wijken move toward the population their household trend houses; the other wijken make room.

    For a wijk whose households grew faster than the threshold (:func:`household_trend`), the
    housing-led total ``T_w(t) = (H_w + s_w h) p_w`` (households of the base year plus the yearly
    growth ``s_w`` for ``h = t - start_year`` years, at the base year's persons per household)
    pulls its total ``M_w(t)`` by the weight ``w(h)``: it gains ``w(h) (T_w - M_w)`` persons,
    spread over the KWB bands by the band shares (the profile of what the combination missed in
    growing wijken) and within a band by the wijk's own sex-age profile. Per band and year the
    other wijken are scaled so that the band keeps its total: the gemeente is not changed.

    Parameters
    ----------
    wijken : xarray.DataArray (area, sex, age, year) [persons]
        The combined wijken.
    trend : pandas.DataFrame
        :func:`household_trend` of these wijken.
    start_year : int
    parameters : HouseholdTrendParameters, optional
        Default the bundled table.

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
    """
    params = HouseholdTrendParameters() if parameters is None else parameters
    wijken = wijken.transpose("area", "sex", "age", "year")
    areas = [str(a) for a in wijken["area"].values]
    table = trend.set_index("area").reindex(areas)
    follows = table["follows"].fillna(False).to_numpy(bool)
    if not follows.any():
        return wijken
    years = np.asarray(wijken["year"].values, int)
    ages = np.asarray(wijken["age"].values)
    band_of = np.searchsorted(KWB_BAND_EDGES, ages, side="right") - 1
    values = wijken.values.astype(float).copy()
    rows = np.flatnonzero(follows)
    others = ~follows
    for k, year in enumerate(years):
        h = int(year) - int(start_year)
        if h <= 0:
            continue
        weight = params.weights[min(h, params.weights.size) - 1]
        if weight <= 0:
            continue
        target = ((table["households"] + table["slope"] * h) * table["persons_per_household"]).to_numpy(float)
        year_values = values[..., k]  # (area, sex, age), a view
        gain = weight * (np.maximum(target[rows], 0.0) - year_values[rows].sum(axis=(1, 2)))  # (growing wijk,)
        for b in np.unique(band_of):
            cols = np.flatnonzero(band_of == b)
            band = year_values[:, :, cols]  # a copy: written back below
            band_total = band.sum()
            for j, i in enumerate(rows):
                own = band[i].sum()
                if own > 0:
                    profile = band[i] / own
                elif band_total > 0:
                    profile = band.sum(axis=0) / band_total
                else:
                    continue
                band[i] = np.maximum(band[i] + gain[j] * params.band_shares[b] * profile, 0.0)
            rest_before = band[others].sum()
            rest_target = band_total - band[rows].sum()
            if rest_before > 0 and rest_target >= 0:
                band[others] *= rest_target / rest_before
            else:
                # the other wijken have no one in this band to give, or less than the gain: the band
                # total still holds, the growing wijken share it
                if rest_target < 0:
                    band[others] = 0.0
                grown = band[rows].sum()
                if grown > 0:
                    band[rows] *= (band_total - band[others].sum()) / grown
            year_values[:, :, cols] = band
    return wijken.copy(data=values)


def combined_wijken(cohort: xr.DataArray, base: xr.DataArray, control: xr.DataArray, *, start_year: int,
                    weights: dict[str, np.ndarray] | None = None, constraint: str | None = "band",
                    held: np.ndarray | None = None, held_bands: xr.DataArray | None = None,
                    households: pd.DataFrame | None = None) -> xr.DataArray:
    """The combination of cohort-component, constant share and naive wijk projections.

    Parameters
    ----------
    cohort : xarray.DataArray (area, sex, age, year) [persons]
        The wijken by cohort-component, constrained to ``control``.
    base : xarray.DataArray (area, sex, age) [persons]
        The wijken on 1 January ``start_year``.
    control : xarray.DataArray (sex, age, year) [persons]
        The gemeente projection.
    start_year : int
    weights : dict, optional
        :func:`method_weights` (default the bundled table).
    constraint : {"band", "sex_age", None}
        How the average is tied to the gemeente (the naive part, held at the base year, does
        not add up to the gemeente by itself):

        * ``"band"`` (default): every KWB band of the wijken together adds up to the band control
          of :func:`band_control`, the gemeente's cohort-component change damped toward its base
          year by the weight ``held`` (issue 18, second note). The wijken do not add up to the
          cohort-component gemeente per sex and age; the pipeline reports the gemeente as their
          sum.
        * ``"sex_age"``: scaled to ``control`` per sex, age and year. Measured on the Drenthe
          hindcasts this gives back the naive part's gain for 0-15 and 15-25 (2021 -> 2024: 0-15
          weighted APE 5.66 % constrained, 5.00 % not, naive 5.14 %) because it imposes the
          gemeente's projected change, which was wrong in 2021-2023.
        * ``None``: the weighted average as it is.
    held : numpy.ndarray (horizon, band), optional
        Weight of the gemeente held at its base year in the band control (``constraint="band"``);
        default :func:`gemeente_weights` of the bundled table.
    held_bands : xarray.DataArray (area, band), optional [persons]
        The wijken's published KWB bands of the base year (:func:`published_bands`). The naive part
        and the gemeente held then hold these figures (:func:`held_population`), as the naive
        forecast does; default None holds ``base``.
    households : pandas.DataFrame, optional
        :func:`household_trend` of the wijken: the wijken whose households grow faster than the
        threshold follow them (:func:`follow_households`, issue 18 item 3); default None: none.

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
    """
    if constraint not in CONSTRAINTS:
        raise InvalidValueError(f"constraint {constraint!r} is not one of {CONSTRAINTS}; use 'band' (default), "
                                "'sex_age' or None")
    cohort = cohort.transpose("area", "sex", "age", "year")
    years = np.asarray(cohort["year"].values, int)
    end_year = int(years.max())
    share = constant_share(base=base, start_year=start_year, end_year=end_year, control=control)
    kept = held_population(base, held_bands)
    naive = kept.transpose("area", "sex", "age").expand_dims(year=years).transpose("area", "sex", "age", "year")
    naive = naive.assign_coords(year=years).astype(float)
    mix = combine_projections({"cohort_component": cohort, "constant_share": share.sel(year=years), "naive": naive},
                              method_weights() if weights is None else weights, start_year=start_year)
    if constraint == "sex_age":
        out = constrain(mix, control.sel(year=years))
    elif constraint == "band":
        target = band_control(control.sel(year=years), kept, gemeente_weights() if held is None else held,
                              start_year=start_year)
        out = constrain_to_bands(mix, cohort, target)
        out.loc[dict(year=int(start_year))] = base.transpose("area", "sex", "age").values
    else:
        out = mix
    if households is not None:
        out = follow_households(out, households, start_year=start_year)
    out.name = "persons"
    out.attrs = {"units": "persons", "method": "combined"}
    return out


def combined(*, base: xr.DataArray, components, start_year: int, end_year: int, control: xr.DataArray,
             data=None) -> xr.DataArray:
    """Small-area method ``combined`` as a callable (:func:`assen_demand.pipeline.project_population`).

    Projects the wijken by cohort-component (constrained to ``control``) and averages it with
    the constant-share and naive projections by :func:`combined_wijken`.

    Parameters
    ----------
    base : xarray.DataArray (area, sex, age) [persons]
    components : ProjectionInputs
        The wijken's components.
    start_year, end_year : int
    control : xarray.DataArray (sex, age, year) [persons]
    data : GemeenteData, optional
        The inputs as of ``start_year``: their KWB figures of ``start_year`` are what the naive part
        holds (:func:`published_bands`), and their households of the KWB years up to ``start_year``
        say which wijken follow their household trend (:func:`household_trend`); without them the
        naive part holds ``base`` and no wijk follows its households.

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
    """
    cohort = project(base, components=components, start_year=start_year, end_year=end_year, constrain_to=control)
    bands, trend = (None, None) if data is None else kwb_inputs(data.kwb, year=start_year, areas=base["area"].values)
    return combined_wijken(cohort, base, control, start_year=start_year, held_bands=bands, households=trend)

"""Demographic components of a cohort-component projection: mortality, fertility, migration.

Everything the projection engine needs besides the base population, estimated from what was
known on 1 January of the base year (so a hindcast is honest):

* **Life tables** (:func:`life_table`) from single-year central death rates m(x), ages 0..100
  with 100 = the open group 100+, and the one-year **survival ratios** S(x) and the survival of
  births (:func:`survival_ratios`).
* **National mortality** by single year of age and calendar year from UN WPP 2024 5-year rates
  (:func:`ungroup_mx`, :func:`wpp_single_year_mx`), carried forward by **Lee-Carter**
  (:func:`fit_lee_carter`, :class:`LeeCarterFit`) or taken from the WPP medium variant.
* **Local mortality level**: an SMR against national mortality, shrunk towards 1
  (:func:`local_smr`).
* **Fertility**: single-year ASFR from the WPP TFR and percentASFR (:func:`national_asfr`) and a
  local level factor from observed births (:func:`local_fertility_factor`).
* **Migration**: net migration counts by area, sex and age from the residual method and a
  Rogers-Castro model schedule (:func:`rogers_castro`, :func:`fit_rogers_castro`,
  :func:`kwb_band_residuals`, :func:`net_migration_counts`).
* :func:`estimate_components` assembles all of this into a frozen :class:`Components`.

Conventions: ``age`` 0..100 with 100 = 100 and over; ``sex`` "male"/"female"; ``year`` is a
calendar year (a rate for ``year`` applies from 1 January ``year`` to 1 January ``year + 1``).
Bron: CBS (CC BY 4.0); United Nations, DESA, Population Division, World Population Prospects
2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import interpolate, optimize, stats

# SEXES, MAX_AGE, AGES and SEX_RATIO_AT_BIRTH are re-exported: they were defined here before datamodel
from assen_demand.demography.ageing import age_one_year
from assen_demand.datamodel import AGES, KWB_BAND_EDGES, KWB_BANDS, MAX_AGE, SEX_RATIO_AT_BIRTH, SEXES
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.display import summary_repr

__all__ = [
    "SEXES",
    "MAX_AGE",
    "AGES",
    "SEX_RATIO_AT_BIRTH",
    "RC_FUNDAMENTAL",
    "RC_RETIREMENT_EXAMPLE",
    "ComponentsWarning",
    "andreev_kingkade_a0",
    "life_table",
    "survival_ratios",
    "ungroup_mx",
    "wpp_period_mx",
    "interpolate_log_rates",
    "wpp_single_year_mx",
    "LeeCarterFit",
    "fit_lee_carter",
    "national_mortality",
    "single_year_population",
    "SMR_PRIOR_SHAPE",
    "SMRResult",
    "smr_shrinkage",
    "smr_prior_shape",
    "local_smr",
    "FERTILE_AGES",
    "spread_band_totals",
    "national_asfr",
    "tfr_path",
    "FertilityLevel",
    "local_fertility_factor",
    "rogers_castro",
    "RogersCastroFit",
    "fit_rogers_castro",
    "net_migration_totals",
    "kwb_band_residuals",
    "NetMigrationSchedule",
    "fit_net_migration_schedule",
    "net_migration_counts",
    "structural_net_migration",
    "Components",
    "estimate_components",
]



class ComponentsWarning(UserWarning):
    """A component was estimated with a documented fallback or from inconsistent input rows."""


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_finite_nonneg(values: np.ndarray, what: str, fix: str) -> None:
    values = np.asarray(values, dtype=float)
    if np.isnan(values).any():
        raise InvalidValueError(f"{what} contains NaN ({int(np.isnan(values).sum())} cells); {fix}")
    if (values < 0).any():
        raise InvalidValueError(f"{what} contains negative values (min {values.min():.4g}); {fix}")


def _check_sex_coord(da: xr.DataArray | xr.Dataset, what: str) -> None:
    if "sex" not in da.coords:
        return
    labels = np.atleast_1d(da["sex"].values).tolist()
    unknown = [s for s in labels if s not in SEXES]
    if unknown:
        raise DataFormatError(
            f"{what} has unknown sex label(s) {unknown}; use 'male' and 'female' "
            "(the projection has no 'total' sex: compute each sex and add)"
        )


def _check_ages(ages: np.ndarray, what: str) -> None:
    ages = np.asarray(ages)
    if ages.size < 2 or ages[0] != 0 or not np.array_equal(ages, np.arange(ages.size)):
        raise DataFormatError(
            f"{what}: ages must be consecutive single years 0, 1, ..., with the last one open "
            f"(got {ages[:5].tolist()}...{ages[-2:].tolist()}); reindex the age coordinate"
        )


# --------------------------------------------------------------------------------------------
# 1. life tables and survival ratios
# --------------------------------------------------------------------------------------------

# Andreev & Kingkade (2015), Demographic Research 33(13), table 3 (m0 version as used by the
# Human Mortality Database protocol v6): a0 = c + s * q0 on each m0 segment.
_AK_SEGMENTS = {
    "male": ((0.02306737, 0.1493, -2.0367), (0.0830706, 0.0244, 3.4994), (np.inf, 0.2991, 0.0)),
    "female": ((0.01725977, 0.1490, -2.0867), (0.06919348, 0.0438, 4.1075), (np.inf, 0.3141, 0.0)),
}


def andreev_kingkade_a0(m0, sex):
    """Mean years lived in the first year of life by infants who die, from the infant death rate.

    Andreev & Kingkade (2015, Demographic Research 33(13), the m0 segments of their table 3, as in
    the HMD methods protocol v6): on each m0 segment ``a0 = c + s * q0`` with
    ``q0 = m0 / (1 + (1 - a0) m0)``, solved for q0 in closed form.

    Parameters
    ----------
    m0 : float, numpy.ndarray or xarray.DataArray [deaths per person-year]
        Infant central death rate.
    sex : str, array of str or xarray.DataArray of str
        "male" or "female" (broadcast against ``m0``).

    Returns
    -------
    Same type as ``m0`` [years]
        a0, between about 0.05 and 0.31.

    Examples
    --------
    >>> round(float(andreev_kingkade_a0(0.004, "female")), 4)
    0.1407
    """
    if isinstance(m0, xr.DataArray) or isinstance(sex, xr.DataArray):
        return xr.apply_ufunc(andreev_kingkade_a0, m0, sex)
    m0 = np.asarray(m0, dtype=float)
    sex_arr = np.asarray(sex)
    unknown = set(np.unique(sex_arr).tolist()) - set(SEXES)
    if unknown:
        raise DataFormatError(f"a0: unknown sex label(s) {sorted(unknown)}; use 'male' or 'female' or pass a0=")
    _check_finite_nonneg(m0, "a0: infant death rate m0", "give a non-negative rate per person-year")
    m0, sex_arr = np.broadcast_arrays(m0, sex_arr)
    out = np.empty(m0.shape)
    for name, segments in _AK_SEGMENTS.items():
        lower = 0.0
        for upper, c, s in segments:
            sel = (sex_arr == name) & (m0 >= lower) & (m0 < upper)
            m = m0[sel]
            # q0 solves s*m*q^2 - (1 + (1-c) m) q + m = 0; the stable root that tends to m/(1+(1-c)m)
            b = 1.0 + (1.0 - c) * m
            q = 2.0 * m / (b + np.sqrt(np.maximum(b * b - 4.0 * s * m * m, 0.0)))
            out[sel] = c + s * q
            lower = upper
    return out if out.ndim else float(out)


def _as_age_last(da: xr.DataArray) -> tuple[xr.DataArray, list[str]]:
    dims = [d for d in da.dims if d != "age"] + ["age"]
    return da.transpose(*dims), dims


def life_table(mx: xr.DataArray, *, a0=None) -> xr.Dataset:
    """Period life table by single year of age with an open last age group.

    Ages 0..w-1 are one-year intervals with a(x) = 0.5 except a(0); the last age w is open with
    L(w) = l(w) / m(w). Vectorised over every other dimension of ``mx`` (sex, year, area, draw).

    * q(x) = m(x) / (1 + (1 - a(x)) m(x)) (capped at 1), q(w) = 1
    * l(0) = 1, l(x+1) = l(x) (1 - q(x)); d(x) = l(x) q(x)
    * L(x) = l(x+1) + a(x) d(x); L(w) = l(w) / m(w)
    * T(x) = sum of L(y) for y >= x; e(x) = T(x) / l(x)

    Parameters
    ----------
    mx : xarray.DataArray (..., age) [deaths per person-year]
        Central death rates; ``age`` = 0, 1, ..., w with w the open group (100 = 100+ in the
        projection, any w >= 1 works). A ``sex`` coordinate ("male"/"female") selects a(0).
    a0 : float or xarray.DataArray (...), optional [years]
        Mean years lived in the first year by infants who die. Default: Andreev & Kingkade
        (2015) from m(0) and the ``sex`` coordinate of ``mx``.

    Returns
    -------
    xarray.Dataset
        ``mx, ax, qx, lx, dx, Lx, Tx, ex`` with the dims of ``mx``; ``lx`` has radix 1,
        ``Lx``/``Tx``/``ex`` are in [years].

    Raises
    ------
    InvalidValueError
        NaN or negative rates, or a zero rate in the open age group.
    DataFormatError
        Ages that are not 0, 1, ..., w; unknown sex labels; no sex coordinate and no ``a0``.
    """
    if "age" not in mx.dims:
        raise DataFormatError("life_table: mx has no 'age' dimension; give rates by single year of age 0..100")
    _check_ages(mx["age"].values, "life_table")
    _check_sex_coord(mx, "life_table: mx")
    _check_finite_nonneg(mx.values, "life_table: mx", "fill or drop the cells before building a life table")
    arr_da, dims = _as_age_last(mx.astype(float))
    m = arr_da.values
    if (m[..., -1] <= 0).any():
        raise InvalidValueError(
            f"life_table: the open age group {int(mx['age'].values[-1])}+ has a zero death rate, so its "
            "person-years l/m are infinite; give a positive rate for the open group"
        )
    if a0 is None:
        if "sex" not in arr_da.coords:
            raise DataFormatError(
                "life_table: mx has no 'sex' coordinate to choose the infant a(0); pass a0= (e.g. 0.1) "
                "or add sex='male'/'female'"
            )
        a0_da = andreev_kingkade_a0(arr_da.isel(age=0, drop=True), arr_da["sex"])
    else:
        a0_da = xr.DataArray(a0) if not isinstance(a0, xr.DataArray) else a0
        _check_finite_nonneg(np.asarray(a0_da), "life_table: a0", "a0 is a fraction of the first year (0..1)")
    a0_arr = a0_da.broadcast_like(arr_da.isel(age=0, drop=True)).transpose(*dims[:-1]).values

    ax = np.full(m.shape, 0.5)
    ax[..., 0] = a0_arr
    ax[..., -1] = np.nan  # not used: the open group's L is l/m
    qx = np.minimum(m / (1.0 + (1.0 - ax) * m), 1.0)
    qx[..., -1] = 1.0
    lx = np.ones(m.shape)
    lx[..., 1:] = np.cumprod(1.0 - qx[..., :-1], axis=-1)
    dx = lx * qx
    Lx = lx - (1.0 - np.nan_to_num(ax)) * dx
    Lx[..., -1] = lx[..., -1] / m[..., -1]
    Tx = np.flip(np.cumsum(np.flip(Lx, -1), axis=-1), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = np.where(lx > 0, Tx / lx, 0.0)

    coords = {k: v for k, v in arr_da.coords.items()}
    out = xr.Dataset(
        {name: (dims, val) for name, val in
         dict(mx=m, ax=ax, qx=qx, lx=lx, dx=dx, Lx=Lx, Tx=Tx, ex=ex).items()},
        coords=coords,
    )
    return out.transpose(*mx.dims)


def survival_ratios(table: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """One-year survival ratios for a projection by age on 1 January, and survival of births.

    With P(x, t) the persons aged x (completed years) on 1 January of year t and w the open
    age (100 = 100+):

    * S(x) = L(x+1) / L(x) for x = 0..w-2: aged x on 1 Jan t -> aged x+1 on 1 Jan t+1;
    * S(w-1) = S(w) = T(w) / T(w-1): the last closed age and the open group are survived
      together into the open group, P(w, t+1) = [P(w-1, t) + P(w, t)] T(w) / T(w-1)
      (Preston, Heuveline & Guillot 2001, section 6.3, in one-year steps);
    * births survival L(0) / l(0): births during year t alive (aged 0) on 1 Jan t+1.

    These choices reproduce a stationary population exactly: P(x) = L(x) with l(0) births a
    year stays P(x) = L(x) (tested).

    Parameters
    ----------
    table : xarray.Dataset
        The output of :func:`life_table` (dims ..., age).

    Returns
    -------
    survival : xarray.DataArray (..., age) [probability]
        S(x) indexed by the age at the start of the year (0..w).
    births_survival : xarray.DataArray (...) [probability]
        L(0) / l(0).
    """
    L = table["Lx"]
    T = table["Tx"]
    w = int(L["age"].values[-1])
    ratio = (L.shift(age=-1) / L).fillna(0.0)
    open_ratio = T.sel(age=w) / T.sel(age=w - 1)
    age = L["age"]
    surv = xr.where(age >= w - 1, open_ratio, ratio).transpose(*L.dims)
    surv = surv.clip(0.0, 1.0).rename("survival")
    births = (L.sel(age=0, drop=True) / table["lx"].sel(age=0, drop=True)).rename("births_survival")
    return surv, births


# --------------------------------------------------------------------------------------------
# 2. single-year m(x) from the WPP 5-year rates
# --------------------------------------------------------------------------------------------


def _band_edges(starts: np.ndarray, max_age: int) -> np.ndarray:
    starts = np.asarray(starts, dtype=int)
    if starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] != max_age:
        raise DataFormatError(
            f"ungroup: band starts must rise from 0 to the open band {max_age}+ (got {starts.tolist()}); "
            "give rates for 0, 1-4, 5-9, ..., 95-99, 100+"
        )
    return np.append(starts, max_age + 1)


def _ungroup_log_spline(m_bands: np.ndarray, starts: np.ndarray, max_age: int, iterations: int = 6) -> np.ndarray:
    """Band rates (..., band) -> single-year rates (..., age 0..max_age); see :func:`ungroup_mx`."""
    edges = _band_edges(starts, max_age)
    widths = np.diff(edges)[:-1]
    closed = len(starts) - 1
    # knots: band mid-points; the open band as if it were one more band as wide as the last one
    knots = np.append(starts[:closed] + widths / 2.0, max_age + widths[-1] / 2.0)
    ages = np.arange(max_age + 1)
    band_of_age = np.searchsorted(edges, ages, side="right") - 1
    with np.errstate(divide="ignore"):
        logm = np.log(m_bands)
    out = np.empty(m_bands.shape[:-1] + (max_age + 1,))
    # a one-year first band (infants) is its own regime: exact, and kept out of the spline
    first = 1 if widths[0] == 1 else 0
    flat_log = logm.reshape(-1, logm.shape[-1])
    flat_out = out.reshape(-1, max_age + 1)
    for i, row in enumerate(flat_log):
        if not np.isfinite(row).all():
            raise InvalidValueError(
                "ungroup_mx: a band rate is zero, so log m is undefined; the log-spline needs positive rates"
            )
        spline = interpolate.PchipInterpolator(knots[first:], row[first:], extrapolate=True)
        flat_out[i] = np.exp(spline(ages + 0.5))
    out = flat_out.reshape(out.shape)
    # rescale every closed band so that its stationary-population deaths / person-years (the
    # band's life-table m) equal the given band rate; this is what keeps e0 of the abridged table
    for _ in range(iterations):
        q = out / (1.0 + 0.5 * out)
        for b in range(closed):
            lo, hi = edges[b], edges[b + 1]
            if hi - lo == 1:
                out[..., lo] = m_bands[..., b]
                continue
            seg_q = q[..., lo:hi]
            l_rel = np.concatenate([np.ones(seg_q.shape[:-1] + (1,)), np.cumprod(1 - seg_q[..., :-1], axis=-1)], -1)
            L_rel = l_rel * (1 - 0.5 * seg_q)
            current = (L_rel * out[..., lo:hi]).sum(-1) / L_rel.sum(-1)
            out[..., lo:hi] *= (m_bands[..., b] / current)[..., None]
    out[..., max_age] = m_bands[..., -1]
    return out


_UNGROUPERS = {"log_spline": _ungroup_log_spline}


def ungroup_mx(mx_bands: xr.DataArray, *, method: str = "log_spline", max_age: int = MAX_AGE) -> xr.DataArray:
    """Death rates by age band -> single years of age 0..max_age (max_age = the open group).

    ``method="log_spline"`` (default, our own): a monotone cubic (PCHIP, Fritsch-Carlson)
    interpolant of log m through the band mid-points, evaluated at x + 0.5; a one-year infant
    band is kept exact and out of the spline; the open band m(100+) is the rate of the open age
    100 and its knot sits half a band width above 100 (it shapes only the slope within 95-99).
    Each closed band is then rescaled (6 fixed-point iterations) so that the band's
    stationary-population death rate sum L(x) m(x) / sum L(x) equals the band rate: an abridged
    life table of the single-year rates has exactly the given 5-year rates, which is what keeps
    e0 (tested against WPP e0 to < 0.3 years). The rescaling leaves small steps at band edges.

    The switch to PCLM (Rizzi et al. 2015, ``assen_demand.demography.ungroup``) goes here: a new entry in
    the method table; the callers only pass ``method``.

    Parameters
    ----------
    mx_bands : xarray.DataArray (..., age_lo) [deaths per person-year]
        Band rates; ``age_lo`` are the band starts, rising from 0 to ``max_age`` (the open band).
    method : {"log_spline"}
        Ungrouping method.
    max_age : int
        Start of the open band [years].

    Returns
    -------
    xarray.DataArray (..., age) [deaths per person-year]
    """
    if method not in _UNGROUPERS:
        raise InvalidValueError(
            f"ungroup_mx: unknown method {method!r}; available: {', '.join(_UNGROUPERS)} "
            "(PCLM arrives with assen_demand.demography.ungroup)"
        )
    if "age_lo" not in mx_bands.dims:
        raise DataFormatError("ungroup_mx: mx_bands needs an 'age_lo' dimension (band starts)")
    _check_finite_nonneg(mx_bands.values, "ungroup_mx: band rates", "fill the missing bands first")
    da = mx_bands.transpose(..., "age_lo")
    starts = da["age_lo"].values.astype(int)
    values = _UNGROUPERS[method](da.values.astype(float), starts, max_age)
    dims = list(da.dims[:-1]) + ["age"]
    coords = {k: v for k, v in da.coords.items() if "age_lo" not in v.dims}
    coords["age"] = np.arange(max_age + 1)
    return xr.DataArray(values, dims=dims, coords=coords, name="mx")


def wpp_period_mx(wpp_mx: pd.DataFrame, *, base_year: int | None, include_projection: bool = False) -> xr.DataArray:
    """WPP 5-year period rates as a DataArray (sex, age_lo, time), time = period mid-point.

    Parameters
    ----------
    wpp_mx : pandas.DataFrame
        ``GemeenteData.wpp_mx``: sex, age_lo, age_hi, period_start, period_end, mx [deaths per person-year].
    base_year : int or None
        Keep only periods ending by 1 January ``base_year`` (``period_end <= base_year``);
        ``None`` keeps all.
    include_projection : bool
        Keep also the periods after ``base_year`` (the WPP medium variant, an outside assumption).

    Returns
    -------
    xarray.DataArray (sex, age_lo, time) [deaths per person-year]
        ``time`` = (period_start + period_end) / 2, e.g. 2017.5 for 2015-2020.
    """
    needed = ["sex", "age_lo", "period_start", "period_end", "mx"]
    missing = [c for c in needed if c not in wpp_mx.columns]
    if missing:
        raise DataFormatError(f"wpp_mx lacks column(s) {missing}; pass GemeenteData.wpp_mx")
    frame = wpp_mx
    if base_year is not None and not include_projection:
        frame = frame[frame["period_end"] <= base_year]
    if frame.empty:
        raise MissingDataError(
            f"no WPP mortality period ends by {base_year}; the first ends in "
            f"{int(wpp_mx['period_end'].min()) if len(wpp_mx) else 'n/a'}: choose a later base year"
        )
    unknown = sorted(set(frame["sex"]) - set(SEXES))
    if unknown:
        raise DataFormatError(f"wpp_mx has unknown sex label(s) {unknown}; expected 'male' and 'female'")
    _check_finite_nonneg(frame["mx"].to_numpy(float), "wpp_mx: mx", "fix the WPP file")
    frame = frame.assign(time=(frame["period_start"] + frame["period_end"]) / 2.0)
    da = frame.set_index(["sex", "age_lo", "time"])["mx"].to_xarray()
    da = da.reindex(sex=list(SEXES))
    if da.isnull().any():
        raise DataFormatError("wpp_mx: some sex x age x period cells are missing; every period needs all bands")
    return da.astype(float)


def interpolate_log_rates(rates: xr.DataArray, years: Sequence[int]) -> xr.DataArray:
    """Rates at time points -> calendar years, log-linear in time, constant outside the range.

    Calendar year y is represented by its mid-point y + 0.5 (the 2015-2020 period rate sits at
    2017.5, i.e. calendar year 2017).

    Parameters
    ----------
    rates : xarray.DataArray (..., time) [per person-year]
        Positive rates at (fractional) time points.
    years : sequence of int
        Calendar years wanted.

    Returns
    -------
    xarray.DataArray (..., year) [per person-year]
    """
    years = np.asarray(list(years), dtype=int)
    t = rates["time"].values.astype(float)
    order = np.argsort(t)
    logr = np.log(rates.transpose(..., "time").values[..., order])
    target = np.clip(years + 0.5, t[order][0], t[order][-1])
    if len(t) == 1:
        vals = np.repeat(logr, len(years), axis=-1)
    else:
        vals = interpolate.interp1d(t[order], logr, axis=-1)(target)
    da = rates.transpose(..., "time")
    dims = list(da.dims[:-1]) + ["year"]
    coords = {k: v for k, v in da.coords.items() if "time" not in v.dims}
    coords["year"] = years
    return xr.DataArray(np.exp(vals), dims=dims, coords=coords, name=rates.name)


def wpp_single_year_mx(
    wpp_mx: pd.DataFrame,
    *,
    base_year: int | None,
    years: Sequence[int] | None = None,
    include_projection: bool = False,
    method: str = "log_spline",
) -> xr.DataArray:
    """National m(x) by sex, single year of age and calendar year from the WPP 5-year rates.

    Each 5-year period is ungrouped by age (:func:`ungroup_mx`), placed at its mid-year, and log m
    is interpolated linearly between mid-years (:func:`interpolate_log_rates`).

    Parameters
    ----------
    wpp_mx : pandas.DataFrame
        ``GemeenteData.wpp_mx`` [deaths per person-year].
    base_year : int or None
        Only periods ending by ``base_year`` are used (unless ``include_projection``).
    years : sequence of int, optional
        Calendar years; default every year from the first to the last period mid-point.
    include_projection : bool
        Use the WPP medium-variant periods too.
    method : str
        Ungrouping method of :func:`ungroup_mx`.

    Returns
    -------
    xarray.DataArray (sex, age, year) [deaths per person-year]
    """
    period = ungroup_mx(wpp_period_mx(wpp_mx, base_year=base_year, include_projection=include_projection), method=method)
    if years is None:
        t = period["time"].values
        years = range(int(math.floor(t.min())), int(math.floor(t.max())) + 1)
    return interpolate_log_rates(period, years).transpose("sex", "age", "year")


# --------------------------------------------------------------------------------------------
# 4. mortality improvement: Lee-Carter
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True)
class LeeCarterFit:
    """A Lee-Carter model log m(x, t) = a(x) + b(x) k(t) per sex, k a random walk with drift.

    Attributes
    ----------
    ax : xarray.DataArray (sex, age) [log deaths per person-year]
        Mean log m over the fitting periods.
    bx : xarray.DataArray (sex, age) [1]
        Age response, normalised to sum 1.
    kt : xarray.DataArray (sex, time) [1]
        Mortality index at the period mid-points, summing to 0 (before any re-estimation).
    drift : xarray.DataArray (sex) [per year]
        Mean change of k per year (maximum likelihood of a random walk with drift).
    sigma : xarray.DataArray (sex) [per square-root year]
        Standard deviation of the yearly innovations of k.
    drift_se : xarray.DataArray (sex) [per year]
        Standard error of the drift, sigma / sqrt(years spanned).
    jump_off : xarray.DataArray (sex, age) [log deaths per person-year]
        log m at the last fitting time; forecasts start here (Lee & Miller 2001) rather than at
        a(x) + b(x) k(last), which removes the jump-off bias.
    last_time : float
        Time of the jump-off rates (mid-point of the last period, e.g. 2017.5).
    explained : xarray.DataArray (sex) [fraction]
        Share of the variance of the centred log m explained by the first singular vector.
    refit : str or None
        ``"e0"`` if k(t) was re-estimated to reproduce each period's e0 (Lee & Miller 2001).
    """

    ax: xr.DataArray
    bx: xr.DataArray
    kt: xr.DataArray
    drift: xr.DataArray
    sigma: xr.DataArray
    drift_se: xr.DataArray
    jump_off: xr.DataArray
    last_time: float
    explained: xr.DataArray
    refit: str | None = None

    def k_forecast(self, years: Sequence[int]) -> xr.DataArray:
        """Expected k (sex, year) for calendar years (time y + 0.5), relative to the jump-off."""
        h = xr.DataArray(np.asarray(list(years), dtype=float) + 0.5 - self.last_time, dims="year",
                         coords={"year": np.asarray(list(years), dtype=int)})
        return self.drift * h

    def forecast(self, years: Sequence[int]) -> xr.DataArray:
        """Central forecast m(x) (sex, age, year) [deaths per person-year] for calendar years."""
        logm = self.jump_off + self.bx * self.k_forecast(years)
        return np.exp(logm).transpose("sex", "age", "year").rename("mx")

    def simulate(
        self,
        years: Sequence[int],
        *,
        draws: int,
        seed: int | None = None,
        drift_uncertainty: bool = True,
    ) -> xr.DataArray:
        """Stochastic m(x) paths (draw, sex, age, year) [deaths per person-year].

        k(t) = k(jump-off) + d h + sigma W(h), W a standard Brownian motion sampled at the
        horizons h = year + 0.5 - last_time (independent increments over the gaps between the
        requested years); with ``drift_uncertainty`` each draw first takes its drift from
        N(drift, drift_se^2). The two sexes share the same standard-normal shocks (k of men and
        women move together in practice; independent shocks would understate the uncertainty of
        totals).

        Parameters
        ----------
        years : sequence of int
            Calendar years, after ``last_time``.
        draws : int
            Number of paths.
        seed : int, optional
            Seed of ``numpy.random.default_rng``.
        drift_uncertainty : bool
            Add the sampling uncertainty of the drift.
        """
        if draws < 1:
            raise InvalidValueError(f"simulate: draws must be >= 1 (got {draws})")
        years = np.asarray(sorted(years), dtype=int)
        h = years + 0.5 - self.last_time
        if (h < 0).any():
            raise InvalidValueError(
                f"simulate: year {int(years[h < 0][0])} lies before the jump-off time {self.last_time}; "
                "stochastic paths run forward only"
            )
        rng = np.random.default_rng(seed)
        gaps = np.diff(np.concatenate([[0.0], h]))
        shocks = rng.standard_normal((draws, len(years))) * np.sqrt(gaps)
        walk = np.cumsum(shocks, axis=1)  # (draw, year)
        z_drift = rng.standard_normal(draws) if drift_uncertainty else np.zeros(draws)
        d = self.drift.values[None, :] + self.drift_se.values[None, :] * z_drift[:, None]  # (draw, sex)
        k = d[:, :, None] * h[None, None, :] + self.sigma.values[None, :, None] * walk[:, None, :]
        k_da = xr.DataArray(k, dims=("draw", "sex", "year"),
                            coords={"draw": np.arange(draws), "sex": self.drift["sex"].values, "year": years})
        logm = self.jump_off + self.bx * k_da
        return np.exp(logm).transpose("draw", "sex", "age", "year").rename("mx")

    def summary(self) -> pd.DataFrame:
        """Drift, sigma, drift standard error and explained variance per sex."""
        return pd.DataFrame({
            "drift": self.drift.to_series(), "sigma": self.sigma.to_series(),
            "drift_se": self.drift_se.to_series(), "explained": self.explained.to_series(),
        })


def _e0_of_log(logm: np.ndarray, sex: str) -> float:
    m = np.exp(logm)
    lt = life_table(xr.DataArray(m, dims="age", coords={"age": np.arange(m.size), "sex": sex}))
    return float(lt["ex"].values[0])


def fit_lee_carter(mx: xr.DataArray, *, refit: str | None = None) -> LeeCarterFit:
    """Fit Lee-Carter by sex to single-year rates at several time points.

    a(x) = mean over t of log m(x, t); the centred matrix is decomposed by SVD and the first
    component gives b(x) (normalised to sum b = 1) and k(t) (sum k = 0), Lee & Carter (1992).
    k(t) is modelled as a random walk with drift: with time points t_0 < ... < t_n (the WPP
    period mid-points, 5 years apart), the maximum likelihood drift per year is
    (k(t_n) - k(t_0)) / (t_n - t_0) and the innovation variance per year is the sample variance
    of the increments divided by the step length (ARIMA(0,1,0) with drift, as statsmodels would
    fit it on the 5-year series; tested).

    Parameters
    ----------
    mx : xarray.DataArray (sex, age, time) [deaths per person-year]
        Positive rates, e.g. the ungrouped WPP periods (:func:`wpp_period_mx` + :func:`ungroup_mx`)
        of the fitting window only: the caller decides which data are known.
    refit : {None, "e0"}
        ``"e0"``: re-estimate k(t) so that exp(a + b k) reproduces the e0 of each period (Lee &
        Miller 2001); default ``None`` keeps the SVD k (the WPP rates are smooth already).

    Returns
    -------
    LeeCarterFit
    """
    for dim in ("sex", "age", "time"):
        if dim not in mx.dims:
            raise DataFormatError(f"fit_lee_carter: mx needs dims sex, age, time (missing {dim!r})")
    _check_sex_coord(mx, "fit_lee_carter: mx")
    _check_finite_nonneg(mx.values, "fit_lee_carter: mx", "Lee-Carter needs positive rates")
    if (mx.values <= 0).any():
        raise InvalidValueError("fit_lee_carter: mx has zero rates; log m is undefined (smooth or pool ages first)")
    if mx.sizes["time"] < 3:
        raise MissingDataError(
            f"fit_lee_carter: {mx.sizes['time']} time point(s); at least 3 periods are needed to estimate "
            "a drift and its variance: use an earlier fitting start or a later base year"
        )
    if refit not in (None, "e0"):
        raise InvalidValueError(f"fit_lee_carter: refit must be None or 'e0' (got {refit!r})")
    da = mx.sortby("time").transpose("sex", "age", "time")
    t = da["time"].values.astype(float)
    logm = np.log(da.values)
    ax = logm.mean(axis=-1)
    sexes = da["sex"].values
    bx = np.empty(ax.shape)
    kt = np.empty((len(sexes), len(t)))
    explained = np.empty(len(sexes))
    for i in range(len(sexes)):
        z = logm[i] - ax[i][:, None]
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        scale = u[:, 0].sum()
        bx[i] = u[:, 0] / scale
        kt[i] = s[0] * vt[0] * scale
        explained[i] = s[0] ** 2 / (s**2).sum()
        if refit == "e0":
            for j in range(len(t)):
                target = _e0_of_log(logm[i, :, j], str(sexes[i]))
                f = lambda k: _e0_of_log(ax[i] + bx[i] * k, str(sexes[i])) - target  # noqa: E731
                lo, hi = kt[i, j] - 50.0, kt[i, j] + 50.0
                kt[i, j] = optimize.brentq(f, lo, hi, xtol=1e-10)
    steps = np.diff(t)
    dk = np.diff(kt, axis=1)
    drift = (kt[:, -1] - kt[:, 0]) / (t[-1] - t[0])
    # increments over a step of length s have variance sigma^2 s
    resid = dk - drift[:, None] * steps[None, :]
    sigma = np.sqrt((resid**2 / steps[None, :]).sum(axis=1) / max(len(steps) - 1, 1))
    drift_se = sigma / np.sqrt(t[-1] - t[0])
    coords_sa = {"sex": sexes, "age": da["age"].values}
    return LeeCarterFit(
        ax=xr.DataArray(ax, dims=("sex", "age"), coords=coords_sa, name="ax"),
        bx=xr.DataArray(bx, dims=("sex", "age"), coords=coords_sa, name="bx"),
        kt=xr.DataArray(kt, dims=("sex", "time"), coords={"sex": sexes, "time": t}, name="kt"),
        drift=xr.DataArray(drift, dims="sex", coords={"sex": sexes}, name="drift"),
        sigma=xr.DataArray(sigma, dims="sex", coords={"sex": sexes}, name="sigma"),
        drift_se=xr.DataArray(drift_se, dims="sex", coords={"sex": sexes}, name="drift_se"),
        jump_off=xr.DataArray(logm[:, :, -1], dims=("sex", "age"), coords=coords_sa, name="jump_off"),
        last_time=float(t[-1]),
        explained=xr.DataArray(explained, dims="sex", coords={"sex": sexes}, name="explained"),
        refit=refit,
    )


def national_mortality(
    wpp_mx: pd.DataFrame,
    *,
    base_year: int,
    years: Sequence[int],
    model: str = "lee_carter",
    fit_start: int = 1970,
    refit: str | None = None,
    method: str = "log_spline",
    drift_multiplier: float = 1.0,
) -> tuple[xr.DataArray, LeeCarterFit | None]:
    """National m(x) by sex, single age and calendar year, knowing only WPP periods ending by ``base_year``.

    Calendar years up to the mid-point of the last known period are interpolated between WPP
    periods (:func:`wpp_single_year_mx`); later years come from the chosen model:

    * ``"lee_carter"`` (default): Lee-Carter fitted on the known periods starting at or after
      ``fit_start``, forecast from the jump-off rates of the last known period. Default fit
      start 1970: Dutch male mortality stagnated in 1950-1970 (smoking), and a drift that
      includes those years understates the later improvement (hindcast fitted on periods
      ending by 2010, e0 2015-2019 vs WPP: men -1.06 years from 1950, -0.45 from 1970;
      women +0.23 and +0.11).
    * ``"wpp_medium"``: the WPP 2024 rates including the medium-variant projection. This is an
      outside assumption published in 2024; for an earlier base year it uses information the
      forecaster did not have (a :class:`ComponentsWarning` says so).

    Parameters
    ----------
    wpp_mx : pandas.DataFrame
        ``GemeenteData.wpp_mx`` [deaths per person-year].
    base_year : int
        Jump-off year (1 January); only periods with ``period_end <= base_year`` count as known.
    years : sequence of int
        Calendar years wanted (may include years before ``base_year``).
    model : {"lee_carter", "wpp_medium"}
    fit_start : int
        First period start used by Lee-Carter [year].
    refit : {None, "e0"}
        See :func:`fit_lee_carter`.
    method : str
        Ungrouping method (:func:`ungroup_mx`).
    drift_multiplier : float [1]
        Scenario factor on the Lee-Carter drift (1.5 = mortality improves 1.5 times as fast as
        fitted); the returned fit carries the multiplied drift, so its stochastic paths follow
        it too. Only with ``model="lee_carter"``.

    Returns
    -------
    mx : xarray.DataArray (sex, age, year) [deaths per person-year]
    fit : LeeCarterFit or None
    """
    if not (np.isfinite(drift_multiplier) and drift_multiplier >= 0):
        raise InvalidValueError(f"drift_multiplier must be a number >= 0 (got {drift_multiplier!r})")
    if model == "wpp_medium" and drift_multiplier != 1.0:
        raise InvalidValueError(
            "drift_multiplier applies to the Lee-Carter drift; mortality='wpp_medium' has none. "
            "Use mortality='lee_carter' or leave drift_multiplier at 1"
        )
    years = np.asarray(list(years), dtype=int)
    if model == "wpp_medium":
        if not (wpp_mx["period_end"] > base_year).any():
            raise MissingDataError(
                f"mortality='wpp_medium' needs the WPP projection periods after {base_year}, which these "
                "data do not hold (cut by as_of?); use mortality='lee_carter'"
            )
        if base_year < 2024:
            warnings.warn(
                f"mortality='wpp_medium' with base year {base_year}: the WPP 2024 medium variant was published "
                "in 2024, so this is not an honest hindcast", ComponentsWarning, stacklevel=2)
        return wpp_single_year_mx(wpp_mx, base_year=base_year, years=years, include_projection=True, method=method), None
    if model != "lee_carter":
        raise InvalidValueError(f"unknown mortality model {model!r}; use 'lee_carter' or 'wpp_medium'")
    known = ungroup_mx(wpp_period_mx(wpp_mx, base_year=base_year), method=method)
    window = known.sel(time=known["time"] > fit_start)
    if window.sizes["time"] < 3:
        raise MissingDataError(
            f"Lee-Carter needs at least 3 WPP periods starting in {fit_start} or later and ending by "
            f"{base_year}; found {window.sizes['time']}. Use an earlier fit_start or a later base year"
        )
    fit = fit_lee_carter(window, refit=refit)
    if drift_multiplier != 1.0:
        from dataclasses import replace

        fit = replace(fit, drift=fit.drift * drift_multiplier)
    inside = years[years + 0.5 <= fit.last_time]
    after = years[years + 0.5 > fit.last_time]
    parts = []
    if inside.size:
        parts.append(interpolate_log_rates(known, inside).transpose("sex", "age", "year"))
    if after.size:
        parts.append(fit.forecast(after).transpose("sex", "age", "year"))
    mx = xr.concat(parts, dim="year") if len(parts) > 1 else parts[0]
    return mx.sel(year=years).rename("mx"), fit


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
    _check_finite_nonneg(frame["persons"].to_numpy(float), "population bands", "fix the counts")
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
# 3. local mortality level (SMR)
# --------------------------------------------------------------------------------------------

#: Prior shape alpha of the gamma(alpha, alpha) distribution of gemeente relative mortality
#: (prior SD = 1/sqrt(alpha)). Marshall's (1991) method of moments (:func:`smr_prior_shape`)
#: over 339 Dutch gemeenten (raw CBS 37259 deaths 2017-2021 against national mortality, age
#: structure from the 2021 postcode table, base year 2022) gives tau = 0.097, alpha = 107; the 12
#: Drenthe gemeenten alone (deaths 2019-2023) give tau = 0.072.
SMR_PRIOR_SHAPE = 107.0


@summary_repr
@dataclass(frozen=True)
class SMRResult:
    """Local mortality level relative to national mortality.

    Attributes
    ----------
    observed, expected : float [deaths]
        Observed deaths in the window and the deaths national rates would give.
    smr : float [1]
        Raw observed / expected.
    smr_low, smr_high : float [1]
        Exact (Garwood) 95 % Poisson interval of the raw SMR.
    shrunk : float [1]
        Posterior mean (O + alpha) / (E + alpha) under a gamma(alpha, alpha) prior.
    shrunk_low, shrunk_high : float [1]
        95 % interval of the gamma posterior.
    prior_shape : float
        alpha.
    years : tuple of int
        Calendar years of the observed deaths.
    by_sex : pandas.DataFrame
        observed, expected, smr per sex (and per year in ``by_year``).
    by_year : pandas.DataFrame
        sex, year, observed, expected, national_factor (observed / model national deaths).
    """

    observed: float
    expected: float
    smr: float
    smr_low: float
    smr_high: float
    shrunk: float
    shrunk_low: float
    shrunk_high: float
    prior_shape: float
    years: tuple[int, ...]
    by_sex: pd.DataFrame
    by_year: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row: observed, expected, smr with interval, shrunk with interval, years."""
        return pd.DataFrame([{
            "observed": self.observed, "expected": self.expected, "smr": self.smr,
            "smr_low": self.smr_low, "smr_high": self.smr_high, "shrunk": self.shrunk,
            "shrunk_low": self.shrunk_low, "shrunk_high": self.shrunk_high,
            "prior_shape": self.prior_shape, "first_year": min(self.years), "last_year": max(self.years),
        }])


def smr_shrinkage(observed: float, expected: float, *, prior_shape: float = SMR_PRIOR_SHAPE) -> dict[str, float]:
    """Raw SMR with its exact Poisson interval and the gamma-Poisson empirical-Bayes estimate.

    Observed deaths O ~ Poisson(theta E) with theta ~ gamma(alpha, rate alpha) (mean 1, SD
    1/sqrt(alpha)); the posterior is gamma(O + alpha, rate E + alpha), mean (O + alpha) / (E + alpha)
    (Clayton & Kaldor 1987). A small population (small E) is pulled towards 1, a large one
    keeps its own SMR.

    Parameters
    ----------
    observed : float [deaths]
    expected : float [deaths]
    prior_shape : float
        alpha > 0; ``math.inf`` means no local level (SMR 1).

    Returns
    -------
    dict
        smr, smr_low, smr_high, shrunk, shrunk_low, shrunk_high.

    Examples
    --------
    >>> r = smr_shrinkage(120, 100, prior_shape=100)
    >>> round(r["smr"], 3), round(r["shrunk"], 3)
    (1.2, 1.1)
    """
    if not (expected > 0):
        raise InvalidValueError(f"SMR: expected deaths must be positive (got {expected}); check the population")
    if observed < 0 or not np.isfinite(observed):
        raise InvalidValueError(f"SMR: observed deaths must be a non-negative number (got {observed})")
    if not prior_shape > 0:
        raise InvalidValueError(f"SMR: prior_shape must be positive (got {prior_shape})")
    o, e = float(observed), float(expected)
    low = stats.chi2.ppf(0.025, 2 * o) / 2 / e if o > 0 else 0.0
    high = stats.chi2.ppf(0.975, 2 * o + 2) / 2 / e
    if math.isinf(prior_shape):
        post = (1.0, 1.0, 1.0)
    else:
        a, b = o + prior_shape, e + prior_shape
        post = (a / b, stats.gamma.ppf(0.025, a, scale=1 / b), stats.gamma.ppf(0.975, a, scale=1 / b))
    return dict(smr=o / e, smr_low=float(low), smr_high=float(high),
                shrunk=float(post[0]), shrunk_low=float(post[1]), shrunk_high=float(post[2]))


def smr_prior_shape(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Gamma prior shape alpha from several areas (Marshall 1991, global method of moments).

    tau^2 = max(0, weighted variance of the SMRs - mean SMR / mean E-weight) and alpha = 1 / tau^2
    (``inf`` when the areas vary no more than Poisson noise).

    Parameters
    ----------
    observed, expected : sequence of float [deaths]
        One value per area.
    """
    o = np.asarray(observed, float)
    e = np.asarray(expected, float)
    if o.size < 3:
        raise MissingDataError("smr_prior_shape needs at least 3 areas")
    r = o / e
    w = e / e.sum()
    mean = (w * r).sum()
    s2 = (w * (r - mean) ** 2).sum()
    tau2 = s2 - mean / e.mean()
    return math.inf if tau2 <= 0 else 1.0 / tau2


def _window_years(dyn: pd.DataFrame, column: str, base_year: int, n_years: int, what: str) -> list[int]:
    rows = dyn[(dyn["year"] < base_year) & dyn[column].notna()]
    years = sorted(int(y) for y in rows["year"].unique())[-n_years:]
    if not years:
        raise MissingDataError(
            f"{what}: no {column} in CBS 37259 for years before {base_year}; choose a base year after the "
            "first year with flows (2012 for the 37259eng files)"
        )
    return years


def _mid_year_population(dyn: pd.DataFrame, years: Sequence[int]) -> xr.DataArray:
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["year"].isin(years)].copy()
    end = rows["population_dec31"].where(rows["population_dec31"].notna(), rows["population_jan1"])
    rows["mid"] = (rows["population_jan1"].astype(float) + end.astype(float)) / 2.0
    da = rows.set_index(["sex", "year"])["mid"].to_xarray().reindex(sex=list(SEXES), year=list(years))
    if da.isnull().any():
        raise MissingDataError("CBS 37259: a 1 January population is missing for a sex in the window years")
    return da


def _observed(dyn: pd.DataFrame, column: str, years: Sequence[int]) -> xr.DataArray:
    rows = dyn[dyn["sex"].isin(SEXES) & dyn["year"].isin(years)]
    da = rows.set_index(["sex", "year"])[column].astype(float).to_xarray().reindex(sex=list(SEXES), year=list(years))
    if da.isnull().any():
        raise MissingDataError(f"CBS 37259: {column} is missing for a sex in years {list(years)}")
    _check_finite_nonneg(da.values, f"CBS 37259 {column}", "fix the dynamics table")
    return da


def _shape(population: xr.DataArray) -> xr.DataArray:
    total = population.sum("age")
    if (total <= 0).any():
        raise InvalidValueError("population by age sums to zero for a sex; cannot use it as an age structure")
    return population / total


def local_smr(
    dynamics: pd.DataFrame,
    *,
    base_year: int,
    national_mx: xr.DataArray,
    population: xr.DataArray,
    national_dynamics: pd.DataFrame | None = None,
    national_population: xr.DataArray | None = None,
    n_years: int = 5,
    prior_shape: float = SMR_PRIOR_SHAPE,
) -> SMRResult:
    """SMR of a gemeente: observed deaths (CBS 37259) / deaths expected from national rates.

    Expected deaths in year y and sex s: sum over x of m_nat(s, x, y) P(s, x, y), with
    P(s, x, y) = the gemeente's age structure ``population`` (proportions by single age) times
    the mid-year population of sex s in year y ((1 Jan + 31 Dec) / 2, CBS 37259). The age
    structure is held fixed over the window (the 2021 postcode table, ungrouped uniformly within
    5-year bands, until the raked base population exists): this ignores ageing within the
    window (about +-2 % on expected deaths at its ends, cancelling around the middle).

    National calibration (when ``national_dynamics`` and ``national_population`` are given):
    each year's expected deaths are multiplied by the ratio of observed national deaths to the
    deaths the same national m(x) would give the national population. The SMR is then relative
    to *actual* national mortality in those years (so COVID excess and model error in m_nat
    cancel) and carries over to any national m(x) of the projection.

    Parameters
    ----------
    dynamics : pandas.DataFrame
        ``GemeenteData.dynamics`` [persons].
    base_year : int
        Only deaths of years before ``base_year`` are used.
    national_mx : xarray.DataArray (sex, age, year) [deaths per person-year]
        National rates covering the window years.
    population : xarray.DataArray (sex, age) [persons]
        Age structure of the gemeente.
    national_dynamics : pandas.DataFrame, optional
        ``GemeenteData.national_dynamics`` (NL01) [persons].
    national_population : xarray.DataArray (sex, age), optional [persons]
        Age structure of the Netherlands.
    n_years : int
        Window: the last ``n_years`` years before ``base_year`` with deaths.
    prior_shape : float
        Gamma prior shape of the shrinkage (:func:`smr_shrinkage`).

    Returns
    -------
    SMRResult
    """
    dyn = dynamics[dynamics["year"] < base_year]
    years = _window_years(dyn, "deaths", base_year, n_years, "SMR")
    missing = sorted(set(years) - set(national_mx["year"].values.tolist()))
    if missing:
        raise MissingDataError(f"SMR: national_mx lacks years {missing}; pass rates for the window years")
    m = national_mx.sel(year=years)
    obs = _observed(dyn, "deaths", years)
    expected = (m * _shape(population) * _mid_year_population(dyn, years)).sum("age")
    factor = xr.ones_like(expected)
    if national_dynamics is not None and national_population is not None:
        ndyn = national_dynamics[national_dynamics["year"] < base_year]
        nat_exp = (m * _shape(national_population) * _mid_year_population(ndyn, years)).sum("age")
        factor = _observed(ndyn, "deaths", years) / nat_exp
        expected = expected * factor
    o, e = float(obs.sum()), float(expected.sum())
    est = smr_shrinkage(o, e, prior_shape=prior_shape)
    by_year = xr.Dataset({"observed": obs, "expected": expected, "national_factor": factor}).to_dataframe().reset_index()
    by_sex = by_year.groupby("sex")[["observed", "expected"]].sum()
    by_sex["smr"] = by_sex["observed"] / by_sex["expected"]
    return SMRResult(observed=o, expected=e, prior_shape=prior_shape, years=tuple(years),
                     by_sex=by_sex.reindex(list(SEXES)), by_year=by_year, **est)


# --------------------------------------------------------------------------------------------
# 5. fertility
# --------------------------------------------------------------------------------------------

#: Single ages of mother that carry fertility; WPP's 10-14 and 50-54 groups are folded into 15 and 49.
FERTILE_AGES = np.arange(15, 50)


def spread_band_totals(totals: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Band totals -> single-year values that add up to each band exactly, smoothly and >= 0.

    The cumulative total at the band edges is interpolated by a monotone cubic (PCHIP) and
    differenced at every integer age: sums per band are preserved exactly (the interpolant passes
    through the cumulative totals), and monotonicity of the cumulative keeps every value >= 0.

    Parameters
    ----------
    totals : numpy.ndarray (..., band) [anything additive]
        Non-negative totals per band.
    edges : sequence of int
        Band edges, length ``band + 1``, e.g. ``[10, 15, ..., 55]``.

    Returns
    -------
    numpy.ndarray (..., edges[-1] - edges[0])
        Values for single ages ``edges[0] .. edges[-1] - 1``.

    Examples
    --------
    >>> v = spread_band_totals(np.array([5.0, 10.0]), [0, 5, 10])
    >>> float(v[:5].sum()), float(v[5:].sum())
    (5.0, 10.0)
    """
    totals = np.asarray(totals, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if totals.shape[-1] != edges.size - 1:
        raise DataFormatError(f"spread_band_totals: {totals.shape[-1]} totals need {totals.shape[-1] + 1} edges")
    _check_finite_nonneg(totals, "spread_band_totals: totals", "band totals must be counts or rates >= 0")
    cum = np.concatenate([np.zeros(totals.shape[:-1] + (1,)), np.cumsum(totals, axis=-1)], axis=-1)
    ages = np.arange(edges[0], edges[-1] + 1)
    # PCHIP takes a harmonic mean of neighbouring slopes; a (near-)zero band next to a large one
    # overflows 1/slope to inf, which correctly gives a zero derivative: silence only that
    with np.errstate(over="ignore", divide="ignore"):
        spline = interpolate.PchipInterpolator(edges, cum, axis=-1)
    values = np.diff(spline(ages), axis=-1)
    return np.maximum(values, 0.0)


def national_asfr(tfr: pd.Series, percent: pd.DataFrame) -> xr.DataArray:
    """Single-year ASFR (age, year) from TFR and the WPP percentage distribution by 5-year age.

    Births per woman in band [a, a+5) over the 5 years of the band = TFR x percent / 100 (the
    band's ASFR is that divided by 5); these band totals are spread to single ages by
    :func:`spread_band_totals`, so the single-year ASFR sum to TFR exactly. Fertility below 15
    is added to age 15 and above 49 to age 49 (the projection's fertile ages are 15..49).

    Parameters
    ----------
    tfr : pandas.Series [children per woman]
        TFR indexed by year.
    percent : pandas.DataFrame
        Columns ``year, age_lo, age_hi, percent`` [% of TFR] (``GemeenteData.wpp_asfr``), for the
        same years.

    Returns
    -------
    xarray.DataArray (age, year) [births per woman-year]
        Ages 0..100, zero outside 15..49.
    """
    years = [int(y) for y in tfr.index]
    pivot = percent[percent["year"].isin(years)].pivot_table(index="year", columns="age_lo", values="percent")
    missing = sorted(set(years) - set(pivot.index.tolist()))
    if missing:
        raise MissingDataError(f"national_asfr: no WPP percentASFR for year(s) {missing}")
    pivot = pivot.loc[years]
    _check_finite_nonneg(pivot.to_numpy(), "WPP percentASFR", "fix the WPP table")
    _check_finite_nonneg(tfr.to_numpy(float), "TFR", "fix the WPP table")
    starts = pivot.columns.to_numpy(int)
    widths = np.diff(starts)
    if len(starts) < 2 or not (widths == 5).all():
        raise DataFormatError("national_asfr: percentASFR must be in consecutive 5-year groups (10-14 ... 50-54)")
    edges = np.append(starts, starts[-1] + 5)
    shares = pivot.to_numpy() / pivot.to_numpy().sum(axis=1, keepdims=True)
    single = spread_band_totals(shares, edges) * tfr.to_numpy(float)[:, None]  # (year, age)
    ages = np.arange(edges[0], edges[-1])
    out = np.zeros((MAX_AGE + 1, len(years)))
    for j, age in enumerate(ages):
        target = min(max(age, FERTILE_AGES[0]), FERTILE_AGES[-1])
        out[target] += single[:, j]
    return xr.DataArray(out, dims=("age", "year"), coords={"age": AGES, "year": years}, name="asfr")


def tfr_path(
    wpp_tfr: pd.DataFrame,
    wpp_asfr: pd.DataFrame,
    *,
    base_year: int,
    years: Sequence[int],
    assumption: str = "constant",
) -> tuple[pd.Series, pd.DataFrame]:
    """National TFR and age distribution for calendar years, known as of 1 January ``base_year``.

    Years before ``base_year``: WPP estimates. From ``base_year`` on:

    * ``"constant"`` (default): TFR and age distribution of the last year before ``base_year``
      held constant. Honest in a hindcast, and the WPP 2024 medium variant for the Netherlands
      is nearly flat anyway (1.43 in 2024, about 1.5 by 2040).
    * ``"wpp_medium"``: the WPP 2024 medium variant (and its projected age distribution); not an
      honest hindcast before 2024.

    Parameters
    ----------
    wpp_tfr, wpp_asfr : pandas.DataFrame
        ``GemeenteData.wpp_tfr`` [children per woman] and ``.wpp_asfr`` [%].
    base_year : int
    years : sequence of int
        Calendar years wanted.
    assumption : {"constant", "wpp_medium"}

    Returns
    -------
    tfr : pandas.Series (year) [children per woman]
    percent : pandas.DataFrame
        ``year, age_lo, age_hi, percent`` for every year wanted.
    """
    if assumption not in ("constant", "wpp_medium"):
        raise InvalidValueError(f"unknown TFR assumption {assumption!r}; use 'constant' or 'wpp_medium'")
    years = [int(y) for y in years]
    known_tfr = wpp_tfr[(wpp_tfr["year"] < base_year) & (wpp_tfr["variant"] == "estimate")].set_index("year")["tfr"]
    known_pct = wpp_asfr[wpp_asfr["year"] < base_year]
    if known_tfr.empty or known_pct.empty:
        raise MissingDataError(f"no WPP TFR estimate or percentASFR before {base_year}; choose a later base year")
    last = int(min(known_tfr.index.max(), known_pct["year"].max()))
    if assumption == "wpp_medium":
        if base_year < 2024:
            warnings.warn(
                f"tfr='wpp_medium' with base year {base_year}: the WPP 2024 medium variant was published in "
                "2024, so this is not an honest hindcast", ComponentsWarning, stacklevel=2)
        future_tfr = wpp_tfr[wpp_tfr["year"] >= base_year].set_index("year")["tfr"]
        future_pct = wpp_asfr[wpp_asfr["year"] >= base_year]
        needed = [y for y in years if y >= base_year]
        gap = sorted(set(needed) - set(future_tfr.index.tolist()))
        if gap:
            raise MissingDataError(f"tfr='wpp_medium': the data hold no WPP TFR for {gap} (cut by as_of?)")
    tfr_vals, pct_parts = {}, []
    last_pct = known_pct[known_pct["year"] == last]
    for y in years:
        if y < base_year and y in known_tfr.index:
            tfr_vals[y] = float(known_tfr.loc[y])
            pct = known_pct[known_pct["year"] == y]
        elif y < base_year:
            raise MissingDataError(f"no WPP TFR estimate for {y}")
        elif assumption == "constant":
            tfr_vals[y] = float(known_tfr.loc[last])
            pct = last_pct
        else:
            tfr_vals[y] = float(future_tfr.loc[y])
            pct = future_pct[future_pct["year"] == y]
            if pct.empty:
                pct = future_pct[future_pct["year"] == future_pct["year"].max()] if y > future_pct["year"].max() else last_pct
        pct_parts.append(pct.assign(year=y)[["year", "age_lo", "age_hi", "percent"]])
    return pd.Series(tfr_vals, name="tfr").rename_axis("year"), pd.concat(pct_parts, ignore_index=True)


@summary_repr
@dataclass(frozen=True)
class FertilityLevel:
    """Local fertility relative to national ASFR.

    Attributes
    ----------
    observed, expected : float [births]
        Observed births in the window and births national ASFR would give the local women.
    factor : float [1]
        observed / expected; local ASFR = factor x national ASFR.
    factor_low, factor_high : float [1]
        Exact 95 % Poisson interval.
    years : tuple of int
    by_year : pandas.DataFrame
        year, observed, expected, national_factor.
    """

    observed: float
    expected: float
    factor: float
    factor_low: float
    factor_high: float
    years: tuple[int, ...]
    by_year: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row with observed, expected, factor and its interval."""
        return pd.DataFrame([{
            "observed": self.observed, "expected": self.expected, "factor": self.factor,
            "factor_low": self.factor_low, "factor_high": self.factor_high,
            "first_year": min(self.years), "last_year": max(self.years),
        }])


def local_fertility_factor(
    dynamics: pd.DataFrame,
    *,
    base_year: int,
    asfr: xr.DataArray,
    female_population: xr.DataArray,
    national_dynamics: pd.DataFrame | None = None,
    national_female_population: xr.DataArray | None = None,
    n_years: int = 5,
) -> FertilityLevel:
    """Ratio of observed births (CBS 37259) to births expected from national ASFR.

    Expected births in year y: sum over a of ASFR(a, y) F(a, y), with F = the local female age
    structure (proportions, held fixed over the window like :func:`local_smr`) times the female
    mid-year population of year y. With the national tables, each year's expected births are
    calibrated by national observed / national expected births (which cancels the error of the
    fixed, uniformly ungrouped age structure as far as it is shared with the country).

    Parameters
    ----------
    dynamics : pandas.DataFrame
        ``GemeenteData.dynamics`` (births in the ``sex == "total"`` rows) [persons].
    base_year : int
        Only births of years before ``base_year`` count.
    asfr : xarray.DataArray (age, year) [births per woman-year]
        National ASFR for the window years.
    female_population : xarray.DataArray (age) [persons]
        Local female age structure.
    national_dynamics : pandas.DataFrame, optional
    national_female_population : xarray.DataArray (age), optional [persons]
    n_years : int
        The last ``n_years`` years before ``base_year`` with births.

    Returns
    -------
    FertilityLevel
    """
    dyn = dynamics[dynamics["year"] < base_year]
    years = _window_years(dyn, "births", base_year, n_years, "fertility level")
    missing = sorted(set(years) - set(asfr["year"].values.tolist()))
    if missing:
        raise MissingDataError(f"fertility level: asfr lacks years {missing}")

    def births_and_women(frame: pd.DataFrame, women: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
        tot = frame[(frame["sex"] == "total") & frame["year"].isin(years)].set_index("year")["births"]
        tot = tot.reindex(years)
        if tot.isna().any():
            raise MissingDataError(f"CBS 37259: births missing for years {tot[tot.isna()].index.tolist()}")
        _check_finite_nonneg(tot.to_numpy(float), "CBS 37259 births", "fix the dynamics table")
        mid = _mid_year_population(frame, years).sel(sex="female", drop=True)
        structure = women / women.sum()
        exp = (asfr.sel(year=years) * structure * mid).sum("age")
        return xr.DataArray(tot.to_numpy(float), dims="year", coords={"year": years}), exp

    if float(female_population.sum()) <= 0:
        raise InvalidValueError("fertility level: the female population is zero")
    obs, exp = births_and_women(dyn, female_population)
    factor = xr.ones_like(exp)
    if national_dynamics is not None and national_female_population is not None:
        n_obs, n_exp = births_and_women(national_dynamics[national_dynamics["year"] < base_year],
                                        national_female_population)
        factor = n_obs / n_exp
        exp = exp * factor
    o, e = float(obs.sum()), float(exp.sum())
    est = smr_shrinkage(o, e, prior_shape=math.inf)
    by_year = pd.DataFrame({"year": years, "observed": obs.values, "expected": exp.values,
                            "national_factor": factor.values})
    return FertilityLevel(observed=o, expected=e, factor=o / e, factor_low=est["smr_low"],
                          factor_high=est["smr_high"], years=tuple(years), by_year=by_year)


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
    _check_finite_nonneg(y, "fit_rogers_castro: values", "fit gross flows or rates; for net migration use "
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
    years = _window_years(dyn, "net_migration", base_year, n_years, "net migration")
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


def _split_bands(band_totals: np.ndarray, band_index: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(area, band) totals -> (area, sex, age) using a (sex, age) within-band shape."""
    per_band = np.zeros(band_totals.shape[-1])
    np.add.at(per_band, band_index, shape.sum(axis=0))
    frac = shape / per_band[band_index][None, :]
    return band_totals[:, None, band_index] * frac[None, :, :]


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
    from assen_demand.inputs.cbs import kwb_age_bands

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
        pop = _split_bands(start, band_index, shape)
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
    from assen_demand.parameters import load_parameter_table

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
    when the wijk's buurten changed (:func:`assen_demand.inputs.cbs.same_buurten`) *and* its
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
    from assen_demand.inputs.cbs import buurt_sets, same_buurten

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
    _check_finite_nonneg(pop, "fit_net_migration_schedule: population", "fix the base population")
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


# --------------------------------------------------------------------------------------------
# 7. everything together
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
        None for ``mortality="wpp_medium"``.
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

    @property
    def areas(self) -> list[str]:
        """Area codes, gemeente first."""
        return [str(a) for a in self.net_migration["area"].values]

    def to_projection_inputs(self):
        """The engine's :class:`assen_demand.demography.projection.ProjectionInputs`."""
        from assen_demand.demography.projection import ProjectionInputs

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
        obs = _observed(dyn, "deaths", known)
        exp = (mx.sel(year=known) * _shape(structure) * _mid_year_population(dyn, known)).sum("age")
        out.loc[dict(year=known)] = obs / exp
    return out


def estimate_components(
    data,
    *,
    base_year: int,
    end_year: int = 2040,
    base_population: xr.DataArray | None = None,
    mortality: str = "lee_carter",
    fit_start: int = 1970,
    tfr: str = "constant",
    n_years: int = 5,
    local_level: bool = True,
    smr_prior_shape: float = SMR_PRIOR_SHAPE,
    migration_level: float | Mapping[str, float] | None = None,
    retirement: bool = False,
    constrain_wijken: bool = True,
    preserve_bands: bool = True,
    sex_ratio_at_birth: float = SEX_RATIO_AT_BIRTH,
    ungroup_method: str = "log_spline",
    structural_weight: float = 1.0,
    drift_multiplier: float = 1.0,
    tfr_multiplier: float = 1.0,
    shrink_wijk_migration: bool = True,
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
    mortality : {"lee_carter", "wpp_medium"}
    fit_start : int
        First WPP period start used by Lee-Carter [year].
    tfr : {"constant", "wpp_medium"}
        National TFR after ``base_year`` (see :func:`tfr_path`).
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
        Keep the observed net migration per KWB band (see :func:`net_migration_counts`).
    sex_ratio_at_birth : float [boys per girl]
    ungroup_method : str
        Method of :func:`ungroup_mx`.
    structural_weight : float
        The gemeente's net migration age pattern read from its age profile relative to the
        Netherlands (:func:`structural_net_migration`, same postcode year), times this weight:
        without successive KWB years up to ``base_year`` it is the whole pattern; with them it
        places migrants within each KWB band (the band volumes stay the observed ones; wijken
        take their population share of it). 0 falls back to the Rogers-Castro schedules.
    drift_multiplier : float [1]
        Factor on the Lee-Carter drift (scenario of faster or slower mortality improvement,
        see :func:`national_mortality`).
    tfr_multiplier : float [1]
        Factor on the national TFR from ``base_year`` on (scenario of higher or lower
        fertility); observed years are not touched.
    shrink_wijk_migration : bool
        Pull each wijk's observed band net migration toward its population share of the
        gemeente's, by the weight the wijk migration dispersion gives a mean of its ``k`` year
        pairs (:func:`shrink_wijk_residuals`). Measured on the twelve Drenthe gemeenten,
        hindcast 2022 -> 2024 (one pair): weighted APE of the wijk 0-15 band 5.6 % without,
        see the backtest module for the table with it.

    Returns
    -------
    Components
    """
    if end_year <= base_year:
        raise InvalidValueError(f"end_year {end_year} must be after base_year {base_year}")
    if not sex_ratio_at_birth > 0:
        raise InvalidValueError(f"sex_ratio_at_birth must be positive (got {sex_ratio_at_birth})")
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
    first = min(base_year - n_years, min(d.kwb_years, default=base_year))
    all_years = list(range(first, end_year + 1))

    # national_mortality and tfr_path cut the WPP tables at base_year themselves; they get the
    # full tables so that the explicit "wpp_medium" assumptions can reach the projection rows
    national_mx, lc = national_mortality(data.wpp_mx, base_year=base_year, years=all_years, model=mortality,
                                         fit_start=fit_start, method=ungroup_method,
                                         drift_multiplier=drift_multiplier)
    last_period = ungroup_mx(wpp_period_mx(d.wpp_mx, base_year=base_year), method=ungroup_method).isel(time=-1, drop=True)
    open_w = _stationary_open_weights(last_period)

    # age structure of the gemeente (and the country, for calibration)
    if base_population is not None:
        _check_sex_coord(base_population, "base_population")
        _check_finite_nonneg(base_population.values, "base_population", "persons cannot be negative or NaN")
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

    # mortality level
    smr = None
    level = 1.0
    if local_level:
        smr = local_smr(d.dynamics, base_year=base_year, national_mx=national_mx, population=structure,
                        national_dynamics=d.national_dynamics, national_population=national_structure,
                        n_years=n_years, prior_shape=smr_prior_shape)
        level = smr.shrunk
    local_mx = (national_mx * level).rename("mx")
    surv, bsurv = survival_ratios(life_table(local_mx))

    # fertility
    tfr_series, pct = tfr_path(data.wpp_tfr, data.wpp_asfr, base_year=base_year, years=all_years, assumption=tfr)
    if not (np.isfinite(tfr_multiplier) and tfr_multiplier > 0):
        raise InvalidValueError(f"tfr_multiplier must be a positive number (got {tfr_multiplier!r})")
    if tfr_multiplier != 1.0:
        # only the assumption about the future changes; the observed window keeps its TFR, so
        # the local fertility factor is estimated exactly as without the scenario
        tfr_series = tfr_series.where(tfr_series.index < base_year, tfr_series * tfr_multiplier)
    asfr = national_asfr(tfr_series, pct)
    fert_level = None
    factor = 1.0
    if local_level:
        fert_level = local_fertility_factor(
            d.dynamics, base_year=base_year, asfr=asfr, female_population=structure.sel(sex="female", drop=True),
            national_dynamics=d.national_dynamics,
            national_female_population=None if national_structure is None else national_structure.sel(sex="female", drop=True),
            n_years=n_years)
        factor = fert_level.factor

    # migration: residual survival reproduces each year's observed deaths where known
    totals = net_migration_totals(d.dynamics, base_year=base_year, n_years=n_years)
    flow_years = [y for y in all_years if y < base_year]
    obs_factor = _observed_mortality_factor(d.dynamics[d.dynamics["year"] < base_year], national_mx,
                                            structure, flow_years, fallback=level)
    resid_surv, resid_bsurv = survival_ratios(life_table(national_mx.sel(year=flow_years) * obs_factor))
    births = d.dynamics[(d.dynamics["sex"] == "total") & (d.dynamics["year"] < base_year)].set_index("year")["births"].dropna()
    residuals = kwb_band_residuals(d.kwb, base_year=base_year, survival=resid_surv, births_survival=resid_bsurv,
                                   births=births, structure=structure, asfr=asfr,
                                   sex_ratio_at_birth=sex_ratio_at_birth)
    residuals, boundary_changes = drop_boundary_changes(
        residuals, totals, gemeente=gemeente, population=float(structure.sum()))
    residuals, changed_wijken = drop_changed_wijken(residuals, d.kwb)
    if shrink_wijk_migration and len(residuals):
        residuals = shrink_wijk_residuals(residuals, dispersion=migration_dispersion())
    area_pop = _area_population(d, base_year=base_year, structure=structure, pop_total=pop_total,
                                base_population=base_population)
    prior = None
    has_pairs = len(residuals) and (residuals["area"] == gemeente).any()
    if structural_weight and not d.population_bands.empty and not d.national_population_bands.empty:
        band_year = int(d.population_bands["year"].max())
        prior = structural_net_migration(
            d.population_bands[d.population_bands["year"] == band_year],
            d.national_population_bands[d.national_population_bands["year"] == band_year],
            area_pop.sel(area=gemeente, drop=True), weight=structural_weight)
    net, fit_diag, schedules = net_migration_counts(
        residuals=residuals, totals=totals, population=area_pop, gemeente=gemeente, years=horizon,
        level=migration_level, retirement=retirement, constrain_wijken=constrain_wijken,
        preserve_bands=preserve_bands, prior=prior)

    areas = area_pop["area"]
    survival = surv.sel(year=horizon).expand_dims(area=areas).transpose("area", "sex", "age", "year")
    births_survival = bsurv.sel(year=horizon).expand_dims(area=areas).transpose("area", "sex", "year")
    fertility = (asfr.sel(year=horizon) * factor).expand_dims(area=areas).transpose("area", "age", "year")
    return Components(
        survival=survival.rename("survival"),
        births_survival=births_survival.rename("births_survival"),
        fertility=fertility.rename("fertility"),
        sex_ratio_at_birth=float(sex_ratio_at_birth),
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
        assumptions=dict(mortality=mortality, fit_start=fit_start, tfr=tfr, n_years=n_years,
                         local_level=local_level, smr_prior_shape=smr_prior_shape,
                         migration_level=migration_level, retirement=retirement,
                         constrain_wijken=constrain_wijken, preserve_bands=preserve_bands,
                         ungroup_method=ungroup_method, drift_multiplier=drift_multiplier,
                         tfr_multiplier=tfr_multiplier,
                         migration_age_pattern=(("kwb_bands_structural_within" if prior is not None else "kwb_residuals")
                                                if has_pairs else
                                                "structural" if prior is not None else "rogers_castro"),
                         structural_weight=structural_weight, shrink_wijk_migration=shrink_wijk_migration,
                         kwb_pairs_left_out=[d["year"] for d in boundary_changes],
                         wijk_pairs_left_out=changed_wijken,
                         base_population="given" if base_population is not None else "postcode bands 2021, uniform"),
    )


def _area_population(d, *, base_year: int, structure: xr.DataArray, pop_total: xr.DataArray | None,
                     base_population: xr.DataArray | None) -> xr.DataArray:
    """(area, sex, age) on 1 January ``base_year``: gemeente first, then its wijken."""
    from assen_demand.inputs.cbs import kwb_age_bands

    gemeente = d.gemeente
    if base_population is not None and base_population.sizes.get("area", 0) > 1:
        pop = base_population.reindex(age=AGES, fill_value=0.0).transpose("area", "sex", "age").astype(float)
        others = [a for a in pop["area"].values.tolist() if a != gemeente]
        return pop.sel(area=[gemeente] + others)
    if base_population is not None:
        gem = base_population.sel(area=gemeente, drop=True).reindex(age=AGES, fill_value=0.0)
    else:
        gem = _shape(structure) * pop_total
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
            split = _split_bands(bands.to_numpy(float), band_index, structure.transpose("sex", "age").values)
            parts.append(xr.DataArray(split, dims=("area", "sex", "age"),
                                      coords={"area": bands.index.astype(str).tolist(), "sex": list(SEXES), "age": AGES}))
    return xr.concat(parts, dim="area").transpose("area", "sex", "age").rename("population")

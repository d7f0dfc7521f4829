"""Mortality: life tables, survival ratios, national m(x) from UN WPP, Lee-Carter, local SMR.

* **Life tables** (:func:`life_table`) from single-year central death rates m(x), ages 0..100
  with 100 = the open group 100+, with a0 of Andreev & Kingkade (:func:`andreev_kingkade_a0`),
  and the one-year **survival ratios** S(x) and the survival of births (:func:`survival_ratios`).
* **National mortality** by single year of age and calendar year from UN WPP 2024 5-year rates
  (:func:`ungroup_mx`, :func:`wpp_single_year_mx`), carried forward by **Lee-Carter**
  (:func:`fit_lee_carter`, :class:`LeeCarterFit`) or taken from the WPP medium variant
  (:func:`national_mortality`).
* **Local mortality level**: an SMR against national mortality, shrunk towards 1
  (:func:`local_smr`, :func:`smr_shrinkage`, :func:`smr_prior_shape`).

Conventions: ``age`` 0..100 with 100 = 100 and over; ``sex`` "male"/"female"; ``year`` is a
calendar year (a rate for ``year`` applies from 1 January ``year`` to 1 January ``year + 1``).
Bron: CBS (CC BY 4.0); United Nations, DESA, Population Division, World Population Prospects
2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import interpolate, optimize, stats

from assen_demand.datamodel import MAX_AGE, SEXES
from assen_demand.display import summary_repr
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.demography.ungroup import pclm_rates
from assen_demand.demography.rates import (
    ComponentsWarning,
    age_shape,
    check_finite_nonneg,
    check_sex_coord,
    check_single_ages,
    mid_year_population,
    observed_counts,
    window_years,
)

__all__ = [
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
    "age_structure_to",
    "JumpOffLevel",
    "jump_off_level",
    "SMR_PRIOR_SHAPE",
    "SMRResult",
    "smr_shrinkage",
    "smr_prior_shape",
    "local_smr",
]


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
    check_finite_nonneg(m0, "a0: infant death rate m0", "give a non-negative rate per person-year")
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
    check_single_ages(mx["age"].values, "life_table")
    check_sex_coord(mx, "life_table: mx")
    check_finite_nonneg(mx.values, "life_table: mx", "fill or drop the cells before building a life table")
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
        check_finite_nonneg(np.asarray(a0_da), "life_table: a0", "a0 is a fraction of the first year (0..1)")
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


#: log10 of the PCLM smoothing parameter for WPP band rates. The rates come without their deaths
#: and exposures, so the Poisson counts are those of a stationary population (radix below) and
#: BIC has little to say; over all 60 WPP 2024 rows of the Netherlands (2 sexes x 30 periods) BIC
#: picked log10 lambda between -1.7 and -0.9 (edf 21.9-22.0 of 22 bands), i.e. practically
#: interpolating the band rates. One fixed value keeps the ungrouping fast and every row alike.
WPP_PCLM_LOG10_LAMBDA = -1.5

#: Radix of the stationary population whose person-years are the PCLM exposures [persons]
STATIONARY_RADIX = 100_000.0

# rescaling rounds: after 4, the rates change by < 1e-4 (relative) from one round to the next
_PCLM_ROUNDS = 4


def _stationary_person_years(m: np.ndarray, radix: float) -> np.ndarray:
    """Single-year person-years of a stationary population, deaths mid-year (a = 0.5); open age l/m."""
    q = m / (1.0 + 0.5 * m)
    lx = radix * np.concatenate([[1.0], np.cumprod(1.0 - q[:-1])])
    person_years = lx * (1.0 - 0.5 * q)
    person_years[-1] = lx[-1] / m[-1]
    return person_years


@functools.lru_cache(maxsize=4096)
def _pclm_row(band_rates: tuple[float, ...], starts: tuple[int, ...], max_age: int) -> np.ndarray:
    """Single-year m(x) of one row of band rates (cached: the same WPP rows recur in a run)."""
    rates = np.asarray(band_rates)
    band_of_age = np.searchsorted(np.asarray(starts), np.arange(max_age + 1), side="right") - 1
    single = rates[band_of_age]
    for _ in range(_PCLM_ROUNDS):
        exposures = _stationary_person_years(single, STATIONARY_RADIX)
        deaths = rates * np.bincount(band_of_age, weights=exposures, minlength=rates.size)
        single = pclm_rates(deaths, exposures, np.asarray(starts), max_age=max_age,
                            lambdas=10.0 ** WPP_PCLM_LOG10_LAMBDA).values
    out = np.array(single)
    out.flags.writeable = False
    return out


def ungroup_mx(mx_bands: xr.DataArray, *, method: str = "pclm", max_age: int = MAX_AGE) -> xr.DataArray:
    """Death rates by age band -> single years of age 0..max_age (max_age = the open group).

    ``method="pclm"``: the penalized composite link model with exposures
    (:func:`assen_demand.demography.ungroup.pclm_rates`, Rizzi et al. 2015), the same ungrouper
    as for every other age-banded input. WPP publishes rates only, so the deaths and exposures
    are those of a stationary population (radix :data:`STATIONARY_RADIX`) living at the
    current single-year rates; ``pclm_rates`` rescales every band so that sum E(x) m(x) equals
    the band's deaths, and after 4 rounds the band's stationary-population
    rate sum L(x) m(x) / sum L(x) equals the given band rate (to < 1e-4 relative): an abridged
    life table of the single-year rates has the given 5-year rates, which keeps e0. A one-year
    band (infants, the open group ``max_age``+) keeps its rate exactly. Smoothing:
    :data:`WPP_PCLM_LOG10_LAMBDA`.

    Parameters
    ----------
    mx_bands : xarray.DataArray (..., age_lo) [deaths per person-year]
        Positive band rates; ``age_lo`` are the band starts, rising from 0 to ``max_age`` (the
        open band).
    method : {"pclm"}
        Ungrouping method.
    max_age : int
        Start of the open band [years].

    Returns
    -------
    xarray.DataArray (..., age) [deaths per person-year]

    References
    ----------
    Rizzi, S., Gampe, J. and Eilers, P. H. C. (2015). Efficient estimation of smooth
    distributions from coarsely grouped data. American Journal of Epidemiology 182(2), 138-147.
    https://doi.org/10.1093/aje/kwv020
    """
    if method != "pclm":
        raise InvalidValueError(
            f"ungroup_mx: unknown method {method!r}; available: pclm (assen_demand.demography.ungroup.pclm_rates)"
        )
    if "age_lo" not in mx_bands.dims:
        raise DataFormatError("ungroup_mx: mx_bands needs an 'age_lo' dimension (band starts)")
    check_finite_nonneg(mx_bands.values, "ungroup_mx: band rates", "fill the missing bands first")
    da = mx_bands.transpose(..., "age_lo")
    starts = da["age_lo"].values.astype(int)
    if starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] != max_age:
        raise DataFormatError(
            f"ungroup: band starts must rise from 0 to the open band {max_age}+ (got {starts.tolist()}); "
            "give rates for 0, 1-4, 5-9, ..., 95-99, 100+"
        )
    rows = da.values.astype(float).reshape(-1, starts.size)
    if (rows <= 0).any():
        raise InvalidValueError(
            "ungroup_mx: a band rate is zero; the stationary population of the PCLM needs positive rates"
        )
    single = np.stack([_pclm_row(tuple(row), tuple(starts.tolist()), int(max_age)) for row in rows])
    values = single.reshape(da.shape[:-1] + (max_age + 1,))
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
    check_finite_nonneg(frame["mx"].to_numpy(float), "wpp_mx: mx", "fix the WPP file")
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
    method: str = "pclm",
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
        Mean change of k per year (maximum likelihood of a random walk with drift, statsmodels).
    sigma : xarray.DataArray (sex) [per square-root year]
        Standard deviation of the yearly innovations of k (maximum likelihood, statsmodels).
    drift_se : xarray.DataArray (sex) [per year]
        Standard error of the drift (statsmodels; sigma / sqrt(years spanned)).
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

    def k_interval(self, years: Sequence[int], *, level: float = 0.9) -> xr.Dataset:
        """Forecast interval of k (sex, year) for calendar years, relative to the jump-off.

        The random walk's interval, drift x h -/+ z sigma sqrt(h) with h = year + 0.5 -
        last_time [years], as statsmodels' ``get_forecast(...).conf_int()`` gives it at whole
        steps (tested); like statsmodels it leaves out the uncertainty of the drift
        (:meth:`simulate` adds it).

        Returns
        -------
        xarray.Dataset
            ``lower``, ``upper`` (sex, year) [1].
        """
        if not 0 < level < 1:
            raise InvalidValueError(f"k_interval: level must lie between 0 and 1 (got {level})")
        centre = self.k_forecast(years)
        h = centre["year"] + 0.5 - self.last_time
        if (h < 0).any():
            raise InvalidValueError(f"k_interval: years before the jump-off time {self.last_time}")
        half = stats.norm.ppf(0.5 + level / 2) * self.sigma * np.sqrt(h)
        return xr.Dataset({"lower": centre - half, "upper": centre + half})

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


def _random_walk_with_drift(kt: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drift [per year], sigma [per sqrt(year)] and drift standard error [per year] of k (sex, time).

    statsmodels ``ARIMA(order=(0, 1, 0), trend="t")`` fitted per sex by exact maximum likelihood
    (``method="innovations_mle"``: the drift is the mean increment to machine precision), on
    the step of the time points, with standard errors from the observed information
    (``cov_type="oim"``: sigma_step / sqrt(steps) for the drift; statsmodels' default outer
    product of gradients gave 1.90 instead of 1.17 for the men's k of 1970-2020); per-step values
    are turned into per-year ones (a random walk's variance grows with time: sigma_year^2 =
    sigma_step^2 / step).
    """
    steps = np.diff(t)
    if not np.allclose(steps, steps[0]):
        raise DataFormatError(
            f"fit_lee_carter: the time points must be equally spaced for the random walk (got steps "
            f"{sorted(set(np.round(steps, 6).tolist()))}); use consecutive WPP periods"
        )
    # import here: statsmodels' ARIMA module takes 0.3-0.9 s to import (python -X importtime), a cost
    # `import assen_demand` and `assen-demand --help` need not pay; only a Lee-Carter fit needs it
    from statsmodels.tsa.arima.model import ARIMA

    step = float(steps[0])
    drift, sigma, drift_se = (np.empty(len(kt)) for _ in range(3))
    for i, k in enumerate(kt):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels notes that it differenced the series: we asked for that
            res = ARIMA(k, order=(0, 1, 0), trend="t").fit(method="innovations_mle", cov_type="oim")
        drift[i] = res.params[0] / step
        sigma[i] = math.sqrt(res.params[-1] / step)
        drift_se[i] = res.bse[0] / step
    return drift, sigma, drift_se


def fit_lee_carter(mx: xr.DataArray, *, refit: str | None = None) -> LeeCarterFit:
    """Fit Lee-Carter by sex to single-year rates at several time points.

    a(x) = mean over t of log m(x, t); the centred matrix is decomposed by SVD and the first
    component gives b(x) (normalised to sum b = 1) and k(t) (sum k = 0), Lee & Carter (1992).
    k(t) is a random walk with drift, fitted with statsmodels as ARIMA(0,1,0) with a drift term
    on the equally spaced time points t_0 < ... < t_n (the WPP period mid-points, 5 years apart)
    by exact maximum likelihood (:func:`_random_walk_with_drift`): the drift per year is
    (k(t_n) - k(t_0)) / (t_n - t_0), the innovation variance per year the mean squared
    increment around the drift divided by the step length, and the drift's standard error
    statsmodels' (sigma / sqrt(t_n - t_0)).

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
    check_sex_coord(mx, "fit_lee_carter: mx")
    check_finite_nonneg(mx.values, "fit_lee_carter: mx", "Lee-Carter needs positive rates")
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
    drift, sigma, drift_se = _random_walk_with_drift(kt, t)
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
    method: str = "pclm",
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


def age_structure_to(population: xr.DataArray, mx: xr.DataArray, *, from_year: int, to_year: int,
                     deaths: xr.DataArray | None = None) -> xr.DataArray:
    """Move a 1 January population by single age to 1 January of another year, as a closed population.

    Forward, each year ``y``: P(x + 1, y + 1) = P(x, y) - D(x, y) with D(x, y) = k P(x, y) (1 - S(x, y))
    and the open group as in :func:`survival_ratios`; k = 1, or, where ``deaths`` holds year
    ``y``, the factor that makes the year's deaths of each sex add up to the observed ones. Age 0
    keeps its number (births are not modelled: the result is an age structure for rates, not a
    population estimate). Backward the same steps are undone; the open group of the earlier year
    is split between its last two ages in the proportions of the later year. Migration is
    ignored: it is small against deaths at the ages where deaths are many.

    Parameters
    ----------
    population : xarray.DataArray (sex, age) [persons]
        On 1 January ``from_year``; ages 0..w with w the open group.
    mx : xarray.DataArray (sex, age, year) [deaths per person-year]
        Holding every year from ``min(from_year, to_year)`` to ``max(from_year, to_year) - 1``.
    from_year, to_year : int
    deaths : xarray.DataArray (sex, year), optional [deaths]
        Observed deaths of the years moved over (CBS 37259); years it lacks keep k = 1.

    Returns
    -------
    xarray.DataArray (sex, age) [persons]

    Examples
    --------
    A stationary population (P(x) = L(x)) keeps its shape one year on, except at age 0:

    >>> mx = xr.DataArray(np.full((1, 101, 1), 0.02), dims=("sex", "age", "year"),
    ...     coords={"sex": ["female"], "age": np.arange(101), "year": [2020]})
    >>> L = life_table(mx.isel(year=0))["Lx"]
    >>> moved = age_structure_to(L, mx, from_year=2020, to_year=2021)
    >>> bool(np.allclose(moved.isel(age=slice(1, None)), L.isel(age=slice(1, None))))
    True
    """
    forward = to_year >= from_year
    years = list(range(int(from_year), int(to_year))) if forward else list(range(int(from_year) - 1, int(to_year) - 1, -1))
    missing = sorted(set(years) - set(int(y) for y in mx["year"].values))
    if missing:
        raise MissingDataError(f"age_structure_to: mx lacks year(s) {missing}; pass rates for every year moved over")
    pop = population.transpose("sex", "age").astype(float)
    known = set() if deaths is None else set(int(y) for y in deaths["year"].values)
    values = pop.values.copy()
    for year in years:
        surv = survival_ratios(life_table(mx.sel(year=year, drop=True).transpose("sex", "age")))[0]
        s = np.clip(surv.transpose("sex", "age").sel(sex=pop["sex"]).values, 1e-12, 1.0)
        # the survival of each step: ages 0..w-2 one age on, the last two ages together into the open group
        step = np.concatenate([s[:, :-2], s[:, -1:]], axis=1)
        moved = np.empty_like(values)
        if forward:
            survivors = np.concatenate([values[:, :-2], (values[:, -2] + values[:, -1])[:, None]], axis=1)
            dying = survivors * (1.0 - step)
        else:
            survivors = values[:, 1:]  # the later year's ages 1..w, each the survivors of one step
            dying = survivors * (1.0 - step) / step
        if year in known:
            observed = deaths.sel(year=year, sex=pop["sex"]).values.astype(float)
            dying = dying * (observed / dying.sum(axis=1))[:, None]
        if forward:
            moved[:, 0] = values[:, 0]
            moved[:, 1:] = survivors - dying
        else:
            before = survivors + dying
            moved[:, :-2] = before[:, :-1]
            last_two = values[:, -2] + values[:, -1]
            share = np.divide(values[:, -2], last_two, out=np.full_like(last_two, 0.5), where=last_two > 0)
            moved[:, -2] = before[:, -1] * share
            moved[:, -1] = before[:, -1] * (1.0 - share)
        values = np.clip(moved, 0.0, None)
    return pop.copy(data=values)


@summary_repr
@dataclass(frozen=True)
class JumpOffLevel:
    """National mortality at the jump-off year against the model rates (Lee & Miller 2001).

    Attributes
    ----------
    factor : xarray.DataArray (sex,) [1]
        Observed national deaths / deaths of the model rates, in ``year``.
    year : int
        The last calendar year before the base year with national deaths for both sexes.
    observed, expected : xarray.DataArray (sex,) [deaths]
    """

    factor: xr.DataArray
    year: int
    observed: xr.DataArray
    expected: xr.DataArray

    def to_frame(self) -> pd.DataFrame:
        """One row per sex: year, observed, expected, factor."""
        return pd.DataFrame({"sex": self.factor["sex"].values, "year": self.year,
                             "observed": self.observed.values, "expected": self.expected.values,
                             "factor": self.factor.values})


def jump_off_level(
    national_mx: xr.DataArray,
    national_dynamics: pd.DataFrame,
    national_population: xr.DataArray,
    *,
    base_year: int,
    population_year: int,
) -> JumpOffLevel | None:
    """How far observed national mortality in the last year before the base year lies from the model.

    Lee & Miller (2001, "Evaluating the performance of the Lee-Carter method for forecasting
    mortality", Demography 38(4):537-549, https://doi.org/10.1353/dem.2001.0036) found the largest
    error of Lee-Carter forecasts in the jump-off: rates fitted to a smooth past instead of the
    rates observed in the last year. The WPP periods known at a base year end up to five years
    before it (the 2015-2020 period for every base year 2020-2024), so the model rates of the
    last observed year are a forecast already. This function measures the gap as one factor per
    sex: observed national deaths (CBS 37259) in year J = the last year before ``base_year`` with
    deaths, over the deaths the model rates give the national mid-year population of J. The
    age structure of that population is ``national_population`` (1 January
    ``population_year``) moved to 1 January J and J + 1 by :func:`age_structure_to` and averaged.

    Parameters
    ----------
    national_mx : xarray.DataArray (sex, age, year) [deaths per person-year]
        Model national rates, holding year J and every year between J and ``population_year``.
    national_dynamics : pandas.DataFrame
        ``GemeenteData.national_dynamics`` (NL01): sex, year, deaths, population_jan1,
        population_dec31 [persons].
    national_population : xarray.DataArray (sex, age) [persons]
        National single-year population on 1 January ``population_year``.
    base_year : int
        Only deaths of years before ``base_year`` are used.
    population_year : int

    Returns
    -------
    JumpOffLevel or None
        None when no year before ``base_year`` has national deaths for both sexes.
    """
    dyn = national_dynamics[(national_dynamics["year"] < base_year) & national_dynamics["sex"].isin(SEXES)
                            & national_dynamics["deaths"].notna() & national_dynamics["population_jan1"].notna()]
    counts = dyn.groupby("year")["sex"].nunique()
    known = [int(y) for y, n in counts.items() if n == len(SEXES)]
    if not known:
        return None
    year = max(known)
    # each year moved over loses the deaths observed in it (where known), so the excess deaths of
    # 2020-2022 do not survive into the structure
    observed_all = observed_counts(dyn, "deaths", known)

    def move(population, first, last):
        return age_structure_to(population, national_mx, from_year=first, to_year=last, deaths=observed_all)

    # 1 January J and J + 1: the nearer one first, the other one step from it
    if population_year <= year:
        start = move(national_population, population_year, year)
        end = move(start, year, year + 1)
    else:
        end = move(national_population, population_year, year + 1)
        start = move(end, year + 1, year)
    mid = (start + end) / 2.0
    rates = national_mx.sel(year=year, drop=True)
    # persons, not shares times the counted population: the migrants a closed population lacks are
    # young, so they would dilute the old ages' shares without adding deaths
    expected = (rates * mid).sum("age")
    observed = observed_all.sel(year=year, drop=True)
    if (expected <= 0).any():
        raise InvalidValueError("jump_off_level: the model rates give no deaths for a sex; check national_mx")
    return JumpOffLevel(factor=(observed / expected).rename("factor"), year=year, observed=observed,
                        expected=expected)


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
    years = window_years(dyn, "deaths", base_year, n_years, "SMR")
    missing = sorted(set(years) - set(national_mx["year"].values.tolist()))
    if missing:
        raise MissingDataError(f"SMR: national_mx lacks years {missing}; pass rates for the window years")
    m = national_mx.sel(year=years)
    obs = observed_counts(dyn, "deaths", years)
    expected = (m * age_shape(population) * mid_year_population(dyn, years)).sum("age")
    factor = xr.ones_like(expected)
    if national_dynamics is not None and national_population is not None:
        ndyn = national_dynamics[national_dynamics["year"] < base_year]
        nat_exp = (m * age_shape(national_population) * mid_year_population(ndyn, years)).sum("age")
        factor = observed_counts(ndyn, "deaths", years) / nat_exp
        expected = expected * factor
    o, e = float(obs.sum()), float(expected.sum())
    est = smr_shrinkage(o, e, prior_shape=prior_shape)
    by_year = xr.Dataset({"observed": obs, "expected": expected, "national_factor": factor}).to_dataframe().reset_index()
    by_sex = by_year.groupby("sex")[["observed", "expected"]].sum()
    by_sex["smr"] = by_sex["observed"] / by_sex["expected"]
    return SMRResult(observed=o, expected=e, prior_shape=prior_shape, years=tuple(years),
                     by_sex=by_sex.reindex(list(SEXES)), by_year=by_year, **est)

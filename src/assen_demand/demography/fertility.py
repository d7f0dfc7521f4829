"""Fertility: single-year ASFR from the UN WPP TFR and age pattern, and the local level.

* :func:`national_asfr` spreads the WPP percentASFR (5-year groups) over single ages 15..49
  (:func:`spread_band_totals`) and scales it to the TFR path (:func:`tfr_path`: constant after
  the base year, or the WPP medium variant).
* :func:`local_fertility_factor` (:class:`FertilityLevel`): observed births of the gemeente
  (CBS 37259) against the births national ASFR would give it, shrunk towards 1 like the SMR.

Bron: CBS (CC BY 4.0); United Nations, DESA, Population Division, World Population Prospects
2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import interpolate

from assen_demand.datamodel import AGES, MAX_AGE
from assen_demand.display import summary_repr
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.demography.mortality import smr_prior_shape, smr_shrinkage
from assen_demand.demography.rates import (
    ComponentsWarning,
    check_finite_nonneg,
    mid_year_population,
    window_years,
)

__all__ = [
    "FERTILE_AGES",
    "spread_band_totals",
    "national_asfr",
    "tfr_path",
    "FertilityLevel",
    "local_fertility_factor",
    "CWR_CHILD_AGES",
    "CWR_WOMEN_AGES",
    "WijkFertility",
    "wijk_fertility_factors",
]


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
    check_finite_nonneg(totals, "spread_band_totals: totals", "band totals must be counts or rates >= 0")
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
    check_finite_nonneg(pivot.to_numpy(), "WPP percentASFR", "fix the WPP table")
    check_finite_nonneg(tfr.to_numpy(float), "TFR", "fix the WPP table")
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
    years = window_years(dyn, "births", base_year, n_years, "fertility level")
    missing = sorted(set(years) - set(asfr["year"].values.tolist()))
    if missing:
        raise MissingDataError(f"fertility level: asfr lacks years {missing}")

    def births_and_women(frame: pd.DataFrame, women: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
        tot = frame[(frame["sex"] == "total") & frame["year"].isin(years)].set_index("year")["births"]
        tot = tot.reindex(years)
        if tot.isna().any():
            raise MissingDataError(f"CBS 37259: births missing for years {tot[tot.isna()].index.tolist()}")
        check_finite_nonneg(tot.to_numpy(float), "CBS 37259 births", "fix the dynamics table")
        mid = mid_year_population(frame, years).sel(sex="female", drop=True)
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
# births per wijk from its child-woman ratio (issue 18, item 2)
# --------------------------------------------------------------------------------------------

#: Children of the child-woman ratio: ages 0..4 [years] (Smith, Tayman & Swanson 2013).
CWR_CHILD_AGES = (0, 5)
#: Women of the child-woman ratio: ages 15..44 [years].
CWR_WOMEN_AGES = (15, 45)


@summary_repr
@dataclass(frozen=True)
class WijkFertility:
    """Fertility multipliers of the wijken relative to their gemeente (:func:`wijk_fertility_factors`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per wijk: ``area, children, women, expected_children, cwr_ratio, shrunk, factor``
        (children 0-4 and women 15-44 [persons], the raw ratio of the wijk's child-woman ratio to
        the gemeente's [1], the ratio shrunk toward 1 [1], and the multiplier of the gemeente's
        ASFR after the births are made to add up [1]).
    prior_shape : float
        Gamma prior shape alpha of the shrinkage (``inf``: every wijk gets 1).
    """

    table: pd.DataFrame
    prior_shape: float

    def to_frame(self) -> pd.DataFrame:
        """The per-wijk table (a copy)."""
        return self.table.copy()


def wijk_fertility_factors(population: xr.DataArray, asfr: xr.DataArray, *, gemeente: str,
                           prior_shape: float | None = None) -> WijkFertility:
    """Each wijk's fertility relative to its gemeente from its child-woman ratio, shrunk toward 1.

    The child-woman ratio (CWR: children 0-4 per woman 15-44 on the same date) is the classic
    indicator of an area's fertility where births by area are not published (Smith, Tayman &
    Swanson 2013, *A Practitioner's Guide to State and Local Population Projections*, Springer,
    https://doi.org/10.1007/978-94-007-7551-0 ; it is the fertility part of the Hamilton-Perry method,
    Baker, Swanson, Tayman & Tedrow 2017, *Cohort Change Ratios and their Applications*, Springer,
    https://doi.org/10.1007/978-3-319-53745-0 ). Here it sets each wijk's share of the gemeente's births:

    * **Expected children** ``E_w = C_gm * F_w / F_gm``, with ``C`` children 0-4 and ``F = sum_x
      f(x) W(x)`` the women 15-44 weighted by the gemeente's ASFR ``f``: the gemeente's CWR applied
      to the wijk's women, standardised for their age mix (a wijk of students and one of women in
      their thirties do not differ in CWR because of the ASFR, which already carries age).
    * **Raw ratio** ``r_w = C_w / E_w``; **shrunk** ``(C_w + alpha) / (E_w + alpha)``, the gamma-Poisson
      posterior mean of Clayton & Kaldor (1987, Biometrics 43(3):671-681,
      https://doi.org/10.2307/2531803 ) as for the gemeente's SMR: a wijk with few children is
      pulled toward 1, a large one keeps its own ratio. ``alpha`` (default) is the method-of-moments
      estimate over the gemeente's wijken (Marshall 1991, :func:`~assen_demand.demography.mortality.smr_prior_shape`);
      with fewer than three wijken every wijk gets 1.
    * **Births add up**: the multipliers are scaled by one factor ``k`` so that the wijken's births
      from the base-year women, ``sum_w k s_w sum_x f(x) W_w(x)``, equal the gemeente's ``sum_x f(x)
      W_gm(x)``. (In the projection the wijken are also constrained to the gemeente per sex and
      age, age 0 included, so their births add up every year.)

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age) [persons]
        Base population, gemeente and wijken.
    asfr : xarray.DataArray (age) [births per woman-year]
        The gemeente's ASFR in the base year (only its age shape matters).
    gemeente : str
        The gemeente's code among ``population.area``.
    prior_shape : float, optional
        Gamma prior shape alpha > 0 (``math.inf``: all 1); default estimated from the wijken.

    Returns
    -------
    WijkFertility

    Examples
    --------
    Hand-worked (also ``tests/test_wijk_components.py``): two wijken of equal women with 30 and
    10 children 0-4, gemeente 40; ``E = 20`` each, raw ratios 1.5 and 0.5; with alpha = 20 the
    shrunk ratios are 50/40 = 1.25 and 30/40 = 0.75, already adding up (k = 1).
    """
    areas = [str(a) for a in population["area"].values]
    if gemeente not in areas:
        raise DataFormatError(f"wijk_fertility_factors: population has no area {gemeente!r}; include the gemeente row")
    wijken = [a for a in areas if a != gemeente]
    pop = population.reindex(age=AGES, fill_value=0.0).astype(float)
    check_finite_nonneg(pop.values, "wijk_fertility_factors: population", "fix the base population")
    f = asfr.reindex(age=AGES, fill_value=0.0).astype(float)
    lo, hi = CWR_WOMEN_AGES
    women_ages = (AGES >= lo) & (AGES < hi)
    child_ages = (AGES >= CWR_CHILD_AGES[0]) & (AGES < CWR_CHILD_AGES[1])
    women = pop.sel(sex="female").isel(age=np.flatnonzero(women_ages))
    weighted = (women * f.isel(age=np.flatnonzero(women_ages))).sum("age").to_series()
    children = pop.isel(age=np.flatnonzero(child_ages)).sum(["sex", "age"]).to_series()
    women_total = women.sum("age").to_series()
    if not wijken:
        return WijkFertility(table=pd.DataFrame(columns=["area", "children", "women", "expected_children",
                                                          "cwr_ratio", "shrunk", "factor"]), prior_shape=math.inf)
    if not (weighted[gemeente] > 0 and children[gemeente] > 0):
        raise InvalidValueError(
            f"wijk_fertility_factors: {gemeente} has no children 0-4 or no women 15-44 in the base population; "
            "use wijk_fertility='gemeente'")
    expected = children[gemeente] * weighted[wijken] / weighted[gemeente]
    observed = children[wijken]
    has = expected > 0
    if prior_shape is None:
        alpha = smr_prior_shape(observed[has].to_numpy(), expected[has].to_numpy()) if has.sum() >= 3 else math.inf
    else:
        if not prior_shape > 0:
            raise InvalidValueError(f"wijk_fertility_factors: prior_shape must be positive (got {prior_shape})")
        alpha = float(prior_shape)
    raw = (observed / expected.where(has)).fillna(1.0)
    shrunk = raw * 0 + 1.0 if math.isinf(alpha) else ((observed + alpha) / (expected + alpha)).where(has, 1.0)
    births_gm = float(weighted[gemeente])
    births_w = float((shrunk * weighted[wijken]).sum())
    k = births_gm / births_w if births_w > 0 else 1.0
    table = pd.DataFrame({"area": wijken, "children": observed.to_numpy(), "women": women_total[wijken].to_numpy(),
                          "expected_children": expected.to_numpy(), "cwr_ratio": raw.to_numpy(),
                          "shrunk": shrunk.to_numpy(), "factor": (k * shrunk).to_numpy()})
    return WijkFertility(table=table, prior_shape=float(alpha))

"""The housing chain on numpy blocks of Monte Carlo draws (issue 20).

:func:`assen_demand.housing.chain.run_housing_chain` is the chain's definition, on labelled
arrays; the deterministic forecast runs it. For 1,000 draws it spends most of its time in
xarray's bookkeeping and in population-sized temporaries (about 90 per cell), so the draws run
this module instead: the same formulas, step for step (households -> care need -> care profiles
-> households by profile -> need per dwelling type, doorstroming, the norm model), on plain
numpy arrays of a few draws at a time (``(draw, area, sex, age, year)``, small enough to stay in
the processor's cache), with every age aggregation done as one batched matrix product per
block against weights built once.

What is shared with the labelled chain, so that there is one definition of each parameter:
every coefficient comes from the same parameter functions (``ParameterSet.banded`` /
``scalar`` with the draws' sampler as variant, :func:`~assen_demand.housing.households.institutional_shares`,
:func:`~assen_demand.housing.care.prevalence_factor`), and the living-alone calibration is
:func:`~assen_demand.housing.households.calibrate_living_alone` itself. The arithmetic is
repeated here; ``tests/test_blocks.py`` checks it against :func:`run_housing_chain` draw by draw
on random populations and random parameter draws (Hypothesis), to 1e-9 relative in float64.

Precision: ``dtype=np.float32`` halves the memory traffic. Against the labelled float64 chain
the need quantiles of 40 Assen draws differ by at most 9.7e-7 relative (3.5e-4 dwellings); the
test allows 2e-5 relative + 1e-3 on 60 draws (``tests/test_blocks.py``).

Speed (Assen, 1,000 draws, 11 areas x 2 sexes x 101 ages x 17 years): about 10 ms of CPU per
draw in blocks of 8 draws in float32 (14 ms in float64, 28 ms one draw at a time; load 5 on 2
cores). The labelled chain in chunks of 26 draws took 54 of the 78 s (42 s CPU) of a 200-draw
forecast at the same load (pyinstrument), over 100 ms of CPU per draw. Since issue 20's note 3
the draws run in blocks of 4 (``uncertainty._BLOCK_DRAWS``): about 3-4 ms of CPU per draw at load
10, the same as 8 with 16 MB less peak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import expit, logit

from assen_demand.datamodel import DWELLING_TYPES, check_share
from assen_demand.errors import InvalidValueError
from assen_demand.housing import care as care_step
from assen_demand.housing import households as households_step
from assen_demand.housing.need import HOUSEHOLD_TYPES, PROFILES
from assen_demand.parameters import AGES, SEXES, ParameterSet

__all__ = ["HOUSEHOLD_SUMS", "ChainCoefficients", "BlockResult", "chain_coefficients", "living_alone_offset",
           "run_block"]

#: household variables summed over sex and age, in the order of :attr:`BlockResult.households`
HOUSEHOLD_SUMS = ("households", "institutional", "alone", "private")
_CARE = "care_prevalence"
# care indicators and their prevalence table indicator / trend key (care.care_need's ``rate``)
_RATES = {
    "dementia": ("dementia", "dementia"),
    "dementia_share_of_institutional": ("dementia_share_of_institutional", "dementia"),
    "wlz_vv": ("wlz_vv", "wlz_vv"),
    "wlz_vv_share_of_institutional": ("wlz_vv_share_of_institutional", "wlz_vv_share_of_institutional"),
    "mobility_limitation": ("mobility_limitation", "mobility_limitation"),
    "adl_limitation": ("adl_limitation", "adl_limitation"),
    "young_support_need": ("young_support_need", "young_support_need"),
}
# layers of a block, (draw, area, layer, sex, age, year): the care indicators in care.INDICATORS
# order, then the households by profile, so that the care-driven need is one matrix product over
# the layers from the first indicator to the last profile
_HH = ("institutional", "private", "alone", "households")
_PERSON_BASED = ("wlz_vv_intramural", "young_support_need")  # need.py's person-based needs
# draws per block when the coefficients are drawn: each block repeats ~0.3 s of labelled set-up
# (issue 20: 8 blocks of 128 were 2.8 s CPU, one of 1,000 1.4 s and a lower peak, 333 vs 405 MB)
_COEFFICIENT_DRAWS = 1000
# layers of a block, (draw, area, layer, sex, age, year): the person-based care indicators and then
# the households by profile are adjacent, so that the care-driven need is one matrix product
_LAYERS = ("population", *_HH, *(i for i in care_step.INDICATORS if i not in _PERSON_BASED), *_PERSON_BASED,
           *(f"households_{p}" for p in PROFILES), "none_alone", "none_couple")
_L = {name: i for i, name in enumerate(_LAYERS)}
_CARE_FIRST, _CARE_LAST = _L[_PERSON_BASED[0]], _L[f"households_{PROFILES[-1]}"] + 1
_SUM_FIRST, _SUM_LAST = _L[_HH[0]], _L[_PERSON_BASED[-1]] + 1  # households and care indicators


@dataclass(frozen=True, eq=False)
class ChainCoefficients:
    """Every parameter of the housing chain as numpy arrays with a leading draw axis.

    Arrays are ``(draw, sex, age, year)`` (year of length 1 where a parameter has no year),
    ``draw`` of length 1 for a central run; built by :func:`chain_coefficients`.
    """

    draws: np.ndarray  # (draw,) labels
    institutional: np.ndarray  # share, (draw, sex, age, year)
    living_alone: xr.DataArray  # (draw, sex, age) share, labelled: calibrate_living_alone takes it
    headship: np.ndarray  # (draw, sex, age, 1)
    rates: dict  # name -> (draw, sex, age, year or 1)
    dementia_share: np.ndarray  # (draw,) wlz_vv_at_home_dementia_share
    adl_share: np.ndarray  # (draw,) adl_share_of_dementia_not_vv
    care_pairs: tuple  # (dwelling type, care layer) positions with a weight (11 of 30 in the bundled tables)
    care_values: np.ndarray  # (draw, pair, sex, age) their weights [dwellings per household or person]
    preference_pairs: tuple  # (dwelling type, household type) positions with a share
    preference_values: np.ndarray  # (draw, pair, sex, age)
    norm_weights: np.ndarray  # (draw, dwelling_type, sex, age) [per person]; NaN types flagged below
    norm_missing: np.ndarray  # (dwelling_type,) bool: no national norm (NaN in the result)
    moving: np.ndarray  # (draw, sex, age) family_home_share x move rate

    @property
    def care_weights(self) -> np.ndarray:
        """(draw, dwelling_type, care layer, sex, age), zero where no table row gives a weight."""
        return _dense(self.care_values, self.care_pairs, (len(DWELLING_TYPES), _CARE_LAST - _CARE_FIRST))

    @property
    def preference_weights(self) -> np.ndarray:
        """(draw, dwelling_type, household, sex, age), zero where no table row gives a share."""
        return _dense(self.preference_values, self.preference_pairs, (len(DWELLING_TYPES), len(HOUSEHOLD_TYPES)))

    def take(self, rows: np.ndarray) -> "ChainCoefficients":
        """The coefficients of some draws (positions along the draw axis; length-1 axes kept)."""
        def pick(a):
            return a if a.shape[0] == 1 else a[rows]
        return ChainCoefficients(
            draws=pick(self.draws), institutional=pick(self.institutional),
            living_alone=self.living_alone if self.living_alone.shape[0] == 1 else self.living_alone.isel(draw=rows),
            headship=pick(self.headship), rates={k: pick(v) for k, v in self.rates.items()},
            dementia_share=pick(self.dementia_share), adl_share=pick(self.adl_share),
            care_pairs=self.care_pairs, care_values=pick(self.care_values),
            preference_pairs=self.preference_pairs, preference_values=pick(self.preference_values),
            norm_weights=pick(self.norm_weights), norm_missing=self.norm_missing, moving=pick(self.moving),
        )


def _dense(values: np.ndarray, pairs: tuple, grid: tuple) -> np.ndarray:
    out = np.zeros((values.shape[0], *grid, *values.shape[2:]), dtype=values.dtype)
    for k, (i, j) in enumerate(pairs):
        out[:, i, j] = values[:, k]
    return out


def _lead(da: xr.DataArray, years: np.ndarray, *, year: bool = True) -> np.ndarray:
    """``da`` as (draw, sex, age[, year]) float64, missing axes of length 1, labels aligned."""
    # selection by label only where the labels differ: the parameter functions give SEXES and
    # AGES in order already, and xarray's sel costs ~5 ms a call even when it changes nothing
    want = {"sex": list(SEXES), "age": list(AGES), "year": list(years)}
    pick = {d: want[d] for d in ("sex", "age", "year") if d in da.dims and list(da.indexes[d]) != want[d]}
    if pick:
        da = da.sel(pick)
    order = [d for d in ("draw", "sex", "age", "year") if d in da.dims]
    extra = sorted(set(da.dims) - set(order))
    if extra:
        raise InvalidValueError(f"parameter {da.name!r} has unexpected dimension(s) {extra} for the draws chain")
    values = np.asarray(da.transpose(*order).values, dtype=float)
    for axis, d in enumerate(("draw", "sex", "age", "year")):
        if d not in order and (year or d != "year"):
            values = np.expand_dims(values, axis)
    return values


def _scalar(value) -> np.ndarray:
    return np.atleast_1d(np.asarray(getattr(value, "values", value), dtype=float))


def _present(params: ParameterSet, table: str, indicator: str, dtype: str, **keys) -> bool:
    frame = params.table(table)
    # numpy comparisons: pandas' on Arrow strings took ~5 ms per call, 456 calls per 1,000 draws
    sel = (frame["indicator"].to_numpy(dtype=object) == indicator) & (frame["dwelling_type"].to_numpy(dtype=object) == dtype)
    for col, value in keys.items():
        sel &= frame[col].to_numpy(dtype=object) == value
    return bool(np.asarray(sel, dtype=bool).any())


def chain_coefficients(
    params: ParameterSet,
    *,
    years,
    institutional_multiplier: xr.DataArray | float | None = None,
    prevalence_trend: Mapping[str, float] | None = None,
    trend_start: int | None = None,
    dtype=np.float64,
) -> ChainCoefficients:
    """The housing chain's parameters for all draws of ``params.variant``, once.

    Parameters
    ----------
    params : ParameterSet
        Tables and variant (a :class:`assen_demand.uncertainty.ParameterDraws` or a str).
    years : sequence of int [year]
    institutional_multiplier, prevalence_trend, trend_start
        As in :func:`assen_demand.housing.chain.run_housing_chain`.
    dtype : numpy dtype
        Storage of the per-age arrays: the working dtype of :func:`run_block` (float32 halves
        the 0.1 GB they take for 1,000 draws; the scalars and the living-alone shares stay float64).

    Returns
    -------
    ChainCoefficients
    """
    variant = params.variant
    labels = getattr(variant, "labels", None)
    if labels is not None and hasattr(variant, "subset") and len(labels) > _COEFFICIENT_DRAWS:
        # a block of draws at a time: drawing a (draw, sex, age, year) table holds three float64
        # temporaries of its size (uncertainty._split_normal; 82 MB for the institutional shares
        # of 1,000 draws)
        parts = [chain_coefficients(params.with_variant(variant.subset(labels[i:i + _COEFFICIENT_DRAWS])), years=years,
                                    institutional_multiplier=institutional_multiplier,
                                    prevalence_trend=prevalence_trend, trend_start=trend_start, dtype=dtype)
                 for i in range(0, len(labels), _COEFFICIENT_DRAWS)]
        return _concatenate(parts)
    years = np.asarray([int(y) for y in years])
    inst = households_step.institutional_shares(years=years.tolist(), parameters=params)
    if institutional_multiplier is not None:
        factor = (xr.DataArray(institutional_multiplier) if np.isscalar(institutional_multiplier)
                  else institutional_multiplier)
        values = np.asarray(factor.values, dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise InvalidValueError(
                "institutional_multiplier must be >= 0 without NaN (1 = the bundled trend, 0.7 = 30% fewer)")
        if "year" in factor.dims:
            factor = factor.sel(year=years)
        inst = inst * factor
    inst = check_share(inst, name="institutional shares")
    trends = dict(prevalence_trend or {})
    unknown = sorted(set(trends) - set(care_step.TREND_INDICATORS))
    if unknown or (trends and trend_start is None):
        raise InvalidValueError(f"prevalence_trend {sorted(trends)} needs known indicators "
                                f"({', '.join(care_step.TREND_INDICATORS)}) and trend_start")
    rates = {}
    for name, (indicator, key) in _RATES.items():
        da = params.banded(_CARE, indicator=indicator)
        if key in trends:
            da = da * care_step.prevalence_factor(years, trend=float(trends[key]), start=int(trend_start))
            check_share(da, name=f"{indicator} prevalence with its trend")
        rates[name] = _lead(da, years)
    alone = params.banded("living_alone", indicator="living_alone")
    if "draw" not in alone.dims:
        alone = alone.expand_dims(draw=[0])
    alone = alone.transpose("draw", "sex", "age").sel(sex=list(SEXES), age=list(AGES))
    headship = _lead(households_step.headship_rates(parameters=params), years)
    n_draw = max(v.shape[0] for v in (*rates.values(), headship, alone.values))
    shape = (n_draw, len(SEXES), len(AGES))

    def banded(table, indicator, dwelling, **keys):
        if not _present(params, table, indicator, dwelling, **keys):
            return np.zeros(shape)
        da = params.banded(table, indicator=indicator, dwelling_type=dwelling, fill=0.0, **keys)
        return np.broadcast_to(_lead(da, years, year=False), shape)

    care_layers = _LAYERS[_CARE_FIRST:_CARE_LAST]
    # only the (type, layer) pairs with table rows are kept (11 of 30 care and 6 of 10 preference
    # pairs in the bundled tables): which pairs depends on the tables, not on the draws
    care_pairs, care_values, pref_pairs, pref_values = [], [], [], []
    norm_w = np.zeros((n_draw, len(DWELLING_TYPES), *shape[1:]), dtype=dtype)
    norm_table = params.table("dwelling_norms")
    missing = np.zeros(len(DWELLING_TYPES), dtype=bool)
    for t, dwelling in enumerate(DWELLING_TYPES):
        for layer, indicator in [(f"households_{p}", p) for p in PROFILES] + [(i, i) for i in _PERSON_BASED]:
            if _present(params, "dwelling_profiles", indicator, dwelling):
                care_pairs.append((t, care_layers.index(layer)))
                care_values.append(banded("dwelling_profiles", indicator, dwelling))
        for h, kind in enumerate(HOUSEHOLD_TYPES):
            if _present(params, "preference_demand", "preference_share", dwelling, household=kind):
                pref_pairs.append((t, h))
                pref_values.append(banded("preference_demand", "preference_share", dwelling, household=kind))
        if (norm_table["dwelling_type"] == dwelling).any():
            norm_w[:, t] = np.broadcast_to(_lead(params.banded("dwelling_norms", indicator="norm", dwelling_type=dwelling,
                                                               fill=0.0), years, year=False), shape)
        else:
            missing[t] = True

    def stack(values):
        return np.stack(values, axis=1) if values else np.zeros((n_draw, 0, *shape[1:]))

    rate = params.banded("moving_rates", indicator="move_rate_family_to_suitable", fill=0.0)
    share = params.banded("moving_rates", indicator="family_home_share", fill=0.0)
    moving = np.broadcast_to(_lead(share * rate, years, year=False), shape)
    draws = getattr(params.variant, "labels", np.zeros(1, dtype=int))

    def store(a):
        return np.ascontiguousarray(a, dtype=dtype)

    return ChainCoefficients(
        draws=np.asarray(draws), institutional=store(_lead(inst, years)), living_alone=alone,
        headship=store(headship), rates={k: store(v) for k, v in rates.items()},
        dementia_share=_scalar(params.scalar(_CARE, indicator="wlz_vv_at_home_dementia_share")),
        adl_share=_scalar(params.scalar(_CARE, indicator="adl_share_of_dementia_not_vv")),
        care_pairs=tuple(care_pairs), care_values=store(stack(care_values)), preference_pairs=tuple(pref_pairs),
        preference_values=store(stack(pref_values)), norm_weights=store(norm_w), norm_missing=missing, moving=store(moving),
    )


def _concatenate(parts: list[ChainCoefficients]) -> ChainCoefficients:
    """Coefficients of consecutive blocks of draws joined along the draw axis."""
    def join(arrays):
        return arrays[0] if arrays[0].shape[0] == 1 else np.concatenate(arrays)
    first = parts[0]
    return ChainCoefficients(
        draws=np.concatenate([p.draws for p in parts]),
        institutional=join([p.institutional for p in parts]),
        living_alone=xr.concat([p.living_alone for p in parts], dim="draw"),
        headship=join([p.headship for p in parts]),
        rates={k: join([p.rates[k] for p in parts]) for k in first.rates},
        dementia_share=join([p.dementia_share for p in parts]), adl_share=join([p.adl_share for p in parts]),
        care_pairs=first.care_pairs, care_values=join([p.care_values for p in parts]),
        preference_pairs=first.preference_pairs, preference_values=join([p.preference_values for p in parts]),
        norm_weights=join([p.norm_weights for p in parts]), norm_missing=first.norm_missing,
        moving=join([p.moving for p in parts]),
    )


@dataclass(frozen=True, eq=False)
class BlockResult:
    """Aggregates of one block of draws, all (draw, area, ..., year) numpy arrays."""

    households: np.ndarray  # (draw, area, 4, year): HOUSEHOLD_SUMS
    care_need: np.ndarray  # (draw, area, indicator, year) [persons]
    care: np.ndarray  # (draw, area, dwelling_type, year): need part (a)
    preference: np.ndarray  # (draw, area, dwelling_type, year): need part (b)
    norm: np.ndarray  # (draw, area, dwelling_type, year): norm model [dwellings]
    doorstroming: np.ndarray  # (draw, area, year) [family homes freed per year]


def living_alone_offset(population_base: np.ndarray, coef: ChainCoefficients, *, areas, years, base_year: int,
                        one_person_households, unusable_targets: str = "report") -> np.ndarray:
    """Logit shift of the living-alone shares per draw and area, by households.calibrate_living_alone.

    Parameters
    ----------
    population_base : numpy.ndarray (draw, area, sex, age) [persons]
        Population in ``base_year`` (draws of length 1 broadcast over the coefficients' draws).
    coef : ChainCoefficients
    areas, years : sequences of the area and year labels
    base_year : int [year]
    one_person_households : pandas.Series (area) [households]
    unusable_targets : {"raise", "report"}

    Returns
    -------
    numpy.ndarray (draw, area) [logit shift]
    """
    years = [int(y) for y in years]
    at = years.index(int(base_year))
    n = max(population_base.shape[0], coef.living_alone.sizes["draw"])
    # in float64 whatever the working dtype: the shift is solved to 1e-13 as in the labelled chain
    pop_base = np.broadcast_to(np.asarray(population_base, dtype=np.float64), (n, *population_base.shape[1:]))
    inst = coef.institutional[:, None, :, :, min(at, coef.institutional.shape[-1] - 1)]
    private_base = pop_base - pop_base * inst
    private = xr.DataArray(private_base[..., None], dims=("draw", "area", "sex", "age", "year"),
                           coords={"draw": np.arange(n), "area": list(areas), "sex": list(SEXES), "age": list(AGES),
                                   "year": [base_year]})
    shares = coef.living_alone.assign_coords(draw=np.arange(coef.living_alone.sizes["draw"]))
    if shares.sizes["draw"] == 1 and n > 1:
        shares = shares.isel(draw=0, drop=True)
    offset = households_step.calibrate_living_alone(private, one_person_households=one_person_households,
                                                    base_year=base_year, shares=shares, unusable=unusable_targets)
    return np.broadcast_to(offset.transpose(*[d for d in ("draw", "area") if d in offset.dims]).values,
                           (n, len(areas)))


def run_block(
    population: np.ndarray,
    coef: ChainCoefficients,
    *,
    areas,
    years,
    one_person_households=None,
    base_year: int | None = None,
    unusable_targets: str = "report",
    alone_offset: np.ndarray | None = None,
    dtype=np.float64,
) -> BlockResult:
    """The housing chain of one block of draws.

    Parameters
    ----------
    population : numpy.ndarray (draw, area, sex, age, year) [persons]
        Sex in :data:`SEXES` order, age 0..100.
    coef : ChainCoefficients
        Of the same draws (:meth:`ChainCoefficients.take`), or a single central draw.
    areas : sequence of str
        Area codes of axis 1 (the gemeente rows become the sum of their wijken, as in
        :func:`assen_demand.housing.need.gemeente_as_sum_of_wijken`).
    years : sequence of int
        Years of the last axis.
    one_person_households, base_year, unusable_targets
        As in :func:`assen_demand.housing.chain.run_housing_chain`.
    alone_offset : numpy.ndarray (draw, area), optional [logit shift]
        The living-alone calibration of these draws when already solved
        (:func:`living_alone_offset`); else solved here from ``one_person_households``.
    dtype : numpy dtype
        Working precision of the single-age layers (the aggregates are returned in float64).

    Returns
    -------
    BlockResult
    """
    years = [int(y) for y in years]
    n, n_area, n_sex, n_age, n_year = population.shape
    buf = np.empty((n, n_area, len(_LAYERS), n_sex, n_age, n_year), dtype=dtype)
    L = {k: buf[:, :, i] for k, i in _L.items()}

    def c(a):  # coefficient (draw, sex, age, year) -> (draw, 1, sex, age, year) in the working dtype
        return a[:, None].astype(dtype, copy=False)

    if population.dtype == np.dtype(dtype) and population.flags.c_contiguous:
        pop = population  # read in place: the copy was a tenth of the block
    else:
        pop = L["population"]
        pop[...] = population
    # households.split_institutional / households.households
    inst, priv, alone, hh = L["institutional"], L["private"], L["alone"], L["households"]
    np.multiply(pop, c(coef.institutional), out=inst)
    np.subtract(pop, inst, out=priv)
    if alone_offset is not None:
        offset = np.broadcast_to(alone_offset, (n, n_area))
    elif one_person_households is not None:
        if base_year not in years:
            raise InvalidValueError(f"base_year {base_year} is not a year of the draws ({years[0]}-{years[-1]})")
        offset = living_alone_offset(population[..., years.index(base_year)], coef, areas=areas, years=years,
                                     base_year=base_year, one_person_households=one_person_households,
                                     unusable_targets=unusable_targets)
    else:
        offset = np.zeros((n, n_area))
    base = coef.living_alone.values  # (draw, sex, age)
    inner = (base > 0) & (base < 1)
    lg = logit(np.where(inner, base, 0.5))[:, None]  # (draw, 1, sex, age)
    share = np.where(inner[:, None], expit(lg + offset[:, :, None, None]), base[:, None])
    np.multiply(priv, share[..., None].astype(dtype, copy=False), out=alone)
    with_others = priv - alone
    head = c(coef.headship)
    np.multiply(with_others, head, out=hh)
    hh += alone
    # care.care_need (institutional residents derived from the private persons, as there)
    derived = np.maximum(pop - priv, 0.0)
    r = {k: c(v) for k, v in coef.rates.items()}
    dementia, dem_inst = L["dementia"], L["dementia_in_institution"]
    np.multiply(pop, r["dementia"], out=dementia)
    residents = derived * r["dementia_share_of_institutional"]
    np.minimum(residents, dementia, out=dem_inst)  # xr.where(a < b, a, b) without NaN
    np.subtract(dementia, dem_inst, out=L["dementia_at_home"])
    vv, vv_intr = L["wlz_vv"], L["wlz_vv_intramural"]
    np.multiply(pop, r["wlz_vv"], out=vv)
    np.multiply(derived, r["wlz_vv_share_of_institutional"], out=residents)
    np.minimum(residents, vv, out=vv_intr)
    vv_home = L["wlz_vv_at_home"]
    np.subtract(vv, vv_intr, out=vv_home)
    np.multiply(priv, r["mobility_limitation"], out=L["mobility_limitation"])
    np.multiply(priv, r["adl_limitation"], out=L["adl_limitation"])
    np.multiply(pop, r["young_support_need"], out=L["young_support_need"])
    # need.person_profiles
    ds = coef.dementia_share.astype(dtype)[:, None, None, None, None]
    adl_s = coef.adl_share.astype(dtype)[:, None, None, None, None]
    # the operations of need.person_profiles in their order, written into three buffers
    dem_p = ds * vv_home
    np.subtract(L["dementia_at_home"], dem_p, out=dem_p)
    np.maximum(dem_p, 0.0, out=dem_p)
    adl_p = np.subtract(L["adl_limitation"], vv_home)
    np.subtract(adl_p, adl_s * dem_p, out=adl_p)
    np.maximum(adl_p, 0.0, out=adl_p)
    mob_p = np.subtract(L["mobility_limitation"], L["adl_limitation"])
    np.maximum(mob_p, 0.0, out=mob_p)
    persons = {"mobility_not_adl": mob_p, "adl_not_vv": adl_p, "dementia_not_vv": dem_p, "wlz_vv_at_home": vv_home}
    # need.profile_households: shares of the private persons, cumulative over severity, partner of the other sex
    has = priv > 0
    shares = {p: np.divide(persons[p], priv, out=np.zeros_like(priv), where=has) for p in PROFILES}
    total = shares[PROFILES[0]].copy()
    for p in PROFILES[1:]:
        total += shares[p]
    scale = np.where(total > 1.0, total, 1.0)
    for p in PROFILES:
        shares[p] /= scale
    summed = shares[PROFILES[0]].copy()
    for p in PROFILES[1:]:
        summed += shares[p]
    none = np.maximum(1.0 - summed, 0.0)
    couple_base = with_others * head
    cumulative = none
    previous = None
    for p in ("none", *PROFILES):
        s = none if p == "none" else shares[p]
        if p != "none":
            cumulative = previous + s
        partner = cumulative[:, :, ::-1]  # the other sex, same age (SEXES has two entries)
        couple_share = cumulative * partner
        if previous is not None:
            couple_share -= previous * previous[:, :, ::-1]
        target_alone = L["none_alone"] if p == "none" else L[f"households_{p}"]
        if p == "none":
            np.multiply(alone, s, out=target_alone)
            np.multiply(couple_base, couple_share, out=L["none_couple"])
        else:
            np.multiply(alone, s, out=target_alone)
            target_alone += couple_base * couple_share
        previous = cumulative
    # aggregates: sums over sex and age, and the weighted sums as batched matrix products
    flat = buf.reshape(n, n_area, len(_LAYERS), n_sex * n_age, n_year)
    # the household and care layers are adjacent: their sums over sex and age are one product with
    # a vector of ones (BLAS; numpy's sum with a float64 accumulator took a third of the block)
    summed = flat[:, :, _SUM_FIRST:_SUM_LAST]
    sums = np.matmul(np.ones((1, n_sex * n_age), dtype=dtype), summed)[:, :, :, 0].astype(np.float64)
    care_w = coef.care_weights.reshape(coef.care_weights.shape[0], len(DWELLING_TYPES), -1).astype(dtype)
    care_x = buf[:, :, _CARE_FIRST:_CARE_LAST].reshape(n, n_area, -1, n_year)
    care_need_parts = np.matmul(care_w[:, None], care_x).astype(np.float64)
    pref_w = coef.preference_weights.reshape(coef.preference_weights.shape[0], len(DWELLING_TYPES), -1).astype(dtype)
    pref_x = buf[:, :, _L["none_alone"]:].reshape(n, n_area, -1, n_year)
    preference = np.matmul(pref_w[:, None], pref_x).astype(np.float64)
    norm_w = coef.norm_weights.reshape(coef.norm_weights.shape[0], len(DWELLING_TYPES), -1).astype(dtype)
    norm = np.matmul(norm_w[:, None], pop.reshape(n, n_area, n_sex * n_age, n_year)).astype(np.float64) / 1000.0
    norm[:, :, coef.norm_missing] = np.nan
    door_w = coef.moving.reshape(coef.moving.shape[0], 1, -1).astype(dtype)
    door = np.matmul(door_w[:, None], flat[:, :, _L["households"]])[:, :, 0].astype(np.float64)
    _gemeente_as_sum(care_need_parts, preference, areas)
    return BlockResult(
        households=sums[:, :, [_L[v] - _SUM_FIRST for v in HOUSEHOLD_SUMS]],
        care_need=sums[:, :, [_L[v] - _SUM_FIRST for v in care_step.INDICATORS]],
        care=care_need_parts, preference=preference, norm=norm, doorstroming=door,
    )


def _gemeente_as_sum(care: np.ndarray, preference: np.ndarray, areas) -> None:
    """need.gemeente_as_sum_of_wijken on the area axis (1), in place."""
    areas = [str(a) for a in areas]
    for i, code in enumerate(areas):
        if not code.startswith("GM"):
            continue
        wijken = [j for j, a in enumerate(areas) if a.startswith("WK") and a[2:6] == code[2:6]]
        if wijken:
            care[:, i] = care[:, wijken].sum(axis=1)
            preference[:, i] = preference[:, wijken].sum(axis=1)

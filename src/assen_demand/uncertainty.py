"""Monte Carlo draws through the whole chain -> quantiles.

All draws run at once: every random input gets a leading ``draw`` dimension and the projection
engine broadcasts over it, in chunks of draws (a progress bar over the chunks) that bound the
memory; it never calls the pipeline once per draw. The household, care and dwelling steps of
the draws run on numpy blocks of a few draws (:mod:`assen_demand.housing.blocks`: the formulas of
:func:`~assen_demand.housing.chain.run_housing_chain`, tested against it draw by draw) in float32
(:data:`CHAIN_DTYPE`; quantiles within 1e-6 relative of the labelled float64 chain on Assen), with
every parameter drawn once for all draws. All random numbers are drawn before the first chunk,
so the chunk size changes nothing but the floating-point rounding of a few batched sums (1e-14
relative), and the same seed gives bit-identical results.

What is drawn, and how
----------------------
**Mortality.** Lee-Carter k(t) paths, a random walk with drift whose innovation sd and drift
standard error come from the fit (:meth:`assen_demand.demography.mortality.LeeCarterFit.simulate`; the
scenario's drift multiplier is already in the fit). The local level (SMR) is lognormal around
the shrunk SMR with log-sd ``1 / sqrt(O + alpha)``, the relative sd of its gamma posterior.

**Fertility.** The national TFR follows a random walk on the log scale from the assumed path,
with the sd of the yearly log changes of the WPP 2024 estimates over the 30 years before the
base year (Netherlands 1993-2023: 0.025); the ratio to the assumed path is bounded to [0.5, 2].
The local fertility factor is lognormal with log-sd ``1 / sqrt(observed births)``.

**Migration, gemeente.** Yearly net migration = the assumed level + ``P (L + x_t)``, with ``P``
the base population, ``L`` a level error held for the whole horizon (its mean, the drift, is
the rule's known bias for the kind: growth rates return toward the mean, so the median of the
draws of a growing gemeente lies below the central forecast) and ``x_t`` an AR(1)
deviation (``x_t = phi x_{t-1} + e_t``, ``x_0 = 0``): a persistent process, so the interval of
the total widens the way real forecast errors do. ``phi`` and the two sds are read per kind of
gemeente (size, growth, student city: :func:`assen_demand.evaluation.gemeente_kind`) from
``data/parameters/forecast_error_distribution.csv``, fitted by ``scripts/build_forecast_errors.py``
on the rolling-origin errors of the library's own rule for the gemeente total (CBS 37259,
1960-2023; :mod:`assen_demand.evaluation`). The deviations thus carry the error of the total
as a whole (migration and the small natural-increase part); they are added along the model
migration profile of the gemeente, half to each sex, and shared among the wijken by their
population at each sex and age (so the wijken still add up to the gemeente).

**Migration by age band (wijken and the gemeente's age pattern).** Per area and KWB age band,
net migration gets a persistent and a yearly normal deviation with variances ``phi x P`` (P =
band population in the base year, phi from ``data/parameters/migration_dispersion.csv``,
estimated on the Drenthe wijken, KWB 2022-2024, by ``benchmarks/migration_dispersion.py``):
yearly ``phi_year``; persistent ``phi_alloc - phi_year`` for an area without earlier KWB pairs
(its migration is then an allocation: a wijk's population share of the gemeente's, the
gemeente's own along a model age profile) and ``phi_year / k`` for an area whose migration is
the mean of ``k`` observed pairs (for a wijk whose mean is shrunk toward its allocation,
:func:`assen_demand.demography.migration.shrink_wijk_residuals`, the posterior variance
``s2 (phi_year / k) / (s2 + phi_year / k)`` with ``s2 = phi_alloc - phi_year``). Applying the wijk dispersion to the gemeente's age pattern is
an assumption (a gemeente's band migration deviates from a model profile as a wijk's deviates
from its allocation); the gemeente's deviations are made to sum to zero over the bands, since
its total is drawn from CBS 37259 above. Within a band a deviation is spread over sex and
single age by the base population. For the wijken, the running sum of these deviations is then
multiplied per band and horizon by a factor from ``data/parameters/wijk_interval_scale.csv``
(:func:`assen_demand.evaluation.wijk_interval_scale`; horizons past the table use its last
column): the 90 % quantile of |observed - median| / interval half on stochastic hindcasts of the
Drenthe wijken from 2021 (KWB 2022-2024), written by ``scripts/build_wijk_interval_scale.py``, so
the 90 % interval of a wijk band holds about 90 % of what KWB later showed at horizons 1-3. The
gemeente row is not scaled. The wijk projection is then constrained to the gemeente's, draw by
draw, as in the central run.

**Care and dwelling parameters.** Every parameter of ``data/parameters`` is drawn from its
``low``/``central``/``high`` range as a *split normal with low and high as the 5 % and 95 %
quantiles* (central = median), on the logit scale for shares and the log scale for other
non-negative values; where ``low`` is 0 (or a share's ``high`` is 1) that side is linear and
clipped at the bound. One standard normal per parameter (table, indicator and key, e.g.
``dwelling_profiles.csv / adl_not_vv / geclusterd``) moves all its ages, sexes and years
together (a range describes how uncertain the source is, not noise per age); different
parameters are independent. See :class:`ParameterDraws`.

``zero_width=True`` sets every sd and every parameter draw to zero: each draw then equals the
deterministic forecast (tested to 1e-9), the check that the stochastic and central chains are
the same code.

Not drawn: the base population (raked to published counts), the scenario assumptions
(dementia trend, institutional multiplier), the supply. Sampling error of CBS rounding (to 5)
is inside the wijk migration dispersion, which was estimated from rounded KWB counts.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, logit

from assen_demand.demography.migration import RC_FUNDAMENTAL, migration_dispersion, rogers_castro, shrinkage_weight
from assen_demand.demography.mortality import life_table, survival_ratios
from assen_demand.evaluation import scale_cumulative_deviation, wijk_interval_scale
from assen_demand.datamodel import KWB_BAND_EDGES as _KWB_EDGES
from assen_demand.datamodel import QUANTILES, quantile_name
from assen_demand.display import summary_repr
from assen_demand.draw_quantiles import quantiles_over_draws
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.processes import release_freed_memory, threads_here
from assen_demand.parameters import (
    AGES,
    SEXES,
    banded_to_dataarray,
    resolve_parameters,
    scalar_parameter,
)
from assen_demand.demography.engine import Engine, prepare_engine
from assen_demand.demography.projection import ProjectionInputs, run_prepared
from assen_demand.evaluation import (
    assumed_change,
    error_process_from_table,
    gemeente_kind,
    simulate_level_deviations,
)
from assen_demand.housing import care, dwellings
from assen_demand.housing import blocks
from assen_demand.housing.chain import stock_and_opgave
from assen_demand.housing.need import NEED_PARTS

__all__ = [
    "QUANTILES",
    "ParameterDraws",
    "DemographicDraws",
    "ForecastDraws",
    "demographic_draws",
    "simulate_population",
    "simulate_forecast",
    "quantile_name",
]

_Z95 = 1.6448536269514722  # standard normal 95 % quantile: low/high are the 5 %/95 % points
_TFR_WINDOW = 30  # years of WPP estimates for the sd of yearly TFR changes
_DISPERSION = "migration_dispersion.csv"
# single-year age 0..100 -> KWB band 0..4
_BAND_OF_AGE = np.searchsorted(_KWB_EDGES, np.asarray(AGES), side="right") - 1
# cells per chunk of draws projected together (the housing chain then runs in blocks of
# _BLOCK_DRAWS). Since the chunks reuse engine inputs aligned once (_chunk_engines) a chunk costs
# little set-up, and a smaller one holds fewer population-sized temporaries. Assen, 1,000 draws
# (issue 20, load 10-14): 1M cells (26 draws) peak 639 MB / 16.0 CPU s, 400k 610 MB / 13.8 s,
# 200k 591 MB / 17.1 s; in simulate_forecast rounded down to whole blocks (8 draws for Assen)
_CHUNK_CELLS = 400_000
#: working dtype of the housing chain's single-age layers in the draws (housing/blocks.py)
CHAIN_DTYPE = np.float32
# draws per life table in demographic_draws (bounds its temporaries)
_LIFE_TABLE_DRAWS = 100
# draws per block of the housing chain: a block's ~22 single-age layers stay in the L3 cache.
# 4 rather than 8 since issue 20's memory goal: the same CPU (run_block 3.6-4.0 s for 1,000
# Assen draws either way, load 10), 16 MB less peak (559 vs 575 MB)
_BLOCK_DRAWS = 4
#: threads of the draws' chunk loop by default (simulate_forecast)
_DRAW_THREADS = 2


def _seed_entropy(seed) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.entropy)
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidValueError(f"seed must be a non-negative integer or None (got {seed!r})")
    return int(np.random.SeedSequence(seed).entropy)


def _check_draws(draws) -> int:
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise InvalidValueError(f"draws must be a whole number >= 1 (got {draws!r}); use draws=0 in forecast() for none")
    return int(draws)


# --------------------------------------------------------------------------------------------
# parameters drawn from their low/central/high range
# --------------------------------------------------------------------------------------------


_LOG_FLOAT_MAX = float(np.log(np.finfo(np.float64).max))


def _split_normal(low: np.ndarray, central: np.ndarray, high: np.ndarray, z: np.ndarray, *, share: bool) -> np.ndarray:
    """Values (draw, ...) with ``central`` as median and ``low``/``high`` as 5 %/95 % points."""
    zz = z.reshape((-1,) + (1,) * central.ndim) / _Z95
    if share:
        ok = (low > 0) & (high < 1)
        fwd, back = logit, expit
    else:
        ok = low > 0
        fwd, back = np.log, np.exp
    safe = 0.5 if share else 1.0  # any value the transform accepts; masked out below
    g_low, g_cen, g_high = (fwd(np.where(ok, a, safe)) for a in (low, central, high))
    # The same operations as g_cen + where(...) * zz etc., written into two draw-sized buffers in
    # place (IEEE sums and products commute, so the values are the same bits): 10 temporaries of
    # (draw, sex, age, year) were 0.27 GB for 1,000 draws of a table with years (issue 20).
    up = zz >= 0
    transformed = np.where(up, g_high - g_cen, g_cen - g_low)
    transformed *= zz
    transformed += g_cen
    if not share:
        # a range spanning hundreds of orders of magnitude (low near the smallest float) would
        # overflow exp to inf at a large draw; the largest finite float keeps the draws finite and
        # monotone in z, and no bundled range comes near it (Hypothesis found low = cen = 2.2e-308)
        np.minimum(transformed, _LOG_FLOAT_MAX, out=transformed)
    back(transformed, out=transformed)
    linear = np.where(up, high - central, central - low)
    linear *= zz
    linear += central
    np.clip(linear, 0.0, 1.0 if share else np.inf, out=linear)
    np.copyto(linear, transformed, where=np.broadcast_to(ok, linear.shape))
    del transformed
    # exactly the central value where the range or the draw is zero (no round trip through the transform)
    np.copyto(linear, np.broadcast_to(central, linear.shape), where=(zz == 0) | (low == high))
    return linear


@summary_repr
class ParameterDraws:
    """Care and dwelling parameters drawn per Monte Carlo draw, passed as ``variant=``.

    Any function of :mod:`assen_demand.housing.households`, :mod:`assen_demand.housing.care` and
    :mod:`assen_demand.housing.dwellings` that takes ``variant="central"`` also takes an instance of this
    class; :func:`assen_demand.parameters.banded_to_dataarray` and
    :func:`~assen_demand.parameters.scalar_parameter` then return values with a leading ``draw``
    dimension (see the module notes for the distribution).

    Parameters
    ----------
    draws : int
        Total number of draws.
    seed : int
        Seed; each parameter's standard normals come from ``SeedSequence([seed, crc32(key)])``
        with key ``"table|indicator|extra keys"``, so a value does not depend on which other
        parameters were drawn first.
    zero_width : bool
        Every draw takes the central value.
    labels : sequence of int, optional
        The draws this object returns (a chunk); default all ``range(draws)``.

    Examples
    --------
    >>> from assen_demand.housing import care
    >>> p = ParameterDraws(draws=500, seed=1)
    >>> dem = care.prevalence("dementia", variant=p)
    >>> dem.dims, dem.sizes["draw"]
    (('draw', 'sex', 'age'), 500)
    >>> central = float(care.prevalence("dementia").sel(sex="female", age=85))
    >>> float(dem.sel(sex="female", age=85).median()) == central
    False
    >>> abs(float(dem.sel(sex="female", age=85).median()) / central - 1) < 0.02
    True
    """

    def __init__(self, *, draws: int, seed: int, zero_width: bool = False, labels: Sequence[int] | None = None,
                 _shared: dict | None = None) -> None:
        self.draws = _check_draws(draws)
        self.seed = _seed_entropy(seed)
        self.zero_width = bool(zero_width)
        self.labels = np.arange(self.draws) if labels is None else np.asarray(labels, dtype=int)
        # ranges and normals are shared with the chunks made by subset()
        self._shared = _shared if _shared is not None else {"ranges": {}, "z": {}}

    def __str__(self) -> str:
        width = ", zero width" if self.zero_width else ""
        return f"draws(n={self.draws}, seed={self.seed}{width})"

    def subset(self, labels: Sequence[int]) -> ParameterDraws:
        """The same draws restricted to ``labels`` (a chunk)."""
        return ParameterDraws(draws=self.draws, seed=self.seed, zero_width=self.zero_width, labels=labels,
                              _shared=self._shared)

    def normals(self, key: str) -> np.ndarray:
        """Standard normals (draw,) of one parameter, for this object's draws."""
        z = self._shared["z"].get(key)
        if z is None:
            if self.zero_width:
                z = np.zeros(self.draws)
            else:
                rng = np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(key.encode("utf-8"))]))
                z = rng.standard_normal(self.draws)
            self._shared["z"][key] = z
        return z[self.labels]

    def _draw_coord(self) -> dict:
        return {"draw": self.labels}

    def banded_to_dataarray(self, frame: pd.DataFrame, *, indicator: str, years=None, ages=AGES, sexes=SEXES,
                            fill=None, table: str = "<table>", **keys) -> xr.DataArray:
        """Like :func:`assen_demand.parameters.banded_to_dataarray`, one value per draw.

        Returns
        -------
        xarray.DataArray (draw, sex, age[, year]) [unit of the parameter]
        """
        years_key = None if years is None else tuple(int(y) for y in years)
        cache_key = (table, indicator, tuple(sorted(keys.items())), years_key, tuple(ages), tuple(sexes), fill)
        ranges = self._shared["ranges"]
        if cache_key not in ranges:
            ranges[cache_key] = tuple(
                banded_to_dataarray(frame, indicator=indicator, variant=v, years=years_key, ages=ages, sexes=sexes,
                                    fill=fill, table=table, **keys)
                for v in ("low", "central", "high")
            )
        low, central, high = ranges[cache_key]
        key = "|".join([table, indicator] + [f"{k}={v}" for k, v in sorted(keys.items())])
        share = str(central.attrs.get("unit", "")).strip().lower().startswith("share")
        values = _split_normal(low.values, central.values, high.values, self.normals(key), share=share)
        return xr.DataArray(values, dims=("draw", *central.dims), coords={**self._draw_coord(), **central.coords},
                            name=central.name, attrs={**central.attrs, "variant": str(self)})

    def scalar_parameter(self, frame: pd.DataFrame, *, indicator: str, table: str = "<table>") -> xr.DataArray:
        """Like :func:`assen_demand.parameters.scalar_parameter`, one value per draw.

        Returns
        -------
        xarray.DataArray (draw) [unit of the parameter]
        """
        low, central, high = (np.asarray(scalar_parameter(frame, indicator=indicator, variant=v, table=table))
                              for v in ("low", "central", "high"))
        unit = str(frame.loc[frame["indicator"] == indicator, "unit"].iloc[0]).strip().lower()
        values = _split_normal(low, central, high, self.normals(f"{table}|{indicator}"), share=unit.startswith("share"))
        return xr.DataArray(values, dims=("draw",), coords=self._draw_coord(), name=indicator)


# --------------------------------------------------------------------------------------------
# demographic draws: small arrays, all made before the first chunk
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True, eq=False)
class DemographicDraws:
    """The random demographic inputs of ``draws`` projections, and how they were sized.

    Attributes
    ----------
    survival : xarray.DataArray (draw, sex, age, year) [probability]
    births_survival : xarray.DataArray (draw, sex, year) [probability]
    fertility : xarray.DataArray (draw, age, year) [births per woman-year]
    migration_shift : xarray.DataArray (draw, year) [net migrants per year]
        Added to the gemeente's assumed net migration.
    band_migration : xarray.DataArray (draw, area, band, year) [net migrants per year]
        Deviation of each area's net migration per KWB band (``band`` = lower age 0, 15, 25, 45,
        65); the gemeente (first) sums to zero over the bands.
    settings : pandas.DataFrame
        ``component, quantity, value, unit, basis``: every sd used, for the report.
    seed : int
    zero_width : bool
    """

    survival: xr.DataArray
    births_survival: xr.DataArray
    fertility: xr.DataArray
    migration_shift: xr.DataArray
    band_migration: xr.DataArray
    settings: pd.DataFrame
    seed: int
    zero_width: bool

    @property
    def draws(self) -> int:
        return int(self.survival.sizes["draw"])


def _tfr_log_sd(data, base_year: int) -> tuple[float, str]:
    est = data.wpp_tfr[(data.wpp_tfr["variant"] == "estimate") & (data.wpp_tfr["year"] < base_year)]
    series = est.set_index("year")["tfr"].sort_index().iloc[-(_TFR_WINDOW + 1):]
    if len(series) < 6:
        raise InvalidValueError(f"fewer than 6 WPP TFR estimates before {base_year}; cannot size the TFR random walk")
    steps = np.diff(np.log(series.to_numpy(float)))
    return float(np.std(steps, ddof=1)), f"WPP 2024 TFR estimates {int(series.index[0])}-{int(series.index[-1])}"


def _migration_process(dynamics: pd.DataFrame, gemeente: str, base_year: int, population: float):
    # the growth class uses the level the projection assumes; a gemeente without five years of
    # flows (a recent merger) is classed as stable
    level = assumed_change(dynamics, gemeente, base_year)
    rate = np.nan if level is None else level / population
    kind = gemeente_kind(gemeente, population, rate)
    basis = f"kind {kind} (population {population:,.0f}, assumed growth " + (
        "unknown" if level is None else f"{rate:+.2%} a year") + "); forecast_error_distribution.csv"
    return error_process_from_table(kind), basis


def _dispersion() -> tuple[np.ndarray, np.ndarray]:
    table = migration_dispersion()
    return table["allocation"].to_numpy(float), table["year"].to_numpy(float)


def demographic_draws(projection, *, data, draws: int, seed=None, zero_width: bool = False) -> DemographicDraws:
    """Draw mortality, fertility and migration inputs for ``draws`` projections.

    Parameters
    ----------
    projection : assen_demand.pipeline.PopulationProjection
        The central projection (its components and base population; ``mortality="lee_carter"``).
    data : assen_demand.inputs.datasets.GemeenteData
        Its inputs; only what was known at the base year is used (``data.as_of``).
    draws : int
    seed : int, optional
        ``None`` draws fresh entropy (recorded in the result).
    zero_width : bool
        Every sd zero: all draws equal the central inputs.

    Returns
    -------
    DemographicDraws
    """
    draws = _check_draws(draws)
    entropy = _seed_entropy(seed)
    comps = projection.components
    base_year, gm = projection.base_year, projection.gemeente
    if comps.lee_carter is None:
        raise InvalidValueError(
            "Monte Carlo draws need mortality='lee_carter' (the WPP medium variant has no stochastic paths); "
            "drop mortality='wpp_medium' or run without draws"
        )
    known = data.as_of(base_year)
    ss_lc, ss_smr, ss_tfr, ss_fert, ss_mig, ss_wijk = np.random.SeedSequence(entropy).spawn(6)
    width = 0.0 if zero_width else 1.0
    rows = []

    # mortality
    fit = comps.lee_carter
    if zero_width:
        fit = replace(fit, sigma=fit.sigma * 0.0, drift_se=fit.drift_se * 0.0)
    years = np.asarray(comps.survival["year"].values, dtype=int)
    later = years[years + 0.5 > fit.last_time]
    mx = comps.national_mx.sel(year=years).expand_dims(draw=np.arange(draws)).copy()
    if later.size:
        sim = fit.simulate(later, draws=draws, seed=ss_lc)
        mx.loc[dict(year=later)] = sim.transpose(*mx.sel(year=later).dims)
    if comps.smr is not None:
        smr_sd = width / np.sqrt(comps.smr.observed + comps.smr.prior_shape)
        level = comps.smr.shrunk * np.exp(smr_sd * np.random.default_rng(ss_smr).standard_normal(draws))
    else:
        smr_sd, level = 0.0, np.ones(draws)
    mx = mx * xr.DataArray(level, dims="draw", coords={"draw": np.arange(draws)})
    # the life table a block of draws at a time: it holds about a dozen (draw, sex, age, year)
    # temporaries, 0.35 GB at once for 1,000 draws (each draw's table is its own, so the blocks
    # change nothing)
    mx = mx.transpose("draw", "sex", "age", "year")
    tables = [survival_ratios(life_table(mx.isel(draw=slice(i, i + _LIFE_TABLE_DRAWS))))
              for i in range(0, draws, _LIFE_TABLE_DRAWS)]
    surv = xr.concat([t[0] for t in tables], dim="draw") if len(tables) > 1 else tables[0][0]
    bsurv = xr.concat([t[1] for t in tables], dim="draw") if len(tables) > 1 else tables[0][1]
    del tables
    rows += [("mortality", "Lee-Carter sigma (male, female)", ", ".join(f"{v:.3f}" for v in fit.sigma.values),
              "per sqrt(year)", "fitted on WPP 2024 periods"),
             ("mortality", "Lee-Carter drift se (male, female)", ", ".join(f"{v:.3f}" for v in fit.drift_se.values),
              "per year", "fitted on WPP 2024 periods"),
             ("mortality", "SMR log-sd", f"{smr_sd:.4f}", "1", "gamma posterior of the local SMR")]

    # fertility
    tfr_sd, tfr_basis = _tfr_log_sd(known, base_year)
    tfr_sd *= width
    steps = np.random.default_rng(ss_tfr).standard_normal((draws, years.size))
    ratio = np.clip(np.exp(tfr_sd * np.cumsum(steps, axis=1)), 0.5, 2.0)
    if comps.fertility_level is not None:
        fert_sd = width / np.sqrt(max(comps.fertility_level.observed, 1.0))
    else:
        fert_sd = 0.0
    factor = np.exp(fert_sd * np.random.default_rng(ss_fert).standard_normal(draws))
    fert = comps.fertility.isel(area=0, drop=True).transpose("age", "year")
    fertility = fert * xr.DataArray(ratio * factor[:, None], dims=("draw", "year"),
                                    coords={"draw": np.arange(draws), "year": years})
    rows += [("fertility", "TFR random walk log-sd", f"{tfr_sd:.4f}", "per year", tfr_basis),
             ("fertility", "local factor log-sd", f"{fert_sd:.4f}", "1", "observed births (CBS 37259)")]

    # migration, gemeente: a persistent deviation (level error + AR(1)) sized by the rolling-origin errors
    gm_pop = float(projection.base.population.sel(area=gm).sum())
    process, mig_basis = _migration_process(known.dynamics, gm, base_year, gm_pop)
    dev = simulate_level_deviations(process, years=years.size, draws=draws, rng=np.random.default_rng(ss_mig),
                                    width=width)
    shift = gm_pop * dev
    rows += [("migration", "gemeente level error sd", f"{width * process.sigma_level * gm_pop:.1f}",
              "net migrants per year", mig_basis),
             ("migration", "gemeente yearly AR(1) sd", f"{width * process.sigma_year * gm_pop:.1f}",
              "net migrants per year", mig_basis),
             ("migration", "gemeente yearly AR(1) persistence", f"{process.phi:.3f}", "1", mig_basis),
             ("migration", "gemeente level error mean (drift)", f"{width * process.drift * gm_pop:+.1f}",
              "net migrants per year", mig_basis)]

    # migration by KWB band: the gemeente (age pattern only) and each wijk
    phi_alloc, phi_year = _dispersion()
    pop = projection.base.population
    areas = [gm] + [str(a) for a in pop["area"].values if a != gm]
    band_pop = np.zeros((len(areas), len(_KWB_EDGES) - 1))
    by_age = pop.sel(area=areas).sum("sex").transpose("area", "age").values
    np.add.at(band_pop.T, _BAND_OF_AGE, by_age.T)
    res = comps.migration_residuals
    pairs = res.groupby("area")["year"].nunique() if len(res) else pd.Series(dtype=float)
    k = pairs.reindex(areas).fillna(0).to_numpy(float)
    # a mean of k observed pairs is uncertain by phi_year / k; without pairs the migration is an
    # allocation (gemeente: a model age profile; wijk: a population share), uncertain by the rest.
    # Wijk means shrunk toward the allocation (migration.shrink_wijk_residuals) have the
    # posterior variance of the random-effects model: s2 (phi_year / k) / (s2 + phi_year / k).
    signal = np.maximum(phi_alloc - phi_year, 0.0)[None, :]
    mean_noise = phi_year[None, :] / np.maximum(k[:, None], 1.0)
    shrunk = "shrinkage_weight" in res.columns
    is_wijk = np.array([a != gm for a in areas])[:, None]
    posterior = shrinkage_weight(phi_alloc[None, :], phi_year[None, :], k[:, None]) * mean_noise
    with_pairs = np.where(shrunk & is_wijk, posterior, mean_noise)
    persistent = np.where(k[:, None] > 0, with_pairs, np.broadcast_to(signal, with_pairs.shape))
    rng = np.random.default_rng(ss_wijk)
    u = rng.standard_normal((draws, len(areas), band_pop.shape[1]))
    e = rng.standard_normal((draws, len(areas), band_pop.shape[1], years.size))
    noise = width * (np.sqrt(persistent * band_pop)[None, :, :, None] * u[..., None]
                     + np.sqrt(phi_year[None, :] * band_pop)[None, :, :, None] * e)
    # wijk rows: the running sum of the deviations scaled per band and horizon, factors estimated on
    # stochastic hindcasts of the Drenthe wijken (evaluation.wijk_interval_scale; the gemeente row is not scaled)
    wijk_scale = wijk_interval_scale()
    noise[:, 1:] = scale_cumulative_deviation(noise[:, 1:], wijk_scale.to_numpy(float))
    # the gemeente's total is drawn above from CBS 37259: its band deviations only move migrants between ages
    share = band_pop[0] / max(band_pop[0].sum(), 1.0)
    noise[:, 0] -= noise[:, 0].sum(axis=1, keepdims=True) * share[None, :, None]
    rows += [("migration", f"band dispersion phi_alloc, ages {b}+", f"{a:.3f}", "persons^2 per person per year",
              _DISPERSION) for b, a in zip(_KWB_EDGES[:-1], phi_alloc)]
    rows += [("migration", f"band dispersion phi_year, ages {b}+", f"{a:.3f}", "persons^2 per person per year",
              _DISPERSION) for b, a in zip(_KWB_EDGES[:-1], phi_year)]
    rows += [("migration", f"wijk interval scale, ages {b}+", ", ".join(f"{v:.2f}" for v in wijk_scale.loc[b]),
              "1 (horizon 1, 2, ...; later horizons the last)", "wijk_interval_scale.csv") for b in wijk_scale.index]
    rows += [("migration", "areas with earlier KWB pairs", f"{int((k > 0).sum())} of {len(areas)}", "",
              "migration_residuals of the components")]

    draw = {"draw": np.arange(draws)}
    return DemographicDraws(
        survival=surv.transpose("draw", "sex", "age", "year").rename("survival"),
        births_survival=bsurv.transpose("draw", "sex", "year").rename("births_survival"),
        fertility=fertility.transpose("draw", "age", "year").rename("fertility"),
        migration_shift=xr.DataArray(shift, dims=("draw", "year"), coords={**draw, "year": years}),
        band_migration=xr.DataArray(noise, dims=("draw", "area", "band", "year"),
                                    coords={**draw, "area": areas, "band": _KWB_EDGES[:-1], "year": years}),
        settings=pd.DataFrame(rows, columns=["component", "quantity", "value", "unit", "basis"]),
        seed=entropy,
        zero_width=bool(zero_width),
    )


# --------------------------------------------------------------------------------------------
# the projection of a chunk of draws
# --------------------------------------------------------------------------------------------


def _standard_profile(pop: np.ndarray) -> np.ndarray:
    w = rogers_castro(AGES, RC_FUNDAMENTAL)[None, :] * pop
    total = w.sum(axis=-1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / len(AGES))


@dataclass(frozen=True, eq=False)
class _MigrationLayout:
    counts: np.ndarray  # (area, sex, age, year) central counts, gemeente first
    profile: np.ndarray  # (sex, age) the gemeente's standard profile, sums to 1 over age
    wijk_share: np.ndarray  # (wijk, sex, age) share of the wijken's population
    band_frac: np.ndarray  # (area, sex, age) share of the area's band population, gemeente first


def _migration_layout(projection) -> _MigrationLayout:
    comps = projection.components
    gm = projection.gemeente
    areas = [str(a) for a in comps.net_migration["area"].values]
    order = [gm] + [a for a in areas if a != gm]
    counts = comps.net_migration.sel(area=order).transpose("area", "sex", "age", "year").values
    pop = projection.base.population.sel(area=order).transpose("area", "sex", "age").values.astype(float)
    wijk = pop[1:]
    total = wijk.sum(axis=0, keepdims=True)
    share = np.where(total > 0, wijk / np.where(total > 0, total, 1.0), 1.0 / max(len(wijk), 1))
    band_tot = np.zeros((len(pop), len(_KWB_EDGES) - 1))
    np.add.at(band_tot.T, _BAND_OF_AGE, pop.sum(axis=1).T)
    denom = band_tot[:, None, _BAND_OF_AGE]
    frac = np.where(denom > 0, pop / np.where(denom > 0, denom, 1.0), 0.0)
    return _MigrationLayout(counts=counts, profile=_standard_profile(pop[0]), wijk_share=share, band_frac=frac)


@dataclass(frozen=True, eq=False)
class _ChunkEngines:
    """The engine inputs of every chunk, aligned by label once for all draws (issue 20).

    ``template`` is :func:`~assen_demand.demography.engine.prepare_engine` of the base population
    (gemeente first, then the wijken) with all draws' survival, fertility and births survival;
    a chunk takes its draws' rows of these arrays and its own migration. Aligning every chunk
    with ``project`` cost ~0.1 s of xarray bookkeeping per chunk for ~0.03 s of engine work.
    """

    template: Engine
    areas: list  # gemeente, then the wijken: the engine's area order
    order: np.ndarray  # positions in ``areas`` of the central projection's areas
    central_wijken: np.ndarray | None  # (wijk, sex, age, year) combined method: the central wijken
    cohort_wijken: np.ndarray | None  # (wijk, sex, age, year) ... and their cohort-component projection
    migration_shift: np.ndarray  # (draw, year) DemographicDraws.migration_shift
    band_migration: np.ndarray  # (draw, area, band, year) DemographicDraws.band_migration


def _chunk_engines(projection, demo: DemographicDraws) -> _ChunkEngines:
    gm = projection.gemeente
    base = projection.base.population
    areas = [gm] + [str(a) for a in base["area"].values if a != gm]
    # migration is each chunk's own; the template carries the central counts only to be valid
    inputs = ProjectionInputs(survival=demo.survival, births_survival=demo.births_survival,
                              fertility=demo.fertility, sex_ratio_at_birth=projection.components.sex_ratio_at_birth,
                              net_migration=projection.components.net_migration)
    template = prepare_engine(base.sel(area=areas), inputs, projection.base_year, projection.end_year, None)
    central_areas = [str(a) for a in projection.population["area"].values]
    order = np.asarray([areas.index(a) for a in central_areas])
    central_w = cohort_w = None
    if projection.method == "combined" and len(areas) > 1:
        cohort = projection.notes.get("cohort_component_projection")
        if cohort is None:
            raise MissingDataError("a 'combined' projection without its cohort-component wijken in notes; project "
                                   "it again with project_population(method='combined')")
        dims = ("area", "sex", "age", "year")
        central_w = projection.population.sel(area=areas[1:]).transpose(*dims).values
        cohort_w = cohort.sel(area=areas[1:]).transpose(*dims).values
    # with these the chunks need nothing else of ``demo`` (its survival and fertility draws,
    # 41 MB for 1,000 draws, can go before the chunks run: issue 20's peak)
    return _ChunkEngines(template=template, areas=areas, order=order, central_wijken=central_w,
                         cohort_wijken=cohort_w, migration_shift=demo.migration_shift.values,
                         band_migration=demo.band_migration.values)


def _engine_of_chunk(template: Engine, idx: np.ndarray, areas: slice, migration: np.ndarray,
                     ctrl: np.ndarray | None = None) -> Engine:
    """``template`` restricted to the draws ``idx`` and the areas ``areas``, with its own migration
    (draw, area, sex, age, year) and control: the arrays prepare_engine gives for that chunk."""
    def rows(a):
        return a[:, idx] if a.shape[1] > 1 else a

    fert = rows(template.fert)
    # as prepare_engine: fertility trimmed to the ages where some draw of the chunk has births
    nonzero = np.nonzero(fert.reshape(-1, fert.shape[-1]).any(axis=0))[0]
    first, last = (int(nonzero[0]), int(nonzero[-1]) + 1) if len(nonzero) else (0, 0)
    lo, hi = (template.lo + first, template.lo + last) if len(nonzero) else (1, 1)
    return replace(
        template, labels={**template.labels, "draw": pd.Index(idx), "area": template.labels["area"][areas]},
        has_draw=True, base=template.base[:, areas], surv=rows(template.surv),
        fert=np.ascontiguousarray(fert[..., first:last]), lo=lo, hi=hi, infants=rows(template.infants),
        mig=np.ascontiguousarray(np.moveaxis(migration, -1, 0), dtype=np.float64), ctrl=ctrl,
    )


def _project_chunk(layout: _MigrationLayout, engines: _ChunkEngines, idx: np.ndarray) -> tuple[np.ndarray, float]:
    """Population draws ``idx``: (draw, area, sex, age, year) [persons] in the central projection's
    area order, and the persons clipped."""
    # half of the gemeente's shift to each sex, along its migration profile, plus its age-pattern deviation
    noise = engines.band_migration[idx][:, :, _BAND_OF_AGE, :]  # (draw, area, age, year)
    noise = noise[:, :, None, :, :] * layout.band_frac[None, :, :, :, None]  # (draw, area, sex, age, year)
    half = engines.migration_shift[idx][:, None, None, :] / 2.0 * layout.profile[None, :, :, None] + noise[:, 0]
    gm_counts = layout.counts[0][None] + half
    template = engines.template
    gm_out, clipped = run_prepared(_engine_of_chunk(template, idx, slice(0, 1), gm_counts[:, None]))
    gm_pop = np.moveaxis(gm_out, 0, -1)  # (draw, 1, sex, age, year), a view
    if len(engines.areas) == 1:
        return np.ascontiguousarray(gm_pop), clipped
    wijk_counts = layout.counts[1:][None] + half[:, None] * layout.wijk_share[None, :, :, :, None] + noise[:, 1:]
    # the wijken constrained to the gemeente's projected years (year, draw, sex, age)
    wijk_out, more = run_prepared(_engine_of_chunk(template, idx, slice(1, None), wijk_counts, ctrl=gm_out[1:, :, 0]))
    clipped += more
    wijk_pop = np.moveaxis(wijk_out, 0, -1)
    if engines.central_wijken is not None:
        wijk_pop, gm_pop, more = _combined_draws(wijk_pop, engines.central_wijken, engines.cohort_wijken)
        clipped += more
    population = np.concatenate([gm_pop, wijk_pop], axis=1)
    if not np.array_equal(engines.order, np.arange(len(engines.order))):
        population = population[:, engines.order]
    return population, clipped


def _combined_draws(wijk_pop: np.ndarray, central: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Draws of the combined wijken (issue 18): the central combination plus each draw's deviation
    from the central cohort-component wijken.

    The draws' spread is that of the cohort-component engine, whose wijk intervals are calibrated
    (``wijk_interval_scale.csv``); combining each draw as the centre is would shrink it by the
    weight of the naive part, which has no spread. A zero-width draw is the central combination.
    Cells below zero are set to zero and counted as clipped. The gemeente is the sum of its wijken.

    Parameters
    ----------
    wijk_pop : numpy.ndarray (draw, wijk, sex, age, year) [persons]
        Cohort-component draws of the wijken.
    central, cohort : numpy.ndarray (wijk, sex, age, year) [persons]
        The central combined wijken and their central cohort-component projection.

    Returns
    -------
    wijken (draw, wijk, sex, age, year), gemeente (draw, 1, sex, age, year), clipped [persons]
    """
    out = central + (wijk_pop - cohort)
    clipped = float(-out[out < 0].sum())
    np.clip(out, 0.0, None, out=out)
    return out, out.sum(axis=1, keepdims=True), clipped


def _check_threads(threads) -> int:
    if threads is None:
        return threads_here(_DRAW_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise InvalidValueError(f"threads must be a whole number >= 1 (got {threads!r})")
    return int(threads)


def _map_chunks(run_chunk, chunks: list[np.ndarray], threads: int, bar) -> list:
    """``run_chunk(idx)`` of every chunk, in chunk order, on ``threads`` threads (checked by the
    caller, :func:`_check_threads`); ``bar`` counts the draws done."""
    if threads == 1 or len(chunks) == 1:
        results = []
        for idx in chunks:
            results.append(run_chunk(idx))
            bar.update(len(idx))
        return results
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(threads, len(chunks)))
    try:
        futures = [pool.submit(run_chunk, idx) for idx in chunks]
        results = []
        for idx, future in zip(chunks, futures):
            results.append(future.result())
            bar.update(len(idx))
    finally:
        # on an error the chunks not started are dropped rather than run to no purpose
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _chunks(draws: int, cells_per_draw: int, chunk_size: int | None, multiple: int = 1) -> list[np.ndarray]:
    size = chunk_size if chunk_size is not None else max(1, _CHUNK_CELLS // max(cells_per_draw, 1))
    if chunk_size is None:  # whole blocks of the housing chain
        size = max(multiple, size // multiple * multiple)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidValueError(f"chunk_size must be a whole number >= 1 (got {chunk_size!r})")
    return [np.arange(i, min(i + size, draws)) for i in range(0, draws, size)]


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="draw", desc=desc, disable=not enabled, leave=False)


def simulate_population(
    projection,
    *,
    data,
    draws: int,
    seed=None,
    zero_width: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
) -> xr.DataArray:
    """Stochastic population projections (demographic uncertainty only).

    Parameters
    ----------
    projection : assen_demand.pipeline.PopulationProjection
        The central (cohort-component) projection.
    data : assen_demand.inputs.datasets.GemeenteData
        Its inputs.
    draws : int
        Number of draws.
    seed : int, optional
        Same seed, bit-identical result.
    zero_width : bool
        Every sd zero (each draw then equals ``projection.population``).
    progress : bool
        Show a tqdm progress bar over the chunks of draws.
    chunk_size : int, optional
        Draws per chunk (memory bound only; the draws do not depend on it, the rounding of the
        engine's batched sums does, at 1e-14 relative). Default: about 400,000 cells a chunk.

    Returns
    -------
    xarray.DataArray (draw, area, sex, age, year) [persons]
        Attributes ``seed`` and ``clipped_persons`` (total over draws, see
        :class:`assen_demand.demography.projection.ProjectionReport`).
    """
    demo = demographic_draws(projection, data=data, draws=draws, seed=seed, zero_width=zero_width)
    layout = _migration_layout(projection)
    engines = _chunk_engines(projection, demo)
    shape = projection.population.transpose("area", "sex", "age", "year").shape
    out = np.empty((demo.draws, *shape))
    clipped = 0.0
    bar = _progress(demo.draws, progress, "population draws")
    with bar:
        for idx in _chunks(demo.draws, int(np.prod(shape)), chunk_size):
            pop, clip = _project_chunk(layout, engines, idx)
            out[idx] = pop
            clipped += clip
            bar.update(len(idx))
    coords = {"draw": np.arange(demo.draws), **{d: projection.population[d].values for d in ("area", "sex", "age", "year")}}
    return xr.DataArray(out, dims=("draw", "area", "sex", "age", "year"), coords=coords, name="persons",
                        attrs={"units": "persons", "seed": demo.seed, "clipped_persons": clipped})


# --------------------------------------------------------------------------------------------
# the whole chain
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True, eq=False)
class ForecastDraws:
    """Monte Carlo draws of a forecast, aggregated where single ages are not needed.

    Attributes
    ----------
    population : xarray.DataArray (draw, area, sex, age, year) [persons]
    households : xarray.Dataset (draw, area, year)
        ``households``, ``institutional``, ``alone``, ``private`` [households, persons].
    care_need : xarray.DataArray (draw, area, indicator, year) [persons]
        Summed over sex and age.
    dwellings : xarray.Dataset (draw, area, dwelling_type, year, model)
        ``need`` and ``gap`` (= need - supply, NaN where supply is unknown and for the norm
        model) [dwellings].
    doorstroming : xarray.DataArray (draw, area, year) [family homes freed per year]
    need : xarray.Dataset (draw, area, dwelling_type, year)
        ``care``, ``preference``, ``total`` [households / places] per draw
        (:func:`assen_demand.housing.need.dwelling_need_parts`).
    opgave : xarray.Dataset (area, dwelling_type, year, draw) or None
        The chain's opgave per draw (:func:`assen_demand.housing.opgave.compute_opgave`) when
        stock inputs were given; stock and backlog are central.
    settings : pandas.DataFrame
        Every sd and distribution used (``component, quantity, value, unit, basis``).
    seed : int
        The seed (entropy) that reproduces these draws.
    zero_width : bool
    clipped_persons : float
        Persons clipped by the engine over all draws and years (net out-migration larger
        than a cohort; noisy wijk migration clips a few thin old-age cells).

    Examples
    --------
    ``fc = forecast(draws=1000, seed=1)``; ``fc.uncertainty.quantiles("dwellings")`` gives the
    Dataset (quantile, area, dwelling_type, year, model); ``fc.to_frame("dwellings")`` has the
    columns ``need_q05, need_q50, need_q95, gap_q05, ...`` next to the central ``need``/``gap``.
    """

    population: xr.DataArray
    households: xr.Dataset
    care_need: xr.DataArray
    dwellings: xr.Dataset
    doorstroming: xr.DataArray
    settings: pd.DataFrame = field(repr=False)
    seed: int = 0
    zero_width: bool = False
    clipped_persons: float = 0.0
    need: xr.Dataset | None = None
    opgave: xr.Dataset | None = field(default=None, repr=False)
    # quantiles already taken, by (table, probabilities): the draws do not change after the run
    _quantiles: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def draws(self) -> int:
        return int(self.population.sizes["draw"])

    def _summary_title(self) -> str:
        return f"{self.draws} draws, seed {self.seed}" + (" (zero width)" if self.zero_width else "")

    def quantiles(self, name: str = "dwellings", q: Sequence[float] = QUANTILES) -> xr.DataArray | xr.Dataset:
        """Quantiles over the draws of one table, with a ``quantile`` dim first.

        Parameters
        ----------
        name : {"population", "households", "care_need", "dwellings", "doorstroming", "need"}
        q : sequence of float
            Probabilities in [0, 1].

        Returns
        -------
        xarray.DataArray or xarray.Dataset
            The table's dims without ``draw``, with ``quantile`` (linear interpolation between
            order statistics, so q05 <= q50 <= q95 everywhere).
        """
        tables = ("population", "households", "care_need", "dwellings", "doorstroming", "need")
        if name not in tables or getattr(self, name) is None:
            raise KeyError(f"no draws of {name!r}; quantiles exist for {', '.join(tables)}")
        q = [float(v) for v in q]
        if any(not 0 <= v <= 1 for v in q):
            raise InvalidValueError(f"quantiles {q} must lie in [0, 1] (0.05, not 5)")
        key = (name, tuple(q))
        if key not in self._quantiles:
            # kept: the tables, the workbook and the store of one run each ask for the same ones
            self._quantiles[key] = quantiles_over_draws(getattr(self, name), q)
        return self._quantiles[key].copy(deep=True)

    def frame_columns(self, name: str, keys: Sequence[str], q: Sequence[float] = QUANTILES) -> pd.DataFrame:
        """Quantile columns ``<var>_q05, ...`` of a table summed as the central ``to_frame`` is.

        Used by :meth:`assen_demand.pipeline.Forecast.to_frame`; ``keys`` are the index columns.
        """
        quant = self.quantiles(name, q)
        if name == "population":
            quant = quant.rename("persons")
        ds = quant.to_dataset() if isinstance(quant, xr.DataArray) else quant
        parts = []
        for qv in quant["quantile"].values:
            sub = ds.sel(quantile=qv, drop=True)
            frame = sub.to_dataframe().reset_index()
            frame = frame.rename(columns={v: f"{v}_{quantile_name(qv)}" for v in sub.data_vars})
            parts.append(frame.set_index(list(keys)))
        return pd.concat(parts, axis=1).reset_index()


def simulate_forecast(
    projection,
    *,
    data,
    draws: int,
    seed=None,
    zero_width: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
    supply: xr.DataArray | None = None,
    one_person_households=None,
    institutional_multiplier: xr.DataArray | float | None = None,
    prevalence_trend: Mapping[str, float] | None = None,
    trend_start: int | None = None,
    parameters=None,
    stock_inputs=None,
    threads: int | None = None,
) -> ForecastDraws:
    """Monte Carlo draws of population, households, care need and dwelling need.

    Usually called by :func:`assen_demand.pipeline.forecast` with ``draws=N``; the keywords are
    the same settings the central chain used.

    Parameters
    ----------
    projection : assen_demand.pipeline.PopulationProjection
        The central projection.
    data : assen_demand.inputs.datasets.GemeenteData
        Its inputs.
    draws, seed, zero_width, progress, chunk_size
        See :func:`simulate_population`; ``seed`` also seeds the parameter draws
        (:class:`ParameterDraws`).
    supply : xarray.DataArray (area, dwelling_type, year), optional [dwellings]
        Supply for the gap (NaN = unknown); ``None`` = all unknown.
    one_person_households : pandas.Series (area), optional [households]
        Base-year counts for the living-alone calibration (each draw is calibrated).
    institutional_multiplier : float or xarray.DataArray ([age, ]year), optional [1]
        Scenario factor on the institutional shares and splits.
    prevalence_trend : mapping, optional [relative change per year]
        Scenario trends, see :func:`assen_demand.housing.care.care_need`.
    trend_start : int, optional [year]
    parameters : assen_demand.parameters.ParameterSet, optional
        The tables of the central run (a user's own tables are drawn around their own
        low/central/high); its variant is replaced by the draws. Default the bundled tables.
    stock_inputs : assen_demand.housing.stock.StockInputs, optional
        Data for the chain's stock and opgave steps (one central stock for every draw); the
        result's ``opgave`` then has a ``draw`` dimension.
    threads : int, optional
        Chunks of draws run side by side in this many threads (NumPy releases the GIL in its
        loops, so the cores share the work without copying the inputs). Default: every core,
        at most 2 (each thread adds one chunk's temporaries to the peak), and 1 in a worker
        process of a national run (:func:`assen_demand.processes.threads_here`). The result
        does not depend on it.

    Returns
    -------
    ForecastDraws
    """
    tables = resolve_parameters(parameters)
    threads = _check_threads(threads)

    n, entropy = _check_draws(draws), _seed_entropy(seed)
    central = projection.population.transpose("area", "sex", "age", "year")
    areas = central["area"].values
    years = central["year"].values
    base_year = projection.base_year if one_person_households is not None else None
    central_base = central.sel(year=base_year).values if base_year is not None else None

    demo = demographic_draws(projection, data=data, draws=n, seed=entropy, zero_width=zero_width)
    layout = _migration_layout(projection)
    engines = _chunk_engines(projection, demo)
    # the chunks need only ``engines`` and ``layout``: the survival and fertility draws go now,
    # before the parameter draws (drawing both side by side in two threads saved 0.2-0.5 s of
    # 5 s but raised the peak of 1,000 Assen draws from 565 to 620 MB: issue 20's 600 MB)
    demo_settings, demo_seed = demo.settings, demo.seed
    del demo
    # the housing chain on numpy blocks (housing/blocks.py: the formulas of run_housing_chain,
    # tested against it draw by draw); every parameter drawn once for all draws
    p_all = tables.with_variant(ParameterDraws(draws=n, seed=entropy, zero_width=zero_width))
    coef = blocks.chain_coefficients(p_all, years=years, institutional_multiplier=institutional_multiplier,
                                     prevalence_trend=prevalence_trend, trend_start=trend_start, dtype=CHAIN_DTYPE)
    offset = None
    if base_year is not None:
        # the base population is not drawn: one calibration of living alone for all draws, used
        # for every chunk whose base year equals it (else the chunk is calibrated on its own)
        offset = blocks.living_alone_offset(central_base[None], coef, areas=areas, years=years, base_year=base_year,
                                            one_person_households=one_person_households)
    n_area, n_year = len(areas), len(years)
    # the population draws are kept in float32 (half the memory of the largest array; the
    # quantile error against float64 is below 1e-6 relative, tests/test_speed.py)
    pop_out = np.empty((n, *central.shape), dtype=POPULATION_DTYPE)
    hh_vars = blocks.HOUSEHOLD_SUMS  # ("households", "institutional", "alone", "private")
    hh_out = {v: np.empty((n, n_area, n_year)) for v in hh_vars}
    need_out = np.empty((n, n_area, len(care.INDICATORS), n_year))
    dw_out = np.empty((n, n_area, len(dwellings.DWELLING_TYPES), n_year, 2))
    # the total need is kept once, as the "need" model of the dwellings table
    parts_out = {v: np.empty((n, n_area, len(dwellings.DWELLING_TYPES), n_year)) for v in ("care", "preference")}
    parts_out["total"] = dw_out[..., 0]
    door_out = np.empty((n, n_area, n_year))
    release_freed_memory()

    def run_chunk(idx: np.ndarray) -> float:
        # each chunk writes only its own rows of the outputs, so chunks can run side by side
        values, clip = _project_chunk(layout, engines, idx)
        pop_out[idx] = values
        same_base = offset is not None and np.array_equal(values[..., list(years).index(base_year)],
                                                          np.broadcast_to(central_base, values.shape[:-1]))
        for start in range(0, len(idx), _BLOCK_DRAWS):
            rows = idx[start:start + _BLOCK_DRAWS]
            # the rows just stored in the population's dtype: a view the chain reads in place
            part = blocks.run_block(pop_out[rows[0]:rows[-1] + 1], coef.take(rows), areas=areas, years=years,
                                    one_person_households=one_person_households, base_year=base_year,
                                    alone_offset=offset[rows] if same_base else None, dtype=CHAIN_DTYPE)
            for i, v in enumerate(hh_vars):
                hh_out[v][rows] = part.households[:, :, i]
            need_out[rows] = part.care_need
            parts_out["care"][rows] = part.care
            parts_out["preference"][rows] = part.preference
            parts_out["total"][rows] = part.care + part.preference
            door_out[rows] = part.doorstroming
            dw_out[rows, ..., 1] = part.norm
        return clip

    chunks = _chunks(n, int(np.prod(central.shape)), chunk_size, multiple=_BLOCK_DRAWS)
    bar = _progress(n, progress, "forecast draws")
    with bar:
        clips = _map_chunks(run_chunk, chunks, threads, bar)
    # summed in chunk order, whatever order the threads finished in: the same total every run
    clipped = float(sum(clips))
    # the draws' inputs are done with: free them before the opgave and the tables (the peak)
    del coef, layout, engines
    release_freed_memory()
    opgave = None
    if stock_inputs is not None:
        need_total = xr.DataArray(parts_out["total"], dims=("draw", "area", "dwelling_type", "year"),
                                  coords={"draw": np.arange(n), "area": areas,
                                          "dwelling_type": list(dwellings.DWELLING_TYPES), "year": years})
        _, opgave = stock_and_opgave(central, need_total.transpose("area", "dwelling_type", "year", "draw"),
                                     stock_inputs, parameters=p_all)
    draw = np.arange(n)
    c3 = {"draw": draw, "area": areas, "year": years}
    need_da = xr.DataArray(dw_out, dims=("draw", "area", "dwelling_type", "year", "model"),
                           coords={**c3, "dwelling_type": list(dwellings.DWELLING_TYPES), "model": ["need", "norm"]})
    if supply is not None:
        units = supply.sel(area=areas, year=years).transpose("area", "dwelling_type", "year")
        gap = (need_da - units).where(need_da["model"] == "need")
    else:
        gap = xr.full_like(need_da, np.nan)
    return ForecastDraws(
        population=xr.DataArray(pop_out, dims=("draw", *central.dims),
                                coords={"draw": draw, **{d: central[d].values for d in central.dims}}, name="persons"),
        households=xr.Dataset({v: (("draw", "area", "year"), hh_out[v]) for v in hh_vars}, coords=c3),
        care_need=xr.DataArray(need_out, dims=("draw", "area", "indicator", "year"),
                               coords={**c3, "indicator": list(care.INDICATORS)}, name="persons"),
        dwellings=xr.Dataset({"need": need_da, "gap": gap.transpose(*need_da.dims)}),
        doorstroming=xr.DataArray(door_out, dims=("draw", "area", "year"), coords=c3, name="family_homes_freed"),
        settings=pd.concat([demo_settings, _parameter_settings()], ignore_index=True),
        seed=demo_seed,
        zero_width=bool(zero_width),
        clipped_persons=float(clipped),
        need=xr.Dataset({v: (("draw", "area", "dwelling_type", "year"), parts_out[v]) for v in NEED_PARTS},
                        coords={**c3, "dwelling_type": list(dwellings.DWELLING_TYPES)}),
        opgave=opgave,
    )


#: dtype of the kept population draws (see :func:`simulate_forecast`)
POPULATION_DTYPE = np.float32


def _parameter_settings() -> pd.DataFrame:
    return pd.DataFrame([(
        "care and dwelling parameters", "every parameter of data/parameters",
        "split normal, low/high = 5%/95%", "",
        "logit scale for shares, log scale otherwise; one standard normal per parameter (all ages move together)",
    )], columns=["component", "quantity", "value", "unit", "basis"])


def bytes_per_draw(n_areas: int, n_years: int) -> int:
    """Memory one Monte Carlo draw of :func:`simulate_forecast` needs, from the arrays it keeps.

    Per draw the kept arrays are the population (area, sex, age 0..100, year), four household
    variables (area, year), the care need (area, 9 indicators, year), the dwelling need (area,
    5 types, year, 2 models) and the doorstroming (area, year): 226 float64 per area and year.
    Quantiles and the tidy tables copy them several times: :func:`assen_demand.pipeline.forecast`
    gave a 1.6 GB peak for 1,000 draws of Assen (11 areas x 17 years), 4.7 times the 0.34 GB
    kept, hence the factor 5 (an upper bound since issue 20: the population is kept in float32
    and the chain runs on small blocks; the process peaks at about 0.6 GB, 0.35 GB above the
    deterministic run).

    Parameters
    ----------
    n_areas : int [areas]
        Gemeente and wijken.
    n_years : int [years]
        Base year to end year, both included.

    Returns
    -------
    int [bytes]

    Examples
    --------
    >>> bytes_per_draw(11, 17)
    1690480
    """
    kept = 2 * 101 + 4 + 9 + 5 * 2 + 1
    return int(5 * 8 * kept * n_areas * n_years)

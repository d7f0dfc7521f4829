"""Rolling-origin evaluation of gemeente totals: empirical forecast errors and their process.

The approach is the one statistics offices use to size their intervals: repeat the forecast
method from every past jump-off year ("origin") with only what was known then, compare with
what happened, and read the distribution of the errors by horizon (empirical forecast errors:
Keilman 2008, "European demographic forecasts have not become more accurate over the past 25
years", Population and Development Review 34(1), https://doi.org/10.1111/j.1728-4457.2008.00209.x ;
subnational: Wilson 2012, "Forecast accuracy and uncertainty of Australian Bureau of Statistics
state and territory population projections", International Journal of Population Research,
https://doi.org/10.1155/2012/419824 ; Rayer, Smith & Tayman 2009, "Empirical prediction
intervals for county population forecasts", Population Research and Policy Review 28,
https://www.bebr.ufl.edu/category/subject-index/population/forecast-accuracy ; Tayman, Smith &
Lin 2007, "Precision, bias, and uncertainty for state population forecasts: an exploratory
analysis of time series models", Population Research and Policy Review 26(3):347-369, for
time-series intervals checked out of sample).

The forecast evaluated is the library's own rule for a gemeente total (see
:func:`assen_demand.demography.migration.net_migration_totals`): net migration held at its
mean count over the last ``n_years`` observed years, natural increase (births - deaths) likewise.
Where CBS 37259eng has the flows (2012 on), they are used as the projection uses them; before
2012 only the 1 January population is published (37259ned, 1960-2018), and the mean of the
yearly population change over the window is the same number (natural increase + net migration
+ CBS's small "other corrections"). The cohort-component engine changes the natural increase
as the population ages; over the horizons here that is small next to migration, so the
errors below are slightly larger than the engine's would be (conservative).

Errors are ``log(observed / forecast)`` of the population on 1 January ``origin + horizon``,
on the boundaries of the origin: a year with a boundary change breaks the chain (37259eng:
31 December differs from the next 1 January; 37259ned: the yearly log change deviates more
than ``jump_threshold`` from the median of the three years either side).

The error process behind the intervals (:func:`fit_error_process`): the yearly population
change deviates from the assumed level, per person at the origin, by ``L + x_t`` with a level
error ``L ~ N(drift, sigma_level^2)`` held for the whole horizon and an AR(1) deviation
``x_t = phi x_{t-1} + e_t``, ``x_0 = 0``, ``e_t ~ N(0, sigma_year^2)``. ``phi`` is the
persistence of the yearly growth rate, fitted with :class:`statsmodels.tsa.ar_model.AutoReg`;
the two variances are fitted by non-negative least squares to the robust variance of the
errors by horizon, per kind of gemeente, and the drift (the rule's bias: growth rates return
toward the mean, so a growing gemeente grows less than its recent years say) to the median
error by horizon. The log error at horizon ``h`` is then about
``sum_{t<=h} (L + x_t)`` with variance ``sigma_level^2 h^2 + sigma_year^2 V_phi(h)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from assen_demand.demography.migration import net_migration_totals
from assen_demand.demography.rates import ComponentsWarning
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand import parameters
from assen_demand.parameters import load_parameter_table

__all__ = [
    "KINDS",
    "STUDENT_CITIES",
    "ErrorProcess",
    "constant_boundary_changes",
    "assumed_change",
    "gemeente_kind",
    "rolling_origin_errors",
    "growth_persistence",
    "fit_error_process",
    "error_process_variance",
    "simulate_level_deviations",
    "error_distribution_table",
]

#: Gemeenten with a research university (Universiteiten van Nederland, member list,
#: https://www.universiteitenvannederland.nl/en/universities): their net migration is the
#: yearly student intake and outflow, a different process from the rest.
STUDENT_CITIES = (
    "GM0014",  # Groningen
    "GM0153",  # Enschede (Universiteit Twente)
    "GM0268",  # Nijmegen
    "GM0289",  # Wageningen
    "GM0344",  # Utrecht
    "GM0363",  # Amsterdam
    "GM0503",  # Delft
    "GM0546",  # Leiden
    "GM0599",  # Rotterdam
    "GM0772",  # Eindhoven
    "GM0855",  # Tilburg
    "GM0935",  # Maastricht
)
# size classes [persons on 1 January of the origin] and growth classes [assumed yearly change
# / population]: definitions of the kinds, not estimates
_SIZE_EDGES = (20_000, 50_000, 100_000)
_SIZE_NAMES = ("lt20k", "20k-50k", "50k-100k", "ge100k")
_GROWTH_EDGES = (0.0, 0.01)
_GROWTH_NAMES = ("declining", "stable", "growing")
#: Every kind of gemeente, ``"<size>|<growth>"`` or ``"student_city"``; ``"all"`` pools them.
KINDS = tuple(f"{s}|{g}" for s in _SIZE_NAMES for g in _GROWTH_NAMES) + ("student_city", "all")
_Z90 = 1.6448536269514722  # standard normal 95 % point: a 90 % interval is +-1.645 sd


def gemeente_kind(area: str, population: float, growth_rate: float) -> str:
    """The kind of a gemeente at a forecast origin.

    Parameters
    ----------
    area : str
        CBS code (``GM0106``).
    population : float [persons]
        Population on 1 January of the origin.
    growth_rate : float [per year]
        Assumed yearly change (natural increase + net migration, mean of the window) divided by
        the population; NaN when unknown (then the growth class is ``stable``).

    Returns
    -------
    str
        ``"student_city"`` or ``"<size>|<growth>"`` with size ``lt20k, 20k-50k, 50k-100k,
        ge100k`` and growth ``declining`` (< 0), ``stable`` (0-1 %), ``growing`` (>= 1 % a year).

    Examples
    --------
    >>> gemeente_kind("GM0106", 69_000, 0.002)
    '50k-100k|stable'
    >>> gemeente_kind("GM0363", 870_000, 0.01)
    'student_city'
    """
    if str(area) in STUDENT_CITIES:
        return "student_city"
    if not np.isfinite(population) or population <= 0:
        raise InvalidValueError(f"{area}: population {population!r} must be a positive number of persons")
    size = _SIZE_NAMES[int(np.searchsorted(_SIZE_EDGES, population, side="right"))]
    rate = 0.005 if not np.isfinite(growth_rate) else growth_rate
    growth = _GROWTH_NAMES[int(np.searchsorted(_GROWTH_EDGES, rate, side="right"))]
    return f"{size}|{growth}"


# --------------------------------------------------------------------------------------------
# yearly changes on constant boundaries
# --------------------------------------------------------------------------------------------


def constant_boundary_changes(dynamics: pd.DataFrame, *, jump_threshold: float = 0.03) -> pd.DataFrame:
    """Yearly population change of every gemeente on constant boundaries (CBS 37259).

    Parameters
    ----------
    dynamics : pandas.DataFrame
        :func:`assen_demand.inputs.dynamics.read_population_dynamics` output (37259eng and 37259ned).
    jump_threshold : float [log change per year]
        37259ned years (no 31 December count): a yearly log change further than this from the
        median of the three years either side is taken as a boundary change. On the 37259eng
        years, where boundary changes are known, 0.03 finds every change above 1 % of the
        population and flags 13 of about 3,500 gemeente-years without one.

    Returns
    -------
    pandas.DataFrame
        ``area, year, population, change, natural, valid, source`` [persons; change in
        calendar year ``year``]; ``valid`` is False where the change crosses a boundary change
        or is unknown.
    """
    need = {"area", "area_level", "year", "sex", "population_jan1"}
    missing = need - set(dynamics.columns)
    if missing:
        raise MissingDataError(f"population dynamics lacks column(s) {sorted(missing)}; read it with "
                               "assen_demand.inputs.cbs.read_population_dynamics")
    tot = dynamics[(dynamics["sex"] == "total") & (dynamics["area_level"] == "gemeente")]
    if tot.empty:
        raise MissingDataError("population dynamics has no gemeente totals (sex 'total', area GMxxxx)")
    jan1 = tot.pivot_table(index="area", columns="year", values="population_jan1", aggfunc="first")
    years = np.arange(int(jan1.columns.min()), int(jan1.columns.max()) + 2)
    jan1 = jan1.reindex(columns=years)

    def wide(column: str) -> pd.DataFrame:
        if column not in tot:
            return pd.DataFrame(np.nan, index=jan1.index, columns=years)
        return tot.pivot_table(index="area", columns="year", values=column, aggfunc="first").reindex(
            index=jan1.index, columns=years)

    dec31, births, deaths = wide("population_dec31"), wide("births"), wide("deaths")
    nxt = jan1.shift(-1, axis=1)
    has_flows = dec31.notna()
    change = (dec31 - jan1).where(has_flows, nxt - jan1)
    # boundary changes: exact where 31 December is published, a jump test elsewhere
    crossing = has_flows & nxt.notna() & (nxt != dec31)
    logc = np.log(nxt / jan1).to_numpy(float)
    med = np.full_like(logc, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods at the edges
        for j in range(logc.shape[1]):
            near = [k for k in range(j - 3, j + 4) if k != j and 0 <= k < logc.shape[1]]
            med[:, j] = np.nanmedian(logc[:, near], axis=1)
    jump = pd.DataFrame(np.abs(logc - med) > jump_threshold, index=jan1.index, columns=years) & ~has_flows
    valid = change.notna() & jan1.notna() & ~crossing & ~jump
    out = pd.DataFrame({
        "population": jan1.stack(future_stack=True),
        "change": change.stack(future_stack=True),
        "natural": (births - deaths).stack(future_stack=True),
        "valid": valid.stack(future_stack=True),
        "source": has_flows.stack(future_stack=True).map({True: "37259eng", False: "37259ned"}),
    })
    out.index.names = ["area", "year"]
    return out.dropna(subset=["population"]).reset_index()


def assumed_change(dynamics: pd.DataFrame, area: str, origin: int, n_years: int = 5) -> float | None:
    """Natural increase + net migration per year that the projection assumes, from CBS 37259 flows.

    Net migration as :func:`assen_demand.demography.migration.net_migration_totals` gives it
    (mean count over the last ``n_years`` years before ``origin``), plus the mean natural
    increase (births - deaths) over the same years.

    Parameters
    ----------
    dynamics : pandas.DataFrame
        Population dynamics (male and female rows with ``births, deaths, net_migration``).
    area : str
    origin : int
        Base year (1 January); only years before it are used.
    n_years : int

    Returns
    -------
    float or None [persons per year]
        None when a year of the window lacks flows.
    """
    dyn = dynamics[(dynamics["area"] == area) & (dynamics["year"] < origin) & (dynamics["year"] >= origin - n_years)]
    if "net_migration" not in dyn or dyn.loc[dyn["sex"].isin(["male", "female"]), "net_migration"].notna().sum() < 2 * n_years:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComponentsWarning)  # CBS "other corrections": reported values used
        totals = net_migration_totals(dyn, base_year=origin, n_years=n_years)
    sexes = dyn[dyn["sex"].isin(["male", "female"])]
    natural = (sexes["births"] - sexes["deaths"]).sum() / n_years
    return float(totals["net_migration"].sum() / n_years + natural)


def rolling_origin_errors(
    dynamics: pd.DataFrame,
    *,
    n_years: int = 5,
    max_horizon: int = 20,
    origins: Iterable[int] | None = None,
    jump_threshold: float = 0.03,
) -> pd.DataFrame:
    """Errors of the library's gemeente-total rule from every origin and horizon.

    Parameters
    ----------
    dynamics : pandas.DataFrame
        :func:`assen_demand.inputs.dynamics.read_population_dynamics` output.
    n_years : int
        Window of observed years before the origin (the projection's ``n_years``).
    max_horizon : int [years]
    origins : iterable of int, optional
        Default every year with ``n_years`` valid years before it.
    jump_threshold : float
        See :func:`constant_boundary_changes`.

    Returns
    -------
    pandas.DataFrame
        ``area, origin, horizon, population, assumed_change, growth_rate, kind, basis,
        forecast, observed, log_error`` [persons; log_error = log(observed / forecast)].
        ``basis`` says whether the level came from the 37259eng flows
        (``net_migration_totals``) or from the 37259ned population change.
    """
    if n_years < 1 or max_horizon < 1:
        raise InvalidValueError(f"n_years ({n_years}) and max_horizon ({max_horizon}) must be >= 1")
    ch = constant_boundary_changes(dynamics, jump_threshold=jump_threshold)
    pop = ch.pivot(index="area", columns="year", values="population")
    years = np.arange(int(pop.columns.min()), int(pop.columns.max()) + 1)
    pop = pop.reindex(columns=years)
    change = ch.pivot(index="area", columns="year", values="change").reindex(index=pop.index, columns=years)
    valid = ch.pivot(index="area", columns="year", values="valid").reindex(index=pop.index, columns=years)
    valid = valid.fillna(False).astype(bool).to_numpy()
    chg = change.to_numpy(float)
    p = pop.to_numpy(float)
    flow_years = {}
    if "net_migration" in dynamics:
        flows = dynamics[dynamics["sex"].isin(["male", "female"]) & dynamics["net_migration"].notna()]
        flow_years = flows.groupby("area")["year"].agg(set).to_dict()
    wanted = None if origins is None else {int(o) for o in origins}
    rows = []
    for i, area in enumerate(pop.index):
        for j, origin in enumerate(years):
            if j < n_years or (wanted is not None and origin not in wanted) or not np.isfinite(p[i, j]):
                continue
            window = slice(j - n_years, j)
            if not valid[i, window].all():
                continue
            level, basis = None, "37259ned population change"
            if set(range(origin - n_years, origin)) <= flow_years.get(area, set()):
                level = assumed_change(dynamics, area, int(origin), n_years)
                basis = "37259eng net_migration_totals + natural increase"
            if level is None:
                level, basis = float(chg[i, window].mean()), "37259ned population change"
            rate = level / p[i, j]
            kind = gemeente_kind(area, p[i, j], rate)
            path = p[i, j]
            for h in range(1, max_horizon + 1):
                k = j + h - 1
                if k >= len(years) or not valid[i, k]:
                    break
                path += chg[i, k]
                forecast = p[i, j] + h * level
                if forecast <= 0 or path <= 0:
                    break
                rows.append((area, int(origin), h, p[i, j], level, rate, kind, basis, forecast, path))
    out = pd.DataFrame(rows, columns=["area", "origin", "horizon", "population", "assumed_change", "growth_rate",
                                      "kind", "basis", "forecast", "observed"])
    out["log_error"] = np.log(out["observed"] / out["forecast"])
    return out


# --------------------------------------------------------------------------------------------
# the error process
# --------------------------------------------------------------------------------------------


def growth_persistence(changes: pd.DataFrame, *, min_years: int = 15, before: int | None = None) -> pd.Series:
    """AR(1) coefficient of each gemeente's yearly growth rate (statsmodels ``AutoReg``).

    Parameters
    ----------
    changes : pandas.DataFrame
        :func:`constant_boundary_changes` output.
    min_years : int
        The longest unbroken run of valid years must be at least this long.
    before : int, optional
        Only changes in years before this (what was known at an origin).

    Returns
    -------
    pandas.Series (area) [1]
        ``phi`` of ``r_t = c + phi r_{t-1} + e_t``, ``r_t = change / population``.
    """
    from statsmodels.tsa.ar_model import AutoReg

    ch = changes if before is None else changes[changes["year"] < before]
    out = {}
    for area, grp in ch.sort_values("year").groupby("area"):
        ok = grp["valid"].to_numpy(bool) & np.isfinite(grp["change"].to_numpy(float))
        rate = (grp["change"] / grp["population"]).to_numpy(float)
        # longest run of consecutive valid years
        best, start = (0, 0), None
        for t, flag in enumerate(np.append(ok, False)):
            if flag and start is None:
                start = t
            elif not flag and start is not None:
                best = max(best, (t - start, start))
                start = None
        length, first = best
        if length < min_years:
            continue
        fit = AutoReg(rate[first:first + length], lags=1, trend="c").fit()
        out[area] = float(fit.params[1])
    return pd.Series(out, name="phi", dtype=float)


def _variance_terms(horizons: np.ndarray, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """(h^2, V_phi(h)): the variance of the summed level error and of the summed AR(1)."""
    h = np.asarray(horizons, dtype=int)
    v = np.empty(h.shape, dtype=float)
    for n, hh in enumerate(h):
        s = np.arange(1, hh + 1)
        # innovation s enters x_s..x_h with weights phi^0..phi^(h-s): its weight in the sum
        weight = (1 - phi ** (hh - s + 1)) / (1 - phi) if phi != 1 else (hh - s + 1).astype(float)
        v[n] = float(np.sum(weight ** 2))
    return h.astype(float) ** 2, v


def error_process_variance(horizons, *, phi: float, sigma_level: float, sigma_year: float) -> np.ndarray:
    """Variance of the log error of the total at each horizon under the error process.

    Parameters
    ----------
    horizons : array of int [years]
    phi : float [1]
    sigma_level, sigma_year : float [per year, relative to the origin population]

    Returns
    -------
    numpy.ndarray [1] ``sigma_level^2 h^2 + sigma_year^2 sum_s (sum_{k=0}^{h-s} phi^k)^2``.

    Examples
    --------
    Independent yearly noise (phi = 0) adds up like a random walk: variance h sigma^2.

    >>> error_process_variance([1, 4], phi=0.0, sigma_level=0.0, sigma_year=0.01).round(6).tolist()
    [0.0001, 0.0004]
    """
    a, b = _variance_terms(np.asarray(horizons), phi)
    return sigma_level ** 2 * a + sigma_year ** 2 * b


@dataclass(frozen=True)
class ErrorProcess:
    """Fitted error process of one kind of gemeente (see the module notes).

    Attributes
    ----------
    kind : str
    phi : float [1]
    sigma_level, sigma_year : float [per year, relative to the origin population]
    n_errors : int
        Errors (gemeente x origin x horizon) it was fitted on.
    drift : float [per year, relative to the origin population]
        Mean of the level error: the rule's known bias for this kind (a growing gemeente's
        growth slows, a declining one's decline eases: growth rates return toward the mean).
    """

    kind: str
    phi: float
    sigma_level: float
    sigma_year: float
    n_errors: int
    drift: float = 0.0

    def sd(self, horizons) -> np.ndarray:
        """Standard deviation of the log error at each horizon [1]."""
        return np.sqrt(error_process_variance(horizons, phi=self.phi, sigma_level=self.sigma_level,
                                              sigma_year=self.sigma_year))


def _robust_variance(errors: np.ndarray) -> float:
    # the 5-95 % range read as +-1.645 sd: the scale that gives a normal 90 % interval its coverage
    q05, q95 = np.quantile(errors, [0.05, 0.95])
    return float(((q95 - q05) / (2 * _Z90)) ** 2)


def fit_error_process(
    errors: pd.DataFrame,
    *,
    phi: float,
    max_horizon: int = 10,
    min_errors: int = 30,
    kinds: Sequence[str] | None = None,
) -> dict[str, ErrorProcess]:
    """Fit the level and yearly variances of the error process, per kind and pooled.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`rolling_origin_errors` output (only what is known at the time of use).
    phi : float [1]
        AR(1) persistence (:func:`growth_persistence`, median).
    max_horizon : int
        Horizons 1..max_horizon enter the fit (longer ones rest on few origins).
    min_errors : int
        A horizon enters a kind's fit only with at least this many errors; a kind with fewer
        than two such horizons gets the pooled process (``"all"``).
    kinds : sequence of str, optional
        Default :data:`KINDS`.

    Returns
    -------
    dict of str -> ErrorProcess
        One per kind, and ``"all"``.
    """
    from scipy.optimize import nnls

    if errors.empty:
        raise MissingDataError("no rolling-origin errors to fit the error process on")
    out: dict[str, ErrorProcess] = {}

    def fit(kind: str, sub: pd.DataFrame) -> ErrorProcess | None:
        rows, target, weight = [], [], []
        for h, grp in sub[sub["horizon"] <= max_horizon].groupby("horizon"):
            if len(grp) < min_errors:
                continue
            a, b = _variance_terms(np.array([h]), phi)
            var = _robust_variance(grp["log_error"].to_numpy(float))
            # relative errors of a variance estimate are ~ sqrt(2/n): weigh each horizon's variance by sqrt(n) / var
            w = np.sqrt(len(grp)) / max(var, 1e-12)
            rows.append([a[0] * w, b[0] * w])
            target.append(var * w)
            weight.append(w)
        if len(rows) < 2:
            return None
        coef, _ = nnls(np.array(rows), np.array(target))
        # drift: least squares of the median error on h through the origin, weighted by the count
        near = sub[sub["horizon"] <= max_horizon].groupby("horizon")["log_error"].agg(["median", "size"])
        near = near[near["size"] >= min_errors]
        h = near.index.to_numpy(float)
        drift = float((near["size"] * h * near["median"]).sum() / (near["size"] * h ** 2).sum())
        return ErrorProcess(kind, float(phi), float(np.sqrt(coef[0])), float(np.sqrt(coef[1])), int(len(sub)), drift)

    pooled = fit("all", errors)
    if pooled is None:
        raise MissingDataError(f"fewer than two horizons with {min_errors} errors: cannot fit the error process")
    out["all"] = pooled
    for kind in (kinds or KINDS):
        if kind == "all":
            continue
        got = fit(kind, errors[errors["kind"] == kind])
        out[kind] = got if got is not None else replace(pooled, kind=kind, n_errors=0)
    return out


def simulate_level_deviations(process: ErrorProcess, *, years: int, draws: int, rng: np.random.Generator,
                              width: float = 1.0) -> np.ndarray:
    """Draws of the yearly deviation ``L + x_t`` of the change rate from the assumed level.

    Parameters
    ----------
    process : ErrorProcess
    years : int
        Years of the horizon (t = 1..years).
    draws : int
    rng : numpy.random.Generator
        Two blocks of standard normals are taken, (draws,) then (draws, years).
    width : float
        Factor on both sds (0: all zero).

    Returns
    -------
    numpy.ndarray (draw, year) [per year, relative to the origin population]
        Multiply by the origin population for net migrants per year.
    """
    level = width * (process.drift + process.sigma_level * rng.standard_normal(draws))
    eps = width * process.sigma_year * rng.standard_normal((draws, years))
    x = np.zeros((draws, years))
    prev = np.zeros(draws)
    for t in range(years):
        prev = process.phi * prev + eps[:, t]
        x[:, t] = prev
    return level[:, None] + x


# --------------------------------------------------------------------------------------------
# the committed table
# --------------------------------------------------------------------------------------------

_SOURCE = ("CBS 37259eng Population dynamics; birth, death and migration per region (2012-2023, "
           "https://opendata.cbs.nl/statline/#/CBS/en/dataset/37259eng/table) and CBS 37259ned "
           "Bevolkingsontwikkeling; regio per periode (1 January 1960-2018, "
           "https://opendata.cbs.nl/statline/#/CBS/nl/dataset/37259ned/table); rolling origins computed by "
           "scripts/build_forecast_errors.py")


def error_distribution_table(errors: pd.DataFrame, processes: Mapping[str, ErrorProcess], *,
                             year: int, max_horizon: int = 20, min_errors: int = 20) -> pd.DataFrame:
    """The committed parameter table: error quantiles by kind and horizon, and the process.

    Rows (parameter-table format with extra keys ``kind`` and ``horizon``):

    * ``forecast_ratio_90``: observed / forecast population, median (central) and 5 % / 95 %
      quantiles (low / high) over gemeenten and origins, per kind and horizon;
    * ``forecast_ratio_80``: the same with 10 % / 90 %;
    * ``level_error_sd``, ``yearly_error_sd``, ``yearly_error_persistence``: the process of
      :func:`fit_error_process` per kind (horizon 0).

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    base = dict(sex="all", age_lo=0, age_hi=np.nan, year=int(year), status="geschat", source=_SOURCE)
    groups = [(k, errors[errors["kind"] == k]) for k in KINDS if k != "all"] + [("all", errors)]
    for kind, sub in groups:
        for h, grp in sub[sub["horizon"] <= max_horizon].groupby("horizon"):
            if len(grp) < min_errors:
                continue
            ratio = np.exp(grp["log_error"].to_numpy(float))
            q = np.quantile(ratio, [0.05, 0.10, 0.5, 0.90, 0.95])
            origins = f"{int(grp['origin'].min())}-{int(grp['origin'].max())}"
            note = (f"{len(grp)} errors, {grp['area'].nunique()} gemeenten, origins {origins}; "
                    "observed / forecast population on 1 January origin + horizon")
            rows.append(dict(indicator="forecast_ratio_90", kind=kind, horizon=int(h), central=q[2], low=q[0],
                             high=q[4], unit="1 (observed / forecast population)", note=note, **base))
            rows.append(dict(indicator="forecast_ratio_80", kind=kind, horizon=int(h), central=q[2], low=q[1],
                             high=q[3], unit="1 (observed / forecast population)", note=note, **base))
    for kind, proc in processes.items():
        how = (f"fitted on {proc.n_errors} errors of this kind" if proc.n_errors
               else "too few errors of this kind: the pooled process (all)")
        common = dict(kind=kind, horizon=0, **base)
        rows.append(dict(indicator="level_error_sd", central=proc.sigma_level, low=proc.sigma_level,
                         high=proc.sigma_level, unit="per year (share of the origin population)",
                         note=f"sd of the level error L held over the horizon; {how}", **common))
        rows.append(dict(indicator="yearly_error_sd", central=proc.sigma_year, low=proc.sigma_year,
                         high=proc.sigma_year, unit="per year (share of the origin population)",
                         note=f"innovation sd of the AR(1) yearly deviation; {how}", **common))
        factor = float(np.exp(proc.drift))
        rows.append(dict(indicator="level_error_drift", central=factor, low=factor, high=factor,
                         unit="1 (yearly factor: exp of the mean level error)",
                         note=f"exp of the mean of L (slope of the median log error on the horizon); {how}", **common))
        rows.append(dict(indicator="yearly_error_persistence", central=proc.phi, low=proc.phi, high=proc.phi,
                         unit="1 (AR(1) coefficient)",
                         note="median over gemeenten of the AR(1) coefficient of the yearly growth rate "
                              "(statsmodels AutoReg, longest unbroken run of at least 15 years)", **common))
    cols = ["indicator", "kind", "horizon", "sex", "age_lo", "age_hi", "year", "central", "low", "high", "unit",
            "status", "source", "note"]
    out = pd.DataFrame(rows)[cols]
    for c in ("central", "low", "high"):
        out[c] = out[c].astype(float).round(6)
    return out


ERROR_TABLE = "forecast_error_distribution.csv"


def error_process_from_table(kind: str, table: pd.DataFrame | None = None) -> ErrorProcess:
    """The error process of one kind of gemeente, read from the committed parameter table.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS` (:func:`gemeente_kind`).
    table : pandas.DataFrame, optional
        Default the bundled ``data/parameters/forecast_error_distribution.csv`` (written by
        ``scripts/build_forecast_errors.py``).

    Returns
    -------
    ErrorProcess

    Examples
    --------
    >>> p = error_process_from_table("50k-100k|stable")
    >>> bool(0 < p.phi < 1 and p.sd([16])[0] > p.sd([5])[0] > p.sd([1])[0] > 0)
    True
    """
    frame = load_parameter_table(ERROR_TABLE) if table is None else table
    rows = frame[(frame["kind"] == kind) & (frame["horizon"] == 0)].set_index("indicator")["central"]
    need = ("level_error_sd", "yearly_error_sd", "yearly_error_persistence", "level_error_drift")
    if any(n not in rows.index for n in need):
        known = sorted(set(frame.loc[frame["horizon"] == 0, "kind"]))
        raise MissingDataError(f"{ERROR_TABLE}: no error process for kind {kind!r}; kinds: {', '.join(known)}")
    return ErrorProcess(kind, float(rows["yearly_error_persistence"]), float(rows["level_error_sd"]),
                        float(rows["yearly_error_sd"]), 0, float(np.log(rows["level_error_drift"])))


def rolling_origin_coverage(
    errors: pd.DataFrame,
    *,
    phi: float,
    origins: Sequence[int],
    window: int = 25,
    draws: int = 2000,
    seed: int = 21,
    levels: Sequence[float] = (0.9, 0.8),
    max_horizon: int = 20,
) -> pd.DataFrame:
    """Out-of-sample coverage of the drawn intervals of gemeente totals, origin by origin.

    For each evaluated origin ``o`` the error process is fitted (:func:`fit_error_process`)
    only on errors whose outcome was known at ``o`` (``origin + horizon <= o``) and whose
    origin lies within ``window`` years before ``o``; the interval of each gemeente is the
    quantile range of ``draws`` paths of :func:`simulate_level_deviations` (the function the
    uncertainty module draws with), summed over the horizon, around the library's forecast.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`rolling_origin_errors` output.
    phi : float
        Persistence, fitted on years before the first evaluated origin.
    origins : sequence of int
    window : int [years]
    draws, seed : int
    levels : sequence of float
        Central interval probabilities.
    max_horizon : int

    Returns
    -------
    pandas.DataFrame
        ``area, origin, horizon, kind, log_error`` and per level ``lo_<p>, hi_<p>, covered_<p>``
        (log of the interval bounds relative to the forecast; ``p`` in percent).
    """
    parts = []
    for o in origins:
        past = errors[(errors["origin"] + errors["horizon"] <= o) & (errors["origin"] >= o - window)]
        test = errors[(errors["origin"] == o) & (errors["horizon"] <= max_horizon)]
        if test.empty or past.empty:
            continue
        procs = fit_error_process(past, phi=phi)
        for kind, grp in test.groupby("kind"):
            rng = np.random.default_rng([seed, int(o), KINDS.index(kind)])
            dev = simulate_level_deviations(procs[kind], years=max_horizon, draws=draws, rng=rng)
            # log(observed / forecast) ~ log(1 + cumulated deviation x origin population / forecast)
            cum = np.cumsum(dev, axis=1)
            out = grp[["area", "origin", "horizon", "kind", "log_error"]].copy()
            h = grp["horizon"].to_numpy(int)
            scale = (grp["population"] / grp["forecast"]).to_numpy(float)
            for level in levels:
                tail = (1 - level) / 2
                lo, hi = np.quantile(cum, [tail, 1 - tail], axis=0)
                pct = int(round(100 * level))
                out[f"lo_{pct}"] = np.log1p(np.maximum(lo[h - 1] * scale, -0.99))
                out[f"hi_{pct}"] = np.log1p(hi[h - 1] * scale)
                out[f"covered_{pct}"] = (out["log_error"] >= out[f"lo_{pct}"]) & (out["log_error"] <= out[f"hi_{pct}"])
            parts.append(out)
    if not parts:
        raise MissingDataError("no origin with both earlier errors and outcomes to evaluate")
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------
# wijk intervals: band- and horizon-specific scale of the band migration deviations
# --------------------------------------------------------------------------------------------

WIJK_SCALE_TABLE = "wijk_interval_scale.csv"
WIJK_SCALE_INDICATOR = "wijk_band_interval_scale"
#: lower edges of the KWB age bands the scale is given for
WIJK_SCALE_BANDS = (0, 15, 25, 45, 65)
_KWB_SOURCE = ("CBS Kerncijfers wijken en buurten 2021-2024 (tables 85039NED, 85318NED, 85618NED, 85984NED), the "
               "twelve Drenthe gemeenten and their wijken, "
               "https://www.cbs.nl/nl-nl/dossier/nederland-regionaal/wijk-en-buurtstatistieken; "
               "stochastic hindcasts from 2021 by benchmarks/coverage.py, scale by "
               "scripts/build_wijk_interval_scale.py")


def wijk_interval_scale(variant: str = "central") -> pd.DataFrame:
    """Factors on a wijk's cumulative band migration deviation, per KWB band and horizon.

    Read from ``data/parameters/wijk_interval_scale.csv`` (written by
    ``scripts/build_wijk_interval_scale.py`` from stochastic hindcasts of the Drenthe wijken).

    Parameters
    ----------
    variant : {"central", "low", "high"}

    Returns
    -------
    pandas.DataFrame
        Index ``age_lo`` (0, 15, 25, 45, 65), columns horizon 1..H [1]; a horizon beyond H uses H.
    """
    if variant not in ("central", "low", "high"):
        raise InvalidValueError(f"variant must be 'low', 'central' or 'high', got {variant!r}")
    table = parameters.load_parameter_table(WIJK_SCALE_TABLE)  # via the module: tests replace it
    rows = table[table["indicator"] == WIJK_SCALE_INDICATOR]
    wide = rows.pivot(index="age_lo", columns="horizon", values=variant).astype(float)
    wide = wide.reindex(index=list(WIJK_SCALE_BANDS), columns=sorted(wide.columns))
    horizons = list(wide.columns)
    if wide.isna().any().any() or horizons != list(range(1, len(horizons) + 1)):
        raise MissingDataError(f"{WIJK_SCALE_TABLE}: every band {WIJK_SCALE_BANDS} needs a {WIJK_SCALE_INDICATOR} "
                               "row for every horizon 1..H; rebuild it with scripts/build_wijk_interval_scale.py")
    wide.index.name, wide.columns.name = "age_lo", "horizon"
    return wide


def scale_cumulative_deviation(noise: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Yearly deviations rescaled so that their running sum is ``scale`` times the original one.

    Parameters
    ----------
    noise : numpy.ndarray (..., band, year) [persons per year]
        Yearly deviations of band net migration; year index ``t`` moves the population of
        1 January ``base + t + 1`` (horizon ``t + 1``).
    scale : numpy.ndarray (band, horizon) [1]
        Factor on the cumulative deviation at each horizon; later horizons use the last column.

    Returns
    -------
    numpy.ndarray, same shape as ``noise``
        ``cumsum(out)[..., t] == scale[:, min(t, H - 1)] * cumsum(noise)[..., t]``.

    Examples
    --------
    Hand-worked: deviations 1, 1, 1 with factors 2 then 3 (held): running sums 1, 2, 3 become
    2, 6, 9, so the yearly deviations become 2, 4, 3.

    >>> scale_cumulative_deviation(np.ones((1, 3)), np.array([[2.0, 3.0]])).tolist()
    [[2.0, 4.0, 3.0]]
    """
    noise = np.asarray(noise, dtype=float)
    scale = np.asarray(scale, dtype=float)
    years = noise.shape[-1]
    factor = scale[:, np.minimum(np.arange(years), scale.shape[1] - 1)]  # (band, year)
    cumulative = np.cumsum(noise, axis=-1) * factor
    return np.diff(cumulative, axis=-1, prepend=0.0)


def interval_width_ratio(cells: pd.DataFrame, *, coverage: float = 0.90) -> pd.Series:
    """How far each cell's observation lies from the median, in units of its interval half.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``observed, q05, q50, q95`` [persons] per wijk, band and horizon (``benchmarks/coverage.py --out``).
    coverage : float
        Only the 90 % interval (q05-q95) is supported.

    Returns
    -------
    pandas.Series [1]
        ``(observed - q50) / (q95 - q50)`` above the median, ``(q50 - observed) / (q50 - q05)``
        below: a cell is inside the interval when the ratio is at most 1, and inside an interval
        whose deviations are scaled by ``c`` when it is at most ``c``. NaN for a zero-width half.
    """
    if coverage != 0.90:
        raise InvalidValueError(f"coverage must be 0.90 (the q05-q95 interval), got {coverage}")
    obs, lo, mid, hi = (cells[c].to_numpy(float) for c in ("observed", "q05", "q50", "q95"))
    half = np.where(obs >= mid, hi - mid, mid - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(half > 0, np.abs(obs - mid) / half, np.nan)
    return pd.Series(ratio, index=cells.index, name="width_ratio")


def estimate_wijk_interval_scale(cells: pd.DataFrame, current: pd.DataFrame, *, coverage: float = 0.90,
                                 boot: int = 200, seed: int = 2021) -> pd.DataFrame:
    """New band x horizon factors from the hindcast cells of the model run with ``current``.

    The factor that puts ``coverage`` of a band's cells inside the interval is the ``coverage``
    quantile of :func:`interval_width_ratio` (empirical forecast errors, as for the gemeente
    totals); the new factor is ``current`` times it, so rerunning the hindcast and this function
    converges (a factor of 1 means the model was right). The range is the 5-95 % of a bootstrap
    over wijken.

    Parameters
    ----------
    cells : pandas.DataFrame
        Wijk cells ``area, age_lo, horizon, observed, q05, q50, q95`` of a hindcast made with ``current``.
    current : pandas.DataFrame
        :func:`wijk_interval_scale` the hindcast was made with (age_lo x horizon).
    coverage : float
    boot : int
        Bootstrap resamples of wijken.
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``age_lo, horizon, central, low, high, cells, wijken, measured`` (``measured``: the
        quantile of the ratio before multiplying by ``current``).
    """
    ok = cells.dropna(subset=["observed"]).assign(ratio=interval_width_ratio(cells.dropna(subset=["observed"])))
    ok = ok.dropna(subset=["ratio"])
    rng = np.random.default_rng(seed)
    rows = []
    for (band, h), grp in ok.groupby(["age_lo", "horizon"]):
        old = float(current.loc[band, min(int(h), current.columns.max())])
        measured = float(np.quantile(grp["ratio"], coverage))
        by_area = {a: g["ratio"].to_numpy() for a, g in grp.groupby("area")}
        names = list(by_area)
        reps = [np.quantile(np.concatenate([by_area[names[i]] for i in rng.integers(0, len(names), len(names))]),
                            coverage) for _ in range(boot)]
        lo, hi = np.quantile(reps, [0.05, 0.95])
        lo, hi = min(lo, measured), max(hi, measured)  # the range always brackets the estimate
        rows.append(dict(age_lo=int(band), horizon=int(h), central=old * measured, low=old * lo, high=old * hi,
                         cells=len(grp), wijken=len(names), measured=measured))
    return pd.DataFrame(rows)


def wijk_interval_scale_table(estimate: pd.DataFrame, *, year: int) -> pd.DataFrame:
    """The committed parameter table (format of ``data/parameters``, extra key ``horizon``)."""
    ages = dict(zip(WIJK_SCALE_BANDS, [*WIJK_SCALE_BANDS[1:], np.nan]))
    rows = []
    for r in estimate.itertuples(index=False):
        rows.append(dict(indicator=WIJK_SCALE_INDICATOR, horizon=int(r.horizon), sex="all", age_lo=int(r.age_lo),
                         age_hi=ages[int(r.age_lo)], year=int(year), central=r.central, low=r.low, high=r.high,
                         unit="1 (factor on the wijk's cumulative band migration deviation)", status="geschat",
                         source=_KWB_SOURCE,
                         note=(f"90 % quantile of |observed - median| / interval half over {r.cells} wijk cells "
                               f"({r.wijken} wijken) at this horizon, times the factor the hindcast ran with; "
                               "low/high: 5-95 % of a bootstrap over wijken; horizons beyond the last use the last")))
    cols = ["indicator", "horizon", "sex", "age_lo", "age_hi", "year", "central", "low", "high", "unit", "status",
            "source", "note"]
    out = pd.DataFrame(rows)[cols]
    out["age_hi"] = out["age_hi"].astype("Int64")
    for c in ("central", "low", "high"):
        out[c] = out[c].astype(float).round(4)
    return out

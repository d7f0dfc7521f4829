"""Synthetic inputs of the engine benchmarks: many areas shaped like Dutch wijken and buurten.

Not real data and not a test fixture: sizes and shapes only matter for timing. Every area has
a smooth age structure (a life table's survivorship times a gently sloping birth history),
a size drawn around ``mean_size`` persons, and an area-specific multiplicative wiggle per
single age, so that cells differ the way small-area cells do. Survival and fertility are
national (no area dim, as the rates of a national run would be shared by a gemeente's wijken);
net migration counts are per area, sex and age, a few per cent of the cell per year, constant
over the years (as :func:`assen_demand.demography.migration.net_migration_counts` gives them), so that a
realistic run clips a few cells (thin old-age cells), not thousands.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from assen_demand.demography.projection import ProjectionInputs

SEXES = ["male", "female"]
AGES = np.arange(101)


def mortality_q(draws: int | None = None, years: int = 15, seed: int = 0) -> np.ndarray:
    """Death probabilities q (draw, sex, year, age), or (sex, year, age) without draws.

    A Gompertz-like schedule with 1 % improvement a year; with draws every draw gets its own
    random-walk improvement (a stand-in for Lee-Carter paths).
    """
    rng = np.random.default_rng(seed)
    base = np.clip(np.exp(-9.5 + 0.088 * AGES), 0, 0.7)[None, None, :] * np.array([1.2, 1.0])[:, None, None]
    t = np.arange(years)[None, :, None]
    if draws is None:
        return base * 0.99 ** t
    drift = 0.01 + 0.002 * rng.standard_normal((draws, 1, 1, 1))
    walk = np.cumsum(0.01 * rng.standard_normal((draws, 1, years, 1)), axis=2)
    return np.clip(base[None] * np.exp(-drift * t[None] + walk), 0, 0.9)


def inputs(n_area: int, *, years: range, draws: int | None = None, seed: int = 1,
           mean_size: float = 4_000.0) -> tuple[xr.DataArray, ProjectionInputs]:
    """Base population (area, sex, age) and components for ``n_area`` areas.

    With ``draws`` the survival gets a draw dim (draw, sex, age, year); everything else stays
    without draws (the stochastic benchmark adds migration noise separately).
    """
    rng = np.random.default_rng(seed)
    yrs = list(years)
    areas = [f"WK{i:06d}" for i in range(n_area)]
    q = np.clip(np.exp(-9.5 + 0.088 * AGES), 0, 0.7)
    lx = np.cumprod(np.r_[1.0, 1 - q[:-1]])
    shape = lx * (1.0 + 0.004 * (60 - AGES))  # more young than old: births fell slowly
    wiggle = np.exp(0.25 * rng.standard_normal((n_area, 2, len(AGES))))
    size = mean_size * np.exp(0.6 * rng.standard_normal(n_area))
    pop = shape * wiggle
    pop *= (size / pop.sum(axis=(1, 2)))[:, None, None]
    base = xr.DataArray(pop, dims=("area", "sex", "age"),
                        coords={"area": areas, "sex": SEXES, "age": AGES})

    qd = mortality_q(draws, len(yrs), seed=seed + 1)
    if draws is None:
        surv = xr.DataArray(1 - qd, dims=("sex", "year", "age"),
                            coords={"sex": SEXES, "year": yrs, "age": AGES})
    else:
        surv = xr.DataArray(1 - qd, dims=("draw", "sex", "year", "age"),
                            coords={"draw": np.arange(draws), "sex": SEXES, "year": yrs, "age": AGES})
    asfr = np.where((AGES >= 15) & (AGES <= 49), 1.6 / 35, 0.0)
    fert = xr.DataArray(np.broadcast_to(asfr, (len(yrs), len(AGES))).copy(), dims=("year", "age"),
                        coords={"year": yrs, "age": AGES})
    l0 = xr.DataArray(np.full((2, len(yrs)), 0.997), dims=("sex", "year"),
                      coords={"sex": SEXES, "year": yrs})
    mig = 0.02 * pop * rng.standard_normal(pop.shape)
    migration = xr.DataArray(mig, dims=("area", "sex", "age"),
                             coords={"area": areas, "sex": SEXES, "age": AGES})
    return base, ProjectionInputs(survival=surv, births_survival=l0, fertility=fert,
                                  net_migration=migration)

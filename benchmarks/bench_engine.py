"""Time the cohort-component engine on synthetic inputs (not a test; prints wall times).

Run: PYTHONPATH=src python benchmarks/bench_engine.py [--big]

Cases: 14,000 areas without draws (about all buurten of the Netherlands), and Monte Carlo
draws over 12 areas (the Assen wijken) and over 3,300 areas (about all wijken of the
Netherlands; in chunks of draws, since 1,000 draws x 3,300 areas x 16 years is 85 GB in
float64). The first run of a case pays the first touch of fresh memory, hence best and median.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr

from assen_demand.demography.projection import ProjectionInputs, project

SEXES = ["male", "female"]
AGES = np.arange(101)


def synthetic(n_area: int, n_draw: int | None, years: range, seed: int = 1, noisy: bool = False):
    rng = np.random.default_rng(seed)
    areas = [f"WK{i:06d}" for i in range(n_area)]
    yrs = list(years)

    # Survival and fertility vary by draw (Lee-Carter draws), not by area; migration by both.
    lead = ("draw",) if n_draw else ()
    dshape = (n_draw,) if n_draw else ()
    dcoords = {"draw": np.arange(n_draw)} if n_draw else {}
    q = np.clip(np.exp(-9 + 0.09 * AGES), 0, 0.6)
    lx = np.cumprod(np.r_[1.0, 1 - q[:-1]])  # a life-table shape, so old-age cells are thin
    base = xr.DataArray(rng.uniform(0, 30, (n_area, 2, len(AGES))) * lx,
                        dims=("area", "sex", "age"),
                        coords={"area": areas, "sex": SEXES, "age": AGES})
    surv = xr.DataArray(np.broadcast_to(1 - q, dshape + (2, len(yrs), len(AGES))).copy()
                        * rng.uniform(0.999, 1.0, dshape + (2, len(yrs), len(AGES))),
                        dims=lead + ("sex", "year", "age"),
                        coords={**dcoords, "sex": SEXES, "year": yrs, "age": AGES})
    asfr = np.where((AGES >= 15) & (AGES <= 49), 0.05, 0.0)
    fert = xr.DataArray(np.broadcast_to(asfr, dshape + (len(yrs), len(AGES))).copy(),
                        dims=lead + ("year", "age"),
                        coords={**dcoords, "year": yrs, "age": AGES})
    l0 = xr.DataArray(np.full((2, len(yrs)), 0.996), dims=("sex", "year"),
                      coords={"sex": SEXES, "year": yrs})
    # Realistic: net migrants a few % of the cell, rarely more than the cell (few clips).
    # Noisy: half a person of noise in every cell, so the thin old-age cells clip in masses.
    noise = rng.normal(0, 1, dshape + (n_area, 2, len(AGES)))
    mig = xr.DataArray(noise * 0.5 if noisy else noise * 0.02 * base.values,
                       dims=lead + ("area", "sex", "age"),
                       coords={**dcoords, "area": areas, "sex": SEXES, "age": AGES})
    inputs = ProjectionInputs(survival=surv, births_survival=l0, fertility=fert,
                              net_migration=mig)
    return base, inputs


def bench(label: str, n_area: int, n_draw: int | None, n_years: int = 15, constrained=False,
          noisy: bool = False, repeat: int = 5) -> None:
    start = 2024
    base, inputs = synthetic(n_area, n_draw, range(start, start + n_years), noisy=noisy)
    control = None
    if constrained:
        years = np.arange(start + 1, start + n_years + 1)
        control = base.sum("area").expand_dims(year=years) * 1.01
    times = []
    for _ in range(repeat):  # the first run pays the first touch of fresh memory pages
        t0 = time.perf_counter()
        out, report = project(base, components=inputs, start_year=start,
                              end_year=start + n_years, constrain_to=control,
                              return_report=True)
        times.append(time.perf_counter() - t0)
        del out
    print(f"{label:<48s} best {min(times):6.3f} s, median {np.median(times):6.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in times) + f"; clipped cells {len(report.clipped)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", action="store_true",
                        help="also 1,000 draws x 3,300 areas, in chunks")
    args = parser.parse_args()
    bench("14,000 areas, 15 years", 14_000, None)
    bench("14,000 areas, 15 years, constrained", 14_000, None, constrained=True)
    bench("1,000 draws x 12 areas, 15 years", 12, 1000)
    bench("1,000 draws x 12 areas, 15 years, constrained", 12, 1000, constrained=True)
    bench("14,000 areas, 15 years, noisy migration", 14_000, None, noisy=True)
    bench("20 draws x 3,300 areas, 15 years", 3_300, 20)
    if args.big:
        t0 = time.perf_counter()
        for chunk in range(20):  # 20 chunks of 50 draws = 1,000 draws
            base, inputs = synthetic(3_300, 50, range(2024, 2039), seed=chunk)
            t1 = time.perf_counter()
            out = project(base, components=inputs, start_year=2024, end_year=2039,
                          return_report=True)[0]
            print(f"  chunk {chunk}: engine {time.perf_counter() - t1:.2f} s")
            del out
        print(f"1,000 draws x 3,300 areas in 20 chunks (incl. input build): "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

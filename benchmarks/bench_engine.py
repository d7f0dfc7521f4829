"""Time the cohort-component engine on synthetic inputs (not a test; prints wall times).

Run: PYTHONPATH=src python benchmarks/bench_engine.py [--big] [--draws-split AREAS] [--first-touch]

Cases: 14,000 areas without draws (about all buurten of the Netherlands), and Monte Carlo
draws over 12 areas (the Assen wijken) and over 3,300 areas (about all wijken of the
Netherlands; in chunks of draws, since 1,000 draws x 3,300 areas x 16 years is 85 GB in
float64). The first run of a case pays the first touch of fresh memory, hence best and median.

``--draws-split AREAS`` splits the CPU time of ``scale.stochastic_projection`` (AREAS areas x
1,000 draws, the noise of ``benchmarks/run.py``, one process) into its three parts: the
quantiles (``_summarise``: band sums and the sort over the draws), the random normals
(``_normals``) and the year loop (everything else), in ns per cell and year.
``--first-touch`` measures what the default call of ``project`` at 14,000 areas pays for its
fresh 362 MB result: filling memory new to the process against filling the same memory again.
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


def draws_split(n_area: int, draws: int = 1000, repeat: int = 3) -> dict:
    """CPU [ns per cell and year] of a stochastic run, split into quantiles, normals and the loop.

    Wraps the two module functions (``scale._summarise``, ``scale._normals``) with CPU timers
    for the duration of the call; the best of ``repeat`` runs (a shared machine only slows).
    """
    import os
    import sys
    import warnings
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synthetic

    from assen_demand import scale

    spent = {"quantiles": 0.0, "normals": 0.0}
    originals = {"_summarise": scale._summarise, "_normals": scale._normals}

    def timed(name: str, key: str):
        def wrapper(*args, **kwargs):
            c0 = time.process_time()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[key] += time.process_time() - c0
        return wrapper

    base, inputs = synthetic.inputs(n_area, years=range(2024, 2039), draws=draws)
    noise = scale.MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
    cells = n_area * draws * 2 * 101 * 15
    best = None
    scale._summarise, scale._normals = timed("_summarise", "quantiles"), timed("_normals", "normals")
    try:
        for _ in range(repeat):
            spent.update(quantiles=0.0, normals=0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c0 = time.process_time()
                scale.stochastic_projection(base, components=inputs, start_year=2024, end_year=2039,
                                            draws=draws, seed=2024, noise=noise, workers=1)
                total = time.process_time() - c0
            if best is None or total < best["total"]:
                best = dict(spent, total=total)
    finally:
        scale._summarise, scale._normals = originals["_summarise"], originals["_normals"]
    best["loop"] = best["total"] - best["quantiles"] - best["normals"]
    split = {k: v / cells * 1e9 for k, v in best.items()}
    print(f"{draws} draws x {n_area} areas, one process, ns per cell and year (CPU, best of {repeat}; "
          f"load {os.getloadavg()[0]:.1f}): total {split['total']:.2f} = year loop {split['loop']:.2f} "
          f"+ quantiles {split['quantiles']:.2f} + normals {split['normals']:.2f}")
    return split


def first_touch(n_area: int = 14_000, years: int = 16, repeat: int = 5) -> dict:
    """Seconds to fill the result of a default ``project`` call: fresh memory against reused.

    Fresh memory costs the kernel's zeroing of every page (and the page faults) on top of
    the write; the engine cannot avoid it for memory that is new to the process.
    """
    from assen_demand.demography.engine import aligned_empty

    shape = (years, 1, n_area, 2, 101)
    fresh, again = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        buf = aligned_empty(shape)
        buf.fill(1.0)
        fresh.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        buf.fill(2.0)
        again.append(time.perf_counter() - t0)
        del buf
    mb = np.prod(shape) * 8 / 1e6
    print(f"fill {mb:.0f} MB: fresh memory {min(fresh) * 1e3:.0f} ms (median {np.median(fresh) * 1e3:.0f}), "
          f"the same memory again {min(again) * 1e3:.0f} ms (median {np.median(again) * 1e3:.0f})")
    return {"fresh_s": min(fresh), "again_s": min(again), "mb": mb}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", action="store_true",
                        help="also 1,000 draws x 3,300 areas, in chunks")
    parser.add_argument("--draws-split", type=int, metavar="AREAS", default=None,
                        help="only: split the CPU of 1,000 draws x AREAS areas into loop, quantiles, normals")
    parser.add_argument("--first-touch", action="store_true",
                        help="only: fill the 14,000-area result in fresh and in reused memory")
    args = parser.parse_args()
    if args.draws_split or args.first_touch:
        if args.draws_split:
            draws_split(args.draws_split)
        if args.first_touch:
            first_touch()
        return
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

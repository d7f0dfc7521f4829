"""Time one large stochastic run, in memory (worker processes) or on a Dask LocalCluster.

    PYTHONPATH=src python benchmarks/bench_scale.py --areas 3300 --draws 1000 [--dask processes|threads]

Synthetic inputs (benchmarks/synthetic.py) with Lee-Carter-like survival draws and migration
noise; prints the wall time, the cells x years per second and the peak memory of this process
(VmHWM) and of its children (ru_maxrss). Not part of run.py: the largest runs take minutes.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from pathlib import Path

import synthetic

from assen_demand.scale import MigrationNoise, stochastic_projection


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=3300)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--years", type=int, default=15)
    parser.add_argument("--dask", choices=["processes", "threads"], default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draw-chunk", type=int, default=None)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    start = 2024
    base, inputs = synthetic.inputs(args.areas, years=range(start, start + args.years), draws=args.draws)
    noise = MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
    kw = dict(components=inputs, start_year=start, end_year=start + args.years, draws=args.draws,
              seed=2024, noise=noise, dtype=args.dtype)
    t0 = time.perf_counter()
    if args.dask:
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=args.dask == "processes",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            up = time.perf_counter() - t0
            t0 = time.perf_counter()
            run = stochastic_projection(base, client=client, draw_chunk=args.draw_chunk, **kw)
        where = f"Dask LocalCluster ({args.workers} {args.dask} workers, cluster start {up:.1f} s)"
    else:
        run = stochastic_projection(base, workers=args.workers, **kw)
        where = f"in memory, {args.workers} worker processes"
    seconds = time.perf_counter() - t0
    cells = args.areas * args.draws * 2 * 101 * args.years
    print(f"{args.areas} areas x {args.draws} draws x {args.years} years ({args.dtype}), {where}: "
          f"{seconds:.1f} s, {cells / seconds / 1e6:.0f} M cell-years/s; peak rss {peak_mb():.0f} MB, "
          f"children {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB; "
          f"total median 2039 {float(run.quantiles.sel(quantile=0.5, sex='total', band='total', year=start + args.years).sum()):.4g}")


if __name__ == "__main__":
    main()

"""The national whole-chain stochastic forecast (issue 20, goal 4): time, cost curve, memory per worker.

    python benchmarks/bench_national_stochastic.py [--raw DIR] [--gemeenten N] [--draws 200] [--workers 2]

Runs :func:`assen_demand.outputs.national.write_national_stochastic` (every gemeente's forecast
with ``draws`` Monte Carlo draws through the whole chain, streamed to quantiles of the opgave per
wijk in ``forecast.zarr`` and ``opgave_quantiles.parquet``) on a Dask ``LocalCluster`` of
``workers`` processes with one thread each.

``--gemeenten N`` runs N gemeenten spread over the size range (every k-th of the gemeenten sorted
by their number of wijken) instead of all; the time of the whole country is then
**extrapolated**, and the JSON says so (``national_stochastic_200_extrapolated``): the seconds of
each gemeente are fitted as ``a + b x areas`` (ordinary least squares, statsmodels) and summed
over every gemeente's areas, divided by the workers. ``--gemeenten 0`` runs all of them.

Memory per worker: each task reports its worker process's peak resident memory (``ru_maxrss``)
when it is done; the maximum over the tasks is the peak of any worker.

Prints one JSON line; :func:`measure` is called by ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _areas_per_gemeente(raw, year: int) -> pd.Series:
    """Areas a gemeente's forecast has: the gemeente and its wijken in the KWB of ``year``."""
    from assen_demand.inputs.datasets import load_national

    kwb = load_national(raw).kwb
    kwb = kwb[kwb["year"] == year]
    gemeenten = kwb.loc[kwb["area_level"] == "gemeente", "area"].astype(str)
    wijken = kwb[kwb["area_level"] == "wijk"].groupby("gemeente")["area"].nunique()
    return (wijken.reindex(gemeenten.values).fillna(0) + 1).astype(int)


def sample(areas: pd.Series, n: int) -> list[str]:
    """``n`` gemeenten spread over the size range (every k-th by number of areas, the largest included)."""
    ordered = areas.sort_values(kind="stable")
    if n <= 0 or n >= len(ordered):
        return list(ordered.index)
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, n)).astype(int))
    return list(ordered.index[picks])


def measure(raw=None, *, gemeenten: int = 8, draws: int = 200, workers: int = 2, row=None) -> dict:
    """Run the national stochastic forecast (or a sample) and extrapolate; see the module docstring."""
    import statsmodels.api as sm
    from dask import distributed

    from assen_demand.outputs.national import write_national_stochastic
    from assen_demand.scale import national_year

    row = row or (lambda case, value, note="": print(f"  {case:<46s} {value:>16s}  {note}", file=sys.stderr))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        year = national_year(raw)
        areas = _areas_per_gemeente(raw, year)
    codes = sample(areas, gemeenten)
    out = Path(tempfile.mkdtemp(prefix="bench_national_stochastic_"))
    load_start = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None, memory_limit=0) as cluster, \
                distributed.Client(cluster) as client:
            t0 = time.perf_counter()
            result = write_national_stochastic(out, data_dir=raw, draws=draws, seed=1, gemeenten=codes, client=client,
                                               progress=False)
            wall = time.perf_counter() - t0
    status = result.status
    ok = status[status["status"] == "ok"]
    fit = sm.OLS(ok["seconds"].to_numpy(float), sm.add_constant(ok["areas"].to_numpy(float))).fit()
    a, b = (float(v) for v in fit.params)
    everything = len(codes) == len(areas)
    # the whole country: the fitted seconds of every gemeente, shared by the workers
    predicted = float((a + b * areas.to_numpy(float)).sum()) / workers
    total = wall if everything else predicted * wall / max(float(ok["seconds"].sum()) / workers, 1e-9)
    store_mb = sum(f.stat().st_size for f in (out / "forecast.zarr").rglob("*") if f.is_file()) / 1e6
    result_keys = {
        f"national_stochastic_{draws}_s": total,
        f"national_stochastic_{draws}_extrapolated": not everything,
        f"national_stochastic_{draws}_gemeenten_run": int(len(ok)),
        f"national_stochastic_{draws}_gemeenten_all": int(len(areas)),
        f"national_stochastic_{draws}_areas_run": int(ok["areas"].sum()),
        f"national_stochastic_{draws}_areas_all": int(areas.sum()),
        f"national_stochastic_{draws}_sample_wall_s": wall,
        f"national_stochastic_{draws}_s_per_gemeente": a,
        f"national_stochastic_{draws}_s_per_area": b,
        f"national_stochastic_{draws}_peak_worker_mb": float(status["peak_rss_mb"].max()),
        f"national_stochastic_{draws}_largest_gemeente_areas": int(ok["areas"].max()),
        f"national_stochastic_{draws}_store_mb": store_mb,
        f"national_stochastic_{draws}_load": (load_start + os.getloadavg()[0]) / 2,
    }
    how = "measured" if everything else (f"extrapolated from {len(ok)} gemeenten ({int(ok['areas'].sum())} of "
                                         f"{int(areas.sum())} areas): {a:.1f} s + {b:.2f} s/area per gemeente")
    row(f"national whole chain, {draws} draws, {workers} workers", f"{total / 60:.1f} min",
        f"{how}; sample wall {wall:.0f} s; peak per worker {status['peak_rss_mb'].max():.0f} MB "
        f"(largest gemeente {int(ok['areas'].max())} areas); load {load_start:.1f}-{os.getloadavg()[0]:.1f}")
    status.to_csv(out / "status_copy.csv", index=False)
    result_keys[f"national_stochastic_{draws}_out"] = str(out)
    return result_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=None, help="raw CBS/UN folder (default: the bundled Drenthe data)")
    parser.add_argument("--gemeenten", type=int, default=8, help="gemeenten to run (0 = all)")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = measure(args.raw, gemeenten=args.gemeenten, draws=args.draws, workers=args.workers)
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in result.items()}))


if __name__ == "__main__":
    main()

"""The national whole-chain stochastic forecast (issue 20, goal 4): time, cost curve, memory per worker.

    python benchmarks/bench_national_stochastic.py [--raw DIR] [--gemeenten N] [--draws 200] [--workers 2]
    python benchmarks/bench_national_stochastic.py --raw DIR --run RUN_FOLDER [--png FIGURE]

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

``--run RUN_FOLDER`` reads a recorded national run instead (``assen-demand forecast --gemeente all
--draws 200 --out RUN_FOLDER``: its ``gemeenten.csv`` and ``run.json``): the measured time, CPU,
peak memory per worker, failures and the cost curve (seconds per gemeente against its areas,
fitted power law, :func:`cost_curve`; ``--png`` draws it).

Prints one JSON line; :func:`measure` and :func:`from_run` are called by ``benchmarks/run.py``.
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


def cost_curve(status: pd.DataFrame) -> dict:
    """Seconds per gemeente against its areas: ``cost = a areas^b`` (log-log OLS, statsmodels) and ``a + b areas``.

    Fitted on the gemeenten that ran (``status == "ok"``), for the task wall time (``seconds``,
    which includes waiting for a core on a loaded machine) and its CPU time (``cpu_seconds``, what
    an idle core would need).
    """
    import statsmodels.api as sm

    ok = status[status["status"] == "ok"]
    areas = ok["areas"].to_numpy(float)
    out = {}
    for column, key in (("seconds", "wall"), ("cpu_seconds", "cpu")):
        seconds = ok[column].to_numpy(float)
        power = sm.OLS(np.log(seconds), sm.add_constant(np.log(areas))).fit()
        linear = sm.OLS(seconds, sm.add_constant(areas)).fit()
        low, high = power.conf_int()[1]
        out[key] = {"exponent": float(power.params[1]), "exponent_ci95": [float(low), float(high)],
                    "coefficient": float(np.exp(power.params[0])), "per_gemeente_s": float(linear.params[0]),
                    "per_area_s": float(linear.params[1]), "r2_loglog": float(power.rsquared)}
    return out


def figure(status: pd.DataFrame, curve: dict, path: Path, *, title: str) -> Path:
    """Seconds per gemeente against its areas (log-log), wall and CPU, with the fitted power laws."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = status[status["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    grid = np.geomspace(max(1, ok["areas"].min()), ok["areas"].max(), 50)
    for column, key, colour in (("seconds", "wall", "tab:blue"), ("cpu_seconds", "cpu", "tab:orange")):
        fit = curve[key]
        ax.scatter(ok["areas"], ok[column], s=10, alpha=0.6, color=colour,
                   label=f"{key} per gemeente (n={len(ok)})")
        ax.plot(grid, fit["coefficient"] * grid ** fit["exponent"], color=colour,
                label=f"{key} fit {fit['coefficient']:.1f} x areas^{fit['exponent']:.2f}")
    ax.set(xscale="log", yscale="log", xlabel="areas of the gemeente (gemeente + wijken)",
           ylabel="seconds per gemeente (task)", title=title)
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not 2x10^0
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def from_run(run_dir, raw=None, *, draws: int = 200, png: Path | None = None, row=None) -> dict:
    """The numbers of a recorded national stochastic run (``write_national_stochastic`` / the CLI).

    Reads ``gemeenten.csv`` (a row per finished gemeente, written as they finish) and ``run.json``
    (written at the end). With ``run.json`` and every gemeente of the base year in the status the
    time is **measured** (``run.json`` ``wall_s``); a run that was stopped has no ``run.json``: its
    time is then extrapolated from its own finished gemeenten (the fitted seconds per gemeente
    summed over the missing ones, divided by the workers, added to the elapsed time) and the JSON
    says so.
    """
    from assen_demand.scale import national_year

    row = row or (lambda case, value, note="": print(f"  {case:<46s} {value:>16s}  {note}", file=sys.stderr))
    run_dir = Path(run_dir)
    status = pd.read_csv(run_dir / "gemeenten.csv")
    record_path = run_dir / "run.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        year = int(record["base_year"]) if record else national_year(raw)
        areas = _areas_per_gemeente(raw, year)
    ok = status[status["status"] == "ok"]
    curve = cost_curve(status)
    workers = int(record["workers"]) if record else int(status["worker"].nunique())
    missing = areas.drop(status["gemeente"], errors="ignore")
    finished = record is not None and missing.empty
    if finished:
        total = float(record["wall_s"])
    else:  # stopped: elapsed + the fitted task seconds of the gemeenten not done, over the workers
        elapsed = float(status["seconds"].sum()) / workers
        fit = curve["wall"]
        total = elapsed + float((fit["per_gemeente_s"] + fit["per_area_s"] * missing.to_numpy(float)).sum()) / workers
    # what idle cores would need: the fitted CPU seconds of every gemeente, shared by the workers
    cpu_fit = curve["cpu"]
    idle = float((cpu_fit["per_gemeente_s"] + cpu_fit["per_area_s"] * areas.to_numpy(float)).sum()) / workers
    peak_by_worker = status.groupby("worker")["peak_rss_mb"].max()
    key = f"national_stochastic_{draws}"
    store = run_dir / "forecast.zarr"
    result = {
        f"{key}_s": total,
        f"{key}_extrapolated": not finished,
        f"{key}_source": f"recorded run {run_dir}" + ("" if finished else " (stopped: extrapolated)"),
        f"{key}_cpu_s": float(status["cpu_seconds"].sum()),
        f"{key}_idle_estimate_s": idle,
        f"{key}_gemeenten_run": int(len(ok)),
        f"{key}_gemeenten_failed": int((status["status"] != "ok").sum()),
        f"{key}_gemeenten_all": int(len(areas)),
        f"{key}_areas_run": int(ok["areas"].sum()),
        f"{key}_areas_all": int(areas.sum()),
        f"{key}_s_per_gemeente": curve["wall"]["per_gemeente_s"],
        f"{key}_s_per_area": curve["wall"]["per_area_s"],
        f"{key}_cpu_s_per_gemeente": curve["cpu"]["per_gemeente_s"],
        f"{key}_cpu_s_per_area": curve["cpu"]["per_area_s"],
        f"{key}_wall_exponent": curve["wall"]["exponent"],
        f"{key}_cpu_exponent": curve["cpu"]["exponent"],
        f"{key}_peak_worker_mb": float(peak_by_worker.max()),
        f"{key}_workers": workers,
        f"{key}_store_mb": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6 if store.is_dir() else None,
    }
    if record:
        result[f"{key}_load"] = (record["load_start"][0] + record["load_end"][0]) / 2
        result[f"{key}_client_peak_mb"] = record["client_peak_rss_mb"]
    if png is not None:
        figure(status, curve, png, title=f"National stochastic run, {draws} draws: seconds per gemeente")
    how = "measured (recorded run)" if finished else f"extrapolated from the stopped run ({len(status)} gemeenten done)"
    row(f"national whole chain, {draws} draws, {workers} workers", f"{total / 60:.1f} min",
        f"{how}; cpu {result[f'{key}_cpu_s']:.0f} s (idle cores: ~{idle / 60:.0f} min); peak per worker {peak_by_worker.max():.0f} MB; "
        f"cost ~ areas^{curve['cpu']['exponent']:.2f} (cpu), {curve['cpu']['per_gemeente_s']:.1f} s + "
        f"{curve['cpu']['per_area_s']:.2f} s/area; failed {result[f'{key}_gemeenten_failed']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=None, help="raw CBS/UN folder (default: the bundled Drenthe data)")
    parser.add_argument("--gemeenten", type=int, default=8, help="gemeenten to run (0 = all)")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--run", type=Path, default=None,
                        help="read a recorded run folder (gemeenten.csv, run.json) instead of running a sample")
    parser.add_argument("--png", type=Path, default=None, help="with --run: the cost-curve figure")
    args = parser.parse_args()
    if args.run is not None:
        result = from_run(args.run, args.raw, draws=args.draws, png=args.png)
    else:
        result = measure(args.raw, gemeenten=args.gemeenten, draws=args.draws, workers=args.workers)
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in result.items()}))


if __name__ == "__main__":
    main()

"""Speed and scale of assen_demand, as ratios to what this machine can do (issue 9).

    python benchmarks/run.py [--quick] [--raw DIR]

Measures, in the same run, the machine's copy bandwidth (a 256 MB ``np.copyto``, bytes read
plus written per second) and in-cache multiply rate (64-byte aligned float64 arrays of 1-2 K
elements, the best of a few sizes that fit in L1/L2), and states every timing as a ratio to a
floor derived from them, so that the ratios hold when the machine's speed drifts:

* deterministic floor: 32 bytes per cell and year (read population, survival and migration,
  write the result) at the copy bandwidth;
* in-cache floor of a stochastic run: 2 operations per cell and year (the survival multiply
  and the migration add) at the in-cache multiply rate of all cores used, for the dtype the
  run works in (float32 by default).

The machine may be shared: every case also records its CPU time (``cpu_s``; for a stochastic
run the worker processes' too) and the load average, so a wall time that another job slowed
down can be told apart (``*_cpu_floor_ratio`` = CPU time / (floor x cores used): the ratio on
an otherwise idle machine, if the run scales over the cores).

Before timing it checks that the engine (``projection.project``) and a plain pandas
implementation of the same cohort-component step (``pandas_reference`` below) agree to 1e-10
relative on the same synthetic inputs (``benchmarks/synthetic.py``). Cold timings and peak
memory come from a fresh subprocess per case: ``rss`` is the process's peak resident set size
(``VmHWM``; for the worker processes of a stochastic run the largest one's ``ru_maxrss``),
``traced`` the peak of Python/numpy allocations during the one call
(``tracemalloc``). Prints a table and, as its last line, one JSON object.

``--quick`` runs a reduced set (under 3 minutes): no pandas timing at 14,000 areas, 330 instead
of 3,300 areas for the 1,000-draw run, 20 gemeenten for the national hindcast.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.inputs.datasets import find_raw_dir

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

START, YEARS = 2024, 15  # 15 yearly steps: 1 January 2024 -> 2039
ALIGN = 64


# --------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------


def _aligned(n: int, dtype=np.float64) -> np.ndarray:
    raw = np.empty(n * np.dtype(dtype).itemsize + ALIGN, dtype=np.uint8)
    off = -raw.ctypes.data % ALIGN
    return raw[off:off + n * np.dtype(dtype).itemsize].view(dtype)


def _best(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> dict:
    """Copy bandwidth [bytes/s read + written] and in-cache multiply rates [elements/s]."""
    n = 32 * 2**20  # 256 MB of float64
    src, dst = _aligned(n), _aligned(n)
    src[:] = 1.0
    dst[:] = 0.0
    copy = 2 * src.nbytes / _best(lambda: np.copyto(dst, src), 7)
    del src, dst
    rates = {}
    for dtype in (np.float64, np.float32):
        best = 0.0
        for size in (1024, 2048, 4096, 8192):
            a, b, c = _aligned(size, dtype), _aligned(size, dtype), _aligned(size, dtype)
            a[:], b[:] = 1.0001, 0.9999
            reps = 2_000_000 // size

            def loop():
                for _ in range(reps):
                    np.multiply(a, b, out=c)

            best = max(best, reps * size / _best(loop, 5))
        rates[np.dtype(dtype).name] = best
    return {"copy_bytes_per_s": copy, "mult_f64_per_s": rates["float64"],
            "mult_f32_per_s": rates["float32"], "cores": os.cpu_count() or 1}


def det_floor(areas: int, m: dict) -> float:
    return areas * 2 * 101 * YEARS * 32 / m["copy_bytes_per_s"]


def incache_floor(areas: int, draws: int, m: dict, workers: int, dtype: str = "float32") -> float:
    rate = m["mult_f32_per_s"] if dtype == "float32" else m["mult_f64_per_s"]
    return areas * draws * 2 * 101 * YEARS * 2 / (rate * workers)


def default_raw() -> Path:
    """:func:`assen_demand.inputs.datasets.find_raw_dir` from the repository, else ``../shared/data/raw``."""
    return find_raw_dir(REPO) or REPO.parent / "shared" / "data" / "raw"


# --------------------------------------------------------------------------------------------
# the pandas reference: the same step, written the obvious way
# --------------------------------------------------------------------------------------------


def pandas_reference(base, inputs, start: int, end: int) -> pd.Series:
    """Project with pandas: long tables indexed by area/sex/age, merge and groupby-shift.

    Same model as ``projection.project`` without a constraint: survive and age (the open group
    keeps its survivors), add net migrants, births from the mean of the female populations on
    1 January of the two years (negative cells counted as zero), infants = migrants aged 0 +
    surviving births, negative cells set to zero. Returns persons indexed (year, area, sex, age).
    """
    pop = base.to_series().rename("pop").reset_index()
    surv = inputs.survival.to_series().rename("s").reset_index()
    fert = inputs.fertility.to_series().rename("f").reset_index()
    l0 = inputs.births_survival.to_series().rename("l0").reset_index()
    mig = inputs.net_migration.to_series().rename("m").reset_index()
    srb = float(inputs.sex_ratio_at_birth)
    top = int(pop["age"].max())
    out = [pop.assign(year=start)]
    for year in range(start, end):
        df = pop.merge(surv[surv["year"] == year].drop(columns="year"), on=["sex", "age"])
        df["survivors"] = df["pop"] * df["s"]
        df = df.sort_values(["area", "sex", "age"])
        df["new"] = df.groupby(["area", "sex"])["survivors"].shift(1)
        stay = df[df["age"] == top].set_index(["area", "sex"])["survivors"]
        df = df.set_index(["area", "sex", "age"])
        df.loc[(slice(None), slice(None), top), "new"] += stay.to_numpy()
        df["new"] = df["new"].fillna(0.0)
        df = df.join(mig.set_index(["area", "sex", "age"]))
        df["new"] = df["new"] + df["m"]
        women = df.xs("female", level="sex")
        exposure = (women["new"].clip(lower=0) + women["pop"]) / 2
        f = fert[fert["year"] == year].set_index("age")["f"]
        births = (exposure * f.reindex(exposure.index.get_level_values("age")).to_numpy()).groupby(level="area").sum()
        lsurv = l0[l0["year"] == year].set_index("sex")["l0"]
        for sex, share in (("male", srb / (1 + srb)), ("female", 1 / (1 + srb))):
            idx = pd.MultiIndex.from_arrays([births.index, [sex] * len(births), [0] * len(births)],
                                            names=["area", "sex", "age"])
            df.loc[idx, "new"] += (births * share * lsurv[sex]).to_numpy()
        df["new"] = df["new"].clip(lower=0)
        pop = df["new"].rename("pop").reset_index()
        out.append(pop.assign(year=year + 1))
    return pd.concat(out).set_index(["year", "area", "sex", "age"])["pop"].sort_index()


def agreement(engine, reference: pd.Series) -> float:
    """Largest relative difference over the cells with at least 1e-6 persons."""
    got = engine.to_series().reorder_levels(["year", "area", "sex", "age"]).sort_index()
    want = reference.reindex(got.index)
    diff = (got - want).abs()
    big = want.abs() > 1e-6
    rel = float((diff[big] / want.abs()[big]).max())
    small = float(diff[~big].max()) if (~big).any() else 0.0
    return max(rel, small)


# --------------------------------------------------------------------------------------------
# cases run in a fresh process
# --------------------------------------------------------------------------------------------


def _case_det(areas: int, repeat: int) -> dict:
    import synthetic

    from assen_demand.demography.projection import project

    base, inputs = synthetic.inputs(areas, years=range(START, START + YEARS))

    def call(**kw):
        return project(base, components=inputs, start_year=START, end_year=START + YEARS,
                       return_report=True, **kw)

    t0 = time.perf_counter()
    result, report = call()
    cold = time.perf_counter() - t0
    del result
    warm, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result, _ = call()
        warm.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del result
    rss = _peak_rss_mb()  # before the buffer below, which would double the output
    tracemalloc.start()
    call()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    buf = np.empty((YEARS + 1, 1, areas, 2, 101))
    reuse = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call(out=buf)
        reuse.append(time.perf_counter() - t0)
    from assen_demand.demography.engine import default_threads

    return {"cold_s": cold, "warm_s": float(np.median(warm)), "warm_runs": warm,
            "cpu_s": float(np.median(cpu)), "threads": default_threads(areas * 2 * 101),
            "reuse_s": float(np.median(reuse)), "traced_mb": traced / 1e6,
            "rss_mb": rss, "clipped_cells": len(report.clipped), "load": _load()}


def _case_stochastic(areas: int, draws: int, workers: int | None) -> dict:
    import synthetic

    from assen_demand.scale import MigrationNoise, stochastic_projection

    base, inputs = synthetic.inputs(areas, years=range(START, START + YEARS), draws=draws)
    # about the wijk dispersion factors of assen_demand.uncertainty (Drenthe, KWB 2022-2024)
    noise = MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), _cpu_all()
        run = stochastic_projection(base, components=inputs, start_year=START,
                                    end_year=START + YEARS, draws=draws, seed=2024, noise=noise,
                                    workers=workers)
        seconds, cpu = time.perf_counter() - t0, _cpu_all() - c0
    from assen_demand.scale import _AREA_BLOCK

    used = workers if workers is not None else min(os.cpu_count() or 1, -(-areas // _AREA_BLOCK))
    # The workers are forked from this process: their ru_maxrss is at least its size at the fork.
    return {"seconds": seconds, "cpu_s": cpu, "workers": used, "rss_mb": _peak_rss_mb(),
            "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "clipped_per_draw": float(run.clipped.sum()), "load": _load()}


def _case_products() -> dict:
    """The default Assen run as the CLI does it: compute (read + forecast), then write every
    product (sources, programme, CSVs, workbook, figures). Wall and CPU (workers included)."""
    import tempfile

    from assen_demand.inputs.datasets import load_gemeente
    from assen_demand.outputs.products import write_products
    from assen_demand.pipeline import forecast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), _cpu_all()
        data = load_gemeente("GM0106")
        result = forecast(data.gemeente, data=data, supply="example")
        compute_s, compute_cpu = time.perf_counter() - t0, _cpu_all() - c0
        out = Path(tempfile.mkdtemp(prefix="assen_products_"))
        t0, c0 = time.perf_counter(), _cpu_all()
        # what the CLI writes, by the same function: the workers draw the figures while this process
        # writes the tables, the workbook and the provenance
        summary = write_products(result, out, data=data, supply="example")
        write_s, write_cpu = time.perf_counter() - t0, _cpu_all() - c0
        t0 = time.perf_counter()
        write_products(result, out / "tables_only", data=data, supply="example", figures=False)
        tables_s = time.perf_counter() - t0
        # a rerun with the same inputs, as the CLI does it: into a new folder, the figures whose
        # fingerprint is unchanged copied from the earlier one (outputs/figure_reuse.py)
        t0 = time.perf_counter()
        again = write_products(result, out / "rerun", data=data, supply="example", previous=out)
        rewrite_s = time.perf_counter() - t0
    # tables_s: the tables, workbook and provenance alone, written again without figures
    return {"compute_s": compute_s, "compute_cpu_s": compute_cpu, "write_s": write_s, "write_cpu_s": write_cpu,
            "tables_s": tables_s, "figures_s": max(write_s - tables_s, 0.0), "figures": summary["figures"],
            "rewrite_s": rewrite_s, "figures_reused": again["figures_reused"], "load": _load()}


def _case_draws(draws: int) -> dict:
    """The whole Assen chain, deterministic (median of 3 warm calls) and with ``draws`` draws,
    in one fresh process: the ratio of the two and the peak memory of the draws run."""
    import assen_demand
    from assen_demand.inputs.datasets import load_gemeente

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_gemeente("GM0106")
        assen_demand.forecast(data=data, progress=False)
        det, det_cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            assen_demand.forecast(data=data, progress=False)
            det.append(time.perf_counter() - t0)
            det_cpu.append(time.process_time() - c0)
        before = _peak_rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        fc = assen_demand.forecast(data=data, draws=draws, seed=1, progress=False)
        fc.to_frame("dwellings")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"det_s": float(np.median(det)), "det_cpu_s": float(np.median(det_cpu)), "draws_s": seconds,
            "draws_cpu_s": cpu, "rss_before_mb": before, "peak_mb": _peak_rss_mb(), "load": _load()}


def _cpu_all() -> float:
    """CPU seconds of this process and of its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak resident memory [MB]: VmHWM, since ru_maxrss survives exec on Linux
    (a child started by a large parent would report the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    """The 1-minute load average over the cores (other jobs on a shared machine show here)."""
    try:
        return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}"
    except OSError:
        return "n/a"


def _subprocess(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--case", *args],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced set, under 3 minutes")
    parser.add_argument("--raw", type=Path, default=default_raw(),
        help="raw CBS/UN folder for the national hindcast (default $ASSEN_DEMAND_RAW or the "
             "first shared/data/raw above the repository)")
    parser.add_argument("--national-run", type=Path, default=None,
        help="output folder of a national Parquet run to measure the table formats on (issue 22); default: "
             "a run of the bundled gemeenten made here")
    parser.add_argument("--national-stochastic-run", type=Path, default=None,
        help="output folder of a recorded national stochastic run (assen-demand forecast --gemeente all "
             "--draws 200): national_stochastic_200_s is then its measured time (gemeenten.csv, run.json) "
             "instead of an extrapolation from a sample run here")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, *rest = args.case
        if kind == "det":
            print(json.dumps(_case_det(int(rest[0]), int(rest[1]))))
        elif kind == "products":
            print(json.dumps(_case_products()))
        elif kind == "draws":
            print(json.dumps(_case_draws(int(rest[0]))))
        else:
            workers = None if rest[2] == "auto" else int(rest[2])
            print(json.dumps(_case_stochastic(int(rest[0]), int(rest[1]), workers)))
        return

    import synthetic

    from assen_demand.demography.projection import project

    quick = args.quick
    t_all = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    result: dict = {"quick": quick}

    def row(case: str, value: str, note: str = "") -> None:
        rows.append((case, value, note))
        print(f"  {case:<46s} {value:>16s}  {note}", file=sys.stderr, flush=True)

    m = machine()
    result.update(copy_gb_per_s=m["copy_bytes_per_s"] / 1e9, mult_f64_g_per_s=m["mult_f64_per_s"] / 1e9,
                  mult_f32_g_per_s=m["mult_f32_per_s"] / 1e9, cores=m["cores"])
    row("machine: copy bandwidth", f"{m['copy_bytes_per_s'] / 1e9:.1f} GB/s", "read + written, 256 MB np.copyto")
    row("machine: in-cache multiply float64", f"{m['mult_f64_per_s'] / 1e9:.2f} G/s", "elements per second, one core")
    row("machine: in-cache multiply float32", f"{m['mult_f32_per_s'] / 1e9:.2f} G/s",
        f"{m['cores']} cores; load average {_load()} at the start")

    # 1. agreement with the pandas reference, and its speed
    worst = 0.0
    for areas in ([40, 3300] if quick else [40, 3300, 14000]):
        base, inputs = synthetic.inputs(areas, years=range(START, START + YEARS))
        engine = project(base, components=inputs, start_year=START, end_year=START + YEARS)
        t0 = time.perf_counter()
        reference = pandas_reference(base, inputs, START, START + YEARS)
        pandas_s = time.perf_counter() - t0
        rel = agreement(engine, reference)
        worst = max(worst, rel)
        if areas >= 3300:
            result[f"pandas_{areas}_s"] = pandas_s
        row(f"engine vs pandas, {areas} areas", f"{rel:.1e}", f"max relative difference; pandas {pandas_s:.2f} s")
        del engine, reference
    result["pandas_max_rel_diff"] = worst
    if worst > 1e-10:
        print(f"engine and pandas reference differ by {worst:.2e} > 1e-10", file=sys.stderr)
        sys.exit(1)

    # 2. deterministic engine: cold call in a fresh process, median of warm calls
    for areas in (12, 3300, 14000):
        case = _subprocess("det", str(areas), "3" if quick else "7")
        floor = det_floor(areas, m)
        result[f"det_{areas}_warm_s"] = case["warm_s"]
        result[f"det_{areas}_cold_s"] = case["cold_s"]
        result[f"det_{areas}_rss_mb"] = case["rss_mb"]
        result[f"floor_ratio_{areas}"] = case["warm_s"] / floor
        result[f"det_{areas}_cpu_s"] = case["cpu_s"]
        row(f"project, {areas} areas x {YEARS} years, warm", f"{case['warm_s'] * 1e3:.1f} ms",
            f"{case['warm_s'] / floor:.2f}x bandwidth floor ({floor * 1e3:.1f} ms); out= reused "
            f"{case['reuse_s'] * 1e3:.1f} ms ({case['reuse_s'] / floor:.2f}x); cpu "
            f"{case['cpu_s'] * 1e3:.1f} ms on {case['threads']} thread(s); load {_load()}")
        row(f"project, {areas} areas, cold (fresh process)", f"{case['cold_s'] * 1e3:.1f} ms",
            f"peak rss {case['rss_mb']:.0f} MB, traced {case['traced_mb']:.1f} MB; clipped cells {case['clipped_cells']}")
        if f"pandas_{areas}_s" in result:
            speedup = result[f"pandas_{areas}_s"] / case["warm_s"]
            result[f"speedup_vs_pandas_{areas}"] = speedup
            row(f"speed-up over pandas, {areas} areas", f"{speedup:.0f}x", "")

    # 3. Monte Carlo: 1,000 draws
    for areas in ([12, 330] if quick else [12, 3300]):
        case = _subprocess("stoch", str(areas), "1000", "auto")
        floor = incache_floor(areas, 1000, m, case["workers"])
        key = f"draws1000_areas{areas}"
        result[f"{key}_s"] = case["seconds"]
        result[f"{key}_cpu_s"] = case["cpu_s"]
        result[f"{key}_floor_ratio"] = case["seconds"] / floor
        result[f"{key}_cpu_floor_ratio"] = case["cpu_s"] / (floor * case["workers"])
        if areas >= 330:
            result["draws1000_floor_ratio"] = case["seconds"] / floor
            result["draws1000_rss_mb"] = max(case["rss_mb"], case["children_rss_mb"])
        row(f"1,000 draws x {areas} areas x {YEARS} years", f"{case['seconds']:.2f} s",
            f"{case['seconds'] / floor:.1f}x in-cache floor ({floor:.2f} s, {case['workers']} workers, "
            f"float32); cpu {case['cpu_s']:.2f} s = {case['cpu_s'] / (floor * case['workers']):.1f}x; "
            f"peak rss {case['rss_mb']:.0f} MB (+ workers {case['children_rss_mb']:.0f} MB); load {_load()}")

    # 4. Lee-Carter fit and forecast on the bundled WPP data
    from assen_demand.demography import mortality
    from assen_demand.inputs import datasets

    data = datasets.load_assen()
    mx = mortality.ungroup_mx(mortality.wpp_period_mx(data.wpp_mx, base_year=2024))
    mx = mx.rename({"period": "time"}) if "period" in mx.dims else mx
    years = list(range(2024, 2041))

    def lee_carter():
        mortality.fit_lee_carter(mx).forecast(years)

    lc = _best(lee_carter, 20)
    result["lee_carter_ms"] = lc * 1e3
    row("Lee-Carter fit + forecast (WPP, 101 ages)", f"{lc * 1e3:.2f} ms",
        f"{mx.sizes['time']} periods, forecast {years[0]}-{years[-1]}")

    # 5. the whole Assen chain
    import assen_demand

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        assen_demand.forecast()
        first = time.perf_counter() - t0
        runs = []
        for _ in range(1 if quick else 3):
            t0 = time.perf_counter()
            assen_demand.forecast()
            runs.append(time.perf_counter() - t0)
    result["assen_forecast_s"] = float(np.median(runs))
    row("assen_demand.forecast() (Assen, to 2040)", f"{np.median(runs):.2f} s", f"first call {first:.2f} s")

    # 6. national hindcast 2021 -> 2022
    if (args.raw / "kwb").is_dir():
        from assen_demand.backtest import national_hindcast
        from assen_demand.inputs.datasets import load_national

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            national = load_national(args.raw)
            read = time.perf_counter() - t0
            subset = None
            if quick:
                subset = list(national.gemeenten(2021)["area"][:20])
            t0 = time.perf_counter()
            _, status = national_hindcast(args.raw, base_year=2021, target_year=2022,
                                          gemeenten=subset, processes=min(2, os.cpu_count() or 1))
            seconds = time.perf_counter() - t0
        counts = status["status"].value_counts().to_dict()
        n = len(subset) if subset else "all"
        key = f"national_hindcast_{len(subset)}" if subset else "national_hindcast"
        result[f"{key}_s"] = seconds
        result[f"{key}_status"] = counts
        row(f"national hindcast 2021->2022 ({n} gemeenten)", f"{seconds:.1f} s",
            f"reading the raw folder {read:.1f} s; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    else:
        row("national hindcast", "skipped", f"no raw data at {args.raw} (use --raw)")

    # 7. table formats of a national run: CSV vs Parquet vs Zarr (issue 22; bench_store.py)
    import bench_store

    result.update(bench_store.measure(args.national_run, row=row))

    # 8. issue 20: where users wait (each in a fresh process)
    case = _subprocess("products")
    result["products_write_over_compute"] = case["write_s"] / case["compute_s"]
    result["products_write_cpu_over_compute_cpu"] = case["write_cpu_s"] / case["compute_cpu_s"]
    result["products_rewrite_over_compute"] = case["rewrite_s"] / case["compute_s"]
    result.update(products_compute_s=case["compute_s"], products_write_s=case["write_s"],
                  products_figures_s=case["figures_s"], products_rewrite_s=case["rewrite_s"],
                  products_figures_reused=case["figures_reused"])
    row("Assen products: write / compute", f"{case['write_s'] / case['compute_s']:.2f}x",
        f"compute {case['compute_s']:.1f} s (cpu {case['compute_cpu_s']:.1f}), write {case['write_s']:.1f} s "
        f"(cpu {case['write_cpu_s']:.1f}, workers included; tables+workbook alone {case['tables_s']:.1f} s, "
        f"{case['figures']} figures add {case['figures_s']:.1f} s); load {case['load']}")
    row("Assen products rerun, same inputs: write / compute", f"{case['rewrite_s'] / case['compute_s']:.2f}x",
        f"{case['rewrite_s']:.1f} s, {case['figures_reused']} of {case['figures']} figures copied (fingerprint "
        f"unchanged), the rest drawn")
    n_draws = 200 if quick else 1000
    case = _subprocess("draws", str(n_draws))
    key = f"assen_draws{n_draws}"
    result[f"{key}_over_deterministic"] = case["draws_s"] / case["det_s"]
    result[f"{key}_cpu_over_deterministic"] = case["draws_cpu_s"] / case["det_cpu_s"]
    result[f"{key}_peak_mb"] = case["peak_mb"]
    row(f"Assen whole chain, {n_draws} draws / deterministic", f"{case['draws_s'] / case['det_s']:.1f}x",
        f"{case['draws_s']:.1f} s vs {case['det_s']:.2f} s (cpu {case['draws_cpu_s'] / case['det_cpu_s']:.1f}x); "
        f"peak rss {case['peak_mb']:.0f} MB (before the draws {case['rss_before_mb']:.0f}); load {case['load']}")
    # 9. issue 20 goal 4: the national whole-chain stochastic forecast on a 2-worker LocalCluster,
    # a sample of gemeenten spread over the sizes, extrapolated to all (bench_national_stochastic.py)
    if args.national_stochastic_run is not None:  # measured: a recorded run (extrapolated only if it was stopped)
        import bench_national_stochastic

        result.update(bench_national_stochastic.from_run(args.national_stochastic_run, args.raw, draws=200, row=row))
    elif args.raw is not None and Path(args.raw).is_dir():
        import bench_national_stochastic

        result.update(bench_national_stochastic.measure(args.raw, gemeenten=3 if quick else 6, draws=200, row=row))
        result["national_stochastic_200_source"] = "extrapolated from a sample run here"
    else:
        result["national_stochastic_200_s"] = None
        row("national whole-chain stochastic, 200 draws", "skipped", f"no raw data at {args.raw} (use --raw)")

    # 9. cost curves (issue 20): time and peak memory against areas and draws, fitted exponents, figure
    import cost_curves

    curves = cost_curves.measure(quick, row=row)
    cost_curves.figure(curves, HERE / ("cost_curves_quick.png" if quick else "cost_curves.png"))
    result.update({k: v for k, v in curves.items() if k != "cost_points"})

    result["total_s"] = time.perf_counter() - t_all
    result["load_end"] = os.getloadavg()[0]
    result["peak_rss_mb"] = _peak_rss_mb()
    row("peak memory of this process", f"{_peak_rss_mb():.0f} MB",
        "VmHWM (pandas reference, Assen chain, national hindcast)")
    print()
    print(f"{'case':<48s} {'result':>16s}  notes")
    print("-" * 120)
    for case, value, note in rows:
        print(f"{case:<48s} {value:>16s}  {note}")
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in result.items()}))


if __name__ == "__main__":
    main()

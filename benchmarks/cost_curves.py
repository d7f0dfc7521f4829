"""Cost curves (issue 20): time and peak memory against areas and against draws, with fitted exponents.

    PYTHONPATH=src python benchmarks/cost_curves.py [--quick] [--png benchmarks/cost_curves.png]

Also run by ``benchmarks/run.py`` (its keys ``cost_*``). Every point is a fresh process (so its
peak resident memory, ``VmHWM``, is that case's own):

* **areas**: the deterministic engine (``projection.project``, median of 3 warm calls) and 100
  stochastic draws (``scale.stochastic_projection``, float32, worker processes: wall time, and
  the larger of the parent's and the largest worker's peak) on synthetic areas shaped like
  Dutch wijken/buurten (``synthetic.py``), 15 years;
* **draws**: the whole Assen chain (``assen_demand.forecast(draws=n)`` + ``to_frame("dwellings")``,
  after one warm deterministic call in the same process).

The exponent ``b`` of ``cost = a n^b`` is the least-squares slope in log-log over the points at
or above the middle of the range (the small cases measure fixed costs, not the growth). Time is
wall time and CPU time is recorded beside it: on a shared machine read the CPU curve.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START, YEARS = 2024, 15

AREAS = (100, 330, 1000, 3300, 10000)
AREAS_QUICK = (100, 330, 1000, 3300)
STOCH_DRAWS = 100
DRAWS = (50, 100, 200, 500, 1000)
DRAWS_QUICK = (25, 50, 100, 200)


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _point(kind: str, n: int) -> dict:
    """One case in this process (run through :func:`_fresh`)."""
    sys.path.insert(0, str(HERE))
    import resource

    import synthetic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "det":
            from assen_demand.demography.projection import project

            base, inputs = synthetic.inputs(n, years=range(START, START + YEARS))
            project(base, components=inputs, start_year=START, end_year=START + YEARS)
            wall, cpu = [], []
            for _ in range(3):
                t0, c0 = time.perf_counter(), _cpu()
                project(base, components=inputs, start_year=START, end_year=START + YEARS)
                wall.append(time.perf_counter() - t0)
                cpu.append(_cpu() - c0)
            return {"s": float(np.median(wall)), "cpu_s": float(np.median(cpu)), "peak_mb": _peak_mb()}
        if kind == "stoch":
            from assen_demand.scale import MigrationNoise, stochastic_projection

            base, inputs = synthetic.inputs(n, years=range(START, START + YEARS), draws=STOCH_DRAWS)
            noise = MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
            t0, c0 = time.perf_counter(), _cpu()
            stochastic_projection(base, components=inputs, start_year=START, end_year=START + YEARS,
                                  draws=STOCH_DRAWS, seed=2024, noise=noise)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            return {"s": time.perf_counter() - t0, "cpu_s": _cpu() - c0, "peak_mb": max(_peak_mb(), kids)}
        if kind == "assen":
            import assen_demand
            from assen_demand.inputs.datasets import load_gemeente

            data = load_gemeente("GM0106")
            assen_demand.forecast(data=data, progress=False)
            t0, c0 = time.perf_counter(), _cpu()
            fc = assen_demand.forecast(data=data, draws=n, seed=1, progress=False)
            fc.to_frame("dwellings")
            return {"s": time.perf_counter() - t0, "cpu_s": _cpu() - c0, "peak_mb": _peak_mb()}
    raise ValueError(kind)


def _fresh(kind: str, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--point", kind, str(n)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cost point {kind} {n} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["load"] = os.getloadavg()[0]
    return out


def exponent(n, cost) -> float:
    """Slope of log(cost) on log(n) over the upper half of the range (n >= the median n)."""
    n, cost = np.asarray(n, dtype=float), np.asarray(cost, dtype=float)
    keep = n >= np.median(n)
    if keep.sum() < 2:
        keep = np.ones_like(n, dtype=bool)
    return float(np.polyfit(np.log(n[keep]), np.log(cost[keep]), 1)[0])


def measure(quick: bool = False, row=None) -> dict:
    """All points and the fitted exponents; ``row(case, value, note)`` reports each point."""
    curves = {"det": AREAS_QUICK if quick else AREAS, "stoch": AREAS_QUICK if quick else AREAS,
              "assen": DRAWS_QUICK if quick else DRAWS}
    points: dict = {}
    for kind, sizes in curves.items():
        points[kind] = []
        for n in sizes:
            p = _fresh(kind, n)
            p["n"] = n
            points[kind].append(p)
            if row:
                unit = "draws" if kind == "assen" else "areas"
                row(f"cost curve {kind}, {n} {unit}", f"{p['s']:.3g} s",
                    f"cpu {p['cpu_s']:.3g} s, peak {p['peak_mb']:.0f} MB; load {p['load']:.1f}/{os.cpu_count()}")
    result = {"cost_points": points}
    for kind, pts in points.items():
        n = [p["n"] for p in pts]
        result[f"cost_{kind}_time_exponent"] = exponent(n, [p["s"] for p in pts])
        result[f"cost_{kind}_cpu_exponent"] = exponent(n, [p["cpu_s"] for p in pts])
        result[f"cost_{kind}_memory_exponent"] = exponent(n, [p["peak_mb"] for p in pts])
    return result


def figure(result: dict, path: Path) -> Path:
    """Two panels (against areas, against draws), time on the left axis and peak memory on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    labels = {"det": "deterministic engine", "stoch": f"{STOCH_DRAWS} stochastic draws", "assen": "Assen whole chain"}
    for ax, kinds, xlabel in ((axes[0], ("det", "stoch"), "areas (synthetic wijken/buurten, 15 years)"),
                              (axes[1], ("assen",), "draws (Assen: 11 areas, to 2040)")):
        mem = ax.twinx()
        for i, kind in enumerate(kinds):
            pts = result["cost_points"][kind]
            n = [p["n"] for p in pts]
            colour = f"C{i}"
            ax.loglog(n, [p["s"] for p in pts], "o-", color=colour,
                      label=f"{labels[kind]}: time ~ n^{result[f'cost_{kind}_time_exponent']:.2f}")
            ax.loglog(n, [p["cpu_s"] for p in pts], "o:", color=colour, alpha=0.6,
                      label=f"{labels[kind]}: CPU ~ n^{result[f'cost_{kind}_cpu_exponent']:.2f}")
            mem.loglog(n, [p["peak_mb"] for p in pts], "s--", color=f"C{i + 2}",
                       label=f"{labels[kind]}: peak memory ~ n^{result[f'cost_{kind}_memory_exponent']:.2f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds (wall solid, CPU dotted)")
        mem.set_ylabel("peak resident memory (MB)")
        lines = ax.get_legend_handles_labels()
        more = mem.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
    loads = [p["load"] for pts in result["cost_points"].values() for p in pts]
    fig.suptitle(f"Cost curves, benchmarks/cost_curves.py (load average {min(loads):.1f}-{max(loads):.1f} "
                 f"on {os.cpu_count()} cores)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--png", type=Path, default=HERE / "cost_curves.png")
    parser.add_argument("--point", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(_point(args.point[0], int(args.point[1]))))
        return

    def row(case, value, note):
        print(f"  {case:<40s} {value:>10s}  {note}", file=sys.stderr, flush=True)

    result = measure(args.quick, row=row)
    figure(result, args.png)
    print(json.dumps({k: v for k, v in result.items()}))


if __name__ == "__main__":
    main()

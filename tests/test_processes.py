"""Worker pools that die with the run that started them (assen_demand.processes, issue 20)."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest
from process_helpers import left_by_a_killed_script

from assen_demand import processes

SRC = Path(__file__).resolve().parents[1] / "src" / "assen_demand"

_SETTING = None


def _remember(value):
    global _SETTING
    _SETTING = value


def _setting(_):
    return _SETTING, os.getpid()


def test_the_initializer_runs_in_every_worker_with_its_arguments():
    with processes.process_pool(2, initializer=_remember, initargs=("wijk",)) as pool:
        seen = list(pool.map(_setting, range(8)))
    assert {value for value, _ in seen} == {"wijk"}
    assert os.getpid() not in {pid for _, pid in seen}


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux only")
def test_workers_die_with_a_killed_run(tmp_path):
    # a run killed with SIGKILL while its workers are busy must not leave them behind: forked
    # workers hold both ends of the pool's pipes and would wait for work for ever
    marker = f"pool-workers-{os.getpid()}-{tmp_path.name}"
    code = (
        "import os, signal, time\n"
        "from assen_demand.processes import process_pool\n"
        "pool = process_pool(2)\n"
        "futures = [pool.submit(time.sleep, 120) for _ in range(2)]\n"
        "time.sleep(1.0)\n"  # both workers busy
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert left_by_a_killed_script(code, marker) == []


def test_every_process_pool_of_the_package_is_made_here():
    # a pool made elsewhere would not die with its run; processes.process_pool is the one place
    made = []
    for path in SRC.rglob("*.py"):
        if path.name == "processes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in {"ProcessPoolExecutor", "Pool"}:
                    made.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert made == []


def _threads_in_worker(most):
    return processes.threads_here(most)


def test_a_pool_worker_runs_its_steps_on_one_thread():
    # the pool already keeps the cores busy: threads inside each worker would only wait for each other
    assert processes.threads_here(2) == min(os.cpu_count() or 1, 2)
    assert processes.threads_here(1) == 1
    with processes.process_pool(1) as pool:
        assert pool.submit(_threads_in_worker, 8).result() == 1
    # the tasks of the national runs' Dask workers say so themselves
    with processes.one_thread_each():
        assert processes.threads_here(8) == 1
    assert processes.threads_here(8) == min(os.cpu_count() or 1, 8)


_FAULTS_OF_CYCLES = """
import resource, sys
import numpy as np
from assen_demand import processes
if sys.argv[1] == "keep":
    assert processes.keep_freed_memory()
a = np.ones(5_000_000)  # 40 MB: above glibc's largest default heap block (32 MB); the first one is
del a                   # faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    a = np.ones(5_000_000)
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_worker_that_keeps_its_memory_reuses_freed_arrays():
    import subprocess

    def faults(mode):
        done = subprocess.run([sys.executable, "-c", _FAULTS_OF_CYCLES, mode], capture_output=True, text=True,
                              check=True)
        return int(done.stdout.strip())

    # 30 more arrays of 40 MB after the first: each faulted in afresh by default, at least 20 faults
    # each even in 2 MB transparent huge pages (1,300-17,000 here, as huge pages were to be had),
    # and not at all when the freed memory is kept
    fresh, kept = faults("default"), faults("keep")
    assert fresh >= 30 * 20
    assert kept < 30


def test_overlapping_one_thread_blocks_end_with_the_last():
    # Dask tasks that run as threads of one process enter and leave in any order
    first, second = processes.one_thread_each(), processes.one_thread_each()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert processes.threads_here(8) == 1  # the second task still runs
    second.__exit__(None, None, None)
    assert processes.threads_here(8) == min(os.cpu_count() or 1, 8)

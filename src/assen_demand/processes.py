"""Worker processes that die with the run that started them.

Every parallel step of the package (the figures, the national hindcast, the national and the
streamed runs of :mod:`assen_demand.scale`) runs on a pool of worker processes. A run killed with
SIGKILL (the out-of-memory killer, ``kill -9``, a CI timeout) cannot stop its workers: forked
workers hold both ends of the pool's pipes, so they never see the run end, wait for work for
ever and keep the run's output pipes open (issue 20: a killed ``assen-demand forecast`` hung its
caller this way). On Linux each worker here asks the kernel to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere the workers are spawned and this does nothing.

The pools use ``fork`` where the platform has it: no import, no copy of the inputs, and a script
needs no ``if __name__ == "__main__"`` guard; ``spawn`` elsewhere, where it does.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager


#: True in a worker of :func:`process_pool`: the pool already keeps the cores busy
_CORES_TAKEN = False
# blocks of one_thread_each now running (Dask may run its tasks as threads of one process)
_ONE_THREAD_BLOCKS = 0
_ONE_THREAD_LOCK = threading.Lock()


def threads_here(most: int) -> int:
    """Threads a step may run side by side in this process: every core up to ``most``, and
    one in a worker process of a parallel run, whose siblings already keep the other cores busy
    (two threads in each of two workers on two cores only wait for each other)."""
    if _CORES_TAKEN or _ONE_THREAD_BLOCKS:
        return 1
    return max(1, min(os.cpu_count() or 1, int(most)))


@contextmanager
def one_thread_each():
    """Within this block :func:`threads_here` is 1: for the task of a worker process that a pool
    other than :func:`process_pool` started (the Dask workers of the national runs). Blocks may
    overlap (tasks run as threads): until the last one ends."""
    global _ONE_THREAD_BLOCKS
    with _ONE_THREAD_LOCK:
        _ONE_THREAD_BLOCKS += 1
    try:
        yield
    finally:
        with _ONE_THREAD_LOCK:
            _ONE_THREAD_BLOCKS -= 1


# glibc's mallopt parameters (<malloc.h>)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: arrays below this size come from (and go back to) the heap of a worker that keeps its memory
KEPT_ARRAY_BYTES = 256 * 2**20


def keep_freed_memory() -> bool:
    """Have the C heap of this process keep what it frees, so that the next array reuses it (glibc).

    A national run's worker forecasts gemeente after gemeente, each allocating and freeing arrays
    of 1-250 MB many times. By default glibc maps every array above 32 MB afresh and unmaps it when
    freed, and Dask's workers also hand back every freed page at once (its default
    ``MALLOC_TRIM_THRESHOLD_`` of 64 kB): each array is then paid again in page faults. Six
    gemeenten of 200 draws on 2 workers (two alternating pairs of runs): 4.2-4.3 million page
    faults and 13.5-14.8 s of kernel time by default; with the heap kept 0.9-1.0 million and
    6.3-6.9 s, 20 % less wall time, and a peak per worker of 1.09 instead of 1.02 GB.
    What the draws' set-up frees is still handed back where :func:`release_freed_memory` is called.

    Returns
    -------
    bool
        Whether the settings took effect (False where the C library is not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)) and bool(libc.mallopt(_M_MMAP_THRESHOLD, KEPT_ARRAY_BYTES))
    except (OSError, AttributeError):  # not glibc
        return False


def release_freed_memory() -> None:
    """Give the C heap's freed pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    The opposite of :func:`keep_freed_memory`, at one moment: the draws' set-up
    (:func:`assen_demand.uncertainty.simulate_forecast`: life tables, parameter draws, the
    calibration) frees many arrays of a few MB; glibc keeps such freed heap pages resident, and
    the draws' large arrays that follow are mapped afresh, so without this the peak of 1,000
    Assen draws carries about 0.1 GB of freed memory (issue 20).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def start_method() -> str | None:
    """``"fork"`` where the platform has it, else ``None`` (the platform's default)."""
    import multiprocessing  # import here: only runs in parallel need it

    return "fork" if "fork" in multiprocessing.get_all_start_methods() else None


def process_pool(workers: int, *, initializer: Callable | None = None, initargs: Sequence = (),
                 method: str | None = None):
    """A :class:`concurrent.futures.ProcessPoolExecutor` whose workers die with this process.

    Parameters
    ----------
    workers : int
        Worker processes.
    initializer : callable, optional
        Run once in each worker (after it has asked to die with its parent), with ``initargs``.
    initargs : sequence
    method : str, optional
        Start method; default :func:`start_method`.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
    """
    import multiprocessing  # import here: only runs in parallel need it
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context(method if method is not None else start_method())
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, tuple(initargs)))


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the process ``parent_pid`` that started it dies (Linux)."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the call above took effect
        os._exit(1)


def _start_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    global _CORES_TAKEN
    _CORES_TAKEN = True
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)

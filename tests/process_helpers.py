"""Finding the processes a killed test run left behind (the worker-pool tests)."""

from __future__ import annotations

import time
from pathlib import Path


def left_behind(marker: str) -> list[str]:
    """Process ids whose command line holds ``marker`` (forked workers inherit their parent's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended while we looked
            pass
    return found


def still_running_after(marker: str, seconds: float = 20.0) -> list[str]:
    """The processes of :func:`left_behind` still there after waiting up to ``seconds`` for them to go."""
    deadline = time.monotonic() + seconds
    while left_behind(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left_behind(marker)


def left_by_a_killed_script(code: str, marker: str, *, timeout: float = 180.0) -> list[str]:
    """Run ``code`` (which ends by SIGKILLing itself) with ``marker`` on its command line and
    return the processes of :func:`still_running_after` it left."""
    import signal
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", code, marker], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == -signal.SIGKILL, run.stderr
    return still_running_after(marker)

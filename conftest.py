"""Notebook kernels import the same assen_demand as the test run.

nbmake starts each kernel in ``notebooks/``, so a relative ``PYTHONPATH=src`` (or an editable
install of another checkout) would give the kernel a different package than pytest's. The kernel
inherits this process's environment: put the tested package's folder first on PYTHONPATH.
The same file marks every notebook ``slow`` (see ``pytest_collection_modifyitems``).
This lives in the root conftest (not ``notebooks/conftest.py``) because a second conftest module
beside ``tests/conftest.py`` breaks ``--doctest-modules`` collection of the latter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import assen_demand

_SRC = str(Path(assen_demand.__file__).resolve().parents[1])
_rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _SRC]
os.environ["PYTHONPATH"] = os.pathsep.join([_SRC, *_rest])


def pytest_collection_modifyitems(config, items):
    """Mark every notebook (collected by nbmake, so no decorator is possible) as ``slow``."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)

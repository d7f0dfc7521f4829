"""Notebook kernels import the same assen_demand as the test run.

nbmake starts each kernel in ``notebooks/``, so a relative ``PYTHONPATH=src`` (or an editable
install of another checkout) would give the kernel a different package than pytest's. The kernel
inherits this process's environment: put the tested package's folder first on PYTHONPATH.
The same file marks every notebook and doctest ``slow`` (see ``pytest_collection_modifyitems``)
and skips collecting them for ``-m "not slow"`` (``pytest_ignore_collect``).
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


def _deselects_slow(config) -> bool:
    """Whether ``-m`` deselects ``slow`` items (``-m "not slow"``): then nothing slow need be collected."""
    markexpr = config.getoption("markexpr", default="") or ""
    if not markexpr:
        return False
    try:
        from _pytest.mark.expression import Expression  # pytest's own -m parser (pytest >= 6)

        return not Expression.compile(markexpr).evaluate(lambda name, **kwargs: name == "slow")
    except Exception:  # another pytest: collect everything, the markers still deselect
        return False


def pytest_ignore_collect(collection_path, config):
    """With ``-m "not slow"``, do not collect ``src/`` (the doctests) or ``notebooks/`` at all.

    Both are ``slow`` (see below): the fast subset deselects them anyway, and skipping their
    collection saves importing every module for ``--doctest-modules`` and nbmake's notebook reads.
    """
    if _deselects_slow(config):
        root = Path(str(config.rootpath))
        path = Path(str(collection_path))
        for folder in ("src", "notebooks"):
            if path != root / folder and path.is_relative_to(root / folder):  # its files and sub-folders
                return True
    return None


def pytest_collection_modifyitems(config, items):
    """Mark every notebook (collected by nbmake, so no decorator is possible) and doctest ``slow``.

    The doctests (60 examples, ~5 s of CPU with their imports) run in the full suite, the README's
    command; the fast subset for development leaves them out.
    """
    for item in items:
        if item.path.suffix == ".ipynb" or isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.slow)

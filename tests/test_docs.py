"""The documentation builds with warnings as errors, and its example figures exist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="install the test extra: python -m pip install -e '.[test]'")
    pytest.importorskip("mkdocstrings")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    api = (tmp_path / "site" / "api" / "export" / "index.html").read_text(encoding="utf-8")
    assert "write_forecast" in api and "workbook_sheets" in api
    methods = (tmp_path / "site" / "methods" / "index.html").read_text(encoding="utf-8")
    for topic in ("PCLM", "Andreev", "Lee-Carter", "Rogers-Castro", "Clayton", "rounding rule"):
        assert topic in methods, topic


def test_docs_example_figures_are_committed():
    for name in ("ouderen_per_wijk.png", "tekort_per_wijk_verpleegzorgplek.png"):
        assert (REPO / "docs" / "images" / name).stat().st_size > 10_000

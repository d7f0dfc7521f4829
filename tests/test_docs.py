"""The documentation builds with warnings as errors, and its example figures exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The docs site built once with ``mkdocs build --strict``, notebooks executed (a few minutes)."""
    pytest.importorskip("mkdocs", reason="install the test extra: python -m pip install -e '.[test]'")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("mkdocs_jupyter")
    out = tmp_path_factory.mktemp("docs") / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the executed notebooks' kernels log "[IPKernelApp] WARNING | ... TCP" to stderr: not a docs warning
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line and "[IPKernelApp]" not in line]
    assert not warnings, "\n".join(warnings)
    return out


@pytest.mark.slow
def test_docs_build_strict(site):
    api = (site / "api" / "export" / "index.html").read_text(encoding="utf-8")
    assert "write_forecast" in api and "workbook_sheets" in api
    methods = (site / "methods" / "index.html").read_text(encoding="utf-8")
    for topic in ("PCLM", "Andreev", "Lee-Carter", "Rogers-Castro", "Clayton", "rounding rule"):
        assert topic in methods, topic


SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const):`")


@pytest.mark.slow
def test_api_reference_has_links_not_literal_sphinx_roles(site):
    # before issue 19: 245 roles printed as text on 17 pages
    pages = sorted((site / "api").rglob("*.html"))
    assert len(pages) >= 17
    literal = {str(p.relative_to(site)): len(SPHINX_ROLE.findall(p.read_text(encoding="utf-8"))) for p in pages}
    assert sum(literal.values()) == 0, {k: v for k, v in literal.items() if v}
    # a role with a known target became a link to the rendered object
    pipeline = (site / "api" / "pipeline" / "index.html").read_text(encoding="utf-8")
    assert 'href="../uncertainty/#assen_demand.uncertainty.ForecastDraws.quantiles"' in pipeline


@pytest.mark.slow
def test_notebooks_are_rendered_with_their_output(site):
    names = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert len(names) >= 6
    for name in names:
        page = (site / "notebooks" / name / "index.html").read_text(encoding="utf-8")
        assert page.count("jp-OutputArea-output") >= 3, f"{name} shows no output"
    woningen = (site / "notebooks" / "04_woningbehoefte_per_wijk" / "index.html").read_text(encoding="utf-8")
    assert "<img" in woningen  # the heatmap and the panels
    assert "181.740577" not in woningen  # the supply table is rounded
    assert "carers_per_85plus" in woningen or "potential carers" in woningen


def test_docs_example_figures_are_committed():
    for name in ("ouderen_per_wijk.png", "tekort_per_wijk_verpleegzorgplek.png"):
        assert (REPO / "docs" / "images" / name).stat().st_size > 10_000

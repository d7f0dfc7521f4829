"""The bundled CBS/UN tables live in the top-level ``data/cbs/`` (DESIGN.md, issue 19 point 7).

A checkout and an editable install read that folder itself; a wheel carries it inside the package
as ``assen_demand/data/cbs`` (hatchling ``force-include``). ``inputs.datasets.bundled_dir()`` is the
one function that finds it. The slow test builds the wheel, installs it into a fresh virtual
environment and runs the README's forecast command from another folder.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from assen_demand.errors import MissingDataError
from assen_demand.inputs import bundled
from assen_demand.inputs.datasets import BUNDLED_FILES, bundled_dir
from assen_demand.outputs import export

REPO = Path(__file__).resolve().parents[1]
#: every file of the bundle: the tables the readers load, the stock, the extra codes and the README
BUNDLE = sorted({*BUNDLED_FILES.values(), "dwelling_stock.csv", "gemeente_codes_extra.csv", "README.md"})


def test_the_tables_live_at_the_top_level_and_nowhere_in_src():
    assert all((REPO / "data" / "cbs" / name).is_file() for name in BUNDLE)
    # a second copy inside the package folder would shadow data/cbs in an editable install
    assert not (REPO / "src" / "assen_demand" / "data" / "cbs").exists()


def test_bundled_dir_in_a_checkout_is_the_top_level_folder():
    folder = bundled_dir()
    assert all(folder.joinpath(name).is_file() for name in BUNDLE)
    if Path(bundled.__file__).resolve().is_relative_to(REPO):  # tests run against this checkout
        assert Path(str(folder)).resolve() == (REPO / "data" / "cbs").resolve()


def test_data_tables_and_checksums_read_the_bundle():
    assert set(export.data_tables()["file"]) == {n for n in BUNDLE if n.endswith(".csv")}
    checksums = {f["path"] for f in export.file_checksums()}
    assert checksums == {n for n in BUNDLE if n.endswith(".csv")}


def test_the_package_copy_wins_over_the_source_tree(tmp_path):
    package_copy, source_tree = tmp_path / "pkg", tmp_path / "repo"
    for folder in (package_copy, source_tree):
        folder.mkdir()
        (folder / "README.md").write_text("x", encoding="utf-8")
    assert bundled.find_bundled_dir(package_copy, source_tree) == package_copy
    (package_copy / "README.md").unlink()  # an editable install: no copy inside the package
    assert bundled.find_bundled_dir(package_copy, source_tree) == source_tree


def test_no_bundle_anywhere_names_both_places_and_the_fix(tmp_path):
    with pytest.raises(MissingDataError, match=r"pkg.*repo.*reinstall assen_demand.*data/cbs"):
        bundled.find_bundled_dir(tmp_path / "pkg", tmp_path / "repo")


def _parent_site_packages() -> list[str]:
    """Where this interpreter finds numpy, pandas, ... (the venv below borrows them, no download)."""
    paths = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(p for p in paths if Path(p).is_dir()))


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_carries_the_tables_and_runs_the_forecast(tmp_path):
    # build the wheel as `pip install .` would (isolated build with hatchling)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("assen_demand-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"assen_demand/data/cbs/{n}" for n in BUNDLE} <= names
    assert "assen_demand/data/parameters/care_prevalence.csv" in names
    assert not any(n.startswith(("data/", "tests/", "src/")) for n in names)

    # a fresh venv; the dependencies come from this interpreter's site-packages through a .pth file
    # (appended after the venv's own site-packages, so the wheel's assen_demand is the one imported)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "borrowed_dependencies.pth").write_text("\n".join(_parent_site_packages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=tmp_path)

    # run from another folder, without this checkout on PYTHONPATH (the root conftest puts src/ there)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import assen_demand.inputs.datasets as d; print(d.__file__); print(d.bundled_dir())"],
        check=True, capture_output=True, text=True, cwd=workdir, env=env).stdout.split()
    assert all(Path(p).resolve().is_relative_to(env_dir.resolve()) for p in where), where
    assert where[1].replace("\\", "/").endswith("assen_demand/data/cbs")

    script = env_dir / ("Scripts/assen-demand.exe" if os.name == "nt" else "bin/assen-demand")
    run = subprocess.run([str(script), "forecast", "--out", "results"], capture_output=True, text=True,
                         cwd=workdir, env=env)
    assert run.returncode == 0, run.stderr
    provenance = json.loads((workdir / "results" / "provenance.json").read_text(encoding="utf-8"))
    # the wheel's run read byte-identical tables to this checkout's data/cbs
    assert provenance["data"]["files"] == export.file_checksums()
    assert (workdir / "results" / "population.csv").stat().st_size > 0

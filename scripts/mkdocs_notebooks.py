"""MkDocs hook: the notebooks in ``notebooks/`` become pages of the docs site.

The notebooks live beside the package (where ``pytest --nbmake`` runs them), not in ``docs/``, and
are committed without outputs. This hook adds them to the site's files under ``notebooks/``;
mkdocs-jupyter (``execute: true`` in ``mkdocs.yml``) then runs each one while the site is built,
so a reader sees the tables and charts of the current code without running anything. A file
copy or a symlink would go stale or break on Windows; this keeps one copy of every notebook.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(NOTEBOOKS.parent),
                          dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
    return files

"""Where the bundled tidy CBS/UN tables are: the one function that finds ``data/cbs``.

The tables live in the repository's top-level ``data/cbs/`` (written by
``scripts/build_cbs_data.py``). A wheel carries them inside the package as
``assen_demand/data/cbs/`` (``force-include`` in ``pyproject.toml``); an editable install or a
checkout on ``PYTHONPATH`` has no such copy and reads the repository folder itself.
:func:`assen_demand.inputs.datasets.bundled_dir` is the public name; this leaf module exists so
that the CBS readers (``inputs.parsing``, imported by ``datasets``) can use the same function without an
import cycle.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from assen_demand.errors import MissingDataError

__all__ = ["bundled_dir", "find_bundled_dir"]

#: a folder counts as the bundle only if it holds this file (written with the tables)
MARKER = "README.md"


def find_bundled_dir(package_copy, source_tree):
    """The first of two candidate folders that holds the bundled tables.

    Parameters
    ----------
    package_copy : Traversable or path
        ``assen_demand/data/cbs`` inside the installed package (present in a wheel install).
    source_tree : path
        ``<repository>/data/cbs`` (present in a checkout, used by an editable install).

    Returns
    -------
    Traversable or pathlib.Path
        ``package_copy`` when it holds the tables, else ``source_tree``.

    Raises
    ------
    MissingDataError
        Neither folder holds the tables (``README.md`` is the marker).
    """
    if package_copy.joinpath(MARKER).is_file():
        return package_copy
    source_tree = Path(source_tree)
    if (source_tree / MARKER).is_file():
        return source_tree
    raise MissingDataError(
        f"the bundled CBS tables are missing: neither {package_copy} (installed package) nor {source_tree} "
        "(source checkout) holds them; reinstall assen_demand (pip install .) or, in a checkout, restore "
        "data/cbs/ (git checkout -- data/cbs, or python scripts/build_cbs_data.py)"
    )


def bundled_dir():
    """The folder holding the bundled tidy tables (``data/cbs``).

    Returns
    -------
    Traversable or pathlib.Path
        The package's own copy in a wheel install; the repository's ``data/cbs/`` in an editable
        install or a checkout.

    Raises
    ------
    MissingDataError
        Neither place holds the tables.

    Examples
    --------
    >>> bundled_dir().joinpath("kwb.csv").is_file()
    True
    """
    package_copy = files("assen_demand").joinpath("data", "cbs")
    # src/assen_demand/inputs/bundled.py -> parents[3] is the repository root in a checkout
    source_tree = Path(__file__).resolve().parents[3] / "data" / "cbs"
    return find_bundled_dir(package_copy, source_tree)

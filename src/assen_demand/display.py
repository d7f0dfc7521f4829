"""Short text and HTML summaries of result objects, for the console and Jupyter.

The dataclass default ``repr`` prints every array in full (a ``Forecast`` came to ~49,000
characters); :func:`summary_repr` replaces it with a few lines: a title (what, where, which
scenario and years), headline numbers and one line per field giving its type and dimensions.
A class adds its title and headline numbers through two optional methods,
``_summary_title(self) -> str`` and ``_summary_headline(self) -> list[tuple[str, str]]``.

Examples
--------
>>> from dataclasses import dataclass
>>> import numpy as np, xarray as xr
>>> @summary_repr
... @dataclass(frozen=True)
... class Result:
...     population: xr.DataArray
...     gemeente: str
>>> pop = xr.DataArray(np.ones((2, 3)), dims=("area", "year"), attrs={"units": "persons"})
>>> print(repr(Result(pop, "GM0106")))
Result: GM0106
  population  DataArray (area: 2, year: 3) [persons]
  gemeente    'GM0106'
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["summary_repr", "describe_value", "summary_lines", "format_count"]

#: Longest line of a summary; longer descriptions end in "..."
MAX_LINE = 110


def format_count(value: float) -> str:
    """A count rounded to a whole number with thousands separators (``74,655``); NaN -> ``n/a``."""
    value = float(value)
    return "n/a" if not np.isfinite(value) else f"{value:,.0f}"


def _clip(text: str, width: int = MAX_LINE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _dims(sizes) -> str:
    return ", ".join(f"{d}: {n}" for d, n in sizes.items())


def _names(items, limit: int = 6) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def describe_value(value: Any) -> str:
    """One line saying what a field holds: type, dimensions or shape, units; never the values of an array.

    Examples
    --------
    >>> import pandas as pd
    >>> describe_value(pd.DataFrame({"area": ["A", "B"], "persons": [1, 2]}))
    'DataFrame 2 rows: area, persons'
    >>> describe_value({"GM0106": "Assen", "WK010600": "Centrum"})
    'dict of 2: GM0106, WK010600'
    """
    if isinstance(value, xr.DataArray):
        units = value.attrs.get("units")
        return f"DataArray ({_dims(value.sizes)})" + (f" [{units}]" if units else "")
    if isinstance(value, xr.Dataset):
        return f"Dataset ({_dims(value.sizes)}): {_names(value.data_vars)}"
    if isinstance(value, pd.DataFrame):
        return f"DataFrame {len(value):,} rows: {_names(value.columns)}"
    if isinstance(value, pd.Series):
        return f"Series {len(value):,} values" + (f" ({value.name})" if value.name is not None else "")
    if isinstance(value, np.ndarray):
        return f"ndarray shape {value.shape}, {value.dtype}"
    if isinstance(value, dict):
        return f"dict of {len(value)}" + (f": {_names(value.keys(), 4)}" if value else "")
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"{type(value).__name__} of {len(value)}: {_names(value, 4)}"
    title = getattr(value, "_summary_title", None)
    if callable(title):
        return f"{type(value).__name__}: {title()}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__
    return repr(value)


def _auto_title(obj: Any) -> str:
    """Gemeente and years from the usual attribute names, when a class gives no title itself."""
    parts = []
    gemeente = getattr(obj, "gemeente", None)
    if isinstance(gemeente, str):
        parts.append(gemeente)
    first = getattr(obj, "base_year", None)
    last = getattr(obj, "end_year", None)
    if isinstance(first, (int, np.integer)) and isinstance(last, (int, np.integer)):
        parts.append(f"{first}-{last}")
    elif isinstance(getattr(obj, "year", None), (int, np.integer)):
        parts.append(f"year {obj.year}")
    return ", ".join(parts)


def summary_lines(obj: Any) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """The title, the headline rows and the field rows of an object's summary."""
    name = type(obj).__name__
    title_of = getattr(obj, "_summary_title", None)
    title = _auto_title(obj) if not callable(title_of) else title_of()
    title = f"{name}: {title}" if title else name
    headline_of = getattr(obj, "_summary_headline", None)
    headline = [(str(k), str(v)) for k, v in headline_of()] if callable(headline_of) else []
    fields = []
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            fields.append((f.name, describe_value(getattr(obj, f.name))))
    return title, headline, fields


def _text(self) -> str:
    title, headline, fields = summary_lines(self)
    rows = headline + fields
    width = max((len(k) for k, _ in rows), default=0)
    lines = [_clip(title)] + [f"  {k.ljust(width)}  " + _clip(v, MAX_LINE - width - 4) for k, v in rows]
    return "\n".join(lines)


def _html(self) -> str:
    title, headline, fields = summary_lines(self)

    def rows(items, style=""):
        return "".join(
            f"<tr><th style='text-align:left{style}'>{html.escape(k)}</th>"
            f"<td style='text-align:left{style}'>{html.escape(_clip(v, 200))}</td></tr>"
            for k, v in items
        )

    return (
        f"<div><strong>{html.escape(title)}</strong><table>"
        f"{rows(headline)}{rows(fields, ';color:#555')}</table></div>"
    )


def summary_repr(cls):
    """Class decorator: a short ``__repr__`` and a Jupyter ``_repr_html_`` (put it above ``@dataclass``).

    Works on any class; dataclass fields are listed one line each. The class may define
    ``_summary_title`` and ``_summary_headline`` (see the module docstring).
    """
    cls.__repr__ = _text
    cls._repr_html_ = _html
    return cls

"""Input validation at the edge: every file a user can give is checked here, once.

The readers (:mod:`assen_demand.inputs.cbs`, :mod:`assen_demand.inputs.datasets`, the supply
reader, the scenario loader and ``report``'s run folders) call these functions before any number
is computed, so a bad file stops the run with one line that names the file, the row or key, and
the fix. Nothing is dropped silently: what is accepted with a doubt is a :class:`InputWarning`.

Checks, by class:

* **encoding** -- UTF-8 with or without a byte-order mark is read as it is; a file that is not
  UTF-8 but decodes as Windows-1252/latin-1 text (no control characters) is read with a warning;
  UTF-16 and binary files are an error (:func:`decode_text`);
* **empty files** -- 0 bytes, only whitespace, or a header without rows (:func:`read_csv`);
* **duplicate keys** -- two rows for one key, naming the file lines (:func:`check_unique`);
* **parts vs totals** -- e.g. postcode men + women against the published total, beyond what
  CBS's rounding to 5 can explain (:func:`check_parts_within_total`);
* **plausible ranges** -- finite values within stated bounds, whole years in a window
  (:func:`check_finite_range`, :func:`check_whole_years`).

Hand-written rather than a schema library (pandera 0.35 was considered): the checks are five
small kinds, each message must be one line in a fixed form (file, row, key, fix), and pandera's
``SchemaErrors`` report is a multi-line failure table that would have to be re-worded anyway.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError

__all__ = [
    "InputWarning",
    "CBS_ROUNDING",
    "decode_text",
    "read_csv",
    "read_toml",
    "read_json",
    "file_lines",
    "check_unique",
    "check_parts_within_total",
    "check_finite_range",
    "check_whole_years",
    "read_run_population",
]

#: CBS rounds each postcode cell to a multiple of 5 independently, so men + women may differ from
#: the published total by a few multiples of 5. Measured on the 2021 PC4 file (83502NED,
#: /work/shared/data/raw/pc4_2021): |men + women - total| is 0 (46,856 rows), 5 (33,323) or 10
#: (1,001) and never more; a part exceeds the total by at most 5 (1,135 rows). A difference above
#: 10 persons cannot come from rounding.
CBS_ROUNDING = 10.0

#: the header line is line 1 of a CSV file; the first data row is line 2
_FIRST_DATA_LINE = 2


class InputWarning(UserWarning):
    """An input accepted with a doubt (e.g. read as latin-1): the run goes on, the warning says why."""


# --------------------------------------------------------------------------------------------
# encoding and reading
# --------------------------------------------------------------------------------------------


#: C0 controls other than tab, LF and CR, DEL and the C1 controls: none belongs in a text table.
#: A regular expression, because a loop over the characters took 1.3 s per raw CBS file (issue 20).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _has_control_characters(text: str) -> bool:
    return _CONTROL_CHARACTER.search(text) is not None


def decode_text(raw: bytes, *, source: str) -> str:
    """Bytes of a text file -> str, UTF-8 (BOM allowed) or, with a warning, Windows-1252/latin-1.

    Parameters
    ----------
    raw : bytes
        The file's content.
    source : str
        File name for messages.

    Returns
    -------
    str

    Raises
    ------
    DataFormatError
        UTF-16/32 (byte-order mark or NUL bytes) and binary content.

    Examples
    --------
    >>> decode_text(b"\\xef\\xbb\\xbfarea,year\\n", source="x.csv")
    'area,year\\n'
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     decode_text("Súdwest-Fryslân".encode("latin-1"), source="x.csv"), len(caught)
    ('Súdwest-Fryslân', 1)
    """
    fix = "save it as UTF-8 CSV (in Excel: 'CSV UTF-8 (door komma's gescheiden)')"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or raw[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise DataFormatError(f"{source} is UTF-16/UTF-32 text, not UTF-8; {fix}")
    if b"\x00" in raw:
        raise DataFormatError(f"{source} holds NUL bytes: it is a binary file or UTF-16 text, not a CSV; {fix}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = None
        if text is None or _has_control_characters(text):
            raise DataFormatError(
                f"{source} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start} is not valid) "
                f"and not latin-1 text either; {fix}"
            ) from None
        warnings.warn(f"{source} is not UTF-8; read as latin-1 (Windows-1252). Save it as UTF-8 to silence this",
                      InputWarning, stacklevel=3)
        return text
    if _has_control_characters(text):
        raise DataFormatError(f"{source} holds control characters: it is not a text file; {fix}")
    return text


def read_csv(path, *, what: str | None = None, allow_no_rows: bool = False, **options) -> pd.DataFrame:
    """Read a user's CSV file with the encoding and emptiness checks of this module.

    Parameters
    ----------
    path : path
        The file.
    what : str, optional
        What the file should be, for messages (e.g. ``"a KWB table"``).
    allow_no_rows : bool
        Accept a header without rows (default: an error).
    **options
        Passed on to :func:`pandas.read_csv` (``sep``, ``dtype``, ...; not ``encoding``).

    Returns
    -------
    pandas.DataFrame
        Row ``i`` of the frame is line ``i + 2`` of the file (:func:`file_lines`).

    Raises
    ------
    MissingDataError
        The path is not a regular file.
    DataFormatError
        0 bytes, a header without rows, an encoding that is not UTF-8 or latin-1, or a CSV
        pandas cannot parse (with the line it names).
    """
    path = Path(path)
    label = path.name
    expected = f"; it should be {what}" if what else ""
    if not path.is_file():
        raise MissingDataError(f"{path} is not a file{expected}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(f"{label} is empty (0 bytes or only blanks){expected}: re-download or re-save it")
    text = decode_text(raw, source=label)
    try:
        frame = pd.read_csv(io.StringIO(text), **options)
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{label} has no header or rows{expected}: re-download or re-save it") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(f"{label} is not a readable CSV ({' '.join(str(exc).split())}){expected}") from None
    if frame.empty and not allow_no_rows:
        raise DataFormatError(
            f"{label} has a header but no data rows{expected}: the download or copy was cut off; get the file again"
        )
    return frame


def read_toml(raw: bytes, *, source: str, max_depth: int = 8) -> dict:
    """Parse TOML bytes (UTF-8 with or without BOM, latin-1 with a warning), at most ``max_depth`` deep.

    Raises
    ------
    DataFormatError
        Not text, not valid TOML (with tomllib's line and column), or nested deeper than
        ``max_depth`` tables/arrays (a scenario file needs two).
    """
    if not raw.strip():
        raise DataFormatError(f"{source} is empty; a scenario file needs at least a [scenario] table")
    text = decode_text(raw, source=source)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFormatError(f"{source}: not valid TOML ({exc}); check quotes and brackets on that line") from None
    except RecursionError:
        raise DataFormatError(f"{source}: nested too deeply for a scenario file; it needs [section] key = value") from None
    depth = _depth(parsed)
    if depth > max_depth:
        raise DataFormatError(f"{source}: tables or arrays nested {depth} deep (at most {max_depth}); "
                              "a scenario file needs [section] key = value")
    return parsed


def _depth(value, level: int = 0) -> int:
    stack, deepest = [(value, level)], level
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def read_json(path, *, what: str) -> object:
    """Read a JSON file written by this package or CBS; one-line errors for empty or damaged files."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path} is not a file; it should be {what}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(f"{path} is empty; it should be {what}")
    try:
        return json.loads(decode_text(raw, source=path.name))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                              f"it should be {what}") from None


# --------------------------------------------------------------------------------------------
# row checks
# --------------------------------------------------------------------------------------------


def file_lines(index: Iterable, limit: int = 5) -> str:
    """Frame index labels (0-based, as :func:`read_csv` returns them) -> ``"lines 2, 7"``."""
    lines = [int(i) + _FIRST_DATA_LINE for i in index]
    shown = ", ".join(map(str, lines[:limit])) + (f" (+{len(lines) - limit} more)" if len(lines) > limit else "")
    return f"line{'s' if len(lines) > 1 else ''} {shown}"


def _describe(frame: pd.DataFrame, index, columns: Sequence[str]) -> str:
    row = frame.loc[index]
    return ", ".join(f"{c}={row[c]!r}" if isinstance(row[c], str) else f"{c}={row[c]}" for c in columns)


def check_unique(frame: pd.DataFrame, keys: Sequence[str], *, source: str, fix: str) -> None:
    """Raise when two rows share a key.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows as read (index = file row, see :func:`file_lines`).
    keys : sequence of str
        Columns that together identify a row.
    source : str
        File name for the message.
    fix : str
        What the user should do.

    Raises
    ------
    DataFormatError
        Naming the key and the file lines of its rows.
    """
    dup = frame.duplicated(list(keys), keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        same = frame[dup & (frame[list(keys)] == first[list(keys)]).all(axis=1)]
        raise DataFormatError(
            f"{source}: {_describe(frame, same.index[0], keys)} appears {len(same)} times "
            f"({file_lines(same.index)}); {fix}"
        )


def check_parts_within_total(frame: pd.DataFrame, parts: Sequence[str], total: str, *, source: str,
                             labels: Sequence[str], tolerance: float = CBS_ROUNDING) -> None:
    """Raise where a part exceeds the total, or the parts miss the total, by more than ``tolerance``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric ``parts`` and ``total`` columns (NaN = unknown cell, not checked).
    parts : sequence of str
        Columns that add up to ``total`` (e.g. men, women).
    total : str
    source : str
    labels : sequence of str
        Columns naming a row in the message (e.g. postcode, age band).
    tolerance : float [same unit as the columns]
        Largest difference rounding can explain (:data:`CBS_ROUNDING` for cells rounded to 5).

    Raises
    ------
    InvalidValueError
    """
    values = frame[list(parts)].to_numpy(dtype=float)
    whole = frame[total].to_numpy(dtype=float)
    known = ~np.isnan(values).any(axis=1) & ~np.isnan(whole)
    over = known & (values > whole[:, None] + tolerance).any(axis=1)
    off = known & (np.abs(values.sum(axis=1) - whole) > tolerance)
    bad = over | off
    if bad.any():
        i = frame.index[np.argmax(bad)]
        row = frame.loc[i]
        sums = " + ".join(f"{c} {row[c]:g}" for c in parts)
        raise InvalidValueError(
            f"{source}: {_describe(frame, i, labels)}: {sums} does not fit {total} {row[total]:g} "
            f"(more than rounding, {tolerance:g}, can explain; {int(bad.sum())} such rows, {file_lines(frame.index[bad])}); "
            "the file is damaged or edited: re-download it from CBS"
        )


def check_finite_range(frame: pd.DataFrame, column: str, *, source: str, labels: Sequence[str],
                       low: float = 0.0, high: float, reason: str) -> None:
    """Raise where ``column`` is not a finite number in ``[low, high]``.

    Parameters
    ----------
    frame : pandas.DataFrame
    column : str
        Numeric column (NaN is left to the caller: unknown may be allowed).
    source : str
    labels : sequence of str
        Columns naming the row in the message.
    low, high : float [unit of the column]
        Plausible bounds.
    reason : str
        Why ``high`` is the bound (goes into the message).

    Raises
    ------
    InvalidValueError
    """
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isnan(values) & (~np.isfinite(values) | (values < low) | (values > high))
    if bad.any():
        i = frame.index[np.argmax(bad)]
        raise InvalidValueError(
            f"{source}: {column} = {values[np.argmax(bad)]:g} for {_describe(frame, i, labels)} "
            f"({file_lines(frame.index[bad])}) is outside {low:g}..{high:g} ({reason}); correct the value"
        )


def check_counts(frame: pd.DataFrame, column: str, *, source: str, labels: Sequence[str] = (), fix: str) -> pd.Series:
    """Counts must be numbers >= 0 (no empty cells); returns them as float.

    Raises
    ------
    InvalidValueError
        A missing, text or negative count, naming the first such row (file line) and ``fix``.
    """
    counts = pd.to_numeric(frame[column], errors="coerce")
    bad = counts.isna() | (counts < 0)
    if bad.any():
        i = frame.index[np.argmax(bad.to_numpy())]
        label = f" for {_describe(frame, i, labels)}" if labels else ""
        value = frame[column].loc[i]
        shown = repr(value) if isinstance(value, str) else f"{value}"
        raise InvalidValueError(f"{source}, {file_lines([i])}: {column} {shown}{label} is missing or negative; {fix}")
    return counts.astype(float)


def check_whole_years(frame: pd.DataFrame, column: str = "year", *, source: str, labels: Sequence[str] = (),
                      first: int | None = None, last: int | None = None) -> pd.Series:
    """Years must be whole numbers, optionally within ``first..last``; returns them as int64.

    Raises
    ------
    DataFormatError
        Empty, text or fractional years.
    InvalidValueError
        Years outside the window.
    """
    raw = frame[column]
    years = pd.to_numeric(raw, errors="coerce")
    not_number = years.isna() | ~np.isfinite(years.to_numpy(dtype=float))
    fractional = ~not_number & (years.fillna(0) % 1 != 0)
    bad = not_number | fractional
    if bad.any():
        i = frame.index[np.argmax(bad.to_numpy())]
        raise DataFormatError(
            f"{source}: {column} {raw.loc[i]!r} ({file_lines(frame.index[bad])}) is not a whole year; "
            "write the calendar year, e.g. 2027"
        )
    years = years.astype("int64")
    outside = pd.Series(False, index=frame.index)
    if first is not None:
        outside |= years < first
    if last is not None:
        outside |= years > last
    if outside.any():
        i = frame.index[np.argmax(outside.to_numpy())]
        label = f" ({_describe(frame, i, labels)})" if labels else ""
        raise InvalidValueError(
            f"{source}: {column} {int(years.loc[i])}{label} ({file_lines(frame.index[outside])}) lies outside "
            f"the forecast years {first}..{last}; remove the row or correct the year"
        )
    return years


# --------------------------------------------------------------------------------------------
# run folders (for ``report``)
# --------------------------------------------------------------------------------------------

_RUN_POPULATION_COLUMNS = ("area", "sex", "age", "year", "persons")


def read_run_population(path) -> pd.DataFrame:
    """``population.csv`` (or ``.parquet``) of an earlier forecast run, checked to be complete and non-negative.

    Raises
    ------
    DataFormatError
        Missing columns, non-numeric persons, or fewer rows than areas x sexes x ages x years
        (a table cut off while copying or editing).
    InvalidValueError
        Negative or non-finite persons.
    """
    path = Path(path)
    source = f"{path.parent.name}/{path.name}"
    if path.suffix == ".parquet":  # assen-demand forecast --format parquet: the same columns
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{source} is not a readable Parquet table ({exc}); rerun the forecast into a "
                                  "new folder") from None
        frame = frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    else:
        frame = read_csv(path, what="the population table of a forecast run", dtype={"area": str, "area_name": str})
    missing = [c for c in _RUN_POPULATION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{source} lacks column(s) {', '.join(missing)}; give the --out folder of a "
                              "forecast run, unchanged")
    persons = pd.to_numeric(frame["persons"], errors="coerce")
    if persons.isna().any():
        i = frame.index[persons.isna().to_numpy().argmax()]
        raise DataFormatError(f"{source}: persons {frame.loc[i, 'persons']!r} ({file_lines(frame.index[persons.isna()])}) "
                              "is not a number; rerun the forecast into a new folder")
    frame["persons"] = persons.astype(float)
    check_finite_range(frame, "persons", source=source, labels=["area", "sex", "age", "year"], high=float("inf"),
                       reason="persons cannot be negative")
    if not np.isfinite(frame["persons"]).all():
        check_finite_range(frame, "persons", source=source, labels=["area", "sex", "age", "year"], high=1e12,
                           reason="a finite number of persons")
    complete = int(np.prod([frame[c].nunique() for c in ("area", "sex", "age", "year")]))
    if len(frame) != complete or frame.duplicated(["area", "sex", "age", "year"]).any():
        raise DataFormatError(
            f"{source} has {len(frame):,} rows where areas x sexes x ages x years give {complete:,}: the table "
            "was cut off or edited; rerun the forecast into a new folder"
        )
    return frame

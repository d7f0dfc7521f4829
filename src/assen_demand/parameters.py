"""Parameter tables: load, validate, choose a variant, interpolate years, expand bands.

Parameters are data: every rate the care and dwelling steps use lives in a CSV file under
``assen_demand/data/parameters/`` with a source and a reference year per row (see the README
there). This module is the only place that reads those files.

Every table has at least the columns

``indicator, sex, age_lo, age_hi, year, central, low, high, unit, status, source, note``

where ``sex`` is ``male``, ``female`` or ``all``, ``age_hi`` is exclusive and empty for an open
top band, ``status`` is one of :data:`STATUSES`: ``bekend`` (the central value is read from the
cited source), ``geschat`` (estimated by us from cited figures) or ``aanname`` (the note says how
it was chosen). Tables may carry extra key columns such as
``dwelling_type``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from importlib.resources import files

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import MAX_AGE, SEXES
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError

__all__ = [
    "REQUIRED_COLUMNS",
    "VARIANTS",
    "STATUSES",
    "SEXES",
    "AGES",
    "list_parameter_tables",
    "load_parameter_table",
    "validate_parameter_table",
    "select_variant",
    "interpolate_years",
    "banded_to_dataarray",
    "scalar_parameter",
    "TABLES",
    "ParameterSet",
]

REQUIRED_COLUMNS = (
    "indicator",
    "sex",
    "age_lo",
    "age_hi",
    "year",
    "central",
    "low",
    "high",
    "unit",
    "status",
    "source",
    "note",
)
VARIANTS = ("central", "low", "high")
# SEXES and AGES are re-exported from datamodel; AGES stays a tuple here (Sequence defaults below)
AGES = tuple(range(MAX_AGE + 1))
#: Status vocabulary of every data file: known from the source / estimated by us / assumed.
STATUSES = ("bekend", "geschat", "aanname")
_STATUSES = set(STATUSES)
_SEX_VALUES = {"male", "female", "all"}
_PACKAGE = "assen_demand"


def _table_path(name: str):
    return files(_PACKAGE).joinpath("data", "parameters", name)


def list_parameter_tables() -> list[str]:
    """Names of the bundled parameter CSV files.

    Returns
    -------
    list of str
        File names such as ``"care_prevalence.csv"``, sorted.
    """
    folder = files(_PACKAGE).joinpath("data", "parameters")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".csv"))


def load_parameter_table(name: str) -> pd.DataFrame:
    """Read and validate one bundled parameter table.

    Parameters
    ----------
    name : str
        File name under ``assen_demand/data/parameters/``, e.g. ``"care_prevalence.csv"``
        (the ``.csv`` may be left off).

    Returns
    -------
    pandas.DataFrame
        The validated table (one row per parameter value) with ``age_hi`` as a nullable
        integer (``<NA>`` for an open band).

    Raises
    ------
    MissingDataError
        If no such table is bundled.
    DataFormatError, InvalidValueError
        If the table breaks a rule (see :func:`validate_parameter_table`).
    """
    if not name.endswith(".csv"):
        name = f"{name}.csv"
    # Bundled files do not change while running: read and validate each once.
    return _load_bundled(name).copy()


@lru_cache(maxsize=None)
def _load_bundled(name: str) -> pd.DataFrame:
    path = _table_path(name)
    if not path.is_file():
        raise MissingDataError(
            f"parameter table {name!r} is not bundled; available: {', '.join(list_parameter_tables())}"
        )
    with path.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype={"sex": str, "status": str, "indicator": str})
    return validate_parameter_table(frame, name=name)


def _bad(name: str, row: int, column: str, problem: str, fix: str) -> str:
    # Row numbers count like a spreadsheet: header is line 1, first data row is line 2.
    return f"{name}, line {row + 2}, column {column!r}: {problem}; {fix}"


def validate_parameter_table(frame: pd.DataFrame, *, name: str = "<table>") -> pd.DataFrame:
    """Check a parameter table and return a cleaned copy.

    Rules: all :data:`REQUIRED_COLUMNS` present; every row has an indicator, a source and a
    reference year; ``sex`` is male/female/all; ``status`` is bekend/geschat/aanname; numbers are
    finite; ``low <= central <= high``; ``0 <= age_lo < age_hi``; rows whose unit starts with
    ``share`` lie in [0, 1]; no two rows of one indicator (and extra key) overlap in sex, age
    and year.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read from CSV.
    name : str, keyword-only
        File name used in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with typed columns.

    Raises
    ------
    DataFormatError
        Missing columns, missing source/year, bad labels, overlapping bands.
    InvalidValueError
        NaN or out-of-range numbers, unordered low/central/high.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{name}: missing column(s) {missing}; every parameter table needs the columns "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    out = frame.copy()
    # the row walk below only to name the first bad row (0.35 s for the bundled tables; the
    # vectorised check passes only tables the walk passes)
    for i, row in ([] if _rows_pass(out) else out.iterrows()):
        for col in ("indicator", "source", "unit"):
            value = row[col]
            if not isinstance(value, str) or not value.strip():
                raise DataFormatError(
                    _bad(name, i, col, "is empty", f"give every row a {col} (full citation with URL for source)")
                )
        if pd.isna(row["year"]):
            raise DataFormatError(_bad(name, i, "year", "is empty", "give the reference year of the value"))
        if row["sex"] not in _SEX_VALUES:
            raise DataFormatError(
                _bad(name, i, "sex", f"{row['sex']!r} is not a sex label", "use male, female or all")
            )
        if row["status"] not in _STATUSES:
            raise DataFormatError(
                _bad(name, i, "status", f"{row['status']!r} is not a status", "use bekend, geschat or aanname (known -> bekend, assumption -> aanname)")
            )
        for col in ("central", "low", "high", "age_lo", "year"):
            try:
                value = float(row[col])
            except (TypeError, ValueError):
                raise DataFormatError(
                    _bad(name, i, col, f"{row[col]!r} is not a number", "write a plain number")
                ) from None
            if not np.isfinite(value):
                raise InvalidValueError(_bad(name, i, col, "is NaN or infinite", "fill in a finite number"))
        lo, ce, hi = float(row["low"]), float(row["central"]), float(row["high"])
        if not lo <= ce <= hi:
            raise InvalidValueError(
                _bad(name, i, "low/central/high", f"{lo} <= {ce} <= {hi} does not hold",
                     "order the range so that low <= central <= high")
            )
        if str(row["unit"]).strip().lower().startswith("share"):
            for col, value in (("low", lo), ("central", ce), ("high", hi)):
                if not 0.0 <= value <= 1.0:
                    raise InvalidValueError(
                        _bad(name, i, col, f"share {value} lies outside [0, 1]",
                             "give shares as fractions (0.25, not 25)")
                    )
        elif min(lo, ce, hi) < 0:
            raise InvalidValueError(_bad(name, i, "low", "is negative", "rates and norms cannot be negative"))
        age_lo = float(row["age_lo"])
        if age_lo < 0 or age_lo != int(age_lo):
            raise InvalidValueError(_bad(name, i, "age_lo", f"{age_lo} is not a whole age >= 0", "use 0, 5, 65, ..."))
        if not pd.isna(row["age_hi"]):
            age_hi = float(row["age_hi"])
            if not np.isfinite(age_hi) or age_hi != int(age_hi) or age_hi <= age_lo:
                raise InvalidValueError(
                    _bad(name, i, "age_hi", f"{age_hi} is not a whole age above age_lo={age_lo:g}",
                         "age_hi is exclusive (65-74 is age_lo=65, age_hi=75); leave it empty for an open band")
                )
    out["age_lo"] = out["age_lo"].astype(int)
    out["age_hi"] = pd.array(out["age_hi"], dtype="Int64")
    out["year"] = out["year"].astype(int)
    for col in ("central", "low", "high"):
        out[col] = out[col].astype(float)
    _check_overlaps(out, name=name)
    return out


def _rows_pass(frame: pd.DataFrame) -> bool:
    """Whether every row passes the row rules of :func:`validate_parameter_table`, vectorised.

    True only when the row walk would find nothing: any value it is unsure of (text in a number
    column, a missing label) makes it False and the walk names the row.
    """
    def is_text(column: str) -> pd.Series:
        return frame[column].map(lambda v: isinstance(v, str) and bool(v.strip()))

    if not all(is_text(c).all() for c in ("indicator", "source", "unit")):
        return False
    if not (frame["sex"].isin(_SEX_VALUES).all() and frame["status"].isin(_STATUSES).all()):
        return False
    numbers = {}
    for column in ("central", "low", "high", "age_lo", "year", "age_hi"):
        if not (pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])):
            return False
        numbers[column] = frame[column].to_numpy(dtype=float, na_value=np.nan)
    if not all(np.isfinite(numbers[c]).all() for c in ("central", "low", "high", "age_lo", "year")):
        return False
    lo, ce, hi, age_lo, age_hi = (numbers[c] for c in ("low", "central", "high", "age_lo", "age_hi"))
    if not ((lo <= ce) & (ce <= hi)).all():
        return False
    share = frame["unit"].str.strip().str.lower().str.startswith("share").to_numpy(dtype=bool)
    values = np.stack([lo, ce, hi])
    if not np.where(share, ((values >= 0) & (values <= 1)).all(axis=0), values.min(axis=0) >= 0).all():
        return False
    if not ((age_lo >= 0) & (age_lo == np.floor(age_lo))).all():
        return False
    open_band = np.isnan(age_hi)
    whole = np.isfinite(age_hi) & (age_hi == np.floor(age_hi)) & (age_hi > age_lo)
    return bool((open_band | whole).all())


def _key_columns(frame: pd.DataFrame) -> list[str]:
    extra = [c for c in frame.columns if c not in REQUIRED_COLUMNS]
    return ["indicator", *extra]


def _any_overlap(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Whether two rows of one key, year and sex cover a common age (a row with sex=all counts
    for both sexes): intervals sorted by their lower age overlap where one starts below the
    highest upper age before it. Vectorised: 0.02 s instead of 5 s for the 592 rows of
    forecast_error_distribution.csv, read by every Monte Carlo run (issue 20)."""
    lo = pd.to_numeric(frame["age_lo"]).to_numpy(dtype=float)
    hi = np.minimum(pd.to_numeric(frame["age_hi"]).fillna(len(AGES)).to_numpy(dtype=float), len(AGES))
    sex = frame["sex"].astype(str).to_numpy()
    parts = []
    for s in SEXES:
        rows = (sex == s) | (sex == "all")
        parts.append(frame.loc[rows, [*keys, "year"]].assign(_sex=s, _lo=lo[rows], _hi=hi[rows]))
    long = pd.concat(parts, ignore_index=True)
    long = long[long["_hi"] > long["_lo"]]  # an empty band covers no age
    if long.empty:
        return False
    group = long.groupby([*keys, "year", "_sex"], sort=False, dropna=False).ngroup().to_numpy()
    order = np.lexsort((long["_lo"].to_numpy(), group))
    group, start, end = group[order], long["_lo"].to_numpy()[order], long["_hi"].to_numpy()[order]
    reach = pd.Series(end).groupby(group).cummax().to_numpy()
    same = np.r_[False, group[1:] == group[:-1]]
    return bool((same & (start < np.r_[-np.inf, reach[:-1]])).any())


def _check_overlaps(frame: pd.DataFrame, *, name: str) -> None:
    keys = _key_columns(frame)
    if not _any_overlap(frame, keys):
        return
    # the slow walk below only to name the first overlap as before
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        for year, sub in group.groupby("year"):
            for sex in SEXES:
                rows = sub[(sub["sex"] == sex) | (sub["sex"] == "all")]
                covered = np.zeros(len(AGES), dtype=int)
                for _, r in rows.iterrows():
                    hi = 101 if pd.isna(r["age_hi"]) else min(int(r["age_hi"]), 101)
                    covered[int(r["age_lo"]):hi] += 1
                if (covered > 1).any():
                    age = int(np.argmax(covered > 1))
                    raise DataFormatError(
                        f"{name}: indicator {key!r}, year {year}, sex {sex}: two rows cover age {age}; "
                        "make the age bands of one indicator disjoint (a row with sex=all counts for both sexes)"
                    )


def select_variant(frame: pd.DataFrame, *, variant: str = "central") -> pd.Series:
    """Pick the ``central``, ``low`` or ``high`` column.

    Parameters
    ----------
    frame : pandas.DataFrame
        A validated parameter table.
    variant : {"central", "low", "high"}, keyword-only
        Which value to use.

    Returns
    -------
    pandas.Series
        The chosen values, index as ``frame``.

    Raises
    ------
    DataFormatError
        If ``variant`` is not one of the three names.
    """
    if variant not in VARIANTS:
        raise DataFormatError(f"variant {variant!r} is unknown; use one of {', '.join(VARIANTS)}")
    return frame[variant]


def interpolate_years(values: pd.Series, years_known: Sequence[int], years: Iterable[int]) -> np.ndarray:
    """Linear interpolation between reference years, constant outside them.

    Parameters
    ----------
    values : pandas.Series or array-like (n,) [unit of the parameter]
        Values at ``years_known``.
    years_known : sequence of int (n,) [year]
        Reference years, any order.
    years : iterable of int (m,) [year]
        Years wanted.

    Returns
    -------
    numpy.ndarray (m,) [unit of the parameter]

    Notes
    -----
    Holding the value constant outside the known years is deliberate: a trend published for
    2015-2030 is not extrapolated to 2040 without a source.
    """
    x = np.asarray(years_known, dtype=float)
    y = np.asarray(values, dtype=float)
    order = np.argsort(x)
    return np.interp(np.asarray(list(years), dtype=float), x[order], y[order])


def banded_to_dataarray(
    frame: pd.DataFrame,
    *,
    indicator: str,
    variant: str = "central",
    years: Iterable[int] | None = None,
    ages: Sequence[int] = AGES,
    sexes: Sequence[str] = SEXES,
    fill: float | None = None,
    table: str = "<table>",
    **keys: str,
) -> xr.DataArray:
    """Turn the banded rows of one indicator into a DataArray over sex and single-year age.

    Parameters
    ----------
    frame : pandas.DataFrame
        A validated parameter table.
    indicator : str, keyword-only
        Value of the ``indicator`` column to expand.
    variant : {"central", "low", "high"}, keyword-only
        Which value to use.
    years : iterable of int, optional, keyword-only [year]
        If given, the result gets a ``year`` dimension: values are interpolated linearly between
        the table's reference years and held constant outside them. If not given the table must
        have one reference year for this indicator.
    ages : sequence of int, keyword-only [years of age]
        Single ages to fill; 100 stands for 100 and over.
    sexes : sequence of str, keyword-only
        Sex labels of the result.
    fill : float, optional, keyword-only [unit of the parameter]
        Value for ages no band covers. Without it an uncovered age is an error.
    table : str, keyword-only
        File name, for messages.
    **keys : str
        Values of extra key columns (e.g. ``dwelling_type="geclusterd"``).

    Returns
    -------
    xarray.DataArray (sex, age[, year]) [unit of the parameter]

    Raises
    ------
    MissingDataError
        If the indicator is absent or an age is not covered (and no ``fill``).
    DataFormatError
        If several reference years exist but ``years`` is not given.

    Notes
    -----
    ``variant`` may also be a parameter sampler (:class:`assen_demand.uncertainty.ParameterDraws`):
    an object with methods ``banded_to_dataarray`` and ``scalar_parameter`` taking the same
    keywords. It then returns values per Monte Carlo draw, with a leading ``draw`` dim, which
    is how the care and dwelling steps run all draws at once without knowing about them.
    """
    if not isinstance(variant, str):
        return variant.banded_to_dataarray(frame, indicator=indicator, years=years, ages=ages, sexes=sexes,
                                           fill=fill, table=table, **keys)
    # Plain numpy on the table's columns: the pandas selection and iterrows it replaces took about
    # 30 ms a call, ~3 s of every Monte Carlo run (issue 20). Same rows, same order, same
    # interpolation calls: the result is bit-identical (tests/test_parameters_banded.py).
    rows = np.asarray(frame["indicator"].to_numpy(dtype=object) == indicator, dtype=bool)
    for col, value in keys.items():
        if col not in frame.columns:
            raise DataFormatError(f"{table}: has no column {col!r}; keys available: {_key_columns(frame)}")
        rows &= np.asarray(frame[col].to_numpy(dtype=object) == value, dtype=bool)
    if not rows.any():
        known = sorted(frame["indicator"].unique())
        raise MissingDataError(
            f"{table}: no rows for indicator {indicator!r} {keys or ''}; indicators present: {known}"
        )
    rows = np.flatnonzero(rows)
    values = select_variant(frame, variant=variant).to_numpy(dtype=float)[rows]
    row_sex = frame["sex"].to_numpy(dtype=object)[rows]
    row_lo = frame["age_lo"].to_numpy(dtype=float)[rows]
    row_hi = frame["age_hi"].to_numpy(dtype=float, na_value=np.nan)[rows]
    row_year = frame["year"].to_numpy()[rows]
    ref_years = sorted(pd.unique(row_year))
    if years is None and len(ref_years) > 1:
        raise DataFormatError(
            f"{table}: indicator {indicator!r} has reference years {ref_years}; pass years=... to interpolate"
        )
    out_years = list(years) if years is not None else ref_years
    ages = list(ages)
    data = np.full((len(sexes), len(ages), len(out_years)), np.nan)
    age_arr = np.asarray(ages)
    for si, sex in enumerate(sexes):
        by_band: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for i in np.flatnonzero((row_sex == sex) | (row_sex == "all")):
            hi = 10_000 if np.isnan(row_hi[i]) else int(row_hi[i])
            by_band.setdefault((int(row_lo[i]), hi), []).append((int(row_year[i]), float(values[i])))
        for (lo, hi), pts in by_band.items():
            mask = (age_arr >= lo) & (age_arr < hi)
            yrs, vals = zip(*pts)
            data[si, mask, :] = interpolate_years(vals, yrs, out_years)
        if np.isnan(data[si]).any():
            uncovered = sorted({int(a) for a in age_arr[np.isnan(data[si]).any(axis=1)]})
            if fill is None:
                raise MissingDataError(
                    f"{table}: indicator {indicator!r} {keys or ''} has no age band for sex {sex} at ages "
                    f"{_ranges(uncovered)} (a band may be missing for some reference year); "
                    "add rows covering these ages (use 0 with a note where the indicator does not apply)"
                )
            data[si][np.isnan(data[si])] = fill
    da = xr.DataArray(
        data,
        dims=("sex", "age", "year"),
        coords=_sex_age_year_coords(tuple(sexes), tuple(ages), tuple(out_years)),
        name=indicator,
        attrs={"unit": str(frame["unit"].iloc[rows[0]]), "variant": variant, "table": table},
    )
    return da if years is not None else da.isel(year=0, drop=True)


@lru_cache(maxsize=64)
def _sex_age_year_coords(sexes: tuple, ages: tuple, years: tuple) -> xr.Coordinates:
    # built once per shape: making the three pandas indexes was half the cost of an expansion
    # (xarray indexes are immutable, so arrays may share them)
    return xr.Coordinates({"sex": list(sexes), "age": list(ages), "year": list(years)})


def scalar_parameter(frame: pd.DataFrame, *, indicator: str, variant: str = "central", table: str = "<table>") -> float:
    """The value of an indicator that has a single row (no age or sex detail).

    Parameters
    ----------
    frame : pandas.DataFrame
        A validated parameter table.
    indicator : str, keyword-only
        Indicator name.
    variant : {"central", "low", "high"}, keyword-only
        Which value to use.
    table : str, keyword-only
        File name, for messages.

    Returns
    -------
    float [unit of the parameter]

    Raises
    ------
    MissingDataError
        If the indicator is absent.
    DataFormatError
        If it has more than one row.

    Notes
    -----
    With a parameter sampler as ``variant`` (see :func:`banded_to_dataarray`) the result is an
    ``xarray.DataArray (draw)``.
    """
    if not isinstance(variant, str):
        return variant.scalar_parameter(frame, indicator=indicator, table=table)
    sel = frame[frame["indicator"] == indicator]
    if sel.empty:
        raise MissingDataError(f"{table}: no row for indicator {indicator!r}")
    if len(sel) != 1:
        raise DataFormatError(f"{table}: indicator {indicator!r} has {len(sel)} rows; expected one")
    return float(select_variant(sel, variant=variant).iloc[0])


def _ranges(values: list[int]) -> str:
    if not values:
        return ""
    parts, start, prev = [], values[0], values[0]
    for v in values[1:]:
        if v != prev + 1:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = v
        prev = v
    parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ", ".join(parts)



#: The parameter tables one housing chain reads, by the name :class:`ParameterSet` knows them
#: (the bundled file is ``<name>.csv``).
TABLES = (
    "institutional_share",
    "living_alone",
    "household_reference",
    "care_prevalence",
    "dwelling_profiles",
    "preference_demand",
    "dwelling_norms",
    "moving_rates",
)


@dataclass(frozen=True, eq=False)
class ParameterSet:
    """All parameter tables of one housing chain, and which end of their ranges to use.

    Steps never read parameter files: they receive one ``ParameterSet`` and ask it for a table
    (:meth:`table`) and the variant (:attr:`variant`). Start from :meth:`bundled` and swap any
    table for a gemeente's own with :meth:`replace`; the replacement is validated like a bundled
    table (:func:`validate_parameter_table`).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Validated tables by name (one of :data:`TABLES`).
    variant : {"central", "low", "high"} or parameter sampler
        Which value of each row to use; a sampler
        (:class:`assen_demand.uncertainty.ParameterDraws`) gives one value per Monte Carlo draw.
    origin : mapping of str to str
        Where each table came from (``"bundled"``, a file path or ``"DataFrame"``), for provenance.

    Examples
    --------
    >>> params = ParameterSet.bundled()
    >>> params.variant, params.origin["care_prevalence"]
    ('central', 'bundled')
    >>> mine = params.table("care_prevalence").assign(central=lambda t: t["central"])
    >>> params.replace(care_prevalence=mine).origin["care_prevalence"]
    'DataFrame'
    >>> params.with_variant("high").variant
    'high'
    """

    tables: Mapping[str, pd.DataFrame]
    variant: object = "central"
    origin: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tables) - set(TABLES))
        if unknown:
            raise DataFormatError(f"unknown parameter table(s) {unknown}; tables are {', '.join(TABLES)}")
        if isinstance(self.variant, str) and self.variant not in VARIANTS:
            raise DataFormatError(f"variant {self.variant!r} is unknown; use one of {', '.join(VARIANTS)}")
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))
        object.__setattr__(self, "origin", MappingProxyType(dict(self.origin)))

    def __reduce__(self):
        # a read-only mapping does not pickle; rebuilt from plain dicts, so a forecast can go to
        # worker processes (figures rendered in parallel, issue 20)
        return (type(self), (dict(self.tables), self.variant, dict(self.origin)))

    @classmethod
    def bundled(cls, variant="central") -> "ParameterSet":
        """The tables shipped with the package (``assen_demand/data/parameters``)."""
        return cls({name: load_parameter_table(f"{name}.csv") for name in TABLES}, variant,
                   {name: "bundled" for name in TABLES})

    def table(self, name: str) -> pd.DataFrame:
        """The validated table ``name`` (one of :data:`TABLES`; ``.csv`` may be given)."""
        name = name[:-4] if name.endswith(".csv") else name
        try:
            return self.tables[name]
        except KeyError:
            raise MissingDataError(f"parameter table {name!r} is not in this set; tables are {', '.join(TABLES)}") from None

    def replace(self, **tables) -> "ParameterSet":
        """A copy with some tables replaced.

        Parameters
        ----------
        **tables : pandas.DataFrame or path
            Table name (one of :data:`TABLES`) -> the new table, as a DataFrame or a CSV path, in
            the format of the bundled file (same columns; see ``data/parameters/README.md``).
            A replacement must define every indicator of the bundled table that the chain uses.

        Returns
        -------
        ParameterSet

        Raises
        ------
        DataFormatError, InvalidValueError
            Unknown table name, or a table breaking a rule of :func:`validate_parameter_table`.
        """
        new = dict(self.tables)
        origin = dict(self.origin)
        for name, source in tables.items():
            if name not in TABLES:
                raise DataFormatError(f"unknown parameter table {name!r}; tables are {', '.join(TABLES)}")
            if isinstance(source, pd.DataFrame):
                frame, origin[name] = source, "DataFrame"
            elif isinstance(source, (str, PathLike)):
                path = Path(source)
                if not path.is_file():
                    raise MissingDataError(f"parameter table file {str(path)!r} for {name!r} does not exist; give a CSV path")
                frame, origin[name] = pd.read_csv(path, dtype={"sex": str, "status": str, "indicator": str}), str(path)
            else:
                raise DataFormatError(f"table {name!r}: give a pandas.DataFrame or a CSV path, not {type(source).__name__}")
            new[name] = validate_parameter_table(frame, name=origin[name] if origin[name] != "DataFrame" else f"{name} (DataFrame)")
        return ParameterSet(new, self.variant, origin)

    def with_variant(self, variant) -> "ParameterSet":
        """The same tables with another variant (or a parameter sampler for Monte Carlo draws)."""
        return ParameterSet(self.tables, variant, self.origin)

    def banded(self, name: str, *, indicator: str, **options) -> xr.DataArray:
        """:func:`banded_to_dataarray` of table ``name`` with this set's variant."""
        return banded_to_dataarray(self.table(name), indicator=indicator, variant=self.variant,
                                   table=f"{name}.csv", **options)

    def scalar(self, name: str, *, indicator: str):
        """:func:`scalar_parameter` of table ``name`` with this set's variant."""
        return scalar_parameter(self.table(name), indicator=indicator, variant=self.variant, table=f"{name}.csv")

    def __repr__(self) -> str:
        mine = [n for n, o in self.origin.items() if o != "bundled"]
        return f"ParameterSet(variant={str(self.variant)!r}, replaced={mine})"


def resolve_parameters(parameters: ParameterSet | None, variant="central") -> ParameterSet:
    """The set a step uses: ``parameters`` if given (its own variant), else the bundled set at ``variant``."""
    if parameters is None:
        return ParameterSet.bundled(variant)
    if not isinstance(parameters, ParameterSet):
        raise DataFormatError(f"parameters must be an assen_demand.parameters.ParameterSet, not {type(parameters).__name__}")
    return parameters

"""The labelled arrays of a forecast on disk: a Zarr store, chunked by area.

CSV and Parquet hold tidy tables; a researcher with a national or stochastic run wants the
arrays themselves (area x sex x age x year, and ``draw``) with their labels, opened lazily and
read in parallel by Dask. :func:`write_forecast_store` (``Forecast.to_zarr``) writes one group per
part of the forecast and :func:`open_forecast` reads it back as a :class:`StoredForecast`, whose
``to_frame`` gives the same tidy tables as ``Forecast.to_frame``.

Layout (Zarr format 3, via :meth:`xarray.Dataset.to_zarr`)::

    forecast.zarr/            attrs: gemeente, scenario, base_year, end_year, variant, version,
                              area_names, provenance, sources, store_version
      population/             persons (area, sex, age, year) [persons]
      households/             institutional, private, alone, with_others, households, mean_size
      care_need/              care_need (area, sex, age, year, indicator) [persons]
      dwellings/, need/, stock/, opgave/, mantelzorg/, doorstroming/
      voorzieningen/          the facilities table (row) when the forecast has one
      quantiles/<part>/       quantiles over the Monte Carlo draws (quantile, ...): the default
      draws/<part>/           every draw (draw, ...), only with keep_draws=True (--keep-draws)
                              (seed, settings and the number of draws in the attrs of either)

A store of a run with draws holds their quantiles (5/50/95 %) by default: the draws themselves are
the largest part (Assen, 1,000 draws: 0.3 GB of population draws against 0.4 MB of quantiles) and
every table of the run is made from the quantiles alone. ``keep_draws=True`` (``--keep-draws``)
stores every draw as well, for other quantiles or joint statistics.

Every array with an ``area`` dimension is stored in chunks of :data:`AREA_CHUNK` areas, so
selecting one gemeente's wijken reads only their chunks (tested by deleting the other chunks).

Why Zarr and not NetCDF: Zarr appends along ``area`` gemeente by gemeente
(:class:`NationalStore`, used by the national run) and lets Dask workers read chunks in
parallel without a file lock; NetCDF/HDF5 needs a single writer holding the file, and its
parallel reads need an MPI build of HDF5.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import QUANTILES
from assen_demand.display import summary_repr
from assen_demand.errors import DataFormatError, MissingDataError, OutputError
from assen_demand.housing import care, doorstroming, dwellings, households, opgave, stock
from assen_demand.housing import need as need_step
from assen_demand.outputs.labels import with_quantile_columns
from assen_demand.uncertainty import ForecastDraws

__all__ = [
    "STORE_NAME",
    "STORE_VERSION",
    "AREA_CHUNK",
    "ARRAY_PARTS",
    "DRAW_PARTS",
    "NATIONAL_PARTS",
    "write_forecast_store",
    "open_forecast",
    "StoredForecast",
    "StoredQuantiles",
    "NationalStore",
]

#: File name of the store in an output folder
STORE_NAME = "forecast.zarr"
#: Version of the layout above; a reader refuses a newer one
STORE_VERSION = 1
#: Areas per chunk: one area, so one gemeente's wijken are read without any other area's
AREA_CHUNK = 1
#: Parts of a forecast stored as groups: attribute -> kind (``array`` = DataArray, ``dataset``)
ARRAY_PARTS = {
    "population": "array", "households": "dataset", "care_need": "array", "dwellings": "dataset",
    "doorstroming": "array", "mantelzorg": "dataset", "need": "dataset", "stock": "dataset", "opgave": "dataset",
    "doorstroming_moves": "dataset",
}
#: Parts only a national stochastic run writes (:mod:`assen_demand.national_stochastic`): quantiles
#: of the opgave per wijk, (area, quantile, dwelling_type, year)
NATIONAL_PARTS = {"opgave_quantiles": "dataset"}
#: Parts of the Monte Carlo draws (:class:`assen_demand.uncertainty.ForecastDraws`)
DRAW_PARTS = {"population": "array", "households": "dataset", "care_need": "array", "dwellings": "dataset",
              "doorstroming": "array", "need": "dataset"}
_ZARR_FORMAT = 3
_FACILITIES = "voorzieningen"
#: The tidy tables of export.CSV_TABLES (not imported: export reads stores, see read_run)
_TABLES = ("population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg")
_NAME_ATTR = "assen_demand_array_name"
_ORDER_ATTR = "assen_demand_order"
#: Attributes of the draws (:class:`assen_demand.uncertainty.ForecastDraws`), kept on draws/population
_DRAW_META = ("seed", "zero_width", "clipped_persons", "settings", "draws")


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def _as_dataset(part, kind: str, group: str) -> xr.Dataset:
    if kind == "array":
        ds = part.to_dataset(name=group)
        ds.attrs = {**part.attrs, _NAME_ATTR: "" if part.name is None else str(part.name)}
        return ds
    return part


def _encoding(ds: xr.Dataset, area_chunk: int) -> dict:
    """Chunks of ``area_chunk`` areas (whole along every other dimension) for every variable."""
    encoding = {}
    for name, var in ds.variables.items():
        if name in ds.dims or not var.dims:
            continue
        chunks = tuple(min(area_chunk, n) if d == "area" else n for d, n in zip(var.dims, var.shape))
        encoding[name] = {"chunks": tuple(max(c, 1) for c in chunks)}
    return encoding


def _plain(ds: xr.Dataset) -> xr.Dataset:
    """Text variables and coordinates as plain Python strings (Zarr's variable-length strings)."""
    out = ds.copy()
    for name, var in ds.variables.items():
        if var.dtype.kind in ("U", "O", "T"):
            out[name] = var.copy(data=np.asarray(var.values, dtype=object).astype(str).astype(object))
    return out


def _write_group(ds: xr.Dataset, path: Path, group: str, area_chunk: int, **kwargs) -> None:
    ds = _plain(ds)
    # Zarr lists a group's arrays in its own order: keep the forecast's (to_frame's columns follow it)
    ds.attrs[_ORDER_ATTR] = _json({"variables": [str(v) for v in ds.variables], "coords": [str(c) for c in ds.coords]})
    with warnings.catch_warnings():
        # zarr warns that variable-length strings are not yet in the v3 spec; they round-trip
        warnings.filterwarnings("ignore", message=".*[Ss]tring.*", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        ds.to_zarr(path, group=group, zarr_format=_ZARR_FORMAT, consolidated=False,
                   encoding=_encoding(ds, area_chunk) if "append_dim" not in kwargs else None, **kwargs)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _scenario_record(result) -> dict | None:
    scen = getattr(result, "scenario", None)
    if scen is None:
        return None
    return {"name": getattr(scen, "name", str(scen)), "source": str(getattr(scen, "source", "") or "")}


def write_forecast_store(result, path, *, provenance_record: Mapping | None = None,
                         sources: pd.DataFrame | None = None, facilities: pd.DataFrame | None = None,
                         area_chunk: int = AREA_CHUNK, overwrite: bool = False, keep_draws: bool = False) -> Path:
    """Write a forecast's labelled arrays to a Zarr store (``Forecast.to_zarr``).

    Parameters
    ----------
    result : Forecast
        Output of :func:`assen_demand.forecast`, with or without draws.
    path : path
        The store (a folder, by convention ``forecast.zarr``).
    provenance_record : mapping, optional
        :func:`assen_demand.outputs.export.provenance` of the run (``Forecast.to_zarr`` passes
        the record of the bundled data by default); left out when None.
    sources : pandas.DataFrame, optional
        The sheet *Bronnen en aannames* (:func:`assen_demand.outputs.export.sources_table`).
    facilities : pandas.DataFrame, optional
        The facilities table (:func:`assen_demand.outputs.voorzieningen.facility_csv`).
    area_chunk : int
        Areas per chunk.
    overwrite : bool
        Replace an existing store (default: refuse).
    keep_draws : bool
        With draws: store every draw (``draws/<part>``) besides the quantiles. Default: the
        quantiles only (``quantiles/<part>``, the probabilities of
        :data:`assen_demand.datamodel.QUANTILES`), from which every table of the run is made.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        ``path`` exists and ``overwrite`` is False.
    """
    import assen_demand  # import here: the package __init__ imports pipeline, which imports this module

    path = Path(path)
    if path.exists():
        if not overwrite:
            raise OutputError(f"{path} exists; choose another path or pass overwrite=True")
        shutil.rmtree(path)
    years = [int(y) for y in result.population["year"].values]
    record = dict(provenance_record) if provenance_record is not None else {}
    sources = sources if sources is not None else pd.DataFrame()
    root = xr.Dataset(attrs={
        "store_version": STORE_VERSION,
        "kind": "forecast",
        "assen_demand_version": assen_demand.__version__,
        "written": _dt.datetime.now().replace(microsecond=0).isoformat(),
        "gemeente": str(result.gemeente),
        "gemeente_name": str(result.area_names.get(result.gemeente, result.gemeente)),
        "scenario_name": str(getattr(result, "scenario_name", "basis")),
        "scenario": _json(_scenario_record(result)),
        "variant": str(getattr(result, "variant", "central")),
        "base_year": years[0],
        "end_year": years[-1],
        "area_names": _json({str(k): str(v) for k, v in result.area_names.items()}),
        "provenance": _json(record),
        "sources": sources.astype(str).to_json(orient="split", force_ascii=False),
    })
    _write_group(root, path, None, area_chunk, mode="w")
    for group, kind in ARRAY_PARTS.items():
        part = getattr(result, group, None)
        if part is not None:
            _write_group(_as_dataset(part, kind, group), path, group, area_chunk, mode="a")
    if facilities is not None:
        _write_group(_table_dataset(facilities), path, _FACILITIES, area_chunk, mode="a")
    draws = getattr(result, "uncertainty", None)
    if draws is not None:
        for group, kind in DRAW_PARTS.items():
            if getattr(draws, group, None) is None:
                continue
            for kept in ("quantiles", "draws") if keep_draws else ("quantiles",):
                part = draws.quantiles(group) if kept == "quantiles" else getattr(draws, group)
                ds = _as_dataset(part, kind, group)
                if group == "population":
                    ds.attrs.update(seed=_json(draws.seed), zero_width=bool(draws.zero_width),
                                    clipped_persons=float(draws.clipped_persons), draws=int(draws.draws),
                                    settings=draws.settings.to_json(orient="split", force_ascii=False))
                _write_group(ds, path, f"{kept}/{group}", area_chunk, mode="a")
    return path


def _table_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """A tidy table as 1-D variables over ``row`` (column order kept in attrs)."""
    data = {}
    for col in frame.columns:
        values = frame[col]
        if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and (
                pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            # nullable Int64/boolean: float with NaN for missing, the dtype restored on reading
            data[col] = ("row", values.astype("float64").to_numpy())
        elif pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            data[col] = ("row", values.to_numpy())
        else:
            data[col] = ("row", values.astype(object).where(values.notna(), "").map(str).to_numpy(dtype=object))
    return xr.Dataset(data, attrs={"columns": _json(list(frame.columns)),
                                   "dtypes": _json({c: str(frame[c].dtype) for c in frame.columns})})


def _dataset_table(ds: xr.Dataset) -> pd.DataFrame:
    columns = json.loads(ds.attrs["columns"])
    dtypes = json.loads(ds.attrs.get("dtypes", "{}"))
    frame = pd.DataFrame({c: ds[c].values for c in columns})
    for col, dtype in dtypes.items():
        if dtype in ("str", "object", "string"):
            frame[col] = frame[col].astype(str)
        elif frame[col].dtype != np.dtype(object):
            frame[col] = frame[col].astype(dtype)
    return frame


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _groups(path: Path) -> set[str]:
    """The groups of the layout that the store holds (looked up by name: a walk would visit every chunk)."""
    names = [*ARRAY_PARTS, *NATIONAL_PARTS, _FACILITIES,
             *(f"{kept}/{g}" for kept in ("draws", "quantiles") for g in DRAW_PARTS)]
    return {g for g in names if (path / g / "zarr.json").is_file()}


def _open_group(path: Path, group: str, kind: str, chunks):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        ds = xr.open_dataset(path, engine="zarr", group=group, chunks=chunks, consolidated=False,
                             zarr_format=_ZARR_FORMAT)
    ds = _restore_order(_restore_text(ds))
    if kind == "array":
        name = group.rsplit("/", 1)[-1]
        da = ds[name]
        attrs = dict(ds.attrs)
        stored_name = attrs.pop(_NAME_ATTR, "")
        da = da.rename(stored_name or None)
        da.attrs = attrs
        return da
    return ds


def _restore_order(ds: xr.Dataset) -> xr.Dataset:
    """Variables and coordinates in the order they were written (the Dataset's dimension order follows it)."""
    attrs = dict(ds.attrs)
    order = json.loads(attrs.pop(_ORDER_ATTR, "{}") or "{}")
    if not order:
        return ds
    names = [v for v in order.get("variables", []) if v in ds.variables]
    names += [v for v in ds.variables if v not in names]
    coords = set(order.get("coords", [])) | set(ds.coords)
    out = xr.Dataset(attrs=attrs)
    for name in names:
        if name in coords:
            out = out.assign_coords({name: ds[name].variable})
        else:
            out[name] = ds[name].variable
    return out


def _restore_text(ds: xr.Dataset) -> xr.Dataset:
    """Text coordinates back in the dtype the forecast had (pandas' default string dtype)."""
    for name in list(ds.coords):
        if ds[name].dtype == object:
            ds = ds.assign_coords({name: (ds[name].dims, ds[name].values.astype(str))})
    return ds


def open_forecast(path, *, chunks=None) -> StoredForecast:
    """Open a forecast store written by ``Forecast.to_zarr`` or a national run.

    Nothing is read but the coordinates and attributes: the arrays are loaded when used, and a
    selection (``stored.select("GM0106")``, ``population.sel(area=...)``) reads only its chunks.

    Parameters
    ----------
    path : path
        The store (``forecast.zarr``) or an output folder holding one.
    chunks : dict or "auto", optional
        Dask chunks (e.g. ``{}`` for the stored chunks, ``{"area": 256}``); ``None`` (default)
        opens the arrays lazily without Dask.

    Returns
    -------
    StoredForecast

    Raises
    ------
    MissingDataError
        No store at ``path``.
    DataFormatError
        Not an assen_demand store, or one written by a newer version.
    """
    path = Path(path)
    if path.is_dir() and not (path / "zarr.json").is_file() and (path / STORE_NAME).is_dir():
        path = path / STORE_NAME
    if not (path / "zarr.json").is_file():
        raise MissingDataError(f"{path} is not a forecast store (no zarr.json); give the {STORE_NAME} folder "
                               "written by Forecast.to_zarr or assen-demand forecast --format parquet")
    attrs = json.loads((path / "zarr.json").read_text(encoding="utf-8")).get("attributes", {})
    version = attrs.get("store_version")
    if version is None:
        raise DataFormatError(f"{path} is a Zarr store but not one of assen_demand (no store_version attribute)")
    if int(version) > STORE_VERSION:
        raise DataFormatError(f"{path} has store version {version}; this assen_demand reads up to {STORE_VERSION}: "
                              "upgrade assen_demand")
    present = _groups(path)
    parts = {g: _open_group(path, g, k, chunks) for g, k in ARRAY_PARTS.items() if g in present}
    if "population" not in parts:
        raise DataFormatError(f"{path} holds no population group; rewrite it with Forecast.to_zarr")
    uncertainty = None
    if "draws/population" in present:
        drawn = {g: _open_group(path, f"draws/{g}", k, chunks) for g, k in DRAW_PARTS.items()
                 if f"draws/{g}" in present}
        meta = {k: drawn["population"].attrs.pop(k) for k in _DRAW_META if k in drawn["population"].attrs}
        settings = (pd.read_json(_text_buffer(meta["settings"]), orient="split") if meta.get("settings")
                    else pd.DataFrame())
        uncertainty = ForecastDraws(
            population=drawn["population"], households=drawn.get("households"), care_need=drawn.get("care_need"),
            dwellings=drawn.get("dwellings"), doorstroming=drawn.get("doorstroming"), need=drawn.get("need"),
            settings=settings, seed=json.loads(meta.get("seed", "0")), zero_width=bool(meta.get("zero_width", False)),
            clipped_persons=float(meta.get("clipped_persons", 0.0)))
    elif "quantiles/population" in present:
        parts_q = {g: _open_group(path, f"quantiles/{g}", k, chunks) for g, k in DRAW_PARTS.items()
                   if f"quantiles/{g}" in present}
        meta = {k: parts_q["population"].attrs.pop(k) for k in _DRAW_META if k in parts_q["population"].attrs}
        uncertainty = StoredQuantiles(
            parts=parts_q, draws=int(meta.get("draws", 0)), seed=json.loads(meta.get("seed", "0")),
            zero_width=bool(meta.get("zero_width", False)), clipped_persons=float(meta.get("clipped_persons", 0.0)),
            settings=(pd.read_json(_text_buffer(meta["settings"]), orient="split") if meta.get("settings")
                      else pd.DataFrame()))
    facilities = None
    if _FACILITIES in present:
        facilities = _dataset_table(_open_group(path, _FACILITIES, "dataset", None).load())
    parts.update({g: _open_group(path, g, k, chunks) for g, k in NATIONAL_PARTS.items() if g in present})
    return StoredForecast(attrs=attrs, path=path, uncertainty=uncertainty, facility_table=facilities, **parts)


@summary_repr
@dataclass(frozen=True, eq=False)
class StoredQuantiles:
    """The quantiles over the draws of a run, as a store without the draws holds them.

    Stands in for :class:`assen_demand.uncertainty.ForecastDraws` where only quantiles are
    needed (``StoredForecast.to_frame``'s quantile columns, ``uncertainty.quantiles(name)``).

    Attributes
    ----------
    parts : dict of str to xarray.DataArray or xarray.Dataset
        ``population``, ``households``, ... with a leading ``quantile`` dim.
    draws : int
        Draws the quantiles were taken over.
    seed, zero_width, clipped_persons, settings
        As :class:`assen_demand.uncertainty.ForecastDraws`.
    """

    parts: dict = field(repr=False)
    draws: int
    seed: int = 0
    zero_width: bool = False
    clipped_persons: float = 0.0
    settings: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def _summary_title(self) -> str:
        return f"quantiles of {self.draws} draws, seed {self.seed}"

    def quantiles(self, name: str = "dwellings", q=None):
        """Stored quantiles of one table (``quantile`` dim first), loaded.

        Raises
        ------
        KeyError
            No quantiles of ``name`` in the store.
        MissingDataError
            A probability the store does not hold (it holds those of the run; for others write
            the store with ``keep_draws=True``).
        """
        if name not in self.parts:
            raise KeyError(f"no quantiles of {name!r}; the store has {', '.join(self.parts)}")
        part = self.parts[name]
        stored = [float(v) for v in part["quantile"].values]
        wanted = [float(v) for v in (QUANTILES if q is None else q)]
        missing = [v for v in wanted if not np.isclose(stored, v).any()]
        if missing:
            raise MissingDataError(f"the store holds the quantiles {stored} only, not {missing}; write it with "
                                   "keep_draws=True (--keep-draws) to take other quantiles of the draws")
        index = [int(np.flatnonzero(np.isclose(stored, v))[0]) for v in wanted]
        return part.isel(quantile=index).load()

    def frame_columns(self, name: str, keys, q=None) -> pd.DataFrame:
        """Quantile columns ``<var>_q05, ...`` as :meth:`assen_demand.uncertainty.ForecastDraws.frame_columns`."""
        return ForecastDraws.frame_columns(self, name, keys, QUANTILES if q is None else q)


def _text_buffer(text: str):
    return io.StringIO(text)


@summary_repr
@dataclass(frozen=True, eq=False)
class StoredForecast:
    """A forecast read back from a store: the arrays (lazy), their labels and the run's attributes.

    Has the attributes of :class:`assen_demand.pipeline.Forecast` that hold numbers
    (``population``, ``households``, ``care_need``, ``dwellings``, ``doorstroming``,
    ``mantelzorg``, ``need``, ``stock``, ``opgave``, ``uncertainty``) and its ``to_frame``; the
    projection's internals (base population, components) are not stored. A national store has
    ``population`` only, with a ``gemeente`` coordinate on ``area``; a national stochastic
    store also ``opgave_quantiles`` (area, quantile, dwelling_type, year): ``need`` and
    ``opgave`` over the draws.

    Attributes
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
    attrs : dict
        The store's attributes (gemeente, scenario_name, base_year, end_year, variant,
        assen_demand_version, area_names, provenance, sources as JSON text).
    path : pathlib.Path
    """

    population: xr.DataArray
    attrs: dict = field(repr=False)
    path: Path
    households: xr.Dataset | None = field(default=None, repr=False)
    care_need: xr.DataArray | None = field(default=None, repr=False)
    dwellings: xr.Dataset | None = field(default=None, repr=False)
    doorstroming: xr.DataArray | None = field(default=None, repr=False)
    mantelzorg: xr.Dataset | None = field(default=None, repr=False)
    need: xr.Dataset | None = field(default=None, repr=False)
    stock: xr.Dataset | None = field(default=None, repr=False)
    opgave: xr.Dataset | None = field(default=None, repr=False)
    doorstroming_moves: xr.Dataset | None = field(default=None, repr=False)
    opgave_quantiles: xr.Dataset | None = field(default=None, repr=False)
    uncertainty: object | None = field(default=None, repr=False)
    facility_table: pd.DataFrame | None = field(default=None, repr=False)

    facilities = None  # the facilities object is not stored; its table is (facility_table)

    @property
    def gemeente(self) -> str:
        return str(self.attrs.get("gemeente", ""))

    @property
    def area_names(self) -> dict:
        return json.loads(self.attrs.get("area_names", "{}"))

    @property
    def scenario_name(self) -> str:
        return str(self.attrs.get("scenario_name", "basis"))

    @property
    def variant(self) -> str:
        return str(self.attrs.get("variant", "central"))

    @property
    def base_year(self) -> int:
        return int(self.attrs.get("base_year", self.population["year"].values[0]))

    @property
    def end_year(self) -> int:
        return int(self.attrs.get("end_year", self.population["year"].values[-1]))

    @property
    def provenance(self) -> dict:
        """The run's ``provenance.json`` record as stored."""
        return json.loads(self.attrs.get("provenance", "{}"))

    @property
    def sources(self) -> pd.DataFrame:
        """The sheet *Bronnen en aannames* of the run (every column as text)."""
        text = self.attrs.get("sources")
        return pd.read_json(_text_buffer(text), orient="split", dtype=False) if text else pd.DataFrame()

    def _summary_title(self) -> str:
        name = self.area_names.get(self.gemeente, self.gemeente) or "national run"
        return f"{name} ({self.gemeente or 'all'}), scenario {self.scenario_name}, {self.base_year}-{self.end_year}"

    def _summary_headline(self) -> list[tuple[str, str]]:
        draws = "none" if self.uncertainty is None else str(self.uncertainty.draws)
        return [("store", str(self.path)), ("areas", f"{self.population.sizes['area']:,}"), ("draws", draws)]

    def select(self, gemeente: str) -> xr.DataArray:
        """The population of one gemeente and its wijken; reads only their chunks.

        Parameters
        ----------
        gemeente : str
            CBS code (``GM0106``). In a national store the ``gemeente`` coordinate says which
            areas belong to it; in a single-gemeente store every area does.

        Returns
        -------
        xarray.DataArray (area, sex, age, year) [persons], loaded
        """
        pop = self.population
        if "gemeente" in pop.coords:
            mine = np.flatnonzero(pop["gemeente"].values == gemeente)
        else:
            mine = np.arange(pop.sizes["area"]) if gemeente == self.gemeente else np.array([], dtype=int)
        if not len(mine):
            raise MissingDataError(f"{gemeente} is not in the store {self.path}; check the code (e.g. GM0106)")
        return pop.isel(area=mine).load()

    def to_frame(self, name: str = "dwellings") -> pd.DataFrame:
        """The tidy table ``name``, as :meth:`assen_demand.pipeline.Forecast.to_frame` gives it."""
        tables = ("population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg", "need")
        if name not in tables:
            raise KeyError(f"no table {name!r}; choose one of {', '.join(tables)}")
        part = getattr(self, name)
        if part is None:
            raise MissingDataError(f"the store {self.path} has no {name}; a national store holds the population only")
        names = self.area_names
        if name == "population":
            frame = part.load().to_dataframe(name="persons").reset_index()
            if "gemeente" in frame:
                frame = frame.drop(columns="gemeente")
            frame.insert(1, "area_name", frame["area"].map(names))
            frame = frame[["area", "area_name", "sex", "age", "year", "persons"]]
            keys = ["area", "sex", "age", "year"]
        else:
            part = part.load()
            convert = {"households": lambda p: households.to_frame(p, by_age=False),
                       "care_need": lambda p: care.to_frame(p, by_age=False), "need": need_step.to_frame}
            frame = convert.get(name, dwellings.to_frame)(part)
            frame.insert(1, "area_name", frame["area"].map(names))
            keys = [c for c in ("area", "dwelling_type", "model", "indicator", "year") if c in frame.columns]
        if self.uncertainty is not None and name != "mantelzorg":
            frame = with_quantile_columns(frame, self.uncertainty.frame_columns(name, keys), keys)
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every tidy table of the run, as :func:`assen_demand.outputs.export.csv_tables` gives them."""
        out = {name: self.to_frame(name) for name in _TABLES if getattr(self, name) is not None}
        if "dwellings" in out:
            dw = out["dwellings"]
            first = ["area", "area_name", "dwelling_type", "model", "year", "need", "supply", "gap", "supply_status"]
            out["dwellings"] = dw[[c for c in first if c in dw] + [c for c in dw if c not in first]]
        if self.doorstroming_moves is not None:  # as export.csv_tables: the moves table replaces the rate-only one
            out["doorstroming"] = doorstroming.to_frame(self.doorstroming_moves.load(), self.area_names)
        if self.facility_table is not None:
            out[_FACILITIES] = self.facility_table
        if self.opgave is not None and self.stock is not None:
            out["opgave"] = opgave.to_frame(self.opgave.load(), self.area_names)
            out["stock"] = stock.to_frame(self.stock.load(), self.area_names)
        return out


# --------------------------------------------------------------------------------------------
# streaming: a national run, gemeente by gemeente
# --------------------------------------------------------------------------------------------


class NationalStore:
    """A store that grows along ``area`` gemeente by gemeente: the national run's population.

    Each :meth:`append` writes the areas of one or more gemeenten (a ``gemeente`` coordinate on
    ``area`` names each area's gemeente); nothing national is held in memory. The store opens
    with :func:`open_forecast`.

    Parameters
    ----------
    path : path
        The store folder (replaced if it exists).
    attrs : mapping, optional
        Run attributes (base_year, end_year, scenario_name, variant, provenance, ...).
    area_chunk : int
        Areas per chunk.
    """

    def __init__(self, path, *, attrs: Mapping | None = None, area_chunk: int = AREA_CHUNK):
        import assen_demand  # import here: the package __init__ imports pipeline, which imports this module

        self.path = Path(path)
        self.area_chunk = int(area_chunk)
        self.areas = 0
        self._appended: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._attrs = {"store_version": STORE_VERSION, "kind": "national",
                       "assen_demand_version": assen_demand.__version__,
                       "written": _dt.datetime.now().replace(microsecond=0).isoformat(),
                       **{k: (v if isinstance(v, (str, int, float, bool)) else _json(v))
                          for k, v in (attrs or {}).items()}}
        if self.path.exists():
            shutil.rmtree(self.path)
        _write_group(xr.Dataset(attrs=self._attrs), self.path, None, self.area_chunk, mode="w")

    def append(self, population: xr.DataArray | xr.Dataset, *, area_names: Mapping | None = None,
               group: str = "population") -> None:
        """Add areas (area, sex, age, year[, draw]) [persons] with a ``gemeente`` coordinate on ``area``.

        Every append must have the same dimensions other than ``area`` (a stochastic national
        run appends (area, sex, age, year, draw) or its quantiles the same way). ``group``
        names another part (e.g. ``"opgave_quantiles"``, a Dataset), which grows the same way.
        """
        if "gemeente" not in population.coords:
            raise DataFormatError("a national store needs a 'gemeente' coordinate on area (the gemeente of each area)")
        if isinstance(population, xr.Dataset):
            ds = population.transpose("area", ...)
        else:
            ds = population.transpose("area", ...).to_dataset(name=group)  # any further dims, e.g. draw
            ds.attrs = {_NAME_ATTR: "persons"}
        if not self._appended.get(group):
            _write_group(ds, self.path, group, self.area_chunk, mode="a")
        else:
            _write_group(ds, self.path, group, self.area_chunk, append_dim="area")
        self._appended[group] = self._appended.get(group, 0) + int(population.sizes["area"])
        if group == "population":
            self.areas += int(population.sizes["area"])
        self._names.update({str(k): str(v) for k, v in (area_names or {}).items()})

    def close(self) -> Path:
        """Write the area names into the store's attributes."""
        import zarr

        root = zarr.open_group(self.path, mode="a", zarr_format=_ZARR_FORMAT)
        root.attrs.update({"area_names": _json(self._names), "areas": self.areas})
        return self.path

    def __enter__(self) -> NationalStore:
        return self

    def __exit__(self, *exc) -> bool:
        if exc[0] is None:
            self.close()
        return False

"""Existing stock of homes for older people per area and type, and its path over the years.

What exists in the base year (status ``geschat`` unless a gemeente supplies its register):

``nultredenwoning``  step-free homes that are neither clustered nor care-suitable: the KWB dwelling
                     stock of each wijk x (rented share x step-free share of rented dwellings +
                     owner-occupied share x step-free share of owner-occupied dwellings), minus the
                     clustered and care-suitable estimates (the four types are disjoint, as in the
                     need model, so that no home is counted twice);
``geclusterd``       the national rate of clustered units per 1,000 residents 65+ (RIVM Monitor
                     Langer Thuis, RIGO inventory 2021) x the wijk's residents 65+;
``zorggeschikt``     an assumed rate per 1,000 residents 75+ (no national count was found);
``verpleegzorgplek`` Wlz places with stay per 1,000 residents 80+ of the *gemeente*: nursing homes
                     serve the whole city, so wijken have no estimate (NaN) and the gap is a
                     gemeente figure only.

The need counts older households only, so the opgave compares it with the part of the stock the
target group holds (``stock_target``): for ``nultredenwoning`` the step-free homes occupied by
households 55+ (``stepfree_held_by_older_share``); clustered, care-suitable homes and nursing
places are for the target group by definition (share 1). The full stock is reported beside it.

The base-year shortage (``backlog``, :func:`estimate_backlog`) is a cited national count per 1,000
residents 65+ scaled to each wijk; :mod:`assen_demand.housing.opgave` uses it to calibrate the
base-year demand against the occupied stock.

Rates and shares live in ``data/parameters/stock_shares.csv`` with sources and low/central/high.
Wijken add up to the gemeente for every type but ``verpleegzorgplek``. ``begeleid_wonen`` has no
estimate and is left out.

A gemeente's register (BAG extract, corporation portfolio, Wlz locations) replaces estimates row by
row: a CSV ``area, dwelling_type, year, units, status[, source, note]`` (the format of
``data/stock/stock_template.csv``; the supply example in ``data/supply/`` has the same format).
Planned additions from the dwelling pipeline move the stock forward (:func:`stock_by_year`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.errors import DataFormatError, MissingDataError, UnknownAreaError
from assen_demand.inputs import validation
from assen_demand.parameters import STATUSES, load_parameter_table, validate_parameter_table

__all__ = [
    "STOCK_TYPES",
    "BOUNDS",
    "StockInputs",
    "estimate_stock",
    "estimate_backlog",
    "target_shares",
    "read_stock_register",
    "apply_register",
    "read_pipeline_by_type",
    "stock_by_year",
    "to_frame",
]

#: Dwelling types with a stock (``begeleid_wonen`` has no estimate)
STOCK_TYPES = ("nultredenwoning", "geclusterd", "zorggeschikt", "verpleegzorgplek")
#: Types whose facilities serve the whole gemeente: stock and gap only for the gemeente row
GEMEENTE_ONLY = ("verpleegzorgplek",)
BOUNDS = ("low", "central", "high")
_TABLE = "stock_shares.csv"
_REGISTER_COLUMNS = ("area", "dwelling_type", "year", "units", "status")


def _shares(table: pd.DataFrame | None) -> pd.DataFrame:
    if table is None:
        return load_parameter_table(_TABLE)
    return validate_parameter_table(table, name="stock shares table")


def _row(table: pd.DataFrame, indicator: str) -> pd.Series:
    rows = table[table["indicator"] == indicator]
    if rows.empty:
        raise MissingDataError(f"stock shares table has no row {indicator!r}; add it (see data/parameters/{_TABLE})")
    return rows.iloc[-1]


def _type_row(table: pd.DataFrame, indicator: str, dtype: str) -> pd.Series | None:
    rows = table[(table["indicator"] == indicator) & (table["dwelling_type"] == dtype)]
    return None if rows.empty else rows.iloc[-1]


@dataclass(frozen=True, eq=False)
class StockInputs:
    """What the stock and opgave steps need besides the population: data, passed to the chain.

    Attributes
    ----------
    dwelling_stock : pandas.DataFrame
        ``area, dwelling_stock`` [dwellings] (KWB, ``data/cbs/dwelling_stock.csv``).
    tenure : pandas.DataFrame
        ``area, rented_pct`` [% of dwellings].
    gemeente : str
        CBS code of the gemeente row.
    base_year : int [year]
        Year of the stock (1 January).
    register : pandas.DataFrame or path, optional
        A gemeente's register (:func:`read_stock_register`), replacing estimates row by row.
    pipeline : pandas.DataFrame, optional
        The dwelling pipeline (:func:`read_pipeline_by_type`); ``None``: no plans.
    population : xarray.DataArray (area, sex, age, year), optional [persons]
        The central population the stock is estimated from; with Monte Carlo draws every draw
        then shares one stock (default: the population the chain runs on).
    shares : pandas.DataFrame, optional
        Replaces the bundled ``stock_shares.csv``.
    """

    dwelling_stock: pd.DataFrame
    tenure: pd.DataFrame
    gemeente: str
    base_year: int
    register: object | None = None
    pipeline: pd.DataFrame | None = None
    population: xr.DataArray | None = None
    shares: pd.DataFrame | None = None


def target_shares(shares: pd.DataFrame | None = None) -> xr.Dataset:
    """Share of each type's stock held by (available to) the target group of the need.

    Returns
    -------
    xarray.Dataset (dwelling_type)
        ``low``, ``central``, ``high`` [share]: ``stepfree_held_by_older_share`` for
        ``nultredenwoning``, 1 for the other types (built for older people or Wlz clients).
    """
    table = _shares(shares)
    out = {b: np.ones(len(STOCK_TYPES)) for b in BOUNDS}
    row = _type_row(table, "stepfree_held_by_older_share", "nultredenwoning")
    if row is None:
        raise MissingDataError(f"stock shares table has no row 'stepfree_held_by_older_share'; add it "
                               f"(see data/parameters/{_TABLE})")
    for b in BOUNDS:
        out[b][0] = float(row[b])
    return xr.Dataset({b: (("dwelling_type",), out[b]) for b in BOUNDS},
                      coords={"dwelling_type": list(STOCK_TYPES)})


def estimate_backlog(population: xr.DataArray, *, gemeente: str, base_year: int | None = None,
                     shares: pd.DataFrame | None = None) -> xr.Dataset:
    """Base-year shortage per area and type: a cited national rate per 1,000 residents 65+.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
    gemeente : str, keyword-only
    base_year : int, optional, keyword-only
        Default: the first year of ``population``.
    shares : pandas.DataFrame, optional, keyword-only

    Returns
    -------
    xarray.Dataset (area, dwelling_type)
        ``low``, ``central``, ``high`` [dwellings or places short on 1 January of the base
        year]; the gemeente is the sum of its wijken, nursing places a gemeente figure only
        (NaN in wijken). A type without a ``backlog_per_1000_65plus`` row gets 0.
    """
    table = _shares(shares)
    areas = [str(a) for a in population["area"].values]
    year = int(population["year"].values[0]) if base_year is None else int(base_year)
    p65 = _age_total(population, 65, year).sel(area=areas).values
    g = areas.index(gemeente)
    wijken = [i for i in range(len(areas)) if i != g]
    values = {b: np.zeros((len(areas), len(STOCK_TYPES))) for b in BOUNDS}
    for ti, dtype in enumerate(STOCK_TYPES):
        row = _type_row(table, "backlog_per_1000_65plus", dtype)
        for b in BOUNDS:
            rate = 0.0 if row is None else float(row[b]) / 1000.0
            col = p65 * rate
            if dtype in GEMEENTE_ONLY:
                col[wijken] = np.nan
            elif wijken:
                col[g] = col[wijken].sum()  # wijken add up to the gemeente
            values[b][:, ti] = col
    ds = xr.Dataset({b: (("area", "dwelling_type"), values[b]) for b in BOUNDS},
                    coords={"area": areas, "dwelling_type": list(STOCK_TYPES)})
    ds.attrs.update(base_year=year, gemeente=gemeente)
    return ds


def _age_total(population: xr.DataArray, lo: int, year: int) -> xr.DataArray:
    pop = population.sel(year=year)
    return pop.where(pop["age"] >= lo, 0.0).sum(["sex", "age"])


def estimate_stock(
    population: xr.DataArray,
    dwelling_stock: pd.DataFrame,
    tenure: pd.DataFrame,
    *,
    gemeente: str,
    base_year: int | None = None,
    shares: pd.DataFrame | None = None,
) -> xr.Dataset:
    """Estimate the base-year stock of each dwelling type per area, with a range.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Must hold the gemeente and its wijken in ``base_year``.
    dwelling_stock : pandas.DataFrame
        ``area, dwelling_stock`` [dwellings] (KWB, e.g. ``data/cbs/dwelling_stock.csv``); rows of
        other areas are ignored. A wijk without a value (CBS secret) gets the gemeente's remaining
        dwellings in proportion to its population (said in ``note``).
    tenure : pandas.DataFrame
        ``area, rented_pct`` [% of dwellings] (KWB HuurwoningenTotaal); a wijk without a value
        takes the gemeente's.
    gemeente : str, keyword-only
        CBS code of the gemeente row of ``population``.
    base_year : int, optional, keyword-only
        Default: the first year of ``population``.
    shares : pandas.DataFrame, optional, keyword-only
        Replaces the bundled ``stock_shares.csv`` (same columns).

    Returns
    -------
    xarray.Dataset (area, dwelling_type)
        ``low``, ``central``, ``high`` [dwellings or places], ``status`` (``geschat``),
        ``source`` (dwelling_type), ``kwb_dwellings`` (area) [dwellings], ``stepfree_total``
        (area) [dwellings, central: all step-free homes, i.e. nultreden + geclusterd +
        zorggeschikt], and attribute ``base_year``.

    Raises
    ------
    MissingDataError
        No dwelling stock for the gemeente, no tenure at all, or a missing parameter row.
    """
    table = _shares(shares)
    areas = [str(a) for a in population["area"].values]
    if gemeente not in areas:
        raise UnknownAreaError(f"gemeente {gemeente} is not an area of the population; areas: {areas}")
    wijken = [a for a in areas if a != gemeente]
    year = int(population["year"].values[0]) if base_year is None else int(base_year)
    pop_all = population.sel(year=year).sum(["sex", "age"])
    dw = dwelling_stock.assign(area=dwelling_stock["area"].astype(str)).set_index("area")["dwelling_stock"]
    if gemeente not in dw.index or not np.isfinite(dw.get(gemeente, np.nan)):
        raise MissingDataError(f"no KWB dwelling stock for {gemeente}; rebuild data/cbs/dwelling_stock.csv "
                               "(scripts/build_cbs_data.py) or pass a register with every type")
    notes = {}
    kwb = pd.Series({a: float(dw.get(a, np.nan)) for a in wijken}, dtype=float)
    missing = kwb[~np.isfinite(kwb)].index.tolist()
    if missing:
        rest = max(float(dw[gemeente]) - float(kwb[np.isfinite(kwb)].sum()), 0.0)
        weight = pop_all.sel(area=missing).values
        kwb[missing] = rest * weight / weight.sum() if weight.sum() > 0 else 0.0
        for a in missing:
            notes[a] = "KWB dwelling stock secret or absent: remaining gemeente dwellings by population"
    ten = tenure.assign(area=tenure["area"].astype(str)).set_index("area")["rented_pct"]
    gm_rented = float(ten.get(gemeente, np.nan))
    if not np.isfinite(gm_rented):
        known = [float(ten[a]) for a in wijken if a in ten.index and np.isfinite(ten[a])]
        if not known:
            raise MissingDataError(f"no tenure (rented_pct) for {gemeente} or its wijken; add the KWB column "
                                   "HuurwoningenTotaal or pass a register")
        gm_rented = float(np.mean(known))
    rented = pd.Series({a: float(ten.get(a, np.nan)) for a in wijken}, dtype=float)
    for a in rented[~np.isfinite(rented)].index:
        rented[a] = gm_rented
        notes[a] = (notes.get(a, "") + "; " if a in notes else "") + "tenure of the gemeente"
    rented = rented.clip(0, 100) / 100.0

    rent, own = _row(table, "stepfree_share_rented"), _row(table, "stepfree_share_owner")
    clus, care = _row(table, "clustered_per_1000_65plus"), _row(table, "carefit_per_1000_75plus")
    nurse = _row(table, "nursing_places_per_1000_80plus")
    p65 = _age_total(population, 65, year).sel(area=wijken).values
    p75 = _age_total(population, 75, year).sel(area=wijken).values
    p80_gm = float(_age_total(population, 80, year).sel(area=gemeente))

    values = {b: np.full((len(areas), len(STOCK_TYPES)), np.nan) for b in BOUNDS}
    stepfree = {}
    w_idx = [areas.index(a) for a in wijken]
    for b in BOUNDS:
        sf = kwb.values * (rented.values * float(rent[b]) + (1 - rented.values) * float(own[b]))
        gec = p65 * float(clus[b]) / 1000.0
        zwo = p75 * float(care[b]) / 1000.0
        gec_c = p65 * float(clus["central"]) / 1000.0
        zwo_c = p75 * float(care["central"]) / 1000.0
        # disjoint types: the step-free homes that are not clustered or care-suitable (central
        # estimates of those are taken off every bound, so the bounds stay ordered)
        ntr = np.maximum(sf - gec_c - zwo_c, 0.0)
        stepfree[b] = sf
        values[b][w_idx, 0] = ntr
        values[b][w_idx, 1] = gec
        values[b][w_idx, 2] = zwo
        g = areas.index(gemeente)
        values[b][g, :3] = values[b][w_idx, :3].sum(axis=0)  # wijken add up to the gemeente
        values[b][g, 3] = p80_gm * float(nurse[b]) / 1000.0
    dims = ("area", "dwelling_type")
    coords = {"area": areas, "dwelling_type": list(STOCK_TYPES)}
    status = np.full((len(areas), len(STOCK_TYPES)), "geschat", dtype=object)
    status[[areas.index(a) for a in wijken], 3] = ""  # nursing places: gemeente only
    kwb_all = np.array([float(dw[gemeente]) if a == gemeente else float(kwb[a]) for a in areas])
    sf_all = np.array([float(stepfree["central"].sum()) if a == gemeente else
                       float(stepfree["central"][wijken.index(a)]) for a in areas])
    sources = [f"{r['source']} [{r['indicator']}]" for r in (rent, clus, care, nurse)]
    sources[0] = f"{own['source']} [stepfree_share_owner]; " + sources[0]
    ds = xr.Dataset(
        {b: (dims, values[b]) for b in BOUNDS}
        | {"status": (dims, status.astype(str)),
           "source": (("dwelling_type",), np.array(sources, dtype=object).astype(str)),
           "note": (("area",), np.array([notes.get(a, "") for a in areas], dtype=object).astype(str)),
           "kwb_dwellings": (("area",), kwb_all),
           "stepfree_total": (("area",), sf_all)},
        coords=coords,
    )
    ds.attrs["base_year"] = year
    ds.attrs["gemeente"] = gemeente
    return ds


def read_stock_register(source: str | PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read and check a gemeente's stock register (the override of the estimate).

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV ``area, dwelling_type, year, units, status`` (``source``, ``note`` optional), the
        format of ``data/stock/stock_template.csv``; ``units`` [dwellings or places] on 1 January
        of ``year``; ``status`` ``bekend``, ``geschat`` or ``aanname``.

    Returns
    -------
    pandas.DataFrame
        The checked rows.

    Raises
    ------
    DataFormatError
        Missing columns, unknown dwelling type or status, duplicates.
    InvalidValueError
        Units missing (NaN) or negative.
    """
    if isinstance(source, pd.DataFrame):
        frame, name = source.copy(), "stock register"
    else:
        name = str(source)
        try:
            frame = pd.read_csv(source, dtype={"area": str})
        except FileNotFoundError:
            raise MissingDataError(f"stock register {name} not found; give a CSV like data/stock/stock_template.csv") from None
    missing = [c for c in _REGISTER_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{name} lacks column(s) {missing}; a stock register has {', '.join(_REGISTER_COLUMNS)}")
    bad_type = sorted(set(frame["dwelling_type"].astype(str)) - set(STOCK_TYPES))
    if bad_type:
        raise DataFormatError(f"{name}: unknown dwelling type(s) {bad_type}; use one of {', '.join(STOCK_TYPES)}")
    bad_status = sorted(set(frame["status"].astype(str)) - set(STATUSES))
    if bad_status:
        raise DataFormatError(f"{name}: status {bad_status} unknown; use bekend, geschat or aanname")
    units = validation.check_counts(frame, "units", source=name, labels=["area", "dwelling_type", "year"],
                                    fix="give a count >= 0, or leave the row out to keep the estimate")
    years = pd.to_numeric(frame["year"], errors="coerce")
    if years.isna().any():
        raise DataFormatError(f"{name}: year {frame.loc[years.isna(), 'year'].iloc[0]!r} is not a year")
    frame = frame.assign(units=units.astype(float), year=years.astype(int), area=frame["area"].astype(str))
    dup = frame.duplicated(["area", "dwelling_type", "year"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise DataFormatError(f"{name}: two rows for {r['area']}, {r['dwelling_type']}, {r['year']}; keep one")
    return frame.reset_index(drop=True)


def apply_register(stock: xr.Dataset, register: pd.DataFrame) -> xr.Dataset:
    """Replace estimated cells by a register's counts, row by row.

    For each (area, type) the latest register row at or before the base year replaces low,
    central and high and takes the row's status. Rows after the base year are not stock: they
    are reported in a warning (put planned homes in the dwelling pipeline). For types other than
    ``verpleegzorgplek`` the wijken keep adding up to the gemeente: a gemeente row rescales the
    wijken that are still estimated; without one, the gemeente is the sum of its wijken.

    Parameters
    ----------
    stock : xarray.Dataset
        From :func:`estimate_stock`.
    register : pandas.DataFrame
        From :func:`read_stock_register`.

    Returns
    -------
    xarray.Dataset
        A new dataset with ``status`` per cell.

    Raises
    ------
    UnknownAreaError
        A register row names an area that is not in the stock.
    DataFormatError
        Known wijken exceed the gemeente's register total for a type.
    """
    register = read_stock_register(register)
    areas = [str(a) for a in stock["area"].values]
    gemeente, base = stock.attrs["gemeente"], int(stock.attrs["base_year"])
    unknown = sorted(set(register["area"]) - set(areas))
    if unknown:
        raise UnknownAreaError(f"stock register lists area(s) {unknown} that are not in the forecast; known: {areas}")
    later = register[register["year"] > base]
    if not later.empty:
        warnings.warn(f"stock register: {len(later)} row(s) after the base year {base} are not used as stock "
                      f"(e.g. {later.iloc[0]['area']} {later.iloc[0]['dwelling_type']} {later.iloc[0]['year']}); "
                      "put planned homes in the dwelling pipeline", UserWarning, stacklevel=2)
    rows = register[register["year"] <= base].sort_values("year").groupby(["area", "dwelling_type"]).tail(1)
    out = stock.copy(deep=True)
    status = out["status"].values.astype(object)
    vals = {b: out[b].values.copy() for b in BOUNDS}
    known = np.zeros(status.shape, dtype=bool)
    for r in rows.itertuples(index=False):
        ai, ti = areas.index(r.area), STOCK_TYPES.index(r.dwelling_type)
        for b in BOUNDS:
            vals[b][ai, ti] = r.units
        status[ai, ti] = r.status
        known[ai, ti] = True
    g = areas.index(gemeente)
    w = [i for i in range(len(areas)) if i != g]
    for ti, dtype in enumerate(STOCK_TYPES):
        if dtype in GEMEENTE_ONLY:
            continue
        est = [i for i in w if not known[i, ti]]
        if known[g, ti]:
            rest = vals["central"][g, ti] - sum(vals["central"][i, ti] for i in w if known[i, ti])
            if rest < 0:
                raise DataFormatError(f"stock register: the wijken's {dtype} ({vals['central'][g, ti] - rest:.0f}) "
                                      f"exceed the gemeente's {vals['central'][g, ti]:.0f}; correct one of them")
            for b in BOUNDS:
                total = sum(vals[b][i, ti] for i in est)
                factor = rest / total if total > 0 else 0.0
                for i in est:
                    vals[b][i, ti] = vals[b][i, ti] * factor
        else:
            for b in BOUNDS:
                vals[b][g, ti] = sum(vals[b][i, ti] for i in w)
            if any(known[i, ti] for i in w):
                status[g, ti] = "geschat" if not all(known[i, ti] for i in w) else \
                    ("bekend" if all(status[i, ti] == "bekend" for i in w) else "aanname")
    for b in BOUNDS:
        out[b] = (("area", "dwelling_type"), vals[b])
    out["status"] = (("area", "dwelling_type"), status.astype(str))
    return out


def read_pipeline_by_type(pipeline: pd.DataFrame, *, shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """Split a dwelling pipeline into additions per dwelling type.

    Parameters
    ----------
    pipeline : pandas.DataFrame
        ``area, year, dwellings_added, dwellings_removed`` [dwellings per year] and optionally
        ``dwelling_type`` (see ``data/pipelines/README.md``). Rows without a type are regular
        homes: a share (``new_build_stepfree_share``) of the completions is step-free.
    shares : pandas.DataFrame, optional

    Returns
    -------
    pandas.DataFrame
        ``area, year, dwelling_type, added, removed`` [dwellings per year]; regular homes' removals
        are returned with ``dwelling_type`` ``"regular"`` and are turned into step-free removals by
        :func:`stock_by_year` with the wijk's own step-free share.

    Raises
    ------
    DataFormatError
        An unknown dwelling type.
    """
    table = _shares(shares)
    frac = float(_row(table, "new_build_stepfree_share")["central"])
    frame = pipeline.copy()
    if "dwelling_type" not in frame.columns:
        frame["dwelling_type"] = np.nan
    typed = frame["dwelling_type"].notna() & (frame["dwelling_type"].astype(str).str.strip() != "")
    bad = sorted(set(frame.loc[typed, "dwelling_type"].astype(str)) - set(STOCK_TYPES))
    if bad:
        raise DataFormatError(f"dwelling pipeline: unknown dwelling type(s) {bad}; use one of {', '.join(STOCK_TYPES)} "
                              "or leave dwelling_type empty for regular homes")
    rows = []
    for r in frame.itertuples(index=False):
        added, removed = float(r.dwellings_added or 0.0), float(r.dwellings_removed or 0.0)
        rows.append((str(r.area), int(r.year), r.dwelling_type, added, removed))
    out = []
    for (area, year, dtype, added, removed), is_typed in zip(rows, typed.values):
        if is_typed:
            out.append((area, year, str(dtype), added, removed))
        else:
            out.append((area, year, "nultredenwoning", added * frac, 0.0))
            out.append((area, year, "regular", 0.0, removed))
    return pd.DataFrame(out, columns=["area", "year", "dwelling_type", "added", "removed"])


def stock_by_year(stock: xr.Dataset, pipeline: pd.DataFrame | None, years, *,
                  shares: pd.DataFrame | None = None) -> xr.Dataset:
    """Move the base-year stock forward with the planned additions.

    Completions and demolitions in calendar year ``y`` count in the stock of 1 January ``y + 1``
    (as in the housing-led projection). The gemeente row gets the sum of its wijken's additions.

    Parameters
    ----------
    stock : xarray.Dataset (area, dwelling_type)
        From :func:`estimate_stock` / :func:`apply_register`.
    pipeline : pandas.DataFrame or None
        The dwelling pipeline (see :func:`read_pipeline_by_type`); ``None``: no plans.
    years : sequence of int
        Years of the result (1 January).
    shares : pandas.DataFrame, optional

    Returns
    -------
    xarray.Dataset (area, dwelling_type, year)
        ``stock`` [dwellings or places, central base stock + planned], ``planned`` [cumulative
        net additions since the base year], ``stock_low``/``stock_high`` (base range + planned),
        ``stock_target`` [the part of the base stock held by the need's target group
        (:func:`target_shares`) + planned].

    Raises
    ------
    UnknownAreaError
        A pipeline area is not in the stock.
    """
    areas = [str(a) for a in stock["area"].values]
    gemeente, base = stock.attrs["gemeente"], int(stock.attrs["base_year"])
    years = [int(y) for y in years]
    planned = np.zeros((len(areas), len(STOCK_TYPES), len(years)))
    if pipeline is not None and len(pipeline):
        parts = read_pipeline_by_type(pipeline, shares=shares)
        unknown = sorted(set(parts["area"]) - set(areas))
        if unknown:
            raise UnknownAreaError(f"dwelling pipeline lists area(s) {unknown} that are not in the forecast; "
                                   f"known: {areas}")
        kwb = stock["kwb_dwellings"].to_series()
        sf = stock["stepfree_total"].to_series()
        for r in parts.itertuples(index=False):
            if r.year < base:
                continue
            ai = areas.index(r.area)
            if r.dwelling_type == "regular":
                share = float(sf[r.area] / kwb[r.area]) if kwb[r.area] > 0 else 0.0
                ti, net = 0, -r.removed * share
            else:
                ti, net = STOCK_TYPES.index(r.dwelling_type), r.added - r.removed
            for yi, y in enumerate(years):
                if r.year < y:
                    planned[ai, ti, yi] += net
        g = areas.index(gemeente)
        planned[g] = planned[[i for i in range(len(areas)) if i != g]].sum(axis=0) + planned[g]
    dims = ("area", "dwelling_type", "year")
    coords = {"area": areas, "dwelling_type": list(STOCK_TYPES), "year": years}
    plan = xr.DataArray(planned, dims=dims, coords=coords)
    held = target_shares(shares)["central"]
    out = xr.Dataset({
        "stock": stock["central"] + plan,
        "stock_low": stock["low"] + plan,
        "stock_high": stock["high"] + plan,
        # the target group's part of the base stock; planned homes of a type are built for it
        "stock_target": stock["central"] * held + plan,
        "planned": plan,
    })
    out.attrs.update(stock.attrs)
    return out


def to_frame(stock: xr.Dataset, area_names: dict | None = None) -> pd.DataFrame:
    """The base-year stock as a tidy table.

    Returns
    -------
    pandas.DataFrame
        ``area, area_name, dwelling_type, year, low, central, high, status, source, kwb_dwellings``;
        cells without an estimate (nursing places in wijken) are left out.
    """
    frame = stock[list(BOUNDS) + ["status"]].to_dataframe().reset_index()
    frame = frame[np.isfinite(frame["central"])]
    frame["source"] = frame["dwelling_type"].map(stock["source"].to_series())
    frame["kwb_dwellings"] = frame["area"].map(stock["kwb_dwellings"].to_series())
    frame.insert(1, "area_name", frame["area"].map(area_names or {}))
    frame.insert(3, "year", int(stock.attrs["base_year"]))
    return frame.reset_index(drop=True)

"""The opgave: homes of each type a wijk must add, relative to what exists and what is planned.

Two comparisons per area x dwelling type x year, both shown:

``opgave_uncalibrated = need(year) - stock_target``
    the need of older households against the part of the stock they hold plus what is planned
    (``stock_target``: for nultredenwoningen the step-free homes occupied by households 55+, see
    :func:`assen_demand.housing.stock.target_shares`). The need is a model of who *needs* a
    type, the stock an estimate of what *exists*; their difference in the base year mixes the
    model's level errors with the real shortage.

``opgave = (need(year) - need(base)) + backlog(base) - planned``  (the default, *calibrated*)
    the base-year demand is calibrated against the occupied stock: in the base year the stock
    is taken to house the modelled need except for a cited shortage (``backlog``,
    :func:`assen_demand.housing.stock.estimate_backlog`). Written as the same identity,
    ``opgave = need - stock_calibrated - planned`` with ``stock_calibrated = need(base) -
    backlog``. ``opgave_low`` / ``opgave_high`` use the backlog's range.

A negative opgave is a surplus: it is shown, never clipped. Nursing places
(``verpleegzorgplek``) serve the whole gemeente: the residents' need is shown per wijk, the
opgave only for the gemeente (NaN in the wijken).

With Monte Carlo draws the need has a ``draw`` dimension; the base-year need is taken from the
same draw, the stock and backlog are central for every draw, so the quantiles show the
uncertainty of the need's change. The stock's range is reported separately
(``stock_low``/``stock_high``), the backlog's as ``opgave_low``/``opgave_high``.

The national programme's norm (``model="norm"`` of the dwellings result) is the area's share of
the programme's 2022-2030 *additions*; it is kept as a comparison for 2030 only
(``programme_share_2030``), never as a stock.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.draw_quantiles import quantiles_over_draws
from assen_demand.errors import DataFormatError
from assen_demand.housing.stock import GEMEENTE_ONLY, STOCK_TYPES

__all__ = ["HIGHLIGHT_YEARS", "PROGRAMME_YEAR", "compute_opgave", "to_frame", "wide_table"]

#: Years shown in the products (workbook columns, charts)
HIGHLIGHT_YEARS = (2030, 2035, 2040)
#: The national programme Wonen en zorg voor ouderen runs 2022-2030
PROGRAMME_YEAR = 2030


def compute_opgave(need: xr.DataArray, stock_years: xr.Dataset, *, backlog: xr.Dataset | None = None,
                   norm: xr.DataArray | None = None, gemeente: str | None = None) -> xr.Dataset:
    """Opgave per area, dwelling type and year.

    Parameters
    ----------
    need : xarray.DataArray (area, dwelling_type, year[, draw]) [dwellings or places]
        Total need (care-driven and preference); types other than :data:`STOCK_TYPES` are left out.
    stock_years : xarray.Dataset (area, dwelling_type, year)
        From :func:`assen_demand.housing.stock.stock_by_year` (attribute ``base_year``).
    backlog : xarray.Dataset (area, dwelling_type), optional
        ``low``, ``central``, ``high`` shortage in the base year
        (:func:`assen_demand.housing.stock.estimate_backlog`). Given: the opgave is calibrated
        (``(need - need_base) + backlog - planned``); ``None``: ``opgave`` is the uncalibrated
        ``need - stock_target``.
    norm : xarray.DataArray (area, dwelling_type, year), optional
        The area's share of the national programme (additions 2022-2030); only its
        :data:`PROGRAMME_YEAR` value is kept, as ``programme_share_2030`` (area, dwelling_type).
    gemeente : str, optional
        The gemeente row (default: ``stock_years.attrs["gemeente"]``).

    Returns
    -------
    xarray.Dataset (area, dwelling_type, year[, draw])
        ``need``, ``need_base``, ``stock`` (full stock: base + planned, central), ``stock_low``,
        ``stock_high``, ``stock_target`` (the part held by the target group), ``planned``
        (cumulative since the base year), ``backlog``/``backlog_low``/``backlog_high``,
        ``stock_calibrated`` = need_base - backlog, ``opgave`` = need - stock_calibrated -
        planned, ``opgave_low``/``opgave_high`` (backlog range), ``opgave_uncalibrated`` = need -
        stock_target (base part held by the target group + planned) [dwellings or places]; NaN for nursing places in wijken.
        Attribute ``method``: ``calibrated`` or ``uncalibrated``. Optional ``programme_share_2030``.

    Raises
    ------
    DataFormatError
        ``need`` lacks a dimension, a stock type, or (calibrated) the base year.
    """
    missing = [d for d in ("area", "dwelling_type", "year") if d not in need.dims]
    if missing:
        raise DataFormatError(f"need lacks dimension(s) {missing}; it needs (area, dwelling_type, year[, draw])")
    lacking = sorted(set(STOCK_TYPES) - set(str(t) for t in need["dwelling_type"].values))
    if lacking:
        raise DataFormatError(f"need has no dwelling type(s) {lacking}; the opgave needs {', '.join(STOCK_TYPES)}")
    gemeente = gemeente or stock_years.attrs["gemeente"]
    base = int(stock_years.attrs["base_year"])
    need = need.sel(dwelling_type=list(STOCK_TYPES))
    years = [int(y) for y in need["year"].values if int(y) in set(int(v) for v in stock_years["year"].values)]
    if backlog is not None and base not in years:
        raise DataFormatError(f"need has no base year {base}; the calibrated opgave needs the need in the base year "
                              "(or pass backlog=None for the uncalibrated comparison)")
    need = need.sel(year=years)
    st = stock_years.sel(year=years, area=need["area"].values)
    target = st["stock_target"] if "stock_target" in st else st["stock"]
    uncalibrated = need - target
    out = xr.Dataset({"need": need, "stock": st["stock"], "stock_low": st["stock_low"],
                      "stock_high": st["stock_high"], "stock_target": target, "planned": st["planned"]})
    if backlog is not None:
        need_base = need.sel(year=base, drop=True)
        bl = backlog.sel(area=need["area"].values, dwelling_type=list(STOCK_TYPES))
        out["need_base"] = need_base
        out["backlog"], out["backlog_low"], out["backlog_high"] = bl["central"], bl["low"], bl["high"]
        out["stock_calibrated"] = need_base - bl["central"]
        out["opgave"] = need - out["stock_calibrated"] - st["planned"]
        out["opgave_low"] = need - (need_base - bl["low"]) - st["planned"]
        out["opgave_high"] = need - (need_base - bl["high"]) - st["planned"]
        method = "calibrated"
    else:
        out["opgave"] = uncalibrated
        method = "uncalibrated"
    out["opgave_uncalibrated"] = uncalibrated
    wijk_only = (out["area"] != gemeente) & out["dwelling_type"].isin(list(GEMEENTE_ONLY))
    for name in ("opgave", "opgave_low", "opgave_high", "opgave_uncalibrated", "backlog", "backlog_low",
                 "backlog_high", "stock_calibrated"):
        if name in out:
            out[name] = out[name].where(~wijk_only)
    if norm is not None and PROGRAMME_YEAR in [int(y) for y in norm["year"].values]:
        share = norm.sel(year=PROGRAMME_YEAR, drop=True)
        out["programme_share_2030"] = share.sel(dwelling_type=list(STOCK_TYPES), area=need["area"].values)
    out.attrs.update(stock_years.attrs)
    out.attrs["method"] = method
    return out


def to_frame(opgave: xr.Dataset, area_names: dict | None = None, *, quantiles=(0.05, 0.5, 0.95)) -> pd.DataFrame:
    """The opgave as a tidy table.

    With a ``draw`` dimension the central columns are the draws' median and every value column
    ``v`` gets ``v_q05, v_q50, v_q95``.

    Returns
    -------
    pandas.DataFrame
        ``area, area_name, dwelling_type, year, need, need_base, stock, stock_low, stock_high,
        stock_target, planned, backlog, backlog_low, backlog_high, opgave, opgave_low,
        opgave_high, opgave_uncalibrated[, quantile columns], programme_share_2030`` (the last
        only in 2030 rows; columns a result lacks are left out).
    """
    cols = [c for c in ("need", "need_base", "stock", "stock_low", "stock_high", "stock_target", "planned",
                        "backlog", "backlog_low", "backlog_high", "opgave", "opgave_low", "opgave_high",
                        "opgave_uncalibrated") if c in opgave]
    if "draw" in opgave.dims:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            base = opgave[cols].median("draw")
        frame = base.to_dataframe().reset_index()
        # every probability from one sort of the draws (nursing places in wijken: all NaN by design)
        taken = quantiles_over_draws(opgave[["need", "opgave"]], list(quantiles))
        for q in taken["quantile"].values:
            name = f"q{int(round(q * 100)):02d}"
            part = taken.sel(quantile=q, drop=True)
            part = part.rename({"need": f"need_{name}", "opgave": f"opgave_{name}"}).to_dataframe().reset_index()
            frame = frame.merge(part, on=["area", "dwelling_type", "year"], how="left")
    else:
        frame = opgave[cols].to_dataframe().reset_index()
    if "programme_share_2030" in opgave:
        share = opgave["programme_share_2030"].to_dataframe().reset_index()
        share["year"] = PROGRAMME_YEAR
        frame = frame.merge(share, on=["area", "dwelling_type", "year"], how="left")
    frame.insert(1, "area_name", frame["area"].map(area_names or {}))
    return frame


def wide_table(opgave: xr.Dataset, area_names: dict | None = None, *, years=HIGHLIGHT_YEARS,
               labels: dict | None = None) -> pd.DataFrame:
    """Wijken as rows, type x year as columns: ready to paste into a programme document.

    Parameters
    ----------
    years : sequence of int
        The highlighted years present in the result.
    labels : dict, optional
        Column labels per dwelling type (Dutch names in the workbook).

    Returns
    -------
    pandas.DataFrame
        ``Wijkcode, Wijk`` and one column per type and year [dwellings]; the gemeente first.
        With draws the median; nursing places only in the gemeente row (empty in wijken).
    """
    op = opgave["opgave"]
    if "draw" in op.dims:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            op = op.median("draw")
    present = [y for y in years if y in [int(v) for v in op["year"].values]]
    gemeente = opgave.attrs.get("gemeente")
    areas = [str(a) for a in op["area"].values]
    areas = ([gemeente] if gemeente in areas else []) + [a for a in areas if a != gemeente]
    rows = []
    for area in areas:
        row = {"Wijkcode": area, "Wijk": (area_names or {}).get(area, area)}
        for dtype in STOCK_TYPES:
            label = (labels or {}).get(dtype, dtype)
            for y in present:
                value = float(op.sel(area=area, dwelling_type=dtype, year=y))
                row[f"{label} {y}"] = round(value) if np.isfinite(value) else None
        rows.append(row)
    return pd.DataFrame(rows)

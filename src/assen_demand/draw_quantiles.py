"""Quantiles over the Monte Carlo draws: the numbers of ``xarray``'s ``quantile``, from one sort.

Every table of a run with draws is summarised by its quantiles over ``draw`` (5 %, 10 %, ...,
95 %). NumPy's ``quantile`` partitions the draws of each cell once per probability pair and
``nanquantile`` walks the cells one by one in Python where a draw is NaN (the opgave of a
nursing place in a wijk is NaN by design): for the 1,000 draws of Assen's population (37,774
cells) that took 1.6 s, and the opgave tables of a national run pay the slow path per gemeente.

Here each block of cells is copied with the draws contiguous and sorted once (NaN sorts last;
in the input's own precision, which keeps the order), and every probability is read from the
sorted rows with NumPy's own rule for the default ``"linear"`` method: virtual index
``(n - 1) q`` over the ``n`` draws that are not NaN, the two order statistics around it, and
NumPy's two-sided linear interpolation. The result is bit for bit that of ``np.quantile`` /
``np.nanquantile`` (and so of ``DataArray.quantile``, which calls them), tested against both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from assen_demand.errors import InvalidValueError

#: cells per sorted block: 8,192 cells x 1,000 draws is 33 MB in float32
BLOCK_CELLS = 8192


def quantiles_of_rows(rows: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of each row of ``rows`` (cells, draws), NaN draws left out: (len(q), cells) float64.

    ``np.nanquantile(rows, q, axis=1)`` bit for bit (``np.quantile`` where a row has no NaN; an
    all-NaN row gives NaN, without NumPy's warning). ``rows`` is sorted in place.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 1 or np.any(~((q >= 0) & (q <= 1))):
        raise InvalidValueError(f"quantiles {q.tolist()} must lie in [0, 1] (0.05, not 5)")
    rows.sort(axis=1)  # NaN last
    cells, draws = rows.shape
    if cells == 0 or draws == 0:
        return np.full((len(q), cells), np.nan)
    if np.isnan(rows[:, -1]).any():
        valid = draws - np.isnan(rows).sum(axis=1)
    else:
        valid = np.full(cells, draws)
    last = np.maximum(valid - 1, 0)
    # NumPy's "linear" method (numpy/lib/_function_base_impl.py, _quantile): the same operations
    virtual = (valid - 1)[None, :] * q[:, None]  # (q, cell)
    below = np.floor(virtual)
    above_end = virtual >= (valid - 1)[None, :]
    # numpy takes the last element for both neighbours there and counts gamma from index -1
    previous = np.where(above_end, -1.0, np.maximum(below, 0.0))
    gamma = virtual - previous
    lower_index = np.where(above_end, last[None, :], np.maximum(below, 0).astype(np.intp))
    upper_index = np.where(above_end, last[None, :], np.minimum(lower_index + 1, last[None, :]))
    lower = np.take_along_axis(rows, lower_index.T, axis=1).T.astype(np.float64)
    upper = np.take_along_axis(rows, upper_index.T, axis=1).T.astype(np.float64)
    with np.errstate(invalid="ignore"):  # an infinite draw gives inf - inf as in NumPy, unwarned
        diff = upper - lower
        result = lower + diff * gamma
        np.subtract(upper, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    result[:, valid == 0] = np.nan
    return result


def quantiles_over_draws(da, q: Sequence[float], *, dim: str = "draw"):
    """``da.quantile(q, dim=dim)`` (NaN draws skipped), in float64, a block of cells at a time.

    Parameters
    ----------
    da : xarray.DataArray with a ``dim`` dimension, or xarray.Dataset
        A Dataset gets the quantiles of each variable that has ``dim``; the others are kept as
        they are, and so are its attributes.
    q : sequence of float
        Probabilities in [0, 1].
    dim : str

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        ``quantile`` first, then the other dims of ``da`` in their order; the coordinates of
        ``da`` that do not run along ``dim``.
    """
    if isinstance(da, xr.Dataset):
        return xr.Dataset({v: quantiles_over_draws(da[v], q, dim=dim) if dim in da[v].dims else da[v]
                           for v in da.data_vars}, attrs=da.attrs)
    if dim not in da.dims:
        raise InvalidValueError(f"no {dim!r} dimension to take quantiles over (dims {list(da.dims)})")
    q = [float(v) for v in q]
    other = [d for d in da.dims if d != dim]
    values = da.transpose(dim, *other).values
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((len(q), flat.shape[1]))
    for start in range(0, flat.shape[1], BLOCK_CELLS):
        block = np.ascontiguousarray(flat[:, start:start + BLOCK_CELLS].T)
        out[:, start:start + block.shape[0]] = quantiles_of_rows(block, q)
    coords = {d: da[d] for d in other if d in da.coords}
    coords.update({k: c for k, c in da.coords.items() if dim not in c.dims and k not in other})
    return xr.DataArray(out.reshape(len(q), *values.shape[1:]), dims=("quantile", *other),
                        coords={"quantile": q, **coords}, name=da.name, attrs=da.attrs)

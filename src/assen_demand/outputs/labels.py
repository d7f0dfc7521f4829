"""Names and labels that every output module shares: the source footnote, the Dutch dwelling-type
names, the quantile column names and the scenario suffix of file names.

A leaf of :mod:`assen_demand.outputs`: :mod:`~assen_demand.outputs.export`,
:mod:`~assen_demand.outputs.plots`, :mod:`~assen_demand.outputs.monitoring` and
:mod:`~assen_demand.outputs.voorzieningen` import it, it imports none of them (so they do not
import each other for a label). ``export`` re-exports these names.
"""

from __future__ import annotations

import re

import pandas as pd

from assen_demand.inputs.parsing import slug

__all__ = ["SOURCE_NOTE", "DWELLING_LABELS", "quantile_columns", "with_quantile_columns", "scenario_suffix"]

#: Footnote of every chart and the workbook: where the numbers come from.
SOURCE_NOTE = "Bron: CBS (KWB, 37259), UN WPP 2024; berekening assen_demand"

#: Dutch names of the dwelling types (keys as in :data:`assen_demand.housing.dwellings.DWELLING_TYPES`).
DWELLING_LABELS = {
    "nultredenwoning": "Nultredenwoning",
    "geclusterd": "Geclusterde woonvorm",
    "zorggeschikt": "Zorggeschikte woning",
    "verpleegzorgplek": "Verpleegzorgplek",
    "begeleid_wonen": "Begeleid wonen (jongeren)",
}

_QUANTILE_COLUMN = re.compile(r"^(?P<value>[a-z_]+)_q(?P<level>\d{2,3})$")


def quantile_columns(frame: pd.DataFrame, value: str = "need") -> dict[float, str]:
    """Quantile columns of a table, such as ``need_q05`` -> 0.05.

    Parameters
    ----------
    frame : pandas.DataFrame
        A tidy table (e.g. ``Forecast.to_frame("dwellings")``).
    value : str
        Variable whose quantiles are wanted.

    Returns
    -------
    dict of float -> str
        Probability -> column name, sorted by probability; empty without quantile columns.

    Examples
    --------
    >>> quantile_columns(pd.DataFrame(columns=["need", "need_q95", "need_q05", "need_q50"]))
    {0.05: 'need_q05', 0.5: 'need_q50', 0.95: 'need_q95'}
    """
    found = {}
    for col in frame.columns:
        m = _QUANTILE_COLUMN.match(str(col))
        if m and m["value"] == value:
            digits = m["level"]
            found[int(digits) / 10 ** len(digits)] = str(col)
    return dict(sorted(found.items()))


def with_quantile_columns(frame: pd.DataFrame, quantiles: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A tidy table with its quantile columns joined on ``keys``, each right after its value column.

    Used by ``Forecast.to_frame`` and ``StoredForecast.to_frame``, so a run in memory and the same
    run read back from a store give the same columns in the same order.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy table: ``keys`` plus value columns (e.g. ``area, year, need, supply``).
    quantiles : pandas.DataFrame
        ``keys`` plus quantile columns named ``<value>_q<level>`` (``need_q05``, ``need_q95``).
    keys : list of str
        Columns both tables share; rows of ``frame`` without quantiles get NaN (left join).

    Returns
    -------
    pandas.DataFrame
        ``frame``'s columns, each value followed by its quantiles in the order of ``quantiles``;
        quantile columns of a value ``frame`` does not have come last.

    Examples
    --------
    >>> frame = pd.DataFrame({"year": [2024, 2025], "need": [10.0, 12.0], "supply": [9.0, 9.5]})
    >>> q = pd.DataFrame({"year": [2024, 2025], "need_q05": [8.0, 9.0], "need_q95": [12.0, 15.0]})
    >>> list(with_quantile_columns(frame, q, ["year"]).columns)
    ['year', 'need', 'need_q05', 'need_q95', 'supply']
    """
    joined = frame.merge(quantiles, on=keys, how="left")
    added = [c for c in quantiles.columns if c not in keys]
    order = []
    for col in joined.columns:
        if col not in added:
            order.append(col)
            order += [c for c in added if c.rsplit("_q", 1)[0] == col]
    return joined[order + [c for c in added if c not in order]]


def scenario_suffix(result) -> str:
    """``""`` for the basis run, else ``"_<scenario>"``: appended to output file names.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> scenario_suffix(SimpleNamespace(scenario_name="basis")), scenario_suffix(SimpleNamespace(scenario_name="Lage migratie"))
    ('', '_lage-migratie')
    """
    name = str(getattr(result, "scenario_name", "basis"))
    return "" if name == "basis" else "_" + slug(name)

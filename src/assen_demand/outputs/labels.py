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

__all__ = ["SOURCE_NOTE", "DWELLING_LABELS", "quantile_columns", "scenario_suffix"]

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

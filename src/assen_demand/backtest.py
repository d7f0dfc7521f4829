"""Hindcasts: forecast from what was known on 1 January of a base year, compare with what came.

:func:`hindcast` projects a gemeente from ``base_year`` to ``target_year`` with the data cut at
1 January ``base_year`` (:meth:`assen_demand.inputs.datasets.GemeenteData.as_of`, applied inside
:func:`assen_demand.pipeline.project_population`) and sets the projection of every wijk next to
the KWB figures of ``target_year``, in the five KWB age bands and in total. Next to it stands the
**naive forecast** "the target year equals the base year as observed" (the KWB of the base year),
so every report shows whether the method beats doing nothing.

:func:`hindcast_metrics` summarises a hindcast table: per band the median and the weighted
absolute percentage error (``sum |predicted - observed| / sum observed``) of the method and of the
naive forecast. :func:`national_hindcast` runs every gemeente of a data folder and reports the
gemeenten that merged or split between the two years instead of failing on them.

Matching wijken between the two years
-------------------------------------
A wijk is compared when the same area key (CBS wijk code, else the stable key
``GMxxxx:<wijk-name>``) is in both years and its buurten (by name) are the same set in both
years: ``status = "matched"``. Otherwise the row stays in the table with a status and is left out
of the metrics:

* ``"boundary_changed"``: same key, but buurten were added, removed or renamed (a corrected
  spelling, name similarity >= 0.8 with the same number of buurten, does not count);
* ``"not_in_target"``: the base-year wijk has no wijk with its key in the target year
  (abolished, renamed or renumbered); predicted only;
* ``"not_in_base"``: a target-year wijk without a base-year wijk of its key; observed only.

Error measures
--------------
``ape = 100 |predicted - observed| / observed`` [%] per wijk and band (NaN where nothing was
observed: such a cell enters the weighted APE through its absolute error only).

What a forecast from 1 January 2021 can know about a wijk
---------------------------------------------------------
KWB wijk tables start in 2021 here, so a base year 2021 has no successive KWB years: no wijk's
migration can be measured. The default (cohort-component) forecast then uses (1) the gemeente's
observed net migration level (CBS 37259, five years before the base year), (2) its age pattern
read from the gemeente's 2021 age profile relative to the Netherlands
(:func:`assen_demand.demography.migration.structural_net_migration`: a gemeente that has long lost its
students and gained families shows it in its age structure), (3) shared among the wijken by their
population of each sex and age (the gemeente pattern), and (4) each wijk's own age structure aged
in place. Hamilton-Perry needs two age structures and is not available before base year 2022.

Drenthe, 2021 -> 2024 (twelve gemeenten, 185 matched wijken, weighted APE in %, method vs naive):
0-15 5.7 vs 5.1, 15-25 7.7 vs 7.9, 25-45 5.9 vs 6.3, 45-65 3.2 vs 3.9, 65+ 3.2 vs 6.4, total 2.7 vs
2.6. Before the age pattern of (2) (Rogers-Castro standard profile) 15-25 was 10.7 and 25-45 6.3.
Children and the total lose to the naive forecast because net migration in 2021-2023 was 1.5 to 6
times its 2016-2020 mean in most Drenthe gemeenten (refugees, the 2022 surge; Emmen about 1,250 a
year against about 200), much of it families: with the observed 2021-2023 level the gemeente totals
are within 0.3 % (naive 1.9 %), but that level was not known on 1 January 2021.

Later base years, wijk migration measured from KWB pairs
--------------------------------------------------------
From base year 2022 on, each wijk's band net migration is measured (KWB residuals). One or two
pairs are noisy; taken at face value they lost to the naive forecast in four bands from 2022.
They are now shrunk toward the wijk's population share of the gemeente's migration
(:func:`assen_demand.demography.migration.shrink_wijk_residuals`, weights from the wijk migration dispersion:
one pair counts 6 % for 0-15, 24 % for 15-25, 36 % for 25-45, 53 % for 45-65, 45 % for 65+).
Drenthe, weighted APE in %, raw pairs -> shrunk (with the within-band age pattern and the
boundary checks of the components module, measured 2026-11-28) vs naive:

=====  =====================  =====================
band   2022 -> 2024 (1 pair)  2023 -> 2024 (2 pairs)
=====  =====================  =====================
0-15   5.6 -> 4.0 vs 3.9      2.8 -> 2.5 vs 2.8
15-25  7.4 -> 6.5 vs 5.9      3.9 -> 4.2 vs 4.0
25-45  5.9 -> 5.0 vs 5.0      2.7 -> 2.6 vs 2.8
45-65  3.0 -> 2.4 vs 3.0      1.3 -> 1.3 vs 1.8
65+    3.0 -> 2.3 vs 4.5      1.4 -> 1.4 vs 2.4
total  2.6 -> 2.1 vs 1.9      1.0 -> 1.0 vs 1.1
=====  =====================  =====================

The dispersions were estimated on the same Drenthe KWB years (2022-2024), so these two columns
are not a clean out-of-sample test of the weights (only of their ratio's use); the 2021 base year
has no pairs and is not affected.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from assen_demand.inputs.cbs import KWB_BAND_LABELS, KWB_BANDS, buurt_sets, same_buurten
from assen_demand.inputs.datasets import GemeenteData, load_gemeente, load_national
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.pipeline import DEFAULT_SMALL_AREA_METHOD, project_population
from assen_demand.processes import process_pool

__all__ = [
    "BANDS",
    "format_metrics",
    "hindcast",
    "hindcast_metrics",
    "national_hindcast",
]

#: band labels of a hindcast table: the five KWB bands and the total
BANDS: tuple[str, ...] = (*KWB_BAND_LABELS, "total")
_BAND_COLUMNS = ("age_0_15", "age_15_25", "age_25_45", "age_45_65", "age_65_plus", "population")
_COLUMNS = ["gemeente", "area", "area_name", "area_level", "band", "predicted", "observed", "naive",
            "error", "ape", "naive_ape", "status", "method", "base_year", "target_year"]


def _kwb_bands(kwb: pd.DataFrame, year: int) -> pd.DataFrame:
    """Gemeente and wijk rows of one KWB year as ``area, area_name, area_level, band, persons``."""
    rows = kwb[(kwb["year"] == year) & kwb["area_level"].isin(["gemeente", "wijk"])]
    long = rows.melt(id_vars=["area", "area_name", "area_level"], value_vars=list(_BAND_COLUMNS),
                     var_name="column", value_name="persons")
    long["band"] = long["column"].map(dict(zip(_BAND_COLUMNS, BANDS)))
    return long.drop(columns="column")


def _predicted_bands(population, year: int) -> pd.DataFrame:
    """(area, sex, age, year) projection -> ``area, band, predicted`` at ``year``."""
    values = population.sel(year=year).sum("sex")
    ages = values["age"].values
    out = {}
    for label, (lo, hi) in zip(KWB_BAND_LABELS, KWB_BANDS):
        mask = (ages >= lo) & (ages < (hi if hi is not None else np.inf))
        out[label] = values.isel(age=mask).sum("age").values
    out["total"] = values.sum("age").values
    frame = pd.DataFrame(out, index=pd.Index([str(a) for a in values["area"].values], name="area"))
    return frame.reset_index().melt(id_vars="area", var_name="band", value_name="predicted")


def hindcast(
    gemeente: str = "GM0106",
    *,
    base_year: int,
    target_year: int,
    data_dir=None,
    method: str | Callable = DEFAULT_SMALL_AREA_METHOD,
    data: GemeenteData | None = None,
    **options,
) -> pd.DataFrame:
    """Forecast ``target_year`` from what was known on 1 January ``base_year``; compare per wijk and band.

    Parameters
    ----------
    gemeente : str
        CBS code or name.
    base_year, target_year : int
        Jump-off and evaluation year (1 January); both need a KWB table, ``target_year > base_year``.
    data_dir : path, optional
        Folder of raw CBS/UN files; ``None`` uses the bundled tables (Drenthe).
    method : str or callable
        Small-area method (see :func:`assen_demand.pipeline.project_population`).
    data : GemeenteData, optional
        Inputs already loaded (the full data: the cut at ``base_year`` is made here).
    **options
        Passed to :func:`assen_demand.pipeline.project_population`.

    Returns
    -------
    pandas.DataFrame
        One row per area (the gemeente, then every wijk of either year) and band (``0-15, 15-25,
        25-45, 45-65, 65+, total``): ``gemeente, area, area_name, area_level, band, predicted,
        observed, naive, error, ape, naive_ape, status, method, base_year, target_year``
        [persons; ape in %]. ``area_name`` is the name in the target year (else the base year).
        ``naive`` is the base year's KWB figure. See the module notes for ``status``.

    Raises
    ------
    MissingDataError
        A year without KWB data for the gemeente.
    InvalidValueError
        ``target_year <= base_year``.
    """
    full = data if data is not None else load_gemeente(gemeente, data_dir=data_dir)
    if target_year <= base_year:
        raise InvalidValueError(
            f"target_year {target_year} must be after base_year {base_year}; a hindcast forecasts a later year"
        )
    for year, what in ((base_year, "base year"), (target_year, "target year")):
        if year not in full.kwb_years:
            raise MissingDataError(
                f"no KWB data for {full.name} ({full.gemeente}) in {year} (the {what}); KWB years available: "
                f"{', '.join(map(str, full.kwb_years)) or 'none'}"
            )
    projection = project_population(full.gemeente, data=full, base_year=base_year, end_year=target_year,
                                    method=method, **options)
    predicted = _predicted_bands(projection.population, target_year)
    observed = _kwb_bands(full.kwb, target_year).rename(columns={"persons": "observed"})
    naive = _kwb_bands(full.kwb, base_year).rename(columns={"persons": "naive"})

    table = predicted.merge(naive[["area", "band", "naive", "area_name", "area_level"]], on=["area", "band"],
                            how="outer")
    table = table.merge(observed, on=["area", "band"], how="outer", suffixes=("_base", ""))
    table["area_name"] = table["area_name"].fillna(table.pop("area_name_base"))
    table["area_level"] = table["area_level"].fillna(table.pop("area_level_base"))

    base_buurten, target_buurten = buurt_sets(full.kwb, base_year), buurt_sets(full.kwb, target_year)
    in_base = set(naive["area"])
    in_target = set(observed["area"])

    def status(area: str, level: str) -> str:
        if area not in in_target:
            return "not_in_target"
        if area not in in_base:
            return "not_in_base"
        if level == "wijk" and not same_buurten(base_buurten.get(area, frozenset()),
                                                 target_buurten.get(area, frozenset())):
            return "boundary_changed"
        return "matched"

    states = {(a, lvl): status(a, lvl) for a, lvl in table[["area", "area_level"]].drop_duplicates().itertuples(index=False)}
    table["status"] = [states[(a, lvl)] for a, lvl in zip(table["area"], table["area_level"])]
    table["error"] = table["predicted"] - table["observed"]
    obs = table["observed"].where(table["observed"] > 0)
    table["ape"] = 100.0 * table["error"].abs() / obs
    table["naive_ape"] = 100.0 * (table["naive"] - table["observed"]).abs() / obs
    table["gemeente"] = full.gemeente
    table["method"] = method if isinstance(method, str) else getattr(method, "__name__", "callable")
    table["base_year"] = base_year
    table["target_year"] = target_year
    table["_level"] = (table["area_level"] != "gemeente").astype(int)
    table["_band"] = table["band"].map({b: i for i, b in enumerate(BANDS)})
    table = table.sort_values(["_level", "area", "_band"]).drop(columns=["_level", "_band"])
    return table[_COLUMNS].reset_index(drop=True)


def hindcast_metrics(table: pd.DataFrame, *, by: str | list[str] = "band", level: str = "wijk") -> pd.DataFrame:
    """Error measures of a hindcast table, for the method and the naive forecast.

    Only rows with ``status == "matched"`` at ``level`` (wijk by default) count.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hindcast` or :func:`national_hindcast` (several gemeenten or methods).
    by : str or list of str
        Grouping columns, e.g. ``"band"`` or ``["method", "band"]``.
    level : {"wijk", "gemeente"}

    Returns
    -------
    pandas.DataFrame
        Per group: ``n`` [wijken], ``median_ape``, ``weighted_ape`` (``100 sum|error| / sum
        observed``), ``naive_median_ape``, ``naive_weighted_ape`` [%], and ``beats_naive``
        (weighted APE below the naive one).

    Examples
    --------
    >>> t = pd.DataFrame({"band": ["65+", "65+"], "predicted": [110.0, 95.0], "observed": [100.0, 100.0],
    ...     "naive": [90.0, 90.0], "status": "matched", "area_level": "wijk"})
    >>> m = hindcast_metrics(t)
    >>> m[["median_ape", "weighted_ape", "naive_weighted_ape"]].round(2).values.tolist()
    [[7.5, 7.5, 10.0]]
    """
    by = [by] if isinstance(by, str) else list(by)
    rows = table[(table["status"] == "matched") & (table["area_level"] == level)].copy()
    rows["_err"] = (rows["predicted"] - rows["observed"]).abs()
    rows["_nerr"] = (rows["naive"] - rows["observed"]).abs()
    obs = rows["observed"].where(rows["observed"] > 0)
    rows["_ape"] = 100.0 * rows["_err"] / obs
    rows["_nape"] = 100.0 * rows["_nerr"] / obs
    grouped = rows.groupby(by, sort=False)
    out = pd.DataFrame({
        "n": grouped.size(),
        "median_ape": grouped["_ape"].median(),
        "weighted_ape": 100.0 * grouped["_err"].sum() / grouped["observed"].sum(),
        "naive_median_ape": grouped["_nape"].median(),
        "naive_weighted_ape": 100.0 * grouped["_nerr"].sum() / grouped["observed"].sum(),
    })
    out["beats_naive"] = out["weighted_ape"] < out["naive_weighted_ape"]
    out = out.reset_index()
    if "band" in by:
        out["_b"] = out["band"].map({b: i for i, b in enumerate(BANDS)})
        out = out.sort_values([c for c in by if c != "band"] + ["_b"]).drop(columns="_b")
    return out.reset_index(drop=True)


def _one_gemeente(args) -> tuple[pd.DataFrame | None, dict]:
    code, data_dir, base_year, target_year, methods, options = args
    national = load_national(data_dir)
    started = time.perf_counter()
    frames = []
    try:
        data = national.for_gemeente(code)
        with warnings.catch_warnings():
            # per-gemeente fallbacks are reported in the status table, not as a flood of warnings
            warnings.simplefilter("ignore")
            for method in methods:
                frames.append(hindcast(code, base_year=base_year, target_year=target_year, data=data,
                                       method=method, **options))
        status, message = "ok", ""
    except MissingDataError as exc:  # e.g. a gemeente formed on 1 January of the base year has no flow history
        status, message = "missing_data", str(exc)
    except Exception as exc:  # one gemeente's failure must not stop a national run: it is reported
        status, message = "error", f"{type(exc).__name__}: {exc}"
    table = pd.concat(frames, ignore_index=True) if frames else None
    return table, {"gemeente": code, "status": status, "message": message,
                   "seconds": time.perf_counter() - started}


def national_hindcast(
    data_dir,
    *,
    base_year: int,
    target_year: int,
    methods: Iterable[str] = (DEFAULT_SMALL_AREA_METHOD,),
    gemeenten: Iterable[str] | None = None,
    processes: int = 1,
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hindcast every gemeente of a data folder; gemeenten that merged or split are reported.

    A gemeente with KWB data in ``base_year`` but not in ``target_year`` (merged into another) is
    reported as ``"merged_or_split"``; one with data in ``target_year`` only (new, formed by a
    merger) as ``"new"``; neither is hindcast. A gemeente whose inputs lack something (e.g. one
    formed on 1 January ``base_year`` has no CBS 37259 flows before it) is ``"missing_data"``; any
    other failure is ``"error"``; both with their message, and the run goes on.

    Parameters
    ----------
    data_dir : path
        Folder of raw CBS/UN files (``None``: the bundled Drenthe tables).
    base_year, target_year : int
    methods : iterable of str
        Small-area methods, each run for every gemeente.
    gemeenten : iterable of str, optional
        Codes to run (default all gemeenten of the base year).
    processes : int
        Worker processes (the data are read once and shared by fork where available).
    **options
        Passed to :func:`hindcast`.

    Returns
    -------
    table : pandas.DataFrame
        The :func:`hindcast` rows of every gemeente and method.
    gemeenten : pandas.DataFrame
        ``gemeente, gemeente_name, status, message, seconds`` per gemeente of either year.
    """
    national = load_national(data_dir)
    in_base = national.gemeenten(base_year)
    in_target = national.gemeenten(target_year)
    names = dict(zip(pd.concat([in_base, in_target])["area"], pd.concat([in_base, in_target])["area_name"]))
    codes = [c for c in in_base["area"] if str(c).startswith("GM")]
    if gemeenten is not None:
        wanted = [national.resolve_gemeente(g) for g in gemeenten]
        codes = [c for c in wanted]
    run = [c for c in codes if c in set(in_target["area"])]
    rows = [{"gemeente": c, "status": "merged_or_split", "message":
             f"no KWB {target_year} rows: the gemeente was merged or split after 1 January {base_year}",
             "seconds": 0.0} for c in codes if c not in set(in_target["area"])]
    if gemeenten is None:
        rows += [{"gemeente": c, "status": "new", "message":
                  f"no KWB {base_year} rows: the gemeente was formed after 1 January {base_year}", "seconds": 0.0}
                 for c in in_target["area"] if c not in set(in_base["area"])]
    key = None if data_dir is None else str(data_dir)
    jobs = [(c, key, base_year, target_year, tuple(methods), options) for c in run]
    if processes > 1 and len(jobs) > 1:
        with process_pool(processes) as pool:
            results = list(pool.map(_one_gemeente, jobs, chunksize=4))
    else:
        results = [_one_gemeente(job) for job in jobs]
    tables = [t for t, _ in results if t is not None]
    rows += [r for _, r in results]
    status = pd.DataFrame(rows, columns=["gemeente", "status", "message", "seconds"])
    status.insert(1, "gemeente_name", status["gemeente"].map(names))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=_COLUMNS)
    return table, status.sort_values("gemeente").reset_index(drop=True)


def format_metrics(metrics: pd.DataFrame) -> str:
    """A metrics table (:func:`hindcast_metrics`) as aligned text, percentages with one decimal."""
    shown = metrics.copy()
    for column in ("median_ape", "weighted_ape", "naive_median_ape", "naive_weighted_ape"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    shown["beats_naive"] = shown["beats_naive"].map({True: "yes", False: "no"})
    return shown.to_string(index=False)

"""The inputs of a forecast: bundled tidy tables, or a folder of raw CBS/UN downloads.

``load_assen()`` gives the bundled Assen inputs (the top-level ``data/cbs/``, written by
``scripts/build_cbs_data.py``; a wheel carries it as ``assen_demand/data/cbs/``, found by
:func:`bundled_dir`); ``load_gemeente(code, data_dir=...)`` gives the same structure
for any gemeente from a folder laid out like ``shared/data/raw``. Everything downstream takes a
:class:`GemeenteData` and never reads files itself.

Bron: CBS (CC BY 4.0); United Nations, DESA, Population Division, World Population Prospects
2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path

import pandas as pd

from assen_demand.inputs import cbs, validation
from assen_demand.inputs.bundled import bundled_dir
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError
from assen_demand.display import summary_repr

__all__ = ["GemeenteData", "NationalData", "load_assen", "load_gemeente", "load_national", "load_dwelling_pipeline", "load_dwelling_stock", "bundled_dir", "find_raw_dir", "ASSEN"]

ASSEN = "GM0106"

#: file names of the bundled tidy tables (one per reader of ``cbs``)
BUNDLED_FILES = {
    "kwb": "kwb.csv",
    "kwb_codes": "kwb_codes.csv",
    "population_bands": "population_by_age_sex.csv",
    "dynamics": "population_dynamics.csv",
    "wpp_mx": "wpp_mx.csv",
    "wpp_tfr": "wpp_tfr.csv",
    "wpp_asfr": "wpp_asfr.csv",
    "wpp_e0": "wpp_e0.csv",
}


#: Environment variable naming the folder of raw CBS/UN downloads (see :func:`find_raw_dir`).
RAW_DIR_VARIABLE = "ASSEN_DEMAND_RAW"


def find_raw_dir(start=None) -> Path | None:
    """The folder of raw CBS/UN downloads for development runs (tests, benchmarks, build scripts).

    ``$ASSEN_DEMAND_RAW`` when set; else the first ``shared/data/raw`` folder in ``start`` or one
    of its parents (a git worktree may sit deeper than the main checkout); else None. Forecasts do
    not need it: they use the bundled tables unless given ``data_dir``.

    Parameters
    ----------
    start : path, optional
        Where to begin looking (default the working directory).

    Returns
    -------
    pathlib.Path or None
    """
    if os.environ.get(RAW_DIR_VARIABLE):
        return Path(os.environ[RAW_DIR_VARIABLE])
    here = Path.cwd() if start is None else Path(start).resolve()
    for parent in (here, *here.parents):
        candidate = parent / "shared" / "data" / "raw"
        if candidate.is_dir():
            return candidate
    return None


@summary_repr
@dataclass(frozen=True)
class NationalData:
    """Tables for all areas in a data source (bundled or a raw folder).

    Attributes
    ----------
    kwb : pandas.DataFrame
        :func:`assen_demand.inputs.kwb.read_kwb` rows: every area and year [persons, households, ...].
    kwb_codes : pandas.DataFrame
        KWB values by region code, including the dwelling stock [dwellings].
    population_bands : pandas.DataFrame
        Gemeente x sex x 5-year age band on 1 January 2021 from the postcode tables [persons].
    dynamics : pandas.DataFrame
        CBS 37259 births, deaths, migration and 1 January population per region and year [persons].
    wpp_mx, wpp_tfr, wpp_asfr, wpp_e0 : pandas.DataFrame
        UN WPP 2024 national schedules for the Netherlands.
    source : str
        ``"bundled"`` or the data directory.
    """

    kwb: pd.DataFrame
    kwb_codes: pd.DataFrame
    population_bands: pd.DataFrame
    dynamics: pd.DataFrame
    wpp_mx: pd.DataFrame
    wpp_tfr: pd.DataFrame
    wpp_asfr: pd.DataFrame
    wpp_e0: pd.DataFrame
    source: str

    def gemeenten(self, year: int | None = None) -> pd.DataFrame:
        """Gemeente codes and names in the KWB data (of one year, or the latest name of each)."""
        g = self.kwb[self.kwb["area_level"] == "gemeente"]
        if year is not None:
            g = g[g["year"] == year]
        g = g.sort_values("year").drop_duplicates("area", keep="last")
        return g[["area", "area_name"]].sort_values("area").reset_index(drop=True)

    def resolve_gemeente(self, gemeente: str) -> str:
        """A CBS code or a gemeente name -> the code; unknown -> :class:`UnknownAreaError`."""
        names = self.kwb.loc[self.kwb["area_level"] == "gemeente", ["area", "area_name"]].drop_duplicates()
        if gemeente in set(names["area"]):
            return gemeente
        hit = names.loc[names["area_name"].map(cbs.slug) == cbs.slug(gemeente), "area"].unique()
        if len(hit) == 1:
            return str(hit[0])
        latest = names.drop_duplicates("area", keep="last").sort_values("area")
        # the bundled twelve (Drenthe) in full; a national folder's ~340 would drown the message
        listed = ", ".join(f"{a} ({n})" for a, n in latest.head(20).itertuples(index=False))
        more = f", ... ({len(latest) - 20} more)" if len(latest) > 20 else ""
        raise UnknownAreaError(
            f"gemeente {gemeente!r} is not in the {self.source} data; give a CBS code such as 'GM0106' or a "
            f"name such as 'Assen' (the data hold {len(latest)} gemeenten: {listed}{more}). "
            "For a gemeente outside the bundled data pass data_dir= with the CBS files."
        )

    def for_gemeente(self, gemeente: str) -> GemeenteData:
        """The inputs of one gemeente (code or name)."""
        code = self.resolve_gemeente(gemeente)
        kwb = self.kwb[(self.kwb["gemeente"] == code)].reset_index(drop=True)
        name = kwb.loc[kwb["area_level"] == "gemeente"].sort_values("year")["area_name"].iloc[-1]
        bands = self.population_bands[self.population_bands["area"] == code].reset_index(drop=True)
        dyn = self.dynamics
        return GemeenteData(
            gemeente=code,
            name=str(name),
            kwb=kwb,
            kwb_codes=self.kwb_codes[self.kwb_codes["gemeente"] == code].reset_index(drop=True),
            population_bands=bands,
            dynamics=dyn[dyn["area"] == code].reset_index(drop=True),
            national_dynamics=dyn[dyn["area"] == "NL01"].reset_index(drop=True),
            national_population_bands=self.population_bands[self.population_bands["area"] == "NL00"].reset_index(
                drop=True
            ),
            wpp_mx=self.wpp_mx,
            wpp_tfr=self.wpp_tfr,
            wpp_asfr=self.wpp_asfr,
            wpp_e0=self.wpp_e0,
            source=self.source,
        )


@summary_repr
@dataclass(frozen=True)
class GemeenteData:
    """Every input of a forecast for one gemeente, as tidy tables.

    Attributes
    ----------
    gemeente, name : str
        CBS code (``GM0106``) and name (``Assen``).
    kwb : pandas.DataFrame
        KWB rows of the gemeente, its wijken and buurten, every year available.
    kwb_codes : pandas.DataFrame
        KWB values by region code (dwelling stock), where available.
    population_bands : pandas.DataFrame
        The gemeente by sex x 5-year band, 1 January 2021 (postcode tables) [persons].
    dynamics, national_dynamics : pandas.DataFrame
        CBS 37259 flows and stocks of the gemeente and of the Netherlands [persons].
    national_population_bands : pandas.DataFrame
        The Netherlands by sex x 5-year band, 1 January 2021 [persons].
    wpp_mx, wpp_tfr, wpp_asfr, wpp_e0 : pandas.DataFrame
        UN WPP 2024 schedules of the Netherlands.
    source : str
        ``"bundled"`` or the data directory.
    as_of_year : int or None
        Set by :meth:`as_of`: nothing published after 1 January of this year is present.
    """

    gemeente: str
    name: str
    kwb: pd.DataFrame
    kwb_codes: pd.DataFrame
    population_bands: pd.DataFrame
    dynamics: pd.DataFrame
    national_dynamics: pd.DataFrame
    national_population_bands: pd.DataFrame
    wpp_mx: pd.DataFrame
    wpp_tfr: pd.DataFrame
    wpp_asfr: pd.DataFrame
    wpp_e0: pd.DataFrame
    source: str
    as_of_year: int | None = field(default=None)

    @property
    def kwb_years(self) -> list[int]:
        """Years with KWB rows for this gemeente."""
        return sorted(int(y) for y in self.kwb["year"].unique())

    def wijken(self, year: int) -> pd.DataFrame:
        """Wijk rows of one KWB year (``area, area_name`` and the KWB values)."""
        if year not in self.kwb_years:
            raise MissingDataError(
                f"no KWB data for {self.name} ({self.gemeente}) in {year}; years available: "
                f"{', '.join(map(str, self.kwb_years))}. Add kwb/kwb_{year}_<table>.csv to the data directory"
            )
        rows = self.kwb[(self.kwb["year"] == year) & (self.kwb["area_level"] == "wijk")]
        return rows.reset_index(drop=True)

    def as_of(self, base_year: int) -> GemeenteData:
        """What was known on 1 January of ``base_year``: the honest input of a hindcast.

        Keeps stocks dated up to 1 January ``base_year`` (KWB, 1 January population), flows of
        calendar years before ``base_year`` (births, deaths, migration), WPP mortality periods
        ending by ``base_year`` and WPP fertility estimates for years before ``base_year``. The
        postcode age table (1 January 2021) is kept only if ``base_year >= 2021``.
        """
        dyn = self.dynamics
        flows = [c for c in dyn.columns if c not in ("area", "area_name", "area_level", "year", "sex", "population_jan1", "source_table")]

        def honest(frame: pd.DataFrame) -> pd.DataFrame:
            frame = frame[frame["year"] <= base_year].copy()
            last = frame["year"] == base_year
            frame.loc[last, [c for c in flows if c in frame]] = float("nan")
            return frame.reset_index(drop=True)

        return replace(
            self,
            kwb=self.kwb[self.kwb["year"] <= base_year].reset_index(drop=True),
            kwb_codes=self.kwb_codes[self.kwb_codes["year"] <= base_year].reset_index(drop=True),
            population_bands=self.population_bands[self.population_bands["year"] <= base_year].reset_index(drop=True),
            national_population_bands=self.national_population_bands[
                self.national_population_bands["year"] <= base_year
            ].reset_index(drop=True),
            dynamics=honest(dyn),
            national_dynamics=honest(self.national_dynamics),
            wpp_mx=self.wpp_mx[self.wpp_mx["period_end"] <= base_year].reset_index(drop=True),
            wpp_tfr=self.wpp_tfr[self.wpp_tfr["year"] < base_year].reset_index(drop=True),
            wpp_asfr=self.wpp_asfr[self.wpp_asfr["year"] < base_year].reset_index(drop=True),
            wpp_e0=self.wpp_e0[self.wpp_e0["year"] < base_year].reset_index(drop=True),
            as_of_year=base_year,
        )

    def _summary_title(self) -> str:
        as_of = "" if self.as_of_year is None else f", as known on 1 January {self.as_of_year}"
        return f"{self.name} ({self.gemeente}), data {self.source}{as_of}"

    def _summary_headline(self) -> list[tuple[str, str]]:
        years = self.kwb_years
        if not years:
            return [("KWB years", "none")]
        last = self.kwb[(self.kwb["year"] == years[-1])]
        total = last.loc[last["area_level"] == "gemeente", "population"]
        return [("KWB years", f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])),
                (f"KWB {years[-1]}", f"{int((last['area_level'] == 'wijk').sum())} wijken, "
                                     f"{int((last['area_level'] == 'buurt').sum())} buurten, population "
                                     f"{float(total.iloc[0]) if len(total) else float('nan'):,.0f}")]

    def summary(self) -> pd.DataFrame:
        """Population, 65+ and households per area and KWB year, gemeente first."""
        cols = ["area", "area_name", "area_level", "year", "population", "age_65_plus", "households"]
        rows = self.kwb[self.kwb["area_level"].isin(["gemeente", "wijk"])][cols]
        rows = rows.assign(_wijk_last=rows["area_level"] == "wijk")
        return rows.sort_values(["year", "_wijk_last", "area"]).drop(columns="_wijk_last").reset_index(drop=True)


# --------------------------------------------------------------------------------------------


def _read_bundled(name: str) -> pd.DataFrame:
    path = bundled_dir().joinpath(BUNDLED_FILES[name])
    with path.open("rb") as handle:
        frame = pd.read_csv(handle, dtype={"area": "string", "gemeente": "string", "wijk": "string"})
    if "age_hi" in frame:
        frame["age_hi"] = frame["age_hi"].astype("Int64")
    return frame


@functools.lru_cache(maxsize=4)
def _load_cached(data_dir: str | None) -> NationalData:
    if data_dir is None:
        tables = {name: _read_bundled(name) for name in BUNDLED_FILES}
        return NationalData(**tables, source="bundled")
    path = Path(data_dir)
    with warnings.catch_warnings():
        # warnings about unusable rows are shown once by the readers' callers, not per gemeente
        warnings.simplefilter("default", cbs.DataWarning)
        return NationalData(
            kwb=cbs.read_kwb(path),
            kwb_codes=cbs.read_kwb_codes(path, missing_ok=True),
            population_bands=pd.concat(
                [cbs.read_postcode_population(path), cbs.read_postcode_population(path, level="national")],
                ignore_index=True,
            ),
            dynamics=cbs.read_population_dynamics(path),
            wpp_mx=cbs.read_wpp_mx(path),
            wpp_tfr=cbs.read_wpp_tfr(path),
            wpp_asfr=cbs.read_wpp_asfr(path),
            wpp_e0=cbs.read_wpp_e0(path),
            source=str(path),
        )


def load_national(data_dir=None) -> NationalData:
    """Every table of a data source: the bundled data (``None``) or a folder of raw CBS/UN files.

    Reading a raw folder takes a few seconds; the result is cached per folder.
    """
    key = None if data_dir is None else str(Path(data_dir).resolve())
    return _load_cached(key)


def load_gemeente(gemeente: str = ASSEN, *, data_dir=None) -> GemeenteData:
    """The inputs of one gemeente (CBS code or name) from the bundled data or ``data_dir``.

    Parameters
    ----------
    gemeente : str
        CBS code (``"GM0106"``) or name (``"Assen"``).
    data_dir : path, optional
        Folder laid out like ``shared/data/raw``; ``None`` uses the bundled tables (Drenthe
        gemeenten with wijken, the gemeente age structure of all of the Netherlands).
    """
    return load_national(data_dir).for_gemeente(gemeente)


def load_assen() -> GemeenteData:
    """The bundled inputs for Assen (GM0106): KWB 2021-2024, postcode ages 2021, CBS 37259, UN WPP 2024.

    >>> data = load_assen()
    >>> data.name, int(data.kwb.query("area == 'GM0106' and year == 2024")["population"].iloc[0])
    ('Assen', 69701)
    """
    return load_gemeente(ASSEN)


#: columns of a dwelling pipeline file (housing-led projections)
PIPELINE_COLUMNS = ("area", "year", "dwellings_added", "dwellings_removed")


def load_dwelling_stock() -> pd.DataFrame:
    """The bundled KWB 2024 dwelling stock of every gemeente and wijk (``data/cbs/dwelling_stock.csv``).

    Returns
    -------
    pandas.DataFrame
        ``area, area_level, gemeente, year, dwelling_stock`` [dwellings on 1 January 2024];
        NaN where CBS keeps the value secret.
    """
    with bundled_dir().joinpath("dwelling_stock.csv").open("rb") as handle:
        return pd.read_csv(handle, dtype={"area": "string", "gemeente": "string", "area_level": "string"})


def load_dwelling_pipeline(source="example") -> pd.DataFrame:
    """Planned completions and demolitions per wijk and year for a housing-led projection.

    Parameters
    ----------
    source : path, pandas.DataFrame or "example"
        A CSV (or table) with ``area, year, dwellings_added, dwellings_removed`` [dwellings per
        year] and optionally ``status, note, source``; ``"example"`` is the bundled Assen file
        ``data/pipelines/assen_example_pipeline.csv``, an illustrative assumption (see its README).

    Returns
    -------
    pandas.DataFrame
        The rows, ``year`` as int and the counts as float (missing counts = 0).

    Examples
    --------
    >>> plan = load_dwelling_pipeline("example")
    >>> sorted(plan["area"].unique()), int(plan["dwellings_added"].sum())
    (['WK010600', 'WK010608'], 1700)
    """
    if isinstance(source, pd.DataFrame):
        frame, name = source.copy(), "the dwelling pipeline table"
    elif isinstance(source, str) and source == "example":
        path = files("assen_demand").joinpath("data", "pipelines", "assen_example_pipeline.csv")
        with path.open("rb") as handle:
            frame = pd.read_csv(handle, dtype={"area": str})
        name = "assen_example_pipeline.csv"
    else:
        path = Path(source)
        if not path.is_file():
            raise MissingDataError(f"dwelling pipeline file {path} not found; give a CSV with columns "
                                   f"{', '.join(PIPELINE_COLUMNS)} or 'example'")
        frame = validation.read_csv(path, what=f"a dwelling pipeline ({', '.join(PIPELINE_COLUMNS)})",
                                    dtype={"area": str})
        name = path.name
    missing = [c for c in PIPELINE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{name} lacks column(s) {', '.join(missing)}; a dwelling pipeline has "
                              f"{', '.join(PIPELINE_COLUMNS)} (dwellings per year)")
    for column in ("year", "dwellings_added", "dwellings_removed"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any() or (column == "year" and values.isna().any()):
            raise DataFormatError(f"{name}: column {column} holds a non-number ({frame.loc[bad | values.isna(), column].iloc[0]!r}) "
                                  f"in row {int((bad | values.isna()).to_numpy().argmax()) + 1}")
        frame[column] = values
    validation.check_whole_years(frame, "year", source=name, labels=["area"])
    for column in ("dwellings_added", "dwellings_removed"):  # inf would reach the engine as NaN migration
        validation.check_finite_range(frame, column, source=name, labels=["area", "year"], low=float("-inf"),
                                      high=float("inf"), reason="a finite number of dwellings")
    # two rows for one wijk and year used to be summed without notice
    validation.check_unique(frame, ["area", "year"], source=name,
                            fix="give one row per wijk and year (add the counts up yourself if both are meant)")
    counts = frame[["dwellings_added", "dwellings_removed"]].fillna(0.0)
    if (counts < 0).any().any():
        raise InvalidValueError(f"{name}: dwellings_added and dwellings_removed must be >= 0 (a demolition is "
                                "a positive dwellings_removed)")
    frame[["dwellings_added", "dwellings_removed"]] = counts.astype(float)
    frame["year"] = frame["year"].astype(int)
    frame["area"] = frame["area"].astype(str)
    return frame.reset_index(drop=True)

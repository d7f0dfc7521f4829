"""Aandachtsgroepen of the volkshuisvestingsprogramma: households per year that need a home.

Every group is a yearly flow of households needing a home, per gemeente and wijk, with
low/central/high from ``data/parameters/aandachtsgroepen.csv`` (each row cites its source and
carries a status bekend/geschat/aanname) and the kind of home it needs (``dwelling_need``):

``zelfstandig_sociaal``  an independent social-rent home;
``begeleid_wonen``       a supported unit (the dwelling type ``begeleid_wonen`` of
                         :mod:`assen_demand.housing.dwellings`);
``gedeeld_wonen``        shared living (kept as a category: no group defaults to it);
``zorggeschikt``         a home where 24-hour care can be given nearby.

How each group is counted (all rates per 1,000 persons of a stated base population):

* ``vergunninghouders``: the half-yearly taakstelling is a national number spread over the
  gemeenten pro rata their inhabitants (:func:`taakstelling_share`); projected years use the
  rate per 1,000 inhabitants, converted to households with persons per household (the circulaire
  counts persons). A published gemeente number for a half-year replaces the rate
  (:func:`published_taakstelling`). Wijk key: the wijk's share of rented homes.
* ``bw_mo_uitstroom``: outflow from beschermd wonen and maatschappelijke opvang of the
  centrumgemeente's region, allocated over the region's gemeenten by population share
  (:func:`regional_allocation`; the region is ``data/groups/regio_beschermd_wonen.csv``).
  With that key a gemeente's part equals the rate times its own population 18+. Wijk key:
  rented homes.
* ``dakloos``, ``ggz_lvb_uitstroom``, ``detentie_uitstroom``, ``jeugdhulp_uitstroom``: rate x
  the population of the group's age band, per area (wijken by their own age structure).
* ``urgentie``: the gemeente's own counts (:func:`read_urgency`, template
  ``data/groups/urgentie_template.csv``) or, without them, a rate per 1,000 inhabitants.
* ``dementie_24uurs_toezicht``: the yearly change of persons with dementia living at home
  (``care_need`` indicator ``dementia_at_home``, prevalence not repeated) x the share needing
  24-hour supervision nearby. They are part of the older households' need for zorggeschikte
  woningen already; ``in_older_need`` marks them so the programme does not add them twice.

The groups are defined as disjoint flows (homeless people leaving the opvang are counted in
``bw_mo_uitstroom``, not in ``dakloos``); the notes of the parameter rows say so.
"""

from __future__ import annotations

from importlib.resources import files
from os import PathLike

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import check_population
from assen_demand.inputs import validation
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError
from assen_demand.parameters import load_parameter_table, select_variant

__all__ = [
    "GROUPS",
    "GROUP_LABELS",
    "DWELLING_NEEDS",
    "URGENCY_GROUPS",
    "group_parameters",
    "taakstelling_share",
    "published_taakstelling",
    "load_region",
    "regional_allocation",
    "rented_key",
    "read_urgency",
    "load_urgency_template",
    "aandachtsgroepen",
    "to_frame",
]

_TABLE = "aandachtsgroepen.csv"
GROUPS = (
    "vergunninghouders",
    "bw_mo_uitstroom",
    "dakloos",
    "jeugdhulp_uitstroom",
    "ggz_lvb_uitstroom",
    "detentie_uitstroom",
    "urgentie",
    "dementie_24uurs_toezicht",
)
#: Dutch labels for the workbook and the programme text
GROUP_LABELS = {
    "vergunninghouders": "Vergunninghouders (statushouders)",
    "bw_mo_uitstroom": "Uitstroom beschermd wonen en maatschappelijke opvang",
    "dakloos": "Dak- en thuislozen",
    "jeugdhulp_uitstroom": "Jongeren (18-26) uit jeugdhulp met verblijf",
    "ggz_lvb_uitstroom": "Uitstroom intramurale GGZ en LVB",
    "detentie_uitstroom": "Uitstroom detentie",
    "urgentie": "Medische, sociale en mantelzorgurgentie",
    "dementie_24uurs_toezicht": "Thuiswonenden met dementie die 24-uurs toezicht nodig hebben",
}
DWELLING_NEEDS = ("zelfstandig_sociaal", "begeleid_wonen", "gedeeld_wonen", "zorggeschikt")
URGENCY_GROUPS = ("medisch", "sociaal", "mantelzorg")
# Groups counted per person in an age band (rate per 1,000 persons of the band)
_AGE_BASED = ("dakloos", "jeugdhulp_uitstroom", "ggz_lvb_uitstroom", "detentie_uitstroom")


def group_parameters(*, variant: str = "central") -> pd.DataFrame:
    """The rows of ``aandachtsgroepen.csv`` with the chosen variant as ``value``.

    Parameters
    ----------
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``indicator, dwelling_need, age_lo, age_hi, year, value, unit, status, source, note``.
    """
    table = load_parameter_table(_TABLE)
    bad = sorted(set(table["dwelling_need"]) - set(DWELLING_NEEDS))
    if bad:
        raise DataFormatError(f"{_TABLE}: dwelling_need {bad} unknown; use one of {', '.join(DWELLING_NEEDS)}")
    out = table.assign(value=select_variant(table, variant=variant))
    return out[["indicator", "dwelling_need", "age_lo", "age_hi", "year", "value", "unit", "status", "source", "note"]]


def _row(params: pd.DataFrame, indicator: str) -> pd.Series:
    rows = params[params["indicator"] == indicator]
    if len(rows) != 1:
        raise MissingDataError(f"{_TABLE}: expected one row for {indicator!r}, found {len(rows)}")
    return rows.iloc[0]


def taakstelling_share(national_persons: float, gemeente_population: float, national_population: float) -> int:
    """A gemeente's taakstelling: the national number pro rata its inhabitants, rounded.

    Parameters
    ----------
    national_persons : float [persons per half-year]
        National taakstelling of the half-year (Rijksoverheid circulaire).
    gemeente_population, national_population : float [persons]
        Inhabitants of the gemeente and of the Netherlands on the circulaire's reference date.

    Returns
    -------
    int [persons per half-year]
        Rounded half up (the circulaire publishes whole persons; its own rounding of the
        remainders is not published, so a published number can differ by one).

    Examples
    --------
    Hand-worked: 10,000 persons, a gemeente of 69,414 in a country of 17,811,291:
    10,000 x 69,414 / 17,811,291 = 38.97 -> 39.

    >>> taakstelling_share(10_000, 69_414, 17_811_291)
    39
    """
    for name, value in (("national_persons", national_persons), ("gemeente_population", gemeente_population),
                        ("national_population", national_population)):
        if not np.isfinite(value) or value < 0:
            raise InvalidValueError(f"{name} {value!r} must be a finite number >= 0")
    if national_population <= 0 or gemeente_population > national_population:
        raise InvalidValueError(
            f"national_population {national_population!r} must be positive and at least the gemeente's "
            f"{gemeente_population!r}"
        )
    return int(np.floor(national_persons * gemeente_population / national_population + 0.5))


def published_taakstelling(gemeente: str, source: str | PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """Published half-year taakstellingen of a gemeente, summed per calendar year.

    Parameters
    ----------
    gemeente : str
        CBS code, e.g. ``"GM0106"``.
    source : path or pandas.DataFrame, optional
        Table ``period, national_persons, gemeente, gemeente_persons, status, source, note`` with
        ``period`` like ``2026H1``; default the bundled ``data/groups/taakstelling_vergunninghouders.csv``.

    Returns
    -------
    pandas.DataFrame
        ``year, persons, halves`` for the years with a published gemeente number (``halves`` =
        1 or 2 half-years found); empty if none.
    """
    if source is None:
        path = files("assen_demand").joinpath("data", "groups", "taakstelling_vergunninghouders.csv")
        with path.open("r", encoding="utf-8") as handle:
            table = pd.read_csv(handle, dtype={"gemeente": str, "period": str})
    elif isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        table = pd.read_csv(source, dtype={"gemeente": str, "period": str})
    needed = ("period", "gemeente", "gemeente_persons")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataFormatError(f"taakstelling table lacks column(s) {missing}; it needs {', '.join(needed)}")
    mine = table[(table["gemeente"].astype(str) == gemeente) & table["gemeente_persons"].notna()].copy()
    if mine.empty:
        return pd.DataFrame(columns=["year", "persons", "halves"])
    ok = mine["period"].str.fullmatch(r"\d{4}H[12]")
    if not ok.all():
        bad = mine.loc[~ok, "period"].iloc[0]
        raise DataFormatError(f"taakstelling table: period {bad!r} is not like 2026H1 or 2026H2")
    mine["year"] = mine["period"].str[:4].astype(int)
    mine["persons"] = pd.to_numeric(mine["gemeente_persons"], errors="raise").astype(float)
    return mine.groupby("year", as_index=False).agg(persons=("persons", "sum"), halves=("persons", "size"))


def load_region() -> pd.DataFrame:
    """The bundled centrumgemeente regions for beschermd wonen / maatschappelijke opvang.

    Returns
    -------
    pandas.DataFrame
        ``regio, centrumgemeente, gemeente, gemeente_name, status, source, note``.
    """
    path = files("assen_demand").joinpath("data", "groups", "regio_beschermd_wonen.csv")
    with path.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str)


def regional_allocation(populations: pd.Series, gemeente: str) -> float:
    """Share of a region's beschermd-wonen/MO outflow that a gemeente houses: its population share.

    Parameters
    ----------
    populations : pandas.Series [persons]
        Inhabitants per gemeente of the region (index: CBS codes).
    gemeente : str
        The gemeente whose share is wanted.

    Returns
    -------
    float [share]

    Examples
    --------
    >>> regional_allocation(pd.Series({"A": 70_000, "B": 30_000}), "A")
    0.7
    """
    if gemeente not in populations.index:
        raise UnknownAreaError(f"{gemeente} is not in the region ({', '.join(map(str, populations.index))})")
    values = populations.astype(float)
    if values.isna().any() or (values < 0).any() or values.sum() <= 0:
        raise InvalidValueError("region populations must be numbers >= 0 with a positive total")
    return float(values[gemeente] / values.sum())


def rented_key(kwb: pd.DataFrame, areas, *, gemeente: str, year: int) -> xr.DataArray:
    """Wijk key for gemeente-level groups: each wijk's share of the gemeente's rented homes.

    Rented homes = households x KWB ``rented_pct`` / 100 (the latest KWB year up to ``year``
    with the column filled); the gemeente row gets 1. A wijk without the column gets its
    share of households (said in the attribute ``fallback``).

    Parameters
    ----------
    kwb : pandas.DataFrame
        KWB rows (``area, year, households, rented_pct``).
    areas : sequence of str
        Gemeente first, then its wijken.
    gemeente : str, keyword-only
    year : int, keyword-only [year]

    Returns
    -------
    xarray.DataArray (area) [share]; the wijken sum to 1.
    """
    areas = [str(a) for a in areas]
    wijken = [a for a in areas if a != gemeente]
    rows = kwb[kwb["area"].isin(wijken) & (kwb["year"] <= year)].sort_values("year")
    latest = rows.groupby("area").last()
    households = latest["households"].reindex(wijken).astype(float)
    rented = latest["rented_pct"].reindex(wijken).astype(float)
    fallback = sorted(rented.index[rented.isna()])
    gm_rows = kwb[(kwb["area"] == gemeente) & (kwb["year"] <= year)].sort_values("year")["rented_pct"].dropna()
    # a wijk without a published rented share gets the gemeente's (named in the attribute "fallback")
    fill = float(gm_rows.iloc[-1]) if len(gm_rows) else 100.0
    weight = households * rented.fillna(fill) / 100.0
    if weight.isna().any() or weight.sum() <= 0:
        missing = sorted(weight.index[weight.isna()])
        raise MissingDataError(f"KWB has no households for wijk(en) {missing} up to {year}; a wijk key needs them")
    share = weight / weight.sum()
    values = [1.0 if a == gemeente else float(share[a]) for a in areas]
    return xr.DataArray(values, dims=("area",), coords={"area": areas}, name="key",
                        attrs={"fallback": fallback, "unit": "share of rented homes"})


def read_urgency(source: str | PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a gemeente's own urgency counts (template ``data/groups/urgentie_template.csv``).

    Parameters
    ----------
    source : path or pandas.DataFrame
        Columns ``gemeente, group, year, households, source, note``; ``group`` one of
        ``medisch``, ``sociaal``, ``mantelzorg``; ``households`` per year.

    Returns
    -------
    pandas.DataFrame
        The rows with ``year`` as int and ``households`` as float [households per year].

    Raises
    ------
    DataFormatError
        Missing column, unknown group, duplicate row, a year that is not a whole number.
    InvalidValueError
        A missing or negative number of households.
    """
    frame = source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source, dtype={"gemeente": str})
    needed = ("gemeente", "group", "year", "households", "source")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataFormatError(f"urgency table lacks column(s) {missing}; copy data/groups/urgentie_template.csv")
    bad = sorted(set(frame["group"]) - set(URGENCY_GROUPS))
    if bad:
        raise DataFormatError(f"urgency table: group {bad} unknown; use {', '.join(URGENCY_GROUPS)}")
    frame = frame.reset_index(drop=True)
    years = validation.check_whole_years(frame, "year", source="urgency table", labels=["group"])
    counts = validation.check_counts(frame, "households", source="urgency table",
                                     fix="give a count >= 0 per group and year (leave the row out when unknown)")
    frame = frame.assign(year=years.astype(int), households=counts.astype(float), gemeente=frame["gemeente"].astype(str))
    dup = frame.duplicated(["gemeente", "group", "year"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise DataFormatError(f"urgency table: two rows for {r['gemeente']}, {r['group']}, {r['year']}; sum them")
    return frame


def load_urgency_template() -> pd.DataFrame:
    """The bundled template of the urgency input (all zeros: a format example, not data)."""
    path = files("assen_demand").joinpath("data", "groups", "urgentie_template.csv")
    with path.open("r", encoding="utf-8") as handle:
        return read_urgency(pd.read_csv(handle, dtype={"gemeente": str}))


def _band(population: xr.DataArray, lo: int, hi) -> xr.DataArray:
    age = population["age"]
    mask = (age >= lo) if pd.isna(hi) else (age >= lo) & (age < int(hi))
    return population.where(mask, 0.0).sum(["sex", "age"])


def aandachtsgroepen(
    population: xr.DataArray,
    *,
    care_need: xr.DataArray,
    kwb: pd.DataFrame,
    gemeente: str,
    variant: str = "central",
    urgency: pd.DataFrame | None = None,
    taakstelling: pd.DataFrame | None = None,
    bw_mo_share: float | None = None,
    region_population: pd.Series | None = None,
) -> xr.Dataset:
    """Households per year needing a home, by aandachtsgroep, area and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Gemeente first, then its wijken.
    care_need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        :func:`assen_demand.housing.care.care_need` of ``population`` (``dementia_at_home`` is used).
    kwb : pandas.DataFrame
        KWB rows of the gemeente (households and rented share for the wijk key).
    gemeente : str, keyword-only
    variant : {"central", "low", "high"}, keyword-only
    urgency : pandas.DataFrame, optional, keyword-only
        :func:`read_urgency` table; its years replace the urgency rate (other years keep the rate).
    taakstelling : pandas.DataFrame, optional, keyword-only
        :func:`published_taakstelling` of the gemeente; its years replace the vergunninghouders rate.
    bw_mo_share : float, optional, keyword-only [share]
        The gemeente's share of the regional outflow when another key than population is wanted
        (needs ``region_population``); default: population share, which makes the gemeente's part
        rate x own population 18+.
    region_population : pandas.Series, optional, keyword-only [persons]
        Inhabitants per gemeente of the region (index: CBS codes), for ``bw_mo_share``.

    Returns
    -------
    xarray.Dataset (area, group, year)
        ``households`` [households per year]; coordinates on ``group``: ``dwelling_need``,
        ``status``, ``in_older_need`` (True: already in the older households' need) and
        ``source``. Wijken add up to the gemeente.
    """
    population = check_population(population)
    params = group_parameters(variant=variant)
    areas = [str(a) for a in population["area"].values]
    if gemeente not in areas:
        raise UnknownAreaError(f"gemeente {gemeente} is not among the areas of the population")
    years = [int(y) for y in population["year"].values]
    key = rented_key(kwb, areas, gemeente=gemeente, year=years[0])
    total_pop = population.sel(area=gemeente).sum(["sex", "age"])
    layers = {}

    # vergunninghouders: rate per 1,000 inhabitants (or the published numbers) / persons per household
    row = _row(params, "vergunninghouders")
    # fewer persons per home means more homes: the low end of the group takes the high persons-per-household
    opposite = {"low": "high", "high": "low"}.get(variant, variant) if isinstance(variant, str) else variant
    sizes = group_parameters(variant=opposite)
    per_household = float(_row(sizes, "vergunninghouders_persons_per_household")["value"])
    persons = total_pop * row["value"] / 1000.0
    if taakstelling is not None and len(taakstelling):
        published = taakstelling.set_index("year")["persons"]
        full = taakstelling.set_index("year")["halves"] == 2
        values = [float(published[y]) if y in published.index and full.get(y, False) else float(persons.sel(year=y))
                  for y in years]
        persons = xr.DataArray(values, dims=("year",), coords={"year": years})
    layers["vergunninghouders"] = (persons / per_household) * key

    # beschermd wonen / MO: regional rate x regional population x the gemeente's share
    row = _row(params, "bw_mo_uitstroom")
    adults = _band(population.sel(area=gemeente), int(row["age_lo"]), row["age_hi"])
    if bw_mo_share is None and region_population is None:
        # population key: (rate x regional adults) x (own adults / regional adults) = rate x own adults
        outflow = adults * row["value"] / 1000.0
    else:
        if region_population is None:
            raise MissingDataError(
                "bw_mo_share needs region_population=... (inhabitants per gemeente of the centrumgemeente's region, "
                "see load_region()) to know the regional outflow"
            )
        share = regional_allocation(region_population, gemeente) if bw_mo_share is None else float(bw_mo_share)
        if not 0.0 <= share <= 1.0:
            raise InvalidValueError(f"bw_mo_share {bw_mo_share!r} must be a share in [0, 1]")
        # the region's adults move with the gemeente's: regional outflow = rate x adults x region / gemeente
        scale = float(region_population.sum()) / float(region_population[gemeente])
        outflow = adults * scale * row["value"] / 1000.0 * share
    layers["bw_mo_uitstroom"] = outflow * key

    for group in _AGE_BASED:
        row = _row(params, group)
        layers[group] = _band(population, int(row["age_lo"]), row["age_hi"]) * row["value"] / 1000.0

    row = _row(params, "urgentie")
    urgent = total_pop * row["value"] / 1000.0
    if urgency is not None and len(urgency):
        mine = urgency[urgency["gemeente"] == gemeente].groupby("year")["households"].sum()
        urgent = xr.DataArray([float(mine[y]) if y in mine.index else float(urgent.sel(year=y)) for y in years],
                              dims=("year",), coords={"year": years})
    # the gemeente's urgent households spread like its population
    pop_share = population.sum(["sex", "age"]) / total_pop.where(total_pop > 0)
    layers["urgentie"] = urgent * pop_share

    row = _row(params, "dementie_24uurs_toezicht")
    if "dementia_at_home" not in set(map(str, care_need["indicator"].values)):
        raise MissingDataError("care_need has no indicator 'dementia_at_home'; pass care.care_need(...) of the population")
    at_home = care_need.sel(indicator="dementia_at_home", drop=True).sum(["sex", "age"]) * row["value"]
    layers["dementie_24uurs_toezicht"] = at_home.diff("year", label="upper").reindex(year=years)

    data = xr.concat([layers[g].transpose("area", "year").sel(area=areas) for g in GROUPS], dim="group")
    data = data.assign_coords(group=list(GROUPS)).transpose("area", "group", "year")
    status, need, source = [], [], []
    for g in GROUPS:
        r = _row(params, g)
        status.append(str(r["status"]))
        need.append(str(r["dwelling_need"]))
        source.append(str(r["source"]))
    if urgency is not None and len(urgency):
        status[GROUPS.index("urgentie")] = "bekend"  # the gemeente's own counts
    return xr.Dataset(
        {"households": data.rename("households")},
        coords={"dwelling_need": ("group", need), "status": ("group", status), "source": ("group", source),
                "in_older_need": ("group", [g == "dementie_24uurs_toezicht" for g in GROUPS])},
        attrs={"unit": "households per year", "variant": str(variant), "wijk_key_fallback": key.attrs["fallback"]},
    )


def to_frame(groups: xr.Dataset) -> pd.DataFrame:
    """Tidy table ``area, group, dwelling_need, status, in_older_need, year, households``."""
    frame = groups["households"].to_dataframe().reset_index()
    extra = pd.DataFrame({"group": groups["group"].values, "dwelling_need": groups["dwelling_need"].values,
                          "status": groups["status"].values, "in_older_need": groups["in_older_need"].values})
    frame = frame[["area", "group", "year", "households"]].merge(extra, on="group", how="left")
    return frame[["area", "group", "dwelling_need", "status", "in_older_need", "year", "households"]]

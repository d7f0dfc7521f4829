"""The volkshuisvestingsprogramma: homes needed per group and segment, planned, gap, and the checks.

The Wet versterking regie volkshuisvesting (bill 36 512) makes every gemeente write a
volkshuisvestingsprogramma. This module puts the library's numbers into its tables:

* **Nodig** (homes needed per year, :func:`homes_needed`): the growth of the number of
  households (new homes), the yearly change of the older households' need per dwelling type,
  and every aandachtsgroep (:mod:`assen_demand.housing.groups`), each split by price segment
  (:mod:`assen_demand.housing.segments`). Aandachtsgroepen that need an independent social or
  supported home count as sociale huur (their incomes are below the DAEB limit by the groups'
  definitions: an assumption, stated in the table).
* **Gepland**: completions of the dwelling pipeline (``area, year, dwellings_added,
  dwellings_removed[, segment]``); without a ``segment`` column the segment is ``onbekend``.
* **Tekort**: household growth minus net planned additions, per year and cumulated.
* **Toetsen** (:func:`affordability_checks`, :func:`social_stock_check`): the share of planned
  construction that is betaalbaar (aim at least two thirds), the share of sociale huur within
  the betaalbare part (aim at least half) and the sociale-huur share of the stock (aim 30 %).
  These are **national aims, not legal rules**: two thirds betaalbaar comes from the Nationale
  Woon- en Bouwagenda (Tweede Kamer 32 847 nr. 883, 2022); in bill 36 512 (second nota van
  wijziging, March 2025) the 30 % became one branch of a choice (30 % sociale huur or 40 %
  middensegment in new construction), to be set by an instructieregel that is not in force.

:func:`homes_needed` is the one place that decides what "needed" means: the yearly change of
``Forecast.need["total"]`` (the chain's need); the base-year backlog and the planned homes per
type are in ``Forecast.opgave`` (issue 13), so they are not counted here a second time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.errors import DataFormatError, InvalidValueError
from assen_demand.housing import groups as groups_mod
from assen_demand.housing import segments as seg
from assen_demand.errors import AssenDemandError
from assen_demand.inputs.datasets import load_dwelling_pipeline

__all__ = [
    "AIMS",
    "PROGRAMME_YEARS",
    "UNKNOWN_SEGMENT",
    "homes_needed",
    "planned_by_segment",
    "affordability_checks",
    "social_stock_check",
    "Programme",
    "volkshuisvestingsprogramma",
    "programme_sheet",
    "programme_text",
    "programme_for_forecast",
]

PROGRAMME_YEARS = tuple(range(2026, 2036))
UNKNOWN_SEGMENT = "onbekend"
_TK_883 = "https://www.tweedekamer.nl/kamerstukken/brieven_regering/detail?did=2022D18416&id=2022Z09144"
_TK_36512 = "https://www.tweedekamer.nl/kamerstukken/kamervragen/detail?did=2025D17771&id=2025D17771"
#: The programme's aims: value, what kind of rule it is, source
AIMS = {
    "betaalbaar_share": (2 / 3, "landelijk streven, geen wettelijke regel (Nationale Woon- en Bouwagenda: twee derde "
                                "van de nieuwbouw betaalbaar)", _TK_883),
    "social_share_of_betaalbaar": (0.5, "landelijk streven, geen wettelijke regel (ten minste de helft van het "
                                        "betaalbare deel sociale huur)", _TK_883),
    "social_stock_share": (0.30, "landelijk streven, geen wettelijke regel; in wetsvoorstel 36 512 (2e nota van "
                                 "wijziging, 2025) één van twee keuzes: 30 % sociale huur of 40 % middensegment in de "
                                 "nieuwbouw, via een instructieregel die nog niet geldt", _TK_36512),
}


def _older_one_person_share(households: xr.Dataset, *, older_age: int = 65) -> xr.DataArray:
    """One-person share of households with members aged ``older_age``+ (position-based count)."""
    hh = households["households"]
    age = hh["age"]
    alone = households["alone"].where(age >= older_age, 0.0).sum(["sex", "age"])
    total = hh.where(age >= older_age, 0.0).sum(["sex", "age"])
    return (alone / total.where(total > 0)).clip(0.0, 1.0).fillna(0.5)


def homes_needed(forecast, *, years=PROGRAMME_YEARS) -> xr.DataArray:
    """Homes needed per year for the programme: THE place to switch to the opgave.

    Parameters
    ----------
    forecast : Forecast
        Output of :func:`assen_demand.forecast`.
    years : sequence of int, keyword-only [year]

    Returns
    -------
    xarray.DataArray (area, category, year) [dwellings per year]
        ``huishoudensgroei``: households(year + 1) - households(year), the new homes the growth
        needs during ``year``; one category per dwelling type of the need model: the change of
        the need during ``year``. Years beyond the forecast's last year - 1 are NaN.

    Notes
    -----
    The dwelling-type rows are the yearly change of ``Forecast.need["total"]``, which is also
    the yearly change of the calibrated opgave before planned homes
    (:func:`assen_demand.housing.opgave.compute_opgave`); the base-year backlog stays in
    ``Forecast.opgave``. A forecast without ``need`` falls back to ``Forecast.dwellings``.
    """
    years = [int(y) for y in years]
    total = forecast.households["households"].sum(["sex", "age"])
    growth = (total.shift(year=-1) - total).expand_dims(category=["huishoudensgroei"])
    chain_need = getattr(forecast, "need", None)
    if chain_need is not None:
        need, basis = chain_need["total"], "Forecast.need total (yearly change; backlog and plans in Forecast.opgave)"
    else:
        need, basis = forecast.dwellings["need"].sel(model="need", drop=True), "Forecast.dwellings need model"
    change = (need.shift(year=-1) - need).rename(dwelling_type="category")
    out = xr.concat([growth.transpose("area", "category", "year"), change.transpose("area", "category", "year")],
                    dim="category")
    out = out.reindex(year=years)
    out.name = "homes_needed"
    out.attrs = {"unit": "dwellings per year", "basis": basis}
    return out


def planned_by_segment(pipeline: pd.DataFrame | None, *, areas, years=PROGRAMME_YEARS) -> pd.DataFrame:
    """Net planned additions per year and segment of a gemeente.

    Parameters
    ----------
    pipeline : pandas.DataFrame or None
        ``area, year, dwellings_added, dwellings_removed[, segment]`` (see
        :func:`assen_demand.inputs.datasets.load_dwelling_pipeline`); ``segment`` one of
        :data:`assen_demand.housing.segments.SEGMENTS`. Rows of other areas are an error.
    areas : sequence of str, keyword-only
        The gemeente and its wijken (rows may name either; wijk rows are summed).
    years : sequence of int, keyword-only [year]

    Returns
    -------
    pandas.DataFrame
        ``year, segment, dwellings`` [net dwellings added per year]; ``segment`` =
        ``onbekend`` for rows without one. Years without rows get 0 (no plan known, shown).
    """
    years = [int(y) for y in years]
    if pipeline is None or len(pipeline) == 0:
        return pd.DataFrame({"year": years, "segment": UNKNOWN_SEGMENT, "dwellings": 0.0})
    frame = pipeline.copy()
    unknown = sorted(set(frame["area"].astype(str)) - {str(a) for a in areas})
    if unknown:
        raise DataFormatError(f"pipeline names area(s) {unknown} outside the gemeente; give its wijken or the gemeente")
    if "segment" not in frame.columns:
        frame["segment"] = UNKNOWN_SEGMENT
    frame["segment"] = frame["segment"].fillna(UNKNOWN_SEGMENT).astype(str)
    bad = sorted(set(frame["segment"]) - set(seg.SEGMENTS) - {UNKNOWN_SEGMENT})
    if bad:
        raise DataFormatError(f"pipeline segment {bad} unknown; use {', '.join(seg.SEGMENTS)} (or leave empty)")
    removed = frame["dwellings_removed"].fillna(0.0) if "dwellings_removed" in frame else 0.0
    frame["dwellings"] = frame["dwellings_added"].fillna(0.0) - removed
    out = frame[frame["year"].isin(years)].groupby(["year", "segment"], as_index=False)["dwellings"].sum()
    have = set(out["year"])
    filler = pd.DataFrame({"year": [y for y in years if y not in have], "segment": UNKNOWN_SEGMENT, "dwellings": 0.0})
    return pd.concat([out, filler], ignore_index=True).sort_values(["year", "segment"]).reset_index(drop=True)


def affordability_checks(planned: pd.DataFrame) -> pd.DataFrame:
    """The betaalbaarheid checks of planned construction per year.

    Parameters
    ----------
    planned : pandas.DataFrame
        ``year, segment, dwellings`` (:func:`planned_by_segment`).

    Returns
    -------
    pandas.DataFrame
        ``year, planned, planned_known_segment, betaalbaar, sociale_huur, betaalbaar_share,
        meets_two_thirds, social_share_of_betaalbaar, meets_half_social``. Shares are of the
        dwellings with a known segment; NaN (and ``meets_*`` = <NA>) when none is known.

    Examples
    --------
    Hand-worked: 60 social, 20 middenhuur, 20 vrije sector -> betaalbaar 80 % (meets 2/3),
    social 75 % of the betaalbare part (meets 1/2).

    >>> p = pd.DataFrame({"year": 2026, "segment": ["sociale_huur", "middenhuur", "vrije_sector"],
    ...                   "dwellings": [60, 20, 20]})
    >>> r = affordability_checks(p).iloc[0]
    >>> float(r.betaalbaar_share), bool(r.meets_two_thirds), float(r.social_share_of_betaalbaar)
    (0.8, True, 0.75)
    """
    frame = planned.copy()
    if (frame["dwellings"] < 0).any():
        # a year of net demolitions in one segment cannot carry a share
        frame["dwellings"] = frame["dwellings"].clip(lower=0.0)
    rows = []
    for year, part in frame.groupby("year"):
        by = part.groupby("segment")["dwellings"].sum()
        known = float(by.drop(UNKNOWN_SEGMENT, errors="ignore").sum())
        betaalbaar = float(by.reindex(seg.BETAALBAAR).fillna(0.0).sum())
        social = float(by.get("sociale_huur", 0.0))
        share = betaalbaar / known if known > 0 else np.nan
        social_share = social / betaalbaar if betaalbaar > 0 else np.nan
        rows.append({"year": int(year), "planned": float(by.sum()), "planned_known_segment": known,
                     "betaalbaar": betaalbaar, "sociale_huur": social, "betaalbaar_share": share,
                     "meets_two_thirds": pd.NA if np.isnan(share) else bool(share >= AIMS["betaalbaar_share"][0] - 1e-12),
                     "social_share_of_betaalbaar": social_share,
                     "meets_half_social": pd.NA if np.isnan(social_share)
                     else bool(social_share >= AIMS["social_share_of_betaalbaar"][0] - 1e-12)})
    return pd.DataFrame(rows)


def social_stock_check(stock: float, social_share: float, planned: pd.DataFrame, *, base_year: int,
                       years=PROGRAMME_YEARS) -> pd.DataFrame:
    """The sociale-huur share of the stock per year against the 30 % aim.

    Parameters
    ----------
    stock : float [dwellings]
        Dwelling stock on 1 January of ``base_year``.
    social_share : float [share]
        Sociale-huur share of that stock.
    planned : pandas.DataFrame
        ``year, segment, dwellings`` net additions (:func:`planned_by_segment`) from ``base_year`` on.
    base_year : int, keyword-only
    years : sequence of int, keyword-only [year]

    Returns
    -------
    pandas.DataFrame
        ``year, stock, social_stock, social_stock_share, meets_30`` on 1 January of ``year``
        (additions during ``year - 1`` included); additions of unknown segment count in the
        stock but not as social.

    Examples
    --------
    Hand-worked: 1,000 homes, 25 % social; 100 social homes added in 2026 -> 1 January 2027:
    350 / 1,100 = 31.8 %.

    >>> p = pd.DataFrame({"year": [2026], "segment": ["sociale_huur"], "dwellings": [100.0]})
    >>> r = social_stock_check(1000, 0.25, p, base_year=2026, years=[2026, 2027])
    >>> r["social_stock_share"].round(3).tolist(), r["meets_30"].tolist()
    ([0.25, 0.318], [False, True])
    """
    if not (np.isfinite(stock) and stock > 0) or not 0.0 <= social_share <= 1.0:
        raise InvalidValueError(f"stock {stock!r} must be > 0 and social_share {social_share!r} in [0, 1]")
    rows = []
    for year in [int(y) for y in years]:
        done = planned[(planned["year"] >= base_year) & (planned["year"] < year)]
        total = stock + float(done["dwellings"].sum())
        social = stock * social_share + float(done.loc[done["segment"] == "sociale_huur", "dwellings"].sum())
        share = social / total
        rows.append({"year": year, "stock": total, "social_stock": social, "social_stock_share": share,
                     "meets_30": bool(share >= AIMS["social_stock_share"][0] - 1e-12)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Programme:
    """Result of :func:`volkshuisvestingsprogramma`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: ``gemeente, section, item, segment, year, value, unit, status, note``.
    checks : pandas.DataFrame
        :func:`affordability_checks` merged with :func:`social_stock_check`, per year.
    groups : xarray.Dataset
        :func:`assen_demand.housing.groups.aandachtsgroepen` (per wijk too).
    older_segment_shares : xarray.DataArray (area, year, segment)
        Segment shares of older households (65+) per wijk; sum to 1.
    text : str
        The Dutch text block (:func:`programme_text`).
    area_names : dict
        Area code -> name.
    """

    table: pd.DataFrame
    checks: pd.DataFrame
    groups: xr.Dataset
    older_segment_shares: xr.DataArray
    text: str
    area_names: dict = field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def volkshuisvestingsprogramma(
    forecast,
    *,
    kwb: pd.DataFrame,
    dwelling_stock: float | None = None,
    pipeline: pd.DataFrame | None = None,
    pipeline_status: str = "bekend",
    pipeline_note: str = "",
    urgency: pd.DataFrame | None = None,
    years=PROGRAMME_YEARS,
    variant: str | None = None,
) -> Programme:
    """The volkshuisvestingsprogramma tables of a forecast.

    Parameters
    ----------
    forecast : Forecast
        Output of :func:`assen_demand.forecast` (gemeente row + wijken).
    kwb : pandas.DataFrame, keyword-only
        KWB rows of the gemeente (income, households, rented share, population).
    dwelling_stock : float, optional, keyword-only [dwellings]
        Dwelling stock of the gemeente in the base year (KWB woningvoorraad); without it the
        stock check is left out (NaN).
    pipeline : pandas.DataFrame, optional, keyword-only
        Planned additions (see :func:`planned_by_segment`).
    pipeline_status : str, keyword-only
        Status written on the planned rows (``aanname`` for the bundled example).
    pipeline_note : str, keyword-only
        Note on the planned rows (e.g. that the plan is the bundled example).
    urgency : pandas.DataFrame, optional, keyword-only
        :func:`assen_demand.housing.groups.read_urgency` table.
    years : sequence of int, keyword-only [year]
        Programme years (default 2026-2035).
    variant : {"central", "low", "high"}, optional, keyword-only
        Default the forecast's.

    Returns
    -------
    Programme
    """
    variant = variant or getattr(forecast, "variant", "central")
    gm = forecast.gemeente
    areas = [str(a) for a in forecast.population["area"].values]
    years = [int(y) for y in years]
    fyears = [int(y) for y in forecast.population["year"].values]
    years = [y for y in years if y in fyears]
    if not years:
        raise InvalidValueError(f"the forecast ({fyears[0]}-{fyears[-1]}) covers none of the programme years")
    base_year = fyears[0]
    groups = groups_mod.aandachtsgroepen(forecast.population, care_need=forecast.care_need, kwb=kwb, gemeente=gm,
                                         variant=variant, urgency=urgency)
    all_shares = seg.segment_shares(kwb, areas, years, gemeente=gm, variant=variant)
    older_one = _older_one_person_share(forecast.households).sel(year=years)
    older_shares = seg.segment_shares(kwb, areas, years, gemeente=gm, older=True, one_person_share=older_one,
                                      variant=variant)
    needed = homes_needed(forecast, years=years).sel(area=gm, drop=True)
    rows = []

    def add(section, item, segment, values, unit, status, note=""):
        for y, v in zip(years, np.asarray(values, dtype=float)):
            rows.append({"gemeente": gm, "section": section, "item": item, "segment": segment, "year": y,
                         "value": float(v), "unit": unit, "status": status, "note": note})

    gm_all = all_shares.sel(area=gm, drop=True)
    gm_old = older_shares.sel(area=gm, drop=True)
    growth = needed.sel(category="huishoudensgroei", drop=True)
    for s in seg.SEGMENTS:
        add("nodig", "huishoudensgroei", s, growth * gm_all.sel(segment=s), "woningen per jaar", "geschat",
            "groei van het aantal huishoudens x inkomensverdeling van alle huishoudens")
    add("nodig", "huishoudensgroei", "totaal", growth, "woningen per jaar", "geschat")
    for dtype in [c for c in needed["category"].values if c != "huishoudensgroei"]:
        change = needed.sel(category=dtype, drop=True)
        if dtype == "verpleegzorgplek":  # a Wlz place is paid through the Wlz: no price segment
            add("nodig ouderen", str(dtype), "totaal", change, "plaatsen per jaar", "geschat",
                "Wlz-plaats: geen prijssegment")
            continue
        for s in seg.SEGMENTS:
            add("nodig ouderen", str(dtype), s, change * gm_old.sel(segment=s), "woningen per jaar", "geschat",
                "verandering van de behoefte x inkomensverdeling van huishoudens 65+")
        add("nodig ouderen", str(dtype), "totaal", change, "woningen per jaar", "geschat")
    gh = groups["households"].sel(area=gm, drop=True).sel(year=years)
    for g in groups_mod.GROUPS:
        values = gh.sel(group=g)
        status = str(groups["status"].sel(group=g).values)
        if bool(groups["in_older_need"].sel(group=g)):
            for s in seg.SEGMENTS:
                add("aandachtsgroepen", g, s, values * gm_old.sel(segment=s), "huishoudens per jaar", status,
                    "waarvan: al in de behoefte zorggeschikt (ouderen), niet opgeteld")
        else:
            add("aandachtsgroepen", g, "sociale_huur", values, "huishoudens per jaar", status,
                f"woonvorm {groups['dwelling_need'].sel(group=g).values}; sociale huur (aanname: inkomen onder de DAEB-grens)")
        add("aandachtsgroepen", g, "totaal", values, "huishoudens per jaar", status)
    additive = [g for g in groups_mod.GROUPS if not bool(groups["in_older_need"].sel(group=g))]
    add("aandachtsgroepen", "totaal_excl_waarvan", "totaal", gh.sel(group=additive).sum("group"),
        "huishoudens per jaar", "geschat", "alle aandachtsgroepen behalve de 'waarvan'-groep dementie")

    planned = planned_by_segment(pipeline, areas=areas, years=years)
    for s in list(seg.SEGMENTS) + [UNKNOWN_SEGMENT]:
        if not (planned["segment"] == s).any():
            continue  # a segment the plan does not name gets no row (not a row of zeros)
        part = planned[planned["segment"] == s].set_index("year")["dwellings"].reindex(years).fillna(0.0)
        add("gepland", "netto toevoeging", s, part.values, "woningen per jaar", pipeline_status, pipeline_note)
    planned_total = planned.groupby("year")["dwellings"].sum().reindex(years).fillna(0.0)
    add("gepland", "netto toevoeging", "totaal", planned_total.values, "woningen per jaar", pipeline_status,
        pipeline_note)
    gap = growth.values - planned_total.values
    add("tekort", "huishoudensgroei min gepland", "totaal", gap, "woningen per jaar", "geschat",
        "positief = tekort, negatief = overschot")
    add("tekort", "cumulatief", "totaal", np.nancumsum(gap), "woningen", "geschat", f"vanaf {years[0]}")
    for s in seg.SEGMENTS:
        part = planned[planned["segment"] == s].set_index("year")["dwellings"].reindex(years).fillna(0.0)
        if (planned["segment"] == s).any():
            add("tekort", "huishoudensgroei min gepland", s, (growth * gm_all.sel(segment=s)).values - part.values,
                "woningen per jaar", "geschat")

    checks = affordability_checks(planned)
    if dwelling_stock is not None:
        rented = kwb[(kwb["area"] == gm) & kwb["rented_pct"].notna()].sort_values("year")["rented_pct"]
        corp = float(seg.limit("corporation_share_of_rented", [base_year], variant=variant)[0])
        social_share = float(rented.iloc[-1]) / 100.0 * corp if len(rented) else np.nan
        since_base = planned_by_segment(pipeline, areas=areas, years=range(base_year, years[-1] + 1))
        stock_check = social_stock_check(float(dwelling_stock), social_share, since_base, base_year=base_year,
                                         years=years)
        checks = checks.merge(stock_check, on="year", how="outer")
    checks = checks.set_index("year").reindex(years).reset_index()
    aims = {"betaalbaar_share": AIMS["betaalbaar_share"], "social_share_of_betaalbaar": AIMS["social_share_of_betaalbaar"],
            "social_stock_share": AIMS["social_stock_share"]}
    for col, (aim, kind, _url) in aims.items():
        if col in checks:
            add("toets", col, "totaal", 100.0 * checks[col].astype(float).values, "%", "geschat",
                f"streefwaarde {100 * aim:.0f} %; {kind}")
    table = pd.DataFrame(rows)
    text = programme_text(table, checks, gemeente_name=forecast.area_names.get(gm, gm))
    return Programme(table=table, checks=checks, groups=groups, older_segment_shares=older_shares, text=text,
                     area_names=dict(forecast.area_names))


_ITEM_LABELS = {"huishoudensgroei": "Groei aantal huishoudens", "totaal_excl_waarvan": "Aandachtsgroepen samen",
                "netto toevoeging": "Netto toevoeging", "huishoudensgroei min gepland": "Groei min gepland",
                "cumulatief": "Tekort cumulatief", "betaalbaar_share": "Aandeel betaalbaar in de planning",
                "social_share_of_betaalbaar": "Aandeel sociale huur in het betaalbare deel",
                "social_stock_share": "Aandeel sociale huur in de voorraad", **groups_mod.GROUP_LABELS}
_SECTION_LABELS = {"nodig": "Nodig", "nodig ouderen": "Nodig: woningtypen ouderen en zorg (verandering)", "aandachtsgroepen":
                   "Nodig: aandachtsgroepen", "gepland": "Gepland", "tekort": "Tekort", "toets": "Toetsen"}


def programme_sheet(table: pd.DataFrame, *, dwelling_labels: dict | None = None) -> pd.DataFrame:
    """The workbook sheet *Volkshuisvestingsprogramma*: rows onderdeel x groep x segment, years as columns.

    Label columns ``Onderdeel, Groep, Segment, Eenheid, Status, Toelichting``, then one column per year.
    """
    # the Dutch dwelling-type names come from outputs.export, which passes them (no import: no cycle)
    labels = {**_ITEM_LABELS, **(dwelling_labels or {})}
    seg_labels = {**seg.SEGMENT_LABELS, "totaal": "Totaal", UNKNOWN_SEGMENT: "Onbekend"}
    frame = table.copy()
    frame["_order"] = np.arange(len(frame))
    keys = ["section", "item", "segment", "unit", "status", "note"]
    first = frame.groupby(keys, sort=False)["_order"].min()
    wide = frame.pivot_table(index=keys, columns="year", values="value", aggfunc="first", dropna=False)
    wide = wide.loc[first.sort_values().index]
    wide.columns = [int(c) for c in wide.columns]
    wide = wide.reset_index()
    out = pd.DataFrame({
        "Onderdeel": wide["section"].map(_SECTION_LABELS).fillna(wide["section"]),
        "Groep": wide["item"].map(labels).fillna(wide["item"]),
        "Segment": wide["segment"].map(seg_labels).fillna(wide["segment"]),
        "Eenheid": wide["unit"],
        "Status": wide["status"],
        "Toelichting": wide["note"],
    })
    for y in [c for c in wide.columns if isinstance(c, int)]:
        out[y] = wide[y].to_numpy(dtype=float)
    return out


def _nl(x: float, decimals: int = 0) -> str:
    return f"{x:,.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def programme_text(table: pd.DataFrame, checks: pd.DataFrame, *, gemeente_name: str) -> str:
    """A short Dutch text with the key numbers, ready to paste into the programme."""
    years = sorted(table["year"].unique())
    y0, y1 = years[0], years[-1]

    def total(section, item, segment="totaal"):
        part = table[(table["section"] == section) & (table["item"] == item) & (table["segment"] == segment)]
        return float(part["value"].sum(min_count=1)) if len(part) else np.nan

    growth = total("nodig", "huishoudensgroei")
    social = total("nodig", "huishoudensgroei", "sociale_huur")
    groups = total("aandachtsgroepen", "totaal_excl_waarvan")
    planned = total("gepland", "netto toevoeging")
    n = len(years)
    lines = [
        f"Volkshuisvestingsprogramma {gemeente_name} {y0}-{y1} (berekening assen_demand).",
        f"Het aantal huishoudens groeit in deze {n} jaar met ongeveer {_nl(growth)}; daarvan past naar inkomen "
        f"ongeveer {_nl(social)} in de sociale huur.",
        f"De aandachtsgroepen (vergunninghouders, uitstroom beschermd wonen en opvang, dak- en thuislozen, jongeren "
        f"uit de jeugdhulp, uitstroom GGZ/LVB en detentie, urgenten) vragen samen ongeveer {_nl(groups / n)} "
        f"woningen per jaar, vooral sociale huur en begeleide eenheden.",
        f"Gepland zijn {_nl(planned)} woningen netto; het verschil met de groei is {_nl(growth - planned)}.",
    ]
    share = checks["betaalbaar_share"] if "betaalbaar_share" in checks else pd.Series(dtype=float)
    if share.notna().any():
        lines.append(f"Van de geplande woningen met bekend segment is {_nl(100 * float(share.mean()), 0)} % betaalbaar "
                     "(landelijk streven: twee derde; geen wettelijke regel).")
    else:
        lines.append("Het segment van de geplande woningen is niet opgegeven: de toets 'twee derde betaalbaar' "
                     "(landelijk streven, geen wettelijke regel) kan pas met een planning per segment.")
    if "social_stock_share" in checks and checks["social_stock_share"].notna().any():
        lines.append(f"Sociale huur is ongeveer {_nl(100 * float(checks['social_stock_share'].iloc[0]), 0)} % van de "
                     "voorraad (geschat uit het KWB-huuraandeel; landelijk streven 30 %, in wetsvoorstel 36 512 een "
                     "keuze naast 40 % middensegment).")
    return "\n".join(lines)


def programme_for_forecast(forecast, *, data, pipeline="example", urgency=None, required: bool = False):
    """The programme of a default run: KWB stock and income of ``data``, the pipeline if any.

    Parameters
    ----------
    forecast : Forecast
    data : GemeenteData, keyword-only
        The inputs of the run (``kwb``, ``kwb_codes``).
    pipeline : "example", path, pandas.DataFrame or None, keyword-only
        ``"example"``: the bundled illustrative Assen pipeline for Assen (status ``aanname``),
        none elsewhere.
    urgency : pandas.DataFrame, optional, keyword-only
    required : bool, keyword-only
        False (the CLI's default run): when the inputs cannot give a programme (no KWB income,
        no programme year in the forecast) warn with the reason and return None, so the rest of
        the run is still written; True: raise.

    Returns
    -------
    Programme or None
    """


    try:
        return _programme_for_forecast(forecast, data=data, pipeline=pipeline, urgency=urgency)
    except AssenDemandError as exc:
        if required:
            raise
        warnings.warn(f"volkshuisvestingsprogramma left out: {exc}", stacklevel=2)
        return None


def _programme_for_forecast(forecast, *, data, pipeline, urgency) -> Programme:
    gm = forecast.gemeente
    status, note = "bekend", ""
    if isinstance(pipeline, str) and pipeline == "example":
        note = "voorbeeldplanning (data/pipelines/assen_example_pipeline.csv), geen gemeentelijk plan"
        plan = load_dwelling_pipeline("example")
        areas = {str(a) for a in forecast.population["area"].values}
        plan = plan[plan["area"].astype(str).isin(areas)]
        plan, status = (plan if len(plan) else None), "aanname"
    elif pipeline is not None:
        plan = load_dwelling_pipeline(pipeline)
    else:
        plan = None
    codes = data.kwb_codes
    stock_rows = codes[(codes["area"] == gm) & codes["dwelling_stock"].notna()].sort_values("year")
    stock = float(stock_rows["dwelling_stock"].iloc[-1]) if len(stock_rows) else None
    return volkshuisvestingsprogramma(forecast, kwb=data.kwb, dwelling_stock=stock, pipeline=plan,
                                      pipeline_status=status, pipeline_note=note, urgency=urgency)

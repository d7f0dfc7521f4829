"""Annual monitoring: what changed between last year's run and this year's, and why.

The Woonzorgvisie asks for the numbers per wijk to be monitored every year. Each year the
programme team runs ``assen-demand forecast`` on the newest CBS data; ``assen-demand report``
then compares the new output folder with last year's and with the realised KWB figures.

Two questions are kept apart:

* **How good was last year's projection?** For every year that last year projected and this
  year observed (previous base year < year <= current base year), the projected population
  and 65+ are set against the realised KWB count (``Gerealiseerd (KWB)``). A difference there is
  a projection error, i.e. *data* told us something new.
* **Why do the projections differ?** For the same future year, a difference can come only from
  what went in. The two ``provenance.json`` records say what that was: input files whose
  checksums differ or a later base year are new **gegevens** (data); changed parameter files or
  parameter variant are changed **aannames** (assumptions); a different scenario is
  **scenario**; a new library version is **software**. Each row of the comparison carries the
  causes that apply to it; when nothing that goes in changed, the numbers must agree, and a
  difference is flagged as unexplained.

Everything here is pure: :func:`assen_demand.outputs.export.read_run` reads the folders and
:func:`assen_demand.outputs.export.write_report` writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assen_demand.errors import DataFormatError
from assen_demand.outputs.labels import DWELLING_LABELS
from assen_demand.display import summary_repr

__all__ = ["RunOutput", "MonitoringReport", "input_changes", "compare_runs", "KINDS", "PROGRAMME_INDICATORS",
           "evaluate_programme"]

#: Kinds of change, in the order they are reported.
KINDS = ("gegevens", "aannames", "aanbod", "scenario", "software", "opzet")



@summary_repr
@dataclass(frozen=True)
class RunOutput:
    """The tables and provenance of one ``assen-demand forecast`` output folder.

    Attributes
    ----------
    population : pandas.DataFrame
        ``population.csv``: area, area_name, sex, age, year, persons [persons].
    dwellings : pandas.DataFrame
        ``dwellings.csv``: area, area_name, dwelling_type, model, year, need, supply, gap, ...
    provenance : dict
        ``provenance.json``.
    folder : str
        Where it was read from (for messages).
    """

    population: pd.DataFrame
    dwellings: pd.DataFrame
    provenance: dict
    folder: str = ""
    programme: pd.DataFrame | None = None

    @property
    def base_year(self) -> int:
        return int(self.provenance.get("base_year", self.population["year"].min()))

    @property
    def label(self) -> str:
        date = str(self.provenance.get("run_date", ""))[:10]
        return f"basisjaar {self.base_year}" + (f", run {date}" if date else "")


@summary_repr
@dataclass(frozen=True)
class MonitoringReport:
    """Result of :func:`compare_runs`.

    Attributes
    ----------
    changes : pandas.DataFrame
        What went in differently: ``Onderdeel, Soort, Vorige run, Huidige run``; ``Soort`` is
        one of :data:`KINDS`.
    comparison : pandas.DataFrame
        ``Wijkcode, Wijk, Grootheid, Jaar, Vorige run, Huidige run, Gerealiseerd (KWB),
        Verschil, Verschil (%), Oorzaak`` [persons or dwellings].
    previous, current : str
        Labels of the two runs.
    """

    changes: pd.DataFrame
    comparison: pd.DataFrame
    previous: str
    current: str
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        """Two or three sentences: the runs, the kinds of change, the largest differences."""
        kinds = [k for k in KINDS if k in set(self.changes["Soort"])]
        lines = [f"Vergelijking vorige run ({self.previous}) met huidige run ({self.current}).",
                 "Gewijzigde invoer: " + (", ".join(kinds) if kinds else "geen") + "."]
        gm = self.comparison[self.comparison["Wijkcode"].str.startswith("GM")]
        lines += self._largest_changes(gm)
        pop = gm[gm["Grootheid"] == "Inwoners"]
        if len(pop):
            last = pop[pop["Jaar"] == pop["Jaar"].max()].iloc[0]
            lines.append(f"Inwoners {last['Wijk']} {int(last['Jaar'])}: {_nl(last['Vorige run'])} -> "
                         f"{_nl(last['Huidige run'])} ({'+' if last['Verschil'] >= 0 else ''}{_nl(last['Verschil'])}; "
                         f"{last['Oorzaak']}).")
        return "\n".join(lines + list(self.notes))

    def _largest_changes(self, gm: pd.DataFrame, n: int = 3) -> list[str]:
        """The gemeente's largest relative changes in the last compared year, largest first.

        A run compared with another scenario changes nursing places by tens of percent and the
        population not at all: the reader must see the former first.
        """
        if gm.empty:
            return []
        last = gm[(gm["Jaar"] == gm["Jaar"].max()) & (gm["Oorzaak"] != "geen wijziging")]
        last = last.assign(_size=last["Verschil (%)"].abs().fillna(0)).sort_values("_size", ascending=False).head(n)
        if last.empty:
            return [f"Grootste wijzigingen {int(gm['Jaar'].max())}: geen (alle verschillen binnen de tolerantie)."]
        items = [f"{r['Grootheid']} {_nl(r['Vorige run'])} -> {_nl(r['Huidige run'])} "
                 f"({'+' if r['Verschil'] >= 0 else ''}{_nl(r['Verschil (%)'], 1) if pd.notna(r['Verschil (%)']) else '?'}%; "
                 f"{r['Oorzaak']})" for _, r in last.iterrows()]
        return [f"Grootste wijzigingen {last['Wijk'].iloc[0]} {int(last['Jaar'].iloc[0])}: " + "; ".join(items) + "."]

    def to_text(self) -> str:
        """The whole report as plain text (for the terminal or a .md file)."""
        changes = self.changes.to_string(index=False) if len(self.changes) else "(geen)"
        shown = self.comparison.copy()
        for col in ("Vorige run", "Huidige run", "Gerealiseerd (KWB)", "Verschil"):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else _nl(v))
        shown["Verschil (%)"] = shown["Verschil (%)"].map(
            lambda v: "" if pd.isna(v) else ("+" if v >= 0 else "") + _nl(v, 1))
        return "\n\n".join([
            "# Monitoring: wat is er veranderd en waarom",
            self.summary(),
            "## Gewijzigde invoer (uit provenance.json)",
            changes,
            "## Vergelijking per wijk",
            shown.to_string(index=False),
        ]) + "\n"


def _nl(x: float, decimals: int = 0) -> str:
    """Dutch notation: 12.345 and 1,5."""
    return f"{x:,.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _files(record: dict, key: str, name: str) -> dict:
    items = record.get(key, {})
    if isinstance(items, dict):
        items = items.get("files", [])
    return {str(i.get(name)): i.get("sha256") for i in items or []}


def input_changes(previous: dict, current: dict) -> pd.DataFrame:
    """Differences between two provenance records, each classified as data or assumption.

    Parameters
    ----------
    previous, current : dict
        ``provenance.json`` of the two runs (:func:`assen_demand.outputs.export.provenance`).

    Returns
    -------
    pandas.DataFrame
        ``Onderdeel, Soort, Vorige run, Huidige run``; empty when everything that goes in is
        the same. ``Soort``: ``gegevens`` (base year, data source, input files), ``aannames``
        (parameter files, variant), ``aanbod`` (supply table), ``scenario``, ``software``
        (assen_demand version), ``opzet`` (gemeente, end year, draws, seed).

    Examples
    --------
    >>> a = {"base_year": 2023, "variant": "central", "parameters": [{"file": "x.csv", "sha256": "1"}]}
    >>> b = {"base_year": 2024, "variant": "central", "parameters": [{"file": "x.csv", "sha256": "2"}]}
    >>> input_changes(a, b)[["Onderdeel", "Soort"]].values.tolist()
    [['basisjaar', 'gegevens'], ['parameterbestand x.csv', 'aannames']]
    """
    rows = []

    def add(what, kind, old, new):
        if old != new:
            rows.append({"Onderdeel": what, "Soort": kind, "Vorige run": "" if old is None else str(old),
                         "Huidige run": "" if new is None else str(new)})

    add("basisjaar", "gegevens", previous.get("base_year"), current.get("base_year"))
    source_old, source_new = previous.get("data", {}).get("source"), current.get("data", {}).get("source")
    add("gegevensbron", "gegevens", source_old, source_new)
    old, new = _files(previous, "data", "path"), _files(current, "data", "path")
    if source_old == source_new:
        for name in sorted(set(old) | set(new)):
            add(f"invoerbestand {name}", "gegevens", _short(old.get(name)), _short(new.get(name)))
    else:  # other folder, other file names: a list of every file would say nothing more
        add("invoerbestanden", "gegevens", f"{len(old)} bestanden", f"{len(new)} bestanden")
    old, new = _files(previous, "parameters", "file"), _files(current, "parameters", "file")
    for name in sorted(set(old) | set(new)):
        add(f"parameterbestand {name}", "aannames", _short(old.get(name)), _short(new.get(name)))
    add("parametervariant", "aannames", previous.get("variant"), current.get("variant"))
    add("aanbodtabel", "aanbod", _describe(previous.get("supply")), _describe(current.get("supply")))
    add("scenario", "scenario", _describe(previous.get("scenario")), _describe(current.get("scenario")))
    add("versie assen_demand", "software", previous.get("assen_demand_version"), current.get("assen_demand_version"))
    for key, what in (("gemeente", "gemeente"), ("end_year", "laatste jaar"), ("draws", "trekkingen"),
                      ("seed", "seed")):
        add(what, "opzet", previous.get(key), current.get(key))
    return pd.DataFrame(rows, columns=["Onderdeel", "Soort", "Vorige run", "Huidige run"])


def _short(checksum) -> str | None:
    return None if checksum is None else f"sha256 {str(checksum)[:12]}"


def _describe(item) -> str | None:
    if item is None:
        return None
    if isinstance(item, dict):
        label = item.get("name") or item.get("file") or item.get("source")
        return f"{label} (sha256 {str(item['sha256'])[:12]})" if item.get("sha256") else str(label)
    return str(item)


def _indicators(run: RunOutput) -> pd.DataFrame:
    """Long table area, area_name, quantity, year, value of the monitored quantities."""
    pop = run.population
    frames = []
    for lo, label in ((0, "Inwoners"), (65, "Inwoners 65+"), (75, "Inwoners 75+"), (85, "Inwoners 85+")):
        part = pop[pop["age"] >= lo].groupby(["area", "year"], as_index=False)["persons"].sum()
        frames.append(part.rename(columns={"persons": "value"}).assign(quantity=label))
    dw = run.dwellings
    need = dw[dw["model"] == "need"] if "model" in dw else dw
    for dtype, label in DWELLING_LABELS.items():
        part = need[need["dwelling_type"] == dtype][["area", "year", "need"]].rename(columns={"need": "value"})
        frames.append(part.assign(quantity=f"Behoefte {label.lower()}"))
    if run.programme is not None:
        frames.append(_programme_indicators(run.programme))
    out = pd.concat(frames, ignore_index=True)
    names = pop.drop_duplicates("area").set_index("area")["area_name"]
    out["area_name"] = out["area"].map(names)
    return out


def _realised(kwb: pd.DataFrame | None, areas) -> pd.DataFrame:
    cols = ["area", "year", "quantity", "realised"]
    if kwb is None or kwb.empty:
        return pd.DataFrame(columns=cols)
    rows = kwb[kwb["area"].isin(list(areas))]
    parts = []
    for column, label in (("population", "Inwoners"), ("age_65_plus", "Inwoners 65+")):
        if column in rows:
            part = rows[["area", "year", column]].rename(columns={column: "realised"}).assign(quantity=label)
            parts.append(part.dropna(subset=["realised"]))
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["year"] = out["year"].astype(int)
    return out[cols]


def _cause(year: int, quantity: str, prev_base: int, cur_base: int, kinds: set, diff: float, tolerance: float) -> str:
    if abs(diff) <= tolerance:
        return "geen wijziging"
    population = quantity.startswith("Inwoners")
    causes = []
    if year <= cur_base:
        # a year the current run observed: its population is data, its needs data x assumptions
        if year > prev_base or "gegevens" in kinds:
            causes.append(f"gegevens (KWB {year} gerealiseerd)" if year > prev_base else "gegevens (herziene invoer)")
        if not population and "aannames" in kinds:
            causes.append("aannames")
    else:
        if "gegevens" in kinds:
            causes.append("nieuwe gegevens")
        if "aannames" in kinds and not population:
            causes.append("gewijzigde aannames")
        if "scenario" in kinds:
            causes.append("ander scenario")
    if "software" in kinds and not causes:
        causes.append("nieuwe softwareversie")
    if causes:
        return " + ".join(causes)
    return "onverklaard: zelfde invoer, andere uitkomst"


def compare_runs(previous: RunOutput, current: RunOutput, *, realised: pd.DataFrame | None = None, years=None,
                 tolerance: float = 0.5) -> MonitoringReport:
    """Compare two forecast runs and the realised KWB figures.

    Parameters
    ----------
    previous, current : RunOutput
        Last year's and this year's run (:func:`assen_demand.outputs.export.read_run`).
    realised : pandas.DataFrame, optional
        KWB rows (``area, year, population, age_65_plus``), e.g. ``load_gemeente(...).kwb``.
    years : sequence of int, optional [year]
        Years compared; default every year the previous run projected and the current run
        observed, plus 2030 and the last common year.
    tolerance : float [persons or dwellings]
        Differences up to this size count as none.

    Returns
    -------
    MonitoringReport
    """
    gm_prev, gm_cur = previous.provenance.get("gemeente"), current.provenance.get("gemeente")
    if gm_prev and gm_cur and gm_prev != gm_cur:
        raise DataFormatError(
            f"the runs are of different gemeenten ({gm_prev} in {previous.folder}, {gm_cur} in {current.folder}); "
            "compare two runs of the same gemeente"
        )
    changes = input_changes(previous.provenance, current.provenance)
    kinds = set(changes["Soort"])
    old, new = _indicators(previous), _indicators(current)
    common = sorted(set(old["year"]) & set(new["year"]))
    if not common:
        raise DataFormatError(
            f"the runs share no year ({previous.folder}: {old['year'].min()}-{old['year'].max()}, "
            f"{current.folder}: {new['year'].min()}-{new['year'].max()}); compare overlapping runs"
        )
    prev_base, cur_base = previous.base_year, current.base_year
    if years is None:
        observed = [y for y in common if prev_base < y <= cur_base] or [common[0]]
        years = sorted(set(observed) | ({2030} & set(common)) | {common[-1]})
    years = [int(y) for y in years]
    merged = new.merge(old[["area", "year", "quantity", "value"]], on=["area", "year", "quantity"], how="inner",
                       suffixes=("_current", "_previous"))
    merged = merged[merged["year"].isin(years)]
    merged = merged.merge(_realised(realised, merged["area"].unique()), on=["area", "year", "quantity"], how="left")
    if "realised" not in merged:
        merged["realised"] = np.nan
    merged["diff"] = merged["value_current"] - merged["value_previous"]
    merged["pct"] = 100 * merged["diff"] / merged["value_previous"].where(merged["value_previous"] != 0)
    merged["cause"] = [
        _cause(int(y), q, prev_base, cur_base, kinds, d, tolerance)
        for y, q, d in zip(merged["year"], merged["quantity"], merged["diff"])
    ]
    area_order = {a: i for i, a in enumerate(new.drop_duplicates("area")["area"])}
    quantity_order = {q: i for i, q in enumerate(new.drop_duplicates("quantity")["quantity"])}
    merged = merged.assign(_a=merged["area"].map(area_order), _q=merged["quantity"].map(quantity_order))
    merged = merged.sort_values(["_a", "_q", "year"])
    comparison = pd.DataFrame({
        "Wijkcode": merged["area"].astype(str),
        "Wijk": merged["area_name"].astype(str),
        "Grootheid": merged["quantity"],
        "Jaar": merged["year"].astype(int),
        "Vorige run": merged["value_previous"].astype(float),
        "Huidige run": merged["value_current"].astype(float),
        "Gerealiseerd (KWB)": merged["realised"].astype(float),
        "Verschil": merged["diff"].astype(float),
        "Verschil (%)": merged["pct"].astype(float),
        "Oorzaak": merged["cause"],
    }).reset_index(drop=True)
    notes = []
    if realised is None:
        notes.append("Geen gerealiseerde KWB-cijfers meegegeven: alleen de twee runs zijn vergeleken.")
    return MonitoringReport(changes=changes, comparison=comparison, previous=previous.label, current=current.label,
                            notes=notes)


#: Indicators of the volkshuisvestingsprogramma followed by the report: (section, item, segment) -> label
PROGRAMME_INDICATORS = {
    ("nodig", "huishoudensgroei", "totaal"): "Programma: groei huishoudens (woningen/jaar)",
    ("nodig", "huishoudensgroei", "sociale_huur"): "Programma: groei huishoudens sociale huur (woningen/jaar)",
    ("aandachtsgroepen", "totaal_excl_waarvan", "totaal"): "Programma: aandachtsgroepen (huishoudens/jaar)",
    ("aandachtsgroepen", "vergunninghouders", "totaal"): "Programma: vergunninghouders (huishoudens/jaar)",
    ("gepland", "netto toevoeging", "totaal"): "Programma: gepland netto (woningen/jaar)",
    ("tekort", "huishoudensgroei min gepland", "totaal"): "Programma: tekort (woningen/jaar)",
    ("toets", "betaalbaar_share", "totaal"): "Programma: aandeel betaalbaar gepland (%)",
    ("toets", "social_stock_share", "totaal"): "Programma: aandeel sociale huur voorraad (%)",
}


def _programme_indicators(table: pd.DataFrame) -> pd.DataFrame:
    """Long ``area, year, value, quantity`` rows of the programme indicators (gemeente level)."""
    keys = list(zip(table["section"], table["item"], table["segment"]))
    label = pd.Series([PROGRAMME_INDICATORS.get(k) for k in keys], index=table.index)
    part = table[label.notna()]
    return pd.DataFrame({"area": part["gemeente"].astype(str), "year": part["year"].astype(int),
                         "value": part["value"].astype(float), "quantity": label[label.notna()]})


def evaluate_programme(previous: RunOutput, current: RunOutput) -> pd.DataFrame:
    """The two-yearly evaluation: the programme indicators of two runs side by side.

    The Wet versterking regie volkshuisvesting asks for a yearly monitor and an evaluation every
    two years. This compares the programme of an earlier run (normally two base years back)
    with the current one for every programme year both cover.

    Parameters
    ----------
    previous, current : RunOutput
        Runs with a ``volkshuisvestingsprogramma.csv`` (:func:`assen_demand.outputs.export.read_run`).

    Returns
    -------
    pandas.DataFrame
        ``Grootheid, Jaar, Vorige run, Huidige run, Verschil, Opmerking``; ``Opmerking`` says when
        the base years are not two years apart.

    Raises
    ------
    DataFormatError
        A run without the programme table, or runs without a common programme year.
    """
    for run in (previous, current):
        if run.programme is None:
            raise DataFormatError(
                f"{run.folder or 'a run'} has no volkshuisvestingsprogramma.csv; make both runs with a version of "
                "assen-demand forecast that writes it"
            )
    old, new = _programme_indicators(previous.programme), _programme_indicators(current.programme)
    merged = new.merge(old, on=["area", "year", "quantity"], suffixes=("_current", "_previous"))
    if merged.empty:
        raise DataFormatError("the two programmes share no year; compare runs whose programme years overlap")
    gap = current.base_year - previous.base_year
    note = "" if gap == 2 else f"basisjaren liggen {gap} jaar uit elkaar (de wet vraagt een evaluatie per twee jaar)"
    order = {q: i for i, q in enumerate(PROGRAMME_INDICATORS.values())}
    merged = merged.assign(_q=merged["quantity"].map(order)).sort_values(["_q", "year"])
    return pd.DataFrame({
        "Grootheid": merged["quantity"].to_numpy(),
        "Jaar": merged["year"].astype(int).to_numpy(),
        "Vorige run": merged["value_previous"].to_numpy(dtype=float),
        "Huidige run": merged["value_current"].to_numpy(dtype=float),
        "Verschil": (merged["value_current"] - merged["value_previous"]).to_numpy(dtype=float),
        "Opmerking": note,
    })

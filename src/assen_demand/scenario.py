"""Named scenarios: TOML files that override the default assumptions, with a source for every number.

A scenario is a small TOML file (bundled ones live in ``assen_demand/data/scenarios/``; a user
can pass the path of their own). Every key is optional; what a file leaves out stays at the
default, which is the ``basis`` scenario. Each section that sets something must say where the
numbers come from in its ``source`` key (a citation, or the reasoning for an assumption).

.. code-block:: toml

    name = "hoge_levensduur"            # optional; default the file name
    description = "Faster mortality improvement ..."   # required

    [mortality]
    model = "lee_carter"                # or "wpp_medium"
    drift_multiplier = 1.5              # factor on the Lee-Carter drift, 0..3
    source = "..."

    [fertility]
    assumption = "constant"             # or "wpp_medium"
    tfr_multiplier = 1.0                # factor on the national TFR after the base year, 0.5..2
    source = "..."

    [migration]
    level = "observed_mean"             # or "lowest_observed", "highest_observed": of the yearly totals
    multiplier = 1.0                    # factor on that level, -2..3
    source = "..."

    [institutions]
    multiplier_years = [2030, 2040]     # a path, linear between the years, constant outside
    multiplier_values = [1.0, 0.7]      # factor on institutional shares and splits, 0..2
    from_age = 65                       # ages it applies to (default 0 = all)
    source = "..."

    [care]
    prevalence_trend = { dementia = -0.015 }   # relative change per year, -0.1..0.1
    source = "..."

    [parameters]
    variant = "central"                 # "low" / "central" / "high" of every parameter table
    source = "..."

    [projection]
    method = "housing_led"              # passed to project_population(method=...)
    pipeline = "assen_example_pipeline.csv"  # -> dwelling_pipeline=
    source = "..."

The schema (:data:`SCHEMA`) lists every key with its type and allowed range; an unknown key, a
value of the wrong type or out of range, or a section without a source is a
:class:`~assen_demand.errors.ScenarioError` naming the key and the file.

>>> s = load_scenario("hoge_levensduur")
>>> s.name, s.drift_multiplier
('hoge_levensduur', 1.5)
>>> print(*sorted(list_scenarios())[:3])
basis bouwplannen dementie_daling
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.demography.migration import net_migration_totals
from assen_demand.housing.care import TREND_INDICATORS
from assen_demand.errors import DataFormatError, ScenarioError
from assen_demand.inputs import validation
from assen_demand.parameters import VARIANTS, interpolate_years
from assen_demand.display import summary_repr

__all__ = ["SCHEMA", "Scenario", "list_scenarios", "load_scenario", "scenario_from_mapping"]

_PACKAGE = "assen_demand"
_LEVELS = ("observed_mean", "lowest_observed", "highest_observed")


@dataclass(frozen=True)
class _Key:
    kind: str  # "str", "float", "int", "float_list", "int_list", "float_table"
    choices: tuple = ()
    bounds: tuple[float, float] | None = None
    table_keys: tuple = ()
    help: str = ""


#: Every section and key a scenario file may hold: type, allowed values or range, meaning
SCHEMA: dict[str, dict[str, _Key]] = {
    "": {
        "name": _Key("str", help="scenario name (default: the file name)"),
        "description": _Key("str", help="what the scenario assumes, for the reader of a report"),
    },
    "mortality": {
        "model": _Key("str", choices=("lee_carter", "wpp_medium"), help="national mortality model"),
        "drift_multiplier": _Key("float", bounds=(0.0, 3.0), help="factor on the Lee-Carter drift"),
        "source": _Key("str"),
    },
    "fertility": {
        "assumption": _Key("str", choices=("constant", "wpp_medium"), help="national TFR after the base year"),
        "tfr_multiplier": _Key("float", bounds=(0.5, 2.0), help="factor on that TFR"),
        "source": _Key("str"),
    },
    "migration": {
        "level": _Key("str", choices=_LEVELS, help="which level of the observed yearly net migration totals"),
        "multiplier": _Key("float", bounds=(-2.0, 3.0), help="factor on that level"),
        "source": _Key("str"),
    },
    "institutions": {
        "multiplier_years": _Key("int_list", bounds=(1990, 2100), help="years of the multiplier path"),
        "multiplier_values": _Key("float_list", bounds=(0.0, 2.0), help="factor on institutional shares per year"),
        "from_age": _Key("int", bounds=(0, 100), help="the factor applies from this age on"),
        "source": _Key("str"),
    },
    "care": {
        "prevalence_trend": _Key("float_table", bounds=(-0.1, 0.1), table_keys=TREND_INDICATORS,
                                 help="relative change per year of age-specific prevalence"),
        "source": _Key("str"),
    },
    "parameters": {
        "variant": _Key("str", choices=VARIANTS, help="column of every parameter table"),
        "source": _Key("str"),
    },
    "projection": {
        "method": _Key("str", help="project_population(method=...)"),
        "pipeline": _Key("str", help="dwelling construction pipeline file for the housing-led method"),
        "source": _Key("str"),
    },
}


@summary_repr
@dataclass(frozen=True)
class Scenario:
    """A validated set of assumptions (see the module docstring for the file format).

    Attributes
    ----------
    name, description : str
    path : str
        The file read (or ``"<mapping>"``).
    mortality_model : {"lee_carter", "wpp_medium"}
    drift_multiplier : float [1]
    tfr_assumption : {"constant", "wpp_medium"}
    tfr_multiplier : float [1]
    migration_level : {"observed_mean", "lowest_observed", "highest_observed"}
    migration_multiplier : float [1]
    institutional_path : tuple of (int, float)
        (year, factor) points; empty = the bundled trend unchanged.
    institutional_from_age : int [years]
    prevalence_trend : dict of str to float [relative change per year]
    variant : {"low", "central", "high"}
    method, pipeline : str or None
        Projection method and its pipeline file; ``None`` = the default cohort-component method.
    sources : dict of str to str
        Section -> source text.
    """

    name: str
    description: str
    path: str = "<mapping>"
    mortality_model: str = "lee_carter"
    drift_multiplier: float = 1.0
    tfr_assumption: str = "constant"
    tfr_multiplier: float = 1.0
    migration_level: str = "observed_mean"
    migration_multiplier: float = 1.0
    institutional_path: tuple = ()
    institutional_from_age: int = 0
    prevalence_trend: dict = field(default_factory=dict)
    variant: str = "central"
    method: str | None = None
    pipeline: str | None = None
    sources: dict = field(default_factory=dict, repr=False)

    # ---- what the pipeline needs --------------------------------------------------------

    def component_options(self, data, *, base_year: int, n_years: int = 5) -> dict:
        """Keyword arguments for :func:`assen_demand.demography.components.estimate_components`.

        Parameters
        ----------
        data : assen_demand.inputs.datasets.GemeenteData
            The gemeente's inputs; the migration level uses the CBS 37259 totals of the
            ``n_years`` years before ``base_year`` only.
        base_year : int, keyword-only [year]
        n_years : int, keyword-only
            Window of observed years, as in ``estimate_components``.

        Returns
        -------
        dict
            ``mortality``, ``drift_multiplier``, ``tfr``, ``tfr_multiplier`` and, unless the
            scenario keeps the observed mean, ``migration_level`` [net migrants per year].
        """
        options = {"mortality": self.mortality_model, "tfr": self.tfr_assumption}
        if self.drift_multiplier != 1.0:
            options["drift_multiplier"] = self.drift_multiplier
        if self.tfr_multiplier != 1.0:
            options["tfr_multiplier"] = self.tfr_multiplier
        if self.migration_level != "observed_mean" or self.migration_multiplier != 1.0:
            options["migration_level"] = self.migration_level_value(data, base_year=base_year, n_years=n_years)
        return options

    def migration_level_value(self, data, *, base_year: int, n_years: int = 5) -> float:
        """The scenario's gemeente net migration [net migrants per year].

        The chosen level (mean, lowest or highest) of the yearly totals (men + women, CBS
        37259) of the ``n_years`` years before ``base_year``, times the multiplier.
        """
        dyn = data.as_of(base_year).dynamics

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the residual check is reported by estimate_components
            totals = net_migration_totals(dyn, base_year=base_year, n_years=n_years)
        per_year = totals.groupby("year")["net_migration"].sum()
        level = {"observed_mean": per_year.mean(), "lowest_observed": per_year.min(),
                 "highest_observed": per_year.max()}[self.migration_level]
        return float(level) * self.migration_multiplier

    def institutional_multiplier(self, years) -> xr.DataArray | None:
        """The factor on institutional shares (age, year) [1], or ``None`` without a path."""
        if not self.institutional_path:
            return None
        years = [int(y) for y in years]
        pts_years, pts_values = zip(*self.institutional_path)
        path = interpolate_years(list(pts_values), list(pts_years), years)
        ages = np.arange(101)
        values = np.where(ages[:, None] >= self.institutional_from_age, path[None, :], 1.0)
        return xr.DataArray(values, dims=("age", "year"), coords={"age": ages, "year": years},
                            name="institutional_multiplier")

    def projection_options(self, project_function) -> dict:
        """``method=``/``dwelling_pipeline=`` for ``project_function``, if the scenario sets them.

        A pipeline given as a bare file name is looked up next to the scenario file first, then
        among the bundled pipelines (``data/pipelines/``); a relative path is relative to the
        scenario file.

        Raises
        ------
        ScenarioError
            If the scenario sets a method but ``project_function`` has no such keyword, or its
            pipeline file does not exist.
        """
        wanted = {}
        if self.method is not None:
            wanted["method"] = self.method
        if self.pipeline is not None:
            wanted["dwelling_pipeline"] = self._pipeline_path()
        if not wanted:
            return {}
        accepted = inspect.signature(project_function).parameters
        missing = [k for k in wanted if k not in accepted]
        if missing:
            raise ScenarioError(
                f"scenario {self.name!r} ({self.path}) sets projection.{missing[0]} = {wanted[missing[0]]!r}, but "
                f"{project_function.__module__}.{project_function.__name__}() has no {missing[0]}= keyword; "
                "remove the [projection] section or pass a function that accepts it"
            )
        return wanted

    def _pipeline_path(self) -> str:
        given = Path(self.pipeline)
        here = Path(self.path).parent if self.path else None
        candidates = []
        if given.is_absolute():
            candidates.append(given)
        elif here is not None:
            candidates.append(here / given)
        if len(given.parts) == 1:
            candidates.append(Path(str(files("assen_demand").joinpath("data", "pipelines", given.name))))
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate)
        raise ScenarioError(
            f"scenario {self.name!r} ({self.path}): projection.pipeline = {self.pipeline!r} is not a file "
            f"(looked in: {', '.join(str(c) for c in candidates)}); give a path relative to the scenario file "
            "or the name of a bundled pipeline in assen_demand/data/pipelines/"
        )

    def source_bytes(self) -> bytes | None:
        """The TOML text this scenario was read from (a user's file or a bundled one), for checksums.

        ``None`` for a scenario built from a mapping.
        """
        path = Path(self.path)
        if path.is_file():
            return path.read_bytes()
        if self.path.startswith("data/scenarios/"):
            resource = _scenario_dir().joinpath(path.name)
            if resource.is_file():
                return resource.read_bytes()
        return None

    def _summary_title(self) -> str:
        return self.name

    def to_frame(self) -> pd.DataFrame:
        """Every setting with its source: ``scenario, section, key, value, source`` (for a provenance sheet)."""
        rows = [(self.name, "", "description", self.description, self.path)]
        values = {
            "mortality": {"model": self.mortality_model, "drift_multiplier": self.drift_multiplier},
            "fertility": {"assumption": self.tfr_assumption, "tfr_multiplier": self.tfr_multiplier},
            "migration": {"level": self.migration_level, "multiplier": self.migration_multiplier},
            "institutions": {"path": ", ".join(f"{y}: {v:g}" for y, v in self.institutional_path) or "bundled trend",
                             "from_age": self.institutional_from_age},
            "care": {"prevalence_trend": ", ".join(f"{k}: {v:+g}/yr" for k, v in self.prevalence_trend.items())
                     or "constant"},
            "parameters": {"variant": self.variant},
            "projection": {"method": self.method or "combined", "pipeline": self.pipeline or ""},
        }
        for section, kv in values.items():
            for key, value in kv.items():
                rows.append((self.name, section, key, value, self.sources.get(section, "default (basis)")))
        return pd.DataFrame(rows, columns=["scenario", "section", "key", "value", "source"])


# --------------------------------------------------------------------------------------------
# reading and validating
# --------------------------------------------------------------------------------------------


def _scenario_dir():
    return files(_PACKAGE).joinpath("data", "scenarios")


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios (``data/scenarios/*.toml``), sorted."""
    return sorted(p.name[: -len(".toml")] for p in _scenario_dir().iterdir() if p.name.endswith(".toml"))


def _check_value(value, spec: _Key, *, where: str, file: str):
    def bad(what: str) -> ScenarioError:
        return ScenarioError(f"{file}: {where} {what}")

    def number(v, kind: str):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind == "int" and not isinstance(v, int)):
            raise bad(f"must be {'a whole number' if kind == 'int' else 'a number'}, got {type(v).__name__} {v!r}")
        if not np.isfinite(v):
            raise bad(f"must be finite, got {v!r}")
        if spec.bounds is not None and not spec.bounds[0] <= v <= spec.bounds[1]:
            raise bad(f"= {v!r} lies outside the allowed range [{spec.bounds[0]:g}, {spec.bounds[1]:g}]")
        return float(v) if kind == "float" else int(v)

    if spec.kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise bad(f"must be a non-empty text, got {type(value).__name__} {value!r}")
        if spec.choices and value not in spec.choices:
            raise bad(f"= {value!r} is not allowed; use one of {', '.join(map(repr, spec.choices))}")
        return value
    if spec.kind in ("float", "int"):
        return number(value, spec.kind)
    if spec.kind in ("float_list", "int_list"):
        if not isinstance(value, list) or not value:
            raise bad(f"must be a non-empty list, got {type(value).__name__} {value!r}")
        return [number(v, spec.kind[:-5]) for v in value]
    if spec.kind == "float_table":
        if not isinstance(value, dict):
            raise bad(f"must be a table like {{ {spec.table_keys[0]} = -0.01 }}, got {type(value).__name__} {value!r}")
        out = {}
        for k, v in value.items():
            if k not in spec.table_keys:
                raise ScenarioError(
                    f"{file}: unknown key {where}.{k}; allowed: {', '.join(spec.table_keys)}"
                )
            out[k] = _check_value(v, _Key("float", bounds=spec.bounds), where=f"{where}.{k}", file=file)
        return out
    raise AssertionError(spec.kind)  # pragma: no cover - the schema above is fixed


def scenario_from_mapping(raw: Mapping, *, file: str = "<mapping>", default_name: str | None = None) -> Scenario:
    """Validate a parsed scenario (the dict ``tomllib`` returns) against :data:`SCHEMA`.

    Parameters
    ----------
    raw : mapping
        Sections and keys as in the TOML file.
    file : str, keyword-only
        File name, for the messages.
    default_name : str, optional, keyword-only
        Name when the mapping has none (the file's stem).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Unknown section or key, wrong type, value out of range, a section without ``source``,
        no ``description``, a multiplier path whose years and values differ in length or whose
        years do not increase.
    """
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{file}: a scenario must be a TOML table, got {type(raw).__name__}")
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    values: dict[str, dict] = {"": {}}
    for key, value in top.items():
        if key not in SCHEMA[""]:
            known_sections = [s for s in SCHEMA if s]
            hint = (f"; {key!r} is a section: write [{key}]" if key in known_sections else "")
            raise ScenarioError(
                f"{file}: unknown key {key!r}; top-level keys are {', '.join(SCHEMA[''])}, sections are "
                f"{', '.join(known_sections)}{hint}"
            )
        values[""][key] = _check_value(value, SCHEMA[""][key], where=key, file=file)
    for section, content in sections.items():
        if section not in SCHEMA or section == "":
            raise ScenarioError(
                f"{file}: unknown section [{section}]; sections are {', '.join(s for s in SCHEMA if s)}"
            )
        spec = SCHEMA[section]
        values[section] = {}
        for key, value in content.items():
            if key not in spec:
                raise ScenarioError(
                    f"{file}: unknown key {section}.{key}; [{section}] takes {', '.join(spec)}"
                )
            values[section][key] = _check_value(value, spec[key], where=f"{section}.{key}", file=file)
        if "source" not in values[section]:
            raise ScenarioError(
                f"{file}: section [{section}] has no source; every number needs a citation or the reasoning "
                f"behind it: add source = \"...\" to [{section}]"
            )
    if "description" not in values[""]:
        raise ScenarioError(f"{file}: no description; add description = \"...\" at the top of the file")
    get = lambda section, key, default: values.get(section, {}).get(key, default)  # noqa: E731
    years = get("institutions", "multiplier_years", None)
    factors = get("institutions", "multiplier_values", None)
    if (years is None) != (factors is None):
        raise ScenarioError(
            f"{file}: [institutions] needs both multiplier_years and multiplier_values (one value per year)"
        )
    path: tuple = ()
    if years is not None:
        if len(years) != len(factors):
            raise ScenarioError(
                f"{file}: institutions.multiplier_years has {len(years)} years but multiplier_values has "
                f"{len(factors)} values; give one value per year"
            )
        if any(b <= a for a, b in zip(years, years[1:])):
            raise ScenarioError(f"{file}: institutions.multiplier_years {years} must increase")
        path = tuple(zip(years, factors))
    name = get("", "name", default_name or "unnamed")
    return Scenario(
        name=name,
        description=values[""]["description"],
        path=file,
        mortality_model=get("mortality", "model", "lee_carter"),
        drift_multiplier=get("mortality", "drift_multiplier", 1.0),
        tfr_assumption=get("fertility", "assumption", "constant"),
        tfr_multiplier=get("fertility", "tfr_multiplier", 1.0),
        migration_level=get("migration", "level", "observed_mean"),
        migration_multiplier=get("migration", "multiplier", 1.0),
        institutional_path=path,
        institutional_from_age=get("institutions", "from_age", 0),
        prevalence_trend=dict(get("care", "prevalence_trend", {})),
        variant=get("parameters", "variant", "central"),
        method=get("projection", "method", None),
        pipeline=get("projection", "pipeline", None),
        sources={s: v["source"] for s, v in values.items() if s and "source" in v},
    )


def load_scenario(scenario: str | PathLike | Scenario) -> Scenario:
    """A bundled scenario by name, or a scenario file by path.

    Parameters
    ----------
    scenario : str, path or Scenario
        A bundled name (:func:`list_scenarios`), or the path of a ``.toml`` file; a
        :class:`Scenario` is returned as it is.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Unknown name, missing file, TOML syntax error, or a schema violation (see
        :func:`scenario_from_mapping`).
    """
    if isinstance(scenario, Scenario):
        return scenario
    text = str(scenario)
    is_path = isinstance(scenario, PathLike) or text.endswith(".toml") or "/" in text or "\\" in text
    if is_path:
        path = Path(scenario)
        if not path.is_file():
            raise ScenarioError(f"scenario file {text} does not exist; give the path of a .toml file")
        raw_bytes, label, stem = path.read_bytes(), str(path), path.stem
    else:
        known = list_scenarios()
        if text not in known:
            raise ScenarioError(f"no bundled scenario {text!r}; choose one of {', '.join(known)} or give a .toml path")
        resource = _scenario_dir().joinpath(f"{text}.toml")
        raw_bytes, label, stem = resource.read_bytes(), f"data/scenarios/{text}.toml", text
    try:  # a byte-order mark, latin-1 text or a deeply nested file: the edge layer answers
        raw = validation.read_toml(raw_bytes, source=label)
    except DataFormatError as exc:
        raise ScenarioError(str(exc)) from None
    return scenario_from_mapping(raw, file=label, default_name=stem)

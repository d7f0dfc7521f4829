"""Every URL in the bundled data files points at a publisher's own page or a DOI (issue 13, item 7).

The test reads every text file under ``assen_demand/data/`` (parameter CSVs, supply, pipelines,
scenario TOML, stock templates, READMEs) and the bundled CBS tables (top-level ``data/cbs/``),
extracts each ``http(s)://`` URL and checks its host against :data:`PUBLISHERS`. A mirror, a news site or an aggregator is not a source: cite the page
of the organisation that produced the number, or drop the URL, say "not located" in the note and
mark the row ``aanname``.
"""

from __future__ import annotations

import ipaddress
import re
from importlib.resources import files
from urllib.parse import urlsplit

import pytest

from assen_demand.inputs.datasets import bundled_dir

DATA = files("assen_demand").joinpath("data")
TEXT_SUFFIXES = (".csv", ".toml", ".md", ".json", ".txt")

#: Hosts (and their sub-domains) that publish the figures we cite.
PUBLISHERS = (
    # statistics offices and international statistics
    "cbs.nl",                      # CBS (www, opendata.cbs.nl)
    "population.un.org",           # UN World Population Prospects
    # public health, care registers and their institutes
    "rivm.nl", "volksgezondheidenzorg.info", "vzinfo.nl", "ciz.nl", "vektis.nl",
    "zorginstituutnederland.nl", "monitorlangdurigezorg.nl",
    # government and parliament
    "rijksoverheid.nl", "tweedekamer.nl", "officielebekendmakingen.nl", "wetten.overheid.nl",
    "open.overheid.nl", "data.overheid.nl", "volkshuisvestingnederland.nl",
    # executive agencies publishing their own tables: Huurcommissie (rent limits), DJI (detention)
    "huurcommissie.nl", "dji.nl",
    # planning and research bureaus
    "scp.nl", "pbl.nl", "abfresearch.nl", "platform31.nl",
    # Economisch Instituut voor de Bouw: its own report page (Ouderenhuisvesting, 2024)
    "eib.nl",
    # the ministry of BZK/VRO's own site on housing-market policy (Monitor Ouderenhuisvesting news)
    "woningmarktbeleid.nl",
    # the gemeente itself
    "assen.nl",
    # sector and patient organisations publishing their own figures
    "aedes.nl", "alzheimer-nederland.nl",
    # clinical guideline published by IKNL/Palliaweb itself (Richtlijn palliatieve zorg bij dementie)
    "palliaweb.nl",
    # literature: DOI resolver, PubMed, journals' own pages, university repositories
    "doi.org", "pubmed.ncbi.nlm.nih.gov", "ntvg.nl",
    "researchinformation.umcutrecht.nl", "repub.eur.nl", "research.rug.nl", "research.vu.nl",
    "pure.uva.nl", "research.tilburguniversity.edu", "repository.tudelft.nl", "research.tudelft.nl",
    "scholarlypublications.universiteitleiden.nl", "dspace.library.uu.nl", "research-portal.uu.nl",
    "repository.ubn.ru.nl",
)

#: Example files only: they show the format of a gemeente's own override and are never used by
#: default. Their numbers come from local press because Assen publishes no register of care
#: places or building plans; every row is status ``aanname`` with a note starting "voorbeeld".
#: Their news hosts are allowed there and nowhere else.
EXAMPLE_FILES = {
    "supply/assen_supply_example.csv": {
        "rtvdrenthe.nl", "skipr.nl", "mapalana.nl", "nijeboer-hage.nl"},
    "pipelines/assen_example_pipeline.csv": {"assenstad.nl", "rtvdrenthe.nl"},
}

_URL = re.compile(r"https?://[^\s,;\"'<>()\]\[]+")


def _data_files(folder=DATA, prefix=""):
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        if entry.is_dir() and name == "cbs":
            continue  # a wheel's copy of data/cbs: read once, from bundled_dir() below
        if entry.is_dir():
            yield from _data_files(entry, f"{name}/")
        elif entry.name.endswith(TEXT_SUFFIXES):
            yield name, entry


def _urls(text: str) -> list[str]:
    return [u.rstrip(".:") for u in _URL.findall(text)]


def _host_allowed(host: str, allowed) -> bool:
    return any(host == p or host.endswith("." + p) for p in allowed)


FILES = list(_data_files()) + list(_data_files(bundled_dir(), "cbs/"))
URLS = [(name, url) for name, entry in FILES for url in _urls(entry.read_text(encoding="utf-8"))]


def test_the_scan_sees_the_data_files_and_their_urls():
    names = {name for name, _ in FILES}
    assert {"parameters/care_prevalence.csv", "supply/assen_supply_example.csv",
            "pipelines/assen_example_pipeline.csv", "scenarios/basis.toml"} <= names
    assert len(URLS) > 50


@pytest.mark.parametrize("name, url", URLS, ids=[f"{n}:{u[:60]}" for n, u in URLS])
def test_url_is_a_publisher_page_or_doi(name, url):
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    assert parts.scheme == "https", f"{name}: {url} is not https; cite the publisher's https page"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: {url} is a bare IP address (a mirror); cite the publisher or a DOI")
    allowed = PUBLISHERS + tuple(EXAMPLE_FILES.get(name, ()))
    assert _host_allowed(host, allowed), (
        f"{name}: {host} is not a known publisher; cite the publisher's own page or a DOI, or drop the URL, "
        f"say 'not located' in the note and mark the row aanname")


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_example_files_are_marked_as_examples(name):
    import pandas as pd

    frame = pd.read_csv(DATA.joinpath(name).open(encoding="utf-8"))
    assert (frame["status"] == "aanname").all(), f"{name}: an example from the press is never bekend"
    assert frame["note"].str.startswith("voorbeeld").all(), f"{name}: every row's note starts with 'voorbeeld'"


@pytest.mark.parametrize("url, ok", [
    ("https://www.cbs.nl/nl-nl/cijfers/detail/85454NED", True),
    ("https://opendata.cbs.nl/statline/#/CBS/nl/dataset/37259ned/table", True),
    ("https://doi.org/10.1136/bmj.310.6985.970", True),
    ("https://d8ngmj92p2qx6qd8.salvatore.rest/nl-nl/longread/x", False),   # mirror of cbs.nl
    ("https://www.skipr.nl/nieuws/x", False),                               # news
    ("https://studylibnl.com/doc/800434/x", False),                         # document mirror
    ("https://notcbs.nl/x", False),                                         # look-alike host
])
def test_host_check_hand_cases(url, ok):
    assert _host_allowed(urlsplit(url).hostname, PUBLISHERS) is ok


def test_url_extraction_strips_punctuation():
    text = 'see https://opendata.cbs.nl/statline/#/CBS/nl/dataset/37259ned/table. and "https://doi.org/10.1/x"'
    assert _urls(text) == ["https://opendata.cbs.nl/statline/#/CBS/nl/dataset/37259ned/table",
                           "https://doi.org/10.1/x"]

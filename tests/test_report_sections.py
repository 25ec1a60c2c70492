"""Report sections against the official MIMIC-CXR parser, one row per header style (tests/report_section_cases.py).

The official parser's outputs on the same texts are in tests/golden/official_sections.json (made by running
github.com/MIT-LCP/mimic-cxr `txt/section_parser.py`; see tests/golden/make_official_sections.py). With the
options off we must give exactly those sections; with the defaults, the same findings and impression except
where a case names the documented option that changes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from conftest import demo_config
from report_section_cases import CASES
from unix.data.report_sections import (
    HEADER_MAP,
    SectionOptions,
    normalize_section_name,
    normalize_text,
    parse_report,
)

OFFICIAL = json.loads((Path(__file__).parent / "golden" / "official_sections.json").read_text())
OPTION_NAMES = [f.name for f in dataclasses.fields(SectionOptions)]


def official(case: str, name: str) -> str:
    return normalize_text(OFFICIAL[case]["sections"].get(name, ""))


def test_the_table_covers_the_header_styles():
    assert len(CASES) >= 40
    assert set(OFFICIAL) == set(CASES), "rerun tests/golden/make_official_sections.py after editing the cases"
    for case, (text, *_rest) in CASES.items():
        assert OFFICIAL[case]["sha256"] == hashlib.sha256(text.encode()).hexdigest(), \
            f"case {case} changed since the official outputs were made; rerun make_official_sections.py"
    # Every kind of official rule is exercised: the map, the exam-title words, the main-section words,
    # empty sections dropped, last of a name, last paragraph.
    names = {n for c in OFFICIAL.values() for n in c["section_names"]}
    assert {"findings", "impression", "recommendations", "history", "indication", "comparison", "examination",
            "notification", "addendum", "date", "comment", "technique", "last_paragraph", "full report"} <= names
    assert sum(d == "" for *_x, d in CASES.values()) >= 40


@pytest.mark.parametrize("case", list(CASES))
def test_with_the_options_off_we_are_the_official_parser(case):
    text = CASES[case][0]
    ours = parse_report(text, SectionOptions.official())
    assert ours.section_names == OFFICIAL[case]["section_names"]
    for name in OFFICIAL[case]["sections"]:
        if name in ("preamble", "full report", "wet read"):
            continue  # our `body` / `wet_read` take the banner and the wet-read block apart
        got = getattr(ours, name) if hasattr(ours, name) else ours.other[name]
        assert got == official(case, name), name
    for name in ("findings", "impression", "last_paragraph", "comparison"):
        assert getattr(ours, name) == official(case, name), name


@pytest.mark.parametrize("case", list(CASES))
def test_with_the_defaults_we_differ_only_where_documented(case):
    text, findings, impression, differs = CASES[case]
    ours = parse_report(text)
    upstream = (official(case, "findings"), official(case, "impression"))
    if not differs or not getattr(SectionOptions(), differs):
        assert (ours.findings, ours.impression) == upstream
        assert ours.last_paragraph == official(case, "last_paragraph")
    else:
        assert (ours.findings, ours.impression) == (findings, impression) != upstream
        # That one option, turned off, is what makes the difference.
        only_off = dataclasses.replace(SectionOptions(), **{differs: False})
        off = parse_report(text, only_off)
        assert (off.findings, off.impression) == upstream


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_option_gives_its_documented_result(case):
    text, findings, impression, differs = CASES[case]
    options = dataclasses.replace(SectionOptions(), **({differs: True} if differs else {}))
    ours = parse_report(text, options)
    assert (ours.findings, ours.impression) == (findings, impression)


def test_each_documented_difference_has_cases():
    assert {d for *_x, d in CASES.values()} - {""} == set(OPTION_NAMES)


@pytest.mark.parametrize("header,name", [
    ("PA AND LATERAL CHEST RADIOGRAPHS", "findings"), ("CHEST, TWO VIEWS", "findings"),
    ("PORTABLE AP CHEST RADIOGRAPH", "findings"), ("FINDINGS AND IMPRESSION", "impression"),
    ("FINDINGS/IMPRESSION", "impression"), ("RECOMMENDATION(S)", "recommendations"),
    ("CLINICAL INFORMATION", "history"), ("REASON FOR EXAM", "indication"), ("CONCLUSION", "impression"),
    ("REFERENCE EXAM", "comparison"), ("TYPE OF EXAMINATION", "examination"), (" Technique ", "technique"),
    ("HISTORY AND INDICATION", "history"), ("LINES AND TUBES", "lines and tubes"), ("WETREAD", "wet read"),
])
def test_header_names_follow_the_official_map(header, name):
    assert normalize_section_name(header) == name


def test_every_mapped_header_is_a_header_in_its_section():
    """Each header of the official map, written in capitals, starts the section it maps to."""
    for header, name in HEADER_MAP.items():
        text = f"{' ' * 33}FINAL REPORT\n INDICATION:  Cough.\n \n {header.upper()}:  Some text.\n \n COMMENT:  x\n"
        s = parse_report(text, SectionOptions.official())
        assert name in s.section_names, header
        if name in ("findings", "impression"):
            assert getattr(s, name) == "Some text.", header


def test_body_and_wet_read_are_taken_apart():
    text, *_ = CASES["wet_read_first"]
    for options in (SectionOptions(), SectionOptions.official()):
        s = parse_report(text, options)
        assert s.wet_read == "___ ___ ___ 4:18 PM Small left effusion."
        assert s.body == "" and s.findings and s.impression
    s = parse_report(CASES["last_paragraph_no_header"][0])
    assert s.body == "Chest radiograph, two views. Heart size is normal. Lungs are clear."
    assert s.last_paragraph == "Heart size is normal. Lungs are clear."


def test_options_from_config():
    assert SectionOptions.from_config({n: False for n in OPTION_NAMES}) == SectionOptions.official()
    assert SectionOptions.from_config({n: True for n in OPTION_NAMES}) == SectionOptions(True, True, True)
    # config.yaml's values are the dataclass defaults: only unindented_text is off (as upstream).
    assert SectionOptions.from_config(demo_config()["data"]["reports"]) == SectionOptions()
    assert SectionOptions().unindented_text is False

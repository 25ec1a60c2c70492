"""The report parser on each kind of noise found in MIMIC-CXR reports, and report file reading."""

from __future__ import annotations

import pytest

from functools import partial

from unix.data.reports import EMPTY_REPORT, NO_REPORT, REPORT_NOT_UTF8, SectionOptions, read_report
from unix.data.reports import parse_report as _parse_report

# Many noise cases below are written without the released files' one-space line indent; the parser reads
# them with the `unindented_text` option (off by default, where it behaves as the official parser, which
# needs the indent). tests/test_report_sections.py covers the defaults against the official outputs.
parse_report = partial(_parse_report, options=SectionOptions(unindented_text=True))

STANDARD = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  None.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def test_standard_report():
    s = parse_report(STANDARD)
    assert s.examination == "CHEST (PA AND LAT)"
    assert s.indication == "___F with new onset ascites // eval for infection"
    assert s.technique == "Chest PA and lateral"
    assert s.comparison == "None."
    assert s.findings == ("There is no focal consolidation, pleural effusion or pneumothorax. Bilateral nodular "
                          "opacities that most likely represent nipple shadows.")
    assert s.impression == "No acute cardiopulmonary process."
    assert s.body == "" and "FINAL REPORT" not in s.findings
    assert s.section_names == ["preamble", "examination", "indication", "technique", "comparison", "findings",
                               "impression"]


def test_headings_in_any_case_order_and_colon_spacing():
    # Upstream needs whitespace after the colon ("findings:Heart" is text); a space before it is fine.
    s = parse_report("Impression : Stable.\n findings: Heart is normal.\nHistory:\n  Cough.\nComparisons: ___.")
    assert s.impression == "Stable."
    assert s.findings == "Heart is normal."
    assert s.history == "Cough."
    assert s.comparison == "___."
    assert s.section_names == ["preamble", "impression", "findings", "history", "comparison"]
    assert parse_report("FINDINGS:Heart is normal.").findings == ""


def test_heading_alone_on_its_line_without_colon_is_text():
    # Upstream semantics: a header needs its colon (our old parser also took bare headings).
    s = parse_report("FINDINGS\nLungs clear.\nIMPRESSION\nNormal.")
    assert (s.findings, s.impression) == ("", "")


def test_heading_words_inside_a_sentence_are_text():
    s = parse_report("FINDINGS: Findings are stable.\n impression of hyperinflation persists.\nPA and lateral: ok")
    assert s.findings == "Findings are stable. impression of hyperinflation persists. PA and lateral: ok"
    assert s.impression == ""


def test_no_findings_section():
    s = parse_report(" FINAL REPORT\n INDICATION: Chest pain.\n IMPRESSION: No acute process.")
    assert s.findings == "" and s.impression == "No acute process." and s.indication == "Chest pain."


def test_single_paragraph_report_is_kept_as_body():
    text = "  Heart size is normal.  The lungs\n are clear.  No effusion.\n"
    s = parse_report(text)
    assert s.findings == "" and s.impression == ""
    assert s.body == "Heart size is normal. The lungs are clear. No effusion."
    assert s.section_names == ["full report"]


def test_wet_read_block_and_final_report():
    text = ("WET READ: ___ ___ ___ 4:18 PM\n  No pneumothorax.\n"
            "______________________________________________________________________________\n"
            "                                 FINAL REPORT\n"
            " FINDINGS: Small left effusion.\n IMPRESSION: Effusion.\n")
    s = parse_report(text)
    assert s.wet_read == "___ ___ ___ 4:18 PM No pneumothorax."
    assert s.findings == "Small left effusion." and s.impression == "Effusion."
    assert "_____" not in s.wet_read + s.findings + s.body


def test_wet_read_version_suffix():
    s = parse_report("WET READ VERSION #1 ___ ___ 9:12 PM\n Clear.\n____________\nFINDINGS: ok")
    assert s.section_names == ["preamble", "findings"]
    assert s.wet_read == "VERSION #1 ___ ___ 9:12 PM Clear." and s.findings == "ok" and s.body == ""


def test_addendum_after_impression():
    s = parse_report("FINDINGS: Clear.\nIMPRESSION: Normal.\n\nADDENDUM:  Discussed with Dr. ___ at ___.")
    assert s.impression == "Normal."
    assert s.addendum == "Discussed with Dr. ___ at ___."
    # "ADDENDUM #1" is no header upstream (a "#" and a digit): it stays in the impression.
    s = parse_report("FINDINGS: Clear.\nIMPRESSION: Normal.\n\nADDENDUM #1\n  Discussed.")
    assert s.impression == "Normal. ADDENDUM #1 Discussed." and s.addendum == ""


def test_findings_and_impression_combined_heading_is_impression():
    s = parse_report("FINDINGS AND IMPRESSION: Lungs clear.")
    assert (s.findings, s.impression) == ("", "Lungs clear.")


def test_repeated_heading_the_last_wins():
    s = parse_report("FINDINGS: First part.\nIMPRESSION: x\nFINDINGS: Second part.")
    assert s.findings == "Second part."


def test_deidentified_spans_and_crlf():
    s = parse_report("FINDINGS:\r\n Compared to ___, the ___ line\r\n is unchanged.\r\n")
    assert s.findings == "Compared to ___, the ___ line is unchanged."


def test_text_before_the_first_heading_is_kept_in_body():
    s = parse_report("Portable view.\nFINDINGS: Clear.")
    assert s.body == "Portable view." and s.findings == "Clear."


def test_read_report_ok(tmp_path):
    p = tmp_path / "s1.txt"
    p.write_text(STANDARD, encoding="utf-8")
    r = read_report(p)
    assert r.reason is None and r.text == STANDARD


@pytest.mark.parametrize("content,reason", [
    (b"", EMPTY_REPORT),
    (b" \n\t\n", EMPTY_REPORT),
    ("FINDINGS: caf\xe9".encode("latin-1"), REPORT_NOT_UTF8),
    (None, NO_REPORT),
])
def test_read_report_reasons(tmp_path, content, reason):
    p = tmp_path / "s1.txt"
    if content is not None:
        p.write_bytes(content)
    r = read_report(p)
    assert r.text is None and r.reason == reason and str(p) in r.detail


def test_read_report_on_a_directory_is_a_reason(tmp_path):
    assert read_report(tmp_path).reason == NO_REPORT


def test_words_starting_like_a_heading_are_text():
    s = parse_report("FINDINGS: Clear.\nWet reading of the film agrees.\nExamined ___.")
    assert s.findings == "Clear. Wet reading of the film agrees. Examined ___." and s.wet_read == ""

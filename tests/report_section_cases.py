"""Report texts in the header styles of MIMIC-CXR, each with the findings and impression our parser must give.

Every text is laid out like the released files (a FINAL REPORT banner, every line indented by one space,
blank lines holding one space) unless the case is about other layouts. `CASES` maps a case id to
(text, findings, impression, differs): findings / impression are what `parse_report` gives with the default
options (whitespace collapsed); `differs` names the option of `SectionOptions` under which our default result
differs from the official parser's ("" when it must agree). tests/golden/official_sections.json holds the
official parser's output for each text (made by tests/golden/make_official_sections.py).
"""

from __future__ import annotations

BANNER = " " * 33 + "FINAL REPORT"


def report(*lines: str, banner: bool = True) -> str:
    """The report with `lines` indented by one space ("" is a blank line: one space)."""
    return "\n".join(([BANNER] if banner else []) + [" " + line if line else " " for line in lines]) + "\n"


F, I = "Heart size is normal. Lungs are clear.", "No acute cardiopulmonary process."
PRE = ("EXAMINATION:  CHEST (PA AND LAT)", "", "INDICATION:  ___F with cough.", "")


def old_style(header: str) -> str:
    """An older report: the exam title is the findings header (the official map makes it findings)."""
    return report("HISTORY:  ___-year-old man with cough.", "", f"{header}:  Heart size is normal.  Lungs are",
                  "clear.", "", f"IMPRESSION:  {I}")


def with_header(header: str, name_text: str = "___.") -> str:
    """A standard report with one more header (`header: name_text`) before the findings."""
    return report(*PRE, f"{header}:  {name_text}", "", "FINDINGS:", "", "Heart size is normal.  Lungs are clear.",
                  "", "IMPRESSION:", "", I)


CASES: dict[str, tuple[str, str, str, str]] = {
    # ---- the standard layout, block and inline
    "standard_block": (report(*PRE, "TECHNIQUE:  Chest PA and lateral", "", "COMPARISON:  None.", "", "FINDINGS:",
                              "", "Heart size is normal.  Lungs", "are clear.", "", "IMPRESSION:", "", I), F, I, ""),
    "standard_inline": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "",
                               f"IMPRESSION:  {I}"), F, I, ""),
    "impression_first": (report(*PRE, f"IMPRESSION:  {I}", "", "FINDINGS:  Heart size is normal.  Lungs are clear."),
                         F, I, ""),
    # ---- old-style headers naming the examination: findings in the official map
    "chest_two_views": (old_style("CHEST, TWO VIEWS"), F, I, ""),
    "pa_and_lateral_chest_radiographs": (old_style("PA AND LATERAL CHEST RADIOGRAPHS"), F, I, ""),
    "portable_ap_chest_radiograph": (old_style("PORTABLE AP CHEST RADIOGRAPH"), F, I, ""),
    "chest_pa_and_lateral": (old_style("CHEST, PA AND LATERAL"), F, I, ""),
    "ap_and_lateral_views": (old_style("AP AND LATERAL VIEWS OF THE CHEST"), F, I, ""),
    "lateral_and_pa": (old_style("LATERAL AND PA VIEWS"), F, I, ""),
    "lateral_and_ap": (old_style("LATERAL AND AP VIEWS"), F, I, ""),
    "frontal_and_lateral": (old_style("FRONTAL AND LATERAL RADIOGRAPHS"), F, I, ""),
    "single_frontal_view": (old_style("SINGLE FRONTAL VIEW"), F, I, ""),
    "pa_view": (old_style("PA VIEW"), F, I, ""),
    "ap_view": (old_style("UPRIGHT AP VIEW"), F, I, ""),
    "one_view": (old_style("ONE VIEW"), F, I, ""),
    "lateral_view": (old_style("LATERAL VIEW"), F, I, ""),
    "frontal_upright": (old_style("FRONTAL UPRIGHT PORTABLE RADIOGRAPH"), F, I, ""),
    "frontal_semi_upright": (old_style("FRONTAL SEMI-UPRIGHT RADIOGRAPH"), F, I, ""),
    "portable_supine": (old_style("PORTABLE SUPINE RADIOGRAPH"), F, I, ""),
    "bone_window": (old_style("BONE WINDOW"), F, I, ""),
    "ribs_three_views": (old_style("RIGHT RIBS, THREE VIEWS"), F, I, ""),
    "pa_and_lat": (old_style("PA AND LAT"), F, I, ""),
    "chest_portable_ap": (old_style("CHEST (PORTABLE AP)"), F, I, ""),
    # an exam title standing alone before the real sections: an empty findings section, dropped
    "empty_title_then_findings": (report("CHEST, PA LATERAL:", "", "INDICATION:  Cough.", "", "FINDINGS:  "
                                         "Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}"), F, I, ""),
    # ---- headers the official map sends to impression
    "findings_and_impression": (report(*PRE, "FINDINGS AND IMPRESSION:  Heart size is normal.  Lungs are clear."),
                                "", F, ""),
    "findings_slash_impression": (report(*PRE, "FINDINGS/IMPRESSION:  Heart size is normal.  Lungs are clear."),
                                  "", F, ""),
    "findings_slash_space_impression": (report(*PRE, "FINDINGS/ IMPRESSION:  Heart size is normal.  Lungs are",
                                               "clear."), "", F, ""),
    "conclusion": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"CONCLUSION:  {I}"),
                   F, I, ""),
    "impression_and_recommendation": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "",
                                             f"IMPRESSION AND RECOMMENDATION:  {I}"), F, I, ""),
    "provisional_findings_impression": (report(*PRE, "PROVISIONAL FINDINGS IMPRESSION (PFI):  Small effusion.", "",
                                               "FINDINGS:  Heart size is normal.  Lungs are clear."),
                                        F, "Small effusion.", ""),
    "typo_impresson": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSON:  {I}"),
                       F, I, ""),
    "typo_impession": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPESSION:  {I}"),
                       F, I, ""),
    "typo_findngs": (report(*PRE, "FINDNGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}"),
                     F, I, ""),
    "finding_singular": (report(*PRE, "FINDING:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}"),
                         F, I, ""),
    # ---- recommendations end the impression
    "recommendation_s": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}",
                                "", "RECOMMENDATION(S):  Followup radiograph in ___ weeks."), F, I, ""),
    "recommendations": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}",
                               "", "RECOMMENDATIONS:  Clinical correlation."), F, I, ""),
    # ---- other mapped headers (history, indication, comparison, examination, notes after the impression)
    **{f"header_{h.lower().replace(' ', '_')}": (with_header(h), F, I, "") for h in (
        "CLINICAL INFORMATION", "CLINICAL HISTORY", "PATIENT HISTORY", "HISTORY", "REASON FOR EXAMINATION",
        "REASON FOR EXAM", "CLINICAL INDICATION", "TYPE OF EXAMINATION", "EXAM", "REFERENCE EXAM", "COMPARISONS",
        "COMPARISON EXAM", "COMPARISON FILM", "COMPARISION", "TECHNIQUE", "DATE", "PFI", "HISTORY AND INDICATION")},
    "notification": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}", "",
                            "NOTIFICATION:  Discussed with Dr. ___ at 4:40 PM on ___."), F, I, ""),
    "addendum": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}", "",
                        "ADDENDUM:  Reviewed with Dr. ___ on ___."), F, I, ""),
    "comment": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}", "",
                       "COMMENT:  Reviewed."), F, I, ""),
    "wet_read_first": (" WET READ: ___ ___ ___ 4:18 PM\n  Small left effusion.\n " + "_" * 78 + "\n"
                       + report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", f"IMPRESSION:  {I}"),
                       F, I, ""),
    # ---- the last section of a name wins; empty findings / impression sections are dropped first
    "two_findings_last_wins": (report(*PRE, "FINDINGS:  Old text.", "", "FINDINGS:  Heart size is normal.  Lungs "
                                      "are clear.", "", f"IMPRESSION:  {I}"), F, I, ""),
    "two_findings_last_empty": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "",
                                       f"IMPRESSION:  {I}", "", "FINDINGS:", ""), F, I, ""),
    "two_impressions": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "", "IMPRESSION:  First.",
                               "", f"IMPRESSION:  {I}"), F, I, ""),
    # a sub-header inside the findings is a section upstream, and that is kept (only LINES AND TUBES differs)
    "lungs_subheader": (report(*PRE, "FINDINGS:  Heart size is normal.", "LUNGS:  Clear.", "", f"IMPRESSION:  {I}"),
                        "Heart size is normal.", I, ""),
    # a header alone on its line is followed by its first text line, where upstream never looks for a header
    "header_line_then_header": (report(*PRE, "FINDINGS:", f"IMPRESSION:  {I}"), f"IMPRESSION: {I}", "", ""),
    # ---- reports without findings and impression: upstream's last paragraph
    "last_paragraph_after_header": (report("INDICATION:  Cough.", "", "Heart size is normal.  Lungs are clear.",
                                           "", "No effusion."), "", "", ""),
    "last_paragraph_no_header": (report("Chest radiograph, two views.", "", "Heart size is normal.  Lungs are",
                                        "clear."), "", "", ""),
    "single_paragraph": (report("Heart size is normal.  Lungs are clear."), "", "", ""),
    "header_words_in_text": (report(*PRE, "FINDINGS:  Findings are stable.  Impression of hyperinflation.",
                                    "PA and lateral: ok.", "", f"IMPRESSION:  {I}"),
                             "Findings are stable. Impression of hyperinflation. PA and lateral: ok.", I, ""),
    # ---- our documented differences (on by default)
    "lowercase_findings": (report(*PRE, "Findings:  Heart size is normal.  Lungs are clear.", "",
                                  f"Impression:  {I}"), F, I, "lowercase_headers"),
    "lowercase_findings_only": (report(*PRE, "findings:  Heart size is normal.  Lungs are clear.", "",
                                       f"IMPRESSION:  {I}"), F, I, "lowercase_headers"),
    "mixed_case_text_is_not_a_header": (report(*PRE, "FINDINGS:  Heart size is normal.", "Lungs:  clear.", "",
                                               f"IMPRESSION:  {I}"), "Heart size is normal. Lungs: clear.", I, ""),
    "lines_and_tubes": (report(*PRE, "FINDINGS:  Heart size is normal.  Lungs are clear.", "",
                               "LINES AND TUBES:  Endotracheal tube 4 cm above the carina.", "", f"IMPRESSION:  {I}"),
                        F + " LINES AND TUBES: Endotracheal tube 4 cm above the carina.", I,
                        "lines_and_tubes_in_findings"),
    "unindented": ("FINAL REPORT\nINDICATION: Cough.\nFINDINGS: Heart size is normal.  Lungs are clear.\n"
                   f"IMPRESSION: {I}\n", F, I, "unindented_text"),
    "unindented_first_line": (f"FINDINGS: Heart size is normal.  Lungs are clear.\n IMPRESSION: {I}\n", F, I,
                              "unindented_text"),
}

"""MIMIC-CXR free-text reports: reading the files and splitting them into sections.

A report looks like this (headings may be missing, in any order, in any case, with or without a
colon; some reports are a single paragraph; de-identified spans are written `___`):

                                     FINAL REPORT
     EXAMINATION:  CHEST (PA AND LAT)
     INDICATION:  ___F with new onset ascites
     FINDINGS:
     There is no focal consolidation, pleural effusion or pneumothorax.  The
     cardiomediastinal silhouette is normal.
     IMPRESSION:
     No acute cardiopulmonary process.

A WET READ (the preliminary read) may precede the final report, closed by a line of underscores;
an ADDENDUM may follow it. `parse_report` keeps each section's text with wrapped lines joined and
whitespace collapsed; text outside any known heading is kept in `body`, so nothing is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

# Heading text (upper case, single spaces) -> section name. Only these start a section; any other
# "WORD:" at the start of a line is ordinary text of the current section (e.g. "PA and lateral:").
HEADINGS: dict[str, str] = {
    "FINDINGS": "findings",
    "FINDING": "findings",
    "FINDINGS AND IMPRESSION": "findings",
    "IMPRESSION": "impression",
    "IMPRESSIONS": "impression",
    "CONCLUSION": "impression",
    "INDICATION": "indication",
    "INDICATIONS": "indication",
    "CLINICAL INDICATION": "indication",
    "REASON FOR EXAM": "indication",
    "REASON FOR EXAMINATION": "indication",
    "HISTORY": "history",
    "CLINICAL HISTORY": "history",
    "COMPARISON": "comparison",
    "COMPARISONS": "comparison",
    "TECHNIQUE": "technique",
    "EXAMINATION": "examination",
    "EXAM": "examination",
    "WET READ": "wet_read",
    "ADDENDUM": "addendum",
    "NOTIFICATION": "notification",
    "RECOMMENDATION": "recommendation",
    "RECOMMENDATIONS": "recommendation",
}

_HEADING_ALTERNATIVES = "|".join(
    re.escape(h).replace(r"\ ", r"\s+") for h in sorted(HEADINGS, key=len, reverse=True)
)
# A heading at the start of a line, then ":" (the rest of the line is the section's first text), or
# alone on its line. "WET READ VERSION #2" and "ADDENDUM #1" carry a suffix we drop.
_HEADING_RE = re.compile(
    rf"^\s*(?P<heading>{_HEADING_ALTERNATIVES})(?P<suffix>\s+(?:VERSION\s*)?#?\s*\d+)?"
    rf"(?:\s*:(?P<rest>.*)|\s*)$",
    re.IGNORECASE,
)
# The wet-read banner also carries its time stamp without a colon: "WET READ VERSION #1 ___ 9:12 PM".
_WET_READ_RE = re.compile(r"^\s*WET\s+READ\b(?:\s+VERSION\s*#?\s*\d+)?\s*:?(?P<rest>.*)$", re.IGNORECASE)
_FINAL_REPORT_RE = re.compile(r"^\s*FINAL\s+REPORT\s*:?\s*$", re.IGNORECASE)
# A rule of underscores closes a wet-read block; three underscores alone are a de-identified span.
_RULE_RE = re.compile(r"^\s*_{4,}\s*$")
_SPACE_RE = re.compile(r"\s+")


@dataclass
class ReportSections:
    """The sections of one report, each with wrapped lines joined and whitespace collapsed ("" if absent)."""

    findings: str = ""
    impression: str = ""
    indication: str = ""
    history: str = ""
    comparison: str = ""
    technique: str = ""
    examination: str = ""
    wet_read: str = ""
    addendum: str = ""
    notification: str = ""
    recommendation: str = ""
    body: str = ""
    """Text under no known heading (the whole text of a report without headings)."""
    headings: list[str] = field(default_factory=list)
    """Section names in the order they appeared (repeats kept), for diagnostics."""

    def as_dict(self) -> dict[str, str]:
        """The text fields as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "headings"}


SECTION_NAMES = tuple(f.name for f in fields(ReportSections) if f.name not in ("body", "headings"))


def normalize_text(text: str) -> str:
    """Join wrapped lines and collapse runs of whitespace into single spaces."""
    return _SPACE_RE.sub(" ", text).strip()


def parse_report(text: str) -> ReportSections:
    """Split a raw MIMIC-CXR report into sections.

    Repeated headings (two FINDINGS blocks) are concatenated in order. The "FINAL REPORT" banner is
    dropped and closes a preceding WET READ block, as does a line of underscores.
    """
    chunks: dict[str, list[str]] = {}
    order: list[str] = []
    current = "body"
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FINAL_REPORT_RE.match(line) or _RULE_RE.match(line):
            current = "body"
            continue
        m = _HEADING_RE.match(line)
        w = None if m else _WET_READ_RE.match(line)
        if m:
            current = HEADINGS[_SPACE_RE.sub(" ", m.group("heading").upper())]
            order.append(current)
            line = m.group("rest") or ""
        elif w:
            current = "wet_read"
            order.append(current)
            line = w.group("rest")
        chunks.setdefault(current, []).append(line)
    sections = ReportSections(headings=order)
    for name, lines in chunks.items():
        setattr(sections, name, normalize_text("\n".join(lines)))
    return sections


# Reasons a report file cannot be used (the accounting's `reason` column).
NO_REPORT = "no_report"
EMPTY_REPORT = "empty_report"
REPORT_NOT_UTF8 = "report_not_utf8"


@dataclass(frozen=True)
class ReportRead:
    """Outcome of reading one report file: the text, or why there is none."""

    text: str | None
    reason: str | None = None
    """None when `text` is usable; else one of no_report, empty_report, report_not_utf8."""
    detail: str = ""


def read_report(path: str | Path) -> ReportRead:
    """Read a report file as UTF-8; a missing, empty or undecodable file is a reason, never an exception."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return ReportRead(None, NO_REPORT, f"{p} does not exist")
    except OSError as err:  # a directory, permissions, I/O error: still a row-level problem
        return ReportRead(None, NO_REPORT, f"{p}: {err.__class__.__name__}: {err}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return ReportRead(None, REPORT_NOT_UTF8, f"{p}: byte {err.start} is not UTF-8 ({err.reason})")
    if not text.strip():
        return ReportRead(None, EMPTY_REPORT, f"{p} is empty ({len(raw)} bytes)")
    return ReportRead(text)

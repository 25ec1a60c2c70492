"""MIMIC-CXR free-text reports: reading the files; their sections come from `unix.data.report_sections`.

A report looks like this (every line indented by one space; headers may be missing or written in older
styles such as `PA AND LATERAL CHEST RADIOGRAPHS:`; some reports are a single paragraph; de-identified
spans are written `___`):

                                     FINAL REPORT
     EXAMINATION:  CHEST (PA AND LAT)
     INDICATION:  ___F with new onset ascites
     FINDINGS:
     There is no focal consolidation, pleural effusion or pneumothorax.  The
     cardiomediastinal silhouette is normal.
     IMPRESSION:
     No acute cardiopulmonary process.

A WET READ (the preliminary read) may precede the final report, closed by a line of underscores; an
ADDENDUM may follow it. `parse_report` splits a report with the official MIMIC-CXR semantics and three
documented, configurable differences (see `unix.data.report_sections`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unix.data.report_sections import (  # noqa: F401  (re-exported: the parser's public names)
    ReportSections,
    SectionOptions,
    normalize_text,
    parse_report,
)

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


def format_report(findings: str, impression: str) -> str:
    """The one-line report text the project trains and evaluates on: ``FINDINGS: f IMPRESSION: i``.

    Each section's whitespace is collapsed (`normalize_text`); an empty or blank section is left out, so two
    empty sections give "". Cleaning writes this format; training and evaluation fall back to it for a study
    without a cleaned report.
    """
    parts = []
    if findings.strip():
        parts.append(f"FINDINGS: {normalize_text(findings)}")
    if impression.strip():
        parts.append(f"IMPRESSION: {normalize_text(impression)}")
    return " ".join(parts)

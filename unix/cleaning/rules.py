"""The `rules` backend: a deterministic offline report cleaner.

It does with regular expressions what the LLM prompt asks for, conservatively: it keeps the FINDINGS
and IMPRESSION (or CONCLUSION) sections, drops the header, EXAMINATION, INDICATION, HISTORY, TECHNIQUE,
COMPARISON, NOTIFICATION and WET READ blocks, and inside the kept sections removes sentences about
notification and comparison boilerplate, leading "compared to the prior study" clauses, `___` spans and
list numbering. What is left of an ADDENDUM goes to IMPRESSION. A report with no FINDINGS/IMPRESSION
header is one paragraph: its diagnostic sentences become FINDINGS.

It never rewrites a finding; it can only fail to remove some noise. Changing the rules changes
`RULES_VERSION`, which is part of the cache key of every rules-cleaned report.

Sections come from `unix.data.reports.parse_report`; the line-preserving `split_sections` here is used
only to recover the body of a report that has no FINDINGS/IMPRESSION headings.
"""

from __future__ import annotations

import re

from unix.data.reports import format_report

RULES_VERSION = "rules-v1"

_KEEP_FINDINGS = {"FINDINGS", "FINDING", "FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION", "REPORT"}
_KEEP_IMPRESSION = {"IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY"}
_ADDENDUM = {"ADDENDUM"}
_DROP = {
    "EXAMINATION", "EXAM", "TYPE OF EXAMINATION", "INDICATION", "INDICATIONS", "HISTORY",
    "CLINICAL HISTORY", "CLINICAL INFORMATION", "REASON FOR EXAM", "REASON FOR EXAMINATION", "TECHNIQUE",
    "COMPARISON", "COMPARISONS", "PRIOR", "PRIORS", "NOTIFICATION", "RECOMMENDATION", "RECOMMENDATIONS",
    "PROCEDURE", "STUDY", "REFERENCE EXAM", "WET READ", "FINAL REPORT", "PROVISIONAL FINDINGS IMPRESSION (PFI)",
}
_ALL_HEADERS = _KEEP_FINDINGS | _KEEP_IMPRESSION | _ADDENDUM | _DROP
_HEADER = re.compile(r"^\s*([A-Z][A-Z /()&-]{1,40}?)\s*:\s*(.*)$")
_RULER = re.compile(r"^\s*_{5,}\s*$")

# Whole sentences that carry no finding.
_DROP_SENTENCE = re.compile(
    r"\b(notified|paged|telephoned|discussed with|communicated|were called|was called|called to|"
    r"informed|conveyed|by telephone|by phone|via telephone|read back|readback|"
    r"wet read|dictated|reviewed with|this report|findings were|has been (?:made )?aware)\b"
    r"|^(?:comparison|comparisons)\b"
    r"|^(?:no|without) (?:prior|previous|comparison) (?:studies|study|exams?|examinations?|images?|films?|"
    r"radiographs?)\b[^.]*(?:available|for comparison)"
    r"|^(?:the )?(?:prior|previous) (?:study|studies|exam|examination|radiographs?|films?|images?)"
    r" (?:is|are|was|were|from|dated|of)\b"
    r"|^(?:a )?(?:frontal|pa|ap|portable|upright|semi-upright|supine|single)\b[^.]*\b(?:views?|radiographs?|"
    r"images?) (?:of the chest )?(?:was|were|is|are) (?:obtained|acquired|provided|submitted)\b",
    re.IGNORECASE,
)
# A leading clause that only points at a prior study: "As compared to the previous radiograph of ___, ".
_LEADING_COMPARISON = re.compile(
    r"^(?:as )?(?:compared|in comparison|comparison is made|when compared|relative)\s+(?:to|with)\s+"
    r"(?:the\s+)?(?:most\s+recent\s+|prior\s+|previous\s+|recent\s+|earlier\s+|outside\s+|preceding\s+)*"
    r"[^,.;]{0,60}?(?:study|studies|exam|examination|radiographs?|films?|images?|ct|x-?rays?|one|___)"
    r"(?:\s+(?:of|from|dated|on|obtained|performed|at)\s+(?:___|[^,.;]{0,20}))*\s*,\s*",
    re.IGNORECASE,
)
# A leading view description that ends in a colon: "PA and lateral chest compared to ___: ".
_LEADING_VIEW = re.compile(
    r"^(?:(?:the\s+)?(?:pa|ap|portable|frontal|upright|supine|single|chest|two|lateral)\b[^.:]{0,80}):\s*",
    re.IGNORECASE,
)
# "___" with the preposition or title that only introduces it.
_DEID = re.compile(
    r"(?:\s*\b(?:on|from|of|dated|at|since|by|to|with|Dr\.?|Drs\.?|Mr\.?|Ms\.?|Mrs\.?)\s+)?___"
    r"(?:\s*(?:at|on|and)\s+___)*",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"(?:(?<=\s)|^)\(?\d{1,2}[.)]\s+(?=[A-Za-z])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def known_headers() -> frozenset[str]:
    """Every section header the rules cleaner knows (upper case), for `unix.cleaning.inputs`."""
    return frozenset(_ALL_HEADERS)


def split_sections(raw: str) -> list[tuple[str, str]]:
    """Split a raw report into (header, text) pairs in order; text before any header has header ""."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_wet_read = False
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if _RULER.match(line):
            # The ruler line closes a WET READ block.
            in_wet_read = False
            continue
        if stripped.upper() == "FINAL REPORT":
            in_wet_read = False
            sections.append(("FINAL REPORT", []))
            continue
        m = _HEADER.match(line)
        if m and m.group(1).strip().upper() in _ALL_HEADERS:
            name = m.group(1).strip().upper()
            in_wet_read = name == "WET READ"
            sections.append((name, [m.group(2)]))
            continue
        if in_wet_read:
            sections[-1][1].append(line)
            continue
        sections[-1][1].append(line)
    return [(h, "\n".join(lines).strip()) for h, lines in sections if h or "\n".join(lines).strip()]


def _clean_sentence(sentence: str) -> str:
    s = sentence.strip()
    if not s or _DROP_SENTENCE.search(s):
        return ""
    s = _LEADING_VIEW.sub("", s)
    s = _LEADING_COMPARISON.sub("", s)
    s = _DEID.sub("", s)
    s = re.sub(r"\s+([,.;:])", r"\1", s)
    s = re.sub(r"([,;:])\s*([.])", r"\2", s)
    s = re.sub(r"\(\s*\)", "", s)
    s = re.sub(r"\s{2,}", " ", s).strip(" ,;:")
    if not re.search(r"[A-Za-z]{2,}", s):
        return ""
    if s[0].islower():
        s = s[0].upper() + s[1:]
    return s


def clean_text(text: str) -> str:
    """Clean the body of one kept section: drop non-diagnostic sentences, clauses and `___` spans."""
    body = re.sub(r"\s+", " ", _LIST_MARK.sub(" ", text.replace("\n", " "))).strip()
    sentences = [_clean_sentence(s) for s in _SENTENCE_END.split(body)]
    return " ".join(s for s in sentences if s)


def _body_after_header_block(raw: str) -> str:
    """Text of a report without FINDINGS/IMPRESSION headings that follows a header block after a blank
    line ("HISTORY: ...\n\nHeart size is normal."), which a line-joining parser files under HISTORY."""
    body = []
    for header, text in split_sections(raw):
        if header in ("", "FINAL REPORT"):
            body.append(text)
        elif header in _DROP and header != "WET READ":
            parts = re.split(r"\n\s*\n", text, maxsplit=1)
            if len(parts) == 2:
                body.append(parts[1])
    return " ".join(body)


def clean_report_rules(raw: str) -> tuple[str, str]:
    """Clean one raw report; return (cleaned, failure). `failure` is "" on success.

    Sections come from the data stage's parser (`unix.data.reports.parse_report`), so the FINDINGS and
    IMPRESSION the cleaner keeps are the ones the split table shows. On failure (nothing diagnostic
    found) `cleaned` is "" and the caller keeps the raw text, flagged.
    """
    from unix.data.reports import parse_report

    raw = raw or ""
    sections = parse_report(raw)
    if sections.findings or sections.impression:
        findings, impression = sections.findings, sections.impression
    else:
        # A report without FINDINGS/IMPRESSION headings: its body is the findings.
        findings, impression = sections.body or _body_after_header_block(raw), ""
    impression_parts = [clean_text(impression), clean_text(sections.addendum)]
    cleaned = format_report(clean_text(findings), " ".join(x for x in impression_parts if x))
    if not cleaned:
        return "", "no diagnostic content found (no FINDINGS or IMPRESSION text left after cleaning)"
    return cleaned, ""

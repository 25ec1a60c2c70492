"""Reports that must never be sent for cleaning: null, empty, whitespace-only, `___`-only and header-only.

A report like that has nothing a model could clean; sent anyway, it comes back malformed three times and is
blamed on the model, and a null in a pandas `string` column would be sent as the literal `<NA>`. Such
reports are recorded with reason `empty_input` and kept in the output with their raw text (`""` for a null).

A report is header-only when nothing but section headers is left after removing `___` de-identification
spans, underscore rulers, punctuation and white space: `FINAL REPORT`, `WET READ`, `ADDENDUM`, and any
`NAME:` header (upper case, or a header the rules cleaner knows, e.g. `findings:`). Any other word or number
counts as content ("TECHNIQUE: PA and lateral." is sent: the model decides that it has no findings).
"""

from __future__ import annotations

import math
import re
from typing import Any

from unix.cleaning.rules import known_headers

EMPTY_INPUT = "empty_input"
"""the failure reason prefix and accounting column of reports that were not sent."""

_DEID_OR_RULER = re.compile(r"_{3,}")
_BARE_HEADERS = re.compile(r"\b(?:FINAL\s+REPORT|WET\s+READ|ADDENDUM)\b", re.IGNORECASE)
_UPPER_HEADER = re.compile(r"\b[A-Z][A-Z /()&,-]{0,60}:")


def _known_header_pattern() -> re.Pattern:
    names = sorted(known_headers(), key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in names)
    return re.compile(rf"(?<![A-Za-z])(?:{alternatives})\s*:", re.IGNORECASE)


_KNOWN_HEADER = _known_header_pattern()


def is_null(value: Any) -> bool:
    """True for None, NaN, pd.NA and NaT (what a missing `text` cell holds)."""
    if isinstance(value, str):
        return False
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False


def empty_input_reason(value: Any) -> str:
    """Why a report must not be sent ("null text", "empty text", ...), or "" when it has content."""
    if is_null(value):
        return "null text"
    text = str(value)
    if not text.strip():
        return "empty text" if not text else "whitespace-only text"
    rest = _DEID_OR_RULER.sub(" ", text)
    if not re.search(r"[A-Za-z0-9]", rest):
        return "only de-identification placeholders (___)" if "___" in text else "no letters or digits"
    rest = _KNOWN_HEADER.sub(" ", _UPPER_HEADER.sub(" ", _BARE_HEADERS.sub(" ", rest)))
    if not re.search(r"[A-Za-z0-9]", rest):
        return "only section headers"
    return ""

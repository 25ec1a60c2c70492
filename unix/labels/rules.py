"""An offline CheXpert-style rule labeler: an approximation of CheXbert, with no model and no download.

It follows the CheXpert labeler's design (Irvin et al. 2019) in miniature: each of the 14 observations has
*mention* phrases; each mention is classified as negative (a negation cue in its clause: "no", "without",
"is not seen", "has resolved", ...), uncertain (an uncertainty cue: "possible", "may", "cannot be excluded",
"versus", ...) or positive; some observations also have *normal* phrases that state the negative directly
("heart size is normal"). Mentions are aggregated per report as the CheXpert labeler does: positive beats
uncertain beats negative; no mention gives NaN. No Finding is 1 when none of the 12 pathologies (all but
Support Devices and No Finding) is positive or uncertain, else NaN.

The output uses the MIMIC-CXR chexpert CSV convention (1.0, 0.0, -1.0, NaN; ``CHEXPERT_LABELS`` order).
It is NOT CheXbert (which the paper used): it has no parser, no dependency graph and a far smaller phrase
list, so its F1 values are not comparable to the paper's. Select it with ``evaluation.labeler: rules`` (or
``cleaning.drift_labeler: rules``); results computed with it are labelled ``labeler: rules`` in their metrics
files.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np

from unix.data.mimic import CHEXPERT_LABELS

# Mention phrases (regular expressions, matched case-insensitively on word boundaries).
MENTIONS: dict[str, list[str]] = {
    "Atelectasis": [r"atelecta\w*", r"collapse[sd]?", r"volume loss"],
    "Cardiomegaly": [r"cardiomegaly", r"(?:heart|cardiac)(?: size| silhouette)? (?:is |are )?(?:mildly |moderately "
                     r"|severely |markedly |top[- ]normal to )?(?:enlarged|increased)", r"enlarge\w* (?:heart|cardiac "
                     r"silhouette)", r"cardiac enlargement"],
    "Consolidation": [r"consolidat\w*"],
    "Edema": [r"edema", r"vascular congestion", r"(?:pulmonary |interstitial )?congestion", r"heart failure",
              r"chf", r"kerley b", r"cephalization"],
    "Enlarged Cardiomediastinum": [r"(?:widen\w*|enlarge\w*|prominen\w*) (?:of the )?(?:superior )?(?:cardio)?mediastin\w*",
                                   r"(?:cardio)?mediastin\w* (?:silhouette |contours? )?(?:is |are )?"
                                   r"(?:widen\w*|enlarged|prominent)", r"enlarged cardiomediastinum"],
    "Fracture": [r"fractures?", r"fx"],
    "Lung Lesion": [r"nodules?", r"nodular", r"mass(?:es)?", r"lesions?", r"tumou?r", r"neoplasm\w*", r"cavitary",
                    r"granulomas?"],
    "Lung Opacity": [r"opacit\w*", r"infiltrat\w*", r"densit(?:y|ies)", r"haziness", r"hazy", r"airspace disease",
                     r"ground[- ]glass", r"scarring", r"fibrosis", r"fibrotic"],
    "Pleural Effusion": [r"effusions?", r"pleural fluid", r"hydrothorax"],
    "Pleural Other": [r"pleural thickening", r"fibrothorax", r"pleural scar\w*", r"pleural plaques?",
                      r"pleural calcification"],
    "Pneumonia": [r"pneumonias?", r"infection", r"infectious process", r"aspiration"],
    "Pneumothorax": [r"pneumothora(?:x|ces)", r"hydropneumothorax"],
    "Support Devices": [r"(?:endotracheal|et|ng|og|nasogastric|orogastric|enteric|feeding|chest|tracheostomy|"
                        r"dobhoff|sengstaken) tubes?", r"(?:central venous|central|picc|midline|swan[- ]ganz|"
                        r"internal jugular|subclavian) (?:line|catheter)s?", r"picc", r"catheters?",
                        r"pacemaker", r"pacer", r"(?:icd|aicd|defibrillator)", r"pacing (?:wires?|leads?)",
                        r"leads?", r"sternotomy wires?", r"stents?", r"prosthe\w*",
                        r"valve replacement", r"port-?a-?cath", r"(?:chest )?port", r"drains?", r"devices?"],
}
# Phrases that state an observation is absent without a negation word.
NORMAL: dict[str, list[str]] = {
    "Cardiomegaly": [r"(?:heart|cardiac) size (?:is |remains )?(?:normal|within normal limits|top[- ]normal|stable)",
                     r"normal (?:heart|cardiac) size", r"(?:heart|cardiac silhouette) is (?:normal|not enlarged)"
                     r"(?: in size)?", r"normal (?:size of the )?(?:heart|cardiac silhouette)"],
    "Enlarged Cardiomediastinum": [r"(?:cardio)?mediastinal (?:and hilar )?(?:silhouette|contours?)s? (?:is |are "
                                   r"|appears? |remains? )?(?:normal|unremarkable|within normal limits|stable)",
                                   r"normal (?:cardio)?mediastinal (?:silhouette|contours?)",
                                   r"mediastinum is (?:normal|not widened)"],
}
_NEG_BEFORE = (r"\bno\b|\bnot\b|\bwithout\b|\bnegative for\b|\bfree of\b|\bclear of\b|\bresolution of\b|"
               r"\bresolved\b|\bremoval of\b|\babsence of\b|\bno evidence of\b|\brules? out\b|\bneither\b|\bnor\b")
_NEG_AFTER = (r"^\W*(?:\w+\W+){0,3}?(?:is|are|was|were|has|have)\s+(?:been\s+)?(?:not\s+(?:seen|present|identified|"
              r"visualized|appreciated|evident|demonstrated)|no longer\s+\w+|resolved|removed|absent|withdrawn)|"
              r"^\W*(?:\w+\W+){0,2}?(?:has|have)\s+resolved")
_UNC = (r"\bpossibl[ey]\b|\bprobabl[ey]\b|\blikely\b|\bmay\b|\bmight\b|\bcould\b|\bquestionable\b|\bquestion of\b|"
        r"\bsuspicious\b|\bsuspected\b|\bsuspect\b|\bconcern(?:ing)? for\b|\bsuggest\w*\b|\bversus\b|\bvs\.?\b|"
        r"\bdifferential\b|\bborderline\b|\bequivocal\b|\bindeterminate\b|\bpresumed\b|\bor\b")
# After a mention, only these make it uncertain ("opacities may reflect atelectasis": the opacity is certain).
_UNC_AFTER = (r"^\W*(?:\w+\W+){0,2}?(?:is|are|was|were)\s+(?:possible|possibly|likely|suspected|questionable|"
              r"probable|not excluded|a consideration)\b|^\W*(?:\w+\W+){0,1}?(?:or|versus|vs\.?)\W")
# Uncertainty phrases that contain a negation word, so they are checked before the negation cues.
_UNC_STRONG = (r"\bnot (?:be )?excluded\b|\bcan ?not (?:be )?(?:excluded|ruled out|exclude|rule out)\b|"
               r"\bnot (?:be )?ruled out\b|\bdifficult to exclude\b|\bnot entirely excluded\b")
# Clause boundaries: a cue does not reach across them.
_CLAUSE = re.compile(r"[.;:!?]|\bbut\b|\bhowever\b|\balthough\b|\bexcept\b|\bwhich\b|\bwith\b(?! no)", re.I)

_MENTION_RE = {k: re.compile(r"\b(?:" + "|".join(v) + r")\b", re.I) for k, v in MENTIONS.items()}
_NORMAL_RE = {k: re.compile(r"\b(?:" + "|".join(v) + r")\b", re.I) for k, v in NORMAL.items()}
_NEG_BEFORE_RE = re.compile(_NEG_BEFORE, re.I)
_NEG_AFTER_RE = re.compile(_NEG_AFTER, re.I)
_UNC_RE = re.compile(_UNC, re.I)
_UNC_STRONG_RE = re.compile(_UNC_STRONG, re.I)
_UNC_AFTER_RE = re.compile(_UNC_AFTER, re.I)
_PATHOLOGIES = [c for c in CHEXPERT_LABELS if c not in ("No Finding", "Support Devices")]


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _CLAUSE.finditer(text, 0, start):
        left = m.end()
    m = _CLAUSE.search(text, end)
    return left, (m.start() if m else len(text))


def classify_mention(text: str, start: int, end: int) -> float:
    """1.0, 0.0 or -1.0 for the mention text[start:end], from the cues in its clause."""
    left, right = _clause_bounds(text, start, end)
    before, after = text[left:start], text[end:right]
    # "cannot be excluded" holds a negation word but is uncertain; "no A or B" is a negated list, not "A or B"
    if _UNC_STRONG_RE.search(before) or _UNC_STRONG_RE.search(after):
        return -1.0
    if _NEG_BEFORE_RE.search(before) or _NEG_AFTER_RE.search(after):
        return 0.0
    # weak cues ("possible", "or", "versus") reach only the comma-delimited part: "opacity, atelectasis
    # versus pneumonia" keeps the opacity positive
    after_part = re.split(r",|\bwithout\b", after, maxsplit=1)[0]
    if _UNC_RE.search(before.rsplit(",", 1)[-1]) or _UNC_AFTER_RE.search(after_part):
        return -1.0
    return 1.0


def label_report(text: str) -> np.ndarray:
    """The 14 labels of one report (CSV convention)."""
    text = " ".join(text.split())  # reports wrap lines mid-sentence
    found: dict[str, list[float]] = {name: [] for name in CHEXPERT_LABELS}
    for name, pattern in _NORMAL_RE.items():
        spans = [m.span() for m in pattern.finditer(text)]
        for a, b in spans:
            left, _ = _clause_bounds(text, a, b)
            found[name].append(-1.0 if _UNC_RE.search(text[left:a]) else 0.0)
    normal_spans = [m.span() for p in _NORMAL_RE.values() for m in p.finditer(text)]
    for name, pattern in _MENTION_RE.items():
        for m in pattern.finditer(text):
            if any(a <= m.start() < b for a, b in normal_spans):
                continue  # "heart size is normal" is not a mention of enlargement
            found[name].append(classify_mention(text, m.start(), m.end()))
    labels = np.full(len(CHEXPERT_LABELS), np.nan)
    for i, name in enumerate(CHEXPERT_LABELS):
        values = found[name]
        if 1.0 in values:
            labels[i] = 1.0
        elif -1.0 in values:
            labels[i] = -1.0
        elif 0.0 in values:
            labels[i] = 0.0
    pathology = labels[[CHEXPERT_LABELS.index(n) for n in _PATHOLOGIES]]
    no_finding = CHEXPERT_LABELS.index("No Finding")
    labels[no_finding] = np.nan if np.isin(pathology, (1.0, -1.0)).any() else 1.0
    return labels


def label_reports_rules(texts: Iterable[str]) -> np.ndarray:
    """(N, 14) labels of N reports with the rule labeler."""
    rows = [label_report(t if isinstance(t, str) else "") for t in texts]
    return np.stack(rows) if rows else np.empty((0, len(CHEXPERT_LABELS)))


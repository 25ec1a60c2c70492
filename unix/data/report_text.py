"""Synthetic free-text radiology reports in the MIMIC-CXR style, consistent with CheXpert labels.

Every label of a study that is mentioned (1.0 positive, 0.0 negative, -1.0 uncertain) is written as a
sentence in that state, and a label that is not mentioned (NaN) never appears, so a labeler run on the text
agrees with the label CSV. Each observation is named by its own words (cardiomegaly / heart, mediastinum,
effusion, opacity, consolidation, edema, atelectasis, nodule / mass, fracture, pleural thickening,
pneumonia, pneumothorax, tube / catheter / pacemaker / leads); negations use "no", "without" or "normal";
uncertainty uses "possible", "cannot exclude", "may represent", "questionable". "No acute cardiopulmonary
process" is written exactly when No Finding is 1.0.

The structure and noise follow the real files: a "FINAL REPORT" header line with leading spaces,
EXAMINATION / INDICATION / HISTORY / TECHNIQUE / COMPARISON / FINDINGS / IMPRESSION sections in varying
subsets and order, `___` de-identified spans, WET READ blocks before the header, ADDENDUM blocks, reports
without FINDINGS, single paragraphs without headings, and text wrapped at 78 columns with a leading space.

Headers come in the styles of the real files, in the proportions the official MIMIC-CXR section parser's
comments count (`unix.data.report_sections.OFFICIAL_HEADERS`): `REASON FOR EXAMINATION`, `CLINICAL
INFORMATION`, `COMPARISONS`, `TYPE OF EXAMINATION`, `CONCLUSION`, `RECOMMENDATION(S)` and `NOTIFICATION`
after the impression, and for the findings old-style exam titles (`CHEST, TWO VIEWS`, `PA AND LATERAL CHEST
RADIOGRAPHS`, ...), `FINDINGS AND IMPRESSION` / `FINDINGS/IMPRESSION` (impression upstream: such a report has
no findings), lower-case `Findings` and `LINES AND TUBES` paragraphs. Styles rarer than `STYLE_FLOOR` of their
slot are raised to it (as the rare labels are) so that a demo of a few hundred reports shows them; styles the
comments do not count have assumed weights (`FINDINGS_HEADERS`, `P_LINES_AND_TUBES`).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

from unix.data.mimic import CHEXPERT_LABELS
from unix.data.report_sections import OFFICIAL_HEADERS

# kind -> (probability, the report has a FINDINGS section)
REPORT_KINDS: dict[str, tuple[float, bool]] = {
    "structured": (0.55, True),
    "no_findings": (0.2, False),
    "single_paragraph": (0.1, False),
    "wet_read": (0.08, True),
    "addendum": (0.07, True),
}
WIDTH = 78

# ---- header styles: (header as written, weight = reports using it in MIMIC-CXR) per slot of the report
COUNTED_REPORTS = 227_835  # reports (studies) of MIMIC-CXR: the official parser's counts are out of these
STYLE_FLOOR = 0.01
"""Smallest probability of a style within its slot (rare real styles are raised to it)."""


def _counted(section: str, *headers: str) -> dict[str, float]:
    return {h.upper(): float(OFFICIAL_HEADERS[section][h] or 0) for h in headers}


EXAMINATION_HEADERS = _counted("examination", "examination", "exam", "type of examination")
INDICATION_HEADERS = {**_counted("indication", "indication", "reason for examination", "reason for exam",
                                 "clinical indication"),
                      **_counted("history", "history", "clinical history", "clinical information", "patient history")}
COMPARISON_HEADERS = _counted("comparison", "comparison", "comparisons", "reference exam", "comparison exam",
                              "comparison film")
IMPRESSION_HEADERS = _counted("impression", "impression", "conclusion")
RECOMMENDATION_HEADERS = _counted("recommendations", "recommendation(s)", "recommendations", "recommendation")
# Exam titles the official map makes findings. Only CHEST, TWO VIEWS is counted upstream; each other title is
# assumed as frequent as it. Lower-case "Findings" is not counted upstream; assumed 1 report in 1,000.
_EXAM_TITLE = float(OFFICIAL_HEADERS["findings"]["chest, two views"] or 0)
COMBINED_HEADERS = ("FINDINGS AND IMPRESSION", "FINDINGS/IMPRESSION")
"""Findings headers that the official map makes impression: a report written with one has no findings."""
FINDINGS_HEADERS: dict[str, float] = {
    **_counted("findings", "findings", "chest, two views"),
    "PA AND LATERAL CHEST RADIOGRAPHS": _EXAM_TITLE, "PORTABLE AP CHEST RADIOGRAPH": _EXAM_TITLE,
    "FRONTAL AND LATERAL VIEWS OF THE CHEST": _EXAM_TITLE, "PORTABLE SEMI-UPRIGHT RADIOGRAPH": _EXAM_TITLE,
    **_counted("impression", "findings and impression", "findings/impression"),
    "Findings": COUNTED_REPORTS / 1000,
}
P_RECOMMENDATIONS = sum(RECOMMENDATION_HEADERS.values()) / COUNTED_REPORTS
P_NOTIFICATION = (OFFICIAL_HEADERS["notification"]["notification"] or 0) / COUNTED_REPORTS
P_LINES_AND_TUBES = 0.1
"""Assumed share of reports with devices that list them under LINES AND TUBES (not counted upstream)."""
RECOMMENDATIONS = ["Followup radiograph after treatment is recommended.", "Clinical correlation is recommended.",
                   "Repeat radiograph in ___ weeks is suggested."]
NOTIFICATIONS = ["The findings were discussed with Dr. ___ by Dr. ___ on the telephone on ___ at 4:40 PM.",
                 "Dr. ___ was paged at ___ and the results were communicated."]


def style_choices(weights: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """(styles, probabilities) of one slot: the weights normalised, each raised to at least STYLE_FLOOR."""
    p = np.array(list(weights.values()), dtype=float)
    p = np.maximum(p / p.sum(), STYLE_FLOOR)
    return list(weights), p / p.sum()


def draw_style(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """One header style of a slot."""
    styles, p = style_choices(weights)
    return styles[int(rng.choice(len(styles), p=p))]

ZONE_WORDS = {
    "right upper": "right upper lobe", "right middle": "right middle lobe", "right lower": "right lower lobe",
    "left upper": "left upper lobe", "left lingular": "lingula", "left lower": "left lower lobe",
}
DEVICES = ("endotracheal tube", "enteric tube", "right internal jugular catheter", "left PICC line",
           "pacemaker", "chest tube", "ECG leads")
DEVICE_SENTENCES = {
    "endotracheal tube": "Endotracheal tube terminates about 4 cm above the carina.",
    "enteric tube": "Enteric tube courses below the diaphragm, tip in the stomach.",
    "right internal jugular catheter": "Right internal jugular catheter tip is in the low SVC.",
    "left PICC line": "Left PICC line tip projects over the mid SVC.",
    "pacemaker": "Left chest wall pacemaker with leads in the right atrium and right ventricle.",
    "chest tube": "Right basilar chest tube is in place.",
    "ECG leads": "External ECG leads overlie the chest.",
}


def sample_details(rng: np.random.Generator) -> dict[str, Any]:
    """Where and how large each possible finding is; shared by the report and the rendered images."""
    sides = ("right", "left", "bilateral")
    lower = ("right lower", "left lower", "right middle", "left lingular")
    zones = tuple(ZONE_WORDS)
    cons_zone = str(rng.choice(zones))
    fr_side = str(rng.choice(("right", "left")))
    rib = int(rng.integers(4, 10))
    n_dev = int(rng.integers(1, 4))
    return {
        "Pleural Effusion": {"side": str(rng.choice(sides, p=[0.35, 0.25, 0.4])),
                             "size": str(rng.choice(("small", "moderate", "large"), p=[0.55, 0.35, 0.1]))},
        "Pneumothorax": {"side": str(rng.choice(("right", "left"))), "size": str(rng.choice(("small", "moderate")))},
        "Consolidation": {"zone": cons_zone},
        "Pneumonia": {"zone": cons_zone if rng.random() < 0.7 else str(rng.choice(zones))},
        "Lung Opacity": {"zone": str(rng.choice(zones))},
        "Atelectasis": {"zone": str(rng.choice(lower))},
        "Lung Lesion": {"zone": str(rng.choice(zones)), "kind": str(rng.choice(("nodule", "mass"), p=[0.8, 0.2])),
                        "size_cm": round(float(rng.uniform(0.8, 2.5)), 1), "offset": float(rng.uniform(0.3, 0.6))},
        "Fracture": {"side": fr_side, "rib": rib, "y": -0.75 + 0.12 * (rib - 3),
                     "x": (-1 if fr_side == "right" else 1) * float(rng.uniform(0.55, 0.8))},
        "Pleural Other": {"side": str(rng.choice(sides))},
        "Support Devices": {"devices": sorted(rng.choice(DEVICES, size=n_dev, replace=False).tolist(),
                                              key=DEVICES.index)},
    }


def _ordinal(n: int) -> str:
    return {4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth", 9: "ninth"}[n]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def mention(label: str, state: float, d: dict[str, Any], rng: np.random.Generator) -> str:
    """One sentence stating `label` in `state` (1.0 / 0.0 / -1.0)."""
    pos, neg, unc = state == 1.0, state == 0.0, state == -1.0
    assert pos or neg or unc, f"no sentence for state {state!r}"
    e = d.get(label, {})
    zone = ZONE_WORDS.get(e.get("zone", ""), "")
    side = e.get("side", "")
    if label == "Atelectasis":
        return _pick(rng, [f"Plate-like atelectasis in the {zone}.", f"Linear atelectasis at the {zone}."] if pos else
                     ["No atelectasis."] if neg else [f"Streaky density in the {zone} may represent atelectasis.",
                                                      f"Possible minimal atelectasis in the {zone}."])
    if label == "Cardiomegaly":
        return _pick(rng, ["The heart is enlarged.", "Moderate cardiomegaly.", "Mild cardiomegaly is again seen."]
                     if pos else ["Heart size is normal.", "No cardiomegaly."] if neg else
                     ["Possible mild cardiomegaly.", "Borderline heart size, cannot exclude mild cardiomegaly."])
    if label == "Consolidation":
        return _pick(rng, [f"Focal consolidation in the {zone}.", f"Dense consolidation of the {zone}."] if pos else
                     ["No focal consolidation.", "There is no consolidation."] if neg else
                     [f"Cannot exclude early consolidation in the {zone}."])
    if label == "Edema":
        return _pick(rng, ["Mild pulmonary edema.", "Moderate interstitial pulmonary edema."] if pos else
                     ["No pulmonary edema.", "There is no pulmonary edema."] if neg else
                     ["Possible mild interstitial edema.", "Questionable trace pulmonary edema."])
    if label == "Enlarged Cardiomediastinum":
        return _pick(rng, ["The cardiomediastinal silhouette is widened.", "Widening of the superior mediastinum."]
                     if pos else ["The cardiomediastinal silhouette is within normal limits.",
                                  "Normal mediastinal contours."] if neg else
                     ["Possible mediastinal widening, which may represent technique."])
    if label == "Fracture":
        rib = _ordinal(int(e.get("rib", 6)))
        return _pick(rng, [f"Acute fracture of the {side} {rib} rib.", f"Displaced {side} {rib} rib fracture."]
                     if pos else ["No displaced rib fracture.", "No displaced fracture."] if neg else
                     [f"Possible nondisplaced fracture of the {side} {rib} rib."])
    if label == "Lung Lesion":
        kind, size = e.get("kind", "nodule"), e.get("size_cm", 1.0)
        return _pick(rng, [f"A {size} cm {kind} in the {zone}.", f"There is a {size} cm {kind} in the {zone}."]
                     if pos else ["No suspicious pulmonary nodule or mass."] if neg else
                     [f"Possible {kind} in the {zone}, recommend CT."])
    if label == "Lung Opacity":
        return _pick(rng, [f"Patchy opacity in the {zone}.", f"Hazy opacities at the {zone}."] if pos else
                     ["No focal opacity.", "No new opacities."] if neg else
                     [f"Questionable opacity in the {zone}."])
    if label == "Pleural Effusion":
        size = e.get("size", "small")
        what = "pleural effusions" if side == "bilateral" else "pleural effusion"
        return _pick(rng, [f"{size.capitalize()} {side} {what}.", f"There is a {size} {side} {what}."
                           if side != "bilateral" else f"There are {size} {side} {what}."] if pos else
                     ["No pleural effusion.", "There is no pleural effusion."] if neg else
                     [f"Possible small {side} {what}.",
                      f"Blunting of the {side} costophrenic angle may represent a small effusion."])
    if label == "Pleural Other":
        return _pick(rng, [f"{side.capitalize()} pleural thickening.", f"Stable {side} apical pleural thickening."]
                     if pos else ["No pleural thickening."] if neg else [f"Possible {side} pleural thickening."])
    if label == "Pneumonia":
        return _pick(rng, [f"Findings consistent with {zone} pneumonia.", f"{zone.capitalize()} pneumonia."]
                     if pos else ["No evidence of pneumonia."] if neg else
                     ["Cannot exclude pneumonia.", "This may represent pneumonia in the appropriate clinical setting."])
    if label == "Pneumothorax":
        size = e.get("size", "small")
        return _pick(rng, [f"{size.capitalize()} {side} apical pneumothorax.",
                           f"There is a {size} {side} pneumothorax."]
                     if pos else ["No pneumothorax.", "There is no pneumothorax."] if neg else
                     [f"Possible tiny {side} apical pneumothorax."])
    if label == "Support Devices":
        if pos:
            return " ".join(DEVICE_SENTENCES[dev] for dev in e.get("devices", ["ECG leads"]))
        return "Possible retained catheter fragment." if unc else "No tubes or catheters are seen."
    if label == "No Finding":
        assert pos, "No Finding is either 1.0 or not mentioned"
        return _pick(rng, ["No acute cardiopulmonary process.", "No acute cardiopulmonary abnormality."])
    raise KeyError(label)


NEGATION_NAMES = {
    "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "focal consolidation",
    "Edema": "pulmonary edema", "Fracture": "displaced fracture", "Lung Lesion": "suspicious nodule",
    "Lung Opacity": "focal opacity", "Pleural Effusion": "pleural effusion", "Pleural Other": "pleural thickening",
    "Pneumonia": "pneumonia", "Pneumothorax": "pneumothorax",
}
FILLER = [
    "The lungs are well expanded.", "Lung volumes are low.", "Hilar contours are unremarkable.",
    "Degenerative changes of the thoracic spine.", "The imaged upper abdomen is unremarkable.",
    "Surgical clips in the right upper quadrant.",
]
INDICATIONS = [
    "___-year-old woman with shortness of breath.", "___M with cough and fever.  // ?acute process",
    "___F with chest pain.  Evaluate for interval change.", "History: ___M with dyspnea on exertion",
    "___-year-old man status post fall.", "Preoperative evaluation.", "___F with hypoxia.  // interval change?",
]
COMPARISONS = ["None.", "___.", "Chest radiograph from ___.", "Prior study of ___ at 08:14.", "___ and ___."]
TECHNIQUES = {"AP": ["Portable AP chest radiograph", "Upright AP view of the chest"],
              "PA": ["Chest PA and lateral", "PA and lateral views of the chest"]}


def _wrap(text: str, indent: str = " ") -> list[str]:
    return textwrap.wrap(text, width=WIDTH, break_long_words=False, break_on_hyphens=False,
                         initial_indent=indent, subsequent_indent=indent)


def _section(name: str, text: str, rng: np.random.Generator, block: bool) -> list[str]:
    """A section as lines: 'NAME:  text' inline, or 'NAME:' then a blank line and the paragraph."""
    if block:
        return [f" {name}:", " ", *_wrap(text)]
    return _wrap(f"{name}:  {text}")


def compose_report(labels: dict[str, float], details: dict[str, Any], kind: str, rng: np.random.Generator,
                   examination: str, findings_header: str = "FINDINGS") -> str:
    """The text of one report of `kind` (see REPORT_KINDS) stating `labels` (CheXpert name -> value).

    `findings_header`: how the findings section is headed (a key of FINDINGS_HEADERS) in kinds that have one;
    with one of COMBINED_HEADERS the findings and impression are one section under it.
    """
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {list(REPORT_KINDS)}")
    if findings_header not in FINDINGS_HEADERS:
        raise ValueError(f"unknown findings header {findings_header!r}; known: {list(FINDINGS_HEADERS)}")
    stated = {k: v for k, v in labels.items() if not (isinstance(v, float) and math.isnan(v))}
    positives = [k for k in CHEXPERT_LABELS if stated.get(k) in (1.0, -1.0) and k != "No Finding"]
    negatives = [k for k in CHEXPERT_LABELS if stated.get(k) == 0.0]

    # Negations: alone, in a "No A, B or C." list, or after a positive with "without".
    neg_sentences, without = [], None
    rest = list(negatives)
    rng.shuffle(rest)
    if positives and rest and rest[0] in NEGATION_NAMES and rng.random() < 0.35:
        without = rest.pop(0)
    listable = [k for k in rest if k in NEGATION_NAMES]
    if len(listable) >= 2 and rng.random() < 0.5:
        group = listable[: int(rng.integers(2, min(4, len(listable)) + 1))]
        names = [NEGATION_NAMES[k] for k in group]
        neg_sentences.append(f"No {', '.join(names[:-1])} or {names[-1]}.")
        rest = [k for k in rest if k not in group]
    neg_sentences += [mention(k, 0.0, details, rng) for k in rest]

    pos_sentences = [mention(k, stated[k], details, rng) for k in positives]
    if without is not None:
        first = pos_sentences[0]
        if stated[positives[0]] == 1.0 and positives[0] != "Support Devices":
            pos_sentences[0] = first[:-1] + f" without {NEGATION_NAMES[without]}."
        else:
            neg_sentences.append(mention(without, 0.0, details, rng))
    findings = pos_sentences + neg_sentences
    if rng.random() < 0.6:
        findings.insert(int(rng.integers(len(findings) + 1)), _pick(rng, FILLER))
    if not findings:
        findings = [_pick(rng, FILLER)]

    if stated.get("No Finding") == 1.0:
        impression = [mention("No Finding", 1.0, details, rng)]
        if stated.get("Support Devices") == 1.0:
            impression.insert(0, mention("Support Devices", 1.0, details, rng))
    else:
        impression = [mention(k, stated[k], details, rng) for k in positives] or neg_sentences[:1] or \
            [_pick(rng, FILLER)]

    if kind == "single_paragraph":
        intro = _pick(rng, [f"{examination}.  Comparison: ___.  ", "Chest radiograph.  ", ""])
        closing = [mention("No Finding", 1.0, details, rng)] if stated.get("No Finding") == 1.0 else []
        body = intro + "  ".join(findings + closing)
        return "\n".join([" " * 33 + "FINAL REPORT", *_wrap(body)]) + "\n"

    pre: list[list[str]] = []
    if rng.random() < 0.75:
        pre.append(_section(draw_style(rng, EXAMINATION_HEADERS), examination, rng, False))
    if rng.random() < 0.85:
        pre.append(_section(draw_style(rng, INDICATION_HEADERS), _pick(rng, INDICATIONS), rng, False))
    if rng.random() < 0.5:
        pre.append(_section("TECHNIQUE", _pick(rng, TECHNIQUES["AP" if "AP)" in examination else "PA"]), rng, False))
    if rng.random() < 0.8:
        pre.append(_section(draw_style(rng, COMPARISON_HEADERS), _pick(rng, COMPARISONS), rng, False))
    if len(pre) > 1 and rng.random() < 0.2:
        rng.shuffle(pre)
    block = bool(rng.random() < 0.7)
    main: list[list[str]] = []
    impression_header = draw_style(rng, IMPRESSION_HEADERS)
    # No FINDINGS section: one section carries every mention.
    everything = pos_sentences + neg_sentences if stated.get("No Finding") != 1.0 else impression + neg_sentences
    if kind == "no_findings":
        main.append(_section(impression_header, "  ".join(everything), rng, block))
    elif findings_header in COMBINED_HEADERS:
        main.append(_section(findings_header, "  ".join(everything), rng, block))
    else:
        devices = mention("Support Devices", 1.0, details, rng) if stated.get("Support Devices") == 1.0 else ""
        rest = [f for f in findings if f != devices]
        if devices and rest and devices in findings and rng.random() < P_LINES_AND_TUBES:
            main.append(_section(findings_header, "  ".join(rest), rng, block)
                        + [" ", *_section("LINES AND TUBES", devices, rng, False)])
        else:
            main.append(_section(findings_header, "  ".join(findings), rng, block))
        main.append(_section(impression_header, "  ".join(impression), rng, block))
        if rng.random() < 0.05:
            main.reverse()
    if rng.random() < P_RECOMMENDATIONS:
        main.append(_section(draw_style(rng, RECOMMENDATION_HEADERS), _pick(rng, RECOMMENDATIONS), rng, False))
    if rng.random() < P_NOTIFICATION:
        main.append(_section("NOTIFICATION", _pick(rng, NOTIFICATIONS), rng, False))

    lines: list[str] = []
    if kind == "wet_read":
        lines += [f" WET READ: ___ ___ ___ {int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d} "
                  f"{_pick(rng, ['AM', 'PM'])}", *_wrap("  ".join(impression), indent="  "), " " + "_" * 77]
    lines.append(" " * 33 + "FINAL REPORT")
    for sec in pre + main:
        lines += [*sec, " "]
    if kind == "addendum":
        lines += _wrap("ADDENDUM:  The study was reviewed with Dr. ___ by Dr. ___ by telephone on ___ at "
                       f"{int(rng.integers(1, 12))}:{int(rng.integers(0, 60)):02d} pm, ___ minutes after review.")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"

"""Label-drift audit: cleaning should remove noise, not findings.

The raw and the cleaned text of every report are labelled with the project's CheXpert-style labeler
(`unix.labels.label_reports`, 14 observations, 1 / 0 / -1 / NaN); a report whose labels differ is
listed, one row per changed observation. Reports whose cleaning failed keep their raw text and cannot
drift; they are counted apart.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from unix.data.mimic import CHEXPERT_LABELS

LabelFn = Callable[[Sequence[str]], np.ndarray]
DRIFT_COLUMNS = ["report_id", "label", "raw_value", "cleaned_value"]


def default_labeler(name: str = "rules", **kwargs: Any) -> LabelFn:
    """The project's report labeler (`unix.labels.label_reports`; kwargs such as the CheXbert paths)."""
    from unix.labels import label_reports

    return lambda texts: label_reports(list(texts), labeler=name, **kwargs)


def _fmt(value: float) -> str:
    return "not mentioned" if np.isnan(value) else f"{value:g}"


def label_drift(table: pd.DataFrame, label_fn: LabelFn) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Compare labels of raw_text and cleaned_text for the cleaned rows of `table`.

    Returns (drift table with DRIFT_COLUMNS, summary dict with counts, the drift rate and per-label counts).
    """
    cleaned = table[table["status"] == "cleaned"]
    raw_labels = np.asarray(label_fn(cleaned["raw_text"].tolist()), dtype=float).reshape(len(cleaned), -1)
    new_labels = np.asarray(label_fn(cleaned["cleaned_text"].tolist()), dtype=float).reshape(len(cleaned), -1)
    if raw_labels.shape[1] != len(CHEXPERT_LABELS):
        raise ValueError(f"the labeler returned {raw_labels.shape[1]} columns; expected the 14 CheXpert labels")
    same = (raw_labels == new_labels) | (np.isnan(raw_labels) & np.isnan(new_labels))
    rows = []
    ids = cleaned["report_id"].tolist()
    for i, j in zip(*np.nonzero(~same)):
        rows.append({"report_id": ids[i], "label": CHEXPERT_LABELS[j],
                     "raw_value": _fmt(raw_labels[i, j]), "cleaned_value": _fmt(new_labels[i, j])})
    drift = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    changed_reports = int((~same).any(axis=1).sum())
    summary = {
        "reports": int(len(table)),
        "compared": int(len(cleaned)),
        "not_compared_failed": int(len(table) - len(cleaned)),
        "reports_with_changed_labels": changed_reports,
        "drift_rate": changed_reports / len(cleaned) if len(cleaned) else 0.0,
        "changed_labels": {CHEXPERT_LABELS[j]: int((~same[:, j]).sum()) for j in range(len(CHEXPERT_LABELS))
                           if (~same[:, j]).any()},
    }
    return drift, summary

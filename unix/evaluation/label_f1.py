"""CheXbert F1 of generated reports against references, as UniX's ``eval/und_metrics`` computes it.

Inputs are (N, 14) label arrays in the MIMIC-CXR chexpert CSV convention (columns in
``unix.data.mimic.CHEXPERT_LABELS`` order): 1.0 positive, 0.0 negative, -1.0 uncertain, NaN not mentioned.
Both the references and the generated reports are labelled by the same labeler (``label_reports``).

* uncertain as negative: a finding counts as present when its label is 1;
* uncertain as positive: when its label is 1 or -1;
* per finding, F1 = TP / (TP + (FP + FN) / 2 + 1e-10) (so a finding never present in either set scores 0,
  as in UniX); macro = the mean over findings; micro = the same formula on TP/FP/FN pooled over findings;
* 14 = all findings, 5 = Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion.

Values are fractions in [0, 1]; the paper's Table 2 prints them x100.
"""

from __future__ import annotations

import numpy as np

from unix.data.mimic import CHEXPERT_5, CHEXPERT_LABELS

# paper_tables.yaml order: micro14, micro5, macro14, macro5 per setting
TABLE2_COLUMNS = [f"{avg}_f1_{n}_uncertain_{mode}" for mode in ("neg", "pos") for avg, n in
                  (("micro", 14), ("micro", 5), ("macro", 14), ("macro", 5))]
_EPS = 1e-10
_FIVE = [CHEXPERT_LABELS.index(name) for name in CHEXPERT_5]


def check_labels(y: np.ndarray, name: str) -> np.ndarray:
    """A float (N, 14) array with only 1, 0, -1 and NaN; anything else raises ValueError naming the problem."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(CHEXPERT_LABELS):
        raise ValueError(f"{name} must have shape (N, 14) in CHEXPERT_LABELS column order, got {arr.shape}")
    bad = ~(np.isnan(arr) | np.isin(arr, (1.0, 0.0, -1.0)))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name}[{row}, {col}] ({CHEXPERT_LABELS[col]}) is {arr[row, col]!r}; labels must be "
            "1.0 (positive), 0.0 (negative), -1.0 (uncertain) or NaN (not mentioned)"
        )
    return arr


def binarize(y: np.ndarray, uncertain: str) -> np.ndarray:
    """Presence matrix: label 1 (``uncertain="negative"``) or label 1 or -1 (``uncertain="positive"``)."""
    if uncertain == "negative":
        return y == 1.0
    if uncertain == "positive":
        return (y == 1.0) | (y == -1.0)
    raise ValueError(f"uncertain={uncertain!r}; use 'negative' or 'positive'")


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return tp / (tp + 0.5 * (fp + fn) + _EPS)


def per_finding_f1(y_true: np.ndarray, y_pred: np.ndarray, uncertain: str) -> dict[str, float]:
    """F1 of each of the 14 findings (name -> fraction)."""
    t = binarize(check_labels(y_true, "y_true"), uncertain)
    p = binarize(check_labels(y_pred, "y_pred"), uncertain)
    f1 = _f1((t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0))
    return dict(zip(CHEXPERT_LABELS, map(float, f1)))


def chexbert_f1(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The 8 columns of the paper's Table 2 (names as in paper_tables.yaml), as fractions in [0, 1]."""
    yt, yp = check_labels(y_true, "y_true"), check_labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} must have the same shape (one row per report)")
    out: dict[str, float] = {}
    for mode, uncertain in (("neg", "negative"), ("pos", "positive")):
        t, p = binarize(yt, uncertain), binarize(yp, uncertain)
        tp, fp, fn = (t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0)
        for n, cols in ((14, slice(None)), (5, _FIVE)):
            out[f"micro_f1_{n}_uncertain_{mode}"] = float(_f1(tp[cols].sum(), fp[cols].sum(), fn[cols].sum()))
            out[f"macro_f1_{n}_uncertain_{mode}"] = float(_f1(tp[cols], fp[cols], fn[cols]).mean())
    return {name: out[name] for name in TABLE2_COLUMNS}

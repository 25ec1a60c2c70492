"""LLaVA-Rad annotation CSVs as the rows of the generation split (CheXGenBench prompts): their table-level rules."""

from __future__ import annotations

import ast
from typing import Sequence

import numpy as np
import pandas as pd

from unix.data.mimic import CHEXPERT_LABELS
from unix.data.split_tables import (
    ACCOUNTING_COLUMNS,
    DUPLICATE_ID,
    EMPTY_PROMPT,
    INVALID_LABELS,
    INVALID_PATH,
    LATERAL_VIEW,
    NON_FRONTAL_VIEW,
    SPLIT_NOT_USED,
    UNKNOWN_VIEW,
    classify_views,
    read_csv,
    to_id,
)

# An image path relative to the MIMIC-CXR-JPG root: files/pXX/pSUBJECT/sSTUDY/DICOM.jpg
_IMAGE_PATH_RE = r"(?:^|/)files/p\d+/p(?P<subject_id>\d+)/s(?P<study_id>\d+)/(?P<dicom_id>[^/]+)\.jpg$"


LLAVA_RAD_COLUMNS = ["path", "annotated_prompt", "chexpert_labels", "view"]


def parse_label_dict(text: str) -> dict[str, float] | None:
    """A LLaVA-Rad `chexpert_labels` cell ("{'Atelectasis': 1.0, 'Edema': None, ...}") -> 14 floats.

    None for a cell that is not such a dict; missing findings and None values are NaN.
    """
    try:
        value = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    out = {}
    for name in CHEXPERT_LABELS:
        v = value.get(name)
        if v is None:
            out[name] = float("nan")
        elif isinstance(v, (int, float)) and float(v) in (1.0, 0.0, -1.0):
            out[name] = float(v)
        else:
            return None
    return out


def llava_rad_candidates(files: dict[str, str], splits: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the LLaVA-Rad annotation CSVs (train file, then test file) with table-level reasons."""
    frames = []
    for split_name in ("train", "test"):
        part = read_csv(files[split_name], LLAVA_RAD_COLUMNS, f"LLaVA-Rad {split_name} annotations "
                        f"(config data.llava_rad_annotations.{split_name})")
        part["split"] = split_name
        frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    df["row"] = np.arange(len(df))
    parts = df["path"].str.strip().str.extract(_IMAGE_PATH_RE)
    df["dicom_id"] = parts["dicom_id"].fillna("")
    df["subject_id"] = to_id(parts["subject_id"].fillna(""))
    df["study_id"] = to_id(parts["study_id"].fillna(""))
    df["image_path"] = df["path"].str.strip().str.extract(r"(files/.*)$")[0].fillna("")
    df["view_position"] = df["view"].str.strip()
    df["prompt"] = df["annotated_prompt"].str.strip()
    labels = [parse_label_dict(t) for t in df["chexpert_labels"]]
    bad_labels = pd.Series([lab is None for lab in labels], index=df.index)
    nan_row = dict.fromkeys(CHEXPERT_LABELS, float("nan"))
    labels_df = pd.DataFrame([lab if lab is not None else nan_row for lab in labels], index=df.index)

    invalid_path = df["dicom_id"] == ""
    dup = df["dicom_id"].duplicated(keep="first") & ~invalid_path
    frontal, view_reason = classify_views(df["view_position"])
    unused = ~df["split"].isin(list(splits))
    conditions = [invalid_path, dup, unused, ~frontal, df["prompt"] == "", bad_labels]
    reasons = [INVALID_PATH, DUPLICATE_ID, SPLIT_NOT_USED, view_reason, EMPTY_PROMPT, INVALID_LABELS]
    df["reason"] = np.select([c.to_numpy(dtype=bool) for c in conditions], reasons, default="")
    details = {
        INVALID_PATH: "path=" + df["path"] + " is not files/pXX/pSUBJECT/sSTUDY/DICOM.jpg",
        DUPLICATE_ID: pd.Series("dicom_id already on an earlier annotation row", index=df.index),
        SPLIT_NOT_USED: "split=" + df["split"] + f"; this selection uses {'/'.join(splits)}",
        EMPTY_PROMPT: pd.Series("annotated_prompt is empty", index=df.index),
        INVALID_LABELS: "chexpert_labels=" + df["chexpert_labels"].str.slice(0, 80) + " is not a dict of 14 labels",
    }
    detail = pd.Series("", index=df.index, dtype="string")
    for reason, text in details.items():
        detail = detail.mask(df["reason"] == reason, text)
    detail = detail.mask(df["reason"].isin([LATERAL_VIEW, NON_FRONTAL_VIEW, UNKNOWN_VIEW]),
                         "view=" + df["view_position"].replace("", "(empty)"))
    df["detail"] = detail.fillna("")
    cols = [*ACCOUNTING_COLUMNS[:6], "reason", "detail", "image_path", "prompt"]
    return df[cols], labels_df

"""The table logic of the split selection: reading the MIMIC-CXR-JPG CSVs, the table-level exclusion rules,
labels, prompt deduplication and the accounting. Vectorised pandas/pyarrow over the metadata, no file access:
about 1 s of one core per selection on the 377,110 rows of MIMIC-CXR-JPG (benchmarks/bench_split_selection.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from unix.data.mimic import CHEXPERT_LABELS, FRONTAL_VIEWS, KNOWN_VIEWS, SPLITS

log = logging.getLogger(__name__)

# Exclusion reasons, in the order they are tested (a row gets the first that applies).
DUPLICATE_ID = "duplicate_id"
INVALID_ID = "invalid_id"
NO_METADATA = "no_metadata"
NOT_IN_SPLIT = "not_in_split"
ID_MISMATCH = "id_mismatch"
UNKNOWN_SPLIT = "unknown_split"
SPLIT_NOT_USED = "split_not_used"
INVALID_PATH = "invalid_path"
LATERAL_VIEW = "lateral_view"
NON_FRONTAL_VIEW = "non_frontal_view"
UNKNOWN_VIEW = "unknown_view"
# missing_image, corrupt_image come from unix.data.file_checks
# no_report, empty_report, report_not_utf8 come from unix.data.reports.read_report
EMPTY_FINDINGS = "empty_findings"
EMPTY_PROMPT = "empty_prompt"
INVALID_LABELS = "invalid_labels"
DUPLICATE_PROMPT = "duplicate_prompt"

KEPT, EXCLUDED = "kept", "excluded"
LATERAL_VIEWS = ("LATERAL", "LL", "XTABLE LATERAL")
ACCOUNTING_COLUMNS = ["row", "dicom_id", "subject_id", "study_id", "split", "view_position", "status",
                      "reason", "detail"]


# ----------------------------------------------------------------------------------------------
# Reading the CSVs


def read_csv(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read the `columns` of a (gzipped) CSV as strings ("" for empty cells).

    Raises ValueError naming the file and the missing columns when the header lacks one.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{what} {path} does not exist; check config data.mimic_cxr_jpg (or run the demo "
                         f"with it empty to generate the synthetic tree)")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except Exception as err:  # pandas raises several types for unreadable files
        raise ValueError(f"{what} {path} cannot be read as CSV ({err}); replace it with the released file") from err
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{what} {path} lacks column(s) {missing} (has {list(header)}); "
                         f"it must be the file from the release")
    # pyarrow's reader is about twice as fast as pandas' C parser on the gzipped MIMIC-CXR CSVs.
    try:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            include_columns=list(columns), column_types={c: pa.string() for c in columns},
            strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{what} {path} is not a well-formed CSV ({err}); replace it with the released file") from err
    return table.to_pandas()[list(columns)]


def to_id(series: pd.Series) -> pd.Series:
    """String ids -> nullable Int64 (NA where the cell is not a non-negative integer).

    pyarrow compute instead of pd.to_numeric: about 5x faster on the 377,110 ids of MIMIC-CXR.
    """
    arr = pc.utf8_trim_whitespace(pa.array(series.astype("string").fillna(""), type=pa.string()))
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^[0-9]{1,18}$"), False)
    values = pc.cast(pc.if_else(ok, arr, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    mask = ~ok.to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(values, mask), index=series.index)


# ----------------------------------------------------------------------------------------------
# Table logic (vectorised)


def classify_views(views: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(is_frontal, reason) per ViewPosition: lateral_view, non_frontal_view, unknown_view or ""."""
    v = views.fillna("").str.strip().str.upper()
    frontal = v.isin(FRONTAL_VIEWS)
    reason = np.select(
        [frontal, v.isin(LATERAL_VIEWS), v.isin(KNOWN_VIEWS) & (v != "")],
        ["", LATERAL_VIEW, NON_FRONTAL_VIEW],
        default=UNKNOWN_VIEW,
    )
    return frontal, pd.Series(reason, index=views.index)


def image_paths(subject_id: pd.Series, study_id: pd.Series, dicom_id: pd.Series) -> pd.Series:
    """files/pXX/pSUBJECT/sSTUDY/DICOM.jpg for each row (vectorised `mimic.image_relpath`)."""
    subj = subject_id.astype("string")
    return "files/p" + subj.str[:2] + "/p" + subj + "/s" + study_id.astype("string") + "/" + dicom_id + ".jpg"


def report_paths(subject_id: pd.Series, study_id: pd.Series) -> pd.Series:
    """files/pXX/pSUBJECT/sSTUDY.txt for each row (vectorised `mimic.report_relpath`)."""
    subj = subject_id.astype("string")
    return "files/p" + subj.str[:2] + "/p" + subj + "/s" + study_id.astype("string") + ".txt"


def candidate_images(split: pd.DataFrame, metadata: pd.DataFrame, splits: Sequence[str]) -> pd.DataFrame:
    """One row per input row (metadata rows, then split rows without metadata) with the table-level reason.

    `split` has dicom_id, study_id, subject_id, split; `metadata` has dicom_id, subject_id, study_id,
    ViewPosition (all strings as read by `read_csv`). The result has the accounting columns, with
    reason "" for rows that pass every table-level rule, plus image_path and report_path.

    The dicom_ids of both tables are factorised once and joined through integer codes (a pandas merge
    or `isin` on 377,110 arrow strings costs seconds).
    """
    n_meta = len(metadata)
    meta_dicom = metadata["dicom_id"].astype("string").str.strip().reset_index(drop=True)
    split_dicom = split["dicom_id"].astype("string").str.strip().reset_index(drop=True)
    codes, uniques = pd.factorize(pd.concat([meta_dicom, split_dicom], ignore_index=True))
    meta_code, split_code = codes[:n_meta], codes[n_meta:]
    # First split row of each dicom_id (later repeats are ignored, with a warning).
    first_split = np.full(len(uniques), -1, dtype=np.int64)
    first_split[split_code[::-1]] = np.arange(len(split_code))[::-1]
    n_dup_split = int(len(split_code) - (first_split >= 0).sum())
    if n_dup_split:
        log.warning("split CSV: %d repeated dicom_id rows ignored (the first row of each is used)", n_dup_split)
    first_meta = np.full(len(uniques), -1, dtype=np.int64)
    first_meta[meta_code[::-1]] = np.arange(n_meta)[::-1]

    sp_row = first_split[meta_code]
    in_split = pd.Series(sp_row >= 0)
    take = np.where(sp_row >= 0, sp_row, 0)
    sp = split.reset_index(drop=True)
    df = pd.DataFrame({
        "row": np.arange(n_meta),
        "dicom_id": meta_dicom,
        "subject_id": to_id(metadata["subject_id"].reset_index(drop=True)),
        "study_id": to_id(metadata["study_id"].reset_index(drop=True)),
        "split": sp["split"].astype("string").str.strip().str.lower().take(take).reset_index(drop=True)
        .where(in_split, ""),
        "view_position": metadata["ViewPosition"].astype("string").fillna("").str.strip().reset_index(drop=True),
    })
    split_subject = to_id(sp["subject_id"]).take(take).reset_index(drop=True)
    split_study = to_id(sp["study_id"]).take(take).reset_index(drop=True)

    first_row = pd.Series(first_meta[meta_code])
    dup = pd.Series(first_row.to_numpy() != np.arange(n_meta)) & (df["dicom_id"] != "")
    bad_id = (df["dicom_id"] == "") | df["subject_id"].isna() | df["study_id"].isna()
    mismatch = in_split & ((split_subject != df["subject_id"]) | (split_study != df["study_id"])).fillna(True)
    known_split = df["split"].isin(SPLITS)
    unknown_split = in_split & ~known_split
    unused_split = in_split & known_split & ~df["split"].isin(list(splits))
    frontal, view_reason = classify_views(df["view_position"])

    conditions = [dup, bad_id, ~in_split, mismatch, unknown_split, unused_split, ~frontal]
    reasons = [DUPLICATE_ID, INVALID_ID, NOT_IN_SPLIT, ID_MISMATCH, UNKNOWN_SPLIT, SPLIT_NOT_USED, view_reason]
    df["reason"] = np.select([c.to_numpy(dtype=bool) for c in conditions], reasons, default="")
    # Detail strings are built for the excluded rows of each reason only.
    r = df["reason"].to_numpy()
    detail = np.full(n_meta, "", dtype=object)
    raw = metadata.reset_index(drop=True)
    view_text = df["view_position"].replace("", "(empty)")
    builders: list[tuple[Any, Callable[[np.ndarray], pd.Series]]] = [
        (r == DUPLICATE_ID, lambda m: "dicom_id also on metadata row " + first_row[m].astype("string")),
        (r == INVALID_ID, lambda m: "subject_id=" + raw["subject_id"][m].astype("string") + " study_id="
         + raw["study_id"][m].astype("string") + " dicom_id=" + df["dicom_id"][m]),
        (r == NOT_IN_SPLIT, lambda m: pd.Series("dicom_id not in the split CSV", index=df.index[m])),
        (r == ID_MISMATCH, lambda m: "split CSV has subject " + split_subject[m].astype("string").fillna("?")
         + " study " + split_study[m].astype("string").fillna("?")),
        ((r == UNKNOWN_SPLIT) | (r == SPLIT_NOT_USED),
         lambda m: "split=" + df["split"][m] + f"; this selection uses {'/'.join(splits)}"),
        ((r == LATERAL_VIEW) | (r == NON_FRONTAL_VIEW) | (r == UNKNOWN_VIEW),
         lambda m: "ViewPosition=" + view_text[m]),
    ]
    for mask, build in builders:
        if mask.any():
            detail[mask] = build(mask).to_numpy(dtype=object)
    df["detail"] = detail

    # Split rows with no metadata row are input rows too (they can never be used: no view position).
    orphan_rows = np.flatnonzero((first_meta[split_code] < 0) & (first_split[split_code] == np.arange(len(split_code))))
    if len(orphan_rows):
        orphan = sp.iloc[orphan_rows]
        extra = pd.DataFrame({
            "row": np.arange(n_meta, n_meta + len(orphan)),
            "dicom_id": split_dicom.iloc[orphan_rows].to_numpy(),
            "subject_id": to_id(orphan["subject_id"]).to_numpy(),
            "study_id": to_id(orphan["study_id"]).to_numpy(),
            "split": orphan["split"].astype("string").str.strip().str.lower().to_numpy(),
            "view_position": "",
            "reason": NO_METADATA,
            "detail": "dicom_id in the split CSV but not in the metadata CSV",
        })
        extra["subject_id"] = extra["subject_id"].astype("Int64")
        extra["study_id"] = extra["study_id"].astype("Int64")
        df = pd.concat([df, extra], ignore_index=True)

    # Paths only for the rows still in the running (the others are never opened).
    live = (df["reason"] == "").to_numpy()
    df["image_path"] = ""
    df["report_path"] = ""
    if live.any():
        df.loc[live, "image_path"] = image_paths(df["subject_id"][live], df["study_id"][live], df["dicom_id"][live])
        df.loc[live, "report_path"] = report_paths(df["subject_id"][live], df["study_id"][live])
    return df[[*ACCOUNTING_COLUMNS[:6], "reason", "detail", "image_path", "report_path"]]


def _to_label(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """CheXpert cells ("1.0", "0", "-1.0", "") -> float64 with NaN for empty; also the mask of bad cells."""
    arr = pc.utf8_trim_whitespace(pa.array(series.astype("string").fillna(""), type=pa.string()))
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^-?[01](\.0*)?$"), False)
    empty = pc.equal(arr, "").to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(ok, arr, "nan"), pa.float64()).to_numpy(zero_copy_only=False).copy()
    values[values == -0.0] = 0.0  # "-0" is a negative, not a distinct value
    ok_np = ok.to_numpy(zero_copy_only=False)
    return values, ~ok_np & ~empty


def attach_labels(table: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Left-join the 14 study-level CheXpert labels (float 1/0/-1/NaN) on (subject_id, study_id).

    Studies without a label row get NaN labels (logged); unparseable label cells become NaN (logged).
    """
    lab = labels.copy()
    lab["subject_id"] = to_id(lab["subject_id"])
    lab["study_id"] = to_id(lab["study_id"])
    lab = lab.dropna(subset=["subject_id", "study_id"]).drop_duplicates(["subject_id", "study_id"], keep="first")
    lab = lab.astype({"subject_id": "int64", "study_id": "int64"})
    for name in CHEXPERT_LABELS:
        values, bad = _to_label(lab[name])
        if bad.any():
            log.warning("CheXpert CSV column %r: %d cells are not 1/0/-1/empty and count as not mentioned "
                        "(e.g. %r)", name, int(bad.sum()), lab[name][bad].iloc[0])
        lab[name] = values
    out = table.merge(lab, on=["subject_id", "study_id"], how="left", indicator="_labels")
    n_missing = int((out["_labels"] == "left_only").sum())
    if n_missing:
        log.warning("%d kept rows have no CheXpert label row; their 14 labels are NaN (not mentioned)", n_missing)
    return out.drop(columns="_labels")


def dedup_prompts(prompts: pd.Series, is_test: pd.Series, keys: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(is_duplicate, detail): test rows whose prompt appeared on an earlier test row (first kept)."""
    test_prompts = prompts.where(is_test)
    dup = is_test & test_prompts.duplicated(keep="first") & test_prompts.notna()
    first_key = keys.groupby(test_prompts, sort=False).transform("first")
    detail = ("same prompt as test dicom_id " + first_key.astype("string")).where(dup, "")
    return dup, detail


# ----------------------------------------------------------------------------------------------
# Accounting


def finish_accounting(df: pd.DataFrame) -> pd.DataFrame:
    """The accounting table: one row per input row, status kept|excluded, reason and detail."""
    acc = df[ACCOUNTING_COLUMNS[:6]].copy()
    acc["status"] = np.where(df["reason"] == "", KEPT, EXCLUDED)
    acc["reason"] = df["reason"].astype("string")
    acc["detail"] = df["detail"].astype("string").fillna("")
    assert acc["reason"].notna().all(), "every input row must have a reason or be kept"
    return acc[ACCOUNTING_COLUMNS].reset_index(drop=True)


def log_exclusions(accounting: pd.DataFrame, what: str, n_examples: int = 3) -> None:
    """Log each exclusion reason once, with its count and a few example rows."""
    excluded = accounting[accounting["status"] == EXCLUDED]
    kept = int((accounting["status"] == KEPT).sum())
    log.info("%s: %d input rows, %d kept, %d excluded", what, len(accounting), kept, len(excluded))
    for reason, group in excluded.groupby("reason", sort=True):
        examples = "; ".join(f"{d} ({x})" if x else str(d)
                             for d, x in zip(group["dicom_id"].head(n_examples), group["detail"].head(n_examples)))
        log.warning("%s: excluded %d rows: %s, e.g. %s", what, len(group), reason, examples)
    if kept == 0:
        counts = excluded["reason"].value_counts()
        raise ValueError(
            f"{what}: no input row was kept ({len(accounting)} rows; "
            + ", ".join(f"{r}: {n}" for r, n in counts.items())
            + "). When most are missing_image or no_report, config data.mimic_cxr_jpg / data.mimic_cxr_reports "
            "do not point at the roots holding files/pXX/...; the log lists examples of each reason")

"""Selecting the understanding and generation splits from MIMIC-CXR, with a full accounting.

Every input row ends up either kept or excluded with a reason and a detail string; nothing is
dropped silently and a bad row never stops the run (a missing column or unreadable CSV does, with
a message naming the file and the fix).

The work is in two kinds of steps, kept apart so that each can be measured and parallelised:
  - table logic (`unix.data.split_tables`: `candidate_images`, `attach_labels`, `dedup_prompts`, the
    accounting; `unix.data.llava_rad` for the annotation CSVs): vectorised pandas over the metadata CSVs,
    no file access; about 1 s of one core per selection on the 377,110 rows of MIMIC-CXR-JPG
    (benchmarks/bench_split_selection.py);
  - per-file checks (`unix.data.file_checks`): each candidate image is checked once for both selections
    (`select_image_check`, rule check_images, results/data/image_check.parquet) and each study's report is
    read and sectioned (`unix.data.report_sections`, config data.reports) by each selection.

Accounting (`accounting.csv`): one row per input row with row, dicom_id, subject_id, study_id, split,
view_position, status (kept|excluded), reason, detail. `row` is the 0-based data row of the metadata
CSV (split-CSV rows without a metadata row follow, reason no_metadata); with LLaVA-Rad annotations it
is the row of the train CSV, then of the test CSV. A row gets the first reason that applies, in the
order of the constants in `unix.data.split_tables`. Selecting nothing at all is an error (it means the
roots are wrong).

Selection rules (the README compares them with the paper's counts):
  understanding: PA/AP views on the official train/validate/test split, paired with the study's
    report, which must be readable and (by default) have a findings section, as the official MIMIC-CXR
    section parser finds it (`unix.data.report_sections`: `CHEST, TWO VIEWS:` counts, `FINDINGS AND
    IMPRESSION:` does not); CheXpert labels of the study attached.
  generation (CheXGenBench): PA/AP views on train and test (validate is not used: CheXGenBench
    has train/test only); prompt = LLaVA-Rad `annotated_prompt` when the annotation CSVs are given,
    else the report's FINDINGS; the test set deduplicated by prompt (first row kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from unix.data.file_checks import (  # noqa: F401  (re-exported: the per-file checks and their reasons)
    CORRUPT_IMAGE,
    IMAGE_CHECK_MODES,
    MISSING_IMAGE,
    FileChecks,
    check_files,
    check_image,
    image_check_table,
    load_report,
)
from unix.data.llava_rad import LLAVA_RAD_COLUMNS, llava_rad_candidates, parse_label_dict  # noqa: F401
from unix.data.mimic import CHEXPERT_LABELS, SPLITS
from unix.data.reports import SectionOptions
from unix.data.split_tables import (  # noqa: F401  (re-exported: the reasons and the table logic)
    ACCOUNTING_COLUMNS,
    DUPLICATE_ID,
    DUPLICATE_PROMPT,
    EMPTY_FINDINGS,
    EMPTY_PROMPT,
    EXCLUDED,
    ID_MISMATCH,
    INVALID_ID,
    INVALID_LABELS,
    INVALID_PATH,
    KEPT,
    LATERAL_VIEW,
    LATERAL_VIEWS,
    NO_METADATA,
    NON_FRONTAL_VIEW,
    NOT_IN_SPLIT,
    SPLIT_NOT_USED,
    UNKNOWN_SPLIT,
    UNKNOWN_VIEW,
    attach_labels,
    candidate_images,
    classify_views,
    dedup_prompts,
    finish_accounting,
    image_paths,
    log_exclusions,
    read_csv,
    report_paths,
)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class UnderstandingOptions:
    """Selection rules of the understanding split (config `data.understanding`)."""

    splits: tuple[str, ...] = SPLITS
    """Official splits to keep (train, validate, test)."""
    require_findings: bool = True
    """Exclude reports without a FINDINGS section (reason empty_findings); the model is trained to
    write "FINDINGS: ..." and the paper's test set has findings for every item."""

    @classmethod
    def from_config(cls, understanding: dict[str, Any]) -> "UnderstandingOptions":
        """From config section `data.understanding`."""
        return cls(tuple(understanding["splits"]), bool(understanding["require_findings"]))

    def __post_init__(self) -> None:
        _check_splits(self.splits, "data.understanding.splits")


@dataclass(frozen=True)
class GenerationOptions:
    """Selection rules of the generation split (config `data.generation`)."""

    splits: tuple[str, ...] = ("train", "test")
    """Official splits to keep; CheXGenBench uses train and test (validate rows are excluded with
    reason split_not_used)."""
    dedup_test_prompts: bool = True
    """Keep the first test row of each prompt (CheXGenBench deduplicates `annotated_prompt`)."""

    @classmethod
    def from_config(cls, generation: dict[str, Any]) -> "GenerationOptions":
        """From config section `data.generation`."""
        return cls(tuple(generation["splits"]), bool(generation["dedup_test_prompts"]))

    def __post_init__(self) -> None:
        _check_splits(self.splits, "data.generation.splits")


def _check_splits(splits: Sequence[str], key: str) -> None:
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ValueError(f"config {key}={list(splits)}: use a non-empty subset of {list(SPLITS)}")


@dataclass
class Selection:
    """The kept table, and the accounting of every input row."""

    table: pd.DataFrame
    accounting: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """Kept rows per split and excluded rows per reason (recorded in the provenance)."""
        acc = self.accounting
        excluded = acc[acc["status"] == EXCLUDED]
        return {
            "input_rows": int(len(acc)),
            "kept": {str(k): int(v) for k, v in self.table["split"].value_counts().sort_index().items()},
            "excluded": {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()},
            **self.extra,
        }

    def write(self, table_path: str | Path, accounting_path: str | Path) -> None:
        """Write the table as parquet and the accounting as CSV."""
        for p in (table_path, accounting_path):
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(table_path, index=False)
        self.accounting.to_csv(accounting_path, index=False)



# ----------------------------------------------------------------------------------------------
# The two selections


def _label_columns_float(df: pd.DataFrame) -> pd.DataFrame:
    for name in CHEXPERT_LABELS:
        df[name] = df[name].astype("float64")
    return df


def select_image_check(split_csv: str | Path, metadata_csv: str | Path, images_root: str | Path,
                       splits: Sequence[str], checks: FileChecks = FileChecks()) -> pd.DataFrame:
    """The image check table shared by both selections: every image that passes the table rules for any of
    `splits` (the union of the selections' splits), checked once (`unix.data.file_checks.image_check_table`)."""
    _check_splits(splits, "data.understanding.splits + data.generation.splits")
    split = read_csv(split_csv, ["dicom_id", "study_id", "subject_id", "split"], "split CSV")
    meta = read_csv(metadata_csv, ["dicom_id", "subject_id", "study_id", "ViewPosition"], "metadata CSV")
    table = image_check_table(candidate_images(split, meta, splits), images_root, checks)
    bad = table[table["reason"] != ""]
    log.info("image check (%s): %d images, %d unusable", checks.image_check, len(table), len(bad))
    return table


def select_understanding(split_csv: str | Path, metadata_csv: str | Path, chexpert_csv: str | Path,
                         images_root: str | Path, reports_root: str | Path,
                         options: UnderstandingOptions = UnderstandingOptions(),
                         checks: FileChecks = FileChecks(), checked_images: pd.DataFrame | None = None,
                         sections: SectionOptions = SectionOptions()) -> Selection:
    """The understanding split: frontal images of the chosen official splits with a usable report.

    Table columns: dicom_id, subject_id, study_id, split, view_position, image_path, report_path,
    report_text (raw), findings, impression, then the 14 CheXpert labels (study level).
    `checked_images`: the image check table (`select_image_check`); None checks the images here.
    """
    split = read_csv(split_csv, ["dicom_id", "study_id", "subject_id", "split"], "split CSV")
    meta = read_csv(metadata_csv, ["dicom_id", "subject_id", "study_id", "ViewPosition"], "metadata CSV")
    labels = read_csv(chexpert_csv, ["subject_id", "study_id", *CHEXPERT_LABELS], "CheXpert CSV")
    df = candidate_images(split, meta, options.splits)
    df = check_files(df, images_root, reports_root, checks, checked_images, sections)
    if options.require_findings:
        empty = (df["reason"] == "") & (df["findings"] == "")
        df.loc[empty, "reason"] = EMPTY_FINDINGS
        df.loc[empty, "detail"] = "the report has no FINDINGS section (or it is empty)"
    accounting = finish_accounting(df)
    log_exclusions(accounting, "understanding")
    kept = df[df["reason"] == ""]
    table = kept[["dicom_id", "subject_id", "study_id", "split", "view_position", "image_path", "report_path",
                  "report_text", "findings", "impression"]].astype(
        {"subject_id": "int64", "study_id": "int64", "dicom_id": str, "split": str, "view_position": str,
         "image_path": str, "report_path": str, "report_text": str, "findings": str, "impression": str})
    table = _label_columns_float(attach_labels(table, labels)).reset_index(drop=True)
    return Selection(table, accounting, {"rules": "frontal PA/AP, splits " + "/".join(options.splits)
                                         + (", FINDINGS required" if options.require_findings else "")})


GENERATION_COLUMNS = ["dicom_id", "subject_id", "study_id", "split", "image_path", "prompt", "prompt_source",
                      *CHEXPERT_LABELS]


def select_generation(split_csv: str | Path, metadata_csv: str | Path, chexpert_csv: str | Path,
                      images_root: str | Path, reports_root: str | Path,
                      llava_rad: dict[str, str] | None = None,
                      options: GenerationOptions = GenerationOptions(),
                      checks: FileChecks = FileChecks(), checked_images: pd.DataFrame | None = None,
                      sections: SectionOptions = SectionOptions()) -> Selection:
    """The generation split (CheXGenBench protocol).

    With `llava_rad` = {"train": csv, "test": csv} (both non-empty) the rows are those CSVs' rows and
    the prompt is `annotated_prompt`; otherwise the rows are the metadata rows and the prompt is the
    report's FINDINGS. Table columns: dicom_id, subject_id, study_id, split, image_path, prompt,
    prompt_source (llava_rad|findings), then the 14 CheXpert labels.
    `checked_images`: the image check table (`select_image_check`); None checks the images here.
    """
    if llava_rad and any(llava_rad.values()):
        if not all(llava_rad.get(k) for k in ("train", "test")):
            raise ValueError("config data.llava_rad_annotations: set both train and test, or leave both empty "
                             "(then the FINDINGS section of each report is the prompt)")
        df, labels_df = llava_rad_candidates(llava_rad, options.splits)
        df = check_files(df, images_root, None, checks, checked_images)
        source = "llava_rad"
    else:
        split = read_csv(split_csv, ["dicom_id", "study_id", "subject_id", "split"], "split CSV")
        meta = read_csv(metadata_csv, ["dicom_id", "subject_id", "study_id", "ViewPosition"], "metadata CSV")
        df = candidate_images(split, meta, options.splits)
        df = check_files(df, images_root, reports_root, checks, checked_images, sections)
        df["prompt"] = df["findings"]
        empty = (df["reason"] == "") & (df["prompt"] == "")
        df.loc[empty, "reason"] = EMPTY_FINDINGS
        df.loc[empty, "detail"] = "the report has no FINDINGS section (or it is empty), so there is no prompt"
        labels_df = None
        source = "findings"

    n_dup = 0
    if options.dedup_test_prompts:
        live = df["reason"] == ""
        dup, detail = dedup_prompts(df["prompt"].where(live), live & (df["split"] == "test"), df["dicom_id"])
        df.loc[dup, "reason"] = DUPLICATE_PROMPT
        df.loc[dup, "detail"] = detail[dup]
        n_dup = int(dup.sum())
    accounting = finish_accounting(df)
    log_exclusions(accounting, f"generation ({source} prompts)")
    kept = df[df["reason"] == ""]
    table = kept[["dicom_id", "subject_id", "study_id", "split", "image_path", "prompt"]].astype(
        {"subject_id": "int64", "study_id": "int64", "dicom_id": str, "split": str, "image_path": str,
         "prompt": str})
    table["prompt_source"] = source
    if labels_df is None:
        labels = read_csv(chexpert_csv, ["subject_id", "study_id", *CHEXPERT_LABELS], "CheXpert CSV")
        table = attach_labels(table, labels)
    else:
        table = table.join(labels_df)
    table = _label_columns_float(table)[GENERATION_COLUMNS].reset_index(drop=True)
    return Selection(table, accounting, {"prompt_source": source, "duplicate_prompts": n_dup})

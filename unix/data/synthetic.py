"""A synthetic MIMIC-CXR-JPG tree in the exact real layout, deterministic from a seed.

Nobody on the team has MIMIC-CXR, so the demo and the tests run the real loaders on this tree. Same seed
and options => byte-identical files (gzip headers carry no time stamp; images and reports are drawn from
per-subject / per-study / per-image random streams, so one item never depends on how many came before).

Layout written under `root` (see `unix.data.mimic`):

    mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split           (one row per image)
    mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, subject_id, study_id, ..., ViewPosition, Rows, Columns, ...
    mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id, 14 labels (1.0 / 0.0 / -1.0 / empty), per study
    mimic-cxr-2.0.0-negbio.csv.gz     the same labels
    files/pXX/pSUBJECT/sSTUDY/DICOM.jpg   grayscale JPEG, Rows x Columns as in the metadata
    files/pXX/pSUBJECT/sSTUDY.txt         the free-text report (see `unix.data.report_text`)

Ids look like the real ones: subject_id 8 digits from 10000000 to 19999999, study_id 8 digits starting with
5, dicom_id five dash-separated groups of 8 lowercase hex digits. Splits are patient-disjoint.

Ground truth (`ground_truth_path`, a plain CSV outside the tree so the layout stays exact): one row per
metadata row, in metadata order, with columns

    dicom_id, subject_id, study_id, split, view_position, report_kind, findings_header, has_findings, defect

- report_kind: structured | no_findings | single_paragraph | wet_read | addendum (the study's report);
- findings_header: the header written over the findings ("FINDINGS", an old-style exam title such as
  "CHEST, TWO VIEWS", "FINDINGS AND IMPRESSION", lower-case "Findings", ...; `report_text.FINDINGS_HEADERS`),
  "" for the kinds without a findings section;
- has_findings: True when the report file as written has a non-empty findings section as `parse_report`
  reads it with the default options (False for the kinds without one, for the headers the official map
  makes impression, and for empty or missing report files; True for non-UTF-8 reports of a kind with one);
- defect: "" or one of DEFECTS. An image defect (corrupt_jpeg, truncated_jpeg, missing_image,
  unknown_view) marks one frontal image; a report defect (empty_report, non_utf8_report, missing_report)
  marks every image of its study; duplicate_id marks the second of two identical rows (the first occurrence
  is a normal row with defect ""), which follows the first in both the metadata and the split CSV. Defective
  studies are distinct, so a row carries at most one defect. unknown_view rows have ViewPosition "" or
  "UNKNOWN" (alternating) on an image that is a frontal radiograph.

With `write_images=False` / `write_reports=False` (metadata-only mode, for scale benchmarks) only the
defects that live in the CSVs (unknown_view, duplicate_id) are made.
"""

from __future__ import annotations

import gzip
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unix.data import mimic
from unix.data.mimic import CHEXPERT_LABELS, image_relpath, report_relpath

log = logging.getLogger(__name__)

REAL_SUBJECTS, REAL_STUDIES, REAL_IMAGES = 65_379, 227_827, 377_110
DEFECTS = ("corrupt_jpeg", "truncated_jpeg", "missing_image", "empty_report", "non_utf8_report",
           "missing_report", "unknown_view", "duplicate_id")
IMAGE_DEFECTS = ("corrupt_jpeg", "truncated_jpeg", "missing_image")
REPORT_DEFECTS = ("empty_report", "non_utf8_report", "missing_report")
METADATA_DEFECTS = ("unknown_view", "duplicate_id")
GROUND_TRUTH_COLUMNS = ["dicom_id", "subject_id", "study_id", "split", "view_position", "report_kind",
                        "findings_header", "has_findings", "defect"]

# (positive, uncertain, negative) rates of each observation among abnormal studies: roughly MIMIC-CXR's,
# with the rare findings raised so that a demo of a few dozen patients has examples of each.
LABEL_RATES = {
    "Atelectasis": (0.25, 0.08, 0.03), "Cardiomegaly": (0.28, 0.04, 0.15), "Consolidation": (0.09, 0.03, 0.2),
    "Edema": (0.18, 0.06, 0.2), "Enlarged Cardiomediastinum": (0.07, 0.03, 0.1), "Fracture": (0.06, 0.01, 0.03),
    "Lung Lesion": (0.07, 0.02, 0.02), "Lung Opacity": (0.15, 0.03, 0.03), "Pleural Effusion": (0.32, 0.05, 0.3),
    "Pleural Other": (0.05, 0.01, 0.01), "Pneumonia": (0.1, 0.08, 0.15), "Pneumothorax": (0.07, 0.01, 0.45),
    "Support Devices": (0.35, 0.0, 0.0),
}
# Probability that a normal study mentions an observation as negative (otherwise not mentioned).
NORMAL_NEGATIVE = {"Pneumothorax": 0.5, "Pleural Effusion": 0.45, "Consolidation": 0.35, "Edema": 0.2,
                   "Cardiomegaly": 0.25, "Enlarged Cardiomediastinum": 0.2, "Pneumonia": 0.15}
# Opacity-type findings: any of them positive or uncertain makes Lung Opacity positive (they are drawn as one).
OPACITY_LABELS = ("Atelectasis", "Consolidation", "Edema", "Lung Lesion", "Pneumonia")

# Sizes of real MIMIC-CXR-JPG images (Rows, Columns) and how often each occurs here.
BASE_SIZES = np.array([(3056, 2544), (2544, 3056), (3050, 2539), (2539, 3050), (2500, 3000), (3000, 2500)])
BASE_SIZE_P = np.array([0.42, 0.18, 0.15, 0.1, 0.08, 0.07])
VIEW_CODE_MEANING = {
    "PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral",
    "AP AXIAL": "antero-posterior", "AP LLD": "antero-posterior", "AP RLD": "antero-posterior",
    "PA LLD": "postero-anterior", "PA RLD": "postero-anterior", "LAO": "left anterior oblique",
    "RAO": "right anterior oblique", "LPO": "left posterior oblique", "XTABLE LATERAL": "lateral",
    "SWIMMERS": "Swimmer's", "": "", "UNKNOWN": "",
}
RARE_VIEWS = ("AP AXIAL", "AP LLD", "AP RLD", "PA LLD", "PA RLD", "LAO", "RAO", "LPO", "XTABLE LATERAL", "SWIMMERS")
# Views of a study's extra images after its first one: (views, probabilities) by the first view.
EXTRA_VIEWS = {
    "PA": (["LATERAL", "LL", "PA"], [0.7, 0.25, 0.05]),
    "AP": (["LATERAL", "LL", "AP", *RARE_VIEWS], [0.35, 0.1, 0.45] + [0.01] * len(RARE_VIEWS)),
    "LAT": (["LATERAL", "LL"], [0.5, 0.5]),
}
PROCEDURES = {"PA": ["CHEST (PA AND LAT)", "CHEST (PRE-OP PA AND LAT)"], "AP": ["CHEST (PORTABLE AP)", "CHEST (AP)"]}

# Random streams: np.random.default_rng([seed, STREAM, index]).
_TABLES, _ANATOMY, _DETAILS, _IMAGE, _REPORT, _DEFECT, _STYLE = range(7)


@dataclass(frozen=True)
class SyntheticOptions:
    """Shape of the synthetic tree beyond its size and seed (keyword options of `generate`)."""

    validate_fraction: float = 500 / REAL_SUBJECTS
    """fraction of patients in the validate split (real MIMIC-CXR: 500 of 65,379)"""
    test_fraction: float = 293 / REAL_SUBJECTS
    """fraction of patients in the test split (real: 293 of 65,379; the demo config asks for more)"""
    studies_per_subject: float = REAL_STUDIES / REAL_SUBJECTS
    """mean studies per patient (real: 3.48); every patient has at least one"""
    images_per_study: float = REAL_IMAGES / REAL_STUDIES
    """mean images per study (real: 1.66); every study has at least one"""
    lateral_only_fraction: float = 0.04
    """fraction of studies whose images are all lateral views"""
    broken_per_kind: int = 2
    """how many inputs of each defect kind to break when broken_inputs is true"""
    n_studies: int | None = None
    """exact number of studies (default: round(n_subjects * studies_per_subject))"""
    n_images: int | None = None
    """exact number of images (default: round(n_studies * images_per_study))"""
    jpeg_quality: int = 95
    """JPEG quality of the written images"""

    def __post_init__(self) -> None:
        for name in ("validate_fraction", "test_fraction", "lateral_only_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"synthetic option {name}={getattr(self, name)} must lie in [0, 1]")
        if self.validate_fraction + self.test_fraction >= 1.0:
            raise ValueError("synthetic options validate_fraction + test_fraction must be < 1 (train needs patients)")
        if self.studies_per_subject < 1 or self.images_per_study < 1:
            raise ValueError("synthetic options studies_per_subject and images_per_study must be >= 1")
        if self.broken_per_kind < 0:
            raise ValueError("synthetic option broken_per_kind must be >= 0")


@dataclass
class GenerationSummary:
    """What `generate` wrote."""

    root: str
    n_subjects: int
    n_studies: int
    n_images: int
    n_metadata_rows: int
    split_subjects: dict[str, int]
    split_images: dict[str, int]
    defects: dict[str, int]
    images_written: int
    reports_written: int
    seconds: float
    ground_truth_path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _options(opts: dict[str, Any]) -> SyntheticOptions:
    known = {f.name for f in fields(SyntheticOptions)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"unknown synthetic option(s) {unknown}; known: {sorted(known)}")
    return SyntheticOptions(**opts)


def _split_counts(total: int, n_groups: int, rng: np.random.Generator, shape: float) -> np.ndarray:
    """`total` items over `n_groups` groups, each at least one, with gamma-distributed group weights."""
    weights = rng.gamma(shape, 1.0, size=n_groups)
    return 1 + rng.multinomial(total - n_groups, weights / weights.sum())


def _hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 2**32, size=(n, 5), dtype=np.uint32).astype(">u4").tobytes().hex()
    ids = ["-".join(raw[i * 40 + 8 * k: i * 40 + 8 * k + 8] for k in range(5)) for i in range(n)]
    if len(set(ids)) != n:  # pragma: no cover - 160 random bits
        raise RuntimeError("dicom_id collision; use another seed")
    return ids


def _choice_by_group(rng: np.random.Generator, groups: np.ndarray, table: dict[str, tuple[list, list]]) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for key, (values, p) in table.items():
        idx = np.flatnonzero(groups == key)
        if len(idx):
            p = np.asarray(p) / np.sum(p)
            out[idx] = np.asarray(values, dtype=object)[rng.choice(len(values), size=len(idx), p=p)]
    return out


def sample_labels(rng: np.random.Generator, n_studies: int) -> np.ndarray:
    """(n_studies, 14) CheXpert labels in CSV column order: 1.0 / 0.0 / -1.0 / NaN."""
    idx = {name: i for i, name in enumerate(CHEXPERT_LABELS)}
    labels = np.full((n_studies, len(CHEXPERT_LABELS)), np.nan)
    normal = rng.random(n_studies) < 0.35
    u = rng.random((n_studies, len(CHEXPERT_LABELS)))
    for name, (p, q, r) in LABEL_RATES.items():
        col = labels[:, idx[name]]
        uu = u[:, idx[name]]
        col[uu < p + q + r] = 0.0
        col[uu < p + q] = -1.0
        col[uu < p] = 1.0
        if name == "Support Devices":
            col[normal] = np.where(uu[normal] < 0.15, 1.0, np.nan)
        else:
            col[normal] = np.where(uu[normal] < NORMAL_NEGATIVE.get(name, 0.03), 0.0, np.nan)
    pathology = [idx[n] for n in LABEL_RATES if n != "Support Devices"]
    # An abnormal study has at least one positive finding.
    empty = ~normal & ~np.isin(labels[:, pathology], (1.0, -1.0)).any(axis=1)
    if empty.any():
        weights = np.array([LABEL_RATES[CHEXPERT_LABELS[j]][0] for j in pathology])
        pick = rng.choice(pathology, size=int(empty.sum()), p=weights / weights.sum())
        labels[np.flatnonzero(empty), pick] = 1.0
    opacity = np.isin(labels[:, [idx[n] for n in OPACITY_LABELS]], (1.0, -1.0)).any(axis=1)
    labels[opacity, idx["Lung Opacity"]] = 1.0
    abnormal = np.isin(labels[:, pathology], (1.0, -1.0)).any(axis=1)
    labels[:, idx["No Finding"]] = np.where(abnormal, np.nan, 1.0)
    return labels


def _dates(rng: np.random.Generator, study_subject: np.ndarray, n_subjects: int) -> tuple[np.ndarray, np.ndarray]:
    """StudyDate (yyyymmdd int, shifted years 2110-2210 as in MIMIC) and StudyTime (hhmmss.fff float)."""
    base = rng.integers(0, 365 * 95, size=n_subjects)
    gaps = rng.exponential(120.0, size=len(study_subject)).astype(np.int64)
    day = base[study_subject] + gaps
    dt = np.datetime64("2110-01-01") + day.astype("timedelta64[D]")
    years = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    date = years * 10000 + months * 100 + days
    hh, mm, ss = rng.integers(0, 24, len(day)), rng.integers(0, 60, len(day)), rng.integers(0, 60, len(day))
    ms = np.where(rng.random(len(day)) < 0.8, rng.integers(0, 1000, len(day)), 0)
    return date, np.round(hh * 10000 + mm * 100 + ss + ms / 1000.0, 3)


@dataclass
class _Tables:
    metadata: pd.DataFrame
    split: pd.DataFrame
    labels: pd.DataFrame
    truth: pd.DataFrame
    study_kind: np.ndarray
    findings_header: np.ndarray  # study -> header over its findings ("" for kinds without findings)
    image_study: np.ndarray  # metadata row -> study index (row order of `labels`)
    image_index: np.ndarray  # metadata row -> image index (stable random stream id)
    render_view: np.ndarray  # metadata row -> the view drawn (the true one, also for unknown_view rows)
    defect_studies: dict[str, list[int]]


def build_tables(*, n_subjects: int, seed: int, image_size: int, broken_inputs: bool, files_defects: bool,
                 report_defects: bool, options: SyntheticOptions) -> _Tables:
    """Every CSV row and the ground truth, vectorised (no files written)."""
    from unix.data.report_text import COMBINED_HEADERS, FINDINGS_HEADERS, REPORT_KINDS, style_choices

    o = options
    n_studies = o.n_studies if o.n_studies is not None else int(round(n_subjects * o.studies_per_subject))
    n_images = o.n_images if o.n_images is not None else int(round(n_studies * o.images_per_study))
    if n_studies < n_subjects:
        raise ValueError(f"n_studies={n_studies} < n_subjects={n_subjects}: every patient needs a study; "
                         "raise n_studies or lower n_subjects")
    if n_images < n_studies:
        raise ValueError(f"n_images={n_images} < n_studies={n_studies}: every study needs an image; raise n_images")
    rng = np.random.default_rng([seed, _TABLES])

    subjects = np.sort(rng.choice(10_000_000, size=n_subjects, replace=False) + 10_000_000)
    n_val = int(round(o.validate_fraction * n_subjects)) if o.validate_fraction else 0
    n_test = max(1, int(round(o.test_fraction * n_subjects))) if o.test_fraction else 0
    if n_val + n_test >= n_subjects:
        raise ValueError(f"n_subjects={n_subjects} leaves no training patient with validate_fraction="
                         f"{o.validate_fraction} and test_fraction={o.test_fraction}; raise n_subjects")
    subject_split = np.full(n_subjects, "train", dtype=object)
    perm = rng.permutation(n_subjects)
    subject_split[perm[:n_test]] = "test"
    subject_split[perm[n_test:n_test + n_val]] = "validate"

    studies_per = _split_counts(n_studies, n_subjects, rng, 0.8)
    study_subject = np.repeat(np.arange(n_subjects), studies_per)
    study_ids = rng.choice(10_000_000, size=n_studies, replace=False) + 50_000_000
    labels = sample_labels(rng, n_studies)
    kind_names = list(REPORT_KINDS)
    study_kind = np.asarray(kind_names, dtype=object)[
        rng.choice(len(kind_names), size=n_studies, p=[p for p, _ in REPORT_KINDS.values()])]
    dates, times = _dates(rng, study_subject, n_subjects)
    # Header styles from their own stream, so that the tables do not depend on them.
    styles, style_p = style_choices(FINDINGS_HEADERS)
    srng = np.random.default_rng([seed, _STYLE])
    findings_header = np.asarray(styles, dtype=object)[srng.choice(len(styles), size=n_studies, p=style_p)]
    findings_header[~np.array([REPORT_KINDS[k][1] for k in study_kind], dtype=bool)] = ""
    study_has_findings = (findings_header != "") & ~np.isin(findings_header, COMBINED_HEADERS)

    images_per = _split_counts(n_images, n_studies, rng, 50.0)
    image_study = np.repeat(np.arange(n_studies), images_per)
    first = np.zeros(n_images, dtype=bool)
    first[np.concatenate([[0], np.cumsum(images_per)[:-1]])] = True
    devices = labels[:, CHEXPERT_LABELS.index("Support Devices")] == 1.0
    lateral_only = rng.random(n_studies) < o.lateral_only_fraction
    first_view = np.where(rng.random(n_studies) < np.where(devices, 0.85, 0.45), "AP", "PA").astype(object)
    study_group = np.where(lateral_only, "LAT", first_view)
    views = _choice_by_group(rng, study_group[image_study], EXTRA_VIEWS)
    first_views = np.where(lateral_only, np.where(rng.random(n_studies) < 0.6, "LATERAL", "LL"), first_view)
    views[first] = first_views
    views_drawn = views.copy()
    procedure = np.array([PROCEDURES["AP" if g == "AP" else "PA"][int(k)] for g, k in
                          zip(study_group, rng.random(n_studies) < 0.1)], dtype=object)

    base = BASE_SIZES[rng.choice(len(BASE_SIZES), size=n_images, p=BASE_SIZE_P)]
    longest = base.max(axis=1)
    rows = np.round(base[:, 0] * image_size / longest).astype(np.int64)
    cols = np.round(base[:, 1] * image_size / longest).astype(np.int64)
    supine_or_not = np.asarray(["Erect", "Recumbent", ""], dtype=object)[rng.choice(3, n_images, p=[0.5, 0.4, 0.1])]
    orientation = np.where(np.isin(views, ["AP", "AP LLD", "AP RLD", "PA LLD", "PA RLD"]), supine_or_not,
                           "Erect").astype(object)
    dicom_ids = np.asarray(_hex_ids(rng, n_images), dtype=object)

    s = image_study
    meta = pd.DataFrame({
        "dicom_id": dicom_ids, "subject_id": subjects[study_subject[s]], "study_id": study_ids[s],
        "PerformedProcedureStepDescription": procedure[s], "ViewPosition": views, "Rows": rows, "Columns": cols,
        "StudyDate": dates[s], "StudyTime": times[s], "ProcedureCodeSequence_CodeMeaning": procedure[s],
        "ViewCodeSequence_CodeMeaning": [VIEW_CODE_MEANING[v] for v in views],
        "PatientOrientationCodeSequence_CodeMeaning": orientation,
    })
    truth = pd.DataFrame({
        "dicom_id": dicom_ids, "subject_id": meta["subject_id"], "study_id": meta["study_id"],
        "split": subject_split[study_subject[s]], "view_position": views, "report_kind": study_kind[s],
        "findings_header": findings_header[s], "has_findings": study_has_findings[s], "defect": "",
    })

    # Deliberate defects on distinct studies whose first image is frontal.
    defect_studies: dict[str, list[int]] = {}
    if broken_inputs and o.broken_per_kind:
        kinds = [k for k in DEFECTS if (k in METADATA_DEFECTS or (k in IMAGE_DEFECTS and files_defects)
                                        or (k in REPORT_DEFECTS and report_defects))]
        drng = np.random.default_rng([seed, _DEFECT])
        eligible = np.flatnonzero(~lateral_only)
        need = len(kinds) * o.broken_per_kind
        if len(eligible) < need:
            raise ValueError(f"broken_inputs needs {need} studies with a frontal image but only {len(eligible)} exist; "
                             "raise n_subjects, lower broken_per_kind or set broken_inputs to false")
        chosen = drng.choice(eligible, size=need, replace=False)
        first_row = np.flatnonzero(first)
        for i, kind in enumerate(kinds):
            defect_studies[kind] = sorted(int(x) for x in chosen[i * o.broken_per_kind:(i + 1) * o.broken_per_kind])
        for kind, studies in defect_studies.items():
            if kind in REPORT_DEFECTS:
                hit = np.isin(image_study, studies)
                truth.loc[hit, "defect"] = kind
                truth.loc[hit, "has_findings"] = truth.loc[hit, "has_findings"] & (kind == "non_utf8_report")
            elif kind != "duplicate_id":
                hit = first_row[studies]
                truth.loc[hit, "defect"] = kind
                if kind == "unknown_view":
                    for j, r in enumerate(hit):
                        value = "" if j % 2 == 0 else "UNKNOWN"
                        meta.loc[r, "ViewPosition"] = value
                        meta.loc[r, "ViewCodeSequence_CodeMeaning"] = ""
                        truth.loc[r, "view_position"] = value

    split = pd.DataFrame({"dicom_id": dicom_ids, "study_id": meta["study_id"], "subject_id": meta["subject_id"],
                          "split": truth["split"]})
    order = np.arange(n_images)
    image_index = np.arange(n_images)
    if defect_studies.get("duplicate_id"):
        dup_rows = np.flatnonzero(first)[defect_studies["duplicate_id"]]
        # Each duplicate directly follows its original row.
        order = np.sort(np.concatenate([order, dup_rows]), kind="stable")
        meta, split, truth = (t.iloc[order].reset_index(drop=True) for t in (meta, split, truth))
        is_dup = np.zeros(len(order), dtype=bool)
        is_dup[1:] = order[1:] == order[:-1]
        truth.loc[is_dup, "defect"] = "duplicate_id"
    image_study, image_index, render_view = image_study[order], image_index[order], views_drawn[order]

    label_df = pd.DataFrame(labels, columns=CHEXPERT_LABELS)
    label_df.insert(0, "study_id", study_ids)
    label_df.insert(0, "subject_id", subjects[study_subject])
    return _Tables(meta, split, label_df, truth, study_kind, findings_header, image_study, image_index, render_view,
                   defect_studies)


def _write_csv_gz(df: pd.DataFrame, path: Path) -> None:
    """gzip without a time stamp or file name in the header, so equal tables give equal bytes (level 1:
    the full-scale tables compress in a second instead of ten)."""
    data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=1) as gz:
        gz.write(data)


def _corrupt(jpeg: bytes, kind: str, rng: np.random.Generator) -> bytes | None:
    if kind == "corrupt_jpeg":
        return rng.integers(0, 256, size=max(64, len(jpeg) // 4), dtype=np.uint8).tobytes()
    if kind == "truncated_jpeg":
        return jpeg[: len(jpeg) * 2 // 5]
    if kind == "missing_image":
        return None
    return jpeg


def _report_bytes(text: str, defect: str) -> bytes | None:
    if defect == "missing_report":
        return None
    if defect == "empty_report":
        return b""
    data = text.encode("utf-8")
    if defect == "non_utf8_report":
        # A cp1252 en dash, as left by a Windows editor: not valid UTF-8.
        cut = data.index(b"\n", len(data) // 2) if b"\n" in data[len(data) // 2:] else len(data)
        data = data[:cut] + b" \x96 ___ \xe9" + data[cut:]
    return data


def generate(root: str | Path, *, n_subjects: int, seed: int, image_size: int, broken_inputs: bool,
             ground_truth_path: str | Path | None = None, write_images: bool = True, write_reports: bool = True,
             **opts: Any) -> GenerationSummary:
    """Write a synthetic MIMIC-CXR-JPG tree under `root` (see the module docstring for what and where).

    `opts` are the fields of `SyntheticOptions` (split fractions, ratios, exact n_studies / n_images, ...).
    Refuses to write into an existing non-empty `root/files` so that no stale file survives a rerun.
    """
    from unix.data import radiograph as rad
    from unix.data.report_text import compose_report, sample_details

    start = time.time()
    if n_subjects < 1:
        raise ValueError(f"n_subjects={n_subjects} must be >= 1")
    if image_size < 16:
        raise ValueError(f"image_size={image_size} must be >= 16 pixels")
    o = _options(opts)
    root = Path(root)
    files = root / "files"
    if files.exists() and any(files.iterdir()):
        raise ValueError(f"{files} already exists and is not empty; remove it or choose another output directory")
    root.mkdir(parents=True, exist_ok=True)

    t = build_tables(n_subjects=n_subjects, seed=seed, image_size=image_size, broken_inputs=broken_inputs,
                     files_defects=write_images, report_defects=write_reports, options=o)
    _write_csv_gz(t.split, root / mimic.SPLIT_CSV)
    _write_csv_gz(t.metadata, root / mimic.METADATA_CSV)
    _write_csv_gz(t.labels, root / mimic.CHEXPERT_CSV)
    _write_csv_gz(t.labels, root / mimic.NEGBIO_CSV)
    log.info("wrote the CSVs of %d subjects, %d studies, %d metadata rows to %s",
             n_subjects, len(t.labels), len(t.metadata), root)

    defect_of_study = {s: k for k, ss in t.defect_studies.items() for s in ss}
    n_img = n_rep = 0
    if write_images or write_reports:
        # One pass per study: details are shared by its report and images.
        subject_index = {sid: i for i, sid in enumerate(np.unique(t.labels["subject_id"]))}
        rows_by_study: dict[int, list[int]] = {}
        seen: set[int] = set()
        for r, st in enumerate(t.image_study):
            if int(t.image_index[r]) not in seen:  # a duplicate row points at the same file
                seen.add(int(t.image_index[r]))
                rows_by_study.setdefault(int(st), []).append(r)
        label_values = t.labels[CHEXPERT_LABELS].to_numpy()
        for st in range(len(t.labels)):
            subject_id, study_id = int(t.labels.at[st, "subject_id"]), int(t.labels.at[st, "study_id"])
            labels = dict(zip(CHEXPERT_LABELS, label_values[st].tolist()))
            details = sample_details(np.random.default_rng([seed, _DETAILS, st]))
            defect = defect_of_study.get(st, "")
            if write_reports:
                exam = str(t.metadata.at[rows_by_study[st][0], "PerformedProcedureStepDescription"])
                text = compose_report(labels, details, str(t.study_kind[st]),
                                      np.random.default_rng([seed, _REPORT, st]), examination=exam,
                                      findings_header=str(t.findings_header[st]) or "FINDINGS")
                data = _report_bytes(text, defect if defect in REPORT_DEFECTS else "")
                path = root / report_relpath(subject_id, study_id)
                path.parent.mkdir(parents=True, exist_ok=True)
                if data is not None:
                    path.write_bytes(data)
                    n_rep += 1
            if not write_images:
                continue
            anatomy = rad.Anatomy.sample(np.random.default_rng([seed, _ANATOMY, subject_index[subject_id]]))
            findings = rad.Findings({k: (1.0 if v == 1.0 else 0.5) for k, v in labels.items()
                                     if v in (1.0, -1.0) and k != "No Finding"}, details)
            for k, r in enumerate(rows_by_study[st]):
                m = t.metadata.iloc[r]
                view = str(t.render_view[r])
                irng = np.random.default_rng([seed, _IMAGE, int(t.image_index[r])])
                img = rad.render(view, int(m["Rows"]), int(m["Columns"]), anatomy, findings, irng)
                jpeg = rad.encode_jpeg(rad.to_uint8(img), quality=o.jpeg_quality)
                image_defect = defect if (k == 0 and defect in IMAGE_DEFECTS) else ""
                data = _corrupt(jpeg, image_defect, irng) if image_defect else jpeg
                path = root / image_relpath(subject_id, study_id, str(m["dicom_id"]))
                path.parent.mkdir(parents=True, exist_ok=True)
                if data is not None:
                    path.write_bytes(data)
                    n_img += 1

    if ground_truth_path is not None:
        gt = Path(ground_truth_path)
        gt.parent.mkdir(parents=True, exist_ok=True)
        t.truth.to_csv(gt, index=False, lineterminator="\n")

    counts = t.truth["defect"].value_counts()
    first_rows = t.truth.drop_duplicates("subject_id")
    summary = GenerationSummary(
        root=str(root), n_subjects=n_subjects, n_studies=len(t.labels), n_images=int(len(np.unique(t.image_index))),
        n_metadata_rows=len(t.metadata),
        split_subjects={k: int(v) for k, v in first_rows["split"].value_counts().sort_index().items()},
        split_images={k: int(v) for k, v in t.truth["split"].value_counts().sort_index().items()},
        defects={k: int(counts.get(k, 0)) for k in DEFECTS if k in counts},
        images_written=n_img, reports_written=n_rep, seconds=round(time.time() - start, 3),
        ground_truth_path=str(ground_truth_path) if ground_truth_path is not None else None,
        options={"seed": seed, "image_size": image_size, "broken_inputs": broken_inputs,
                 "write_images": write_images, "write_reports": write_reports, **o.__dict__},
    )
    log.info("synthetic MIMIC-CXR-JPG: %s", summary)
    return summary


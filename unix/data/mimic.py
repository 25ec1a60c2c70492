"""Facts of the MIMIC-CXR-JPG layout that every loader shares (see README, "MIMIC-CXR layout").

Images:  files/p{first two digits of subject}/p{subject_id}/s{study_id}/{dicom_id}.jpg
Reports: files/p{first two digits of subject}/p{subject_id}/s{study_id}.txt
Labels:  1.0 positive, 0.0 negative, -1.0 uncertain, empty (NaN) not mentioned.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SPLIT_CSV = "mimic-cxr-2.0.0-split.csv.gz"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv.gz"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv.gz"
NEGBIO_CSV = "mimic-cxr-2.0.0-negbio.csv.gz"

SPLIT_COLUMNS = ["dicom_id", "study_id", "subject_id", "split"]
SPLITS = ("train", "validate", "test")
METADATA_COLUMNS = [
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
]

# The 14 CheXpert observations in the column order of the chexpert/negbio CSVs.
CHEXPERT_LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]
LABEL_COLUMNS = ["subject_id", "study_id", *CHEXPERT_LABELS]
# The 5-finding subset of CheXbert F1-5.
CHEXPERT_5 = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0

FRONTAL_VIEWS = ("PA", "AP")
# Every ViewPosition value seen in MIMIC-CXR-JPG ("" is an empty cell).
KNOWN_VIEWS = (
    "PA", "AP", "LATERAL", "LL", "AP AXIAL", "AP LLD", "AP RLD", "PA LLD", "PA RLD", "LAO", "RAO", "LPO",
    "XTABLE LATERAL", "SWIMMERS", "",
)


def subject_dir(subject_id: int) -> PurePosixPath:
    """files/pXX/pSUBJECT for a subject id (XX = the first two digits)."""
    s = str(int(subject_id))
    return PurePosixPath("files") / f"p{s[:2]}" / f"p{s}"


def image_relpath(subject_id: int, study_id: int, dicom_id: str) -> str:
    """Path of an image relative to the MIMIC-CXR-JPG root."""
    return str(subject_dir(subject_id) / f"s{int(study_id)}" / f"{dicom_id}.jpg")


def report_relpath(subject_id: int, study_id: int) -> str:
    """Path of a study's report relative to the reports root."""
    return str(subject_dir(subject_id) / f"s{int(study_id)}.txt")

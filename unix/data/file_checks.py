"""Per-file checks of the split selection: images (decodable JPEG) and reports (readable, sectioned).

Both selections need the same images checked (every frontal image of the official splits they use); at full
scale in `decode` mode that is about 17 ms of CPU per image, some 70 CPU-minutes per pass. Rule
`check_images` therefore checks each candidate image once (`check_images` here, the table
results/data/image_check.parquet) and both selections read that table (`check_files(..., checked=...)`);
an image a selection needs that the table lacks (e.g. a LLaVA-Rad annotation row on an image the metadata
calls lateral) is checked on the spot. Reports are read and parsed by each selection (a few ms per study).
The checks run on a thread pool of `FileChecks.workers` threads (decoding and file reads release the GIL).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from unix.data.reports import SectionOptions, parse_report, read_report

log = logging.getLogger(__name__)

MISSING_IMAGE = "missing_image"
CORRUPT_IMAGE = "corrupt_image"
IMAGE_CHECK_MODES = ("header", "decode")
IMAGE_CHECK_COLUMNS = ["dicom_id", "image_path", "reason", "detail"]


@dataclass(frozen=True)
class FileChecks:
    """How the per-file checks run (config `data.checks`)."""

    image_check: str = "decode"
    """"header": the file exists, starts with a JPEG start-of-image and ends with an end-of-image marker
    and Pillow parses its header (cheap, catches missing and truncated files); "decode": also decodes it
    at 1/8 scale (also catches entropy-coded data that libjpeg cannot decode; data cut short and then
    followed by an end-of-image marker is only a libjpeg warning, which Pillow accepts)."""
    workers: int = 1
    """Threads for the per-file checks (image decoding and file reads release the GIL)."""

    @classmethod
    def from_config(cls, checks: dict[str, Any]) -> "FileChecks":
        """From config section `data.checks`."""
        return cls(str(checks["image_check"]), int(checks["workers"]))

    def __post_init__(self) -> None:
        if self.image_check not in IMAGE_CHECK_MODES:
            raise ValueError(f"config data.checks.image_check={self.image_check!r}; use one of {IMAGE_CHECK_MODES}")
        if self.workers < 1:
            raise ValueError(f"config data.checks.workers={self.workers}; use 1 or more threads")




_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"


def check_image(path: str | Path, mode: str = "decode") -> tuple[str, str]:
    """(reason, detail) for one JPEG: ("", "") when usable, else missing_image or corrupt_image."""
    from PIL import Image

    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(3)
            fh.seek(max(0, size - 64))
            tail = fh.read()
    except FileNotFoundError:
        return MISSING_IMAGE, f"{p} does not exist"
    except OSError as err:
        return MISSING_IMAGE, f"{p}: {err.__class__.__name__}: {err}"
    if size == 0:
        return CORRUPT_IMAGE, f"{p} is empty"
    if head != _JPEG_SOI:
        return CORRUPT_IMAGE, f"{p} does not start with a JPEG start-of-image marker"
    if _JPEG_EOI not in tail.rstrip(b"\x00"):
        return CORRUPT_IMAGE, f"{p} has no JPEG end-of-image marker (truncated file?)"
    try:
        with Image.open(p) as img:
            if img.format not in ("JPEG", "MPO"):  # MPO: a JPEG with a multi-picture marker
                return CORRUPT_IMAGE, f"{p} is {img.format}, not JPEG"
            if mode == "decode":
                img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        return CORRUPT_IMAGE, f"{p}: {err.__class__.__name__}: {err}"
    return "", ""


@dataclass(frozen=True)
class ReportInfo:
    """A study's report as the selection needs it."""

    reason: str
    detail: str
    text: str = ""
    findings: str = ""
    impression: str = ""


def load_report(path: str | Path, sections_options: SectionOptions = SectionOptions()) -> ReportInfo:
    """Read and parse one report; an unusable file gives a reason instead of text."""
    r = read_report(path)
    if r.reason:
        return ReportInfo(r.reason, r.detail)
    assert r.text is not None
    sections = parse_report(r.text, sections_options)
    return ReportInfo("", "", r.text, sections.findings, sections.impression)


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """`[fn(x) for x in items]`, on `workers` threads when more than one."""
    if workers <= 1 or len(items) < 2 * workers:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items, chunksize=max(1, math.ceil(len(items) / (workers * 8)))))


def check_images(paths: Sequence[str], images_root: str | Path, checks: FileChecks) -> tuple[list[str], list[str]]:
    """(reasons, details) of `check_image` on each path (relative to `images_root`), on the thread pool."""
    root = Path(images_root)
    results = parallel_map(lambda rel: check_image(root / rel, checks.image_check), list(paths), checks.workers)
    return [r for r, _ in results], [d for _, d in results]


def image_check_table(candidates: pd.DataFrame, images_root: str | Path, checks: FileChecks) -> pd.DataFrame:
    """The checked-image table: one row per distinct image_path of the `candidates` with reason "".

    Columns IMAGE_CHECK_COLUMNS: dicom_id, image_path, reason ("" usable, missing_image, corrupt_image), detail.
    """
    live = candidates.loc[candidates["reason"] == "", ["dicom_id", "image_path"]].drop_duplicates("image_path")
    reasons, details = check_images(live["image_path"].tolist(), images_root, checks)
    table = live.assign(reason=reasons, detail=details).reset_index(drop=True)
    return table.astype({c: str for c in IMAGE_CHECK_COLUMNS})[IMAGE_CHECK_COLUMNS]


def read_image_check(path: str | Path) -> pd.DataFrame:
    """Read results/data/image_check.parquet, checking its columns."""
    table = pd.read_parquet(path)
    missing = [c for c in IMAGE_CHECK_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"image check table {path} lacks column(s) {missing}; delete it and rerun rule check_images")
    return table


def check_files(df: pd.DataFrame, images_root: str | Path, reports_root: str | Path | None,
                checks: FileChecks, checked: pd.DataFrame | None = None,
                sections_options: SectionOptions = SectionOptions()) -> pd.DataFrame:
    """Image checks (and, when `reports_root` is given, report reading) of the rows with reason "".

    With `checked` (an `image_check_table`), an image's result is looked up there; only images it lacks are
    checked here. Adds report_text, findings, impression columns and fills reason/detail for failing rows.
    Each image is checked at most once and each study's report read once.
    """
    df = df.copy()
    todo = df["reason"] == ""
    paths = df.loc[todo, "image_path"]
    reason = pd.Series(pd.NA, index=paths.index, dtype="string")
    detail = pd.Series(pd.NA, index=paths.index, dtype="string")
    if checked is not None:
        known = checked.drop_duplicates("image_path").set_index("image_path")
        reason = paths.map(known["reason"]).astype("string")
        detail = paths.map(known["detail"]).astype("string")
    unknown = reason.isna()
    if unknown.any():
        if checked is not None:
            log.info("%d images are not in the image check table; checking them here", int(unknown.sum()))
        r, d = check_images(paths[unknown].tolist(), images_root, checks)
        reason[unknown], detail[unknown] = r, d
    df.loc[paths.index, "reason"] = reason
    df.loc[paths.index, "detail"] = detail
    for col in ("report_text", "findings", "impression"):
        df[col] = ""
    if reports_root is None:
        return df

    todo = df["reason"] == ""
    unique_reports = df.loc[todo, "report_path"].drop_duplicates().tolist()
    reports_root = Path(reports_root)
    infos = dict(zip(unique_reports, parallel_map(lambda rel: load_report(reports_root / rel, sections_options),
                                                  unique_reports, checks.workers)))
    rows = df.index[todo]
    got = [infos[p] for p in df.loc[rows, "report_path"]]
    df.loc[rows, "reason"] = [i.reason for i in got]
    df.loc[rows, "detail"] = [i.detail for i in got]
    df.loc[rows, "report_text"] = [i.text for i in got]
    df.loc[rows, "findings"] = [i.findings for i in got]
    df.loc[rows, "impression"] = [i.impression for i in got]
    return df


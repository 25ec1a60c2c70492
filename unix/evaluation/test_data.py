"""UniX's own understanding test set (`eval/data/understanding/test_data.json` in ZrH42/UniX), for Table 2.

The file is a JSON list; each item is

    {"messages": [{"role": "user", "content": "<image>Review this X-ray and provide the FINDINGS."},
                  {"role": "assistant", "content": "FINDINGS: ... [IMPRESSION: ...]"}],
     "images": ["files/pXX/pXXXXXXXX/sXXXXXXXX/<dicom_id>.jpg"]}

with image paths relative to the MIMIC-CXR-JPG root (2,365 items upstream, 20 prompt templates). As in
UniX's evaluation (`eval/base/dataset.py`, `eval/base/worker.py`), the prompt is the user message with
`<image>` removed (nothing else is stripped), the reference is the assistant message, and the image is
the first of `images`, read from the original JPEG.

Selected with config `evaluation.understanding_test_set`; without it, Table 2 uses the test rows of our
understanding split (`unix.evaluation.steps.understanding_test_set`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

CONFIG_KEY = "evaluation.understanding_test_set"
IMAGE_TAG = "<image>"
COLUMNS = ["item", "dicom_id", "study_id", "image_path", "prompt", "reference"]


class MalformedTestData(ValueError):
    """test_data.json is unreadable or one of its items is malformed (the message names file and item)."""


def _message(path: Path, index: int, item: dict[str, Any], role: str) -> str:
    messages = item.get("messages")
    if not isinstance(messages, list):
        raise MalformedTestData(f"{path}: item {index} has no 'messages' list (keys: {sorted(item)}); each item needs "
                            "messages [{role: user, ...}, {role: assistant, ...}] and images [path]")
    found = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == role]
    if len(found) != 1 or not isinstance(found[0], str):
        raise MalformedTestData(f"{path}: item {index} needs exactly one {role!r} message with a string content "
                            f"(found {len(found)})")
    return found[0]


def _image(path: Path, index: int, item: dict[str, Any]) -> str:
    images = item.get("images")
    if not isinstance(images, list) or not images or not isinstance(images[0], str) or not images[0].strip():
        raise MalformedTestData(f"{path}: item {index} needs 'images': a non-empty list of image paths relative to "
                            f"the MIMIC-CXR-JPG root (got {images!r})")
    if Path(images[0]).is_absolute():
        raise MalformedTestData(f"{path}: item {index}: image path {images[0]!r} must be relative to the MIMIC-CXR-JPG "
                            "root (data.mimic_cxr_jpg), as in UniX's test_data.json")
    return images[0]


def _study_id(image_path: str) -> int | None:
    m = re.search(r"(?:^|/)s(\d+)/", image_path)
    return int(m.group(1)) if m else None


def read_test_data(path: str | Path, images_root: str | Path | None = None) -> pd.DataFrame:
    """The items of a test_data.json, in file order: item, dicom_id, study_id, image_path, prompt, reference.

    With `images_root`, every image must exist under it; the first missing one is an error naming the file,
    the item index and the path looked for.
    """
    path = Path(path)
    if not path.is_file():
        raise MalformedTestData(f"{path} does not exist; set {CONFIG_KEY} to UniX's eval/data/understanding/"
                            "test_data.json (or leave it empty to use our understanding split)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedTestData(f"{path} is not valid JSON ({err}); expected UniX's test_data.json") from err
    if not isinstance(data, list) or not data:
        raise MalformedTestData(f"{path}: expected a non-empty JSON list of items, got {type(data).__name__}"
                            + (" (empty)" if isinstance(data, list) else ""))
    rows = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise MalformedTestData(f"{path}: item {index} is a {type(item).__name__}, not an object with messages "
                                "and images")
        image = _image(path, index, item)
        rows.append({"item": index, "dicom_id": Path(image).stem, "study_id": _study_id(image), "image_path": image,
                     "prompt": _message(path, index, item, "user").replace(IMAGE_TAG, ""),
                     "reference": _message(path, index, item, "assistant")})
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"study_id": "Int64"})
    if images_root is not None:
        root = Path(images_root)
        for index, image in zip(table["item"], table["image_path"]):
            if not (root / image).is_file():
                raise MalformedTestData(f"{path}: item {index}: image {root / image} does not exist; check that "
                                    f"data.mimic_cxr_jpg is the MIMIC-CXR-JPG root the test set's paths are "
                                    "relative to")
    return table


def describe(path: str | Path, n_used: int, n_items: int) -> str:
    """The test-set note of Table 2 for UniX's test set (`n_used` of its `n_items` items evaluated)."""
    used = f"{n_items} items" if n_used == n_items else f"the first {n_used} of {n_items} items"
    return f"UniX test_data.json ({Path(path).name}: {used}, their prompts and references)"


def describe_split(n_items: int) -> str:
    """The test-set note of Table 2 for our own understanding split."""
    return (f"our understanding split (test rows: {n_items} images, one prompt for all, cleaned reports as "
            "references)")

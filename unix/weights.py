"""Local pretrained weights: the error raised when they are not where the config says.

Nothing is downloaded at run time; every loader of pretrained weights (RadDino, CheXbert, ...) checks its
directory with `require_dir`, whose message names the config key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not where the config says; the message names the config key and the fix."""


def require_dir(path: str | Path, key: str, what: str, needed: Sequence[str] = ("config.json",)) -> Path:
    """`path` as a directory holding `needed`, or WeightsNotFoundError naming config `key`."""
    if not str(path):
        raise WeightsNotFoundError(f"{what}: config weights.{key} is empty; set it to a local copy of the weights")
    p = Path(path)
    missing = [n for n in needed if not (p / n).exists()]
    if not p.is_dir() or missing:
        raise WeightsNotFoundError(
            f"{what}: no weights at {p} (config weights.{key}; missing: {missing or [str(p)]}). Put a local copy "
            "there (nothing is downloaded at run time) or correct the path"
        )
    return p

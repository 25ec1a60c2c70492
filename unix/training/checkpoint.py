"""Atomic, resumable checkpoints.

A checkpoint is a directory ``<root>/step-XXXXXX/`` written by ``accelerate``'s ``save_state`` (model,
optimizer, RNG states of every process, and every object registered for checkpointing: the LR scheduler,
the trainer's step/data-loader position, the EMA) plus the training log up to that step. It is first written
as ``step-XXXXXX.tmp/``; only when everything is on disk does the main process write the ``COMPLETE``
marker and rename the directory. A job killed while saving leaves a ``.tmp`` directory (or one without a
marker) that :func:`latest_checkpoint` never returns, so a restarted job resumes from the newest complete
checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

COMPLETE = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d{6,})$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def complete_checkpoints(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint under `root`, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir() and (p / COMPLETE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    found = complete_checkpoints(root)
    return found[-1][1] if found else None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every filesystem allows opening directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(accelerator: Any, root: str | os.PathLike, step: int, *, keep: int,
                    extra_files: dict[str, Path] | None = None,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Write checkpoint `step` atomically; every process must call this (accelerate gathers states).

    `extra_files` (name -> source path) are copied in and `write_extra(tmp_dir)` may add more, before
    the marker. Older complete checkpoints beyond the newest `keep` are deleted afterwards.
    """
    root = Path(root)
    final = root / checkpoint_name(step)
    tmp = root / (checkpoint_name(step) + ".tmp")
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():  # left by an earlier job that died while saving this same step
            shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    # Pickle (not safetensors) so that models with shared tensors save without special handling.
    accelerator.save_state(str(tmp), safe_serialization=False)
    if accelerator.is_main_process:
        for name, src in (extra_files or {}).items():
            if Path(src).exists():
                shutil.copy2(src, tmp / name)
        if write_extra is not None:
            write_extra(tmp)
        (tmp / COMPLETE).write_text(json.dumps({"step": step}) + "\n")
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if final.exists():  # a complete checkpoint of the same step (a rerun): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
        for _, old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: str | os.PathLike) -> int:
    """Restore every registered state from `path`; return its step."""
    path = Path(path)
    marker = path / COMPLETE
    if not marker.is_file():
        raise ValueError(f"checkpoint {path} has no {COMPLETE} marker (it was not fully written); "
                         "delete it or point to a complete one")
    accelerator.load_state(str(path))
    return int(json.loads(marker.read_text())["step"])

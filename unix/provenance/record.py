"""Writing provenance records (see the package docstring for the format)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

PROV_SUFFIX = ".prov.json"
RECORD_VERSION = 1
TRACKED_PACKAGES = (
    "unix-cxr", "torch", "transformers", "diffusers", "accelerate", "tokenizers", "safetensors",
    "snakemake", "openai", "pandas", "pyarrow", "numpy", "scipy", "scikit-learn", "pillow",
)
_CHUNK = 1 << 20


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the provenance record of `path` lives."""
    p = Path(path)
    return p.with_name(p.name.rstrip("/") + PROV_SUFFIX)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: str | os.PathLike) -> str | None:
    """sha256 of a file; for a directory, of the sorted list of (relative path, file sha256).

    Returns None when the path does not exist.
    """
    p = Path(path)
    if p.is_file():
        return _sha256_file(p)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.endswith(PROV_SUFFIX)):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(b"\0")
            h.update(_sha256_file(f).encode())
            h.update(b"\n")
        return "dir:" + h.hexdigest()
    return None


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Git commit of the project checkout and whether the tree has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def hardware() -> dict[str, Any]:
    """CPU model and count, GPU model and count (when torch sees CUDA), host name."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"host": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "gpus": []}
    import sys

    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _named(io: Any) -> list[tuple[str | None, str]]:
    """Flatten a Snakemake Namedlist into (name, path) pairs."""
    names = {}
    if hasattr(io, "_names"):
        for name, (start, end) in io._names.items():
            for i in range(start, (end if end is not None else start + 1)):
                names[i] = name
    return [(names.get(i), str(p)) for i, p in enumerate(io)]


def write_record(output: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write one record atomically beside `output`."""
    path = sidecar_path(output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(record), indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def build_record(
    rule: str,
    inputs: Iterable[tuple[str | None, str]],
    outputs: Iterable[tuple[str | None, str]],
    params: dict[str, Any],
    wildcards: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The common part of the records of one job's outputs."""
    return {
        "record_version": RECORD_VERSION,
        "rule": rule,
        "wildcards": wildcards,
        "params": params,
        "seed": params.get("seed"),
        "inputs": [{"name": n, "path": p, "sha256": sha256_path(p)} for n, p in inputs],
        "outputs": [{"name": n, "path": p, "sha256": sha256_path(p)} for n, p in outputs],
        "code": code_version(),
        "packages": package_versions(),
        "hardware": hardware(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extra": extra or {},
    }


def record_job(smk: Any, extra: dict[str, Any] | None = None) -> list[Path]:
    """Write the provenance record of every output of a Snakemake job."""
    params = {k: v for k, v in smk.params.items()} if hasattr(smk.params, "items") else {}
    wildcards = {k: v for k, v in smk.wildcards.items()} if hasattr(smk.wildcards, "items") else {}
    outputs = _named(smk.output)
    record = build_record(smk.rule, _named(smk.input), outputs, params, wildcards, extra)
    return [write_record(path, record) for _, path in outputs]

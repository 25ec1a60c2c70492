"""`unix audit --verify`: re-hash every file that any provenance record under results/ names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from unix.provenance.audit_tree import short_sha
from unix.provenance.record import PROV_SUFFIX, sha256_path

# Directories under results/ that hold no results of their own (Snakemake's job logs and timings).
UNRECORDED_OK = ("logs", "benchmarks")


def iter_records(results: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every (sidecar path, record) under `results`."""
    for side in sorted(results.rglob("*" + PROV_SUFFIX)):
        try:
            yield side, json.loads(side.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            yield side, {"_error": str(exc)}


def verify(directory: str | Path = ".", results: str = "results") -> dict[str, Any]:
    """Re-hash every file that any record under `results/` names (outputs and inputs).

    Returns {"checked": n, "mismatches": [...], "missing": [...], "unreadable": [...],
    "unrecorded": [...], "ok": bool}; `ok` is False on any hash mismatch, missing file or unreadable record.
    A recorded file that is gone fails too: the records no longer describe the results (the workflow has no
    `temp()` outputs; one that adds them must leave them out of the records).
    """
    directory = Path(directory)
    root = directory / results
    expected: dict[str, list[tuple[str, str, str]]] = {}  # path -> [(sha, sidecar, role)]
    covered: set[Path] = set()
    unreadable = []
    for side, record in iter_records(root):
        if "_error" in record:
            unreadable.append({"record": str(side), "error": record["_error"]})
            continue
        for role in ("outputs", "inputs", "external_inputs"):
            for entry in record.get(role, []):
                if role == "external_inputs" and entry.get("sha256") is None:
                    continue  # recorded by path only (too many files to hash)
                expected.setdefault(entry["path"], []).append(
                    (entry.get("sha256"), str(side.relative_to(directory)), role[:-1]))
                if role == "outputs":
                    covered.add((directory / entry["path"]).resolve())
    mismatches, missing = [], []
    for path, claims in sorted(expected.items()):
        p = Path(path)
        current = sha256_path(p if p.is_absolute() else directory / p)
        for sha, side, role in claims:
            if current is None:
                missing.append({"path": path, "record": side, "role": role})
            elif sha != current:
                mismatches.append({"path": path, "record": side, "role": role,
                                   "recorded": sha, "current": current})
    unrecorded = []
    if root.is_dir():
        for f in sorted(root.rglob("*")):
            if not f.is_file() or f.name.endswith((PROV_SUFFIX, ".tmp", ".snakemake_timestamp")):
                continue
            rel = f.relative_to(root)
            if rel.parts[0] in UNRECORDED_OK or f.name == "README.md":
                continue
            r = f.resolve()
            if r in covered or any(parent in covered for parent in r.parents):
                continue
            unrecorded.append(str(f.relative_to(directory)))
    return {
        "checked": len(expected),
        "mismatches": mismatches,
        "missing": missing,
        "unreadable": unreadable,
        "unrecorded": unrecorded,
        "ok": not mismatches and not missing and not unreadable,
    }


def render_verify(report: dict[str, Any]) -> str:
    """The verify report for a person."""
    lines = [f"re-hashed {report['checked']} recorded files"]
    for m in report["mismatches"]:
        what = "was modified after it was written" if m["role"] == "output" else "changed since it was used"
        lines.append(f"MISMATCH {m['path']} {what} (record {m['record']}: "
                     f"{short_sha(m['recorded'])}, now {short_sha(m['current'])})")
    for m in report["missing"]:
        lines.append(f"MISSING  {m['path']} ({m['role']} in {m['record']})")
    for u in report["unreadable"]:
        lines.append(f"UNREADABLE record {u['record']}: {u['error']}")
    by_dir: dict[str, list[str]] = {}
    for u in report["unrecorded"]:
        by_dir.setdefault(str(Path(u).parent), []).append(u)
    for d, files in by_dir.items():
        if len(files) > 3:
            lines.append(f"no record {d}/ ({len(files)} files; not workflow outputs, e.g. caches or checkpoints)")
        else:
            lines.extend(f"no record {u}" for u in files)
    lines.append("OK: every recorded file exists and its hash matches" if report["ok"] else
                 "FAILED: some recorded files are missing or differ from their records; rerun the workflow "
                 "(snakemake remakes missing outputs) or restore the files")
    return "\n".join(lines)

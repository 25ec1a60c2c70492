"""The provenance tree behind `unix audit`: its data model (:class:`Node`, :class:`Issue`) and the
:class:`Auditor` that builds it by following records from a result down to the raw inputs, flagging inputs,
params and outputs that no longer match their records (see :mod:`unix.provenance.audit` for the flags)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from unix.provenance.record import git_version, sha256_path, sidecar_path

SYNTHETIC_MARK = "results/data/synthetic/"
# Keys of a record's `extra` that hold LLM call records (one dict per call).
LLM_KEYS = ("llm_calls", "llm_call_records")
_MISSING = object()


@dataclass
class Issue:
    """One finding about a node."""

    kind: str
    """input_changed | input_missing | param_changed | config_key_missing | output_modified |
    output_missing | code_differs | dirty_checkout."""
    message: str
    """A sentence for a person."""
    fatal: bool = True
    """False for notes that do not make the audit fail (code version, dirty checkout)."""


@dataclass
class Node:
    """A file in the provenance tree: a result with a record, or a raw input without one."""

    path: str
    rule: str | None = None
    """The rule that made the file; None for a raw input (no record)."""
    record_path: str | None = None
    synthetic: bool = False
    recorded_sha256: str | None = None
    """The hash the parent's record gives for this file (the node's own record for the root)."""
    current_sha256: str | None = None
    created: str | None = None
    code: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config_keys: dict[str, str] = field(default_factory=dict)
    subset_params: list[str] = field(default_factory=list)
    """Params that hold a config section plus derived fields: compared on the section's keys only."""
    seed: Any = None
    hardware: dict[str, Any] | None = None
    llm_calls: dict[str, Any] | None = None
    """Summary of the LLM call records in the record: count, models, backends, a few examples."""
    extra: dict[str, Any] = field(default_factory=dict)
    """The scalar part of the step's extra provenance (counts, decisions)."""
    issues: list[Issue] = field(default_factory=list)
    upstream_problem: bool = False
    same_job_as: str | None = None
    """Set when another output of the same job is shown higher up (its inputs are not repeated)."""
    via_param: str | None = None
    """For an input outside results/ that reached the job through a param: that param's name."""
    repeated: bool = False
    """True when the same file was already shown higher up (its subtree is not repeated)."""
    children: list["Node"] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        return any(i.fatal for i in self.issues)

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.walk()


def find_record(path: Path, root: Path) -> tuple[dict[str, Any], Path, Path] | None:
    """The record that covers `path`: its own sidecar, or that of a directory output holding it.

    Returns (record, sidecar path, the recorded output path) or None for a raw input.
    """
    side = sidecar_path(path)
    if side.is_file():
        return json.loads(side.read_text()), side, path
    root = root.resolve()
    for parent in path.parents:
        try:
            parent.resolve().relative_to(root)
        except ValueError:
            break
        if parent.resolve() == root:
            break
        side = sidecar_path(parent)
        if side.is_file():
            record = json.loads(side.read_text())
            outs = {(root / o["path"]).resolve() for o in record.get("outputs", [])}
            if parent.resolve() in outs:
                return record, side, parent
    return None


def _norm(p: str) -> str:
    return str(Path(p.rstrip("/")))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _config_value(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def summarize_llm_calls(extra: dict[str, Any], directory: Path | None = None) -> dict[str, Any] | None:
    """Count, models, outcomes and the first calls of the LLM call records behind a result.

    Steps report LLM calls in `extra` either as a list of call dicts, or (the cleaning stage) as a
    summary `{"table": <parquet of every call>, "calls": n, "models": [...]}`; the call table is then
    read for outcomes, cache hits and examples.
    """
    found = None
    for key in LLM_KEYS:
        if key in extra:
            found = extra[key]
            break
    if found is None:
        return None
    if isinstance(found, list):
        dicts = [c for c in found if isinstance(c, dict)]
        return {
            "count": len(found),
            "models": sorted({str(c.get("model")) for c in dicts if c.get("model") is not None}),
            "backends": sorted({str(c.get("backend")) for c in dicts if c.get("backend") is not None}),
            "examples": dicts[:3],
        }
    if not isinstance(found, dict):
        return None
    summary: dict[str, Any] = {
        "count": int(found.get("calls") or 0), "models": list(found.get("models") or []), "backends": [],
        "table": found.get("table"), "first": found.get("first"), "last": found.get("last"), "examples": [],
    }
    table = found.get("table")
    if table:
        path = Path(table) if Path(table).is_absolute() or directory is None else directory / table
        if path.is_file():
            import pandas as pd

            df = pd.read_parquet(path)
            summary["count"] = int(len(df))
            if "outcome" in df.columns:
                summary["outcomes"] = {str(k): int(v) for k, v in df["outcome"].value_counts().items()}
            if "from_cache" in df.columns:
                summary["from_cache"] = int(df["from_cache"].astype(bool).sum())
            summary["examples"] = json.loads(df.head(3).to_json(orient="records", date_format="iso"))
    return summary


class Auditor:
    """Builds provenance trees for files of one workflow directory against its current config."""

    def __init__(self, directory: str | Path = ".", config: dict[str, Any] | None = None,
                 head: dict[str, Any] | None = None):
        self.directory = Path(directory)
        self.config = config
        self.head = head if head is not None else _head()

    def _abs(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.directory / p

    def tree(self, path: str, max_depth: int | None = None, row: str | None = None) -> Node:
        """The provenance tree of `path` (relative to the directory, or absolute).

        `row`: for a table, follow only the inputs behind this row (a row name, or a unique part of
        one); the table's record maps rows to their metrics files (`extra.row_sources`).
        """
        only = None
        if row is not None:
            found = find_record(self._abs(path), self.directory)
            sources = ((found[0].get("extra") or {}).get("row_sources") or {}) if found else {}
            if not sources:
                raise ValueError(f"{path} has no per-row sources in its record; audit the whole file instead")
            hits = [name for name in sources if name == row] or [name for name in sources if row in name]
            if len(hits) != 1:
                raise ValueError(f"--row {row!r} matches {len(hits)} rows of {path}; rows: {sorted(sources)}")
            value = sources[hits[0]]
            only = {_norm(p) for p in ([value] if isinstance(value, str) else value)}
        self._jobs: dict[str, Node] = {}
        self._nodes: dict[str, Node] = {}
        return self._node(path, None, set(), 0, max_depth, only)

    def _node(self, path: str, recorded: str | None, seen: set[str], depth: int,
              max_depth: int | None, only: set[str] | None = None, hash_it: bool = True) -> Node:
        abs_path = self._abs(path)
        node = Node(path=path, synthetic=SYNTHETIC_MARK in Path(path).as_posix() + "/")
        if hash_it:
            node.current_sha256 = sha256_path(abs_path)
        elif abs_path.exists():
            node.current_sha256 = "not hashed (recorded by path only)"
        node.recorded_sha256 = recorded
        key = str(abs_path.resolve())
        if key in seen:
            node.repeated = True
        found = find_record(abs_path, self.directory)
        if found is not None:
            record, side, out_path = found
            node.rule = record.get("rule")
            node.record_path = str(side)
            node.created = record.get("created")
            node.code = record.get("code")
            node.params = record.get("params") or {}
            node.config_keys = record.get("config_keys") or {}
            node.subset_params = list(record.get("config_keys_subset") or [])
            node.seed = record.get("seed")
            node.hardware = record.get("hardware")
            extra = record.get("extra") or {}
            node.llm_calls = summarize_llm_calls(extra, self.directory)
            node.extra = {k: v for k, v in extra.items() if k not in LLM_KEYS and _small(v)}
            if recorded is None:
                node.recorded_sha256 = next(
                    (o["sha256"] for o in record.get("outputs", []) if _norm(o["path"]) == _norm(path)), None)
        if not node.repeated:
            self._check_self(node, found)
        if found is None and node.current_sha256 is None:
            node.issues.append(Issue("input_missing", f"{path} does not exist any more"))
        elif recorded is not None and node.current_sha256 is not None and node.current_sha256 != recorded:
            node.issues.append(Issue(
                "input_changed",
                f"changed since its consumer was made (recorded {short_sha(recorded)}, "
                f"now {short_sha(node.current_sha256)})"))
        job = _job_key(found[0]) if found is not None else None
        first = self._jobs.get(job) if job is not None else None
        if found is not None and not node.repeated and first is not None:
            # Another output of a job shown above: its params and inputs were checked there.
            seen.add(key)
            node.same_job_as = first.path
            node.upstream_problem = first.upstream_problem or any(
                i.kind in ("param_changed", "config_key_missing") for i in first.issues)
            self._nodes.setdefault(key, node)
            return node
        if found is not None and not node.repeated:
            seen.add(key)
            self._jobs[job] = node
            self._check_params(node)
            self._check_code(node)
            if max_depth is None or depth < max_depth:
                for inp in found[0].get("inputs", []):
                    if only is not None and _norm(inp["path"]) not in only:
                        continue
                    child = self._node(inp["path"], inp.get("sha256"), seen, depth + 1, max_depth)
                    node.children.append(child)
                for ext in found[0].get("external_inputs", []) if only is None else []:
                    child = self._node(ext["path"], ext.get("sha256"), seen, depth + 1, max_depth,
                                       hash_it=ext.get("sha256") is not None)
                    child.via_param = ext.get("param")
                    node.children.append(child)
        node.upstream_problem = any(c.problem or c.upstream_problem for c in node.children)
        if node.repeated and key in self._nodes:
            first = self._nodes[key]
            node.upstream_problem = node.upstream_problem or first.problem or first.upstream_problem
        else:
            self._nodes.setdefault(key, node)
        return node

    def _check_self(self, node: Node, found: tuple[dict[str, Any], Path, Path] | None) -> None:
        if found is None:
            return
        record, _, out_path = found
        rel_out = None
        for o in record.get("outputs", []):
            if self._abs(o["path"]).resolve() == out_path.resolve():
                rel_out = o
        if rel_out is None:
            return
        current = sha256_path(out_path)
        if current is None:
            node.issues.append(Issue("output_missing", f"{rel_out['path']} (recorded output) is missing"))
        elif current != rel_out.get("sha256"):
            node.issues.append(Issue(
                "output_modified",
                f"{rel_out['path']} was modified after its record was written "
                f"(recorded {short_sha(rel_out.get('sha256'))}, now {short_sha(current)})"))

    def _check_params(self, node: Node) -> None:
        if self.config is None:
            return
        for name, dotted in node.config_keys.items():
            current = _config_value(self.config, dotted)
            recorded = node.params.get(name)
            if current is _MISSING:
                node.issues.append(Issue(
                    "config_key_missing", f"param {name}: config key {dotted} is no longer in the config"))
            elif name in node.subset_params and isinstance(current, dict) and isinstance(recorded, dict):
                for key, value in current.items():
                    if key in recorded and not _same(value, recorded[key]):
                        node.issues.append(Issue(
                            "param_changed",
                            f"param {name}: made with {dotted}.{key} = {recorded[key]!r}, config now has {value!r}"))
            elif not _same(current, recorded):
                node.issues.append(Issue(
                    "param_changed",
                    f"param {name}: made with {dotted} = {node.params.get(name)!r}, config now has {current!r}"))

    def _check_code(self, node: Node) -> None:
        code = node.code or {}
        head = self.head.get("commit")
        if code.get("commit") and head and code["commit"] != head:
            node.issues.append(Issue(
                "code_differs", f"made by code {code['commit'][:10]}, HEAD is {head[:10]}", fatal=False))
        if code.get("dirty"):
            node.issues.append(Issue(
                "dirty_checkout", "made from a checkout with uncommitted changes", fatal=False))


def _job_key(record: dict[str, Any]) -> str:
    """One job's identity: its rule, time and output paths (shared by the records of all its outputs)."""
    outs = sorted(str(o.get("path")) for o in record.get("outputs", []))
    return json.dumps([record.get("rule"), record.get("created"), outs])


def _small(value: Any) -> bool:
    """Whether a value of a record's extra is small enough to carry in the tree (decisions, counts)."""
    return len(json.dumps(value, default=str)) <= 4000


def _head() -> dict[str, Any]:
    return git_version(Path(__file__).resolve().parents[2])


def short_sha(sha: str | None) -> str:
    """A hash shortened for a person: its prefix (``sha256:``) and the first 12 digits."""
    if not sha:
        return "none"
    prefix, _, digest = sha.rpartition(":")
    return f"{prefix + ':' if prefix else ''}{digest[:12]}"

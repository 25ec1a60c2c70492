"""`unix audit`: trace a result back through its provenance records, and verify recorded hashes.

    unix audit results/tables/table3.csv            # the tree down to the raw MIMIC files, models, LLM calls
    unix audit results/tables/table3.csv --json     # the same tree as JSON
    unix audit results/tables/table3.csv --row unix-512   # only the inputs behind one row
    unix audit --verify                             # re-hash every recorded file; exit 1 on a mismatch or
                                                    # a recorded file that is missing

Run it from the workflow's directory (or pass `--directory`): record paths are relative to it, and the
current config is read from `<directory>/config.yaml` (or `--config`).

What the tree flags, per node:
- STALE, an input whose sha256 now differs from the one recorded when this file was made, or a param
  whose recorded value differs from the current value of its config key (`config_keys` in the record);
- MODIFIED, the file itself no longer has the hash its own record gives (edited after it was written);
- MISSING, a recorded input that is gone;
- a note (never a failure) when the record was written by another code version than HEAD, or from a
  checkout with uncommitted changes: Snakemake does not rerun jobs when imported code changes.
A node is also marked "stale upstream" when anything below it is stale, modified or missing.

Exit status: 0 when nothing is stale, modified or missing; 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from unix.provenance.record import PROV_SUFFIX, git_version, sha256_path, sidecar_path

# Directories under results/ that hold no results of their own (Snakemake's job logs and timings).
UNRECORDED_OK = ("logs", "benchmarks")
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
                f"changed since its consumer was made (recorded {_short(recorded)}, now {_short(node.current_sha256)})"))
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
                f"(recorded {_short(rel_out.get('sha256'))}, now {_short(current)})"))

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


def _short(sha: str | None) -> str:
    if not sha:
        return "none"
    prefix, _, digest = sha.rpartition(":")
    return f"{prefix + ':' if prefix else ''}{digest[:12]}"


# --------------------------------------------------------------------------- rendering


def node_to_dict(node: Node) -> dict[str, Any]:
    """A JSON-ready dict of a tree (with `stale`/`problem` flags computed)."""
    d = asdict(node)
    d["problem"] = node.problem
    d["children"] = [node_to_dict(c) for c in node.children]
    return d


def render_tree(node: Node, verbose: bool = False, head: dict[str, Any] | None = None) -> str:
    """The tree as indented text for a person (code-version notes once at the end unless `verbose`)."""
    head = head or {}
    lines: list[str] = []
    _render(node, "", "", lines, verbose)
    nodes = list(node.walk())
    problems = [n for n in nodes if n.problem and not n.repeated]
    raw = [n for n in nodes if n.rule is None and not n.repeated]
    llm = sum((n.llm_calls or {}).get("count", 0) for n in nodes if not n.repeated)
    versions = sorted({(str((n.code or {}).get("commit"))[:10], bool((n.code or {}).get("dirty")))
                       for n in nodes if n.rule and not n.repeated})
    notes = {i.message for n in nodes for i in n.issues if not i.fatal}
    lines.append("")
    if versions:
        made = ", ".join(f"{c}{' (uncommitted changes)' if d else ''}" for c, d in versions)
        lines.append(f"code: made by {made}; HEAD is {str(head.get('commit'))[:10]}"
                     + (" (Snakemake does not rerun jobs when code changes: check these results)"
                        if any(i for i in notes) else ""))
    lines.append(
        f"{len([n for n in nodes if not n.repeated])} files, {len(raw)} raw inputs, {llm} LLM calls recorded; "
        f"{len(problems)} stale/modified/missing" + (f"; {len(notes)} note(s) on code version" if notes else ""))
    lines.append("RESULT IS STALE: rerun the workflow (snakemake) to bring it up to date."
                 if problems else "Up to date with its recorded inputs and the current config.")
    return "\n".join(lines)


def _status(node: Node) -> str:
    if node.repeated:
        return "(shown above)"
    if node.same_job_as:
        mark = "MODIFIED " if any(i.kind == "output_modified" for i in node.issues) else ""
        return f"{mark}(same job as {node.same_job_as})"
    flags = []
    kinds = {i.kind for i in node.issues if i.fatal}
    if kinds & {"input_changed", "param_changed", "config_key_missing"}:
        flags.append("STALE")
    if "output_modified" in kinds:
        flags.append("MODIFIED")
    if kinds & {"input_missing", "output_missing"}:
        flags.append("MISSING")
    if node.upstream_problem and not flags:
        flags.append("stale upstream")
    return " ".join(flags) or "ok"


def _render(node: Node, prefix: str, child_prefix: str, lines: list[str], verbose: bool,
            shown: set[str] | None = None) -> None:
    shown = set() if shown is None else shown
    what = f"[{node.rule}]" if node.rule else "[raw input, no record]"
    if node.via_param:
        what += f" (via param {node.via_param})"
    if node.synthetic:
        what += " (synthetic)"
    sha = _short(node.current_sha256)
    lines.append(f"{prefix}{node.path}  {what}  sha256 {sha}  {_status(node)}")
    detail = child_prefix + ("│   " if node.children else "    ")
    if not node.repeated and not node.same_job_as:
        for issue in node.issues:
            if issue.fatal or verbose:
                lines.append(f"{detail}{'!' if issue.fatal else '~'} {issue.message}")
        if node.llm_calls:
            c = node.llm_calls
            more = ""
            if c.get("outcomes"):
                more += "; outcomes: " + ", ".join(f"{k} {v}" for k, v in c["outcomes"].items())
            if c.get("from_cache") is not None:
                more += f"; {c['from_cache']} from cache"
            if c.get("table"):
                more += f"; every call in {c['table']}"
            lines.append(f"{detail}LLM calls: {c['count']} (models: {', '.join(c['models']) or 'none'}"
                         + (f"; backends: {', '.join(c['backends'])}" if c.get("backends") else "") + more + ")")
            if verbose:
                for ex in c.get("examples", []):
                    lines.append(f"{detail}  call: {json.dumps(ex, sort_keys=True, default=str)[:300]}")
        for key in ("data_use", "decisions"):
            if key in node.extra:
                text = f"{key}: {json.dumps(node.extra[key], sort_keys=True, default=str)[:400]}"
                if text not in shown:
                    shown.add(text)
                    lines.append(f"{detail}{text}")
        if verbose and node.rule:
            if node.params:
                lines.append(f"{detail}params: {json.dumps(node.params, sort_keys=True, default=str)}")
            if node.seed is not None:
                lines.append(f"{detail}seed: {node.seed}")
            if node.code:
                lines.append(f"{detail}code: {node.code.get('commit')} dirty={node.code.get('dirty')}")
            if node.created:
                lines.append(f"{detail}created: {node.created}")
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        _render(child, child_prefix + ("└── " if last else "├── "),
                child_prefix + ("    " if last else "│   "), lines, verbose, shown)


# --------------------------------------------------------------------------- verify


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
                     f"{_short(m['recorded'])}, now {_short(m['current'])})")
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


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `unix audit`."""
    parser.add_argument("path", nargs="?", help="a file under results/ (e.g. results/tables/table3.csv)")
    parser.add_argument("--verify", action="store_true",
                        help="re-hash every file named in any record under results/; exit 1 on a mismatch "
                             "or a missing file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--directory", "-d", default=".", help="the workflow directory (default: .)")
    parser.add_argument("--config", default=None,
                        help="config to compare params with (default: <directory>/config.yaml)")
    parser.add_argument("--depth", type=int, default=None, help="stop the tree at this depth")
    parser.add_argument("--row", default=None,
                        help="for a table: follow only the inputs of this row (e.g. 'unix-256')")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print params, seed, code, time")


def load_current_config(directory: Path, path: str | None) -> dict[str, Any] | None:
    """The config the audit compares with (None when there is none)."""
    cfg = Path(path) if path else directory / "config.yaml"
    if not cfg.is_file():
        if path:
            raise FileNotFoundError(f"--config {path} does not exist; pass the workflow's config.yaml")
        return None
    return yaml.safe_load(cfg.read_text()) or {}


def run(args: argparse.Namespace) -> int:
    """Entry point of `unix audit`."""
    directory = Path(args.directory)
    if args.verify:
        report = verify(directory)
        print(json.dumps(report, indent=2) if args.json else render_verify(report))
        return 0 if report["ok"] else 1
    if not args.path:
        print("unix audit: give a result file (e.g. results/tables/table3.csv) or --verify", file=sys.stderr)
        return 2
    target = Path(args.path)
    if not (target if target.is_absolute() else directory / target).exists():
        print(f"unix audit: {args.path} does not exist under {directory.resolve()}; "
              "run from the workflow directory or pass --directory", file=sys.stderr)
        return 2
    try:
        config = load_current_config(directory, args.config)
    except FileNotFoundError as exc:
        print(f"unix audit: {exc}", file=sys.stderr)
        return 2
    auditor = Auditor(directory, config)
    try:
        tree = auditor.tree(args.path, args.depth, args.row)
    except ValueError as exc:
        print(f"unix audit: {exc}", file=sys.stderr)
        return 2
    if config is None:
        print(f"note: no config.yaml in {directory}; params are not compared", file=sys.stderr)
    if args.json:
        print(json.dumps(node_to_dict(tree), indent=2, default=str))
    else:
        print(render_tree(tree, args.verbose, auditor.head))
    bad = any(n.problem for n in tree.walk())
    return 1 if bad else 0

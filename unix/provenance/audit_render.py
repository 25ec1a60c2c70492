"""Rendering of a provenance tree (:mod:`unix.provenance.audit_tree`) as indented text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from unix.provenance.audit_tree import Node, short_sha

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
    sha = short_sha(node.current_sha256)
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

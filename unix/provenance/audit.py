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

The tree is built in :mod:`unix.provenance.audit_tree`, rendered by :mod:`unix.provenance.audit_render`
and `--verify` lives in :mod:`unix.provenance.verify`; this module is the command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from unix.provenance.audit_render import node_to_dict, render_tree
from unix.provenance.audit_tree import Auditor
from unix.provenance.verify import render_verify, verify

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

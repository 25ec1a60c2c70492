"""The `unix` command line. Each subcommand lives in its own module, imported only when used, so
`unix --help` stays fast and a command never pays for torch unless it needs it.

A subcommand module defines `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-data": ("unix.data.demo_command", "write a synthetic MIMIC-CXR-JPG tree in the real layout"),
    "clean": ("unix.cleaning.command", "clean a table of reports (parquet or CSV with report_id, text)"),
    "report": ("unix.model.report_command", "write a radiology report for a chest X-ray image"),
    "generate": ("unix.model.generate_command", "generate a chest X-ray image from a report prompt"),
    "audit": ("unix.provenance.audit", "trace a result back to its inputs and flag stale ones"),
    "plan": ("unix.training.plan", "memory and time plan of the training stages per GPU kind"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unix", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"unix {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

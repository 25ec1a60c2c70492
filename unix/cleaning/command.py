"""`unix clean INPUT --out OUTPUT`: clean any table of reports outside the workflow.

INPUT is parquet or CSV with columns `report_id` and `text`; OUTPUT (parquet or CSV) gets the columns of
`unix.cleaning.backends.OUTPUT_COLUMNS`. Defaults come from the `cleaning:` section of --config (when
the file exists) and are overridden by the options below; the workflow rule calls the same code. The
accounting is printed at the end and written beside OUTPUT (`<OUTPUT>.accounting.csv`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from unix.cleaning.options import BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="parquet or CSV table with report_id and text columns")
    parser.add_argument("--out", required=True, metavar="OUTPUT", help="output table (.parquet or .csv)")
    parser.add_argument("--config", default="config.yaml",
                        help="config file whose `cleaning:` section gives the defaults (ignored when absent)")
    parser.add_argument("--backend", choices=BACKENDS, help="rules (offline) or openai")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="model name, e.g. deepseek-chat")
    parser.add_argument("--api-key-env", help="NAME of the environment variable holding the API key")
    parser.add_argument("--requests-in-flight", type=int, help="most concurrent requests")
    parser.add_argument("--cache-dir", help="cache directory (default: cleaning.cache_dir of the config)")
    parser.add_argument("--no-judge", action="store_true", help="skip the self-judgement call")
    parser.add_argument("--local-host", action="append", default=None,
                        help="host name (pattern) you declare local; repeatable")
    parser.add_argument("--acknowledge-remote", metavar="HOST",
                        help="accept sending report text to remote HOST (see the data-use note in README)")
    parser.add_argument("--retry-failed", action="store_true", help="resend reports cached as failed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _options_from(args: argparse.Namespace):
    from unix.cleaning.options import CleaningOptions

    section: dict = {}
    cache_dir = "results/cleaning/cache"
    config_path = Path(args.config)
    if config_path.exists():
        from unix.config import load_config

        config = load_config(config_path)
        section = config.get("cleaning", {})
        cache_dir = section.get("cache_dir", cache_dir)
    overrides = {
        "backend": args.backend, "base_url": args.base_url, "model": args.model, "api_key_env": args.api_key_env,
        "requests_in_flight": args.requests_in_flight, "local_hosts": args.local_host,
        "remote_acknowledgement": args.acknowledge_remote,
        "judge": False if args.no_judge else None, "retry_failed": True if args.retry_failed else None,
    }
    return CleaningOptions.from_config(section, **overrides), args.cache_dir or cache_dir


def run(args: argparse.Namespace) -> int:
    from unix.cleaning.accounting import accounting_table, format_accounting
    from unix.cleaning.backends import CleaningError, clean_reports, read_report_table, write_table
    from unix.cleaning.guard import DataUseError
    from unix.pipeline import setup_logging

    setup_logging()
    try:
        options, cache_dir = _options_from(args)
        df = read_report_table(args.input)
        result = clean_reports(df["report_id"].astype(str).tolist(), df["text"].tolist(), options,
                               cache_dir=cache_dir, progress=not args.no_progress)
    except (DataUseError, CleaningError, ValueError) as err:
        logging.getLogger("unix").error("%s", err)
        return 2
    out = Path(args.out)
    write_table(result.table, out)
    row = result.accounting.row()
    write_table(accounting_table([row], ["unix clean"]), out.with_name(out.name + ".accounting.csv"))
    print(format_accounting(row))
    print(json.dumps({"output": str(out), "data_use": result.data_use.to_dict() if result.data_use else None}))
    # Failed reports are outcomes recorded in the table (raw text kept, flagged), not errors of the command.
    return 0


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="unix clean")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))

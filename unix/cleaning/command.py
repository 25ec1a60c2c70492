"""`unix clean INPUT --out OUTPUT`: clean any table of reports outside the workflow.

INPUT is parquet or CSV with columns `report_id` and `text`; OUTPUT (parquet or CSV) gets the columns of
`unix.cleaning.backends.OUTPUT_COLUMNS`. Defaults come from the `cleaning:` section of --config (when
the file exists) and are overridden by the options below; the workflow rule calls the same code.
Beside OUTPUT:
- `<OUTPUT>.data_use.json`: the data-use decision (loopback, listed_local, acknowledged_remote, or
  refused), written before any report is sent;
- `<OUTPUT>.accounting.csv`: the accounting (also printed at the end);
- `<OUTPUT>.llm_calls.parquet`: every request attempt, failed or not, with status and error.
Exit status: 0 when at least one report was cleaned (failed reports are recorded and logged, not
errors); 1 when reports were given but none was cleaned (outputs still written); 2 when the run could not
start or had to stop: bad input or options, data use refused, the endpoint refused the key/model/URL, or
the circuit breaker tripped (cleaning.openai.max_consecutive_failures; what was cleaned stays cached).
A run that stopped after sending requests still writes `<OUTPUT>.llm_calls.parquet` (every attempt it made,
plus the cached ones behind the reports it finished) and `<OUTPUT>.accounting.csv` (its row labelled
`unix clean (stopped)`, the unfinished reports counted failed); OUTPUT itself is not written, and one left
by an earlier run is removed, so that the files beside it never describe two different runs.
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
    parser.add_argument("--max-consecutive-failures", type=int,
                        help="stop after this many transport failures in a row (circuit breaker)")
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
        "requests_in_flight": args.requests_in_flight,
        "max_consecutive_failures": args.max_consecutive_failures, "local_hosts": args.local_host,
        "remote_acknowledgement": args.acknowledge_remote,
        "judge": False if args.no_judge else None, "retry_failed": True if args.retry_failed else None,
    }
    return CleaningOptions.from_config(section, **overrides), args.cache_dir or cache_dir


def _write_data_use(decision, options, args: argparse.Namespace, out: Path) -> Path:
    """Record the data-use decision beside OUTPUT (before any report text is sent)."""
    import datetime as dt

    path = out.with_name(out.name + ".data_use.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **decision.to_dict(), "base_url": options.base_url if options.backend != "rules" else "",
        "model": options.model if options.backend != "rules" else "", "local_hosts": list(options.local_hosts),
        "remote_acknowledgement": options.remote_acknowledgement, "input": str(args.input), "output": str(out),
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": "unix clean",
    }
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    return path


def _write_records(result, out: Path, label: str) -> None:
    """Write `<OUTPUT>.accounting.csv` (one row labelled `label`, and the total) and `<OUTPUT>.llm_calls.parquet`."""
    import pandas as pd

    from unix.cleaning.accounting import accounting_table
    from unix.cleaning.backends import CALL_COLUMNS, write_table

    write_table(accounting_table([result.accounting.row()], [label]), out.with_name(out.name + ".accounting.csv"))
    write_table(pd.DataFrame(result.calls, columns=CALL_COLUMNS), out.with_name(out.name + ".llm_calls.parquet"))


def run(args: argparse.Namespace) -> int:
    from unix.cleaning.accounting import format_accounting
    from unix.cleaning.backends import (
        CleaningError, CleaningStopped, clean_reports, log_failures, read_report_table, require_cleaned, write_table,
    )
    from unix.cleaning.guard import DataUseError, check_data_use
    from unix.pipeline import setup_logging

    setup_logging()
    logger = logging.getLogger("unix")
    out = Path(args.out)
    try:
        options, cache_dir = _options_from(args)
        df = read_report_table(args.input)
        decision = check_data_use(options)
        data_use_path = _write_data_use(decision, options, args, out)
        if not decision.allowed:
            raise DataUseError(decision.explanation)
        result = clean_reports(df["report_id"].astype(str).tolist(), df["text"].tolist(), options,
                               cache_dir=cache_dir, progress=not args.no_progress)
    except CleaningStopped as err:
        logger.error("%s", err)
        row = err.result.accounting.row()
        _write_records(err.result, out, "unix clean (stopped)")
        out.unlink(missing_ok=True)
        logger.error("stopped after: %s. %s not written; its attempts are in %s", format_accounting(row), out,
                     out.with_name(out.name + ".llm_calls.parquet"))
        return 2
    except (DataUseError, CleaningError, ValueError) as err:
        logger.error("%s", err)
        return 2
    write_table(result.table, out)
    row = result.accounting.row()
    _write_records(result, out, "unix clean")
    print(format_accounting(row))
    print(json.dumps({"output": str(out), "data_use": decision.to_dict(), "data_use_record": str(data_use_path)}))
    log_failures(result, "unix clean")
    try:
        require_cleaned(result, "unix clean")
    except CleaningError as err:
        logger.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="unix clean")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))

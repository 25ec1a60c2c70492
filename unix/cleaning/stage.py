"""The cleaning stage of the workflow: scatter the reports into shards, clean each, gather, audit.

- `check_data_use`: the data-use decision, written to results/cleaning/data_use.json (stops on refusal);
- `clean_shard`: the reports of one shard (stable hash of report_id) of the understanding split; a shard
  whose reports all failed (or were empty) fails the job (`backends.require_cleaned`), and so does a run
  that stopped (`backends.CleaningStopped`). Snakemake deletes the outputs of a failed job, so a failed shard
  writes its request attempts to a file that is not an output (the workflow passes the job's log directory:
  `results/logs/clean_reports/{shard}.llm_calls.parquet`), which exists only while the shard's last run failed;
- `gather_shards`: the contract table results/cleaning/reports.parquet, the accounting table (one row per
  shard plus the total) and the table of every LLM request attempt behind it, failed or not;
- `audit_drift`: the label-drift table and its summary.
Each returns a dict that `unix.pipeline.run_step` stores in the outputs' provenance records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from unix.cleaning.accounting import accounting_table, format_accounting
from unix.cleaning.backends import (
    CALL_COLUMNS, OUTPUT_COLUMNS, CleaningError, CleaningResult, CleaningStopped, clean_reports, log_failures,
    require_cleaned, write_table,
)
from unix.cleaning.guard import check_data_use
from unix.cleaning.options import CleaningOptions

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["report_id", "study_id", *OUTPUT_COLUMNS[1:]]


def shard_of(report_id: str, n_shards: int) -> int:
    """Stable shard of a report: independent of row order, Python's hash seed and the other reports."""
    return int.from_bytes(hashlib.sha256(report_id.encode()).digest()[:8], "big") % n_shards


def reports_from_split(split: pd.DataFrame) -> pd.DataFrame:
    """One row per study of the understanding split: report_id "s{study_id}", study_id, text (raw)."""
    missing = [c for c in ("study_id", "report_text") if c not in split.columns]
    if missing:
        raise ValueError(f"the understanding split lacks column(s) {missing}; it is written by "
                         "select_understanding_split (see the data contract in README.md)")
    studies = split[["study_id", "report_text"]].drop_duplicates()
    conflicting = studies["study_id"][studies["study_id"].duplicated()].unique()
    if len(conflicting):
        raise ValueError(f"study_id(s) {list(conflicting[:5])} have different report_text in different rows of "
                         "the split; one study has one report: fix the split selection")
    studies = studies.sort_values("study_id")
    return pd.DataFrame({
        "report_id": [f"s{int(s)}" for s in studies["study_id"]],
        "study_id": studies["study_id"].astype("int64").to_numpy(),
        "text": studies["report_text"].fillna("").astype(str).to_numpy(),
    })


def check_data_use_step(options: CleaningOptions, out: str | os.PathLike) -> dict[str, Any]:
    """Write the data-use decision; raise DataUseError (after writing nothing) when refused."""
    from unix.cleaning.guard import DataUseError

    decision = check_data_use(options)
    if not decision.allowed:
        log.error("%s", decision.explanation)
        raise DataUseError(decision.explanation)
    log.info("data use: %s (%s)", decision.decision, decision.explanation)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(decision.to_dict(), indent=2, sort_keys=True))
    return {"data_use": decision.to_dict()}


def clean_shard(split_path: str | os.PathLike, shard: str, n_shards: int, options: CleaningOptions,
                cache_dir: str | os.PathLike, out_table: str | os.PathLike, out_accounting: str | os.PathLike,
                out_calls: str | os.PathLike, seed: int = 0, progress: bool = True,
                failed_calls: str | os.PathLike | None = None) -> dict[str, Any]:
    """Clean the reports of one shard of the understanding split; write table, accounting and calls.

    When the shard fails (the run stopped, or cleaned nothing), every attempt it made is written to
    `failed_calls` (when given) before the error propagates; a successful run removes an older one.
    """
    reports = reports_from_split(pd.read_parquet(split_path, columns=["study_id", "report_text"]))
    index = int(shard)
    if not 0 <= index < n_shards:
        raise ValueError(f"shard {shard} is outside 000..{n_shards - 1:03d} (cleaning.shards = {n_shards})")
    mine = reports[[shard_of(r, n_shards) == index for r in reports["report_id"]]]
    log.info("shard %s of %d: %d of %d reports", shard, n_shards, len(mine), len(reports))
    if failed_calls is not None:
        Path(failed_calls).unlink(missing_ok=True)  # it describes the shard's last run only
    try:
        result = clean_reports(mine["report_id"].tolist(), mine["text"].tolist(), options, cache_dir=cache_dir,
                               progress=progress, seed=seed)
    except CleaningStopped as err:
        log.error("shard %s stopped after: %s", shard, format_accounting(err.result.accounting.row()))
        _keep_failed_calls(err.result, failed_calls, shard)
        raise
    table = result.table.copy()
    table.insert(1, "study_id", mine["study_id"].to_numpy())
    write_table(table[REPORT_COLUMNS], out_table)
    row = result.accounting.row()
    write_table(accounting_table([row], [shard]), out_accounting)
    calls = pd.DataFrame(result.calls, columns=CALL_COLUMNS)
    write_table(calls, out_calls)
    log.info("shard %s: %s", shard, format_accounting(row))
    log_failures(result, f"shard {shard}")
    try:
        require_cleaned(result, f"shard {shard}")
    except CleaningError:
        _keep_failed_calls(result, failed_calls, shard)
        raise
    return {
        "accounting": row, "retry_reasons": dict(result.accounting.retry_reasons),
        "data_use": result.data_use.to_dict() if result.data_use else None, "cleaner": result.identity,
    }


def _keep_failed_calls(result: CleaningResult, path: str | os.PathLike | None, shard: str) -> None:
    """Write the attempts of a failing shard where Snakemake does not delete them, and say where."""
    if path is None:
        return
    write_table(pd.DataFrame(result.calls, columns=CALL_COLUMNS), path)
    log.error("shard %s failed: its request records (%d: this run's attempts and those behind its cached "
              "reports) are in %s", shard, len(result.calls), path)


def gather_shards(tables: Sequence[str], accountings: Sequence[str], calls: Sequence[str],
                  data_use: str | os.PathLike, out_reports: str | os.PathLike, out_accounting: str | os.PathLike,
                  out_calls: str | os.PathLike) -> dict[str, Any]:
    """Concatenate the shards (checking that no report is lost or duplicated) and their accounting."""
    frames = [pd.read_parquet(p) for p in tables]
    reports = pd.concat(frames, ignore_index=True).sort_values("study_id", kind="stable").reset_index(drop=True)
    dup = reports["report_id"][reports["report_id"].duplicated()]
    if len(dup):
        raise ValueError(f"report(s) {list(dup[:5])} appear in more than one shard; rerun the cleaning shards "
                         "after changing cleaning.shards (delete results/cleaning/shards)")
    write_table(reports, out_reports)
    acc_rows = pd.concat([pd.read_csv(p, dtype={"run": str}) for p in accountings], ignore_index=True)
    acc_rows = acc_rows[acc_rows["run"] != "total"]
    table = accounting_table(acc_rows.drop(columns="run").to_dict("records"), acc_rows["run"].tolist())
    write_table(table, out_accounting)
    call_table = pd.concat([pd.read_parquet(p) for p in calls], ignore_index=True)
    write_table(call_table, out_calls)
    total = table.iloc[-1].to_dict()
    log.info("all shards: %s", format_accounting(total))
    ok_calls = call_table[call_table["outcome"] == "ok"] if len(call_table) else call_table
    return {
        "data_use": json.loads(Path(data_use).read_text()),
        "accounting": {k: (v.item() if hasattr(v, "item") else v) for k, v in total.items()},
        "llm_calls": {
            "table": str(out_calls),
            "calls": int(len(call_table)),
            "by_status": {str(k): int(v) for k, v in call_table["status"].value_counts().items()}
            if "status" in call_table else {},
            "models": sorted(set(ok_calls["model"])) if len(ok_calls) else [],
            "first": str(call_table["time"].min()) if len(call_table) else None,
            "last": str(call_table["time"].max()) if len(call_table) else None,
        },
    }


def audit_drift(reports_path: str | os.PathLike, out_table: str | os.PathLike, out_summary: str | os.PathLike,
                labeler: str = "rules", **labeler_kwargs: Any) -> dict[str, Any]:
    """Label raw and cleaned reports and write the reports whose labels changed, plus a summary JSON."""
    from unix.cleaning.drift import default_labeler, label_drift

    table = pd.read_parquet(reports_path)
    drift, summary = label_drift(table, default_labeler(labeler, **labeler_kwargs))
    summary["labeler"] = labeler
    write_table(drift, out_table)
    Path(out_summary).write_text(json.dumps(summary, indent=2, sort_keys=True))
    log.info("label drift: %d of %d cleaned reports changed labels (rate %.4f)",
             summary["reports_with_changed_labels"], summary["compared"], summary["drift_rate"])
    return {"label_drift": summary}

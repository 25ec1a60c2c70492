"""Cleaning a table of reports with either backend; both write the same output table.

Output columns: report_id, raw_text, cleaned_text (`FINDINGS: ... IMPRESSION: ...`, or the raw text
when cleaning failed or was skipped), status (cleaned | failed | skipped), flagged (True unless cleaned),
backend, cache_key ("" when skipped), failure_reason ("" when cleaned).

Reports without content (null, empty, whitespace-, `___`- or header-only; `inputs.empty_input_reason`) are
never sent: status `skipped`, failure_reason `empty_input: <why>`, raw text kept (`""` for a null).

The `openai` backend, per report: a cleaning call whose answer must parse (`prompt.parse_cleaned`;
a malformed answer is re-requested up to `malformed_retries` times), then, with `judge`, the
self-judgement call; a rejected cleaning is redone up to `judge_retries` times, then recorded failed.
Finished reports are cached at once (see `cache`; written in a thread, off the event loop); transport
failures (retries exhausted) are not cached, so the next run resends exactly those. Every attempt, failed
or not, is in `CleaningResult.calls` with its status and error (`client.CallRecord`). When the circuit
breaker trips (`client.EndpointDown`), or the endpoint refuses the key, model or URL, the run stops at once
(requests in flight are cancelled and recorded `cancelled`) and `clean_reports` raises `CleaningStopped`,
whose `result` holds the accounting and every attempt made; the reports it did not finish are `failed`
with failure_kind `stopped` there (never cached). What was cleaned before stays cached.

A run that cleans nothing although it was given reports is an error for its callers (`require_cleaned`:
`unix clean` exits non-zero, a workflow shard fails); partial failure is not, but is logged with counts
(`log_failures`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from unix.cleaning import prompt as P
from unix.cleaning.accounting import Accounting, progress_bar
from unix.cleaning.cache import ResultCache, cache_key
from unix.cleaning.guard import DataUseDecision, enforce_data_use
from unix.cleaning.inputs import EMPTY_INPUT, empty_input_reason, is_null
from unix.cleaning.options import CleaningOptions
from unix.cleaning.rules import RULES_VERSION, clean_report_rules

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = [
    "report_id", "raw_text", "cleaned_text", "status", "flagged", "backend", "cache_key", "failure_reason",
]

CALL_COLUMNS = [
    "cache_key", "from_cache", "role", "attempt", "model", "request_id", "response_id", "tokens_in", "tokens_out",
    "latency_s", "time", "outcome", "status", "error",
]
"""llm_calls.parquet: one row per request attempt (see `client.CallRecord` for outcome, status and error)."""


class CleaningError(RuntimeError):
    """Cleaning cannot start or had to stop (the message says why and how to fix it)."""


@dataclass
class CleaningResult:
    """What one cleaning run produced."""

    table: pd.DataFrame
    """one row per input report, OUTPUT_COLUMNS."""
    accounting: Accounting
    calls: list[dict[str, Any]] = field(default_factory=list)
    """provenance of every LLM call behind the table (this run's and cached ones)."""
    data_use: DataUseDecision | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    """what the cache keys hash besides the raw text (prompt versions, model, sampling)."""


class CleaningStopped(CleaningError):
    """The run had to stop (circuit breaker, or the endpoint refused the key/model/URL).

    `result` is what it did: its accounting and every attempt (`calls`), for the records; its table is
    not a cleaning result (unfinished reports are `failed`, failure_reason `run stopped: ...`) and is not written.
    """

    def __init__(self, message: str, result: CleaningResult):
        super().__init__(message)
        self.result = result


def cleaner_identity(options: CleaningOptions) -> dict[str, Any]:
    """Everything besides the raw text that determines a cleaned report (hashed into cache keys)."""
    if options.backend == "rules":
        return {"backend": "rules", "rules_version": RULES_VERSION}
    identity = {
        "backend": "openai",
        "prompt_version": P.load_prompt(P.CLEAN_PROMPT).version,
        "model": options.model,
        "sampling": options.sampling,
        "judge_prompt_version": P.load_prompt(P.JUDGE_PROMPT).version if options.judge else None,
    }
    return identity


def _api_key(options: CleaningOptions, decision: DataUseDecision) -> str:
    key = os.environ.get(options.api_key_env, "")
    if key:
        return key
    if decision.decision in ("loopback", "listed_local"):
        # Local OpenAI-compatible servers (vLLM, llama.cpp) usually run without a key.
        log.info("environment variable %s is not set; sending a placeholder key to the local endpoint",
                 options.api_key_env)
        return "EMPTY"
    raise CleaningError(
        f"the API key is read from the environment variable {options.api_key_env} "
        f"(cleaning.openai.api_key_env), which is not set; export it before running"
    )


def _entry(status: str, cleaned: str, kind: str, reason: str, calls: list, judge: dict | None,
           identity: dict[str, Any], raw_sha: str) -> dict[str, Any]:
    return {
        "status": status, "cleaned_text": cleaned, "failure_kind": kind, "failure_reason": reason,
        "judge": judge, "calls": [c.to_dict() for c in calls], "raw_sha256": raw_sha,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **identity,
    }


async def _clean_one(client, raw: str, options: CleaningOptions, acct: Accounting,
                     identity: dict[str, Any], raw_sha: str, calls: list) -> dict[str, Any]:
    """Clean one report; every attempt is appended to `calls` as it is made (also when this is cancelled)."""
    from unix.cleaning.client import RequestRejected, TransportFailure

    clean_prompt = P.load_prompt(P.CLEAN_PROMPT)
    judge_prompt = P.load_prompt(P.JUDGE_PROMPT)

    def fail(kind: str, reason: str, judge: dict | None = None) -> dict[str, Any]:
        return _entry("failed", "", kind, reason, calls, judge, identity, raw_sha)

    async def ask(messages, role: str, parse):
        reason = ""
        for attempt in range(options.malformed_retries + 1):
            content, records = await client.chat(messages, role, sink=calls)
            try:
                return parse(content), ""
            except P.MalformedAnswer as err:
                records[-1].status, records[-1].error = "malformed", str(err)
                reason = f"{role} answer malformed: {err}"
                if attempt < options.malformed_retries:
                    acct.retries += 1
                    acct.retry_reasons["malformed"] += 1
        return None, reason

    try:
        reasons = []
        for attempt in range(options.judge_retries + 1):
            cleaned, why = await ask(clean_prompt.messages(report=raw), "clean", lambda c: P.parse_cleaned(c, raw))
            if cleaned is None:
                return fail("malformed", why)
            if not options.judge:
                return _entry("cleaned", cleaned, "", "", calls, None, identity, raw_sha)
            verdict, why = await ask(judge_prompt.messages(raw=raw, cleaned=cleaned), "judge", P.parse_verdict)
            if verdict is None:
                return fail("malformed", why)
            passed, judge_reason = verdict
            if passed:
                return _entry("cleaned", cleaned, "", "", calls, {"passed": True, "reason": judge_reason},
                              identity, raw_sha)
            calls[-1].status, calls[-1].error = "judge_fail", judge_reason
            reasons.append(judge_reason)
            if attempt < options.judge_retries:
                acct.retries += 1
                acct.retry_reasons["judge_rejected"] += 1
        return fail("judge", f"self-judgement rejected {len(reasons)} cleaning(s): {reasons[-1]}",
                    {"passed": False, "reason": reasons[-1]})
    except TransportFailure as err:
        entry = fail("transport", str(err))
        entry["cacheable"] = False
        return entry
    except RequestRejected as err:
        return fail("rejected", str(err))


async def _run_openai(pending: dict[str, str], options: CleaningOptions, cache: ResultCache, acct: Accounting,
                      api_key: str, identity: dict[str, Any], on_done,
                      rng: random.Random) -> tuple[dict[str, dict], str]:
    """Clean the pending reports; return (entries, "") or, when the run stopped, (entries, why)."""
    # Imported here: `openai` takes about a second to import, which a fully cached rerun never needs.
    from unix.cleaning.cache import text_sha256
    from unix.cleaning.client import ChatClient, EndpointError

    client = ChatClient(options, api_key, acct, rng=rng)
    queue: asyncio.Queue = asyncio.Queue()
    for item in pending.items():
        queue.put_nowait(item)
    results: dict[str, dict] = {}
    why = ""  # why the run stopped
    attempts: dict[str, list] = {}  # the attempts of each report started and not finished

    async def worker() -> None:
        while True:
            try:
                key, raw = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            calls = attempts[key] = []
            entry = await _clean_one(client, raw, options, acct, identity, text_sha256(raw), calls)
            results[key] = entry  # finished (a stop while it is being cached below does not undo the write)
            del attempts[key]  # they are in the entry
            if entry.pop("cacheable", True):
                # In a thread: creating a file can take milliseconds on a busy or network file system,
                # and on the event loop it would hold back every response that arrived meanwhile. Awaited
                # before the worker's next request, so a killed run loses at most `requests_in_flight`
                # answers (requests in flight or entries being written, never both for one worker).
                await asyncio.to_thread(cache.put, key, entry)
            on_done(key, entry)

    try:
        # One report at a time per worker, so workers == requests in flight when nothing waits.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(options.requests_in_flight, len(pending))):
                group.create_task(worker())
    except* EndpointError as eg:
        why = str(eg.exceptions[0])
    finally:
        await client.close()
    for key, raw in pending.items():
        if key not in results:  # unfinished (the run stopped): recorded with its attempts, never cached
            results[key] = _entry("failed", "", "stopped", f"run stopped: {why}", attempts.get(key, []), None,
                                  identity, text_sha256(raw))
    return results, why


def clean_reports(
    report_ids: Sequence[str],
    texts: Sequence[Any],
    options: CleaningOptions,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    seed: int = 0,
) -> CleaningResult:
    """Clean reports with the configured backend; see the module docstring for the output."""
    report_ids = [str(r) for r in report_ids]
    if len(report_ids) != len(texts):
        raise ValueError(f"{len(report_ids)} report ids but {len(texts)} texts")
    dup = pd.Index(report_ids)[pd.Index(report_ids).duplicated()].unique()
    if len(dup):
        raise ValueError(f"duplicate report_id(s) {list(dup[:5])}: each report must appear once; deduplicate the input")
    empty = [empty_input_reason(t) for t in texts]
    texts = ["" if is_null(t) else str(t) for t in texts]
    decision = enforce_data_use(options)
    acct = Accounting(options.price_input_per_million, options.price_output_per_million, reports=len(texts),
                      empty_input=sum(bool(e) for e in empty))
    if acct.empty_input:
        log.warning("%d report(s) without content are not sent (empty_input), e.g. %s: %s", acct.empty_input,
                    next(r for r, e in zip(report_ids, empty) if e), next(e for e in empty if e))
    identity = cleaner_identity(options)
    keys = [cache_key(t, identity) if not e else "" for t, e in zip(texts, empty)]
    work = [(k, t) for k, t, e in zip(keys, texts, empty) if not e]

    bar = progress_bar(len(texts), enabled=progress)
    stopped = ""
    try:
        bar.update(acct.empty_input)
        if options.backend == "rules":
            entries = _run_rules(work)
            bar.update(len(work))
        else:
            entries, stopped = _run_openai_cached(work, options, cache_dir, decision, acct, identity, bar, seed)
        if stopped:
            bar.set_description("cleaning STOPPED", refresh=False)
    finally:
        bar.close()
    result = _result(report_ids, texts, keys, empty, entries, options, acct, decision, identity)
    if stopped:
        raise CleaningStopped(stopped, result)
    return result


def _run_rules(work: list[tuple[str, str]]) -> dict[str, dict]:
    entries: dict[str, dict] = {}
    for key, raw in work:
        if key not in entries:
            cleaned, reason = clean_report_rules(raw)
            entries[key] = {"status": "cleaned" if cleaned else "failed", "cleaned_text": cleaned,
                            "failure_kind": "no_content" if reason else "", "failure_reason": reason, "calls": []}
    return entries


def _run_openai_cached(work: list[tuple[str, str]], options: CleaningOptions, cache_dir, decision: DataUseDecision,
                       acct: Accounting, identity: dict[str, Any], bar, seed: int) -> tuple[dict[str, dict], str]:
    """Cache hits, then the rest from the endpoint; the bar's failure count is live. (entries, why it stopped)"""
    if cache_dir is None:
        raise CleaningError("the openai backend needs a cache directory (cleaning.cache_dir / --cache-dir)")
    cache = ResultCache(cache_dir)
    api_key = _api_key(options, decision)
    entries: dict[str, dict] = {}
    pending: dict[str, str] = {}
    for key, raw in work:
        if key in entries or key in pending:
            continue
        hit = cache.get(key)
        if hit is not None and not (options.retry_failed and hit["status"] == "failed"):
            hit["from_cache"] = True
            entries[key] = hit
        else:
            pending[key] = raw
    key_counts = Counter(k for k, _ in work)
    acct.cache_hits = sum(key_counts[k] for k in entries)
    acct.failed = sum(key_counts[k] for k, e in entries.items() if e["status"] != "cleaned")
    bar.update(acct.cache_hits)
    bar.set_postfix(acct.postfix(), refresh=False)

    def on_done(key: str, entry: dict) -> None:
        if entry["status"] != "cleaned":
            acct.failed += key_counts[key]
        bar.update(int(key_counts[key]))
        bar.set_postfix(acct.postfix(), refresh=False)

    if not pending:
        return entries, ""
    log.info("cleaning %d report(s) with %s at %s (%d cached)", len(pending), options.model,
             decision.endpoint_host, len(entries))
    done, stopped = asyncio.run(_run_openai(pending, options, cache, acct, api_key, identity, on_done,
                                            random.Random(seed)))
    entries.update(done)
    return entries, stopped


def _call_rows(entries: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per attempt; entries cached before attempts had status/error get them from the outcome."""
    calls = []
    for key, entry in entries.items():
        for call in entry.get("calls", []):
            row = {"cache_key": key, "from_cache": bool(entry.get("from_cache")), **call}
            row.setdefault("status", "ok" if call.get("outcome") == "ok" else "transport")
            row.setdefault("error", "")
            calls.append(row)
    return calls


def _result(report_ids, texts, keys, empty, entries, options, acct, decision, identity) -> CleaningResult:
    rows = []
    for rid, raw, key, why in zip(report_ids, texts, keys, empty):
        if why:
            rows.append({"report_id": rid, "raw_text": raw, "cleaned_text": raw, "status": "skipped",
                         "flagged": True, "backend": options.backend, "cache_key": "",
                         "failure_reason": f"{EMPTY_INPUT}: {why}"})
            continue
        entry = entries[key]
        ok = entry["status"] == "cleaned"
        rows.append({
            "report_id": rid, "raw_text": raw, "cleaned_text": entry["cleaned_text"] if ok else raw,
            "status": entry["status"], "flagged": not ok, "backend": options.backend, "cache_key": key,
            "failure_reason": entry.get("failure_reason", "") if not ok else "",
        })
        if not ok:
            acct.failure_kinds[entry.get("failure_kind") or "other"] += 1
    table = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    acct.cleaned = int((table["status"] == "cleaned").sum())
    acct.failed = int((table["status"] == "failed").sum())
    acct.flagged = int(table["flagged"].sum())
    return CleaningResult(table, acct, _call_rows(entries), decision, identity)


def log_failures(result: CleaningResult, where: str) -> None:
    """Say how many reports failed or were skipped, by kind (partial failure is never silent)."""
    row = result.accounting.row()
    if row["failed"]:
        log.warning(
            "%s: %d of %d report(s) failed (transport %d, malformed %d, judge %d, other %d): their raw text is "
            "kept, flagged, with the reason in failure_reason; transport failures are resent by the next run, "
            "the others with cleaning.openai.retry_failed / --retry-failed", where, row["failed"], row["reports"],
            row["failures_transport"], row["failures_malformed"], row["failures_judge"], row["failures_other"])


def require_cleaned(result: CleaningResult, where: str) -> None:
    """Raise CleaningError when reports were given but none was cleaned (every one failed or was empty)."""
    row = result.accounting.row()
    if row["reports"] and not row["cleaned"]:
        raise CleaningError(
            f"{where}: none of the {row['reports']} report(s) was cleaned ({row['failed']} failed, "
            f"{row['empty_input']} empty input); see failure_reason in the output table and the log above"
        )


def read_report_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a parquet or CSV table with `report_id` and `text` columns (raise naming what is missing)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"input table {path} does not exist")
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix in (".csv", ".gz") or path.name.endswith(".csv.gz"):
        df = pd.read_csv(path, dtype={"report_id": str}, keep_default_na=False)
    else:
        raise ValueError(f"input table {path}: unknown format; use .parquet or .csv")
    missing = [c for c in ("report_id", "text") if c not in df.columns]
    if missing:
        raise ValueError(f"input table {path} lacks column(s) {missing}; it needs report_id and text "
                         f"(found: {list(df.columns)[:10]})")
    return df


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write parquet or CSV by the path's extension (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    elif path.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        raise ValueError(f"output {path}: unknown format; use .parquet or .csv")
    os.replace(tmp, path)

"""The openai backend against a real chat-completions server on loopback with injected faults
(tests/fake_openai_server.py, started here in a thread)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer

from unix.cleaning.backends import CleaningError, CleaningStopped, clean_reports
from unix.cleaning.options import CleaningOptions
from unix.cleaning.rules import clean_report_rules
from unix.pipeline import setup_logging

SECRET = "sk-test-5f0c2a9e-never-written-anywhere"


def _reports(n: int) -> tuple[list[str], list[str]]:
    texts = [f"FINAL REPORT\n TECHNIQUE: PA.\n FINDINGS: No pneumothorax. Nodule {i} mm in the right apex, "
             f"unchanged since ___.\n IMPRESSION: Nodule {i} mm." for i in range(n)]
    return [f"s{50000000 + i}" for i in range(n)], texts


def _options(url: str, **kw) -> CleaningOptions:
    base = dict(backend="openai", base_url=url, model="fake-deepseek", api_key_env="UNIX_TEST_KEY", timeout_s=0.5,
                backoff_base_s=0.01, backoff_max_s=0.2, requests_in_flight=4, max_retries=6)
    return CleaningOptions(**{**base, **kw})


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("UNIX_TEST_KEY", SECRET)
    return SECRET


def test_faults_every_report_ends_cleaned_or_failed_and_rerun_sends_nothing(tmp_path, key):
    ids, texts = _reports(24)
    texts[5] = "FINAL REPORT\n FINDINGS: ALWAYS_MALFORMED small left effusion."
    texts[9] = "FINAL REPORT\n FINDINGS: JUDGE_REJECTS small left effusion."
    texts[13] = "FINAL REPORT\n TECHNIQUE: PA and lateral."  # nothing to clean: the server answers wrongly
    faults = ["429", "500", "slow", "drop", "bad_json", "empty", "wrong_format"] * 2
    log_file = tmp_path / "clean.log"
    setup_logging(str(log_file), level=logging.DEBUG)
    try:
        with FakeOpenAIServer(faults=faults, slow_s=1.0, retry_after_s=0.1) as server:
            # Enough retries that no normal report can run out, whichever requests the faults hit.
            options = _options(server.base_url, max_retries=10, malformed_retries=4)
            result = clean_reports(ids, texts, options, cache_dir=tmp_path / "cache", progress=False)
            first_requests = server.requests
            assert not server.faults, "every injected fault was served"
            # A timed-out request still occupies its server thread after the client has moved on.
            assert server.max_in_flight <= options.requests_in_flight + faults.count("slow")
            assert server.auth_headers == {f"Bearer {key}"}  # the key was sent, as a header only

            table = result.table
            assert table["report_id"].tolist() == ids  # none lost, none duplicated, input order
            assert set(table["status"]) <= {"cleaned", "failed"}
            failed = table[table["status"] == "failed"].set_index("report_id")
            assert sorted(failed.index) == sorted([ids[5], ids[9], ids[13]])
            assert failed.loc[ids[5], "failure_reason"].startswith("clean answer malformed")
            assert failed.loc[ids[9], "failure_reason"].startswith("self-judgement rejected 2")
            assert (failed["cleaned_text"] == failed["raw_text"]).all() and failed["flagged"].all()
            ok = table[table["status"] == "cleaned"]
            assert len(ok) == 21 and not ok["flagged"].any()
            assert ok["cleaned_text"].tolist() == [clean_report_rules(t)[0] for t in ok["raw_text"]]

            acct = result.accounting
            assert acct.requests_sent == first_requests
            for reason in ("http_429", "http_500", "timeout", "connection", "bad_json", "malformed", "judge_rejected"):
                assert acct.retry_reasons[reason] >= 1, reason
            row = acct.row()
            assert (row["failures_malformed"], row["failures_judge"], row["failures_transport"]) == (2, 1, 0)
            assert row["tokens_in"] > 0 and row["estimated_cost_usd"] > 0
            ok_calls = [c for c in result.calls if c["outcome"] == "ok"]
            assert all(c["request_id"].startswith("req-") and c["model"] == "fake-deepseek" for c in ok_calls)
            assert {c["role"] for c in ok_calls} == {"clean", "judge"}

            again = clean_reports(ids, texts, options, cache_dir=tmp_path / "cache", progress=False)
            assert server.requests == first_requests and again.accounting.requests_sent == 0
            assert again.accounting.cache_hits == len(ids)
            pd.testing.assert_frame_equal(again.table, table)
    finally:
        logging.getLogger().handlers.clear()
    result.table.to_parquet(tmp_path / "out.parquet")
    assert log_file.stat().st_size > 0
    assert _files_containing(tmp_path, key) == []


def test_429_retry_after_pauses_requests(tmp_path, key):
    ids, texts = _reports(3)
    with FakeOpenAIServer(faults=["429"], retry_after_s=0.6) as server:
        start = time.monotonic()
        result = clean_reports(ids, texts, _options(server.base_url, judge=False, requests_in_flight=1,
                                                        backoff_max_s=5.0),
                               cache_dir=tmp_path, progress=False)
        elapsed = time.monotonic() - start
    assert elapsed >= 0.6  # backoff_base_s is 0.01 s: only the Retry-After (capped at 5 s) explains the wait
    assert [c["outcome"] for c in result.calls][:2] == ["http_429", "ok"]
    assert (result.table["status"] == "cleaned").all() and result.accounting.retries == 1


def test_requests_in_flight_is_the_bound_and_is_reached(tmp_path, key):
    ids, texts = _reports(40)
    with FakeOpenAIServer(delay_s=0.05) as server:
        clean_reports(ids, texts, _options(server.base_url, requests_in_flight=8), cache_dir=tmp_path,
                      progress=False)
    assert server.max_in_flight == 8


def test_exhausted_retries_are_failures_that_the_next_run_resends(tmp_path, key):
    ids, texts = _reports(1)
    with FakeOpenAIServer(faults=["500", "500", "500"]) as server:
        options = _options(server.base_url, max_retries=2, judge=False)
        first = clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
        assert first.table["status"].tolist() == ["failed"] and first.accounting.row()["failures_transport"] == 1
        assert not any(p.suffix == ".json" for p in tmp_path.rglob("*"))  # transport failures are not cached
        second = clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
    assert second.table["status"].tolist() == ["cleaned"] and server.requests == 4


def test_wrong_key_stops_the_run_without_printing_it(tmp_path, key):
    ids, texts = _reports(2)
    with FakeOpenAIServer(faults=["401"]) as server:
        with pytest.raises(CleaningError, match="UNIX_TEST_KEY") as err:
            clean_reports(ids, texts, _options(server.base_url, requests_in_flight=1), cache_dir=tmp_path,
                          progress=False)
    assert key not in str(err.value)


def test_unix_clean_command_against_loopback(tmp_path, key, capsys, restore_logging):
    from unix.cli import main

    ids, texts = _reports(6)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(src)
    out = tmp_path / "out.csv"
    with FakeOpenAIServer() as server:
        argv = ["clean", str(src), "--out", str(out), "--backend", "openai", "--base-url", server.base_url,
                "--model", "fake-deepseek", "--api-key-env", "UNIX_TEST_KEY", "--requests-in-flight", "3",
                "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--config", str(tmp_path / "none.yaml")]
        assert main(argv) == 0
        first = capsys.readouterr().out
        assert "requests sent 12" in first and "cleaned 6" in first and '"decision": "loopback"' in first
        assert main(argv) == 0
        assert "requests sent 0" in capsys.readouterr().out and server.requests == 12
        remote = argv[:argv.index("--base-url") + 1] + ["https://api.deepseek.com"] + argv[argv.index("--model"):]
        assert main(remote) == 2 and server.requests == 12  # refused before any request
    assert pd.read_csv(out)["status"].tolist() == ["cleaned"] * 6
    assert _files_containing(tmp_path, key) == []


def test_a_killed_run_loses_only_requests_in_flight(tmp_path, key):
    import json
    import os
    import signal
    import subprocess
    import sys

    ids, texts = _reports(80)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(src)
    cache = tmp_path / "cache"
    in_flight = 4
    with FakeOpenAIServer(delay_s=0.05) as server:
        cmd = [sys.executable, "-m", "unix.cli", "clean", str(src), "--out", str(tmp_path / "out.parquet"),
               "--backend", "openai", "--base-url", server.base_url, "--model", "fake-deepseek", "--no-judge",
               "--api-key-env", "UNIX_TEST_KEY", "--requests-in-flight", str(in_flight), "--cache-dir", str(cache),
               "--no-progress", "--config", str(tmp_path / "none.yaml")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        deadline = time.monotonic() + 60
        while len(list(cache.rglob("*.json"))) < 10 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Requests the client wrote just before it died may still sit in the server's socket buffers.
        time.sleep(0.3)
        while server.in_flight:
            time.sleep(0.05)
        entries = list(cache.rglob("*.json"))
        assert 10 <= len(entries) < len(ids), "the run was killed midway"
        assert all(json.loads(p.read_text())["status"] == "cleaned" for p in entries)  # no torn entry
        sent_before = server.requests
        result = clean_reports(ids, texts, _options(server.base_url, judge=False, requests_in_flight=in_flight,
                                                    timeout_s=10.0), cache_dir=cache, progress=False)
    assert result.accounting.cache_hits == len(entries)
    resent = server.requests - sent_before
    assert resent == len(ids) - len(entries), (resent, len(ids), len(entries))  # only what is missing
    assert sent_before - len(entries) <= in_flight, (sent_before, len(entries))  # lost: at most those in flight
    assert (result.table["status"] == "cleaned").all() and result.table["report_id"].tolist() == ids


def test_cached_failures_are_resent_only_when_asked(tmp_path, key):
    ids, texts = _reports(3)
    texts[1] = "FINAL REPORT\n FINDINGS: JUDGE_REJECTS small left effusion."
    with FakeOpenAIServer() as server:
        options = _options(server.base_url, judge_retries=0)
        first = clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
        assert first.table["status"].tolist() == ["cleaned", "failed", "cleaned"] and server.requests == 6
        clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
        assert server.requests == 6  # a judged failure is a result: cached
        retry = CleaningOptions(**{**options.to_dict(), "retry_failed": True})
        again = clean_reports(ids, texts, retry, cache_dir=tmp_path, progress=False)
    assert server.requests == 8 and again.accounting.cache_hits == 2


# -- inputs never sent, the circuit breaker, records of every attempt --------------------------------------

def test_null_and_contentless_reports_are_never_sent(tmp_path, key):
    ids, texts = _reports(2)
    column = pd.Series(texts + [pd.NA, "", "  \n ", "___  ___", "FINAL REPORT\n FINDINGS:\n IMPRESSION: ___"],
                       dtype="string")
    ids = ids + ["null", "empty", "blank", "deid", "headers"]
    with FakeOpenAIServer() as server:
        result = clean_reports(ids, column.tolist(), _options(server.base_url), cache_dir=tmp_path, progress=False)
    assert server.requests == 4 and sorted(server.clean_reports) == sorted(texts)  # clean + judge, 2 reports
    table = result.table.set_index("report_id")
    assert table.loc[ids[:2], "status"].tolist() == ["cleaned", "cleaned"]
    assert (table.loc[ids[2:], "status"] == "skipped").all()
    assert table.loc[ids[2:], "failure_reason"].str.startswith("empty_input: ").all()
    assert table.loc["deid", "cleaned_text"] == "___  ___"
    assert result.accounting.row()["empty_input"] == 5 and result.accounting.requests_sent == 4


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unix_clean_against_a_dead_port_stops_within_seconds(tmp_path, key):
    import subprocess
    import sys

    ids, texts = _reports(20)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(src)
    url = f"http://127.0.0.1:{_free_loopback_port()}/v1"  # nothing listens there
    # The shipped defaults (config.yaml): 16 in flight, 6 retries, 1-60 s backoff, breaker at 20.
    cmd = [sys.executable, "-m", "unix.cli", "clean", str(src), "--out", str(tmp_path / "out.parquet"),
           "--backend", "openai", "--base-url", url, "--model", "fake-deepseek", "--api-key-env", "UNIX_TEST_KEY",
           "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--config", "config.yaml"]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    elapsed = time.monotonic() - start
    print(f"unix clean, 20 reports, dead endpoint: exit {proc.returncode} after {elapsed:.1f} s")
    assert proc.returncode == 2, proc.stderr
    assert elapsed < 30, elapsed
    assert f"requests in a row to {url} failed" in proc.stderr and "max_consecutive_failures = 20" in proc.stderr
    assert "last error: connection: APIConnectionError" in proc.stderr and "refused" in proc.stderr.lower()
    assert not (tmp_path / "out.parquet").exists()
    # The attempts of the stopped run are recorded all the same, one row each, and nothing claims success.
    accounting = pd.read_csv(tmp_path / "out.parquet.accounting.csv").set_index("run")
    row = accounting.loc["unix clean (stopped)"]
    assert row["cleaned"] == 0 and row["failed"] == row["failures_other"] == 20 and row["cache_hits"] == 0
    calls = pd.read_parquet(tmp_path / "out.parquet.llm_calls.parquet")
    assert len(calls) == row["requests_sent"] >= 20 and not calls["from_cache"].any()
    refused = calls[calls["status"] == "transport"]
    assert len(refused) >= 20 and (refused["outcome"] == "connection").all()
    assert refused["error"].str.lower().str.contains("refused").all()
    assert set(calls["status"]) <= {"transport", "cancelled"}  # cancelled: in flight when the breaker tripped


def test_the_circuit_breaker_keeps_what_was_cleaned(tmp_path, key):
    ids, texts = _reports(8)
    with FakeOpenAIServer(faults=["ok"] * 3 + ["500"] * 50) as server:
        options = _options(server.base_url, judge=False, requests_in_flight=1, max_retries=10,
                           max_consecutive_failures=5)
        with pytest.raises(CleaningStopped) as err:
            clean_reports(ids, texts, options, cache_dir=tmp_path / "cache", progress=False)
        assert server.requests == 3 + 5  # stopped at once: no retry cycle for the other reports
        message = str(err.value)
        assert server.base_url in message and "last error: http_500" in message and "5 requests in a row" in message
        assert len(list((tmp_path / "cache").rglob("*.json"))) == 3
        # Every request the server received is one record of the stopped run.
        stopped = err.value.result
        calls = pd.DataFrame(stopped.calls)
        assert len(calls) == server.requests == stopped.accounting.requests_sent
        assert calls["status"].tolist() == ["ok"] * 3 + ["transport"] * 5
        assert calls["outcome"].tolist() == ["ok"] * 3 + ["http_500"] * 5
        assert calls["attempt"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]  # report 4's attempts, then the stop
        row = stopped.accounting.row()
        assert (row["cleaned"], row["failed"], row["failures_other"]) == (3, 5, 5)
        assert stopped.table["failure_reason"].str.startswith("run stopped: ").sum() == 5
        server.faults.clear()  # the endpoint is back
        again = clean_reports(ids, texts, options, cache_dir=tmp_path / "cache", progress=False)
    assert again.accounting.cache_hits == 3 and server.requests == 8 + 5
    assert (again.table["status"] == "cleaned").all()


def test_a_stop_records_the_requests_it_cancels(tmp_path, key, capsys):
    ids, texts = _reports(2)
    # Two requests at once: the first to arrive hangs, the second gets a 500, which trips the breaker (1)
    # while the first is still in flight.
    with FakeOpenAIServer(faults=["slow", "500"], slow_s=3.0) as server:
        options = _options(server.base_url, judge=False, requests_in_flight=2, max_consecutive_failures=1,
                           timeout_s=10.0)
        with pytest.raises(CleaningStopped) as err:
            clean_reports(ids, texts, options, cache_dir=tmp_path, progress=True)
        received = server.requests
    bar = capsys.readouterr().err.strip().splitlines()[-1]
    assert bar.startswith("cleaning STOPPED:") and "0/2" in bar, bar  # the bar claims no success
    calls = pd.DataFrame(err.value.result.calls).set_index("status")
    assert received == 2 and len(calls) == 2
    assert sorted(calls.index) == ["cancelled", "transport"]
    assert calls.loc["cancelled", "outcome"] == "cancelled" and calls.loc["transport", "outcome"] == "http_500"
    assert calls.loc["cancelled", "error"].startswith("the run stopped")
    assert calls.loc["cancelled", "latency_s"] < 2.0  # cut short at the stop, not waited for (3 s)
    assert err.value.result.table["status"].tolist() == ["failed", "failed"]
    assert not list(tmp_path.rglob("*.json"))  # nothing cached


def test_a_refused_key_writes_the_attempts_of_unix_clean(tmp_path, key, restore_logging):
    from unix.cli import main

    ids, texts = _reports(4)
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(src)
    with FakeOpenAIServer(faults=["ok", "401"]) as server:
        argv = ["clean", str(src), "--out", str(out), "--backend", "openai", "--base-url", server.base_url,
                "--model", "fake-deepseek", "--api-key-env", "UNIX_TEST_KEY", "--cache-dir", str(tmp_path / "c"),
                "--no-progress", "--no-judge", "--requests-in-flight", "1", "--config", str(tmp_path / "none.yaml")]
        out.write_text("an output of an earlier run")
        assert main(argv) == 2
        assert server.requests == 2
        assert not out.exists()  # removed: the files beside it describe this run
        calls = pd.read_parquet(tmp_path / "out.parquet.llm_calls.parquet")
        assert calls[["outcome", "status"]].values.tolist() == [["ok", "ok"], ["http_401", "endpoint_refused"]]
        row = pd.read_csv(tmp_path / "out.parquet.accounting.csv").set_index("run").loc["unix clean (stopped)"]
        assert (row["cleaned"], row["failed"], row["requests_sent"]) == (1, 3, 2)
        # The cleaned report stays cached: the rerun sends only the other three.
        assert main(argv) == 0 and server.requests == 2 + 3
    calls = pd.read_parquet(tmp_path / "out.parquet.llm_calls.parquet")
    assert calls["from_cache"].tolist() == [True, False, False, False]
    assert _files_containing(tmp_path, key) == []


def test_a_server_that_accepts_and_never_answers_is_caught_by_timeout_s(tmp_path, key):
    import socket

    ids, texts = _reports(6)
    with socket.socket() as listener:  # the kernel completes each connection; nobody ever reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        options = _options(url, judge=False, requests_in_flight=2, max_consecutive_failures=4, timeout_s=0.3,
                           connect_timeout_s=0.1)
        with pytest.raises(CleaningStopped, match="4 requests in a row") as err:
            clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
    calls = pd.DataFrame(err.value.result.calls)
    timeouts = calls[calls["outcome"] == "timeout"]
    assert len(timeouts) == 4 and set(calls["status"]) <= {"transport", "cancelled"}
    # Each connected at once (connect_timeout_s is 0.1 s): only the answer's timeout_s tells a hung server.
    assert (timeouts["latency_s"] >= 0.3).all(), timeouts["latency_s"].tolist()


def test_the_client_has_a_connect_timeout_of_its_own(key):
    from unix.cleaning.accounting import Accounting
    from unix.cleaning.client import ChatClient

    client = ChatClient(_options("http://127.0.0.1:9/v1", timeout_s=60.0, connect_timeout_s=5.0), key, Accounting())
    timeout = client._client.timeout
    assert (timeout.connect, timeout.read, timeout.write) == (5.0, 60.0, 60.0)


def test_a_flaky_endpoint_below_the_breaker_finishes(tmp_path, key):
    ids, texts = _reports(6)
    with FakeOpenAIServer(faults=["500", "drop", "500", "ok", "500", "drop", "500"]) as server:
        options = _options(server.base_url, judge=False, requests_in_flight=1, max_consecutive_failures=4)
        result = clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
    assert (result.table["status"] == "cleaned").all() and result.accounting.transport_errors == 6


def test_every_attempt_is_recorded_with_status_and_error(tmp_path, key):
    ids, texts = _reports(4)
    texts[3] = "FINAL REPORT\n FINDINGS: JUDGE_REJECTS small left effusion."
    # requests_in_flight=1: report 0 gets the 400, report 1 three 500s (retries exhausted), report 2 one
    # wrong-format answer and then a good one; report 3 is rejected by the judge.
    faults = ["400", "500", "500", "500", "wrong_format"]
    with FakeOpenAIServer(faults=faults) as server:
        options = _options(server.base_url, requests_in_flight=1, max_retries=2, judge_retries=0)
        result = clean_reports(ids, texts, options, cache_dir=tmp_path, progress=False)
        sent = server.requests
    assert result.table["status"].tolist() == ["failed", "failed", "cleaned", "failed"]
    calls = pd.DataFrame(result.calls)
    assert len(calls) == sent == result.accounting.requests_sent  # none missing, failed or not
    key_of = dict(zip(ids, result.table["cache_key"]))
    by_report = {rid: calls[calls["cache_key"] == key_of[rid]] for rid in ids}
    assert by_report[ids[0]][["outcome", "status"]].values.tolist() == [["http_400", "rejected"]]
    assert "context length exceeded" in by_report[ids[0]]["error"].item()
    assert by_report[ids[1]]["status"].tolist() == ["transport"] * 3
    assert by_report[ids[1]]["error"].str.contains("500").all()
    assert by_report[ids[2]]["status"].tolist() == ["malformed", "ok", "ok"]  # clean (bad, good), judge
    assert "no FINDINGS: or IMPRESSION: section" in by_report[ids[2]]["error"].iloc[0]
    assert by_report[ids[3]]["status"].tolist() == ["ok", "judge_fail"]
    assert by_report[ids[3]]["error"].iloc[1] == "the cleaned report drops a finding."
    assert (calls.loc[calls["status"] == "ok", "error"] == "").all()


def test_progress_bar_counts_failures_live(tmp_path, key, capsys):
    ids, texts = _reports(3)
    texts[0] = texts[1] = "FINAL REPORT\n FINDINGS: JUDGE_REJECTS small left effusion."
    with FakeOpenAIServer(faults=["500"]) as server:
        clean_reports(ids, texts, _options(server.base_url, judge_retries=0, requests_in_flight=1),
                      cache_dir=tmp_path, progress=True)
    bar = capsys.readouterr().err.strip().splitlines()[-1]
    assert "fail=2" in bar and "err=1" in bar, bar


def test_unix_clean_records_the_data_use_decision_and_every_call(tmp_path, key, monkeypatch, capsys,
                                                                 restore_logging):
    import json

    from unix.cleaning import guard
    from unix.cli import main

    ids, texts = _reports(3)
    texts[2] = "FINAL REPORT\n FINDINGS: ALWAYS_MALFORMED small left effusion."
    src = tmp_path / "in.parquet"
    pd.DataFrame({"report_id": ids, "text": texts}).to_parquet(src)
    out = tmp_path / "out.parquet"
    record = tmp_path / "out.parquet.data_use.json"
    # The guard treats 127.0.0.1 as remote here, so the acknowledged-remote path runs without any traffic
    # leaving loopback.
    monkeypatch.setattr(guard, "is_loopback", lambda host: False)
    with FakeOpenAIServer(faults=["500"]) as server:
        argv = ["clean", str(src), "--out", str(out), "--backend", "openai", "--base-url", server.base_url,
                "--model", "fake-deepseek", "--api-key-env", "UNIX_TEST_KEY", "--cache-dir", str(tmp_path / "c"),
                "--no-progress", "--no-judge", "--config", str(tmp_path / "none.yaml")]
        assert main(argv) == 2 and server.requests == 0  # refused before sending
        refused = json.loads(record.read_text())
        assert refused["decision"] == "refused" and refused["allowed"] is False
        assert main(argv + ["--acknowledge-remote", "127.0.0.1"]) == 0  # one report failed: not an error
        sent, url = server.requests, server.base_url
    decision = json.loads(record.read_text())
    assert decision["decision"] == "acknowledged_remote" and decision["allowed"] is True
    assert decision["endpoint_host"] == "127.0.0.1" and decision["remote_acknowledgement"] == "127.0.0.1"
    assert decision["base_url"] == url and decision["output"] == str(out) and decision["time"]
    calls = pd.read_parquet(tmp_path / "out.parquet.llm_calls.parquet")
    assert len(calls) == sent and calls["status"].value_counts().to_dict() == {"ok": 2, "malformed": 3, "transport": 1}
    assert "1 of 3 report(s) failed" in capsys.readouterr().err
    assert _files_containing(tmp_path, key) == []

"""The cleaning rules in Snakemake (scatter into shards, gather, label-drift audit) against a loopback
chat-completions server, in a scratch directory with a hand-made understanding split."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import demo_config, run_snakemake
from fake_openai_server import FakeOpenAIServer

pytestmark = pytest.mark.workflow  # every test here runs Snakemake

SECRET = "sk-workflow-test-0d5e8f-never-in-a-file"
REPORT_COLUMNS = ["report_id", "study_id", "raw_text", "cleaned_text", "status", "flagged", "backend", "cache_key"]


def _write_split(workdir: Path, n_studies: int = 12) -> list[int]:
    rows = []
    studies = [50000000 + 7 * i for i in range(n_studies)]
    for k, study in enumerate(studies):
        text = (f"                                 FINAL REPORT\n EXAMINATION: CHEST (PA AND LAT)\n"
                f" INDICATION: ___M with cough\n COMPARISON: ___\n FINDINGS:\n Mild cardiomegaly. No pleural "
                f"effusion. Nodule {k} mm in the left apex.\n IMPRESSION:\n Nodule {k} mm.\n")
        for view in ("PA", "AP")[: 1 + k % 2]:  # some studies have two frontal images: one report each study
            rows.append({"dicom_id": f"d{study}{view}", "subject_id": 10000000 + k, "study_id": study,
                         "split": "train", "view_position": view, "report_text": text})
    path = workdir / "results" / "data" / "understanding" / "split.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path)
    return studies


def _config(url: str, **openai) -> dict:
    return demo_config(cleaning={"backend": "openai", "shards": 2, "openai": {
        "base_url": url, "model": "fake-deepseek", "api_key_env": "UNIX_WORKFLOW_KEY", "requests_in_flight": 4,
        "timeout_s": 5.0, "backoff_base_s": 0.05, "backoff_max_s": 0.5, **openai}})


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_cleaning_workflow_openai_backend_resumes_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIX_WORKFLOW_KEY", SECRET)
    studies = _write_split(tmp_path)
    with FakeOpenAIServer(faults=["429", "500", "wrong_format"], retry_after_s=0.1) as server:
        config = _config(server.base_url)
        run_snakemake(tmp_path, "--cores", "2", "cleaning", config=config)
        sent = server.requests
        assert sent >= 2 * len(studies)  # a cleaning and a judge call per report, plus retries

        results = tmp_path / "results" / "cleaning"
        reports = pd.read_parquet(results / "reports.parquet")
        assert list(reports.columns[: len(REPORT_COLUMNS)]) == REPORT_COLUMNS
        assert reports["study_id"].tolist() == studies  # each study once, none lost
        assert reports["report_id"].tolist() == [f"s{s}" for s in studies]
        assert (reports["status"] == "cleaned").all() and (reports["backend"] == "openai").all()
        assert reports["cleaned_text"].str.startswith("FINDINGS: Mild cardiomegaly.").all()

        accounting = pd.read_csv(results / "accounting.csv", dtype={"run": str})
        assert accounting["run"].tolist() == ["000", "001", "total"]
        total = accounting.set_index("run").loc["total"]
        assert total["requests_sent"] == sent and total["retries"] >= 3 and total["reports"] == len(studies)

        prov = json.loads((results / "reports.parquet.prov.json").read_text())
        assert prov["extra"]["data_use"]["decision"] == "loopback"
        assert prov["extra"]["llm_calls"]["calls"] == sent
        calls = pd.read_parquet(results / "llm_calls.parquet")
        assert len(calls) == sent and set(calls.loc[calls["outcome"] == "ok", "role"]) == {"clean", "judge"}
        assert {"ok", "rate_limited", "transport", "malformed"} <= set(calls["status"])  # failed attempts too
        assert prov["extra"]["llm_calls"]["by_status"]["transport"] >= 1
        drift = json.loads((results / "label_drift.json").read_text())
        assert drift["compared"] == len(studies)

        # Resume: a lost shard is recomputed from the cache without a single request.
        for p in (results / "shards").glob("001.*"):
            p.unlink()
        run_snakemake(tmp_path, "--cores", "2", "cleaning", config=config)
        assert server.requests == sent
        pd.testing.assert_frame_equal(pd.read_parquet(results / "reports.parquet"), reports)

    assert _files_containing(tmp_path, SECRET) == []


def test_a_failing_endpoint_fails_the_shards_and_leaves_their_attempts_beside_the_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIX_WORKFLOW_KEY", SECRET)
    _write_split(tmp_path)
    with FakeOpenAIServer(faults=["500"] * 100) as server:
        config = _config(server.base_url, requests_in_flight=1, max_consecutive_failures=3)
        proc = run_snakemake(tmp_path, "--cores", "2", "--keep-going", "gather_cleaned_reports", config=config,
                             check=False)
        received = server.requests
    assert proc.returncode != 0
    assert not list((tmp_path / "results" / "cleaning" / "shards").glob("*"))  # Snakemake deleted the outputs
    logs = tmp_path / "results" / "logs" / "clean_reports"
    records = sorted(logs.glob("*.llm_calls.parquet"))
    assert [p.name for p in records] == ["000.llm_calls.parquet", "001.llm_calls.parquet"]
    calls = pd.concat([pd.read_parquet(p) for p in records], ignore_index=True)
    assert len(calls) == received == 2 * 3  # one row per request the server received: 3 in a row per shard
    assert (calls["outcome"] == "http_500").all() and (calls["status"] == "transport").all()
    assert "reports) are in results/logs/clean_reports/000.llm_calls.parquet" in (logs / "000.log").read_text()


def test_cleaning_workflow_refuses_a_remote_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIX_WORKFLOW_KEY", SECRET)
    _write_split(tmp_path, n_studies=2)
    proc = run_snakemake(tmp_path, "--cores", "1", "gather_cleaned_reports",
                         config=_config("https://api.deepseek.com"), check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results" / "logs" / "check_data_use" / "check_data_use.log").read_text()
    assert "refusing to send report text to api.deepseek.com" in log and "PhysioNet" in log
    assert "remote_acknowledgement" in log and not (tmp_path / "results" / "cleaning" / "shards").exists()


def test_cleaning_workflow_dry_run_has_one_job_per_shard(tmp_path):
    shards = 3
    _write_split(tmp_path, n_studies=2)
    proc = run_snakemake(tmp_path, "-n", "cleaning", config=demo_config(cleaning={"shards": shards}))
    out = proc.stdout + proc.stderr
    assert any(line.split()[:2] == ["clean_reports", str(shards)] for line in out.splitlines()), out

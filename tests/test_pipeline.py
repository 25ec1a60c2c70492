"""unix.pipeline.run_step: a rule that declares the `attempt` resource (training) keeps every attempt in its log."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from unix import pipeline


def _job(log_path, attempt=None):
    resources = SimpleNamespace(**({"attempt": attempt} if attempt is not None else {}))
    return SimpleNamespace(rule="train_stage1", log=[str(log_path)], params=SimpleNamespace(), resources=resources)


@pytest.fixture
def no_records(monkeypatch):
    import unix.provenance

    monkeypatch.setattr(unix.provenance, "record_job", lambda smk, extra=None: [])
    yield
    logging.getLogger().handlers.clear()


def test_each_attempt_appends_below_its_own_header(tmp_path, monkeypatch, no_records):
    log_path = tmp_path / "train_stage1.log"
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURMD_NODENAME", "gpu07")
    with pytest.raises(RuntimeError):
        pipeline.run_step(_job(log_path, 1), lambda smk: (_ for _ in ()).throw(RuntimeError("killed")))
    assert log_path.is_symlink()
    log_path.unlink()  # Snakemake deletes the log before it runs the job again
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    pipeline.run_step(_job(log_path, 2), lambda smk: pipeline.log.info("resumed from step-000005"))
    text = log_path.read_text()
    first, second = text.index("attempt 1 (SLURM job 41 on gpu07)"), text.index("attempt 2 (SLURM job 42 on gpu07)")
    assert first < text.index("RuntimeError: killed") < second < text.index("resumed from step-000005")
    # After the successful attempt the log is a regular file again and no history is left behind.
    assert not log_path.is_symlink() and not pipeline.attempt_history(log_path).exists()


def test_rules_without_the_attempt_resource_start_a_fresh_log(tmp_path, monkeypatch, no_records):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    log_path = tmp_path / "make_table2.log"
    log_path.write_text("an earlier run\n")
    pipeline.run_step(_job(log_path), lambda smk: None)
    text = log_path.read_text()
    assert "an earlier run" not in text and "=====" not in text and "finished" in text
    assert pipeline.attempt_header("r", 3) == "===== rule r: attempt 3 ====="

"""unix.job_limits: after the last retry, the Snakefile's onerror handler names the SLURM limit a job hit and
the config key that raises it (the Snakemake log format is that of snakemake-executor-plugin-slurm 2.8.0)."""

from __future__ import annotations

from conftest import REPO, demo_config
from unix import job_limits as L


def _error(rule: str, jobid: int, state: str, log: str) -> str:
    return (f"Error in rule {rule}:\n"
            f"    message: SLURM-job '{jobid}' failed, SLURM status is: '{state}'. Reason: Step 0: None.\n"
            f"    jobid: 3\n"
            f"    output: results/train/stage1/summary.json\n"
            f"    log: {log}, .snakemake/slurm_logs/rule_{rule}/{jobid}.log (check log file(s) for error details)\n"
            f"    external_jobid: {jobid}\n\n")


def test_timeout_after_the_last_retry_names_the_runtime_key(tmp_path):
    config = demo_config(resources={"stages": {"stage3": {"runtime": 30}}})
    text = "Trying to restart job 3.\n".join(
        _error("train_stage", j, "TIMEOUT", "results/logs/train_stage1/train_stage1.log") for j in (11, 12, 13))
    text += _error("train_stage", 14, "TIMEOUT", "results/logs/train_stage3/train_stage3.log")
    text += _error("make_table", 15, "OUT_OF_MEMORY", "results/logs/make_table2/make_table2.log")
    text += _error("init_model", 16, "FAILED", "init.log")  # a crash, not a limit: nothing to raise
    # show-failed-logs prints the failed job's own SLURM log, whose inner Snakemake reports no SLURM state.
    text += ("Error in rule train_stage:\n    message: None\n    jobid: 0\n"
             "    log: results/logs/train_stage3/train_stage3.log (check log file(s) for error details)\n")
    messages = dict(L.explain_failures(text, config, REPO / "rules"))
    by_rule = {m.split(":")[0]: m for m in messages}
    # the one training rule is explained per stage, read from the failed job's log path
    assert set(by_rule) == {"rule train_stage (stage=stage1)", "rule train_stage (stage=stage3)", "rule make_table"}
    s1 = by_rule["rule train_stage (stage=stage1)"]
    assert "time limit (TIMEOUT)" in s1 and "3 failed attempt(s)" in s1
    assert "runtime=2880 min, set by config resources.families.train.runtime" in s1
    assert "(or resources.stages.stage1.runtime for this stage only)" in s1 and "resumes" in s1
    s3 = by_rule["rule train_stage (stage=stage3)"]
    assert "1 failed attempt(s)" in s3 and "runtime=30 min, set by config resources.stages.stage3.runtime:" in s3
    assert "memory limit (OUT_OF_MEMORY)" in by_rule["rule make_table"]
    assert "mem_mb=16000 MB, set by config resources.families.cpu.mem_mb" in by_rule["rule make_table"]
    assert messages[s1] == "results/logs/train_stage1/train_stage1.log"


def test_report_appends_the_reason_to_the_rule_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "s2.log").write_text("earlier attempts\n")
    log = tmp_path / "snakemake.log"
    log.write_text("Building DAG of jobs...\n" + _error("train_ablation", 7, "TIMEOUT", "logs/s2.log"))
    messages = L.report([str(log)], demo_config(), REPO / "rules")  # `log` in onerror: a list of paths
    assert len(messages) == 1 and "resources.families.train.runtime" in messages[0]
    assert (tmp_path / "logs" / "s2.log").read_text() == "earlier attempts\n" + messages[0] + "\n"
    assert L.report(tmp_path / "absent.log", demo_config(), REPO / "rules") == []

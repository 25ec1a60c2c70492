"""The `slurm` profile against a real SLURM with accounting (scripts/slurm-local.sh: two nodes on this host), end
to end.

One workflow run of the demo (data, cleaning, model init, training stage 1) goes through
`snakemake --profile slurm` exactly as a user runs it (the profile found by its bare name, a link in
$XDG_CONFIG_HOME/snakemake as scripts/install-profile.sh installs; job states from `sacct`, the plugin's
default, answered by slurmdbd + MariaDB), with one test-only flag: the first status check after 2 s instead of
40 s. Training stage 1 asks for 2 of the node's count-only A100s; the node's CPU-only mode
(UNIX_LAUNCH_CPU_PROCESSES=per_gpu) makes that `accelerate launch` with 2 CPU processes over gloo. While it
runs, its SLURM job is killed right after its first complete checkpoint with SIGTERM to all its processes
(`scancel --signal=TERM --full`: what SLURM sends at a time limit; the job ends FAILED. A plain `scancel` ends it
as "CANCELLED by <uid>" in sacct, a state snakemake-executor-plugin-slurm 2.8.0 does not recognise: Snakemake
would wait forever, see README.md). The tests then read SLURM's own records (`sacct`, `scontrol show job`, the
jobcomp log) and the Snakemake log:
- every job of the run was submitted with sbatch, with the partition, GPU gres, time limit, memory and
  cores that config `resources:` gives its rule's family (training switched to A100 by one config edit, and
  Stage 1's own runtime and memory from `resources.stages.stage1`), and `sacct` holds every job's record;
- the killed job was retried by Snakemake (`retries` of the profile), training resumed from the
  checkpoint instead of starting again, and the rule's log kept both attempts;
- training ran as 2 processes under `accelerate launch`;
- `unix audit --verify` passes on the results.

Needs root and a Debian package mirror (the fixture installs and starts SLURM); where SLURM cannot start,
the tests fail with the reason. About 7 minutes on 2 busy cores (installing and starting SLURM with
accounting: about 10 s and 7 s on an idle machine), much of it the plugin's status-check back-off (10 s more
after every check that finds no job finished).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import BIN, REPO, demo_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.workflow, pytest.mark.xdist_group("slurm")]

SLURM_DIR = Path(os.environ.get("UNIX_SLURM_DIR", "/var/lib/unix-slurm"))
TRAIN_RULE, TRAIN_STAGE = "train_stage", "stage1"  # the one training rule; its {stage} wildcard
TRAIN_STEPS = 60
RUN_TIMEOUT_S = 1200


def scontrol_jobs(run: "SlurmRun") -> list[dict[str, str]]:
    """`scontrol show job` records (one dict per SLURM job) of the jobs of `run` (its workdir, since its start)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True).stdout
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]
    return [j for j in jobs if j.get("WorkDir") == str(run.workdir) and j.get("SubmitTime", "") >= run.started_at]


def jobcomp_records(workdir: Path) -> dict[str, dict[str, str]]:
    """SLURM's completion records (jobcomp/filetxt) of the jobs submitted from `workdir`, by job id."""
    path = SLURM_DIR / "jobcomp.log"
    lines = path.read_text().splitlines() if path.exists() else []
    records = (dict(re.findall(r"(\w+)=(\S*)", line)) for line in lines)
    return {r["JobId"]: r for r in records if r.get("WorkDir") == str(workdir)}


def rule_of(job: dict[str, str]) -> str:
    """Rule of a job from the comment the plugin gives it: rule_<rule>[_wildcards_<values>]."""
    return re.sub(r"_wildcards_.*$", "", job["Comment"].removeprefix("rule_"))


def wildcards_of(job: dict[str, str]) -> str:
    """The wildcard values of a job from its comment ("" for a rule without wildcards)."""
    return job["Comment"].partition("_wildcards_")[2]


def sacct_jobs(run: "SlurmRun") -> dict[str, dict[str, str]]:
    """SLURM accounting records (`sacct`, from slurmdbd) of the jobs of `run`, by job id. The database outlives
    the cluster's restarts (which start job ids afresh), hence the start time."""
    fields = ["JobIDRaw", "State", "Partition", "Comment", "WorkDir", "Timelimit", "ReqTRES"]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", run.started_at, "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]
    return {r["JobIDRaw"]: r for r in rows if r["WorkDir"] == str(run.workdir)}


def rule_families() -> dict[str, tuple[str, str | None]]:
    """Resource family (and training stage) of every rule, as declared in rules/*.smk
    (`**W.resources(config, "<family>"[, "<stage>"])`; the stage may be the wildcard "{stage}")."""
    families = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M):
            name = re.match(r"\s*rule (\w+):", block)
            family = re.search(r"W\.resources\(config, \"(\w+)\"(?:, \"(\w+|\{stage\})\")?\)", block)
            if name and family:
                families[name.group(1)] = (family.group(1), family.group(2))
    return families


@dataclass
class SlurmRun:
    workdir: Path
    config: dict
    returncode: int
    log: str
    killed_job: str | None
    killed_at_step: int | None
    seconds: float
    started_at: str


def _complete_steps(checkpoints: Path) -> list[int]:
    if not checkpoints.is_dir():
        return []
    # step-NNNNNN.tmp is a checkpoint being written (COMPLETE goes in before the rename): not complete yet.
    return sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("step-*")
                  if p.name.split("-")[1].isdigit() and (p / "COMPLETE").is_file())


def _running_job_of(rule: str, workdir: Path) -> str | None:
    """The running SLURM job whose comment is rule_<rule> (with wildcards: <rule>_wildcards_<values>)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k %Z"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        jobid, comment, wd = (line.split() + ["", "", ""])[:3]
        if comment == f"rule_{rule}" and wd == str(workdir):
            return jobid
    return None


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    """Run the demo up to training stage 1 through `--profile slurm`; kill training once, mid-way."""
    workdir = tmp_path_factory.mktemp("slurm-run")
    # The workdir is not the repository root (whose `slurm` link serves users), so the bare profile name
    # resolves through $XDG_CONFIG_HOME/snakemake/slurm, as scripts/install-profile.sh sets up.
    xdg = tmp_path_factory.mktemp("xdg")
    (xdg / "snakemake").mkdir()
    (xdg / "snakemake" / "slurm").symlink_to(REPO / "profiles" / "slurm")
    config = demo_config(
        data={"synthetic": {"n_subjects": 12, "image_size": 128}, "images": {"shards": 1}},
        # The one edit that moves training from L20 to A100 nodes; 2 GPUs fit the test node.
        resources={"families": {"train": {"gpu_model": "a100", "gpus": 2}},
                   "stages": {"stage1": {"runtime": 90, "mem_mb": 24000}}},
        training={"stage1": {"steps": TRAIN_STEPS, "checkpoint_every": 5}},
    )
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    target = f"results/train/{TRAIN_STAGE}/summary.json"
    cmd = ["timeout", "-k", "30", str(RUN_TIMEOUT_S), str(BIN / "snakemake"), "--profile", "slurm",
           "-s", str(REPO / "Snakefile"), "--directory", str(workdir), target,
           # The profile names the paper-scale config (config/paper.yaml); the demo config replaces it.
           "--configfile", "config.yaml",
           # Test speed only: the first status check (sacct) after 2 s instead of 40 s.
           "--slurm-init-seconds-before-status-checks", "2"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    log_path = workdir.parent / f"{workdir.name}.snakemake.log"
    checkpoints = workdir / "results" / "train" / "stage1" / "checkpoints"
    killed_job = killed_at = None
    start, started_at = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(log_path, "w") as log_fh:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log_fh, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None and killed_job is None:
                steps = _complete_steps(checkpoints)
                if steps:
                    jobid = _running_job_of(f"{TRAIN_RULE}_wildcards_{TRAIN_STAGE}", workdir)
                    if jobid:
                        subprocess.run(["scancel", "--signal=TERM", "--full", jobid], check=True)
                        killed_job, killed_at = jobid, steps[-1]
                time.sleep(0.2)
            proc.wait(timeout=RUN_TIMEOUT_S + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
    return SlurmRun(workdir, config, proc.returncode, log_path.read_text(), killed_job, killed_at,
                    time.monotonic() - start, started_at)


def _assert_succeeded(run: SlurmRun) -> None:
    assert run.returncode == 0, f"snakemake --profile slurm exited {run.returncode}:\n{run.log[-6000:]}"


def test_every_job_went_through_sbatch_with_its_family_resources(slurm_run):
    from unix import workflow as W

    _assert_succeeded(slurm_run)
    jobs = scontrol_jobs(slurm_run)
    families = rule_families()
    submitted_rules = {rule_of(j) for j in jobs}
    # Every non-local job in Snakemake's log has a SLURM job: nothing ran outside sbatch.
    ran_rules = set(re.findall(r"^rule (\w+):", slurm_run.log, flags=re.M))
    assert ran_rules and ran_rules <= submitted_rules, (ran_rules, submitted_rules)
    assert {"make_demo_data", "prepare_images", "init_model", TRAIN_RULE} <= submitted_rules
    accounting = sacct_jobs(slurm_run)
    assert {j["JobId"] for j in jobs} == set(accounting), "sacct (slurmdbd) lacks jobs that slurmctld ran"
    for job in jobs:
        rule = rule_of(job)
        assert rule in families, f"rule {rule} has no `resources: **W.resources(config, ...)`"
        family, stage = families[rule]
        want = W.resources(slurm_run.config, family, wildcards_of(job) if stage == "{stage}" else stage)
        where = f"SLURM job {job['JobId']} (rule {rule}, family {families[rule]})"
        record = accounting[job["JobId"]]
        assert (record["State"], record["Partition"], record["Comment"]) == (
            job["JobState"], job["Partition"], job["Comment"]), where
        assert job["Partition"] == want["slurm_partition"], where
        assert job.get("TresPerNode", "") == (f"gres:{want['gres']}" if "gres" in want else ""), where
        assert job["TimeLimit"] == _slurm_minutes(want["runtime"]), where
        assert job["MinMemoryNode"] == f"{want['mem_mb']}M", where
        assert job["MinCPUsNode"] == str(want["cpus_per_task"]), where
        # The plugin's log of the job is kept (slurm-keep-successful-logs) for "what was submitted".
        logs = list((slurm_run.workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{job['JobId']}.log"))
        assert logs, f"{where}: no .snakemake/slurm_logs entry"
    train = [j for j in jobs if rule_of(j) == TRAIN_RULE and wildcards_of(j) == TRAIN_STAGE]
    assert train and all(j["Partition"] == "a100" and j["TresPerNode"] == "gres:gpu:a100:2" for j in train)
    # Stage 1's own runtime and memory (resources.stages.stage1) replace the train family's.
    assert all((j["TimeLimit"], j["MinMemoryNode"]) == ("01:30:00", "24000M") for j in train)
    cpu = [j for j in jobs if families[rule_of(j)][0] == "cpu"]
    assert cpu and all(j["Partition"] == "cpu" and "TresPerNode" not in j for j in cpu)


def _slurm_minutes(minutes: int) -> str:
    days, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def test_killed_training_job_is_retried_and_resumes_from_its_checkpoint(slurm_run):
    assert slurm_run.killed_job, (
        f"{TRAIN_RULE} finished before its SLURM job could be killed after a checkpoint; raise "
        f"TRAIN_STEPS in this test.\n{slurm_run.log[-3000:]}")
    _assert_succeeded(slurm_run)
    records = jobcomp_records(slurm_run.workdir)
    assert records[slurm_run.killed_job]["JobState"] == "FAILED"
    train = [j for j in scontrol_jobs(slurm_run) if rule_of(j) == TRAIN_RULE and wildcards_of(j) == TRAIN_STAGE]
    states = {j["JobId"]: j["JobState"] for j in train}
    retried = [jid for jid, state in states.items() if int(jid) > int(slurm_run.killed_job)]
    assert states[slurm_run.killed_job] == "FAILED" and retried, states
    assert all(states[jid] == "COMPLETED" for jid in retried), states
    assert f"SLURM-job '{slurm_run.killed_job}' failed, SLURM status is: 'FAILED'" in slurm_run.log
    summary = json.loads((slurm_run.workdir / "results/train/stage1/summary.json").read_text())
    assert summary["resumed_from"], "the retried training started from scratch instead of its checkpoint"
    resumed_step = int(Path(summary["resumed_from"]).name.split("-")[1])
    assert resumed_step >= slurm_run.killed_at_step
    assert summary["steps_this_run"] == TRAIN_STEPS - resumed_step < TRAIN_STEPS
    assert sacct_jobs(slurm_run)[slurm_run.killed_job]["State"] == "FAILED"
    # The rule's log kept both attempts, each with its header and its launch command.
    train_log = (slurm_run.workdir / "results/logs/train_stage1/train_stage1.log").read_text()
    headers = re.findall(rf"===== rule {TRAIN_RULE}: attempt (\d+) \(SLURM job (\d+) ", train_log)
    assert headers == [("1", slurm_run.killed_job), ("2", retried[0])], headers
    assert len(re.findall(r"^\$ .*accelerate", train_log, flags=re.M)) == 2
    assert f"resumed from {summary['resumed_from']}" in train_log
    # The throughput of the steps the killed attempt did is carried in the checkpoint.
    assert summary["samples_per_s"] > 0 and summary["steps_by_attempt"][0]["steps"] == resumed_step
    print(f"SLURM round trip with one killed job: {slurm_run.seconds:.0f} s")


def test_training_ran_two_cpu_processes_under_accelerate_launch(slurm_run):
    """The node's CPU-only mode: 2 count-only GPUs -> `accelerate launch` with 2 CPU processes (gloo)."""
    _assert_succeeded(slurm_run)
    train_log = (slurm_run.workdir / "results/logs/train_stage1/train_stage1.log").read_text()
    assert "UNIX_LAUNCH_CPU_PROCESSES=per_gpu: one CPU process per GPU (gloo)" in train_log
    launches = re.findall(r"^\$ (.*)$", train_log, flags=re.M)
    assert launches and all("-m accelerate.commands.launch" in c and "--num_processes 2" in c for c in launches)
    hardware = json.loads((slurm_run.workdir / "results/train/stage1/summary.json").read_text())["hardware"]
    assert (hardware["num_processes"], hardware["distributed_type"]) == (2, "DistributedType.MULTI_CPU")


def test_audit_verify_passes_after_the_retried_run(slurm_run):
    _assert_succeeded(slurm_run)
    proc = subprocess.run([str(BIN / "unix"), "audit", "--verify"], cwd=slurm_run.workdir, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "missing" not in proc.stdout.lower()

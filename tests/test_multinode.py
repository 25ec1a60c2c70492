"""Multi-node training run for real: one SLURM job on the two nodes of the local SLURM (scripts/slurm-local.sh:
two `slurmd -N <name>` on this host), launched by the project's own code (`python -m unix.launch`, what the
training rules run) as the Snakemake SLURM plugin runs a rule, ends with the weights of a one-node run of the
same global batch.

The job asks for what a training rule with `resources.stages.<stage>: {nodes: 2, gpus: 1}` asks for (sbatch
--nodes=2 with one count-only A100 per node). Inside it, as snakemake-executor-plugin-slurm-jobstep does for
every rule, the SLURM variables of the batch step are dropped and the rule runs in a one-task step, `srun -n1
--cpu-bind=q --cpus-per-task=1 --nodes=2` (which SLURM shrinks to one node: that step's environment says
SLURM_NNODES=1). unix.launch asks SLURM for the job's nodes and builds `srun --overlap --nodes=2 --ntasks=2
--ntasks-per-node=1 --nodelist=<both> bash -c 'exec accelerate launch --num_processes 2 --num_machines 2
--main_process_ip <first node> --main_process_port <port> --machine_rank $SLURM_NODEID ...'`; the node's
CPU-only mode (UNIX_LAUNCH_CPU_PROCESSES=per_gpu) makes each node's GPU one CPU process, so the two ranks
meet over gloo on loopback. The reference is the same recipe under `accelerate launch --num_processes 2
--num_machines 1` (2 processes, batch 2 each): same data shards, noise and reductions, so the weights agree to
float32 rounding of the all-reduce (measured 0: identical), within 1e-6.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO
from test_training_unix import _curve, _spec, _weights

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("slurm")]

STEPS = 4
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_spec(setup, tmp_path: Path, name: str) -> tuple[dict, Path]:
    root, files = setup
    spec = _spec(root, files, "stage2", root / "init", tmp_path / name, steps=STEPS, batch_size=2,
                 checkpoint_every=STEPS)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return spec, path


def test_two_node_slurm_job_trains_like_one_node(slurm_cluster, tiny_training_setup, tmp_path):
    one_spec, one_path = _write_spec(tiny_training_setup, tmp_path, "one_node")
    one = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(REPO / "profiles/accelerate/ddp.yaml"), "--num_processes", "2", "--num_machines", "1",
         "--machine_rank", "0", "--main_process_port", str(_free_port()), "--dynamo_backend", "no",
         "-m", "unix.training.run", str(one_path)], env=ENV, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]

    two_spec, two_path = _write_spec(tiny_training_setup, tmp_path, "two_nodes")
    job_log = tmp_path / "job.log"
    launch = f"{sys.executable} -m unix.launch -- -m unix.training.run {two_path}"
    # What the jobstep plugin (2.8.0) runs in the batch script: SLURM_* / SRUN_* / SBATCH_* dropped but the
    # job's identity, then the rule in a one-task step.
    as_the_plugin = ("for v in $(compgen -e); do case $v in SLURM_JOB_ID|SLURM_JOBID|SLURM_CLUSTER_NAME|"
                     "SLURM_SUBMIT_DIR|SLURM_SUBMIT_HOST) ;; SLURM_*|SRUN_*|SBATCH_*) unset $v ;; esac; done; "
                     f"srun -n1 --cpu-bind=q --cpus-per-task=1 --nodes=2 {launch}")
    job = subprocess.run(
        ["sbatch", "--wait", "--parsable", "-J", "unix-two-nodes", "-p", "a100", "--nodes=2",
         "--ntasks-per-node=1", "--gres=gpu:a100:1", "--cpus-per-task=1", "--mem=2000", "-t", "10",
         "-o", str(job_log), "-D", str(REPO), "--wrap", as_the_plugin],
        env={**ENV, "UNIX_MAIN_PROCESS_PORT": str(_free_port())}, capture_output=True, text=True, timeout=300)
    out = job_log.read_text() if job_log.exists() else ""
    assert job.returncode == 0, f"sbatch: {job.stderr[-2000:]}\njob log:\n{out[-4000:]}"

    # The launch that ran: an srun step over both nodes, accelerate launch on each with its machine rank.
    assert re.search(r"launch: 2 process\(es\), 1 GPU\(s\) per node .* 2 node\(s\)", out), out[-3000:]
    nodes = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job.stdout.strip().split(";")[0], "-o", "NNodes"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert nodes == ["2"]

    summary = json.loads(Path(two_spec["summary"]).read_text())
    ranks = summary["hardware"]["ranks"]
    assert [(r["rank"], r["machine_rank"]) for r in ranks] == [(0, 0), (1, 1)], ranks
    assert len({r["node"] for r in ranks}) == 2, f"both ranks ran on one node: {ranks}"
    assert summary["hardware"]["num_processes"] == 2 and summary["steps_this_run"] == STEPS

    one_out, two_out = tmp_path / "one_node", tmp_path / "two_nodes"
    torch.testing.assert_close(torch.tensor(_curve(two_out)), torch.tensor(_curve(one_out)), rtol=1e-6, atol=0)
    ref, got = _weights(one_out / "final"), _weights(two_out / "final")
    assert ref.keys() == got.keys()
    init = _weights(tiny_training_setup[0] / "init")
    assert any(not torch.equal(got[k], init[k]) for k in got)  # it trained
    worst = max((ref[k] - got[k]).abs().max().item() for k in ref)
    print(f"two nodes vs one node: max |dw| {worst:.3g}")
    assert worst <= 1e-6, f"two-node and one-node final weights differ by {worst}"

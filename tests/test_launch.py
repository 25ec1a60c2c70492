"""unix.launch: the process count comes from the allocation, and accelerate's own parser reads our command
as intended (accelerate is the oracle for the flags)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from accelerate.commands.launch import launch_command_parser

from unix.launch import (
    Allocation,
    accelerate_launch_command,
    detect_allocation,
    expand_nodelist,
    resolve_accelerate_config,
    slurm_job_nodes,
)


def parse_accelerate(cmd: list[str]):
    """The namespace `accelerate launch` builds from our argv (after `python -m accelerate.commands.launch`)."""
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"], cmd
    return launch_command_parser().parse_args([*cmd[3:], "-m", "unix.training.run", "spec.json"])


def test_expand_nodelist_matches_scontrol_show_hostnames():
    assert expand_nodelist("gpu[01-03,07],login1") == ["gpu01", "gpu02", "gpu03", "gpu07", "login1"]
    assert expand_nodelist("node7") == ["node7"]
    assert expand_nodelist("a[8-10]") == ["a8", "a9", "a10"]


@pytest.mark.parametrize(
    ("env", "cuda", "gpus", "allocated", "source"),
    [
        ({"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "SLURM_GPUS_ON_NODE": "8"}, 8, 8, 8, "CUDA_VISIBLE_DEVICES"),
        ({"SLURM_GPUS_ON_NODE": "2"}, 2, 2, 2, "SLURM_GPUS_ON_NODE"),
        ({}, 4, 4, 4, "torch.cuda.device_count()"),
        ({}, 0, 0, 0, "none"),
        ({"CUDA_VISIBLE_DEVICES": ""}, 0, 0, 0, "CUDA_VISIBLE_DEVICES"),
        # A test cluster's count-only GPUs: allocated, but CUDA opens none -> CPU.
        ({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_GPUS_ON_NODE": "2"}, 0, 0, 2, "CUDA_VISIBLE_DEVICES"),
    ],
)
def test_detect_allocation_gpu_count(env, cuda, gpus, allocated, source):
    alloc = detect_allocation(env, cuda_devices=cuda)
    assert (alloc.gpus_per_node, alloc.gpus_allocated, alloc.source) == (gpus, allocated, source)
    assert alloc.num_processes == max(gpus, 1)


def test_cpu_allocation_runs_one_plain_process():
    assert accelerate_launch_command("", allocation=detect_allocation({}, cuda_devices=0)) == [sys.executable]


@pytest.mark.parametrize(("config", "distributed"), [("", "MULTI_GPU"), ("profiles/accelerate/fsdp.yaml", "FSDP"),
                                                    ("profiles/accelerate/fsdp2.yaml", "FSDP")])
def test_single_node_command_uses_every_gpu_of_the_allocation(config, distributed):
    alloc = detect_allocation({"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}, cuda_devices=8)
    cmd = accelerate_launch_command(config, mixed_precision="bf16", allocation=alloc)
    args = parse_accelerate(cmd)
    assert (args.num_processes, args.num_machines, args.machine_rank) == (8, 1, 0)
    assert args.mixed_precision == "bf16" and args.module and args.training_script == "unix.training.run"
    from accelerate.commands.config.config_args import load_config_from_file

    assert load_config_from_file(args.config_file).distributed_type.value == distributed


def test_nodes_come_from_the_job_not_from_the_step():
    """The Snakemake SLURM plugin runs a rule of a two-node job in a one-node, one-task step: its environment
    says one node, SLURM's record of the job (scontrol show job) says two."""
    step_env = {"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "7", "SLURM_NNODES": "1", "SLURM_JOB_NODELIST": "vm"}
    alloc = detect_allocation(step_env, cuda_devices=1, job_nodes=["vm", "vm-2"])
    assert (alloc.num_nodes, alloc.main_host, alloc.num_processes) == (2, "vm", 2)
    assert detect_allocation(step_env, cuda_devices=1, job_nodes=["vm"]).num_nodes == 1
    assert slurm_job_nodes({"SLURM_JOB_ID": "not-a-job"}) is None and slurm_job_nodes({}) is None


def test_multi_node_command_starts_one_launcher_per_node():
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2,3", "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]"}
    cmd = accelerate_launch_command("", allocation=detect_allocation(env, cuda_devices=4), main_process_port=29555)
    assert cmd[0] == "srun" and "--nodes=2" in cmd and "--ntasks-per-node=1" in cmd
    # Explicit task counts and nodes: those of an enclosing one-task step must not apply.
    assert "--ntasks=2" in cmd and "--nodelist=gpu07,gpu08" in cmd
    script = cmd[cmd.index("-c") + 1]
    # What node 1 runs, with the training module that the caller appends as "$@".
    node1 = shlex.split(script.replace('"$SLURM_NODEID"', "1").replace('"$@"', "-m unix.training.run spec.json"))
    assert node1[0] == "exec"
    args = launch_command_parser().parse_args(node1[4:])
    assert (args.num_processes, args.num_machines, args.machine_rank) == (8, 2, 1)
    assert (args.main_process_ip, args.main_process_port) == ("gpu07", 29555)
    assert args.training_script == "unix.training.run"


def test_bad_inputs_name_the_fix():
    gpu = Allocation(gpus_per_node=1, gpus_allocated=1, source="test")
    with pytest.raises(ValueError, match="training.accelerate_config"):
        accelerate_launch_command("nope/ddp.yaml", allocation=gpu)
    with pytest.raises(ValueError, match="mixed_precision"):
        accelerate_launch_command("", mixed_precision="fp64", allocation=gpu)
    with pytest.raises(ValueError, match="SLURM_JOB_NODELIST"):
        accelerate_launch_command("", allocation=Allocation(1, 1, "test", num_nodes=2))
    assert resolve_accelerate_config("").name == "ddp.yaml"


def test_cli_runs_the_target_in_one_process_on_cpu(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "unix.launch", "--", "-c", "import sys; print('ran', sys.argv[1:])",
                           "a", "b"], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert "ran ['a', 'b']" in proc.stdout
    assert "1 process on the CPU" in proc.stderr


def test_count_only_gpus_run_one_cpu_process_each_where_the_node_asks(monkeypatch):
    """A test node's GPUs that CUDA cannot open: one CPU process by default; with UNIX_LAUNCH_CPU_PROCESSES=
    per_gpu (set by scripts/slurm-local.sh's TaskProlog) `accelerate launch` with one CPU process per GPU."""
    from unix.launch import CPU_PROCESSES_ENV

    alloc = detect_allocation({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_GPUS_ON_NODE": "2"}, cuda_devices=0)
    monkeypatch.delenv(CPU_PROCESSES_ENV, raising=False)
    assert accelerate_launch_command("", allocation=alloc) == [sys.executable]
    monkeypatch.setenv(CPU_PROCESSES_ENV, "per_gpu")
    args = parse_accelerate(accelerate_launch_command("", allocation=alloc))
    assert (args.num_processes, args.num_machines, args.machine_rank) == (2, 1, 0)
    assert accelerate_launch_command("", allocation=detect_allocation({}, cuda_devices=0)) == [sys.executable]
    monkeypatch.setenv(CPU_PROCESSES_ENV, "2")
    with pytest.raises(ValueError, match="per_gpu"):
        accelerate_launch_command("", allocation=alloc)

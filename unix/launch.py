"""The command that starts a training job on the resources SLURM (or the workstation) gave it.

One process per GPU under ``accelerate launch``; the process count comes from the allocation, never from
a number written in a file, so the same rule runs on 1, 2 or 8 GPUs:

* GPUs per node: ``CUDA_VISIBLE_DEVICES`` (set by SLURM for a ``--gres``/``--gpus`` job, or by the user on
  a workstation), else ``SLURM_GPUS_ON_NODE``, else ``torch.cuda.device_count()``; capped by the GPUs
  CUDA can actually open, so an allocation of GPUs without a driver (a test cluster) runs on the CPU.
* No usable GPU: one plain Python process (the training code's ``Accelerator`` runs on the CPU). Where the
  environment sets ``UNIX_LAUNCH_CPU_PROCESSES=per_gpu`` (the local test SLURM of scripts/slurm-local.sh does,
  for its count-only GPUs), an allocation of N GPUs that CUDA cannot open runs ``accelerate launch`` with N
  CPU processes instead (torch.distributed over gloo), so a test cluster exercises the launch path of a
  multi-GPU job.
* Nodes: the job's, asked of SLURM (``scontrol show job $SLURM_JOB_ID``: NumNodes, NodeList), else
  ``SLURM_JOB_NUM_NODES`` / ``SLURM_NNODES`` and ``SLURM_JOB_NODELIST``. The environment alone is not enough:
  the Snakemake SLURM plugin (2.8.0) runs each rule in a one-task step (``srun -n1 --nodes=2``, which SLURM
  shrinks to one node), whose environment says ``SLURM_NNODES=1`` and lists one node even in a two-node job.
  With more than one node, the command is an ``srun`` step over all the job's nodes (``--overlap``, task
  counts given explicitly so that the enclosing step's do not apply) that starts one ``accelerate launch``
  per node, each with its ``--machine_rank`` from ``SLURM_NODEID``, all meeting at the job's first node
  (``--main_process_ip``, a name every node must resolve). Run for real
  on the two-node local SLURM of scripts/slurm-local.sh (tests/test_multinode.py); not yet on a GPU cluster.

The accelerate config file chooses DDP (``profiles/accelerate/ddp.yaml``, the default) or FSDP
(``profiles/accelerate/fsdp.yaml``); flags on the command line override the file's process counts.

Usage from a workflow script: ``cmd = [*accelerate_launch_command(cfg), "-m", "unix.training.run", spec]``;
from a shell: ``python -m unix.launch [--accelerate-config F] [--mixed-precision bf16] -- -m module args``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ACCELERATE_CONFIG = "profiles/accelerate/ddp.yaml"
DEFAULT_MAIN_PROCESS_PORT = 29500
MIXED_PRECISION = ("no", "fp16", "bf16")
CPU_PROCESSES_ENV = "UNIX_LAUNCH_CPU_PROCESSES"
"""Environment variable: ``per_gpu`` runs one CPU process per allocated GPU that CUDA cannot open."""


@dataclass(frozen=True)
class Allocation:
    """The compute resources one training job may use."""

    gpus_per_node: int
    """GPUs on each node that the job may use and CUDA can open (0: run on the CPU)."""
    gpus_allocated: int
    """GPUs per node that the allocation names (may exceed gpus_per_node when CUDA sees fewer)."""
    source: str
    """Where gpus_allocated came from (CUDA_VISIBLE_DEVICES, SLURM_GPUS_ON_NODE, torch, none)."""
    num_nodes: int = 1
    """Nodes of the job (see the module docstring)."""
    main_host: str = ""
    """Host of the rank-0 process for multi-node jobs (the job's first node)."""
    hosts: tuple[str, ...] = ()
    """Every node of a multi-node job, in SLURM's order (empty for one node)."""

    @property
    def num_processes(self) -> int:
        """Processes over all nodes: one per GPU, or a single CPU process."""
        return self.gpus_per_node * self.num_nodes if self.gpus_per_node else 1


def expand_nodelist(nodelist: str) -> list[str]:
    """Hosts of a SLURM node list such as ``gpu[01-03,07],login1`` (what ``scontrol show hostnames`` prints)."""
    hosts: list[str] = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", nodelist):
        if plain:
            hosts.append(plain.strip())
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if not hi:
                hosts.append(prefix + lo)
                continue
            for i in range(int(lo), int(hi) + 1):
                hosts.append(f"{prefix}{i:0{len(lo)}d}")
    return hosts


def _count_devices(value: str) -> int:
    return len([d for d in value.split(",") if d.strip() and d.strip() != "-1"])


def cuda_device_count() -> int:
    """GPUs CUDA can open in this process (0 without a driver or a CUDA build of torch)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install must not stop a CPU run
        return 0


def slurm_job_nodes(env: Mapping[str, str]) -> list[str] | None:
    """The nodes of the SLURM job that `env` runs in (``scontrol show job``), or None outside a job or when
    SLURM does not answer."""
    job = env.get("SLURM_JOB_ID", "")
    if not job.isdigit():
        return None
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(?:^|\s)NodeList=(\S+)", out.stdout) if out.returncode == 0 else None
    if not found or found.group(1) in ("", "(null)"):
        return None
    return expand_nodelist(found.group(1))


def detect_allocation(env: Mapping[str, str] | None = None, cuda_devices: int | None = None,
                      job_nodes: list[str] | None = None) -> Allocation:
    """Read the job's GPUs and nodes from the environment (see the module docstring for the order).

    `cuda_devices` is the count CUDA can open (default: ask torch) and `job_nodes` the job's nodes (default:
    ask SLURM); tests pass them in.
    """
    env = os.environ if env is None else env
    usable = cuda_device_count() if cuda_devices is None else cuda_devices
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        allocated, source = _count_devices(env["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES"
    elif env.get("SLURM_GPUS_ON_NODE", "").isdigit():
        allocated, source = int(env["SLURM_GPUS_ON_NODE"]), "SLURM_GPUS_ON_NODE"
    elif usable:
        allocated, source = usable, "torch.cuda.device_count()"
    else:
        allocated, source = 0, "none"
    hosts = job_nodes if job_nodes is not None else slurm_job_nodes(env)
    if hosts:
        nodes = len(hosts)
    else:
        count = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or ""
        nodes = int(count) if count.isdigit() else 1
        hosts = expand_nodelist(env.get("SLURM_JOB_NODELIST", "")) if nodes > 1 else []
    if nodes == 1:
        hosts = []
    return Allocation(gpus_per_node=min(allocated, usable), gpus_allocated=allocated, source=source,
                      num_nodes=nodes, main_host=hosts[0] if hosts else "", hosts=tuple(hosts))


def resolve_accelerate_config(path: str) -> Path:
    """The accelerate config file: `path` as given, else relative to the repository; empty means DDP."""
    path = path or DEFAULT_ACCELERATE_CONFIG
    for candidate in (Path(path), REPO_ROOT / path):
        if candidate.is_file():
            return candidate.resolve()
    raise ValueError(
        f"accelerate config {path!r} does not exist (config training.accelerate_config); use "
        "profiles/accelerate/ddp.yaml or profiles/accelerate/fsdp.yaml, or the path of your own file"
    )


def accelerate_launch_command(accelerate_config: str = "", *, mixed_precision: str | None = None,
                              allocation: Allocation | None = None,
                              main_process_port: int | None = None) -> list[str]:
    """argv prefix that runs a training module over the job's GPUs; append ``-m <module> <args>``.

    On a CPU-only allocation this is ``[python]`` (one process). `mixed_precision` (no, fp16, bf16)
    overrides the config file's value on GPUs; None keeps the file's.
    """
    if mixed_precision is not None and mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision={mixed_precision!r}; use one of {', '.join(MIXED_PRECISION)}")
    alloc = allocation if allocation is not None else detect_allocation()
    if alloc.gpus_per_node == 0 and alloc.gpus_allocated and cpu_processes_per_gpu():
        log.info("launch: the allocation has %d GPU(s) (%s) that CUDA cannot open and %s=per_gpu: "
                 "one CPU process per GPU (gloo)", alloc.gpus_allocated, alloc.source, CPU_PROCESSES_ENV)
        alloc = replace(alloc, gpus_per_node=alloc.gpus_allocated)
    if alloc.gpus_per_node == 0:
        if alloc.gpus_allocated:
            log.warning("the allocation has %d GPU(s) (%s) but CUDA can open none: running one CPU process",
                        alloc.gpus_allocated, alloc.source)
        log.info("launch: 1 process on the CPU")
        return [sys.executable]
    config_file = resolve_accelerate_config(accelerate_config)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file),
           "--num_processes", str(alloc.num_processes), "--num_machines", str(alloc.num_nodes),
           "--dynamo_backend", "no"]
    if mixed_precision is not None:
        cmd += ["--mixed_precision", mixed_precision]
    log.info("launch: %d process(es), %d GPU(s) per node from %s, %d node(s), %s",
             alloc.num_processes, alloc.gpus_per_node, alloc.source, alloc.num_nodes, config_file.name)
    if alloc.num_nodes == 1:
        return cmd + ["--machine_rank", "0"]
    if not alloc.main_host:
        raise ValueError("a multi-node job needs its node list (scontrol show job, or SLURM_JOB_NODELIST) to "
                         "find the main host")
    port = main_process_port or int(os.environ.get("UNIX_MAIN_PROCESS_PORT", DEFAULT_MAIN_PROCESS_PORT))
    cmd += ["--main_process_ip", alloc.main_host, "--main_process_port", str(port), "--same_network"]
    # One launcher per node; SLURM_NODEID is only known inside each node's task, hence the shell.
    quoted = " ".join(_shell_quote(c) for c in cmd)
    nodelist = [f"--nodelist={','.join(alloc.hosts)}"] if len(alloc.hosts) == alloc.num_nodes else []
    return ["srun", "--overlap", f"--nodes={alloc.num_nodes}", f"--ntasks={alloc.num_nodes}", "--ntasks-per-node=1",
            *nodelist, "--kill-on-bad-exit=1",
            "bash", "-c", f'exec {quoted} --machine_rank "$SLURM_NODEID" "$@"', "unix-launch"]


def cpu_processes_per_gpu(env: Mapping[str, str] | None = None) -> bool:
    """True where the environment asks for one CPU process per allocated GPU (see the module docstring)."""
    value = (os.environ if env is None else env).get(CPU_PROCESSES_ENV, "")
    if value not in ("", "per_gpu"):
        raise ValueError(f"{CPU_PROCESSES_ENV}={value!r}; set it to per_gpu or leave it unset")
    return value == "per_gpu"


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m unix.launch [options] -- -m module args``: replace this process with the launch."""
    parser = argparse.ArgumentParser(prog="python -m unix.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accelerate-config", default="", help="DDP or FSDP accelerate config file")
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION, default=None)
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-- -m module args (or script.py args)")
    args = parser.parse_args(argv)
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    if not target:
        parser.error("nothing to launch: give the module after --, e.g. -- -m unix.training.run spec.json")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    cmd = [*accelerate_launch_command(args.accelerate_config, mixed_precision=args.mixed_precision), *target]
    if args.print:
        print(" ".join(_shell_quote(c) for c in cmd))
        return 0
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

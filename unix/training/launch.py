"""The command that starts a training run: one Python process, or ``accelerate launch`` over the GPUs.

The number of processes is the number of GPUs the job was given (SLURM's allocation, seen through
``CUDA_VISIBLE_DEVICES`` / ``SLURM_GPUS_ON_NODE``), never a number written in a file, so the same rule
runs on 1, 2 or 8 GPUs. With the project's ``unix.launch`` available, its command is used instead.
"""

from __future__ import annotations

import os
import sys


def visible_gpus() -> int:
    """GPUs this job may use (0 on a CPU-only machine)."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip() and d.strip() != "-1"])
    if os.environ.get("SLURM_GPUS_ON_NODE", "").isdigit():
        return int(os.environ["SLURM_GPUS_ON_NODE"])
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # pragma: no cover - torch is a dependency
        return 0


def launch_prefix(accelerate_config: str) -> list[str]:
    """argv prefix to run ``-m unix.training.run ...`` under (see the module docstring)."""
    try:  # the SLURM engineer's launcher, when present, knows multi-node allocations too
        from unix.launch import accelerate_launch_command  # type: ignore[attr-defined]

        return list(accelerate_launch_command(accelerate_config))
    except ImportError:
        pass
    gpus = visible_gpus()
    if not accelerate_config or gpus < 1:
        return [sys.executable]
    if not os.path.exists(accelerate_config):
        raise ValueError(f"config training.accelerate_config={accelerate_config!r} does not exist; "
                         "use profiles/accelerate/ddp.yaml or fsdp.yaml, or empty for one process")
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config,
            "--num_processes", str(gpus), "--num_machines", "1"]

"""FSDP details the trainer needs beyond accelerate: FSDP on CPU processes, full state dicts, full parameters.

accelerate runs FSDP on GPUs; on CPU processes (gloo: the tests, and a CPU-only cluster node) two things
stop it in accelerate 1.15 / torch 2.13, and :func:`fsdp_on_cpu` works around both (GPU jobs never take
that path). :func:`full_parameters` lets the EMA average full parameters rather than FSDP1's flat shards.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def is_fsdp(accelerator: Any) -> bool:
    return str(accelerator.distributed_type).endswith("FSDP")


def fsdp_on_cpu(accelerator: Any) -> None:
    """Make CPU processes launched with an FSDP accelerate config really use FSDP.

    accelerate 1.15 enables FSDP only on accelerator devices: on CPU processes it reads the launcher's FSDP
    settings (and builds the plugin) but then sets up plain data parallelism (MULTI_CPU), silently. torch's
    FSDP runs on CPU over gloo, so switch the state to FSDP with the plugin built from those settings; the
    model is then wrapped, checkpointed and gathered as on GPUs (tests/test_training_fsdp.py).
    """
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType

    if accelerator.distributed_type != DistributedType.MULTI_CPU:
        return

    class CPUPlugin(FullyShardedDataParallelPlugin):
        """Full state dicts without ``offload_to_cpu``, which accelerate's save_state/load_state force on
        for every multi-process run: for CPU parameters torch 2.13's FSDP then reads freed memory (rank 0
        dies of SIGSEGV; tests/test_training_fsdp.py shows it). Each read gives a fresh config, so
        accelerate's assignments to it are lost."""

        state_dict_config = property(lambda self: FullStateDictConfig(offload_to_cpu=False, rank0_only=True),
                                     lambda self, value: None)
        optim_state_dict_config = property(
            lambda self: FullOptimStateDictConfig(offload_to_cpu=False, rank0_only=True), lambda self, value: None)

    state = AcceleratorState()
    plugin = CPUPlugin()  # from the launcher's FSDP_* environment
    if plugin.state_dict_type != StateDictType.FULL_STATE_DICT:
        raise ValueError("FSDP on CPU processes supports fsdp_state_dict_type: FULL_STATE_DICT only "
                         "(profiles/accelerate/fsdp.yaml)")
    state.fsdp_plugin = plugin
    log.info("accelerate set up %s for an FSDP launch on %d CPU processes; switching to FSDP",
             accelerator.distributed_type, accelerator.num_processes)
    state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP  # as accelerate keeps them in step
    # MULTI_CPU names the device "cpu:0", which FSDP rejects as differing from its parameters' "cpu".
    state.device = PartialState._shared_state["device"] = torch.device("cpu")


def full_state_dict(accelerator: Any, wrapped: nn.Module) -> dict[str, torch.Tensor]:
    """The full state dict of an FSDP-wrapped module on the main process (empty elsewhere); a collective.
    accelerate's ``get_state_dict`` always offloads FSDP1 parameters to the CPU, which crashes for CPU
    parameters (see :func:`fsdp_on_cpu`); FSDP2 goes through it."""
    if accelerator.is_fsdp2:
        return accelerator.get_state_dict(wrapped)
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    config = FullStateDictConfig(offload_to_cpu=accelerator.device.type != "cpu", rank0_only=True)
    with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, config):
        return wrapped.state_dict()


def full_parameters(accelerator: Any, wrapped: nn.Module) -> Callable[..., Any] | None:
    """Under FSDP1, a factory of contexts in which the model's parameters hold their full (gathered) values
    (``writeback=True`` keeps in-place changes); None when elementwise updates of the parameters as they are
    need none: one process, DDP (full tensors) and FSDP2 (DTensor shards, gathered when the EMA is saved;
    see unix.training.ema)."""
    if not is_fsdp(accelerator) or accelerator.is_fsdp2:
        return None
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return lambda writeback=False: FSDP.summon_full_params(wrapped, writeback=writeback)

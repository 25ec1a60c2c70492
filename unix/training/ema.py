"""Exponential moving average of the trainable generation parameters.

Thin wrapper over diffusers' ``EMAModel`` (the maintained implementation used by the diffusers training
scripts); it keeps shadow copies only of the parameters given (the generation branch), so its memory cost
is that branch's size.

Under FSDP a parameter holds only this process's part between steps, so a checkpoint written by the main
process alone would hold rank 0's part, and a resumed rank 1 would continue from the wrong values:
- FSDP1 (flat shards, no shape): `full_parameters` (a context manager factory, see
  :func:`unix.training.fsdp.full_parameters`) makes the parameters hold their full values while the average
  is created, updated and copied back, so the shadows are full tensors, identical on every process.
- FSDP2 (each parameter a DTensor sharded on dim 0): the average is elementwise, so it is kept on the shards
  as DTensors (no gathering per step, 1/N of the memory); :meth:`GenerationEMA.state_dict` gathers the full
  tensors (a collective) and :meth:`GenerationEMA.load_state_dict` shards them again.
Either way the checkpoint holds the same full tensors as under DDP (tests/test_training_fsdp.py).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable

import torch


def _in_place(writeback: bool = False) -> ContextManager:
    return contextlib.nullcontext()


class GenerationEMA:
    """EMA of a fixed list of parameters with ``state_dict``/``load_state_dict`` for checkpoints."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], decay: float,
                 full_parameters: Callable[..., ContextManager] | None = None) -> None:
        from diffusers.training_utils import EMAModel

        self.parameters = list(parameters)
        self.decay = decay
        self._full = full_parameters or _in_place
        # A fixed decay (min_decay = decay): the config value is the decay actually used from step 2 on.
        with self._full():
            self._ema = EMAModel(self.parameters, decay=decay, min_decay=decay, use_ema_warmup=False)

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameter values into the average (call after each optimizer step; under FSDP
        on every process, since gathering the parameters is a collective)."""
        with self._full():
            self._ema.step(self.parameters)

    def copy_to_model(self) -> None:
        """Overwrite the live parameters with their averages (before the final save)."""
        with self._full(writeback=True):
            self._ema.copy_to(self.parameters)

    def state_dict(self) -> dict:
        """The averages as full tensors (sharded ones are gathered: call it on every process)."""
        state = self._ema.state_dict()
        return {**state, "shadow_params": [_full_tensor(s) for s in state["shadow_params"]]}

    def load_state_dict(self, state: dict) -> None:
        """Load full averages; where the parameters are sharded DTensors (FSDP2), keep this process's shard."""
        self._ema.load_state_dict(state)
        self._ema.shadow_params = [_sharded_like(s, p) for s, p in zip(self._ema.shadow_params, self.parameters)]


def _full_tensor(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def _sharded_like(full: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(param, DTensor):
        return full
    if full.shape != param.shape:
        raise ValueError(f"EMA checkpoint holds a tensor of shape {tuple(full.shape)} for a parameter of shape "
                         f"{tuple(param.shape)}: it was written for another model")
    # Every process loaded the same full tensor: each keeps its own part, with no communication.
    return distribute_tensor(full.to(param.device), param.device_mesh, param.placements, src_data_rank=None)

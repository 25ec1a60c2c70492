"""Exponential moving average of the trainable generation parameters.

Thin wrapper over diffusers' ``EMAModel`` (the maintained implementation used by the diffusers training
scripts); it keeps shadow copies only of the parameters given (the generation branch), so its memory cost
is that branch's size.

Under FSDP a parameter holds only this process's flat shard between steps, so an average of those tensors
would be an average of shards: its checkpoint (written by the main process only) would hold rank 0's
shard, and a resumed rank 1 would continue from the wrong values. `full_parameters` (a context manager
factory, see :func:`unix.training.trainer.full_parameters`) makes the parameters hold their full values
while the average is created, updated and copied back, so the shadows are full tensors, identical on
every process, and the checkpoint is the same as under DDP.
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
        return self._ema.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._ema.load_state_dict(state)

"""Exponential moving average of the trainable generation parameters.

Thin wrapper over diffusers' ``EMAModel`` (the maintained implementation used by the diffusers training
scripts); it keeps shadow copies only of the parameters given (the generation branch), so its memory cost
is that branch's size.
"""

from __future__ import annotations

from typing import Iterable

import torch


class GenerationEMA:
    """EMA of a fixed list of parameters with ``state_dict``/``load_state_dict`` for checkpoints."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], decay: float) -> None:
        from diffusers.training_utils import EMAModel

        self.parameters = list(parameters)
        self.decay = decay
        # A fixed decay (min_decay = decay): the config value is the decay actually used from step 2 on.
        self._ema = EMAModel(self.parameters, decay=decay, min_decay=decay, use_ema_warmup=False)

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameter values into the average (call after each optimizer step)."""
        self._ema.step(self.parameters)

    def copy_to_model(self) -> None:
        """Overwrite the live parameters with their averages (before the final save)."""
        self._ema.copy_to(self.parameters)

    def state_dict(self) -> dict:
        return self._ema.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._ema.load_state_dict(state)

"""Learning-rate schedule: linear warm-up, then cosine decay to ``lr * min_lr_ratio``.

This is transformers' ``get_cosine_with_min_lr_schedule_with_warmup`` (a ``LambdaLR``, so its state is a
plain ``state_dict`` that checkpoints restore exactly); :func:`lr_at` is the closed form the tests compare
it with.
"""

from __future__ import annotations

import math

import torch


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                    min_lr_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up + cosine schedule over `total_steps` optimizer steps, stepped once per optimizer step."""
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    return get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps, min_lr_rate=min_lr_ratio
    )


def lr_at(step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """The learning rate used for optimizer step `step` (0-based)."""
    if step < warmup_steps:
        return lr * step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine)

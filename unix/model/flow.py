"""Rectified-flow matching: the training target and the Euler sampler with shift, CFG interval and renorm.

Convention (UniX/BAGEL, diffusers `FlowMatchEulerDiscreteScheduler`): t = 1 is pure noise, t = 0 data,
    x_t = (1 - t) x_0 + t eps,    target velocity u_t = eps - x_0,    L = E ||v(x_t, t) - u_t||^2  (Eq. 2)
"""

from __future__ import annotations

from typing import Callable

import torch


def shift_timesteps(t: torch.Tensor, shift: float) -> torch.Tensor:
    """t' = s t / (1 + (s - 1) t): s > 1 spends more of the schedule near noise."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def sample_training_timesteps(batch: int, shift: float, generator: torch.Generator | None = None,
                              device: torch.device | str = "cpu") -> torch.Tensor:
    """t = shift(sigmoid(n)), n ~ N(0, 1), one per image (logit-normal)."""
    n = torch.randn(batch, generator=generator, device="cpu").to(device)
    return shift_timesteps(torch.sigmoid(n), shift)


def noisy_latents(x0: torch.Tensor, t_B: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x_t and the velocity target eps - x_0."""
    t = t_B.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - t) * x0 + t * noise, noise - x0


def sampling_schedule(steps: int, shift: float) -> torch.Tensor:
    """steps + 1 times from 1 to 0 (shifted); Euler takes `steps` steps (UniX: linspace(1, 0, 50))."""
    return shift_timesteps(torch.linspace(1.0, 0.0, steps + 1), shift)


def guided_velocity(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float, renorm: bool) -> torch.Tensor:
    """v = v_u + scale (v_c - v_u); with renorm, v *= clamp(||v_c|| / (||v|| + 1e-8), 0, 1).

    The norm is global over each sample's whole latent, as the reference's `cfg_renorm_type='global'`,
    which takes it over the packed batch and is meant for batch 1; per sample is that batch-1 behaviour.
    """
    v = v_uncond + scale * (v_cond - v_uncond)
    if renorm:
        ratio = v_cond.flatten(1).norm(dim=1) / (v.flatten(1).norm(dim=1) + 1e-8)
        v = v * ratio.clamp(0.0, 1.0).view(-1, *([1] * (v.dim() - 1)))
    return v


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]],
                 noise: torch.Tensor, steps: int, shift: float, cfg_scale: float,
                 cfg_interval: tuple[float, float], renorm: bool) -> torch.Tensor:
    """Integrate dx/dt = v from t = 1 (noise) to t = 0.

    `velocity(x, t_B, guided)` returns (v_cond, v_uncond or None); it is asked for the unconditional
    prediction only when guidance applies at that t (t in (low, high] and scale != 1).
    """
    x = noise
    times = sampling_schedule(steps, shift)
    low, high = cfg_interval
    for i in range(steps):
        t, t_next = float(times[i]), float(times[i + 1])
        guided = cfg_scale != 1.0 and low < t <= high
        t_B = torch.full((x.shape[0],), t, device=x.device)
        v_cond, v_uncond = velocity(x, t_B, guided)
        v = guided_velocity(v_cond, v_uncond, cfg_scale, renorm) if guided else v_cond
        x = x + (t_next - t) * v
    return x

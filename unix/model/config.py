"""`UniXConfig`: every architecture and training-objective number of the UniX model in one dataclass.

Two named configs exist: `tiny` (a few million parameters, CPU, used by tests and the demo) and
`unix-1.5b` (the paper's model: Janus-Pro-1B language model with a mixture-of-transformers generation
branch, SigLIP-L/16 at 384 px, the KL-f16 VAE and a RadDino REPA target).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIGLIP_MEAN = 0.555895  # UniX's SigLIP normalisation (data/transforms.py), not Janus's 0.5/0.5
SIGLIP_STD = 0.336385


@dataclass
class UniXConfig:
    """Architecture of a UniX model. Numbers for `unix-1.5b` follow the released inference config."""

    name: str = "tiny"
    """Name of the preset this config started from (informational)."""

    # --- language model (shared by both branches where noted) ---
    vocab_size: int = 1024
    """Size of the token embedding table and of the LM head (Janus: 102400)."""
    hidden_size: int = 128
    """Width of the decoder (both branches)."""
    intermediate_size: int = 352
    """Inner width of the SwiGLU MLP."""
    num_layers: int = 3
    """Number of decoder layers; each holds an understanding and a generation copy of its weights."""
    num_heads: int = 4
    """Attention heads (plain multi-head attention: as many key/value heads as query heads)."""
    rope_theta: float = 10000.0
    """RoPE base frequency (the Qwen2Config default UniX never overrides)."""
    rms_eps: float = 1e-6
    """Epsilon of every RMSNorm in the decoder."""
    qkv_bias: bool = True
    """Bias on the q/k/v projections (new parameters relative to Janus-Pro, which has none)."""
    qk_norm: bool = True
    """Per-head RMSNorm of queries and keys before RoPE (also new relative to Janus-Pro)."""
    max_position_embeddings: int = 16384
    """Longest sequence the model is meant for (a RoPE position limit checked at run time)."""

    # --- special tokens (ids in the tokenizer's vocabulary) ---
    bos_token_id: int = 0
    """Begin-of-sequence id (Janus: 100000)."""
    eos_token_id: int = 1
    """End-of-sequence id; report decoding stops here (Janus: 100001)."""
    boi_token_id: int = 2
    """Begin-of-image id (Janus: 100003)."""
    eoi_token_id: int = 3
    """End-of-image id (Janus: 100580)."""
    pad_token_id: int = 4
    """Padding id (masked out of attention; never predicted)."""

    # --- understanding: SigLIP vision encoder + connector ---
    vision: dict[str, Any] = field(default_factory=lambda: dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        image_size=64, patch_size=16, vision_use_head=False, layer_norm_eps=1e-6, hidden_act="gelu"))
    """Keyword arguments of transformers' `SiglipVisionConfig` (SigLIP-L/16-384 for unix-1.5b; exact GELU and
    LayerNorm eps 1e-6 as Janus's timm SigLIP)."""
    connector_act: str = "upstream"
    """Connector GELU: `upstream` (exact while training, tanh approximation in eval mode, as UniX's training
    and inference code), `gelu` (exact always) or `gelu_tanh` (approximation always)."""
    image_mean: float = SIGLIP_MEAN
    """Per-channel mean used to normalise understanding images in [0, 1]."""
    image_std: float = SIGLIP_STD
    """Per-channel std used to normalise understanding images in [0, 1]."""

    # --- generation: VAE latent space ---
    vae: dict[str, Any] = field(default_factory=lambda: dict(
        in_channels=3, out_channels=3, latent_channels=16, layers_per_block=1, norm_num_groups=4,
        block_out_channels=[8, 8, 16, 16, 16],
        down_block_types=["DownEncoderBlock2D"] * 5, up_block_types=["UpDecoderBlock2D"] * 5))
    """Keyword arguments of diffusers' `AutoencoderKL` (16 channels, 5 levels = 16x downsampling)."""
    vae_shift: float = 0.201906
    """Latent shift in UniX's convention z' = scale * (z + shift)."""
    vae_scale: float = 0.238092
    """Latent scale in UniX's convention z' = scale * (z + shift)."""
    latent_patch_size: int = 1
    """Latent patch side (1: one token per latent pixel)."""
    max_latent_size: int = 8
    """Side of the 2-D sin-cos latent position table (32 for 512 px); `extend_latent_positions` grows it."""
    gen_image_size: int = 64
    """Default side in pixels of generated images (tiny: 64; paper: 256 in stage 2, 512 in stage 3)."""
    timestep_freq_dim: int = 256
    """Width of the sinusoidal timestep features before the timestep MLP."""

    # --- flow matching ---
    timestep_shift: float = 1.0
    """Training timestep shift s: t' = s t / (1 + (s - 1) t) (1.0 in the released configs)."""
    caption_dropout: float = 0.1
    """Probability of dropping a caption during generation training (enables classifier-free guidance)."""

    # --- REPA ---
    repa_layer: int = 1
    """0-based decoder layer whose latent-token output is aligned to the REPA encoder (paper: 8)."""
    repa_weight: float = 0.5
    """Weight of the REPA loss added to the flow loss; 0 skips the REPA encoder entirely (stage 3)."""
    repa_image_size: int = 56
    """Side the images are resized to (bicubic, then uint8) before the RadDino processor (UniX: 224)."""
    repa_processor_size: int = 56
    """Shortest edge the RadDino processor resizes to (PIL bicubic; rad-dino's preprocessor_config: 518)."""
    repa_processor_crop: int = 56
    """Centre crop of the RadDino processor (rad-dino: 518)."""
    repa_encoder: dict[str, Any] = field(default_factory=lambda: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
        image_size=56, patch_size=14))
    """Keyword arguments of transformers' `Dinov2Config` (RadDino = DINOv2 ViT-B/14)."""
    repa_encoder_mean: tuple[float, float, float] = (0.5307, 0.5307, 0.5307)
    """RadDino processor image mean."""
    repa_encoder_std: tuple[float, float, float] = (0.2583, 0.2583, 0.2583)
    """RadDino processor image std."""
    repa_interpolation: str = "1d"
    """How a target token count that differs from the latent grid is matched: `1d` (UniX: linear interpolation
    of the model's flattened token sequence to the target length) or `2d` (bilinear resize of the target
    patch grid to the latent grid, keeping rows and columns aligned)."""

    # --- sampling defaults ---
    sample_steps: int = 10
    """Euler steps of image sampling (paper: 49 steps over linspace(1, 0, 50))."""
    sample_shift: float = 3.0
    """Timestep shift applied to the sampling schedule (UniX: 3.0)."""
    cfg_scale: float = 2.0
    """Text classifier-free guidance scale (UniX eval: 2.0; 1.0 disables guidance)."""
    cfg_interval: tuple[float, float] = (0.4, 1.0)
    """Guidance is applied only for t in (low, high]."""
    cfg_renorm: bool = True
    """Rescale the guided velocity to at most the conditional one's norm (global, per sample)."""
    max_report_tokens: int = 64
    """Maximum number of tokens in a generated report (UniX: 500)."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"UniXConfig.hidden_size={self.hidden_size} must be divisible by "
                             f"num_heads={self.num_heads}; change one of them")
        if (self.hidden_size // self.num_heads) % 2:
            raise ValueError("UniXConfig: head_dim = hidden_size / num_heads must be even for RoPE")
        if not 0 <= self.repa_layer < self.num_layers:
            raise ValueError(f"UniXConfig.repa_layer={self.repa_layer} must lie in [0, num_layers={self.num_layers})")
        if self.connector_act not in ("upstream", "gelu", "gelu_tanh"):
            raise ValueError(f"UniXConfig.connector_act={self.connector_act!r} must be upstream, gelu or gelu_tanh")
        if self.repa_interpolation not in ("1d", "2d"):
            raise ValueError(f"UniXConfig.repa_interpolation={self.repa_interpolation!r} must be 1d or 2d")
        if not 0.0 <= self.caption_dropout < 1.0:
            raise ValueError(f"UniXConfig.caption_dropout={self.caption_dropout} must lie in [0, 1)")
        if self.gen_image_size % self.latent_downsample:
            raise ValueError(f"UniXConfig.gen_image_size={self.gen_image_size} must be a multiple of the "
                             f"latent downsampling {self.latent_downsample}")
        if self.gen_image_size // self.latent_downsample > self.max_latent_size:
            raise ValueError(f"UniXConfig.gen_image_size={self.gen_image_size} needs a latent grid of "
                             f"{self.gen_image_size // self.latent_downsample}; raise max_latent_size "
                             f"(now {self.max_latent_size})")
        if self.vae.get("latent_channels") != 16:
            raise ValueError("UniXConfig.vae.latent_channels must be 16 (the KL-f16 latent space)")
        self.cfg_interval = tuple(self.cfg_interval)
        self.repa_encoder_mean = tuple(self.repa_encoder_mean)
        self.repa_encoder_std = tuple(self.repa_encoder_std)

    # --- derived ---
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def latent_channels(self) -> int:
        return int(self.vae["latent_channels"])

    @property
    def latent_downsample(self) -> int:
        """Pixels per latent token side: VAE factor 2^(levels - 1) times the latent patch."""
        return 2 ** (len(self.vae["block_out_channels"]) - 1) * self.latent_patch_size

    @property
    def vision_tokens(self) -> int:
        return (self.vision["image_size"] // self.vision["patch_size"]) ** 2

    @property
    def understanding_image_size(self) -> int:
        return int(self.vision["image_size"])

    # --- (de)serialisation ---
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UniXConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown UniXConfig field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "UniXConfig":
        path = Path(path)
        if not path.exists():
            raise ValueError(f"model config {path} does not exist; pass a directory written by save_pretrained")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> "UniXConfig":
        """A named preset (`tiny` or `unix-1.5b`) with field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown model size {name!r}; choose one of {sorted(PRESETS)} (config model.size)")
        return cls(**{**PRESETS[name](), **overrides})


def _tiny() -> dict[str, Any]:
    return dict(name="tiny")


def _unix_1_5b() -> dict[str, Any]:
    return dict(
        name="unix-1.5b", vocab_size=102400, hidden_size=2048, intermediate_size=5632, num_layers=24,
        num_heads=16, bos_token_id=100000, eos_token_id=100001, boi_token_id=100003, eoi_token_id=100580,
        pad_token_id=100002,
        vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    image_size=384, patch_size=16, vision_use_head=False, layer_norm_eps=1e-6, hidden_act="gelu"),
        # latent-diffusion kl-f16: ch 128, ch_mult (1,1,2,2,4), 2 res blocks, attention at resolution 16
        # (the last level): diffusers' Attn*Block2D types express that level.
        vae=dict(in_channels=3, out_channels=3, latent_channels=16, layers_per_block=2, norm_num_groups=32,
                 block_out_channels=[128, 128, 256, 256, 512],
                 down_block_types=["DownEncoderBlock2D"] * 4 + ["AttnDownEncoderBlock2D"],
                 up_block_types=["AttnUpDecoderBlock2D"] + ["UpDecoderBlock2D"] * 4),
        max_latent_size=32, gen_image_size=256, repa_layer=8, repa_image_size=224,
        repa_processor_size=518, repa_processor_crop=518,
        repa_encoder=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                          mlp_ratio=4, image_size=518, patch_size=14),
        sample_steps=49, max_report_tokens=500)


PRESETS = {"tiny": _tiny, "unix-1.5b": _unix_1_5b}

"""Memory and time plan of the training stages (`unix plan`), and the DAG-time check that a stage fits its GPU.

For each stage and each GPU kind the plan gives trainable and frozen parameters (counted on the meta
device), the bytes of weights, gradients, optimizer states and EMA, the activation memory of one
micro-batch at the stage's resolution and sequence length (with and without activation checkpointing),
the total per GPU under DDP and under FSDP (full shard over the job's GPUs), and the tokens per optimizer
step. Everything is an estimate from the shapes; `ASSUMPTIONS` lists what it takes for granted, and
tests/test_plan.py checks the activation estimate against the memory PyTorch allocates on CPU.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from typing import Any

STAGES = ("stage1", "stage2", "stage3")
GIB = 1024 ** 3
# Memory of one GPU in GiB by SLURM gres type (as resources.partitions / families.*.gpu_model name it).
# "a100" is taken as the 40 GB card (the smaller, the safe choice); name the 80 GB one a100_80.
GPU_MEMORY_GIB = {"l20": 48.0, "a100": 40.0, "a100_40": 40.0, "a100_80": 80.0, "a800": 80.0,
                  "h100": 80.0, "h800": 80.0, "h200": 141.0, "l40s": 48.0, "a6000": 48.0}
RESERVED_GIB = 2.0  # CUDA context, NCCL buffers and allocator slack, taken off every GPU
ASSUMPTIONS = (
    "weights are fp32 masters (4 B/param, trainable and frozen); bf16 mixed precision as accelerate does it: "
    "autocast casts weights to bf16 on use (a cached 2 B/param copy of every weight the forward uses)",
    "gradients fp32 (4 B/trainable param); DDP's reducer buckets hold a second fp32 copy (accelerate's "
    "default gradient_as_bucket_view=False)",
    "AdamW: exp_avg and exp_avg_sq in fp32 (8 B/trainable param); EMA (ema_decay > 0): one fp32 copy of the "
    "trainable parameters, kept whole on every GPU (also under FSDP)",
    "FSDP FULL_SHARD over all the job's GPUs: weights, gradients and optimizer states divided by the GPU count, "
    "plus two unsharded decoder layers in fp32 (the one computing and the one prefetched)",
    "activations: every tensor autograd saves for backward, counted per op from the model code "
    "(unix.model.layers/mot, transformers' SigLIP with SDPA); under bf16 autocast, linear/attention outputs "
    "are 2 B and RMSNorm/LayerNorm internals 4 B; the attention kernel keeps q, k, v, output and log-sum-exp "
    "(memory-efficient SDPA), plus the dense mask as a bias of the activation dtype in every layer",
    "activation checkpointing: each decoder (and SigLIP) layer keeps only its input; one layer's activations "
    "are rebuilt at a time in backward",
    "sequence lengths are the longest a batch can have: Stage 1 = SigLIP tokens + BOI/EOI + 512 text tokens "
    "(UniXBatcher max_length), Stages 2/3 = 256 caption tokens (encode_captions) + BOI + the latent grid",
    f"{RESERVED_GIB:g} GiB of every GPU is reserved (CUDA context, communication buffers, fragmentation)",
)


# ---------------------------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class StageShape:
    """Sizes of one micro-batch of a stage."""

    stage: str
    micro_batch: int
    grad_accum: int
    steps: int
    vision_tokens: int  # SigLIP tokens per image (0 in generation stages)
    text_tokens: int  # report tokens (stage 1) or caption tokens (stages 2, 3), longest case
    latent_tokens: int  # latent grid tokens (0 in stage 1)
    resolution: int
    repa: bool
    ema: bool

    @property
    def decoder_tokens(self) -> int:
        """Tokens per sample in the decoder: [BOI, vision, EOI] + text, or caption + BOI + latents."""
        if self.stage == "stage1":
            return self.vision_tokens + 2 + self.text_tokens
        return self.text_tokens + 1 + self.latent_tokens


def _default_arg(func: Any, name: str) -> int:
    return int(inspect.signature(func).parameters[name].default)


def model_config(config: dict[str, Any], size: str | None = None):
    """The UniXConfig a pipeline config trains (config `model`), optionally at another size."""
    from unix.model.config import UniXConfig
    from unix.model.settings import model_overrides

    overrides = model_overrides(config.get("model", {}))
    overrides.pop("gen_image_size", None)  # the stage's own resolution decides the latent grid
    return UniXConfig.from_name(size or config["model"]["size"], **overrides)


def stage_shape(config: dict[str, Any], stage: str, model_cfg: Any) -> StageShape:
    """Micro-batch sizes of `stage` from config `training.<stage>` and the model config."""
    from unix.model.tokenizer import encode_captions
    from unix.training.data import UniXBatcher

    s = config["training"][stage]
    understanding = stage == "stage1"
    resolution = int(s["resolution"]) if not understanding else model_cfg.understanding_image_size
    return StageShape(
        stage=stage, micro_batch=int(s["batch_size"]), grad_accum=int(s["grad_accum"]), steps=int(s["steps"]),
        vision_tokens=model_cfg.vision_tokens if understanding else 0,
        text_tokens=(_default_arg(UniXBatcher, "max_length") if understanding
                     else _default_arg(encode_captions, "max_length")),
        latent_tokens=0 if understanding else (resolution // model_cfg.latent_downsample) ** 2,
        resolution=resolution, repa=not understanding and float(s["repa_weight"]) > 0,
        ema=float(s.get("ema_decay", 0.0)) > 0)


# ------------------------------------------------------------------------------------------ parameters
@functools.lru_cache(maxsize=8)
def _parameter_groups(model_json: str) -> dict[str, int]:
    import torch

    from unix.model.config import UniXConfig
    from unix.model.unix import UniX

    with torch.device("meta"):
        model = UniX(UniXConfig.from_dict(json.loads(model_json)))

    def n(params) -> int:
        return sum(p.numel() for p in params)

    layer = model.decoder.layers[0]
    return {
        "understanding": n(model.understanding_parameters()),
        "generation": n(model.generation_parameters()),
        "vae": n(model.vae.parameters()), "vae_encoder": n(model.vae.encoder.parameters()),
        "repa_encoder": n(model.repa_encoder.parameters()),
        "embeddings": n(model.decoder.embed_tokens.parameters()),
        "und_layers": sum(n(m.und.parameters()) for m in model.decoder.layers),
        "layer": n(layer.parameters()),
    }


def parameter_counts(model_cfg: Any, stage: str, repa: bool) -> dict[str, int]:
    """trainable, frozen (everything else, VAE and REPA encoder included), `forward` (the weights the
    stage's forward pass multiplies with, which autocast casts to bf16) and `layer` (one decoder layer)."""
    g = _parameter_groups(json.dumps(model_cfg.to_dict(), sort_keys=True))
    total = g["understanding"] + g["generation"] + g["vae"] + g["repa_encoder"]
    if stage == "stage1":
        trainable, forward = g["understanding"], g["understanding"]
    else:
        trainable = g["generation"]
        forward = (g["generation"] + g["embeddings"] + g["und_layers"] + g["vae_encoder"]
                   + (g["repa_encoder"] if repa else 0))
    return {"trainable": trainable, "frozen": total - trainable, "forward": forward, "layer": g["layer"]}


# ----------------------------------------------------------------------------------------- activations
def _decoder_layer_bytes(D: int, I: int, bf16: bool, trainable: bool = True, first: bool = False) -> int:
    """Bytes autograd saves per token in one decoder layer (unix.model.layers.BranchWeights + SDPA).

    Trainable branch, fp32: input and output of both RMSNorms (4 D), q and k before and after their
    RMSNorm (4 D), q/k after RoPE, v and the attention output (4 D), its reshaped copy (D), gate, silu, up
    and their product (4 I). Under bf16 autocast the RMSNorms work in fp32 (the residual stream stays fp32;
    q/k norms make fp32 copies), each linear input is cast to bf16 once per projection (q, k, v, gate, up)
    and attention gets bf16 copies of q and k.
    Frozen branch (the caption tokens of Stages 2/3): a frozen weight's op keeps no input, so only the
    RMSNorm inputs, the q/k norm inputs, the attention tensors and the SwiGLU internals remain; in the first
    layer (`first`) nothing before the attention needs a gradient.
    """
    if trainable:
        return 4 * (13 * D + 4 * I) if not bf16 else 52 * D + 8 * I
    if first:
        return 4 * (5 * D + 3 * I) if not bf16 else 12 * D + 6 * I
    return 4 * (8 * D + 3 * I) if not bf16 else 24 * D + 6 * I


def _vision_layer_bytes(D: int, I: int, bf16: bool) -> int:
    """Bytes saved per token in one SigLIP encoder layer (two LayerNorms, q/k/v/out, fc1, GELU)."""
    return 4 * (10 * D + 2 * I) if not bf16 else 30 * D + 4 * I


@dataclass(frozen=True)
class Activations:
    """Activation bytes of one micro-batch: `saved` (held from forward to backward) by part, and
    `transient` (the largest short-lived buffer on top of them)."""

    parts: dict[str, int]
    transient: int

    @property
    def saved(self) -> int:
        return sum(self.parts.values())

    @property
    def peak(self) -> int:
        return self.saved + self.transient


def activation_bytes(model_cfg: Any, shape: StageShape, bf16: bool = True, checkpointing: bool = False,
                     mask_bytes: int | None = None) -> Activations:
    """Activation memory of one micro-batch of `shape` (see `ASSUMPTIONS`).

    mask_bytes: bytes per element of the attention mask each layer keeps (default: the activation dtype's,
    the additive bias the memory-efficient kernel is given; 0 for a kernel that keeps no mask).
    """
    B, S = shape.micro_batch, shape.decoder_tokens
    D, I, H, L = model_cfg.hidden_size, model_cfg.intermediate_size, model_cfg.num_heads, model_cfg.num_layers
    act = 2 if bf16 else 4
    mask_bytes = act if mask_bytes is None else mask_bytes
    # Stage 1 trains every decoder token's branch; Stages 2/3 train the latents', the caption's is frozen.
    frozen = 0 if shape.stage == "stage1" else shape.text_tokens + 1
    attention = B * H * S * 4 + B * S * S * mask_bytes  # log-sum-exp, mask

    def layer(first: bool) -> int:
        return (B * (S - frozen) * _decoder_layer_bytes(D, I, bf16) + attention
                + B * frozen * _decoder_layer_bytes(D, I, bf16, trainable=False, first=first))

    parts: dict[str, int] = {}
    transient = 0
    if checkpointing:
        parts["decoder layers (inputs only)"] = L * B * S * D * 4
        transient = layer(first=False)
    else:
        parts["decoder layers"] = layer(first=True) + (L - 1) * layer(first=False)
    parts["final norm"] = B * S * D * 8
    if shape.stage == "stage1":
        v = model_cfg.vision
        Dv, Iv, Lv, Nv = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"], shape.vision_tokens
        vis_layer = B * Nv * _vision_layer_bytes(Dv, Iv, bf16) + B * v["num_attention_heads"] * Nv * 4
        if checkpointing:
            parts["SigLIP layers (inputs only)"] = Lv * B * Nv * Dv * 4
            transient = max(transient, vis_layer)
        else:
            parts["SigLIP layers"] = Lv * vis_layer
        parts["SigLIP post-norm, connector"] = B * Nv * (8 * Dv + (2 * Dv + 4 * D if bf16 else 4 * (Dv + 2 * D)))
        Lt, V = shape.text_tokens, model_cfg.vocab_size
        parts["LM head, log-softmax (fp32)"] = B * Lt * (D * (2 if bf16 else 0) + V * 4)
        transient = max(transient, B * Lt * V * (act + 4))  # logits and their fp32 copy / gradient
    else:
        N = shape.latent_tokens
        parts["latent heads"] = B * N * (D * 8 + model_cfg.latent_channels * 16)
        if shape.repa:
            parts["REPA projector"] = B * N * D * (10 if bf16 else 20)
        c0 = model_cfg.vae["block_out_channels"][0]
        transient = max(transient, 3 * B * c0 * shape.resolution ** 2 * 4)  # VAE encoder (no grad)
    return Activations(parts, transient)

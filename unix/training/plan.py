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
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unix.stages import STAGES

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
    "trainable parameters, whole on every GPU under DDP and FSDP1 (flat shards: the EMA gathers full values), "
    "divided by the GPU count under FSDP2 (per-parameter DTensor shards: the EMA stays on the shards)",
    "FSDP (FULL_SHARD; fsdp_config.fsdp_version 1 or 2 of the accelerate file) over all the job's GPUs: weights, "
    "gradients and optimizer states divided by the GPU count, plus two unsharded decoder layers in fp32 (the "
    "one computing and the one prefetched)",
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


# Longest text of a training sample: UniXBatcher's max_length (prompt + report) and encode_captions'
# max_length (tests/test_plan.py checks both against the code; importing them here would load torch).
REPORT_MAX_TOKENS = 512
CAPTION_MAX_TOKENS = 256
PARAMETER_COUNTS = Path(__file__).resolve().parents[1] / "resources" / "parameter_counts.json"


def model_config(config: dict[str, Any], size: str | None = None):
    """The UniXConfig a pipeline config trains (config `model`), optionally at another size."""
    from unix.model.config import UniXConfig
    from unix.model.settings import model_overrides

    overrides = model_overrides(config.get("model", {}))
    overrides.pop("gen_image_size", None)  # the stage's own resolution decides the latent grid
    return UniXConfig.from_name(size or config["model"]["size"], **overrides)


def stage_shape(config: dict[str, Any], stage: str, model_cfg: Any) -> StageShape:
    """Micro-batch sizes of `stage` from config `training.<stage>` and the model config."""
    s = config["training"][stage]
    understanding = stage == "stage1"
    resolution = int(s["resolution"]) if not understanding else model_cfg.understanding_image_size
    return StageShape(
        stage=stage, micro_batch=int(s["batch_size"]), grad_accum=int(s["grad_accum"]), steps=int(s["steps"]),
        vision_tokens=model_cfg.vision_tokens if understanding else 0,
        text_tokens=REPORT_MAX_TOKENS if understanding else CAPTION_MAX_TOKENS,
        latent_tokens=0 if understanding else (resolution // model_cfg.latent_downsample) ** 2,
        resolution=resolution, repa=not understanding and float(s["repa_weight"]) > 0,
        ema=float(s.get("ema_decay", 0.0)) > 0)


# ------------------------------------------------------------------------------------------ parameters
# UniXConfig fields that decide parameter shapes (the others: token ids, normalisation, sampling, losses).
SHAPE_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "qkv_bias", "qk_norm",
                "vision", "vae", "latent_patch_size", "timestep_freq_dim", "repa_encoder")


def _fingerprint(model_json: str) -> str:
    shape = {k: v for k, v in json.loads(model_json).items() if k in SHAPE_FIELDS}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _parameter_groups(model_json: str) -> dict[str, int]:
    """Parameter counts by group: from unix/resources/parameter_counts.json when it holds this exact
    architecture (so that the workflow's parse-time check needs no torch), else counted on the meta device."""
    stored = json.loads(PARAMETER_COUNTS.read_text()) if PARAMETER_COUNTS.exists() else {}
    for entry in stored.values():
        if entry["fingerprint"] == _fingerprint(model_json):
            return dict(entry["groups"])
    return count_parameter_groups(model_json)


def count_parameter_groups(model_json: str) -> dict[str, int]:
    """Parameter counts by group of the model `model_json` describes, built on the meta device."""
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


def write_parameter_counts(sizes: tuple[str, ...] = ("tiny", "unix-1.5b")) -> None:
    """Store the meta-device counts of the named sizes (rerun after changing the model's architecture;
    tests/test_plan.py fails while the stored counts are stale)."""
    from unix.model.config import UniXConfig

    out = {}
    for size in sizes:
        model_json = json.dumps(UniXConfig.from_name(size).to_dict(), sort_keys=True)
        out[size] = {"fingerprint": _fingerprint(model_json), "groups": count_parameter_groups(model_json)}
    PARAMETER_COUNTS.write_text(json.dumps(out, indent=2) + "\n")


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
        # Backward starts with the gradient of the fp32 log-softmax (and of the bf16 logits under autocast).
        transient = max(transient, B * Lt * V * (4 + (2 if bf16 else 0)))
    else:
        N = shape.latent_tokens
        parts["latent heads"] = B * N * (D * 8 + model_cfg.latent_channels * 16)
        if shape.repa:
            parts["REPA projector"] = B * N * D * (10 if bf16 else 20)
        # The VAE encoder (no grad) runs before the decoder: it adds to the peak only beyond the saved total.
        vae = 3 * B * model_cfg.vae["block_out_channels"][0] * shape.resolution ** 2 * 4
        transient = max(transient, vae - sum(parts.values()))
    return Activations(parts, transient)


# ------------------------------------------------------------------------------------------ per GPU
GPU_BF16_TFLOPS = {"l20": 119.5, "a100": 312.0, "a100_40": 312.0, "a100_80": 312.0, "a800": 312.0,
                   "h100": 989.0, "h800": 989.0, "h200": 989.0, "l40s": 362.0, "a6000": 155.0}
ASSUMED_MFU = 0.35  # model FLOPs utilisation of the time estimate (benchmarks/bench_gpu.py measures it)


def stage_resources(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """The training job's resources: resources.families.train, with resources.stages.<stage> over it
    when that section exists."""
    section = config["resources"]
    return {**section["families"]["train"], **((section.get("stages") or {}).get(stage) or {})}


def job_gpus(resources: dict[str, Any]) -> int:
    """GPUs of one training job (GPUs per node x nodes; at least one process)."""
    return max(1, int(resources.get("gpus", 0) or 0)) * max(1, int(resources.get("nodes", 1) or 1))


STRATEGIES = ("ddp", "fsdp", "fsdp2")


def configured_strategy(config: dict[str, Any], stage: str) -> tuple[str, bool]:
    """(ddp | fsdp | fsdp2, activation checkpointing) as the config runs `stage`: FSDP when
    training.accelerate_config says distributed_type FSDP (fsdp2 when its fsdp_config.fsdp_version is 2);
    checkpointing from training.<stage>.activation_checkpointing (False when absent) or the FSDP file's own
    switch."""
    import yaml

    from unix.launch import resolve_accelerate_config

    # Resolved as the launcher resolves it (as given, else relative to the repository), so a run from another
    # working directory is planned with the file it will train with; a missing file stops here, naming the key.
    path = config["training"].get("accelerate_config") or ""
    accel = (yaml.safe_load(resolve_accelerate_config(path).read_text()) if path else None) or {}
    fsdp = str(accel.get("distributed_type", "")).upper() == "FSDP"
    fsdp_config = accel.get("fsdp_config") or {}
    ckpt = bool(config["training"][stage].get("activation_checkpointing", False))
    ckpt = ckpt or bool(fsdp and fsdp_config.get("fsdp_activation_checkpointing"))
    version = int(fsdp_config.get("fsdp_version", 1) or 1)
    return ("ddp" if not fsdp else "fsdp2" if version == 2 else "fsdp"), ckpt


def memory_per_gpu(params: dict[str, int], act: Activations, strategy: str, gpus: int, ema: bool,
                   bf16: bool = True) -> dict[str, int]:
    """Bytes per GPU by kind (see `ASSUMPTIONS`)."""
    trainable, total = params["trainable"], params["trainable"] + params["frozen"]
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {STRATEGIES}")
    shard = 1 if strategy == "ddp" else gpus
    out = {
        "weights": 4 * total // shard + (2 * params["forward"] if bf16 else 0)
        + (2 * 4 * params["layer"] if strategy != "ddp" else 0),
        "gradients": 4 * trainable // shard * (2 if strategy == "ddp" else 1),
        "optimizer": 8 * trainable // shard,
        "ema": (4 * trainable // (gpus if strategy == "fsdp2" else 1)) if ema else 0,
        "activations": act.peak,
    }
    out["total"] = sum(out.values()) + int(RESERVED_GIB * GIB)
    return out


def step_flops(model_cfg: Any, shape: StageShape, gpus: int) -> float:
    """Model FLOPs of one optimizer step in the decoder (6 per weight and token trained, 4 per frozen
    token that passes gradients; attention 12 L S D per token); SigLIP, the VAE and RadDino not counted."""
    D, I, L = model_cfg.hidden_size, model_cfg.intermediate_size, model_cfg.num_layers
    branch = 4 * D * D + 3 * D * I
    S = shape.decoder_tokens
    frozen = 0 if shape.stage == "stage1" else shape.text_tokens + 1
    per_sample = L * branch * (6 * (S - frozen) + 4 * frozen) + 12 * L * S * S * D
    if shape.stage == "stage1":
        per_sample += 6 * shape.text_tokens * D * model_cfg.vocab_size
    return float(per_sample * shape.micro_batch * shape.grad_accum * gpus)


@dataclass
class StagePlan:
    """The plan of one stage on one GPU kind."""

    stage: str
    gpu_kind: str
    gpus: int
    shape: StageShape
    params: dict[str, int]
    activations: dict[bool, Activations]  # by activation checkpointing
    memory: dict[tuple[str, bool], dict[str, int]]  # by (strategy, checkpointing)
    capacity: int | None  # bytes of one GPU; None: unknown GPU kind
    tokens_per_step: int
    hours: float | None

    def fits(self, strategy: str, checkpointing: bool) -> bool | None:
        if self.capacity is None:
            return None
        return self.memory[(strategy, checkpointing)]["total"] <= self.capacity


def plan_stage(config: dict[str, Any], stage: str, gpu_kind: str | None = None, size: str | None = None,
               micro_batch: int | None = None) -> StagePlan:
    """Plan `stage` as configured, on `gpu_kind` (default: the job's gpu_model)."""
    resources = stage_resources(config, stage)
    kind = gpu_kind if gpu_kind is not None else str(resources.get("gpu_model") or "")
    gpus = job_gpus(resources)
    cfg = model_config(config, size)
    shape = stage_shape(config, stage, cfg)
    if micro_batch is not None:
        shape = StageShape(**{**shape.__dict__, "micro_batch": micro_batch})
    bf16 = config["training"][stage].get("mixed_precision", "auto") != "no"
    params = parameter_counts(cfg, stage, shape.repa)
    acts = {c: activation_bytes(cfg, shape, bf16=bf16, checkpointing=c) for c in (False, True)}
    memory = {(s, c): memory_per_gpu(params, acts[c], s, gpus, shape.ema, bf16)
              for s in STRATEGIES for c in (False, True)}
    gib = GPU_MEMORY_GIB.get(kind.lower())
    capacity = None if gib is None else int(gib * GIB)
    tflops = GPU_BF16_TFLOPS.get(kind.lower())
    hours = None if tflops is None else (
        shape.steps * step_flops(cfg, shape, gpus) / (gpus * tflops * 1e12 * ASSUMED_MFU) / 3600)
    tokens = shape.decoder_tokens * shape.micro_batch * shape.grad_accum * gpus
    return StagePlan(stage, kind, gpus, shape, params, acts, memory, capacity, tokens, hours)


# ---------------------------------------------------------------------------------------- validation
def measure_activations(model_cfg: Any, shape: StageShape, seed: int = 0) -> dict[str, int]:
    """Measured on CPU in fp32 for one micro-batch of `shape` through the training loss (LossModule):
    `forward` = bytes PyTorch's CPU allocator still holds when the forward ends (the activations kept
    for backward, plus the loss), `peak` = the highest running allocation over forward and backward
    (gradients included), both from torch.profiler's memory events."""
    from types import SimpleNamespace

    import torch

    from unix.model.unix import UniX
    from unix.training.trainer import LossModule

    torch.manual_seed(seed)
    model = UniX(model_cfg)
    model.set_trainable(shape.stage == "stage1", shape.stage != "stage1")
    if shape.latent_tokens:
        model.extend_latent_positions(shape.resolution // model_cfg.latent_downsample)
    loss_module = LossModule(model, SimpleNamespace(repa_weight=model_cfg.repa_weight if shape.repa else 0.0,
                                                    ce_weighting="sqrt_span")).train()
    B, T, V = shape.micro_batch, shape.text_tokens, model_cfg.vocab_size
    text = dict(input_ids=torch.randint(5, V, (B, T)), attention_mask=torch.ones(B, T, dtype=torch.long))
    if shape.stage == "stage1":
        S = model_cfg.understanding_image_size
        task, batch = "understanding", dict(pixel_values=torch.randn(B, 3, S, S), labels=torch.randint(5, V, (B, T)),
                                            **text)
    else:
        task, batch = "generation", dict(images=torch.rand(B, 3, shape.resolution, shape.resolution) * 2 - 1, **text)
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as forward_prof:
        loss = loss_module(task, batch, generator=torch.Generator().manual_seed(seed))["loss"]
    forward = sum(e.self_cpu_memory_usage for e in forward_prof.events())
    with torch.profiler.profile(activities=activities, profile_memory=True) as backward_prof:
        loss.backward()
    running, peak = forward, forward
    for event in sorted(backward_prof.events(), key=lambda e: e.time_range.start):
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return {"forward": forward, "peak": peak}


# -------------------------------------------------------------------------------------------- checks
def _alternatives(config: dict[str, Any], plan: StagePlan, strategy: str, ckpt: bool) -> list[str]:
    """Options that would make `plan` fit, each naming the config change."""
    stage = plan.stage
    options = []
    if strategy == "ddp" and plan.fits("fsdp", ckpt):
        options.append("FSDP: set training.accelerate_config: profiles/accelerate/fsdp.yaml")
    if not ckpt and plan.fits(strategy, True):
        options.append(f"activation checkpointing: set training.{stage}.activation_checkpointing: true")
    if strategy == "ddp" and not ckpt and not options and plan.fits("fsdp", True):
        options.append(f"FSDP and activation checkpointing together: set training.accelerate_config: "
                       f"profiles/accelerate/fsdp.yaml and training.{stage}.activation_checkpointing: true")
    b = plan.shape.micro_batch // 2
    while b >= 1:
        if plan_stage(config, stage, plan.gpu_kind, micro_batch=b).fits(strategy, ckpt):
            accum = plan.shape.micro_batch * plan.shape.grad_accum / b
            options.append(f"a smaller micro-batch: training.{stage}.batch_size: {b} with grad_accum: "
                           f"{accum:g} (the same batch per optimizer step)")
            break
        b //= 2
    for kind, gib in sorted(GPU_MEMORY_GIB.items(), key=lambda kv: kv[1]):
        if kind in config["resources"]["partitions"] and gib * GIB > (plan.capacity or 0):
            if plan_stage(config, stage, kind).fits(strategy, ckpt):
                options.append(f"a larger GPU: resources gpu_model {kind} ({gib:g} GB)")
                break
    return options


def check_stage_fits(config: dict[str, Any], stage: str) -> None:
    """Raise ValueError when `stage`, run as configured (DDP or FSDP, activation checkpointing or not), needs
    more memory per GPU than its GPU kind has, naming the options that would fit. A GPU kind this module does
    not know (see GPU_MEMORY_GIB), or none, is not checked."""
    plan = plan_stage(config, stage)
    strategy, ckpt = configured_strategy(config, stage)
    if plan.fits(strategy, ckpt) is not False:
        return
    need = plan.memory[(strategy, ckpt)]["total"] / GIB
    options = _alternatives(config, plan, strategy, ckpt)
    raise ValueError(
        f"training {stage} does not fit its GPU: about {need:.1f} GiB per GPU under {strategy.upper()}"
        f"{' with' if ckpt else ' without'} activation checkpointing, micro-batch {plan.shape.micro_batch}, "
        f"{plan.gpus} GPU(s), against {plan.capacity / GIB:g} GiB on a {plan.gpu_kind}. "
        + ("Options that fit: " + "; ".join(options) + "." if options else "No single option fits; see `unix plan`.")
        + " The full breakdown: `unix plan`.")


def check_stages_fit(config: dict[str, Any], stages: tuple[str, ...] = STAGES) -> None:
    """`check_stage_fits` for every training stage (rules/training.smk calls this at parse time)."""
    for stage in stages:
        check_stage_fits(config, stage)


# ------------------------------------------------------------------------------------------- report
def _gib(n: float) -> str:
    return f"{n / GIB:7.2f}"


def format_plan(config: dict[str, Any], size: str | None = None, stages: tuple[str, ...] = STAGES) -> str:
    """The plan as text: one block per stage, one table row per GPU kind, strategy and checkpointing."""
    kinds = [k for k in config["resources"]["partitions"] if k.lower() in GPU_MEMORY_GIB]
    lines = [f"memory and time plan of model {size or config['model']['size']} (GiB per GPU; estimates, "
             "assumptions below)"]
    for stage in stages:
        base = plan_stage(config, stage, size=size)
        sh, p = base.shape, base.params
        strategy, ckpt = configured_strategy(config, stage)
        lines += ["", f"{stage}: {p['trainable'] / 1e6:.1f} M trainable, {p['frozen'] / 1e6:.1f} M frozen "
                  f"parameters; micro-batch {sh.micro_batch} x grad_accum {sh.grad_accum} x {base.gpus} GPU(s); "
                  f"{sh.decoder_tokens} decoder tokens per sample "
                  + (f"({sh.vision_tokens} image + 2 + {sh.text_tokens} report)" if stage == "stage1" else
                     f"({sh.text_tokens} caption + BOI + {sh.latent_tokens} latents at {sh.resolution} px)")
                  + f"; {base.tokens_per_step:,} tokens per optimizer step; configured: {strategy.upper()}, "
                  f"activation checkpointing {'on' if ckpt else 'off'}"]
        for c in (False, True):
            a = base.activations[c]
            lines.append(f"  activations per micro-batch, checkpointing {'on ' if c else 'off'}: saved "
                         f"{_gib(a.saved)}, peak {_gib(a.peak)}  (" + ", ".join(
                             f"{k} {v / GIB:.2f}" for k, v in a.parts.items()) + ")")
        lines.append(f"  {'GPU':<8} {'strategy':<8} {'ckpt':<4} {'weights':>7} {'grads':>7} {'optim':>7} "
                     f"{'ema':>7} {'activ':>7} {'total':>7} {'of':>5}  fits  hours")
        for kind in kinds or [base.gpu_kind]:
            plan = plan_stage(config, stage, kind, size=size)
            for (s, c), m in plan.memory.items():
                fit = plan.fits(s, c)
                mark = "?" if fit is None else ("yes" if fit else "NO")
                hours = "?" if plan.hours is None else f"{plan.hours:.2f}"
                cap = "?" if plan.capacity is None else f"{plan.capacity / GIB:g}"
                lines.append(f"  {kind:<8} {s:<8} {'on' if c else 'off':<4} " + " ".join(
                    _gib(m[k]) for k in ("weights", "gradients", "optimizer", "ema", "activations", "total"))
                    + f" {cap:>5}  {mark:<4}  {hours}")
    lines += ["", f"time: {ASSUMED_MFU:.0%} model FLOPs utilisation of the GPU's dense bf16 peak assumed "
              "(decoder FLOPs only).", "assumptions:"] + [f"  - {a}" for a in ASSUMPTIONS]
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--config", default="config.yaml", help="pipeline config (default: config.yaml)")
    parser.add_argument("--size", default=None, help="model size instead of config model.size (e.g. unix-1.5b)")
    parser.add_argument("--stage", action="append", choices=STAGES, help="only this stage (repeatable)")


def run(args) -> int:
    import yaml

    config = yaml.safe_load(Path(args.config).read_text())
    print(format_plan(config, size=args.size, stages=tuple(args.stage or STAGES)))
    return 0


if __name__ == "__main__":
    write_parameter_counts()
    print(f"wrote {PARAMETER_COUNTS}")

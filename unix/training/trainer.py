"""One trainer for every recipe: freezing, AdamW + warm-up/cosine, accumulation, clipping, EMA, resume.

The trainer works with any ``nn.Module`` that has the UniX training API: ``understanding_parameters()``,
``generation_parameters()``, ``understanding_loss(pixel_values, input_ids, labels, attention_mask) ->
{"loss", ...}``, ``understanding_logits(pixel_values, input_ids, attention_mask)`` (for the per-span CE
weighting), ``generation_loss(images, input_ids, attention_mask, generator=None, repa_weight=None) ->
{"loss", "flow", "repa"}`` and, for stage 3, ``extend_latent_positions(grid)``.

Scale-out is ``accelerate``'s: the same code runs as one CPU process or under ``accelerate launch`` with
DDP or FSDP (profiles/accelerate/*.yaml); bf16 autocast comes from ``Accelerator(mixed_precision="bf16")``
on GPU. The losses are computed inside ``LossModule.forward`` so that the DDP/FSDP wrapper sees the
forward pass (gradient synchronisation and parameter gathering hook into ``forward``).

Exactness of resume: model noise comes from a generator seeded per (seed, step, micro-batch, rank), the
data order from :class:`unix.training.data.ResumableSampler`, and accelerate restores the global RNGs, so
a run killed and resumed from a checkpoint ends with bit-identical weights on CPU (tested).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from unix.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from unix.training.data import IGNORE_INDEX
from unix.training.fsdp import fsdp_on_cpu, full_parameters, full_state_dict, is_fsdp
from unix.training.recipes import StageRecipe

log = logging.getLogger(__name__)

LOG_COLUMNS = ["step", "lr", "loss", "loss_understanding", "loss_flow", "loss_repa", "grad_norm", "samples",
               "step_time_s", "data_wait_s"]
LOG_NAME = "log.csv"
FINGERPRINT = "fingerprint.json"


def _read_fingerprint(checkpoint: Path) -> Any:
    path = checkpoint / FINGERPRINT
    return json.loads(path.read_text()) if path.exists() else None


# -------------------------------------------------------------------------------------------- freezing
def _ids(params) -> set[int]:
    return {id(p) for p in params}


def frozen_submodule_params(model: nn.Module) -> set[int]:
    """Parameters that never train: the VAE and the REPA encoder (RadDino), when the model has them."""
    out: set[int] = set()
    for name in ("vae", "raddino", "repa_encoder"):
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Module):
            out |= _ids(sub.parameters())
    return out


def select_trainable(model: nn.Module, trainable: str) -> list[str]:
    """Freeze everything, then unfreeze the branch(es) named by `trainable`; return the trainable names.

    ``understanding``: vision encoder, connector and understanding LM (``model.understanding_parameters()``);
    ``generation``: ``model.generation_parameters()``; ``both``: their union. The VAE and RadDino are
    frozen in every case.
    """
    chosen: set[int] = set()
    if trainable in ("understanding", "both"):
        chosen |= _ids(model.understanding_parameters())
    if trainable in ("generation", "both"):
        chosen |= _ids(model.generation_parameters())
    chosen -= frozen_submodule_params(model)
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_(id(p) in chosen)
        if id(p) in chosen:
            names.append(name)
    if not names:
        raise ValueError(f"recipe trains the {trainable} branch but the model exposes no such parameters")
    return names


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute the activations of every decoder layer (``model.decoder.activation_checkpointing``) and
    SigLIP layer (transformers' gradient checkpointing) in the backward pass, non-reentrant."""
    decoder = getattr(model, "decoder", None)
    if not hasattr(decoder, "activation_checkpointing"):
        raise ValueError(f"activation_checkpointing: {type(model).__name__} has no MoT decoder to checkpoint; "
                         "set training.<stage>.activation_checkpointing: false")
    decoder.activation_checkpointing = True
    vision = getattr(model, "vision", None)
    if getattr(vision, "supports_gradient_checkpointing", False):  # transformers' SigLIP
        vision.activation_checkpointing_enable({"use_reentrant": False})


# ----------------------------------------------------------------------------------------------- losses
def span_weighted_ce(logits_BLV: torch.Tensor, labels_BL: torch.Tensor) -> torch.Tensor:
    """Cross-entropy where each sample's answer span is weighted by 1/sqrt(its length).

    The reference implementation's ``len2weight='square'``: a token in a span of n answer tokens gets weight
    1/sqrt(n), and the sum is divided by the summed weights. `logits_BLV[:, t]` predicts `labels_BL[:, t+1]`
    (the usual causal shift).
    """
    logits = logits_BLV[:, :-1].float()
    labels = labels_BL[:, 1:]
    valid = labels != IGNORE_INDEX
    tok = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                      ignore_index=IGNORE_INDEX, reduction="none").view_as(labels)
    n_B = valid.sum(1, keepdim=True).clamp(min=1)
    w = valid.float() / n_B.float().sqrt()
    return (tok * w).sum() / w.sum().clamp(min=1e-12)


class LossModule(nn.Module):
    """Wraps the model so that DDP/FSDP see one `forward` per loss computation."""

    def __init__(self, model: nn.Module, recipe: StageRecipe) -> None:
        super().__init__()
        self.model = model
        self.repa_weight = recipe.repa_weight
        self.ce_weighting = recipe.ce_weighting

    def forward(self, task: str, batch: dict[str, torch.Tensor],
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if task == "understanding":
            if self.ce_weighting == "sqrt_span":
                logits = self.model.understanding_logits(batch["pixel_values"], batch["input_ids"],
                                                         batch["attention_mask"])
                loss = span_weighted_ce(logits, batch["labels"])
            else:
                loss = self.model.understanding_loss(batch["pixel_values"], batch["input_ids"], batch["labels"],
                                                     batch["attention_mask"])["loss"]
            return {"loss": loss, "understanding": loss.detach()}
        # The model weighs REPA itself (and skips the REPA encoder when the weight is 0).
        out = self.model.generation_loss(batch["images"], batch["input_ids"], batch["attention_mask"],
                                         generator=generator, repa_weight=self.repa_weight)
        return {"loss": out["loss"], "flow": out["flow"].detach(), "repa": out["repa"].detach()}


# ------------------------------------------------------------------------------------------ state/data
@dataclass
class TrainState:
    """Progress saved in every checkpoint: optimizer steps done, each data stream's position, and the
    throughput of the attempts (job runs) that did those steps, so that a retry that resumes at the last
    step still reports how fast the work went."""

    step: int = 0
    epochs: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    micro: dict[str, int] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """One entry per run that trained steps kept in this state: start_step, steps, samples, step_time_s,
    data_wait_s, slurm_job."""

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "epochs": dict(self.epochs), "batches": dict(self.batches),
                "micro": dict(self.micro), "attempts": [dict(a) for a in self.attempts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.epochs = dict(state["epochs"])
        self.batches = dict(state["batches"])
        self.micro = dict(state.get("micro", {}))
        self.attempts = [dict(a) for a in state.get("attempts", [])]

    def begin_attempt(self) -> dict[str, Any]:
        """Start this run's throughput entry (it is saved with the next checkpoint)."""
        entry = {"start_step": self.step, "steps": 0, "samples": 0, "step_time_s": 0.0, "data_wait_s": 0.0,
                 "slurm_job": os.environ.get("SLURM_JOB_ID")}
        self.attempts.append(entry)
        return entry


def throughput(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """samples/s and data-wait share over every step of `attempts` (None when no step was timed)."""
    time_s = sum(a["step_time_s"] for a in attempts)
    return {"samples_per_s": sum(a["samples"] for a in attempts) / time_s if time_s > 0 else None,
            "data_wait_share": sum(a["data_wait_s"] for a in attempts) / time_s if time_s > 0 else None}


class Stream:
    """An endless, resumable sequence of batches from one prepared data loader."""

    def __init__(self, name: str, loader: Any, accelerator: Any, state: TrainState) -> None:
        self.name = name
        self.loader = loader
        self.accelerator = accelerator
        self.state = state
        self._it: Iterator | None = None
        if len(loader) == 0:
            raise ValueError(f"{name} data: fewer samples than one batch per process; lower batch_size")

    def _start(self) -> None:
        epoch = self.state.epochs.setdefault(self.name, 0)
        done = self.state.batches.setdefault(self.name, 0)
        self.loader.set_epoch(epoch)
        loader = self.accelerator.skip_first_batches(self.loader, done) if done else self.loader
        self._it = iter(loader)

    def next(self) -> dict[str, torch.Tensor]:
        if self._it is None:
            self._start()
        try:
            batch = next(self._it)
        except StopIteration:
            self.state.epochs[self.name] += 1
            self.state.batches[self.name] = 0
            self._start()
            batch = next(self._it)
        self.state.batches[self.name] += 1
        return batch


def micro_tasks(recipe: StageRecipe, state: TrainState) -> list[str]:
    """Tasks of the next micro-batch: one generation or understanding batch, or in `mixed` training a
    generation batch plus floor((g+1)r) - floor(gr) understanding batches (g = generation batches so far)."""
    if recipe.task != "mixed":
        return [recipe.task]
    g = state.micro.get("generation", 0)
    n_und = math.floor((g + 1) * recipe.mix_ratio + 1e-9) - math.floor(g * recipe.mix_ratio + 1e-9)
    return ["generation"] + ["understanding"] * n_und


# -------------------------------------------------------------------------------------------- logging
def read_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in LOG_COLUMNS})
    os.replace(tmp, path)


def hardware_summary(accelerator: Any) -> dict[str, Any]:
    hw: dict[str, Any] = {
        "device": str(accelerator.device), "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type), "mixed_precision": accelerator.mixed_precision,
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name(0)
        hw["gpu_count"] = torch.cuda.device_count()
    if is_fsdp(accelerator):
        hw["fsdp_version"] = 2 if accelerator.is_fsdp2 else 1
    hw["ranks"] = process_placement(accelerator)
    return hw


def process_placement(accelerator: Any) -> list[dict[str, Any]]:
    """Where each process ran, by rank: its node (SLURM's node name, else the host name) and its machine rank
    (torchrun's GROUP_RANK: the node's index in a multi-node launch); a collective."""
    me = {"rank": accelerator.process_index, "node": os.environ.get("SLURMD_NODENAME") or platform.node(),
          "machine_rank": int(os.environ.get("GROUP_RANK", "0"))}
    if accelerator.num_processes == 1:
        return [me]
    from accelerate.utils import gather_object

    return sorted(gather_object([me]), key=lambda r: r["rank"])


# ---------------------------------------------------------------------------------------------- train
@dataclass
class TrainResult:
    summary: dict[str, Any]
    log_rows: list[dict[str, Any]]


def _noise_generator(recipe: StageRecipe, step: int, micro: int, rank: int) -> torch.Generator:
    """The model's noise source for one micro-batch: a CPU generator (the UniX losses draw on the CPU and
    move the noise to the device), seeded by position so that a resumed run draws the same noise."""
    g = torch.Generator(device="cpu")
    g.manual_seed(((recipe.seed * 1_000_003 + step) * 1_009 + micro) * 131 + rank)
    return g


def build_accelerator(recipe: StageRecipe, cpu: bool | None = None):
    """An Accelerator for `recipe`: bf16 autocast on GPU unless disabled; unused-parameter detection for
    DDP when both branches train (a generation micro-batch leaves the vision encoder unused) and when a
    generation recipe has no REPA loss (stage 3: the REPA projector of the generation branch gets no gradient)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if cpu is None:
        cpu = not torch.cuda.is_available()
    precision = recipe.mixed_precision
    if precision == "auto":
        precision = "no" if cpu else "bf16"
    unused = (recipe.trainable == "both" or recipe.task == "mixed"
              or (recipe.uses_generation_data and recipe.repa_weight == 0))
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=unused)]
    accelerator = Accelerator(cpu=cpu, mixed_precision=precision, kwargs_handlers=handlers)
    if cpu and accelerator.num_processes > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        fsdp_on_cpu(accelerator)
    return accelerator


@dataclass
class _Run:
    """The prepared pieces of one training run and its running totals (built by :func:`_setup`)."""

    recipe: StageRecipe
    accelerator: Any
    loss_module: nn.Module
    optimizer: Any
    scheduler: Any
    clip_params: list[nn.Parameter]
    state: TrainState
    ema: Any
    streams: dict[str, Stream]
    n_train: int
    n_all: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None
    start_step: int = 0
    attempt: dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    total_time: float = 0.0


def _eval_frozen_submodules(model: nn.Module) -> None:
    """Put the frozen VAE and REPA encoder (RadDino) in eval mode, when the model has them."""
    for name in ("vae", "raddino", "repa_encoder"):
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Module):
            sub.eval()


def _prepare_model(recipe: StageRecipe, model: nn.Module) -> tuple[int, int]:
    """Extend the latent positions, freeze by `recipe.trainable`, enable activation checkpointing; return
    the trainable and total parameter counts."""
    if recipe.latent_grid:
        model.extend_latent_positions(recipe.latent_grid)
    names = select_trainable(model, recipe.trainable)
    if recipe.activation_checkpointing:
        enable_activation_checkpointing(model)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    log.info("%s: %d trainable tensors, %d of %d parameters (%.1f%%)", recipe.name, len(names), n_train, n_all,
             100.0 * n_train / max(1, n_all))
    _eval_frozen_submodules(model)
    return n_train, n_all


def _build_streams(recipe: StageRecipe, accelerator: Any, state: TrainState,
                   understanding_data: Any, generation_data: Any) -> dict[str, Stream]:
    """One prepared, resumable stream per data kind the recipe trains on."""
    streams: dict[str, Stream] = {}
    if recipe.uses_understanding_data:
        if understanding_data is None:
            raise ValueError(f"recipe {recipe.name} needs understanding data (task {recipe.task})")
        streams["understanding"] = Stream("understanding", accelerator.prepare(understanding_data), accelerator,
                                          state)
    if recipe.uses_generation_data:
        if generation_data is None:
            raise ValueError(f"recipe {recipe.name} needs generation data (task {recipe.task})")
        streams["generation"] = Stream("generation", accelerator.prepare(generation_data), accelerator, state)
    return streams


def _setup(recipe: StageRecipe, model: nn.Module, accelerator: Any,
           understanding_data: Any, generation_data: Any) -> _Run:
    """Seed, freeze, build AdamW, the warm-up/cosine scheduler and EMA, prepare everything with
    `accelerator` and register the resumable state for checkpointing."""
    from accelerate.utils import set_seed

    from unix.training.ema import GenerationEMA
    from unix.training.schedule import build_scheduler

    set_seed(recipe.seed + accelerator.process_index)
    n_train, n_all = _prepare_model(recipe, model)
    loss_module = LossModule(model, recipe)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, betas=recipe.betas, eps=recipe.eps,
                                  weight_decay=recipe.weight_decay)
    loss_module, optimizer = accelerator.prepare(loss_module, optimizer)
    # accelerate clips FSDP gradients only when given exactly the wrapped model's parameters.
    clip_params = list(loss_module.parameters()) if is_fsdp(accelerator) else params
    # Stepped once per optimizer step by us (accelerate's wrapper would step it once per process).
    scheduler = build_scheduler(optimizer.optimizer, warmup_steps=recipe.warmup_steps, total_steps=recipe.steps,
                                min_lr_ratio=recipe.min_lr_ratio)
    state = TrainState()
    accelerator.register_for_checkpointing(scheduler)
    accelerator.register_for_checkpointing(state)
    ema = None
    if recipe.ema_decay > 0:
        # The prepared model's parameters: FSDP2 replaces them with DTensors (DDP and FSDP1 keep the objects).
        prepared = accelerator.unwrap_model(loss_module).model
        gen_ids = _ids(prepared.generation_parameters())
        ema = GenerationEMA([p for p in prepared.parameters() if p.requires_grad and id(p) in gen_ids],
                            recipe.ema_decay, full_parameters(accelerator, loss_module))
        accelerator.register_for_checkpointing(ema)
    streams = _build_streams(recipe, accelerator, state, understanding_data, generation_data)
    return _Run(recipe=recipe, accelerator=accelerator, loss_module=loss_module, optimizer=optimizer,
                scheduler=scheduler, clip_params=clip_params, state=state, ema=ema, streams=streams,
                n_train=n_train, n_all=n_all)


def _resume(run: _Run, ckpt_root: Path, fingerprint: Any) -> None:
    """Load the newest complete checkpoint under `ckpt_root` and its log rows into `run`; checkpoints of
    another fingerprint are deleted instead. Starts this attempt's throughput entry."""
    accelerator, recipe, state = run.accelerator, run.recipe, run.state
    latest = latest_checkpoint(ckpt_root)
    if latest is not None and _read_fingerprint(latest) != fingerprint:
        log.warning("%s: checkpoints in %s belong to another configuration or initial model; starting afresh",
                    recipe.name, ckpt_root)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            for p in ckpt_root.glob("step-*"):
                shutil.rmtree(p, ignore_errors=True)
        accelerator.wait_for_everyone()
        latest = None
    if latest is not None:
        load_checkpoint(accelerator, latest)
        run.resumed_from = str(latest)
        saved = read_log(latest / LOG_NAME)
        run.rows = [r for r in saved if int(r["step"]) <= state.step]
        log.info("%s: resumed from %s (step %d of %d)", recipe.name, latest, state.step, recipe.steps)
    run.start_step = state.step
    run.attempt = state.begin_attempt()


def _next_micro_batches(run: _Run) -> tuple[list[tuple[str, dict]], float]:
    """The (task, batch) pairs of one optimizer step and the seconds spent waiting for them."""
    wait = 0.0
    micro_batches: list[tuple[str, dict]] = []
    for _ in range(run.recipe.grad_accum):
        for task in micro_tasks(run.recipe, run.state):
            tw = time.perf_counter()
            batch = run.streams[task].next()
            wait += time.perf_counter() - tw
            run.state.micro[task] = run.state.micro.get(task, 0) + 1
            micro_batches.append((task, batch))
    return micro_batches, wait


def _step(run: _Run) -> dict[str, Any]:
    """One optimizer step (accumulation, clipping, scheduler, EMA); returns its log row and updates the
    run's totals and this attempt's throughput entry."""
    recipe, accelerator, state = run.recipe, run.accelerator, run.state
    t0 = time.perf_counter()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    step_samples = 0
    micro_batches, wait = _next_micro_batches(run)
    n_gen = sum(1 for t, _ in micro_batches if t == "generation")
    for i, (task, batch) in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        # Gradients are synchronised once per optimizer step, on the last backward.
        sync = contextlib.nullcontext() if last else accelerator.no_sync(run.loss_module)
        with sync:
            g = _noise_generator(recipe, state.step, i, accelerator.process_index)
            with accelerator.autocast():
                out = run.loss_module(task, batch, generator=g)
            weight = 1.0 / recipe.grad_accum
            if task == "understanding" and recipe.task == "mixed":
                # Mixed: the generation loss is averaged over its micro-batches, understanding is added.
                weight = recipe.understanding_loss_weight / max(1, n_gen)
            accelerator.backward(out["loss"] * weight)
        step_samples += batch["input_ids"].shape[0]
        for k, v in out.items():
            key = "loss" if k == "loss" else f"loss_{k}"
            sums[key] = sums.get(key, 0.0) + float(v.detach().float())
            counts[key] = counts.get(key, 0) + 1
    grad_norm = float("nan")
    if recipe.clip_grad_norm > 0:
        grad_norm = float(accelerator.clip_grad_norm_(run.clip_params, recipe.clip_grad_norm))
    lr = run.scheduler.get_last_lr()[0]
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    if run.ema is not None:
        run.ema.update()
    state.step += 1

    means = torch.tensor([sums[k] / counts[k] for k in sorted(sums)], device=accelerator.device)
    means = accelerator.reduce(means, reduction="mean") if accelerator.num_processes > 1 else means
    step_time = time.perf_counter() - t0
    run.total_time += step_time
    run.samples += step_samples * accelerator.num_processes
    run.attempt["steps"] += 1
    run.attempt["samples"] += step_samples * accelerator.num_processes
    run.attempt["step_time_s"] += step_time
    run.attempt["data_wait_s"] += wait
    return {"step": state.step, "lr": lr, "grad_norm": grad_norm,
            "samples": step_samples * accelerator.num_processes, "step_time_s": round(step_time, 6),
            "data_wait_s": round(wait, 6), **dict(zip(sorted(sums), means.tolist()))}


def _save_final_weights(run: _Run, final_dir: str | os.PathLike,
                        save_final: Callable[[nn.Module, Path], None] | None) -> None:
    """Write the final weights to `final_dir` atomically (through ``final_dir.tmp``), gathering FSDP shards
    into a full CPU copy first."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    model_out = accelerator.unwrap_model(run.loss_module).model
    if is_fsdp(accelerator):
        # Sharded parameters: gather the full state dict (a collective) into a fresh CPU copy.
        full = full_state_dict(accelerator, run.loss_module)
        if accelerator.is_main_process:
            fresh = type(model_out)(model_out.config)
            fresh.load_state_dict({k.removeprefix("model."): v for k, v in full.items()})
            model_out = fresh
    if accelerator.is_main_process:
        final_dir = Path(final_dir)
        tmp = final_dir.with_name(final_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (save_final or (lambda m, d: m.save_pretrained(str(d))))(model_out, tmp)
        shutil.rmtree(final_dir, ignore_errors=True)
        os.replace(tmp, final_dir)
    accelerator.wait_for_everyone()


def _summary(run: _Run, wall: float) -> dict[str, Any]:
    """The run summary: recipe, steps, resume point, throughput, the mean of the last five logged losses,
    parameter counts and hardware."""
    recipe, rows = run.recipe, run.rows
    last_rows = rows[-min(len(rows), 5):]
    final_losses = {k: sum(float(r[k]) for r in last_rows if r.get(k) not in (None, "")) / len(last_rows)
                    for k in LOG_COLUMNS if k.startswith("loss") and last_rows and last_rows[-1].get(k) not in
                    (None, "")}
    return {
        "recipe": recipe.to_dict(),
        "steps": recipe.steps,
        "steps_this_run": recipe.steps - run.start_step,
        "resumed_from": run.resumed_from,
        "samples_this_run": run.samples,
        # Over every step of the final weights, whichever attempt trained it (a retry that resumed at the
        # last checkpoint trains no step itself).
        **throughput(run.state.attempts),
        "samples_per_s_this_run": run.samples / run.total_time if run.total_time > 0 else None,
        "steps_by_attempt": [{**a, **throughput([a])} for a in run.state.attempts if a["steps"]],
        "wall_time_s": wall,
        "final_losses_last5": final_losses,
        "trainable_parameters": run.n_train,
        "total_parameters": run.n_all,
        "hardware": hardware_summary(run.accelerator),
    }


def train(
    recipe: StageRecipe,
    model: nn.Module,
    *,
    work_dir: str | os.PathLike,
    understanding_data: torch.utils.data.DataLoader | None = None,
    generation_data: torch.utils.data.DataLoader | None = None,
    accelerator: Any = None,
    save_final: Callable[[nn.Module, Path], None] | None = None,
    final_dir: str | os.PathLike | None = None,
    progress: bool = True,
    fingerprint: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `model` by `recipe`, resuming from the newest complete checkpoint in `work_dir`.

    `work_dir` holds the checkpoints (``step-<step, 6 digits>/``, see unix.training.checkpoint) and the
    running log. `fingerprint` (default: the recipe) identifies the run: checkpoints written under another
    fingerprint (an edited config, a new initial model) are deleted instead of resumed.

    `save_final(model, final_dir)` writes the final weights (default: ``model.save_pretrained``); with EMA
    the averaged generation weights are copied into the model first. Returns the summary and the log rows
    (also written to ``work_dir/log.csv``).
    """
    from tqdm.auto import tqdm

    work_dir = Path(work_dir)
    log_path = work_dir / LOG_NAME
    accelerator = accelerator or build_accelerator(recipe)
    if accelerator.is_main_process:
        work_dir.mkdir(parents=True, exist_ok=True)
    run = _setup(recipe, model, accelerator, understanding_data, generation_data)
    fingerprint = json.loads(json.dumps(fingerprint or recipe.to_dict(), default=str))
    _resume(run, work_dir, fingerprint)

    def snapshot(step: int) -> None:
        if accelerator.is_main_process:
            write_log(log_path, run.rows)
        save_checkpoint(accelerator, work_dir, step, keep=recipe.keep_checkpoints,
                        extra_files={LOG_NAME: log_path},
                        write_extra=lambda d: (d / FINGERPRINT).write_text(json.dumps(fingerprint, indent=1)))

    run.loss_module.train()
    _eval_frozen_submodules(accelerator.unwrap_model(run.loss_module).model)
    bar = tqdm(total=recipe.steps, initial=run.start_step, desc=recipe.name,
               disable=not (progress and accelerator.is_local_main_process))
    loop_start = time.perf_counter()
    while run.state.step < recipe.steps:
        row = _step(run)
        step = run.state.step
        if step % recipe.log_every == 0 or step == recipe.steps:
            run.rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
        bar.update(1)
        if step % recipe.checkpoint_every == 0 or step == recipe.steps:
            snapshot(step)
    bar.close()
    wall = time.perf_counter() - loop_start

    if run.ema is not None:
        run.ema.copy_to_model()
    if final_dir is not None:
        _save_final_weights(run, final_dir, save_final)
    return TrainResult(summary=_summary(run, wall), log_rows=run.rows)

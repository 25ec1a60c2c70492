"""Training recipes: what each stage trains, on which data, with which hyper-parameters.

The paper (section 3.4) trains UniX in three stages:

* ``stage1`` -- medical understanding SFT: vision encoder, connector and language model of the
  understanding branch train on image/report pairs; the loss is on the answer (report) tokens only; the
  generation branch is frozen.
* ``stage2`` -- generation pre-training at low resolution (256 px, a 16x16 latent grid) with REPA against
  a frozen RadDino; the understanding branch, the VAE and RadDino are frozen.
* ``stage3`` -- generation fine-tuning at high resolution (512 px): the latent position table is extended
  from 16x16 to 32x32 and REPA is removed (weight 0); same freezing as stage 2.

The ablation of section 5.2 (Table 5) adds three recipes that start from the stage-2 checkpoint:
``gen_only`` (generation branch only), ``joint_mixed`` (both branches, understanding and generation data
mixed) and ``joint_gen_only`` (both branches, generation data only).

Table 1 of the paper (the hyper-parameters) is not public: every number here is a config key
(``training.<stage>.*`` in config.yaml) with a documented default; :func:`recipe_from_config` builds a
recipe from that mapping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from unix import stages
from unix.stages import STAGES

ABLATION_VARIANTS = ("gen_only", "joint_mixed", "joint_gen_only")
# Control recipes: a stage's recipe with one change that removes what the stage should learn from, so that the
# evaluation shows whether it did. stage1_blank: Stage 1 trained (and evaluated) on black images, the text-only
# control of Table 2 (trained on synthetic data only: unix.evaluation.paths.understanding_models).
CONTROL_CHANGES = {"stage1_blank": {"blank_images": True}}
"""Control recipe name (a key of :data:`unix.stages.CONTROLS`, which names the stage it copies) -> the fields it
changes."""

Trainable = Literal["understanding", "generation", "both"]
Task = Literal["understanding", "generation", "mixed"]


@dataclass
class StageRecipe:
    """One training run: which parameters train, on which task, and how it is optimised."""

    name: str
    """Recipe name (``stage1``, ``stage2``, ``stage3`` or an ablation variant); names output folders."""
    trainable: Trainable
    """Which branch trains: ``understanding`` (vision encoder, connector, understanding LM),
    ``generation`` (generation branch; VAE and RadDino stay frozen) or ``both``."""
    task: Task
    """Which data and loss: ``understanding`` (report CE), ``generation`` (flow matching + REPA) or ``mixed``
    (generation every step plus understanding batches at ``mix_ratio``)."""
    steps: int = 20
    """Optimizer steps (each of ``grad_accum`` micro-batches per process)."""
    batch_size: int = 4
    """Micro-batch size per process."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step; effective batch = batch_size * grad_accum * processes."""
    lr: float = 1e-4
    """Peak learning rate of AdamW (reached after the warm-up)."""
    warmup_steps: int = 2
    """Linear warm-up steps from 0 to ``lr``."""
    min_lr_ratio: float = 0.1
    """The cosine decay ends at ``lr * min_lr_ratio`` at the last step."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    clip_grad_norm: float = 1.0
    """Global gradient-norm clipping threshold (0 disables clipping)."""
    ema_decay: float = 0.0
    """Decay of an exponential moving average of the trainable generation parameters (0 disables EMA).
    When enabled, the final checkpoint holds the EMA weights and ``final-raw/`` the raw ones."""
    checkpoint_every: int = 10
    """Write a resumable checkpoint every this many optimizer steps (and always at the end)."""
    keep_checkpoints: int = 2
    """Number of most recent complete checkpoints kept on disk."""
    resolution: int = 256
    """Generation: image side in pixels fed to the VAE (stage 2: 256, stage 3: 512). Understanding: unused,
    the model resizes to its vision encoder's input size (384 for UniX)."""
    source_size: int = 0
    """Size of the prepared image shards read (results/data/images/<size>/, one of data.images.sizes);
    0 = ``resolution``. Images are resized when it differs (the CPU demo reads 256 px and trains at 32 px)."""
    latent_grid: int = 0
    """Side of the latent position table before training; 0 keeps the model's. Stage 3: 32 (16x16 -> 32x32)."""
    repa_weight: float = 0.5
    """Weight of the REPA loss relative to the flow-matching MSE (0 removes feature supervision)."""
    ce_weighting: Literal["token", "sqrt_span"] = "token"
    """Cross-entropy reduction: ``token`` (mean over answer tokens) or ``sqrt_span`` (each answer span's token
    losses weighted by 1/sqrt(span length), as the reference code's ``len2weight='square'``)."""
    caption_dropout: float = 0.1
    """Probability that a generation prompt is replaced by the empty prompt (classifier-free guidance)."""
    mix_ratio: float = 0.0
    """For ``task: mixed``: understanding micro-batches per generation micro-batch (e.g. 0.5 = every other)."""
    understanding_loss_weight: float = 1.0
    """Weight of the understanding loss in ``mixed`` training."""
    seed: int = 0
    """Seed of model noise, caption dropout and data order (process rank is added)."""
    num_workers: int = 0
    """Data-loader worker processes (0 = load in the training process)."""
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    """``auto``: bf16 autocast on GPU, full fp32 on CPU."""
    log_every: int = 1
    """Write a CSV log row every this many optimizer steps."""
    group_by_length: bool = False
    """Batch samples of similar text length (``data.LengthGroupedSampler``) to cut padding; off: random
    micro-batches padded to their longest sample (upstream packs sequences instead)."""
    blank_images: bool = False
    """Text-only control: every understanding image is replaced by a black image of the same size (training
    here, and the control model's evaluation), so the model can learn only the reports' text statistics.
    Used only by the Stage-1 control ``stage1_blank`` (Table 2's blank-image row); never a stage's default."""
    activation_checkpointing: bool = False
    """Recompute each decoder layer's and SigLIP layer's activations in the backward pass instead of keeping
    them (``torch.utils.checkpoint``, non-reentrant): activation memory of one layer instead of all, for about
    one more forward pass; losses and gradients are unchanged (tested)."""

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ValueError:
            return ValueError(f"training recipe {self.name!r}: {key}={getattr(self, key)!r} {why}")

        if self.trainable not in ("understanding", "generation", "both"):
            raise bad("trainable", "must be one of understanding, generation, both")
        if self.task not in ("understanding", "generation", "mixed"):
            raise bad("task", "must be one of understanding, generation, mixed")
        for key in ("steps", "batch_size", "grad_accum", "checkpoint_every", "keep_checkpoints", "resolution",
                    "log_every"):
            if int(getattr(self, key)) < 1:
                raise bad(key, "must be at least 1")
        for key in ("warmup_steps", "latent_grid", "num_workers", "seed", "source_size"):
            if int(getattr(self, key)) < 0:
                raise bad(key, "must be >= 0")
        if self.warmup_steps >= self.steps and self.steps > 1:
            raise bad("warmup_steps", f"must be smaller than steps ({self.steps}); lower it")
        if not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "must be within [0, 1]")
        if not 0 <= self.ema_decay < 1:
            raise bad("ema_decay", "must be within [0, 1) (0 disables EMA)")
        if not 0 <= self.caption_dropout <= 1:
            raise bad("caption_dropout", "must be a probability within [0, 1]")
        if self.lr <= 0:
            raise bad("lr", "must be positive")
        for key in ("weight_decay", "clip_grad_norm", "repa_weight", "mix_ratio", "understanding_loss_weight"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        if self.ce_weighting not in ("token", "sqrt_span"):
            raise bad("ce_weighting", "must be token or sqrt_span")
        if self.mixed_precision not in ("auto", "no", "bf16"):
            raise bad("mixed_precision", "must be auto, no or bf16")
        for key in ("activation_checkpointing", "blank_images"):
            if not isinstance(getattr(self, key), bool):
                raise bad(key, "must be true or false")
        if self.task == "mixed" and self.mix_ratio <= 0:
            raise bad("mix_ratio", "must be > 0 for task mixed (understanding batches per generation batch)")
        self.betas = tuple(float(b) for b in self.betas)  # YAML gives a list
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise bad("betas", "must be two numbers within [0, 1)")

    @property
    def image_source_size(self) -> int:
        """The prepared image size read (``source_size``, 0 = ``resolution``)."""
        return stages.source_size(self.source_size, self.resolution)

    @property
    def uses_understanding_data(self) -> bool:
        return self.task in ("understanding", "mixed")

    @property
    def uses_generation_data(self) -> bool:
        return self.task in ("generation", "mixed")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


# Fields of StageRecipe that no config key sets: the run's name, its structure (_STRUCTURE below) and what a
# control recipe changes (CONTROL_CHANGES).
_STRUCTURE_FIELDS = ("name", "trainable", "task", *{k for change in CONTROL_CHANGES.values() for k in change})
# Mixed training only: set by config training.ablation, never by a stage.
_MIXED_FIELDS = ("mix_ratio", "understanding_loss_weight")

HYPER_PARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(StageRecipe) if f.name not in _STRUCTURE_FIELDS)
"""Every hyper-parameter of a recipe, in StageRecipe's order (config training.<stage> and training.ablation set
them; `seed` defaults to the top-level config seed)."""
STAGE_FIELDS: tuple[str, ...] = tuple(k for k in HYPER_PARAMETERS if k not in (*_MIXED_FIELDS, "seed"))
"""The keys of config training.<stage>: the one list of stage hyper-parameters. The training schema repeats it
(its $defs hyper and stage) for validation, and tests/test_stages.py checks that the two agree."""

# The structural part of each recipe (what the paper fixes); the numbers come from config.
_STRUCTURE: dict[str, dict[str, Any]] = {
    "stage1": {"trainable": "understanding", "task": "understanding"},
    "stage2": {"trainable": "generation", "task": "generation"},
    "stage3": {"trainable": "generation", "task": "generation"},
    "gen_only": {"trainable": "generation", "task": "generation"},
    "joint_mixed": {"trainable": "both", "task": "mixed"},
    "joint_gen_only": {"trainable": "both", "task": "generation"},
}
# Keys of config `training.ablation` that are not StageRecipe fields.
_ABLATION_ONLY = {"extra_mix_ratios", "eval_samples"}


def recipe_names(config: dict[str, Any]) -> list[str]:
    """All recipe names a config defines: the three stages and the ablation variants."""
    return [*STAGES, *ablation_variants(config)]


def ablation_variants(config: dict[str, Any]) -> list[str]:
    """Table-5 variants: gen_only, joint_mixed (at ``ablation.mix_ratio``), joint_gen_only, plus
    ``joint_mixed_r<ratio>`` for each of ``ablation.extra_mix_ratios``."""
    extra = config.get("training", {}).get("ablation", {}).get("extra_mix_ratios", []) or []
    return [*ABLATION_VARIANTS, *(f"joint_mixed_r{float(r):g}" for r in extra)]


def recipe_from_config(config: dict[str, Any], name: str) -> StageRecipe:
    """Build the recipe `name` from the full pipeline config (its ``training`` section).

    Stages read ``training.<name>``; ablation variants read ``training.ablation`` (``steps`` counts
    generation steps, as in the paper's "2K generation steps"), inheriting anything unset from stage 2.
    """
    if "training" not in config:
        raise ValueError("config has no `training` section; add it (see config.yaml for the documented keys)")
    training = config["training"]
    if name in STAGES:
        values = dict(training[name])
        structure = _STRUCTURE[name]
    elif name in stages.CONTROLS:
        values = dict(training[stages.CONTROLS[name]])
        structure = {**_STRUCTURE[stages.CONTROLS[name]], **CONTROL_CHANGES[name]}
    else:
        mix_ratio = None
        base_name = name
        if name.startswith("joint_mixed_r"):
            base_name = "joint_mixed"
            try:
                mix_ratio = float(name[len("joint_mixed_r"):])
            except ValueError:
                mix_ratio = None
        if base_name not in _STRUCTURE or base_name in STAGES or name not in ablation_variants(config):
            raise ValueError(
                f"unknown training recipe {name!r}; known: {', '.join([*recipe_names(config), *stages.CONTROLS])}"
            )
        values = {k: v for k, v in training["stage2"].items()}
        values.update({k: v for k, v in training["ablation"].items() if k not in _ABLATION_ONLY})
        if mix_ratio is not None:
            values["mix_ratio"] = mix_ratio
        structure = _STRUCTURE[base_name]
        if structure["task"] != "mixed":
            values["mix_ratio"] = 0.0
    unknown = sorted(set(values) - set(HYPER_PARAMETERS) - _ABLATION_ONLY)
    if unknown:
        section = name if name in STAGES else stages.CONTROLS.get(name, "ablation")
        raise ValueError(
            f"config training.{section} has unknown keys {unknown}; "
            f"allowed: {sorted(HYPER_PARAMETERS)}"
        )
    values.update(structure)
    values.setdefault("seed", int(config.get("seed", 0)))
    return StageRecipe(name=name, **values)

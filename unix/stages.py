"""The training stages, the models they make, and the image size each stage reads: named once here.

    stage1    -> model unix         understanding SFT (results/train/stage1/final)
    stage2    -> model unix-256     generation pre-training (results/train/stage2/final)
    stage3    -> model unix-512     generation fine-tuning (results/train/stage3/final)
    ablation  -> ablation-<variant> Table-5 variants fine-tuned from stage 2 (results/ablation/<variant>/final)
    stage1_blank -> unix-blank      control: stage 1 trained and evaluated on black images (synthetic data only;
                                    results/train/stage1_blank/final, Table 2's text-only control row)

Two more models are evaluated without a training stage: ``init`` (the initial model, Table 3's control row)
and ``release`` (the released UniX checkpoint of config weights.unix, the paper's 512-px stage-3 model).
The hyper-parameters of a stage are the fields of :class:`unix.training.recipes.StageRecipe`
(``recipes.STAGE_FIELDS``).
"""

from __future__ import annotations

from typing import Any

STAGES = ("stage1", "stage2", "stage3")
"""The three training stages of the paper (section 3.4), in order; config training.<stage>."""
ABLATION = "ablation"
"""The Table-5 ablation: config training.ablation, one run per variant."""

STAGE_MODELS = {"stage1": "unix", "stage2": "unix-256", "stage3": "unix-512"}
"""Each stage's final weights as the evaluation names them."""
CONTROLS = {"stage1_blank": "stage1"}
"""Control runs: a stage's recipe with one change that removes what the stage should learn from (see
:data:`unix.training.recipes.CONTROL_CHANGES`); each maps to the stage whose config section it uses."""
BLANK = "unix-blank"
"""Stage 1's text-only control model: trained and evaluated on black images (Table 2's control row)."""
CONTROL_MODELS = {"stage1_blank": BLANK}
MODEL_STAGES = {model: stage for stage, model in {**STAGE_MODELS, **CONTROL_MODELS}.items()}
"""Model name -> the training run (stage or control) whose final weights it is."""
UNDERSTANDING_MODEL = STAGE_MODELS["stage1"]
GENERATION_MODELS = (STAGE_MODELS["stage2"], STAGE_MODELS["stage3"])
INIT = "init"
RELEASE = "release"
ABLATION_PREFIX = "ablation-"
MODEL_REGEX = "|".join([*MODEL_STAGES, INIT, RELEASE, ABLATION_PREFIX + r"[A-Za-z0-9_.]+"])
"""Wildcard constraint of `{model}`: every model name :func:`check_model` accepts."""


def check_model(model: str) -> None:
    """Raise ValueError naming the known models unless `model` is one."""
    if model not in MODEL_STAGES and model not in (RELEASE, INIT) and not model.startswith(ABLATION_PREFIX):
        raise ValueError(f"unknown model name {model!r}; use one of {sorted(MODEL_STAGES)}, {RELEASE}, {INIT} or "
                         f"{ABLATION_PREFIX}<variant>")


def settings_stage(model: str) -> str:
    """The stage whose config training.<stage> describes `model` (its resolution and source size): its own stage; stage
    2 for the ablation variants (fine-tuned from stage 2 with its settings) and for ``init`` (Table 3's control,
    generated like stage 2); stage 3 for ``release`` (the paper's 512-px model); a control's base stage (stage 1
    for ``unix-blank``)."""
    check_model(model)
    if model.startswith(ABLATION_PREFIX) or model == INIT:
        return "stage2"
    if model == RELEASE:
        return "stage3"
    run = MODEL_STAGES[model]
    return CONTROLS.get(run, run)


def source_size(source_size: int, resolution: int) -> int:
    """The prepared image size (results/data/images/<size>/) a stage reads: its `source_size`, where 0 means
    its `resolution`."""
    return int(source_size or resolution)


def stage_source_size(config: dict[str, Any], stage: str) -> int:
    """:func:`source_size` of config training.<stage> (stage1, stage2 or stage3)."""
    settings = config["training"][stage]
    return source_size(settings.get("source_size", 0), settings["resolution"])

"""Where training reads and writes (results/train/<recipe>/..., results/ablation/<variant>/...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unix.model.paths import INIT_MODEL
from unix.stages import CONTROLS, STAGES, stage_source_size
from unix.workflow import CLEANED_REPORTS, GENERATION_SPLIT, RESULTS, UNDERSTANDING_SPLIT


def run_dir(recipe: str) -> Path:
    """results/train/<stage>/ for the stages and their controls (results/train/stage1_blank/),
    results/ablation/<variant>/ for Table-5 variants."""
    # "stage{n}" (a Snakemake wildcard pattern) counts as a stage too.
    is_stage = recipe in STAGES or recipe.startswith("stage")
    return RESULTS / "train" / recipe if is_stage else RESULTS / "ablation" / recipe


def outputs(recipe: str) -> dict[str, str]:
    """Declared outputs of a training rule. The checkpoints (run_dir/checkpoints/) are deliberately not
    outputs: Snakemake deletes a job's outputs before it reruns it, and the checkpoints must survive a
    failed or timed-out job so that its retry resumes."""
    d = run_dir(recipe)
    return {"final": str(d / "final"), "log_csv": str(d / "log.csv"), "loss_png": str(d / "loss.png"),
            "summary": str(d / "summary.json")}


def checkpoint_dir(recipe: str) -> str:
    return str(run_dir(recipe) / "checkpoints")


def init_model(recipe: str, config: dict[str, Any] | None = None) -> str:
    """The model a recipe starts from: init for stage 1, the previous stage's final weights otherwise
    (for stage 2, the initial model when config `training.generation_init` is "init"); Table-5 variants
    start from stage 2; a control recipe starts where its stage does."""
    if recipe in CONTROLS:
        return init_model(CONTROLS[recipe], config)
    if recipe == "stage1":
        return INIT_MODEL
    if recipe == "stage2" and config is not None and config["training"]["generation_init"] == "init":
        return INIT_MODEL
    if recipe in STAGES:
        return outputs(f"stage{int(recipe[-1]) - 1}")["final"]
    return outputs("stage2")["final"]


def data_inputs(config: dict[str, Any], recipe_name: str) -> dict[str, Any]:
    """Split tables, cleaned reports and prepared image shards a recipe reads."""
    from unix import workflow as W
    from unix.training.recipes import recipe_from_config

    recipe = recipe_from_config(config, recipe_name)
    inputs: dict[str, Any] = {}
    if recipe.uses_understanding_data:
        inputs["und_split"] = UNDERSTANDING_SPLIT
        inputs["reports"] = CLEANED_REPORTS
        inputs["und_images"] = W.image_shard_paths(config, stage_source_size(config, "stage1"))
    if recipe.uses_generation_data:
        inputs["gen_split"] = GENERATION_SPLIT
        inputs["gen_images"] = W.image_shard_paths(config, recipe.image_source_size)
    return inputs


def rule_params(config: dict[str, Any], recipe_name: str) -> dict[str, Any]:
    """params of a training rule: the recipe (every hyper-parameter, so a config edit reruns exactly the
    affected stage), the checkpoint directory, the accelerate config and the seed."""
    from unix.training.recipes import recipe_from_config

    return {"recipe": recipe_from_config(config, recipe_name).to_dict(), "checkpoints": checkpoint_dir(recipe_name),
            "accelerate_config": config["training"]["accelerate_config"], "seed": config["seed"]}

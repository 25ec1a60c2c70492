"""Paths of the model stage's outputs (for later rules' inputs) and the inputs and params of its rules."""

from __future__ import annotations

from typing import Any

from unix.workflow import DEMO_WEIGHTS, RESULTS, UNDERSTANDING_SPLIT  # noqa: F401  (one definition of each)

INIT_MODEL = str(RESULTS / "model" / "init")
DEMO_WEIGHT_NAMES = ("raddino", "vae")
INIT_WEIGHT_NAMES = ("unix", "janus_pro", "siglip", "vae", "raddino")


def demo_weight_outputs(config: dict[str, Any]) -> dict[str, str]:
    """The tiny random stand-ins the demo writes: one directory per empty `weights.raddino|vae`."""
    return {name: str(DEMO_WEIGHTS / name) for name in DEMO_WEIGHT_NAMES if not config["weights"][name]}


def demo_vae_inputs(config: dict[str, Any]) -> dict[str, Any]:
    """Inputs of train_demo_vae: the generation split and its prepared images of stage 2's source size."""
    from unix import workflow as W
    from unix.stages import stage_source_size

    return {"split": W.GENERATION_SPLIT, "images": W.image_shard_paths(config, stage_source_size(config, "stage2"))}


def init_weights(config: dict[str, Any]) -> dict[str, str]:
    """Resolved local weight paths `init_model` reads (empty: random initialisation)."""
    from unix.workflow import weight_path

    return {name: weight_path(config, name) for name in INIT_WEIGHT_NAMES}


def init_inputs(config: dict[str, Any]) -> dict[str, str]:
    """Inputs of `init_model`: the understanding split (tokenizer texts) and the demo weight directories.

    Configured external weights are not declared (they are outside results/ and may be huge); their paths
    are params, so changing one reruns the job.
    """
    return {"split": UNDERSTANDING_SPLIT, **demo_weight_outputs(config)}

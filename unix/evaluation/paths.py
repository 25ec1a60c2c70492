"""Where the evaluation rules read and write (for rules/evaluation.smk), and which model each name means.

    results/evaluation/reports/{model}.parquet               generate_reports (understanding test set)
    results/evaluation/images/{model}/{shard}.parquet        generate_images (generation test set, one GPU job each)
    results/evaluation/features/{imageset}.npz               extract_features (imageset: real | generated-{model})
    results/evaluation/understanding/{model}.json            evaluate_understanding  (Table 2, 5)
    results/evaluation/generation/{model}.json               evaluate_generation     (Table 3, 5)
    results/evaluation/per_pathology/{model}.json            evaluate_per_pathology  (Table 4)
    results/evaluation/radgraph/{model}.json                 evaluate_radgraph (envs/radgraph.yaml; -> understanding)
    results/evaluation/alignment/{model}.json                evaluate_alignment (envs/alignment.yaml; -> generation)

Model names: ``unix`` (stage 1, understanding), ``unix-256`` (stage 2), ``unix-512`` (stage 3) and
``ablation-<variant>`` (Table 5, results/ablation/<variant>/final).
"""

from __future__ import annotations

from typing import Any

from unix.workflow import RESULTS
EVALUATION = RESULTS / "evaluation"
REAL = "real"
GENERATED_PREFIX = "generated-"
_STAGE_OF = {"unix": "stage1", "unix-256": "stage2", "unix-512": "stage3"}


def _check_model(model: str) -> None:
    if model not in _STAGE_OF and not model.startswith("ablation-"):
        raise ValueError(f"unknown model name {model!r}; use one of {sorted(_STAGE_OF)} or ablation-<variant>")


def model_dir(model: str) -> str:
    """The trained weights evaluated under `model`."""
    from unix.training.paths import outputs

    _check_model(model)
    if model.startswith("ablation-"):
        return outputs(model.removeprefix("ablation-"))["final"]
    return outputs(_STAGE_OF[model])["final"]


def generation_size(config: dict[str, Any], model: str) -> int:
    """Side of the generated images: the resolution the model was last trained at (ablation: stage 2's)."""
    _check_model(model)
    stage = "stage2" if model.startswith("ablation-") else _STAGE_OF[model]
    if stage == "stage1":
        raise ValueError("model 'unix' is the understanding checkpoint; generation uses unix-256 or unix-512")
    return int(config["training"][stage]["resolution"])


def sample_limit(config: dict[str, Any], model: str) -> int:
    """How many test rows a model is evaluated on (0 = all): Table-5 variants use training.ablation.eval_samples."""
    return int(config["training"]["ablation"]["eval_samples"]) if model.startswith("ablation-") else 0


def reports(model: str) -> str:
    return str(EVALUATION / "reports" / f"{model}.parquet")


def image_shard_names(config: dict[str, Any]) -> list[str]:
    return [f"{i:03d}" for i in range(int(config["evaluation"]["image_shards"]))]


def image_shard(model: str, shard: str = "{shard}") -> str:
    return str(EVALUATION / "images" / model / f"{shard}.parquet")


def image_shards(config: dict[str, Any], model: str) -> list[str]:
    return [image_shard(model, s) for s in image_shard_names(config)]


def features(imageset: str) -> str:
    """results/evaluation/features/{imageset}.npz (imageset: real, or generated-<model>)."""
    return str(EVALUATION / "features" / f"{imageset}.npz")


def generated_features(model: str) -> str:
    return features(GENERATED_PREFIX + model)


def metrics(kind: str, model: str) -> str:
    """results/evaluation/<kind>/<model>.json (kind: understanding, generation, per_pathology, radgraph, alignment)."""
    return str(EVALUATION / kind / f"{model}.json")


def feature_inputs(config: dict[str, Any], imageset: str) -> dict[str, Any]:
    """Inputs of extract_features: the generation split for the real set, the image shards otherwise."""
    from unix import workflow as W

    if imageset == REAL:
        return {"split": W.GENERATION_SPLIT}
    if imageset.startswith(GENERATED_PREFIX):
        return {"images": image_shards(config, imageset.removeprefix(GENERATED_PREFIX))}
    raise ValueError(f"unknown image set {imageset!r}: use {REAL} or {GENERATED_PREFIX}<model>")


def understanding_image_size(config: dict[str, Any]) -> int:
    """Prepared image size the understanding model reads (stage 1's source size, else its resolution)."""
    stage1 = config["training"]["stage1"]
    return int(stage1.get("source_size") or stage1["resolution"])


def understanding_models(config: dict[str, Any]) -> list[str]:
    from unix.training.recipes import ablation_variants

    return ["unix", *(f"ablation-{v}" for v in ablation_variants(config))]


def generation_models(config: dict[str, Any]) -> list[str]:
    from unix.training.recipes import ablation_variants

    return ["unix-256", "unix-512", *(f"ablation-{v}" for v in ablation_variants(config))]


def targets(config: dict[str, Any]) -> list[str]:
    """Every metrics file of the evaluation (Tables 2-5)."""
    out = [metrics("understanding", m) for m in understanding_models(config)]
    out += [metrics("generation", m) for m in generation_models(config)]
    out += [metrics("per_pathology", m) for m in ("unix-256", "unix-512")]
    return out

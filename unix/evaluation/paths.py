"""Where the evaluation rules read and write (for rules/evaluation.smk), and which model each name means.

    results/evaluation/reports/{model}.parquet               generate_reports (understanding test set)
    results/evaluation/images/{model}/{shard}.parquet        generate_images (generation test set, one GPU job each)
    results/evaluation/features/{imageset}.npz               extract_features (imageset: real | generated-{model})
    results/evaluation/understanding/{model}.json            evaluate_understanding  (Table 2, 5)
    results/evaluation/generation/{model}.json               evaluate_generation     (Table 3, 5)
    results/evaluation/per_pathology/{model}.json            evaluate_per_pathology  (Table 4)
    results/evaluation/radgraph/{model}.json                 evaluate_radgraph (envs/radgraph.yaml; -> understanding)
    results/evaluation/alignment/{model}.json                evaluate_alignment (envs/alignment.yaml; -> generation)

Model names (:mod:`unix.stages` maps them to stages): ``unix`` (stage 1, understanding), ``unix-blank`` (stage 1
trained and evaluated on black images: Table 2's text-only control, synthetic data only), ``unix-256`` (stage 2),
``unix-512`` (stage 3), ``ablation-<variant>`` (Table 5, results/ablation/<variant>/final), ``init`` (the initial
model before any training: Table 3's control row, whose FD the trained generation branch must beat) and ``release``
(the released UniX checkpoint of config weights.unix, converted by the release_model rule into
results/model/release; it is evaluated like stage 3, for understanding and for generation, and no training rule is
involved).
"""

from __future__ import annotations

from typing import Any

from unix.data.shards import shard_names
from unix.stages import (
    ABLATION_PREFIX,
    BLANK,
    GENERATION_MODELS,
    INIT,
    MODEL_STAGES,
    RELEASE,
    UNDERSTANDING_MODEL,
    check_model,
    settings_stage,
    stage_source_size,
)
from unix.workflow import RESULTS

EVALUATION = RESULTS / "evaluation"
REAL = "real"
GENERATED_PREFIX = "generated-"
RELEASE_MODEL = str(RESULTS / "model" / "release")


def model_dir(model: str) -> str:
    """The weights evaluated under `model`: a training stage's final weights, or the converted release."""
    from unix.training.paths import outputs

    check_model(model)
    if model == RELEASE:
        return RELEASE_MODEL
    if model == INIT:
        from unix.model.paths import INIT_MODEL

        return INIT_MODEL
    if model.startswith(ABLATION_PREFIX):
        return outputs(model.removeprefix(ABLATION_PREFIX))["final"]
    return outputs(MODEL_STAGES[model])["final"]


def generation_size(config: dict[str, Any], model: str) -> int:
    """Side of the generated images: the resolution the model was last trained at (ablation: stage 2's;
    release: stage 3's, since the released checkpoint is the paper's 512-px stage-3 model)."""
    stage = settings_stage(model)
    if stage == "stage1":
        raise ValueError(f"model {model!r} is the understanding checkpoint; generation uses "
                         f"{' or '.join(GENERATION_MODELS)}")
    return int(config["training"][stage]["resolution"])


def blank_images(model: str) -> bool:
    """Whether `model`'s reports are generated from black images (the text-only control, as it was trained)."""
    check_model(model)
    return model == BLANK


def sample_limit(config: dict[str, Any], model: str) -> int:
    """How many test rows a model is evaluated on (0 = all): Table-5 variants use training.ablation.eval_samples."""
    return int(config["training"]["ablation"]["eval_samples"]) if model.startswith(ABLATION_PREFIX) else 0


def reports(model: str) -> str:
    return str(EVALUATION / "reports" / f"{model}.parquet")


def image_shard_names(config: dict[str, Any]) -> list[str]:
    """The generate_images shards of one model (config evaluation.image_shards)."""
    return shard_names(int(config["evaluation"]["image_shards"]), "evaluation.image_shards")


def image_shard(model: str, shard: str = "{shard}") -> str:
    return str(EVALUATION / "images" / model / f"{shard}.parquet")


def image_shards(config: dict[str, Any], model: str) -> list[str]:
    return [image_shard(model, s) for s in image_shard_names(config)]


def features(imageset: str) -> str:
    """results/evaluation/features/{imageset}.npz (imageset: real, or generated-<model>)."""
    return str(EVALUATION / "features" / f"{imageset}.npz")


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


def demo_weights_input(config: dict[str, Any], name: str) -> dict[str, str]:
    """{"demo_weights": directory} when weights `name` is the demo's stand-in (a rule writes it), else {}."""
    from unix.workflow import metric_demo_weights

    demo = metric_demo_weights(config)
    return {"demo_weights": demo[name]} if name in demo else {}


def release_model_inputs(config: dict[str, Any]) -> dict[str, str]:
    """Inputs of release_model: the demo VAE/RadDino directories when weights.vae/raddino are empty.

    Raises at DAG time, naming weights.unix, when it is empty or not a directory (the release's own files
    are params, like every configured external weight).
    """
    from unix.evaluation.release import check_release_weights
    from unix.model.paths import demo_weight_outputs

    check_release_weights(config["weights"]["unix"])
    return {k: v for k, v in demo_weight_outputs(config).items() if k in ("vae", "raddino")}


def release_weights(config: dict[str, Any]) -> dict[str, str]:
    """Resolved weight paths release_model reads (weights.unix, vae, raddino)."""
    from unix import workflow as W
    from unix.evaluation.release import RELEASE_WEIGHT_NAMES

    return {name: W.weight_path(config, name) for name in RELEASE_WEIGHT_NAMES}


def understanding_test_data(config: dict[str, Any]) -> str:
    """Config evaluation.understanding_test_set (UniX's test_data.json), "" for our understanding split."""
    return str(config["evaluation"].get("understanding_test_set") or "")


def report_inputs(config: dict[str, Any], model: str) -> dict[str, Any]:
    """Inputs of generate_reports: the model, and either UniX's test_data.json with the MIMIC-CXR-JPG
    split CSV (standing for the image tree, which the demo builds), or our split, cleaned reports and
    prepared images. A configured test_data.json that does not exist is an error naming the key."""
    from pathlib import Path

    from unix import workflow as W

    test_data = understanding_test_data(config)
    if test_data:
        if not Path(test_data).is_file():
            raise FileNotFoundError(f"evaluation.understanding_test_set = {test_data!r} does not exist; point it at "
                                    "UniX's eval/data/understanding/test_data.json, or leave it empty to use our "
                                    "understanding split")
        return {"model": model_dir(model), "test_data": test_data, "tree": W.mimic_file(config, W.SPLIT_CSV)}
    return {"model": model_dir(model), "split": W.UNDERSTANDING_SPLIT, "reports": W.CLEANED_REPORTS,
            "images": W.image_shard_paths(config, understanding_image_size(config))}


def understanding_image_size(config: dict[str, Any]) -> int:
    """Prepared image size the understanding model reads (stage 1's source size, else its resolution)."""
    return stage_source_size(config, "stage1")


def understanding_models(config: dict[str, Any]) -> list[str]:
    """unix, the Table-5 variants, and on synthetic data (where it is cheap) the text-only control unix-blank."""
    from unix.training.recipes import ablation_variants
    from unix.workflow import uses_synthetic

    blank = [BLANK] if uses_synthetic(config) else []
    return [UNDERSTANDING_MODEL, *blank, *(f"{ABLATION_PREFIX}{v}" for v in ablation_variants(config))]


def generation_models(config: dict[str, Any]) -> list[str]:
    from unix.training.recipes import ablation_variants

    return [*GENERATION_MODELS, *(f"{ABLATION_PREFIX}{v}" for v in ablation_variants(config))]


def targets(config: dict[str, Any]) -> list[str]:
    """Every metrics file of the evaluation (Tables 2-5)."""
    out = [metrics("understanding", m) for m in understanding_models(config)]
    out += [metrics("generation", m) for m in generation_models(config)]
    out += [metrics("per_pathology", m) for m in GENERATION_MODELS]
    return out

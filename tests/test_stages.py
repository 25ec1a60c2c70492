"""One place for the stages: the model each makes, the settings each model is evaluated with, and the image
size each stage reads ("source_size 0 means resolution")."""

from __future__ import annotations

import re

import pytest
from conftest import config_overrides, demo_config, run_snakemake

from unix import stages as S
from unix import workflow as W
from unix.config import validate_config


def test_source_size_zero_means_the_resolution():
    assert S.source_size(0, 128) == 128
    assert S.source_size(512, 128) == 512
    config = demo_config(training={"stage3": {"source_size": 0}})
    assert S.stage_source_size(config, "stage3") == config["training"]["stage3"]["resolution"]
    assert S.stage_source_size(config, "stage2") == config["training"]["stage2"]["source_size"]


def _grid_config() -> dict:
    """The demo with stage 3 reading images of its own resolution (source_size 0), which data prepares."""
    config = validate_config(demo_config(**config_overrides("stage3-source-size-0")))
    assert config["training"]["stage3"]["resolution"] in config["data"]["images"]["sizes"]
    return config


def test_every_reader_of_prepared_images_resolves_source_size_zero():
    from unix.evaluation.paths import understanding_image_size
    from unix.model.paths import demo_vae_inputs
    from unix.tables.targets import image_grid_inputs
    from unix.training.paths import data_inputs

    config = _grid_config()
    resolution = config["training"]["stage3"]["resolution"]
    assert image_grid_inputs(config)["images"] == W.image_shard_paths(config, resolution)
    assert data_inputs(config, "stage3")["gen_images"] == W.image_shard_paths(config, resolution)
    zero = demo_config(training={"stage1": {"source_size": 0}, "stage2": {"source_size": 0}})
    assert understanding_image_size(zero) == zero["training"]["stage1"]["resolution"]
    assert demo_vae_inputs(zero)["images"] == W.image_shard_paths(zero, zero["training"]["stage2"]["resolution"])
    stage1_images = W.image_shard_paths(zero, zero["training"]["stage1"]["resolution"])
    assert data_inputs(zero, "stage1")["und_images"] == stage1_images


@pytest.mark.workflow
def test_image_grid_dry_run_with_stage3_source_size_zero(tmp_path):
    """The bug of issue 13: plot_image_grid asked for results/data/images/0/000.parquet."""
    proc = run_snakemake(tmp_path, "results/figures/image_grid.png", "-n", config=_grid_config())
    assert "plot_image_grid" in proc.stdout
    assert "results/data/images/0/" not in proc.stdout


# ------------------------------------------------------------------------------- models and stages
def test_each_stage_model_is_evaluated_from_that_stage_s_final_weights():
    from unix.evaluation import paths as EP
    from unix.training.paths import outputs

    for stage, model in S.STAGE_MODELS.items():
        assert EP.model_dir(model) == outputs(stage)["final"]
        assert S.settings_stage(model) == stage
    assert EP.model_dir("ablation-gen_only") == outputs("gen_only")["final"]
    assert EP.model_dir(S.RELEASE) == EP.RELEASE_MODEL
    assert [S.settings_stage(m) for m in ("ablation-gen_only", S.INIT, S.RELEASE)] == ["stage2", "stage2", "stage3"]
    with pytest.raises(ValueError, match="unknown model name 'unix-1024'"):
        S.settings_stage("unix-1024")


def test_evaluation_and_tables_use_the_stage_models():
    from unix.evaluation import paths as EP
    from unix.tables import targets as T

    config = demo_config()
    assert list(T.UNDERSTANDING_MODELS) == [S.UNDERSTANDING_MODEL] == EP.understanding_models(config)[:1]
    assert tuple(T.GENERATION_MODELS) == S.GENERATION_MODELS == tuple(EP.generation_models(config)[:2])
    assert EP.generation_size(config, "unix-512") == config["training"]["stage3"]["resolution"]
    with pytest.raises(ValueError, match="'unix' is the understanding checkpoint"):
        EP.generation_size(config, "unix")


def test_every_model_wildcard_constraint_accepts_exactly_the_model_names():
    from pathlib import Path

    models = [*S.MODEL_STAGES, S.INIT, S.RELEASE, "ablation-gen_only", "ablation-joint_mixed_r0.5"]
    repo = Path(__file__).resolve().parents[1]
    constraints = [("unix.stages.MODEL_REGEX", S.MODEL_REGEX)]
    for path in [repo / "Snakefile", *sorted((repo / "rules").glob("*.smk"))]:
        constraints += [(path.name, m.group(1))
                        for m in re.finditer(r"""\bmodel\s*=\s*r?["']([^"']+)["']""", path.read_text())]
    assert len(constraints) > 1, "no model= wildcard constraint found in the rules"
    for where, regex in constraints:
        assert all(re.fullmatch(regex, m) for m in models), (where, regex)
        assert not any(re.fullmatch(regex, m) for m in ("unix-1024", "stage1", "ablation-")), (where, regex)
    for model in models:
        S.check_model(model)


# ----------------------------------------------------------------------------- stage hyper-parameters
def test_the_schema_and_the_configs_spell_the_stage_fields_of_the_recipe():
    import yaml

    from unix.config import SCHEMA_DIR
    from unix.training.recipes import HYPER_PARAMETERS, STAGE_FIELDS, recipe_from_config

    schema = yaml.safe_load((SCHEMA_DIR / "training.schema.yaml").read_text())
    assert list(schema["$defs"]["stage"]["properties"]) == list(STAGE_FIELDS)
    assert list(schema["$defs"]["hyper"]) == list(STAGE_FIELDS)
    assert set(schema["$defs"]["stage"]["required"]) <= set(STAGE_FIELDS)
    ablation = set(schema["properties"]["ablation"]["properties"])
    assert ablation - set(HYPER_PARAMETERS) == {"extra_mix_ratios", "eval_samples"}
    config = demo_config()
    for stage in S.STAGES:
        assert set(config["training"][stage]) <= set(STAGE_FIELDS)
        recipe = recipe_from_config(config, stage)
        assert {k: getattr(recipe, k) for k in config["training"][stage]} == {
            k: tuple(v) if k == "betas" else v for k, v in config["training"][stage].items()}
    config["training"]["stage1"]["warmup"] = 3
    with pytest.raises(ValueError, match=r"training.stage1 has unknown keys \['warmup'\]"):
        recipe_from_config(config, "stage1")

"""One place for the stages: the model each makes, the settings each model is evaluated with, and the image
size each stage reads ("source_size 0 means resolution")."""

from __future__ import annotations

import re

import pytest
from conftest import demo_config, run_snakemake

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
    config = demo_config(training={"stage3": {"source_size": 0}})
    config["data"]["images"]["sizes"] = [*config["data"]["images"]["sizes"], config["training"]["stage3"]["resolution"]]
    return validate_config(config)


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


def test_image_grid_dry_run_with_stage3_source_size_zero(tmp_path):
    """The bug of issue 13: plot_image_grid asked for results/data/images/0/000.parquet."""
    proc = run_snakemake(tmp_path, "results/figures/image_grid.png", "-n", config=_grid_config())
    assert "plot_image_grid" in proc.stdout
    assert "results/data/images/0/" not in proc.stdout

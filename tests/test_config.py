"""The config schema rejects typos and wrong types with a message that names the key."""

import pytest
import yaml

from conftest import REPO, demo_config, run_snakemake
from unix.config import ConfigError, get, validate_config


def test_repository_config_is_valid():
    validate_config(demo_config())


def test_unknown_key_is_named_with_the_allowed_keys():
    config = demo_config(data={"synthetic": {"n_subject": 3}})
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    message = str(err.value)
    assert "data.synthetic" in message and "n_subject" in message and "n_subjects" in message


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"data\.synthetic\.n_subjects"):
        validate_config(demo_config(data={"synthetic": {"n_subjects": "many"}}))


def test_unknown_top_level_key_is_rejected():
    with pytest.raises(ConfigError, match="sed"):
        validate_config({**demo_config(), "sed": 1})


def test_get_names_missing_key():
    with pytest.raises(ConfigError, match="data.nope"):
        get(demo_config(), "data.nope")


def test_workflow_stops_on_a_typo(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "data", config=demo_config(data={"synthetic": {"seedd": 1}}), check=False)
    assert proc.returncode != 0
    assert "data.synthetic" in proc.stdout + proc.stderr and "seedd" in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ["config.yaml", "config/paper.yaml"])
def test_every_recipe_of_the_shipped_configs_builds(path):
    """The shipped configs as they are (the workflow tests train with smaller budgets): every stage and every
    ablation variant, which inherits what it does not set from stage 2, must be a valid recipe."""
    from unix.training.recipes import recipe_from_config, recipe_names

    config = yaml.safe_load((REPO / path).read_text())
    for name in recipe_names(config):
        recipe_from_config(config, name)

"""The config schema rejects typos and wrong types with a message that names the key."""

import pytest
import yaml

from conftest import CONFIGS, REPO, config_overrides, demo_config, run_snakemake
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


@pytest.mark.workflow
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


# ------------------------------------------------------------------------------ tests/configs/*.yaml
def _config_sets() -> list[tuple[str, ...]]:
    """test.yaml alone, and each other test config on top of it."""
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert "test" in names
    return [("test",), *(("test", n) for n in names if n != "test")]


@pytest.mark.parametrize("names", _config_sets(), ids="+".join)
def test_conftest_merges_the_test_configs_as_snakemake_does(names):
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in names:
        update_config(config, yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()))
    assert config == demo_config(**config_overrides(*names))
    validate_config(config)


@pytest.mark.workflow
@pytest.mark.parametrize("names", _config_sets(), ids="+".join)
def test_test_configs_are_runnable_with_configfile(tmp_path, names):
    """`snakemake --configfile tests/configs/<name>.yaml ... -n all` over the repository's config.yaml."""
    files = [str(CONFIGS / f"{name}.yaml") for name in names]
    proc = run_snakemake(tmp_path, "--configfile", *files, "-n", "all",
                         config=yaml.safe_load((REPO / "config.yaml").read_text()))
    assert "train_stage3" in proc.stdout and "plot_image_grid" in proc.stdout

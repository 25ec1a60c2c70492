"""unix.workflow.resources: config `resources:` -> the SLURM executor plugin's resource keys; every rule
declares one family. (The sbatch flags these become are checked against a real SLURM in test_slurm.py.)"""

from __future__ import annotations

import re

import pytest

from conftest import REPO, demo_config
from unix import workflow as W
from unix.config import ConfigError, validate_config


def test_default_families_map_to_plugin_keys():
    config = demo_config()
    assert W.resources(config, "cpu") == {"slurm_partition": "cpu", "runtime": 120, "mem_mb": 16000,
                                          "cpus_per_task": 4}
    train = W.resources(config, "train")
    assert (train["slurm_partition"], train["gres"], train["cpus_per_task"]) == ("l20", "gpu:l20:8", 64)
    assert W.resources(config, "infer")["gres"] == "gpu:l20:1"


def test_switching_training_to_a100_is_one_edit():
    config = demo_config(resources={"families": {"train": {"gpu_model": "a100"}}})
    train = W.resources(config, "train")
    assert (train["slurm_partition"], train["gres"]) == ("a100", "gpu:a100:8")
    assert W.resources(config, "infer")["slurm_partition"] == "l20"


def test_optional_keys_appear_only_when_set():
    config = demo_config(resources={
        "account": "proj42", "gpu_request": "gpus",
        "families": {"train": {"nodes": 2, "constraint": "ib", "slurm_extra": "--qos=high", "partition": "big"}}})
    train = W.resources(config, "train")
    assert train["slurm_account"] == "proj42" and train["slurm_partition"] == "big"
    assert (train["gpu"], train["gpu_model"], train["nodes"]) == (8, "l20", 2) and "gres" not in train
    assert (train["constraint"], train["slurm_extra"]) == ("ib", "--qos=high")
    no_model = demo_config(resources={"families": {"infer": {"gpu_model": ""}}})
    assert W.resources(no_model, "infer")["gres"] == "gpu:1"
    assert W.resources(no_model, "infer")["slurm_partition"] == "gpu"


def test_mistakes_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match="cpu, train, infer"):
        W.resources(demo_config(), "gpu")
    config = demo_config(resources={"families": {"train": {"gpu_model": "h100"}}})
    with pytest.raises(ValueError, match=r"resources.partitions"):
        W.resources(config, "train")
    with pytest.raises(ConfigError, match=r"resources.families.train"):
        validate_config(demo_config(resources={"families": {"train": {"gpu": 8}}}))
    with pytest.raises(ConfigError, match=r"resources.gpu_request"):
        validate_config(demo_config(resources={"gpu_request": "gpu"}))


def test_every_rule_declares_a_resource_family():
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"\s*rule (\w+):", block).group(1)
            family = re.search(r"\*\*W\.resources\(config, \"(\w+)\"[,)]", block)
            local = re.search(r"^\s+localrule:\s*True", block, re.M)
            if local or not re.search(r"^\s+(script|shell|run|wrapper):", block, re.M):
                continue  # target rules (input only) and local rules run on the submitting host
            assert family, f"rule {name} in {smk.name} has no `resources: **W.resources(config, ...)`"
            assert family.group(1) in W.RESOURCE_FAMILIES, f"rule {name}: unknown family {family.group(1)}"


def test_each_training_stage_may_override_the_train_family():
    config = demo_config(resources={"families": {"train": {"gpu_model": "a100"}},
                                    "stages": {"stage1": {"runtime": 600, "gpus": 4, "mem_mb": 200000},
                                               "stage3": {"runtime": 4320, "nodes": 2}}})
    validate_config(config)
    s1, s2, s3 = (W.resources(config, "train", s) for s in ("stage1", "stage2", "stage3"))
    assert (s1["runtime"], s1["gres"], s1["mem_mb"]) == (600, "gpu:a100:4", 200000)
    assert s2 == W.resources(config, "train") == W.resources(config, "train", "ablation")  # the family's
    assert (s3["runtime"], s3["nodes"], s3["gres"], s3["mem_mb"]) == (4320, 2, "gpu:a100:8", 480000)
    spec, keys = W.family_spec(config, "train", "stage1")
    assert keys["runtime"] == "resources.stages.stage1.runtime" and keys["cpus"] == "resources.families.train.cpus"
    with pytest.raises(ValueError, match="stage1, stage2, stage3, ablation"):
        W.resources(config, "train", "stage4")
    with pytest.raises(ConfigError, match=r"resources.stages.stage2"):
        validate_config(demo_config(resources={"stages": {"stage2": {"runtme": 60}}}))


def test_training_rules_use_their_stage_resources_and_record_the_attempt():
    text = (REPO / "rules" / "training.smk").read_text()
    for rule, stage in (("train_stage", "{stage}"), ("train_stage1_blank", "stage1"), ("train_ablation", "ablation")):
        block = re.search(rf"rule {rule}:(.*?)(?=^rule |\Z)", text, re.S | re.M).group(1)
        assert f'**W.resources(config, "train", "{stage}")' in block and "attempt=W.attempt" in block, rule


def test_a_stage_wildcard_takes_each_jobs_stage_resources():
    config = demo_config(resources={"stages": {"stage1": {"runtime": 600, "gpus": 4}, "stage3": {"nodes": 2}}})
    per_job = W.resources(config, "train", "{stage}")
    for stage in ("stage1", "stage2", "stage3"):
        values = {k: f({"stage": stage}) for k, f in per_job.items()}
        assert {k: v for k, v in values.items() if v is not None} == W.resources(config, "train", stage), stage

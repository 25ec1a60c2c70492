"""The paper-scale configuration (config/paper.yaml), which `snakemake --profile slurm all` reads.

It must validate against the same schema as the demo, set every value at paper scale, fit the memory plan on
every configured GPU kind, and stop at parse time with ONE message naming every path still to set; with the
paths filled in (fake files here), the dry run lists the training jobs with the paper config's resources.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO, demo_config
from unix.config import validate_config
from unix.real_run import problems, required_keys
from unix.training import plan as P

PAPER = REPO / "config" / "paper.yaml"


def paper_config() -> dict:
    return yaml.safe_load(PAPER.read_text())


def _keys(node: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in node.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _keys(value, f"{prefix}{key}.")
    return out


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        config = config[part]
    config[last] = value


def test_paper_config_validates_and_has_every_key_of_the_demo():
    config = validate_config(paper_config())
    paper, demo = _keys(config), _keys(demo_config())
    assert demo <= paper, demo - paper
    # Beyond the demo's keys, only per-stage resources (which the demo leaves to the family defaults).
    assert all(k.startswith("resources.stages.") for k in paper - demo), paper - demo


def test_paper_config_is_at_paper_scale():
    config = paper_config()
    assert config["synthetic"] is False
    assert config["model"]["size"] == "unix-1.5b"
    assert config["evaluation"]["labeler"] == "chexbert"
    assert config["data"]["images"]["shards"] == 100
    assert config["cleaning"]["backend"] == "openai" and config["cleaning"]["shards"] == 32
    training = config["training"]
    assert training["accelerate_config"] == "profiles/accelerate/fsdp.yaml"
    assert (REPO / training["accelerate_config"]).is_file()
    # The "(full: ...)" values that config.yaml's comments suggest.
    expected = {"stage1": (5000, 8, 4, 2.0e-5), "stage2": (20000, 32, 1, 1.0e-4), "stage3": (10000, 16, 2, 5.0e-5)}
    for stage, (steps, batch, accum, lr) in expected.items():
        s = training[stage]
        assert (s["steps"], s["batch_size"], s["grad_accum"], s["lr"]) == (steps, batch, accum, lr), stage
        assert s["activation_checkpointing"] is True, stage
    assert (training["stage2"]["resolution"], training["stage3"]["resolution"]) == (256, 512)
    assert training["stage3"]["latent_grid"] == 32
    assert training["ablation"]["steps"] == 2000


def test_profile_slurm_names_the_paper_config():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["configfile"] == "config/paper.yaml"


@pytest.mark.parametrize("stage", P.STAGES)
def test_plan_says_each_stage_fits_on_every_configured_gpu_kind(stage):
    config = paper_config()
    P.check_stage_fits(config, stage)
    strategy, ckpt = P.configured_strategy(config, stage)
    assert (strategy, ckpt) == ("fsdp", True)
    kinds = [k for k in config["resources"]["partitions"] if k.lower() in P.GPU_MEMORY_GIB]
    assert "l20" in kinds
    for kind in kinds:
        assert P.plan_stage(config, stage, kind).fits(strategy, ckpt) is True, (stage, kind)


def test_demo_config_needs_nothing():
    assert problems(demo_config()) == []


@pytest.mark.workflow
def test_paper_run_without_paths_stops_at_parse_time_naming_every_key(tmp_path, snakemake_run):
    # The scratch workdir holds the demo config.yaml (the Snakefile's configfile); --configfile replaces it.
    proc = snakemake_run(tmp_path, "-n", "all", "--configfile", str(PAPER), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("cannot start") == 1, out[-4000:]
    keys = [*required_keys(paper_config()), "cleaning.openai.base_url"]
    assert {"data.mimic_cxr_jpg", "data.mimic_cxr_reports", "weights.janus_pro", "weights.vae",
            "weights.raddino", "weights.chexbert"} <= set(keys)
    for key in keys:
        assert f"{key}: not set" in out, (key, out[-4000:])
    assert "rule " not in out and not (tmp_path / "results").exists()


def _fill_paths(config: dict, root: Path) -> dict:
    """Fake existing paths for every required key: empty files and directories under `root`."""
    from unix.data.mimic import CHEXPERT_CSV, METADATA_CSV, SPLIT_CSV

    for key in required_keys(config):
        path = root / key.replace(".", "_")
        if key.startswith("data.llava") or key == "weights.chexbert":
            path.write_text("")
        else:
            path.mkdir()
        _set(config, key, str(path))
    for name in (SPLIT_CSV, METADATA_CSV, CHEXPERT_CSV):
        (Path(config["data"]["mimic_cxr_jpg"]) / name).write_bytes(b"")
    _set(config, "cleaning.openai.base_url", "http://127.0.0.1:8000/v1")
    return config


def _job_resources(out: str, rule: str, wildcards: str = "") -> dict[str, str]:
    """The `resources:` line of `rule`'s job (the one with `wildcards`, e.g. "stage=stage1") in a dry run's
    output, as a mapping."""
    job = rf"(?:    .*\n)*?    wildcards: {re.escape(wildcards)}\n" if wildcards else ""
    match = re.search(rf"^rule {rule}:\n{job}(?:    .*\n)*?    resources: (.*)$", out, flags=re.M)
    assert match, (rule, out[-4000:])
    return dict(item.split("=", 1) for item in match.group(1).split(", "))


@pytest.mark.workflow
def test_paper_run_with_paths_lists_training_jobs_with_the_paper_resources(tmp_path, snakemake_run):
    fake = tmp_path / "fake"
    fake.mkdir()
    config = _fill_paths(paper_config(), fake)
    assert problems(config) == []
    proc = snakemake_run(tmp_path / "work", "-n", "all", config=config)
    out = proc.stdout + proc.stderr
    assert "make_demo_" not in out  # make_demo_data, make_demo_weights, make_demo_biovil_t, make_demo_radgraph
    train = config["resources"]["families"]["train"]
    for stage in ("stage1", "stage2", "stage3"):
        res = _job_resources(out, "train_stage", f"stage={stage}")
        expected = {**train, **config["resources"]["stages"][stage]}
        assert res["runtime"] == str(expected["runtime"]), (stage, res)
        assert res["mem_mb"] == str(expected["mem_mb"]), (stage, res)
        assert res["slurm_partition"] == "l20", (stage, res)
        assert res["gres"] == "gpu:l20:8" and res["cpus_per_task"] == "64", (stage, res)
    # 100 image shards, 32 cleaning shards.
    assert re.search(r"^prepare_images\s+100$", out, flags=re.M), out[-4000:]
    assert re.search(r"^clean_reports\s+32$", out, flags=re.M), out[-4000:]


@pytest.mark.workflow
def test_explicit_configfile_replaces_the_profiles_paper_config(tmp_path):
    """What tests/test_slurm.py relies on: `--profile slurm --configfile config.yaml` runs the demo config."""
    import os
    import subprocess

    from conftest import BIN

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(demo_config()))
    cmd = [str(BIN / "snakemake"), "--profile", str(REPO / "profiles" / "slurm"), "-s", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "-n", "results/train/stage1/summary.json", "--configfile", "config.yaml"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"^make_demo_data\s+1$", out, flags=re.M) and "cannot start" not in out, out[-4000:]

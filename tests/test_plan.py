"""The memory plan (unix.training.plan): the activation estimate against what PyTorch allocates on CPU,
the stored parameter counts against the meta device, the DAG-time refusal and `unix plan`."""

from __future__ import annotations

import inspect

import pytest

from conftest import demo_config
from unix.model.config import UniXConfig
from unix.training import plan as P

MID = dict(hidden_size=256, intermediate_size=704, num_layers=4, num_heads=4, vocab_size=2048,
           vision=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       image_size=128, patch_size=16, vision_use_head=False))


def _shape(cfg: UniXConfig, stage: str, batch: int, text: int, resolution: int) -> P.StageShape:
    generation = stage != "stage1"
    return P.StageShape(stage, batch, 1, 1, 0 if generation else cfg.vision_tokens, text,
                        (resolution // cfg.latent_downsample) ** 2 if generation else 0,
                        resolution if generation else cfg.understanding_image_size, stage == "stage2", False)


def _check_within_25_percent(cfg: UniXConfig, shape: P.StageShape) -> None:
    measured = P.measure_activations(cfg, shape)
    estimate = P.activation_bytes(cfg, shape, bf16=False)
    assert abs(estimate.saved / measured["forward"] - 1) <= 0.25, (shape, estimate, measured)
    assert abs(estimate.peak / measured["peak"] - 1) <= 0.25, (shape, estimate, measured)


@pytest.mark.parametrize("stage,resolution", [("stage1", 0), ("stage2", 64), ("stage3", 128)])
def test_activation_estimate_within_25_percent_of_measured_tiny(stage, resolution):
    _check_within_25_percent(UniXConfig.from_name("tiny"), _shape(UniXConfig.from_name("tiny"), stage, 4, 40,
                                                                  resolution))


@pytest.mark.slow
@pytest.mark.parametrize("stage,resolution", [("stage1", 0), ("stage3", 128)])
def test_activation_estimate_within_25_percent_of_measured_mid(stage, resolution):
    cfg = UniXConfig.from_name("tiny", **MID)
    _check_within_25_percent(cfg, _shape(cfg, stage, 2, 48, resolution))


@pytest.mark.parametrize("size", ["tiny", "unix-1.5b"])
def test_stored_parameter_counts_match_the_meta_device(size):
    """unix/resources/parameter_counts.json is stale: rerun `python -m unix.training.plan`."""
    model_json = P.json.dumps(UniXConfig.from_name(size).to_dict(), sort_keys=True)
    assert P._parameter_groups(model_json) == P.count_parameter_groups(model_json)
    stored = P.json.loads(P.PARAMETER_COUNTS.read_text())[size]
    assert stored["fingerprint"] == P._fingerprint(model_json)


def test_stage1_trains_about_two_billion_parameters_at_paper_size():
    counts = P.parameter_counts(UniXConfig.from_name("unix-1.5b"), "stage1", repa=False)
    assert 1.8e9 < counts["trainable"] < 2.2e9
    assert 3.0e9 < counts["trainable"] + counts["frozen"] < 3.5e9


def test_text_limits_are_the_batchers():
    from unix.model.tokenizer import encode_captions
    from unix.training.data import UniXBatcher

    assert P.REPORT_MAX_TOKENS == inspect.signature(UniXBatcher).parameters["max_length"].default
    assert P.CAPTION_MAX_TOKENS == inspect.signature(encode_captions).parameters["max_length"].default


def _paper_stage1(**stage1) -> dict:
    config = demo_config()
    config["model"]["size"] = "unix-1.5b"
    config["training"]["stage1"].update(batch_size=8, grad_accum=4, **stage1)
    return config


def test_refuses_stage_that_does_not_fit_and_names_what_would():
    with pytest.raises(ValueError) as err:
        P.check_stage_fits(_paper_stage1(), "stage1")
    message = str(err.value)
    assert "stage1 does not fit" in message and "l20" in message
    assert "training.accelerate_config: profiles/accelerate/fsdp.yaml" in message
    assert "training.stage1.activation_checkpointing: true" in message


def test_fsdp_with_checkpointing_fits_and_more_gpus_shard_further(repo):
    config = _paper_stage1(activation_checkpointing=True)
    config["training"]["accelerate_config"] = str(repo / "profiles/accelerate/fsdp.yaml")
    assert P.configured_strategy(config, "stage1") == ("fsdp", True)
    P.check_stage_fits(config, "stage1")
    few = P.plan_stage(config, "stage1")
    config["resources"].setdefault("stages", {})["stage1"] = {"gpus": 2}
    two = P.plan_stage(config, "stage1")
    assert two.gpus == 2 and few.gpus == 8
    assert two.memory[("fsdp", True)]["optimizer"] == pytest.approx(4 * few.memory[("fsdp", True)]["optimizer"],
                                                                    rel=1e-6)


def test_fsdp2_keeps_the_ema_on_the_shards(repo):
    """FSDP2 (profiles/accelerate/fsdp2.yaml) is planned with the EMA divided by the GPU count, as
    unix.training.ema keeps it on the DTensor shards; FSDP1's EMA is whole on every GPU, as under DDP."""
    config = _paper_stage1()
    config["training"]["stage3"].update(ema_decay=0.9999, activation_checkpointing=True)
    config["training"]["accelerate_config"] = str(repo / "profiles/accelerate/fsdp2.yaml")
    assert P.configured_strategy(config, "stage3") == ("fsdp2", True)
    plan = P.plan_stage(config, "stage3")
    assert plan.shape.ema and plan.gpus == 8
    one, two = plan.memory[("fsdp", True)], plan.memory[("fsdp2", True)]
    assert one["ema"] == 4 * plan.params["trainable"] == plan.memory[("ddp", True)]["ema"]
    assert two["ema"] == one["ema"] // 8
    assert {k: two[k] for k in ("weights", "gradients", "optimizer", "activations")} == \
        {k: one[k] for k in ("weights", "gradients", "optimizer", "activations")}
    assert two["total"] == one["total"] - (one["ema"] - two["ema"])
    config["training"]["stage3"]["ema_decay"] = 0.0
    assert P.plan_stage(config, "stage3").memory[("fsdp2", True)]["ema"] == 0


def test_activation_checkpointing_key_absent_means_off():
    config = demo_config()
    config["training"]["stage2"].pop("activation_checkpointing", None)
    assert P.configured_strategy(config, "stage2") == ("ddp", False)


def test_unknown_gpu_kind_is_not_checked():
    config = _paper_stage1()
    config["resources"]["families"]["train"]["gpu_model"] = ""
    P.check_stage_fits(config, "stage1")


def test_unix_plan_prints_every_stage_and_gpu_kind(capsys, repo):
    from unix.cli import main

    assert main(["plan", "--config", str(repo / "config.yaml"), "--size", "unix-1.5b"]) == 0
    out = capsys.readouterr().out
    for word in ("stage1:", "stage2:", "stage3:", "tokens per optimizer step", "checkpointing on"):
        assert word in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  l20 ") or line.startswith("  a100 ")]
    assert len(rows) == 3 * 2 * 6  # stages x GPU kinds x (DDP, FSDP, FSDP2) x checkpointing
    assert {r[1] for r in rows} == {"ddp", "fsdp", "fsdp2"}


@pytest.mark.workflow
def test_workflow_refuses_at_parse_time(tmp_path, snakemake_run):
    config = demo_config()
    config["training"]["stage1"]["batch_size"] = 4096  # the tiny model at this micro-batch needs > 48 GB
    proc = snakemake_run(tmp_path, "-n", "train_stage1", config=config, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "stage1 does not fit its GPU" in out and "batch_size" in out, out[-3000:]

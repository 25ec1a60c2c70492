"""The model stage in the workflow: make_demo_weights and init_model (run in scratch directories)."""

from __future__ import annotations

import json

import pytest

from conftest import demo_config, run_snakemake

pytestmark = pytest.mark.workflow  # every test here runs Snakemake


def test_dry_run_schedules_demo_weights_only_when_missing(tmp_path):
    out = run_snakemake(tmp_path / "a", "-n", "results/model/init", config=demo_config()).stdout
    assert "rule make_demo_weights" in out and "rule init_model" in out
    assert "rule train_demo_vae" in out and "results/model/demo-weights/vae.summary.json" in out
    assert "results/model/demo-weights/vae" in out and "results/model/demo-weights/raddino" in out
    vae = tmp_path / "my-vae"
    vae.mkdir()
    out = run_snakemake(tmp_path / "b", "-n", "results/model/init",
                        config=demo_config(weights={"vae": str(vae)})).stdout
    assert "results/model/demo-weights/raddino" in out and "results/model/demo-weights/vae" not in out
    assert "train_demo_vae" not in out


@pytest.mark.slow
def test_init_model_writes_a_loadable_model(tmp_path):
    import torch

    from unix.model.inference import load_model

    run_snakemake(tmp_path, "--cores", "2", "results/model/init", config=demo_config())
    init = tmp_path / "results" / "model" / "init"
    assert {p.name for p in init.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    prov = json.loads((tmp_path / "results" / "model" / "init.prov.json").read_text())
    assert "init_model" in json.dumps(prov)
    model, tokenizer = load_model(init)
    assert model.config.vocab_size == len(tokenizer) <= 1024
    ids = torch.tensor([[model.config.bos_token_id, 10, 11, model.config.eos_token_id]])
    out = model.train().generation_loss(torch.zeros(1, 3, 64, 64), ids, torch.ones_like(ids),
                                        generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"]) and out["repa"] != 0

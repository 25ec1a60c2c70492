"""The training rules in the DAG: stage chaining, the ablation variants, and that checkpoints are not
declared outputs (so Snakemake keeps them for a resumed retry)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import demo_config


@pytest.mark.workflow
def test_dry_run_chains_the_stages_and_the_ablation(tmp_path, snakemake_run):
    config = demo_config()
    config["training"]["ablation"]["extra_mix_ratios"] = [0.5]
    proc = snakemake_run(tmp_path, "-n", "train_stage3", "results/ablation/gen_only/summary.json",
                         "results/ablation/joint_mixed/summary.json", "results/ablation/joint_gen_only/summary.json",
                         "results/ablation/joint_mixed_r0.5/summary.json", config=config)
    from conftest import dry_run_jobs

    jobs = dry_run_jobs(proc.stdout)
    for job in ("train_stage[stage1]", "train_stage[stage2]", "train_stage[stage3]", "train_ablation[gen_only]",
                "train_ablation[joint_mixed]", "train_ablation[joint_gen_only]", "train_ablation[joint_mixed_r0.5]"):
        assert job in jobs, proc.stdout[-3000:]


def test_checkpoints_are_not_outputs_and_stages_chain():
    from unix.training import paths as TP

    for recipe in ("stage1", "stage2", "stage3", "joint_mixed"):
        outs = TP.outputs(recipe)
        ckpt = Path(TP.checkpoint_dir(recipe))
        assert all(not Path(p).is_relative_to(ckpt) and not ckpt.is_relative_to(p) for p in outs.values())
    assert TP.init_model("stage1") == TP.INIT_MODEL
    assert TP.init_model("stage3") == TP.outputs("stage2")["final"]
    assert TP.init_model("joint_gen_only") == TP.outputs("stage2")["final"]
    assert TP.outputs("gen_only")["final"] == "results/ablation/gen_only/final"

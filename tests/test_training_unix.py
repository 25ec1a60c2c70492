"""The trainer with the real tiny UniX: the three-stage chain, the paper's freezing, golden losses, and a
killed joint run resumed bit for bit (the model's VAE sampling, timesteps and caption dropout included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "golden" / "training_unix_tiny_losses.json"
STEPS = 4


@pytest.fixture(scope="module")
def setup(tiny_training_setup):
    return tiny_training_setup  # conftest.py, shared with test_training_fsdp.py


def _spec(root: Path, files: dict, name: str, init: Path, out: Path, **kw) -> dict:
    from unix.training.recipes import StageRecipe

    structure = {"stage1": dict(trainable="understanding", task="understanding", ce_weighting="sqrt_span"),
                 "stage2": dict(trainable="generation", task="generation", resolution=64, repa_weight=0.5),
                 "stage3": dict(trainable="generation", task="generation", resolution=128, latent_grid=8,
                                repa_weight=0.0),
                 "joint_mixed": dict(trainable="both", task="mixed", mix_ratio=0.5, resolution=64)}[name]
    recipe = StageRecipe(name=name, **{"steps": STEPS, "batch_size": 4, "checkpoint_every": 2, "lr": 1e-3,
                                       "warmup_steps": 1, **structure, **kw})
    return {"recipe": recipe.to_dict(), "init": str(init), "checkpoints": str(out / "checkpoints"),
            "und_split": str(files["und_split"]), "reports": str(files["reports"]),
            "und_images": [str(files["images"])], "gen_split": str(files["gen_split"]),
            "gen_images": [str(files["images"])], "final": str(out / "final"), "log_csv": str(out / "log.csv"),
            "loss_png": str(out / "loss.png"), "summary": str(out / "summary.json")}


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


def _curve(out: Path) -> list[float]:
    import pandas as pd

    return pd.read_csv(out / "log.csv")["loss"].tolist()


def test_three_stages_freeze_as_the_paper_and_match_golden(setup, tmp_path):
    from unix.model import UniX
    from unix.training import run

    root, files = setup
    init = root / "init"
    model = UniX.from_pretrained(init)
    und = {n for n, p in model.named_parameters() if any(p is q for q in model.understanding_parameters())}
    gen = {n for n, p in model.named_parameters() if any(p is q for q in model.generation_parameters())}
    frozen = {n for n, _ in model.named_parameters()} - und - gen  # VAE and RadDino
    assert any(n.startswith("vae.") for n in frozen) and any(n.startswith("repa_encoder.") for n in frozen)

    curves, prev = {}, init
    for stage in ("stage1", "stage2", "stage3"):
        out = tmp_path / stage
        summary = run.main(_spec(root, files, stage, prev, out, checkpoint_every=STEPS))
        before, after = _weights(prev), _weights(out / "final")
        changed = {k for k in after if k in before and not torch.equal(before[k], after[k])}
        if stage == "stage1":
            assert changed and changed <= und, sorted(changed - und)[:5]
            assert any(k.startswith("vision.") for k in changed) and any(k.startswith("connector.") for k in changed)
        else:
            assert changed and changed <= gen, sorted(changed - gen)[:5]
        assert not changed & frozen
        assert (out / "loss.png").stat().st_size > 0 and (out / "final" / "tokenizer.json").exists()
        assert summary["steps"] == STEPS and summary["samples_per_s"] > 0 and "hardware" in summary
        assert json.loads((out / "summary.json").read_text())["final_losses_last5"]["loss"] > 0
        curves[stage] = _curve(out)
        prev = out / "final"
    assert UniX.from_pretrained(prev).latent.max_latent_size == 8  # stage 3 extended the table (4x4 -> 8x8)
    assert (pytest.importorskip("pandas").read_csv(tmp_path / "stage3" / "log.csv")["loss_repa"] == 0).all()

    # Same seed, same curve: rerun stage 2 from the same start.
    again = tmp_path / "stage2-again"
    run.main(_spec(root, files, "stage2", tmp_path / "stage1" / "final", again, checkpoint_every=STEPS))
    assert _curve(again) == curves["stage2"]

    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(curves, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    for stage, curve in curves.items():
        assert curve == pytest.approx(golden[stage], rel=1e-4, abs=1e-6), stage


def test_killed_joint_run_resumes_bit_for_bit(setup, tmp_path):
    from unix.training import run
    from unix.training.checkpoint import latest_checkpoint

    root, files = setup
    steps = 8
    full = tmp_path / "full"
    run.main(_spec(root, files, "joint_mixed", root / "init", full, steps=steps, batch_size=2))

    work = tmp_path / "killed"
    spec = _spec(root, files, "joint_mixed", root / "init", work, steps=steps, batch_size=2)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "unix.training.run", str(spec_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and not (work / "checkpoints" / "step-000002" / "COMPLETE").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise steps"
    assert not (work / "final").exists()
    assert latest_checkpoint(work / "checkpoints") is not None

    summary = run.main(spec)  # "run the rule again"
    assert summary["resumed_from"] and summary["steps_this_run"] < steps
    ref, got = _weights(full / "final"), _weights(work / "final")
    assert ref.keys() == got.keys()
    assert [k for k in ref if not torch.equal(ref[k], got[k])] == []
    assert _curve(work) == _curve(full)


def test_two_process_ddp_run_resumes_exactly(setup, tmp_path):
    """Two processes (torch.distributed over gloo on CPU, the code path of a multi-GPU DDP job): the data is
    sharded, checkpoints hold every rank's RNG, and a resumed run ends with the same weights."""
    import shutil

    root, files = setup
    out = tmp_path / "ddp"
    spec = _spec(root, files, "joint_mixed", root / "init", out, steps=4, batch_size=2)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "unix.training.run", str(spec_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, env=env)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hardware"]["num_processes"] == 2
    assert (out / "checkpoints" / "step-000004" / "random_states_1.pkl").exists()
    reference = _weights(out / "final")

    shutil.rmtree(out / "final")
    shutil.rmtree(out / "checkpoints" / "step-000004")  # as if the job died after step 2's checkpoint
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, env=env)
    assert json.loads((out / "summary.json").read_text())["steps_this_run"] == 2
    resumed = _weights(out / "final")
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []

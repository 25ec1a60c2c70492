"""FSDP run for real: the tiny UniX trained with FSDP over two CPU processes (gloo) through ``accelerate
launch --config_file profiles/accelerate/fsdp.yaml`` (FSDP1) or ``fsdp2.yaml`` (FSDP2), killed after a
checkpoint and resumed, ends with the weights of a DDP run of the same global batch; its EMA is the EMA of the
full parameters, and the EMA checkpoint holds the same full tensors as DDP's.

Tolerance FSDP vs DDP: both runs see the same samples, noise and schedule; they differ only in how the
gradients are reduced (FSDP reduce-scatters shards and sums the shards' squared norms for clipping,
DDP all-reduces buckets), i.e. in float32 summation order, a few ulp per gradient. Over 6 AdamW steps at
lr 1e-3 that moves weights by ~1e-7 (measured max 1.4e-7 (FSDP1) and 1.5e-7 (FSDP2) after 6 steps), so
weights and EMA must agree to 1e-6 and losses to 1e-6 relative; anything that really differs (a shard averaged
as a whole tensor, rank 0's shard saved as the EMA, a lost optimizer state, a wrong data shard) is orders of
magnitude larger.

Also the torch 2.13 bug worked around in unix.training.fsdp.fsdp_on_cpu, shown as a test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_training_unix import _curve, _spec, _weights, setup  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[1]
STEPS, DECAY = 6, 0.9
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fsdp_command(spec_path: Path, config: str = "fsdp.yaml") -> list[str]:
    """What unix.launch builds for a 2-GPU FSDP job, on 2 CPU processes (the trainer finds no CUDA)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
            str(REPO / "profiles/accelerate" / config), "--num_processes", "2", "--num_machines", "1",
            "--machine_rank", "0", "--main_process_port", str(_free_port()), "--dynamo_backend", "no",
            "-m", "unix.training.run", str(spec_path)]


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and its ranks at once, as SLURM ends a job (torch's elastic agent starts each
    rank in its own session, so killing the launcher's process group would leave them running)."""
    import psutil

    launcher = psutil.Process(proc.pid)
    ranks = launcher.children(recursive=True)
    for p in [launcher, *ranks]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)
    psutil.wait_procs(ranks, timeout=30)


def _write_spec(tmp_path: Path, setup, name: str) -> tuple[dict, Path]:
    root, files = setup
    spec = _spec(root, files, "stage2", root / "init", tmp_path / name, steps=STEPS, batch_size=2,
                 ema_decay=DECAY, checkpoint_every=1, keep_checkpoints=STEPS)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return spec, path


def _reference_ema(init: Path, checkpoints: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """diffusers' EMA update (fixed decay, first step copies) replayed on the full raw weights that each
    step's checkpoint holds."""
    shadow = {k: v.clone() for k, v in _weights(init).items() if k in names}
    for step in range(1, STEPS + 1):
        raw = torch.load(checkpoints / f"step-{step:06d}" / "pytorch_model_fsdp.bin", weights_only=True)
        one_minus_decay = 1 - (0.0 if step == 1 else DECAY)
        for k in names:
            shadow[k].sub_(one_minus_decay * (shadow[k] - raw[f"model.{k}"]))
    return shadow


@pytest.fixture(scope="module")
def ddp_run(setup, tmp_path_factory) -> Path:
    """The reference: the same spec trained by 2 DDP processes (torchrun), shared by the FSDP1 and FSDP2 tests."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    _, ddp_spec = _write_spec(tmp_path, setup, "ddp")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "-m", "unix.training.run", str(ddp_spec)], check=True, capture_output=True, timeout=300,
                   env=ENV)
    return tmp_path / "ddp"


def _ema_checkpoint(checkpoints: Path) -> dict:
    """The GenerationEMA state that accelerate saved with the last step's checkpoint (a custom object)."""
    for path in sorted((checkpoints / f"step-{STEPS:06d}").glob("custom_checkpoint_*.pkl")):
        state = torch.load(path, weights_only=False)
        if isinstance(state, dict) and "shadow_params" in state:
            return state
    raise AssertionError(f"no EMA state among the custom checkpoints of {checkpoints}")


# Each: two 2-process launches (about 40 s on an idle 2-core machine, 2 min on a loaded one), plus the shared
# DDP run once.
@pytest.mark.slow
@pytest.mark.parametrize("config, version", [("fsdp.yaml", 1), ("fsdp2.yaml", 2)])
def test_fsdp_killed_and_resumed_matches_ddp_with_full_parameter_ema(setup, ddp_run, tmp_path, config, version):
    from unix.model import UniX

    root, _ = setup
    spec, fsdp_spec = _write_spec(tmp_path, setup, "fsdp")
    work = Path(spec["checkpoints"])
    proc = subprocess.Popen(_fsdp_command(fsdp_spec, config), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (work / "step-000002" / "COMPLETE").exists() and proc.poll() is None:
        time.sleep(0.01)
    _kill_tree(proc)
    assert (work / "step-000002" / "COMPLETE").exists()
    # On a loaded machine the run may get past step 2 before the kill lands: drop what it wrote after step
    # 2's checkpoint, so that the resumed run always has the same 4 steps to do.
    shutil.rmtree(spec["final"], ignore_errors=True)
    for later in range(3, STEPS + 1):
        shutil.rmtree(work / f"step-{later:06d}", ignore_errors=True)

    resumed = subprocess.run(_fsdp_command(fsdp_spec, config), env=ENV, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # accelerate alone would have trained plain data-parallel: the trainer switched it to FSDP.
    assert "switching to FSDP" in resumed.stderr
    summary = json.loads(Path(spec["summary"]).read_text())
    assert summary["hardware"]["distributed_type"] == "DistributedType.FSDP"
    assert summary["hardware"]["fsdp_version"] == version
    assert summary["hardware"]["num_processes"] == 2
    assert summary["resumed_from"].endswith("step-000002") and summary["steps_this_run"] == STEPS - 2

    fsdp_out = tmp_path / "fsdp"
    ddp_curve, fsdp_curve = _curve(ddp_run), _curve(fsdp_out)
    assert len(fsdp_curve) == STEPS
    torch.testing.assert_close(torch.tensor(fsdp_curve), torch.tensor(ddp_curve), rtol=1e-6, atol=0)
    ref, got = _weights(ddp_run / "final"), _weights(fsdp_out / "final")
    assert ref.keys() == got.keys()
    worst = max((ref[k] - got[k]).abs().max().item() for k in ref)
    assert worst <= 1e-6, f"FSDP{version} and DDP final weights differ by {worst}"

    # EMA: the final generation weights are the EMA of the full parameters, step by step.
    model = UniX.from_pretrained(root / "init")
    gen_ids = {id(p) for p in model.generation_parameters()}
    names = [n for n, p in model.named_parameters() if id(p) in gen_ids]
    expected = _reference_ema(root / "init", work, names)
    for k in names:
        assert got[k].shape == expected[k].shape, k  # full tensors, not one rank's shard
        assert torch.equal(got[k], expected[k]), k  # the same float ops on the same full values
    ema_worst = max((got[k] - expected[k]).abs().max().item() for k in names)
    raw = torch.load(work / f"step-{STEPS:06d}" / "pytorch_model_fsdp.bin", weights_only=True)
    assert any(not torch.equal(got[k], raw[f"model.{k}"]) for k in names)  # the EMA really was applied
    # The EMA checkpoint (what a resumed run continues from) holds the full averages, as DDP's does.
    ddp_ema, fsdp_ema = _ema_checkpoint(ddp_run / "checkpoints"), _ema_checkpoint(work)
    assert [t.shape for t in fsdp_ema["shadow_params"]] == [t.shape for t in ddp_ema["shadow_params"]]
    ckpt_worst = max((a - b).abs().max().item() for a, b in zip(fsdp_ema["shadow_params"], ddp_ema["shadow_params"]))
    print(f"FSDP{version} vs DDP: max |dw| {worst:.3g}; EMA checkpoint max |d| {ckpt_worst:.3g}; "
          f"EMA vs reference: max |dw| {ema_worst:.3g}")
    assert ckpt_worst <= 1e-6, f"FSDP{version} and DDP EMA checkpoints differ by {ckpt_worst}"


def test_torch_fsdp1_full_state_dict_offload_to_cpu_crashes_on_cpu(tmp_path):
    """The torch 2.13 bug behind ``fsdp_on_cpu``'s state-dict configs: a FULL_STATE_DICT with
    ``offload_to_cpu=True`` (what accelerate's save_state forces for every multi-process FSDP run) of CPU
    parameters reads freed memory, and rank 0 dies of SIGSEGV. When this test fails, torch has fixed it
    and the CPUPlugin workaround can go."""
    script = tmp_path / "offload.py"
    script.write_text(
        "import torch, torch.distributed as dist\n"
        "from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, StateDictType, FullStateDictConfig\n"
        "dist.init_process_group('gloo')\n"
        "m = FSDP(torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 2)),\n"
        "         device_id=torch.device('cpu'), use_orig_params=True)\n"
        "m(torch.randn(4, 64)).sum().backward()\n"
        "cfg = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)\n"
        "with FSDP.state_dict_type(m, StateDictType.FULL_STATE_DICT, cfg):\n"
        "    sd = m.state_dict()\n"
        "print('rank', dist.get_rank(), 'saved', len(sd), flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode != 0
    assert "rank 1 saved 0" in out.stdout  # the non-main rank is fine
    assert "rank 0 saved" not in out.stdout and "exitcode: -11" in out.stderr  # SIGSEGV on rank 0

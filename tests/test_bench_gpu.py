"""benchmarks/bench_gpu.py runs end to end at tiny size on CPU (the GPU figures need a GPU: README)."""

from __future__ import annotations

import importlib.util
import json
import sys

from conftest import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # torch.compile's tracing of the mask_mod imports it by name
    spec.loader.exec_module(module)
    return module


def test_bench_gpu_runs_tiny_on_cpu(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    results = _bench().main(["--size", "tiny", "--device", "cpu", "--steps", "1", "--warmup", "0", "--reps", "1",
                             "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert [r["stage"] for r in results["steps"]] == ["stage1", "stage2", "stage3"]
    for r in results["steps"]:
        assert r["step_s"] > 0 and r["tokens_per_s"] > 0 and r["peak_memory_gib"] > 0
        assert r["mfu"] is None  # no peak FLOPs known for a CPU
        assert r["sdpa_kernels"], "the profiler saw no SDPA kernel"
        assert "math" in r["sdpa_backends_accepting_dense_mask"]
    for r in results["attention"]:
        assert r["masks_equal"], f"{r['stage']}: the FlexAttention mask_mod differs from build_mask"
        assert r["max_abs_diff"] < 1e-5
    assert "masks equal True" in capsys.readouterr().out


def test_flex_mask_mod_matches_build_mask_with_padding_and_latents():
    import torch
    from torch.nn.attention.flex_attention import create_mask

    bench = _bench()
    valid = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    block = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [0, 2, 2, 0, 0, 0, 0]])
    for lay in ({"valid": valid, "block": block, "n_gen": 0}, {"valid": valid, "block": None, "n_gen": 3}):
        S = valid.shape[1] + lay["n_gen"]
        flex = create_mask(bench.mask_mod_for(lay), 2, 1, S, S, device="cpu")
        assert torch.equal(flex, bench.dense_mask(lay))

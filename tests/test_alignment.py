"""Alignment score end to end in its own environment (.venv-alignment, made by `make install-test`): a random
BioViL-T in the published layout, loaded and scored by hi-ml-multimodal 0.2.2, against CheXGenBench's own calls."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO
from unix.evaluation import read_metrics

PYTHON = REPO / ".venv-alignment" / "bin" / "python"
PROMPTS = ["Small left pleural effusion.", "No acute cardiopulmonary process", "Mild cardiomegaly. Edema.",
           "Large right pneumothorax!", "Normal heart size.", "Left lung base opacity."]

# CheXGenBench's metrics/img_text_alignment_scores.py with hi-ml's own loaders, pointed at the local stand-in
# (hi-ml would download from the hub): get_bert_inference(), get_image_inference(), the scoring loop.
CHEXGENBENCH = """
import json, sys
from pathlib import Path
import numpy as np
import health_multimodal.image.model.pretrained as pretrained
import health_multimodal.text.utils as text_utils
from health_multimodal.image import get_image_inference
from health_multimodal.text import get_bert_inference
from health_multimodal.vlp import ImageTextInferenceEngine

weights, images, prompts = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
text_utils.BIOMED_VLP_BIOVIL_T = str(weights)
pretrained._download_biovil_t_image_model_weights = lambda: weights / pretrained.BIOVIL_T_IMAGE_WEIGHTS_NAME
engine = ImageTextInferenceEngine(image_inference_engine=get_image_inference(),
                                  text_inference_engine=get_bert_inference())
scores = [round(engine.get_similarity_score_from_raw_data(Path(p), t), 3) for p, t in zip(images, prompts)]
print(json.dumps({"scores": scores, "mean": round(np.mean(scores, axis=0), 3)}))
"""


def run(*args: str, timeout: int = 600) -> str:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: `make install-test` creates the alignment environment")
    proc = subprocess.run([str(PYTHON), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def image_shards(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    rows = []
    for i, prompt in enumerate(PROMPTS):
        b = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64 + 8 * i, 64), dtype=np.uint8)).save(b, format="PNG")
        rows.append({"dicom_id": f"d{i}", "prompt": prompt, "image": b.getvalue()})
    paths = []
    for s in range(2):
        paths.append(str(tmp_path / f"shard{s}.parquet"))
        pd.DataFrame(rows[s::2]).to_parquet(paths[-1])
    return paths


@pytest.mark.slow
def test_alignment_score_equals_chexgenbench_with_random_biovil_t(tmp_path) -> None:
    from unix.evaluation.environments import run_step_in

    weights = tmp_path / "BiomedVLP-BioViL-T"
    run("-c", f"from unix.evaluation.demo_weights import write_demo_biovil_t as w; w({str(weights)!r})")
    assert {"config.json", "pytorch_model.bin", "vocab.txt", "biovil_t_image_model_proj_size_128.pt"} <= {
        p.name for p in weights.iterdir()}
    shards = image_shards(tmp_path)
    out = tmp_path / "alignment.json"
    # as rule evaluate_alignment runs it with config evaluation.interpreters.alignment set
    result = run_step_in("alignment", str(PYTHON), image_shards=shards, out=str(out), model="unix-512",
                         biovil_t=str(weights), device="cpu")
    assert result["environment"]["packages"]["hi-ml-multimodal"] == "0.2.2"
    assert result["environment"]["interpreter"] == str(PYTHON)
    rec = read_metrics(out)
    assert not rec.not_computed and rec.counts["n_images"] == len(PROMPTS)
    assert rec.meta["image_weights_match_published"] is False  # a stand-in, not the published checkpoint
    assert rec.meta["warnings"] == ["alignment score: BioViL-T is a randomly initialised stand-in in the published "
                                    "layout (demo): the number exercises the real hi-ml-multimodal code path and "
                                    "means nothing"]

    # the same images (shard order) written as files, scored by CheXGenBench's calls
    table = pd.concat([pd.read_parquet(p) for p in shards])
    files = []
    for d, b in zip(table["dicom_id"], table["image"]):
        files.append(str(tmp_path / f"{d}.png"))
        (tmp_path / f"{d}.png").write_bytes(b)
    ref = json.loads(run("-c", CHEXGENBENCH, str(weights), json.dumps(files),
                         json.dumps(table["prompt"].tolist())).strip().splitlines()[-1])
    assert rec.values["alignment_score"] == ref["mean"] == rec.values["full/alignment_score"]
    assert len(set(ref["scores"])) > 1 and all(-1 <= s <= 1 for s in ref["scores"])


def test_alignment_without_weights_is_not_computed_with_the_reason(tmp_path) -> None:
    shards = image_shards(tmp_path)
    out = tmp_path / "alignment.json"
    run("-c", "from unix.evaluation.alignment import evaluate_alignment_step as s; "
        f"s({shards!r}, {str(out)!r}, model='unix-512', biovil_t={str(tmp_path)!r}, device='cpu')")
    reason = read_metrics(out).not_computed["alignment_score"]
    assert reason.startswith(f"BioViL-T weights incomplete at {tmp_path} (config weights.biovil_t): missing")


def test_generation_and_understanding_files_carry_the_separate_rules_results(tmp_path) -> None:
    from unix.evaluation import write_metrics
    from unix.evaluation.steps import merge_metric

    path = tmp_path / "alignment.json"
    write_metrics(path, {"alignment_score": 0.123, "full/alignment_score": 0.123}, meta={"model": "unix-512"})
    values, not_computed = {}, {}
    for name in ("alignment_score", "full/alignment_score"):
        merge_metric(str(path), name, values, not_computed)
    assert values == {"alignment_score": 0.123, "full/alignment_score": 0.123} and not not_computed
    with pytest.raises(ValueError, match="neither a value nor a not-computed reason for 'radgraph_f1'; rerun"):
        merge_metric(str(path), "radgraph_f1", values, not_computed)

"""The evaluation steps end to end on a tiny model and a tiny test split (what the rules run)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from unix.data.mimic import CHEXPERT_LABELS
from unix.evaluation import read_metrics
from unix.evaluation.alignment import evaluate_alignment_step
from unix.evaluation.radgraph import evaluate_radgraph_step
from unix.evaluation.steps import (evaluate_generation_step, evaluate_per_pathology_step,
                                   evaluate_understanding_step, extract_features_step, generate_images_step,
                                   generate_reports_step)

REPORTS = ["FINDINGS: The lungs are clear. No pleural effusion. IMPRESSION: No acute process.",
           "FINDINGS: Small left pleural effusion with adjacent atelectasis. IMPRESSION: Effusion.",
           "FINDINGS: Cardiomegaly with mild pulmonary edema. IMPRESSION: Edema."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from unix.model import UniX, UniXConfig
    from unix.model.tokenizer import special_token_ids, train_tokenizer

    tokenizer = train_tokenizer(REPORTS * 30, 400)
    torch.manual_seed(0)
    model = UniX(UniXConfig.from_name("tiny", vocab_size=len(tokenizer), **special_token_ids(tokenizer)))
    d = tmp_path_factory.mktemp("model")
    model.save_pretrained(d)
    tokenizer.save_pretrained(str(d))
    return str(d)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A generation split with 12 test rows (one duplicate prompt), their JPEGs (one corrupt), labels."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(13):
        path = f"files/p10/p100/s{i}/d{i}.jpg"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        if i == 5:
            (root / path).write_bytes(b"not a jpeg")
        else:
            Image.fromarray(rng.integers(0, 256, (80, 64), dtype=np.uint8)).save(root / path)
        labels = {c: np.nan for c in CHEXPERT_LABELS}
        labels["Edema"] = 1.0 if i % 2 else 0.0
        labels["Cardiomegaly"] = 1.0 if i < 3 else np.nan
        rows.append({"dicom_id": f"d{i}", "study_id": i, "split": "test", "image_path": path,
                     "prompt": REPORTS[i % 3] + f" case {i if i != 12 else 0}", **labels})
    rows.append({**rows[0], "dicom_id": "train0", "split": "train"})
    split = pd.DataFrame(rows)
    split.to_parquet(root / "gen_split.parquet")
    return root


def test_generated_images_do_not_depend_on_the_number_of_shards(model_dir, data, tmp_path) -> None:
    split = str(data / "gen_split.parquet")
    one = tmp_path / "one.parquet"
    generate_images_step(model_dir, split, 0, 1, str(one), seed=3, image_size=32, device="cpu")
    parts = []
    for shard in range(3):
        out = tmp_path / f"part{shard}.parquet"
        info = generate_images_step(model_dir, split, shard, 3, str(out), seed=3, image_size=32, device="cpu")
        parts.append(pd.read_parquet(out))
        assert info["n_images"] == 4
    whole, joined = pd.read_parquet(one), pd.concat(parts, ignore_index=True)
    assert len(whole) == 12 and "d12" not in set(whole["dicom_id"])  # dedup by prompt: d12 repeats d0's prompt
    assert whole["dicom_id"].tolist() == joined["dicom_id"].tolist()
    for a, b in zip(whole["image"], joined["image"]):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(a))), np.asarray(Image.open(io.BytesIO(b))))


def test_generation_metrics_from_features(model_dir, data, tmp_path) -> None:
    from unix.model.demo_weights import write_demo_raddino

    split = str(data / "gen_split.parquet")
    raddino = str(write_demo_raddino(tmp_path / "raddino"))
    shards = [str(tmp_path / f"img{s}.parquet") for s in range(2)]
    for s, out in enumerate(shards):
        generate_images_step(model_dir, split, s, 2, out, seed=0, image_size=32, device="cpu")
    real, fake = str(tmp_path / "real.npz"), str(tmp_path / "fake.npz")
    info = extract_features_step(real, raddino, split_path=split, images_root=str(data), device="cpu")
    assert info["n_images"] == 12 and info["n_unreadable"] == 1  # the corrupt JPEG is scored black
    extract_features_step(fake, raddino, image_shards=shards, device="cpu")

    alignment = tmp_path / "alignment.json"
    evaluate_alignment_step(shards, str(alignment), model="unix-512", biovil_t="", device="cpu")
    assert read_metrics(alignment).counts["n_images"] == 12
    out = tmp_path / "generation.json"
    evaluate_generation_step(real, fake, str(out), model="unix-512", shards=4, kd_subsets=3, prdc_k=2,
                             alignment_metrics=str(alignment))
    rec = read_metrics(out)
    assert rec.counts["n_real"] == 12 and rec.counts["shard3/n_real"] == 3
    for name in ("fd_raddino", "kd_raddino", "precision", "recall", "density", "coverage"):
        assert name in rec.values and f"full/{name}" in rec.values
    assert rec.values["fd_raddino"] == round(np.mean([rec.values[f"shard{i}/fd_raddino"] for i in range(4)]), 3)
    # hi-ml-multimodal lives in envs/alignment.yaml only (tests/test_alignment.py runs it); the reason is carried over
    assert rec.not_computed["alignment_score"].startswith("hi-ml-multimodal (health_multimodal) is not installed")
    assert rec.not_computed["full/alignment_score"] == rec.not_computed["alignment_score"]

    out = tmp_path / "per_pathology.json"
    evaluate_per_pathology_step(real, fake, split, str(out), model="unix-512")
    rec = read_metrics(out)
    assert rec.counts["n_real/Edema"] == 6 and "fd_raddino/Edema" in rec.values
    assert rec.counts["n_real/Cardiomegaly"] == 3 and "fd_raddino/Atelectasis" in rec.not_computed
    assert any("Edema: 6 images < feature width" in w for w in rec.meta["warnings"])


def test_reports_and_understanding_metrics(model_dir, tmp_path) -> None:
    rows = [{"dicom_id": f"u{i}", "study_id": i, "split": "test" if i < 4 else "train", "findings": "Clear lungs.",
             "impression": "Normal."} for i in range(6)]
    pd.DataFrame(rows).to_parquet(tmp_path / "und.parquet")
    pd.DataFrame({"study_id": [0, 1], "cleaned_text": [REPORTS[1], ""]}).to_parquet(tmp_path / "reports.parquet")
    buf = []
    for i in range(6):
        b = io.BytesIO()
        Image.fromarray(np.full((48, 48), 40 * i, dtype=np.uint8)).save(b, format="PNG")
        buf.append(b.getvalue())
    pd.DataFrame({"dicom_id": [f"u{i}" for i in range(6)], "image": buf}).to_parquet(tmp_path / "shard.parquet")

    out = tmp_path / "reports_out.parquet"
    info = generate_reports_step(model_dir, str(tmp_path / "und.parquet"), str(tmp_path / "reports.parquet"),
                                 [str(tmp_path / "shard.parquet")], str(out), device="cpu",
                                 generation_kwargs={"max_new_tokens": 8})
    df = pd.read_parquet(out)
    assert info["n_reports"] == 4 and df["dicom_id"].tolist() == ["u0", "u1", "u2", "u3"]
    assert df["reference"][0] == REPORTS[1] and df["reference"][1] == "FINDINGS: Clear lungs. IMPRESSION: Normal."

    df["generated"] = df["reference"]  # a generator that copies the reference
    df.to_parquet(out)
    metrics = tmp_path / "understanding.json"
    radgraph = tmp_path / "radgraph.json"
    evaluate_radgraph_step(str(out), str(radgraph), model="unix", radgraph="")
    evaluate_understanding_step(str(out), str(metrics), model="unix", labeler="rules", device="cpu",
                                radgraph_metrics=str(radgraph))
    rec = read_metrics(metrics)
    assert rec.values["micro_f1_14_uncertain_pos"] == pytest.approx(1.0)
    assert rec.values["bleu4"] == pytest.approx(1.0) and rec.values["rougeL"] == pytest.approx(1.0)
    assert rec.not_computed["radgraph_f1"].startswith("the radgraph package is not installed")
    assert rec.meta["labeler"] == "rules" and rec.meta["tokenizer"].startswith("nltk word_tokenize (punkt_tab")

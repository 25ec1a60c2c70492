"""The paper's protocol (dedup, 4-shard mean, per-pathology subsets) and sanity checks that the metrics respond."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unix.data.mimic import CHEXPERT_LABELS
from unix.evaluation import chexbert_f1, frechet_distance, label_reports, prdc
from unix.evaluation.protocol import (alignment_mean, dedup_by_prompt, generation_metrics, image_metrics, image_seed,
                                      pathology_subsets, per_pathology_fd, shard_slices)


def test_dedup_keeps_the_first_row_of_each_prompt() -> None:
    df = pd.DataFrame({"dicom_id": list("abcde"), "prompt": ["p1", "p2", "p1", "p3", "p2"]})
    assert dedup_by_prompt(df)["dicom_id"].tolist() == ["a", "b", "d"]
    with pytest.raises(ValueError, match="annotated_prompt"):
        dedup_by_prompt(df, "annotated_prompt")


@pytest.mark.parametrize("n,k", [(4352, 4), (10, 4), (7, 3), (5, 1)])
def test_shards_are_np_array_split(n: int, k: int) -> None:
    idx = np.arange(n)
    assert [idx[s].tolist() for s in shard_slices(n, k)] == [a.tolist() for a in np.array_split(idx, k)]


def test_image_seed_depends_on_the_image_only() -> None:
    ids = [f"d{i}" for i in range(100)]
    seeds = [image_seed(0, i) for i in ids]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert image_seed(0, "d7") == seeds[7] and image_seed(1, "d7") != seeds[7]


def test_generation_metrics_are_the_mean_of_rounded_shard_values() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((90, 6)), rng.standard_normal((90, 6)) + 0.3
    values, counts, not_computed = generation_metrics(real, fake, n_shards=4, kd_subsets=5, prdc_k=3)
    assert not_computed == {}
    shards = shard_slices(90, 4)
    per = [image_metrics(real[s], fake[s], kd_subsets=5, prdc_k=3)[0] for s in shards]
    for name in ("fd_raddino", "kd_raddino", "precision", "recall", "density", "coverage"):
        assert values[name] == round(np.mean([round(p[name], 3) for p in per]), 3)
        assert values[f"shard2/{name}"] == round(per[2][name], 3)
    assert values["full/fd_raddino"] == pytest.approx(frechet_distance(real, fake))
    assert counts["n_real"] == 90 and counts["shard0/n_real"] == 23 and counts["shard3/n_fake"] == 22
    with pytest.raises(ValueError, match="one image per prompt"):
        generation_metrics(real, fake[:80])


def test_too_small_shards_leave_prdc_not_computed_with_the_reason() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((22, 4)), rng.standard_normal((22, 4))
    values, _, not_computed = generation_metrics(real, fake, n_shards=4, kd_subsets=2, prdc_k=5)
    assert "fd_raddino" in values and "full/precision" in values  # the full set has 22 > 5 images
    assert "precision" not in values and "5 images per set" in not_computed["precision"]
    with pytest.raises(ValueError, match="evaluation.shards"):
        generation_metrics(real[:5], fake[:5], n_shards=4)


def test_alignment_mean_rounds_each_score_first() -> None:
    assert alignment_mean([0.1234, 0.1236, 0.5]) == round((0.123 + 0.124 + 0.5) / 3, 3)


def test_per_pathology_subsets_use_label_one_only() -> None:
    df = pd.DataFrame({"prompt": [f"p{i}" for i in range(6)], **{c: np.nan for c in CHEXPERT_LABELS}})
    df["Edema"] = [1.0, -1.0, 0.0, np.nan, 1.0, 1.0]
    df["Fracture"] = [np.nan, 1.0, np.nan, np.nan, np.nan, np.nan]
    subsets = pathology_subsets(df)
    assert subsets["Edema"].tolist() == [0, 4, 5] and subsets["Fracture"].tolist() == [1]
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    values, counts, not_computed, warnings = per_pathology_fd(real, fake, subsets)
    assert values["fd_raddino/Edema"] == round(frechet_distance(real[[0, 4, 5]], fake[[0, 4, 5]]), 3)
    assert counts["n_real/Edema"] == 3 and "fd_raddino/Fracture" in not_computed
    assert any(w.startswith("Edema: 3 images < feature width 4") for w in warnings)
    with pytest.raises(ValueError, match="duplicate prompts"):
        pathology_subsets(pd.concat([df, df]))


# ---- sanity: the metrics respond to what they should, on the demo's synthetic radiographs -------------------------


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    from PIL import Image

    from unix.data.radiograph import Anatomy, Findings, render, to_uint8
    from unix.evaluation.raddino import load_raddino, raddino_features
    from unix.model.demo_weights import write_demo_raddino

    model, processor = load_raddino(write_demo_raddino(tmp_path_factory.mktemp("rd") / "raddino", seed=0))
    rng = np.random.default_rng(0)
    real = [Image.fromarray(to_uint8(render("PA", 128, 128, Anatomy.sample(rng), Findings(), rng)))
            for _ in range(80)]
    noise = [Image.fromarray(rng.integers(0, 256, (128, 128), dtype=np.uint8)) for _ in range(40)]
    return raddino_features(real, model, processor), raddino_features(noise, model, processor)


def test_real_vs_real_halves_are_close_and_real_vs_noise_far(demo_features) -> None:
    real, noise = demo_features
    a, b = real[:40], real[40:]
    fd_same, fd_noise = frechet_distance(a, b), frechet_distance(a, noise)
    assert fd_noise > 10 * fd_same
    same, far = prdc(a, b, k=5), prdc(a, noise, k=5)
    assert same["precision"] >= 0.8 and same["recall"] >= 0.8
    assert far["precision"] <= 0.05 and far["coverage"] <= 0.05


def test_report_generators_score_as_expected() -> None:
    refs = ["Moderate cardiomegaly. Small left pleural effusion.", "No pneumothorax. Possible pneumonia.",
            "No acute cardiopulmonary process.", "Mild pulmonary edema. Bibasilar atelectasis."]
    y_true = label_reports(refs, "rules")
    copied = chexbert_f1(y_true, label_reports(refs, "rules"))
    assert copied["micro_f1_14_uncertain_neg"] == pytest.approx(1.0) and copied["micro_f1_5_uncertain_pos"] == pytest.approx(1.0)
    # macro: a finding absent from every reference scores 0 (UniX's formula), the present ones 1
    assert copied["macro_f1_14_uncertain_pos"] == pytest.approx(np.isin(y_true, (1.0, -1.0)).any(0).mean())
    y_pred = label_reports(["No acute cardiopulmonary process."] * len(refs), "rules")
    got = chexbert_f1(y_true, y_pred)
    # No Finding: TP 1 (report 3), FP 3; the other findings present in the references are all missed
    n_present_neg = int((y_true == 1.0).sum())  # includes the one No Finding
    n_present_pos = int(np.isin(y_true, (1.0, -1.0)).sum())
    assert got["micro_f1_14_uncertain_neg"] == pytest.approx(1 / (1 + 0.5 * (3 + n_present_neg - 1)), abs=1e-9)
    assert got["micro_f1_14_uncertain_pos"] == pytest.approx(1 / (1 + 0.5 * (3 + n_present_pos - 1)), abs=1e-9)
    assert got["macro_f1_14_uncertain_neg"] == pytest.approx((1 / (1 + 0.5 * 3)) / 14, abs=1e-9)

"""The evaluation steps behind the rules, as plain functions (usable and tested without Snakemake).

Each returns a dict of extra provenance (counts, settings) that `unix.pipeline.run_step` records.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from unix.data.mimic import CHEXPERT_LABELS
from unix.data.reports import format_report
from unix.evaluation.protocol import dedup_by_prompt, image_seed, shard_slices
from unix.evaluation.results import NotComputedError, write_metrics
from unix.evaluation.test_data import describe, describe_split

log = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when available, else cpu."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# ------------------------------------------------------------------------------------------- test sets


def understanding_test_set(split_path: str | Path, reports_path: str | Path | None, limit: int = 0) -> pd.DataFrame:
    """Test rows of the understanding split with their reference report (the cleaned report, as in training;
    the split's own FINDINGS/IMPRESSION when cleaning gave none). Columns: dicom_id, study_id, reference."""
    split = pd.read_parquet(split_path)
    test = split[split["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise ValueError(f"{split_path} has no test rows; the understanding evaluation needs the official test split")
    cleaned: dict[int, str] = {}
    if reports_path:
        rep = pd.read_parquet(reports_path, columns=["study_id", "cleaned_text"])
        cleaned = {int(s): str(t) for s, t in zip(rep["study_id"], rep["cleaned_text"]) if str(t).strip()}
    refs = [cleaned.get(int(s)) or format_report(str(f or ""), str(i or ""))
            for s, f, i in zip(test["study_id"], test["findings"], test["impression"])]
    out = pd.DataFrame({"dicom_id": test["dicom_id"].astype(str), "study_id": test["study_id"], "reference": refs})
    out = out[out["reference"].str.strip() != ""].reset_index(drop=True)
    return out.head(limit) if limit else out


def generation_test_set(split_path: str | Path, limit: int = 0) -> pd.DataFrame:
    """Test rows of the generation split, deduplicated by prompt (first kept), in split order."""
    split = pd.read_parquet(split_path)
    test = dedup_by_prompt(split[split["split"] == "test"])
    if test.empty:
        raise ValueError(f"{split_path} has no test rows; the generation evaluation needs the test split")
    return test.head(limit) if limit else test


# ------------------------------------------------------------------------------------------- generation


def _split_inputs(split_path: str, reports_path: str | None, image_paths: Sequence[str], limit: int):
    """Our understanding split: test rows, their prepared images, no per-row prompt."""
    from unix.data.images import read_images

    test = understanding_test_set(split_path, reports_path, limit)
    images = read_images(image_paths, dicom_ids=test["dicom_id"])
    missing = sorted(set(test["dicom_id"]) - set(images))
    if missing:
        raise ValueError(f"{len(missing)} test images are not in the prepared shards (first: {missing[:3]}); "
                         "rerun prepare_images")
    test["test_set"] = describe_split(len(test))
    return test, [images[d].convert("RGB") for d in test["dicom_id"]], None


def _test_data_inputs(test_data: str, images_root: str, limit: int):
    """UniX's test_data.json: its items, their original JPEGs and their own prompts."""
    from PIL import Image

    from unix.evaluation.test_data import MalformedTestData, read_test_data

    table = read_test_data(test_data, images_root)
    test = table.head(limit) if limit else table
    images = []
    for index, rel in zip(test["item"], test["image_path"]):
        try:
            with Image.open(Path(images_root) / rel) as img:
                images.append(img.convert("RGB"))
        except OSError as err:
            raise MalformedTestData(f"{test_data}: item {index}: image {Path(images_root) / rel} is unreadable "
                                    f"({err})") from err
    test = test.assign(test_set=describe(test_data, len(test), len(table)))
    return test, images, test["prompt"].tolist()


def generate_reports_step(model_dir: str, split_path: str | None, reports_path: str | None,
                          image_paths: Sequence[str], out: str, prompt: str = "", batch_size: int = 8,
                          device: str = "auto", limit: int = 0, generation_kwargs: dict[str, Any] | None = None,
                          test_data: str = "", images_root: str = "", dtype: str = "auto",
                          compile: bool = False, blank_images: bool = False) -> dict[str, Any]:
    """One report per understanding test image -> parquet (dicom_id, study_id, reference, generated, test_set).

    Default: the test rows of our understanding split, with `prompt` (or the model's default) for every
    image. With `test_data` (UniX's test_data.json, evaluation.understanding_test_set): exactly its items,
    each with its own prompt and reference, images read from `images_root` (the MIMIC-CXR-JPG root).
    `blank_images`: every image is replaced by a black one of its size (the text-only control model).
    """
    # The question Stage 1 trains with (unix.training.data.UniXBatcher): asking another one scores a model on a
    # prompt it never saw.
    from unix.model.inference import DEFAULT_REPORT_PROMPT, generate_reports, load_model

    if test_data:
        test, images, prompts = _test_data_inputs(test_data, images_root, limit)
    else:
        test, images, prompts = _split_inputs(split_path, reports_path, image_paths, limit)
    if blank_images:
        from unix.training.data import blank_like

        images = [blank_like(image) for image in images]
    model, tokenizer = load_model(model_dir, resolve_device(device), task="reports", dtype=dtype, compile=compile)
    texts = generate_reports(model, tokenizer, images, prompts or prompt or DEFAULT_REPORT_PROMPT,
                             batch_size=batch_size, **(generation_kwargs or {}))
    test["generated"] = texts
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    test.to_parquet(out, index=False)
    return {"n_reports": len(test), "test_set": test["test_set"].iloc[0] if len(test) else "",
            "prompt": "per item (test_data.json)" if prompts else prompt or DEFAULT_REPORT_PROMPT,
            "n_empty_generated": int(sum(not t.strip() for t in texts)), "blank_images": blank_images}


def generate_images_step(model_dir: str, split_path: str, shard: int, n_shards: int, out: str, seed: int,
                         image_size: int, batch_size: int = 8, device: str = "auto", limit: int = 0,
                         sampling: dict[str, Any] | None = None, dtype: str = "auto",
                         compile: bool = False) -> dict[str, Any]:
    """Shard `shard` of the generation test set -> parquet (dicom_id, prompt, seed, image PNG bytes).

    Each image's noise seed comes from (seed, dicom_id) only, so the images do not depend on `n_shards`.
    """
    from unix.model.inference import generate_images, load_model

    test = generation_test_set(split_path, limit)
    rows = test.iloc[shard_slices(len(test), n_shards)[shard]]
    seeds = [image_seed(seed, d) for d in rows["dicom_id"]]
    images = []
    if len(rows):
        model, tokenizer = load_model(model_dir, resolve_device(device), task="images", dtype=dtype,
                                      compile=compile)
        kwargs = {**(sampling or {}), "image_size": image_size}
        images = generate_images(model, tokenizer, rows["prompt"].tolist(), seeds, batch_size=batch_size, **kwargs)
    png = []
    for img in images:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        png.append(buf.getvalue())
    table = pd.DataFrame({"dicom_id": rows["dicom_id"].astype(str).tolist(), "prompt": rows["prompt"].tolist(),
                          "seed": seeds, "image": png})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    return {"n_images": len(table), "shard": shard, "n_shards": n_shards, "image_size": image_size}


# ------------------------------------------------------------------------------------------- features


def _open_or_none(path: Path):
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
        return img
    except (OSError, ValueError) as err:
        log.warning("unreadable image %s (%s): scored as a black image, as CheXGenBench does", path, err)
        return None


def extract_features_step(out: str, raddino_dir: str, *, split_path: str | None = None, images_root: str | None = None,
                          image_shards: Sequence[str] = (), batch_size: int = 32, device: str = "auto"
                          ) -> dict[str, Any]:
    """RadDino features of one image set -> npz (ids, features).

    Real set: the original MIMIC-CXR-JPG files of the deduplicated generation test set (CheXGenBench resizes
    the originals); generated set: the images in `image_shards`.
    """
    from PIL import Image

    from unix.evaluation.raddino import load_raddino, raddino_features

    model, processor = load_raddino(raddino_dir, resolve_device(device))
    if split_path is not None:
        test = generation_test_set(split_path)
        ids = test["dicom_id"].astype(str).tolist()
        images = [_open_or_none(Path(images_root) / p) for p in test["image_path"]]
    else:
        ids, images = [], []
        for path in image_shards:
            table = pd.read_parquet(path, columns=["dicom_id", "image"])
            ids += table["dicom_id"].astype(str).tolist()
            images += [Image.open(io.BytesIO(b)) for b in table["image"]]
    unreadable = sum(img is None for img in images)
    feats = raddino_features(images, model, processor, batch_size=batch_size)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, ids=np.asarray(ids), features=feats)
    return {"n_images": len(ids), "n_unreadable": unreadable, "feature_dim": int(feats.shape[1])}


def load_features(path: str) -> tuple[list[str], np.ndarray]:
    with np.load(path) as data:
        return [str(x) for x in data["ids"]], data["features"]


def paired_features(real_path: str, fake_path: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Real and generated features row-aligned on the generated set's ids (in real-set order)."""
    real_ids, real = load_features(real_path)
    fake_ids, fake = load_features(fake_path)
    fake_pos = {d: i for i, d in enumerate(fake_ids)}
    known = set(real_ids)
    missing = [d for d in fake_ids if d not in known]
    if missing:
        raise ValueError(f"{len(missing)} generated images have no real counterpart in {real_path} "
                         f"(first: {missing[:3]}); rerun extract_features for the real set")
    ids = [d for d in real_ids if d in fake_pos]
    real_pos = {d: i for i, d in enumerate(real_ids)}
    return ids, real[[real_pos[d] for d in ids]], fake[[fake_pos[d] for d in ids]]


# ------------------------------------------------------------------------------------------- metrics


def _test_set_of(reports: pd.DataFrame) -> str:
    """Which test set generated reports come from (the `test_set` column generate_reports writes)."""
    if "test_set" not in reports.columns or reports.empty:
        return "not recorded (reports written before the test set was recorded)"
    return str(reports["test_set"].iloc[0])


def merge_metric(metrics_path: str, name: str, values: dict[str, float], not_computed: dict[str, str],
                 warnings: list[str] | None = None) -> None:
    """Copy metric `name` (its value or its not-computed reason) from another rule's metrics file, and that
    file's warnings (e.g. "random stand-in weights") into `warnings` when given."""
    from unix.evaluation.results import read_metrics

    record = read_metrics(metrics_path)
    if warnings is not None:
        warnings.extend(w for w in record.meta.get("warnings", []) or [] if w not in warnings)
    if name in record.values:
        values[name] = record.values[name]
    elif name in record.not_computed:
        not_computed[name] = record.not_computed[name]
    else:
        raise ValueError(f"{metrics_path} has neither a value nor a not-computed reason for {name!r}; rerun its rule")


def evaluate_understanding_step(reports_path: str, out: str, *, model: str, labeler: str, chexbert: str = "",
                                bert_dir: str = "", radgraph_metrics: str = "", device: str = "auto",
                                seed: int = 0, rouge_bootstrap: int = 500) -> dict[str, Any]:
    """Table-2 metrics of generated reports -> metrics JSON (RadGraph F1 from rule evaluate_radgraph's file)."""
    from unix.evaluation.label_f1 import chexbert_f1, per_finding_f1
    from unix.evaluation.text_metrics import TOKENIZER, bleu4, rouge_l
    from unix.labels import label_reports

    df = pd.read_parquet(reports_path)
    refs, hyps = df["reference"].tolist(), df["generated"].fillna("").tolist()
    dev = resolve_device(device)
    y_true = label_reports(refs, labeler, chexbert, bert_dir, dev)
    y_pred = label_reports(hyps, labeler, chexbert, bert_dir, dev)
    values: dict[str, float] = {**chexbert_f1(y_true, y_pred),
                                **rouge_l(refs, hyps, bootstrap=rouge_bootstrap, seed=seed)}
    for mode in ("negative", "positive"):
        for name, v in per_finding_f1(y_true, y_pred, mode).items():
            values[f"f1_uncertain_{mode[:3]}/{name}"] = v
    not_computed: dict[str, str] = {}
    try:
        values["bleu4"] = bleu4(refs, hyps)
    except NotComputedError as err:
        not_computed["bleu4"] = str(err)
    warnings: list[str] = []
    if radgraph_metrics:
        merge_metric(radgraph_metrics, "radgraph_f1", values, not_computed, warnings)
    else:
        not_computed["radgraph_f1"] = "no RadGraph metrics file given (rule evaluate_radgraph computes it)"
    meta = {"model": model, "labeler": labeler, "labeler_note": "rules = offline approximation of CheXbert; not "
            "comparable to the paper's numbers" if labeler == "rules" else "CheXbert (chexbert.pth)",
            "protocol": "UniX eval/und_metrics: 512-character CheXbert input, F1 = TP/(TP+(FP+FN)/2+1e-10)",
            "tokenizer": TOKENIZER, "rouge": "rougeL = mean F; UniX reports a 500-sample bootstrap median",
            "seed": seed, "test_set": _test_set_of(df), "warnings": warnings}
    counts = {"n_reports": len(df), "n_empty_generated": int(sum(not h.strip() for h in hyps))}
    write_metrics(out, values, counts, not_computed, meta)
    return {"counts": counts, "not_computed": not_computed}


def evaluate_generation_step(real_features: str, fake_features: str, out: str, *,
                             model: str, shards: int = 4, kd_subsets: int = 100, prdc_k: int = 5, seed: int = 0,
                             alignment_metrics: str = "") -> dict[str, Any]:
    """Table-3 metrics -> metrics JSON: the 4-shard mean (plain names), full set (full/...), each shard.

    The alignment score comes from rule evaluate_alignment's file (it runs in its own environment)."""
    from unix.evaluation.protocol import generation_metrics

    ids, real, fake = paired_features(real_features, fake_features)
    if len(ids) < 2 * shards:
        raise ValueError(f"only {len(ids)} generated images for {shards} metric shards; lower evaluation.shards "
                         "or evaluate more test rows")
    values, counts, not_computed = generation_metrics(real, fake, shards, kd_subsets, prdc_k, seed)
    warnings: list[str] = []
    for name in ("alignment_score", "full/alignment_score"):
        if alignment_metrics:
            merge_metric(alignment_metrics, name, values, not_computed, warnings)
        else:
            not_computed[name] = "no alignment metrics file given (rule evaluate_alignment computes it)"
    meta = {"model": model, "features": "RadDino pooler_output, CheXGenBench preprocessing",
            "protocol": f"CheXGenBench: dedup by prompt; plain names = mean of {shards} shard values rounded to 3 "
                        "decimals (the paper's script); full/<name> = the full set",
            "kd": f"{kd_subsets} subsets of size min(n_real, n_fake) per set", "prdc_k": prdc_k, "seed": seed,
            "warnings": warnings}
    write_metrics(out, values, counts, not_computed, meta)
    return {"counts": counts, "not_computed": not_computed}


def evaluate_per_pathology_step(real_features: str, fake_features: str, split_path: str, out: str, *, model: str,
                                min_samples: int = 2) -> dict[str, Any]:
    """Table-4 FD per finding (label == 1 subsets) -> metrics JSON with subset sizes and warnings."""
    from unix.evaluation.protocol import pathology_subsets, per_pathology_fd

    ids, real, fake = paired_features(real_features, fake_features)
    test = generation_test_set(split_path).set_index("dicom_id").loc[ids].reset_index()
    subsets = pathology_subsets(test, CHEXPERT_LABELS)
    values, counts, not_computed, warnings = per_pathology_fd(real, fake, subsets, min_samples)
    for w in warnings:
        log.warning(w)
    meta = {"model": model, "protocol": "CheXGenBench image_quality_metrics_conditional: real = label == 1 "
            "(uncertain and missing excluded), generated = the same prompts; no sharding",
            "warnings": warnings}
    write_metrics(out, values, {"n_images": len(ids), **counts}, not_computed, meta)
    return {"counts": counts, "warnings": warnings}

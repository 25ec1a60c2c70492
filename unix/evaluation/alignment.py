"""Alignment score (BioViL-T image-text cosine similarity) through hi-ml-multimodal 0.2.2, from local weights only.

CheXGenBench's ``metrics/img_text_alignment_scores.py`` builds hi-ml's default engines (``get_bert_inference()``:
the BioViL-T CXR-BERT; ``get_image_inference()``: the BioViL-T ResNet-50 multi-image encoder with the 128-d
projection, resize 512 and centre crop 448), scores every generated image against its own prompt with
``ImageTextInferenceEngine.get_similarity_score_from_raw_data(image_path, prompt)``, rounds each score to 3
decimals and reports the mean rounded to 3 decimals (`unix.evaluation.protocol.alignment_mean`).

hi-ml's helpers download the weights; `load_engine` builds the same engines from a local copy of
microsoft/BiomedVLP-BioViL-T (config ``weights.biovil_t``): the text model and tokenizer as the Hugging Face
repository holds them (``config.json``, ``vocab.txt``, the weights file) and hi-ml's image checkpoint
``biovil_t_image_model_proj_size_128.pt`` in the same directory. Nothing is downloaded.

hi-ml-multimodal needs transformers 4 and torchvision, so this runs in its own environment (envs/alignment.yaml,
extra ``alignment``; config ``evaluation.interpreters.alignment`` without conda, `unix.evaluation.environments`)
through rule ``evaluate_alignment``; anywhere else `alignment_unavailable_reason` says why and the metric is
written as "not computed" with that reason. Weights that are the demo's random stand-in
(`unix.evaluation.demo_weights`) are noted in the metrics file's warnings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any, Sequence

from unix.evaluation.demo_weights import standin_note
from unix.evaluation.results import NotComputedError, write_metrics

IMAGE_WEIGHTS = "biovil_t_image_model_proj_size_128.pt"
"""hi-ml's BIOVIL_T_IMAGE_WEIGHTS_NAME."""
CENTER_CROP = 448
"""``get_image_inference(BIOVIL_T)``'s centre crop (the resize, 512, is hi-ml's TRANSFORM_RESIZE)."""
TEXT_WEIGHTS = ("pytorch_model.bin", "model.safetensors")
ENVIRONMENT = ("envs/alignment.yaml with snakemake --sdm conda, or the Python that config "
               "evaluation.interpreters.alignment names (`make envs` builds .venv-alignment; `make demo` then uses it)")


def alignment_unavailable_reason(weights_dir: str) -> str | None:
    """None when the alignment score can be computed here, else the reason it cannot."""
    if importlib.util.find_spec("health_multimodal") is None:
        return f"hi-ml-multimodal (health_multimodal) is not installed in this environment; it runs in {ENVIRONMENT}"
    if not weights_dir:
        return "BioViL-T weights not configured (config weights.biovil_t is empty)"
    p = Path(weights_dir)
    missing = [n for n in ("config.json", "vocab.txt", IMAGE_WEIGHTS) if not (p / n).is_file()]
    if not any((p / n).is_file() for n in TEXT_WEIGHTS):
        missing.append(" or ".join(TEXT_WEIGHTS))
    if missing:
        return f"BioViL-T weights incomplete at {p} (config weights.biovil_t): missing {missing}"
    return None


def image_weights_match_published(weights_dir: str) -> bool:
    """Whether the image checkpoint has the MD5 hi-ml checks when it downloads it (False for stand-ins)."""
    from health_multimodal.image.model.pretrained import BIOVIL_T_IMAGE_WEIGHTS_MD5

    digest = hashlib.md5((Path(weights_dir) / IMAGE_WEIGHTS).read_bytes()).hexdigest()
    return digest == BIOVIL_T_IMAGE_WEIGHTS_MD5


def load_engine(weights_dir: str, device: str = "cpu") -> Any:
    """hi-ml's ``ImageTextInferenceEngine`` with the BioViL-T text and image models of `weights_dir`."""
    reason = alignment_unavailable_reason(weights_dir)
    if reason:
        raise NotComputedError(reason)
    from health_multimodal.image import ImageInferenceEngine
    from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference
    from health_multimodal.image.model.model import ImageModel
    from health_multimodal.image.model.pretrained import JOINT_FEATURE_SIZE
    from health_multimodal.image.model.types import ImageEncoderType
    from health_multimodal.image.utils import TRANSFORM_RESIZE
    from health_multimodal.text import TextInferenceEngine
    from health_multimodal.text.model import CXRBertModel, CXRBertTokenizer
    from health_multimodal.vlp import ImageTextInferenceEngine

    logging.getLogger("health_multimodal").setLevel(logging.WARNING)  # it logs every prompt's tokens at INFO
    p = Path(weights_dir)
    text = TextInferenceEngine(tokenizer=CXRBertTokenizer.from_pretrained(p, local_files_only=True),
                               text_model=CXRBertModel.from_pretrained(p, local_files_only=True))
    image_model = ImageModel(img_encoder_type=ImageEncoderType.RESNET50_MULTI_IMAGE,
                             joint_feature_size=JOINT_FEATURE_SIZE, pretrained_model_path=p / IMAGE_WEIGHTS)
    image = ImageInferenceEngine(image_model=image_model, transform=create_chest_xray_transform_for_inference(
        resize=TRANSFORM_RESIZE, center_crop_size=CENTER_CROP))
    engine = ImageTextInferenceEngine(image_inference_engine=image, text_inference_engine=text)
    engine.to(device)
    return engine


def alignment_scores(image_paths: Sequence[str | Path], prompts: Sequence[str], weights_dir: str,
                     device: str = "cpu") -> list[float]:
    """Each generated image's similarity with its own prompt, rounded to 3 decimals (CheXGenBench)."""
    if len(image_paths) != len(prompts):
        raise ValueError(f"{len(image_paths)} images but {len(prompts)} prompts; one prompt per image")
    engine = load_engine(weights_dir, device)
    return [round(engine.get_similarity_score_from_raw_data(Path(path), text), 3)
            for path, text in zip(image_paths, prompts)]


def evaluate_alignment_step(image_shards: Sequence[str], out: str, *, model: str, biovil_t: str,
                            device: str = "cpu") -> dict[str, Any]:
    """Alignment score of every generated image (all rows of the shards) -> metrics JSON.

    Writes ``alignment_score`` (and ``full/alignment_score``, the same number: CheXGenBench scores the full
    set) or marks both not computed with the reason.
    """
    import tempfile

    import pandas as pd

    from unix.evaluation.protocol import alignment_mean

    table = pd.concat([pd.read_parquet(p, columns=["dicom_id", "prompt", "image"]) for p in image_shards])
    values, not_computed, meta = {}, {}, {"model": model, "protocol": "CheXGenBench img_text_alignment_scores.py: "
                                         "hi-ml BioViL-T similarity per generated image and its prompt, rounded "
                                         "to 3 decimals, mean rounded to 3"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for d, b in zip(table["dicom_id"], table["image"]):
                paths.append(Path(tmp) / f"{d}.png")
                paths[-1].write_bytes(b)
            scores = alignment_scores(paths, table["prompt"].tolist(), biovil_t, device)
        values["alignment_score"] = values["full/alignment_score"] = alignment_mean(scores)
        meta["image_weights_match_published"] = image_weights_match_published(biovil_t)
        note = standin_note(biovil_t)
        if note:
            meta["warnings"] = [f"alignment score: {note}"]
    except NotComputedError as err:
        not_computed["alignment_score"] = not_computed["full/alignment_score"] = str(err)
    write_metrics(out, values, {"n_images": len(table)}, not_computed, meta)
    return {"n_images": len(table), "not_computed": not_computed}

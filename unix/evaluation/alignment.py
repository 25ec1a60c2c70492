"""Alignment score (BioViL-T image-text cosine similarity), through hi-ml-multimodal, from local weights only.

CheXGenBench's ``img_text_alignment_scores.py`` scores each generated image against its own prompt with
hi-ml-multimodal 0.2.2's ``ImageTextInferenceEngine.get_similarity_score_from_raw_data`` (BioViL-T image
encoder, ResNet-50 multi-image, 128-d projection, resize 512 and centre crop 448; BioViL-T CXR-BERT text
encoder), rounds each score to 3 decimals and averages. hi-ml's own loaders download the weights, so we build
the same engines from a local copy of microsoft/BiomedVLP-BioViL-T (config ``weights.biovil_t``: the HF
directory plus ``biovil_t_image_model_proj_size_128.pt``).

When hi-ml-multimodal is not installed (it is not in our environments: it needs torchvision and an older
torch) or the weights are absent, `alignment_unavailable_reason` says why and the metric is reported as
"not computed" with that reason. This path is not exercised by the test suite for that reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

from unix.evaluation.results import NotComputedError

IMAGE_WEIGHTS = "biovil_t_image_model_proj_size_128.pt"


def alignment_unavailable_reason(weights_dir: str) -> str | None:
    """None when the alignment score can be computed here, else the reason it cannot."""
    if importlib.util.find_spec("health_multimodal") is None:
        return "hi-ml-multimodal (health_multimodal) is not installed in this environment"
    if not weights_dir:
        return "BioViL-T weights not configured (config weights.biovil_t is empty)"
    p = Path(weights_dir)
    missing = [n for n in ("config.json", IMAGE_WEIGHTS) if not (p / n).exists()]
    if missing:
        return f"BioViL-T weights incomplete at {p} (config weights.biovil_t): missing {missing}"
    return None


def alignment_scores(image_paths: Sequence[str | Path], prompts: Sequence[str], weights_dir: str,
                     device: str = "cpu") -> list[float]:
    """Cosine similarity of each generated image with its prompt (unrounded)."""
    reason = alignment_unavailable_reason(weights_dir)
    if reason:
        raise NotComputedError(reason)
    if len(image_paths) != len(prompts):
        raise ValueError(f"{len(image_paths)} images but {len(prompts)} prompts; one prompt per image")
    from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference
    from health_multimodal.image.inference_engine import ImageInferenceEngine
    from health_multimodal.image.model.model import ImageModel
    from health_multimodal.image.model.types import ImageEncoderType
    from health_multimodal.text.inference_engine import TextInferenceEngine
    from health_multimodal.text.model import CXRBertModel, CXRBertTokenizer
    from health_multimodal.vlp.inference_engine import ImageTextInferenceEngine

    p = Path(weights_dir)
    image_model = ImageModel(img_encoder_type=ImageEncoderType.RESNET50_MULTI_IMAGE, joint_feature_size=128,
                             pretrained_model_path=p / IMAGE_WEIGHTS)
    image_engine = ImageInferenceEngine(
        image_model=image_model, transform=create_chest_xray_transform_for_inference(resize=512, center_crop_size=448))
    text_engine = TextInferenceEngine(tokenizer=CXRBertTokenizer.from_pretrained(p, local_files_only=True),
                                      text_model=CXRBertModel.from_pretrained(p, local_files_only=True))
    engine = ImageTextInferenceEngine(image_inference_engine=image_engine, text_inference_engine=text_engine)
    engine.to(device)
    return [float(engine.get_similarity_score_from_raw_data(image_path=Path(path), query_text=text.rstrip("!?.")))
            for path, text in zip(image_paths, prompts)]

"""A randomly initialised BioViL-T in the published layout of microsoft/BiomedVLP-BioViL-T, for tests.

Run with the alignment environment's Python (hi-ml-multimodal, transformers 4):
``python tests/biovil_t_standin.py OUT_DIR``. Writes what hi-ml loads from that repository: the CXR-BERT
text model and tokenizer as ``save_pretrained`` writes them (config.json, pytorch_model.bin, vocab.txt,
tokenizer files) and the image checkpoint ``biovil_t_image_model_proj_size_128.pt`` (an ``ImageModel`` state
dict). The image model is hi-ml's real ResNet-50 multi-image architecture (it has no size options); the text
model is a 2-layer, 32-wide CXR-BERT with a 128-d projection and a small vocabulary.
"""

import sys
from pathlib import Path

import torch
from health_multimodal.image.model.model import ImageModel
from health_multimodal.image.model.pretrained import BIOVIL_T_IMAGE_WEIGHTS_NAME, JOINT_FEATURE_SIZE
from health_multimodal.image.model.types import ImageEncoderType
from health_multimodal.text.model import CXRBertConfig, CXRBertModel, CXRBertTokenizer

WORDS = ("no acute cardiopulmonary process small large left right pleural effusion heart size normal mild "
         "moderate cardiomegaly pneumothorax edema opacity lung base . ,").split()


def write_standin(out: Path, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    image = ImageModel(img_encoder_type=ImageEncoderType.RESNET50_MULTI_IMAGE, joint_feature_size=JOINT_FEATURE_SIZE)
    torch.save(image.state_dict(), out / BIOVIL_T_IMAGE_WEIGHTS_NAME)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    CXRBertTokenizer(vocab_file=str(out / "vocab.txt"), do_lower_case=True).save_pretrained(out)
    config = CXRBertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=128, projection_size=JOINT_FEATURE_SIZE,
                           architectures=["CXRBertModel"])
    CXRBertModel(config).save_pretrained(out, safe_serialization=False)
    return out


if __name__ == "__main__":
    write_standin(Path(sys.argv[1]))

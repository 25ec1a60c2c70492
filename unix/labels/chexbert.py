"""CheXbert (Smit et al. 2020): bert-base-uncased with 14 linear heads, labelling reports as UniX does.

* Weights: Stanford's ``chexbert.pth`` (config ``weights.chexbert``), loaded with ``torch.load(...,
  weights_only=True)``; its ``model_state_dict`` keys carry the ``module.`` prefix of DataParallel.
  The BERT architecture and vocabulary come from a local bert-base-uncased directory (config
  ``weights.bert_base_uncased``; only config.json and vocab.txt are read, the weights are in chexbert.pth).
* Heads, in CheXbert's order (`CHEXBERT_ORDER`): 13 four-class heads (0 blank, 1 positive, 2 negative,
  3 uncertain) and a two-class No Finding head (0 blank, 1 positive); the prediction is the argmax.
* Input as UniX: newlines become spaces, the text is cut to its first 512 characters (not tokens), batches
  are padded to the longest.

`label_reports_chexbert` returns the MIMIC CSV convention (1.0, 0.0, -1.0, NaN) in ``CHEXPERT_LABELS`` order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from unix.data.mimic import CHEXPERT_LABELS
from unix.weights import WeightsNotFoundError, require_dir

CHEXBERT_ORDER = [
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices", "No Finding",
]
MAX_CHARS = 512
# head class -> CSV value: 0 blank, 1 positive, 2 negative, 3 uncertain
_CODE_TO_CSV = np.array([np.nan, 1.0, 0.0, -1.0])


class CheXbert(nn.Module):
    """BERT encoder, dropout and 14 heads on the CLS hidden state (module names as in chexbert.pth)."""

    def __init__(self, bert_config) -> None:
        super().__init__()
        from transformers import BertModel

        self.bert = BertModel(bert_config, add_pooling_layer=True)
        hidden = bert_config.hidden_size
        self.dropout = nn.Dropout(bert_config.hidden_dropout_prob)
        self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        cls_BH = self.bert(input_ids, attention_mask=attention_mask)[0][:, 0, :]
        cls_BH = self.dropout(cls_BH)
        return [head(cls_BH) for head in self.linear_heads]


def load_chexbert(checkpoint: str | Path, bert_dir: str | Path, device: str | torch.device = "cpu"):
    """(CheXbert in eval mode, tokenizer) from chexbert.pth and a local bert-base-uncased directory."""
    from transformers import BertConfig, BertTokenizer

    bert = require_dir(bert_dir, "bert_base_uncased", "CheXbert tokenizer/config (bert-base-uncased)",
                       ("config.json", "vocab.txt"))
    if not str(checkpoint) or not Path(checkpoint).is_file():
        raise WeightsNotFoundError(
            f"CheXbert: no checkpoint at {str(checkpoint) or '(empty)'} (config weights.chexbert). Put Stanford's "
            "chexbert.pth there (StanfordAIMI/RRG_scorers), or use evaluation.labeler: rules"
        )
    model = CheXbert(BertConfig.from_pretrained(bert, local_files_only=True))
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = ckpt.get("model_state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    state = {k.removeprefix("module."): v for k, v in state.items()}
    # older transformers saved the position_ids buffer; current BertModel does not keep it in the state dict
    state = {k: v for k, v in state.items() if not k.endswith("embeddings.position_ids")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint} does not match CheXbert on the bert config in {bert}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}. Use Stanford's chexbert.pth with the bert-base-uncased config"
        )
    tokenizer = BertTokenizer.from_pretrained(bert, local_files_only=True)
    return model.to(device).eval(), tokenizer


def prepare_text(text: str) -> str:
    """UniX's input: newlines as spaces, surrounding space stripped, the first 512 characters."""
    return (text or "").replace("\n", " ").strip()[:MAX_CHARS]


@torch.no_grad()
def label_reports_chexbert(texts: Sequence[str], model: CheXbert, tokenizer, batch_size: int = 16) -> np.ndarray:
    """(N, 14) labels in the CSV convention and ``CHEXPERT_LABELS`` order."""
    device = next(model.parameters()).device
    codes = np.zeros((len(texts), len(CHEXBERT_ORDER)), dtype=np.int64)
    for start in range(0, len(texts), batch_size):
        batch = [prepare_text(t) for t in texts[start:start + batch_size]]
        enc = tokenizer(batch, padding="longest", truncation=True, max_length=512, return_tensors="pt")
        logits = model(enc["input_ids"].to(device), enc["attention_mask"].to(device))
        codes[start:start + len(batch)] = torch.stack([lg.argmax(-1) for lg in logits], 1).cpu().numpy()
    csv_BC = _CODE_TO_CSV[codes]
    order = [CHEXBERT_ORDER.index(name) for name in CHEXPERT_LABELS]
    return csv_BC[:, order]

"""CheXpert-style labels of report texts (14 observations, 1 / 0 / -1 / NaN), by name of labeler.

Both the label-drift audit of cleaning (`unix.cleaning.drift`) and the evaluation (CheXbert F1 of Table 2)
label reports, so the labelers sit below both in the import order (data -> labels -> cleaning -> ... ->
evaluation):

* ``rules``: the offline CheXpert-style rule labeler of `unix.labels.rules` (an approximation of CheXbert);
* ``chexbert``: CheXbert from local weights, `unix.labels.chexbert` (imported only when chosen: it needs
  torch and transformers).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from unix.labels.rules import label_reports_rules

LABELERS = ("rules", "chexbert")


def label_reports(
    texts: Sequence[str],
    labeler: str = "rules",
    chexbert_checkpoint: str = "",
    bert_dir: str = "",
    device: str = "cpu",
    batch_size: int = 16,
) -> np.ndarray:
    """(N, 14) CheXpert labels of reports (CSV convention, ``CHEXPERT_LABELS`` order) by the named labeler.

    ``rules``: the offline rule labeler (an approximation of CheXbert);
    ``chexbert``: CheXbert from `chexbert_checkpoint` (chexbert.pth) and `bert_dir` (bert-base-uncased);
    missing weights raise `unix.weights.WeightsNotFoundError` naming the config key.
    """
    if labeler == "rules":
        return label_reports_rules(texts)
    if labeler == "chexbert":
        from unix.labels.chexbert import label_reports_chexbert, load_chexbert

        model, tokenizer = load_chexbert(chexbert_checkpoint, bert_dir, device)
        return label_reports_chexbert(list(texts), model, tokenizer, batch_size)
    raise ValueError(f"unknown labeler {labeler!r} (config evaluation.labeler); use one of {LABELERS}")

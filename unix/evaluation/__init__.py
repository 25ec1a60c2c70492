"""Evaluation with the paper's protocol: the public API the rules and tables use.

* image features: `frechet_distance`, `kernel_distance`, `prdc` on (N, D) arrays (equal to torchmetrics and
  prdc 0.2, faster); `raddino_features` with CheXGenBench's preprocessing;
* reports: `label_reports` (``rules`` or ``chexbert``, from `unix.labels`), `chexbert_f1` (the 8 columns of Table 2),
  `bleu4`, `rouge_l`;
* the protocol (dedup by prompt, 4-shard mean, per-pathology subsets): `unix.evaluation.protocol`;
* the JSON every evaluation rule writes: `write_metrics` / `read_metrics` (see `unix.evaluation.results`);
* UniX's own Table-2 test set (test_data.json): `unix.evaluation.test_data`; the released checkpoint as the
  evaluated model `release`: `unix.evaluation.release`.

Names are imported on first use, so that ``unix.evaluation.results`` stays importable without torch
(the tables environment has none).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TABLE2_COLUMNS": "unix.evaluation.label_f1", "chexbert_f1": "unix.evaluation.label_f1",
    "frechet_distance": "unix.evaluation.distances", "kernel_distance": "unix.evaluation.distances",
    "prdc": "unix.evaluation.distances",
    "LABELERS": "unix.labels", "label_reports": "unix.labels",
    "WeightsNotFoundError": "unix.weights",
    "load_raddino": "unix.evaluation.raddino", "raddino_features": "unix.evaluation.raddino",
    "MetricsRecord": "unix.evaluation.results", "NotComputedError": "unix.evaluation.results",
    "read_metrics": "unix.evaluation.results", "write_metrics": "unix.evaluation.results",
    "bleu4": "unix.evaluation.text_metrics", "rouge_l": "unix.evaluation.text_metrics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'unix.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

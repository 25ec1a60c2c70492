"""RadGraph F1 (partial reward) through the ``radgraph`` package, from local weights only.

UniX uses radgraph 0.1.18 ``F1RadGraph(reward_level="partial", model_type="radgraph")`` and reports the mean
per-report reward. The package fetches ``radgraph.tar.gz`` from the HF hub into its cache directory; UniX's
wrapper copies a local file from ``RADGRAPH_PATH`` there first. We do the same from config ``weights.radgraph``
(the ``radgraph.tar.gz`` file, or a directory holding it) with the hub offline, so nothing is downloaded.

When the package is not installed (it is not in our environments) or the weights are absent,
`radgraph_unavailable_reason` says why and RadGraph F1 is reported as "not computed" with that reason; UniX's
wrapper would instead silently drop the metric. This path is not exercised by the test suite for that reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Sequence

from unix.evaluation.results import NotComputedError

ARCHIVE = "radgraph.tar.gz"


def _archive(weights: str) -> Path | None:
    p = Path(weights)
    if p.is_file():
        return p
    if (p / ARCHIVE).is_file():
        return p / ARCHIVE
    return None


def radgraph_unavailable_reason(weights: str) -> str | None:
    """None when RadGraph F1 can be computed here, else the reason it cannot."""
    if importlib.util.find_spec("radgraph") is None:
        return "the radgraph package is not installed in this environment"
    if not weights:
        return "RadGraph weights not configured (config weights.radgraph is empty)"
    if _archive(weights) is None:
        return f"no {ARCHIVE} at {weights} (config weights.radgraph)"
    return None


def radgraph_f1(references: Sequence[str], hypotheses: Sequence[str], weights: str) -> float:
    """Mean partial-reward RadGraph F1 of generated reports against references."""
    reason = radgraph_unavailable_reason(weights)
    if reason:
        raise NotComputedError(reason)
    os.environ["HF_HUB_OFFLINE"] = "1"
    from radgraph import F1RadGraph
    from radgraph.radgraph import CACHE_DIR

    target = Path(CACHE_DIR) / ARCHIVE
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_archive(weights), target)
    scorer = F1RadGraph(reward_level="partial", model_type="radgraph")
    mean_reward = scorer(hyps=list(hypotheses), refs=list(references))[0]
    return float(mean_reward)

"""RadGraph F1 as UniX's ``eval/und_metrics/radgraph_metrics.py`` computes it, from local weights only.

UniX scores generated reports with radgraph 0.1.18: ``F1RadGraph(reward_level="partial", model_type="radgraph")``
and reports the mean per-report F1 ("f1-radgraph"); a pair whose generated or reference text is empty scores 0
and stays in the mean. Its subclass only adds a 1e-10 in the precision/recall/F1 denominators, which moves a
report's F1 by less than 1e-9; we take the package's per-report rewards.

The package would download ``radgraph.tar.gz`` (StanfordAIMI/RRG_scorers: ``config.json``, ``weights.th``,
``vocabulary/``). We unpack the local archive of config ``weights.radgraph`` (the file, or a directory holding
it) into a scratch model cache, where the package finds it and downloads nothing. The archive's
``config.json`` names the BERT whose config and tokenizer the package loads with ``AutoConfig``/``AutoTokenizer``
(a local directory, or a Hugging Face id that must be in the local Hugging Face cache; the hub is offline).

radgraph's vendored allennlp needs transformers 4, so this runs in its own environment (envs/radgraph.yaml, extra
``radgraph``; config ``evaluation.interpreters.radgraph`` without conda, `unix.evaluation.environments`) through
rule ``evaluate_radgraph``; anywhere else `radgraph_unavailable_reason` says why and the metric is written as
"not computed" with that reason (UniX's wrapper would instead drop it silently). Weights that are the demo's
random stand-in (`unix.evaluation.demo_weights`) are noted in the metrics file's warnings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Sequence

from unix.evaluation.demo_weights import standin_note
from unix.evaluation.results import NotComputedError, write_metrics

ARCHIVE = "radgraph.tar.gz"
MODEL_TYPE = "radgraph"
REWARD_LEVEL = "partial"
ENVIRONMENT = ("envs/radgraph.yaml with snakemake --sdm conda, or the Python that config "
               "evaluation.interpreters.radgraph names (`make envs` builds .venv-radgraph; `make demo` then uses it)")


def _archive(weights: str) -> Path | None:
    p = Path(weights)
    if p.is_file():
        return p
    if (p / ARCHIVE).is_file():
        return p / ARCHIVE
    return None


def archive_bert(archive: Path) -> str:
    """The BERT model name (Hugging Face id or directory) that the archive's config.json names."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name.removeprefix("./") == "config.json"), None)
            config = json.load(tar.extractfile(member)) if member is not None else None
    except (tarfile.TarError, OSError) as err:
        raise ValueError(f"{archive} (config weights.radgraph) is not a readable .tar.gz ({err}); "
                         "use RRG_scorers' radgraph.tar.gz") from err
    try:
        return config["model"]["embedder"]["token_embedders"]["bert"]["model_name"]
    except (TypeError, KeyError) as err:
        raise ValueError(f"{archive} (config weights.radgraph) has no config.json at its top level naming "
                         "model.embedder.token_embedders.bert.model_name; use RRG_scorers' radgraph.tar.gz") from err


def _bert_available(name: str) -> bool:
    if Path(name).is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    return all(isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", "vocab.txt"))


def radgraph_unavailable_reason(weights: str) -> str | None:
    """None when RadGraph F1 can be computed here, else the reason it cannot."""
    if importlib.util.find_spec("radgraph") is None:
        return f"the radgraph package is not installed in this environment; it runs in {ENVIRONMENT}"
    if not weights:
        return "RadGraph weights not configured (config weights.radgraph is empty)"
    archive = _archive(weights)
    if archive is None:
        return f"no {ARCHIVE} at {weights} (config weights.radgraph)"
    bert = archive_bert(archive)
    if not _bert_available(bert):
        return (f"{archive} names the BERT {bert!r}, whose config.json and vocab.txt are neither a local directory "
                "nor in the Hugging Face cache (HF_HOME); radgraph loads them with AutoConfig/AutoTokenizer")
    return None


def radgraph_rewards(references: Sequence[str], hypotheses: Sequence[str], weights: str) -> list[float]:
    """Per-report partial-reward RadGraph F1 (0 where either text is empty)."""
    reason = radgraph_unavailable_reason(weights)
    if reason:
        raise NotComputedError(reason)
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} generated reports; pair them one to one")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from radgraph import F1RadGraph

    with tempfile.TemporaryDirectory() as cache:
        with tarfile.open(_archive(weights), "r:gz") as tar:
            tar.extractall(Path(cache) / MODEL_TYPE, filter="data")
        scorer = F1RadGraph(reward_level=REWARD_LEVEL, model_type=MODEL_TYPE, model_cache_dir=cache)
        _, rewards, _, _ = scorer(refs=list(references), hyps=list(hypotheses))
    return [float(r) for r in rewards]


def radgraph_f1(references: Sequence[str], hypotheses: Sequence[str], weights: str) -> float:
    """Mean partial-reward RadGraph F1 of generated reports against references (UniX's "f1-radgraph")."""
    rewards = radgraph_rewards(references, hypotheses, weights)
    if not rewards:
        raise ValueError("no reports to score")
    return sum(rewards) / len(rewards)


def evaluate_radgraph_step(reports_path: str, out: str, *, model: str, radgraph: str) -> dict[str, Any]:
    """RadGraph F1 of the generated reports -> metrics JSON (``radgraph_f1`` or its not-computed reason)."""
    import pandas as pd

    df = pd.read_parquet(reports_path, columns=["reference", "generated"])
    values, not_computed = {}, {}
    try:
        values["radgraph_f1"] = radgraph_f1(df["reference"].tolist(), df["generated"].fillna("").tolist(), radgraph)
    except NotComputedError as err:
        not_computed["radgraph_f1"] = str(err)
    note = standin_note(radgraph) if values else None
    meta = {"warnings": [f"RadGraph F1: {note}"]} if note else {}
    meta |= {"model": model, "protocol": f"UniX eval/und_metrics: radgraph F1RadGraph(reward_level={REWARD_LEVEL!r}, "
            f"model_type={MODEL_TYPE!r}), mean per-report F1, empty pairs score 0"}
    write_metrics(out, values, {"n_reports": len(df)}, not_computed, meta)
    return {"n_reports": len(df), "not_computed": not_computed}

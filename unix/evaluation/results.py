"""The JSON format every evaluation rule writes, and the only way to read and write it.

One file per (evaluation, model), e.g. ``results/evaluation/generation/unix-512.json``::

    {
      "format": "unix-metrics",
      "format_version": 1,
      "values": {                      # metric name -> number (never a placeholder)
        "fd_raddino": 54.022,          # plain name  = the paper's protocol (here: the 4-shard mean)
        "kd_raddino": 0.024,
        "precision": 0.736,
        "full/fd_raddino": 51.3,       # "full/<name>" = the same metric on the full set
        "shard0/fd_raddino": 53.9      # "shard<i>/<name>" = one shard's value (rounded as combined)
      },
      "counts": {                      # sample counts behind the values
        "n_real": 4352, "n_fake": 4352, "n_shards": 4, "shard0/n_real": 1088
      },
      "not_computed": {                # metric name -> why it has no value (a table prints "not computed")
        "alignment_score": "BioViL-T weights not configured (config weights.biovil_t is empty)"
      },
      "meta": {                        # provenance: model, protocol, labeler, feature extractor, seed, warnings
        "model": "unix-512", "protocol": "CheXGenBench, 4 shards", "warnings": []
      }
    }

Key conventions (shared with the tables):

* Understanding (Table 2), ``results/evaluation/understanding/{model}.json``: values use the column names of
  ``paper_tables.yaml`` (``micro_f1_14_uncertain_neg`` ... ``macro_f1_5_uncertain_pos``) as fractions in [0, 1]
  (the table multiplies by 100), plus ``bleu4``, ``rougeL``, ``radgraph_f1``; ``meta["labeler"]`` names the
  labeler (``chexbert`` or ``rules``: the rule labeler is an approximation of CheXbert).
* Generation (Table 3), ``results/evaluation/generation/{model}.json``: ``fd_raddino, kd_raddino,
  alignment_score, precision, recall, density, coverage`` (4-shard mean, per-shard rounding to 3 decimals,
  as the paper's script) and ``full/<name>`` on the full deduplicated set.
* Per pathology (Table 4), ``results/evaluation/per_pathology/{model}.json``: ``fd_raddino/<Finding>`` for the
  14 CheXpert findings, with ``counts["n_real/<Finding>"]`` and ``counts["n_fake/<Finding>"]``; a finding
  whose subset is too small has ``not_computed["fd_raddino/<Finding>"]``; ``meta["warnings"]`` lists subsets
  smaller than the feature width (FD then rests on a singular covariance).

A metric is either in ``values`` or in ``not_computed``, never both.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "unix-metrics"
FORMAT_VERSION = 1
NOT_COMPUTED = "not computed"


class NotComputedError(RuntimeError):
    """A metric cannot be computed here (weights or package absent); the message is the reason a table shows."""


@dataclass
class MetricsRecord:
    """The content of one metrics JSON file (see the module docstring for the key conventions)."""

    values: dict[str, float] = field(default_factory=dict)
    """Metric name -> finite number."""
    counts: dict[str, int] = field(default_factory=dict)
    """Sample counts behind the values (``n_real``, ``n_fake``, ``n_reports``, ``n_real/<Finding>``, ...)."""
    not_computed: dict[str, str] = field(default_factory=dict)
    """Metric name -> the reason it has no value (missing weights, package not installed, subset too small)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Provenance: model, protocol, labeler, feature extractor, seed, warnings (JSON-serialisable)."""

    def __post_init__(self) -> None:
        both = sorted(set(self.values) & set(self.not_computed))
        if both:
            raise ValueError(f"metrics {both} are both in values and not_computed; a metric is one or the other")
        for name, v in self.values.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
                raise ValueError(
                    f"metric {name!r} has value {v!r}; values must be finite numbers "
                    "(put metrics without a number into not_computed with the reason)"
                )
        for name, c in self.counts.items():
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise ValueError(f"count {name!r} is {c!r}; counts must be non-negative integers")

    def get(self, name: str) -> float | str:
        """The value of `name`, or ``"not computed: <reason>"`` for a metric without a value."""
        if name in self.values:
            return self.values[name]
        if name in self.not_computed:
            return f"{NOT_COMPUTED}: {self.not_computed[name]}"
        raise KeyError(f"metric {name!r} is neither computed nor marked not computed; known: {sorted(self.values)}")

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}


def write_metrics(
    path: str | os.PathLike,
    values: dict[str, float],
    counts: dict[str, int] | None = None,
    not_computed: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> MetricsRecord:
    """Validate and write one metrics file (parent directories are created); return the record."""
    record = MetricsRecord(
        values={k: float(v) for k, v in values.items()},
        counts={k: int(v) for k, v in (counts or {}).items()},
        not_computed=dict(not_computed or {}),
        meta=dict(meta or {}),
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n")
    tmp.replace(p)
    return record


def read_metrics(path: str | os.PathLike) -> MetricsRecord:
    """Read a metrics file written by `write_metrics`; a file in another format raises ValueError."""
    p = Path(path)
    data = json.loads(p.read_text())
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{p} is not a {FORMAT} v{FORMAT_VERSION} file (format={data.get('format')!r}, "
            f"version={data.get('format_version')!r}); rerun the evaluation rule that writes it"
        )
    return MetricsRecord(
        values=data.get("values", {}),
        counts=data.get("counts", {}),
        not_computed=data.get("not_computed", {}),
        meta=data.get("meta", {}),
    )

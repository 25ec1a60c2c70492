"""The published numbers of the UniX paper, from `unix/resources/paper_tables.yaml`, as table specs.

Each `PaperTable` knows its columns (keys of the metrics JSON files), the published rows, which
published row a measurement is compared with, and how a measured value converts to the paper's unit
(Table 2 prints CheXbert F1 in percent; our metrics files hold fractions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

PAPER_TABLES_RESOURCE = "paper_tables.yaml"
TABLES = ("table2", "table3", "table4", "table5")
# Table 5 of the paper is an image in the text we have; its numbers were not transcribed.
TABLE5_NOT_TRANSCRIBED = "the paper's Table 5 values are not transcribed in paper_tables.yaml"


@dataclass(frozen=True)
class PaperTable:
    """One paper table: its columns, published rows and how measurements map onto it."""

    key: str
    """table2 | table3 | table4 | table5."""
    title: str
    """Caption-like title (without the synthetic marking, which the builder adds)."""
    columns: tuple[str, ...]
    """Column keys, in the paper's order."""
    labels: dict[str, str]
    """Column key -> header printed in the table."""
    rows: dict[str, tuple[float | None, ...]]
    """Published row name -> values in column order (None: not reported in the paper)."""
    row_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Published row name -> params / kind as printed in the paper."""
    metric_prefix: str = ""
    """Prefix of the metric names in the metrics JSON (Table 4: "fd_raddino/")."""
    scale: float = 1.0
    """Factor from the metrics JSON unit to the paper's unit (Table 2: fractions -> percent)."""
    column_scale: dict[str, float] = field(default_factory=dict)
    """Per-column factors that override `scale` (Table 5 mixes a percentage and an FD)."""
    lower_is_better: frozenset[str] = frozenset()
    """Columns where smaller is better (FD, KD)."""
    digits: int = 3
    """Decimals printed for measured values and differences."""
    no_compare_columns: frozenset[str] = frozenset()
    """Columns that describe a row rather than measure it (Table 3's resolution): no difference."""

    def reference_row(self, resolution: int | None = None) -> str | None:
        """The published UniX row a measurement is compared with (None for Table 5)."""
        if self.key == "table2":
            return "UniX"
        if self.key in ("table3", "table4"):
            return "UniX-512" if resolution is not None and resolution >= 512 else "UniX-256"
        return None

    def row_resolution(self, name: str) -> int | None:
        """Resolution of a published row (Table 4 takes it from the same model's Table 3 row)."""
        if self.key not in ("table3", "table4"):
            return None
        t3 = paper_table("table3")
        if name in t3.rows:
            return int(t3.rows[name][t3.columns.index("resolution")])
        return None

    def scale_of(self, column: str) -> float:
        """Factor from the metrics JSON unit of `column` to the paper's unit."""
        return self.column_scale.get(column, self.scale)

    def metric_name(self, column: str) -> str:
        """The metric name in the metrics JSON that fills `column`."""
        return self.metric_prefix + column


TABLE2_TEXT_METRICS = ("bleu4", "rougeL", "radgraph_f1")
"""Report metrics UniX's eval/und_metrics computes beside CheXbert F1, which the paper's Table 2 does not print:
our Table 2 shows them after the paper's columns (published rows: not reported)."""

_LABELS = {
    "bleu4": "BLEU-4",
    "rougeL": "ROUGE-L",
    "radgraph_f1": "RadGraph F1",
    "micro_f1_14_uncertain_neg": "Micro-F1-14 (u=neg)",
    "micro_f1_5_uncertain_neg": "Micro-F1-5 (u=neg)",
    "macro_f1_14_uncertain_neg": "Macro-F1-14 (u=neg)",
    "macro_f1_5_uncertain_neg": "Macro-F1-5 (u=neg)",
    "micro_f1_14_uncertain_pos": "Micro-F1-14 (u=pos)",
    "micro_f1_5_uncertain_pos": "Micro-F1-5 (u=pos)",
    "macro_f1_14_uncertain_pos": "Macro-F1-14 (u=pos)",
    "macro_f1_5_uncertain_pos": "Macro-F1-5 (u=pos)",
    "resolution": "Resolution",
    "fd_raddino": "FD-RadDino",
    "kd_raddino": "KD-RadDino",
    "alignment_score": "Alignment",
    "precision": "Precision",
    "recall": "Recall",
    "density": "Density",
    "coverage": "Coverage",
}


@lru_cache(maxsize=1)
def load_raw() -> dict[str, Any]:
    """The YAML facts as a dict."""
    text = resources.files("unix.resources").joinpath(PAPER_TABLES_RESOURCE).read_text()
    return yaml.safe_load(text)


def _rows(section: dict[str, Any], n: int, key: str) -> tuple[dict, dict]:
    rows, meta = {}, {}
    for name, spec in section["rows"].items():
        values = spec["values"] if isinstance(spec, dict) else spec
        if len(values) != n:
            raise ValueError(f"{PAPER_TABLES_RESOURCE}: {key} row {name!r} has {len(values)} values for {n} columns")
        rows[name] = tuple(None if v is None else float(v) for v in values)
        if isinstance(spec, dict):
            meta[name] = {k: v for k, v in spec.items() if k != "values"}
    return rows, meta


@lru_cache(maxsize=None)
def paper_table(key: str) -> PaperTable:
    """The spec of paper table `key` (table2 ... table5)."""
    raw = load_raw()
    if key == "table2":
        s = raw["table2_understanding"]
        cols = tuple(s["columns"])
        rows, meta = _rows(s, len(cols), key)
        rows = {name: values + (None,) * len(TABLE2_TEXT_METRICS) for name, values in rows.items()}
        cols += TABLE2_TEXT_METRICS
        return PaperTable(key, "Table 2: report generation, CheXbert F1 (%) on the MIMIC-CXR test split; BLEU-4, "
                          "ROUGE-L and RadGraph F1 (%) as UniX's eval computes them (not in the paper's table)",
                          cols, {c: _LABELS[c] for c in cols}, rows, meta, scale=100.0, digits=1,
                          no_compare_columns=frozenset(TABLE2_TEXT_METRICS))  # UniX's row has no value to subtract
    if key == "table3":
        s = raw["table3_generation"]
        cols = tuple(s["columns"])
        rows, meta = _rows(s, len(cols), key)
        return PaperTable(key, "Table 3: image generation, CheXGenBench metrics on RadDino features",
                          cols, {c: _LABELS[c] for c in cols}, rows, meta,
                          lower_is_better=frozenset({"fd_raddino", "kd_raddino"}),
                          no_compare_columns=frozenset({"resolution"}))
    if key == "table4":
        s = raw["table4_per_pathology_fd"]
        cols = tuple(s["columns"])
        rows, meta = _rows(s, len(cols), key)
        return PaperTable(key, "Table 4: FD-RadDino per finding", cols, {c: c for c in cols}, rows, meta,
                          metric_prefix="fd_raddino/", lower_is_better=frozenset(cols), digits=2)
    if key == "table5":
        cols = ("micro_f1_14_uncertain_pos", "fd_raddino")
        return PaperTable(key, "Table 5: joint dual-branch optimization (strategy ablation)", cols,
                          {c: _LABELS[c] for c in cols}, {}, {}, column_scale={"micro_f1_14_uncertain_pos": 100.0},
                          lower_is_better=frozenset({"fd_raddino"}), digits=2, no_compare_columns=frozenset(cols))
    raise KeyError(f"unknown table {key!r}; known: {', '.join(TABLES)}")

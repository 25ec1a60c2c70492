"""Building the paper's tables: published rows, our measured rows and their difference, as CSV + Markdown.

Layout of every table (`results/tables/tableN.csv`, and the same content in `tableN.md`):

    row | source | data | compared_with | <metric columns...> | <metric> Δ vs UniX columns...

- `source` is `paper` (a published row) or `measured` (ours, one row per metrics file);
- `data` says where a row's numbers come from: `published`, `MIMIC-CXR`, or `synthetic MIMIC-CXR (demo)`;
- `compared_with` names the published UniX row the differences are taken against (UniX for Table 2,
  UniX-256 or UniX-512 by resolution for Tables 3 and 4);
- a difference is `row value - UniX value`, in the paper's unit, for every row (0 for UniX itself);
- Table 2 has a `test_set` column after `compared_with`: for a measured row, the test set its reports were
  generated for (UniX's test_data.json or our understanding split, from the metrics file); `as published`
  for the paper's rows.

No cell is empty: a published value the paper does not report reads `not reported (paper)`, a measured
value we could not compute reads `not computed (<reason>)` (the reason comes from the metrics file),
and a difference that has no operand says why. A table built from synthetic data says so in its
title (first line of the Markdown), in each measured row's name and in the `data` column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from unix.tables.paper import TABLE5_NOT_TRANSCRIBED, PaperTable, paper_table

NOT_REPORTED = "not reported (paper)"
NOT_COMPUTED = "not computed"
SYNTHETIC_DATA = "synthetic MIMIC-CXR (demo)"
REAL_DATA = "MIMIC-CXR"
SYNTHETIC_TITLE = "SYNTHETIC DATA (demo run; not comparable with the paper)"
DIFF_SUFFIX = " Δ vs UniX"
TEST_SET_COLUMN = "test_set"
TEST_SET_TABLES = ("table2",)
# The findings the synthetic generator draws most clearly (unix.data.radiograph): the reports of a model that
# reads the image must name them more accurately than those of the blank-image control (Table 2's notes).
CLEAR_FINDINGS = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Support Devices")
PUBLISHED_TEST_SET = "as published (paper)"


def not_computed(reason: str) -> str:
    """The cell text of a value that was not computed."""
    return f"{NOT_COMPUTED} ({reason})"


@dataclass
class MeasuredRow:
    """One measured row of a table (ours), in the paper's units."""

    name: str
    """Row name as printed (e.g. "ours: unix-256")."""
    values: dict[str, float] = field(default_factory=dict)
    """Column key -> value in the paper's unit."""
    not_computed: dict[str, str] = field(default_factory=dict)
    """Column key -> why there is no value."""
    resolution: int | None = None
    """Image resolution of a generation row (printed; chooses UniX-256 or UniX-512 unless `reference`)."""
    reference: str | None = None
    """The published row to compare with, when the row's role fixes it (unix-512 <-> UniX-512 even
    when the CPU demo trains at a smaller resolution)."""
    source_file: str = ""
    """The metrics file the row was read from (recorded in provenance)."""
    finding_f1: dict[str, float] = field(default_factory=dict)
    """F1 (%, uncertain = negative) of each of CLEAR_FINDINGS when the metrics file has it (Table 2's notes)."""
    notes: list[str] = field(default_factory=list)
    """Caveats printed under the Markdown table (labeler approximations, warnings)."""
    test_set: str | None = None
    """The test set a Table-2 row was measured on (the metrics file's meta `test_set`)."""


def _resolution_of(name: str, meta: dict[str, Any]) -> int | None:
    for key in ("resolution", "image_size", "size"):
        if isinstance(meta.get(key), (int, float)):
            return int(meta[key])
    m = re.search(r"(256|384|512|1024)\b", name)
    return int(m.group(1)) if m else None


def measured_row(table: PaperTable, metrics: Any, name: str, source_file: str = "",
                 resolution: int | None = None, reference: str | None = None) -> MeasuredRow:
    """A measured row from a `unix.evaluation.results.MetricsRecord` (or anything with values,
    not_computed, meta): every column gets a value or a reason."""
    meta = dict(getattr(metrics, "meta", {}) or {})
    res = resolution if resolution is not None else _resolution_of(name, meta)
    if reference is not None and reference not in table.rows:
        raise ValueError(f"row {name!r}: reference {reference!r} is not a published row of {table.key} "
                         f"(rows: {sorted(table.rows)})")
    row = MeasuredRow(name=name, resolution=res, source_file=str(source_file), reference=reference)
    for col in table.columns:
        metric = table.metric_name(col)
        if col == "resolution":
            if res is not None:
                row.values[col] = float(res)
            else:
                row.not_computed[col] = "resolution not recorded in the metrics file"
        elif metric in metrics.values:
            row.values[col] = float(metrics.values[metric]) * table.scale_of(col)
        elif metric in metrics.not_computed:
            row.not_computed[col] = str(metrics.not_computed[metric])
        else:
            row.not_computed[col] = f"metric {metric} missing from {Path(source_file).name or 'the metrics file'}"
    row.finding_f1 = {f: 100 * float(metrics.values[f"f1_uncertain_neg/{f}"]) for f in CLEAR_FINDINGS
                      if f"f1_uncertain_neg/{f}" in metrics.values}
    if table.key in TEST_SET_TABLES:
        row.test_set = str(meta.get("test_set") or "not recorded in the metrics file")
        row.notes.append(f"{name}: test set = {row.test_set}")
    if meta.get("labeler") and meta["labeler"] != "chexbert":
        row.notes.append(f"{name}: labels from the {meta['labeler']!r} labeler, an approximation of CheXbert")
    for w in meta.get("warnings", []) or []:
        row.notes.append(f"{name}: {w}")
    return row


def _fmt(value: float, digits: int) -> float:
    return round(float(value), digits)


def _cell(column: str, value: float, digits: int) -> float | int:
    return int(value) if column == "resolution" else _fmt(value, digits)


def build_table(table: PaperTable, measured: Iterable[MeasuredRow], synthetic: bool,
                missing_reason: str | None = None) -> pd.DataFrame:
    """The table as a DataFrame of strings and numbers, with no empty cell.

    `missing_reason`: when there are no measured rows, one placeholder row says why (e.g. "the
    understanding evaluation did not run: no model configured") so the table still shows what is missing.
    """
    measured = list(measured)
    data_label = SYNTHETIC_DATA if synthetic else REAL_DATA
    if not measured and missing_reason:
        measured = [MeasuredRow(name="ours", not_computed={c: missing_reason for c in table.columns})]
    diff_cols = [c for c in table.columns if c not in table.no_compare_columns]
    with_test_set = table.key in TEST_SET_TABLES
    records: list[dict[str, Any]] = []

    def diff_cells(values: dict[str, float], missing: str, ref: str | None) -> dict[str, Any]:
        """Differences to the published row `ref`; `missing` is the cell text when a row lacks a value."""
        out: dict[str, Any] = {}
        for col in diff_cols:
            key = table.labels[col] + DIFF_SUFFIX
            if ref is None:
                out[key] = not_computed(TABLE5_NOT_TRANSCRIBED if table.key == "table5" else "no UniX row")
                continue
            ref_value = table.rows[ref][table.columns.index(col)]
            if col not in values:
                out[key] = missing
            elif ref_value is None:
                out[key] = not_computed(f"{ref} does not report {table.labels[col]}")
            else:
                out[key] = _fmt(values[col] - ref_value, table.digits)
        return out

    for name, vals in table.rows.items():
        values = {c: v for c, v in zip(table.columns, vals) if v is not None}
        ref = table.reference_row(table.row_resolution(name))
        rec: dict[str, Any] = {"row": name, "source": "paper", "data": "published", "compared_with": ref or ""}
        if with_test_set:
            rec[TEST_SET_COLUMN] = PUBLISHED_TEST_SET
        for c, v in zip(table.columns, vals):
            rec[table.labels[c]] = _cell(c, v, table.digits) if v is not None else NOT_REPORTED
        rec.update(diff_cells(values, NOT_REPORTED, ref))
        records.append(rec)

    for row in measured:
        ref = row.reference or table.reference_row(row.resolution)
        name = row.name + (" [synthetic data]" if synthetic else "")
        rec = {"row": name, "source": "measured", "data": data_label,
               "compared_with": ref or f"none: {TABLE5_NOT_TRANSCRIBED}"}
        if with_test_set:
            rec[TEST_SET_COLUMN] = row.test_set or "not recorded in the metrics file"
        for c in table.columns:
            if c in row.values:
                rec[table.labels[c]] = _cell(c, row.values[c], table.digits)
            else:
                rec[table.labels[c]] = not_computed(row.not_computed.get(c, "no value"))
        rec.update(diff_cells(row.values, not_computed("no measured value"), ref))
        records.append(rec)

    columns = (["row", "source", "data", "compared_with"] + ([TEST_SET_COLUMN] if with_test_set else [])
               + [table.labels[c] for c in table.columns]
               + [table.labels[c] + DIFF_SUFFIX for c in diff_cols])
    return pd.DataFrame.from_records(records, columns=columns)


def table_title(table: PaperTable, synthetic: bool) -> str:
    """The title line; a synthetic table says so."""
    return f"{table.title}" + (f" — {SYNTHETIC_TITLE}" if synthetic else "")


def empty_cells(df: pd.DataFrame) -> list[tuple[int, str]]:
    """(row index, column) of every empty or NaN cell (there should be none)."""
    out = []
    for i, rec in df.iterrows():
        for col, v in rec.items():
            if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
                out.append((int(i), str(col)))
    return out


def to_markdown(df: pd.DataFrame, title: str, notes: Iterable[str] = ()) -> str:
    """A GitHub-flavoured Markdown table with the title as heading and notes below."""
    cols = list(df.columns)

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, rec in df.iterrows():
        lines.append("| " + " | ".join(cell(rec[c]) for c in cols) + " |")
    notes = list(notes)
    lines.append("")
    if any(c.endswith(DIFF_SUFFIX) for c in cols):
        lines.append("Differences are row minus the published UniX row named in `compared_with`, in the paper's "
                     "units; for FD and KD lower is better, for the other metrics higher is better.")
    else:
        lines.append("No published values to compare with; for FD lower is better, for F1 higher is better.")
    for n in notes:
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, csv_path: str | Path, md_path: str | Path, title: str,
                notes: Iterable[str] = ()) -> None:
    """Write the CSV and the Markdown of one table (parent directories are created)."""
    bad = empty_cells(df)
    if bad:
        raise ValueError(f"table {title!r} has empty cells at (row, column) {bad[:5]}; every missing value "
                         "must say why (not computed / not reported)")
    for p in (csv_path, md_path):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    Path(md_path).write_text(to_markdown(df, title, notes))


def merge_metrics(records: Iterable[Any]) -> Any:
    """One MetricsRecord from several (Table 5 rows combine an understanding and a generation file):
    a value from any file wins over a "not computed" from another."""
    from unix.evaluation.results import MetricsRecord

    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    meta: dict[str, Any] = {}
    for rec in records:
        values.update(rec.values)
        for k, v in rec.not_computed.items():
            reasons.setdefault(k, v)
        warnings = meta.get("warnings", []) + list(rec.meta.get("warnings", []) or [])
        meta.update(rec.meta)
        meta["warnings"] = warnings
    return MetricsRecord(values=values, not_computed={k: v for k, v in reasons.items() if k not in values},
                         meta=meta)


def _finding_f1_text(row: MeasuredRow) -> str:
    per = ", ".join(f"{f} {v:.1f}" for f, v in row.finding_f1.items())
    return f"{sum(row.finding_f1.values()) / len(row.finding_f1):.1f} ({per})"


def learning_notes(rows: list[MeasuredRow]) -> list[str]:
    """Notes comparing each trained row with a control row (name starting "control:") of the same table:
    FD-RadDino as a ratio to the control's (Table 3: below 0.5 means the generation branch learned), and the
    mean F1 on the findings drawn most clearly into the synthetic images, CLEAR_FINDINGS (Table 2: above the
    blank-image control's means the reports depend on the image)."""
    controls = [r for r in rows if r.name.startswith("control:")]
    notes = []
    for control in (c for c in controls if len(c.finding_f1) == len(CLEAR_FINDINGS)):
        for row in rows:
            if row.name.startswith("ours:") and len(row.finding_f1) == len(CLEAR_FINDINGS):
                notes.append(f"{row.name}: mean F1 (u=neg, %) on the findings drawn most clearly into the synthetic "
                             f"images {_finding_f1_text(row)}; {control.name}: {_finding_f1_text(control)}")
    for control in controls:
        base = control.values.get("fd_raddino")
        if not base:
            continue
        for row in rows:
            if row.name.startswith("ours:") and "fd_raddino" in row.values:
                notes.append(f"{row.name}: FD-RadDino {row.values['fd_raddino']:.3f} = "
                             f"{row.values['fd_raddino'] / base:.2f} x that of {control.name} ({base:.3f}; "
                             "same real features and noise seeds)")
    return notes


def make_table(key: str, metrics_files: dict[str, Any], synthetic: bool, csv_path: str | Path,
               md_path: str | Path, missing_reason: str | None = None) -> dict[str, Any]:
    """Build table `key` from `{row name: spec}` and write it.

    A spec is a metrics JSON path, a list of paths (merged), or a dict with `paths` and optionally
    `resolution` (printed in Table 3) and `reference` (the published row to compare with).

    Returns the provenance extra: `row_sources` maps each measured row to the metrics file(s) it came
    from, so `unix audit --row` can follow one number of the table back to its evaluation.
    """
    from unix.evaluation.results import read_metrics

    table = paper_table(key)
    rows, sources = [], {}
    suffix = " [synthetic data]" if synthetic else ""
    for name, spec in metrics_files.items():
        spec = dict(spec) if isinstance(spec, dict) else {"paths": spec}
        paths = spec["paths"]
        paths = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
        rows.append(measured_row(table, merge_metrics(read_metrics(p) for p in paths), name,
                                 source_file=", ".join(paths), resolution=spec.get("resolution"),
                                 reference=spec.get("reference")))
        sources[name + suffix] = paths
    df = build_table(table, rows, synthetic, missing_reason=missing_reason)
    notes = [n for r in rows for n in r.notes] + learning_notes(rows)
    write_table(df, csv_path, md_path, table_title(table, synthetic), notes)
    return {"row_sources": sources, "synthetic": synthetic, "n_measured_rows": len(rows)}

"""The report's figures (matplotlib, Agg backend): loss curves, image grids, per-pathology FD bars,
raw vs cleaned reports, split accounting. Every figure made from synthetic data says so in its title.

Each function takes plain data (paths of the pipeline's CSV/parquet/JSON files or PIL images), writes
one PNG and returns a small dict for provenance (what was plotted).
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

SYNTHETIC_TAG = " [SYNTHETIC DATA]"
DPI = 110


def _title(text: str, synthetic: bool) -> str:
    return text + (SYNTHETIC_TAG if synthetic else "")


def _save(fig: Any, out: str | os.PathLike) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # Fixed metadata so the same data gives the same bytes (matplotlib stamps its version otherwise).
    fig.savefig(out, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def plot_loss_curves(logs: dict[str, str | os.PathLike], out: str | os.PathLike, synthetic: bool) -> dict[str, Any]:
    """One panel per training stage: every `loss*` column of its log.csv against `step`.

    `logs` maps a stage name to its `results/train/<stage>/log.csv`.
    """
    if not logs:
        raise ValueError("plot_loss_curves: no training logs given; the figure needs at least one log.csv")
    fig, axes = plt.subplots(1, len(logs), figsize=(4.5 * len(logs), 3.6), squeeze=False)
    plotted: dict[str, list[str]] = {}
    for ax, (stage, path) in zip(axes[0], logs.items()):
        df = pd.read_csv(path)
        if "step" not in df.columns:
            raise ValueError(f"{path}: training log has no 'step' column (columns: {list(df.columns)})")
        cols = [c for c in df.columns if c.startswith("loss") and pd.to_numeric(df[c], errors="coerce").notna().any()]
        for c in cols:
            ax.plot(df["step"], pd.to_numeric(df[c], errors="coerce"), label=c, marker="." if len(df) < 50 else None)
        ax.set_title(stage)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        if cols:
            ax.legend(fontsize=8)
        plotted[stage] = cols
    fig.suptitle(_title("Training loss per stage", synthetic))
    _save(fig, out)
    return {"stages": plotted}


def plot_image_grid(examples: Sequence[tuple[str, Any, Any]], out: str | os.PathLike, synthetic: bool,
                    title: str = "Real vs generated images for fixed prompts") -> dict[str, Any]:
    """Top row real, bottom row generated, one column per (prompt, real PIL image, generated PIL image)."""
    if not examples:
        raise ValueError("plot_image_grid: no examples; pass (prompt, real image, generated image) triples")
    n = len(examples)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 6.0), squeeze=False)
    for j, (prompt, real, fake) in enumerate(examples):
        for i, (img, label) in enumerate(((real, "real"), (fake, "generated"))):
            ax = axes[i][j]
            if img is None:
                ax.text(0.5, 0.5, f"no {label} image", ha="center", va="center", fontsize=8)
            else:
                ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label)
        axes[0][j].set_title("\n".join(textwrap.wrap(prompt, 32)[:5]), fontsize=7)
    fig.suptitle(_title(title, synthetic))
    _save(fig, out)
    return {"prompts": [p for p, _, _ in examples]}


def image_grid_examples(split: str | os.PathLike, image_paths: Sequence[str | os.PathLike],
                        model_dir: str | os.PathLike, n: int, seed: int, image_size: int | None = None,
                        steps: int | None = None) -> list[tuple[str, Any, Any]]:
    """(prompt, real image, generated image) for the first `n` prompts of the generation test split.

    The prompts are fixed by the split (deduplicated by prompt, as the evaluation does), and each image's
    noise seed comes from the global seed and its dicom_id (`unix.evaluation.protocol.image_seed`), so
    the grid shows the same prompts with the same noise after every rerun. `image_size` and `steps`
    default to the model's own (None).
    """
    from unix.data.images import read_images
    from unix.evaluation.protocol import dedup_by_prompt, image_seed
    from unix.model.inference import generate_images, load_model

    df = pd.read_parquet(split, columns=["dicom_id", "split", "prompt"])
    test = dedup_by_prompt(df[df["split"] == "test"]).head(n)
    if test.empty:
        raise ValueError(f"{split}: the generation split has no test rows to show")
    ids = [str(d) for d in test["dicom_id"]]
    reals = read_images(list(image_paths), dicom_ids=ids)
    model, tokenizer = load_model(model_dir)
    fakes = generate_images(model, tokenizer, list(test["prompt"]), seeds=[image_seed(seed, d) for d in ids],
                            image_size=image_size, steps=steps)
    return [(prompt, reals.get(d), fake.convert("L")) for prompt, d, fake in zip(test["prompt"], ids, fakes)]


def plot_per_pathology_fd(measured: dict[str, dict[str, float | None]], paper_rows: dict[str, Sequence[float | None]],
                          findings: Sequence[str], out: str | os.PathLike, synthetic: bool) -> dict[str, Any]:
    """Grouped bars of FD-RadDino per finding: the paper's rows beside ours (missing values are gaps).

    `measured`: row name -> {finding: FD or None}; `paper_rows`: published row name -> values in
    `findings` order (Table 4).
    """
    series: dict[str, list[float]] = {}
    for name, vals in paper_rows.items():
        series[f"{name} (paper)"] = [math.nan if v is None else float(v) for v in vals]
    for name, vals in measured.items():
        series[f"{name} (ours)"] = [math.nan if vals.get(f) is None else float(vals[f]) for f in findings]
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(10, len(findings) * 0.9), 4.5))
    for k, (name, vals) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(findings))]
        ax.bar(xs, vals, width=width, label=name, hatch="//" if name.endswith("(ours)") else None)
    ax.set_xticks(range(len(findings)))
    ax.set_xticklabels(findings, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("FD-RadDino (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(_title("FD-RadDino per finding: ours vs the paper (Table 4)", synthetic))
    _save(fig, out)
    missing = {name: [f for f in findings if vals.get(f) is None] for name, vals in measured.items()}
    return {"series": list(series), "missing_findings": missing}


def plot_report_examples(reports: str | os.PathLike | pd.DataFrame, out: str | os.PathLike, synthetic: bool,
                         n: int = 3, width: int = 80) -> dict[str, Any]:
    """Raw and cleaned text of the first `n` cleaned reports (sorted by report_id), side by side."""
    df = pd.read_parquet(reports) if not isinstance(reports, pd.DataFrame) else reports
    for col in ("report_id", "raw_text", "cleaned_text"):
        if col not in df.columns:
            raise ValueError(f"cleaned reports table lacks column {col!r} (has {list(df.columns)}); "
                             "it must follow the cleaning contract (results/cleaning/reports.parquet)")
    pick = df.sort_values("report_id")
    if "status" in pick.columns and (pick["status"] == "cleaned").any():
        pick = pick[pick["status"] == "cleaned"]
    pick = pick.head(n)
    if pick.empty:
        raise ValueError("no reports to show: the cleaned reports table is empty")

    def wrap(text: str, lines: int = 22) -> str:
        out_lines: list[str] = []
        for para in str(text).splitlines():
            out_lines.extend(textwrap.wrap(para, width) or [""])
        return "\n".join(out_lines[:lines] + (["..."] if len(out_lines) > lines else []))

    fig, axes = plt.subplots(len(pick), 2, figsize=(13, 3.9 * len(pick)), squeeze=False)
    for i, (_, rec) in enumerate(pick.iterrows()):
        for j, (col, label) in enumerate((("raw_text", "raw"), ("cleaned_text", "cleaned"))):
            ax = axes[i][j]
            ax.axis("off")
            ax.set_title(f"{rec['report_id']} — {label}", fontsize=9, loc="left")
            ax.text(0, 1, wrap(rec[col]), va="top", ha="left", family="monospace", fontsize=7,
                    transform=ax.transAxes)
    fig.suptitle(_title("Reports before and after cleaning", synthetic))
    _save(fig, out)
    return {"report_ids": [str(r) for r in pick["report_id"]]}


def accounting_counts(paths: dict[str, str | os.PathLike]) -> pd.DataFrame:
    """Rows per (split, status, reason) of the data stage's accounting CSVs."""
    frames = []
    for name, path in paths.items():
        df = pd.read_csv(path, keep_default_na=False)
        for col in ("status", "reason"):
            if col not in df.columns:
                raise ValueError(f"{path}: accounting table lacks column {col!r} (has {list(df.columns)})")
        reason = df["reason"].astype(str).where(df["status"] != "kept", "kept")
        reason = reason.where(reason.str.len() > 0, "(no reason)")
        counts = (pd.DataFrame({"status": df["status"], "reason": reason}).value_counts()
                  .rename("rows").reset_index())
        counts.insert(0, "split", name)
        frames.append(counts)
    return pd.concat(frames, ignore_index=True).sort_values(["split", "status", "rows"], ascending=[True, False, False])


def plot_split_accounting(paths: dict[str, str | os.PathLike], out: str | os.PathLike,
                          synthetic: bool) -> dict[str, Any]:
    """Horizontal bars: rows kept and excluded by reason, one panel per split (understanding, generation)."""
    counts = accounting_counts(paths)
    names = list(paths)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 0.4 * counts.groupby("split").size().max() + 1.8),
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        sub = counts[counts["split"] == name].iloc[::-1]
        colors = ["tab:green" if s == "kept" else "tab:red" for s in sub["status"]]
        ax.barh(sub["reason"], sub["rows"], color=colors)
        for y, v in enumerate(sub["rows"]):
            ax.text(v, y, f" {v}", va="center", fontsize=8)
        ax.set_title(f"{name}: {int(sub[sub.status == 'kept'].rows.sum())} kept, "
                     f"{int(sub[sub.status != 'kept'].rows.sum())} excluded", fontsize=10)
        ax.set_xlabel("rows")
    fig.suptitle(_title("Split accounting: kept and excluded rows by reason", synthetic))
    _save(fig, out)
    return {"counts": counts.to_dict(orient="records")}


def finding_values(metrics: Any, findings: Iterable[str], prefix: str = "fd_raddino/") -> dict[str, float | None]:
    """{finding: value or None} from a per-pathology MetricsRecord."""
    return {f: (float(metrics.values[prefix + f]) if prefix + f in metrics.values else None) for f in findings}

"""Per-stage training outputs: the loss/LR log as CSV, loss-curve PNG and a JSON summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unix.training.trainer import LOG_COLUMNS, write_log


def plot_losses(rows: list[dict[str, Any]], path: str | os.PathLike, title: str) -> None:
    """Loss curves (every logged loss term) and the learning rate, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]
    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1])
    for key in (k for k in LOG_COLUMNS if k.startswith("loss")):
        values = [float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in rows]
        if any(v == v for v in values):
            ax_loss.plot(steps, values, label=key, marker="." if len(steps) < 50 else None)
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(title)
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_lr.plot(steps, [float(r["lr"]) for r in rows], color="tab:gray")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("optimizer step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_stage_outputs(rows: list[dict[str, Any]], summary: dict[str, Any], *, log_csv: str | os.PathLike,
                        loss_png: str | os.PathLike, summary_json: str | os.PathLike, title: str) -> None:
    """Write the three per-stage reports."""
    for p in (log_csv, loss_png, summary_json):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    write_log(Path(log_csv), rows)
    plot_losses(rows, loss_png, title)
    Path(summary_json).write_text(json.dumps(summary, indent=2, default=str) + "\n")

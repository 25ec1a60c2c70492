"""The bridge between Snakemake and the package: what every workflow script does the same way.

A workflow script is a thin adapter:

    from unix.pipeline import run_step
    from unix.data.splits import select_understanding

    def main(step):
        select_understanding(step.input.metadata, ..., out=step.output.table)

    run_step(snakemake, main)

`run_step` sends logging to the rule's log file (and stderr; for rules that declare the `attempt` resource,
the log keeps every attempt, each below a header, although Snakemake deletes logs before each attempt: see
`attempt_history`), seeds the global RNGs from
`params.seed` when the rule has one, runs the step, and writes the provenance record of every
output (see `unix.provenance`). An exception is logged with its traceback before it propagates, so
the rule's log says why it failed.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("unix")


def setup_logging(log_path: str | None = None, level: int = logging.INFO, append: bool = False) -> None:
    """Log to stderr and, when given, to `log_path` (the rule's `log:` file; kept and added to with `append`)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="a" if append else "w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (when imported) torch."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def job_attempt(smk: Any) -> int | None:
    """The job's attempt (1, then 2, ... for Snakemake's retries) where the rule declares the resource
    `attempt=W.attempt` (rules whose retries resume, e.g. training); None otherwise."""
    value = getattr(getattr(smk, "resources", None), "attempt", None)
    return int(value) if value is not None else None


def attempt_header(rule: str, attempt: int) -> str:
    """The line that opens one attempt's part of a rule's log (the log keeps every attempt)."""
    import os

    job = os.environ.get("SLURM_JOB_ID")
    where = f" (SLURM job {job} on {os.environ.get('SLURMD_NODENAME', '?')})" if job else ""
    return f"===== rule {rule}: attempt {attempt}{where} ====="


def attempt_history(log_path: str | Path) -> Path:
    """Where a rule with the `attempt` resource keeps its log while attempts fail: <log stem>.attempts<suffix>.

    Snakemake deletes a job's log before every attempt; the history file, which Snakemake does not know,
    survives. During an attempt the rule's log is a symlink to it; when the job succeeds the history becomes
    the log (see `run_step`)."""
    log_path = Path(log_path)
    return log_path.with_name(f"{log_path.stem}.attempts{log_path.suffix}")


def open_attempt_log(log_path: str | Path) -> None:
    """Point the rule's log at its history file (created when absent); a regular log already there (not
    written through the history) is moved into the history first."""
    log_path, history = Path(log_path), attempt_history(log_path)
    if log_path.is_symlink():
        log_path.unlink()
    elif log_path.exists():
        with open(history, "a") as fh:
            fh.write(log_path.read_text(errors="replace"))
        log_path.unlink()
    history.touch()
    log_path.symlink_to(history.name)


def close_attempt_log(log_path: str | Path) -> None:
    """After a successful attempt: the history (every attempt) becomes the rule's log, a regular file."""
    log_path, history = Path(log_path), attempt_history(log_path)
    if log_path.is_symlink() and history.is_file():
        for handler in logging.getLogger().handlers:
            handler.flush()
        log_path.unlink()
        history.replace(log_path)


def run_step(smk: Any, main: Callable[[Any], dict | None]) -> None:
    """Run `main(smk)` as a Snakemake job: logging, seeding, timing and provenance.

    `main` may return a dict of extra provenance (e.g. counts, LLM call ids) merged into each
    output's record.
    """
    log_path = smk.log[0] if len(smk.log) else None
    attempt = job_attempt(smk)
    if attempt is not None and log_path:
        open_attempt_log(log_path)
    setup_logging(log_path, append=attempt is not None)
    if attempt is not None:
        log.info(attempt_header(smk.rule, attempt))
    seed = getattr(smk.params, "seed", None) if hasattr(smk, "params") else None
    if seed is not None:
        seed_everything(int(seed))
    log.info("rule %s started (seed=%s)", smk.rule, seed)
    start = time.time()
    try:
        extra = main(smk) or {}
    except Exception:
        log.exception("rule %s failed", smk.rule)
        raise
    wall = time.time() - start
    log.info("rule %s finished in %.2f s", smk.rule, wall)
    from unix.provenance import record_job

    record_job(smk, extra={**extra, "wall_time_s": round(wall, 3)})
    if attempt is not None and log_path:
        close_attempt_log(log_path)

"""Per-run accounting of cleaning: reports, inputs not sent, cache hits, requests, retries, failures, tokens, cost.

`empty_input` counts the reports that were never sent because they have no content (`unix.cleaning.inputs`);
`failed` counts the reports sent (or cached) whose cleaning failed. While a run goes, `failed` and
`transport_errors` (failed attempts, retried or not) are live counters for the progress bar.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

COLUMNS = [
    "reports", "empty_input", "cache_hits", "cleaned", "failed", "flagged", "requests_sent", "retries",
    "failures_transport", "failures_malformed", "failures_judge", "failures_other", "tokens_in", "tokens_out",
    "estimated_cost_usd",
]


@dataclass
class Accounting:
    """Counters of one cleaning run (one shard, or the `unix clean` command)."""

    price_input_per_million: float = 0.0
    price_output_per_million: float = 0.0
    reports: int = 0
    empty_input: int = 0
    cache_hits: int = 0
    cleaned: int = 0
    failed: int = 0
    flagged: int = 0
    requests_sent: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    transport_errors: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    failure_kinds: Counter = field(default_factory=Counter)

    @property
    def estimated_cost_usd(self) -> float:
        return (self.tokens_in * self.price_input_per_million + self.tokens_out * self.price_output_per_million) / 1e6

    def row(self) -> dict[str, Any]:
        """One row of the accounting table."""
        return {
            "reports": self.reports, "empty_input": self.empty_input, "cache_hits": self.cache_hits,
            "cleaned": self.cleaned, "failed": self.failed, "flagged": self.flagged,
            "requests_sent": self.requests_sent, "retries": self.retries,
            "failures_transport": self.failure_kinds["transport"],
            "failures_malformed": self.failure_kinds["malformed"], "failures_judge": self.failure_kinds["judge"],
            "failures_other": sum(v for k, v in self.failure_kinds.items()
                                  if k not in ("transport", "malformed", "judge")),
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "estimated_cost_usd": round(self.estimated_cost_usd, 6),
        }

    def postfix(self) -> dict[str, Any]:
        """Short live counters for the progress bar."""
        return {"req": self.requests_sent, "hit": self.cache_hits, "retry": self.retries,
                "err": self.transport_errors, "fail": self.failed}


def accounting_table(rows: list[dict[str, Any]], labels: list[str] | None = None) -> pd.DataFrame:
    """Table of per-run rows (e.g. per shard) plus a `total` row."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.insert(0, "run", labels if labels is not None else [str(i) for i in range(len(rows))])
    total = {"run": "total", **{c: df[c].sum() for c in COLUMNS}}
    total["estimated_cost_usd"] = round(float(total["estimated_cost_usd"]), 6)
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def format_accounting(row: dict[str, Any]) -> str:
    """Human-readable summary of one accounting row."""
    return (
        f"reports {row['reports']}: cleaned {row['cleaned']}, failed {row['failed']}, not sent (empty input) "
        f"{row['empty_input']} (flagged {row['flagged']}); "
        f"cache hits {row['cache_hits']}; requests sent {row['requests_sent']}, retries {row['retries']}; "
        f"failures: transport {row['failures_transport']}, malformed {row['failures_malformed']}, "
        f"judge {row['failures_judge']}, other {row['failures_other']}; tokens in {row['tokens_in']}, "
        f"out {row['tokens_out']}; estimated cost ${row['estimated_cost_usd']:.4f}"
    )


def progress_bar(total: int, enabled: bool = True, desc: str = "cleaning"):
    """A tqdm bar on stderr (plain, rarely refreshed lines when stderr is a log file)."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="report", disable=not enabled, file=sys.stderr,
                mininterval=0.2 if tty else 10.0, dynamic_ncols=tty)

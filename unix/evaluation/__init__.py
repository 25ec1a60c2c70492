"""Evaluation with the paper's protocol (see results.py for the JSON format)."""

from unix.evaluation.results import MetricsRecord, read_metrics, write_metrics

__all__ = ["MetricsRecord", "read_metrics", "write_metrics"]

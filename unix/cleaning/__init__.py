"""Report cleaning: raw MIMIC-CXR report -> "FINDINGS: ... IMPRESSION: ...", with nothing diagnostic lost.

Two backends write the same table (`backends.OUTPUT_COLUMNS`):
- `rules`: a deterministic offline cleaner (`rules`), the demo default;
- `openai`: any OpenAI-compatible chat-completions endpoint (DeepSeek's by default) with the versioned
  prompts in `unix/prompts/`, the paper's self-judgement call, bounded concurrency, our own retry policy
  (`client`), a content-addressed on-disk cache (`cache`) and per-run accounting (`accounting`).
Reports without content are never sent (`inputs`: recorded as `empty_input`), a dead endpoint trips a
circuit breaker (`client`), and every request attempt is recorded with its status and error.
The data-use guard (`guard`) refuses to send report text anywhere but loopback or user-declared local
hosts unless the user acknowledges the remote host. `stage` holds the workflow steps (shards, gather,
label-drift audit via `drift`); `command` is `unix clean`.

Entry point: `clean_reports(report_ids, texts, CleaningOptions(...), cache_dir=...)`.
"""

from unix.cleaning.backends import CleaningError, CleaningResult, CleaningStopped, clean_reports
from unix.cleaning.guard import DataUseError, check_data_use
from unix.cleaning.options import CleaningOptions

__all__ = [
    "CleaningError", "CleaningOptions", "CleaningResult", "CleaningStopped", "DataUseError", "check_data_use",
    "clean_reports",
]

"""The options of report cleaning: one dataclass shared by the workflow rule and `unix clean`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

BACKENDS = ("rules", "openai")


@dataclass
class CleaningOptions:
    """How reports are cleaned. Mirrors config.yaml `cleaning:` (see the comments there)."""

    backend: str = "rules"
    """"rules" (deterministic, offline) or "openai" (any OpenAI-compatible chat-completions endpoint)."""
    judge: bool = True
    """openai backend: run the self-judgement call that checks each cleaned report against the raw one."""
    base_url: str = "https://api.deepseek.com"
    """endpoint of the OpenAI-compatible API (DeepSeek's by default; a local server: http://127.0.0.1:8000/v1)."""
    model: str = "deepseek-chat"
    """model name sent with every request."""
    api_key_env: str = "DEEPSEEK_API_KEY"
    """NAME of the environment variable that holds the API key (the key itself is never in config)."""
    temperature: float = 0.0
    """sampling temperature (part of the cache key)."""
    top_p: float = 1.0
    """nucleus sampling mass (part of the cache key)."""
    max_tokens: int = 1024
    """upper bound on the tokens of one answer (part of the cache key)."""
    requests_in_flight: int = 16
    """most requests waiting for an answer at any time."""
    timeout_s: float = 60.0
    """seconds to wait for one answer before it counts as a timeout and is retried."""
    connect_timeout_s: float = 5.0
    """seconds to wait for the connection itself (TCP and TLS; the openai SDK's default): a host that drops
    packets fails fast. A server that accepts but never answers is caught by timeout_s only."""
    max_retries: int = 6
    """retries of one request after 429, 5xx, timeouts, dropped connections or unreadable JSON."""
    malformed_retries: int = 2
    """new requests after an answer that is empty or not in the FINDINGS/IMPRESSION format."""
    judge_retries: int = 1
    """new cleaning attempts after the judge rejects a cleaned report; then it is recorded as failed."""
    max_consecutive_failures: int = 20
    """circuit breaker: this many transport failures in a row (timeouts, refused or dropped connections, 5xx,
    unreadable answers; no answer in between) stop the run with an error naming the endpoint."""
    backoff_base_s: float = 1.0
    """first backoff delay; it doubles per retry, with full jitter."""
    backoff_max_s: float = 60.0
    """longest backoff delay (also the cap on a server's Retry-After)."""
    price_input_per_million: float = 0.28
    """USD per million prompt tokens, for the cost estimate."""
    price_output_per_million: float = 0.42
    """USD per million completion tokens, for the cost estimate."""
    local_hosts: list[str] = field(default_factory=list)
    """host names the user declares local, besides loopback; `*` and `?` match within one DNS label
    ("gpu-node-*" matches gpu-node-07, never gpu-node-07.attacker.example.com); see `guard.host_matches`."""
    remote_acknowledgement: str = ""
    """the host name of a remote endpoint the user accepts sending MIMIC text to (empty: none)."""
    retry_failed: bool = False
    """resend reports whose cached result is a failure (malformed answers, judge rejections)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"cleaning.backend is {self.backend!r}; use one of {', '.join(BACKENDS)}")
        for name in ("requests_in_flight", "max_consecutive_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"cleaning.openai.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_retries", "malformed_retries", "judge_retries", "max_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"cleaning.openai.{name} must be >= 0, got {getattr(self, name)}")
        if min(self.timeout_s, self.connect_timeout_s) <= 0 or not 0 <= self.backoff_base_s <= self.backoff_max_s:
            raise ValueError("cleaning.openai: timeout_s and connect_timeout_s must be > 0 and "
                             "0 <= backoff_base_s <= backoff_max_s")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(
                f"cleaning.openai.api_key_env must be the NAME of an environment variable (e.g. DEEPSEEK_API_KEY), "
                f"got {self.api_key_env!r}; never put the key itself in config"
            )

    @property
    def sampling(self) -> dict[str, Any]:
        """The sampling parameters sent with every request (and hashed into cache keys)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}

    @classmethod
    def from_config(cls, section: dict[str, Any], **overrides: Any) -> "CleaningOptions":
        """Build from config.yaml's `cleaning:` section (nested `openai:` and `data_use:`)."""
        flat: dict[str, Any] = {"backend": section.get("backend", "rules")}
        flat.update(section.get("openai", {}))
        flat.update(section.get("data_use", {}))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(flat) - names)
        if unknown:
            raise ValueError(f"cleaning config: unknown key(s) {unknown}; allowed: {sorted(names)}")
        flat.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**flat)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

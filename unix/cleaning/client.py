"""Asynchronous chat-completions calls with our own retry policy.

The official `openai.AsyncOpenAI` client is built with `max_retries=0`: retrying here keeps every retry
counted and under one policy:
- HTTP 429: wait the server's Retry-After (seconds or HTTP date; `retry-after-ms` too), capped at
  `backoff_max_s`; the wait pauses *all* requests, because the limit is the server's, not the request's;
- 5xx, 408/409, timeouts, dropped connections and unreadable JSON (or JSON that is no chat completion):
  exponential backoff with full jitter (`uniform(0, min(max, base * 2**attempt))`);
- other 4xx: 401/403/404 stop the run (a wrong key, model or URL fails every request alike); 400/413/422
  fail only that request;
- at most `max_retries` retries, then `TransportFailure`;
- circuit breaker: `max_consecutive_failures` transport failures in a row (timeouts, refused or dropped
  connections, 5xx, unreadable JSON; 429 does not count, any answer resets the count) raise `EndpointDown`,
  which stops the run: a dead endpoint costs seconds, not a retry cycle per report.
Every attempt becomes a `CallRecord` (with status and error), appended to the caller's list as it is made
(so a request cut short by a stopping run is recorded too: outcome and status `cancelled`); the exceptions
carry the records of the attempts behind them. A semaphore bounds the requests in flight. The API key is
passed to the client and never logged.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from unix.cleaning.accounting import Accounting
from unix.cleaning.options import CleaningOptions

log = logging.getLogger(__name__)


class CallFailure(RuntimeError):
    """A request that ended without a usable answer; `records` are its attempts."""

    def __init__(self, message: str, records: list["CallRecord"] | None = None):
        super().__init__(message)
        self.records = list(records or [])


class TransportFailure(CallFailure):
    """A request failed after all retries (the report is recorded failed, not cached, and resent next run)."""


class RequestRejected(CallFailure):
    """The server rejected this request itself (400/413/422): retrying the same request cannot help."""


class EndpointError(CallFailure):
    """The endpoint refuses every request (wrong key, model or URL): the run stops."""


class EndpointDown(EndpointError):
    """`max_consecutive_failures` transport failures in a row: the circuit breaker stops the run."""


@dataclass
class CallRecord:
    """Provenance of one HTTP request."""

    role: str
    """clean | judge"""
    attempt: int
    model: str
    request_id: str
    """the server's x-request-id header (or "")."""
    response_id: str
    """the completion's `id` (or "")."""
    tokens_in: int
    tokens_out: int
    latency_s: float
    time: str
    """UTC ISO time the request was sent."""
    outcome: str
    """ok | http_<status> | timeout | connection | bad_json | cancelled"""
    status: str = "ok"
    """ok | malformed | judge_fail (set by the backend) | rate_limited | transport | rejected | endpoint_refused
    | cancelled (in flight when the run stopped)"""
    error: str = ""
    """what went wrong ("" when ok): the exception, the parse error or the judge's reason."""

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar: a shallow copy equals `asdict` without its recursive deepcopy.
        return dict(self.__dict__)


class _Sink(list):
    """The attempts of one request, each also appended to the caller's list (when given) as it is made."""

    def __init__(self, sink: list | None):
        super().__init__()
        self._sink = sink

    def append(self, record: CallRecord) -> None:
        super().append(record)
        if self._sink is not None:
            self._sink.append(record)


class NotACompletion(ValueError):
    """An HTTP 200 answer whose JSON is not a chat completion (retried like unreadable JSON)."""


@dataclass
class _Completion:
    """The fields of a chat completion that we use and record."""

    id: str
    model: str
    content: str | None
    """the first choice's message content (None when absent)."""
    tokens_in: int
    tokens_out: int

    @classmethod
    def from_json(cls, body: bytes) -> "_Completion":
        """Parse a chat-completion body (JSONDecodeError, or NotACompletion for JSON of another shape)."""
        data = json.loads(body)
        try:
            choices = data.get("choices") or []
            message = (choices[0].get("message") or {}) if choices else {}
            usage = data.get("usage") or {}
            return cls(id=str(data.get("id") or ""), model=str(data.get("model") or ""),
                       content=message.get("content"),
                       tokens_in=int(usage.get("prompt_tokens") or 0),
                       tokens_out=int(usage.get("completion_tokens") or 0))
        except (AttributeError, IndexError, KeyError, TypeError) as err:
            raise NotACompletion(f"not a chat completion: {err}") from None


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (delta seconds or an HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def describe_error(err: BaseException) -> str:
    """One line naming an exception and its root cause (e.g. the refused connection behind "Connection error.")."""
    text = f"{type(err).__name__}: {err}"
    root, seen = err, {id(err)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        root = nxt
        seen.add(id(root))
    if root is not err and str(root) not in text:
        text += f" ({type(root).__name__}: {root})"
    return text[:300]


class ChatClient:
    """Bounded, retried chat-completions calls for one event loop."""

    def __init__(self, options: CleaningOptions, api_key: str, accounting: Accounting,
                 rng: random.Random | None = None):
        self.options = options
        self.accounting = accounting
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(options.requests_in_flight)
        self._resume_at = 0.0  # monotonic time before which no request is sent (after a 429)
        self._failures_in_a_row = 0  # transport failures since the last answer (the circuit breaker)
        # httpx2 logs every request at INFO: 450k lines for MIMIC-CXR. Failures are logged here instead.
        for name in ("httpx2", "httpx"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=options.base_url, max_retries=0,
            timeout=httpx2.Timeout(options.timeout_s, connect=options.connect_timeout_s),
        )

    async def close(self) -> None:
        await self._client.close()

    def _backoff(self, retry: int) -> float:
        return self._rng.uniform(0, min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** retry))

    async def chat(self, messages: list[dict[str, str]], role: str,
                   sink: list[CallRecord] | None = None) -> tuple[str | None, list[CallRecord]]:
        """Send one chat request with retries; return (answer content, records of every attempt).

        Each attempt's record is also appended to `sink` the moment it ends, so the caller holds the attempts
        of a request that raised or was cancelled.
        """
        records: list[CallRecord] = _Sink(sink)
        opts = self.options
        for attempt in range(opts.max_retries + 1):
            async with self._sem:
                # Requests that queued for a slot while a 429 pause began wait it out too.
                while (wait := self._resume_at - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                sent = _now_iso()
                start = time.monotonic()
                self.accounting.requests_sent += 1
                try:
                    # `post` is what `chat.completions.create` ends in, minus its walk of the request
                    # over the TypedDict annotations (about 3 ms of CPU per request; our messages are
                    # plain strings already), which would cap throughput near 150 requests/s per core.
                    # cast_to=httpx2.Response: the client hands back the HTTP response (status errors
                    # are raised as before) and we read the few fields we record from its JSON, which
                    # skips building the pydantic ChatCompletion (about a tenth of the client's CPU).
                    response = await self._client.post(
                        "/chat/completions", cast_to=httpx2.Response,
                        body={"model": opts.model, "messages": messages, **opts.sampling},
                    )
                    request_id = response.headers.get("x-request-id", "")
                    completion = _Completion.from_json(response.content)
                except asyncio.CancelledError:  # the run stops (another request tripped the breaker)
                    records.append(self._record(role, attempt, "", "", None, start, sent, "cancelled", "cancelled",
                                                "the run stopped while this request was in flight"))
                    raise
                except Exception as err:  # noqa: BLE001 - sorted by _failed, which re-raises the unknown
                    delay = self._failed(err, role, attempt, start, sent, records)
                else:
                    self._failures_in_a_row = 0
                    record = self._record(role, attempt, request_id, completion.id, completion, start, sent, "ok")
                    records.append(record)
                    return completion.content, records
            if attempt < opts.max_retries:
                outcome = records[-1].outcome
                self.accounting.retries += 1
                self.accounting.retry_reasons[outcome] += 1
                log.debug("%s request attempt %d: %s; retrying in %.2f s", role, attempt, outcome, delay)
                await asyncio.sleep(delay)
        raise TransportFailure(f"{role} request failed {opts.max_retries + 1} times; last: {records[-1].outcome} "
                               f"({records[-1].error})", records)

    def _failed(self, err: Exception, role: str, attempt: int, start: float, sent: str,
                records: list[CallRecord]) -> float:
        """Record a failed attempt; return the delay before the retry, or raise when there is none."""
        opts = self.options
        error = describe_error(err)
        if isinstance(err, openai.RateLimitError):
            records.append(self._record(role, attempt, "", "", None, start, sent, "http_429", "rate_limited", error))
            hinted = retry_after_seconds(err.response.headers)
            delay = min(opts.backoff_max_s, hinted) if hinted is not None else self._backoff(attempt)
            self._resume_at = max(self._resume_at, time.monotonic() + delay)
            return delay
        if isinstance(err, openai.APIStatusError) and err.status_code in (401, 403, 404, 400, 413, 422):
            status = err.status_code
            refused = status in (401, 403, 404)
            records.append(self._record(role, attempt, "", "", None, start, sent, f"http_{status}",
                                        "endpoint_refused" if refused else "rejected", error))
            if refused:
                raise EndpointError(
                    f"{opts.base_url} answered HTTP {status} for model {opts.model!r}: check "
                    f"cleaning.openai.base_url, cleaning.openai.model and the key in the environment "
                    f"variable {opts.api_key_env}", records,
                ) from None
            raise RequestRejected(f"HTTP {status}: {str(err.message)[:200]}", records) from None
        if isinstance(err, openai.APIStatusError):
            outcome = f"http_{err.status_code}"
        elif isinstance(err, openai.APITimeoutError):
            outcome = "timeout"
        elif isinstance(err, openai.APIConnectionError):
            outcome = "connection"
        elif isinstance(err, (json.JSONDecodeError, UnicodeDecodeError, NotACompletion,
                              openai.APIResponseValidationError)):
            outcome = "bad_json"
        else:
            raise err
        records.append(self._record(role, attempt, "", "", None, start, sent, outcome, "transport", error))
        self.accounting.transport_errors += 1
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= opts.max_consecutive_failures:
            raise EndpointDown(
                f"stopped: {self._failures_in_a_row} requests in a row to {opts.base_url} failed without a "
                f"single answer (cleaning.openai.max_consecutive_failures = {opts.max_consecutive_failures}); "
                f"last error: {outcome}: {error}. Reports cleaned so far are cached; check that the server "
                "is up at that URL, then rerun (only the rest is sent)", records,
            )
        return self._backoff(attempt)

    def _record(self, role: str, attempt: int, request_id: str, response_id: str, completion: _Completion | None,
                start: float, sent: str, outcome: str, status: str = "ok", error: str = "") -> CallRecord:
        tokens_in = completion.tokens_in if completion else 0
        tokens_out = completion.tokens_out if completion else 0
        self.accounting.tokens_in += tokens_in
        self.accounting.tokens_out += tokens_out
        return CallRecord(
            role=role, attempt=attempt, model=(completion.model if completion else "") or self.options.model,
            request_id=request_id, response_id=response_id, tokens_in=tokens_in, tokens_out=tokens_out,
            latency_s=round(time.monotonic() - start, 4), time=sent, outcome=outcome, status=status, error=error,
        )

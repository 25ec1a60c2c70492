"""The versioned prompts of report cleaning and the strict reading of the model's answers.

A prompt file (`unix/prompts/*.txt`) holds a `# version: NAME` line, comment lines (`#`), and a
`[system]` and a `[user]` part; the user part has `{placeholders}` filled by plain substitution (reports
contain braces, so `str.format` is not used). The prompt version used in cache keys and provenance is
`NAME+sha256(sent text)[:12]`: editing the text without bumping NAME still changes every cache key.

The answer format is `FINDINGS: ... IMPRESSION: ...` on one line, either section optional but not both.
`parse_cleaned` rejects anything else (empty, preamble, markdown, leftover headers or `___`) so that the
client can retry a malformed answer and, when retries run out, record the report as failed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from unix.data.reports import format_report

PROMPT_DIR = Path(__file__).resolve().parents[1] / "prompts"
CLEAN_PROMPT = "clean_report"
JUDGE_PROMPT = "judge_report"


class MalformedAnswer(ValueError):
    """The model's answer is not in the required format (the message says how)."""


@dataclass(frozen=True)
class Prompt:
    """One prompt file, parsed."""

    name: str
    """file stem, e.g. "clean_report"."""
    declared_version: str
    """the `# version:` string written in the file."""
    system: str
    """system message."""
    user_template: str
    """user message with `{placeholders}`."""

    @property
    def sha256(self) -> str:
        """Hash of the text that is sent (system + user template)."""
        return hashlib.sha256(f"{self.system}\0{self.user_template}".encode()).hexdigest()

    @property
    def version(self) -> str:
        """Declared version plus text hash: what cache keys and provenance record."""
        return f"{self.declared_version}+{self.sha256[:12]}"

    def messages(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with the placeholders of the user template filled in."""
        user = self.user_template
        for key, value in values.items():
            placeholder = "{" + key + "}"
            if placeholder not in user:
                raise KeyError(f"prompt {self.name} has no placeholder {placeholder}")
            user = user.replace(placeholder, value)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def parse_prompt_text(name: str, text: str) -> Prompt:
    """Parse the text of a prompt file; raise ValueError naming the file and what is missing."""
    declared = None
    parts: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = re.match(r"#\s*version:\s*(\S+)", line)
            if m and declared is None:
                declared = m.group(1)
            continue
        header = re.fullmatch(r"\[(system|user)\]\s*", line)
        if header:
            current = header.group(1)
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    if declared is None:
        raise ValueError(f"prompt {name}: no '# version: NAME' line; add one at the top of the file")
    missing = [p for p in ("system", "user") if p not in parts]
    if missing:
        raise ValueError(f"prompt {name}: missing part(s) {missing}; add '[system]' and '[user]' lines")
    return Prompt(name, declared, "\n".join(parts["system"]).strip(), "\n".join(parts["user"]).strip())


@lru_cache(maxsize=None)
def load_prompt(name: str, prompt_dir: str | None = None) -> Prompt:
    """Load `unix/prompts/<name>.txt` (or from `prompt_dir`)."""
    path = Path(prompt_dir or PROMPT_DIR) / f"{name}.txt"
    if not path.exists():
        raise ValueError(f"prompt file {path} does not exist; it ships with the package (unix/prompts/)")
    return parse_prompt_text(name, path.read_text())


_SECTION = re.compile(r"\b(FINDINGS|IMPRESSION)\s*:", re.IGNORECASE)
# Headers that must not survive cleaning; their presence means the model kept non-diagnostic parts.
_FORBIDDEN_HEADERS = re.compile(
    r"\b(FINAL REPORT|EXAMINATION|INDICATION|HISTORY|TECHNIQUE|COMPARISON|WET READ|ADDENDUM|NOTIFICATION)\s*:",
)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def parse_cleaned(answer: str | None, raw: str | None = None) -> str:
    """Validate a cleaning answer and return it normalised to one line; raise MalformedAnswer.

    With `raw`, an answer much longer than the raw report is rejected too: cleaning only removes text.
    """
    if answer is None or not answer.strip():
        raise MalformedAnswer("empty answer")
    text = _squash(answer)
    sections = [(m.group(1).upper(), m.start(), m.end()) for m in _SECTION.finditer(text)]
    if not sections:
        raise MalformedAnswer("no FINDINGS: or IMPRESSION: section")
    if sections[0][1] != 0:
        raise MalformedAnswer(f"text before the first section: {text[:sections[0][1]][:60]!r}")
    names = [s[0] for s in sections]
    if names not in (["FINDINGS"], ["IMPRESSION"], ["FINDINGS", "IMPRESSION"]):
        raise MalformedAnswer(f"sections must be FINDINGS then IMPRESSION, each at most once; got {names}")
    bodies = {}
    for i, (name, _, end) in enumerate(sections):
        stop = sections[i + 1][1] if i + 1 < len(sections) else len(text)
        body = text[end:stop].strip()
        if not body:
            raise MalformedAnswer(f"empty {name} section")
        bodies[name] = body
    if _FORBIDDEN_HEADERS.search(text):
        raise MalformedAnswer(f"non-diagnostic header left in: {_FORBIDDEN_HEADERS.search(text).group(0)!r}")
    if "___" in text:
        raise MalformedAnswer("de-identification span '___' left in")
    if "```" in text or text.startswith(("**", '"')):
        raise MalformedAnswer("markdown or quotes around the answer")
    if raw is not None and len(text) > 1.5 * len(_squash(raw)) + 100:
        raise MalformedAnswer(f"answer ({len(text)} chars) much longer than the raw report ({len(raw)} chars)")
    return format_report(bodies.get("FINDINGS", ""), bodies.get("IMPRESSION", ""))


_VERDICT = re.compile(r"VERDICT\s*:\s*(PASS|FAIL)\b", re.IGNORECASE)
_REASON = re.compile(r"REASON\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)


def parse_verdict(answer: str | None) -> tuple[bool, str]:
    """Read a judge answer: (passed, reason); raise MalformedAnswer when there is no verdict line."""
    if answer is None or not answer.strip():
        raise MalformedAnswer("empty judge answer")
    m = _VERDICT.search(answer)
    if not m:
        raise MalformedAnswer(f"judge answer has no 'VERDICT: PASS|FAIL' line: {answer.strip()[:60]!r}")
    reason = _REASON.search(answer)
    return m.group(1).upper() == "PASS", _squash(reason.group(1)) if reason else ""

"""Why a job failed for good on SLURM: which limit it hit, and which config key raises it.

Snakemake's own message after the last retry is generic ("Error in rule ..."). The Snakefile's ``onerror``
handler calls :func:`explain_failures` on Snakemake's log: for every rule whose last failure was a SLURM limit
(``TIMEOUT``: the time limit; ``OUT_OF_MEMORY``: the memory limit), it names the limit, its value and the
config key that sets it for that rule (``resources.stages.<stage>.*`` for a training stage that sets its own,
else ``resources.families.<family>.*``), prints that, and appends it to the rule's log. A rule whose stage is a
wildcard (``train_stage``, ``W.resources(config, "train", "{stage}")``) is explained per stage, the stage read
from the failed job's log path against the rule's log pattern.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# SLURM job state -> (resource key of config `resources`, what it is).
LIMITS = {"TIMEOUT": ("runtime", "time limit", "min"), "OUT_OF_MEMORY": ("mem_mb", "memory limit", "MB")}
_ERROR = re.compile(r"^Error in rule (\w+):\n((?:[ \t]+.*\n?)*)", re.M)
_STATUS = re.compile(r"SLURM status is: '(\w+)'")
_LOG = re.compile(r"^\s+log: ([^\s,]+)", re.M)
_RESOURCES = re.compile(r"W\.resources\(config, \"(\w+)\"(?:, \"(\w+|\{\w+\})\")?\)")
_LOG_PATTERN = re.compile(r"^\s+log:\s*\n\s+\"([^\"]+)\"", re.M)


def _rule_blocks(rules_dir: str | Path) -> dict[str, str]:
    """The text of every rule in `rules_dir`/*.smk, by rule name."""
    blocks = {}
    for smk in sorted(Path(rules_dir).glob("*.smk")):
        for block in re.split(r"^(?=[ \t]*rule \w+:)", smk.read_text(), flags=re.M):
            if name := re.match(r"\s*rule (\w+):", block):
                blocks[name.group(1)] = block
    return blocks


def rule_resource_families(rules_dir: str | Path) -> dict[str, tuple[str, str | None]]:
    """(family, training stage or None) of every rule in `rules_dir`/*.smk, from its
    ``**W.resources(config, "<family>"[, "<stage>"])``; the stage may be a wildcard, ``"{stage}"``."""
    found: dict[str, tuple[str, str | None]] = {}
    for rule, block in _rule_blocks(rules_dir).items():
        if spec := _RESOURCES.search(block):
            found[rule] = (spec.group(1), spec.group(2))
    return found


def wildcard_stage(rules_dir: str | Path, rule: str, stage: str, log_path: str | None) -> str | None:
    """The value of a stage wildcard (``"{stage}"``) in one failed job of `rule`, read from its log path
    against the rule's log pattern (``results/logs/train_{stage}/train_{stage}.log``); None when it does not
    match."""
    pattern = _LOG_PATTERN.search(_rule_blocks(rules_dir).get(rule, ""))
    if not pattern or not log_path:
        return None
    name, seen, regex = stage[1:-1], set(), ""
    for literal, wildcard in re.findall(r"([^{]*)(?:\{(\w+)\})?", pattern.group(1)):
        regex += re.escape(literal)
        if wildcard:
            regex += f"(?P={wildcard})" if wildcard in seen else f"(?P<{wildcard}>[^/]+)"
            seen.add(wildcard)
    match = re.fullmatch(regex, log_path)
    return match.group(name) if match and name in seen else None


def last_failures(log_text: str) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Per job (rule, log file), its last failed SLURM job in a Snakemake log: SLURM state, log, failed attempts.

    Only the submitting Snakemake's error blocks count (they carry "SLURM status is"): the log also holds,
    with `show-failed-logs`, each failed job's own SLURM log, whose inner "Error in rule" has none."""
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for m in _ERROR.finditer(log_text):
        rule, body = m.group(1), m.group(2)
        status, logs = _STATUS.search(body), _LOG.search(body)
        if not status:
            continue
        job = (rule, logs.group(1) if logs else None)
        failed = out.get(job, {}).get("failed_attempts", 0) + 1
        out[job] = {"state": status.group(1), "log": job[1], "failed_attempts": failed}
    return out


def explain_failures(log_text: str, config: dict[str, Any], rules_dir: str | Path) -> list[tuple[str, str | None]]:
    """(message, the rule's log file) for every rule whose last failure was a SLURM time or memory limit."""
    from unix import workflow as W

    families = rule_resource_families(rules_dir)
    messages = []
    for (rule, _), failure in last_failures(log_text).items():
        if failure["state"] not in LIMITS or rule not in families:
            continue
        key, what, unit = LIMITS[failure["state"]]
        family, stage = families[rule]
        name = f"rule {rule}"
        if stage and stage.startswith("{"):
            value = wildcard_stage(rules_dir, rule, stage, failure["log"])
            name, stage = f"rule {rule} ({stage[1:-1]}={value})", value
        spec, keys = W.family_spec(config, family, stage)
        raise_key = keys[key]
        also = (f" (or resources.stages.{stage}.{key} for this stage only)"
                if stage and raise_key.startswith("resources.families.") else "")
        resume = " Training resumes from its newest checkpoint, so a rerun continues where it stopped." \
            if family == "train" else ""
        messages.append((
            f"{name}: SLURM stopped it at its {what} ({failure['state']}) on its last attempt "
            f"({failure['failed_attempts']} failed attempt(s)); the limit is {key}={spec[key]} {unit}, set by "
            f"config {raise_key}{also}: raise it and run again.{resume}", failure["log"]))
    return messages


def report(log_paths: str | Path | list | None, config: dict[str, Any], rules_dir: str | Path) -> list[str]:
    """The ``onerror`` handler: explain limit failures on stderr and in each failed rule's log.

    `log_paths`: Snakemake's log file(s) (``log`` in ``onerror``: a list in Snakemake 9)."""
    import sys

    paths = [log_paths] if isinstance(log_paths, (str, Path)) else list(log_paths or [])
    text = "".join(Path(p).read_text(errors="replace") for p in paths if p and Path(p).is_file())
    if not text:
        return []
    explained = explain_failures(text, config, rules_dir)
    for message, rule_log in explained:
        print(message, file=sys.stderr)
        if rule_log and Path(rule_log).parent.is_dir():
            with open(rule_log, "a") as fh:
                fh.write(message + "\n")
    return [m for m, _ in explained]

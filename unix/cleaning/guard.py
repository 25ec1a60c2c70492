"""The data-use guard: MIMIC report text leaves the machine only by an explicit, recorded decision.

The PhysioNet Credentialed Data Use Agreement forbids giving the data to third parties, which includes
sending it to an online API. Cleaning with the `openai` backend is therefore allowed without further
ado only for an endpoint on loopback (127.0.0.0/8, ::1, localhost) or on a host the user listed in
`cleaning.data_use.local_hosts` (their own GPU node; `host_matches`: `*` and `?` never cross a dot). Any
other host needs
`cleaning.data_use.remote_acknowledgement` set to exactly that host name; the decision is returned as a
record that the workflow stores in provenance.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from unix.cleaning.options import CleaningOptions

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class DataUseError(RuntimeError):
    """Report text would be sent to a remote endpoint without the user's acknowledgement."""


@dataclass(frozen=True)
class DataUseDecision:
    """What the guard decided, for provenance."""

    backend: str
    endpoint_host: str
    decision: str
    """offline | loopback | listed_local | acknowledged_remote | refused"""
    allowed: bool
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint_host(base_url: str) -> str:
    """Host name of an endpoint URL, lower case, without port or brackets."""
    host = urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname
    if not host:
        raise ValueError(f"cleaning.openai.base_url {base_url!r} has no host; use e.g. http://127.0.0.1:8000/v1")
    return host.lower()


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback IP addresses (no DNS look-up: names can lie)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_matches(host: str, pattern: str) -> bool:
    """True when `host` matches a `local_hosts` pattern label by label, case-insensitively.

    `*` and `?` (and `[...]`) match within one DNS label, never across a dot, and the pattern must cover the
    whole name: "gpu-node-*" matches gpu-node-07 but not gpu-node-07.attacker.example.com, and
    "gpu-node-*.cluster.example.edu" matches gpu-node-07.cluster.example.edu but not
    gpu-node-07.evil.cluster.example.edu. A trailing dot (the DNS root) is ignored on both sides.
    """
    host_labels = host.lower().rstrip(".").split(".")
    pattern_labels = pattern.strip().lower().rstrip(".").split(".")
    if len(host_labels) != len(pattern_labels) or not all(pattern_labels):
        return False
    # fnmatchcase on one label: the label holds no dot, so no wildcard can reach past it.
    return all(fnmatch.fnmatchcase(h, p) for h, p in zip(host_labels, pattern_labels))


def _refusal(host: str) -> str:
    return (
        f"refusing to send report text to {host}: the endpoint is neither on loopback nor listed in "
        "cleaning.data_use.local_hosts. The PhysioNet Credentialed Data Use Agreement forbids sharing "
        "MIMIC-CXR with third parties, including through an online API (PhysioNet recommends locally "
        "deployed LLMs; a cloud API only with verified zero data retention, no training on the data and no "
        "human review).\n"
        "Either serve a model yourself with any OpenAI-compatible server (e.g. on a cluster GPU node: "
        "`vllm serve /path/to/local/model --served-model-name deepseek-chat --port 8000`) and set "
        "cleaning.openai.base_url to http://127.0.0.1:8000/v1 (through an SSH tunnel) or to that node, with "
        "its host name in cleaning.data_use.local_hosts; or use cleaning.backend: rules (offline); or, if your "
        f"agreement with the provider allows it, set cleaning.data_use.remote_acknowledgement: \"{host}\" "
        "to record that you accept the transfer. (`unix clean`: --base-url, --local-host, --acknowledge-remote.)"
    )


def check_data_use(options: CleaningOptions) -> DataUseDecision:
    """Decide whether report text may be sent where `options` point (does not raise)."""
    if options.backend == "rules":
        return DataUseDecision("rules", "", "offline", True, "rules backend: no text leaves the machine")
    host = endpoint_host(options.base_url)
    if is_loopback(host):
        return DataUseDecision(options.backend, host, "loopback", True, f"{host} is a loopback address")
    listed = [p for p in options.local_hosts if host_matches(host, p)]
    if listed:
        return DataUseDecision(
            options.backend, host, "listed_local", True,
            f"{host} matches cleaning.data_use.local_hosts entry {listed[0]!r} (declared local by the user)",
        )
    if options.remote_acknowledgement and options.remote_acknowledgement.lower() == host:
        return DataUseDecision(
            options.backend, host, "acknowledged_remote", True,
            f"the user acknowledged sending MIMIC report text to the remote host {host} "
            "(cleaning.data_use.remote_acknowledgement)",
        )
    explanation = _refusal(host)
    if options.remote_acknowledgement:
        explanation = (
            f"cleaning.data_use.remote_acknowledgement is {options.remote_acknowledgement!r} but the endpoint "
            f"host is {host!r}; the acknowledgement must name the host exactly. " + explanation
        )
    return DataUseDecision(options.backend, host, "refused", False, explanation)


def enforce_data_use(options: CleaningOptions) -> DataUseDecision:
    """The decision when allowed; raise DataUseError with the explanation and the fixes when not."""
    decision = check_data_use(options)
    if not decision.allowed:
        raise DataUseError(decision.explanation)
    return decision

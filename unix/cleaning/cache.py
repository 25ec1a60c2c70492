"""A content-addressed cache of cleaning results on disk: one JSON file per key.

`cache_key` hashes everything that determines an answer: the backend, prompt versions (declared name +
text hash), model, sampling parameters, whether the judge runs, and the sha256 of the raw report. Each
entry is written to a temporary file and moved into place with `os.replace`, so a reader never sees half
an entry and a crash loses only the requests that were in flight. Entries live in 256 sub-directories
(`<key[:2]>/<key>.json`) so that 227k files do not share one directory. Concurrent writers (shards on
different nodes) write different keys, or the same content for the same key: last rename wins.

An entry is also the provenance record of its calls (model, request ids, tokens, latency, time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(raw_text: str, identity: dict[str, Any]) -> str:
    """Key of one report's cleaning: sha256 over the identity of the cleaner and the raw text's hash."""
    payload = json.dumps({**identity, "raw_sha256": text_sha256(raw_text)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """Directory of cache entries (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._root = str(self.root)
        self._made: set[str] = set()  # sub-directories known to exist (saves a mkdir per entry)

    def _path(self, key: str) -> str:
        # Plain strings: pathlib costs more than the read itself on a 10,000-entry cached rerun.
        return os.path.join(self._root, key[:2], key + ".json")

    def path(self, key: str) -> Path:
        return Path(self._path(key))

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for `key`, or None when absent or unreadable (which counts as a miss)."""
        try:
            with open(self._path(key), "rb") as fh:
                entry = json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("cache entry %s unreadable (%s); it will be recomputed", self.path(key), err)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            log.warning("cache entry %s does not hold key %s; it will be recomputed", self.path(key), key)
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> Path:
        """Write an entry atomically."""
        path = self._path(key)
        directory = os.path.dirname(path)
        if directory not in self._made:
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)
        tmp = os.path.join(directory, f".{key}.{uuid.uuid4().hex}.tmp")
        # dumps + one write: json.dump would encode in Python, chunk by chunk (3x the CPU).
        text = json.dumps({**entry, "key": key}, sort_keys=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        return Path(path)

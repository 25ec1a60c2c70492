"""Shard names, one scheme for every sharded job of the workflow (images, cleaning, generated images).

A stage split into `n` shards names them "000".."NNN": zero-padded to at least 3 digits, and to the width
of the largest index beyond 1000 shards ("0000".."1000" for 1001), so that names sort in shard order.
:data:`SHARD_REGEX` is the `{shard}` wildcard constraint that accepts every such name.
"""

from __future__ import annotations

SHARD_REGEX = r"\d\d\d+"
"""Wildcard constraint of `{shard}`: every name :func:`shard_names` can produce (not `\\d{3,}`: Snakemake's
wildcard parser takes no comma inside a constraint's braces)."""


def shard_names(n_shards: int, config_key: str = "shards") -> list[str]:
    """The names of `n_shards` shards; `config_key` (the key that sets the count) names the fix when it is < 1."""
    if n_shards < 1:
        raise ValueError(f"config {config_key} = {n_shards}: use 1 or more shards")
    width = max(3, len(str(n_shards - 1)))
    return [f"{i:0{width}d}" for i in range(n_shards)]

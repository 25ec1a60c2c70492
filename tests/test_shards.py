"""One shard-name scheme: the prepared images, the cleaning shards and the generated images name their shards
alike, and every `{shard}` wildcard constraint in the rules accepts every name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from unix import workflow as W
from unix.data.shards import SHARD_REGEX, shard_names
from unix.evaluation import paths as EP

REPO = Path(__file__).resolve().parents[1]
COUNTS = [1, 10, 999, 1000, 1001, 5000]


def _config(n: int) -> dict:
    return {"data": {"images": {"shards": n}}, "cleaning": {"shards": n}, "evaluation": {"image_shards": n}}


def _cleaning_names(config: dict) -> list[str]:
    return [Path(p).name.removesuffix(".parquet") for p in W.cleaning_shard_paths(config, "table")]


@pytest.mark.parametrize("n", COUNTS)
def test_every_sharded_stage_names_its_shards_alike(n):
    config = _config(n)
    names = shard_names(n)
    assert W.image_shards(config) == names
    assert _cleaning_names(config) == names
    assert EP.image_shard_names(config) == names
    assert len(names) == n and len(set(names)) == n
    assert sorted(names) == names  # zero-padded to one width: file order is shard order
    assert [int(s) for s in names] == list(range(n))


def test_names_are_three_digits_then_as_wide_as_the_largest_index():
    assert shard_names(3) == ["000", "001", "002"]
    assert shard_names(1000)[-1] == "999"
    assert shard_names(1001)[0] == "0000" and shard_names(1001)[-1] == "1000"


def test_no_shards_is_an_error_naming_the_config_key():
    with pytest.raises(ValueError, match="cleaning.shards"):
        W.cleaning_shard_paths(_config(0), "table")
    with pytest.raises(ValueError, match="evaluation.image_shards"):
        EP.image_shard_names(_config(0))


def _shard_constraints() -> list[tuple[str, str]]:
    """(file, regex) of every `shard=` wildcard constraint in the Snakefile and rules/*.smk."""
    found = []
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for m in re.finditer(r"""\bshard\s*=\s*r?["']([^"']+)["']""", path.read_text()):
            found.append((path.name, m.group(1)))
    return found


def test_every_shard_wildcard_constraint_accepts_every_name():
    """As Snakemake reads the constraint: inside a file pattern (where `\\d{3,}` would not even parse)."""
    from snakemake.io import regex_from_filepattern

    constraints = _shard_constraints() + [("unix.data.shards.SHARD_REGEX", SHARD_REGEX)]
    assert len(constraints) > 1, "no shard= wildcard constraint found in the rules"
    names = sorted({s for n in COUNTS for s in shard_names(n)})
    for where, constraint in constraints:
        regex = re.compile(regex_from_filepattern(f"shards/{{shard,{constraint}}}.parquet"))
        rejected = [s for s in names if not regex.fullmatch(f"shards/{s}.parquet")]
        assert not rejected, f"{where}: shard={constraint!r} rejects {rejected[:5]}"
    assert not re.fullmatch(SHARD_REGEX, "12") and not re.fullmatch(SHARD_REGEX, "ab1")

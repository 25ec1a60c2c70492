"""training.<stage>.group_by_length: LengthGroupedSampler keeps a resumable, complete epoch order and cuts the
padding of random micro-batches; the option is off by default."""

from __future__ import annotations

import random

import pytest

from conftest import demo_config
from unix.training.data import LengthGroupedSampler, ResumableSampler


def _lengths(n: int = 1000) -> list[int]:
    rng = random.Random(0)
    return [int(rng.lognormvariate(4.4, 0.4)) for _ in range(n)]


def _padding(lengths: list[int], order: list[int], batch: int) -> float:
    batches = [order[i:i + batch] for i in range(0, len(order) // batch * batch, batch)]
    padded = sum(max(lengths[j] for j in b) * batch - sum(lengths[j] for j in b) for b in batches)
    return padded / sum(max(lengths[j] for j in b) * batch for b in batches)


def test_each_epoch_is_a_seeded_permutation_that_differs_between_epochs():
    lengths = _lengths(1003)  # not a multiple of the batch: one partial batch, last
    sampler = LengthGroupedSampler(lengths, batch_size=8, seed=3)
    first = list(sampler)
    assert sorted(i for _, i in first) == list(range(1003)) and {e for e, _ in first} == {0}
    assert list(LengthGroupedSampler(lengths, batch_size=8, seed=3)) == first  # a resumed run sees the same order
    sampler.set_epoch(1)
    second = [i for _, i in sampler]
    assert second != [i for _, i in first] and sorted(second) == list(range(1003))


def test_grouping_cuts_padding_and_keeps_the_partial_batch_last():
    lengths, batch = _lengths(1003), 8
    grouped = [i for _, i in LengthGroupedSampler(lengths, batch_size=batch, seed=0)]
    plain = [i for _, i in ResumableSampler(len(lengths), seed=0)]
    assert _padding(lengths, grouped, batch) < 0.5 * _padding(lengths, plain, batch)
    last_window = grouped[(1003 // (64 * batch)) * 64 * batch:]
    tail = last_window[len(last_window) // batch * batch:]
    assert len(tail) == 1003 % batch
    assert [lengths[i] for i in tail] == sorted(lengths[i] for i in tail)


@pytest.mark.parametrize("value", [None, True])
def test_option_default_off_and_validated(value):
    from unix.config import validate_config
    from unix.training.recipes import recipe_from_config

    config = demo_config()
    if value is None:
        config["training"]["stage2"].pop("group_by_length", None)
    else:
        config["training"]["stage2"]["group_by_length"] = value
    validate_config(config)
    assert recipe_from_config(config, "stage2").group_by_length is bool(value)
    assert recipe_from_config(demo_config(), "stage1").group_by_length is False

"""The evaluation protocol of the paper (CheXGenBench's scripts, as UniX runs them), as plain functions.

* The generation test set is deduplicated by prompt (first row kept) before anything is generated or scored.
* Overall generation metrics: the real set (deduplicated order) and the generated set (same order) are split
  into ``n_shards`` (4) contiguous shards with ``np.array_split``; FD, KD (subset = shard size) and PRDC are
  computed per shard, each rounded to 3 decimals, and the paper's number is their unweighted mean, rounded to
  3 decimals. Because FD is biased upwards at small n, this is larger than the full-set FD, which we also
  report (``full/<metric>``).
* Alignment score: per generated image, rounded to 3 decimals, then averaged (not sharded).
* Per pathology: for each of the 14 findings, the real rows whose label is 1 (uncertain and missing count as
  not 1) and the generated images of those same prompts; FD on that subset, with its size.
* Each generated image's seed is derived from its id (`image_seed`), so results do not depend on how many
  GPU jobs share the work.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from unix.data.mimic import CHEXPERT_LABELS
from unix.evaluation.distances import frechet_distance, kernel_distance, prdc

log = logging.getLogger(__name__)

GENERATION_METRICS = ("fd_raddino", "kd_raddino", "precision", "recall", "density", "coverage")
DIGITS = 3


def dedup_by_prompt(df: pd.DataFrame, column: str = "prompt") -> pd.DataFrame:
    """Rows with a prompt seen before dropped (the first kept), index reset, order kept."""
    if column not in df.columns:
        raise ValueError(f"no column {column!r} to deduplicate on; columns: {list(df.columns)}")
    return df.drop_duplicates(subset=column, keep="first").reset_index(drop=True)


def image_seed(base_seed: int, image_id: str) -> int:
    """A 31-bit seed for one generated image, from the global seed and the image's id only."""
    digest = hashlib.sha256(f"{int(base_seed)}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def shard_slices(n: int, n_shards: int) -> list[slice]:
    """Contiguous shards as ``np.array_split`` makes them (the first ``n % n_shards`` one longer)."""
    if n_shards < 1:
        raise ValueError(f"n_shards={n_shards} must be at least 1 (config evaluation.shards)")
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(n), n_shards)])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def image_metrics(real: np.ndarray, fake: np.ndarray, kd_subsets: int = 100, prdc_k: int = 5,
                  seed: int = 0) -> tuple[dict[str, float], dict[str, str]]:
    """(values, not_computed) of FD, KD (subset = the smaller set) and PRDC of one pair of feature sets.

    PRDC needs more than `prdc_k` samples in each set; with fewer its four metrics are not computed.
    """
    values = {"fd_raddino": frechet_distance(real, fake),
              "kd_raddino": kernel_distance(real, fake, num_subsets=kd_subsets, seed=seed)}
    not_computed: dict[str, str] = {}
    n = min(len(real), len(fake))
    if n > prdc_k:
        values.update(prdc(real, fake, k=prdc_k))
    else:
        for name in ("precision", "recall", "density", "coverage"):
            not_computed[name] = f"{n} images per set; PRDC with k={prdc_k} needs more than {prdc_k}"
    return values, not_computed


def generation_metrics(real: np.ndarray, fake: np.ndarray, n_shards: int = 4, kd_subsets: int = 100,
                       prdc_k: int = 5, seed: int = 0) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """(values, counts, not_computed): the shard mean under the plain names, ``full/<name>``, ``shard<i>/<name>``.

    `real` and `fake` are (N, D) features in the deduplicated test-set order (row i of both: prompt i).
    A metric missing from any shard (too few images) is not computed for the shard mean, with the reason.
    """
    if len(real) != len(fake):
        raise ValueError(
            f"{len(real)} real but {len(fake)} generated feature rows; the protocol pairs shard i of the "
            "deduplicated test set with shard i of the generated images (one image per prompt)"
        )
    values: dict[str, float] = {}
    not_computed: dict[str, str] = {}
    counts: dict[str, int] = {"n_real": len(real), "n_fake": len(fake), "n_shards": n_shards}
    full, missing = image_metrics(real, fake, kd_subsets, prdc_k, seed)
    values.update({f"full/{name}": v for name, v in full.items()})
    not_computed.update({f"full/{name}": why for name, why in missing.items()})
    per_shard: dict[str, list[float]] = {name: [] for name in GENERATION_METRICS}
    for i, sl in enumerate(shard_slices(len(real), n_shards)):
        counts[f"shard{i}/n_real"] = counts[f"shard{i}/n_fake"] = sl.stop - sl.start
        if sl.stop - sl.start < 2:
            raise ValueError(f"shard {i} has {sl.stop - sl.start} image(s); lower evaluation.shards (now {n_shards})")
        shard, missing = image_metrics(real[sl], fake[sl], kd_subsets, prdc_k, seed)
        for name, v in shard.items():
            values[f"shard{i}/{name}"] = round(v, DIGITS)
            per_shard[name].append(round(v, DIGITS))
        for name, why in missing.items():
            not_computed[f"shard{i}/{name}"] = why
            not_computed.setdefault(name, f"shard {i}: {why}")
    for name, vs in per_shard.items():
        if name not in not_computed:
            values[name] = round(float(np.mean(vs)), DIGITS)
    return values, counts, not_computed


def alignment_mean(scores: Sequence[float]) -> float:
    """Mean of per-image alignment scores, each rounded to 3 decimals first, as CheXGenBench."""
    if not len(scores):
        raise ValueError("no alignment scores to average")
    return round(float(np.mean([round(float(s), DIGITS) for s in scores])), DIGITS)


def pathology_subsets(real: pd.DataFrame, findings: Sequence[str] = CHEXPERT_LABELS,
                      prompt_column: str = "prompt") -> dict[str, np.ndarray]:
    """Finding -> row positions of the (deduplicated) real table whose label is 1.

    The generated images of those prompts are the same positions in the generated set (one per prompt).
    """
    missing = [f for f in findings if f not in real.columns]
    if missing:
        raise ValueError(f"label columns {missing} are missing from the generation test table")
    if real[prompt_column].duplicated().any():
        raise ValueError("the generation test table has duplicate prompts; deduplicate it first (dedup_by_prompt)")
    return {f: np.flatnonzero(real[f].fillna(0).to_numpy() == 1.0) for f in findings}


def per_pathology_fd(real_feats: np.ndarray, fake_feats: np.ndarray, subsets: dict[str, np.ndarray],
                     min_samples: int = 2, fd: Callable[[np.ndarray, np.ndarray], float] = frechet_distance,
                     ) -> tuple[dict[str, float], dict[str, int], dict[str, str], list[str]]:
    """(values, counts, not_computed, warnings) of FD on each finding's subset, keys ``fd_raddino/<finding>``."""
    values, counts, not_computed, warnings = {}, {}, {}, []
    width = real_feats.shape[1]
    for finding, rows in subsets.items():
        key = f"fd_raddino/{finding}"
        counts[f"n_real/{finding}"] = counts[f"n_fake/{finding}"] = len(rows)
        if len(rows) < min_samples:
            not_computed[key] = f"only {len(rows)} real image(s) with {finding} = 1; FD needs at least {min_samples}"
            continue
        values[key] = round(fd(real_feats[rows], fake_feats[rows]), DIGITS)
        if len(rows) < width:
            warnings.append(f"{finding}: {len(rows)} images < feature width {width}; the covariance is singular "
                            "and the FD is noisy")
    return values, counts, not_computed, warnings

"""Training data: image/report pairs (stage 1), image/prompt pairs (stages 2 and 3), and a resumable order.

Images come from the prepared shards ``results/data/images/{size}/{shard}.parquet`` (columns dicom_id, image
as PNG bytes). The shards are memory-mapped, and each image is decoded when it is drawn, so memory does not
grow with the dataset.

Order and resumption: :class:`ResumableSampler` yields ``(epoch, index)`` pairs, a permutation per epoch
seeded by ``(seed, epoch)``. The trainer records (epoch, batches consumed in the epoch) in every
checkpoint and, on resume, sets the epoch and skips the consumed batches, so a resumed run sees exactly
the batches an uninterrupted run would. Caption dropout is decided per ``(seed, epoch, index)`` in the
dataset, so it is reproducible as well and independent of the number of data-loader workers.
"""

from __future__ import annotations

import io
import logging
import random
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from unix.data.reports import format_report

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
# SigLIP normalisation used by the reference implementation (data/transforms.py::SigLIPImageTransform).
SIGLIP_MEAN = 0.555895
SIGLIP_STD = 0.336385
# The instruction before every training report. Inference must ask the same question.
UNDERSTANDING_PROMPT = "Describe the findings and the impression of this chest X-ray."


# ---------------------------------------------------------------------------------------------- order
class ResumableSampler(torch.utils.data.Sampler):
    """A seeded permutation per epoch; yields (epoch, index) so items know their epoch."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        if n < 1:
            raise ValueError("cannot sample from an empty dataset; check the training split has rows")
        self.n = n
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        return iter((self.epoch, i) for i in order)


class LengthGroupedSampler(ResumableSampler):
    """A :class:`ResumableSampler` whose epoch permutation is regrouped by length: each window of `window`
    batches is sorted by `lengths` and cut into batches, and the window's full batches are shuffled (seeded by
    seed and epoch), so a micro-batch holds samples of similar length and the order is still a pure function
    of (seed, epoch), which resumption relies on."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, window: int = 64) -> None:
        super().__init__(len(lengths), seed, shuffle=True)
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.window = window

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = [i for _, i in super().__iter__()]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 500_009)
        size = self.window * self.batch_size
        out: list[int] = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start:start + size], key=lambda i: (self.lengths[i], i))
            full = len(chunk) // self.batch_size * self.batch_size
            batches = [chunk[b:b + self.batch_size] for b in range(0, full, self.batch_size)]
            for b in torch.randperm(len(batches), generator=g).tolist():
                out.extend(batches[b])
            out.extend(chunk[full:])  # only the last window can leave a partial batch: it stays last
        return iter((self.epoch, i) for i in out)


# --------------------------------------------------------------------------------------------- images
class ImageStore:
    """dicom_id -> image, read lazily from memory-mapped prepared shards."""

    def __init__(self, shard_paths: Sequence[str | Path]) -> None:
        import pyarrow.parquet as pq

        self.paths = [Path(p) for p in shard_paths]
        if not self.paths:
            raise ValueError("no prepared image shards given; run the prepare_images rule for this resolution")
        self._tables = []
        self._index: dict[str, tuple[int, int]] = {}
        for t_idx, path in enumerate(self.paths):
            if not path.exists():
                raise ValueError(f"prepared image shard {path} does not exist; run the prepare_images rule")
            table = pq.read_table(path, columns=["dicom_id", "image"], memory_map=True)
            self._tables.append(table.column("image"))
            for row, dicom_id in enumerate(table.column("dicom_id").to_pylist()):
                self._index[str(dicom_id)] = (t_idx, row)

    def __contains__(self, dicom_id: str) -> bool:
        return dicom_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, dicom_id: str) -> Image.Image:
        t_idx, row = self._index[dicom_id]
        return Image.open(io.BytesIO(self._tables[t_idx][row].as_py())).convert("L")


def image_to_tensor(image: Image.Image, resolution: int, channels: int = 3) -> torch.Tensor:
    """Grayscale PIL image -> float tensor (channels, resolution, resolution) in [0, 1]."""
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
    return x.unsqueeze(0).expand(channels, -1, -1).contiguous()


# ----------------------------------------------------------------------------------------------- text
def token_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` without special tokens (HF tokenizers and simple `encode` objects)."""
    try:
        return list(tokenizer.encode(text, add_special_tokens=False))
    except TypeError:
        return list(tokenizer.encode(text))


def special_ids(tokenizer: Any) -> tuple[int | None, int | None, int]:
    """(bos, eos, pad) ids; pad falls back to eos, then 0."""
    bos = getattr(tokenizer, "bos_token_id", None)
    eos = getattr(tokenizer, "eos_token_id", None)
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = eos if eos is not None else 0
    return bos, eos, pad


def pad_batch(seqs: list[list[int]], pad: int, max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence (truncated to `max_length`); returns (ids_BL, mask_BL)."""
    if max_length:
        seqs = [s[:max_length] for s in seqs]
    length = max(1, max(len(s) for s in seqs))
    ids_BL = torch.full((len(seqs), length), pad, dtype=torch.long)
    mask_BL = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids_BL[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask_BL[i, : len(s)] = 1
    return ids_BL, mask_BL


# ------------------------------------------------------------------------------------------- datasets
def understanding_pairs(split_path: str | Path, reports_path: str | Path | None) -> list[tuple[str, str]]:
    """(dicom_id, answer text) for the training rows of the understanding split.

    The answer is the cleaned report (``FINDINGS: ... IMPRESSION: ...``) of the row's study; a study
    without a cleaned report falls back to the split's own findings/impression sections (counted in the
    log); a row with neither is skipped (counted).
    """
    import pandas as pd

    split = pd.read_parquet(split_path)
    missing = {"dicom_id", "study_id", "split", "findings", "impression"} - set(split.columns)
    if missing:
        raise ValueError(f"{split_path} lacks columns {sorted(missing)}; rerun select_understanding_split")
    split = split[split["split"] == "train"]
    cleaned: dict[int, str] = {}
    if reports_path:
        reports = pd.read_parquet(reports_path, columns=["study_id", "cleaned_text"])
        cleaned = {int(s): str(t) for s, t in zip(reports["study_id"], reports["cleaned_text"]) if str(t).strip()}
    pairs, fallback, skipped = [], 0, 0
    for dicom_id, study_id, findings, impression in zip(
        split["dicom_id"], split["study_id"], split["findings"], split["impression"]
    ):
        text = cleaned.get(int(study_id))
        if text is None:
            text = format_report(str(findings or ""), str(impression or ""))
            fallback += 1
        if not text:
            skipped += 1
            continue
        pairs.append((str(dicom_id), text))
    log.info("understanding training pairs: %d (%d without a cleaned report used the split's sections, "
             "%d skipped: no report text)", len(pairs), fallback, skipped)
    return pairs


def generation_pairs(split_path: str | Path) -> list[tuple[str, str]]:
    """(dicom_id, prompt) for the training rows of the generation split."""
    import pandas as pd

    split = pd.read_parquet(split_path, columns=["dicom_id", "split", "prompt"])
    split = split[split["split"] == "train"]
    pairs = [(str(d), str(p)) for d, p in zip(split["dicom_id"], split["prompt"])]
    log.info("generation training pairs: %d", len(pairs))
    return pairs


def _keep_available(pairs: list[tuple[str, str]], store: ImageStore, what: str) -> list[tuple[str, str]]:
    kept = [p for p in pairs if p[0] in store]
    if len(kept) < len(pairs):
        log.warning("%s: %d of %d training images are not in the prepared shards (%s...) and are skipped",
                    what, len(pairs) - len(kept), len(pairs), store.paths[0].parent)
    if not kept:
        raise ValueError(f"{what}: none of the {len(pairs)} training images is in the prepared shards under "
                         f"{store.paths[0].parent}; run prepare_images for this resolution")
    return kept


def blank_like(image: Image.Image) -> Image.Image:
    """A black image of `image`'s size and mode: the text-only control's input (recipe ``blank_images``)."""
    return Image.new(image.mode, image.size, 0)


class UnderstandingDataset(torch.utils.data.Dataset):
    """(grayscale image, answer text) pairs; a :class:`Batcher` turns them into model inputs. With `blank`,
    every image is black (:func:`blank_like`): the text-only control of recipe ``blank_images``."""

    def __init__(self, pairs: list[tuple[str, str]], store: ImageStore, blank: bool = False) -> None:
        self.pairs = _keep_available(pairs, store, "understanding")
        self.store = store
        self.blank = blank

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Image.Image, str]:
        _, idx = key
        dicom_id, answer = self.pairs[idx]
        image = self.store.get(dicom_id)
        return (blank_like(image) if self.blank else image), answer


class GenerationDataset(torch.utils.data.Dataset):
    """(image in [-1, 1] of shape (3, resolution, resolution), prompt) pairs.

    `caption_dropout` empties the prompt here, decided per (seed, epoch, index); models that drop captions
    themselves (UniX masks the caption, as its unconditional CFG branch does) get 0 here instead.
    """

    def __init__(self, pairs: list[tuple[str, str]], store: ImageStore, resolution: int,
                 caption_dropout: float = 0.0, seed: int = 0) -> None:
        self.pairs = _keep_available(pairs, store, "generation")
        self.store = store
        self.resolution = resolution
        self.caption_dropout = caption_dropout
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def dropped(self, epoch: int, idx: int) -> bool:
        """Whether the caption of item `idx` is dropped in `epoch` (a pure function of seed, epoch, idx)."""
        if self.caption_dropout <= 0:
            return False
        return random.Random(f"{self.seed}/{epoch}/{idx}").random() < self.caption_dropout

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, str]:
        epoch, idx = key
        dicom_id, prompt = self.pairs[idx]
        x = image_to_tensor(self.store.get(dicom_id), self.resolution)
        return x * 2.0 - 1.0, "" if self.dropped(epoch, idx) else prompt


class Batcher:
    """Turns dataset items into model inputs with a plain tokenizer: ``[bos] prompt answer [eos]`` with -100
    labels outside the answer, SigLIP-normalised pixels, and ``[bos] caption [eos]`` for generation.
    :class:`UniXBatcher` uses the model's own token layouts and image preprocessing instead."""

    def __init__(self, tokenizer: Any, image_size: int, prompt: str = UNDERSTANDING_PROMPT,
                 max_answer_tokens: int = 512, max_caption_tokens: int = 256) -> None:
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.prompt = prompt
        self.max_answer_tokens = max_answer_tokens
        self.max_caption_tokens = max_caption_tokens

    def understanding(self, images: list[Image.Image], answers: list[str]) -> dict[str, torch.Tensor]:
        bos, eos, pad = special_ids(self.tokenizer)
        prefix = ([bos] if bos is not None else []) + token_ids(self.tokenizer, self.prompt)
        seqs, labels = [], []
        for answer in answers:
            ans = token_ids(self.tokenizer, " " + answer)[: self.max_answer_tokens] + ([eos] if eos is not None else [])
            seqs.append(prefix + ans)
            labels.append([IGNORE_INDEX] * len(prefix) + ans)
        ids, mask = pad_batch(seqs, pad)
        lab, _ = pad_batch(labels, IGNORE_INDEX)
        pixels = torch.stack([image_to_tensor(im, self.image_size) for im in images])
        return {"pixel_values": (pixels - SIGLIP_MEAN) / SIGLIP_STD, "input_ids": ids, "labels": lab,
                "attention_mask": mask}

    def generation(self, images: list[torch.Tensor], captions: list[str]) -> dict[str, torch.Tensor]:
        bos, eos, pad = special_ids(self.tokenizer)
        seqs = [([bos] if bos is not None else []) + token_ids(self.tokenizer, c)[: self.max_caption_tokens]
                + ([eos] if eos is not None else []) for c in captions]
        ids, mask = pad_batch(seqs, pad)
        return {"images": torch.stack(images), "input_ids": ids, "attention_mask": mask}


class UniXBatcher:
    """Model inputs in UniX's layouts (``unix.model.tokenizer``) and SigLIP preprocessing
    (``unix.model.vision``); the understanding prompt is the one inference asks."""

    def __init__(self, tokenizer: Any, model_config: Any, max_length: int = 512) -> None:
        from unix.model.inference import DEFAULT_REPORT_PROMPT

        self.tokenizer = tokenizer
        self.config = model_config
        self.prompt = DEFAULT_REPORT_PROMPT
        self.max_length = max_length

    def understanding(self, images: list[Image.Image], answers: list[str]) -> dict[str, torch.Tensor]:
        from unix.model.tokenizer import build_understanding_batch
        from unix.model.vision import preprocess_understanding_images

        batch = build_understanding_batch(self.tokenizer, [self.prompt] * len(answers), answers, self.config,
                                          max_length=self.max_length)
        return {"pixel_values": preprocess_understanding_images(images, self.config), **batch}

    def generation(self, images: list[torch.Tensor], captions: list[str]) -> dict[str, torch.Tensor]:
        from unix.model.tokenizer import encode_captions

        ids, mask = encode_captions(self.tokenizer, captions, self.config)
        return {"images": torch.stack(images), "input_ids": ids, "attention_mask": mask}


class Collate:
    """Batch items of one dataset with a batcher (picklable, so data-loader workers can use it)."""

    def __init__(self, batcher: Any, task: str) -> None:
        self.batcher = batcher
        self.task = task

    def __call__(self, items: list[tuple[Any, str]]) -> dict[str, torch.Tensor]:
        images = [it[0] for it in items]
        texts = [it[1] for it in items]
        if self.task == "understanding":
            return self.batcher.understanding(images, texts)
        return self.batcher.generation(images, texts)


def make_loader(dataset: torch.utils.data.Dataset, batcher: Any, *, batch_size: int, seed: int,
                num_workers: int, group_by_length: bool = False) -> torch.utils.data.DataLoader:
    """A data loader over `dataset` in :class:`ResumableSampler` order (last partial batch dropped); with
    `group_by_length`, in :class:`LengthGroupedSampler` order by the characters of each item's text."""
    sampler = (LengthGroupedSampler([len(text) for _, text in dataset.pairs], batch_size, seed)
               if group_by_length else ResumableSampler(len(dataset), seed))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=Collate(batcher, "understanding" if isinstance(dataset, UnderstandingDataset)
                           else "generation"),
        num_workers=num_workers,
        drop_last=True,
        persistent_workers=False,
        # Its own generator: creating an iterator must not draw from the global RNG (resume exactness).
        generator=torch.Generator().manual_seed(seed),
    )

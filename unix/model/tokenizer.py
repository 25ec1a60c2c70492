"""Tokenizers and the token layouts the model expects.

Two sources: a byte-level BPE trained with `tokenizers` on report texts (the demo; special tokens
<|bos|> <|eos|> <|boi|> <|eoi|> <|pad|> get ids 0-4, the `tiny` config's defaults), or the Janus-Pro
tokenizer from a local directory (ids 100000/100001/100003/100580 as in UniX). The model's config holds
the special ids; the batch builders here take them from there, so either tokenizer works the same way.

Layouts:
  understanding training:  [bos] prompt [eos] [bos] report [eos]   labels on `report [eos]`
  report generation:       [bos] prompt [eos] [bos]                left-padded; decoding continues
  image generation:        [bos] caption [eos]                     the model appends [BOI, latents, EOI]
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from unix.model.config import UniXConfig

SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|boi|>", "<|eoi|>", "<|pad|>"]
JANUS_SPECIAL_IDS = {"bos_token_id": 100000, "eos_token_id": 100001, "boi_token_id": 100003,
                     "eoi_token_id": 100580}


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """Train a byte-level BPE on `texts`; specials take ids 0-4. Returns a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("train_tokenizer: no report texts to train on; check the training split is not empty")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>", additional_special_tokens=["<|boi|>", "<|eoi|>"])


def load_tokenizer(path: str | Path, fast_start: bool = False):
    """A tokenizer saved with `save_pretrained` (ours, or the Janus-Pro directory).

    fast_start: for our own tokenizers (written by `train_tokenizer`), a `PlainTokenizer` over the
    `tokenizers` file instead of transformers' class (whose import costs about a second at every command);
    other tokenizers (Janus-Pro) always load through transformers.
    """
    path = Path(path)
    if not (path / "tokenizer.json").exists() and not (path / "tokenizer_config.json").exists():
        raise ValueError(f"no tokenizer in {path} (expected tokenizer.json); pass the model directory "
                         "written by init_model or a Janus-Pro-1B directory")
    if fast_start and PlainTokenizer.can_load(path):
        return PlainTokenizer(path)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


class PlainTokenizer:
    """The part of a transformers tokenizer that inference uses (`tokenizer(text, add_special_tokens=False)`,
    `decode(ids, skip_special_tokens=True)`, `len`, `get_vocab`), over the `tokenizers` library alone.
    Only for tokenizers written by `train_tokenizer` (byte-level BPE with our special tokens, no
    normaliser or post-processor settings outside tokenizer.json)."""

    CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))

    @classmethod
    def can_load(cls, path: Path) -> bool:
        import json

        config_file, tokenizer_file = path / "tokenizer_config.json", path / "tokenizer.json"
        if not (config_file.exists() and tokenizer_file.exists()):
            return False
        config = json.loads(config_file.read_text())
        vocab = json.loads(tokenizer_file.read_text()).get("model", {}).get("vocab", {})
        return (config.get("tokenizer_class") in cls.CLASSES and not config.get("clean_up_tokenization_spaces")
                and all(t in vocab for t in SPECIAL_TOKENS))

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self._tok.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self._tok.get_vocab(with_added_tokens=True)


def special_token_ids(tokenizer) -> dict[str, int]:
    """bos/eos/boi/eoi/pad ids of a tokenizer, to put into UniXConfig."""
    vocab = tokenizer.get_vocab()
    if all(t in vocab for t in SPECIAL_TOKENS):
        names = ["bos_token_id", "eos_token_id", "boi_token_id", "eoi_token_id", "pad_token_id"]
        return {n: vocab[t] for n, t in zip(names, SPECIAL_TOKENS)}
    if len(tokenizer) > max(JANUS_SPECIAL_IDS.values()):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else JANUS_SPECIAL_IDS["eos_token_id"]
        return {**JANUS_SPECIAL_IDS, "pad_token_id": int(pad)}
    raise ValueError("tokenizer has neither our special tokens nor the Janus vocabulary; use train_tokenizer "
                     "or the Janus-Pro-1B tokenizer")


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _pad(rows: list[list[int]], pad_id: int, left: bool, fill_labels: list[list[int]] | None = None):
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    labels = torch.full((len(rows), L), -100, dtype=torch.long) if fill_labels is not None else None
    for i, r in enumerate(rows):
        sl = slice(L - len(r), L) if left else slice(0, len(r))
        ids[i, sl] = torch.tensor(r)
        mask[i, sl] = 1
        if labels is not None:
            labels[i, sl] = torch.tensor(fill_labels[i])
    return ids, mask, labels


def encode_captions(tokenizer, captions: list[str], config: UniXConfig, max_length: int = 256
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """[bos] caption [eos] per caption, right-padded; captions longer than max_length are truncated."""
    rows = [[config.bos_token_id] + _encode(tokenizer, c)[: max_length - 2] + [config.eos_token_id] for c in captions]
    ids, mask, _ = _pad(rows, config.pad_token_id, left=False)
    return ids, mask


def build_understanding_batch(tokenizer, prompts: list[str], reports: list[str], config: UniXConfig,
                              max_length: int = 512) -> dict[str, torch.Tensor]:
    """input_ids / labels / attention_mask for `UniX.understanding_loss` (right-padded).

    The report is truncated (never the prompt) so that the sequence fits `max_length`; its final
    [eos] is kept so the model learns to stop.
    """
    if len(prompts) != len(reports):
        raise ValueError(f"build_understanding_batch: {len(prompts)} prompts but {len(reports)} reports")
    rows, labels = [], []
    for prompt, report in zip(prompts, reports):
        head = [config.bos_token_id] + _encode(tokenizer, prompt) + [config.eos_token_id, config.bos_token_id]
        room = max_length - len(head) - 1
        if room < 1:
            raise ValueError(f"prompt of {len(head)} tokens leaves no room for the report within "
                             f"max_length={max_length}; raise max_length or shorten the prompt")
        answer = _encode(tokenizer, report)[:room] + [config.eos_token_id]
        rows.append(head + answer)
        labels.append([-100] * len(head) + answer)
    ids, mask, lab = _pad(rows, config.pad_token_id, left=False, fill_labels=labels)
    return {"input_ids": ids, "labels": lab, "attention_mask": mask}


def build_report_prompts(tokenizer, prompts: list[str], config: UniXConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """[bos] prompt [eos] [bos], left-padded, for `UniX.generate_report_ids`."""
    rows = [[config.bos_token_id] + _encode(tokenizer, p) + [config.eos_token_id, config.bos_token_id]
            for p in prompts]
    ids, mask, _ = _pad(rows, config.pad_token_id, left=True)
    return ids, mask

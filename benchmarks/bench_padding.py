"""Share of padded tokens per Stage-1 batch at full-scale report lengths, with today's batching.

    .venv/bin/python benchmarks/bench_padding.py [--subjects 1500] [--batch 8] [--vocab 1024]

Reports come from the synthetic generator (unix.data.synthetic, the length distribution of its full-scale
mode; metadata-only mode writes no text, so a sample of patients is generated with reports), parsed as the
split does (FINDINGS/IMPRESSION) into the training answer ``FINDINGS: ... IMPRESSION: ...``, tokenised with
a BPE trained on them (the demo tokenizer; Janus's is not available offline, and the padding share depends
on the spread of lengths far more than on the tokenizer), and laid out as UniXBatcher does
(``[bos] prompt [eos] [bos] report [eos]``, max_length 512, right padding to the longest in the batch).
Batches are drawn as training draws them (a seeded permutation, `batch` per micro-batch, last partial batch
dropped). Printed: the padded share of the text tokens and of the whole decoder sequence (576 + 2 image
tokens per sample are never padding), today and with `training.stage1.group_by_length: true`
(unix.training.data.LengthGroupedSampler).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from unix.data.report_sections import parse_report
from unix.data.reports import read_report
from unix.data.synthetic import generate

IMAGE_TOKENS = 576 + 2  # SigLIP tokens of a 384 px image + BOI/EOI (unix-1.5b)


def synthetic_answers(subjects: int, seed: int) -> list[str]:
    """Training answers of the synthetic studies that have a FINDINGS section (data.understanding)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mimic-cxr-jpg"
        generate(root, n_subjects=subjects, seed=seed, image_size=64, broken_inputs=False, write_images=False)
        answers = []
        for path in sorted(root.glob("files/p*/p*/s*.txt")):
            read = read_report(path)
            if read.text is None:
                continue
            sections = parse_report(read.text)
            if sections.findings:
                answers.append(f"FINDINGS: {sections.findings}"
                               + (f" IMPRESSION: {sections.impression}" if sections.impression else ""))
    return answers


def sequence_lengths(answers: list[str], vocab: int, max_length: int = 512) -> np.ndarray:
    """Text tokens per sample as `tokenizer.build_understanding_batch` lays them out."""
    from unix.model.config import UniXConfig
    from unix.model.inference import DEFAULT_REPORT_PROMPT
    from unix.model.tokenizer import build_understanding_batch, special_token_ids, train_tokenizer

    tokenizer = train_tokenizer(answers, vocab_size=vocab)
    cfg = UniXConfig.from_name("tiny", **special_token_ids(tokenizer))
    lengths = []
    for i in range(0, len(answers), 256):
        chunk = answers[i:i + 256]
        batch = build_understanding_batch(tokenizer, [DEFAULT_REPORT_PROMPT] * len(chunk), chunk, cfg, max_length)
        lengths.extend(batch["attention_mask"].sum(dim=1).tolist())
    return np.asarray(lengths)


def padding_shares(lengths: np.ndarray, answers: list[str], batch: int, seed: int, grouped: bool) -> dict[str, float]:
    """Padded share of text and of decoder tokens over the batches of one epoch, in the order of the training
    sampler: ResumableSampler (today) or LengthGroupedSampler (training.<stage>.group_by_length, which groups
    by characters; the padding here is counted in tokens)."""
    from unix.training.data import LengthGroupedSampler, ResumableSampler

    sampler = (LengthGroupedSampler([len(a) for a in answers], batch, seed) if grouped
               else ResumableSampler(len(answers), seed))
    order = np.asarray([i for _, i in sampler])
    order = order[: len(order) // batch * batch]  # drop_last
    batches = lengths[order].reshape(-1, batch)
    longest = batches.max(axis=1, keepdims=True)
    pad = float((longest - batches).sum())
    text = float(longest.sum() * batch)
    per_batch = 1 - batches.sum(axis=1) / (longest[:, 0] * batch)
    return {"text": pad / text, "decoder": pad / (text + IMAGE_TOKENS * batches.size),
            "text_median_batch": float(np.median(per_batch)), "text_p90_batch": float(np.quantile(per_batch, 0.9))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1500, help="synthetic patients (about 3.5 studies each)")
    parser.add_argument("--batch", type=int, default=8, help="micro-batch (paper: 8)")
    parser.add_argument("--vocab", type=int, default=1024, help="BPE vocabulary (config model.tokenizer_vocab_size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    answers = synthetic_answers(args.subjects, args.seed)
    lengths = sequence_lengths(answers, args.vocab)
    print(f"{len(answers)} synthetic training reports; text tokens per sample: mean {lengths.mean():.0f}, "
          f"median {np.median(lengths):.0f}, p10 {np.quantile(lengths, 0.1):.0f}, p90 {np.quantile(lengths, 0.9):.0f}, "
          f"max {lengths.max()} (cut at 512)")
    for name, grouped in (("today (random batches, pad to the longest)", False),
                          ("group_by_length: true (windows of 64 batches)", True)):
        s = padding_shares(lengths, answers, args.batch, args.seed, grouped)
        print(f"{name}: padded {s['text']:.1%} of text tokens (per batch median {s['text_median_batch']:.1%}, "
              f"p90 {s['text_p90_batch']:.1%}), {s['decoder']:.1%} of all decoder tokens")


if __name__ == "__main__":
    main()

"""`unix report IMAGE [IMAGE ...] --model DIR`: print a radiology report for each chest X-ray."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="chest X-ray image files (PNG/JPEG)")
    parser.add_argument("--model", required=True, help="model directory (config.json, model.safetensors, tokenizer)")
    parser.add_argument("--prompt", default=None, help="instruction (default: FINDINGS and IMPRESSION)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the model config's")
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="seed for --sample")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from PIL import Image

    from unix.model.inference import generate_reports, load_model

    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        raise SystemExit(f"unix report: image file(s) not found: {', '.join(missing)}")
    model, tokenizer = load_model(args.model, args.device, task="reports")
    images = [Image.open(p) for p in args.images]
    reports = generate_reports(model, tokenizer, images, args.prompt, batch_size=args.batch_size,
                               max_new_tokens=args.max_new_tokens, do_sample=args.sample,
                               temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    for path, report in zip(args.images, reports):
        print(f"== {path}\n{report}" if len(args.images) > 1 else report)
    return 0

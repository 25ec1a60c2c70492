"""`unix generate "FINDINGS: ..." --model DIR --out image.png`: generate a chest X-ray from a report prompt."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="report text, e.g. 'FINDINGS: small left pleural effusion.'")
    parser.add_argument("--model", required=True, help="model directory (config.json, model.safetensors, tokenizer)")
    parser.add_argument("--out", required=True, help="output PNG path")
    parser.add_argument("--seed", type=int, default=42, help="noise seed (the reference uses 42)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default: the model config's)")
    parser.add_argument("--steps", type=int, default=None, help="Euler steps (default: the model config's)")
    parser.add_argument("--cfg-scale", type=float, default=None, help="text guidance scale (1 = none)")
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from unix.model.inference import generate_images, load_model

    model, tokenizer = load_model(args.model, args.device, task="images")
    [image] = generate_images(model, tokenizer, [args.prompt], seeds=[args.seed], image_size=args.size,
                              steps=args.steps, cfg_scale=args.cfg_scale)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    print(f"wrote {out} ({image.width}x{image.height}, seed {args.seed})")
    return 0

"""Entry point of one training run (``python -m unix.training.run spec.json``, or under
``accelerate launch``): load the starting model, build the data, train, write the stage outputs.

The spec (JSON, written by the workflow script) holds the recipe, the input paths and the outputs; see
:func:`main`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("unix.training.run")


def build_loaders(spec: dict[str, Any], recipe, tokenizer, model_config):
    """The understanding and/or generation data loaders a recipe needs."""
    from unix.training import data as D

    batcher = D.UniXBatcher(tokenizer, model_config)
    und = gen = None
    if recipe.uses_understanding_data:
        store = D.ImageStore(spec["und_images"])
        ds = D.UnderstandingDataset(D.understanding_pairs(spec["und_split"], spec.get("reports")), store,
                                    blank=recipe.blank_images)
        und = D.make_loader(ds, batcher, batch_size=recipe.batch_size, seed=recipe.seed,
                            num_workers=recipe.num_workers, group_by_length=recipe.group_by_length)
    if recipe.uses_generation_data:
        store = D.ImageStore(spec["gen_images"])
        # UniX drops captions itself (masking them as its unconditional CFG branch does).
        ds = D.GenerationDataset(D.generation_pairs(spec["gen_split"]), store, recipe.resolution)
        gen = D.make_loader(ds, batcher, batch_size=recipe.batch_size, seed=recipe.seed,
                            num_workers=recipe.num_workers, group_by_length=recipe.group_by_length)
    return und, gen


def _fingerprint(spec: dict[str, Any]) -> dict[str, Any]:
    init = Path(spec["init"])
    stamp = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(init.glob("*")) if p.is_file()}
    return {"recipe": spec["recipe"], "init": str(init), "init_files": stamp}


def main(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the spec: keys recipe (StageRecipe fields), init (model dir), und_split, reports, und_images,
    gen_split, gen_images (as needed), checkpoints, final, log_csv, loss_png, summary."""
    from unix.model import UniX
    from unix.model.tokenizer import load_tokenizer
    from unix.training.plots import write_stage_outputs
    from unix.training.recipes import StageRecipe
    from unix.training.trainer import build_accelerator, train

    recipe = StageRecipe(**spec["recipe"])
    accelerator = build_accelerator(recipe)
    model = UniX.from_pretrained(spec["init"])
    tokenizer = load_tokenizer(spec["init"])
    model.config.caption_dropout = recipe.caption_dropout
    und, gen = build_loaders(spec, recipe, tokenizer, model.config)

    def save_final(m, directory: Path) -> None:
        m.save_pretrained(directory)
        tokenizer.save_pretrained(str(directory))

    result = train(recipe, model, work_dir=spec["checkpoints"], understanding_data=und, generation_data=gen,
                   accelerator=accelerator, save_final=save_final, final_dir=spec["final"],
                   fingerprint=_fingerprint(spec))
    if accelerator.is_main_process:
        write_stage_outputs(result.log_rows, result.summary, log_csv=spec["log_csv"], loss_png=spec["loss_png"],
                            summary_json=spec["summary"], title=f"UniX {recipe.name}")
    return result.summary


if __name__ == "__main__":
    from unix.pipeline import setup_logging

    setup_logging()
    if len(sys.argv) != 2:
        sys.exit("usage: python -m unix.training.run SPEC.json")
    main(json.loads(Path(sys.argv[1]).read_text()))

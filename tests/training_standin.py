"""A small stand-in with the UniX training API, so the trainer is tested independently of the real model.

It has both branches, a frozen "vae" and "raddino", dropout (so resumption must restore the global RNG) and
a latent position table that stage 3 extends. Used only by tests/test_training*.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

VOCAB = 64


class CharTokenizer:
    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [3 + (ord(c) % (VOCAB - 3)) for c in text]


class StandIn(nn.Module):
    def __init__(self, hidden: int = 16, grid: int = 4) -> None:
        super().__init__()
        self.hidden = hidden
        self.vision = nn.Linear(3 * 4 * 4, hidden)
        self.connector = nn.Linear(hidden, hidden)
        self.embed = nn.Embedding(VOCAB, hidden)
        self.und_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(0.1))
        self.lm_head = nn.Linear(hidden, VOCAB)
        self.vae = nn.Conv2d(3, 4, kernel_size=4, stride=4)
        self.raddino = nn.Linear(3 * 4 * 4, 8)
        self.gen_in = nn.Linear(4, hidden)
        self.gen_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(0.1))
        self.gen_out = nn.Linear(hidden, 4)
        self.repa_proj = nn.Linear(hidden, 8)
        self.pos = nn.Parameter(torch.zeros(grid * grid, hidden))

    def understanding_parameters(self):
        for m in (self.vision, self.connector, self.embed, self.und_mlp, self.lm_head):
            yield from m.parameters()

    def generation_parameters(self):
        for m in (self.vae, self.raddino, self.gen_in, self.gen_mlp, self.gen_out, self.repa_proj):
            yield from m.parameters()
        yield self.pos

    def _patches(self, x):
        x = nn.functional.adaptive_avg_pool2d(x, 4)  # any resolution -> 4x4
        return x.flatten(1)

    def understanding_logits(self, pixel_values, input_ids, attention_mask):
        img = self.connector(self.vision(self._patches(pixel_values)))
        return self.lm_head(self.und_mlp(self.embed(input_ids) + img[:, None]))

    def understanding_loss(self, pixel_values, input_ids, labels, attention_mask):
        logits = self.understanding_logits(pixel_values, input_ids, attention_mask)
        loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1),
                                           ignore_index=-100)
        return {"loss": loss}

    def generation_loss(self, images, input_ids, attention_mask, generator=None, repa_weight=0.5):
        with torch.no_grad():
            z = self.vae(images)  # B, 4, H/4, W/4
            target_feat = self.raddino(self._patches(images))
        z = nn.functional.adaptive_avg_pool2d(z, int(self.pos.shape[0] ** 0.5)).flatten(2).transpose(1, 2)
        t = torch.rand(z.shape[0], 1, 1, generator=generator).to(z)
        eps = torch.randn(z.shape, generator=generator).to(z)
        x_t = (1 - t) * z + t * eps
        cond = (self.embed(input_ids) * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True)
        h = self.gen_mlp(self.gen_in(x_t) + self.pos + cond[:, None].detach() + t)
        flow = ((self.gen_out(h) - (eps - z)) ** 2).mean()
        repa = -nn.functional.cosine_similarity(self.repa_proj(h.mean(1)), target_feat, dim=-1).mean()
        return {"loss": flow + repa_weight * repa, "flow": flow.detach(), "repa": repa.detach()}

    def extend_latent_positions(self, grid: int) -> None:
        old = int(self.pos.shape[0] ** 0.5)
        if grid == old:
            return
        table = self.pos.detach().view(1, old, old, -1).permute(0, 3, 1, 2)
        new = nn.functional.interpolate(table, size=(grid, grid), mode="bilinear", align_corners=False)
        self.pos = nn.Parameter(new.permute(0, 2, 3, 1).reshape(grid * grid, -1).contiguous())

    def save_pretrained(self, path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path / "weights.pt")
        (path / "config.json").write_text(json.dumps({"hidden": self.hidden, "grid": int(self.pos.shape[0] ** 0.5)}))

    @classmethod
    def from_pretrained(cls, path) -> "StandIn":
        path = Path(path)
        cfg = json.loads((path / "config.json").read_text())
        model = cls(**cfg)
        model.load_state_dict(torch.load(path / "weights.pt"))
        return model


# ------------------------------------------------------------------------------------- fixture data
def make_fixture_data(root: Path, n: int = 24, size: int = 16) -> dict[str, Path]:
    """Tiny split tables, cleaned reports and one prepared image shard in the pipeline's formats."""
    import io

    import numpy as np
    import pandas as pd
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"d{i:03d}" for i in range(n)]
    pngs = []
    for _ in ids:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8), mode="L").save(buf, format="PNG")
        pngs.append(buf.getvalue())
    pd.DataFrame({"dicom_id": ids, "image": pngs}).to_parquet(root / "images" / "000.parquet")
    und = pd.DataFrame({
        "dicom_id": ids, "study_id": list(range(n)), "split": ["train"] * (n - 4) + ["test"] * 4,
        "findings": [f"finding {i % 5}" for i in range(n)], "impression": ["no acute disease"] * n,
    })
    und.to_parquet(root / "und_split.parquet")
    gen = pd.DataFrame({"dicom_id": ids, "split": ["train"] * (n - 4) + ["test"] * 4,
                        "prompt": [f"opacity grade {i % 3}" for i in range(n)]})
    gen.to_parquet(root / "gen_split.parquet")
    reports = pd.DataFrame({"study_id": list(range(0, n, 2)),
                            "cleaned_text": [f"FINDINGS: clean {i}. IMPRESSION: ok." for i in range(0, n, 2)]})
    reports.to_parquet(root / "reports.parquet")
    return {"images": root / "images" / "000.parquet", "und_split": root / "und_split.parquet",
            "gen_split": root / "gen_split.parquet", "reports": root / "reports.parquet"}


def run_standin(data_root: Path, work_dir: Path, recipe_kwargs: dict, init: Path | None = None,
                progress: bool = False):
    """Train the stand-in with the real trainer and data classes; returns (model, TrainResult)."""
    from unix.training import data as D
    from unix.training.recipes import StageRecipe
    from unix.training.trainer import build_accelerator, train

    torch.manual_seed(0)
    model = StandIn.from_pretrained(init) if init else StandIn()
    recipe = StageRecipe(**recipe_kwargs)
    files = make_fixture_data(data_root)
    store = D.ImageStore([files["images"]])
    batcher = D.Batcher(CharTokenizer(), image_size=recipe.resolution)
    und = gen = None
    if recipe.uses_understanding_data:
        ds = D.UnderstandingDataset(D.understanding_pairs(files["und_split"], files["reports"]), store)
        und = D.make_loader(ds, batcher, batch_size=recipe.batch_size, seed=recipe.seed,
                            num_workers=recipe.num_workers)
    if recipe.uses_generation_data:
        ds = D.GenerationDataset(D.generation_pairs(files["gen_split"]), store, recipe.resolution,
                                 recipe.caption_dropout, recipe.seed)
        gen = D.make_loader(ds, batcher, batch_size=recipe.batch_size, seed=recipe.seed,
                            num_workers=recipe.num_workers)
    result = train(recipe, model, work_dir=work_dir, understanding_data=und, generation_data=gen,
                   accelerator=build_accelerator(recipe, cpu=True), final_dir=work_dir / "final",
                   progress=progress)
    return model, result


if __name__ == "__main__":  # used by the kill-and-resume test: python training_standin.py DATA WORK JSON [SLEEP]
    if len(sys.argv) > 4:  # slow each generation step down so the test can kill the run mid-way
        import time

        _gen = StandIn.generation_loss

        def _slow(self, *a, **k):
            time.sleep(float(sys.argv[4]))
            return _gen(self, *a, **k)

        StandIn.generation_loss = _slow
    _, res = run_standin(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))
    print(json.dumps(res.summary["final_losses_last5"]))

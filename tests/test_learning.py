"""The model learns: on a small synthetic set, trained from scratch, the demo VAE reconstructs and Stage 2
halves the FD-RadDino of the untrained generation branch (same real features, same noise seeds).

This is the check a sign error in the velocity, a transposed position table or a broken VAE would fail;
the rest of the suite checks shapes and parity, not learning.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

# Measured with the budgets below (seed 0): VAE test PSNR at 64 px about 19 dB (random init: about 10 dB);
# FD(stage 2) / FD(init) about 0.3. The thresholds leave a margin for thread-count differences.
PSNR_MIN_DB = 16.0
FD_RATIO_MAX = 0.5
VAE_SETTINGS = {"steps": 80, "batch_size": 16, "lr": 3e-3, "kl_weight": 1e-4, "resolutions": [64],
                "eval_images": 24}
STAGE2_STEPS = 60


def _radiographs(n: int, seed: int) -> tuple[list[bytes], list[str]]:
    """PNG bytes and prompts of `n` synthetic frontal radiographs, half with cardiomegaly, some with an
    effusion (the prompt says which)."""
    from unix.data.radiograph import Anatomy, Findings, render_frontal, to_uint8

    rng = np.random.default_rng(seed)
    pngs, prompts = [], []
    for i in range(n):
        strength = {}
        if i % 2:
            strength["Cardiomegaly"] = 1.0
        if i % 3 == 0:
            strength["Pleural Effusion"] = 1.0
        img = to_uint8(render_frontal(96, 96, Anatomy.sample(rng), Findings(strength=strength), rng))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        pngs.append(buf.getvalue())
        words = [w for w, on in (("The heart is enlarged.", i % 2), ("There is a pleural effusion.", i % 3 == 0))
                 if on]
        prompts.append(" ".join(words) or "The heart size is normal. The lungs are clear.")
    return pngs, prompts


def _dataset(root: Path, n_train: int = 96, n_test: int = 32) -> tuple[Path, Path, list[str]]:
    pngs, prompts = _radiographs(n_train + n_test, seed=0)
    ids = [f"d{i:04d}" for i in range(len(pngs))]
    shard = root / "images.parquet"
    pd.DataFrame({"dicom_id": ids, "image": pngs}).to_parquet(shard)
    split = root / "split.parquet"
    pd.DataFrame({"dicom_id": ids, "split": ["train"] * n_train + ["test"] * n_test,
                  "prompt": prompts}).to_parquet(split)
    return split, shard, prompts


def _fd(model_dir: Path, prompts: list[str], real: np.ndarray, raddino) -> float:
    from unix.evaluation.distances import frechet_distance
    from unix.evaluation.raddino import raddino_features
    from unix.model.inference import generate_images, load_model

    model, tokenizer = load_model(model_dir)
    images = generate_images(model, tokenizer, prompts, seeds=list(range(len(prompts))), image_size=64)
    return frechet_distance(real, raddino_features(images, *raddino))


@pytest.mark.slow
def test_demo_vae_and_stage2_learn_from_scratch(tmp_path):
    from unix.evaluation.raddino import load_raddino, raddino_features, write_demo_raddino
    from unix.model.initial import write_initial_model
    from unix.training.data import ImageStore
    from unix.training.demo_vae import write_trained_demo_vae
    from unix.training.recipes import StageRecipe
    from unix.training.run import main as train_main

    split, shard, prompts = _dataset(tmp_path)
    summary = write_trained_demo_vae(tmp_path / "vae", split, [shard], VAE_SETTINGS, 0.201906, 0.238092, seed=0)
    assert summary["psnr_test_db"]["64"] > PSNR_MIN_DB, summary
    assert summary["psnr_test_db_random_init"]["64"] < PSNR_MIN_DB - 3, summary

    write_demo_raddino(tmp_path / "raddino", seed=0)
    weights = {"unix": "", "janus_pro": "", "siglip": "", "vae": str(tmp_path / "vae"),
               "raddino": str(tmp_path / "raddino")}
    write_initial_model(tmp_path / "init", "tiny", weights, prompts, 256, {}, seed=0)
    recipe = StageRecipe(name="stage2", trainable="generation", task="generation", steps=STAGE2_STEPS,
                         batch_size=8, lr=2e-3, warmup_steps=5, resolution=64, source_size=96,
                         repa_weight=0.5, caption_dropout=0.1, checkpoint_every=10_000, seed=0)
    out = tmp_path / "stage2"
    train_main({"recipe": recipe.to_dict(), "init": str(tmp_path / "init"), "checkpoints": str(out / "ck"),
                "gen_split": str(split), "gen_images": [str(shard)], "final": str(out / "final"),
                "log_csv": str(out / "log.csv"), "loss_png": str(out / "loss.png"),
                "summary": str(out / "summary.json")})

    test = pd.read_parquet(split)
    test = test[test["split"] == "test"]
    raddino = load_raddino(tmp_path / "raddino")
    store = ImageStore([shard])
    real = raddino_features([store.get(d) for d in test["dicom_id"]], *raddino)
    fd_init = _fd(tmp_path / "init", list(test["prompt"]), real, raddino)
    fd_final = _fd(out / "final", list(test["prompt"]), real, raddino)
    print(f"learning: VAE PSNR {summary['psnr_test_db']} dB (random {summary['psnr_test_db_random_init']}), "
          f"FD init {fd_init:.3f}, FD stage 2 {fd_final:.3f}, ratio {fd_final / fd_init:.2f}")
    assert fd_final <= FD_RATIO_MAX * fd_init, (fd_init, fd_final)

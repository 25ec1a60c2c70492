"""Tokenizer layouts, batched inference and the `unix report` / `unix generate` commands (tiny model)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from unix.model import UniX, UniXConfig
from unix.model.tokenizer import (build_report_prompts, build_understanding_batch, encode_captions,
                                  special_token_ids, train_tokenizer)

TEXTS = ["FINDINGS: The lungs are clear. No pleural effusion. IMPRESSION: No acute process.",
         "FINDINGS: Small left pleural effusion with adjacent atelectasis. IMPRESSION: Effusion.",
         "FINDINGS: Cardiomegaly with mild pulmonary edema."] * 30


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, 400)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    torch.manual_seed(0)
    config = UniXConfig.from_name("tiny", vocab_size=len(tokenizer), **special_token_ids(tokenizer))
    model = UniX(config)
    with torch.no_grad():
        model.latent.llm2vae.weight.normal_(0, 0.3)
    d = tmp_path_factory.mktemp("model")
    model.save_pretrained(d)
    tokenizer.save_pretrained(str(d))
    return d


def test_tokenizer_roundtrip_and_specials(tokenizer):
    assert special_token_ids(tokenizer) == {"bos_token_id": 0, "eos_token_id": 1, "boi_token_id": 2,
                                            "eoi_token_id": 3, "pad_token_id": 4}
    text = "FINDINGS: Small left pleural effusion. Ünïcode ok"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text and min(ids) > 4


def test_understanding_batch_labels_only_the_answer(tokenizer):
    cfg = UniXConfig.from_name("tiny")
    batch = build_understanding_batch(tokenizer, ["Describe.", "Write a report please."],
                                      ["Clear lungs.", "Effusion."], cfg, max_length=64)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    for i in range(2):
        n = int(mask[i].sum())
        row, lab = ids[i, :n].tolist(), labels[i, :n].tolist()
        starts = [j for j, t in enumerate(row) if t == cfg.bos_token_id]
        assert starts[0] == 0 and row[starts[1] - 1] == cfg.eos_token_id  # [bos] prompt [eos] [bos]
        assert all(x == -100 for x in lab[: starts[1] + 1])
        assert lab[starts[1] + 1:] == row[starts[1] + 1:] and row[-1] == cfg.eos_token_id
        assert (labels[i, n:] == -100).all() and (ids[i, n:] == cfg.pad_token_id).all()
    with pytest.raises(ValueError, match="max_length"):
        build_understanding_batch(tokenizer, ["a long prompt " * 20], ["x"], cfg, max_length=8)


def test_prompt_layouts(tokenizer):
    cfg = UniXConfig.from_name("tiny")
    ids, mask = build_report_prompts(tokenizer, ["a", "a longer prompt"], cfg)
    assert (ids[:, -1] == cfg.bos_token_id).all() and mask[0, 0] == 0  # left padding
    ids, mask = encode_captions(tokenizer, ["clear", "small effusion"], cfg)
    assert (ids[:, 0] == cfg.bos_token_id).all() and mask[0, -1] == 0  # right padding


def test_generate_reports_batched_equals_single(model_dir):
    from unix.model.inference import generate_reports, load_model

    model, tok = load_model(model_dir)
    images = [Image.new("L", (90, 70), 40), Image.new("L", (50, 80), 200), Image.new("RGB", (64, 64), (9, 9, 9))]
    batched = generate_reports(model, tok, images, batch_size=3, max_new_tokens=6)
    single = [generate_reports(model, tok, [im], max_new_tokens=6)[0] for im in images]
    assert batched == single and all(isinstance(r, str) for r in batched)
    sampled = generate_reports(model, tok, images[:1], do_sample=True, seed=3, max_new_tokens=6)
    assert sampled == generate_reports(model, tok, images[:1], do_sample=True, seed=3, max_new_tokens=6)


def test_generate_images_seeded_and_batch_independent(model_dir):
    from unix.model.inference import generate_images, load_model

    model, tok = load_model(model_dir)
    prompts = ["FINDINGS: Clear lungs.", "FINDINGS: Large right pleural effusion."]
    a = generate_images(model, tok, prompts, seeds=[1, 2], steps=3)
    b = generate_images(model, tok, prompts[1:], seeds=[2], steps=3)
    assert a[0].size == (64, 64) and a[0].mode == "RGB"
    import numpy as np

    diff = np.asarray(a[1], dtype=int) - np.asarray(b[0], dtype=int)
    assert np.abs(diff).max() <= 1  # same seed, same image whatever the batch (up to rounding)
    with pytest.raises(ValueError, match="seeds"):
        generate_images(model, tok, prompts, seeds=[1])


def test_cli_commands(model_dir, tmp_path, capsys):
    from unix.cli import main

    image = tmp_path / "cxr.png"
    Image.new("L", (80, 80), 100).save(image)
    from unix.model.inference import generate_images, generate_reports, load_model

    assert main(["report", str(image), "--model", str(model_dir), "--max-new-tokens", "4"]) == 0
    model, tok = load_model(model_dir)
    expected = generate_reports(model, tok, [Image.open(image)], max_new_tokens=4)[0]
    assert capsys.readouterr().out == expected + "\n"
    out = tmp_path / "gen" / "x.png"
    assert main(["generate", "FINDINGS: clear.", "--model", str(model_dir), "--out", str(out), "--steps", "2"]) == 0
    assert Image.open(out).size == (64, 64)
    # the commands load only their task's parts, with the same outputs as the whole model
    [image] = generate_images(model, tok, ["FINDINGS: clear."], seeds=[42], steps=2)
    assert Image.open(out).convert("RGB").tobytes() == image.convert("RGB").tobytes()
    with pytest.raises(SystemExit, match="not found"):
        main(["report", str(tmp_path / "missing.png"), "--model", str(model_dir)])


def test_commands_import_no_heavy_modelling_libraries(model_dir, tmp_path):
    """`unix report` and `unix generate` start fast: they import neither transformers nor diffusers
    (SigLIP, the VAE decoder and the tokenizer load without them) nor scipy/sympy, which those pull in."""
    import subprocess
    import sys

    image = tmp_path / "cxr.png"
    Image.new("L", (80, 80), 100).save(image)
    for command in (["report", str(image), "--max-new-tokens", "2"],
                    ["generate", "FINDINGS: clear.", "--out", str(tmp_path / "x.png"), "--steps", "1"]):
        code = (f"import sys; from unix.cli import main; main({command + ['--model', str(model_dir)]!r}); "
                "print('HEAVY', sorted(m for m in ('scipy', 'sympy', 'transformers', 'diffusers') if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.splitlines()[-1] == "HEAVY []", command[0]

"""Activation checkpointing (recipe ``activation_checkpointing``): the same losses and gradients as without,
for fewer saved activations, on the tiny UniX with both branches training."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from unix.model import UniX, UniXConfig


def _batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (2, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 8:] = 0
    labels = ids.clone()
    labels[:, :4] = -100
    return ids, mask, labels, torch.randn(2, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g) * 2 - 1


def _step(model: UniX, checkpointing: bool):
    """Both losses and every gradient of one forward/backward, and the bytes autograd kept for backward."""
    from unix.training.trainer import enable_activation_checkpointing

    model.zero_grad(set_to_none=True)
    if checkpointing:
        enable_activation_checkpointing(model)
    ids, mask, labels, pixels, images = _batch()
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        und = model.understanding_loss(pixels, ids, labels, mask)["loss"]
        gen = model.generation_loss(images, ids, mask, generator=torch.Generator().manual_seed(1),
                                    repa_weight=0.5)["loss"]
    (und + gen).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return und.item(), gen.item(), grads, sum(saved)


def test_checkpointing_keeps_losses_and_gradients_and_saves_activations(monkeypatch):
    import unix.model.mot as mot

    calls = []
    real = mot.checkpoint
    monkeypatch.setattr(mot, "checkpoint", lambda *a, **k: calls.append(k) or real(*a, **k))
    torch.manual_seed(0)
    model = UniX(UniXConfig.from_name("tiny")).train()
    model.set_trainable(understanding=True, generation=True)
    und0, gen0, grads0, saved0 = _step(model, checkpointing=False)
    assert not calls
    und1, gen1, grads1, saved1 = _step(model, checkpointing=True)

    # every decoder layer, in both forwards (understanding and generation), non-reentrant
    assert len(calls) == 2 * model.config.num_layers and all(k == {"use_reentrant": False} for k in calls)
    assert any(getattr(m, "gradient_checkpointing", False) for m in model.vision.modules())  # SigLIP layers
    assert (und1, gen1) == (und0, gen0)
    assert grads1.keys() == grads0.keys() and len(grads0) > 100
    # Recomputation repeats the same kernels on the same inputs: bit-identical gradients on CPU.
    assert [n for n in grads0 if not torch.equal(grads0[n], grads1[n])] == []
    assert saved1 < 0.3 * saved0, (saved1, saved0)  # tiny model: 12% of the bytes


def test_checkpointing_is_off_outside_training():
    torch.manual_seed(0)
    model = UniX(UniXConfig.from_name("tiny")).eval()
    model.decoder.activation_checkpointing = True
    ids, mask, _, pixels, _ = _batch()
    with torch.no_grad():
        logits = model.understanding_logits(pixels, ids, mask)
    assert torch.isfinite(logits).all()


def test_recipe_key_reaches_the_trainer_and_needs_a_decoder(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from training_standin import run_standin

    from conftest import demo_config
    from unix.config import validate_config
    from unix.training.recipes import StageRecipe, recipe_from_config

    config = validate_config(demo_config())
    assert all(recipe_from_config(config, s).activation_checkpointing is False for s in ("stage1", "stage2", "stage3"))
    config["training"]["stage1"]["activation_checkpointing"] = True
    assert recipe_from_config(config, "stage1").activation_checkpointing is True
    with pytest.raises(ValueError, match="activation_checkpointing"):
        StageRecipe(name="stage1", trainable="understanding", task="understanding", activation_checkpointing="yes")
    # The stand-in model has no MoT decoder: the option is refused with the key to change.
    with pytest.raises(ValueError, match=r"training.<stage>.activation_checkpointing: false"):
        run_standin(tmp_path / "d", tmp_path / "w", dict(name="stage1", trainable="understanding",
                                                         task="understanding", steps=1, batch_size=4,
                                                         warmup_steps=0, activation_checkpointing=True))

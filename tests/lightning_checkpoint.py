"""Writing PyTorch Lightning checkpoints the way latent-diffusion's `.ckpt` files really look, without Lightning.

A real `model.ckpt` of latent-diffusion pickles, besides `state_dict`: `epoch`, `global_step`,
`pytorch-lightning_version`, `callbacks` (keyed by the `ModelCheckpoint` class itself in Lightning 1.x),
`optimizer_states`, `lr_schedulers` and sometimes `hyper_parameters` holding omegaconf objects. To pickle
such references, stand-in modules `pytorch_lightning.callbacks.model_checkpoint` and `omegaconf.dictconfig`
are put into `sys.modules` only while saving and removed afterwards, so the loader under test meets
globals it cannot import. Their classes write a marker file when unpickled (`__setstate__`) or rebuilt
(`__reduce__` -> a module function), so a test can prove that no pickled code ran.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

MODULES = ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint",
           "omegaconf", "omegaconf.dictconfig")


def _fake_modules(marker: Path) -> dict[str, types.ModuleType]:
    mods = {name: types.ModuleType(name) for name in MODULES}

    def touch(reason):  # what a malicious or merely stateful class would run when unpickled
        marker.write_text(str(reason))

    touch.__module__ = "pytorch_lightning.callbacks.model_checkpoint"
    touch.__qualname__ = "touch"

    class ModelCheckpoint:
        def __init__(self, monitor):
            self.monitor = monitor

        def __setstate__(self, state):
            touch("ModelCheckpoint.__setstate__")
            self.__dict__.update(state)

    class DictConfig:
        def __init__(self, content):
            self.content = content

        def __reduce__(self):
            return touch, ("DictConfig.__reduce__",)

    for cls, module in ((ModelCheckpoint, "pytorch_lightning.callbacks.model_checkpoint"),
                        (DictConfig, "omegaconf.dictconfig")):
        cls.__module__, cls.__qualname__ = module, cls.__name__
    ckpt_mod = mods["pytorch_lightning.callbacks.model_checkpoint"]
    ckpt_mod.ModelCheckpoint, ckpt_mod.touch = ModelCheckpoint, touch
    mods["omegaconf.dictconfig"].DictConfig = DictConfig
    mods["pytorch_lightning"].callbacks = mods["pytorch_lightning.callbacks"]
    mods["pytorch_lightning.callbacks"].model_checkpoint = ckpt_mod
    mods["omegaconf"].dictconfig = mods["omegaconf.dictconfig"]
    return mods


def save_lightning_checkpoint(path: Path, state_dict: dict[str, torch.Tensor], marker: Path) -> None:
    """`torch.save` a Lightning-1.x-style checkpoint around `state_dict`; the fake modules exist only meanwhile."""
    mods = _fake_modules(marker)
    clash = [m for m in MODULES if m in sys.modules]
    assert not clash, f"{clash} are importable here; the fixture must not shadow real modules"
    sys.modules.update(mods)
    try:
        callback_cls = mods["pytorch_lightning.callbacks.model_checkpoint"].ModelCheckpoint
        dict_config = mods["omegaconf.dictconfig"].DictConfig
        ckpt = {
            "epoch": 6, "global_step": 12345, "pytorch-lightning_version": "1.4.2",
            "state_dict": state_dict,
            "callbacks": {callback_cls: {"monitor": "val/rec_loss", "best_model_score": torch.tensor(0.0191),
                                         "best_model_path": "logs/checkpoints/epoch=000006.ckpt",
                                         "current_score": np.float64(0.0191), "callback": callback_cls("val/rec_loss")}},
            "optimizer_states": [{"state": {0: {"step": 10, "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
                                  "param_groups": [{"lr": 4.5e-06, "betas": (0.5, 0.9), "eps": 1e-08, "params": [0]}]}],
            "lr_schedulers": [],
            "hparams_name": "kwargs",
            "hyper_parameters": {"ddconfig": dict_config({"z_channels": 16}), "embed_dim": 16},
        }
        torch.save(ckpt, path)
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)
    assert not marker.exists(), "saving must not run the marker code"


def load_with_modules_present(path: Path, marker: Path):
    """A full (unsafe) unpickling with the fake modules back in place: the control showing the marker works."""
    sys.modules.update(_fake_modules(marker))
    try:
        return torch.load(path, weights_only=False)
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)

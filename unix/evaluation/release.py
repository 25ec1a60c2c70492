"""The released UniX checkpoint as the evaluated model `release` (no training).

`release_model` converts the directory of config `weights.unix` (as published: `model.safetensors` with
BAGEL-style key names, the Janus tokenizer files, `vae/`) into one of our model directories,
results/model/release/, with the configured VAE (`weights.vae`) and RadDino (`weights.raddino`). The
evaluation rules then read it like any trained model, so `snakemake release_tables` fills Tables 2-4 from
the release without scheduling init_model or any training stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIG_KEY = "weights.unix"
# the weights a release model is built from (janus_pro and siglip are never read when weights.unix is set)
RELEASE_WEIGHT_NAMES = ("unix", "vae", "raddino")


class ReleaseNotConfigured(ValueError):
    """`release` was asked for without a usable weights.unix."""


def check_release_weights(path: str) -> str:
    """`path` (config weights.unix) if it is a directory; otherwise an error naming weights.unix."""
    if not path:
        raise ReleaseNotConfigured(
            f"the release tables evaluate the released UniX checkpoint, but {CONFIG_KEY} is empty in config.yaml; "
            f"set {CONFIG_KEY} to the directory of the release (model.safetensors and the tokenizer files, e.g. "
            "weights/UniX from the UniX README), or build the trained-model tables with `snakemake tables`")
    if not Path(path).is_dir():
        raise ReleaseNotConfigured(f"{CONFIG_KEY} = {path!r} is not a directory; point it at the released UniX "
                                   "directory (model.safetensors and the tokenizer files)")
    return path


def write_release_model(out_dir: str | Path, size: str, weights: dict[str, str],
                        overrides: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """The release in weights['unix'] (+ VAE, RadDino) -> our model directory `out_dir`."""
    from unix.model.initial import write_initial_model

    release = check_release_weights(weights.get("unix", ""))
    if not any((Path(release) / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise ReleaseNotConfigured(f"{CONFIG_KEY} = {release!r} holds no tokenizer (tokenizer.json or "
                                   "tokenizer_config.json); the UniX release ships them beside model.safetensors")
    used = {name: weights.get(name, "") for name in RELEASE_WEIGHT_NAMES}
    report = write_initial_model(out_dir, size, used, [], 0, overrides, seed=seed)
    return {**report, "model": "release", "release": release}

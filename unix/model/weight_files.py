"""Reading weight files in the formats they are published in, without running pickled code.

- `.safetensors` (one file or every `*.safetensors` of a directory): the released UniX model, our own.
- `pytorch_model.bin` (Janus-Pro-1B) or its shards: a zip-format torch pickle of tensors only, read with
  `torch.load(weights_only=True, mmap=True)` so that the 4 GB file is mapped, not copied.
- latent-diffusion `*.ckpt`: a PyTorch Lightning checkpoint whose pickle also names Lightning, omegaconf
  or numpy classes (callbacks, hyper-parameters, optimizer state). Those globals are replaced by inert
  placeholder classes (`PickledStub`) allow-listed under the names the pickle uses, so the file loads with
  the weights-only unpickler: no pickled class is imported and no pickled code runs; only the tensors
  are kept.

`params_on_meta` builds a module with its parameters on the meta device (buffers stay real), so that a
checkpoint can be assigned into it without first allocating and initialising a random model.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint is absent, unreadable, or does not match the model (the message names the file or keys)."""


# ---------------------------------------------------------------------------- tensor files
def weight_files(path: Path, config_key: str) -> list[Path]:
    """The tensor files of a checkpoint: `path` itself, or the `*.safetensors` of a directory, else its
    `pytorch_model*.bin` files (safetensors win when both are present)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist; set {config_key} in config.yaml to the checkpoint directory")
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    if not files:
        raise CheckpointError(f"no weights at {path}: expected *.safetensors or pytorch_model.bin "
                              f"(set {config_key} in config.yaml to the checkpoint directory)")
    return files


def read_tensor_file(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of one `.safetensors` or torch pickle (`.bin`/`.pt`/`.pth`) file.

    Torch pickles are read with the weights-only unpickler and memory-mapped (zip format), so their
    tensors are paged in from disk when used instead of being copied at load time.
    """
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device=str(device))
    try:
        state = torch.load(path, map_location=device, weights_only=True, mmap=_is_zip(path))
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} holds more than tensors and cannot be read with torch.load(weights_only=True) "
                              f"({str(error).splitlines()[0]}); it is not a plain weight file") from error
    return _tensor_dict(state, path)


def read_tensor_files(files: list[Path], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for f in files:
        part = read_tensor_file(f, device)
        twice = sorted(set(part) & set(state))
        if twice:
            raise CheckpointError(f"{f} repeats keys of an earlier file: {twice[:5]}")
        state.update(part)
    return state


def _is_zip(path: Path) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _tensor_dict(state: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a dict of tensors (a state dict)")
    return dict(state)


# ---------------------------------------------------------------------------- Lightning checkpoints
class PickledStub:
    """Inert stand-in for a class named in a pickle but not trusted (e.g. a Lightning callback).

    It records what the pickle would have passed to the real class and does nothing else.
    """

    pickled_name = "?"

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stub of {self.pickled_name}>"


def _stub(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")
    return type(name or full_name, (PickledStub,), {"__module__": module, "pickled_name": full_name})


def load_lightning_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of a PyTorch Lightning `.ckpt`, read without Lightning and without running pickled code.

    Every global the pickle names that torch does not allow-list (found by statically disassembling the
    pickle) is bound to an inert `PickledStub` subclass for this one load; the real classes are never
    imported, so neither their `__setstate__`/`__reduce__` nor any callable named in the pickle runs.
    """
    if not _is_zip(path):
        raise CheckpointError(f"{path} is a legacy (pre-1.6, non-zip) torch file; re-save it with a current torch "
                              "(torch.save(torch.load(path, weights_only=False), path)) in a trusted environment")
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    stubs = [(_stub(name), name) for name in unsafe]
    if unsafe:
        log.info("%s names %d non-tensor class(es), loaded as inert stubs: %s", path, len(unsafe), ", ".join(unsafe))
    try:
        with torch.serialization.safe_globals(stubs):
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} could not be read with the weights-only unpickler even with stubs for "
                              f"{unsafe}: {str(error).splitlines()[0]}") from error
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} does not hold a dict (a Lightning checkpoint or a state dict)")
    state = raw.get("state_dict", raw)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path} has no tensors under 'state_dict'; is it a latent-diffusion checkpoint?")
    return tensors


# ---------------------------------------------------------------------------- building without allocating
@contextlib.contextmanager
def params_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device; buffers stay real.

    Parameter initialisation then costs nothing, and `load_state_dict(state, assign=True)` puts the
    checkpoint's tensors in place. Buffers are kept because the non-persistent ones (RoPE frequencies,
    position ids, the fixed latent position table) are computed at construction and never saved.
    """
    original = nn.Module.register_parameter

    def register(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            kwargs = dict(param.__dict__)
            kwargs["requires_grad"] = param.requires_grad
            module._parameters[name] = type(param)(param.to("meta"), **kwargs)

    nn.Module.register_parameter = register
    try:
        yield
    finally:
        nn.Module.register_parameter = original


def meta_parameters(module: nn.Module) -> list[str]:
    """Names of parameters and buffers still on the meta device (nothing may remain after loading)."""
    return [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.device.type == "meta"]

"""The UniX model: configuration, module, losses, sampling, checkpoints and tokenizer.

Public API (see the team contract): `UniXConfig`, `UniX`, `unix.model.tokenizer`,
`unix.model.inference.generate_reports` / `generate_images`.
"""

from __future__ import annotations

__all__ = ["UniX", "UniXConfig"]


def __getattr__(name: str):
    # Imported lazily: the workflow's rule files import light submodules (paths, settings) at parse time
    # and must not pay for torch.
    if name == "UniX":
        from unix.model.unix import UniX

        return UniX
    if name == "UniXConfig":
        from unix.model.config import UniXConfig

        return UniXConfig
    raise AttributeError(f"module 'unix.model' has no attribute {name!r}")

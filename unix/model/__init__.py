"""The UniX model: configuration, module, losses, sampling, checkpoints and tokenizer.

Public API (see the team contract): `UniXConfig`, `UniX`, `unix.model.tokenizer`,
`unix.model.inference.generate_reports` / `generate_images`.
"""

from unix.model.config import UniXConfig
from unix.model.unix import UniX

__all__ = ["UniX", "UniXConfig"]

"""Parameter counts per branch, computed on the meta device (no memory is allocated)."""

from __future__ import annotations

import torch

from unix.model.config import UniXConfig

PAPER_PER_BRANCH = 1.5e9  # "1.5B" per branch (paper_tables.yaml: model.params_per_branch; Table 2 "Und.
# Params", Table 3 "Gen. Params"); the model as a whole is about 3.2B.


def count_parameters(config: UniXConfig) -> dict[str, int]:
    """Parameters of each part of a UniX model built from `config` on the meta device."""
    from unix.model.unix import UniX

    with torch.device("meta"):
        model = UniX(config)

    def n(params) -> int:
        return sum(p.numel() for p in params)

    layers = model.decoder.layers
    counts = {
        "vision (SigLIP)": n(model.vision.parameters()),
        "connector": n(model.connector.parameters()),
        "understanding LM (embeddings, und. layers, norm, LM head)": n(model.decoder.embed_tokens.parameters())
        + sum(n(layer.und.parameters()) for layer in layers) + n(model.decoder.norm.parameters())
        + n(model.lm_head.parameters()),
        "generation branch (gen. layers, norm)": sum(n(layer.gen.parameters()) for layer in layers)
        + n(model.decoder.norm_gen.parameters()),
        "latent heads (vae2llm, llm2vae, timestep MLP)": n(model.latent.parameters()),
        "REPA projector": n(model.repa_projector.parameters()),
    }
    counts["total trainable (sum of the above)"] = sum(counts.values())
    und_layers = sum(n(layer.und.parameters()) for layer in layers)
    counts["frozen VAE"] = n(model.vae.parameters())
    counts["frozen REPA encoder (RadDino)"] = n(model.repa_encoder.parameters())
    assert counts["total trainable (sum of the above)"] + counts["frozen VAE"] + counts["frozen REPA encoder (RadDino)"] \
        == n(model.parameters()), "a parameter belongs to no branch"
    und_layers = sum(n(layer.und.parameters()) for layer in layers)
    counts["understanding layers (no embeddings)"] = und_layers
    return counts


def format_counts(name: str) -> str:
    counts = count_parameters(UniXConfig.from_name(name))
    lines = [f"parameters of {name} (meta device):"]
    for key, value in counts.items():
        lines.append(f"  {key:<60s} {value / 1e6:10.1f} M")
    lines.append(f"  {'paper, per branch (Und. / Gen. Params)':<60s} {PAPER_PER_BRANCH / 1e6:10.1f} M")
    lines.append(f"  understanding decoder layers without embeddings/LM head + SigLIP: "
                 f"{(counts['understanding layers (no embeddings)'] + counts['vision (SigLIP)']) / 1e9:.2f} B "
                 "(the likely basis of the paper's 1.5B)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_counts("unix-1.5b"))

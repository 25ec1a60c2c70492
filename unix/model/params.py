"""Parameter counts per branch, computed on the meta device (no memory is allocated)."""

from __future__ import annotations

import torch

from unix.model.config import UniXConfig

PAPER_TOTAL = 1.5e9  # "1.5B" as reported in the paper (paper_tables.yaml: model.params_total)


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
    total = counts["total trainable (sum of the above)"]
    lines.append(f"  {'paper (as reported)':<60s} {PAPER_TOTAL / 1e6:10.1f} M")
    lines.append(f"  ratio ours / paper: {total / PAPER_TOTAL:.2f}")
    lines.append(f"  understanding decoder layers without embeddings/LM head + SigLIP: "
                 f"{(counts['understanding layers (no embeddings)'] + counts['vision (SigLIP)']) / 1e9:.2f} B "
                 "(the likely basis of the paper's 1.5B)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_counts("unix-1.5b"))

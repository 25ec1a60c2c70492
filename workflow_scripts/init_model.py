"""init_model: the initial UniX model directory (weights, config.json, tokenizer) from the configured weights."""

from unix.pipeline import run_step


def main(smk):
    import pandas as pd

    from unix.model.initial import write_initial_model

    split = pd.read_parquet(smk.input.split, columns=["split", "report_text"])
    texts = split.loc[split["split"] == "train", "report_text"].fillna("").tolist()
    return write_initial_model(smk.output.model, smk.params.size, dict(smk.params.weights), texts,
                               int(smk.params.tokenizer_vocab_size), dict(smk.params.overrides),
                               seed=int(smk.params.seed))


run_step(snakemake, main)  # noqa: F821

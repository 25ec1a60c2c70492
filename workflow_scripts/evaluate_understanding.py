"""evaluate_understanding: CheXbert F1 (Table 2 columns), BLEU-4, ROUGE-L of generated reports;
RadGraph F1 from evaluate_radgraph."""

from unix.pipeline import run_step


def main(smk):
    from unix.evaluation.steps import evaluate_understanding_step

    p = smk.params
    return evaluate_understanding_step(smk.input.reports, smk.output[0], model=smk.wildcards.model, labeler=p.labeler,
                                       chexbert=p.chexbert, bert_dir=p.bert_base_uncased,
                                       radgraph_metrics=smk.input.radgraph,
                                       device=p.device, seed=p.seed, rouge_bootstrap=p.rouge_bootstrap)


run_step(snakemake, main)  # noqa: F821

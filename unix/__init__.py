"""UniX: a reproducible pipeline for unified chest X-ray understanding and generation.

Subpackages:
    data        MIMIC-CXR layout, the synthetic demo tree, split selection, image preparation
    cleaning    report cleaning through an OpenAI-compatible API or an offline rule cleaner
    model       the UniX model (understanding branch, mixture-of-transformers generation branch)
    training    the three training stages and the joint-optimisation ablation
    evaluation  the paper's metrics, feature extractors and labelers
    tables      the paper's tables and figures
    provenance  records of what produced every file under results/, and the audit command

The package is usable without Snakemake; the workflow (Snakefile, rules/) only wires it together.
"""

__version__ = "0.1.0"

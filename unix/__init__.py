"""UniX: a reproducible pipeline for unified chest X-ray understanding and generation.

Subpackages and modules, in import order: each may import those before it, never those after
(tests/test_imports.py checks, function-level imports included):
    provenance  records of what produced every file under results/, and the audit command; with the
                modules config, pipeline, launch and weights, and the packaged facts in resources
    data        MIMIC-CXR layout, the synthetic demo tree, split selection, image preparation
    labels      CheXpert-style report labelers (offline rules, CheXbert) for cleaning and evaluation
    cleaning    report cleaning through an OpenAI-compatible API or an offline rule cleaner
    workflow    the results layout of the data and cleaning stages (the later stages' paths modules build on it)
    model       the UniX model (understanding branch, mixture-of-transformers generation branch)
    training    the three training stages and the joint-optimisation ablation
    evaluation  the paper's metrics and feature extractors
    tables      the paper's tables and figures
    cli         the `unix` command line

The package is usable without Snakemake; the workflow (Snakefile, rules/) only wires it together.
"""

__version__ = "0.1.0"

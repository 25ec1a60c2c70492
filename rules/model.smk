# model stage rules: the demo's tiny stand-in weights and the initial UniX model (unix/model).
#   results/model/demo-weights/raddino/         make_demo_weights (random stand-in; only for empty weights.raddino)
#   results/model/demo-weights/vae/             train_demo_vae (tiny VAE trained on the synthetic images; empty weights.vae)
#   results/model/init/                          init_model (UniX weights + config.json + tokenizer)
from unix.model import paths as MP
from unix.model.settings import model_overrides


if MP.random_demo_outputs(config):

    rule make_demo_weights:
        output:
            **{name: directory(path) for name, path in MP.random_demo_outputs(config).items()},
        log:
            "results/logs/make_demo_weights/make_demo_weights.log",
        params:
            seed=config["seed"],
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/model.yaml"
        script:
            "../workflow_scripts/make_demo_weights.py"


if "vae" in MP.demo_weight_outputs(config):

    rule train_demo_vae:
        input:
            **MP.demo_vae_inputs(config),
        output:
            vae=directory(MP.demo_weight_outputs(config)["vae"]),
            summary=MP.DEMO_VAE_SUMMARY,
        log:
            "results/logs/train_demo_vae/train_demo_vae.log",
        benchmark:
            "results/benchmarks/train_demo_vae/train_demo_vae.tsv"
        params:
            settings=config["training"]["demo_vae"],
            vae_shift=config["model"]["vae_shift"],
            vae_scale=config["model"]["vae_scale"],
            seed=config["seed"],
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/model.yaml"
        script:
            "../workflow_scripts/train_demo_vae.py"


rule init_model:
    input:
        **MP.init_inputs(config),
    output:
        model=directory(MP.INIT_MODEL),
    log:
        "results/logs/init_model/init_model.log",
    params:
        seed=config["seed"],
        size=config["model"]["size"],
        overrides=model_overrides(config["model"]),
        tokenizer_vocab_size=config["model"]["tokenizer_vocab_size"],
        weights=MP.init_weights(config),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/init_model.py"

# model stage rules: the demo's tiny stand-in weights and the initial UniX model (unix/model).
#   results/model/demo-weights/{raddino,vae}/   make_demo_weights (only for empty weights.raddino / weights.vae)
#   results/model/init/                          init_model (UniX weights + config.json + tokenizer)
from unix.model import paths as MP
from unix.model.settings import model_overrides


if MP.demo_weight_outputs(config):

    rule make_demo_weights:
        output:
            **{name: directory(path) for name, path in MP.demo_weight_outputs(config).items()},
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

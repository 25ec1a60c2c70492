# model stage rules: the demo's tiny stand-in weights and the initial UniX model (unix/model).
# Configured external weights are params (resolved by unix.model.paths), not inputs: changing one reruns the job.


# A random RadDino stand-in, only when weights.raddino is empty.
if not config["weights"]["raddino"]:

    rule make_demo_weights:
        output:
            raddino=directory("results/model/demo-weights/raddino"),
        log:
            "results/logs/make_demo_weights/make_demo_weights.log",
        params:
            **config_params(config, seed="seed"),
        resources:
            **W.resources(config, "cpu"),
        conda:
            "../envs/model.yaml"
        script:
            "../workflow_scripts/make_demo_weights.py"


# A tiny VAE trained on the synthetic images, only when weights.vae is empty.
if not config["weights"]["vae"]:

    rule train_demo_vae:
        input:
            **MP.demo_vae_inputs(config),
        output:
            vae=directory("results/model/demo-weights/vae"),
            summary="results/model/demo-weights/vae.summary.json",
        log:
            "results/logs/train_demo_vae/train_demo_vae.log",
        benchmark:
            "results/benchmarks/train_demo_vae/train_demo_vae.tsv"
        params:
            **config_params(
                config,
                settings="training.demo_vae",
                vae_shift="model.vae_shift",
                vae_scale="model.vae_scale",
                seed="seed",
            ),
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
        model=directory("results/model/init"),
    log:
        "results/logs/init_model/init_model.log",
    params:
        **config_params(
            config,
            seed="seed",
            size="model.size",
            tokenizer_vocab_size="model.tokenizer_vocab_size",
        ),
        overrides=model_overrides(config["model"]),
        weights=MP.init_weights(config),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/model.yaml"
    script:
        "../workflow_scripts/init_model.py"

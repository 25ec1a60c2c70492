"""Rules train_stage (stage1/2/3) and train_ablation: write the run spec, then start `unix.training.run` as one
process or under `accelerate launch` over the job's GPUs (unix.training.launch). The training process
resumes from the newest complete checkpoint under params.checkpoints when a previous attempt died."""

import json
import subprocess
from pathlib import Path

from unix.pipeline import run_step
from unix.training.launch import launch_prefix


def main(smk) -> dict:
    spec = {"recipe": smk.params.recipe, "init": smk.input.init, "checkpoints": smk.params.checkpoints,
            **{k: smk.input[k] for k in ("und_split", "reports", "gen_split") if k in smk.input.keys()},
            **{k: list(smk.input[k]) for k in ("und_images", "gen_images") if k in smk.input.keys()},
            **{k: smk.output[k] for k in ("final", "log_csv", "loss_png", "summary")}}
    Path(smk.params.checkpoints).mkdir(parents=True, exist_ok=True)
    spec_path = Path(smk.params.checkpoints) / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    cmd = [*launch_prefix(smk.params.accelerate_config), "-m", "unix.training.run", str(spec_path)]
    with open(smk.log[0], "a") as log_fh:
        log_fh.write("$ " + " ".join(cmd) + "\n")
        log_fh.flush()
        subprocess.run(cmd, check=True, stdout=log_fh, stderr=subprocess.STDOUT)
    summary = json.loads(Path(smk.output.summary).read_text())
    return {"samples_per_s": summary["samples_per_s"], "resumed_from": summary["resumed_from"],
            "launch": cmd[:-1]}


run_step(snakemake, main)  # noqa: F821  (snakemake is injected by the script directive)

"""Tables from the released UniX checkpoint without training (`snakemake release_tables`), and Table 2 on
UniX's own test set (evaluation.understanding_test_set: UniX's eval/data/understanding/test_data.json).

The release is a tiny model saved in the published layout: `model.safetensors` under the release's key
names (tests/test_model_checkpoints.py `_release_state`), the tokenizer files and a Janus-style config.json.
The test_data.json files are written in UniX's format and point into a synthetic MIMIC-CXR-JPG tree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from conftest import demo_config
from unix.evaluation.test_data import MalformedTestData, read_test_data

REPORTS = ["FINDINGS: The lungs are clear. No pleural effusion. IMPRESSION: No acute process.",
           "FINDINGS: Small left pleural effusion with adjacent atelectasis. IMPRESSION: Effusion.",
           "FINDINGS: Cardiomegaly with mild pulmonary edema."]
PROMPTS = ["<image>Review this chest X-ray and provide the FINDINGS.",
           "<image>Examine this X-ray image and describe the FINDINGS and IMPRESSION."]
TRAINING_JOBS = re.compile(r"^(train_\w+|init_model)$")


def write_tiny_release(directory: Path) -> torch.nn.Module:
    """A tiny UniX saved as the release is published; returns the model whose weights it holds."""
    from test_model_checkpoints import _release_state

    from unix.model import UniX, UniXConfig
    from unix.model.tokenizer import special_token_ids, train_tokenizer

    tokenizer = train_tokenizer(REPORTS * 30, 400)
    torch.manual_seed(1)
    model = UniX(UniXConfig.from_name("tiny", vocab_size=len(tokenizer), **special_token_ids(tokenizer))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in _release_state(model).items()}, str(directory / "model.safetensors"))
    tokenizer.save_pretrained(str(directory))
    c = model.config
    (directory / "config.json").write_text(json.dumps({
        "language_config": {"hidden_size": c.hidden_size, "num_hidden_layers": c.num_layers,
                            "num_attention_heads": c.num_heads, "vocab_size": c.vocab_size},
        "aligner_config": {"cls": "MlpProjector"}}))
    return model


def synthetic_tree(root: Path) -> list[str]:
    """A small synthetic MIMIC-CXR-JPG tree; returns its image paths relative to the root."""
    from unix.data.synthetic import generate

    generate(root, n_subjects=3, seed=0, image_size=64, broken_inputs=False)
    return sorted(str(p.relative_to(root)) for p in root.glob("files/**/*.jpg"))


def write_test_data(path: Path, images: list[str]) -> list[dict]:
    items = [{"messages": [{"role": "user", "content": PROMPTS[i % 2]},
                           {"role": "assistant", "content": REPORTS[i % 3]}],
              "images": [image]} for i, image in enumerate(images)]
    path.write_text(json.dumps(items, indent=1))
    return items


# ------------------------------------------------------------------------------ test_data.json


def test_test_data_items_prompts_and_references(tmp_path):
    images = synthetic_tree(tmp_path / "mimic")[:4]
    items = write_test_data(tmp_path / "test_data.json", images)
    table = read_test_data(tmp_path / "test_data.json", tmp_path / "mimic")
    assert table["item"].tolist() == [0, 1, 2, 3]
    assert table["image_path"].tolist() == images
    # as UniX's worker: `<image>` removed, nothing else stripped
    assert table["prompt"].tolist() == [it["messages"][0]["content"].replace("<image>", "") for it in items]
    assert table["prompt"][0] == "Review this chest X-ray and provide the FINDINGS."
    assert table["reference"].tolist() == [it["messages"][1]["content"] for it in items]
    assert table["dicom_id"][0] == Path(images[0]).stem
    assert table["study_id"][0] == int(re.search(r"/s(\d+)/", images[0]).group(1))


@pytest.mark.parametrize("breakage, message", [
    (lambda items: items[2]["messages"].pop(1), r"item 2 needs exactly one 'assistant' message"),
    (lambda items: items[1].update(images=[]), r"item 1 needs 'images'"),
    (lambda items: items[3].pop("messages"), r"item 3 has no 'messages' list"),
    (lambda items: items[0]["images"].__setitem__(0, "files/p10/p10000000/s1/missing.jpg"),
     r"item 0: image .*missing\.jpg does not exist"),
])
def test_test_data_errors_name_the_file_and_item(tmp_path, breakage, message):
    images = synthetic_tree(tmp_path / "mimic")[:4]
    items = write_test_data(tmp_path / "test_data.json", images)
    breakage(items)
    (tmp_path / "test_data.json").write_text(json.dumps(items))
    with pytest.raises(MalformedTestData, match=message) as err:
        read_test_data(tmp_path / "test_data.json", tmp_path / "mimic")
    assert "test_data.json" in str(err.value)


def test_test_data_that_is_not_a_list(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"messages": []}))
    with pytest.raises(MalformedTestData, match="expected a non-empty JSON list"):
        read_test_data(tmp_path / "t.json")
    with pytest.raises(MalformedTestData, match="evaluation.understanding_test_set"):
        read_test_data(tmp_path / "absent.json")


# ------------------------------------------------------------------------------ the release as a model


def test_release_model_directory_holds_the_released_weights(tmp_path):
    from unix.evaluation.release import ReleaseNotConfigured, write_release_model
    from unix.model.inference import load_model

    source = write_tiny_release(tmp_path / "UniX")
    report = write_release_model(tmp_path / "release", "tiny", {"unix": str(tmp_path / "UniX")})
    assert report["model"] == "release" and report["unix"]["loaded"] > 0
    model, tokenizer = load_model(tmp_path / "release")
    for key, value in source.state_dict().items():
        if not key.startswith(("repa_projector.", "vae.", "repa_encoder.")):
            assert torch.equal(model.state_dict()[key], value), key
    assert len(tokenizer) == source.config.vocab_size
    with pytest.raises(ReleaseNotConfigured, match="weights.unix is empty"):
        write_release_model(tmp_path / "x", "tiny", {"unix": ""})
    (tmp_path / "UniX" / "tokenizer.json").unlink()
    (tmp_path / "UniX" / "tokenizer_config.json").unlink()
    with pytest.raises(ReleaseNotConfigured, match="holds no tokenizer"):
        write_release_model(tmp_path / "y", "tiny", {"unix": str(tmp_path / "UniX")})


def test_reports_for_exactly_the_test_data_items_with_their_prompts(tmp_path, monkeypatch):
    """generate_reports on UniX's test set: its items, its prompts, its references; Table 2 says so."""
    import unix.model.inference as inference
    from unix.evaluation import read_metrics
    from unix.evaluation.release import write_release_model
    from unix.evaluation.steps import evaluate_understanding_step, generate_reports_step
    from unix.tables.build import TEST_SET_COLUMN, make_table

    write_tiny_release(tmp_path / "UniX")
    write_release_model(tmp_path / "release", "tiny", {"unix": str(tmp_path / "UniX")})
    images = synthetic_tree(tmp_path / "mimic")[:5]
    items = write_test_data(tmp_path / "test_data.json", images)
    seen: list = []
    real = inference.generate_reports

    def recording(model, tokenizer, imgs, prompts, **kw):
        seen.append((len(imgs), prompts))
        return real(model, tokenizer, imgs, prompts, **kw)

    monkeypatch.setattr(inference, "generate_reports", recording)
    out = tmp_path / "release.parquet"
    info = generate_reports_step(str(tmp_path / "release"), None, None, [], str(out), prompt="ignored prompt",
                                 device="cpu", generation_kwargs={"max_new_tokens": 4},
                                 test_data=str(tmp_path / "test_data.json"), images_root=str(tmp_path / "mimic"))
    expected_prompts = [it["messages"][0]["content"].replace("<image>", "") for it in items]
    assert seen == [(5, expected_prompts)]
    df = pd.read_parquet(out)
    assert df["item"].tolist() == list(range(5)) and df["image_path"].tolist() == images
    assert df["reference"].tolist() == [it["messages"][1]["content"] for it in items]
    assert info["n_reports"] == 5 and "UniX test_data.json" in info["test_set"] and "5 items" in info["test_set"]

    # a limit (Table-5 style) keeps the first items and says so
    generate_reports_step(str(tmp_path / "release"), None, None, [], str(tmp_path / "two.parquet"), device="cpu",
                          limit=2, generation_kwargs={"max_new_tokens": 2}, test_data=str(tmp_path / "test_data.json"),
                          images_root=str(tmp_path / "mimic"))
    assert "the first 2 of 5 items" in pd.read_parquet(tmp_path / "two.parquet")["test_set"][0]

    metrics = tmp_path / "understanding.json"
    evaluate_understanding_step(str(out), str(metrics), model="release", labeler="rules", device="cpu",
                                rouge_bootstrap=5)
    assert read_metrics(metrics).meta["test_set"] == df["test_set"][0]
    make_table("table2", {"ours: release": {"paths": [str(metrics)], "reference": "UniX"}}, True,
               tmp_path / "t2.csv", tmp_path / "t2.md")
    t2 = pd.read_csv(tmp_path / "t2.csv", keep_default_na=False).set_index("row")
    assert t2.loc["ours: release [synthetic data]", TEST_SET_COLUMN] == df["test_set"][0]
    assert t2.loc["UniX", TEST_SET_COLUMN] == "as published (paper)"
    assert "test set = UniX test_data.json" in (tmp_path / "t2.md").read_text()


def test_reports_on_a_missing_test_image_name_file_and_item(tmp_path):
    from unix.evaluation.steps import generate_reports_step

    images = synthetic_tree(tmp_path / "mimic")[:3]
    write_test_data(tmp_path / "test_data.json", images)
    (tmp_path / "mimic" / images[1]).unlink()
    with pytest.raises(MalformedTestData, match=r"test_data\.json: item 1: image .* does not exist"):
        generate_reports_step(str(tmp_path / "no-model"), None, None, [], str(tmp_path / "r.parquet"), device="cpu",
                              test_data=str(tmp_path / "test_data.json"), images_root=str(tmp_path / "mimic"))


# ------------------------------------------------------------------------------ the workflow (dry runs)


def _jobs(stdout: str) -> set[str]:
    return set(re.findall(r"^(\w+)\s+\d+$", stdout, re.M)) - {"total"}


@pytest.mark.workflow
def test_release_tables_schedule_no_training(tmp_path, snakemake_run):
    from unix.model.demo_weights import write_demo_vae

    write_tiny_release(tmp_path / "UniX")
    # The tiny release ships no VAE: with weights.vae empty the demo's stand-in VAE is trained (and nothing else).
    config = demo_config(weights={"unix": str(tmp_path / "UniX")})
    jobs = _jobs(snakemake_run(tmp_path / "wf0", "release_tables", "-n", config=config).stdout)
    assert {j for j in jobs if TRAINING_JOBS.match(j)} == {"train_demo_vae"}, jobs
    # As a user runs it: weights.vae set (here a diffusers directory), no training job at all.
    write_demo_vae(tmp_path / "vae")
    config = demo_config(weights={"unix": str(tmp_path / "UniX"), "vae": str(tmp_path / "vae")})
    proc = snakemake_run(tmp_path / "wf", "release_tables", "-n", config=config)
    jobs = _jobs(proc.stdout)
    assert {"release_model", "generate_reports", "generate_images", "extract_features", "evaluate_understanding",
            "evaluate_generation", "evaluate_per_pathology", "make_release_table"} <= jobs
    assert not {j for j in jobs if TRAINING_JOBS.match(j)}, jobs
    assert not jobs & {"make_table", "train_ablation"}
    for key in ("table2", "table3", "table4"):
        assert f"results/tables/release/{key}.csv" in proc.stdout
    assert "results/evaluation/reports/release.parquet" in proc.stdout

    # with UniX's test set, Table 2 needs neither our split's cleaned reports nor its prepared images
    test_data = tmp_path / "test_data.json"
    write_test_data(test_data, ["files/p10/p10000001/s50000001/a.jpg"])
    config = demo_config(weights={"unix": str(tmp_path / "UniX"), "vae": str(tmp_path / "vae")},
                         evaluation={"understanding_test_set": str(test_data)})
    jobs = _jobs(snakemake_run(tmp_path / "wf2", "results/tables/release/table2.csv", "-n", config=config).stdout)
    assert {"release_model", "generate_reports", "make_release_table", "make_demo_data"} <= jobs
    assert not jobs & {"clean_reports", "gather_cleaned_reports", "select_understanding_split", "prepare_images"}
    assert not {j for j in jobs if TRAINING_JOBS.match(j)}, jobs


@pytest.mark.workflow
def test_release_tables_without_weights_unix_stop_at_dag_time(tmp_path, snakemake_run):
    proc = snakemake_run(tmp_path / "wf", "release_tables", "-n", config=demo_config(), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "weights.unix is empty" in out and "release_model" not in _jobs(proc.stdout)
    # the trained-model targets do not need weights.unix
    snakemake_run(tmp_path / "wf2", "table2", "-n", config=demo_config())


@pytest.mark.workflow
def test_missing_test_data_file_is_named_at_dag_time(tmp_path, snakemake_run):
    write_tiny_release(tmp_path / "UniX")
    config = demo_config(weights={"unix": str(tmp_path / "UniX")},
                         evaluation={"understanding_test_set": str(tmp_path / "absent.json")})
    proc = snakemake_run(tmp_path / "wf", "results/tables/release/table2.csv", "-n", config=config, check=False)
    assert proc.returncode != 0
    assert "evaluation.understanding_test_set" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ end to end


def _readable(path: Path) -> bool:
    """False for the demo's deliberately corrupt JPEGs."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.workflow
def test_release_tables_end_to_end_on_the_demo(tmp_path, snakemake_run):
    """`snakemake release_tables` on the synthetic demo with a tiny release and a UniX-format test set:
    Tables 2-4 under results/tables/release/, the paper's rows beside `ours: release`, no training run."""
    write_tiny_release(tmp_path / "UniX")
    wd = tmp_path / "wf"
    # one job per stage where the demo has two: the fewer processes, the faster on a shared CI machine
    config = demo_config(weights={"unix": str(tmp_path / "UniX")}, data={"images": {"shards": 1}},
                         evaluation={"image_shards": 1, "kd_subsets": 10})
    tree = "results/data/synthetic/mimic-cxr-jpg"
    snakemake_run(wd, f"{tree}/files", "--cores", "2", config=config)
    images = [str(p.relative_to(wd / tree)) for p in sorted((wd / tree).glob("files/**/*.jpg")) if _readable(p)][:6]
    write_test_data(tmp_path / "test_data.json", images)
    config["evaluation"]["understanding_test_set"] = str(tmp_path / "test_data.json")
    proc = snakemake_run(wd, "release_tables", "--cores", "2", config=config, timeout=3000)
    assert not (wd / "results/train").exists() and not (wd / "results/model/init").exists(), proc.stdout[-2000:]
    for key, ref in (("table2", "UniX"), ("table3", "UniX-512"), ("table4", "UniX-512")):
        df = pd.read_csv(wd / f"results/tables/release/{key}.csv", keep_default_na=False).set_index("row")
        ours = df.loc["ours: release [synthetic data]"]
        assert ours["compared_with"] == ref and ref in df.index
        assert (df["source"] == "paper").sum() >= 2
    t2 = pd.read_csv(wd / "results/tables/release/table2.csv", keep_default_na=False).set_index("row")
    assert "UniX test_data.json" in t2.loc["ours: release [synthetic data]", "test_set"]
    reports = pd.read_parquet(wd / "results/evaluation/reports/release.parquet")
    assert reports["image_path"].tolist() == images
    assert not (wd / "results/tables/table2.csv").exists()

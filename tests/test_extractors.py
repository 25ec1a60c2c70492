"""Feature extractors and labelers load from local paths only, fail clearly without weights, and run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unix.data.mimic import CHEXPERT_LABELS
from unix.evaluation.raddino import chexgenbench_pixels, load_raddino, raddino_features
from unix.model.demo_weights import write_demo_raddino
from unix.weights import WeightsNotFoundError


@pytest.fixture(scope="module")
def demo_raddino(tmp_path_factory):
    path = write_demo_raddino(tmp_path_factory.mktemp("raddino") / "raddino", seed=0)
    return load_raddino(path)


def gray(seed: int, size: tuple[int, int] = (200, 160)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, size[::-1], dtype=np.uint8), mode="L")


def test_chexgenbench_pixels_are_the_bilinear_299_resize() -> None:
    img = gray(0)
    out = chexgenbench_pixels([img, None])
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.uint8
    assert int(out[1].max()) == 0  # unreadable -> black
    resized = np.asarray(img.convert("RGB").resize((299, 299), Image.BILINEAR))
    # the reference's ToTensor -> x255 -> uint8 truncation: for 8-bit pixels x/255*255 is exact in float32,
    # so the batch equals the bilinear-resized pixels
    assert np.array_equal(out[0].numpy(), resized.transpose(2, 0, 1))


def test_raddino_features_are_the_pooler_output_and_batch_independent(demo_raddino) -> None:
    model, processor = demo_raddino
    images = [gray(i) for i in range(5)]
    feats = raddino_features(images, model, processor, batch_size=2)
    assert feats.shape == (5, model.config.hidden_size) and feats.dtype == np.float32
    np.testing.assert_allclose(raddino_features(images[3:4], model, processor), feats[3:4], rtol=1e-5, atol=1e-6)
    pixels = processor(images=list(chexgenbench_pixels(images[:1])), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels)
    # pooler_output = the CLS token after the final layer norm (what rad-dino's own package uses)
    np.testing.assert_allclose(out.last_hidden_state[:, 0].numpy(), feats[:1], rtol=1e-5, atol=1e-6)


def test_missing_weights_fail_with_the_config_key(tmp_path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"weights\.raddino.*nothing is downloaded"):
        load_raddino(tmp_path / "absent")
    with pytest.raises(WeightsNotFoundError, match=r"weights\.raddino is empty"):
        load_raddino("")


def tiny_bert_dir(path) -> str:
    from transformers import BertConfig

    path.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "pleural", "effusion", "small", "left", ".",
             "heart", "is", "enlarged", "pneumothorax"]
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, max_position_embeddings=512).save_pretrained(path)
    return str(path)


def test_chexbert_loads_a_stanford_style_checkpoint(tmp_path) -> None:
    from transformers import BertConfig

    from unix.labels.chexbert import CHEXBERT_ORDER, CheXbert, label_reports_chexbert, load_chexbert, prepare_text

    bert = tiny_bert_dir(tmp_path / "bert")
    torch.manual_seed(0)
    model = CheXbert(BertConfig.from_pretrained(bert))
    # force each head's answer through its bias so that the class -> label mapping is checked
    answers = {"Cardiomegaly": 1, "Pleural Effusion": 3, "Pneumothorax": 2, "No Finding": 1}
    for i, (name, head) in enumerate(zip(CHEXBERT_ORDER, model.linear_heads)):
        with torch.no_grad():
            head.weight.zero_()
            head.bias.fill_(-10.0)
            head.bias[answers.get(name, 0)] = 10.0
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    ckpt = tmp_path / "chexbert.pth"
    torch.save({"epoch": 3, "model_state_dict": state}, ckpt)

    loaded, tokenizer = load_chexbert(ckpt, bert)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    labels = label_reports_chexbert(["Small left pleural effusion.", "Heart is enlarged.\nNo pneumothorax."] * 9,
                                    loaded, tokenizer, batch_size=4)
    assert labels.shape == (18, 14)
    row = dict(zip(CHEXPERT_LABELS, labels[0]))
    assert row["Cardiomegaly"] == 1.0 and row["Pleural Effusion"] == -1.0 and row["Pneumothorax"] == 0.0
    assert row["No Finding"] == 1.0 and np.isnan(row["Atelectasis"]) and np.isnan(row["Support Devices"])
    assert prepare_text("a\nb" + "x" * 600) == ("a b" + "x" * 600)[:512]


def test_chexbert_errors_name_the_config_keys(tmp_path) -> None:
    from unix.labels.chexbert import load_chexbert

    bert = tiny_bert_dir(tmp_path / "bert")
    with pytest.raises(WeightsNotFoundError, match=r"weights\.chexbert.*evaluation\.labeler: rules"):
        load_chexbert(tmp_path / "chexbert.pth", bert)
    with pytest.raises(WeightsNotFoundError, match=r"weights\.bert_base_uncased"):
        load_chexbert(tmp_path / "chexbert.pth", tmp_path / "nobert")
    torch.save({"model_state_dict": {"module.other.weight": torch.zeros(1)}}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="does not match CheXbert"):
        load_chexbert(tmp_path / "wrong.pth", bert)


def test_alignment_and_radgraph_say_why_they_are_not_computed(tmp_path, monkeypatch) -> None:
    import importlib.util
    import io
    import json
    import tarfile

    from unix.evaluation import alignment, radgraph
    from unix.evaluation.results import NotComputedError

    # our environments install neither package: the reason says so
    if importlib.util.find_spec("health_multimodal") is None:
        assert "not installed" in alignment.alignment_unavailable_reason(str(tmp_path))
    if importlib.util.find_spec("radgraph") is None:
        assert "not installed" in radgraph.radgraph_unavailable_reason(str(tmp_path))
    with pytest.raises(NotComputedError):
        alignment.alignment_scores(["x.png"], ["No effusion."], "")
    with pytest.raises(NotComputedError):
        radgraph.radgraph_f1(["a"], ["b"], "")
    # with the packages present, missing weights are named by their config key
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert "weights.biovil_t is empty" in alignment.alignment_unavailable_reason("")
    assert ("missing ['config.json', 'vocab.txt', 'biovil_t_image_model_proj_size_128.pt', "
            "'pytorch_model.bin or model.safetensors']") in alignment.alignment_unavailable_reason(str(tmp_path))
    assert "weights.radgraph is empty" in radgraph.radgraph_unavailable_reason("")
    assert "no radgraph.tar.gz" in radgraph.radgraph_unavailable_reason(str(tmp_path))
    (tmp_path / "radgraph.tar.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="radgraph.tar.gz \\(config weights.radgraph\\) is not a readable"):
        radgraph.radgraph_unavailable_reason(str(tmp_path))
    bert = tmp_path / "bert"
    bert.mkdir()
    for name, expected in ((str(bert), None), ("no-org/no-bert", "names the BERT 'no-org/no-bert'")):
        config = json.dumps({"model": {"embedder": {"token_embedders": {"bert": {"model_name": name}}}}}).encode()
        with tarfile.open(tmp_path / "radgraph.tar.gz", "w:gz") as tar:
            info = tarfile.TarInfo("config.json")
            info.size = len(config)
            tar.addfile(info, io.BytesIO(config))
        reason = radgraph.radgraph_unavailable_reason(str(tmp_path))
        assert reason is None if expected is None else expected in reason

"""Randomly initialised BioViL-T and RadGraph in their published layouts: the demo's stand-ins, and the tests'.

The demo (synthetic data, empty ``weights.biovil_t`` / ``weights.radgraph``) scores its generated images and
reports with these, so that the alignment score and RadGraph F1 run through the real hi-ml-multimodal and radgraph
code. They carry no pretrained knowledge: their numbers exercise the code path and mean nothing. Each writer
leaves `STANDIN_NOTE` in the directory; the metric steps copy its text into the metrics file's warnings, which the
tables print under the table. A real run never uses them (`unix.real_run` requires both weights).

They run where the package they need is installed (their metric's environment, `unix.evaluation.environments`):

* `write_demo_biovil_t`: what hi-ml loads from microsoft/BiomedVLP-BioViL-T: the CXR-BERT text model and tokenizer
  as ``save_pretrained`` writes them (config.json, pytorch_model.bin, vocab.txt, tokenizer files) and the image
  checkpoint ``biovil_t_image_model_proj_size_128.pt`` (an ``ImageModel`` state dict). The image model is hi-ml's
  real ResNet-50 multi-image architecture (it has no size options); the text model is a 2-layer, 32-wide CXR-BERT
  with a 128-d projection and a small vocabulary.
* `write_demo_radgraph`: ``radgraph.tar.gz`` as RRG_scorers publishes it: ``config.json`` (the DyGIE config),
  ``weights.th`` (the model's state dict) and ``vocabulary/`` (the NER and relation label namespaces of dataset
  ``radgraph``). The BERT it names is a tiny local one written to ``<out>/bert`` (config and tokenizer; its weights
  are part of weights.th), unless `bert` is given (then weights.th is not written: the archive only serves tests
  of the "not available" path).
"""

from __future__ import annotations

import importlib.util
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

STANDIN_NOTE = "STANDIN.txt"
NOTE = ("{what} is a randomly initialised stand-in in the published layout (demo): the number exercises the real "
        "{package} code path and means nothing")
NOT_WRITTEN = "NOT_WRITTEN.txt"
"""Left instead of the weights when the writer's package is missing where it ran; the metric then says why."""

BIOVIL_T_WORDS = ("no acute cardiopulmonary process small large left right pleural effusion heart size normal mild "
                  "moderate cardiomegaly pneumothorax edema opacity lung base . ,").split()
RADGRAPH_WORDS = ("no acute cardiopulmonary process small left right pleural effusion heart size is normal mild "
                  "cardiomegaly pneumothorax edema . , a b 1 2").split()
NER_LABELS = ["", "ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
RELATION_LABELS = ["", "modify", "located_at", "suggestive_of"]
PACKAGES = {"biovil_t": ("health_multimodal", "hi-ml-multimodal"), "radgraph": ("radgraph", "radgraph")}


def standin_note(weights: str | Path) -> str | None:
    """The stand-in note of weights `weights` (a directory, or a file in it); None for real weights."""
    if not weights:
        return None
    p = Path(weights)
    note = (p if p.is_dir() else p.parent) / STANDIN_NOTE
    return note.read_text().strip() if note.is_file() else None


def write_demo_biovil_t(out: str | Path, seed: int = 0) -> Path:
    """A random BioViL-T (text model, tokenizer, image checkpoint) in the layout hi-ml loads, under `out`."""
    import torch
    from health_multimodal.image.model.model import ImageModel
    from health_multimodal.image.model.pretrained import BIOVIL_T_IMAGE_WEIGHTS_NAME, JOINT_FEATURE_SIZE
    from health_multimodal.image.model.types import ImageEncoderType
    from health_multimodal.text.model import CXRBertConfig, CXRBertModel, CXRBertTokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    image = ImageModel(img_encoder_type=ImageEncoderType.RESNET50_MULTI_IMAGE, joint_feature_size=JOINT_FEATURE_SIZE)
    torch.save(image.state_dict(), out / BIOVIL_T_IMAGE_WEIGHTS_NAME)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BIOVIL_T_WORDS]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    CXRBertTokenizer(vocab_file=str(out / "vocab.txt"), do_lower_case=True).save_pretrained(out)
    config = CXRBertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=512, projection_size=JOINT_FEATURE_SIZE,
                           architectures=["CXRBertModel"])
    CXRBertModel(config).save_pretrained(out, safe_serialization=False)
    (out / STANDIN_NOTE).write_text(NOTE.format(what="BioViL-T", package="hi-ml-multimodal") + "\n")
    return out


def _write_bert(out: Path) -> Path:
    from transformers import BertConfig, BertTokenizer

    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RADGRAPH_WORDS]) + "\n")
    BertTokenizer(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    BertConfig(vocab_size=len(RADGRAPH_WORDS) + 5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, max_position_embeddings=512).save_pretrained(out)  # reports up to 512 tokens
    return out


def dygie_config(bert: str) -> dict[str, Any]:
    """A small DyGIE config of the layout of RRG_scorers' config.json, naming BERT `bert`."""
    indexer = {"type": "pretrained_transformer_mismatched", "max_length": 512, "model_name": bert}
    return {
        "dataset_reader": {"type": "dygie", "max_span_width": 8, "token_indexers": {"bert": indexer}},
        "model": {
            "type": "dygie", "embedder": {"token_embedders": {"bert": indexer}}, "feature_size": 8,
            "feedforward_params": {"dropout": 0.4, "hidden_dims": 8, "num_layers": 2},
            "initializer": {"regexes": []}, "module_initializer": {"regexes": []},
            "loss_weights": {"coref": 0.0, "events": 0.0, "ner": 1.0, "relation": 1.0}, "max_span_width": 8,
            "modules": {"coref": {"coref_prop": 0, "max_antecedents": 100, "spans_per_word": 0.3},
                        "events": {"argument_spans_per_word": 0.8, "trigger_spans_per_word": 0.3,
                                   "loss_weights": {"arguments": 1.0, "trigger": 0.2}},
                        "ner": {}, "relation": {"spans_per_word": 0.5}},
            "target_task": "relation",
        },
    }


def _random_dygie_weights(model_dir: Path, config: dict[str, Any], seed: int) -> None:
    import torch
    from dotmap import DotMap
    from radgraph.allennlp.data import Vocabulary
    from radgraph.allennlp.modules import text_field_embedders, token_embedders
    from radgraph.dygie.models import dygie

    torch.manual_seed(seed)
    vocab = Vocabulary.from_files(str(model_dir / "vocabulary"), None, None)
    bert = config["model"]["embedder"]["token_embedders"]["bert"]
    bert_embedder = token_embedders.PretrainedTransformerMismatchedEmbedder(model_name=bert["model_name"],
                                                                            max_length=bert["max_length"])
    embedder = text_field_embedders.BasicTextFieldEmbedder({"bert": bert_embedder})
    params = DotMap(json.loads(json.dumps(config["model"])))
    for name in ("type", "embedder", "initializer", "module_initializer"):
        del params[name]
    model = dygie.DyGIE(vocab=vocab, embedder=embedder, **params)
    with torch.no_grad():  # wide enough that the untrained scorers find some entities and relations
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    torch.save(model.state_dict(), model_dir / "weights.th")


def write_demo_radgraph(out: str | Path, seed: int = 0, bert: str = "") -> Path:
    """A random RadGraph as ``<out>/radgraph.tar.gz`` (RRG_scorers' layout), with its tiny BERT in ``<out>/bert``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = bert or str(_write_bert(out / "bert"))  # as given: relative to the working directory in the demo
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        (model_dir / "vocabulary").mkdir()
        (model_dir / "vocabulary" / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
        (model_dir / "vocabulary" / "radgraph__ner_labels.txt").write_text("\n".join(NER_LABELS) + "\n")
        (model_dir / "vocabulary" / "radgraph__relation_labels.txt").write_text("\n".join(RELATION_LABELS) + "\n")
        config = dygie_config(name)
        (model_dir / "config.json").write_text(json.dumps(config, indent=1))
        if not bert:
            _random_dygie_weights(model_dir, config, seed)
        with tarfile.open(out / "radgraph.tar.gz", "w:gz") as tar:
            for f in sorted(model_dir.rglob("*")):
                if f.is_file() and f.name != ".lock":
                    tar.add(f, arcname=str(f.relative_to(model_dir)))
    (out / STANDIN_NOTE).write_text(NOTE.format(what="RadGraph", package="radgraph") + "\n")
    return out / "radgraph.tar.gz"


def write_demo_metric_weights(name: str, out: str, seed: int = 0) -> dict[str, Any]:
    """The demo's stand-in `name` (``biovil_t`` or ``radgraph``) in directory `out`.

    Where the writer's package is missing (the metric's environment is not configured), `out` holds only
    `NOT_WRITTEN` with the reason, and the metric step reports its own "not computed" reason (the package)."""
    writers = {"biovil_t": write_demo_biovil_t, "radgraph": write_demo_radgraph}
    if name not in writers:
        raise ValueError(f"no demo stand-in for weights.{name}; known: {sorted(writers)}")
    module, distribution = PACKAGES[name]
    if importlib.util.find_spec(module) is None:
        Path(out).mkdir(parents=True, exist_ok=True)
        reason = f"{distribution} is not installed where the stand-in was to be written"
        (Path(out) / NOT_WRITTEN).write_text(reason + "\n")
        return {"demo_weights": name, "written": False, "reason": reason}
    writers[name](out, seed)
    return {"demo_weights": name, "written": True, "note": standin_note(out)}

"""A randomly initialised RadGraph in the layout of RRG_scorers' ``radgraph.tar.gz``, for tests.

Run with the radgraph environment's Python (radgraph 0.1.18, transformers 4):
``python tests/radgraph_standin.py OUT_DIR [BERT_NAME]``. Writes ``OUT_DIR/radgraph.tar.gz`` holding what
radgraph's ``RadGraph`` reads from the unpacked archive: ``config.json`` (the DyGIE config: dataset reader,
model with its modules), ``weights.th`` (the model's state dict) and ``vocabulary/`` (the NER and relation label
namespaces of dataset ``radgraph``). The BERT it names is a tiny local one written to ``OUT_DIR/bert`` (config
and tokenizer; its weights are part of weights.th), unless BERT_NAME is given (then weights.th is not written
and the archive only serves tests of the "not available" path).
"""

import json
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
from transformers import BertConfig, BertTokenizer

WORDS = ("no acute cardiopulmonary process small left right pleural effusion heart size is normal mild "
         "cardiomegaly pneumothorax edema . , a b 1 2").split()
NER_LABELS = ["", "ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
RELATION_LABELS = ["", "modify", "located_at", "suggestive_of"]


def write_bert(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=32, max_position_embeddings=128).save_pretrained(out)
    return out


def dygie_config(bert: str) -> dict:
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


def random_weights(model_dir: Path, config: dict, seed: int) -> None:
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


def write_standin(out: Path, bert: str = "", seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    name = bert or str(write_bert(out / "bert"))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        (model_dir / "vocabulary").mkdir()
        (model_dir / "vocabulary" / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
        (model_dir / "vocabulary" / "radgraph__ner_labels.txt").write_text("\n".join(NER_LABELS) + "\n")
        (model_dir / "vocabulary" / "radgraph__relation_labels.txt").write_text("\n".join(RELATION_LABELS) + "\n")
        config = dygie_config(name)
        (model_dir / "config.json").write_text(json.dumps(config, indent=1))
        if not bert:
            random_weights(model_dir, config, seed)
        with tarfile.open(out / "radgraph.tar.gz", "w:gz") as tar:
            for f in sorted(model_dir.rglob("*")):
                if f.is_file() and f.name != ".lock":
                    tar.add(f, arcname=str(f.relative_to(model_dir)))
    return out / "radgraph.tar.gz"


if __name__ == "__main__":
    write_standin(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")

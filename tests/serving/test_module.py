"""The SavedModel export: parity with the Python path in a process without tfft, signatures, entity spans,
overwrite/atomicity and bad input."""

import json
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfft.models import BertConfig
from tfft.runs import RunError
from tfft.serving import ServingError
from tfft.serving.module import ServingModule, export_run, export_saved_model
from tfft.serving.predictors import ModelPredictor
from tfft.serving.text import TextEncoder, TextEncoderConfig, read_char_table
from tfft.tasks.metrics import entities
from tfft.tokenization import load_tokenizer

from conftest import TINY_LABELS, TINY_MAX_LENGTH

TEXTS = [
    "The film was a delight from start to finish.", "", "   ", "Angela Merkel met Emmanuel Macron in Paris .",
    "naïve café owners in Zürich-Oerlikon, São Paulo and 東京 😀", "a [SEP] b [MASK]",
    "This sentence is far longer than the twenty-four tokens the tiny run keeps, so it is cut off at the end, "
    "which both paths must do the same way.",
    "word " * 200,
]
PAIRS = ["A movie that delights.", "short", "", "Merkel and Macron met.", "x " * 100, "b", "Long " * 40, "no"]

FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers the WordPiece op
    served = {}
    for task, (export_dir, inputs) in json.loads(sys.argv[1]).items():
        serve = tf.saved_model.load(export_dir).signatures["serving_default"]
        outputs = serve(**{name: tf.constant(values, tf.string) for name, values in inputs.items()})
        served[task] = {k: v.numpy().tolist() for k, v in outputs.items()}
    assert not [name for name in sys.modules if name.split(".")[0] == "tfft"], "tfft was imported"
    print(json.dumps(served, default=lambda b: b.decode()))
""")


@pytest.fixture(scope="module")
def fresh_served(tiny_exports) -> dict:
    """{task: the serving_default outputs of its export}, served by one fresh process that never imports tfft."""
    requests = {task: (str(tiny_exports[task]), {"text": TEXTS} | ({"text_pair": PAIRS} if task == "pair" else {}))
                for task in ("classification", "pair", "ner")}
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, json.dumps(requests)], capture_output=True,
                            text=True, timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "pair"])
def test_fresh_process_equals_the_python_path_for_classification(task, tiny_runs, fresh_served):
    served = fresh_served[task]
    python = ModelPredictor(tiny_runs[task] / "best", task=task, max_length=TINY_MAX_LENGTH).predict(
        TEXTS, PAIRS if task == "pair" else None)
    labels = list(python[0]["probabilities"])
    expected = np.array([[record["probabilities"][name] for name in labels] for record in python])
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5, rtol=0)
    assert served["label"] == [record["label"] for record in python]
    assert served["label_id"] == [labels.index(record["label"]) for record in python]
    assert served["truncated"] == [record["truncated"] for record in python]
    assert any(served["truncated"]) and not all(served["truncated"])


@pytest.mark.slow
def test_fresh_process_equals_the_python_path_for_ner(tiny_runs, fresh_served):
    served = fresh_served["ner"]
    python = ModelPredictor(tiny_runs["ner"] / "best", task="ner", max_length=TINY_MAX_LENGTH).predict(TEXTS)
    assert sum(len(record["entities"]) for record in python) > 5  # random heads tag plenty
    for i, (text, record) in enumerate(zip(TEXTS, python)):
        count = served["word_count"][i]
        words = [[text[s:e], tag] for s, e, tag in zip(served["word_start"][i][:count], served["word_end"][i][:count],
                                                        served["word_tag"][i][:count])]
        assert words == record["words"]
        n = served["entity_count"][i]
        spans = list(zip(served["entity_type"][i][:n], served["entity_start"][i][:n], served["entity_end"][i][:n]))
        assert spans == [(e["type"], e["start"], e["end"]) for e in record["entities"]]
        np.testing.assert_allclose(served["entity_score"][i][:n], [e["score"] for e in record["entities"]],
                                   atol=1e-5, rtol=0)
        assert served["truncated"][i] == record["truncated"]
    assert served["truncated"][-1] and served["word_count"][-1] == TINY_MAX_LENGTH - 2


@pytest.fixture(scope="module")
def loaded_exports(tiny_exports) -> dict:
    """Each tiny export loaded once, with plain tf.saved_model.load."""
    return {task: tf.saved_model.load(str(export)) for task, export in tiny_exports.items()}


@pytest.mark.slow
def test_predict_ids_takes_int32_and_int64_and_gives_the_model_logits(tiny_runs, loaded_exports):
    loaded = loaded_exports["classification"]
    model = ModelPredictor(tiny_runs["classification"] / "best", task="classification", max_length=8).model
    ids = tf.constant([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = tf.cast(ids > 0, tf.int32)
    expected = model(ids, mask, tf.zeros_like(ids), training=False).numpy()
    for name, dtype in (("predict_ids", tf.int32), ("predict_ids_int64", tf.int64)):
        out = loaded.signatures[name](input_ids=tf.cast(ids, dtype), attention_mask=tf.cast(mask, dtype),
                                      token_type_ids=tf.zeros_like(ids, dtype))
        np.testing.assert_allclose(out["logits"].numpy(), expected, atol=1e-5)
    pair_inputs = loaded_exports["pair"].signatures["predict_ids"].structured_input_signature
    assert set(pair_inputs[1]) == {"input_ids", "attention_mask"}  # DistilBERT has no token type ids


def described(outputs: dict) -> dict[str, tuple[str, list[int]]]:
    return {name: (value.dtype.name, value.shape.as_list()) for name, value in outputs.items()}


def assert_empty_batch_gives_empty_outputs(signatures, task: str, labels: int) -> None:
    """The signatures (of a loaded SavedModel: graphs only, no tfft code runs) called with an empty batch, no texts
    or ids [0, 7], give empty outputs of the dtypes and shapes README 'Serve' documents."""
    if task == "ner":
        expected = {name: ("int32", [0, 0]) for name in ("word_start", "word_end", "entity_start", "entity_end")}
        expected |= {"word_tag": ("string", [0, 0]), "entity_type": ("string", [0, 0]),
                     "word_score": ("float32", [0, 0]), "entity_score": ("float32", [0, 0]),
                     "word_count": ("int32", [0]), "entity_count": ("int32", [0])}
        logits = [0, 7, labels]
    else:
        expected = {"probabilities": ("float32", [0, labels]), "label_id": ("int32", [0]), "label": ("string", [0])}
        logits = [0, labels]
    empty = tf.constant([], tf.string)
    texts = {"text": empty} | ({"text_pair": empty} if task == "pair" else {})
    assert described(signatures["serving_default"](**texts)) == expected | {"truncated": ("bool", [0])}
    for name, dtype in (("predict_ids", tf.int32), ("predict_ids_int64", tf.int64)):
        if name in signatures:
            ids = {key: tf.zeros([0, 7], dtype) for key in signatures[name].structured_input_signature[1]}
            assert described(signatures[name](**ids)) == {"logits": ("float32", logits)}


@pytest.mark.parametrize("task", ["classification", "pair", "ner"])
def test_every_signature_answers_an_empty_batch_with_empty_outputs(task, loaded_exports):
    signatures = loaded_exports[task].signatures
    assert sorted(signatures) == ["predict_ids", "predict_ids_int64", "serving_default"]
    assert_empty_batch_gives_empty_outputs(signatures, task, len(TINY_LABELS[task]))


@pytest.mark.slow
def test_saved_model_cli_lists_the_documented_signatures(tiny_exports):
    saved_model_cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(saved_model_cli), "show", "--all", "--dir", str(tiny_exports["ner"])],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    signatures = {}
    for block in shown.stdout.split("signature_def['")[1:]:
        name, body = block.split("'", 1)
        signatures[name] = {key: (dtype, shape) for _, key, dtype, shape in re.findall(
            r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (.+)", body)}
    serving = signatures["serving_default"]
    assert serving["text"] == ("DT_STRING", "(-1)")
    for name in ("word_start", "word_end", "entity_start", "entity_end"):
        assert serving[name] == ("DT_INT32", "(-1, -1)")
    for name in ("word_tag", "entity_type"):
        assert serving[name] == ("DT_STRING", "(-1, -1)")
    assert serving["word_score"] == serving["entity_score"] == ("DT_FLOAT", "(-1, -1)")
    assert serving["word_count"] == serving["entity_count"] == ("DT_INT32", "(-1)")
    assert serving["truncated"] == ("DT_BOOL", "(-1)")
    assert signatures["predict_ids"]["input_ids"] == ("DT_INT32", "(-1, -1)")
    assert signatures["predict_ids_int64"]["token_type_ids"] == ("DT_INT64", "(-1, -1)")
    assert signatures["predict_ids"]["logits"] == ("DT_FLOAT", "(-1, -1, 5)")


def test_export_copies_its_assets_and_loads_without_the_temporary_vocab(tiny_exports):
    assets = tiny_exports["ner"] / "assets"
    assert sorted(p.name for p in assets.iterdir()) == sorted(
        ["config.json", "label_map.json", "vocab.txt", "tokenizer.json", "run_config.json"])
    label_map = json.loads((assets / "label_map.json").read_text())
    assert label_map["task"] == "ner" and label_map["id2label"]["1"] == "B-LOC"
    assert label_map["max_length"] == TINY_MAX_LENGTH
    assert len((assets / "vocab.txt").read_text(encoding="utf-8").splitlines()) == 30522


def test_an_export_names_no_directory_of_the_training_machine(tiny_runs, tiny_exports, minilm_dir):
    """The settings file keeps every setting, with absolute paths cut to their last part; nothing in the export
    names the run, the model, the export's own directory or the temporary directory its assets were written in.
    (variables.data holds the weights' bytes only: numbers, no names.)"""
    for task, export in tiny_exports.items():
        written = [p for p in export.rglob("*") if p.is_file() and not p.name.startswith("variables.data")]
        assert {p.name for p in written} >= {"saved_model.pb", "variables.index", "run_config.json"}
        for path in written:
            data = path.read_bytes()
            for where in (tiny_runs[task], minilm_dir, export.parent, pathlib.Path(tempfile.gettempdir()) / "tmp"):
                assert str(where).encode() not in data, f"{path} names {where}"
        settings = json.loads((export / "assets" / "run_config.json").read_text())
        run = json.loads((tiny_runs[task] / "config.json").read_text())
        assert settings["train"]["model"] == minilm_dir.name == pathlib.Path(run["train"]["model"]).name
        assert {k: v for k, v in settings["train"].items() if k != "model"} == \
            {k: v for k, v in run["train"].items() if k != "model"} and settings["data"] == run["data"]


class TagById(tf.Module):
    """A stand-in token classifier: every token gets the tag its id is mapped to, with probability ~1."""

    def __init__(self, tags_by_id: dict, labels):
        super().__init__()
        self.config = BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                                 id2label=tuple(labels))
        table = np.zeros((self.config.vocab_size, len(labels)), np.float32)
        table[:, 0] = 20.0
        for token_id, tag in tags_by_id.items():
            table[token_id] = 0.0
            table[token_id, labels.index(tag)] = 20.0
        self.table = tf.constant(table)

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training):
        return tf.gather(self.table, input_ids)  # [B, S, C]


LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.mark.slow
def test_entity_spans_are_character_offsets_of_hand_made_examples(minilm_dir, tmp_path):
    """Accented and multi-piece words: the tags come from each word's first piece only."""
    tokenizer = load_tokenizer(minilm_dir)
    text = "Zoë Saldaña flew from Zürich-Oerlikon to São Paulo."
    first_piece = {word: tokenizer(word, add_special_tokens=False)["input_ids"][0]
                   for word in ["zoe", "saldana", "zurich", "-", "oerlikon", "sao", "paulo"]}
    assert len(tokenizer("saldana", add_special_tokens=False)["input_ids"]) > 1  # a multi-piece word
    tags = {"zoe": "B-PER", "saldana": "I-PER", "zurich": "B-LOC", "-": "I-LOC", "oerlikon": "I-LOC",
            "sao": "B-LOC", "paulo": "I-LOC"}
    model = TagById({first_piece[word]: tag for word, tag in tags.items()}, LABELS)
    export = export_saved_model(model, tokenizer, task="ner", labels=LABELS, max_length=32,
                                export_dir=tmp_path / "export")
    out = tf.saved_model.load(str(export)).signatures["serving_default"](text=tf.constant([text]))
    n = int(out["entity_count"][0])
    found = [(t.decode(), int(s), int(e)) for t, s, e in zip(out["entity_type"][0][:n].numpy(),
                                                            out["entity_start"][0][:n].numpy(),
                                                            out["entity_end"][0][:n].numpy())]
    assert found == [("PER", 0, 11), ("LOC", 22, 37), ("LOC", 41, 50)]
    assert [text[s:e] for _, s, e in found] == ["Zoë Saldaña", "Zürich-Oerlikon", "São Paulo"]
    np.testing.assert_allclose(out["entity_score"][0][:n].numpy(), 1.0, atol=1e-6)


def test_in_graph_entity_decoding_equals_the_metrics_reading(minilm_dir, tmp_path):
    """Random tag sequences (broken IOB2 included) against tfft.tasks.metrics.entities (seqeval's reading)."""
    tokenizer = load_tokenizer(minilm_dir)
    encoder = TextEncoder(read_char_table(tokenizer),
                          TextEncoderConfig.from_tokenizer(tokenizer, tmp_path / "vocab.txt", max_length=16))
    module = ServingModule(TagById({}, LABELS), encoder, task="ner", labels=LABELS)
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, len(LABELS), size=rng.integers(0, 12)).tolist() for _ in range(300)]
    tags = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1, inner_shape=())
    positions = tf.ragged.range(tags.row_lengths()).with_row_splits_dtype(tags.row_splits.dtype)
    scores = tf.cast(tags, tf.float32) / 10.0
    out = {k: v.numpy() for k, v in module._entities(tags, scores, tf.cast(positions * 10, tf.int32),
                                                       tf.cast(positions * 10 + 5, tf.int32)).items()}
    for i, row in enumerate(rows):
        expected = entities([LABELS[t] for t in row])
        n = out["entity_count"][i]
        assert [(k.decode(), s // 10, (e - 5) // 10 + 1) for k, s, e in
                zip(out["entity_type"][i][:n], out["entity_start"][i][:n], out["entity_end"][i][:n])] == expected
        np.testing.assert_allclose(out["entity_score"][i][:n], [np.mean(row[a:b]) / 10 for _, a, b in expected],
                                   atol=1e-6)


def test_non_string_input_to_the_text_signature_is_a_clear_error(loaded_exports):
    serve = loaded_exports["classification"].signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor but is a int32"):
        serve(text=tf.constant([1, 2]))


@pytest.mark.slow
def test_overwrite_replaces_only_a_tfft_export_and_never_deletes_a_users_file(tiny_runs, tmp_path):
    from tfft.config import ConfigFlagError

    target = tmp_path / "export"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    for overwrite in (False, True):  # not an export: refused either way, naming what is there
        with pytest.raises(ConfigFlagError, match=r"export: not empty and not a tfft export \(it holds keep.txt\)"):
            export_run(tiny_runs["classification"], target, overwrite=overwrite)
    (target / "keep.txt").unlink()
    export_run(tiny_runs["classification"], target)
    with pytest.raises(ConfigFlagError, match="holds a tfft export; pass --overwrite to replace it$"):
        export_run(tiny_runs["classification"], target)
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ConfigFlagError, match="holds a tfft export and also keep.txt, not written by tfft, which "
                                              "replacing the export would delete: move them elsewhere first"):
        export_run(tiny_runs["classification"], target, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    (target / "keep.txt").unlink()
    before = (target / "saved_model.pb").stat().st_ino
    export_run(tiny_runs["classification"], target, overwrite=True)
    assert (target / "saved_model.pb").stat().st_ino != before
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no staging leftovers


def test_a_failed_export_leaves_nothing_behind(minilm_dir, tmp_path):
    with pytest.raises(ServingError, match="NER labels must be BIO tags"):
        export_saved_model(TagById({}, ["O", "PERSON"]), load_tokenizer(minilm_dir), task="ner",
                           labels=["O", "PERSON"], max_length=16, export_dir=tmp_path / "export")
    assert list(tmp_path.iterdir()) == []


def test_runs_without_a_config_or_a_best_model_are_refused(tiny_runs, tmp_path):
    with pytest.raises(RunError, match="is not a tfft run directory: config.json is missing"):
        export_run(tmp_path, tmp_path / "export")
    (tmp_path / "config.json").write_text((tiny_runs["ner"] / "config.json").read_text())
    with pytest.raises(RunError, match="has no best model"):
        export_run(tmp_path, tmp_path / "export")
    (tmp_path / "config.json").write_text('{"train": {"no_such_flag": 1}, "data": {}}')
    with pytest.raises(RunError, match="not a tfft run config"):
        export_run(tmp_path, tmp_path / "export")

"""Loading reports, strictness, and the round trip tfft -> save_pretrained -> transformers (PyTorch)."""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from conftest import max_abs_diff, padded_batch, tfft_call, torch_outputs
from tfft.checkpoints import formats, names
from tfft.checkpoints.io import export_weights, from_pretrained, load_weights, save_pretrained
from tfft.models import HEADS, BertConfig, ConfigError, DistilBertConfig, build_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TINY = {
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                   max_position_embeddings=64, id2label=("O", "B-PER", "I-PER")),
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, max_position_embeddings=64, id2label=("O", "B-PER", "I-PER")),
}
TORCH_CLASS = {"encoder": "Model", "sequence_classification": "ForSequenceClassification",
               "token_classification": "ForTokenClassification", "masked_lm": "ForMaskedLM"}


def _randomize(model, seed):
    """Non-trivial values everywhere (fresh init has zero biases and unit LayerNorms)."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.1, variable.shape).astype(np.float32) + (1.0 if "gamma" in variable.name else 0))


@pytest.mark.parametrize("family,head", [(f, h) for f in TINY for h in HEADS])
def test_round_trip_into_transformers(tmp_path, family, head):
    ours = build_model(TINY[family], head, seed=5)
    _randomize(ours, 5)
    save_pretrained(ours, tmp_path / "model")
    prefix = "DistilBert" if family == "distilbert" else "Bert"
    cls = getattr(transformers, prefix + TORCH_CLASS[head])
    reference, info = cls.from_pretrained(tmp_path / "model", output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    # tfft's BERT masked-LM model carries the checkpoint's pooler (unused there, as in bert-base-uncased's file)
    carried = {"bert.pooler.dense.weight", "bert.pooler.dense.bias"} if head == "masked_lm" and family == "bert" \
        else set()
    assert set(info["unexpected_keys"]) == carried, info
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["architectures"] == [type(ours).__name__]
    if head in ("sequence_classification", "token_classification"):
        assert reference.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
        assert reference.config.label2id == {"O": 0, "B-PER": 1, "I-PER": 2}
    batch = padded_batch(99, lengths=(10, 6, 2), segments=family == "bert")
    expected = torch_outputs(reference.eval(), batch)
    got = tfft_call(ours, batch)
    mask = None if head == "sequence_classification" else batch["attention_mask"]
    if head == "encoder":
        assert max_abs_diff(got.last_hidden_state, expected.last_hidden_state.numpy(), mask) < 1e-5
    else:
        assert max_abs_diff(got, expected.logits.numpy(), mask) < 1e-5
    reloaded = from_pretrained(tmp_path / "model")
    assert all(np.array_equal(a, b) for a, b in zip(export_weights(ours).values(), export_weights(reloaded).values()))


def test_save_with_tokenizer_loads_in_transformers(tmp_path, minilm_dir):
    model = from_pretrained(minilm_dir, head="sequence_classification", labels=["neg", "pos"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    save_pretrained(model, tmp_path / "out", tokenizer=tokenizer)
    reloaded = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    assert reloaded("Hello, world!")["input_ids"] == tokenizer("Hello, world!")["input_ids"]
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    batch = {k: np.asarray(v) for k, v in reloaded(["a fine film", "dull"], padding=True).items()}
    assert max_abs_diff(tfft_call(model, batch), torch_outputs(reference, batch).logits.numpy()) < 1e-4


@pytest.mark.parametrize("family,head", [(f, h) for f in TINY for h in HEADS])
def test_name_table_covers_every_variable_once(family, head):
    model = build_model(TINY[family], head)
    table, _ = names.name_table(model)
    in_table = [entry.variable.ref() for entry in table.values()]
    assert len(in_table) == len(set(in_table))
    state = {v.ref() for v in model.variables if v.dtype == tf.int64}  # the dropout generator's state
    assert set(in_table) == {v.ref() for v in model.variables} - state


def test_reports_missing_and_unexpected_in_one_line_each(minilm_dir, caplog):
    with caplog.at_level(logging.INFO, logger="tfft"):
        model = from_pretrained(minilm_dir, head="token_classification", num_labels=5)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("not used by BertForTokenClassification: bert.pooler.dense.bias, bert.pooler.dense.weight" in line
               or "not used by BertForTokenClassification: pooler.dense.bias, pooler.dense.weight" in line
               for line in lines) == 1
    assert sum("newly initialised: classifier.bias, classifier.weight" in line for line in lines) == 1
    assert model.config.id2label == tuple(f"LABEL_{i}" for i in range(5))


def test_missing_encoder_tensors_are_a_warning(caplog):
    model = build_model(TINY["distilbert"], "sequence_classification")
    tensors = {k: v for k, v in export_weights(model).items() if "layer.1." not in k and "classifier" not in k}
    with caplog.at_level(logging.INFO, logger="tfft"):
        report = load_weights(model, tensors)
    assert len(report.missing) == 16 + 4  # layer 1, and pre_classifier + classifier
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "16 ENCODER tensors" in warnings[0]
    assert "distilbert.transformer.layer.1.ffn.lin1.weight" in warnings[0] and "classifier" not in warnings[0]


def test_headed_checkpoint_into_bare_encoder(tmp_path):
    headed = build_model(TINY["bert"], "token_classification", seed=3)
    _randomize(headed, 3)
    save_pretrained(headed, tmp_path)
    encoder = from_pretrained(tmp_path, head="encoder")
    batch = padded_batch(99, lengths=(7, 3))
    np.testing.assert_array_equal(tfft_call(encoder, batch).last_hidden_state,
                                  tfft_call(headed.encoder, batch).last_hidden_state)


def test_legacy_gamma_beta_names():
    model = build_model(TINY["bert"], "encoder")
    tensors = export_weights(model)
    tensors = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v + 1.0
               for k, v in tensors.items()}
    report = load_weights(model, tensors)
    assert not report.missing and not report.unexpected
    np.testing.assert_array_equal(model.embeddings.norm.gamma, tensors["embeddings.LayerNorm.gamma"])


def test_shape_mismatch_names_tensor_and_both_shapes(tmp_path):
    save_pretrained(build_model(TINY["bert"], "sequence_classification"), tmp_path)
    with pytest.raises(formats.CheckpointError,
                       match=r"tensor classifier\.(weight|bias) has shape \[3(, 32)?\] but the model expects \[7(, 32)?\]; "
                             "for a classifier fine-tuned on other labels pass ignore_mismatched_sizes=True"):
        from_pretrained(tmp_path, num_labels=7)
    model = from_pretrained(tmp_path, num_labels=7, ignore_mismatched_sizes=True)
    assert model.classifier.dense.kernel.shape == (32, 7)


def test_wrong_encoder_shape_is_an_error(tmp_path):
    save_pretrained(build_model(TINY["distilbert"], "encoder"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_dim": 41}))
    with pytest.raises(formats.CheckpointError, match=r"tensor transformer\.layer\.0\.ffn\.lin1\.bias has shape \[37\] "
                                                      r"but the model expects \[41\]"):
        from_pretrained(tmp_path)


def test_save_replaces_an_existing_directory_and_failure_leaves_it_intact(tmp_path):
    target = tmp_path / "model"
    first = build_model(TINY["bert"], "encoder", seed=1)
    save_pretrained(first, target)
    (target / "stale.txt").write_text("from an older save")
    second = build_model(TINY["bert"], "encoder", seed=2)
    save_pretrained(second, target)
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    class BrokenTokenizer:
        def save_pretrained(self, path):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_pretrained(first, target, tokenizer=BrokenTokenizer())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    np.testing.assert_array_equal(from_pretrained(target).embeddings.word.table, second.embeddings.word.table)


@pytest.mark.parametrize("edit,message", [
    (lambda c: {**c, "model_type": "roberta"}, "model_type='roberta' is not supported; tfft implements bert, distilbert"),
    (lambda c: {k: v for k, v in c.items() if k != "model_type"}, "model_type=None is not supported"),
    (lambda c: {**c, "hidden_size": "32"}, "hidden_size='32' has the wrong type"),
    (lambda c: {**c, "num_attention_heads": 5}, "hidden_size=32 must be a multiple of num_attention_heads=5"),
    (lambda c: {**c, "hidden_act": "mish"}, "hidden_act='mish' is not supported"),
    (lambda c: {**c, "position_embedding_type": "relative_key"}, "position_embedding_type='relative_key' is not"),
    (lambda c: {**c, "hidden_dropout_prob": 1.5}, r"hidden_dropout_prob=1.5 must be a dropout probability"),
    (lambda c: {**c, "id2label": {"0": "a", "2": "b"}}, r"id2label must have ids 0..1"),
])
def test_bad_config_is_named(tmp_path, edit, message):
    save_pretrained(build_model(TINY["bert"], "encoder"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(edit(config)))
    with pytest.raises(ConfigError, match=message) as err:
        from_pretrained(tmp_path)
    assert str(tmp_path / "config.json") in str(err.value) and "\n" not in str(err.value)


def test_missing_and_invalid_config_json(tmp_path):
    with pytest.raises(ConfigError, match="config.json: no such file"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert",\n oops}')
    with pytest.raises(ConfigError, match="config.json: line 2: not valid JSON"):
        from_pretrained(tmp_path)


def test_classification_head_without_labels():
    with pytest.raises(ConfigError, match="pass num_labels= \\(or labels=\\) when loading"):
        build_model(BertConfig(), "sequence_classification")


def test_input_longer_than_position_table():
    model = build_model(TINY["bert"], "encoder")
    with pytest.raises(ValueError, match="sequence length 65 exceeds the model's max_position_embeddings=64"):
        model(tf.ones([1, 65], tf.int32), tf.ones([1, 65], tf.int32), training=False)


def test_from_config_is_the_same_architecture_without_the_weights(minilm_dir):
    import numpy as np

    from tfft.checkpoints.io import from_config, from_pretrained

    fresh = from_config(minilm_dir, "sequence_classification", labels=["a", "b"], seed=3)
    loaded = from_pretrained(minilm_dir, "sequence_classification", labels=["a", "b"], seed=3)
    assert [v.shape for v in fresh.trainable_variables] == [v.shape for v in loaded.trainable_variables]
    matrices = [(f, w) for f, w in zip(fresh.encoder.trainable_variables, loaded.encoder.trainable_variables)
                if f.shape.rank == 2]  # embeddings and kernels (LayerNorm and biases start at 1 and 0 either way)
    assert len(matrices) > 30
    assert not any(np.allclose(f.numpy(), w.numpy()) for f, w in matrices)

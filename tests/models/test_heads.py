"""tfft's own heads: padding never changes what a head computes, the MLP head computes what its layers say, each
model splits into features + head_logits, a CRF head's probabilities mark the Viterbi path, and every head saves
and loads (tfft gets the same logits back; transformers loads the encoder part)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import max_abs_diff, padded_batch, tfft_call, torch_outputs
from tfft.checkpoints.io import from_pretrained, save_pretrained
from tfft.models import (CLASSIFICATION_HEADS, NER_HEADS, BertConfig, ConfigError, DistilBertConfig, HeadConfig,
                         build_model, head_task)
from tfft.models.heads import named_variables, output_probabilities

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
TINY = {
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                       max_position_embeddings=64, id2label=("a", "b", "c")),
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                   max_position_embeddings=64, id2label=("a", "b", "c")),
}
# One setting per head and pooling worth telling apart.
HEADS = [HeadConfig("mlp", hidden=16, layers=2), HeadConfig("mlp", pooling="mean"), HeadConfig("mlp", pooling="max"),
         HeadConfig("attention"), HeadConfig("mha"), HeadConfig("mha", pooling="cls"), HeadConfig("rnn"),
         HeadConfig("gru", bidirectional=True, pooling="mean"), HeadConfig("lstm", hidden=8),
         HeadConfig("lstm", bidirectional=True, pooling="max"), HeadConfig("crf"),
         HeadConfig("lstm_crf", hidden=8, bidirectional=True), HeadConfig("crf", crf_constraints=False)]


def tiny_model(family: str, head: HeadConfig, seed: int = 1):
    config = TINY[family]
    if head.kind in NER_HEADS:
        config = type(config).from_dict({**config.to_dict(), "id2label": dict(enumerate(TAGS))})
    return build_model(config, head_task(head.kind), custom_head=head, seed=seed)


def perturbed(model, seed: int):
    """Moves every weight a little, so that a freshly initialised head cannot pass a round trip by accident."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        variable.assign(variable + rng.normal(0, 0.05, variable.shape).astype(np.float32))
    return model


@pytest.mark.parametrize("head", HEADS, ids=str)
def test_padding_changes_nothing(head):
    model = tiny_model("bert", head)
    short = padded_batch(99, lengths=(5, 3), seed=2)
    longer = {k: np.pad(v, ((0, 0), (0, 7))) for k, v in short.items()}  # more padding
    longer["input_ids"][:, 5:] = 42  # whatever sits in padded positions must not matter
    ours, padded = tfft_call(model, short).numpy(), tfft_call(model, longer).numpy()
    if head.kind in NER_HEADS:  # emissions per token: compare the real tokens
        padded = padded[:, :5]
        ours, padded = ours * short["attention_mask"][..., None], padded * short["attention_mask"][..., None]
    np.testing.assert_allclose(ours, padded, atol=1e-5)


def test_mlp_head_against_numpy():
    model = tiny_model("distilbert", HeadConfig("mlp", hidden=16), seed=3)
    batch = padded_batch(99, lengths=(7, 4), seed=4)
    cls = tfft_call(model.encoder, batch).last_hidden_state.numpy()[:, 0]
    layer, out = model.head.layers[0], model.head.classifier.dense
    hidden = tf.nn.gelu(cls @ layer.kernel.numpy() + layer.bias.numpy(), approximate=False).numpy()
    np.testing.assert_allclose(tfft_call(model, batch), hidden @ out.kernel.numpy() + out.bias.numpy(), atol=1e-5)


def test_attention_head_against_numpy():
    model = tiny_model("bert", HeadConfig("attention"), seed=5)
    batch = padded_batch(99, lengths=(7, 4), seed=6)
    states = tfft_call(model.encoder, batch).last_hidden_state.numpy()
    query, out = model.head.query.numpy(), model.head.classifier.dense
    expected = []
    for row, n in enumerate((7, 4)):
        scores = states[row, :n] @ query / np.sqrt(len(query))
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected.append(weights @ states[row, :n] @ out.kernel.numpy() + out.bias.numpy())
    np.testing.assert_allclose(tfft_call(model, batch), np.stack(expected), atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("task", ["sequence_classification", "token_classification"])
def test_hugging_face_heads_split_into_features_and_head(family, task):
    model = build_model(TINY[family], task, seed=7)
    batch = padded_batch(99, lengths=(6, 2), seed=8, segments=family == "bert")
    types = batch.get("token_type_ids")
    features = model.features(batch["input_ids"], batch["attention_mask"], types, training=False)
    assert features.shape.rank == (3 if task == "token_classification" else 2) == 2 + model.sequence_features
    split = model.head_logits(features, batch["attention_mask"], training=False)
    np.testing.assert_array_equal(split, tfft_call(model, batch))


def test_crf_probabilities_mark_the_viterbi_path():
    model = perturbed(tiny_model("bert", HeadConfig("crf")), seed=9)
    batch = padded_batch(99, lengths=(8, 5), seed=10)
    positions = tf.constant([[0, 1, 1, 0, 1, 1, 1, 0], [0, 1, 0, 1, 1, 0, 0, 0]]) > 0
    logits = tfft_call(model, batch)
    probabilities = output_probabilities(model, logits, positions).numpy()
    path, marginals = model.crf.decode(logits, positions).numpy(), model.crf.marginals(logits, positions).numpy()
    on = positions.numpy()
    np.testing.assert_array_equal(probabilities[on].argmax(-1), path[on])
    np.testing.assert_allclose(probabilities[on].max(-1), np.take_along_axis(marginals[on], path[on, None], 1)[:, 0])
    assert not probabilities[~on].any()


@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("head", HEADS, ids=str)
def test_save_and_load_round_trip(tmp_path, family, head):
    transformers = pytest.importorskip("transformers")
    model = perturbed(tiny_model(family, head, seed=11), seed=11)
    save_pretrained(model, tmp_path)
    reloaded = from_pretrained(tmp_path)
    batch = padded_batch(99, lengths=(9, 3), seed=12)
    assert reloaded.head_config == model.head_config
    np.testing.assert_array_equal(tfft_call(reloaded, batch), tfft_call(model, batch))
    saved = {name: v.numpy() for name, v in named_variables(model.head).items()}
    assert {name: v.numpy() for name, v in named_variables(reloaded.head).items()}.keys() == saved.keys()
    encoder = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert max_abs_diff(torch_outputs(encoder, batch).last_hidden_state.numpy(),
                        tfft_call(model.encoder, batch).last_hidden_state, batch["attention_mask"]) < 1e-5


def test_head_tensors_are_named_by_attribute_path():
    names = set(named_variables(tiny_model("bert", HeadConfig("lstm_crf", bidirectional=True)).head))
    assert {"recurrent.forward.input_kernel", "recurrent.backward.recurrent_bias", "emissions.dense.kernel",
            "crf.transitions", "crf.start", "crf.end"} <= names
    assert not any("rng" in name for name in names)
    assert set(named_variables(tiny_model("bert", HeadConfig("mlp", layers=2)).head)) == {
        "layers.0.kernel", "layers.0.bias", "layers.1.kernel", "layers.1.bias", "classifier.dense.kernel",
        "classifier.dense.bias"}


def test_heads_fit_their_tasks():
    assert set(CLASSIFICATION_HEADS) == {"mlp", "attention", "mha", "rnn", "gru", "lstm"}
    with pytest.raises(ConfigError, match="--head=mlp is a sequence_classification head, not a token_classification"):
        build_model(TINY["bert"], "token_classification", custom_head=HeadConfig("mlp"))
    with pytest.raises(ConfigError, match="--head=crf is a token_classification head"):
        build_model(TINY["bert"], "sequence_classification", custom_head=HeadConfig("crf"))


@pytest.mark.parametrize("fields,message", [
    (dict(kind="lstmm"), "--head=lstmm: expected hf, mlp, attention"),
    (dict(kind="mlp", pooling="last"), "--head_pooling=last: expected one of cls, mean, max for --head=mlp"),
    (dict(kind="crf", pooling="mean"), "--head_pooling=mean: expected nothing for --head=crf"),
    (dict(kind="attention", bidirectional=True), "--bidirectional=True: expected a recurrent head"),
    (dict(kind="lstm", layers=2), "--head_layers=2: expected 1 for --head=lstm"),
    (dict(kind="mlp", dropout=1.0), "--head_dropout=1.0: expected a rate in [0, 1)"),
])
def test_head_config_errors_name_the_flag(fields, message):
    with pytest.raises(ConfigError) as error:
        HeadConfig(**fields)
    assert str(error.value).startswith(message)


@pytest.mark.slow
@pytest.mark.parametrize("head", [HeadConfig("lstm", bidirectional=True), HeadConfig("mha"),
                                  HeadConfig("lstm_crf", bidirectional=True)], ids=str)
def test_training_step_compiles_under_xla(head):
    """Recurrent heads run as tf.scan loops and the CRF compacts positions with static shapes: one XLA cluster
    computes the loss and every gradient, as the eager step does."""
    from tfft.training.losses import model_loss

    model = perturbed(tiny_model("bert", head), seed=13)
    batch = padded_batch(99, lengths=(9, 4, 6), seed=14)
    shape = batch["input_ids"].shape if head.kind in NER_HEADS else batch["input_ids"].shape[:1]
    labels = np.random.default_rng(15).integers(0, 3, shape).astype(np.int32)
    if head.kind in NER_HEADS:
        labels[batch["attention_mask"] == 0] = -100

    def step():
        with tf.GradientTape() as tape:
            logits = model(batch["input_ids"], batch["attention_mask"], training=False)  # no dropout draws
            loss, weight = model_loss(model, logits, tf.constant(labels))
        return loss / weight, tape.gradient(loss, model.trainable_variables)

    eager_loss, eager_grads = step()
    xla_loss, xla_grads = tf.function(step, jit_compile=True)()
    np.testing.assert_allclose(xla_loss, eager_loss, rtol=1e-5)
    for ours, reference in zip(xla_grads, eager_grads):
        np.testing.assert_allclose(tf.convert_to_tensor(ours), tf.convert_to_tensor(reference), atol=1e-4)

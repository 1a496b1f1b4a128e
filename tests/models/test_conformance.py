"""Every family x head, on tiny configs: XLA equals eager, dropout only in training, every variable float32.
Reduced precision (bf16, fp16) against fp32 on the real all-MiniLM-L6-v2 weights."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import max_abs_diff, padded_batch, tfft_call
from tfft.checkpoints.io import from_pretrained
from tfft.models import HEADS, BertConfig, DistilBertConfig, build_model

TINY = {
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                   max_position_embeddings=64, id2label=("a", "b", "c")),
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, max_position_embeddings=64, id2label=("a", "b", "c")),
}
CASES = [(family, head) for family in TINY for head in HEADS]


def _output(result):
    return result.last_hidden_state if hasattr(result, "last_hidden_state") else result


@pytest.mark.parametrize("family,head", CASES)
def test_xla_matches_eager(family, head):
    model = build_model(TINY[family], head, seed=1)
    batch = padded_batch(99, lengths=(12, 7, 3), segments=family == "bert")
    args = (batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    compiled = tf.function(lambda *a: _output(model(*a, training=False)), jit_compile=True)
    mask = None if head == "sequence_classification" else batch["attention_mask"]
    assert max_abs_diff(compiled(*args), _output(model(*args, training=False)), mask) < 1e-5


@pytest.mark.parametrize("family,head", CASES)
def test_dropout_only_when_training(family, head):
    model = build_model(TINY[family], head, seed=2)
    batch = padded_batch(99, lengths=(12, 7, 3))
    run = lambda training: _output(model(batch["input_ids"], batch["attention_mask"], training=training)).numpy()
    np.testing.assert_array_equal(run(False), run(False))
    assert not np.allclose(run(True), run(False))
    assert not np.allclose(run(True), run(True))


@pytest.mark.parametrize("family,head", CASES)
def test_variables_are_float32_and_logits_float32_in_every_precision(family, head):
    for dtype in (tf.float32, tf.bfloat16, tf.float16):
        model = build_model(TINY[family], head, compute_dtype=dtype)
        assert {v.dtype for v in model.variables if v.dtype.is_floating} == {tf.float32}
        batch = padded_batch(99, lengths=(5, 3))
        assert _output(model(batch["input_ids"], batch["attention_mask"], training=False)).dtype == tf.float32


def test_same_seed_same_initialisation():
    a, b = (build_model(TINY["bert"], "sequence_classification", seed=7) for _ in range(2))
    c = build_model(TINY["bert"], "sequence_classification", seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a.trainable_variables, b.trainable_variables))
    assert not all(np.array_equal(x, y) for x, y in zip(a.trainable_variables, c.trainable_variables))


# Measured on all-MiniLM-L6-v2 (hidden states up to |5.9|): bf16 0.026, fp16 0.0055 max abs on the last hidden
# state. bf16 keeps 8 bits of mantissa (relative error 2^-8 per op), fp16 11 bits; the bounds leave ~4x margin.
PRECISION_TOLERANCE = {tf.bfloat16: 0.1, tf.float16: 0.02}


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16], ids=["bf16", "fp16"])
def test_reduced_precision_close_to_fp32(minilm_dir, dtype):
    batch = padded_batch(30522, lengths=(64, 40, 9, 33), segments=True)
    reference = tfft_call(from_pretrained(minilm_dir), batch).last_hidden_state.numpy()
    low = tfft_call(from_pretrained(minilm_dir, compute_dtype=dtype), batch).last_hidden_state.numpy()
    mask = batch["attention_mask"].astype(bool)
    assert max_abs_diff(low, reference, batch["attention_mask"]) < PRECISION_TOLERANCE[dtype]
    cosine = np.sum(low * reference, -1) / np.linalg.norm(low, axis=-1) / np.linalg.norm(reference, axis=-1)
    assert cosine[mask].min() > 0.999

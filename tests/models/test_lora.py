"""LoRA adapters (tfft/models/lora.py): they start as the identity (B = 0) with PEFT's initialisation of A, merging
gives the forward pass with adapters, each adapter draws its own dropout mask, and bad settings are one clear error.
Parity with PEFT itself: tests/checkpoints/test_peft.py."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.models import ConfigError, DistilBertConfig, build_model, lora
from tfft.training.freeze import FreezeError, trainable_variables

CONFIG = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=40, max_position_embeddings=64,
                          id2label=("a", "b"))


def _batch():
    ids = np.random.default_rng(0).integers(5, 99, size=(2, 10)).astype(np.int32)
    return tf.constant(ids), tf.constant((np.arange(10) < np.array([[10], [6]])).astype(np.int32))


def test_fresh_adapters_leave_the_model_unchanged_and_a_is_kaiming_uniform():
    ids, mask = _batch()
    model = build_model(CONFIG, "sequence_classification", seed=2)
    before = model(ids, mask, training=False).numpy()
    lora.attach(model, lora.LoraConfig(rank=8, alpha=16.0, targets=("query", "ffn_in")))
    np.testing.assert_array_equal(model(ids, mask, training=False).numpy(), before)
    a = lora.adapters(model)[(0, "ffn_in")].a.numpy()  # [I, r], I = 32
    assert a.shape == (32, 8) and np.abs(a).max() <= 1 / np.sqrt(32) and np.abs(a).max() > 0.8 / np.sqrt(32)
    assert set(lora.adapters(model)) == {(i, t) for i in range(2) for t in ("query", "ffn_in")}


def test_merging_folds_the_adapters_into_the_kernels():
    ids, mask = _batch()
    model = build_model(CONFIG, "sequence_classification", seed=2)
    lora.attach(model, lora.LoraConfig(rank=4, alpha=8.0, targets=tuple(lora.TARGETS)))
    rng = np.random.default_rng(1)
    for adapter in lora.adapters(model).values():
        adapter.b.assign(rng.normal(0, 0.2, adapter.b.shape).astype(np.float32))
    with_adapters = model(ids, mask, training=False).numpy()
    kernel = model.encoder.blocks[1].ffn_out.kernel.numpy().copy()
    adapter = lora.adapters(model)[(1, "ffn_out")]
    expected = kernel + 2.0 * adapter.a.numpy() @ adapter.b.numpy()  # alpha / r = 2
    lora.merge(model)
    assert model.lora is None and model.encoder.blocks[1].ffn_out.adapter is None
    assert not [v.name for v in model.variables if "lora" in v.name]  # untracked: not in checkpoints or exports
    np.testing.assert_allclose(model.encoder.blocks[1].ffn_out.kernel.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(model(ids, mask, training=False).numpy(), with_adapters, atol=1e-5)


def test_adapters_sharing_a_block_seed_draw_different_dropout_masks():
    model = build_model(CONFIG, "encoder", seed=2)
    lora.attach(model, lora.LoraConfig(rank=2, alpha=2.0, dropout=0.5, targets=("query", "key")))
    query, key = lora.adapters(model)[(0, "query")], lora.adapters(model)[(0, "key")]
    for adapter in (query, key):
        adapter.a.assign(tf.eye(32, 2))
        adapter.b.assign(tf.eye(2, 32))
    x, seed = tf.ones([1, 64, 32]), tf.constant([7, 9], tf.int64)
    dropped = [adapter(x, training=True, seed=seed).numpy() == 0 for adapter in (query, key)]
    assert 0.3 < dropped[0][..., 0].mean() < 0.7 and (dropped[0] != dropped[1]).any()
    np.testing.assert_array_equal(query(x, training=True, seed=seed).numpy() == 0, dropped[0])  # replayable


def test_under_lora_only_adapters_and_head_train():
    model = build_model(CONFIG, "sequence_classification", seed=2)
    lora.attach(model, lora.LoraConfig(rank=4, alpha=8.0))
    names = sorted(v.name for v in trainable_variables(model, "none"))
    assert names == sorted(["lora_a:0", "lora_b:0"] * 4 + ["kernel:0", "bias:0"] * 2)
    with pytest.raises(FreezeError, match="leaves nothing .* to train"):
        trainable_variables(build_model(CONFIG, "encoder", seed=2), "all")


@pytest.mark.parametrize("settings,message", [
    (dict(rank=0, alpha=8.0), "LoRA rank 0: expected a whole number of at least 1"),
    (dict(rank=-2, alpha=8.0), "LoRA rank -2"),
    (dict(rank=4, alpha=0.0), "LoRA alpha 0.0: expected a positive number"),
    (dict(rank=4, alpha=8.0, dropout=1.0), "LoRA dropout 1.0"),
    (dict(rank=4, alpha=8.0, targets=("q_lin", "value")), "unknown 'q_lin'; expected one or more of query, key, "
     "value, attention_output, ffn_in, ffn_out"),
    (dict(rank=4, alpha=8.0, targets=()), r"LoRA targets \(none\)"),
])
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(ConfigError, match=message):
        lora.LoraConfig(**settings)


def test_attaching_twice_is_refused():
    model = build_model(CONFIG, "encoder", seed=2)
    lora.attach(model, lora.LoraConfig(rank=2, alpha=2.0))
    with pytest.raises(ConfigError, match="has LoRA adapters already"):
        lora.attach(model, lora.LoraConfig(rank=2, alpha=2.0))

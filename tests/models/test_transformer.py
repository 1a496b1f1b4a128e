"""Gradient checkpointing of the transformer blocks (run_blocks recompute=True): the same loss and gradients as the
normal path, dropout included (the masks are replayed, LoRA adapters' too), eager and under XLA; and each block really
runs again."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.models import BertConfig, DistilBertConfig, build_model, enable_recompute, lora

CONFIGS = {
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
                       max_position_embeddings=64, hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2),
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=3, n_heads=4, hidden_dim=37,
                                   max_position_embeddings=64, dropout=0.2, attention_dropout=0.2),
}


def _batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 99, size=(3, 12)).astype(np.int32)
    mask = (np.arange(12) < np.array([[12], [8], [3]])).astype(np.int32)
    return tf.constant(ids), tf.constant(mask)


def _loss_and_gradients(model, ids, mask):
    weights = tf.constant(np.random.default_rng(1).normal(size=(3, 12, 32)).astype(np.float32))
    with tf.GradientTape() as tape:
        states = model(ids, mask, training=True).last_hidden_state  # [B, S, H]
        loss = tf.reduce_sum(states * weights * tf.cast(mask, tf.float32)[..., None])
    return loss, tape.gradient(loss, model.trainable_variables)


def _with_adapters(model):
    """LoRA on every projection, with dropout, and B random (it starts at zero, which would hide A's gradient)."""
    lora.attach(model, lora.LoraConfig(rank=2, alpha=4.0, dropout=0.3, targets=tuple(lora.TARGETS)))
    rng = np.random.default_rng(5)
    for adapter in lora.adapters(model).values():
        adapter.b.assign(rng.normal(0, 0.5, adapter.b.shape).astype(np.float32))
    return model


@pytest.mark.slow
@pytest.mark.parametrize("adapters", [False, True], ids=["plain", "lora"])
@pytest.mark.parametrize("xla", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_recompute_gives_the_gradients_of_the_normal_path(family, xla, adapters):
    ids, mask = _batch()
    normal, checkpointed = (build_model(CONFIGS[family], "encoder", seed=3) for _ in range(2))
    if adapters:
        normal, checkpointed = _with_adapters(normal), _with_adapters(checkpointed)
    enable_recompute(checkpointed)
    results = []
    for model in (normal, checkpointed):
        step = tf.function(_loss_and_gradients, jit_compile=True) if xla else _loss_and_gradients
        results.append(step(model, ids, mask))
    (loss, grads), (loss_r, grads_r) = results
    assert abs(float(loss) - float(loss_r)) <= 1e-6 * abs(float(loss))
    assert len(grads) == len(grads_r) == len(normal.trainable_variables)
    pooler = {v.ref() for v in normal.pooler.trainable_variables} if getattr(normal, "pooler", None) else set()
    # 1e-6 of the largest gradient: a key bias's gradient is zero in exact arithmetic (softmax ignores a shift), so
    # its float32 rounding noise is judged on the scale of the gradients, not on its own
    scale = max(1.0, max(np.abs(tf.convert_to_tensor(g).numpy()).max() for g in grads if g is not None))
    for g, g_r, v in zip(grads, grads_r, normal.trainable_variables):
        if g is None:  # BERT's pooler: not in this loss
            assert g_r is None and v.ref() in pooler
            continue
        g, g_r = (tf.convert_to_tensor(x).numpy() for x in (g, g_r))
        assert np.abs(g - g_r).max() <= 1e-6 * scale, v.name
    # dropout was on: another draw of the masks gives other gradients, so equal ones were replayed, not luck
    _, again = _loss_and_gradients(normal, ids, mask)
    assert max(np.abs(tf.convert_to_tensor(a).numpy() - tf.convert_to_tensor(b).numpy()).max()
               for a, b in zip(grads, again) if a is not None) > 1e-3


def test_each_block_runs_again_in_the_backward_pass(monkeypatch):
    ids, mask = _batch()
    model = build_model(CONFIGS["bert"], "encoder", seed=3)
    enable_recompute(model)
    calls = []
    block_type = type(model.blocks[0])
    forward = block_type.__call__
    monkeypatch.setattr(block_type, "__call__", lambda self, *a, **k: calls.append(self.name) or forward(self, *a, **k))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(ids, mask, training=True).last_hidden_state)
    assert len(calls) == 3  # the forward pass
    tape.gradient(loss, model.trainable_variables)
    assert len(calls) == 6 and sorted(calls) == sorted(calls[:3] * 2)  # once more each, for the gradients
    model(ids, mask, training=False)
    assert len(calls) == 9  # inference is never checkpointed

"""The shared building blocks against independent references (numpy and torch.nn)."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.models.layers import ACTIVATIONS, Dense, Dropout, LayerNorm, check_activation

torch = pytest.importorskip("torch")


def _rng():
    return tf.random.Generator.from_seed(0)


def test_dense_matches_numpy_and_computes_in_compute_dtype():
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
    layer = Dense(8, 5, rng=_rng(), compute_dtype=tf.float32)
    layer.bias.assign(np.arange(5, dtype=np.float32))
    np.testing.assert_allclose(layer(x), x @ layer.kernel.numpy() + np.arange(5), atol=1e-5)
    for dtype in (tf.bfloat16, tf.float16):
        low = Dense(8, 5, rng=_rng(), compute_dtype=dtype)
        assert low(x).dtype == dtype
        assert low.kernel.dtype == tf.float32 and low.bias.dtype == tf.float32


def test_layer_norm_matches_torch_in_float32_for_every_input_dtype():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(4, 16)).astype(np.float32)
    reference = torch.nn.LayerNorm(16, eps=1e-12)
    with torch.no_grad():
        reference.weight.normal_()
        reference.bias.normal_()
    ours = LayerNorm(16, eps=1e-12)
    ours.gamma.assign(reference.weight.detach().numpy())
    ours.beta.assign(reference.bias.detach().numpy())
    np.testing.assert_allclose(ours(x), reference(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    assert ours(tf.cast(x, tf.float16)).dtype == tf.float32


@pytest.mark.parametrize("name,reference", [
    ("gelu", lambda t: torch.nn.functional.gelu(t)),
    ("gelu_new", lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
    ("gelu_pytorch_tanh", lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
    ("relu", torch.relu),
    ("silu", torch.nn.functional.silu),
    ("tanh", torch.tanh),
])
def test_activations_match_torch(name, reference):
    x = np.linspace(-6, 6, 101, dtype=np.float32)
    np.testing.assert_allclose(ACTIVATIONS[name](x), reference(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_unknown_activation_names_the_field():
    with pytest.raises(ValueError, match="hidden_act='mish' is not supported"):
        check_activation("mish", "hidden_act")


def test_dropout_is_identity_in_eval_and_random_in_training():
    layer = Dropout(0.25, rng=_rng())
    x = tf.ones([64, 64])
    assert np.array_equal(layer(x, training=False), x)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)
    kept = first != 0
    assert abs(kept.mean() - 0.75) < 0.03  # 4096 draws: the binomial std is 0.007
    np.testing.assert_allclose(first[kept], 1 / 0.75, rtol=1e-6)


def test_dropout_replays_from_the_generator_state():
    """The masks come from the generator's state: restoring the state replays them (what resume relies on)."""
    rng = _rng()
    layer = Dropout(0.5, rng=rng)
    state = rng.state.numpy()
    first = layer(tf.ones([8, 8]), training=True).numpy()
    rng.reset(state)
    np.testing.assert_array_equal(layer(tf.ones([8, 8]), training=True), first)

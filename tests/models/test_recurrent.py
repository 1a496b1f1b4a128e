"""The hand-written recurrent layers against torch.nn.RNN/GRU/LSTM with packed sequences, and the poolings."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.models.recurrent import KINDS, POOLINGS, Recurrent, pool

torch = pytest.importorskip("torch")

I, H, B, L = 6, 5, 4, 7
LENGTHS = (7, 3, 1, 5)  # one full row, short rows, unsorted (enforce_sorted=False on the torch side)
TORCH_CLASSES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def _batch(lengths=LENGTHS, length=L, seed=0):
    x = np.random.default_rng(seed).normal(size=(len(lengths), length, I)).astype(np.float32)
    mask = (np.arange(length)[None, :] < np.array(lengths)[:, None]).astype(np.int32)
    return x, mask


def _layer(kind, bidirectional, compute_dtype=tf.float32, seed=0):
    return Recurrent(kind, I, H, bidirectional=bidirectional, rng=tf.random.Generator.from_seed(seed),
                     compute_dtype=compute_dtype)


def _copy_from_torch(reference, layer):
    cells = [(layer.forward, "")] + ([(layer.backward, "_reverse")] if layer.backward is not None else [])
    for cell, suffix in cells:
        weights = {name: getattr(reference, f"{name}_l0{suffix}").detach().numpy()
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        cell.input_kernel.assign(weights["weight_ih"].T)
        cell.recurrent_kernel.assign(weights["weight_hh"].T)
        cell.input_bias.assign(weights["bias_ih"])
        cell.recurrent_bias.assign(weights["bias_hh"])


def _torch_run(reference, x, lengths):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths),
                                                     batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, h_n = reference(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)
    return out.numpy(), torch.cat(list(h_n), dim=-1).numpy()  # [B, L, D*H], [B, D*H] as [fwd, bwd]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_with_packed_sequences(kind, bidirectional):
    torch.manual_seed(0)
    reference = TORCH_CLASSES[kind](I, H, batch_first=True, bidirectional=bidirectional)
    layer = _layer(kind, bidirectional)
    _copy_from_torch(reference, layer)
    x, mask = _batch()
    outputs, last = layer(x, mask)
    expected_outputs, expected_last = _torch_run(reference, x, LENGTHS)
    directions = 2 if bidirectional else 1
    assert outputs.shape == (B, L, directions * H) and last.shape == (B, directions * H)
    assert outputs.dtype == tf.float32 and last.dtype == tf.float32
    np.testing.assert_allclose(outputs, expected_outputs, atol=1e-5)
    np.testing.assert_allclose(last, expected_last, atol=1e-5)


def test_variables_are_float32_with_torch_layout_and_init_range():
    layer = _layer("gru", bidirectional=True, compute_dtype=tf.bfloat16)
    for cell in (layer.forward, layer.backward):
        assert cell.input_kernel.shape == (I, 3 * H) and cell.recurrent_kernel.shape == (H, 3 * H)
        assert cell.input_bias.shape == (3 * H,) and cell.recurrent_bias.shape == (3 * H,)
        for variable in (cell.input_kernel, cell.recurrent_kernel, cell.input_bias, cell.recurrent_bias):
            assert variable.dtype == tf.float32
            assert np.abs(variable.numpy()).max() <= H ** -0.5
    assert len(layer.trainable_variables) == 8
    assert _layer("lstm", bidirectional=False).backward is None


def test_unknown_kind_and_pooling_are_rejected():
    with pytest.raises(ValueError, match="expected one of"):
        _layer("transformer", bidirectional=False)
    outputs, last = _layer("rnn", bidirectional=False)(*_batch())
    with pytest.raises(ValueError, match="expected one of"):
        pool(outputs, last, _batch()[1], "sum")


@pytest.mark.parametrize("kind", KINDS)
def test_trailing_padding_changes_nothing(kind):
    layer = _layer(kind, bidirectional=True)
    x, mask = _batch()
    x_long, mask_long = _batch(length=L + 3, seed=1)
    x_long[:, :L] = x
    mask_long[:, :L] = mask
    outputs, last = layer(x, mask)
    outputs_long, last_long = layer(x_long, mask_long)
    np.testing.assert_allclose(outputs_long[:, :L], outputs, atol=1e-6)
    np.testing.assert_array_equal(outputs_long[:, L:], 0.0)
    np.testing.assert_allclose(last_long, last, atol=1e-6)
    for how in POOLINGS:
        np.testing.assert_allclose(pool(outputs_long, last_long, mask_long, how), pool(outputs, last, mask, how),
                                   atol=1e-6)


def test_mean_and_max_pooling_match_numpy_over_valid_positions():
    layer = _layer("lstm", bidirectional=True)
    lengths = (7, 0, 2, 4)
    x, mask = _batch(lengths=lengths)
    outputs, last = layer(x, mask)
    assert np.isfinite(outputs.numpy()).all() and np.isfinite(last.numpy()).all()
    np.testing.assert_array_equal(last[1], 0.0)
    np.testing.assert_array_equal(pool(outputs, last, mask, "last"), last)
    values = outputs.numpy()
    mean, largest = pool(outputs, last, mask, "mean").numpy(), pool(outputs, last, mask, "max").numpy()
    for row, n in enumerate(lengths):
        expected_mean = values[row, :n].mean(axis=0) if n else np.zeros(2 * H)
        expected_max = values[row, :n].max(axis=0) if n else np.zeros(2 * H)
        np.testing.assert_allclose(mean[row], expected_mean, atol=1e-6)
        np.testing.assert_allclose(largest[row], expected_max, atol=1e-6)


def test_pooling_ignores_padding_even_when_padding_holds_large_values():
    outputs = -np.arange(1.0, 1.0 + 3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)  # all negative
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    outputs[~mask] = 100.0
    last = np.zeros((3, 2), np.float32)
    largest, mean = pool(outputs, last, mask, "max").numpy(), pool(outputs, last, mask, "mean").numpy()
    np.testing.assert_array_equal(largest, [outputs[0, :2].max(0), [0.0, 0.0], outputs[2].max(0)])
    np.testing.assert_allclose(mean, [outputs[0, :2].mean(0), [0.0, 0.0], outputs[2].mean(0)], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_xla_matches_eager_and_gradients_are_finite(kind):
    layer = _layer(kind, bidirectional=True)
    x, mask = _batch(lengths=(7, 0, 2, 4))
    x = tf.constant(x)

    @tf.function(jit_compile=True)
    def run(x, mask):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs, last = layer(x, mask)
            loss = tf.reduce_sum(pool(outputs, last, mask, "max")) + tf.reduce_sum(pool(outputs, last, mask, "mean"))
        return outputs, last, tape.gradient(loss, [x] + list(layer.trainable_variables))

    outputs, last, gradients = run(x, mask)
    eager_outputs, eager_last = layer(x, mask)
    np.testing.assert_allclose(outputs, eager_outputs, atol=1e-5)
    np.testing.assert_allclose(last, eager_last, atol=1e-5)
    assert len(gradients) == 1 + 8
    for gradient in gradients:
        assert gradient is not None and np.isfinite(gradient.numpy()).all()
    assert np.abs(gradients[0].numpy()).sum() > 0
    np.testing.assert_array_equal(gradients[0][1], 0.0)  # the length-0 row feeds nothing


def test_unknown_length_at_trace_time():
    layer = _layer("gru", bidirectional=True)

    @tf.function(input_signature=[tf.TensorSpec([None, None, I], tf.float32), tf.TensorSpec([None, None], tf.int32)])
    def run(x, mask):
        return layer(x, mask)

    for length in (L, L + 2):
        x, mask = _batch(lengths=(length, 2, 1), length=length)
        outputs, last = run(x, mask)
        eager_outputs, eager_last = layer(x, mask)
        np.testing.assert_allclose(outputs, eager_outputs, atol=1e-6)
        np.testing.assert_allclose(last, eager_last, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_compute_stays_close_to_float32(kind):
    x, mask = _batch()
    mask = mask.astype(bool)
    outputs, last = _layer(kind, bidirectional=True)(x, mask)
    low_outputs, low_last = _layer(kind, bidirectional=True, compute_dtype=tf.bfloat16)(tf.cast(x, tf.bfloat16), mask)
    assert low_outputs.dtype == tf.float32 and low_last.dtype == tf.float32
    np.testing.assert_allclose(low_outputs, outputs, atol=5e-2)
    np.testing.assert_allclose(low_last, last, atol=5e-2)

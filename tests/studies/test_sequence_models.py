"""The sequence study's models against what they are defined to compute: the RNN against a plain Python loop over
each sequence's real steps, the padded network blind to padding (output and gradients), the truncated network
reading exactly the shortest length."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.studies.sequence_models import PaddedFfn, RnnRegressor, make_model, parameter_count

F, H = 10, 7
LENGTHS = np.array([9, 3, 1, 6, 9])


def _batch(lengths=LENGTHS, longest=9, seed=0, padding=0.0):
    """x [B, longest, F] with `padding` (a number, or "noise") after each length, and the mask."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(lengths), longest, F)).astype(np.float32)
    mask = (np.arange(longest)[None, :] < lengths[:, None]).astype(np.int32)
    fill = rng.normal(scale=5.0, size=x.shape).astype(np.float32) if padding == "noise" else np.float32(padding)
    return np.where(mask[..., None] == 1, x, fill).astype(np.float32), mask


def _loop(model: RnnRegressor, x: np.ndarray, lengths) -> np.ndarray:
    """h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh) over each sequence's own steps, in float64, then the head."""
    cell, head = model.cell, model.head
    w_ih, w_hh, b_ih, b_hh = (v.numpy().astype(np.float64) for v in (cell.input_kernel, cell.recurrent_kernel,
                                                                      cell.input_bias, cell.recurrent_bias))
    out = []
    for sequence, length in zip(x.astype(np.float64), lengths):
        h = np.zeros(H)
        for t in range(length):
            h = np.tanh(sequence[t] @ w_ih + b_ih + h @ w_hh + b_hh)
        out.append(h @ head.kernels[0].numpy()[:, 0] + head.biases[0].numpy()[0])
    return np.array(out)


def test_rnn_equals_an_explicit_loop_over_each_real_length():
    model = RnnRegressor(F, H, rng=tf.random.Generator.from_seed(3))
    x, mask = _batch()
    np.testing.assert_allclose(model(x, mask).numpy(), _loop(model, x, LENGTHS), atol=1e-6, rtol=0)


def test_rnn_ignores_padding_values_and_padding_length():
    model = RnnRegressor(F, H, rng=tf.random.Generator.from_seed(3))
    x, mask = _batch()
    reference = model(x, mask).numpy()
    noisy, _ = _batch(padding="noise")
    np.testing.assert_array_equal(model(noisy, mask).numpy(), reference)
    longer, longer_mask = _batch(longest=25, padding="noise")  # the same real steps (same seed), more padding
    np.testing.assert_allclose(model(longer, longer_mask).numpy(), _loop(model, longer, LENGTHS), atol=1e-6, rtol=0)
    with tf.GradientTape() as tape:
        inputs = tf.constant(noisy)
        tape.watch(inputs)
        loss = tf.reduce_sum(model(inputs, mask))
    gradient = tape.gradient(loss, inputs).numpy()
    assert np.all(gradient[mask == 0] == 0) and np.any(gradient[mask == 1] != 0)


def _gradients(model, x, mask):
    with tf.GradientTape() as tape:
        inputs = tf.constant(x)
        tape.watch(inputs)
        loss = tf.reduce_sum(tf.square(model(inputs, mask) - 1.0))
    grads = tape.gradient(loss, [inputs, *model.trainable_variables])
    return loss.numpy(), grads[0].numpy(), [g.numpy() for g in grads[1:]]


def test_padded_network_output_and_gradients_ignore_padding():
    model = PaddedFfn(F, 9, (16, 8), rng=tf.random.Generator.from_seed(1))
    clean, mask = _batch(padding=0.0)
    noisy, _ = _batch(padding="noise")
    assert not np.array_equal(clean, noisy)
    np.testing.assert_array_equal(model(noisy, mask).numpy(), model(clean, mask).numpy())
    loss, input_grad, variable_grads = _gradients(model, noisy, mask)
    clean_loss, clean_input_grad, clean_variable_grads = _gradients(model, clean, mask)
    assert loss == clean_loss
    assert np.all(input_grad[mask == 0] == 0) and np.any(input_grad[mask == 1] != 0)
    np.testing.assert_array_equal(input_grad, clean_input_grad)
    for grad, clean_grad in zip(variable_grads, clean_variable_grads):
        np.testing.assert_array_equal(grad, clean_grad)


def test_padded_network_sees_where_each_sequence_ends():
    """The mask is an input: two sequences alike up to their lengths but of different lengths get different outputs
    even when the longer one's extra steps are zeros."""
    model = PaddedFfn(F, 9, (16,), rng=tf.random.Generator.from_seed(1))
    x, _ = _batch(lengths=np.array([4, 4]), padding=0.0)
    mask = np.array([[1] * 4 + [0] * 5, [1] * 6 + [0] * 3], np.int32)
    out = model(x, mask).numpy()
    assert out[0] != out[1]


def test_truncation_uses_exactly_the_shortest_length():
    shortest = int(LENGTHS.min() + 2)  # a data set whose shortest sequence has 3 steps
    lengths = np.maximum(LENGTHS, shortest)
    model = make_model("ffn_truncated", features=F, shortest=shortest, longest=9, rnn_units=H, ffn_hidden=(8,),
                       seed=0)
    assert model.mlp.kernels[0].shape == (shortest * F, 8)
    x, mask = _batch(lengths=lengths, padding="noise")
    reference = model(x, mask).numpy()
    later = x.copy()
    later[:, shortest:] += 1.0  # every step from the shortest length on: cut off
    np.testing.assert_array_equal(model(later, mask).numpy(), reference)
    for step in range(shortest):  # every step before it: read
        changed = x.copy()
        changed[:, step] += 1.0
        assert np.all(model(changed, mask).numpy() != reference)
    expected = model.mlp(tf.constant(x[:, :shortest].reshape(len(x), -1))).numpy()
    np.testing.assert_allclose(reference, expected, rtol=1e-6, atol=1e-6)


def test_truncation_from_the_end_reads_each_sequences_last_steps():
    shortest = 3
    lengths = np.maximum(LENGTHS, shortest)
    first = make_model("ffn_truncated", features=F, shortest=shortest, longest=9, rnn_units=H, ffn_hidden=(8,),
                       seed=0)
    last = make_model("ffn_truncated_last", features=F, shortest=shortest, longest=9, rnn_units=H, ffn_hidden=(8,),
                      seed=0)
    x, mask = _batch(lengths=lengths, padding="noise")
    tails = np.stack([row[n - shortest:n] for row, n in zip(x, lengths)])  # [B, S, F], in time order
    np.testing.assert_allclose(last(x, mask).numpy(), first(tails, np.ones(tails.shape[:2], np.int32)).numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, expected", [
    ("rnn", F * H + H * H + 2 * H + H + 1),                          # W_ih, W_hh, two biases, linear head
    ("ffn_truncated", (3 * F) * 16 + 16 + 16 * 8 + 8 + 8 + 1),
    ("ffn_padded", (9 * (F + 1)) * 16 + 16 + 16 * 8 + 8 + 8 + 1),    # steps and mask as inputs
])
def test_parameter_counts(name, expected):
    model = make_model(name, features=F, shortest=3, longest=9, rnn_units=H, ffn_hidden=(16, 8), seed=0)
    assert parameter_count(model) == expected


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        make_model("lstm", features=F, shortest=3, longest=9, rnn_units=H, ffn_hidden=(8,), seed=0)

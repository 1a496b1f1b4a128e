"""Global-norm clipping against torch.nn.utils.clip_grad_norm_; accumulation against one big batch."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import GradientAccumulator, clip_by_global_norm, clip_coefficient, dense_gradients
from tfft.optim.clipping import sum_of_squares

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 3, 2)]


def _grads(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("clip_norm", [0.5, 1.0, 4.53, 100.0])
def test_matches_torch_clip_grad_norm(clip_norm):
    grads = _grads()
    tensors = [torch.zeros(s, requires_grad=True) for s in SHAPES]
    for tensor, grad in zip(tensors, grads):
        tensor.grad = torch.tensor(grad)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
    clipped, norm = clip_by_global_norm([tf.constant(g) for g in grads], clip_norm)
    np.testing.assert_allclose(norm.numpy(), torch_norm.numpy(), rtol=1e-6)
    for ours, tensor in zip(clipped, tensors):
        np.testing.assert_allclose(ours.numpy(), tensor.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("clip_norm", [None, 0.0])
def test_off_returns_the_gradients_and_their_norm(clip_norm):
    grads = _grads(1)
    clipped, norm = clip_by_global_norm([tf.constant(g) for g in grads], clip_norm)
    np.testing.assert_allclose(norm.numpy(), np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)), rtol=1e-6)
    for ours, grad in zip(clipped, grads):
        np.testing.assert_array_equal(ours.numpy(), grad)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_gradients_pass_through_unchanged(bad):
    grads = _grads(2)
    grads[1][0] = bad
    clipped, norm = clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    assert not np.isfinite(norm.numpy())
    for ours, grad in zip(clipped, grads):
        np.testing.assert_array_equal(ours.numpy(), grad)


@pytest.mark.parametrize("shape", [(), (0,), (7,), (30, 17), (2, 3, 129)])
def test_sum_of_squares_equals_the_float64_sum(shape):
    values = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    expected = np.sum(values.astype(np.float64) ** 2)
    for compiled in (False, True):
        ours = tf.function(sum_of_squares, jit_compile=compiled)(tf.constant(values))
        assert ours.shape == () and ours.dtype == tf.float32
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)
    assert float(sum_of_squares(tf.constant(values, tf.bfloat16))) == pytest.approx(
        np.sum(tf.cast(tf.constant(values, tf.bfloat16), tf.float64).numpy() ** 2), rel=1e-6)


@pytest.mark.parametrize("norm, clip_norm, expected", [
    (2.0, 1.0, 1.0 / (2.0 + 1e-6)), (0.5, 1.0, 1.0), (2.0, None, 1.0), (2.0, 0.0, 1.0), (np.inf, 1.0, 1.0),
    (np.nan, 1.0, 1.0)])
def test_clip_coefficient_is_torchs_factor(norm, clip_norm, expected):
    assert float(clip_coefficient(tf.constant(norm, tf.float32), clip_norm)) == pytest.approx(expected, rel=1e-7)


def test_clipping_compiles_with_xla():
    grads = [tf.constant(g) for g in _grads(3)]
    compiled = tf.function(lambda g: clip_by_global_norm(g, 1.0), jit_compile=True)
    (ours, norm), (eager, eager_norm) = compiled(grads), clip_by_global_norm(grads, 1.0)
    np.testing.assert_allclose(norm.numpy(), eager_norm.numpy(), rtol=1e-6)
    for a, b in zip(ours, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


class Linear(tf.Module):
    """A token classifier small enough to reason about: logits = x @ w + b."""

    def __init__(self, dim: int, classes: int):
        super().__init__()
        rng = np.random.default_rng(0)
        self.w = tf.Variable(rng.normal(size=(dim, classes)).astype(np.float32))
        self.b = tf.Variable(rng.normal(size=(classes,)).astype(np.float32))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.einsum("bsd,dc->bsc", x, self.w) + self.b  # [B, S, C]


def _loss_sum(model: Linear, x, labels, mask) -> tf.Tensor:
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=model(x))  # [B, S]
    return tf.reduce_sum(losses * mask)


def test_accumulated_micro_batches_equal_one_big_batch():
    """Each micro-batch loss is its token-loss sum over the whole batch's token count; the sum of their gradients
    is the gradient of the big batch's mean token loss, though the micro-batches hold 9, 1 and 5 tokens."""
    rng = np.random.default_rng(4)
    model = Linear(dim=6, classes=3)
    x = rng.normal(size=(6, 4, 6)).astype(np.float32)  # [B, S, D]
    labels = rng.integers(0, 3, size=(6, 4)).astype(np.int32)
    mask = np.zeros((6, 4), np.float32)
    for row, length in enumerate([4, 3, 1, 0, 2, 3]):
        mask[row, :length] = 1.0
    total_weight = mask.sum()

    with tf.GradientTape() as tape:
        big = _loss_sum(model, x, labels, mask) / total_weight
    expected = tape.gradient(big, [model.w, model.b])

    accumulator = GradientAccumulator([model.w, model.b])
    add = tf.function(accumulator.add, jit_compile=True)
    for rows in (slice(0, 3), slice(3, 4), slice(4, 6)):
        with tf.GradientTape() as tape:
            micro = _loss_sum(model, x[rows], labels[rows], mask[rows]) / total_weight
        add(tape.gradient(micro, [model.w, model.b]))
    for ours, reference in zip(accumulator.value(), expected):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-7)

    accumulator.reset()
    assert all(not np.any(v.numpy()) for v in accumulator.value())
    assert all(isinstance(s, tf.Variable) and s.dtype == tf.float32 for s in accumulator.sums)


@pytest.mark.parametrize("compiled", [False, True])
def test_embedding_gradients_scatter_into_their_rows_repeats_adding_up(compiled):
    """An embedding table's gradient (IndexedSlices from tf.gather, rows repeated) accumulated twice with a dense one:
    numpy's np.add.at over the same rows is the reference."""
    table, dense = tf.Variable(tf.zeros([7, 3])), tf.Variable(tf.zeros([2]))
    rng = np.random.default_rng(5)
    accumulator = GradientAccumulator([table, dense])
    add = tf.function(accumulator.add, jit_compile=compiled)
    expected = np.zeros([7, 3], np.float32)
    for ids in ([1, 4, 1, 6], [4, 4, 0]):
        values = rng.normal(size=(len(ids), 3)).astype(np.float32)
        add([tf.IndexedSlices(tf.constant(values), tf.constant(ids), tf.constant([7, 3])), tf.ones([2])])
        np.add.at(expected, ids, values)
    np.testing.assert_allclose(accumulator.value()[0].numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(accumulator.value()[1].numpy(), [2.0, 2.0])
    with pytest.raises(ValueError, match="does not match variable"):
        accumulator.add([tf.IndexedSlices(tf.ones([1, 4]), tf.constant([0])), tf.ones([2])])


def test_gradient_lists_are_checked():
    variables = [tf.Variable(tf.zeros([2, 2]), name="kernel")]
    with pytest.raises(ValueError, match="no gradient for kernel"):
        dense_gradients([None], variables)
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        GradientAccumulator(variables).add([tf.zeros([2, 2]), tf.zeros([2, 2])])
    with pytest.raises(ValueError, match="clip_norm"):
        clip_by_global_norm([tf.zeros([2])], -1.0)

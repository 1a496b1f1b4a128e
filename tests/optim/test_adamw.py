"""AdamW against torch.optim.AdamW (with transformers' LambdaLR schedule) and google-research/bert's update in numpy."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import AdamW, adamw_update, decay_mask, make_schedule

torch = pytest.importorskip("torch")
optimization = pytest.importorskip("transformers.optimization")

# A kernel, a bias, a rank-3 tensor and a LayerNorm-like vector: two decayed, two not.
SHAPES = [(4, 3), (3,), (2, 3, 2), (5,)]
STEPS, WARMUP, BASE_LR = 8, 2, 1e-2


def _problem(seed: int = 0) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Initial parameters and a gradient sequence whose scale varies by tensor and step (so eps matters)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [[(rng.normal(size=s) * 10.0 ** rng.integers(-4, 2)).astype(np.float32) for s in SHAPES]
             for _ in range(STEPS)]
    return params, grads


def _torch_adamw(params, grads, *, weight_decay: float, **adam) -> list[np.ndarray]:
    """Hugging Face's recipe: two parameter groups (no decay for rank < 2), AdamW, a LambdaLR stepped per update."""
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    groups = [{"params": [t for t in tensors if t.dim() >= 2], "weight_decay": weight_decay},
              {"params": [t for t in tensors if t.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=BASE_LR, **adam)
    scheduler = optimization.get_linear_schedule_with_warmup(optimizer, WARMUP, STEPS)
    for step_grads in grads:
        for tensor, grad in zip(tensors, step_grads):
            tensor.grad = torch.tensor(grad)
        optimizer.step()
        scheduler.step()
    return [t.detach().numpy() for t in tensors]


def _ours(params, *, weight_decay: float, **adam) -> tuple[list[tf.Variable], AdamW]:
    variables = [tf.Variable(p) for p in params]
    schedule = make_schedule("linear", base_lr=BASE_LR, total_steps=STEPS, warmup_steps=WARMUP)
    return variables, AdamW(variables, learning_rate=schedule, weight_decay=weight_decay, **adam)


def _max_diff(variables, reference) -> float:
    return max(float(np.max(np.abs(v.numpy() - r))) for v, r in zip(variables, reference))


@pytest.mark.parametrize("weight_decay,adam", [
    (0.0, {}),
    (0.1, {}),
    (0.05, {"betas": (0.8, 0.99), "eps": 1e-6}),
])
def test_matches_torch_adamw_with_schedule_and_decay_groups(weight_decay, adam):
    params, grads = _problem()
    reference = _torch_adamw(params, grads, weight_decay=weight_decay, **adam)
    ours_adam = {"beta1": adam["betas"][0], "beta2": adam["betas"][1], "eps": adam["eps"]} if adam else {}
    variables, optimizer = _ours(params, weight_decay=weight_decay, **ours_adam)
    for step_grads in grads:
        optimizer.apply([tf.constant(g) for g in step_grads])
    assert int(optimizer.step) == STEPS
    assert _max_diff(variables, reference) < 1e-6
    moved = [np.max(np.abs(v.numpy() - p)) for v, p in zip(variables, params)]
    assert min(moved) > 1e-3  # the comparison is not vacuous


def test_without_bias_correction_is_bert_adam_weight_decay():
    """google-research/bert optimization.py AdamWeightDecayOptimizer, transcribed in numpy (float64)."""
    params, grads = _problem(1)
    lr, wd, beta1, beta2, eps = 1e-3, 0.01, 0.9, 0.999, 1e-6
    variables = [tf.Variable(p) for p in params]
    optimizer = AdamW(variables, learning_rate=lr, weight_decay=wd, eps=eps, bias_correction=False)
    ref = [p.astype(np.float64) for p in params]
    m = [np.zeros_like(p) for p in ref]
    v = [np.zeros_like(p) for p in ref]
    for step_grads in grads:
        optimizer.apply([tf.constant(g) for g in step_grads])
        for i, grad in enumerate(step_grads):
            m[i] = beta1 * m[i] + (1 - beta1) * grad
            v[i] = beta2 * v[i] + (1 - beta2) * grad**2
            update = m[i] / (np.sqrt(v[i]) + eps)
            if ref[i].ndim >= 2:  # BERT excludes LayerNorm and bias by name; here by rank
                update += wd * ref[i]
            ref[i] = ref[i] - lr * update
    assert _max_diff(variables, ref) < 1e-6


def test_decay_mask_is_rank_based_and_decay_overrides_it():
    variables = [tf.Variable(tf.zeros(s)) for s in SHAPES]
    assert decay_mask(variables) == [True, False, True, False]
    assert AdamW(variables, learning_rate=1e-3).decay == (True, False, True, False)
    assert AdamW(variables, learning_rate=1e-3, decay=[False] * 4).decay == (False,) * 4
    with pytest.raises(ValueError, match="4 variables"):
        AdamW(variables, learning_rate=1e-3, decay=[True])


def test_decay_false_means_no_weight_decay():
    """With zero gradients AdamW moves a parameter only by decay: p * (1 - lr * wd) per step."""
    variables = [tf.Variable(tf.ones([2, 2])), tf.Variable(tf.ones([2, 2]))]
    optimizer = AdamW(variables, learning_rate=0.1, weight_decay=0.5, decay=[True, False])
    optimizer.apply([tf.zeros([2, 2]), tf.zeros([2, 2])])
    np.testing.assert_allclose(variables[0].numpy(), 0.95, rtol=1e-7)
    np.testing.assert_array_equal(variables[1].numpy(), 1.0)


def test_slots_and_step_are_variables_and_survive_a_checkpoint(tmp_path):
    params, grads = _problem(2)
    variables, optimizer = _ours(params, weight_decay=0.1)
    assert all(isinstance(s, tf.Variable) and s.dtype == tf.float32 and not s.trainable
               for s in optimizer.m + optimizer.v)
    assert [tuple(s.shape) for s in optimizer.m] == SHAPES and optimizer.step.dtype == tf.int64
    assert {id(s) for s in optimizer.m + optimizer.v + (optimizer.step,)} <= {id(v) for v in optimizer.variables}
    for step_grads in grads[:3]:
        optimizer.apply([tf.constant(g) for g in step_grads])
    path = tf.train.Checkpoint(params=variables, optimizer=optimizer).write(str(tmp_path / "ckpt"))
    for step_grads in grads[3:]:
        optimizer.apply([tf.constant(g) for g in step_grads])

    restored_vars, restored = _ours([np.zeros_like(p) for p in params], weight_decay=0.1)
    tf.train.Checkpoint(params=restored_vars, optimizer=restored).read(path).assert_consumed()
    assert int(restored.step) == 3
    for step_grads in grads[3:]:
        restored.apply([tf.constant(g) for g in step_grads])
    for ours, uninterrupted in zip(restored_vars + list(restored.m + restored.v),
                                   variables + list(optimizer.m + optimizer.v)):
        np.testing.assert_array_equal(ours.numpy(), uninterrupted.numpy())


def test_update_under_xla_matches_eager():
    params, grads = _problem(3)
    eager_vars, eager = _ours(params, weight_decay=0.1)
    xla_vars, compiled = _ours(params, weight_decay=0.1)
    apply = tf.function(compiled.apply, jit_compile=True)
    for step_grads in grads[:4]:  # past warm-up, so the learning rate is not 0
        eager.apply([tf.constant(g) for g in step_grads])
        apply([tf.constant(g) for g in step_grads])
    assert _max_diff(xla_vars, [v.numpy() for v in eager_vars]) < 1e-6  # XLA fuses differently: an ulp or two
    assert int(compiled.step) == 4


def test_schedule_sees_the_zero_based_update_index():
    seen = []

    def schedule(step):
        seen.append(step)
        return 1e-3 * tf.cast(step + 1, tf.float32)

    variable = tf.Variable(tf.ones([2]))
    optimizer = AdamW([variable], learning_rate=schedule)
    assert float(optimizer.learning_rate_now) == pytest.approx(1e-3)
    optimizer.apply([tf.ones([2])])
    assert int(seen[-1]) == 0 and int(optimizer.step) == 1
    assert float(optimizer.learning_rate_now) == pytest.approx(2e-3)
    # Adam's first step moves by lr: m / sqrt(v) after bias correction is sign(grad).
    np.testing.assert_allclose(variable.numpy(), 1.0 - 1e-3, rtol=1e-6)


def test_pure_update_is_torchs_first_step():
    param, grad = np.array([1.0, -2.0], np.float32), np.array([0.5, 1e-9], np.float32)
    new, m, v = adamw_update(tf.constant(param), tf.constant(grad), tf.zeros([2]), tf.zeros([2]), lr=0.1,
                             beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=tf.constant(1, tf.int64))
    reference = torch.tensor(param, requires_grad=True)
    reference.grad = torch.tensor(grad)
    torch.optim.AdamW([reference], lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(new.numpy(), reference.detach().numpy(), atol=1e-7)
    np.testing.assert_allclose(m.numpy(), 0.1 * grad, rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), 0.001 * grad**2, rtol=1e-5)


def test_bad_inputs_are_errors():
    variables = [tf.Variable(tf.zeros([2, 2])), tf.Variable(tf.zeros([2]))]
    optimizer = AdamW(variables, learning_rate=1e-3)
    with pytest.raises(ValueError, match="no gradient for"):
        optimizer.apply([tf.zeros([2, 2]), None])
    with pytest.raises(ValueError, match="1 gradients for 2 variables"):
        optimizer.apply([tf.zeros([2, 2])])
    with pytest.raises(ValueError, match="does not match"):
        optimizer.apply([tf.zeros([2, 2]), tf.zeros([3])])
    with pytest.raises(ValueError, match="float32"):
        AdamW([tf.Variable(tf.zeros([2], tf.float16))], learning_rate=1e-3)
    with pytest.raises(ValueError, match="beta2"):
        AdamW(variables, learning_rate=1e-3, beta2=1.0)
    assert int(optimizer.step) == 0  # nothing was applied


def test_indexed_slices_gradients_are_densified():
    """tf.gather on an embedding table gives IndexedSlices; repeated rows must add up, as in the dense gradient."""
    table = tf.Variable(tf.ones([4, 2]))
    dense = tf.Variable(tf.ones([4, 2]))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(table, [0, 0, 2]) * 3.0)
    sparse_grad = tape.gradient(loss, table)
    assert isinstance(sparse_grad, tf.IndexedSlices)
    AdamW([table], learning_rate=0.1, weight_decay=0.0).apply([sparse_grad])
    AdamW([dense], learning_rate=0.1, weight_decay=0.0).apply([tf.constant([[6.0, 6], [0, 0], [3, 3], [0, 0]])])
    np.testing.assert_array_equal(table.numpy(), dense.numpy())

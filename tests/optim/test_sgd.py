"""SGD against torch.optim.SGD: momentum, Nesterov, dampening, L2 weight decay in two parameter groups."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import SGD, make_schedule, sgd_update

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 3, 2), (5,)]  # decayed, not, decayed, not
STEPS = 6
SCHEDULE = make_schedule("cosine", base_lr=0.1, total_steps=STEPS, warmup_steps=1)


def _problem(seed: int = 0) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def _torch_sgd(params, grads, *, weight_decay: float, **sgd) -> list[np.ndarray]:
    """torch.optim.SGD with the rank < 2 tensors in a weight_decay=0 group; lr set per step from the schedule."""
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = torch.optim.SGD([{"params": [t for t in tensors if t.dim() >= 2], "weight_decay": weight_decay},
                                 {"params": [t for t in tensors if t.dim() < 2], "weight_decay": 0.0}], lr=0.1, **sgd)
    for step, step_grads in enumerate(grads):
        for group in optimizer.param_groups:
            group["lr"] = float(SCHEDULE(step))
        for tensor, grad in zip(tensors, step_grads):
            tensor.grad = torch.tensor(grad)
        optimizer.step()
    return [t.detach().numpy() for t in tensors]


@pytest.mark.parametrize("momentum,nesterov,weight_decay,dampening", [
    (0.0, False, 0.0, 0.0),
    (0.0, False, 0.01, 0.0),
    (0.9, False, 0.0, 0.0),
    (0.9, False, 0.01, 0.1),
    (0.9, True, 0.01, 0.0),
])
@pytest.mark.parametrize("xla", [False, True])
def test_matches_torch_sgd(momentum, nesterov, weight_decay, dampening, xla):
    params, grads = _problem()
    reference = _torch_sgd(params, grads, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                           dampening=dampening)
    variables = [tf.Variable(p) for p in params]
    optimizer = SGD(variables, learning_rate=SCHEDULE, momentum=momentum, nesterov=nesterov,
                    weight_decay=weight_decay, dampening=dampening)
    apply = tf.function(optimizer.apply, jit_compile=True) if xla else optimizer.apply
    for step_grads in grads:
        apply([tf.constant(g) for g in step_grads])
    assert max(float(np.max(np.abs(v.numpy() - r))) for v, r in zip(variables, reference)) < 1e-6
    assert int(optimizer.step) == STEPS


def test_momentum_slots_only_with_momentum_and_checkpoint_round_trip(tmp_path):
    params, grads = _problem(1)
    assert SGD([tf.Variable(p) for p in params], learning_rate=0.1).momentum_buffers == ()

    def make(initial):
        variables = [tf.Variable(p) for p in initial]
        return variables, SGD(variables, learning_rate=SCHEDULE, momentum=0.9, weight_decay=0.01)

    variables, optimizer = make(params)
    assert [tuple(b.shape) for b in optimizer.momentum_buffers] == SHAPES
    assert all(isinstance(b, tf.Variable) and not b.trainable for b in optimizer.momentum_buffers)
    optimizer.apply([tf.constant(g) for g in grads[0]])
    path = tf.train.Checkpoint(optimizer=optimizer).write(str(tmp_path / "ckpt"))  # tracks the variables too
    for step_grads in grads[1:]:
        optimizer.apply([tf.constant(g) for g in step_grads])
    restored_vars, restored = make([np.zeros_like(p) for p in params])
    tf.train.Checkpoint(optimizer=restored).read(path).assert_consumed()
    for step_grads in grads[1:]:  # the restored step (1) keeps the buffer from being re-initialised
        restored.apply([tf.constant(g) for g in step_grads])
    for ours, uninterrupted in zip(restored_vars, variables):
        np.testing.assert_array_equal(ours.numpy(), uninterrupted.numpy())


def test_first_step_buffer_is_the_gradient_without_dampening():
    grad = tf.constant([1.0, -2.0])
    param, buf = sgd_update(tf.zeros([2]), grad, tf.fill([2], 100.0), lr=1.0, momentum=0.9, nesterov=False,
                            weight_decay=0.0, dampening=0.5, first_step=tf.constant(True))
    np.testing.assert_array_equal(buf.numpy(), grad.numpy())
    np.testing.assert_array_equal(param.numpy(), -grad.numpy())
    param, buf = sgd_update(tf.zeros([2]), grad, buf, lr=1.0, momentum=0.9, nesterov=False, weight_decay=0.0,
                            dampening=0.5, first_step=tf.constant(False))
    np.testing.assert_allclose(buf.numpy(), 1.4 * grad.numpy(), rtol=1e-7)


def test_invalid_settings_are_errors():
    variables = [tf.Variable(tf.zeros([2]))]
    with pytest.raises(ValueError, match="nesterov"):
        SGD(variables, learning_rate=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(variables, learning_rate=0.1, momentum=0.9, nesterov=True, dampening=0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD(variables, learning_rate=0.1, momentum=-0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(variables, learning_rate=-0.1)

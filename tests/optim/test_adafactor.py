"""Adafactor against transformers' PyTorch Adafactor, over several steps, in each of its modes."""

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import Adafactor, make_schedule
from tfft.optim.adafactor import factored

torch = pytest.importorskip("torch")
optimization = pytest.importorskip("transformers.optimization")

# A kernel, a bias, a rank-3 tensor (factored over its last two axes) and a LayerNorm-like vector.
SHAPES = [(6, 4), (4,), (2, 3, 5), (5,)]
STEPS = 12


def _problem(seed: int = 0):
    """Initial parameters and gradients whose scale varies by tensor and step (clipping and eps matter)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [[(rng.normal(size=s) * 10.0 ** rng.integers(-3, 2)).astype(np.float32) for s in SHAPES]
             for _ in range(STEPS)]
    return params, grads


def _torch_adafactor(params, grads, *, weight_decay: float, lr, schedule=None, **options) -> list[np.ndarray]:
    """Hugging Face's recipe: weight decay in a group of rank >= 2 tensors only, a LambdaLR stepped per update."""
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    groups = [{"params": [t for t in tensors if t.dim() >= 2], "weight_decay": weight_decay},
              {"params": [t for t in tensors if t.dim() < 2], "weight_decay": 0.0}]
    optimizer = optimization.Adafactor(groups, lr=lr, **options)
    scheduler = optimization.get_linear_schedule_with_warmup(optimizer, 3, STEPS) if schedule else None
    for step_grads in grads:
        for tensor, grad in zip(tensors, step_grads):
            tensor.grad = torch.tensor(grad)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return [t.detach().numpy() for t in tensors]


@pytest.mark.parametrize("options", [
    {"lr": 1e-2, "relative_step": False, "scale_parameter": False, "warmup_init": False},  # fine-tuning advice
    {"lr": 1e-2, "relative_step": False, "scale_parameter": False, "schedule": True, "weight_decay": 0.1},
    {"lr": None, "relative_step": True, "scale_parameter": True, "warmup_init": False},  # transformers' default
    {"lr": None, "relative_step": True, "scale_parameter": True, "warmup_init": True, "beta1": 0.9,
     "weight_decay": 0.01},
    {"lr": 3e-3, "relative_step": False, "scale_parameter": True, "clip_threshold": 0.5, "decay_rate": -0.5,
     "beta1": 0.8},
], ids=["fixed-lr", "schedule-decay", "relative-step", "warmup-init-momentum", "clip-decay-rate"])
def test_matches_transformers_adafactor_over_several_steps(options):
    params, grads = _problem()
    options = dict(options)
    weight_decay, schedule = options.pop("weight_decay", 0.0), options.pop("schedule", False)
    reference = _torch_adafactor(params, grads, weight_decay=weight_decay, schedule=schedule, **options)
    lr = options.pop("lr")
    if schedule:
        lr = make_schedule("linear", base_lr=lr, total_steps=STEPS, warmup_steps=3)
    variables = [tf.Variable(p) for p in params]
    optimizer = Adafactor(variables, learning_rate=lr if lr is not None else 0.0, weight_decay=weight_decay,
                          **options)
    apply = tf.function(optimizer.apply)
    for step_grads in grads:
        apply([tf.constant(g) for g in step_grads])
    for variable, expected, start in zip(variables, reference, params):
        assert np.abs(expected - start).max() > 1e-6  # the parameters moved (warmup_init: by 1e-6 t per step)
        # the updates agree (to float32 rounding of parameters near 1: a few 1e-8)
        np.testing.assert_allclose(variable.numpy() - start, expected - start, rtol=1e-4, atol=3e-7)


def test_matrices_keep_only_factored_second_moments():
    variables = [tf.Variable(tf.zeros(s)) for s in [(300, 40), (40,), (2, 3, 5)]]
    optimizer = Adafactor(variables, learning_rate=1e-3)
    assert [[tuple(s.shape) for s in slots] for slots in optimizer.second] == [[(300,), (40,)], [(40,)],
                                                                               [(2, 3), (2, 5)]]
    assert optimizer.first is None  # beta1=None: no first moment
    state = sum(int(np.prod(v.shape)) for v in optimizer.variables if v.dtype == tf.float32 and not v.trainable)
    assert state == 300 + 40 + 40 + 6 + 10  # against AdamW's 2 x (12000 + 40 + 30)
    assert [factored(v.shape) for v in variables] == [True, False, True]


@pytest.mark.parametrize("options,message", [
    ({"warmup_init": True}, "warmup_init=True requires relative_step=True"),
    ({"beta1": 1.0}, "beta1=1.0 must be in"),
    ({"clip_threshold": 0.0}, "clip_threshold=0.0 must be > 0"),
    ({"decay_rate": 0.8}, "decay_rate=0.8 must be < 0"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        Adafactor([tf.Variable(tf.zeros([2, 2]))], learning_rate=1e-3, **options)

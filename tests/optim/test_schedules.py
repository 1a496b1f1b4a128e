"""Schedules against Hugging Face transformers' LambdaLR schedulers and TrainingArguments.get_warmup_steps."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tfft.optim import make_schedule, warmup_steps

torch = pytest.importorskip("torch")
optimization = pytest.importorskip("transformers.optimization")
training_args = pytest.importorskip("transformers.training_args")

BASE_LR = 3e-5
HF = {
    "linear": lambda opt, warmup, total: optimization.get_linear_schedule_with_warmup(opt, warmup, total),
    "cosine": lambda opt, warmup, total: optimization.get_cosine_schedule_with_warmup(opt, warmup, total),
    "constant": lambda opt, warmup, total: optimization.get_constant_schedule_with_warmup(opt, warmup),
}


def _hf_scheduler(kind: str, warmup: int, total: int):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
    return optimizer, HF[kind](optimizer, warmup, total)


@pytest.mark.parametrize("kind", list(HF))
@pytest.mark.parametrize("warmup,total", [(5, 20), (3, 7), (0, 10), (10, 10), (0, 1)])
def test_every_step_of_a_short_run_equals_transformers(kind, warmup, total):
    """Steps the torch scheduler as a training loop does and reads the lr each update used."""
    optimizer, scheduler = _hf_scheduler(kind, warmup, total)
    expected = []
    for _ in range(total + 1):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    schedule = make_schedule(kind, base_lr=BASE_LR, total_steps=total, warmup_steps=warmup)
    ours = [float(schedule(step)) for step in range(total + 1)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-13)


@pytest.mark.parametrize("kind", list(HF))
def test_landmarks_of_a_long_run_equal_transformers(kind):
    warmup, total = 600, 10_000
    _, scheduler = _hf_scheduler(kind, warmup, total)
    schedule = make_schedule(kind, base_lr=BASE_LR, total_steps=total, warmup_steps=warmup)
    steps = [0, 1, warmup - 1, warmup, (warmup + total) // 2, total - 1, total]
    expected = [BASE_LR * scheduler.lr_lambdas[0](step) for step in steps]
    ours = [float(schedule(tf.constant(step, tf.int64))) for step in steps]
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-13)
    assert ours[0] == 0.0 and ours[3] == pytest.approx(BASE_LR)
    if kind != "constant":
        assert ours[-1] == 0.0


def test_schedule_compiles_with_xla_and_reads_a_step_variable():
    schedule = make_schedule("cosine", base_lr=1e-3, total_steps=100, warmup_steps=10)
    step = tf.Variable(37, dtype=tf.int64)
    compiled = tf.function(lambda: schedule(step), jit_compile=True)
    assert compiled().dtype == tf.float32
    np.testing.assert_allclose(compiled().numpy(), schedule(37).numpy(), rtol=1e-6)


@pytest.mark.parametrize("ratio,total", [(0.1, 1000), (0.07, 100), (0.06, 333), (0.0, 50), (0.5, 0)])
def test_warmup_ratio_rounds_up_like_transformers(ratio, total):
    args = types.SimpleNamespace(warmup_steps=ratio)  # transformers 5: warmup_steps < 1 is a ratio
    hf = training_args.TrainingArguments.get_warmup_steps(args, total) if ratio else 0
    assert warmup_steps(total, ratio, None) == hf


def test_warmup_steps_given_directly_or_not_at_all():
    assert warmup_steps(100, None, 7) == 7
    assert warmup_steps(100, None, None) == 0
    assert warmup_steps(9, 1.0, None) == 9  # transformers would read warmup_steps=1.0 as 1 step, not a ratio


@pytest.mark.parametrize("call,flag", [
    (lambda: warmup_steps(100, 0.1, 10), "--warmup_ratio=0.1 and --warmup_steps=10"),
    (lambda: warmup_steps(100, 1.5, None), "--warmup_ratio"),
    (lambda: warmup_steps(100, None, -1), "--warmup_steps"),
    (lambda: warmup_steps(100, None, 101), "--warmup_steps"),
    (lambda: make_schedule("step", base_lr=1e-3, total_steps=10, warmup_steps=0), "--schedule"),
    (lambda: make_schedule("linear", base_lr=1e-3, total_steps=10, warmup_steps=11), "--warmup_steps"),
    (lambda: make_schedule("linear", base_lr=1e-3, total_steps=10, warmup_steps=-1), "--warmup_steps"),
    (lambda: make_schedule("linear", base_lr=1e-3, total_steps=-1, warmup_steps=0), "total_steps"),
])
def test_bad_values_name_the_flag(call, flag):
    with pytest.raises(ValueError, match=flag):
        call()

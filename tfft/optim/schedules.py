"""Learning-rate schedules: pure `step -> lr` functions, equal to Hugging Face transformers' schedulers.

A schedule takes the 0-based index of an update (a Python int or an integer tensor, e.g. the optimizer's
`step` variable) and returns a float32 scalar tensor, using only tf ops, so it runs eagerly, inside
tf.function and under XLA. Warm-up rises linearly from 0 to `base_lr` over `warmup_steps` updates; then
the rate stays (constant), falls linearly to 0 at `total_steps` (linear) or follows half a cosine to 0
(cosine). These are transformers' get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
get_cosine_schedule_with_warmup(num_cycles=0.5) (optimization.py), formula for formula, including the
max(1, ...) guards against empty spans; past `total_steps` the cosine rises again exactly as theirs does.
Steps are converted to float32, exact up to 2**24 updates.
"""

import math
from collections.abc import Callable

import tensorflow as tf


def _decay_span(warmup_steps: int, total_steps: int) -> float:
    return float(max(1, total_steps - warmup_steps))


def _linear(step: tf.Tensor, warmup_steps: int, total_steps: int) -> tf.Tensor:
    return tf.maximum(0.0, (total_steps - step) / _decay_span(warmup_steps, total_steps))


def _cosine(step: tf.Tensor, warmup_steps: int, total_steps: int) -> tf.Tensor:
    progress = (step - warmup_steps) / _decay_span(warmup_steps, total_steps)
    return tf.maximum(0.0, 0.5 * (1.0 + tf.cos(math.pi * progress)))  # num_cycles=0.5: cos(pi * 2 * 0.5 * p)


def _constant(step: tf.Tensor, warmup_steps: int, total_steps: int) -> tf.Tensor:
    return tf.ones_like(step)


# --schedule value -> the factor after warm-up, f(step, warmup_steps, total_steps), step a float32 tensor.
AFTER_WARMUP: dict[str, Callable[[tf.Tensor, int, int], tf.Tensor]] = {"linear": _linear, "cosine": _cosine,
                                                                       "constant": _constant}


def warmup_steps(total_steps: int, warmup_ratio: float | None, warmup_steps: int | None) -> int:
    """Warm-up length in updates from --warmup_ratio or --warmup_steps (at most one; neither means none).

    A ratio gives ceil(ratio * total_steps), as transformers' TrainingArguments.get_warmup_steps computes it
    (in float64, so e.g. 0.07 * 100 rounds up to 8 there and here).
    """
    if total_steps < 0:
        raise ValueError(f"total_steps={total_steps}: the number of updates cannot be negative")
    if warmup_ratio is not None and warmup_steps is not None:
        raise ValueError(f"--warmup_ratio={warmup_ratio} and --warmup_steps={warmup_steps}: give only one")
    if warmup_ratio is not None:
        if not 0.0 <= warmup_ratio <= 1.0:
            raise ValueError(f"--warmup_ratio={warmup_ratio}: expected a fraction in [0, 1]")
        return math.ceil(total_steps * warmup_ratio)
    if warmup_steps is None:
        return 0
    _check_warmup(warmup_steps, total_steps)
    return warmup_steps


def _check_warmup(warmup_steps: int, total_steps: int) -> None:
    if warmup_steps < 0:
        raise ValueError(f"--warmup_steps={warmup_steps}: expected 0 or more")
    if warmup_steps > total_steps:
        raise ValueError(f"--warmup_steps={warmup_steps} is more than the {total_steps} updates of the run; "
                         "lower it or use --warmup_ratio")


def make_schedule(kind: str, *, base_lr: float, total_steps: int,
                  warmup_steps: int) -> Callable[[tf.Tensor | int], tf.Tensor]:
    """The --schedule `kind` ("linear", "cosine" or "constant") as a pure function of the 0-based update index."""
    if kind not in AFTER_WARMUP:
        raise ValueError(f"--schedule={kind!r}: expected one of {', '.join(AFTER_WARMUP)}")
    if total_steps < 0:
        raise ValueError(f"total_steps={total_steps}: the number of updates cannot be negative")
    _check_warmup(warmup_steps, total_steps)
    if base_lr < 0:
        raise ValueError(f"base_lr={base_lr} must be >= 0")
    after_warmup = AFTER_WARMUP[kind]
    warmup_span = float(max(1, warmup_steps))

    def schedule(step: tf.Tensor | int) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        factor = tf.where(step < warmup_steps, step / warmup_span, after_warmup(step, warmup_steps, total_steps))
        return base_lr * factor

    return schedule

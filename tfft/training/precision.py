"""Dynamic loss scaling for float16 training, without Keras' LossScaleOptimizer or a global policy.

float16 gradients underflow below ~6e-8 (subnormals) and overflow above 65504. The loss is multiplied by a
large power of two before the backward pass and the float32 gradients divided by it after; a power of two
makes both exact. When a step overflows (a non-finite gradient), the update is skipped and the scale halved;
after `growth_interval` finite steps in a row it is doubled again. A step reads:

    grads = loss_scale.unscale(tape.gradient(loss_scale.scale(loss), variables))
    finite = loss_scale.update(grads)
    grads, norm = clip_by_global_norm(grads, clip_norm)
    tf.cond(finite, apply_update, skip)

(tfft.training.steps folds the unscaling into one scalar and passes `record` the finiteness it read off the
gradients' norm, `finite_by_norm`.)

bfloat16 and float32 need no scaling: `LossScale(enabled=False)` keeps scale 1 and the same step code, and
still reports (and counts) a non-finite step, which the loop then skips or stops at (--nan_policy).
"""

import pathlib
from collections.abc import Callable, Sequence

import tensorflow as tf

# Keras' LossScaleOptimizer defaults (initial_scale=2**15, dynamic_growth_steps=2000); torch.amp.GradScaler
# uses growth_interval=2000 too (with init_scale=2**16). Both halve on overflow and double on growth.
INITIAL_SCALE = 2.0**15
GROWTH_INTERVAL = 2000


# --nan_policy=skip gives up after this many non-finite updates in a row: the run has diverged for good (and, as
# a skipped update does not advance the step, it would otherwise never reach --max_steps).
SKIP_LIMIT = 50


class DivergedError(ArithmeticError):
    """An update met a non-finite loss or gradient: with --nan_policy=stop (at loss scale 1 under float16), or the
    SKIP_LIMIT-th in a row with --nan_policy=skip."""

    def __init__(self, update: int, checkpoint: str | None, *, in_a_row: int = 1):
        resume = (f"the last good checkpoint is {checkpoint}: --resume continues from it (add --nan_policy=skip "
                  "to skip such updates)" if checkpoint else "no checkpoint was written before it")
        what = ("non-finite loss or gradients, the run stopped (--nan_policy=stop) and the update was not applied"
                if in_a_row == 1 else f"the {in_a_row}th update in a row with non-finite loss or gradients, the run "
                "stopped (--nan_policy=skip gives up)")
        super().__init__(f"update {update}: {what}; {resume}")
        self.update, self.checkpoint = update, checkpoint


def all_finite(grads: Sequence[tf.Tensor]) -> tf.Tensor:
    """True (bool scalar tensor) when no element of any gradient is inf or NaN.

    Checked element by element: a sum-based check could overflow on large but finite gradients.
    """
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(g))) for g in grads])


def finite_by_norm(norm: tf.Tensor, grads: Callable[[], Sequence[tf.Tensor]]) -> tf.Tensor:
    """`all_finite(grads())` given the gradients' global norm, checking elements only when the norm is not finite: a
    finite norm bounds every element, while an infinite one may be the sum of squares of large but finite gradients
    overflowing (then `grads()` is built and checked element by element)."""
    return tf.cond(tf.math.is_finite(norm), lambda: tf.constant(True), lambda: all_finite(grads()))


class LossScale(tf.Module):
    """The dynamic loss scale and its counters, as checkpointable variables created here.

    `current` (float32) is the scale; `good_steps` (int64) counts finite steps since the last change;
    `skipped` (int64) counts the updates skipped for non-finite gradients (or loss), scaled or not. Halving stops at 1, as in Keras
    (torch's GradScaler has no floor); doubling stops where the scale would stop being finite.
    """

    def __init__(self, *, enabled: bool, initial: float = INITIAL_SCALE, growth_interval: int = GROWTH_INTERVAL,
                 name: str | None = None):
        super().__init__(name=name)
        if initial < 1:
            raise ValueError(f"initial loss scale {initial} must be >= 1")
        if growth_interval < 1:
            raise ValueError(f"growth_interval={growth_interval} must be >= 1")
        self.enabled = enabled
        self.growth_interval = growth_interval
        self.current = tf.Variable(initial if enabled else 1.0, dtype=tf.float32, trainable=False, name="current")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped")

    def scale(self, loss: tf.Tensor) -> tf.Tensor:
        """loss * scale (the loss is float32, so the product does not overflow where float16 would)."""
        if not self.enabled:
            return loss
        return loss * tf.cast(self.current, loss.dtype)

    def unscale(self, grads: Sequence[tf.Tensor | tf.IndexedSlices]) -> list[tf.Tensor]:
        """float32 gradients divided by the scale (exact: it is a power of two)."""
        grads = [tf.cast(tf.convert_to_tensor(g), tf.float32) for g in grads]
        if not self.enabled:
            return grads
        return [g / self.current for g in grads]

    def update(self, grads: Sequence[tf.Tensor], loss: tf.Tensor | None = None) -> tf.Tensor:
        """Adjusts the scale after one step's (unscaled) gradients and loss; returns whether they are all finite,
        i.e. whether to apply the update. Disabled: the scale stays 1; a non-finite step is only counted.
        """
        return self.record(all_finite(list(grads) + ([] if loss is None else [loss])))

    def record(self, finite: tf.Tensor) -> tf.Tensor:
        """`update` given whether the step's gradients and loss are all finite; returns `finite`."""
        self.skipped.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
        if not self.enabled:
            return finite
        zero = tf.constant(0, tf.int64)
        good = tf.where(finite, self.good_steps + 1, zero)
        doubled = self.current * 2.0
        grow = (good >= self.growth_interval) & tf.math.is_finite(doubled)
        halved = tf.maximum(self.current / 2.0, 1.0)
        self.current.assign(tf.where(finite, tf.where(grow, doubled, self.current), halved))
        self.good_steps.assign(tf.where(grow, zero, good))
        return finite


# The CPU instructions that make a reduced-precision matmul faster than float32 (Linux /proc/cpuinfo names).
NATIVE_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}


def cpu_fields(cpuinfo: pathlib.Path = pathlib.Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo ("model name", "flags", ...); empty where the file does not exist."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the blank line after the first CPU
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def cpu_flags(cpuinfo: pathlib.Path = pathlib.Path("/proc/cpuinfo")) -> set[str]:
    """The instruction-set flags of the first CPU; empty where /proc/cpuinfo does not exist."""
    return set(cpu_fields(cpuinfo).get("flags", "").split())


def precision_warning(precision: str, flags: set[str] | None = None) -> str | None:
    """Why --precision=bf16/fp16 would run slower than fp32 on this machine, or None.

    Without an accelerator, reduced precision only pays on a CPU with native bfloat16/float16 matmuls: on an
    AVX2-only CPU a bf16 matmul ran at ~120 against fp32's ~174 GFLOP/s (a 2048 x 2048 matmul, op by op, on an AMD
    EPYC with AVX2 and FMA), on an AVX-512 BF16 CPU at ~370 against ~200 (python -m tfft.bench --mode=train_step
    --precision=bf16).
    """
    if precision == "fp32" or tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return None
    needed = NATIVE_CPU_FLAGS[precision]
    if (cpu_flags() if flags is None else flags) & set(needed):
        return None
    return (f"--precision={precision} on a CPU without native {precision} matmuls ({' or '.join(needed)} not in "
            f"/proc/cpuinfo): it runs slower than --precision=fp32 here; mixed precision is for GPUs and TPUs")

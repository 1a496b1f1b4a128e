"""Adafactor (Shazeer & Stern 2018) as Hugging Face transformers' PyTorch `Adafactor` computes it.

The memory-light optimizer: for a matrix (any tensor of rank >= 2) the second moment is kept factored, as the
exponential moving averages of the squared gradient's row means [..., rows] and column means [..., cols], and
rebuilt as their outer product over the row means' mean; only vectors keep a full second moment. With
`beta1=None` (the default) there is no first moment either, so a [V, H] embedding table costs V + H floats of
optimizer state instead of AdamW's 2 V H.

Options, named as transformers names them: `relative_step` (the step size is min(1e-2, 1/sqrt(t)), or
min(1e-6 t, 1/sqrt(t)) with `warmup_init`, instead of the learning rate given), `scale_parameter` (times
max(eps2, RMS(parameter))), `clip_threshold` (the update's RMS is clipped to it), `decay_rate` (beta2 at step t
is 1 - t^decay_rate), `beta1`, `weight_decay` (param -= weight_decay * step size * param). Hugging Face's advice
for fine-tuning is a fixed learning rate: relative_step=False, scale_parameter=False, warmup_init=False, and
those are the defaults here (transformers' own defaults are True, True, False with lr=None).

`adafactor_update` is the pure update of one tensor; the `Adafactor` module owns the factored slots (created in
`__init__`) and the step counter and learning rate it shares with the other optimizers (`Optimizer`).
"""

from collections.abc import Sequence

import tensorflow as tf

from tfft.optim.adamw import LearningRate, Optimizer


def _rms(tensor: tf.Tensor) -> tf.Tensor:
    return tf.norm(tensor) / tf.sqrt(tf.cast(tf.size(tensor), tf.float32))


def factored(shape: tf.TensorShape) -> bool:
    """Whether a variable of this shape keeps its second moment factored (rank >= 2, as transformers decides)."""
    return shape.rank >= 2


def adafactor_update(param: tf.Tensor, grad: tf.Tensor, second: tuple[tf.Tensor, ...], first: tf.Tensor | None, *,
                     step_size: tf.Tensor, step: tf.Tensor, eps: tuple[float, float], clip_threshold: float,
                     decay_rate: float, beta1: float | None, weight_decay: float,
                     scale_parameter: bool) -> tuple[tf.Tensor, tuple[tf.Tensor, ...], tf.Tensor | None]:
    """One Adafactor update of one tensor; returns (param, second moment, first moment).

    `second` is (row means [..., rows], column means [..., cols]) for a factored tensor, else (full [shape],).
    `step_size` is the relative step or the learning rate, before `scale_parameter`; `step` the 1-based update
    count. The operations and their order are transformers' `Adafactor.step`.
    """
    if scale_parameter:
        step_size = step_size * tf.maximum(eps[1], _rms(param))
    beta2 = 1.0 - tf.pow(tf.cast(step, tf.float32), decay_rate)
    squared = tf.square(grad) + eps[0]
    if len(second) == 2:
        row, column = second
        row = beta2 * row + (1.0 - beta2) * tf.reduce_mean(squared, axis=-1)  # [..., rows]
        column = beta2 * column + (1.0 - beta2) * tf.reduce_mean(squared, axis=-2)  # [..., cols]
        row_factor = tf.math.rsqrt(row / tf.reduce_mean(row, axis=-1, keepdims=True))[..., None]  # [..., rows, 1]
        column_factor = tf.math.rsqrt(column)[..., None, :]  # [..., 1, cols]
        update, second = row_factor * column_factor * grad, (row, column)
    else:
        (full,) = second
        full = beta2 * full + (1.0 - beta2) * squared
        update, second = tf.math.rsqrt(full) * grad, (full,)
    update = update / tf.maximum(_rms(update) / clip_threshold, 1.0)
    update = update * step_size
    if beta1 is not None:
        first = beta1 * first + (1.0 - beta1) * update
        update = first
    if weight_decay:
        param = param - weight_decay * step_size * param
    return param - update, second, first


class Adafactor(Optimizer):
    """transformers' Adafactor over `variables`. `learning_rate` (a float or a schedule of the update index) is
    the step size unless `relative_step`; `lr_scale` multiplies either. `decay[i]` False (default: `decay_mask`,
    no decay for biases and LayerNorm) gives variable i no weight decay."""

    def __init__(self, variables: Sequence[tf.Variable], *, learning_rate: LearningRate,
                 eps: tuple[float, float] = (1e-30, 1e-3), clip_threshold: float = 1.0, decay_rate: float = -0.8,
                 beta1: float | None = None, weight_decay: float = 0.0, scale_parameter: bool = False,
                 relative_step: bool = False, warmup_init: bool = False, decay: Sequence[bool] | None = None,
                 lr_scale: Sequence[float] | None = None, name: str | None = None):
        if warmup_init and not relative_step:
            raise ValueError("warmup_init=True requires relative_step=True")
        if beta1 is not None and not 0.0 <= beta1 < 1.0:
            raise ValueError(f"beta1={beta1} must be in [0, 1) (or None: no first moment)")
        if clip_threshold <= 0:
            raise ValueError(f"clip_threshold={clip_threshold} must be > 0")
        if decay_rate >= 0:
            raise ValueError(f"decay_rate={decay_rate} must be < 0 (beta2 at step t is 1 - t^decay_rate)")
        super().__init__(variables, learning_rate=learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         lr_scale=lr_scale)
        self.eps, self.clip_threshold, self.decay_rate, self.beta1 = tuple(eps), clip_threshold, decay_rate, beta1
        self.scale_parameter, self.relative_step, self.warmup_init = scale_parameter, relative_step, warmup_init

        def zeros(shape, variable, slot):
            return tf.Variable(tf.zeros(shape, tf.float32), trainable=False,
                               name=f"{variable.name.split(':')[0]}/{slot}")

        self.second = tuple(
            (zeros(v.shape[:-1], v, "row"), zeros(v.shape[:-2] + v.shape[-1:], v, "column")) if factored(v.shape)
            else (zeros(v.shape, v, "v"),) for v in self.params)
        self.first = self._slots("m") if beta1 is not None else None

    def _update(self, index: int, param: tf.Variable, grad: tf.Tensor, *, lr: tf.Tensor, weight_decay: float,
                step: tf.Tensor) -> None:
        step_size = lr
        if self.relative_step:
            t = tf.cast(step, tf.float32)
            ceiling = 1e-6 * t if self.warmup_init else 1e-2
            step_size = tf.minimum(ceiling, tf.math.rsqrt(t)) * self.lr_scale[index]
        new_param, second, first = adafactor_update(
            param, grad, tuple(self.second[index]), None if self.first is None else self.first[index],
            step_size=step_size, step=step, eps=self.eps, clip_threshold=self.clip_threshold,
            decay_rate=self.decay_rate, beta1=self.beta1, weight_decay=weight_decay,
            scale_parameter=self.scale_parameter)
        param.assign(new_param)
        for slot, value in zip(self.second[index], second):
            slot.assign(value)
        if first is not None:
            self.first[index].assign(first)

"""AdamW as torch.optim.AdamW computes it, plus what every tfft optimizer shares (`Optimizer`, `decay_mask`).

The update math is a pure function of tensors (`adamw_update`); the `AdamW` module only owns the state
(one float32 `m` and `v` per variable, created in `__init__`, and the `step` counter) and assigns what the
function returns. Shapes: every slot has its variable's shape; `lr` and `step` are scalars.

Differences from torch.optim.AdamW are named options: `bias_correction=False` gives the update of
google-research/bert's AdamWeightDecayOptimizer, and `decay` (default `decay_mask`) plays the role of the
second parameter group with weight_decay=0 that Hugging Face's Trainer builds for biases and LayerNorm weights.
"""

import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from tfft.optim.clipping import dense_gradients

LearningRate = float | Callable[[tf.Tensor], tf.Tensor]


def decay_mask(variables: Sequence[tf.Variable]) -> list[bool]:
    """Weight decay for rank >= 2 (kernels, embeddings), none for rank < 2 (biases, LayerNorm gamma and beta).

    nanoGPT's rule (`configure_optimizers`). For BERT-family encoders it picks the same tensors as Hugging Face
    Trainer's name rule (no decay on "bias" and LayerNorm weights), without depending on variable names.
    """
    return [v.shape.rank >= 2 for v in variables]


class Optimizer(tf.Module):
    """What AdamW and SGD share: the variables, their decay flags, the update counter and the learning rate.

    `step` (int64 variable) counts the updates applied; a callable learning rate is a schedule called with the
    0-based index of the coming update, so the first update uses `schedule(0)` as a torch LambdaLR stepped after
    each `optimizer.step()` does. Slots are positional (slot i belongs to variable i): restore a checkpoint
    with the variables in the same order (a model's `trainable_variables` order is deterministic).
    The variables it updates are tracked too, so a checkpoint of the optimizer alone is a full training state.
    """

    def __init__(self, variables: Sequence[tf.Variable], *, learning_rate: LearningRate, weight_decay: float,
                 decay: Sequence[bool] | None, name: str | None, lr_scale: Sequence[float] | None):
        super().__init__(name=name)
        variables = tuple(variables)
        if not variables:
            raise ValueError("the optimizer got no variables to update (is every variable frozen?)")
        for v in variables:
            if v.dtype != tf.float32:
                raise ValueError(f"variable {v.name} is {v.dtype.name}; tfft keeps every trained variable float32 "
                                 "(lower precision is the model's compute_dtype)")
        decay = decay_mask(variables) if decay is None else [bool(d) for d in decay]
        if len(decay) != len(variables):
            raise ValueError(f"decay has {len(decay)} flags for {len(variables)} variables")
        if not callable(learning_rate) and learning_rate < 0:
            raise ValueError(f"learning_rate={learning_rate} must be >= 0")
        if weight_decay < 0:
            raise ValueError(f"weight_decay={weight_decay} must be >= 0")
        lr_scale = [1.0] * len(variables) if lr_scale is None else [float(x) for x in lr_scale]
        if len(lr_scale) != len(variables) or min(lr_scale) < 0:
            raise ValueError(f"lr_scale needs one non-negative factor per variable, got {len(lr_scale)} for "
                             f"{len(variables)}")
        self.params = variables
        self.decay = tuple(decay)
        self.lr_scale = tuple(lr_scale)  # per-variable learning-rate factor (torch: one param group per factor)
        self.weight_decay = weight_decay
        self.learning_rate = learning_rate
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def _slots(self, slot: str) -> tuple[tf.Variable, ...]:
        """One float32 zeros variable per updated variable, named after it (`<variable>/<slot>`)."""
        return tuple(tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{v.name.split(':')[0]}/{slot}")
                     for v in self.params)

    @property
    def learning_rate_now(self) -> tf.Tensor:
        """The learning rate the next `apply` uses (float32 scalar)."""
        if callable(self.learning_rate):
            return tf.cast(self.learning_rate(tf.convert_to_tensor(self.step)), tf.float32)
        return tf.constant(self.learning_rate, tf.float32)

    def apply(self, grads: Sequence[tf.Tensor | tf.IndexedSlices]) -> None:
        """One update of every variable from its gradient (same order as the variables; None is an error)."""
        grads = dense_gradients(grads, self.params)
        lr = self.learning_rate_now  # read before the increment: the schedule sees this update's 0-based index
        self.step.assign_add(1)
        step = tf.convert_to_tensor(self.step)  # 1-based, torch's state["step"] after its increment
        for index, (param, grad, decays, scale) in enumerate(zip(self.params, grads, self.decay, self.lr_scale)):
            self._update(index, param, grad, lr=lr * scale, weight_decay=self.weight_decay if decays else 0.0,
                         step=step)

    def _update(self, index: int, param: tf.Variable, grad: tf.Tensor, *, lr: tf.Tensor, weight_decay: float,
                step: tf.Tensor) -> None:
        """Assigns variable `index` and its slots from the subclass's pure update function."""
        raise NotImplementedError


def _one_minus_power(beta: float, step: tf.Tensor) -> tf.Tensor:
    """1 - beta**step as -expm1(step * log(beta)): torch computes it in float64 on the host; this form keeps
    float32 within an ulp of that (a plain 1 - beta**step loses ~1e-5 relative at beta=0.999, step=1)."""
    log_beta = math.log(beta) if beta > 0 else -math.inf  # beta=0: the correction is 1 from the first step
    return -tf.math.expm1(tf.cast(step, tf.float32) * log_beta)


def adamw_update(param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, *, lr: tf.Tensor | float,
                 beta1: float, beta2: float, eps: float, weight_decay: float, step: tf.Tensor,
                 bias_correction: bool = True) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One AdamW update of one tensor; returns (param, m, v). `step` is the 1-based update count.

    The operations and their order are torch's `_single_tensor_adam` with decoupled weight decay (amsgrad and
    maximize off): decay the parameter, update the moments, then step by lr / (1 - beta1^t) * m /
    (sqrt(v) / sqrt(1 - beta2^t) + eps) -- eps is added after the second-moment correction, as in torch.
    `bias_correction=False` drops both corrections: param - lr * (m / (sqrt(v) + eps) + weight_decay * param),
    google-research/bert's AdamWeightDecayOptimizer (optimization.py).
    """
    if weight_decay:
        param = param * (1.0 - lr * weight_decay)
    m = m + (1.0 - beta1) * (grad - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
    v = beta2 * v + (1.0 - beta2) * tf.square(grad)
    if bias_correction:
        step_size = lr / _one_minus_power(beta1, step)
        denom = tf.sqrt(v) / tf.sqrt(_one_minus_power(beta2, step)) + eps
    else:
        step_size = lr
        denom = tf.sqrt(v) + eps
    return param - step_size * (m / denom), m, v


class AdamW(Optimizer):
    """torch.optim.AdamW over `variables`, with slots m and v (float32, one per variable) created here.

    Defaults are torch's betas and eps; weight_decay defaults to 0.0 as in Hugging Face TrainingArguments
    (torch.optim.AdamW's own default is 1e-2). `decay[i]` False gives variable i no weight decay;
    the default is `decay_mask(variables)`.
    """

    def __init__(self, variables: Sequence[tf.Variable], *, learning_rate: LearningRate, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 decay: Sequence[bool] | None = None, bias_correction: bool = True,
                 lr_scale: Sequence[float] | None = None, name: str | None = None):
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{label}={beta} must be in [0, 1)")
        if eps < 0:
            raise ValueError(f"eps={eps} must be >= 0")
        super().__init__(variables, learning_rate=learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         lr_scale=lr_scale)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.bias_correction = bias_correction
        self.m = self._slots("m")
        self.v = self._slots("v")

    def _update(self, index: int, param: tf.Variable, grad: tf.Tensor, *, lr: tf.Tensor, weight_decay: float,
                step: tf.Tensor) -> None:
        new_param, m, v = adamw_update(param, grad, self.m[index], self.v[index], lr=lr, beta1=self.beta1,
                                       beta2=self.beta2, eps=self.eps, weight_decay=weight_decay, step=step,
                                       bias_correction=self.bias_correction)
        param.assign(new_param)
        self.m[index].assign(m)
        self.v[index].assign(v)

"""SGD with momentum, Nesterov and L2 weight decay, as torch.optim.SGD computes it.

`sgd_update` is the pure update of one tensor; the `SGD` module owns the momentum buffers (created in
`__init__`, only when momentum > 0) and the shared step counter and learning rate (`Optimizer`).
"""

from collections.abc import Sequence

import tensorflow as tf

from tfft.optim.adamw import LearningRate, Optimizer


def sgd_update(param: tf.Tensor, grad: tf.Tensor, buf: tf.Tensor | None, *, lr: tf.Tensor | float, momentum: float,
               nesterov: bool, weight_decay: float, dampening: float = 0.0,
               first_step: tf.Tensor | bool) -> tuple[tf.Tensor, tf.Tensor | None]:
    """One SGD update of one tensor; returns (param, buf). `buf` is None (and stays None) when momentum is 0.

    torch's `_single_tensor_sgd`: weight decay is L2 added to the gradient (not decoupled as in AdamW); the
    momentum buffer starts as the first gradient itself (torch creates it by cloning the gradient, so dampening
    does not apply to it) and is buf * momentum + (1 - dampening) * grad afterwards; Nesterov steps along
    grad + momentum * buf. `first_step` is a (scalar bool) tensor so the same graph serves every step.
    """
    if weight_decay:
        grad = grad + weight_decay * param
    if momentum:
        buf = tf.where(first_step, grad, buf * momentum + (1.0 - dampening) * grad)
        grad = grad + momentum * buf if nesterov else buf
    return param - lr * grad, buf


class SGD(Optimizer):
    """torch.optim.SGD over `variables`; `decay[i]` False (default: `decay_mask`) gives variable i no weight decay."""

    def __init__(self, variables: Sequence[tf.Variable], *, learning_rate: LearningRate, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0,
                 decay: Sequence[bool] | None = None, lr_scale: Sequence[float] | None = None, name: str | None = None):
        if momentum < 0:
            raise ValueError(f"momentum={momentum} must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov needs momentum > 0 and dampening 0 (as in torch); got momentum={momentum}, "
                             f"dampening={dampening}")
        super().__init__(variables, learning_rate=learning_rate, weight_decay=weight_decay, decay=decay, name=name,
                         lr_scale=lr_scale)
        self.momentum, self.nesterov, self.dampening = momentum, nesterov, dampening
        self.momentum_buffers = self._slots("momentum") if momentum > 0 else ()

    def _update(self, index: int, param: tf.Variable, grad: tf.Tensor, *, lr: tf.Tensor, weight_decay: float,
                step: tf.Tensor) -> None:
        buf = self.momentum_buffers[index] if self.momentum_buffers else None
        new_param, new_buf = sgd_update(param, grad, buf, lr=lr, momentum=self.momentum, nesterov=self.nesterov,
                                        weight_decay=weight_decay, dampening=self.dampening,
                                        first_step=tf.equal(step, 1))
        param.assign(new_param)
        if buf is not None:
            buf.assign(new_buf)

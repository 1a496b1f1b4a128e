"""The three models of the sequence-model study, each `model(x, mask) -> [B]` on a batch padded to the data set's
longest length.

Dimension legend: B batch, L the longest length, S the shortest length in the data set, F features per step,
H units.

- `rnn`: the vanilla (Elman) RNN of tfft/models/recurrent.py, one tanh cell whose weights every step shares,
  h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) from h_0 = 0, written out step by step (tf.scan, no library
  RNN layer); padded steps carry the state unchanged, so the state after each sequence's last real step feeds a
  linear head.
- `ffn_truncated`: a feed-forward network on the first S steps of every sequence, flattened to S*F numbers
  (`ffn_truncated_last`: the last S real steps instead). Every sequence has at least S steps, so no padding
  reaches it, and whatever comes after is cut off.
- `ffn_padded`: a feed-forward network on all L steps, flattened, with the mask: padded steps are zeroed before
  the first layer and the mask itself is L more inputs, so the network knows where each sequence ends and the
  values at padded steps reach neither the output nor any gradient.

The feed-forward layers are torch.nn.Linear's (weights and biases uniform in +-1/sqrt(inputs)) with ReLU between.
"""

import math
from collections.abc import Sequence

import tensorflow as tf

from tfft.models.recurrent import Cell

MODELS = ("rnn", "ffn_truncated", "ffn_padded", "ffn_truncated_last")
DEFAULT_MODELS = MODELS[:3]
DESCRIPTIONS = {
    "rnn": "vanilla RNN, weights shared across steps, masked",
    "ffn_truncated": "feed-forward on the first {shortest} steps (the shortest length)",
    "ffn_truncated_last": "feed-forward on the last {shortest} steps of each sequence",
    "ffn_padded": "feed-forward on all {longest} steps, padding masked, mask as input",
}


class Mlp(tf.Module):
    """x [B, I] -> [B]: Linear layers of `hidden` widths with ReLU between, then one output."""

    def __init__(self, in_dim: int, hidden: Sequence[int], *, rng: tf.random.Generator, name: str | None = None):
        super().__init__(name=name)
        widths = [in_dim, *hidden, 1]
        self.kernels, self.biases = [], []
        for index, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
            bound = 1.0 / math.sqrt(fan_in)
            self.kernels.append(tf.Variable(rng.uniform([fan_in, fan_out], -bound, bound), name=f"kernel_{index}"))
            self.biases.append(tf.Variable(rng.uniform([fan_out], -bound, bound), name=f"bias_{index}"))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            x = tf.matmul(x, kernel) + bias  # [B, width]
            if index < len(self.kernels) - 1:
                x = tf.nn.relu(x)
        return x[:, 0]  # [B]


class RnnRegressor(tf.Module):
    def __init__(self, features: int, units: int, *, rng: tf.random.Generator):
        super().__init__(name="rnn")
        self.cell = Cell("rnn", features, units, rng=rng, compute_dtype=tf.float32, name="cell")
        self.head = Mlp(units, (), rng=rng, name="head")

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """x [B, L, F], mask [B, L] -> [B]."""
        _, last = self.cell(x, mask)  # [B, H]: the state after each row's last real step
        return self.head(last)


class TruncatedFfn(tf.Module):
    """`keep`: "first" (the first `shortest` steps) or "last" (each row's last `shortest` real steps)."""

    def __init__(self, features: int, shortest: int, hidden: Sequence[int], *, keep: str,
                 rng: tf.random.Generator):
        super().__init__(name=f"ffn_truncated_{keep}")
        if keep not in ("first", "last"):
            raise ValueError(f"keep={keep!r}: expected 'first' or 'last'")
        self.shortest, self.keep = shortest, keep
        self.mlp = Mlp(shortest * features, hidden, rng=rng, name="mlp")

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """x [B, L, F], mask [B, L] with at least `shortest` ones per row -> [B]."""
        if self.keep == "last":  # reverse each row within its length, keep its first steps, restore their order
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
            x = tf.reverse(tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)[:, :self.shortest], axis=[1])
        kept = x[:, :self.shortest]  # [B, S, F]
        return self.mlp(tf.reshape(kept, [tf.shape(x)[0], -1]))  # [B, S*F] -> [B]


class PaddedFfn(tf.Module):
    def __init__(self, features: int, longest: int, hidden: Sequence[int], *, rng: tf.random.Generator):
        super().__init__(name="ffn_padded")
        self.mlp = Mlp(longest * (features + 1), hidden, rng=rng, name="mlp")

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """x [B, L, F], mask [B, L] -> [B]."""
        mask = tf.cast(mask, tf.float32)
        x = x * mask[:, :, tf.newaxis]  # [B, L, F], 0 at padding whatever it held
        flat = tf.reshape(x, [tf.shape(x)[0], -1])  # [B, L*F]
        return self.mlp(tf.concat([flat, mask], axis=1))  # [B, L*(F+1)] -> [B]


def make_model(name: str, *, features: int, shortest: int, longest: int, rnn_units: int,
               ffn_hidden: Sequence[int], seed: int) -> tf.Module:
    rng = tf.random.Generator.from_seed(seed)
    if name == "rnn":
        return RnnRegressor(features, rnn_units, rng=rng)
    if name in ("ffn_truncated", "ffn_truncated_last"):
        return TruncatedFfn(features, shortest, ffn_hidden, keep="last" if name.endswith("last") else "first",
                            rng=rng)
    if name == "ffn_padded":
        return PaddedFfn(features, longest, ffn_hidden, rng=rng)
    raise ValueError(f"model {name!r} is not one of {MODELS}")


def parameter_count(model: tf.Module) -> int:
    return sum(int(v.shape.num_elements()) for v in model.trainable_variables)

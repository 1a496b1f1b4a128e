"""Hand-written recurrent layers (Elman RNN, GRU, LSTM) over padded encoder token states.

Dimension legend: B batch, L length, I input width, H units, G gates (1 rnn, 3 gru, 4 lstm),
D directions (1, or 2 when bidirectional).

The cells follow PyTorch's equations and gate order exactly (torch.nn.RNN with tanh, torch.nn.GRU,
torch.nn.LSTM), with x_t the input, h the previous state and both biases as torch keeps them:
    rnn:  h' = tanh(W_ih x_t + b_ih + W_hh h + b_hh)
    gru:  r, z = sigmoid(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h + b_h{r,z})
          n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h
    lstm: i, f, o = sigmoid(W_i{i,f,o} x_t + b_i{i,f,o} + W_h{i,f,o} h + b_h{i,f,o})
          g = tanh(W_ig x_t + b_ig + W_hg h + b_hg);   c' = f * c + i * g;   h' = o * tanh(c')
The variables are torch's transposed: `input_kernel` [I, G*H] = weight_ih_l0.T, `recurrent_kernel`
[H, G*H] = weight_hh_l0.T, `input_bias` and `recurrent_bias` [G*H], gate blocks in the order above.

The input projection of every time step is one matmul in `compute_dtype`; only the recurrent part runs
step by step (`tf.scan`, float32). A padded step carries the state unchanged, so `last` is the state after
the last valid token, as torch's h_n with pack_padded_sequence, and trailing padding changes nothing.
"""

import math

import tensorflow as tf

from tfft.models.layers import check_compute_dtype

KINDS = ("rnn", "gru", "lstm")
POOLINGS = ("last", "mean", "max")

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class Cell(tf.Module):
    """One direction of one recurrent layer: runs left to right over a padded batch."""

    def __init__(self, kind: str, input_size: int, units: int, *, rng: tf.random.Generator,
                 compute_dtype: tf.DType, name: str | None = None):
        super().__init__(name=name)
        if kind not in KINDS:
            raise ValueError(f"recurrent kind {kind!r} is not supported; expected one of {KINDS}")
        self.kind = kind
        self.units = units
        self.compute_dtype = check_compute_dtype(compute_dtype)
        width = _GATES[kind] * units
        bound = 1.0 / math.sqrt(units)  # torch's init for every RNN weight and bias
        self.input_kernel = tf.Variable(rng.uniform([input_size, width], -bound, bound), name="input_kernel")
        self.recurrent_kernel = tf.Variable(rng.uniform([units, width], -bound, bound), name="recurrent_kernel")
        self.input_bias = tf.Variable(rng.uniform([width], -bound, bound), name="input_bias")
        self.recurrent_bias = tf.Variable(rng.uniform([width], -bound, bound), name="recurrent_bias")

    def _step(self, state, xw: tf.Tensor):
        """state: h [B, H] (lstm: (h, c)); xw: this step's input projection [B, G*H] -> the next state."""
        h = state[0] if self.kind == "lstm" else state
        hw = tf.matmul(h, self.recurrent_kernel) + self.recurrent_bias  # [B, G*H]
        if self.kind == "rnn":
            return tf.math.tanh(xw + hw)
        if self.kind == "gru":
            x_r, x_z, x_n = tf.split(xw, 3, axis=-1)  # 3 x [B, H]
            h_r, h_z, h_n = tf.split(hw, 3, axis=-1)
            r = tf.math.sigmoid(x_r + h_r)
            z = tf.math.sigmoid(x_z + h_z)
            n = tf.math.tanh(x_n + r * h_n)
            return (1.0 - z) * n + z * h
        i, f, g, o = tf.split(xw + hw, 4, axis=-1)  # 4 x [B, H]
        c = tf.math.sigmoid(f) * state[1] + tf.math.sigmoid(i) * tf.math.tanh(g)
        return tf.math.sigmoid(o) * tf.math.tanh(c), c

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """x [B, L, I]; mask [B, L] (prefix of ones) -> outputs [B, L, H] float32 (0 at padding), last [B, H]."""
        x = tf.cast(x, self.compute_dtype)
        xw = tf.tensordot(x, tf.cast(self.input_kernel, self.compute_dtype), axes=1)  # [B, L, G*H]
        xw = tf.cast(xw, tf.float32) + self.input_bias
        xw = tf.transpose(xw, [1, 0, 2])  # [L, B, G*H]
        keep = tf.transpose(tf.cast(mask, tf.bool))[:, :, tf.newaxis]  # [L, B, 1]

        def step(state, inputs):
            xw_t, keep_t = inputs
            new = self._step(state, xw_t)
            return tf.nest.map_structure(lambda n, s: tf.where(keep_t, n, s), new, state)

        h0 = tf.zeros([tf.shape(x)[0], self.units])  # [B, H]
        states = tf.scan(step, (xw, keep), initializer=(h0, h0) if self.kind == "lstm" else h0)
        hs = states[0] if self.kind == "lstm" else states  # [L, B, H]
        outputs = tf.where(keep, hs, 0.0)  # [L, B, H]
        return tf.transpose(outputs, [1, 0, 2]), hs[-1]  # [B, L, H], [B, H]


class Recurrent(tf.Module):
    """A single recurrent layer, optionally bidirectional, over a right-padded batch.

    `__call__` returns outputs [B, L, D*H] (zeros at padding) and `last` [B, D*H] = torch's h_n with
    pack_padded_sequence, directions concatenated [forward, backward]; both float32. The backward cell reads
    each row's valid tokens in reverse (`tf.reverse_sequence` within the row's length), so its `last` is its
    output at position 0.
    """

    def __init__(self, kind: str, input_size: int, units: int, *, bidirectional: bool, rng: tf.random.Generator,
                 compute_dtype: tf.DType = tf.float32, name: str | None = None):
        super().__init__(name=name)
        self.forward = Cell(kind, input_size, units, rng=rng, compute_dtype=compute_dtype, name="forward")
        self.backward = (Cell(kind, input_size, units, rng=rng, compute_dtype=compute_dtype, name="backward")
                         if bidirectional else None)

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """x [B, L, I] any float dtype; mask [B, L] int or bool, each row a prefix of ones."""
        outputs, last = self.forward(x, mask)  # [B, L, H], [B, H]
        if self.backward is None:
            return outputs, last
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
        reversed_x = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)  # [B, L, I]
        back_outputs, back_last = self.backward(reversed_x, mask)
        back_outputs = tf.reverse_sequence(back_outputs, lengths, seq_axis=1, batch_axis=0)  # [B, L, H]
        return tf.concat([outputs, back_outputs], axis=-1), tf.concat([last, back_last], axis=-1)  # [B, L, 2H], [B, 2H]


def pool(outputs: tf.Tensor, last: tf.Tensor, mask: tf.Tensor, how: str) -> tf.Tensor:
    """outputs [B, L, D*H], last [B, D*H], mask [B, L] -> [B, D*H] float32; a row with no valid token gives 0."""
    if how not in POOLINGS:
        raise ValueError(f"pooling {how!r} is not supported; expected one of {POOLINGS}")
    if how == "last":
        return last
    keep = tf.cast(mask, tf.bool)[:, :, tf.newaxis]  # [B, L, 1]
    count = tf.reduce_sum(tf.cast(keep, tf.float32), axis=1)  # [B, 1]
    if how == "mean":
        return tf.reduce_sum(tf.where(keep, outputs, 0.0), axis=1) / tf.maximum(count, 1.0)
    largest = tf.reduce_max(tf.where(keep, outputs, tf.float32.min), axis=1)  # [B, D*H]
    return tf.where(count > 0.0, largest, 0.0)

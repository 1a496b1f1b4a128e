"""Building blocks shared by every encoder family: dense, layer norm, embedding, dropout, activations.

Dimension legend: B batch, S sequence length, I input width, O output width.

Mixed precision without Keras: every variable is float32 (the master weights an optimizer updates).
`Dense` casts its input and kernel to the model's `compute_dtype` (float32, bfloat16 or float16) and
returns that dtype; `LayerNorm` always normalises in float32 and returns float32, so the residual
stream between blocks stays float32 and only the matmuls run at reduced precision.
"""

from collections.abc import Callable

import tensorflow as tf

from tfft.models.config import ConfigError

# Hugging Face's initialiser for every Linear and Embedding (`initializer_range` in the configs).
INIT_STD = 0.02

# The `hidden_act` / `activation` names Hugging Face uses (transformers/activations.py ACT2FN).
ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "tanh": tf.math.tanh,
}

COMPUTE_DTYPES = (tf.float32, tf.bfloat16, tf.float16)


def check_activation(name: str, field: str) -> None:
    """Fails at config time, not at the first forward pass, on an activation we do not implement."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"config field {field}={name!r} is not supported; expected one of {sorted(ACTIVATIONS)}")


def check_compute_dtype(dtype: tf.DType) -> tf.DType:
    dtype = tf.as_dtype(dtype)
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype={dtype.name} is not supported; expected float32, bfloat16 or float16")
    return dtype


class Dense(tf.Module):
    """y = x @ kernel + bias, computed in `compute_dtype`. The kernel is [I, O], i.e. PyTorch's weight transposed.

    `adapter`: a LoRA adapter (tfft/models/lora.py) attached to a frozen projection adds its low-rank update."""

    def __init__(self, in_dim: int, out_dim: int, *, rng: tf.random.Generator, compute_dtype: tf.DType,
                 use_bias: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.compute_dtype = compute_dtype
        self.kernel = tf.Variable(rng.normal([in_dim, out_dim], stddev=INIT_STD), name="kernel")
        self.bias = tf.Variable(tf.zeros([out_dim]), name="bias") if use_bias else None
        self.adapter = None

    def __call__(self, x: tf.Tensor, *, training: bool = False, seed: tf.Tensor | None = None) -> tf.Tensor:
        """`training` and `seed` (the calling block's dropout seed) serve the adapter's dropout, when one is attached."""
        x = tf.cast(x, self.compute_dtype)
        # [..., I] @ [I, O] -> [..., O]; one 2-D matmul is the fastest path on CPU and GPU.
        y = tf.tensordot(x, tf.cast(self.kernel, self.compute_dtype), axes=1)
        if self.bias is not None:
            y = y + tf.cast(self.bias, self.compute_dtype)
        if self.adapter is not None:
            y = y + self.adapter(x, training=training, seed=seed)
        return y


class LayerNorm(tf.Module):
    """LayerNorm over the last axis in float32 (biased variance, as torch.nn.LayerNorm); returns float32."""

    def __init__(self, dim: int, *, eps: float, name: str | None = None):
        super().__init__(name=name)
        self.eps = eps
        self.gamma = tf.Variable(tf.ones([dim]), name="gamma")
        self.beta = tf.Variable(tf.zeros([dim]), name="beta")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        x = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + self.eps) * self.gamma + self.beta


class Embedding(tf.Module):
    """A lookup table [V, H] in float32; `trainable=False` for fixed (sinusoidal) tables."""

    def __init__(self, num: int, dim: int, *, rng: tf.random.Generator, initial_value=None,
                 trainable: bool = True, name: str | None = None):
        super().__init__(name=name)
        if initial_value is None:
            initial_value = rng.normal([num, dim], stddev=INIT_STD)
        self.table = tf.Variable(initial_value, trainable=trainable, dtype=tf.float32, name="table")

    def __call__(self, ids: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.table, ids)


class Dropout(tf.Module):
    """Dropout driven by the model's own `tf.random.Generator`.

    The generator's state is a variable that checkpoints with the model, so a resumed run draws the same
    masks as an uninterrupted one; stateless dropout also compiles under XLA.
    """

    def __init__(self, rate: float, *, rng: tf.random.Generator, name: str | None = None):
        super().__init__(name=name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.rng = rng

    def __call__(self, x: tf.Tensor, *, training: bool, seed: tf.Tensor | None = None) -> tf.Tensor:
        """`seed` ([2] int64) replays a mask drawn before (a recomputed block); by default one is drawn here."""
        if not training or self.rate == 0.0:
            return x
        if seed is None:
            seed = self.rng.make_seeds(1)[:, 0]
        return tf.nn.experimental.stateless_dropout(x, rate=self.rate, seed=seed)


class Classifier(tf.Module):
    """dropout -> linear -> float32 logits: the last layer of every Hugging Face classification head."""

    def __init__(self, in_dim: int, num_labels: int, dropout: float, *, rng: tf.random.Generator,
                 compute_dtype: tf.DType, name: str | None = None):
        super().__init__(name=name)
        self.dropout = Dropout(dropout, rng=rng)
        self.dense = Dense(in_dim, num_labels, rng=rng, compute_dtype=compute_dtype, name="dense")

    def __call__(self, x: tf.Tensor, *, training: bool) -> tf.Tensor:
        return tf.cast(self.dense(self.dropout(x, training=training)), tf.float32)  # [..., C]


class VocabProjection(tf.Module):
    """Hidden states -> vocabulary logits (float32), for masked-LM heads.

    As in Hugging Face, the weight is the word-embedding table itself when `tied` (checkpoints then omit
    the decoder weight); otherwise it is a separate [V, H] variable. The bias is always separate.
    """

    def __init__(self, embedding: Embedding, *, tied: bool, rng: tf.random.Generator, compute_dtype: tf.DType,
                 name: str | None = None):
        super().__init__(name=name)
        vocab, hidden = embedding.table.shape
        self.compute_dtype = compute_dtype
        self.embedding = embedding if tied else None
        self.weight = None if tied else tf.Variable(rng.normal([vocab, hidden], stddev=INIT_STD), name="weight")
        self.bias = tf.Variable(tf.zeros([vocab]), name="bias")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        weight = self.embedding.table if self.embedding is not None else self.weight  # [V, H]
        x = tf.cast(x, self.compute_dtype)
        logits = tf.tensordot(x, tf.cast(weight, self.compute_dtype), axes=[[-1], [1]])  # [B, S, V]
        return tf.cast(logits, tf.float32) + self.bias


def check_length(input_ids: tf.Tensor, max_positions: int) -> None:
    """A static check: beyond the position table, tf.gather errors on CPU but silently gives zeros on GPU."""
    length = input_ids.shape[1]
    if length is not None and length > max_positions:
        raise ValueError(f"sequence length {length} exceeds the model's max_position_embeddings={max_positions}; "
                         f"truncate inputs to at most {max_positions} tokens")

"""The post-norm transformer block that DistilBERT and BERT share, and the stack of them.

Dimension legend: B batch, S sequence (queries), T sequence (keys), H hidden width, N heads,
D head width (H = N * D), F feed-forward width.

Both families compute, per block:
    a = LayerNorm(x + Dropout_a(Attention(x)))
    y = LayerNorm(a + Dropout(W2 act(W1 a)))
They differ only in names (mapped in tfft/checkpoints/names.py) and in Dropout_a: BERT drops out the
attention output (BertSelfOutput), DistilBERT does not (its TransformerBlock adds out_lin directly).
"""

from typing import NamedTuple

import tensorflow as tf

from tfft.models.layers import ACTIVATIONS, Dense, Dropout, LayerNorm

# Added to the attention scores of padded keys. The scores are float32 here for every compute dtype, so
# -1e9 is safe (it would overflow float16, transformers#10484) and gives exactly 0 after softmax.
MASK_VALUE = -1e9


class SelfAttention(tf.Module):
    """Multi-head self-attention with a key padding mask; softmax in float32."""

    def __init__(self, hidden: int, num_heads: int, dropout: float, *, rng: tf.random.Generator,
                 compute_dtype: tf.DType, name: str | None = None):
        super().__init__(name=name)
        if hidden % num_heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of the number of attention heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.compute_dtype = compute_dtype
        self.query = Dense(hidden, hidden, rng=rng, compute_dtype=compute_dtype, name="query")
        self.key = Dense(hidden, hidden, rng=rng, compute_dtype=compute_dtype, name="key")
        self.value = Dense(hidden, hidden, rng=rng, compute_dtype=compute_dtype, name="value")
        self.output = Dense(hidden, hidden, rng=rng, compute_dtype=compute_dtype, name="output")
        self.dropout = Dropout(dropout, rng=rng)

    def _split_heads(self, x: tf.Tensor) -> tf.Tensor:
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        x = tf.reshape(x, [batch, length, self.num_heads, self.head_dim])  # [B, S, N, D]
        return tf.transpose(x, [0, 2, 1, 3])  # [B, N, S, D]

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor, *, training: bool,
                 seed: tf.Tensor | None = None) -> tf.Tensor:
        """x: [B, S, H]; mask_bias: [B, 1, 1, T] float32 (0 for real tokens, MASK_VALUE for padding); `seed`: the
        attention dropout's (Dropout)."""
        project = dict(training=training, seed=seed)  # for the projections' LoRA adapters, if any (their dropout)
        # Scale the queries before the product (not the scores after) so float16 scores cannot overflow.
        # Heads-first layout and plain batched matmuls: ~4% faster on CPU than einsum over [B, S, N, D] (tfft.bench).
        scale = tf.cast(self.head_dim ** -0.5, self.compute_dtype)
        q = self._split_heads(self.query(x, **project) * scale)  # [B, N, S, D]
        k = self._split_heads(self.key(x, **project))  # [B, N, T, D]
        v = self._split_heads(self.value(x, **project))  # [B, N, T, D]
        scores = tf.matmul(q, k, transpose_b=True)  # [B, N, S, T]
        probs = tf.nn.softmax(tf.cast(scores, tf.float32) + mask_bias, axis=-1)  # [B, N, S, T] float32
        probs = self.dropout(probs, training=training, seed=seed)
        context = tf.matmul(tf.cast(probs, self.compute_dtype), v)  # [B, N, S, D]
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        context = tf.transpose(context, [0, 2, 1, 3])  # [B, S, N, D]
        context = tf.reshape(context, [batch, length, self.num_heads * self.head_dim])  # [B, S, H]
        return self.output(context, **project)


class TransformerBlock(tf.Module):
    """One post-norm encoder block (see the module docstring for the formula)."""

    def __init__(self, *, hidden: int, num_heads: int, ffn_dim: int, activation: str, layer_norm_eps: float,
                 dropout: float, attention_dropout: float, attention_output_dropout: float,
                 rng: tf.random.Generator, compute_dtype: tf.DType, name: str | None = None):
        super().__init__(name=name)
        self.rng = rng
        self.attention = SelfAttention(hidden, num_heads, attention_dropout, rng=rng,
                                       compute_dtype=compute_dtype, name="attention")
        self.attention_dropout = Dropout(attention_output_dropout, rng=rng)
        self.attention_norm = LayerNorm(hidden, eps=layer_norm_eps, name="attention_norm")
        self.ffn_in = Dense(hidden, ffn_dim, rng=rng, compute_dtype=compute_dtype, name="ffn_in")
        self.activation = ACTIVATIONS[activation]
        self.ffn_out = Dense(ffn_dim, hidden, rng=rng, compute_dtype=compute_dtype, name="ffn_out")
        self.ffn_dropout = Dropout(dropout, rng=rng)
        self.output_norm = LayerNorm(hidden, eps=layer_norm_eps, name="output_norm")

    def dropout_seeds(self) -> tf.Tensor:
        """[2, 3]: a stateless seed for each of the block's three dropouts, from the model's generator."""
        return self.rng.make_seeds(3)

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor, *, training: bool,
                 seeds: tf.Tensor | None = None) -> tf.Tensor:
        """x: [B, S, H] float32 -> [B, S, H] float32. `seeds` (from `dropout_seeds`) replays the dropout masks of an
        earlier call: a recomputed block (`run_blocks`) must drop exactly what its forward pass dropped."""
        if training and seeds is None:
            seeds = self.dropout_seeds()
        seed = (lambda i: None) if seeds is None else (lambda i: seeds[:, i])  # noqa: E731
        a = self.attention(x, mask_bias, training=training, seed=seed(0))
        a = self.attention_norm(x + tf.cast(self.attention_dropout(a, training=training, seed=seed(1)), tf.float32))
        project = dict(training=training, seed=seed(2))  # for the projections' LoRA adapters, if any
        h = self.activation(self.ffn_in(a, **project))  # [B, S, F]
        h = self.ffn_dropout(self.ffn_out(h, **project), training=training, seed=seed(2))  # [B, S, H]
        return self.output_norm(a + tf.cast(h, tf.float32))


class EncoderOutput(NamedTuple):
    last_hidden_state: tf.Tensor  # [B, S, H] float32
    hidden_states: tuple[tf.Tensor, ...] | None  # embeddings output + every block's output, when asked for
    pooled: tf.Tensor | None = None  # [B, H]: BERT's tanh pooler over [CLS], when the model has one


def padding_bias(attention_mask: tf.Tensor) -> tf.Tensor:
    """attention_mask [B, T] (1 real, 0 padding) -> additive bias [B, 1, 1, T] float32."""
    keep = tf.cast(attention_mask, tf.float32)[:, tf.newaxis, tf.newaxis, :]  # [B, 1, 1, T]
    return (1.0 - keep) * MASK_VALUE


def run_blocks(blocks, embedded: tf.Tensor, attention_mask: tf.Tensor, *, training: bool,
               output_hidden_states: bool, recompute: bool = False) -> tuple[tf.Tensor, tuple[tf.Tensor, ...] | None]:
    """Runs the blocks over the embeddings; returns the last state and, on request, every state.

    `recompute` (gradient checkpointing, training only): each block keeps only its input for the backward pass
    and runs again there (tf.recompute_grad), so activation memory holds one block's activations, not every
    block's; the dropout seeds are drawn first and passed in, so the second run drops exactly the same units."""
    mask_bias = padding_bias(attention_mask)
    x = embedded
    states = [x]
    for block in blocks:
        if recompute and training:
            seeds = block.dropout_seeds()  # drawn once, captured: the forward pass and its replay use the same

            def replay(x, block=block, seeds=seeds):
                return block(x, mask_bias, training=True, seeds=seeds)

            x = tf.recompute_grad(replay)(x)
        else:
            x = block(x, mask_bias, training=training)
        states.append(x)
    return x, tuple(states) if output_hidden_states else None

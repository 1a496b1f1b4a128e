"""DistilBERT (Sanh et al. 2019) as plain tf.Modules, laid out like Hugging Face's so Hub checkpoints load.

Dimension legend: B batch, S sequence, H hidden (`dim`), V vocabulary, C classes (labels).

Reference: transformers/models/distilbert/modeling_distilbert.py. Differences from BERT that matter for
exact parity: no token-type embeddings, LayerNorm eps fixed at 1e-12, no dropout on the attention
output, optional fixed sinusoidal positions, and a pre_classifier + ReLU sequence-classification head.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tfft.models import config as config_io
from tfft.models.layers import (ACTIVATIONS, Classifier, Dense, Dropout, Embedding, LayerNorm, VocabProjection,
                                check_activation, check_compute_dtype, check_length)
from tfft.models.transformer import EncoderOutput, TransformerBlock, run_blocks

# DistilBERT hard-codes this eps in every LayerNorm (modeling_distilbert.py); it is not a config field.
LAYER_NORM_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class DistilBertConfig:
    """The fields of Hugging Face's DistilBertConfig that define the computation (same names, same defaults)."""

    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    seq_classif_dropout: float = 0.2
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
    id2label: tuple = ()  # label names by id; empty when the checkpoint has no classification head
    extra: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    model_type = "distilbert"

    def __post_init__(self):
        config_io.check_field_types(self)
        config_io.check_positive(self, "vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim",
                                 "hidden_dim")
        config_io.check_rates(self, "dropout", "attention_dropout", "seq_classif_dropout")
        check_activation(self.activation, "activation")
        if self.dim % self.n_heads:
            raise config_io.ConfigError(f"config: dim={self.dim} must be a multiple of n_heads={self.n_heads}")
        if self.sinusoidal_pos_embds and self.dim % 2:
            raise config_io.ConfigError(f"config: sinusoidal_pos_embds needs an even dim, got dim={self.dim}")

    @classmethod
    def from_dict(cls, raw: dict) -> "DistilBertConfig":
        return config_io.from_dict(cls, raw)

    def to_dict(self) -> dict:
        return config_io.to_dict(self)


def sinusoidal_table(num_positions: int, dim: int) -> np.ndarray:
    """Fixed positions of 'Attention is all you need': sin on even columns, cos on odd ones, as HF builds them."""
    positions = np.arange(num_positions)[:, None]
    rates = np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)[None, :]
    angles = positions / rates  # [P, H]
    table = np.zeros((num_positions, dim), dtype=np.float32)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table


class DistilBertEmbeddings(tf.Module):
    """word + position embeddings, LayerNorm, dropout."""

    def __init__(self, config: DistilBertConfig, *, rng: tf.random.Generator, name: str | None = None):
        super().__init__(name=name)
        self.max_positions = config.max_position_embeddings
        self.word = Embedding(config.vocab_size, config.dim, rng=rng, name="word")
        fixed = sinusoidal_table(config.max_position_embeddings, config.dim) if config.sinusoidal_pos_embds else None
        self.position = Embedding(config.max_position_embeddings, config.dim, rng=rng, initial_value=fixed,
                                  trainable=fixed is None, name="position")
        self.norm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, name="norm")
        self.dropout = Dropout(config.dropout, rng=rng)

    def __call__(self, input_ids: tf.Tensor, *, training: bool) -> tf.Tensor:
        check_length(input_ids, self.max_positions)
        positions = tf.range(tf.shape(input_ids)[1])  # [S]
        x = self.word(input_ids) + self.position(positions)[tf.newaxis]  # [B, S, H]
        return self.dropout(self.norm(x), training=training)


class DistilBertModel(tf.Module):
    """The encoder: embeddings and `n_layers` transformer blocks. Hugging Face's DistilBertModel."""

    def __init__(self, config: DistilBertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 rng: tf.random.Generator | None = None, name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.compute_dtype = check_compute_dtype(compute_dtype)
        self.rng = rng if rng is not None else tf.random.Generator.from_seed(seed)
        self.embeddings = DistilBertEmbeddings(config, rng=self.rng, name="embeddings")
        self.blocks = [
            TransformerBlock(hidden=config.dim, num_heads=config.n_heads, ffn_dim=config.hidden_dim,
                             activation=config.activation, layer_norm_eps=LAYER_NORM_EPS, dropout=config.dropout,
                             attention_dropout=config.attention_dropout, attention_output_dropout=0.0,
                             rng=self.rng, compute_dtype=self.compute_dtype, name=f"block_{i}")
            for i in range(config.n_layers)
        ]
        self.recompute = False  # gradient checkpointing of the blocks (tfft.models.enable_recompute)

    def __call__(self, input_ids: tf.Tensor, attention_mask: tf.Tensor, token_type_ids: tf.Tensor | None = None,
                 *, training: bool, output_hidden_states: bool = False) -> EncoderOutput:
        """input_ids, attention_mask: [B, S] -> last hidden state [B, S, H] float32.

        `token_type_ids` is accepted for a uniform signature and ignored: DistilBERT has no segment
        embeddings (its tokenizer does not return them either), exactly as in Hugging Face.
        """
        del token_type_ids
        x = self.embeddings(input_ids, training=training)  # [B, S, H]
        last, states = run_blocks(self.blocks, x, attention_mask, training=training,
                                  output_hidden_states=output_hidden_states, recompute=self.recompute)
        return EncoderOutput(last, states)


class DistilBertForSequenceClassification(tf.Module):
    """[CLS] state -> pre_classifier -> ReLU -> dropout(seq_classif_dropout) -> classifier. Logits [B, C] float32."""

    def __init__(self, config: DistilBertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = DistilBertModel(config, compute_dtype=compute_dtype, seed=seed, name="distilbert")
        rng, dtype = self.encoder.rng, self.encoder.compute_dtype
        self.pre_classifier = Dense(config.dim, config.dim, rng=rng, compute_dtype=dtype, name="pre_classifier")
        self.classifier = Classifier(config.dim, config_io.require_labels(config), config.seq_classif_dropout,
                                     rng=rng, compute_dtype=dtype, name="classifier")

    sequence_features = False

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, training=training).last_hidden_state[:, 0]  # [B, H]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        pooled = tf.nn.relu(self.pre_classifier(features))  # [B, H]
        return self.classifier(pooled, training=training)  # [B, C]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, training=training)
        return self.head_logits(features, attention_mask, training=training)


class DistilBertForTokenClassification(tf.Module):
    """Every token state -> dropout -> classifier. Logits [B, S, C] float32."""

    def __init__(self, config: DistilBertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = DistilBertModel(config, compute_dtype=compute_dtype, seed=seed, name="distilbert")
        self.classifier = Classifier(config.dim, config_io.require_labels(config), config.dropout,
                                     rng=self.encoder.rng, compute_dtype=self.encoder.compute_dtype, name="classifier")

    sequence_features = True

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, training=training).last_hidden_state  # [B, S, H]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        return self.classifier(features, training=training)  # [B, S, C]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, training=training)
        return self.head_logits(features, attention_mask, training=training)


class DistilBertForMaskedLM(tf.Module):
    """vocab_transform -> activation -> vocab_layer_norm -> vocab_projector (tied). Logits [B, S, V] float32."""

    def __init__(self, config: DistilBertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = DistilBertModel(config, compute_dtype=compute_dtype, seed=seed, name="distilbert")
        rng, dtype = self.encoder.rng, self.encoder.compute_dtype
        self.vocab_transform = Dense(config.dim, config.dim, rng=rng, compute_dtype=dtype, name="vocab_transform")
        self.activation = ACTIVATIONS[config.activation]
        self.vocab_layer_norm = LayerNorm(config.dim, eps=LAYER_NORM_EPS, name="vocab_layer_norm")
        self.vocab_projector = VocabProjection(self.encoder.embeddings.word, tied=config.tie_word_embeddings,
                                               rng=rng, compute_dtype=dtype, name="vocab_projector")

    sequence_features = True

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, training=training).last_hidden_state  # [B, S, H]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor | None, *, training: bool) -> tf.Tensor:
        """Token states [..., H] (all of them, or only the masked positions) -> vocabulary logits [..., V]."""
        del attention_mask, training  # the head scores each state on its own and has no dropout
        hidden = self.vocab_layer_norm(self.activation(self.vocab_transform(features)))  # [..., H] float32
        return self.vocab_projector(hidden)  # [..., V]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, training=training)
        return self.head_logits(features, attention_mask, training=training)  # [B, S, V]

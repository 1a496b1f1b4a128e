"""BERT-layout encoders (BERT, MiniLM, all-MiniLM-L6-v2, ...) as plain tf.Modules, laid out like Hugging Face's.

Dimension legend: B batch, S sequence, H hidden (`hidden_size`), V vocabulary, C classes (labels).

Reference: transformers/models/bert/modeling_bert.py (encoder-only: no decoder or cross-attention).
Differences from DistilBERT: token-type (segment) embeddings, a configurable LayerNorm eps, dropout on the
attention output, a tanh pooler over [CLS] for sequence classification, and the `cls.predictions` MLM head.
"""

import dataclasses

import tensorflow as tf

from tfft.models import config as config_io
from tfft.models.layers import (ACTIVATIONS, Classifier, Dense, Dropout, Embedding, LayerNorm, VocabProjection,
                                check_activation, check_compute_dtype, check_length)
from tfft.models.transformer import EncoderOutput, TransformerBlock, run_blocks


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of Hugging Face's BertConfig that define an encoder's computation (same names, same defaults)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    classifier_dropout: float | None = None
    position_embedding_type: str = "absolute"
    is_decoder: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = True
    id2label: tuple = ()  # label names by id; empty when the checkpoint has no classification head
    extra: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    model_type = "bert"

    def __post_init__(self):
        config_io.check_field_types(self)
        config_io.check_positive(self, "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                 "intermediate_size", "max_position_embeddings", "type_vocab_size",
                                 "layer_norm_eps")
        config_io.check_rates(self, "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
        check_activation(self.hidden_act, "hidden_act")
        if self.hidden_size % self.num_attention_heads:
            raise config_io.ConfigError(f"config: hidden_size={self.hidden_size} must be a multiple of "
                                        f"num_attention_heads={self.num_attention_heads}")
        if self.position_embedding_type != "absolute":
            raise config_io.ConfigError(f"config: position_embedding_type={self.position_embedding_type!r} is not "
                                        "supported; tfft implements 'absolute' position embeddings only")
        if self.is_decoder or self.add_cross_attention:
            raise config_io.ConfigError("config: is_decoder / add_cross_attention describe a BERT decoder; "
                                        "tfft loads encoders only")

    @classmethod
    def from_dict(cls, raw: dict) -> "BertConfig":
        return config_io.from_dict(cls, raw)

    def to_dict(self) -> dict:
        return config_io.to_dict(self)

    @property
    def head_dropout(self) -> float:
        """BERT's classifiers use classifier_dropout when set, else hidden_dropout_prob (as in Hugging Face)."""
        return self.hidden_dropout_prob if self.classifier_dropout is None else self.classifier_dropout


class BertEmbeddings(tf.Module):
    """word + position + token-type embeddings, LayerNorm, dropout."""

    def __init__(self, config: BertConfig, *, rng: tf.random.Generator, name: str | None = None):
        super().__init__(name=name)
        self.max_positions = config.max_position_embeddings
        self.word = Embedding(config.vocab_size, config.hidden_size, rng=rng, name="word")
        self.position = Embedding(config.max_position_embeddings, config.hidden_size, rng=rng, name="position")
        self.token_type = Embedding(config.type_vocab_size, config.hidden_size, rng=rng, name="token_type")
        self.norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, name="norm")
        self.dropout = Dropout(config.hidden_dropout_prob, rng=rng)

    def __call__(self, input_ids: tf.Tensor, token_type_ids: tf.Tensor | None, *, training: bool) -> tf.Tensor:
        check_length(input_ids, self.max_positions)
        if token_type_ids is None:
            token_type_ids = tf.zeros_like(input_ids)
        positions = tf.range(tf.shape(input_ids)[1])  # [S]
        x = self.word(input_ids) + self.token_type(token_type_ids) + self.position(positions)[tf.newaxis]  # [B, S, H]
        return self.dropout(self.norm(x), training=training)


class BertModel(tf.Module):
    """The encoder: embeddings, `num_hidden_layers` blocks, and optionally the tanh pooler over [CLS]."""

    def __init__(self, config: BertConfig, *, add_pooler: bool = True, compute_dtype: tf.DType = tf.float32,
                 seed: int = 0, rng: tf.random.Generator | None = None, name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.compute_dtype = check_compute_dtype(compute_dtype)
        self.rng = rng if rng is not None else tf.random.Generator.from_seed(seed)
        self.embeddings = BertEmbeddings(config, rng=self.rng, name="embeddings")
        self.blocks = [
            TransformerBlock(hidden=config.hidden_size, num_heads=config.num_attention_heads,
                             ffn_dim=config.intermediate_size, activation=config.hidden_act,
                             layer_norm_eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
                             attention_dropout=config.attention_probs_dropout_prob,
                             attention_output_dropout=config.hidden_dropout_prob,
                             rng=self.rng, compute_dtype=self.compute_dtype, name=f"block_{i}")
            for i in range(config.num_hidden_layers)
        ]
        self.pooler = (Dense(config.hidden_size, config.hidden_size, rng=self.rng, compute_dtype=self.compute_dtype,
                             name="pooler") if add_pooler else None)
        self.recompute = False  # gradient checkpointing of the blocks (tfft.models.enable_recompute)

    def __call__(self, input_ids: tf.Tensor, attention_mask: tf.Tensor, token_type_ids: tf.Tensor | None = None,
                 *, training: bool, output_hidden_states: bool = False) -> EncoderOutput:
        """input_ids, attention_mask, token_type_ids (None: all segment 0): [B, S] -> [B, S, H] float32."""
        x = self.embeddings(input_ids, token_type_ids, training=training)  # [B, S, H]
        last, states = run_blocks(self.blocks, x, attention_mask, training=training,
                                  output_hidden_states=output_hidden_states, recompute=self.recompute)
        pooled = None
        if self.pooler is not None:
            pooled = tf.cast(tf.math.tanh(self.pooler(last[:, 0])), tf.float32)  # [B, H]
        return EncoderOutput(last, states, pooled)


class BertForSequenceClassification(tf.Module):
    """Pooled [CLS] -> dropout -> classifier. Logits [B, C] float32."""

    def __init__(self, config: BertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = BertModel(config, add_pooler=True, compute_dtype=compute_dtype, seed=seed, name="bert")
        self.classifier = Classifier(config.hidden_size, config_io.require_labels(config), config.head_dropout,
                                     rng=self.encoder.rng, compute_dtype=self.encoder.compute_dtype, name="classifier")

    sequence_features = False

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, token_type_ids, training=training).pooled  # [B, H]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        return self.classifier(features, training=training)  # [B, C]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, token_type_ids, training=training)
        return self.head_logits(features, attention_mask, training=training)


class BertForTokenClassification(tf.Module):
    """Every token state -> dropout -> classifier (no pooler, as in Hugging Face). Logits [B, S, C] float32."""

    def __init__(self, config: BertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = BertModel(config, add_pooler=False, compute_dtype=compute_dtype, seed=seed, name="bert")
        self.classifier = Classifier(config.hidden_size, config_io.require_labels(config), config.head_dropout,
                                     rng=self.encoder.rng, compute_dtype=self.encoder.compute_dtype, name="classifier")

    sequence_features = True

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, token_type_ids, training=training).last_hidden_state  # [B,S,H]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        return self.classifier(features, training=training)  # [B, S, C]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, token_type_ids, training=training)
        return self.head_logits(features, attention_mask, training=training)


class BertForMaskedLM(tf.Module):
    """cls.predictions: transform.dense -> activation -> transform.LayerNorm -> decoder (tied) + bias. [B, S, V].

    The encoder keeps its pooler, unused and never trained (`carried_variables`): continued pretraining then
    saves the checkpoint's pooler with the adapted encoder (as bert-base-uncased's own checkpoint holds both),
    so a classifier fine-tuned from the result starts from the same pooler as one fine-tuned from the original.
    Hugging Face's BertForMaskedLM has no pooler and leaves those tensors unused; the logits are the same."""

    def __init__(self, config: BertConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.encoder = BertModel(config, add_pooler=True, compute_dtype=compute_dtype, seed=seed, name="bert")
        rng, dtype = self.encoder.rng, self.encoder.compute_dtype
        self.transform = Dense(config.hidden_size, config.hidden_size, rng=rng, compute_dtype=dtype, name="transform")
        self.activation = ACTIVATIONS[config.hidden_act]
        self.transform_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps, name="transform_norm")
        self.decoder = VocabProjection(self.encoder.embeddings.word, tied=config.tie_word_embeddings,
                                       rng=rng, compute_dtype=dtype, name="decoder")

    sequence_features = True

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        return self.encoder(input_ids, attention_mask, token_type_ids, training=training).last_hidden_state  # [B,S,H]

    @property
    def carried_variables(self) -> list[tf.Variable]:
        """Saved and loaded, never used or trained: the pooler."""
        return list(self.encoder.pooler.trainable_variables)

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor | None, *, training: bool) -> tf.Tensor:
        """Token states [..., H] (all of them, or only the masked positions) -> vocabulary logits [..., V]."""
        del attention_mask, training  # the head scores each state on its own and has no dropout
        hidden = self.transform_norm(self.activation(self.transform(features)))  # [..., H] float32
        return self.decoder(hidden)  # [..., V]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, token_type_ids, training=training)
        return self.head_logits(features, attention_mask, training=training)  # [B, S, V]

"""tfft's own heads over a bare encoder (`--head`), for texts and pairs (classification) and for NER.

Classification and pair: `mlp` (an MLP over the pooled state), `attention` (masked attention pooling with a
learned query), `mha` (one multi-head self-attention block over the token states, then pooling), `rnn` / `gru` /
`lstm` (tfft/models/recurrent.py, optionally bidirectional, then pooling). NER: `crf` (linear emissions and a CRF,
tfft/models/crf.py) and `lstm_crf` (a recurrent layer over the tokens first).

Every model splits into `features` (what the encoder hands the head: the token states [B, S, H], or the [CLS]
state [B, H] when the head needs nothing else) and `head_logits` (the head on those features). A frozen encoder's
features can then be computed once and cached (tfft/training/feature_cache.py).

Hugging Face has no layout for these heads, so a checkpoint keeps the encoder in Hugging Face format (it loads in
`transformers` as the bare model) and the head in `tfft_head.safetensors` (tensors named by attribute path, see
`named_variables`) with its settings in `tfft_head.json` (tfft/checkpoints/io.py).

Dimension legend: B batch, S sequence, H encoder hidden, F head width, C classes or tags.
"""

import dataclasses
import math

import tensorflow as tf

from tfft.models import config as config_io
from tfft.models.crf import CRF, bio_constraints
from tfft.models.layers import ACTIVATIONS, Classifier, Dense, Dropout
from tfft.models.recurrent import Recurrent, pool
from tfft.models.transformer import TransformerBlock, padding_bias

CLASSIFICATION_HEADS = ("mlp", "attention", "mha", "rnn", "gru", "lstm")
NER_HEADS = ("crf", "lstm_crf")
RECURRENT = ("rnn", "gru", "lstm", "lstm_crf")
# --head_pooling per head; the first is the default. 'cls' is the [CLS] state, 'last' the last valid recurrent
# state (per direction), 'mean' / 'max' run over the real tokens only.
POOLINGS = {"mlp": ("cls", "mean", "max"), "mha": ("mean", "max", "cls"), "rnn": ("last", "mean", "max"),
            "gru": ("last", "mean", "max"), "lstm": ("last", "mean", "max")}


def head_task(kind: str) -> str:
    """The model head a custom head replaces: 'token_classification' for NER heads."""
    return "token_classification" if kind in NER_HEADS else "sequence_classification"


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """A custom head's settings; the fields are the `--head_*` flags (and `--bidirectional`, `--crf_constraints`)."""

    kind: str
    hidden: int = 0  # MLP width, recurrent units, or the mha block's feed-forward width; 0: the encoder's hidden size
    layers: int = 1  # MLP hidden layers
    activation: str = "gelu"  # MLP activation
    dropout: float = 0.1
    pooling: str = ""  # "" : the head's default (POOLINGS)
    bidirectional: bool = False
    crf_constraints: bool = True  # forbid I-X after anything but B-X / I-X when decoding

    def __post_init__(self):
        def need(condition: bool, flag: str, value, expected: str):
            if not condition:
                raise config_io.ConfigError(f"--{flag}={value}: expected {expected}")

        kinds = CLASSIFICATION_HEADS + NER_HEADS
        need(self.kind in kinds, "head", self.kind, "hf, " + ", ".join(kinds))
        need(self.layers >= 1, "head_layers", self.layers, "at least 1")
        need(self.layers == 1 or self.kind == "mlp", "head_layers", self.layers,
             f"1 for --head={self.kind} (layers are the MLP's)")
        need(self.hidden >= 0, "head_hidden", self.hidden, "0 (the encoder's width) or more")
        need(self.activation in ACTIVATIONS, "head_activation", self.activation, " / ".join(ACTIVATIONS))
        need(0 <= self.dropout < 1, "head_dropout", self.dropout, "a rate in [0, 1)")
        allowed = POOLINGS.get(self.kind, ())
        need(not self.pooling or self.pooling in allowed, "head_pooling", self.pooling,
             f"one of {', '.join(allowed)} for --head={self.kind}" if allowed
             else f"nothing for --head={self.kind}, which has no pooling")
        need(not self.bidirectional or self.kind in RECURRENT, "bidirectional", True,
             f"a recurrent head ({', '.join(RECURRENT)}), not --head={self.kind}")

    @property
    def pool(self) -> str:
        return self.pooling or POOLINGS.get(self.kind, ("",))[0]


class MLPHead(tf.Module):
    """Pooled state -> (dense -> activation -> dropout) x layers -> dropout -> classifier."""

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, rng, compute_dtype, name=None):
        super().__init__(name=name)
        self.how = head.pool
        self.sequence_features = self.how != "cls"
        width = head.hidden or hidden_size
        self.layers = [Dense(hidden_size if i == 0 else width, width, rng=rng, compute_dtype=compute_dtype,
                             name=f"layer_{i}") for i in range(head.layers)]
        self.activation = ACTIVATIONS[head.activation]
        self.dropout = Dropout(head.dropout, rng=rng)
        self.classifier = Classifier(width, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                     name="classifier")

    def __call__(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        x = pool(features, None, attention_mask, self.how) if self.sequence_features else features  # [B, H]
        for layer in self.layers:
            x = self.dropout(self.activation(layer(x)), training=training)  # [B, F]
        return self.classifier(x, training=training)  # [B, C]


class AttentionHead(tf.Module):
    """Masked attention pooling: each token scores against a learned query (q.h / sqrt(H)), softmax over the real
    tokens only, the weighted sum of the states -> dropout -> classifier."""

    sequence_features = True

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, rng, compute_dtype, name=None):
        super().__init__(name=name)
        self.query = tf.Variable(rng.normal([hidden_size], stddev=1.0), name="query")
        self.classifier = Classifier(hidden_size, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                     name="classifier")

    def __call__(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        states = tf.cast(features, tf.float32)  # [B, S, H]
        scores = tf.linalg.matvec(states, self.query) / math.sqrt(self.query.shape[0])  # [B, S]
        scores += (1.0 - tf.cast(attention_mask, tf.float32)) * -1e9  # padding never gets weight
        weights = tf.nn.softmax(scores, axis=-1)  # [B, S]
        pooled = tf.linalg.matvec(states, weights, transpose_a=True)  # [B, H]
        return self.classifier(pooled, training=training)  # [B, C]


class MHAHead(tf.Module):
    """One post-norm transformer block (multi-head self-attention + feed-forward, fresh weights) over the token
    states, then pooling -> dropout -> classifier."""

    sequence_features = True

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, num_heads: int, rng, compute_dtype,
                 name=None):
        super().__init__(name=name)
        self.how = head.pool
        self.block = TransformerBlock(hidden=hidden_size, num_heads=num_heads, ffn_dim=head.hidden or 4 * hidden_size,
                                      activation="gelu", layer_norm_eps=1e-12, dropout=head.dropout,
                                      attention_dropout=head.dropout, attention_output_dropout=head.dropout, rng=rng,
                                      compute_dtype=compute_dtype, name="block")
        self.classifier = Classifier(hidden_size, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                     name="classifier")

    def __call__(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        states = self.block(tf.cast(features, tf.float32), padding_bias(attention_mask), training=training)  # [B,S,H]
        pooled = states[:, 0] if self.how == "cls" else pool(states, None, attention_mask, self.how)  # [B, H]
        return self.classifier(pooled, training=training)  # [B, C]


class RecurrentHead(tf.Module):
    """A recurrent layer over the token states (masked: padding changes nothing), pooled, -> dropout -> classifier."""

    sequence_features = True

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, rng, compute_dtype, name=None):
        super().__init__(name=name)
        self.how = head.pool
        units = head.hidden or hidden_size
        self.recurrent = Recurrent(head.kind, hidden_size, units, bidirectional=head.bidirectional, rng=rng,
                                   compute_dtype=compute_dtype, name="recurrent")
        self.classifier = Classifier(units * (2 if head.bidirectional else 1), num_labels, head.dropout, rng=rng,
                                     compute_dtype=compute_dtype, name="classifier")

    def __call__(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        outputs, last = self.recurrent(features, attention_mask)  # [B, S, D*F], [B, D*F]
        return self.classifier(pool(outputs, last, attention_mask, self.how), training=training)  # [B, C]


class CRFHead(tf.Module):
    """NER: token states (through a recurrent layer for `lstm_crf`) -> dropout -> linear emissions [B, S, C]; the
    CRF (`self.crf`) scores whole tag sequences over the words' first tokens (the loss and decoding use it)."""

    sequence_features = True

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, labels, rng, compute_dtype,
                 name=None):
        super().__init__(name=name)
        width = hidden_size
        self.recurrent = None
        if head.kind == "lstm_crf":
            width = head.hidden or hidden_size
            self.recurrent = Recurrent("lstm", hidden_size, width, bidirectional=head.bidirectional, rng=rng,
                                       compute_dtype=compute_dtype, name="recurrent")
            width *= 2 if head.bidirectional else 1
        self.emissions = Classifier(width, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                    name="emissions")
        self.crf = CRF(num_labels, rng=rng, constraints=bio_constraints(labels) if head.crf_constraints else None,
                       name="crf")

    def __call__(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        states = features if self.recurrent is None else self.recurrent(features, attention_mask)[0]  # [B, S, F]
        return self.emissions(states, training=training)  # [B, S, C]


def output_probabilities(model, logits: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Per-label scores of a model's logits [..., C]: the softmax; for a CRF (NER), at each position (a word's first
    token, [B, S] bool) the Viterbi tag carries its marginal probability and the other tags 0, so that argmax reads
    the best path and max its confidence."""
    crf = getattr(model, "crf", None)
    if crf is None:
        return tf.nn.softmax(logits, axis=-1)
    path = tf.one_hot(crf.decode(logits, positions), logits.shape[-1])  # [B, S, C]; no tag off the positions
    return path * tf.maximum(crf.marginals(logits, positions), 1e-30)  # a vanishing marginal still marks its tag


def named_variables(module: tf.Module, prefix: str = "") -> dict[str, tf.Variable]:
    """A module's trainable variables by attribute path ('layers.0.kernel'): the tensor names of
    tfft_head.safetensors. Random generators (shared with the encoder) are not part of a head."""
    named = {}
    for attribute, value in sorted(vars(module).items()):
        items = enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            path = prefix + attribute + ("" if index is None else f".{index}")
            if isinstance(item, tf.Variable) and item.trainable:
                named[path] = item
            elif isinstance(item, tf.Module) and not isinstance(item, tf.random.Generator):
                named.update(named_variables(item, path + "."))
    return named


class EncoderWithHead(tf.Module):
    """A bare encoder (its family's *Model class, without BERT's pooler) and one of the heads above."""

    def __init__(self, encoder_class, config, head: HeadConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.head_config = head
        extra = {"add_pooler": False} if config.model_type == "bert" else {}
        self.encoder = encoder_class(config, compute_dtype=compute_dtype, seed=seed, name="encoder", **extra)
        distil = config.model_type == "distilbert"
        hidden = config.dim if distil else config.hidden_size
        options = dict(rng=self.encoder.rng, compute_dtype=self.encoder.compute_dtype, name="head")
        num_labels = config_io.require_labels(config)
        if head.kind in NER_HEADS:
            self.head = CRFHead(hidden, num_labels, head, labels=config.id2label, **options)
        elif head.kind == "mha":
            num_heads = config.n_heads if distil else config.num_attention_heads
            self.head = MHAHead(hidden, num_labels, head, num_heads=num_heads, **options)
        else:
            kinds = {"mlp": MLPHead, "attention": AttentionHead, "rnn": RecurrentHead, "gru": RecurrentHead,
                     "lstm": RecurrentHead}
            self.head = kinds[head.kind](hidden, num_labels, head, **options)
        self.crf = getattr(self.head, "crf", None)
        self.sequence_features = self.head.sequence_features

    def features(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        """What the head reads: the token states [B, S, H], or the [CLS] state [B, H]."""
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, training=training).last_hidden_state
        return hidden if self.sequence_features else hidden[:, 0]

    def head_logits(self, features: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        return self.head(features, attention_mask, training=training)  # [B, C] or [B, S, C]

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        features = self.features(input_ids, attention_mask, token_type_ids, training=training)
        return self.head_logits(features, attention_mask, training=training)

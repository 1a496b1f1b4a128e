"""Classification heads of tfft's own (`--head=mlp|attention_pool`) over a bare encoder, for single texts and
pairs. Hugging Face has no layout for them, so a checkpoint keeps the encoder in Hugging Face format (it loads
in `transformers` as the bare model) and the head in `tfft_head.safetensors` with its settings in
`tfft_head.json` (tfft/checkpoints/io.py).

Dimension legend: B batch, S sequence, H hidden, F head hidden width, C classes.
"""

import dataclasses

import tensorflow as tf

from tfft.models import config as config_io
from tfft.models.layers import ACTIVATIONS, Classifier, Dense, Dropout


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    kind: str  # "mlp" or "attention_pool"
    hidden: int = 0  # MLP width; 0: the encoder's hidden size
    layers: int = 1  # MLP hidden layers
    activation: str = "gelu"
    dropout: float = 0.1

    def __post_init__(self):
        if self.kind not in ("mlp", "attention_pool"):
            raise config_io.ConfigError(f"--head={self.kind!r}: expected hf, mlp or attention_pool")
        if self.layers < 1 or self.hidden < 0:
            raise config_io.ConfigError(f"head: layers={self.layers} must be >= 1 and hidden={self.hidden} >= 0")
        config_io.check_rates(self, "dropout")


class MLPHead(tf.Module):
    """[CLS] state -> (dense -> activation -> dropout) x layers -> dropout -> classifier."""

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, rng, compute_dtype, name=None):
        super().__init__(name=name)
        width = head.hidden or hidden_size
        self.layers = [Dense(hidden_size if i == 0 else width, width, rng=rng, compute_dtype=compute_dtype,
                             name=f"layer_{i}") for i in range(head.layers)]
        self.activation = ACTIVATIONS[head.activation]
        self.dropout = Dropout(head.dropout, rng=rng)
        self.classifier = Classifier(width, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                     name="classifier")

    def __call__(self, hidden: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        x = hidden[:, 0]  # [B, H]
        for layer in self.layers:
            x = self.dropout(self.activation(layer(x)), training=training)  # [B, F]
        return self.classifier(x, training=training)  # [B, C]

    def named_variables(self) -> dict[str, tf.Variable]:
        named = {f"layer_{i}.{part}": getattr(layer, part) for i, layer in enumerate(self.layers)
                 for part in ("kernel", "bias")}
        return {**named, "classifier.kernel": self.classifier.dense.kernel,
                "classifier.bias": self.classifier.dense.bias}


class AttentionPoolHead(tf.Module):
    """Masked attention pooling: a learned score per token, softmax over the real tokens, weighted sum of states."""

    def __init__(self, hidden_size: int, num_labels: int, head: HeadConfig, *, rng, compute_dtype, name=None):
        super().__init__(name=name)
        self.score = Dense(hidden_size, 1, rng=rng, compute_dtype=compute_dtype, name="score")
        self.classifier = Classifier(hidden_size, num_labels, head.dropout, rng=rng, compute_dtype=compute_dtype,
                                     name="classifier")

    def __call__(self, hidden: tf.Tensor, attention_mask: tf.Tensor, *, training: bool) -> tf.Tensor:
        scores = tf.cast(self.score(hidden)[..., 0], tf.float32)  # [B, S]
        scores += (1.0 - tf.cast(attention_mask, tf.float32)) * -1e9  # padding never gets weight
        weights = tf.nn.softmax(scores, axis=-1)  # [B, S]
        pooled = tf.einsum("bs,bsh->bh", weights, tf.cast(hidden, tf.float32))  # [B, H]
        return self.classifier(pooled, training=training)  # [B, C]

    def named_variables(self) -> dict[str, tf.Variable]:
        return {"score.kernel": self.score.kernel, "score.bias": self.score.bias,
                "classifier.kernel": self.classifier.dense.kernel, "classifier.bias": self.classifier.dense.bias}


CUSTOM_HEADS = {"mlp": MLPHead, "attention_pool": AttentionPoolHead}


class EncoderWithHead(tf.Module):
    """A bare encoder (its family's *Model class, without BERT's pooler) and one of the heads above."""

    def __init__(self, encoder_class, config, head: HeadConfig, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.head_config = head
        extra = {"add_pooler": False} if config.model_type == "bert" else {}
        self.encoder = encoder_class(config, compute_dtype=compute_dtype, seed=seed, name="encoder", **extra)
        hidden = config.dim if config.model_type == "distilbert" else config.hidden_size
        self.head = CUSTOM_HEADS[head.kind](hidden, config_io.require_labels(config), head, rng=self.encoder.rng,
                                     compute_dtype=self.encoder.compute_dtype, name="head")

    def __call__(self, input_ids, attention_mask, token_type_ids=None, *, training: bool) -> tf.Tensor:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, training=training).last_hidden_state
        return self.head(hidden, attention_mask, training=training)  # [B, C]

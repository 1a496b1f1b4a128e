"""The model families tfft implements, their heads, and the two functions that pick one.

A model is named by its config's `model_type` (the family) and a head. Every model takes
`(input_ids, attention_mask, token_type_ids=None, *, training)`; heads return float32 logits, the
bare encoder returns an `EncoderOutput`.
"""

import os

import tensorflow as tf

from tfft.models.bert import (BertConfig, BertForMaskedLM, BertForSequenceClassification,
                              BertForTokenClassification, BertModel)
from tfft.models.config import ConfigError, read_json
from tfft.models.distilbert import (DistilBertConfig, DistilBertForMaskedLM, DistilBertForSequenceClassification,
                                    DistilBertForTokenClassification, DistilBertModel)
from tfft.models.heads import CLASSIFICATION_HEADS, NER_HEADS, EncoderWithHead, HeadConfig, head_task
from tfft.models.transformer import EncoderOutput

CONFIGS = {"distilbert": DistilBertConfig, "bert": BertConfig}

# head name -> model class, per family. The class names are Hugging Face's, and so is `architectures`.
MODELS = {
    "distilbert": {
        "encoder": DistilBertModel,
        "sequence_classification": DistilBertForSequenceClassification,
        "token_classification": DistilBertForTokenClassification,
        "masked_lm": DistilBertForMaskedLM,
    },
    "bert": {
        "encoder": BertModel,
        "sequence_classification": BertForSequenceClassification,
        "token_classification": BertForTokenClassification,
        "masked_lm": BertForMaskedLM,
    },
}
HEADS = tuple(MODELS["bert"])


def config_from_dict(raw: dict, source: str = "config.json"):
    model_type = raw.get("model_type")
    if model_type not in CONFIGS:
        raise ConfigError(f"{source}: model_type={model_type!r} is not supported; "
                          f"tfft implements {', '.join(sorted(CONFIGS))}")
    try:
        return CONFIGS[model_type].from_dict(raw)
    except TypeError as err:  # a dataclass field with a value of the wrong kind
        raise ConfigError(f"{source}: {err}") from err
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def read_config(path: str | os.PathLike):
    """Reads a Hugging Face config.json into the family's config dataclass."""
    return config_from_dict(read_json(path), source=str(path))


def head_from_architectures(config) -> str:
    """The head a checkpoint was saved with ('DistilBertForTokenClassification' -> 'token_classification')."""
    architectures = config.extra.get("architectures") or []
    for head, cls in MODELS[config.model_type].items():
        if cls.__name__ in architectures:
            return head
    return "encoder"


def build_model(config, head: str, *, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                custom_head: HeadConfig | None = None) -> tf.Module:
    """A freshly initialised model (Hugging Face's init: normal(0, 0.02), zero biases, unit LayerNorm).
    `custom_head` puts one of tfft's own heads (tfft/models/heads.py) on the bare encoder instead of Hugging Face's
    `head` (sequence_classification or token_classification, as the custom head's kind says)."""
    if custom_head is not None:
        if head != head_task(custom_head.kind):
            raise ConfigError(f"--head={custom_head.kind} is a {head_task(custom_head.kind)} head, not a {head} head"
                              f" (heads: {', '.join(CLASSIFICATION_HEADS)} classify texts and pairs, "
                              f"{', '.join(NER_HEADS)} tag tokens)")
        return EncoderWithHead(MODELS[config.model_type]["encoder"], config, custom_head, compute_dtype=compute_dtype,
                               seed=seed)
    if head not in HEADS:
        raise ValueError(f"head={head!r} is not supported; expected one of {', '.join(HEADS)}")
    return MODELS[config.model_type][head](config, compute_dtype=compute_dtype, seed=seed)


def enable_recompute(model: tf.Module) -> None:
    """Gradient checkpointing (--recompute): the encoder's blocks keep only their inputs for the backward pass and
    run again there, trading a second forward pass for activation memory that no longer grows with depth."""
    getattr(model, "encoder", model).recompute = True


__all__ = ["BertConfig", "CLASSIFICATION_HEADS", "DistilBertConfig", "ConfigError", "EncoderOutput", "EncoderWithHead",
           "HEADS", "HeadConfig", "MODELS", "NER_HEADS", "build_model", "head_task",
           "config_from_dict", "enable_recompute", "head_from_architectures", "read_config"]

"""The one table between Hugging Face state-dict names and tfft variables, per model family.

Every entry is `hf_name -> Entry(variable, transpose)`. PyTorch `nn.Linear.weight` is [out, in] and a
tfft `Dense.kernel` is [in, out], so every Linear weight is transposed (transpose=True); embeddings,
LayerNorm parameters, biases and the untied MLM decoder weight ([V, H] on both sides) are copied as they are.

Names are the ones the Hugging Face class of the same head writes: a bare encoder has no prefix
('embeddings.word_embeddings.weight'), a model with a head prefixes the encoder with the family's
`base_model_prefix` ('distilbert.', 'bert.'). Loading accepts either (tfft/checkpoints/io.py).
"""

from typing import NamedTuple

import tensorflow as tf

from tfft.models.bert import BertModel
from tfft.models.distilbert import DistilBertModel
from tfft.models.layers import Dense, LayerNorm


class Entry(NamedTuple):
    variable: tf.Variable
    transpose: bool


# Tensors a checkpoint may hold that tfft recomputes or shares instead of loading (as Hugging Face does).
IGNORED = (
    "embeddings.position_ids",  # a buffer of arange(max_positions), saved by old transformers versions
    "cls.predictions.decoder.bias",  # tied to cls.predictions.bias
)
# Decoder weights that are the word embeddings when the config ties them (tie_word_embeddings=True).
TIED = ("vocab_projector.weight", "cls.predictions.decoder.weight")


def _dense(table: dict, name: str, layer: Dense) -> None:
    table[f"{name}.weight"] = Entry(layer.kernel, True)
    if layer.bias is not None:
        table[f"{name}.bias"] = Entry(layer.bias, False)


def _norm(table: dict, name: str, layer: LayerNorm) -> None:
    table[f"{name}.weight"] = Entry(layer.gamma, False)
    table[f"{name}.bias"] = Entry(layer.beta, False)


def distilbert_encoder(encoder: DistilBertModel, prefix: str) -> dict[str, Entry]:
    table = {
        f"{prefix}embeddings.word_embeddings.weight": Entry(encoder.embeddings.word.table, False),
        f"{prefix}embeddings.position_embeddings.weight": Entry(encoder.embeddings.position.table, False),
    }
    _norm(table, f"{prefix}embeddings.LayerNorm", encoder.embeddings.norm)
    for i, block in enumerate(encoder.blocks):
        hf = f"{prefix}transformer.layer.{i}"
        _dense(table, f"{hf}.attention.q_lin", block.attention.query)
        _dense(table, f"{hf}.attention.k_lin", block.attention.key)
        _dense(table, f"{hf}.attention.v_lin", block.attention.value)
        _dense(table, f"{hf}.attention.out_lin", block.attention.output)
        _norm(table, f"{hf}.sa_layer_norm", block.attention_norm)
        _dense(table, f"{hf}.ffn.lin1", block.ffn_in)
        _dense(table, f"{hf}.ffn.lin2", block.ffn_out)
        _norm(table, f"{hf}.output_layer_norm", block.output_norm)
    return table


def bert_encoder(encoder: BertModel, prefix: str) -> dict[str, Entry]:
    table = {
        f"{prefix}embeddings.word_embeddings.weight": Entry(encoder.embeddings.word.table, False),
        f"{prefix}embeddings.position_embeddings.weight": Entry(encoder.embeddings.position.table, False),
        f"{prefix}embeddings.token_type_embeddings.weight": Entry(encoder.embeddings.token_type.table, False),
    }
    _norm(table, f"{prefix}embeddings.LayerNorm", encoder.embeddings.norm)
    for i, block in enumerate(encoder.blocks):
        hf = f"{prefix}encoder.layer.{i}"
        _dense(table, f"{hf}.attention.self.query", block.attention.query)
        _dense(table, f"{hf}.attention.self.key", block.attention.key)
        _dense(table, f"{hf}.attention.self.value", block.attention.value)
        _dense(table, f"{hf}.attention.output.dense", block.attention.output)
        _norm(table, f"{hf}.attention.output.LayerNorm", block.attention_norm)
        _dense(table, f"{hf}.intermediate.dense", block.ffn_in)
        _dense(table, f"{hf}.output.dense", block.ffn_out)
        _norm(table, f"{hf}.output.LayerNorm", block.output_norm)
    if encoder.pooler is not None:
        _dense(table, f"{prefix}pooler.dense", encoder.pooler)
    return table


def _distilbert_head(model, table: dict) -> None:
    if hasattr(model, "pre_classifier"):
        _dense(table, "pre_classifier", model.pre_classifier)
    if hasattr(model, "classifier"):
        _dense(table, "classifier", model.classifier)
    if hasattr(model, "vocab_projector"):
        _dense(table, "vocab_transform", model.vocab_transform)
        _norm(table, "vocab_layer_norm", model.vocab_layer_norm)
        table["vocab_projector.bias"] = Entry(model.vocab_projector.bias, False)
        if model.vocab_projector.weight is not None:
            table["vocab_projector.weight"] = Entry(model.vocab_projector.weight, False)


def _bert_head(model, table: dict) -> None:
    if hasattr(model, "classifier"):
        _dense(table, "classifier", model.classifier)
    if hasattr(model, "decoder"):
        _dense(table, "cls.predictions.transform.dense", model.transform)
        _norm(table, "cls.predictions.transform.LayerNorm", model.transform_norm)
        table["cls.predictions.bias"] = Entry(model.decoder.bias, False)
        if model.decoder.weight is not None:
            table["cls.predictions.decoder.weight"] = Entry(model.decoder.weight, False)


# family -> (base_model_prefix, encoder table, head table), as in transformers' *PreTrainedModel classes.
FAMILIES = {
    "distilbert": ("distilbert.", distilbert_encoder, _distilbert_head),
    "bert": ("bert.", bert_encoder, _bert_head),
}


def name_table(model: tf.Module) -> tuple[dict[str, Entry], str]:
    """(hf_name -> Entry for every variable of `model`, the family's base-model prefix)."""
    prefix, encoder_table, head_table = FAMILIES[model.config.model_type]
    if isinstance(model, (DistilBertModel, BertModel)):
        return encoder_table(model, ""), prefix
    table = encoder_table(model.encoder, prefix)
    head_table(model, table)
    return table, prefix

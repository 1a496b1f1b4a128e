"""The one table between Hugging Face state-dict names and tfft variables, per model family.

The tables below are data: Hugging Face module name -> tfft attribute path. `name_table(model)` expands
them into `hf_name -> Entry(variable, transpose)` for one model. PyTorch `nn.Linear.weight` is [out, in]
and a tfft `Dense.kernel` is [in, out], so every Linear weight is transposed (transpose=True); embedding
tables, LayerNorm parameters, biases and the untied MLM decoder weight ([V, H] on both sides) are copied.

Names are the ones the Hugging Face class of the same head writes: a bare encoder has no prefix
('embeddings.word_embeddings.weight'), a model with a head prefixes the encoder with the family's
`base_model_prefix` ('distilbert.', 'bert.'). Loading accepts either (tfft/checkpoints/io.py).
"""

import operator
from typing import NamedTuple

import tensorflow as tf

from tfft.models.bert import BertModel
from tfft.models.distilbert import DistilBertModel
from tfft.models.heads import EncoderWithHead
from tfft.models.layers import Dense, Embedding, LayerNorm, VocabProjection


class Entry(NamedTuple):
    variable: tf.Variable
    transpose: bool


class Family(NamedTuple):
    prefix: str  # transformers' base_model_prefix
    layer: str  # the per-block module list, formatted with the block index
    embeddings: dict[str, str]  # HF module -> tfft path, relative to the encoder
    block: dict[str, str]  # HF module -> tfft path, relative to one TransformerBlock
    pooler: dict[str, str]  # relative to the encoder, when it has a pooler
    heads: dict[str, str]  # HF module -> tfft path, relative to the headed model (absent paths are skipped)


FAMILIES = {
    "distilbert": Family(
        prefix="distilbert.",
        layer="transformer.layer.{}",
        embeddings={"embeddings.word_embeddings": "embeddings.word",
                    "embeddings.position_embeddings": "embeddings.position",
                    "embeddings.LayerNorm": "embeddings.norm"},
        block={"attention.q_lin": "attention.query", "attention.k_lin": "attention.key",
               "attention.v_lin": "attention.value", "attention.out_lin": "attention.output",
               "sa_layer_norm": "attention_norm", "ffn.lin1": "ffn_in", "ffn.lin2": "ffn_out",
               "output_layer_norm": "output_norm"},
        pooler={},
        heads={"pre_classifier": "pre_classifier", "classifier": "classifier.dense",
               "vocab_transform": "vocab_transform", "vocab_layer_norm": "vocab_layer_norm",
               "vocab_projector": "vocab_projector"},
    ),
    "bert": Family(
        prefix="bert.",
        layer="encoder.layer.{}",
        embeddings={"embeddings.word_embeddings": "embeddings.word",
                    "embeddings.position_embeddings": "embeddings.position",
                    "embeddings.token_type_embeddings": "embeddings.token_type",
                    "embeddings.LayerNorm": "embeddings.norm"},
        block={"attention.self.query": "attention.query", "attention.self.key": "attention.key",
               "attention.self.value": "attention.value", "attention.output.dense": "attention.output",
               "attention.output.LayerNorm": "attention_norm", "intermediate.dense": "ffn_in",
               "output.dense": "ffn_out", "output.LayerNorm": "output_norm"},
        pooler={"pooler.dense": "pooler"},
        heads={"classifier": "classifier.dense", "cls.predictions.transform.dense": "transform",
               "cls.predictions.transform.LayerNorm": "transform_norm", "cls.predictions": "decoder"},
    ),
}

# Tensors a checkpoint may hold that tfft recomputes or shares instead of loading (as Hugging Face does).
IGNORED = (
    "embeddings.position_ids",  # a buffer of arange(max_positions), saved by old transformers versions
    "cls.predictions.decoder.bias",  # tied to cls.predictions.bias (untied decoders: name_table maps it)
)
# Two names of one variable: a BERT decoder with its own weight (tie_word_embeddings=False) adds its own bias in
# transformers 5 (cls.predictions.bias is then unused there), where 4.x had one tensor under both names. tfft
# writes both and, when a checkpoint holds both, loads this one last, so that it wins.
LOADED_LAST = "cls.predictions.decoder.bias"
# Decoder weights that are the word embeddings when the config ties them (tie_word_embeddings=True).
TIED = ("vocab_projector.weight", "cls.predictions.decoder.weight")


def _add(table: dict[str, Entry], hf_name: str, module: tf.Module) -> None:
    """The parameters of one Hugging Face module, under their PyTorch names."""
    if isinstance(module, Dense):
        table[f"{hf_name}.weight"] = Entry(module.kernel, True)
        if module.bias is not None:
            table[f"{hf_name}.bias"] = Entry(module.bias, False)
    elif isinstance(module, LayerNorm):
        table[f"{hf_name}.weight"] = Entry(module.gamma, False)
        table[f"{hf_name}.bias"] = Entry(module.beta, False)
    elif isinstance(module, Embedding):
        table[f"{hf_name}.weight"] = Entry(module.table, False)
    elif isinstance(module, VocabProjection):  # DistilBERT: vocab_projector.{weight,bias}; BERT: cls.predictions.bias
        decoder = "vocab_projector" if hf_name == "vocab_projector" else f"{hf_name}.decoder"
        table[f"{hf_name}.bias"] = Entry(module.bias, False)
        if module.weight is not None:
            table[f"{decoder}.weight"] = Entry(module.weight, False)
            table[f"{decoder}.bias"] = Entry(module.bias, False)  # BERT: LOADED_LAST; DistilBERT: the same name
    else:
        raise TypeError(f"no Hugging Face layout for {type(module).__name__} at {hf_name}")


def _add_all(table: dict[str, Entry], names: dict[str, str], root: tf.Module, prefix: str) -> None:
    for hf_name, path in names.items():
        try:
            module = operator.attrgetter(path)(root)
        except AttributeError:  # a head this model does not have
            continue
        if module is not None:
            _add(table, prefix + hf_name, module)


def is_pooler(name: str, model_type: str) -> bool:
    """A tensor of BERT's pooler ('bert.pooler.dense.weight'): trained for next-sentence prediction, not part of
    the encoder's token states, and absent from Hugging Face's token-classification and masked-LM models."""
    family = FAMILIES[model_type]
    return name.removeprefix(family.prefix).startswith(tuple(family.pooler))


def encoder_prefix(model: tf.Module) -> str:
    """What precedes the encoder's names in the model's Hugging Face names: nothing for a bare encoder (and for tfft's
    own heads, whose encoder is saved bare), the family's base_model_prefix under a Hugging Face head."""
    if isinstance(model, (EncoderWithHead, DistilBertModel, BertModel)):
        return ""
    return FAMILIES[model.config.model_type].prefix


def block_module(model: tf.Module, block: int, path: str) -> str:
    """The Hugging Face module name of a block's submodule: (1, 'attention.query') -> 'distilbert.transformer.layer.1
    .attention.q_lin' under a DistilBERT head."""
    family = FAMILIES[model.config.model_type]
    hf_name = next(hf for hf, tfft_path in family.block.items() if tfft_path == path)
    return encoder_prefix(model) + family.layer.format(block) + "." + hf_name


def name_table(model: tf.Module) -> tuple[dict[str, Entry], str]:
    """(hf_name -> Entry for every variable of `model`, the family's base-model prefix)."""
    family = FAMILIES[model.config.model_type]
    if isinstance(model, EncoderWithHead):  # the encoder in Hugging Face names; the head has its own file
        return name_table(model.encoder)
    prefix = encoder_prefix(model)
    encoder = model if not prefix else model.encoder
    table: dict[str, Entry] = {}
    _add_all(table, family.embeddings, encoder, prefix)
    for i, block in enumerate(encoder.blocks):
        _add_all(table, family.block, block, prefix + family.layer.format(i) + ".")
    _add_all(table, family.pooler, encoder, prefix)
    if prefix:
        _add_all(table, family.heads, model, "")
    return table, family.prefix

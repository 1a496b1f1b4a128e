"""Which variables train, and how fast. `--freeze` none | embeddings | all (the head only) | bottom:N
(embeddings and the first N blocks); a model with LoRA adapters trains them and its head, nothing else of the
encoder. Frozen variables are left out of the tape and the optimizer altogether,
so no gradient is ever computed for them (not computed and then zeroed) and they keep their values exactly.
`--layer_lr_decay` gives lower blocks smaller learning rates (layer-wise learning-rate decay, Clark et al.
2020 (ELECTRA); Zhang et al. 2021, 'Revisiting few-sample BERT fine-tuning')."""

import tensorflow as tf

from tfft.data import DataError
from tfft.models import lora


class FreezeError(DataError):
    """A --freeze value that does not parse or does not fit the model."""


def frozen_block_count(spec: str, num_blocks: int) -> int | None:
    """Blocks frozen by `bottom:N`, checked against the model; None for the other specs."""
    if spec in ("none", "embeddings", "all"):
        return None
    kind, _, count = spec.partition(":")
    if kind != "bottom" or not count.isdigit():
        raise FreezeError(f"--freeze={spec!r}: expected none, embeddings, all or bottom:N")
    if int(count) > num_blocks:
        raise FreezeError(f"--freeze={spec}: the model has only {num_blocks} transformer blocks")
    return int(count)


def frozen_modules(model: tf.Module, spec: str) -> list[tf.Module]:
    encoder = getattr(model, "encoder", model)
    count = frozen_block_count(spec, len(encoder.blocks))
    if spec == "none":
        return []
    if spec == "all":
        return [encoder]
    return [encoder.embeddings] + list(encoder.blocks[:count or 0])


def trainable_variables(model: tf.Module, spec: str) -> list[tf.Variable]:
    """The model's trainable variables minus those of the frozen modules, those it carries without using (BERT's
    pooler under a masked-LM head) and, under LoRA, every base variable of the encoder; in a stable order."""
    frozen = {v.ref() for module in frozen_modules(model, spec) for v in module.trainable_variables}
    frozen |= {v.ref() for v in getattr(model, "carried_variables", [])}
    adapters = lora.adapters(model)
    if adapters:
        adapted = {v.ref() for adapter in adapters.values() for v in adapter.trainable_variables}
        frozen |= {v.ref() for v in getattr(model, "encoder", model).trainable_variables if v.ref() not in adapted}
    trainable = [v for v in model.trainable_variables if v.ref() not in frozen]
    if not trainable:
        raise FreezeError(f"--freeze={spec} leaves nothing of {type(model).__name__} to train"
                          + (" (its LoRA adapters are in the frozen blocks)" if adapters else ""))
    return trainable


def layer_lr_scales(model: tf.Module, variables: list[tf.Variable], decay: float) -> list[float]:
    """Per-variable learning-rate factors: 1 for the head (and BERT's pooler), decay**k for block n-k (the top
    block is k=1), decay**(n+1) for the embeddings. decay=1 gives all 1."""
    encoder = getattr(model, "encoder", model)
    depth = len(encoder.blocks)
    scale = {v.ref(): decay ** (depth + 1) for v in encoder.embeddings.trainable_variables}
    for i, block in enumerate(encoder.blocks):
        scale.update({v.ref(): decay ** (depth - i) for v in block.trainable_variables})
    return [scale.get(v.ref(), 1.0) for v in variables]

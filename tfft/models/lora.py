"""LoRA (Hu et al. 2021, 'LoRA: Low-Rank Adaptation of Large Language Models'): a frozen projection W gets a
trainable low-rank update,

    y = x W + b + (alpha / r) * dropout(x) A B,    A [I, r] random, B [r, O] zeros,

so training starts exactly from the pretrained function and updates r (I + O) numbers per projection instead of
I O. Computation, initialisation and scaling are PEFT's `LoraLayer` (peft/tuners/lora/layer.py), so adapters move
between tfft and PEFT (tfft/checkpoints/peft.py) and give the same logits.

An adapter attaches to a transformer block's `Dense` (its `adapter`); the base variables stay where they are, so
checkpoint names, freezing and the Hugging Face name table are unchanged. `merge` folds the adapters into the base
kernels (W + (alpha / r) A B) and detaches them: a plain model again, for export.
"""

import dataclasses
import math
import operator

import tensorflow as tf

from tfft.models.config import ConfigError
from tfft.models.layers import Dense, Dropout

# Target name -> the projection's path inside a TransformerBlock (tfft/models/transformer.py).
TARGETS = {"query": "attention.query", "key": "attention.key", "value": "attention.value",
           "attention_output": "attention.output", "ffn_in": "ffn_in", "ffn_out": "ffn_out"}
DEFAULT_TARGETS = ("query", "value")  # the original paper's choice, and PEFT's default for BERT-style models


@dataclasses.dataclass(frozen=True)
class LoraConfig:
    """rank r, alpha (the update is scaled by alpha / r), dropout on the adapter's input, and the projections
    adapted in every block (names from TARGETS)."""

    rank: int
    alpha: float
    dropout: float = 0.0
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def __post_init__(self):
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"LoRA rank {self.rank}: expected a whole number of at least 1")
        if not self.alpha > 0:
            raise ConfigError(f"LoRA alpha {self.alpha}: expected a positive number")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"LoRA dropout {self.dropout}: expected a rate in [0, 1)")
        check_targets(self.targets)

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


def check_targets(targets) -> None:
    unknown = [name for name in targets if name not in TARGETS]
    if unknown or not targets:
        raise ConfigError(f"LoRA targets {','.join(targets) or '(none)'}: "
                          + (f"unknown {', '.join(map(repr, unknown))}; " if unknown else "")
                          + f"expected one or more of {', '.join(TARGETS)} (adapted in every transformer block)")


class LoraAdapter(tf.Module):
    """The low-rank update of one [I, O] projection: (alpha / r) * dropout(x) @ A @ B, in the projection's compute
    dtype. `salt` makes its dropout mask independent of the other adapters' that share a block's seed."""

    def __init__(self, in_dim: int, out_dim: int, config: LoraConfig, *, salt: int, rng: tf.random.Generator,
                 compute_dtype: tf.DType, name: str | None = None):
        super().__init__(name=name)
        self.scaling = config.scaling
        self.salt = salt
        self.compute_dtype = compute_dtype
        # PEFT: kaiming_uniform_(a=sqrt(5)) on lora_A.weight [r, I], i.e. uniform(+-1/sqrt(I)); lora_B zeros.
        bound = 1.0 / math.sqrt(in_dim)
        self.a = tf.Variable(rng.uniform([in_dim, config.rank], -bound, bound), name="lora_a")  # [I, r]
        self.b = tf.Variable(tf.zeros([config.rank, out_dim]), name="lora_b")  # [r, O]
        self.dropout = Dropout(config.dropout, rng=rng)

    def __call__(self, x: tf.Tensor, *, training: bool, seed: tf.Tensor | None = None) -> tf.Tensor:
        if seed is not None:
            seed = tf.random.experimental.stateless_fold_in(seed, self.salt)
        x = self.dropout(x, training=training, seed=seed)
        h = tf.tensordot(x, tf.cast(self.a, self.compute_dtype), axes=1)  # [..., r]
        return tf.tensordot(h, tf.cast(self.b, self.compute_dtype), axes=1) * tf.cast(self.scaling, self.compute_dtype)

    def delta(self) -> tf.Tensor:
        """The update of the kernel, (alpha / r) A B: [I, O] float32."""
        return self.scaling * tf.matmul(self.a, self.b)


def projections(model: tf.Module, targets) -> dict[tuple[int, str], Dense]:
    """(block index, target) -> the block's Dense, for every block of the model's encoder."""
    encoder = getattr(model, "encoder", model)
    return {(i, target): operator.attrgetter(TARGETS[target])(block)
            for i, block in enumerate(encoder.blocks) for target in targets}


def attach(model: tf.Module, config: LoraConfig) -> None:
    """Puts a fresh adapter on the `config.targets` projections of every block; `model.lora` records the config."""
    if getattr(model, "lora", None) is not None:
        raise ConfigError(f"{type(model).__name__} has LoRA adapters already")
    encoder = getattr(model, "encoder", model)
    for (i, target), dense in projections(model, config.targets).items():
        in_dim, out_dim = dense.kernel.shape
        dense.adapter = LoraAdapter(in_dim, out_dim, config, salt=list(TARGETS).index(target) + 1, rng=encoder.rng,
                                    compute_dtype=dense.compute_dtype, name=f"lora_{target}")
    model.lora = config


def adapters(model: tf.Module) -> dict[tuple[int, str], LoraAdapter]:
    """(block index, target) -> adapter; empty for a model without LoRA."""
    config = getattr(model, "lora", None)
    if config is None:
        return {}
    return {key: dense.adapter for key, dense in projections(model, config.targets).items()}


def merge(model: tf.Module) -> None:
    """Folds every adapter into its base kernel (W + (alpha / r) A B) and detaches it; a no-op without LoRA."""
    config = getattr(model, "lora", None)
    if config is None:
        return
    for dense in projections(model, config.targets).values():
        dense.kernel.assign_add(dense.adapter.delta())
        del dense.adapter  # untracks it (assigning None would leave it in checkpoints and SavedModels)
        dense.adapter = None
    model.lora = None

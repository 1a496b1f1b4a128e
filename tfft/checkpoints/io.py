"""Loading Hugging Face checkpoints into tfft models and saving tfft models as Hugging Face checkpoints.

Loading is strict in the way transformers is: every checkpoint tensor is either assigned to a variable
(after a shape check), known to be recomputed or tied (names.IGNORED / names.TIED), or reported as
unexpected; every variable not filled is reported as missing (newly initialised). Both reports are one
log line each. A shape mismatch is an error naming the tensor and both shapes.

A directory of LoRA adapters in PEFT's layout (tfft/checkpoints/peft.py) loads as its base model (named in
adapter_config.json) with the adapters attached; a model with adapters saves as one.
"""

import dataclasses
import json
import logging
import os
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfft import files
from tfft.checkpoints import formats, hub, names, peft
from tfft.models import (ConfigError, EncoderWithHead, HeadConfig, build_model, head_from_architectures, head_task,
                         lora, read_config)
from tfft.models.heads import named_variables

log = logging.getLogger(__name__)

SAFETENSORS_METADATA = {"format": "pt"}  # transformers refuses safetensors files without a known format
# A tfft head (tfft/models/heads.py) beside the Hugging Face encoder checkpoint.
HEAD_CONFIG, HEAD_WEIGHTS = "tfft_head.json", "tfft_head.safetensors"


@dataclasses.dataclass(frozen=True)
class LoadReport:
    missing: tuple[str, ...]  # model tensors absent from the checkpoint (left at their fresh initialisation)
    unexpected: tuple[str, ...]  # checkpoint tensors the model has no place for
    mismatched: tuple[str, ...]  # shape mismatches skipped under ignore_mismatched_sizes


def _canonical(key: str, table: dict, prefix: str) -> str:
    """Maps a checkpoint key onto the table: legacy LayerNorm names, and base vs headed prefixes."""
    if key.endswith(".gamma"):
        key = key[: -len(".gamma")] + ".weight"
    elif key.endswith(".beta"):
        key = key[: -len(".beta")] + ".bias"
    for candidate in (key, prefix + key, key.removeprefix(prefix)):
        if candidate in table:
            return candidate
    return key


def load_weights(model: tf.Module, tensors: dict[str, np.ndarray], *, source: str = "checkpoint",
                 ignore_mismatched_sizes: bool = False) -> LoadReport:
    """Assigns checkpoint tensors (PyTorch names and layouts) to the model's variables."""
    table, prefix = names.name_table(model)
    tied = model.config.tie_word_embeddings
    filled, unexpected, mismatched = set(), [], []
    for key, array in sorted(tensors.items(), key=lambda item: item[0] == names.LOADED_LAST):
        name = _canonical(key, table, prefix)
        if name not in table:
            bare = name.removeprefix(prefix)
            if bare in names.IGNORED or (tied and bare in names.TIED):
                continue
            unexpected.append(key)
            continue
        entry = table[name]
        value = array.T if entry.transpose else array
        if tuple(value.shape) != tuple(entry.variable.shape):
            expected = tuple(entry.variable.shape[::-1] if entry.transpose else entry.variable.shape)
            if ignore_mismatched_sizes:
                mismatched.append(f"{key}: {tuple(array.shape)} vs {expected}")
                continue
            raise formats.CheckpointError(
                f"{source}: tensor {key} has shape {list(array.shape)} but the model expects {list(expected)}"
                + ("; for a classifier fine-tuned on other labels pass ignore_mismatched_sizes=True"
                   if "classifier" in key else ""))
        if not np.issubdtype(value.dtype, np.floating):
            raise formats.CheckpointError(f"{source}: tensor {key} has dtype {value.dtype}; expected floating point")
        entry.variable.assign(value.astype(np.float32))
        filled.add(entry.variable.ref())
    missing = tuple(sorted(name for name, entry in table.items() if entry.variable.ref() not in filled))
    report = LoadReport(missing, tuple(sorted(unexpected)), tuple(mismatched))
    model_name = type(model).__name__
    if report.unexpected:
        log.info("%s: %d checkpoint tensors not used by %s: %s", source, len(report.unexpected), model_name,
                 ", ".join(report.unexpected))
    # A new head is expected to be missing; a missing encoder tensor means a partly random encoder: say it loudly.
    encoder_names = set(names.name_table(getattr(model, "encoder", model))[0])
    encoder_missing = [name for name in missing if name.removeprefix(prefix) in encoder_names
                       and not names.is_pooler(name, model.config.model_type)]
    if encoder_missing:
        log.warning("%s: %d ENCODER tensors of %s not in the checkpoint, left randomly initialised: %s", source,
                    len(encoder_missing), model_name, ", ".join(encoder_missing))
    head_missing = [name for name in missing if name not in encoder_missing]
    if head_missing and model_name.endswith("ForMaskedLM"):  # e.g. a sentence-embedding encoder (all-MiniLM-L6-v2)
        log.warning("%s has no masked-LM head (%s missing): it starts %s with a freshly initialised transform, so "
                    "the perplexity before training is that of an untrained head", source, ", ".join(head_missing),
                    "from the tied word embeddings (bias 0)" if tied else "from random weights")
    elif head_missing:
        log.info("%s: %d tensors of %s not in the checkpoint, newly initialised: %s", source, len(head_missing),
                 model_name, ", ".join(head_missing))
    if report.mismatched:
        log.warning("%s: %d tensors skipped for a shape mismatch, newly initialised: %s", source,
                    len(report.mismatched), "; ".join(report.mismatched))
    return report


def _with_labels(config, num_labels: int | None, labels: Sequence[str] | None):
    if labels is not None:
        labels = tuple(str(label) for label in labels)
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"labels must be distinct and non-empty, got {list(labels)}")
        if num_labels is not None and num_labels != len(labels):
            raise ValueError(f"num_labels={num_labels} disagrees with {len(labels)} labels {list(labels)}")
        return dataclasses.replace(config, id2label=labels)
    if num_labels is not None:
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        if len(config.id2label) != num_labels:  # keep the checkpoint's own names when the count agrees
            return dataclasses.replace(config, id2label=tuple(f"LABEL_{i}" for i in range(num_labels)))
    return config


def from_config(name_or_path: str | os.PathLike, head: str | None = None, *, num_labels: int | None = None,
                labels: Sequence[str] | None = None, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                revision: str | None = None, custom_head: HeadConfig | None = None) -> tf.Module:
    """The model a checkpoint describes, with fresh random weights (the checkpoint's tensors are not read).

    The 'untrained' baseline of a study: the same architecture and tokenizer, none of the pretraining.
    Arguments as `from_pretrained`.
    """
    model_dir = hub.resolve(name_or_path, revision)
    adapter = peft.read_adapter(model_dir) if peft.is_adapter_dir(model_dir) else None
    own_config = (model_dir / "config.json").is_file() or adapter is None  # a PEFT directory has none
    if not own_config and labels is None and num_labels is None:
        num_labels = adapter.num_labels
    config_dir = model_dir if own_config else peft.base_model_dir(adapter)
    config = _with_labels(read_config(config_dir / "config.json"), num_labels, labels)
    saved_head = model_dir / HEAD_CONFIG
    if custom_head is None and saved_head.is_file():
        saved = read_head_config(saved_head)
        if head in (None, head_task(saved.kind)):
            custom_head, head = saved, head_task(saved.kind)
    default_head = head_from_architectures(config) if own_config else adapter.head or "encoder"
    model = build_model(config, head or default_head, compute_dtype=compute_dtype, seed=seed, custom_head=custom_head)
    model.source_dir = model_dir
    # What a PEFT adapter_config.json of this model names as its base: a Hub id as given, a local model by its path.
    if adapter is not None:
        model.base_model_name_or_path = adapter.base
    else:
        model.base_model_name_or_path = str(model_dir.resolve()) if hub.is_local(name_or_path) else str(name_or_path)
    return model


def from_pretrained(name_or_path: str | os.PathLike, head: str | None = None, *, num_labels: int | None = None,
                    labels: Sequence[str] | None = None, compute_dtype: tf.DType = tf.float32, seed: int = 0,
                    ignore_mismatched_sizes: bool = False, revision: str | None = None,
                    custom_head: HeadConfig | None = None, merge_lora: bool = False) -> tf.Module:
    """A tfft model with Hugging Face weights, from a directory (or a PEFT LoRA adapter directory), a packaged model
    name or a Hub id.

    head: 'encoder', 'sequence_classification' (also the pair task), 'token_classification' or 'masked_lm';
    None takes the head the checkpoint was saved with (its config's `architectures`, or tfft_head.json).
    num_labels / labels: the label space of a classification head (labels gives the names).
    custom_head: one of tfft's own heads (tfft/models/heads.py) on the encoder, instead of Hugging Face's.
    seed: initialises whatever the checkpoint does not hold (a new head) and seeds dropout.
    merge_lora: a PEFT adapter directory's adapters are folded into the base weights (for inference and export);
    by default they stay attached (to train them further).
    """
    model = from_config(name_or_path, head, num_labels=num_labels, labels=labels, compute_dtype=compute_dtype,
                        seed=seed, revision=revision, custom_head=custom_head)
    restore(model, model.source_dir, ignore_mismatched_sizes=ignore_mismatched_sizes)
    if merge_lora:
        lora.merge(model)
    return model


def restore(model: tf.Module, model_dir: pathlib.Path, *, ignore_mismatched_sizes: bool = False) -> LoadReport:
    """Loads a checkpoint directory into an existing model: the Hugging Face weights (of an adapter directory: its
    base model's, then the adapters and head), and a tfft head when the model has one and the directory holds it
    (else the head stays as initialised, and the log says so)."""
    adapter = peft.read_adapter(model_dir) if peft.is_adapter_dir(model_dir) else None
    weights_dir = peft.base_model_dir(adapter) if adapter else model_dir
    report = load_weights(model, formats.read_weights(weights_dir), source=str(weights_dir),
                          ignore_mismatched_sizes=ignore_mismatched_sizes or adapter is not None)
    if adapter:  # the head comes from the adapter: the base's own (another label space, maybe) is not checked
        peft.load_adapter(model, adapter, ignore_mismatched_sizes=ignore_mismatched_sizes)
    if isinstance(model, EncoderWithHead):
        head_file = model_dir / HEAD_WEIGHTS
        if head_file.is_file() and (model_dir / HEAD_CONFIG).is_file():
            if read_head_config(model_dir / HEAD_CONFIG) == model.head_config:
                load_weights_by_name(named_variables(model.head), formats.read_safetensors(head_file), head_file)
                return report
        log.info("%s: no saved %s head; newly initialised", model_dir, model.head_config.kind)
    return report


def read_head_config(path: pathlib.Path) -> HeadConfig:
    """tfft_head.json; a file from another tfft version or edited by hand is a CheckpointError naming it."""
    try:
        return HeadConfig(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, ConfigError) as err:
        raise formats.CheckpointError(f"{path}: not a tfft head config ({err})") from err


def load_weights_by_name(variables: dict[str, tf.Variable], tensors: dict[str, np.ndarray], source) -> None:
    """A tfft-layout file: every variable must be there with its exact shape; nothing else may be."""
    if set(variables) != set(tensors):
        raise formats.CheckpointError(f"{source}: tensors {sorted(tensors)} do not match the head's "
                                      f"{sorted(variables)}")
    for name, variable in variables.items():
        if tuple(tensors[name].shape) != tuple(variable.shape):
            raise formats.CheckpointError(f"{source}: tensor {name} has shape {list(tensors[name].shape)} but the "
                                          f"model expects {list(variable.shape)}")
        variable.assign(tensors[name].astype(np.float32))


def export_weights(model: tf.Module) -> dict[str, np.ndarray]:
    """The model's variables as a Hugging Face state dict (PyTorch names and layouts), tied tensors omitted."""
    table, _ = names.name_table(model)
    return {name: np.ascontiguousarray(entry.variable.numpy().T if entry.transpose else entry.variable.numpy())
            for name, entry in table.items()}


def save_pretrained(model: tf.Module, save_dir: str | os.PathLike, tokenizer=None) -> pathlib.Path:
    """Writes config.json, model.safetensors (with LoRA adapters: PEFT's adapter files instead) and (if given) the
    tokenizer files, as transformers (and PEFT) would.

    The directory is assembled beside the target and renamed into place, so a crash never leaves a
    half-written model; `transformers.AutoModelFor*.from_pretrained(save_dir)` gives the same logits.
    """
    from safetensors.numpy import save_file

    with files.atomic_dir(save_dir) as staging:
        config = model.config.to_dict()
        hf_model = model.encoder if isinstance(model, EncoderWithHead) else model  # what transformers can load
        config["architectures"] = [type(hf_model).__name__]
        (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if lora.adapters(model):  # the adapters and head in PEFT's layout; the frozen base stays where it was
            peft.save_adapter(model, staging)
        else:
            save_file(export_weights(model), str(staging / formats.SAFETENSORS), metadata=SAFETENSORS_METADATA)
        if isinstance(model, EncoderWithHead):
            (staging / HEAD_CONFIG).write_text(json.dumps(dataclasses.asdict(model.head_config)), encoding="utf-8")
            save_file({name: v.numpy() for name, v in named_variables(model.head).items()},
                      str(staging / HEAD_WEIGHTS))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(staging))
    return pathlib.Path(save_dir).expanduser().resolve()

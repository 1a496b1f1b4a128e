"""PEFT's LoRA adapter directory, written and read, so adapters move between tfft and PyTorch's PEFT library:

    adapter_config.json        PEFT's LoraConfig: peft_type LORA, r, lora_alpha, lora_dropout, target_modules,
                               modules_to_save, base_model_name_or_path, task_type
    adapter_model.safetensors  base_model.model.<projection>.lora_A.weight [r, I] and .lora_B.weight [O, r] for every
                               adapted projection, and base_model.model.<tensor> for every tensor of the task head

`peft.PeftModel.from_pretrained(base_model, dir)` loads what `save_adapter` writes and gives the same logits, and
`load_adapter` reads what PEFT's `save_pretrained` writes (tests/checkpoints/test_peft.py). The base model's own
weights are not in the directory: `base_model_name_or_path` names them.
"""

import dataclasses
import json
import logging
import pathlib
import re

import numpy as np
import tensorflow as tf

from tfft.checkpoints import formats, hub, names
from tfft.models import lora, read_config

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."  # PeftModel's wrapping of the Hugging Face model, in every saved tensor name
LORA_TENSOR = re.compile(r"(?P<module>.+)\.(?P<matrix>lora_[AB])\.weight")
# PEFT task types by the kind of model, and the tfft head each one loads as.
TASK_TYPES = {"ForSequenceClassification": "SEQ_CLS", "ForTokenClassification": "TOKEN_CLS"}
HEADS = {"SEQ_CLS": "sequence_classification", "TOKEN_CLS": "token_classification", "FEATURE_EXTRACTION": "encoder"}
# adapter_config.json options that change the computation, which tfft does not implement, with their neutral value.
UNSUPPORTED = {"use_dora": False, "use_rslora": False, "fan_in_fan_out": False, "bias": "none", "lora_bias": False,
               "rank_pattern": {}, "alpha_pattern": {}, "layers_to_transform": None, "layer_replication": None,
               "trainable_token_indices": None, "target_parameters": None}


@dataclasses.dataclass(frozen=True)
class Adapter:
    """An adapter directory as read: its settings and tensors (by PEFT name, prefix removed)."""

    path: pathlib.Path
    rank: int
    alpha: float
    dropout: float
    base: str | None  # base_model_name_or_path
    task_type: str | None
    tensors: dict[str, np.ndarray]

    @property
    def head(self) -> str | None:
        """The tfft head of the adapter's task type (None when PEFT's task type has no tfft head)."""
        return HEADS.get(self.task_type)

    @property
    def num_labels(self) -> int | None:
        """The classifier's output count, from its saved weight (absent for adapters without a saved head)."""
        weight = self.tensors.get("classifier.weight")
        return None if weight is None else int(weight.shape[0])


def is_adapter_dir(path: pathlib.Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file()


def read_adapter(path: str | pathlib.Path) -> Adapter:
    """adapter_config.json and adapter_model.safetensors; a CheckpointError names the file and what is wrong."""
    path = pathlib.Path(path)
    config_file = path / ADAPTER_CONFIG
    if not config_file.is_file():
        raise formats.CheckpointError(f"{path}: not a PEFT adapter directory ({ADAPTER_CONFIG} is missing)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise formats.CheckpointError(f"{config_file}: not JSON ({err})") from err
    if not isinstance(raw, dict) or raw.get("peft_type") != "LORA":
        found = raw.get("peft_type") if isinstance(raw, dict) else raw
        raise formats.CheckpointError(f"{config_file}: peft_type={found!r}; tfft loads LORA adapters only")
    for option, neutral in UNSUPPORTED.items():
        if raw.get(option) is not None and raw[option] != neutral:
            raise formats.CheckpointError(f"{config_file}: {option}={raw[option]!r} is not supported by tfft "
                                          f"(expected {neutral!r}: plain LoRA on every block)")
    try:
        rank, alpha, dropout = int(raw["r"]), float(raw["lora_alpha"]), float(raw.get("lora_dropout", 0.0))
    except (KeyError, TypeError, ValueError) as err:
        raise formats.CheckpointError(f"{config_file}: expected numbers r and lora_alpha ({err!r})") from err
    weights = path / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise formats.CheckpointError(f"{path}: {ADAPTER_WEIGHTS} is missing (PEFT: save_pretrained(dir, "
                                      "safe_serialization=True))")
    tensors = {key.removeprefix(PREFIX): value for key, value in formats.read_safetensors(weights).items()}
    return Adapter(path, rank, alpha, dropout, raw.get("base_model_name_or_path"), raw.get("task_type"), tensors)


def base_model_dir(adapter: Adapter) -> pathlib.Path:
    """The directory of the base model the adapter names (a local path, packaged model or Hub id)."""
    if not adapter.base:
        raise formats.CheckpointError(f"{adapter.path / ADAPTER_CONFIG}: base_model_name_or_path is not set; pass the "
                                      f"base model with --model=BASE --lora_adapter={adapter.path}")
    try:
        return hub.resolve(adapter.base)
    except hub.ModelNotFoundError as err:
        raise formats.CheckpointError(f"{adapter.path}: its base model {adapter.base!r} is not here ({err}); pass "
                                      f"the base model with --model=BASE --lora_adapter={adapter.path}") from err


def _local_dir(name: str) -> pathlib.Path | None:
    """A base model name as a directory, when it is one here without asking the Hub."""
    return hub.resolve(name).resolve() if hub.is_local(name) else None


def _architecture(config):
    return dataclasses.replace(config, id2label=())


def check_base(model: tf.Module, adapter: Adapter, base: str) -> None:
    """Refuses an adapter whose recorded base model is another architecture than `base`, the model it goes on."""
    if not adapter.base or adapter.base == base:
        return
    recorded = _local_dir(adapter.base)
    if recorded is None:  # a Hub id or another machine's path: the tensor shapes are checked on loading
        log.warning("%s was made for base model %s, which is not here; loading it onto %s", adapter.path,
                    adapter.base, base)
        return
    if recorded == _local_dir(base):
        return
    theirs = read_config(recorded / "config.json")
    if type(theirs) is not type(model.config) or _architecture(theirs) != _architecture(model.config):
        raise formats.CheckpointError(
            f"{adapter.path} was built for base model {adapter.base} ({_describe(theirs)}), not for {base} "
            f"({_describe(model.config)}); pass --model={adapter.base}")


def _describe(config) -> str:
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k in (
        "dim", "hidden_size", "n_layers", "num_hidden_layers", "vocab_size")}
    return f"{config.model_type} " + ", ".join(f"{k}={v}" for k, v in fields.items())


def _projection_names(model: tf.Module) -> dict[str, tuple[int, str]]:
    """Hugging Face module name -> (block, LoRA target), for every projection LoRA can adapt."""
    blocks = len(getattr(model, "encoder", model).blocks)
    return {names.block_module(model, i, path): (i, target)
            for i in range(blocks) for target, path in lora.TARGETS.items()}


def _head_table(model: tf.Module) -> dict[str, names.Entry]:
    """The Hugging Face names of the model's task head (everything outside the encoder; none for tfft's own heads,
    which are saved in their own file)."""
    table, _ = names.name_table(model)
    encoder = {v.ref() for v in getattr(model, "encoder", model).variables}
    return {name: entry for name, entry in table.items() if entry.variable.ref() not in encoder}


def load_adapter(model: tf.Module, adapter: Adapter, *, ignore_mismatched_sizes: bool = False) -> None:
    """Puts the adapter's LoRA weights on the model (attaching adapters of its rank, alpha and targets, or into the
    ones it has, which must match) and its head tensors into the head."""
    projections = _projection_names(model)
    prefix = names.FAMILIES[model.config.model_type].prefix
    found: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    head: dict[str, np.ndarray] = {}
    for key, value in adapter.tensors.items():
        match = LORA_TENSOR.fullmatch(key)
        if match is None:
            head[key] = value
            continue
        module = next((m for m in (match["module"], prefix + match["module"], match["module"].removeprefix(prefix))
                       if m in projections), None)
        if module is None:
            raise formats.CheckpointError(f"{adapter.path / ADAPTER_WEIGHTS}: tensor {PREFIX}{key} names no projection "
                                          f"of {type(model).__name__}: an adapter for another architecture?")
        found.setdefault(projections[module], {})[match["matrix"]] = value
    targets = tuple(target for target in lora.TARGETS if any(key[1] == target for key in found))
    config = lora.LoraConfig(adapter.rank, adapter.alpha, adapter.dropout, targets)
    keys = lora.projections(model, targets)
    incomplete = [names.block_module(model, *_path(key)) for key in keys if len(found.get(key, {})) != 2]
    if incomplete:
        raise formats.CheckpointError(f"{adapter.path / ADAPTER_WEIGHTS}: no lora_A/lora_B pair for "
                                      f"{', '.join(incomplete)} (adapters on some blocks only are not supported)")
    if getattr(model, "lora", None) is None:
        lora.attach(model, config)
    elif model.lora != config:
        raise formats.CheckpointError(f"{adapter.path}: adapters {config} do not fit the model's {model.lora}")
    for key, module in lora.adapters(model).items():
        for matrix, variable in (("lora_A", module.a), ("lora_B", module.b)):
            value = found[key][matrix].T  # PyTorch [out, in] -> tfft [in, out]
            if tuple(value.shape) != tuple(variable.shape):
                raise formats.CheckpointError(
                    f"{adapter.path / ADAPTER_WEIGHTS}: {names.block_module(model, *_path(key))}.{matrix}.weight has "
                    f"shape {list(value.T.shape)} but {type(model).__name__} expects {list(variable.shape[::-1])}: "
                    f"the adapter was built for another base model ({adapter.base})")
            variable.assign(value.astype(np.float32))
    _load_head(model, head, adapter, ignore_mismatched_sizes)


def _path(key: tuple[int, str]) -> tuple[int, str]:
    return key[0], lora.TARGETS[key[1]]


def _load_head(model: tf.Module, tensors: dict[str, np.ndarray], adapter: Adapter, ignore_mismatched_sizes) -> None:
    table = _head_table(model)
    filled = set()
    for name, value in tensors.items():
        if name not in table:
            raise formats.CheckpointError(f"{adapter.path / ADAPTER_WEIGHTS}: tensor {PREFIX}{name} is neither a LoRA "
                                          f"weight nor a tensor of {type(model).__name__}'s head")
        entry = table[name]
        value = value.T if entry.transpose else value
        if tuple(value.shape) != tuple(entry.variable.shape):
            message = (f"{adapter.path / ADAPTER_WEIGHTS}: tensor {name} has shape {list(value.shape)} but the model "
                       f"expects {list(entry.variable.shape)}")
            if not ignore_mismatched_sizes:
                raise formats.CheckpointError(message + " (a head for other labels?)")
            log.warning("%s; newly initialised", message)
            continue
        entry.variable.assign(value.astype(np.float32))
        filled.add(name)
    missing = sorted(set(table) - filled)
    if missing:
        log.info("%s: %d head tensors not in the adapter, newly initialised: %s", adapter.path, len(missing),
                 ", ".join(missing))


def save_adapter(model: tf.Module, directory: pathlib.Path) -> None:
    """Writes the model's adapters and head as PEFT does (see the module docstring) into `directory`."""
    from safetensors.numpy import save_file

    tensors = {}
    for key, module in lora.adapters(model).items():
        name = PREFIX + names.block_module(model, *_path(key))
        tensors[f"{name}.lora_A.weight"] = np.ascontiguousarray(module.a.numpy().T)  # [r, I]
        tensors[f"{name}.lora_B.weight"] = np.ascontiguousarray(module.b.numpy().T)  # [O, r]
    head = _head_table(model)
    for name, entry in head.items():
        value = entry.variable.numpy()
        tensors[PREFIX + name] = np.ascontiguousarray(value.T if entry.transpose else value)
    save_file(tensors, str(directory / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config = model.lora
    task_type = next((kind for suffix, kind in TASK_TYPES.items() if type(model).__name__.endswith(suffix)), None)
    settings = {
        "peft_type": "LORA", "task_type": task_type if head else "FEATURE_EXTRACTION",
        "base_model_name_or_path": getattr(model, "base_model_name_or_path", None),
        "r": config.rank, "lora_alpha": config.alpha, "lora_dropout": config.dropout,
        "target_modules": target_modules(model.config.model_type, config.targets),
        "modules_to_save": sorted({name.rsplit(".", 1)[0] for name in head}) or None,
        "inference_mode": True, "init_lora_weights": True, **UNSUPPORTED,
    }
    (directory / ADAPTER_CONFIG).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def target_modules(model_type: str, targets) -> list[str] | str:
    """PEFT's target_modules for tfft targets: the module names (PEFT matches them as name suffixes), or a regular
    expression when one is a suffix of another module's name (BERT's output.dense of attention.output.dense)."""
    family = names.FAMILIES[model_type]
    chosen = [next(hf for hf, path in family.block.items() if path == lora.TARGETS[t]) for t in targets]
    if not any(other != mine and other.endswith("." + mine) for mine in chosen for other in family.block):
        return chosen
    layer = re.escape(family.layer).replace(re.escape("{}"), r"\d+")
    return rf"(.*\.)?{layer}\.({'|'.join(re.escape(m) for m in chosen)})"

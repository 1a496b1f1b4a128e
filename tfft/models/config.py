"""What every model-family config shares: reading and writing Hugging Face `config.json` dictionaries.

Each family (tfft/models/distilbert.py, tfft/models/bert.py) declares one frozen dataclass whose field
names are exactly Hugging Face's, so following a hyperparameter from config.json to the layer that uses
it takes one hop. Keys tfft does not use are kept in `extra` and written back unchanged, so a saved
config still loads in `transformers`.
"""

import dataclasses
import json
import os
import types
from typing import Any, get_type_hints

# Keys that are derived from the fields and rewritten on save rather than carried over.
_DERIVED_KEYS = ("model_type", "id2label", "label2id", "num_labels")


class ConfigError(ValueError):
    """A config.json that tfft cannot use; the message names the file or field and what was expected."""


def _type_ok(value: Any, annotation: Any) -> bool:
    allowed = annotation.__args__ if isinstance(annotation, types.UnionType) else (annotation,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind in (bool, str) and isinstance(value, kind):
            return True
        if kind is tuple and isinstance(value, tuple):
            return True
    return False


def check_field_types(config) -> None:
    """Type-checks every field against its annotation, so '"dim": "768"' fails here with its name."""
    hints = get_type_hints(type(config))
    for field in dataclasses.fields(config):
        if field.name == "extra":
            continue
        value = getattr(config, field.name)
        annotation = hints[field.name]
        origin = getattr(annotation, "__origin__", annotation)
        if not _type_ok(value, origin):
            raise ConfigError(f"config field {field.name}={value!r} has the wrong type; expected {annotation}")


def check_positive(config, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ConfigError(f"config field {name}={getattr(config, name)} must be positive")


def check_rates(config, *names: str) -> None:
    for name in names:
        rate = getattr(config, name)
        if rate is not None and not 0.0 <= rate < 1.0:
            raise ConfigError(f"config field {name}={rate} must be a dropout probability in [0, 1)")


def require_labels(config) -> int:
    """The number of labels a classification head needs, from the config's id2label."""
    if not config.id2label:
        raise ConfigError("a classification head needs labels: the config has no id2label; "
                          "pass num_labels= (or labels=) when loading")
    return len(config.id2label)


def _labels_from_dict(raw: dict) -> tuple[str, ...]:
    id2label = raw.get("id2label")
    if id2label is None:
        return ()
    try:
        by_id = {int(i): str(name) for i, name in id2label.items()}
    except (AttributeError, ValueError) as err:
        raise ConfigError(f"config field id2label must map integer ids to names, got {id2label!r}") from err
    if sorted(by_id) != list(range(len(by_id))):
        raise ConfigError(f"config field id2label must have ids 0..{len(by_id) - 1}, got {sorted(by_id)}")
    return tuple(by_id[i] for i in range(len(by_id)))


def from_dict(cls, raw: dict):
    """Builds a family config from a config.json dictionary (unknown keys go to `extra`)."""
    names = {f.name for f in dataclasses.fields(cls)} - {"id2label", "extra"}
    known = {k: raw[k] for k in names if k in raw}
    extra = {k: v for k, v in raw.items() if k not in names and k not in _DERIVED_KEYS}
    return cls(**known, id2label=_labels_from_dict(raw), extra=extra)


def to_dict(config) -> dict:
    """The config.json dictionary Hugging Face expects (id2label keys are strings, as in its files)."""
    out = dict(config.extra)
    for field in dataclasses.fields(config):
        if field.name not in ("id2label", "extra"):
            out[field.name] = getattr(config, field.name)
    out["model_type"] = config.model_type
    if config.id2label:
        out["id2label"] = {str(i): name for i, name in enumerate(config.id2label)}
        out["label2id"] = {name: i for i, name in enumerate(config.id2label)}
    return dict(sorted(out.items()))


def read_json(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such file; a model directory needs a Hugging Face config.json") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw

"""The frozen-encoder feature cache: with --freeze=all the encoder is a fixed function, so its outputs are computed
once per split, stored on disk, and the head trains on them (tfft.training.steps.forward reads a batch's
`features` instead of running the encoder). The loop caches the training split only: evaluations run the whole
model, so every validation and test number is exactly what the saved model gives when it is loaded again (float16
features would otherwise shift them slightly).

What is cached is what the model's head reads (`model.features`): every token's state [T, H] (the examples'
tokens concatenated, as in `Encoded.input_ids`) for heads that look at the tokens, or one pooled state per example
[N, H] ([CLS], or BERT's pooler) for heads that do not. Stored as float16 (half the disk and memory; the head
computes in float32) or float32.

A cache directory describes itself in meta.json: the model (its name and a hash of the encoder's weights), the
tokenizer fingerprint, the max length, the compute dtype, what is stored, and per split the number of examples and
tokens with a hash of the token ids. `--feature_cache=auto` keeps each description in its own directory under
$TFFT_CACHE/encoder (so a sweep over head settings reuses one cache and a change anywhere computes anew);
`--feature_cache=DIR` is one cache that must describe this run exactly, or the run stops with an error naming what
differs: a stale cache is never used. meta.json is written last, after every split's file has been renamed into
place, so an interrupted computation leaves no cache that looks complete.
"""

import hashlib
import json
import logging
import os
import pathlib
import time

import numpy as np
import tensorflow as tf

from tfft import files
from tfft.data import Batches, DataError, Encoded

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what a cache file holds changes
DEFAULT_ROOT = pathlib.Path(os.environ.get("TFFT_CACHE", "~/.cache/tfft")).expanduser() / "encoder"
META = "meta.json"


class FeatureCacheError(DataError):
    """A --feature_cache directory that holds something else than this run's features."""


def encoder_fingerprint(model: tf.Module) -> str:
    """A hash of the frozen part of the model: its config and the encoder's weights."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for variable in model.encoder.trainable_variables:
        digest.update(variable.name.encode())
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def split_fingerprint(encoded: Encoded) -> str:
    digest = hashlib.sha256()
    for array in (encoded.lengths, encoded.input_ids, encoded.token_type_ids):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def describe(model: tf.Module, encoded: dict[str, Encoded], *, model_name: str, tokenizer: str, max_length: int,
             dtype: str) -> dict:
    """meta.json of the cache this run needs (`tokenizer`: its fingerprint, tfft.data.features)."""
    return {"version": CACHE_VERSION, "model": model_name, "encoder": encoder_fingerprint(model),
            "tokenizer": tokenizer, "max_length": max_length, "compute_dtype": model.encoder.compute_dtype.name,
            "features": "tokens" if model.sequence_features else "pooled", "dtype": dtype,
            "splits": {name: {"examples": len(split), "tokens": int(split.lengths.sum()),
                              "sha256": split_fingerprint(split)} for name, split in sorted(encoded.items())}}


def mismatch(found: dict, wanted: dict) -> str | None:
    """What makes a cache's meta.json differ from this run's, in words; None when it fits."""
    if found.get("version") != wanted["version"]:
        return f"it was written by another tfft cache version ({found.get('version')}, now {wanted['version']})"
    if found.get("encoder") != wanted["encoder"] or found.get("model") != wanted["model"]:
        return f"it holds features of another model ({found.get('model')}, encoder weights {found.get('encoder')})"
    for key, what in (("tokenizer", "tokenizer"), ("max_length", "--max_seq_length"),
                      ("compute_dtype", "compute dtype (--precision)"), ("features", "kind of features"),
                      ("dtype", "--feature_dtype")):
        if found.get(key) != wanted[key]:
            return f"its {what} is {found.get(key)}, this run's {wanted[key]}"
    for name, split in wanted["splits"].items():
        if found.get("splits", {}).get(name) != split:
            held = found.get("splits", {}).get(name, {})
            return (f"it holds features of other data (split {name}: {held.get('examples')} examples, this run "
                    f"{split['examples']})")
    return None


def encoder_features(model: tf.Module, encoded: dict[str, Encoded], *, directory: pathlib.Path | None,
                     description: dict, batch_size: int, boundaries: tuple[int, ...],
                     pad_token_id: int) -> dict[str, np.ndarray]:
    """The frozen encoder's features of every split, from the cache or computed (and cached). `directory`: a
    --feature_cache directory, or None for the automatic one."""
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:32]
    where = directory if directory is not None else DEFAULT_ROOT / key
    flag = f"--feature_cache={where}"
    meta = where / META
    if meta.is_file():
        problem = mismatch(json.loads(meta.read_text(encoding="utf-8")), description)
        if problem:
            raise FeatureCacheError(f"{flag}: {problem}; pass another directory or --feature_cache=auto")
        start = time.perf_counter()
        features = {name: _load(where / f"{name}.npy", encoded[name], description, flag) for name in encoded}
        log.info("encoder features of %s loaded from %s (%.1fs)", ", ".join(features), where,
                 time.perf_counter() - start)
        return features
    if directory is not None and directory.is_dir() and any(directory.iterdir()):
        raise FeatureCacheError(f"{flag}: the directory is not empty and has no {META}; expected an empty or new "
                                "directory, or a feature cache")
    where.mkdir(parents=True, exist_ok=True)
    extract = tf.function(lambda batch: model.features(batch["input_ids"], batch["attention_mask"],
                                                       batch["token_type_ids"], training=False),
                          reduce_retracing=True)  # one graph for every batch length
    features = {}
    for name, split in encoded.items():
        start = time.perf_counter()
        batches = Batches(split, batch_size=batch_size, boundaries=boundaries, pad_token_id=pad_token_id)
        features[name] = _compute(extract, batches, sequence=model.sequence_features, dtype=description["dtype"])
        with files.atomic_path(where / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, features[name])
        log.info("%s: encoder features of %d examples computed in %.1fs (%.0f MB of %s)", name, len(split),
                 time.perf_counter() - start, features[name].nbytes / 2**20, description["dtype"])
    files.write_json(meta, description)
    log.info("encoder features cached in %s", where)
    return features


def _compute(extract, batches: Batches, *, sequence: bool, dtype: str) -> np.ndarray:
    """Runs the encoder over the split's batches (shortest first) and puts each example's rows in place."""
    encoded = batches.encoded
    offsets = encoded.offsets
    out = None
    for batch in batches.dataset():
        values = extract(batch).numpy()  # [B, L, H] or [B, H]
        if out is None:
            out = np.zeros([offsets[-1] if sequence else len(encoded), values.shape[-1]], dtype)
        for row, index in enumerate(batch["example_index"].numpy()):
            if index < 0:  # a filler row
                continue
            if sequence:
                out[offsets[index]:offsets[index + 1]] = values[row, :encoded.lengths[index]]
            else:
                out[index] = values[row]
    return out if out is not None else np.zeros([0, 0], dtype)


def _load(path: pathlib.Path, encoded: Encoded, description: dict, flag: str) -> np.ndarray:
    rows = int(encoded.lengths.sum()) if description["features"] == "tokens" else len(encoded)
    try:
        array = np.load(path)
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"{flag}: {path.name} cannot be read ({err}); delete the directory") from err
    if array.ndim != 2 or len(array) != rows or array.dtype != np.dtype(description["dtype"]):
        raise FeatureCacheError(f"{flag}: {path.name} holds {array.dtype} {list(array.shape)}, expected {rows} rows "
                                f"of {description['dtype']}; delete the directory")
    return array

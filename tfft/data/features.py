"""Token features of a whole split in flat arrays, tokenized once and cached on disk.

The cache key is a hash of the examples' content (texts, pairs, words and labels), the label space, the
tokenizer (its full serialized definition: vocabulary, normalizer, template), the task, the max length and
the labelling option, so a second run with the same data and model starts without tokenizing, and any
change to either tokenizes again.
"""

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import time

import numpy as np

from tfft import files, tokenization
from tfft.data.examples import Examples, LabelSpace

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the encoding of features changes
DEFAULT_CACHE_DIR = pathlib.Path(os.environ.get("TFFT_CACHE", "~/.cache/tfft")).expanduser() / "features"


@dataclasses.dataclass(frozen=True)
class Encoded:
    """A split's features: example i is input_ids[offsets[i]:offsets[i + 1]]."""

    lengths: np.ndarray  # [N] int32 tokens per example
    input_ids: np.ndarray  # [T] int32, every example's tokens concatenated
    token_type_ids: np.ndarray  # [T] int32
    labels: np.ndarray  # [N] int32 per example, or [T] per token (-100: ignored) when token_level
    word_ids: np.ndarray | None  # [T] int32 word index of each token (-1: special), for NER
    truncated: np.ndarray  # [N] bool: max_length cut the example

    @property
    def token_level(self) -> bool:
        return self.word_ids is not None

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths, dtype=np.int64)])

    @classmethod
    def from_features(cls, features: tokenization.Features, example_labels: np.ndarray | None = None) -> "Encoded":
        flat = lambda column: np.concatenate(column).astype(np.int32) if column else np.zeros(0, np.int32)  # noqa
        token_level = example_labels is None
        return cls(lengths=features.lengths(), input_ids=flat(features.input_ids),
                   token_type_ids=flat(features.token_type_ids),
                   labels=flat(features.labels) if token_level else np.asarray(example_labels, np.int32),
                   word_ids=flat(features.word_ids) if token_level else None,
                   truncated=np.asarray(features.truncated, dtype=bool))

    def save(self, path: pathlib.Path) -> None:
        """Atomic: written to a temporary file beside `path`, then renamed."""
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: pathlib.Path) -> "Encoded":
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] if f.name in data else None for f in dataclasses.fields(cls)})


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what decides token ids. The serialized tokenizer also holds truncation and padding settings
    that every call may change (they are runtime state, not the tokenizer), so they are left out."""
    definition = json.loads(tokenizer.backend_tokenizer.to_str())
    definition.pop("truncation", None)
    definition.pop("padding", None)
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def _fingerprint(examples: Examples, parts: dict) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
    for column in (examples.texts, examples.text_pairs, examples.words, examples.labels):
        digest.update(json.dumps(column, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


def encode_split(task, tokenizer, examples: Examples, labels: LabelSpace, *, name: str, max_length: int,
                 label_all_subtokens: bool = False, cache_dir: pathlib.Path | None = DEFAULT_CACHE_DIR) -> Encoded:
    """Tokenizes one split (or loads it from the cache) and logs how many examples were truncated."""
    key = _fingerprint(examples, {"version": CACHE_VERSION, "task": task.name, "labels": labels.names,
                                  "tokenizer": tokenizer_fingerprint(tokenizer), "max_length": max_length,
                                  "label_all_subtokens": label_all_subtokens})
    path = None if cache_dir is None else pathlib.Path(cache_dir) / f"{key}.npz"
    start = time.perf_counter()
    if path is not None and path.is_file():
        encoded = Encoded.load(path)
        log.info("%s: %d examples from the feature cache %s (%.2fs)", name, len(encoded), path,
                 time.perf_counter() - start)
        return encoded
    encoded = task.encode(tokenizer, examples, labels, max_length=max_length, label_all_subtokens=label_all_subtokens)
    if path is not None:
        encoded.save(path)
    log.info("%s: tokenized %d examples in %.2fs", name, len(encoded), time.perf_counter() - start)
    if encoded.truncated.any():
        log.warning("%s: %d of %d examples are longer than max_seq_length=%d tokens and were truncated", name,
                    int(encoded.truncated.sum()), len(encoded), max_length)
    return encoded

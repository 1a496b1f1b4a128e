"""Turn raw text and pre-split NER words into unpadded int32 features for BERT-family encoders.

Why: the data pipeline buckets examples by length and pads each batch only as far as it needs, so
features here stay unpadded (one array per example) and `pad_batch` does the padding. NER labels
must be aligned to WordPiece sub-tokens by the word index the tokenizer reports, never by position,
so a word that yields no tokens (a zero-width space, a control character) drops out without
shifting the labels of the words after it. Tokenization is one call to the fast (Rust)
tokenizer's batch API, because per-example Python calls are far too slow for tens of thousands of
sentences; truncation and special tokens are applied here, with the tokenizer's own rules and
template, because its pair truncation is quadratic in the length of the texts.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import pathlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import transformers

from tfft.checkpoints.hub import ModelNotFoundError, resolve

IGNORE_INDEX = -100
"""Label of tokens the loss skips: special tokens and, by default, non-first sub-tokens."""

NO_WORD = -1
"""Word id of tokens that come from no word: special tokens and padding."""

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_REQUIRED_SPECIAL_TOKENS = ("cls_token", "sep_token", "pad_token")


def check_tokenizer_files(model_dir: pathlib.Path) -> None:
    """A ModelNotFoundError unless the model directory holds a tokenizer."""
    if not any((model_dir / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelNotFoundError(f"{model_dir} has no tokenizer files (expected one of {', '.join(_TOKENIZER_FILES)})")


def load_tokenizer(name_or_path: str | os.PathLike) -> transformers.PreTrainedTokenizerFast:
    """The fast tokenizer of a model directory, packaged model or Hub id (resolved as `from_pretrained` does).

    Fails early and clearly rather than letting transformers fall back to a confusing error or a
    tokenizer without the [CLS]/[SEP]/[PAD] tokens that encoding and padding rely on.
    """
    path = resolve(name_or_path)
    check_tokenizer_files(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, use_fast=True, local_files_only=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"tokenizer in {path} is not a fast tokenizer ({type(tokenizer).__name__})")
    missing = [name for name in _REQUIRED_SPECIAL_TOKENS if getattr(tokenizer, f"{name}_id") is None]
    if missing:
        raise ValueError(
            f"tokenizer in {path} defines no {', '.join(missing)} (is tokenizer_config.json missing?)"
        )
    return tokenizer


@dataclasses.dataclass(frozen=True, eq=False)
class Features:
    """Unpadded per-example int32 token features, one array per example in every column.

    `word_ids` (the index of each token's word, NO_WORD for special tokens) and `labels` (per-token
    labels, IGNORE_INDEX where the loss skips) are only present for token classification.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray]
    word_ids: list[np.ndarray] | None = None
    labels: list[np.ndarray] | None = None
    truncated: np.ndarray | None = None  # bool per example: did max_length cut it?
    word_spans: list[np.ndarray] | None = None  # [words, 2] character start/end of each word of a raw text

    def __post_init__(self) -> None:
        if self.word_spans is not None and len(self.word_spans) != len(self.input_ids):
            raise ValueError(f"word_spans has {len(self.word_spans)} examples but input_ids has {len(self.input_ids)}")
        for name in ("token_type_ids", "word_ids", "labels"):
            column = getattr(self, name)
            if column is None:
                continue
            if len(column) != len(self.input_ids):
                raise ValueError(
                    f"{name} has {len(column)} examples but input_ids has {len(self.input_ids)}"
                )
            for i, (ids, values) in enumerate(zip(self.input_ids, column)):
                if np.shape(values) != np.shape(ids):
                    raise ValueError(
                        f"example {i}: {name} has shape {np.shape(values)} "
                        f"but input_ids has shape {np.shape(ids)}"
                    )

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> np.ndarray:
        """Token count of each example, for bucketing by length."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int32, count=len(self))

    def select(self, indices: Iterable[int]) -> Features:
        """The examples at `indices`, in that order, e.g. one length bucket's batch."""
        indices = list(indices)
        columns = {}
        for field in dataclasses.fields(self):
            column = getattr(self, field.name)
            columns[field.name] = None if column is None else [column[i] for i in indices]
        if self.truncated is not None:
            columns["truncated"] = np.asarray(columns["truncated"], dtype=bool)
        return Features(**columns)


def encode_texts(
    tokenizer: transformers.PreTrainedTokenizerFast,
    texts: Sequence[str],
    *,
    max_length: int,
    text_pairs: Sequence[str] | None = None,
    with_words: bool = False,
) -> Features:
    """Encode single texts, or text pairs, for sequence classification.

    Each result is at most `max_length` tokens including [CLS]/[SEP]; pairs are truncated
    'longest_first' (the longer segment loses tokens first), exactly as the tokenizer would.
    `with_words` adds the words the tokenizer splits `texts` into (whitespace and punctuation,
    after normalization): each token's word in `word_ids` and each word's character span in
    `word_spans`, for tagging raw text.
    """
    texts = _check_strings("texts", texts)
    if text_pairs is not None:
        text_pairs = _check_strings("text_pairs", text_pairs)
        if len(text_pairs) != len(texts):
            raise ValueError(f"text_pairs has {len(text_pairs)} items but texts has {len(texts)}")
    segments = [texts] if text_pairs is None else [texts, text_pairs]
    input_ids, token_type_ids, word_ids, truncated, spans = _encode(
        tokenizer, segments, max_length=max_length, is_split_into_words=False, with_words=with_words
    )
    return Features(input_ids=input_ids, token_type_ids=token_type_ids, word_ids=word_ids,
                    truncated=truncated, word_spans=spans)


def encode_words(
    tokenizer: transformers.PreTrainedTokenizerFast,
    words: Sequence[Sequence[str]],
    *,
    max_length: int,
    labels: Sequence[Sequence[int]] | None = None,
    label_all_subtokens: bool = False,
) -> Features:
    """Encode pre-split words for token classification (NER), with per-token word ids and labels.

    The first sub-token of each word carries the word's label and the other sub-tokens get
    IGNORE_INDEX, so the loss counts each word once; with `label_all_subtokens` every sub-token
    carries it. Words cut off by truncation, or that tokenize to nothing, have no tokens: their
    labels are dropped and `word_predictions` gives them its fill value.
    """
    if isinstance(words, (str, bytes)):
        raise TypeError("words must be a sequence of word lists, got a single string")
    words = [_check_strings(f"words[{i}]", example) for i, example in enumerate(words)]
    if labels is not None:
        labels = _check_labels(labels, words)
    input_ids, token_type_ids, word_ids, truncated, _ = _encode(
        tokenizer, [words], max_length=max_length, is_split_into_words=True, with_words=True
    )
    token_labels = None if labels is None else _align_labels(word_ids, labels, label_all_subtokens)
    return Features(
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        word_ids=word_ids,
        labels=token_labels,
        truncated=truncated,
    )


def first_tokens(word_ids: tf.Tensor) -> tf.Tensor:
    """word_ids [B, L] -> bool [B, L]: the first token of each word, where a word's tag is read (and where a CRF
    scores it)."""
    previous = tf.pad(word_ids[:, :-1], [[0, 0], [1, 0]], constant_values=NO_WORD)
    return (word_ids != NO_WORD) & (word_ids != previous)


def pad_batch(features: Features, length: int, *, pad_token_id: int) -> dict[str, np.ndarray]:
    """Right-pad a batch of features to `length` tokens as [batch, length] int32 arrays.

    Returns input_ids, attention_mask and token_type_ids, plus word_ids (padded with NO_WORD) and
    labels (padded with IGNORE_INDEX) when the features have them. Features longer than `length`
    are an error rather than silently cut, since truncation belongs to encoding.
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    lengths = features.lengths()
    if len(lengths) and lengths.max() > length:
        longest = int(np.argmax(lengths))
        raise ValueError(
            f"example {longest} has {lengths[longest]} tokens, more than the padding length {length}"
        )
    mask = np.arange(length) < lengths[:, None]

    def pad(column: list[np.ndarray], value: int) -> np.ndarray:
        padded = np.full(mask.shape, value, dtype=np.int32)
        if column:
            padded[mask] = np.concatenate(column)
        return padded

    batch = {
        "input_ids": pad(features.input_ids, pad_token_id),
        "attention_mask": mask.astype(np.int32),
        "token_type_ids": pad(features.token_type_ids, 0),
    }
    if features.word_ids is not None:
        batch["word_ids"] = pad(features.word_ids, NO_WORD)
    if features.labels is not None:
        batch["labels"] = pad(features.labels, IGNORE_INDEX)
    return batch


def word_predictions(
    word_ids: np.ndarray, token_values: np.ndarray, num_words: int, fill: int | float = IGNORE_INDEX
) -> np.ndarray:
    """Recover one value per word from per-token values, reading each word's first sub-token.

    `word_ids` is one example's [tokens] word ids (padding with NO_WORD is fine) and
    `token_values` is [tokens, ...] (predicted ids, logits...). Returns [num_words, ...]; words
    with no token (truncated, or tokenizing to nothing) get `fill`.
    """
    word_ids = np.asarray(word_ids)
    token_values = np.asarray(token_values)
    if word_ids.ndim != 1 or token_values.shape[:1] != word_ids.shape:
        raise ValueError(
            f"word_ids must be 1-D with one entry per token of token_values, got shapes "
            f"{word_ids.shape} and {token_values.shape}"
        )
    if word_ids.size and word_ids.max() >= num_words:
        raise ValueError(f"word id {word_ids.max()} is out of range for {num_words} words")
    predictions = np.full((num_words, *token_values.shape[1:]), fill, dtype=token_values.dtype)
    first = _first_subtokens(word_ids)
    predictions[word_ids[first]] = token_values[first]
    return predictions


class TemplatePart(NamedTuple):
    """A run of the tokenizer's special-token template: special tokens, or a content segment."""

    segment: int | None  # index of the content segment, None for special tokens
    ids: list[int]  # the special tokens' ids (empty for a content segment)
    type_ids: list[int]  # the special tokens' type ids, or the content segment's single type id


def template(tokenizer: transformers.PreTrainedTokenizerFast, num_segments: int) -> list[TemplatePart]:
    """How the tokenizer wraps 1 or 2 segments in special tokens, read off a probe encoding, so
    that the layout ([CLS] A [SEP] B [SEP] for BERT) comes from the tokenizer, not from here."""
    probe = tokenizer(*[["a"]] * num_segments, add_special_tokens=True, return_token_type_ids=True)
    parts: list[TemplatePart] = []
    for token_id, type_id, segment in zip(
        probe["input_ids"][0], probe["token_type_ids"][0], probe.sequence_ids(0)
    ):
        if segment is None and parts and parts[-1].segment is None:
            parts[-1].ids.append(token_id)
            parts[-1].type_ids.append(type_id)
        elif segment is None:
            parts.append(TemplatePart(None, [token_id], [type_id]))
        elif not parts or parts[-1].segment != segment:
            parts.append(TemplatePart(segment, [], [type_id]))
    return parts


def _encode(
    tokenizer: transformers.PreTrainedTokenizerFast,
    segments: list[list],
    *,
    max_length: int,
    is_split_into_words: bool,
    with_words: bool,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None, np.ndarray, list[np.ndarray] | None]:
    """Encode 1 or 2 parallel segment lists; returns input_ids, token_type_ids, word_ids (of the first segment's
    tokens, `with_words`), whether each example was truncated, and the word spans (raw text `with_words`).

    All segments go through one batch call without special tokens or truncation; truncation and
    the special tokens are applied here. Letting the tokenizer truncate pairs is quadratic: it
    builds every combination of the two segments' overflowing pieces (20 pairs of 1000-word texts
    at max_length 128 take seconds and gigabytes).
    """
    parts = template(tokenizer, len(segments))
    budget = max_length - sum(len(part.ids) for part in parts)
    _check_max_length(tokenizer, max_length, budget, pair=len(segments) == 2)
    count = len(segments[0])
    spans_wanted = with_words and not is_split_into_words
    if count == 0:
        return [], [], [] if with_words else None, np.zeros(0, dtype=bool), [] if spans_wanted else None
    encoding = tokenizer(
        [item for segment in segments for item in segment],
        is_split_into_words=is_split_into_words,
        add_special_tokens=False,
        return_token_type_ids=False,
        return_attention_mask=False,
        return_offsets_mapping=spans_wanted,
        verbose=False,
    )
    content = [encoding["input_ids"][k * count : (k + 1) * count] for k in range(len(segments))]
    content_lengths = np.array([[len(ids) for ids in segment] for segment in content]).T
    kept = truncated_lengths(content_lengths, budget).numpy()
    truncated = (kept < content_lengths).any(axis=1)
    input_ids, token_type_ids = [], []
    for i in range(count):
        ids, types = [], []
        for part in parts:
            if part.segment is None:
                ids += part.ids
                types += part.type_ids
            else:
                ids += content[part.segment][i][: kept[i, part.segment]]
                types += part.type_ids * kept[i, part.segment]
        input_ids.append(np.array(ids, dtype=np.int32))
        token_type_ids.append(np.array(types, dtype=np.int32))
    if not with_words:
        return input_ids, token_type_ids, None, truncated, None
    start = sum(len(part.ids) for part in itertools.takewhile(lambda p: p.segment is None, parts))
    word_ids = []
    for i, ids in enumerate(input_ids):
        words = np.full(len(ids), NO_WORD, dtype=np.int32)
        words[start : start + kept[i, 0]] = encoding.word_ids(i)[: kept[i, 0]]
        word_ids.append(words)
    spans = None
    if spans_wanted:
        spans = [_word_spans(encoding.word_ids(i), encoding["offset_mapping"][i]) for i in range(count)]
    return input_ids, token_type_ids, word_ids, truncated, spans


def _word_spans(word_ids: list[int], offsets: list[tuple[int, int]]) -> np.ndarray:
    """[words, 2] character start and end of each word, from its tokens' offsets."""
    spans = np.zeros((max(word_ids, default=-1) + 1, 2), dtype=np.int32)
    spans[:, 0] = np.iinfo(np.int32).max
    for word, (begin, end) in zip(word_ids, offsets):
        spans[word, 0] = min(spans[word, 0], begin)
        spans[word, 1] = max(spans[word, 1], end)
    return spans


def truncated_lengths(lengths, budget: int) -> tf.Tensor:
    """Content tokens kept per segment ([examples, segments] -> same), as the fast tokenizer's
    right-side 'longest_first' truncation keeps them. TensorFlow ops, so that the exported graph
    truncates with this very function.

    A single segment keeps its first `budget` tokens. For a pair over budget, the shorter segment
    stays whole if it fits in half the budget and the longer gets the rest; otherwise both get half,
    the odd token going to the longer one (to the second on a tie).
    """
    lengths = tf.convert_to_tensor(lengths)
    if lengths.shape[1] == 1:
        return tf.minimum(lengths, budget)
    first, second = lengths[:, 0], lengths[:, 1]
    first_is_shorter = first <= second
    shorter = tf.minimum(first, second)
    keep_shorter = tf.where(2 * shorter <= budget, shorter, budget // 2)
    keep_longer = budget - keep_shorter
    fits = first + second <= budget
    return tf.stack(
        [
            tf.where(fits, first, tf.where(first_is_shorter, keep_shorter, keep_longer)),
            tf.where(fits, second, tf.where(first_is_shorter, keep_longer, keep_shorter)),
        ],
        axis=1,
    )


def _check_max_length(
    tokenizer: transformers.PreTrainedTokenizerFast, max_length: int, budget: int, *, pair: bool
) -> None:
    """Reject lengths that leave no room for the special tokens (the tokenizer would silently not
    truncate at all) or that exceed model_max_length (the position embeddings run out)."""
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise TypeError(f"max_length must be an int, got {type(max_length).__name__}")
    if budget < 0:
        kind = "a text pair" if pair else "a single text"
        raise ValueError(
            f"max_length must be at least {max_length - budget}, the special tokens added to "
            f"{kind}; got {max_length}"
        )
    if max_length > tokenizer.model_max_length:
        raise ValueError(
            f"max_length {max_length} exceeds the tokenizer's model_max_length "
            f"{tokenizer.model_max_length}"
        )


def _check_strings(name: str, values: Iterable[str]) -> list[str]:
    """A list of the strings in `values`, or a TypeError naming the first item that is not one."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a sequence of str, got {type(values).__name__}")
    values = list(values)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}] is {type(value).__name__}, expected str")
    return values


def _check_labels(labels: Sequence[Sequence[int]], words: list[list[str]]) -> list[np.ndarray]:
    """Per-example int32 label arrays, checked to hold exactly one integer label per word."""
    if len(labels) != len(words):
        raise ValueError(f"labels has {len(labels)} examples but words has {len(words)}")
    arrays = []
    for i, (example_labels, example_words) in enumerate(zip(labels, words)):
        array = np.asarray(example_labels)
        if array.ndim != 1:
            raise ValueError(f"labels[{i}] must be a flat sequence of ints, got shape {array.shape}")
        if len(array) != len(example_words):
            raise ValueError(
                f"example {i} has {len(example_words)} words but {len(array)} labels"
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"labels[{i}] must be integers, got dtype {array.dtype}")
        arrays.append(array.astype(np.int32))
    return arrays


def _align_labels(
    word_ids: list[np.ndarray], labels: list[np.ndarray], all_subtokens: bool
) -> list[np.ndarray]:
    """Per-token labels looked up by word id, vectorised over the whole batch at once.

    Word ids are made unique across the batch by offsetting each example's ids by the number of
    words before it, so they index the concatenated labels directly.
    """
    if not word_ids:
        return []
    token_counts = [len(ids) for ids in word_ids]
    word_offsets = np.cumsum([0] + [len(example) for example in labels[:-1]])
    flat_word_ids = np.concatenate(word_ids)
    offsets = np.repeat(word_offsets, token_counts)
    global_ids = np.where(flat_word_ids == NO_WORD, NO_WORD, flat_word_ids + offsets)
    labelled = global_ids != NO_WORD if all_subtokens else _first_subtokens(global_ids)
    flat_labels = np.full(len(global_ids), IGNORE_INDEX, dtype=np.int32)
    flat_labels[labelled] = np.concatenate(labels)[global_ids[labelled]]
    return np.split(flat_labels, np.cumsum(token_counts)[:-1])


def _first_subtokens(word_ids: np.ndarray) -> np.ndarray:
    """Mask of tokens that start a word: a word id (>= 0) that differs from the previous token's."""
    previous = np.concatenate([[NO_WORD], word_ids[:-1]])
    return (word_ids >= 0) & (word_ids != previous)

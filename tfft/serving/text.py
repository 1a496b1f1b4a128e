"""Raw UTF-8 text -> WordPiece ids and words with character offsets, inside a TensorFlow graph, exactly as the
model's Hugging Face (fast) tokenizer does it.

Why tables instead of tensorflow_text's BertTokenizer: the Hugging Face BERT tokenizer first matches its added
special tokens ("[SEP]", ...) in the raw text, then normalizes (deletes control characters, puts spaces around
CJK characters, NFD + drops nonspacing marks, lower-cases) and then splits on whitespace and punctuation.
tensorflow_text does these steps in another order, with ICU case folding, and turns control characters into
spaces, so its ids differ ("straße", "ＡＢＣ", a zero-width space inside a word: tested in tests/serving/test_text.py).
Every normalization step acts on one character at a time, so `read_char_table` asks the tokenizer itself what
it does to each of the 1.1M code points: delete it, make it a space, make it a word of its own (punctuation,
CJK), or keep it inside a word, possibly rewritten ('É' -> 'e'). The graph applies that table with
`searchsorted` and segment ops, so the words keep the character offsets of the input (what NER spans need; no
UTF-8 byte offsets), and only WordPiece itself is a tensorflow_text op (`WordpieceTokenizeWithOffsets`, in
every tensorflow_text release). Serving needs `import tensorflow_text` before `tf.saved_model.load`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import transformers

from tfft import tokenization
from tfft.serving import ServingError

WORD, SPACE, REMOVED, ALONE = 0, 1, 2, 3
"""What normalization and pre-tokenization make of a code point: a character of a word, a word separator,
nothing, or a word of its own (punctuation, CJK ideographs)."""

NO_WORD = tokenization.NO_WORD
_SUPPORTED = {"normalizer": ("BertNormalizer", None), "pre_tokenizer": ("BertPreTokenizer",), "model": ("WordPiece",)}
_LAST_CODE_POINT = 0x10FFFF
_PROBE_SEPARATOR = "|"  # ASCII punctuation: normalized to itself, never produced by normalizing anything else


class TokenizerNotSupported(ServingError):
    """The tokenizer does something the in-graph tokenizer cannot reproduce exactly."""


@dataclasses.dataclass(frozen=True, eq=False)
class CharTable:
    """What the tokenizer does to every code point, in runs of equal kind plus a list of rewritten characters."""

    run_starts: np.ndarray  # int32 [R]: first code point of each run; run_starts[0] == 0
    run_kinds: np.ndarray  # int32 [R]: WORD, SPACE, REMOVED or ALONE for the code points of the run
    rewritten: np.ndarray  # int32 [M], sorted: code points whose normalized text is not themselves
    rewrites: tuple[str, ...]  # [M]: their normalized text

    def kind(self, code_point: int) -> int:
        return int(self.run_kinds[np.searchsorted(self.run_starts, code_point, side="right") - 1])


def _components(tokenizer: transformers.PreTrainedTokenizerFast) -> dict:
    """The tokenizer.json pipeline, checked to be the BERT WordPiece one the tables can reproduce."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    for part, supported in _SUPPORTED.items():
        kind = (state.get(part) or {}).get("type")
        if kind not in supported:
            raise TokenizerNotSupported(
                f"tokenizer {part} is {kind}; in-graph tokenization reproduces "
                f"{' / '.join(str(s) for s in supported if s)} (BERT and DistilBERT tokenizers)")
    for token in state.get("added_tokens", []):
        if token["normalized"] or token["lstrip"] or token["rstrip"] or token["single_word"]:
            raise TokenizerNotSupported(
                f"added token {token['content']!r} is matched with normalized/lstrip/rstrip/single_word options; "
                "in-graph tokenization matches added tokens literally in the raw text only")
    return state


def read_char_table(tokenizer: transformers.PreTrainedTokenizerFast) -> CharTable:
    """Runs every code point through the tokenizer's normalizer and pre-tokenizer (about 3 s, then cached)."""
    state = _components(tokenizer)
    key = json.dumps([state.get("normalizer"), state["pre_tokenizer"]], sort_keys=True)
    if key not in _TABLES:
        backend = tokenizer.backend_tokenizer
        _TABLES[key] = _probe(backend.normalizer, backend.pre_tokenizer)
    return _TABLES[key]


_TABLES: dict[str, CharTable] = {}


def _probe(normalizer, pre_tokenizer) -> CharTable:
    normalize = normalizer.normalize_str if normalizer is not None else (lambda text: text)
    if normalize(_PROBE_SEPARATOR) != _PROBE_SEPARATOR:
        raise TokenizerNotSupported(f"the normalizer rewrites {_PROBE_SEPARATOR!r}")
    code_points = [c for c in range(_LAST_CODE_POINT + 1) if not 0xD800 <= c <= 0xDFFF and chr(c) != _PROBE_SEPARATOR]
    normalized = normalize(_PROBE_SEPARATOR.join(map(chr, code_points))).split(_PROBE_SEPARATOR)
    if len(normalized) != len(code_points):
        raise TokenizerNotSupported("the normalizer does not act on one character at a time")
    code_points.append(ord(_PROBE_SEPARATOR))
    normalized.append(_PROBE_SEPARATOR)
    code_points = np.array(code_points)

    kinds = np.full(_LAST_CODE_POINT + 1, REMOVED, np.int32)  # surrogates cannot come out of UTF-8 decoding
    probe_kinds, alone_words = _probe_kinds(pre_tokenizer, normalized)
    kinds[code_points] = probe_kinds
    rewrites = {}
    for i, (code_point, text, kind) in enumerate(zip(code_points.tolist(), normalized, probe_kinds.tolist())):
        word = text if kind == WORD else alone_words.get(i)
        if word is not None and word != chr(code_point):
            rewrites[code_point] = word
    changes = np.flatnonzero(np.diff(kinds)) + 1
    run_starts = np.concatenate([[0], changes]).astype(np.int32)
    rewritten = sorted(rewrites)
    return CharTable(run_starts, kinds[run_starts], np.array(rewritten, np.int32),
                     tuple(rewrites[c] for c in rewritten))


def _probe_kinds(pre_tokenizer, normalized: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """The kind of every normalized text, and the word of each ALONE one, from one pre-tokenizer call.

    The texts are joined by 'a' (a word character) and pre-tokenized once; then text i, between two 'a's, is
    a WORD when both 'a's lie in the same pre-token, a SPACE when none of its characters is in a pre-token, and
    ALONE when its covered characters form one pre-token of their own.
    """
    joined = "a" + "a".join(normalized) + "a"
    pieces = pre_tokenizer.pre_tokenize_str(joined)
    piece_of = np.full(len(joined), -1, np.int64)
    for index, (_, (start, end)) in enumerate(pieces):
        piece_of[start:end] = index
    lengths = np.array([len(text) for text in normalized])
    starts = 1 + np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    before, after = piece_of[starts - 1], piece_of[starts + lengths]
    kinds = np.where(lengths == 0, REMOVED, np.where(before == after, WORD, -1))
    alone_words = {}
    for i in np.flatnonzero(kinds == -1).tolist():
        inside = set(piece_of[starts[i]:starts[i] + lengths[i]].tolist()) - {-1}
        if not inside:
            kinds[i] = SPACE
        elif len(inside) == 1 and before[i] not in inside and after[i] not in inside:
            kinds[i] = ALONE
            alone_words[i] = pieces[inside.pop()][0]
        else:
            raise TokenizerNotSupported(f"{normalized[i]!r} pre-tokenizes to {len(inside)} words: "
                                        "not one word, a space, or nothing")
    return kinds, alone_words


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig:
    """Everything the in-graph tokenizer needs besides the character table, read off the HF tokenizer."""

    vocab_file: str  # one WordPiece token per line, line number = id
    unk_token: str
    continuing_prefix: str
    max_chars_per_word: int  # longer words (in characters) become unk_token, as in Hugging Face's WordPiece
    max_chars_per_token: int  # the longest vocabulary entry: bounds WordPiece's search
    special_tokens: tuple[str, ...]  # added tokens matched literally in the raw text
    pad_token_id: int
    max_length: int  # tokens, with the special tokens
    template: dict  # number of segments -> the tokenizer's [CLS] A [SEP] (B [SEP]) layout, as TemplateParts

    @classmethod
    def from_tokenizer(cls, tokenizer: transformers.PreTrainedTokenizerFast, vocab_file: str | os.PathLike, *,
                       max_length: int) -> TextEncoderConfig:
        """Reads the WordPiece settings and special tokens, and writes the vocabulary to `vocab_file`."""
        state = _components(tokenizer)
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        if [index for _, index in vocab] != list(range(len(vocab))):
            raise TokenizerNotSupported("the tokenizer's vocabulary ids are not 0..size-1 without gaps")
        if any("\n" in token or "\r" in token for token, _ in vocab):
            raise TokenizerNotSupported("a vocabulary entry contains a line break; it cannot be written as vocab.txt")
        with open(vocab_file, "w", encoding="utf-8", newline="\n") as file:
            file.writelines(token + "\n" for token, _ in vocab)
        specials = tuple(token["content"] for token in state.get("added_tokens", []))
        _check_no_overlap(specials)
        model = state["model"]
        prefix = model["continuing_subword_prefix"]
        return cls(
            vocab_file=os.fspath(vocab_file),
            unk_token=model["unk_token"],
            continuing_prefix=prefix,
            max_chars_per_word=int(model["max_input_chars_per_word"]),
            max_chars_per_token=max(len(token.removeprefix(prefix)) for token, _ in vocab),
            special_tokens=specials,
            pad_token_id=tokenizer.pad_token_id,
            max_length=max_length,
            template={n: tuple(tokenization.template(tokenizer, n)) for n in (1, 2)},
        )


def _check_no_overlap(tokens: Sequence[str]) -> None:
    """Special tokens are matched one at a time, which equals the tokenizer's leftmost-longest matching only
    when no match can overlap another: no token contains another, or ends with the beginning of one."""
    for a in tokens:
        for b in tokens:
            contained = a != b and a in b
            overlapping = any(a.endswith(b[:k]) for k in range(1, min(len(a), len(b))))
            if contained or overlapping or not a:
                raise TokenizerNotSupported(f"special tokens {a!r} and {b!r} can overlap in a text; in-graph "
                                            "tokenization matches them one at a time")


class Words(NamedTuple):
    """The words of a batch of texts: ragged [B, (W)] normalized text, and character start/end offsets."""

    text: tf.RaggedTensor
    start: tf.RaggedTensor
    end: tf.RaggedTensor


class TextEncoder(tf.Module):
    """tf.string [B] -> model inputs, exactly as the Hugging Face tokenizer the table and config were read from.

    Offsets count code points of the UTF-8 input (Python `str` indices); bytes that are not UTF-8 decode to
    U+FFFD, which the tokenizer deletes.
    """

    def __init__(self, table: CharTable, config: TextEncoderConfig, name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.run_starts = tf.constant(table.run_starts)
        self.run_kinds = tf.constant(table.run_kinds)
        # A leading sentinel keeps the rewrite lookup valid when nothing is rewritten (a cased tokenizer).
        self.rewritten = tf.constant(np.concatenate([[-1], table.rewritten]).astype(np.int32))
        self.rewrites = tf.constant(("",) + table.rewrites)
        # The table holds the vocabulary as constants: a TextFileInitializer would name the table after the file,
        # and so write the path of the training machine's temporary vocab.txt into the SavedModel.
        tokens = pathlib.Path(config.vocab_file).read_text(encoding="utf-8").split("\n")[:-1]  # one per line
        self.vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)), default_value=-1)
        self.wordpiece = tf_text.WordpieceTokenizer(
            self.vocab, suffix_indicator=config.continuing_prefix,
            max_bytes_per_word=4 * config.max_chars_per_word,  # never binding: longer words are unk_token already
            max_chars_per_token=config.max_chars_per_token, token_out_type=tf.int64,
            unknown_token=config.unk_token)

    def words(self, text: tf.Tensor) -> Words:
        """Matches special tokens, normalizes and splits into words, keeping each word's character span."""
        chars = tf.strings.unicode_decode(text, "UTF-8", errors="replace")  # [B, (C)] code points
        code_points = chars.flat_values  # [N]
        rows = chars.value_rowids()  # [N]
        positions = tf.range(tf.shape(code_points, out_type=tf.int64)[0]) - tf.gather(chars.row_starts(), rows)
        positions = tf.cast(positions, tf.int32)
        kinds = tf.gather(self.run_kinds, tf.searchsorted(self.run_starts, code_points, side="right") - 1)
        texts = self._rewrite(code_points)  # [N] each character's normalized text
        ends = positions + 1
        for token in self.config.special_tokens:
            first, inside = self._find(chars, token)  # [N] bool each
            kinds = tf.where(first, ALONE, tf.where(inside, REMOVED, kinds))
            texts = tf.where(first, token, texts)
            ends = tf.where(first, positions + len(token), ends)

        kept = kinds != REMOVED
        rows, positions, ends, kinds, texts = (tf.boolean_mask(t, kept) for t in (rows, positions, ends, kinds, texts))
        space, alone = kinds == SPACE, kinds == ALONE
        row_start = tf.concat([[True], rows[1:] != rows[:-1]], axis=0)
        after_break = row_start | tf.concat([[True], space[:-1] | alone[:-1]], axis=0)
        word_start = ~space & (after_break | alone)  # [N'] the first character of each word
        in_word = ~space
        word_of_char = tf.cumsum(tf.cast(tf.boolean_mask(word_start, in_word), tf.int32)) - 1
        count = tf.reduce_sum(tf.cast(word_start, tf.int32))
        word_text = tf.strings.unsorted_segment_join(tf.boolean_mask(texts, in_word), word_of_char, count)
        word_begin = tf.math.segment_min(tf.boolean_mask(positions, in_word), word_of_char)
        word_end = tf.math.segment_max(tf.boolean_mask(ends, in_word), word_of_char)
        word_rows = tf.boolean_mask(rows, word_start)
        nrows = chars.nrows()

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(values, word_rows, nrows=nrows, validate=False)

        return Words(ragged(word_text), ragged(word_begin), ragged(word_end))

    def tokenize(self, text: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor, Words]:
        """Token ids [B, (T)] int32 without special tokens, each token's word index [B, (T)], and the words."""
        words = self.words(text)
        flat = words.text.flat_values  # [W]
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.config.max_chars_per_word
        pieces = self.wordpiece.tokenize(tf.where(too_long, self.config.unk_token, flat))  # [W, (P)] int64
        word_in_row = tf.range(tf.shape(flat)[0], dtype=tf.int64) - tf.gather(words.text.row_starts(),
                                                                              words.text.value_rowids())
        token_words = tf.gather(tf.cast(word_in_row, tf.int32), pieces.value_rowids())  # [T]
        ids = words.text.with_flat_values(tf.cast(pieces, tf.int32)).merge_dims(1, 2)  # [B, (T)]
        return ids, ids.with_flat_values(token_words), words

    def encode(self, text: tf.Tensor, text_pair: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Model inputs [B, L] (L = the longest example in the batch, at most max_length) from raw text.

        Returns input_ids, attention_mask, token_type_ids (int32), word_ids ([B, L] the word of each token of
        `text`, NO_WORD elsewhere), truncated ([B] bool) and the words of `text` (`Words`).
        """
        ids, token_words, words = self.tokenize(text)
        segments, word_segments = [ids], [token_words]
        if text_pair is not None:
            pair_ids, _, _ = self.tokenize(text_pair)
            segments.append(pair_ids)
            word_segments.append(tf.ones_like(pair_ids) * NO_WORD)
        template = self.config.template[len(segments)]
        budget = self.config.max_length - sum(len(part.ids) for part in template)
        lengths = tf.stack([segment.row_lengths() for segment in segments], axis=1)  # [B, S] int64
        kept = tokenization.truncated_lengths(lengths, budget)
        batch = tf.shape(text, out_type=tf.int64)[0]
        columns = {"input_ids": [], "token_type_ids": [], "word_ids": []}
        for part in template:
            if part.segment is None:
                width = len(part.ids)
                for name, values in (("input_ids", part.ids), ("token_type_ids", part.type_ids),
                                     ("word_ids", [NO_WORD] * width)):
                    columns[name].append(tf.RaggedTensor.from_tensor(
                        tf.tile(tf.constant([values], tf.int32), tf.stack([batch, 1]))))
                continue
            segment = segments[part.segment]
            keep = tf.ragged.range(segment.row_lengths()) < kept[:, part.segment:part.segment + 1]
            content = tf.ragged.boolean_mask(segment, keep)
            columns["input_ids"].append(content)
            columns["token_type_ids"].append(tf.ones_like(content) * part.type_ids[0])
            columns["word_ids"].append(tf.ragged.boolean_mask(word_segments[part.segment], keep))
        joined = {name: tf.concat(parts, axis=1) for name, parts in columns.items()}  # [B, (L)]
        return {
            "input_ids": joined["input_ids"].to_tensor(self.config.pad_token_id),  # [B, L]
            "attention_mask": tf.ones_like(joined["input_ids"]).to_tensor(0),
            "token_type_ids": joined["token_type_ids"].to_tensor(0),
            "word_ids": joined["word_ids"].to_tensor(NO_WORD),
            "truncated": tf.reduce_any(kept < lengths, axis=1),
            "words": words,
        }

    def _rewrite(self, code_points: tf.Tensor) -> tf.Tensor:
        """[N] code points -> [N] their normalized text (themselves unless the table rewrites them)."""
        index = tf.searchsorted(self.rewritten, code_points, side="right") - 1
        hit = tf.gather(self.rewritten, index) == code_points
        own = tf.strings.unicode_encode(code_points[:, tf.newaxis], "UTF-8")
        return tf.where(hit, tf.gather(self.rewrites, index), own)

    @staticmethod
    def _find(chars: tf.RaggedTensor, token: str) -> tuple[tf.Tensor, tf.Tensor]:
        """Where `token` occurs literally: [N] first character of a match, [N] the other characters of one.

        Matches of one token cannot overlap another (checked in TextEncoderConfig), so no leftmost rule is needed.
        """
        dense = chars.to_tensor(-1)  # [B, C]
        width = tf.shape(dense)[1]
        first = tf.ones_like(dense, tf.bool)
        for offset, char in enumerate(token):
            shifted = tf.pad(dense[:, offset:], [[0, 0], [0, tf.minimum(offset, width)]], constant_values=-1)
            first &= shifted == ord(char)
        covered = tf.zeros_like(first)
        for offset in range(1, len(token)):
            covered |= tf.pad(first[:, :-offset], [[0, 0], [tf.minimum(offset, width), 0]])
        lengths = chars.row_lengths()
        return (tf.RaggedTensor.from_tensor(first, lengths=lengths).flat_values,
                tf.RaggedTensor.from_tensor(covered, lengths=lengths).flat_values)

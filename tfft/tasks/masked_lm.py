"""Masked-language modelling (continued pretraining): raw documents -> packed token sequences.

Documents are tokenized without special tokens, joined with [SEP] between documents, and cut into sequences of
`max_length` tokens ([CLS] ... [SEP]), so no compute goes to padding: only the last sequence of a split is short.
A cut never splits a word unless the word alone is longer than a sequence, so whole-word masking always sees
whole words. Each token keeps its word's index within its sequence (special tokens: NO_WORD). The masking itself
is dynamic, drawn anew for every batch of every epoch (tfft/data/masking.py).
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from tfft.data.examples import DataError, Examples, LabelSpace
from tfft.data.features import Encoded
from tfft.tokenization import IGNORE_INDEX, NO_WORD

_TOKENIZE_BATCH = 1000  # documents per tokenizer call: bounded memory on large corpora


@dataclasses.dataclass(frozen=True)
class MaskedLMTask:
    name: str = "mlm"
    head: str = "masked_lm"
    pair: bool = False

    def label_space(self, train: Examples, given: Sequence[str] | None = None) -> LabelSpace:
        """No labels: the targets are the tokens themselves (tfft.data.sources refuses --label_names)."""
        del train, given
        return LabelSpace(())

    def encode(self, tokenizer, examples: Examples, labels: LabelSpace, *, max_length: int,
               label_all_subtokens: bool = False) -> Encoded:
        del labels, label_all_subtokens  # no labels
        return pack_documents(tokenizer, examples.texts, max_length=max_length,
                              source=examples.where[0].rpartition(":")[0] if examples.where else "the corpus")


def pack_documents(tokenizer, documents: Sequence[str], *, max_length: int, source: str = "the corpus") -> Encoded:
    """Every token of every document exactly once, in order, in sequences of at most `max_length` tokens."""
    if max_length < 3:
        raise DataError(f"--max_seq_length={max_length}: expected at least 3 for [CLS] token [SEP]")
    ids, words = _token_stream(tokenizer, documents)
    if not len(ids):
        raise DataError(f"{source}: no text after tokenization ({len(documents)} documents, 0 tokens)")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    capacity = max_length - 2
    starts = np.flatnonzero(np.diff(words, prepend=NO_WORD - 1) != 0)  # where each word (or separator) begins
    sequences, word_rows, start = [], [], 0
    while start < len(ids):
        end = min(start + capacity, len(ids))
        if end < len(ids) and words[end] != NO_WORD and words[end] == words[end - 1]:  # the cut splits a word
            word_start = starts[np.searchsorted(starts, end, side="right") - 1]
            end = word_start if word_start > start else end  # a word longer than a sequence is cut anyway
        piece, piece_words = ids[start:end], words[start:end]
        keep = slice(int(piece_words[0] == NO_WORD), len(piece) - int(piece_words[-1] == NO_WORD))  # edge [SEP]s
        piece, piece_words = piece[keep], piece_words[keep]
        if len(piece):
            local = np.where(piece_words == NO_WORD, NO_WORD, piece_words - piece_words[piece_words >= 0].min(
                initial=0))  # word indices from 0 within the sequence
            sequences.append(np.concatenate([[cls], piece, [sep]]))
            word_rows.append(np.concatenate([[NO_WORD], local, [NO_WORD]]))
        start = end
    lengths = np.array([len(s) for s in sequences], np.int32)
    flat_ids = np.concatenate(sequences).astype(np.int32)
    return Encoded(lengths=lengths, input_ids=flat_ids, token_type_ids=np.zeros_like(flat_ids),
                   labels=np.full_like(flat_ids, IGNORE_INDEX), word_ids=np.concatenate(word_rows).astype(np.int32),
                   truncated=np.zeros(len(sequences), bool))


def _token_stream(tokenizer, documents: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All documents' token ids with [SEP] between documents, and each token's global word index (NO_WORD for
    the separators). Words are the tokenizer's (whitespace and punctuation): WordPiece continues a word with
    '##' pieces, and a word's pieces share its index."""
    ids, words, next_word = [], [], 0
    for begin in range(0, len(documents), _TOKENIZE_BATCH):
        batch = tokenizer(list(documents[begin:begin + _TOKENIZE_BATCH]), add_special_tokens=False,
                          return_attention_mask=False, return_token_type_ids=False)
        for row, document_ids in enumerate(batch["input_ids"]):
            if not document_ids:
                continue
            if ids:
                ids.append([tokenizer.sep_token_id])
                words.append([NO_WORD])
            word_ids = np.asarray(batch.word_ids(row), np.int64)
            ids.append(document_ids)
            words.append(word_ids + next_word)
            next_word += int(word_ids.max()) + 1
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ids).astype(np.int64), np.concatenate(words).astype(np.int64)


MLM = MaskedLMTask()

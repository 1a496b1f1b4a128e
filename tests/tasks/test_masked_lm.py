"""Packing documents for masked-LM training: every token once and in order, words kept whole across the cuts
(judged by WordPiece's '##' rule), little padding, and the errors of a corpus without tokens."""

import numpy as np
import pytest

from tfft.data import DataError
from tfft.data.sources import SAMPLE_DIR
from tfft.tasks.masked_lm import pack_documents
from tfft.tokenization import NO_WORD, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return load_tokenizer(minilm_dir)


@pytest.fixture(scope="module")
def documents():
    return (SAMPLE_DIR / "mlm" / "train.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("max_length", [16, 64, 128])
def test_packing_keeps_every_token_exactly_once_in_order(tokenizer, documents, max_length):
    encoded = pack_documents(tokenizer, documents, max_length=max_length)
    expected = [i for d in documents for i in tokenizer(d, add_special_tokens=False)["input_ids"]]
    packed = []
    for start, end in zip(encoded.offsets[:-1], encoded.offsets[1:]):
        sequence = encoded.input_ids[start:end].tolist()
        assert len(sequence) <= max_length
        assert sequence[0] == tokenizer.cls_token_id and sequence[-1] == tokenizer.sep_token_id
        packed += [i for i in sequence[1:-1] if i != tokenizer.sep_token_id]  # document separators dropped
    assert packed == expected
    # no compute goes to padding: every sequence but the last is (nearly) full
    assert encoded.lengths[:-1].min() >= max_length - 6
    assert encoded.lengths.sum() / (len(encoded) * max_length) > 0.95


def test_cuts_never_split_a_word_and_word_ids_group_its_pieces(tokenizer, documents):
    encoded = pack_documents(tokenizer, documents, max_length=24)
    for start, end in zip(encoded.offsets[:-1], encoded.offsets[1:]):
        tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[start:end].tolist())
        words = encoded.word_ids[start:end]
        assert not tokens[1].startswith("##")  # a sequence starts at a word
        assert words[0] == words[-1] == NO_WORD
        for i in range(2, len(tokens) - 1):  # '##' continues the word before it, nothing else does
            if tokens[i] == tokenizer.sep_token:
                assert words[i] == NO_WORD
            elif tokens[i - 1] != tokenizer.sep_token:
                assert (words[i] == words[i - 1]) == tokens[i].startswith("##"), tokens[i - 1:i + 1]


def test_a_word_longer_than_a_sequence_is_cut_anyway(tokenizer):
    long_word = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    encoded = pack_documents(tokenizer, [f"a {long_word} b"], max_length=8)
    pieces = tokenizer(f"a {long_word} b", add_special_tokens=False)["input_ids"]
    assert np.concatenate([encoded.input_ids[s + 1:e - 1] for s, e in zip(encoded.offsets[:-1],
                                                                           encoded.offsets[1:])]).tolist() == pieces


def test_a_corpus_without_tokens_is_an_error_naming_it(tokenizer):
    with pytest.raises(DataError, match=r"corpus.txt: no text after tokenization \(2 documents, 0 tokens\)"):
        pack_documents(tokenizer, ["\u200b", "\u200b \u200b"], max_length=32, source="corpus.txt")

"""BIO helpers against hand-checked tag sequences, and NER label alignment on words that split into several
WordPiece tokens, checked against the real tokenizer's pieces."""

import numpy as np
import pytest

from tfft.data.examples import DataError, Examples
from tfft.tasks import NER
from tfft.tasks.ner import check_tag, iob1_to_iob2, starts_with_inside
from tfft.tokenization import IGNORE_INDEX, NO_WORD, load_tokenizer, word_predictions


def test_bio_helpers():
    assert check_tag("O") is None and check_tag("B-PER") is None and check_tag("I-MISC") is None
    assert "not BIO" in check_tag("PER") and "not BIO" in check_tag("B-")
    assert starts_with_inside(["O", "I-PER"]) and starts_with_inside(["B-PER", "I-LOC"])
    assert not starts_with_inside(["B-PER", "I-PER", "O", "B-LOC"])
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-ORG", "I-LOC"]) == [
        "B-PER", "I-PER", "B-PER", "O", "B-ORG", "B-LOC"]


def test_label_space_puts_o_first_then_b_i_per_type():
    train = Examples(labels=[["B-PER", "I-PER", "O"], ["B-LOC"]], where=["a:1", "a:5"], words=[["a", "b", "c"], ["d"]])
    assert NER.label_space(train).names == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    with pytest.raises(DataError, match="only 'O'"):
        NER.label_space(Examples(labels=[["O"]], where=["a:1"], words=[["a"]]))


def test_alignment_on_multi_piece_words(minilm_dir):
    """'Velasquez-Ruiz' and 'Northwind' split into several pieces: only the first piece carries the label."""
    tokenizer = load_tokenizer(minilm_dir)
    words = ["Marta", "Velasquez-Ruiz", "joined", "Northwind", "Logistics", "."]
    tags = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"]
    labels = NER.label_space(Examples(labels=[tags], where=["x:1"], words=[words]))
    encoded = NER.encode(tokenizer, Examples(labels=[tags], where=["x:1"], words=[words]), labels, max_length=64)
    pieces = [tokenizer.tokenize(w) for w in words]
    assert max(len(p) for p in pieces) >= 3  # the case this test is about
    expected_ids = [tokenizer.cls_token_id] + [i for p in pieces for i in tokenizer.convert_tokens_to_ids(p)] + [
        tokenizer.sep_token_id]
    np.testing.assert_array_equal(encoded.input_ids, expected_ids)
    expected_labels, expected_words = [IGNORE_INDEX], [NO_WORD]
    for w, (piece, tag) in enumerate(zip(pieces, tags)):
        expected_labels += [labels.names.index(tag)] + [IGNORE_INDEX] * (len(piece) - 1)
        expected_words += [w] * len(piece)
    np.testing.assert_array_equal(encoded.labels, expected_labels + [IGNORE_INDEX])
    np.testing.assert_array_equal(encoded.word_ids, expected_words + [NO_WORD])
    # word-level predictions map back: per-token predicted ids -> one tag per word
    per_word = word_predictions(encoded.word_ids, encoded.labels, len(words))
    assert [labels.names[i] for i in per_word] == tags

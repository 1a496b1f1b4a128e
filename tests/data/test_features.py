"""The feature cache: a second encode is a cache hit with identical arrays; any change to the data, the
tokenizer settings or max length misses; truncation is counted."""

import logging

import numpy as np
import pytest

from tfft.data import DataConfig, encode_data, load_data
from tfft.data.features import Encoded
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return load_tokenizer(minilm_dir)


@pytest.mark.parametrize("task", ["classification", "pair", "ner"])
def test_second_encode_is_a_cache_hit_with_identical_features(tmp_path, tokenizer, task, caplog):
    data = load_data(DataConfig(dataset="sample"), TASKS[task])
    with caplog.at_level(logging.INFO, logger="tfft"):
        first = encode_data(data, tokenizer, max_length=64, cache_dir=tmp_path)
        tokenizer("calling the tokenizer changes its runtime truncation state", truncation=True, max_length=5)
        second = encode_data(data, tokenizer, max_length=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 3
    assert sum("from the feature cache" in r.getMessage() for r in caplog.records) == 3
    for name in first:
        for field in ("lengths", "input_ids", "token_type_ids", "labels", "truncated"):
            np.testing.assert_array_equal(getattr(first[name], field), getattr(second[name], field))
    encode_data(data, tokenizer, max_length=32, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 6


def test_changed_examples_miss_the_cache(tmp_path, tokenizer):
    data = load_data(DataConfig(dataset="sample"), TASKS["classification"])
    encode_data(data, tokenizer, max_length=64, cache_dir=tmp_path)
    data.splits["test"].texts[0] = data.splits["test"].texts[0] + " (edited)"
    encode_data(data, tokenizer, max_length=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 4


def test_truncation_is_counted_and_logged(tmp_path, tokenizer, caplog):
    data = load_data(DataConfig(dataset="sample"), TASKS["classification"])
    with caplog.at_level(logging.WARNING, logger="tfft"):
        encoded = encode_data(data, tokenizer, max_length=12, cache_dir=None)
    lengths = [len(tokenizer(t)["input_ids"]) for t in data.splits["train"].texts]
    assert int(encoded["train"].truncated.sum()) == sum(n > 12 for n in lengths)
    assert encoded["train"].lengths.max() == 12
    assert f"train: {sum(n > 12 for n in lengths)} of 320 examples are longer than max_seq_length=12" in caplog.text


def test_encoded_round_trips_through_npz(tmp_path, tokenizer):
    data = load_data(DataConfig(dataset="sample"), TASKS["ner"])
    encoded = encode_data(data, tokenizer, max_length=64, cache_dir=None)["validation"]
    encoded.save(tmp_path / "x.npz")
    loaded = Encoded.load(tmp_path / "x.npz")
    assert loaded.token_level and np.array_equal(loaded.word_ids, encoded.word_ids)
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary file left behind

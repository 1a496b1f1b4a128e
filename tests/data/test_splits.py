"""Splits: stratification keeps label proportions (checked with counts computed here), the seed reproduces
them, NER splits by sentence, carved splits are said and recorded, and label problems are named."""

import logging
from collections import Counter

import pytest

from tfft.data import DataError, Examples, LabelSpace
from tfft.data.splits import check_labels, make_splits, summary
from tfft.tasks import TASKS


def _examples(labels):
    return Examples(labels=list(labels), where=[f"f:{i + 1}" for i in range(len(labels))],
                    texts=[f"text {i}" for i in range(len(labels))])


def _split(found, seed=0, max_train=None):
    return make_splits(found, val_fraction=0.1, test_fraction=0.2, seed=seed, max_train_examples=max_train)[0]


def test_stratified_split_keeps_label_proportions_and_loses_nothing():
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    splits = _split({"train": _examples(labels)})
    assert {k: len(v) for k, v in splits.items()} == {"train": 700, "validation": 100, "test": 200}
    for name, expected in (("test", {"a": 120, "b": 60, "c": 20}), ("validation", {"a": 60, "b": 30, "c": 10})):
        assert Counter(splits[name].labels) == expected
    texts = [t for s in splits.values() for t in s.texts]
    assert sorted(texts) == sorted(f"text {i}" for i in range(1000))


def test_split_is_reproducible_by_seed():
    found = {"train": _examples(["a", "b"] * 100)}
    assert _split(found, seed=3)["test"].texts == _split(found, seed=3)["test"].texts
    assert _split(found, seed=3)["test"].texts != _split(found, seed=4)["test"].texts


def test_predefined_splits_are_kept_and_a_lone_split_is_the_pool():
    found = {"train": _examples(["a", "b"] * 50), "validation": _examples(["a", "b"]),
             "test": _examples(["b", "a", "a"])}
    assert _split(found)["test"].labels == ["b", "a", "a"]
    pool = _split({"test": _examples(["a", "b", "c", "d"] * 25)})
    assert {k: len(v) for k, v in pool.items()} == {"train": 70, "validation": 10, "test": 20}


def test_sources_say_what_was_read_and_what_was_carved(caplog):
    train = Examples(labels=["a", "b"] * 50, where=[f"d/train.csv:{i + 2}" for i in range(100)], texts=["t"] * 100)
    with caplog.at_level(logging.WARNING, logger="tfft.data.splits"):
        _, sources = make_splits({"train": train}, val_fraction=0.1, test_fraction=0.125, seed=3,
                                 max_train_examples=None)
    assert sources == {"train": "d/train.csv", "validation": "carved from train: 10%, seed 3",
                       "test": "carved from train: 12.5%, seed 3"}
    assert [(r.levelname, "--test_file" in r.message, "--validation_file" in r.message) for r in caplog.records] == [
        ("WARNING", True, False), ("WARNING", False, True)]
    assert "carved 12.5% of train (12 of 100 examples, seed 3) as the test split" in caplog.records[0].message
    _, pool = make_splits({"test": train}, val_fraction=0.1, test_fraction=0.2, seed=0, max_train_examples=None)
    assert pool == {"train": "carved from test (d/train.csv): the rest",
                    "validation": "carved from test (d/train.csv): 10%, seed 0",
                    "test": "carved from test (d/train.csv): 20%, seed 0"}


def test_max_train_examples_is_stratified():
    splits = _split({"train": _examples(["a"] * 800 + ["b"] * 200)}, max_train=100)
    assert Counter(splits["train"].labels) == {"a": 80, "b": 20}


def test_ner_splits_by_sentence():
    sentences = Examples(labels=[["B-PER", "O"]] * 50, where=[f"f:{i}" for i in range(50)],
                         words=[[f"w{i}", "x"] for i in range(50)])
    splits = _split({"train": sentences})
    assert {k: len(v) for k, v in splits.items()} == {"train": 35, "validation": 5, "test": 10}
    assert all(len(words) == 2 for s in splits.values() for words in s.words)


def test_unknown_label_in_test_is_named_with_its_place():
    splits = {"train": _examples(["a", "b"]), "test": _examples(["a", "z"])}
    with pytest.raises(DataError, match=r"f:2: label 'z' in the test split never occurs in train; known labels: a, b"):
        check_labels(splits, LabelSpace(("a", "b")))


def test_single_class_is_an_error():
    with pytest.raises(DataError, match="single class"):
        TASKS["classification"].label_space(_examples(["a"] * 10))


def test_integer_labels_sort_numerically_and_summary_counts():
    space = TASKS["classification"].label_space(_examples(["10", "2", "1", "2"]))
    assert space.names == ("1", "2", "10")
    assert summary({"train": _examples(["x", "y", "x"])}) == {"train": {"examples": 3, "labels": {"x": 2, "y": 1}}}


def test_train_label_fraction_drops_only_the_named_class_from_train():
    from tfft.data import DataConfig, load_data

    full = load_data(DataConfig(dataset="sample"), TASKS["classification"])
    cut = load_data(DataConfig(dataset="sample", train_label_fraction="positive:0.1"), TASKS["classification"])
    before, after = Counter(full.splits["train"].labels), Counter(cut.splits["train"].labels)
    assert after["negative"] == before["negative"] and after["positive"] == round(0.1 * before["positive"])
    kept = {t for t, y in zip(cut.splits["train"].texts, cut.splits["train"].labels) if y == "positive"}
    assert kept <= {t for t, y in zip(full.splits["train"].texts, full.splits["train"].labels) if y == "positive"}
    for split in ("validation", "test"):
        assert cut.splits[split].texts == full.splits[split].texts


@pytest.mark.parametrize("spec,message", [
    ("positive", "expected label:fraction pairs"), ("positive:0", "expected label:fraction pairs"),
    ("positive:1.5", "expected label:fraction pairs"), ("neutral:0.5", r"labels \['neutral'\] do not occur"),
])
def test_bad_train_label_fractions_are_named(spec, message):
    from tfft.data import DataConfig, load_data

    with pytest.raises(DataError, match=f"--train_label_fraction.*{message}"):
        load_data(DataConfig(dataset="sample", train_label_fraction=spec), TASKS["classification"])


def test_train_on_validation_trains_on_both_and_keeps_the_label_space():
    from tfft.data import DataConfig, load_data

    for task in ("classification", "ner"):
        full = load_data(DataConfig(dataset="sample"), TASKS[task])
        both = load_data(DataConfig(dataset="sample", train_on_validation=True), TASKS[task])
        assert both.labels == full.labels
        assert both.splits["train"].labels == full.splits["train"].labels + full.splits["validation"].labels
        assert both.splits["test"].labels == full.splits["test"].labels

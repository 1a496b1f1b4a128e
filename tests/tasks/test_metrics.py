"""Metrics from accumulated counts against independent references: scikit-learn for classification, seqeval
(default, conlleval-compatible mode) for NER entity spans and scores."""

import json

import numpy as np
import pytest
import seqeval.metrics
import sklearn.metrics
from seqeval.metrics.sequence_labeling import get_entities

from tfft.tasks.metrics import (classification_metrics, confusion_matrix, entities, entity_counts, merge_counts,
                                ner_metrics)

TYPES = ("PER", "ORG", "LOC", "MISC")
TAGS = ("O",) + tuple(f"{prefix}-{kind}" for kind in TYPES for prefix in "BI")


def _assert_plain_json(value):
    """Only built-in types (no numpy scalars), so json.dumps works and round-trips."""
    assert json.loads(json.dumps(value)) == value
    if isinstance(value, dict):
        for item in value.values():
            _assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain_json(item)
    else:
        assert type(value) in (int, float), type(value)


# --- classification --------------------------------------------------------------------------------------------

def test_classification_matches_sklearn():
    """Class 4 occurs in gold but is never predicted, class 5 is predicted but never in gold, class 6 never occurs."""
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(7)]
    gold = rng.choice([0, 1, 2, 3, 4], size=500, p=[0.4, 0.2, 0.2, 0.1, 0.1])
    predicted = np.where(rng.random(500) < 0.6, gold, rng.choice([0, 1, 2, 3, 5], size=500))
    predicted[predicted == 4] = 5
    assert 4 in gold and 4 not in predicted and 5 in predicted and 5 not in gold and 6 not in np.r_[gold, predicted]

    matrix = confusion_matrix(gold, predicted, len(names))
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, sklearn.metrics.confusion_matrix(gold, predicted, labels=range(7)))
    result = classification_metrics(matrix, names)
    _assert_plain_json(result)

    assert result["accuracy"] == pytest.approx(sklearn.metrics.accuracy_score(gold, predicted), rel=1e-12)
    assert result["support"] == 500
    assert result["confusion_matrix"] == matrix.tolist()
    for average in ("macro", "weighted"):  # labels inferred from the data: class 6 is left out, as here
        p, r, f, _ = sklearn.metrics.precision_recall_fscore_support(gold, predicted, average=average,
                                                                     zero_division=0)
        assert [result[f"{m}_{average}"] for m in ("precision", "recall", "f1")] == pytest.approx([p, r, f],
                                                                                                 rel=1e-12)
    p, r, f, s = sklearn.metrics.precision_recall_fscore_support(gold, predicted, labels=range(7), average=None,
                                                                 zero_division=0)
    assert list(result["per_class"]) == names
    for i, name in enumerate(names):
        row = result["per_class"][name]
        assert [row["precision"], row["recall"], row["f1"]] == pytest.approx([p[i], r[i], f[i]], rel=1e-12)
        assert row["support"] == s[i]
    assert result["per_class"]["c4"]["precision"] == 0.0 and result["per_class"]["c5"]["recall"] == 0.0


def test_confusion_matrices_accumulate_over_batches():
    """Summing per-batch matrices (with -100 padding and a zero-weight filler row) equals one pass over the kept
    entries, so batch sizes and padding do not weight the result."""
    rng = np.random.default_rng(1)
    num_labels, batches, kept_gold, kept_predicted = 5, [], [], []
    for _ in range(4):
        gold = rng.integers(0, num_labels, size=(3, 8))
        predicted = rng.integers(0, num_labels, size=(3, 8))
        gold[:, rng.integers(3, 8):] = -100  # trailing padding
        gold[0, 0] = -100  # a special token
        weights = np.ones((3, 8))
        weights[2] = 0  # a filler example of a fixed-size last batch
        keep = (gold != -100) & (weights != 0)
        kept_gold.append(gold[keep])
        kept_predicted.append(predicted[keep])
        batches.append((gold, predicted, weights))

    summed = sum(confusion_matrix(g, p, num_labels, weights=w) for g, p, w in batches)
    once = confusion_matrix(np.concatenate(kept_gold), np.concatenate(kept_predicted), num_labels)
    np.testing.assert_array_equal(summed, once)
    assert summed.sum() == sum(len(g) for g in kept_gold)
    all_gold = np.concatenate([g.ravel() for g, _, _ in batches])
    all_predicted = np.concatenate([p.ravel() for _, p, _ in batches])
    all_weights = np.concatenate([w.ravel() for _, _, w in batches])
    np.testing.assert_array_equal(summed, confusion_matrix(all_gold, all_predicted, num_labels, all_weights))
    names = [f"l{i}" for i in range(num_labels)]
    assert classification_metrics(summed, names)["accuracy"] == pytest.approx(
        sklearn.metrics.accuracy_score(np.concatenate(kept_gold), np.concatenate(kept_predicted)), rel=1e-12)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="shapes differ"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 3)
    with pytest.raises(ValueError, match="does not match"):
        classification_metrics(np.zeros((2, 2)), ["a", "b", "c"])
    # ignored entries may hold anything
    assert confusion_matrix(np.array([-100, 1]), np.array([7, 1]), 2).tolist() == [[0, 0], [0, 1]]


# --- NER -------------------------------------------------------------------------------------------------------

def _seqeval_spans(tags):
    return [(kind, start, end + 1) for kind, start, end in get_entities(list(tags))]


TRICKY = [  # (tags, spans as read by conlleval / seqeval's default mode)
    ([], []),
    (["O", "O"], []),
    (["O", "I-PER", "I-PER", "O"], [("PER", 1, 3)]),  # I- after O starts an entity
    (["I-PER"], [("PER", 0, 1)]),  # ... so does I- at the sentence start
    (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),  # adjacent B- B- of one type are two entities
    (["I-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),  # a type switch under I- ends one and starts another
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
    (["O", "B-LOC", "I-LOC"], [("LOC", 1, 3)]),  # an entity running to the sentence end is closed there
    (["B-MISC", "O", "I-MISC"], [("MISC", 0, 1), ("MISC", 2, 3)]),  # O between: two entities
    (["B-ORG", "I-ORG", "B-ORG", "I-ORG", "I-ORG"], [("ORG", 0, 2), ("ORG", 2, 5)]),
    (["I-ORG", "B-ORG"], [("ORG", 0, 1), ("ORG", 1, 2)]),
    (["B-PER", "I-PER", "I-ORG", "I-ORG", "O", "I-MISC"], [("PER", 0, 2), ("ORG", 2, 4), ("MISC", 5, 6)]),
]


@pytest.mark.parametrize("tags, expected", TRICKY, ids=[" ".join(t) or "empty" for t, _ in TRICKY])
def test_entities_on_tricky_sequences(tags, expected):
    assert entities(tags) == expected
    assert entities(tags) == _seqeval_spans(tags)


def test_entities_rejects_non_bio_tags():
    with pytest.raises(ValueError, match="not BIO"):
        entities(["O", "PER"])
    with pytest.raises(ValueError, match="not BIO"):
        entities(["S-PER"])


def _assert_matches_seqeval(gold, predicted):
    counts = entity_counts(gold, predicted)
    _assert_plain_json(counts)
    result = ner_metrics(counts)
    _assert_plain_json(result)
    gold, predicted = [list(s) for s in gold], [list(s) for s in predicted]
    for metric, reference in (("precision", seqeval.metrics.precision_score),
                              ("recall", seqeval.metrics.recall_score), ("f1", seqeval.metrics.f1_score)):
        assert result[metric] == pytest.approx(reference(gold, predicted, zero_division=0), rel=1e-12, abs=1e-15)
    assert result["token_accuracy"] == pytest.approx(seqeval.metrics.accuracy_score(gold, predicted), rel=1e-12)
    report = seqeval.metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    averages = {name: report.pop(name) for name in ("micro avg", "macro avg", "weighted avg")}
    assert set(result["per_type"]) == set(report)
    for kind, row in report.items():
        ours = result["per_type"][kind]
        assert [ours["precision"], ours["recall"], ours["f1"]] == pytest.approx(
            [row["precision"], row["recall"], row["f1-score"]], rel=1e-12, abs=1e-15)
        assert ours["support"] == row["support"]
    for average in ("macro", "weighted"):
        row = averages[f"{average} avg"]
        assert [result[f"{m}_{average}"] for m in ("precision", "recall", "f1")] == pytest.approx(
            [row["precision"], row["recall"], row["f1-score"]], rel=1e-12, abs=1e-15)
    assert result["support"] == averages["micro avg"]["support"]
    return counts


def test_ner_metrics_match_seqeval_on_tricky_sequences():
    """Each tricky sequence is scored against every other, and a sentence ending in B-PER followed by one starting
    with I-PER checks that entities never run across sentences."""
    sequences = [tags for tags, _ in TRICKY if tags]
    gold, predicted = [], []
    for a in sequences:
        for b in sequences:
            if len(a) == len(b):
                gold.append(a)
                predicted.append(b)
    gold += [[], ["O", "B-PER"], ["I-PER", "O"]]
    predicted += [[], ["O", "B-PER"], ["I-PER", "O"]]
    counts = _assert_matches_seqeval(gold, predicted)
    assert counts["types"]["PER"]["correct"] >= 2


def _random_corpus(rng, sentences):
    """Well-formed IOB2 gold (some of it corrupted, so gold too has I- starts) and noisy predictions."""
    gold, predicted = [], []
    for _ in range(sentences):
        tags, length = [], int(rng.integers(0, 16))
        while len(tags) < length:
            if rng.random() < 0.5:
                tags.append("O")
            else:
                kind = TYPES[rng.integers(len(TYPES))]
                tags += [f"B-{kind}"] + [f"I-{kind}"] * int(rng.integers(0, 3))
        tags = tags[:length]

        def corrupt(sequence, rate):
            return [TAGS[rng.integers(len(TAGS))] if rng.random() < rate else tag for tag in sequence]

        gold.append(corrupt(tags, 0.05))
        predicted.append(corrupt(tags, 0.25))
    return gold, predicted


def test_entities_and_ner_metrics_match_seqeval_on_random_sequences():
    rng = np.random.default_rng(2)
    gold, predicted = _random_corpus(rng, 400)
    for tags in gold + predicted:
        assert entities(tags) == _seqeval_spans(tags)
    _assert_matches_seqeval(gold, predicted)


def test_merged_counts_equal_counting_all_at_once():
    rng = np.random.default_rng(3)
    gold, predicted = _random_corpus(rng, 200)
    once = entity_counts(gold, predicted)
    first, second = entity_counts(gold[:70], predicted[:70]), entity_counts(gold[70:], predicted[70:])
    merged = merge_counts(first, second)
    assert merged == once
    assert merge_counts({}, once) == once == merge_counts(once, {})
    assert ner_metrics(merged) == ner_metrics(once)
    # a type seen in only one shard is kept, and the inputs are left as they were
    only_first = entity_counts([["B-PER"]], [["O"]])
    only_second = entity_counts([["O"]], [["B-LOC"]])
    assert merge_counts(only_first, only_second) == {
        "types": {"PER": {"gold": 1, "predicted": 0, "correct": 0}, "LOC": {"gold": 0, "predicted": 1, "correct": 0}},
        "tokens": 2, "tokens_correct": 0}
    assert only_first == entity_counts([["B-PER"]], [["O"]])


def test_entity_counts_rejects_misaligned_input():
    with pytest.raises(ValueError, match="sentences"):
        entity_counts([["O"]], [])
    with pytest.raises(ValueError, match="tags"):
        entity_counts([["O", "O"]], [["O"]])


def test_ner_metrics_without_entities_are_zero():
    result = ner_metrics(entity_counts([["O", "O"]], [["O", "O"]]))
    assert result["f1"] == result["f1_macro"] == 0.0 and result["token_accuracy"] == 1.0 and result["per_type"] == {}

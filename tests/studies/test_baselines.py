"""Baselines against independent references: scikit-learn's DummyClassifier, sklearn and seqeval metrics computed
from the predictions, and the Hugging Face tokenizer read directly for which words truncation cuts."""

import numpy as np
import pytest
from seqeval.metrics import f1_score as entity_f1
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score

from tfft.data import Data, DataConfig, Examples, LabelSpace, load_data
from tfft.studies import baselines
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def sample():
    return {task: load_data(DataConfig(dataset="sample"), TASKS[task]) for task in ("classification", "pair", "ner")}


def predicted_labels(data: Data, predictions: list[np.ndarray]) -> list:
    """Argmax label names; NER words without a prediction (NaN row) are 'O'."""
    names = data.labels.names
    if data.splits["train"].words is None:
        return [names[int(np.argmax(p))] for p in predictions]
    return [["O" if np.isnan(row).any() else names[int(np.argmax(row))] for row in p] for p in predictions]


def split_scores(data: Data, predictions: list[np.ndarray]) -> dict:
    """Test-split scores computed by sklearn (accuracy, macro-F1) or seqeval (entity F1)."""
    gold, predicted = data.splits["test"].labels, predicted_labels(data, predictions)
    if data.splits["train"].words is not None:
        return {"entity_f1": entity_f1(gold, predicted)}
    return {"accuracy": accuracy_score(gold, predicted), "macro_f1": f1_score(gold, predicted, average="macro")}


def check_format(data: Data, result: baselines.BaselineResult) -> None:
    for split in ("validation", "test"):
        examples, predictions = data.splits[split], result.predictions[split]
        assert len(predictions) == len(examples)
        for i, prediction in enumerate(predictions):
            assert prediction.dtype == np.float64
            if examples.words is None:
                assert prediction.shape == (len(data.labels),)
                np.testing.assert_allclose(prediction.sum(), 1.0, atol=1e-9)
            else:
                assert prediction.shape == (len(examples.words[i]), len(data.labels))
                rows = prediction[~np.isnan(prediction).any(axis=1)]
                np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# majority
# ---------------------------------------------------------------------------------------------------------------


def dummy_predictions(data: Data, strategy: str, method: str) -> np.ndarray:
    """DummyClassifier on label ids, so that its tie rule (lowest class in sorted order) is the lowest id."""
    train, test = data.splits["train"], data.splits["test"]
    dummy = DummyClassifier(strategy=strategy).fit(np.zeros((len(train), 1)), data.labels.ids(train.labels))
    return getattr(dummy, method)(np.zeros((len(test), 1)))


def test_majority_equals_dummy_classifier(sample):
    data = sample["classification"]
    result = baselines.majority(data)
    check_format(data, result)
    probabilities = np.stack(result.predictions["test"])
    np.testing.assert_array_equal(probabilities.argmax(axis=1), dummy_predictions(data, "most_frequent", "predict"))
    np.testing.assert_allclose(probabilities, dummy_predictions(data, "prior", "predict_proba"), atol=1e-6)
    assert result.params["class"] == data.labels.names[dummy_predictions(data, "most_frequent", "predict")[0]]


@pytest.mark.parametrize("train_labels, expected", [(["a", "b", "b", "c", "c"], "b"), (["c", "a", "b"], "a"),
                                                    (["a", "c", "c", "c"], "c")])
def test_majority_ties_go_to_the_lowest_label_id(train_labels, expected):
    texts = [f"text {i}" for i in range(len(train_labels))]
    splits = {split: Examples(labels=list(train_labels), where=[""] * len(texts), texts=texts)
              for split in ("train", "validation", "test")}
    data = Data(TASKS["classification"], splits, LabelSpace(("a", "b", "c")))
    result = baselines.majority(data)
    assert result.params["class"] == expected
    assert data.labels.names[int(np.argmax(result.predictions["test"][0]))] == expected
    assert data.labels.names[dummy_predictions(data, "most_frequent", "predict")[0]] == expected


def test_majority_ner_predicts_outside_everywhere(sample):
    data = sample["ner"]
    result = baselines.majority(data)
    check_format(data, result)
    assert result.params["class"] == "O"
    assert all(tag == "O" for tags in predicted_labels(data, result.predictions["test"]) for tag in tags)
    tags = [tag for tags in data.splits["train"].labels for tag in tags]
    assert result.params["train_frequencies"]["B-PER"] == pytest.approx(tags.count("B-PER") / len(tags))


# ---------------------------------------------------------------------------------------------------------------
# TF-IDF / word features + logistic regression
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_tfidf_logreg_beats_majority(sample, task):
    data = sample[task]
    result = baselines.tfidf_logreg(data)
    check_format(data, result)
    ours = split_scores(data, result.predictions["test"])
    floor = split_scores(data, baselines.majority(data).predictions["test"])
    assert all(ours[metric] > floor[metric] for metric in ours), (ours, floor)
    scores = result.params["validation_scores"]
    assert set(scores) == {"0.1", "1.0", "10.0"}
    assert scores[str(result.params["C"])] == max(scores.values())


def test_tfidf_logreg_pair_beats_majority_on_macro_f1(sample):
    """The pair sample's negatives share most of their words with the text (hard negatives): word overlap helps
    macro-F1 but not accuracy, so only macro-F1 is required to beat the constant prediction."""
    data = sample["pair"]
    result = baselines.tfidf_logreg(data)
    check_format(data, result)
    ours = split_scores(data, result.predictions["test"])
    floor = split_scores(data, baselines.majority(data).predictions["test"])
    assert ours["macro_f1"] > floor["macro_f1"], (ours, floor)
    assert result.params["features"] == 3 * len(TfidfVectorizer(ngram_range=(1, 2)).fit(
        data.splits["train"].texts + data.splits["train"].text_pairs).vocabulary_)


def test_pair_features_overlap_block_is_the_elementwise_product():
    texts, pairs = ["the cat sat", "a dog ran"], ["the dog sat", "nothing in common"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2)).fit(texts + pairs)
    features = baselines.pair_features(vectorizer, texts, pairs)
    width = len(vectorizer.vocabulary_)
    a, b = vectorizer.transform(texts).toarray(), vectorizer.transform(pairs).toarray()
    blocks = np.split(features.toarray(), 3, axis=1)
    np.testing.assert_allclose(blocks[0], a)
    np.testing.assert_allclose(blocks[1], b)
    np.testing.assert_allclose(blocks[2], a * b)
    assert features.shape == (2, 3 * width)
    shared = {word for word, column in vectorizer.vocabulary_.items() if blocks[2][0, column] > 0}
    assert shared == {"the", "sat"}  # no bigram is shared: "the cat"/"cat sat" vs "the dog"/"dog sat"
    assert not blocks[2][1].any()


def test_word_features():
    words = ["EU", "rejects", "German-made", "1996", "Apple"]
    first = baselines.word_features(words, 0)
    assert first["word"] == "eu" and first["shape"] == "XX"
    assert first["prev_word"] == first["prev_shape"] == baselines.BOS
    assert first["next_word"] == "rejects" and first["next_shape"] == "xxxx"
    assert first["is_upper"] and not first["is_title"] and not first["is_digit"] and not first["has_hyphen"]
    middle = baselines.word_features(words, 2)
    assert middle["shape"] == "Xxxxx-xxxx"
    assert (middle["prefix1"], middle["prefix2"], middle["prefix3"]) == ("g", "ge", "ger")
    assert (middle["suffix1"], middle["suffix2"], middle["suffix3"]) == ("e", "de", "ade")
    assert middle["has_hyphen"] and not middle["is_title"] and not middle["is_upper"]  # str.istitle: "-made"
    assert (middle["prev_word"], middle["prev_shape"]) == ("rejects", "xxxx")
    assert (middle["next_word"], middle["next_shape"]) == ("1996", "dddd")
    assert baselines.word_features(words, 3)["is_digit"]
    last = baselines.word_features(words, 4)
    assert last["shape"] == "Xxxxx" and last["is_title"] and last["next_word"] == last["next_shape"] == baselines.EOS
    assert baselines.word_features(["U.K."], 0)["shape"] == "X.X."
    assert baselines.word_features(["a"], 0)["prefix3"] == "a"


def test_choose_c_takes_the_best_score_and_the_smaller_c_on_a_tie():
    assert baselines.choose_c({0.1: 0.5, 1.0: 0.7, 10.0: 0.6}) == 1.0
    assert baselines.choose_c({10.0: 0.7, 1.0: 0.7, 0.1: 0.6}) == 1.0
    assert baselines.choose_c({10.0: 0.2, 0.1: 0.2, 1.0: 0.2}) == 0.1


def test_c_on_equal_validation_scores_is_the_smallest(sample, monkeypatch):
    monkeypatch.setattr(baselines, "validation_score", lambda data, predictions: 0.5)
    result = baselines.tfidf_logreg(sample["classification"], c_values=(10.0, 0.1, 1.0))
    assert result.params["C"] == 0.1
    assert result.params["validation_scores"] == {"0.1": 0.5, "1.0": 0.5, "10.0": 0.5}


def test_validation_score_is_sklearn_macro_f1_and_seqeval_f1(sample):
    for task in ("classification", "ner"):
        data = sample[task]
        predictions = baselines.tfidf_logreg(data, c_values=(1.0,)).predictions["validation"]
        gold, predicted = data.splits["validation"].labels, predicted_labels(data, predictions)
        expected = entity_f1(gold, predicted) if task == "ner" else f1_score(gold, predicted, average="macro")
        assert baselines.validation_score(data, predictions) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------------------------
# Frozen-encoder probe
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_frozen_probe_classification_beats_majority(sample, minilm_dir):
    data = sample["classification"]
    result = baselines.frozen_probe(data, minilm_dir, max_length=64)
    check_format(data, result)
    assert result.params["features"] == 2 * 384
    ours = split_scores(data, result.predictions["test"])
    floor = split_scores(data, baselines.majority(data).predictions["test"])
    assert all(ours[metric] > floor[metric] for metric in ours), (ours, floor)


def test_frozen_probe_ner_has_nan_rows_exactly_for_truncated_words(sample, minilm_dir):
    data, max_length = sample["ner"], 12
    result = baselines.frozen_probe(data, minilm_dir, max_length=max_length, c_values=(0.1,))
    check_format(data, result)
    assert result.params["features"] == 384 and result.params["C"] == 0.1
    tokenizer = load_tokenizer(minilm_dir)
    cut = 0
    for split in ("validation", "test"):
        words = data.splits[split].words
        encoding = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        for i, prediction in enumerate(result.predictions[split]):
            kept = {word for word in encoding.word_ids(i)[:max_length - 2]}  # [CLS] and [SEP] take two tokens
            expected_missing = [w not in kept for w in range(len(words[i]))]
            np.testing.assert_array_equal(np.isnan(prediction).all(axis=1), expected_missing)
            assert not np.isnan(prediction[~np.array(expected_missing, bool)]).any()
            cut += sum(expected_missing)
    assert cut > 0  # the short max_length did cut words

"""Baselines a fine-tuned model must beat: the majority class, TF-IDF + logistic regression, a linear probe.

Each returns predictions for the validation and test splits in the format of fine-tuned runs (per example a
float64 [labels] probability vector; per NER sentence [words, labels], NaN rows for words without a prediction),
so a study scores baselines and runs with the same code. Hyperparameters are chosen on the validation split only;
the test split is predicted once, with the chosen model.

    result = tfidf_logreg(load_data(DataConfig(dataset="sample"), TASKS["classification"]))
    result.predictions["test"], result.params["C"]
"""

import dataclasses
import os
import pathlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse
import tensorflow as tf
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tfft import files
from tfft.checkpoints.io import from_pretrained
from tfft.config import RunConfig
from tfft.data import Data, Examples, load_data
from tfft.runs import RunError, check_labelled, read_run, start_run
from tfft.tasks import TASKS
from tfft.training.evaluation import prediction_records, score
from tfft.training.loop import train_and_evaluate
from tfft.tokenization import encode_texts, encode_words, load_tokenizer, pad_batch, word_predictions

SPLITS = ("validation", "test")
MAX_ITER = 2000  # lbfgs iterations: a bound converged fits stay far below (CoNLL-2003 NER at C=1 takes 84)
BOS, EOS = "<s>", "</s>"  # the neighbours of the first and the last word of a sentence


@dataclasses.dataclass(frozen=True)
class BaselineResult:
    """Predictions per split ("validation", "test") and the JSON-serialisable choices behind them."""

    predictions: dict[str, list[np.ndarray]]
    params: dict


# ---------------------------------------------------------------------------------------------------------------
# Majority class
# ---------------------------------------------------------------------------------------------------------------


def majority(data: Data) -> BaselineResult:
    """Every example (every word, for NER) gets the training label frequencies as its probabilities.

    The argmax is the most frequent training label, the lowest label id among equally frequent ones: equal counts
    are separated by less than a millionth of an example (see `_tie_broken`), so whoever takes the argmax, with
    whatever tie rule, gets the same class.
    """
    names = data.labels.names
    found = Counter(data.splits["train"].flat_labels())
    counts = np.array([found[name] for name in names], np.float64)
    probabilities = _tie_broken(counts)
    predictions = {}
    for split in SPLITS:
        examples = data.splits[split]
        if examples.words is not None:
            predictions[split] = [np.tile(probabilities, (len(words), 1)) for words in examples.words]
        else:
            predictions[split] = [probabilities.copy() for _ in range(len(examples))]
    frequencies = {name: float(count / counts.sum()) for name, count in zip(names, counts)}
    return BaselineResult(predictions, {"class": names[int(probabilities.argmax())],
                                        "train_frequencies": frequencies})


def _tie_broken(counts: np.ndarray) -> np.ndarray:
    """Relative frequencies with up to 1e-6 of a count added, decreasing with the label id: distinct integer counts
    keep their order, equal counts favour the lower id, and an unseen label keeps a tiny nonzero probability."""
    nudged = counts + 1e-6 * np.arange(len(counts), 0, -1) / len(counts)
    return nudged / nudged.sum()


# ---------------------------------------------------------------------------------------------------------------
# TF-IDF / word features + logistic regression
# ---------------------------------------------------------------------------------------------------------------


def tfidf_logreg(data: Data, *, seed: int = 0, c_values: Sequence[float] = (0.1, 1.0, 10.0)) -> BaselineResult:
    """Logistic regression on TF-IDF uni+bigrams (classification, pair) or on hand-made word features (NER).

    Pairs share one vectorizer fit on both sides and add the product of the two TF-IDF rows, the word overlap that
    paraphrase and entailment baselines rest on. C is chosen on validation (see `choose_c`).
    """
    train = data.splits["train"]
    if train.words is not None:
        vectorizer = DictVectorizer()
        vectorizer.fit(_word_feature_dicts(train))
        matrices = {split: vectorizer.transform(_word_feature_dicts(data.splits[split]))
                    for split in ("train", *SPLITS)}
    else:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)
        if train.text_pairs is not None:
            vectorizer.fit(train.texts + train.text_pairs)
            matrices = {split: pair_features(vectorizer, data.splits[split].texts, data.splits[split].text_pairs)
                        for split in ("train", *SPLITS)}
        else:
            vectorizer.fit(train.texts)
            matrices = {split: vectorizer.transform(data.splits[split].texts) for split in ("train", *SPLITS)}
    predictions, params = _fit_and_choose(data, matrices, seed=seed, c_values=c_values)
    return BaselineResult(predictions, {**params, "features": int(matrices["train"].shape[1])})


def pair_features(vectorizer: TfidfVectorizer, texts: Sequence[str],
                  text_pairs: Sequence[str]) -> scipy.sparse.csr_matrix:
    """[examples, 3 * vocabulary]: TF-IDF of the text, of the text pair, and their element-wise product."""
    a, b = vectorizer.transform(texts), vectorizer.transform(text_pairs)
    return scipy.sparse.hstack([a, b, a.multiply(b)], format="csr")


def word_features(words: Sequence[str], i: int) -> dict:
    """Sparse features of word i of a sentence: the word itself (lowercased), its shape, affixes and case flags,
    and the lowercased word and shape of its neighbours (BOS / EOS past the sentence ends)."""
    word = words[i]
    lower = word.lower()
    features = {"word": lower, "shape": word_shape(word), "is_title": word.istitle(), "is_upper": word.isupper(),
                "is_digit": word.isdigit(), "has_hyphen": "-" in word}
    for n in (1, 2, 3):
        features[f"prefix{n}"] = lower[:n]
        features[f"suffix{n}"] = lower[-n:]
    for name, j, marker in (("prev", i - 1, BOS), ("next", i + 1, EOS)):
        inside = 0 <= j < len(words)
        features[f"{name}_word"] = words[j].lower() if inside else marker
        features[f"{name}_shape"] = word_shape(words[j]) if inside else marker
    return features


def word_shape(word: str) -> str:
    """Upper-case letters as X, other letters x, digits d, anything else kept; runs longer than 4 cut to 4, as in
    spaCy's `Token.shape_` ("Apple" -> "Xxxxx", "1996" -> "dddd", "U.K." -> "X.X.")."""
    shape, run = [], 0
    for char in word:
        kind = "X" if char.isupper() else "x" if char.isalpha() else "d" if char.isdigit() else char
        run = run + 1 if shape and shape[-1] == kind else 1
        if run <= 4:
            shape.append(kind)
    return "".join(shape)


def _word_feature_dicts(examples: Examples) -> list[dict]:
    return [word_features(words, i) for words in examples.words for i in range(len(words))]


# ---------------------------------------------------------------------------------------------------------------
# Linear probe on a frozen encoder
# ---------------------------------------------------------------------------------------------------------------


def frozen_probe(data: Data, model_dir: str | os.PathLike, *, max_length: int = 128, batch_size: int = 64,
                 seed: int = 0, c_values: Sequence[float] = (0.001, 0.01, 0.1, 1.0)) -> BaselineResult:
    """Logistic regression on the pretrained encoder's frozen features: how much the pretraining alone knows.

    Sequence tasks use [CLS] and the mean over real tokens of the last hidden state (pairs encoded jointly); NER
    uses each word's first sub-token, and words cut by truncation get NaN probabilities. Features are standardised
    with training statistics, so one grid of C suits every encoder.
    """
    tokenizer = load_tokenizer(model_dir)
    encoder = from_pretrained(model_dir, head="encoder")
    # One trace for every batch shape: [batch, tokens] varies from batch to batch and split to split.
    last_hidden = tf.function(lambda ids, mask, types: encoder(ids, mask, types, training=False).last_hidden_state,
                              input_signature=[tf.TensorSpec([None, None], tf.int32)] * 3)
    start = time.perf_counter()
    raw = {split: _encoder_features(last_hidden, tokenizer, data.splits[split], max_length=max_length,
                                    batch_size=batch_size) for split in ("train", *SPLITS)}
    encode_seconds = time.perf_counter() - start
    present = {split: ~np.isnan(features).any(axis=1) for split, features in raw.items()}
    scaler = StandardScaler().fit(raw["train"][present["train"]])
    matrices = {split: scaler.transform(features[present[split]]) for split, features in raw.items()}
    predictions, params = _fit_and_choose(data, matrices, seed=seed, c_values=c_values, present=present)
    return BaselineResult(predictions, {**params, "features": int(raw["train"].shape[1]), "encoder": str(model_dir),
                                        "encode_seconds": round(encode_seconds, 2)})


def _encoder_features(last_hidden: Callable, tokenizer, examples: Examples, *, max_length: int,
                      batch_size: int) -> np.ndarray:
    """[examples, 2H] ([CLS]; mean of real tokens) or, for NER, [words of all sentences, H] (first sub-token; NaN
    for words without a token), float32. Batches run shortest first, each padded only to its longest example."""
    token_level = examples.words is not None
    if token_level:
        features = encode_words(tokenizer, examples.words, max_length=max_length)
    else:
        features = encode_texts(tokenizer, examples.texts, max_length=max_length, text_pairs=examples.text_pairs)
    rows: list = [None] * len(features)
    order = np.argsort(features.lengths(), kind="stable")
    for begin in range(0, len(order), batch_size):
        indices = order[begin:begin + batch_size]
        chosen = features.select(indices)
        batch = pad_batch(chosen, int(chosen.lengths().max()), pad_token_id=tokenizer.pad_token_id)
        hidden = last_hidden(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).numpy()  # [B, S, H]
        for row, index in enumerate(indices):
            if token_level:
                rows[index] = word_predictions(batch["word_ids"][row], hidden[row], len(examples.words[index]),
                                               fill=np.nan)  # [words, H]
            else:
                mask = batch["attention_mask"][row].astype(bool)
                rows[index] = np.concatenate([hidden[row, 0], hidden[row, mask].mean(axis=0)])  # [2H]
    return np.concatenate(rows) if token_level else np.stack(rows)  # float32: CoNLL-2003's 204k words take 300 MB


# ---------------------------------------------------------------------------------------------------------------
# Fitting and choosing C
# ---------------------------------------------------------------------------------------------------------------


def _fit_and_choose(data: Data, matrices: Mapping[str, object], *, seed: int, c_values: Sequence[float],
                    present: Mapping[str, np.ndarray] | None = None) -> tuple[dict, dict]:
    """Fits one logistic regression per C on the training rows and predicts the splits with the best on validation.

    `matrices` hold one row per example, or per word for NER (sentences in order, words without features left out:
    `present` marks per split which words have a row). Returns (predictions, {"C", "validation_scores"}).
    """
    present = present or {}
    train_labels = np.asarray(data.labels.ids(data.splits["train"].flat_labels()))
    if "train" in present:
        train_labels = train_labels[present["train"]]
    models, scores = {}, {}
    for c in sorted(c_values):
        # L-BFGS updates vectors of (features x labels) numbers with BLAS calls between gradient evaluations; on
        # these sizes OpenBLAS's threads cost more than they save (3x slower with 2 threads on the NER sample,
        # no faster on 100k dense rows), so BLAS runs single-threaded during the fit.
        with threadpool_limits(limits=1, user_api="blas"):
            model = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed)
            models[c] = model.fit(matrices["train"], train_labels)
        validation = _predict(models[c], matrices["validation"], data, "validation", present.get("validation"))
        scores[c] = validation_score(data, validation)
    chosen = choose_c(scores)
    predictions = {split: _predict(models[chosen], matrices[split], data, split, present.get(split))
                   for split in SPLITS}
    return predictions, {"C": chosen, "validation_scores": {str(c): score for c, score in scores.items()}}


def choose_c(scores: Mapping[float, float]) -> float:
    """The C with the highest validation score; the smallest such C on a tie (the stronger regularisation)."""
    return min(scores, key=lambda c: (-scores[c], c))


def validation_score(data: Data, predictions: list[np.ndarray]) -> float:
    """Macro-F1 (classification, pair) or entity-level micro F1 (NER) of validation predictions, scored by the
    code that scores fine-tuned runs (a word without a prediction counts as 'O')."""
    result = score(predictions, data.splits["validation"], data.labels)
    return result["f1"] if data.splits["validation"].words is not None else result["f1_macro"]


def _predict(model: LogisticRegression, matrix, data: Data, split: str, present: np.ndarray | None) -> list[np.ndarray]:
    """Per-example probabilities in label-id order (a label unseen in training gets 0), NER rows regrouped by
    sentence with NaN rows where `present` is False."""
    num_labels = len(data.labels)
    probabilities = np.zeros((matrix.shape[0], num_labels))
    probabilities[:, model.classes_] = model.predict_proba(matrix)
    probabilities /= probabilities.sum(axis=1, keepdims=True)  # float32 features give float32 sums; now exactly 1
    examples = data.splits[split]
    if examples.words is None:
        return list(probabilities)
    lengths = [len(words) for words in examples.words]
    rows = np.full((sum(lengths), num_labels), np.nan)
    rows[present if present is not None else slice(None)] = probabilities
    return np.split(rows, np.cumsum(lengths)[:-1])


# ---------------------------------------------------------------- a baseline beside a run


KINDS = ("majority", "tfidf_logreg", "untrained", "frozen_probe")


def run_baseline(kind: str, run_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> tuple[
        dict, pathlib.Path]:
    """(test metrics, directory) of a baseline on the run's data and splits, in the run's metrics format:
    validation_metrics.json, test_metrics.json, test_predictions.jsonl and baseline.json (kind, choices, time).

    `untrained` is a training run itself: the run's flags with --init=random (same architecture, tokenizer,
    optimizer, schedule and steps; no pretraining).
    """
    if kind not in KINDS:
        raise RunError(f"--kind={kind}: expected one of {', '.join(KINDS)}")
    run_dir = pathlib.Path(run_dir)
    run = read_run(run_dir)
    check_labelled(run, run_dir, "tfft.baseline")
    out = pathlib.Path(output_dir or run_dir / "baselines" / kind)
    start = time.perf_counter()
    about = {"kind": kind, "run_dir": str(run_dir)}
    if kind == "untrained":
        config = RunConfig(dataclasses.replace(run.train, init="random", export=False, evaluate_test=True,
                                               output_dir=str(out)), run.data)
        start_run(config, out, overwrite=True)
        result = train_and_evaluate(config, out)
        files.write_json(out / "baseline.json", {**about, "params": {"init": "random", "trained_like": str(run_dir)},
                                                 "seconds": round(time.perf_counter() - start, 1)})
        return result, out
    if run.data.train_on_validation and kind != "majority":
        raise RunError(f"{run_dir} trained on its validation split (a refit), where {kind} chooses C: run the "
                       "baseline beside a run that held validation out (e.g. the sweep's picked run)")
    data = load_data(run.data, TASKS[run.train.task])
    if kind == "majority":
        found = majority(data)
    elif kind == "tfidf_logreg":
        found = tfidf_logreg(data, seed=run.train.seed)
    else:
        found = frozen_probe(data, run.train.model, max_length=run.train.max_seq_length, seed=run.train.seed)
    metrics = {split: score(found.predictions[split], data.splits[split], data.labels)
               for split in ("validation", "test")}
    with files.atomic_dir(out) as staging:
        files.write_json(staging / "validation_metrics.json", metrics["validation"])
        files.write_json(staging / "test_metrics.json", metrics["test"])
        files.write_jsonl(staging / "test_predictions.jsonl",
                          prediction_records(data.splits["test"], found.predictions["test"], data.labels))
        files.write_json(staging / "baseline.json", {**about, "params": found.params,
                                                     "seconds": round(time.perf_counter() - start, 1)})
    return metrics["test"], out

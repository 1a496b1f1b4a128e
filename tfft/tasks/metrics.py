"""Evaluation metrics computed from accumulated integer counts.

Every score here is a ratio of counts. The training loop adds counts batch by batch (and across devices or data
shards) and divides once at the end: averaging per-batch scores instead would weight each batch equally whatever
its size, let padding rows count, and make the result depend on the batch size and the number of devices.

Classification keeps a confusion matrix (`confusion_matrix`, summed with +); NER keeps per-entity-type counts
(`entity_counts`, summed with `merge_counts`). The definitions are scikit-learn's precision_recall_fscore_support
with zero_division=0 and seqeval's default (conlleval-compatible) mode, so reported numbers are comparable with
published ones.
"""

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from tfft.tasks.ner import check_tag, iob1_to_iob2
from tfft.tokenization import IGNORE_INDEX


def confusion_matrix(
    gold: np.ndarray, predicted: np.ndarray, num_labels: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """[num_labels, num_labels] int64 counts, rows gold and columns predicted.

    `gold` and `predicted` hold label ids of one shape ([batch] for sequence classification, [batch, tokens] for
    token classification). Entries whose gold is IGNORE_INDEX (padding, special tokens, later sub-tokens) or whose
    weight is 0 (filler examples padding a fixed-size batch) are left out. Weights act as a mask, not as
    multipliers, so counts stay integers and sums over batches and devices are exact.
    """
    gold, predicted = np.asarray(gold), np.asarray(predicted)
    if gold.shape != predicted.shape:
        raise ValueError(f"gold and predicted shapes differ: {gold.shape} vs {predicted.shape}")
    keep = gold != IGNORE_INDEX
    if weights is not None:
        weights = np.asarray(weights)
        if weights.shape != gold.shape:
            raise ValueError(f"weights shape {weights.shape} differs from the labels' shape {gold.shape}")
        keep &= weights != 0
    gold, predicted = gold[keep].astype(np.int64), predicted[keep].astype(np.int64)
    for name, ids in (("gold", gold), ("predicted", predicted)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
            raise ValueError(f"{name} label ids span {ids.min()}..{ids.max()}, outside [0, {num_labels})")
    flat = np.bincount(gold * num_labels + predicted, minlength=num_labels * num_labels)
    return flat.reshape(num_labels, num_labels).astype(np.int64)


def _scores(correct: np.ndarray, gold: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1; 0 where undefined (sklearn's and seqeval's zero_division=0).

    F1 is 2*correct / (gold + predicted), as sklearn computes it: equal to 2PR/(P+R) and defined whenever
    either count is nonzero.
    """
    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)

    return {"precision": ratio(correct, predicted), "recall": ratio(correct, gold),
            "f1": ratio(2 * correct, gold + predicted)}


def _report(correct: np.ndarray, gold: np.ndarray, predicted: np.ndarray, names: Sequence[str]) -> tuple[dict, dict]:
    """Macro and support-weighted averages, and per-class scores, as plain Python numbers.

    Macro averages run over the classes that occur in the gold labels or the predictions, as sklearn's (labels
    inferred from the data) and seqeval's do: a class absent from an evaluation set says nothing about the model
    and would otherwise pull the average toward 0.
    """
    scores = _scores(correct, gold, predicted)
    occurring = (gold + predicted) > 0
    averages = {}
    for metric, values in scores.items():
        averages[f"{metric}_macro"] = float(values[occurring].mean()) if occurring.any() else 0.0
        averages[f"{metric}_weighted"] = float(values @ gold / gold.sum()) if gold.sum() else 0.0
    per_class = {name: {**{metric: float(values[i]) for metric, values in scores.items()}, "support": int(gold[i])}
                 for i, name in enumerate(names)}
    return averages, per_class


def classification_metrics(confusion: np.ndarray, label_names: Sequence[str]) -> dict:
    """Accuracy, macro/weighted precision, recall and F1, per-class scores and the confusion matrix.

    Equal to sklearn's accuracy_score and precision_recall_fscore_support(zero_division=0) on the examples that
    were counted. Per-class entries cover every label name (a class that never occurs scores 0 with support 0);
    the averages skip such classes (see `_report`). Everything is a plain int, float, list or dict, so the result
    can be written as JSON directly.
    """
    confusion = np.asarray(confusion, np.int64)
    if confusion.shape != (len(label_names), len(label_names)):
        raise ValueError(f"confusion matrix shape {confusion.shape} does not match {len(label_names)} label names")
    correct, gold, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    total = int(gold.sum())
    averages, per_class = _report(correct, gold, predicted, label_names)
    return {"accuracy": float(correct.sum() / total) if total else 0.0, **averages, "support": total,
            "per_class": per_class, "confusion_matrix": confusion.tolist()}


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end_exclusive) spans of a BIO tag sequence, as seqeval's default mode and conlleval read them.

    An entity starts at B-X, or at I-X when the previous tag is not of type X (O, another type, or the sequence
    start), since IOB1 data and imperfect predictions write starts that way; it runs over the following I-X and
    ends at the sequence end. So I-X I-X after O is one entity, B-X B-X two, I-PER I-LOC two.
    """
    problems = [problem for problem in map(check_tag, tags) if problem]
    if problems:
        raise ValueError(problems[0])
    tags = iob1_to_iob2(tags)  # now every entity starts with B-X and every I-X continues one of type X
    spans, start = [], None
    for i, tag in enumerate([*tags, "O"]):
        if tag.startswith("I-"):
            continue
        if start is not None:
            spans.append((tags[start][2:], start, i))
        start = i if tag.startswith("B-") else None
    return spans


def entity_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Counts for `ner_metrics`: {"types": {type: {"gold", "predicted", "correct"}}, "tokens", "tokens_correct"}.

    A predicted entity is correct when a gold entity has the same type, start and end. Entities never cross
    sentences. Types nest under "types" so a type name cannot collide with the token counts. Sum the counts of
    batches or shards with `merge_counts` and score once with `ner_metrics`.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    types: dict[str, Counter] = {}
    tokens = tokens_correct = 0
    for gold_tags, predicted_tags in zip(gold, predicted):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence has {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
        tokens += len(gold_tags)
        tokens_correct += sum(g == p for g, p in zip(gold_tags, predicted_tags))
        gold_spans, predicted_spans = set(entities(gold_tags)), set(entities(predicted_tags))
        for key, spans in (("gold", gold_spans), ("predicted", predicted_spans),
                           ("correct", gold_spans & predicted_spans)):
            for kind, _, _ in spans:
                types.setdefault(kind, Counter(gold=0, predicted=0, correct=0))[key] += 1
    return {"types": {kind: dict(types[kind]) for kind in sorted(types)}, "tokens": tokens,
            "tokens_correct": tokens_correct}


def merge_counts(a: Mapping, b: Mapping) -> dict:
    """The sum of two count dicts (nested dicts of numbers); a key missing on one side counts as zero.

    {} is the identity, so accumulation can start from an empty dict. Neither input is modified.
    """
    merged = {}
    for key in [*a, *(key for key in b if key not in a)]:
        x, y = a.get(key), b.get(key)
        if isinstance(x if x is not None else y, Mapping):
            merged[key] = merge_counts(x or {}, y or {})
        else:
            merged[key] = (x or 0) + (y or 0)
    return merged


def ner_metrics(counts: Mapping) -> dict:
    """Entity-level micro precision/recall/F1, macro and weighted averages over types, per-type scores, token accuracy.

    Equal to seqeval's precision_score / recall_score / f1_score, classification_report and accuracy_score in the
    default mode (zero_division=0). Types are those seen in the gold tags or the predictions.
    """
    names = sorted(counts["types"])
    correct, gold, predicted = (np.array([counts["types"][kind][key] for kind in names], np.int64)
                                for key in ("correct", "gold", "predicted"))
    micro = _scores(correct.sum(keepdims=True), gold.sum(keepdims=True), predicted.sum(keepdims=True))
    averages, per_type = _report(correct, gold, predicted, names)
    tokens = counts["tokens"]
    return {**{metric: float(values[0]) for metric, values in micro.items()}, **averages,
            "token_accuracy": counts["tokens_correct"] / tokens if tokens else 0.0, "support": int(gold.sum()),
            "per_type": per_type}

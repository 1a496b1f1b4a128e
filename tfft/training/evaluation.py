"""Evaluation of a split: loss, task metrics and per-example predictions, from batches in any order.

Batches come shortest-first with filler rows; `example_index` puts every prediction back in its place, and
NER predictions are read per word from the first sub-token of each word (words cut by truncation are 'O').
"""

import numpy as np
import tensorflow as tf

from tfft.data import Batches, Examples, LabelSpace
from tfft.tasks import metrics
from tfft.tokenization import word_predictions
from tfft.training.losses import masked_cross_entropy


def evaluate(steps, batches: Batches, examples: Examples, labels: LabelSpace, *,
             token_level: bool) -> tuple[dict, list]:
    """(metrics with 'loss', predictions: per example (label id, probabilities) or per-word label ids)."""
    loss_sum = weight_sum = 0.0
    predictions: list = [None] * len(examples)
    outside = labels.names.index("O") if "O" in labels.names else 0  # for words that have no token
    for batch in batches.dataset():
        logits = steps.predict(batch)
        batch_loss, batch_weight = masked_cross_entropy(logits, batch["labels"])
        loss_sum += float(batch_loss)
        weight_sum += float(batch_weight)
        probabilities = tf.nn.softmax(logits, axis=-1).numpy()
        rows = batch["example_index"].numpy()
        word_ids = batch["word_ids"].numpy() if token_level else None
        for row, index in enumerate(rows):
            if index < 0:
                continue
            if token_level:
                predictions[index] = word_predictions(word_ids[row], probabilities[row].argmax(-1),
                                                      len(examples.words[index]), fill=outside)
            else:
                predictions[index] = (int(probabilities[row].argmax()), probabilities[row])
    if token_level:
        predicted = [[labels.names[i] for i in ids] for ids in predictions]
        result = metrics.ner_metrics(metrics.entity_counts(examples.labels, predicted))
    else:
        gold = np.asarray(labels.ids(examples.labels))
        confusion = metrics.confusion_matrix(gold, np.asarray([p[0] for p in predictions]), len(labels))
        result = metrics.classification_metrics(confusion, labels.names)
    result["loss"] = loss_sum / max(weight_sum, 1e-9)
    return result, predictions


def prediction_records(examples, predictions, labels) -> list[dict]:
    """test_predictions.jsonl: the input, the gold label(s), the prediction and its probabilities."""
    records = []
    for i, prediction in enumerate(predictions):
        if examples.words is not None:
            records.append({"words": examples.words[i], "gold": examples.labels[i],
                            "predicted": [labels.names[t] for t in prediction]})
            continue
        label_id, probabilities = prediction
        record = {"text": examples.texts[i], "gold": examples.labels[i], "predicted": labels.names[label_id],
                  "probabilities": {name: round(float(p), 6) for name, p in zip(labels.names, probabilities)}}
        if examples.text_pairs is not None:
            record["text_pair"] = examples.text_pairs[i]
        records.append(record)
    return records


def records_markdown(records: list[dict]) -> str:
    """A few predictions as a Markdown table, for TensorBoard's text dashboard."""
    rows = ["| input | gold | predicted |", "|---|---|---|"]
    for record in records:
        text = " ".join(record["words"]) if "words" in record else record["text"]
        if "text_pair" in record:
            text = f"{text} / {record['text_pair']}"
        gold, predicted = record["gold"], record["predicted"]
        if isinstance(gold, list):
            gold, predicted = " ".join(gold), " ".join(predicted)
        rows.append(f"| {text.replace('|', '/')} | {gold} | {predicted} |")
    return "\n".join(rows)

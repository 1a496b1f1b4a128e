"""Evaluation of a split: loss, task metrics and per-example predictions, from batches in any order.

Batches come shortest-first with filler rows; `example_index` puts every prediction back in its place, and
NER predictions are read per word from the first sub-token of each word (words cut by truncation are 'O').
`score` turns predictions into metrics, so baselines are scored by the same code as fine-tuned models.
"""

import math

import numpy as np

from tfft.data import Batches, Examples, LabelSpace
from tfft.tasks import metrics
from tfft.tokenization import IGNORE_INDEX, word_predictions


def evaluate(predict, batches: Batches, examples: Examples, labels: LabelSpace) -> tuple[dict, list[np.ndarray]]:
    """(metrics with 'loss', predictions) of a split; `predict(batch)` gives (loss sum, label weight, probabilities)
    (tfft.training.steps.predict, compiled: TrainSteps.predict or compiled_predict).

    Predictions are probabilities in example order: [labels] per example, or [words, labels] per sentence for
    NER, with a NaN row for each word that has no token (cut by truncation). Masked-LM batches: see
    `evaluate_masked_lm` (no per-example predictions).
    """
    if batches.masking is not None:
        return evaluate_masked_lm(predict, batches), []
    loss_sum = weight_sum = 0.0
    token_level = examples.words is not None
    predictions: list = [None] * len(examples)
    for batch in batches.dataset():
        batch_loss, batch_weight, probabilities = predict(batch)
        loss_sum += float(batch_loss)
        weight_sum += float(batch_weight)
        probabilities = probabilities.numpy().astype(np.float64)
        rows = batch["example_index"].numpy()
        word_ids = batch["word_ids"].numpy() if token_level else None
        for row, index in enumerate(rows):
            if index < 0:
                continue
            if token_level:
                predictions[index] = word_predictions(word_ids[row], probabilities[row], len(examples.words[index]),
                                                      fill=np.nan)
            else:
                predictions[index] = probabilities[row]
    result = score(predictions, examples, labels)
    result["loss"] = loss_sum / max(weight_sum, 1e-9)
    return result, predictions


def evaluate_masked_lm(predict, batches: Batches) -> dict:
    """Loss per masked token, perplexity (its exponential, as Hugging Face's run_mlm reports it) and top-1
    accuracy of the masked tokens; the masks are the same at every evaluation (Batches, tfft/data/masking.py)."""
    loss_sum = weight_sum = correct = 0.0
    for batch in batches.dataset():
        batch_loss, batch_weight, predicted = predict(batch)
        loss_sum += float(batch_loss)
        weight_sum += float(batch_weight)
        labels = batch["labels"].numpy()
        correct += float(np.sum((predicted.numpy() == labels) & (labels != IGNORE_INDEX)))
    loss = loss_sum / max(weight_sum, 1e-9)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": correct / max(weight_sum, 1e-9),
            "masked_tokens": int(weight_sum)}


def predicted_ids(prediction: np.ndarray, labels: LabelSpace) -> np.ndarray | int:
    """The predicted label id of an example, or the tag ids of a sentence (words without a prediction: 'O')."""
    if prediction.ndim == 1:
        return int(prediction.argmax())
    outside = labels.names.index("O") if "O" in labels.names else 0
    return np.where(np.isnan(prediction).any(-1), outside, np.nan_to_num(prediction, nan=-1.0).argmax(-1))


def score(predictions: list[np.ndarray], examples: Examples, labels: LabelSpace) -> dict:
    """Task metrics of predictions in `evaluate`'s format, whoever made them (a run, a baseline)."""
    if examples.words is not None:
        predicted = [[labels.names[i] for i in predicted_ids(p, labels)] for p in predictions]
        return metrics.ner_metrics(metrics.entity_counts(examples.labels, predicted))
    gold = np.asarray(labels.ids(examples.labels))
    predicted = np.asarray([predicted_ids(p, labels) for p in predictions])
    return metrics.classification_metrics(metrics.confusion_matrix(gold, predicted, len(labels)), labels.names)


def prediction_records(examples, predictions, labels) -> list[dict]:
    """test_predictions.jsonl: the input, the gold label(s), the prediction and its probabilities."""
    records = []
    for i, prediction in enumerate(predictions):
        if examples.words is not None:
            records.append({"words": examples.words[i], "gold": examples.labels[i],
                            "predicted": [labels.names[t] for t in predicted_ids(prediction, labels)]})
            continue
        record = {"text": examples.texts[i], "gold": examples.labels[i],
                  "predicted": labels.names[predicted_ids(prediction, labels)],
                  "probabilities": {name: round(float(p), 6) for name, p in zip(labels.names, prediction)}}
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

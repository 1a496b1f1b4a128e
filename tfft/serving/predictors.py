"""Predictions for raw texts as JSON records, from a SavedModel export or from a run's model (the Python path).

The two paths share nothing but the record format: the export tokenizes in the graph and decodes entities
with TensorFlow ops, the Python path uses the Hugging Face tokenizer, the tfft model and
`tfft.tasks.metrics.entities`. That is what makes their agreement (tests/test_predict.py, tests/serving/test_module.py: the same records) a
check.

Records: classification and pair `{"text", ["text_pair"], "label", "probabilities": {label: p}, "truncated"}`;
NER `{"text", "entities": [{"type", "start", "end", "text", "score"}], "words": [[word, tag], ...],
"truncated"}` with character offsets into "text" (Python string indices). Words past max_length are not tagged.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfft.checkpoints.io import from_pretrained
from tfft.data import DataError
from tfft.models import read_config
from tfft.models.heads import output_probabilities
from tfft.serving import ServingError
from tfft.runs import best_model_dir, read_run
from tfft.tasks import TASKS
from tfft.tasks.metrics import entities
from tfft.tokenization import NO_WORD, encode_texts, first_tokens, load_tokenizer, pad_batch, word_predictions
from tfft.training.steps import forward


class SavedModelPredictor:
    """Calls the export's `serving_default` signature; needs only TensorFlow and tensorflow_text."""

    def __init__(self, export_dir: str | pathlib.Path):
        import tensorflow_text  # noqa: F401  registers the WordPiece op before the graph is loaded

        export_dir = pathlib.Path(export_dir)
        label_map = json.loads((export_dir / "assets" / "label_map.json").read_text(encoding="utf-8"))
        self.task = TASKS[label_map["task"]]
        self.labels = [label_map["id2label"][str(i)] for i in range(len(label_map["id2label"]))]
        self.serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> list[dict]:
        inputs = {"text": tf.constant(list(texts), tf.string, shape=[len(texts)])}
        if self.task.pair:
            inputs["text_pair"] = tf.constant(list(text_pairs), tf.string, shape=[len(texts)])
        out = {name: value.numpy() for name, value in self.serve(**inputs).items()}
        if self.task.head != "token_classification":
            return _classification_records(texts, text_pairs, out["probabilities"], out["truncated"], self.labels)
        records = []
        for i, text in enumerate(texts):
            words = [(int(s), int(e), t.decode(), float(p)) for s, e, t, p in zip(
                out["word_start"][i], out["word_end"][i], out["word_tag"][i], out["word_score"][i])][
                :out["word_count"][i]]
            spans = [(t.decode(), int(s), int(e), float(p)) for t, s, e, p in zip(
                out["entity_type"][i], out["entity_start"][i], out["entity_end"][i], out["entity_score"][i])][
                :out["entity_count"][i]]
            records.append(_ner_record(text, words, spans, bool(out["truncated"][i])))
        return records


class ModelPredictor:
    """The tfft model with the Hugging Face tokenizer, from a run's best/ model."""

    def __init__(self, model_dir: str | pathlib.Path, *, task: str, max_length: int):
        self.task = TASKS[task]
        self.model = from_pretrained(model_dir, merge_lora=True)
        self.tokenizer = load_tokenizer(model_dir)
        self.labels = list(self.model.config.id2label)
        self.max_length = max_length
        ids = tf.TensorSpec([None, None], tf.int32)
        self._probabilities = tf.function(
            lambda input_ids, attention_mask, token_type_ids, word_ids: output_probabilities(
                self.model, self.model(input_ids, attention_mask, token_type_ids, training=False),
                first_tokens(word_ids)),
            input_signature=[ids, ids, ids, ids])

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> list[dict]:
        token_level = self.task.head == "token_classification"
        features = encode_texts(self.tokenizer, texts, max_length=self.max_length,
                                text_pairs=text_pairs if self.task.pair else None, with_words=token_level)
        batch = pad_batch(features, max(features.lengths(), default=1), pad_token_id=self.tokenizer.pad_token_id)
        word_ids = batch.get("word_ids", np.full_like(batch["input_ids"], NO_WORD))  # classification: no words
        probabilities = self._probabilities(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                                            word_ids).numpy()
        if not token_level:
            return _classification_records(texts, text_pairs, probabilities, features.truncated, self.labels)
        records = []
        for i, text in enumerate(texts):
            spans = features.word_spans[i]
            per_word = word_predictions(batch["word_ids"][i], probabilities[i], len(spans), fill=np.nan)
            tagged = int(np.sum(~np.isnan(per_word[:, 0])))  # truncation keeps a prefix of the words
            tags = [self.labels[k] for k in per_word[:tagged].argmax(-1)]
            scores = per_word[:tagged].max(-1)
            words = [(int(s), int(e), tag, float(p)) for (s, e), tag, p in zip(spans, tags, scores)]
            found = [(kind, int(spans[a, 0]), int(spans[b - 1, 1]), float(scores[a:b].mean()))
                     for kind, a, b in entities(tags)]
            records.append(_ner_record(text, words, found, bool(features.truncated[i])))
        return records


class FillMaskPredictor:
    """The most likely fillers of every mask token in raw text, from a masked-LM checkpoint (a --task=mlm run's
    best/, or any Hugging Face masked-LM directory). Records: {"text", "filled" (each mask replaced by its best
    filler), "masks": [{"position" (token index), "fillers": [{"token", "probability"}, ...]}], "truncated"}."""

    task = TASKS["mlm"]

    def __init__(self, model_dir: str | pathlib.Path, *, max_length: int, top_k: int):
        self.model = from_pretrained(model_dir, head="masked_lm")
        self.tokenizer = load_tokenizer(model_dir)
        if self.tokenizer.mask_token_id is None:
            raise ServingError(f"{model_dir}: the tokenizer has no mask token to fill")
        self.max_length, self.top_k = max_length, top_k
        ids = tf.TensorSpec([None, None], tf.int32)

        @tf.function(input_signature=[ids, ids, ids, ids])
        def top_fillers(input_ids, attention_mask, token_type_ids, positions):
            logits = forward(self.model, {"input_ids": input_ids, "attention_mask": attention_mask,  # [B, M, V]:
                                          "token_type_ids": token_type_ids, "mlm_positions": positions},  # masks only
                             training=False)
            return tf.math.top_k(tf.nn.softmax(logits), k=top_k)  # values, indices [B, M, k]

        self._top_fillers = top_fillers

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> list[dict]:
        del text_pairs
        features = encode_texts(self.tokenizer, texts, max_length=self.max_length)
        batch = pad_batch(features, max(features.lengths(), default=1), pad_token_id=self.tokenizer.pad_token_id)
        is_mask = batch["input_ids"] == self.tokenizer.mask_token_id  # [B, S]
        for i, text in enumerate(texts):
            if not is_mask[i].any():
                reason = " within --max_seq_length tokens" if features.truncated[i] else ""
                raise DataError(f"{text[:60]!r} has no {self.tokenizer.mask_token} token to fill{reason}")
        masks = is_mask.sum(axis=1)
        positions = np.zeros((len(texts), masks.max()), np.int32)  # [B, M], padded with position 0
        for i in range(len(texts)):
            positions[i, :masks[i]] = np.flatnonzero(is_mask[i])
        values, indices = (t.numpy() for t in self._top_fillers(batch["input_ids"], batch["attention_mask"],
                                                                  batch["token_type_ids"], positions))
        records = []
        for i, text in enumerate(texts):
            found, filled = [], text
            for m in range(masks[i]):
                tokens = self.tokenizer.convert_ids_to_tokens(indices[i, m].tolist())
                found.append({"position": int(positions[i, m]), "fillers": [
                    {"token": token, "probability": float(p)} for token, p in zip(tokens, values[i, m])]})
                filled = filled.replace(self.tokenizer.mask_token,
                                        self.tokenizer.convert_tokens_to_string(tokens[:1]).strip(), 1)
            records.append({"text": text, "filled": filled, "masks": found, "truncated": bool(features.truncated[i])})
        return records


def load_predictor(path: str | pathlib.Path, *, task: str | None = None,
                   top_k: int = 5) -> SavedModelPredictor | ModelPredictor | FillMaskPredictor:
    """A SavedModel export, a run directory (its best/ model) or a run's best/ directory; with task='mlm' also any
    Hugging Face masked-LM directory. `task`, when given, must be the run's; `top_k`: fillers per mask (mlm)."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        predictor = SavedModelPredictor(path)
        _check_task(path, predictor.task.name, task)
        return predictor
    if (path / "best").is_dir() or _is_run_config(path / "config.json"):
        run = read_run(path)
        model_dir = best_model_dir(path)
    elif (path / "config.json").is_file() and _is_run_config(path.parent / "config.json"):
        run, model_dir = read_run(path.parent), path
    elif task == "mlm" and (path / "config.json").is_file():  # a masked-LM checkpoint made elsewhere
        positions = read_config(path / "config.json").max_position_embeddings
        return FillMaskPredictor(path, max_length=positions, top_k=top_k)
    else:
        hint = " (a Hugging Face masked-LM directory needs --task=mlm)" if (path / "config.json").is_file() else ""
        raise ServingError(f"{path} is not a SavedModel export, a tfft run directory or a run's best/ model{hint}")
    _check_task(path, run.train.task, task)
    if run.train.task == "mlm":
        return FillMaskPredictor(model_dir, max_length=run.train.max_seq_length, top_k=top_k)
    return ModelPredictor(model_dir, task=run.train.task, max_length=run.train.max_seq_length)


def _check_task(path: pathlib.Path, trained: str, asked: str | None) -> None:
    if asked is not None and asked != trained:
        raise ServingError(f"--task={asked}: {path} was trained for --task={trained}")


def _is_run_config(path: pathlib.Path) -> bool:
    try:
        return path.is_file() and "train" in json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False


def _classification_records(texts, text_pairs, probabilities: np.ndarray, truncated: np.ndarray,
                            labels: Sequence[str]) -> list[dict]:
    records = []
    for i, text in enumerate(texts):
        record = {"text": text}
        if text_pairs is not None:
            record["text_pair"] = text_pairs[i]
        record["label"] = labels[int(np.argmax(probabilities[i]))]
        record["probabilities"] = {name: float(p) for name, p in zip(labels, probabilities[i])}
        record["truncated"] = bool(truncated[i])
        records.append(record)
    return records


def _ner_record(text: str, words: list[tuple], spans: list[tuple], truncated: bool) -> dict:
    """words: (start, end, tag, score); spans: (type, start, end, score), offsets in characters of `text`."""
    return {
        "text": text,
        "entities": [{"type": kind, "start": start, "end": end, "text": text[start:end],
                      "score": score} for kind, start, end, score in spans],
        "words": [[text[start:end], tag] for start, end, tag, _ in words],
        "truncated": truncated,
    }

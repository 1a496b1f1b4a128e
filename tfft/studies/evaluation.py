"""Evaluation of a finished run on one split, written for people: metrics, a classification report, the confusion
matrix (JSON and heatmap), the model's most confident mistakes (errors.md, errors.jsonl), and a few predictions
rendered (probability bars; NER spans highlighted by entity type) as HTML and PNG.

Everything lands in RUN/eval/<split>/ (or a given directory), assembled in a staging directory and renamed into
place, so a crash never leaves a half-written evaluation.
"""

import dataclasses
import logging
import pathlib
import re

import numpy as np

from tfft import files
from tfft.checkpoints.io import from_pretrained
from tfft.data import Batches, Examples, LabelSpace, bucket_boundaries, encode_data, load_data
from tfft.data.features import DEFAULT_CACHE_DIR
from tfft.runs import RunError, best_model_dir, check_labelled, read_run
from tfft.studies import plots, render
from tfft.tasks import TASKS
from tfft.tasks.metrics import entities
from tfft.tokenization import load_tokenizer
from tfft.training.evaluation import evaluate, predicted_ids, prediction_records
from tfft.training.steps import compiled_predict

log = logging.getLogger(__name__)
SPLITS = ("test", "validation")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What `python -m tfft.evaluate` does; field names are its flag names."""

    run_dir: str
    split: str = "test"
    data: str | None = None  # another data set for the same task (default: the run's own)
    output_dir: str | None = None  # default RUN/eval/<split>
    errors: int = 20  # most confident mistakes listed
    examples: int = 8  # predictions rendered
    batch_size: int = 64

    def __post_init__(self):
        if self.split not in SPLITS:
            raise RunError(f"--split={self.split}: expected one of {', '.join(SPLITS)}")
        if not 1 <= self.examples <= render.MAX_PNG_RECORDS:
            raise RunError(f"--examples={self.examples}: expected 1 to {render.MAX_PNG_RECORDS}")
        if self.errors < 0:
            raise RunError(f"--errors={self.errors}: expected 0 or more")
        if self.batch_size < 1:
            raise RunError(f"--batch_size={self.batch_size}: expected at least 1")


def evaluate_run(config: EvalConfig) -> tuple[dict, pathlib.Path]:
    """(metrics, output directory) of the run's best/ model on the chosen split."""
    run = read_run(config.run_dir)
    check_labelled(run, config.run_dir, "tfft.evaluate")
    best = best_model_dir(config.run_dir)
    task = TASKS[run.train.task]
    model = from_pretrained(best)
    names = tuple(model.config.id2label)
    data_config = run.data
    if config.data:  # another data set, read like the run's; its labels are the model's (unknown ones are errors)
        data_config = dataclasses.replace(run.data, dataset=config.data, label_names=",".join(names),
                                          train_label_fraction=None, max_train_examples=None,
                                          train_on_validation=False, train_file=None, validation_file=None,
                                          test_file=None)  # the run's own split files are not the other data's
    data = load_data(data_config, task)
    if data.labels.names != names:
        raise RunError(f"{best}: the model's labels {list(names)} differ from the data's {list(data.labels.names)}; "
                       f"was the data set or --label_names changed since the run?")
    tokenizer = load_tokenizer(best)
    cache_dir = pathlib.Path(run.train.cache_dir) if run.train.cache_dir else DEFAULT_CACHE_DIR
    examples = data.splits[config.split]
    encoded = encode_data(_only(data, config.split), tokenizer, max_length=run.train.max_seq_length,
                          label_all_subtokens=run.train.label_all_subtokens, cache_dir=cache_dir)[config.split]
    batches = Batches(encoded, batch_size=config.batch_size, pad_token_id=tokenizer.pad_token_id,
                      boundaries=bucket_boundaries(run.train.max_seq_length, run.train.padding, run.train.buckets,
                                                    xla=run.train.xla))
    predict = compiled_predict(model, xla=False)
    result, predictions = evaluate(predict, batches, examples, data.labels)
    default = config.split + (f"-{re.sub(r'[^A-Za-z0-9._-]', '_', pathlib.Path(config.data).name)}"
                              if config.data else "")  # RUN/eval/test stays the run's own test split
    output_dir = pathlib.Path(config.output_dir or pathlib.Path(config.run_dir) / "eval" / default)
    with files.atomic_dir(output_dir) as staging:
        write_evaluation(staging, result, examples, predictions, data.labels, errors=config.errors,
                         shown=config.examples, source={"run_dir": str(config.run_dir), "split": config.split,
                                                        "dataset": data_config.dataset})
    log.info("%s split of %s: written to %s", config.split, config.run_dir, output_dir)
    return result, output_dir


def _only(data, split: str):
    """The data with only one split, so that only it is tokenized."""
    return dataclasses.replace(data, splits={split: data.splits[split]})


def write_evaluation(out: pathlib.Path, result: dict, examples: Examples, predictions: list[np.ndarray],
                     labels: LabelSpace, *, errors: int, shown: int, source: dict) -> None:
    """The evaluation files of one split, from predictions in `training.evaluation.evaluate`'s format."""
    files.write_json(out / "metrics.json", {**result, "source": source})
    files.write_text(out / "classification_report.txt", report_text(result))
    records = prediction_records(examples, predictions, labels)
    files.write_jsonl(out / "predictions.jsonl", records)
    mistakes = confident_mistakes(examples, predictions, labels, errors)
    files.write_jsonl(out / "errors.jsonl", mistakes)
    files.write_text(out / "errors.md", errors_markdown(mistakes))
    sample = sorted(np.random.default_rng(0).choice(len(records), size=min(shown, len(records)), replace=False))
    sample = [records[i] for i in sample]
    files.write_jsonl(out / "examples.jsonl", sample)
    if not sample:  # an empty split: metrics and an empty report, nothing to render
        return
    if "confusion_matrix" in result:
        files.write_json(out / "confusion.json", {"labels": list(labels.names), "rows": "gold",
                                                  "columns": "predicted", "matrix": result["confusion_matrix"]})
        plots.confusion_heatmap(result["confusion_matrix"], labels.names, out / "confusion.png")
        fragment = render.classification_html(sample)
        render.classification_png(sample, out / "predictions.png")
    else:
        fragment = render.ner_html(sample)
        render.ner_png(sample, out / "predictions.png")
    files.write_text(out / "predictions.html", render.page(f"Predictions ({source['split']})", fragment))


def report_text(result: dict) -> str:
    """A classification report in scikit-learn's layout: per class (NER: per entity type) precision, recall,
    F1 and support, then accuracy (NER: micro average) and the macro and weighted averages."""
    per = result.get("per_class") or result["per_type"]
    width = max([12, *(len(name) for name in per)])
    line = "{:>%d} {:>9} {:>9} {:>9} {:>9}" % width
    rows = [line.format("", "precision", "recall", "f1-score", "support"), ""]
    rows += [line.format(name, *(f"{s[m]:.4f}" for m in ("precision", "recall", "f1")), s["support"])
             for name, s in per.items()]
    rows.append("")
    if "per_class" in result:
        rows.append(line.format("accuracy", "", "", f"{result['accuracy']:.4f}", result["support"]))
    else:
        rows.append(line.format("micro avg", *(f"{result[m]:.4f}" for m in ("precision", "recall", "f1")),
                                result["support"]))
    for average, title in (("macro", "macro avg"), ("weighted", "weighted avg")):
        rows.append(line.format(title, *(f"{result[f'{m}_{average}']:.4f}" for m in ("precision", "recall", "f1")),
                                result["support"]))
    if "token_accuracy" in result:
        rows += ["", f"token accuracy: {result['token_accuracy']:.4f}"]
    return "\n".join(rows) + "\n"


def confident_mistakes(examples: Examples, predictions: list[np.ndarray], labels: LabelSpace,
                       count: int) -> list[dict]:
    """The `count` mistakes the model was surest of, surest first.

    Classification: wrong examples ranked by the probability of the predicted label. NER: sentences whose
    predicted entities differ from the gold ones, ranked by the mean probability of the wrongly tagged words
    (words cut by truncation count as wrong 'O' with probability 0).
    """
    found = []
    for i, prediction in enumerate(predictions):
        record = {"index": i, "where": examples.where[i]}
        if examples.words is None:
            predicted = predicted_ids(prediction, labels)
            gold = labels.names.index(examples.labels[i])
            if predicted == gold:
                continue
            record.update(text=examples.texts[i], gold=labels.names[gold], predicted=labels.names[predicted],
                          probability=float(prediction[predicted]), gold_probability=float(prediction[gold]))
            if examples.text_pairs is not None:
                record["text_pair"] = examples.text_pairs[i]
            found.append((record["probability"], i, record))
            continue
        tags = [labels.names[t] for t in predicted_ids(prediction, labels)]
        gold_tags, words = examples.labels[i], examples.words[i]
        gold_spans, predicted_spans = set(entities(gold_tags)), set(entities(tags))
        if gold_spans == predicted_spans:
            continue
        wrong = [w for w, (g, p) in enumerate(zip(gold_tags, tags)) if g != p]
        scores = np.where(np.isnan(prediction).any(-1), 0.0, np.nan_to_num(prediction).max(-1))
        confidence = float(np.mean(scores[wrong])) if wrong else 0.0
        record.update(words=words, gold=list(gold_tags), predicted=tags, confidence=confidence,
                      gold_entities=_spans(words, gold_spans), predicted_entities=_spans(words, predicted_spans),
                      sentence_gold=bracketed(words, gold_tags), sentence_predicted=bracketed(words, tags))
        found.append((confidence, i, record))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [record for _, _, record in found[:count]]


def _spans(words: list[str], spans: set) -> list[dict]:
    return [{"type": kind, "start": start, "end": end, "text": " ".join(words[start:end])}
            for kind, start, end in sorted(spans, key=lambda s: (s[1], s[2], s[0]))]


def bracketed(words: list[str], tags: list[str]) -> str:
    """'[John Smith]PER lives in [New York]LOC': a sentence with its entities marked, for Markdown."""
    out, spans = [], {start: (kind, end) for kind, start, end in entities(tags)}
    i = 0
    while i < len(words):
        if i in spans:
            kind, end = spans[i]
            out.append(f"[{' '.join(words[i:end])}]{kind}")
            i = end
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def errors_markdown(mistakes: list[dict]) -> str:
    if not mistakes:
        return "No mistakes.\n"
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    if "text" in mistakes[0]:
        rows = ["| # | text | gold | predicted | p(predicted) | p(gold) |", "|---|---|---|---|---|---|"]
        for m in mistakes:
            text = m["text"] + (f" / {m['text_pair']}" if "text_pair" in m else "")
            rows.append(f"| {m['index']} | {cell(text)} | {cell(m['gold'])} | {cell(m['predicted'])} | "
                        f"{m['probability']:.3f} | {m['gold_probability']:.3f} |")
        return "\n".join(rows) + "\n"
    rows = []
    for m in mistakes:
        rows += [f"- **#{m['index']}** ({m['where']}, confidence {m['confidence']:.3f})",
                 f"  - gold: {cell(m['sentence_gold'])}", f"  - predicted: {cell(m['sentence_predicted'])}"]
    return "\n".join(rows) + "\n"

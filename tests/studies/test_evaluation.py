"""tfft.studies.evaluation and `python -m tfft.evaluate`: metrics against scikit-learn and seqeval, the report
text, the most confident mistakes (brute force), and the files of a run's evaluation."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import classification_report

from conftest import error_line
from tfft.data import Examples, LabelSpace
from tfft.runs import RunError
from tfft.studies.evaluation import EvalConfig, bracketed, confident_mistakes, evaluate_run, report_text
from tfft.tasks import metrics


def test_report_text_has_scikit_learns_numbers():
    rng = np.random.default_rng(3)
    names = ["cat", "dog", "emu"]
    gold, predicted = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    text = report_text(metrics.classification_metrics(metrics.confusion_matrix(gold, predicted, 3), names))
    reference = classification_report(gold, predicted, target_names=names, output_dict=True, zero_division=0)
    for name in (*names, "macro avg", "weighted avg"):
        line = next(row for row in text.splitlines() if row.strip().startswith(name))
        numbers = [float(x) for x in re.findall(r"\d+\.\d+|\d+", line[len(line) - 40:])]
        expected = [reference[name][k] for k in ("precision", "recall", "f1-score", "support")]
        assert numbers == pytest.approx([round(x, 4) for x in expected[:3]] + [expected[3]], abs=1e-4), name
    accuracy = next(row for row in text.splitlines() if row.strip().startswith("accuracy"))
    assert float(accuracy.split()[1]) == pytest.approx(reference["accuracy"], abs=1e-4)


def test_classification_mistakes_are_the_surest_wrong_ones():
    rng = np.random.default_rng(0)
    labels = LabelSpace(("a", "b", "c"))
    probabilities = rng.dirichlet(np.ones(3), size=50)
    gold = [labels.names[i] for i in rng.integers(0, 3, 50)]
    examples = Examples(labels=gold, where=[f"f:{i}" for i in range(50)], texts=[f"text {i}" for i in range(50)])
    found = confident_mistakes(examples, list(probabilities), labels, 5)
    wrong = [i for i in range(50) if labels.names[probabilities[i].argmax()] != gold[i]]
    expected = sorted(wrong, key=lambda i: -probabilities[i].max())[:5]
    assert [m["index"] for m in found] == expected
    assert all(m["predicted"] != m["gold"] and m["probability"] == probabilities[m["index"]].max() for m in found)


def test_ner_mistakes_show_gold_and_predicted_spans():
    labels = LabelSpace(("O", "B-PER", "I-PER", "B-LOC", "I-LOC"))
    words = [["John", "Smith", "visited", "Paris"], ["Rome", "is", "old"]]
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O", "O"]]
    first = np.eye(5)[[1, 2, 0, 1]] * 0.9 + 0.02  # Paris tagged PER: a mistake
    second = np.eye(5)[[3, 0, 0]]  # correct
    examples = Examples(labels=gold, where=["a:1", "a:7"], words=words)
    found = confident_mistakes(examples, [first, second], labels, 10)
    assert [m["index"] for m in found] == [0]
    assert found[0]["sentence_gold"] == "[John Smith]PER visited [Paris]LOC"
    assert found[0]["sentence_predicted"] == "[John Smith]PER visited [Paris]PER"
    assert found[0]["predicted_entities"][1] == {"type": "PER", "start": 3, "end": 4, "text": "Paris"}
    assert found[0]["confidence"] == pytest.approx(0.92)


def test_bracketed_reads_tags_as_seqeval():
    assert bracketed(["a", "b", "c"], ["I-X", "I-X", "B-X"]) == "[a b]X [c]X"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_evaluating_a_run_reproduces_its_test_metrics(trained_runs, task):
    run_dir = trained_runs[task]
    result, out = evaluate_run(EvalConfig(run_dir=str(run_dir), examples=4, errors=3))
    saved = json.loads((run_dir / "test_metrics.json").read_text())
    for key in ("accuracy", "f1_macro", "f1", "precision", "recall", "token_accuracy"):
        if key in saved:
            assert result[key] == pytest.approx(saved[key], abs=1e-9), key
    expected = {"metrics.json", "classification_report.txt", "predictions.jsonl", "errors.jsonl", "errors.md",
                "examples.jsonl", "predictions.html", "predictions.png"}
    if task == "classification":
        expected |= {"confusion.json", "confusion.png"}
        confusion = json.loads((out / "confusion.json").read_text())
        assert np.sum(confusion["matrix"]) == 80
        records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        from sklearn.metrics import accuracy_score

        assert result["accuracy"] == pytest.approx(accuracy_score([r["gold"] for r in records],
                                                                  [r["predicted"] for r in records]))
    else:
        from seqeval.metrics import f1_score

        records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        assert result["f1"] == pytest.approx(f1_score([r["gold"] for r in records],
                                                      [r["predicted"] for r in records]))
    assert {p.name for p in out.iterdir()} == expected
    assert len((out / "examples.jsonl").read_text().splitlines()) == 4
    assert len((out / "errors.jsonl").read_text().splitlines()) <= 3


def test_a_run_dir_without_a_best_model_is_refused(trained_runs, tmp_path):
    (tmp_path / "config.json").write_text((trained_runs["classification"] / "config.json").read_text())
    with pytest.raises(RunError, match="has no best model"):
        evaluate_run(EvalConfig(run_dir=str(tmp_path)))


@pytest.mark.slow
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfft.evaluate", f"--run_dir={tmp_path}"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2
    assert error_line(result) == f"error: {tmp_path} is not a tfft run directory: config.json is missing"


@pytest.mark.slow
def test_another_data_set_for_the_same_task(trained_runs, tmp_path):
    import pathlib

    import tfft

    sample = pathlib.Path(tfft.__file__).parent / "data" / "sample" / "classification"
    run_dir = trained_runs["classification"]
    own, _ = evaluate_run(EvalConfig(run_dir=str(run_dir), output_dir=str(tmp_path / "own")))
    other, out = evaluate_run(EvalConfig(run_dir=str(run_dir), data=str(sample), output_dir=str(tmp_path / "other")))
    assert other["accuracy"] == own["accuracy"] and out == tmp_path / "other"
    assert json.loads((out / "metrics.json").read_text())["source"]["dataset"] == str(sample)


@pytest.mark.parametrize("field,value,message", [("examples", 0, "--examples=0: expected 1 to 50"),
                                                 ("examples", 51, "--examples=51: expected 1 to 50"),
                                                 ("split", "train", "--split=train: expected one of test, validation"),
                                                 ("errors", -1, "--errors=-1: expected 0 or more")])
def test_bad_evaluation_flags_are_named(field, value, message):
    with pytest.raises(RunError, match=message):
        EvalConfig(run_dir="x", **{field: value})

"""The sequence study's training and report: the loss ignores filler rows, early stopping and resuming behave as
documented, every reported number is recomputed from the saved predictions and logs."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from tfft.runs import RunError, read_metrics_log
from tfft.studies.sequence_data import SyntheticConfig, synthetic
from tfft.studies.sequence_models import make_model
from tfft.studies.sequence_study import (StudyConfig, batches, length_ranges, masked_mse, prepare, run_study,
                                         train_model)

DATA = synthetic(SyntheticConfig(examples=160, min_length=4, max_length=12, features=3, seed=5))
TINY = StudyConfig(rnn_units=6, ffn_hidden=(8,), batch_size=32, epochs=3, early_stopping_patience=None)


def test_batches_fill_the_last_one_with_weightless_rows():
    out = batches(np.arange(10, 17), 3)
    assert [list(rows) for rows, _ in out] == [[10, 11, 12], [13, 14, 15], [16, 16, 16]]
    assert [list(weight) for _, weight in out][-1] == [1, 0, 0]
    y, prediction = np.array([1.0, 2.0, 3.0, 9.0]), np.array([0.0, 2.0, 5.0, -40.0])
    loss = masked_mse(*(tf.constant(v, tf.float32) for v in (prediction, y, [1.0, 1.0, 1.0, 0.0])))
    assert loss.numpy() == pytest.approx(np.mean((prediction[:3] - y[:3]) ** 2))


@pytest.mark.parametrize("shortest, longest, edges, expected", [
    (5, 60, (), [(5, 23), (24, 41), (42, 60)]),
    (5, 6, (), [(5, 5), (6, 6)]),
    (7, 7, (), [(7, 7)]),
    (5, 60, (20, 40), [(5, 19), (20, 39), (40, 60)]),
    (5, 60, (3, 5, 80), [(5, 60)]),  # edges outside shortest+1..longest start nothing
])
def test_length_ranges_cover_every_length_once(shortest, longest, edges, expected):
    ranges = length_ranges(shortest, longest, edges)
    assert ranges == expected
    assert [n for low, high in ranges for n in range(low, high + 1)] == list(range(shortest, longest + 1))


def test_early_stopping_stops_patience_epochs_after_the_best_and_tests_the_best_weights(tmp_path):
    """The padded network overfits 112 sequences within a few epochs at a high learning rate."""
    config = StudyConfig(models=("ffn_padded",), ffn_hidden=(64,), lr=3e-2, batch_size=16, epochs=60,
                         early_stopping_patience=2)
    result = train_model("ffn_padded", prepare(DATA, config), config, tmp_path)
    assert result["stopped_early"] and result["epochs_run"] == result["best_epoch"] + 2 < 60
    validation = {r["epoch"]: r["loss"] for r in read_metrics_log(tmp_path) if r["split"] == "validation"}
    assert sorted(validation) == list(range(1, result["epochs_run"] + 1))
    assert min(validation, key=validation.get) == result["best_epoch"]
    assert result["mse"]["validation"] == pytest.approx(validation[result["best_epoch"]], rel=1e-5)
    prepared = prepare(DATA, config)  # best/ holds the best epoch's weights: they give its validation MSE again
    model = make_model("ffn_padded", features=3, shortest=prepared.shortest, longest=prepared.longest, rnn_units=1,
                       ffn_hidden=(64,), seed=1)
    tf.train.Checkpoint(model=model).read(str(tmp_path / "best" / "weights")).assert_consumed()
    rows = prepared.splits["validation"]
    standard = model(prepared.inputs[rows], prepared.mask[rows]).numpy()
    predictions = standard * prepared.scaling.y_std + prepared.scaling.y_mean
    assert np.mean((predictions - DATA.y[rows]) ** 2) == pytest.approx(validation[result["best_epoch"]], rel=1e-5)
    assert list((tmp_path / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "tensorboard" / "validation").glob("events.out.tfevents.*"))


def test_an_interrupted_model_resumes_where_it_stopped(tmp_path):
    config = StudyConfig(models=("rnn",), rnn_units=6, batch_size=32, epochs=4, early_stopping_patience=None)
    straight = train_model("rnn", prepare(DATA, config), config, tmp_path / "straight")
    first = StudyConfig(models=("rnn",), rnn_units=6, batch_size=32, epochs=2, early_stopping_patience=None)
    train_model("rnn", prepare(DATA, first), first, tmp_path / "resumed")
    resumed = train_model("rnn", prepare(DATA, config), config, tmp_path / "resumed")
    assert resumed["epochs_run"] == 4
    assert resumed["mse"] == pytest.approx(straight["mse"], rel=1e-5)
    steps = [(r["split"], r["step"]) for r in read_metrics_log(tmp_path / "resumed")]
    assert sorted(steps) == sorted((split, step) for split in ("train", "validation") for step in range(1, 5))


def test_report_numbers_come_from_the_saved_predictions(tmp_path):
    out = tmp_path / "study"
    run_study(DATA, TINY, out, command="python scripts/study_sequences.py --epochs=3")
    summary = json.loads((out / "result.json").read_text())
    report = (out / "report.md").read_text()
    prepared = prepare(DATA, TINY)
    test = prepared.splits["test"]
    for name in TINY.models:
        predictions = [json.loads(line) for line in (out / "models" / name / "test_predictions.jsonl").open()]
        assert [p["index"] for p in predictions] == list(test)
        errors = np.array([(p["prediction"] - DATA.y[p["index"]]) ** 2 for p in predictions])
        result = summary["models"][name]
        assert result["mse"]["test"] == pytest.approx(errors.mean(), rel=1e-6)
        assert re.search(rf"^\| {name} \|.*\| {result['mse']['test']:.4f} \|$", report, re.M)
        lengths = DATA.lengths[test]
        for bucket in result["test_by_length"]:
            low, high = map(int, bucket["lengths"].split("-"))
            chosen = (lengths >= low) & (lengths <= high)
            assert bucket["sequences"] == chosen.sum()
            assert bucket["mse"] == pytest.approx(errors[chosen].mean(), rel=1e-6)
    mean_mse = np.mean((DATA.y[test] - DATA.y[prepared.splits["train"]].mean()) ** 2)
    assert summary["mean_baseline"]["test"] == pytest.approx(mean_mse, rel=1e-5)
    winner = min(TINY.models, key=lambda name: summary["models"][name]["mse"]["test"])
    assert f"| which model wins overall (test MSE) | {winner} (" in report
    assert "(report_files/convergence.png)" in report and "(report_files/by_length.png)" in report
    assert report.count("data:image/png;base64,") == 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2


def test_a_study_directory_refuses_other_settings(tmp_path):
    run_study(DATA, TINY, tmp_path)
    with pytest.raises(RunError, match="holds a study with other settings"):
        run_study(DATA, StudyConfig(rnn_units=6, ffn_hidden=(8,), batch_size=32, epochs=4,
                                    early_stopping_patience=None), tmp_path)


@pytest.mark.parametrize("field, value", [("models", ("gru",)), ("models", ()), ("lr", 0.0), ("epochs", 0),
                                          ("optimizer", "adam"), ("length_buckets", (40, 20))])
def test_settings_are_checked(field, value):
    with pytest.raises(RunError, match=f"--{field}="):
        StudyConfig(**{field: value})

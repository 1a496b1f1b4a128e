"""tfft.studies.pair_study: reproducing a run's test numbers from its saved model, and failing loudly when they
differ. (The whole study runs end to end in tests/test_scripts.py.)"""

import json
import math
import shutil

import pytest

from tfft.studies.pair_study import ReproductionError, _collapsed, check_reproduction, difference, one_class, \
    reproduce_run
from tfft.studies.report import Doc


@pytest.mark.parametrize("reported,reloaded,expected", [
    (0.5, 0.5, 0.0), (0.5, 0.25, 0.25), (math.nan, math.nan, 0.0), (math.nan, 0.5, math.inf),
    (math.inf, math.inf, 0.0),
])
def test_difference_counts_a_reproduced_nan_as_equal(reported, reloaded, expected):
    assert difference(reported, reloaded) == expected


@pytest.mark.slow
def test_a_saved_model_reproduces_the_test_numbers_of_its_run(trained_runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_runs["classification"], run_dir)
    found = reproduce_run(run_dir)
    reported = json.loads((run_dir / "test_metrics.json").read_text())
    predictions = (run_dir / "test_predictions.jsonl").read_text().splitlines()
    assert found["examples"] == len(predictions) and found["changed_predictions"] == 0
    assert found["probability_difference"] < 1e-4
    for name, numbers in found["metrics"].items():
        assert numbers["reported"] == reported[name] and numbers["difference"] <= 1e-12
    check_reproduction({"tolerance": 1e-4, "numbers": 4, "runs": {"run": found}})  # nothing raised

    tampered = {**reported, "accuracy": reported["accuracy"] + 0.01}  # as if training had reported another number
    (run_dir / "test_metrics.json").write_text(json.dumps(tampered))
    wrong = reproduce_run(run_dir)
    assert wrong["metrics"]["accuracy"]["difference"] == pytest.approx(0.01)
    with pytest.raises(ReproductionError, match=r"1 of 4 test numbers not reproduced .*run accuracy: reported "):
        check_reproduction({"tolerance": 1e-4, "numbers": 4, "runs": {"run": wrong}})


def _predictions(run_dir, predicted):
    run_dir.mkdir(parents=True)
    (run_dir / "test_predictions.jsonl").write_text("".join(
        json.dumps({"text": "a", "text_pair": "b", "gold": "yes", "predicted": label}) + "\n" for label in predicted))
    return run_dir


def test_a_run_that_predicts_one_class_for_every_test_example_is_named(tmp_path):
    rows = [{"name": "one", "run_dir": _predictions(tmp_path / "one", ["yes", "yes", "yes"])},
            {"name": "both", "run_dir": _predictions(tmp_path / "both", ["yes", "no", "yes"])},
            {"name": "untested", "run_dir": tmp_path / "untested"}]
    assert [one_class(row["run_dir"]) for row in rows] == ["yes", None, None]
    doc = Doc(tmp_path)
    _collapsed(doc, rows, lambda row: row["name"])
    assert doc.md == ["Collapsed to one class, every test example predicted the same: one (only yes). Their accuracy "
                      "is that class's share of the test split, and their macro F1 shows it."]
    quiet = Doc(tmp_path)
    _collapsed(quiet, rows[1:], lambda row: row["name"])
    assert quiet.md == []

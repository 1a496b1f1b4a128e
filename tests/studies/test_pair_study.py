"""tfft.studies.pair_study: reproducing a run's test numbers from its saved model, and failing loudly when they
differ. (The whole study runs end to end in tests/test_scripts.py.)"""

import json
import math
import shutil

import pytest

from tfft.studies.pair_study import ReproductionError, check_reproduction, difference, reproduce_run


@pytest.mark.parametrize("reported,reloaded,expected", [
    (0.5, 0.5, 0.0), (0.5, 0.25, 0.25), (math.nan, math.nan, 0.0), (math.nan, 0.5, math.inf),
    (math.inf, math.inf, 0.0),
])
def test_difference_counts_a_reproduced_nan_as_equal(reported, reloaded, expected):
    assert difference(reported, reloaded) == expected


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

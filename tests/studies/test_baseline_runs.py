"""Baselines beside a run (`run_baseline`, `python -m tfft.baseline`): the untrained transformer trained exactly
like the run stays below the fine-tuned one, and every baseline writes the run's metrics format."""

import json
import sys

import pytest

from conftest import commands_at_once, error_line
from tfft.config import RunConfig, TrainConfig
from tfft.data import DataConfig
from tfft.runs import start_run
from tfft.studies.baselines import run_baseline
from tfft.training.loop import train_and_evaluate


@pytest.mark.slow
def test_the_untrained_model_stays_below_the_fine_tuned_one(minilm_dir, tmp_path):
    run = RunConfig(TrainConfig(task="classification", model=str(minilm_dir), max_steps=40, batch_size=16, lr=1e-4,
                                max_seq_length=64, eval_every=20, log_every=10), DataConfig(dataset="sample"))
    start_run(run, tmp_path / "run", overwrite=True)
    fine_tuned = train_and_evaluate(run, tmp_path / "run")
    untrained, out = run_baseline("untrained", tmp_path / "run")
    assert out == tmp_path / "run" / "baselines" / "untrained"
    config = json.loads((out / "config.json").read_text())["train"]
    assert config["init"] == "random" and config["max_steps"] == 40 and config["lr"] == 1e-4
    assert json.loads((out / "baseline.json").read_text())["kind"] == "untrained"
    assert fine_tuned["accuracy"] > untrained["accuracy"] + 0.1, (fine_tuned["accuracy"], untrained["accuracy"])


def test_majority_writes_the_metrics_format_of_a_run(trained_runs, tmp_path):
    result, out = run_baseline("majority", trained_runs["ner"], tmp_path / "majority")
    assert {p.name for p in out.iterdir()} == {"validation_metrics.json", "test_metrics.json",
                                               "test_predictions.jsonl", "baseline.json"}
    run_metrics = json.loads((trained_runs["ner"] / "test_metrics.json").read_text())
    assert set(run_metrics) - {"loss"} == set(result)  # the same keys, so the report can set them side by side
    assert result["f1"] == 0.0 and result["token_accuracy"] > 0.5  # every word 'O'
    predictions = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 70 and all(set(p["predicted"]) == {"O"} for p in predictions)


@pytest.mark.slow
def test_cli_refuses_an_unknown_kind_and_a_missing_run(tmp_path):
    """`python -m tfft.baseline` itself, two processes at once (conftest commands_at_once)."""
    bogus, majority = commands_at_once(
        *([sys.executable, "-m", "tfft.baseline", f"--run_dir={tmp_path}", f"--kind={kind}"]
          for kind in ("bogus", "majority")))
    assert error_line(bogus).startswith("error: flag --kind=bogus: value should be one of")
    assert error_line(majority) == f"error: {tmp_path} is not a tfft run directory: config.json is missing"

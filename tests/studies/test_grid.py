"""Grid search: parsing, the combinations, the pick and its tie rule, resuming, the refit, HParams, bad input."""

import dataclasses
import json
import re
import sys

import pytest

from conftest import commands_at_once, error_line, refusal, tiny_run_config
from tfft.studies import grid
from tfft.runs import read_metrics_log
from tfft.studies.grid import GridError, SweepConfig, parse_grid, rank, run_sweep, trials


def test_grid_values_are_typed_like_their_flags_and_keep_their_order():
    parsed = parse_grid("lr=1e-5,3e-5; batch_size=16,32;optimizer=adamw,sgd;freeze=none,bottom:3,all;"
                        "max_steps=none,10;xla=true,false")
    assert list(parsed) == ["lr", "batch_size", "optimizer", "freeze", "max_steps", "xla"]
    assert parsed["lr"] == [("1e-5", 1e-5), ("3e-5", 3e-5)]
    assert parsed["batch_size"] == [("16", 16), ("32", 32)]
    assert parsed["freeze"] == [("none", "none"), ("bottom:3", "bottom:3"), ("all", "all")]  # a str flag
    assert parsed["max_steps"] == [("none", None), ("10", 10)]
    assert parsed["xla"] == [("true", True), ("false", False)]


@pytest.mark.parametrize("text,message", [
    ("lr", "'lr': expected name=value"), ("lr=", "'lr=': expected name=value"), ("", "expected at least one"),
    ("learning_rate=1e-5", "unknown hyperparameter 'learning_rate'"), ("lrr=1e-5", "did you mean lr?"),
    ("lr=fast", "lr=fast: expected a float"), ("batch_size=16.5", "batch_size=16.5: expected a int"),
    ("lr=1e-5;lr=2e-5", "lr is given twice"), ("lr=1e-5,1e-5", "repeats a value"),
    ("output_dir=a,b", "unknown hyperparameter 'output_dir'"),
])
def test_bad_grids_are_refused(text, message):
    with pytest.raises(GridError, match=message.replace("?", r"\?")):
        parse_grid(text)


def test_every_combination_is_a_run_and_every_one_is_checked_first(tiny_model):
    base = tiny_run_config(tiny_model, "classification")
    found = trials(base, parse_grid("lr=1e-5,3e-5;optimizer=adamw,sgd;freeze=none,bottom:1"))
    assert len(found) == 8 and len({t.name for t in found}) == 8
    assert found[1].name == "lr=1e-5,optimizer=adamw,freeze=bottom-1"
    assert found[1].run.train.freeze == "bottom:1" and not found[1].run.train.evaluate_test
    with pytest.raises(GridError, match=r"lr=-1: --lr=-1.0: expected a positive learning rate"):
        trials(base, parse_grid("lr=1e-5,-1"))


def test_the_pick_is_the_best_metric_then_fewer_updates_then_grid_order():
    rows = [{"name": "a", "metric": 0.8, "step": 30, "order": 0}, {"name": "b", "metric": 0.9, "step": 50, "order": 1},
            {"name": "c", "metric": 0.9, "step": 20, "order": 2}, {"name": "d", "metric": 0.9, "step": 20, "order": 3},
            {"name": "e", "metric": None, "step": None, "order": 4, "status": "pending"}]
    rows = [{"status": "finished", **row} for row in rows]
    assert [r["name"] for r in rank([dict(r) for r in rows], lower_is_better=False)] == ["c", "d", "b", "a", "e"]
    assert [r["name"] for r in rank([dict(r) for r in rows], lower_is_better=True)] == ["a", "c", "d", "b", "e"]


def test_a_diverged_run_is_never_ranked_however_good_its_metric():
    rows = [{"name": "ok", "metric": 0.6, "step": 4, "order": 0, "status": "finished"},
            {"name": "nan", "metric": 0.9, "step": 2, "order": 1, "status": "diverged"}]
    ranked = rank(rows, lower_is_better=False)
    assert [(r["name"], r["rank"]) for r in ranked] == [("ok", 1), ("nan", None)]


def _write_log(path, records):
    """metrics.jsonl as the training loop writes it: json.dumps, which spells a NaN loss NaN and inf Infinity."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


HEALTHY = [{"split": "train", "step": 1, "loss": 0.69, "skipped_steps": 0},
           {"split": "train", "step": 2, "loss": 0.65, "skipped_steps": 0},
           {"split": "validation", "step": 2, "loss": 0.66, "accuracy": 0.6},
           {"split": "validation", "step": 2, "test/loss": 0.7, "test/accuracy": 0.6}]


@pytest.mark.parametrize("change,loss_scaled,expected", [
    ({}, False, None),
    ({1: {"loss": float("nan")}}, False, "train loss nan at step 2"),
    ({2: {"loss": float("inf")}}, False, "validation loss inf at step 2"),
    ({1: {"loss": 69.5}}, False, "train loss 69.5 at step 2 (first 0.69)"),  # 100x the first: blown up while finite
    ({1: {"loss": 68.0}}, False, None),
    ({1: {"skipped_steps": 1}}, False, "1 updates skipped for non-finite gradients by step 2"),
    ({1: {"skipped_steps": 1}}, True, None),  # float16 loss scaling skips overflowing steps as a matter of course
])
def test_divergence_is_read_from_a_hand_written_metrics_log(tmp_path, change, loss_scaled, expected):
    records = [{**record, **change.get(i, {})} for i, record in enumerate(HEALTHY)]
    _write_log(tmp_path, records)
    assert grid.divergence(read_metrics_log(tmp_path), loss_scaled=loss_scaled) == expected


def test_a_sweep_marks_the_run_whose_loss_went_nan_and_picks_the_other(tiny_model, tmp_path):
    """Hand-written run directories: the diverged run has the better validation accuracy, yet is not picked."""
    base = tiny_run_config(tiny_model, "classification")
    found = trials(base, parse_grid("lr=1e-3,1e-1"))
    sweep = tmp_path / "s"
    for trial, loss, accuracy in zip(found, (0.6, float("nan")), (0.6, 0.9)):
        run_dir = sweep / "runs" / trial.name
        _write_log(run_dir, [{"split": "train", "step": 2, "loss": 0.7, "skipped_steps": 0},
                             {"split": "train", "step": 4, "loss": loss, "skipped_steps": 0},
                             {"split": "validation", "step": 4, "loss": 0.6, "accuracy": accuracy}])
        (run_dir / grid.FINISHED).write_text(json.dumps({"seconds": 1.0, "best": {"step": 4, "accuracy": accuracy}}))
    ranked = grid.rows(sweep, found, "accuracy")
    assert [(r["name"], r["status"], r["rank"]) for r in ranked] == [("lr=1e-3", "finished", 1),
                                                                      ("lr=1e-1", "diverged", None)]
    assert ranked[1]["diverged"] == "train loss nan at step 4" and ranked[1]["metric"] == 0.9  # shown, flagged


@pytest.mark.slow
@pytest.mark.parametrize("nan_policy", ["stop", "skip"])
def test_a_real_diverged_run_is_flagged_and_the_sweep_picks_the_other(tiny_model, tmp_path, nan_policy):
    """lr=1e8 without clipping makes every update non-finite within a few: --nan_policy=stop ends that run at the
    first, skip gives up after SKIP_LIMIT in a row. The run is recorded as diverged at that update, untested (it has
    no model worth testing); the sweep goes on and picks the other."""
    base = tiny_run_config(tiny_model, "classification", optimizer="sgd", clip_norm=None, warmup_ratio=0.0,
                           nan_policy=nan_policy)
    result = run_sweep(SweepConfig(base, "lr=1e-2,1e8", str(tmp_path / "s"), test_every_run=True))
    table = {r["name"]: r for r in json.loads((tmp_path / "s" / "sweep.json").read_text())["runs"]}
    assert table["lr=1e8"]["status"] == "diverged" and table["lr=1e8"]["rank"] is None
    assert re.fullmatch(r"non-finite loss or gradients at update \d+", table["lr=1e8"]["diverged"])
    assert not (tmp_path / "s" / "runs" / "lr=1e8" / "test_metrics.json").exists()
    assert table["lr=1e-2"]["status"] == "finished" and table["lr=1e-2"]["rank"] == 1
    assert result["pick"]["name"] == "lr=1e-2" and result["protocol"] == {"kind": "every run tested",
                                                                          "run_dir": "runs/lr=1e-2"}
    assert result["test"] == json.loads((tmp_path / "s" / "runs" / "lr=1e-2" / "test_metrics.json").read_text())
    assert not (tmp_path / "s" / "runs" / "lr=1e-2" / "eval").exists()  # nothing tested twice

    every = run_sweep(SweepConfig(base, "lr=1e8", str(tmp_path / "nan"), test_every_run=True))
    assert every["pick"] is None  # nothing to pick, but every run's numbers stand: no error


@pytest.mark.slow
def test_a_sweep_resumes_skipping_finished_runs_then_refits_the_pick(tiny_model, tmp_path, monkeypatch):
    """Two runs (one lr, two optimizers: the tables still have a column per grid setting), the second interrupted
    at its step 2, then the same sweep again: only that run and the refit train."""
    base = tiny_run_config(tiny_model, "classification", max_steps=4, eval_every=2)
    config = SweepConfig(base, "lr=1e-3;optimizer=adamw,sgd", str(tmp_path / "sweep"), refit=True)
    calls = []
    real = grid.train_and_evaluate

    def counting(run, output_dir, **kwargs):
        calls.append(output_dir.name)
        return real(run, output_dir, **kwargs)

    monkeypatch.setattr(grid, "train_and_evaluate", counting)
    interrupted = run_sweep(config, interrupt=lambda step: len(calls) == 2 and step == 2)
    assert interrupted == {"interrupted": "lr=1e-3,optimizer=sgd"}
    assert (tmp_path / "sweep" / "sweep.csv").is_file()
    calls.clear()
    result = run_sweep(config)
    assert calls == ["lr=1e-3,optimizer=sgd", "refit"]

    table = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    finished = [r for r in table["runs"] if r["status"] == "finished"]
    assert len(finished) == 2
    best = max(r["metric"] for r in finished)
    assert result["pick"]["metric"] == best
    tied = [r for r in finished if r["metric"] == best]
    assert result["pick"]["name"] == min(tied, key=lambda r: (r["step"], r["order"]))["name"]
    for run in finished:
        run_dir = tmp_path / "sweep" / "runs" / run["name"]
        assert not (run_dir / "test_metrics.json").exists()  # grid runs never look at the test split
        assert json.loads((run_dir / "best_metrics.json").read_text())["accuracy"] == run["metric"]
    header = (tmp_path / "sweep" / "sweep.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["rank", "name", "lr", "optimizer", "validation_accuracy", "step"]

    refit = json.loads((tmp_path / "sweep" / "refit" / "config.json").read_text())
    assert refit["data"]["train_on_validation"] and refit["train"]["select"] == "last"
    assert refit["train"]["epochs"] == pytest.approx(result["pick"]["epoch"])
    assert refit["train"]["lr"] == result["pick"]["params"]["lr"]
    refit_best = json.loads((tmp_path / "sweep" / "refit" / "best_metrics.json").read_text())
    last_step = max(json.loads(line)["step"] for line in
                    (tmp_path / "sweep" / "refit" / "metrics.jsonl").read_text().splitlines())
    assert refit_best["step"] == last_step  # --select=last keeps the final weights
    assert not (tmp_path / "sweep" / "refit" / "test_metrics.json").exists()  # tested once, by the evaluation:
    assert result["test"]["accuracy"] == json.loads(
        (tmp_path / "sweep" / "refit" / "eval" / "test" / "metrics.json").read_text())["accuracy"]
    assert result["protocol"]["run_dir"] == "refit"  # relative to the sweep directory, which can move

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_events = EventAccumulator(str(tmp_path / "sweep" / "runs" / finished[0]["name"] / "tensorboard"))
    run_events.Reload()
    assert "_hparams_/session_start_info" in run_events.Tags()["tensors"]
    root_events = EventAccumulator(str(tmp_path / "sweep" / "tensorboard"))
    root_events.Reload()
    assert "_hparams_/experiment" in root_events.Tags()["tensors"]

    calls.clear()
    assert run_sweep(config)["pick"] == result["pick"] and calls == []  # all done: nothing runs again
    with pytest.raises(GridError, match="another grid"):
        run_sweep(SweepConfig(base, "lr=1e-3", str(tmp_path / "sweep")))
    # --overwrite removes what the sweep wrote (every entry of it is listed) and keeps a file the user added. What
    # the new sweep's run then does is not the point: it trains nothing here (no best model: recorded as failed).
    assert {p.name for p in (tmp_path / "sweep").iterdir()} <= grid.SWEEP_ENTRIES
    (tmp_path / "sweep" / "notes.txt").write_text("mine")
    monkeypatch.setattr(grid, "train_and_evaluate", lambda run, output_dir, **kwargs: {})
    with pytest.raises(GridError, match="no run reached a finite validation accuracy"):
        run_sweep(dataclasses.replace(config, grid="lr=1e-3", refit=False, overwrite=True))
    assert (tmp_path / "sweep" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "sweep" / "runs").iterdir()) == ["lr=1e-3"]


def sweep_args(tmp_path, tiny_model, *args) -> list[str]:
    return [f"--model={tiny_model}", "--dataset=sample", f"--output_dir={tmp_path / 's'}", *args]


BAD_GRIDS = [
    ("lr=1e-5;bogus=1", "error: --grid: unknown hyperparameter 'bogus'; a grid varies training flags"),
    ("lr:1e-5", "error: --grid: 'lr:1e-5': expected name=value[,value...], settings separated by ';'"),
]


@pytest.mark.parametrize("grid_flag,message", BAD_GRIDS)
def test_sweep_cli_refuses_bad_grids_in_one_line(tiny_model, tmp_path, grid_flag, message):
    assert refusal("sweep", *sweep_args(tmp_path, tiny_model, f"--grid={grid_flag}")) == message
    assert not (tmp_path / "s").exists()


METRIC_ARGS = ["--grid=lr=1e-5", "--metric_for_best=f1"]


def test_sweep_cli_refuses_a_metric_the_task_does_not_produce(tiny_model, tmp_path):
    assert refusal("sweep", *sweep_args(tmp_path, tiny_model, *METRIC_ARGS)).startswith(
        "error: --metric_for_best=f1: expected one of accuracy")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_the_sweep_command_refuses_in_the_line_made_in_process(tiny_model, tmp_path):
    """`python -m tfft.sweep` itself, for a bad grid and a bad metric (two processes at once): exit code 2, the very
    line refusal() makes, nothing written."""
    cases = {tmp_path / "grid": [f"--grid={BAD_GRIDS[1][0]}"], tmp_path / "metric": METRIC_ARGS}
    results = commands_at_once(*([sys.executable, "-m", "tfft.sweep", *sweep_args(out, tiny_model, *args)]
                                 for out, args in cases.items()))
    for (out, args), result in zip(cases.items(), results):
        assert error_line(result) == refusal("sweep", *sweep_args(out, tiny_model, *args))
        assert not (out / "s").exists()


def test_seed_in_a_grid_seeds_both_the_splits_and_the_training(tiny_model):
    found = trials(tiny_run_config(tiny_model, "classification"), parse_grid("seed=1,2"))
    assert [(t.run.train.seed, t.run.data.seed) for t in found] == [(1, 1), (2, 2)]


def test_hparams_take_settings_with_none_as_written(tmp_path):
    parsed = parse_grid("early_stopping_patience=none,2;lr=1e-3,1e-2")
    grid._write_hparams_config(tmp_path, parsed, "classification")  # hp.Discrete refuses None and mixed types
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    content = events.SummaryMetadata("_hparams_/experiment").plugin_data.content
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    domains = {h.name: [v.WhichOneof("kind") for v in h.domain_discrete.values] for h in experiment.hparam_infos}
    assert domains == {"early_stopping_patience": ["string_value"] * 2, "lr": ["number_value"] * 2}


def test_diverged_runs_are_recorded_as_failed_and_a_sweep_without_any_finite_run_says_so(tiny_model, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setattr(grid, "train_and_evaluate", lambda run, output_dir, **kwargs: {})  # no best model written
    config = SweepConfig(tiny_run_config(tiny_model, "classification"), "lr=1e-3,1e-1", str(tmp_path / "s"))
    with pytest.raises(GridError, match="no run reached a finite validation accuracy"):
        run_sweep(config)
    table = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [r["status"] for r in table["runs"]] == ["failed", "failed"]


def test_a_sweep_does_not_train_on_the_split_it_picks_on(tiny_model, tmp_path):
    import dataclasses

    base = tiny_run_config(tiny_model, "classification", select="last")
    base = dataclasses.replace(base, data=dataclasses.replace(base.data, train_on_validation=True))
    with pytest.raises(GridError, match="a sweep picks on validation"):
        run_sweep(SweepConfig(base, "lr=1e-3", str(tmp_path / "s")))
    assert not (tmp_path / "s").exists()

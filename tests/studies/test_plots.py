"""Run and sweep plots: the aggregation helpers against hand-computed values, and each PNG's pixel size and
content."""

import pytest

from conftest import assert_png
from tfft.studies import plots

# A resumed run: train step 3 and validation step 4 were logged twice (the later line wins); validation at epoch 0
# belongs to no epoch; "test/accuracy" is the final test evaluation, not a curve.
RECORDS = [
    {"split": "validation", "step": 0, "epoch": 0.0, "loss": 2.0, "accuracy": 0.5},
    {"split": "train", "step": 1, "epoch": 0.5, "loss": 1.0, "learning_rate": 1e-5},
    {"split": "train", "step": 2, "epoch": 1.0, "loss": 0.8, "learning_rate": 2e-5},
    {"split": "validation", "step": 2, "epoch": 1.0, "loss": 0.9, "accuracy": 0.6, "test/accuracy": 0.1},
    {"split": "train", "step": 3, "epoch": 1.5, "loss": 0.6, "learning_rate": 1.5e-5},
    {"split": "validation", "step": 3, "epoch": 1.5, "loss": 0.95, "accuracy": 0.65},
    {"split": "train", "step": 3, "epoch": 1.5, "loss": 0.4, "learning_rate": 1.5e-5},
    {"split": "train", "step": 4, "epoch": 2.0, "loss": 0.2, "learning_rate": 1e-5},
    {"split": "validation", "step": 4, "epoch": 2.0, "loss": 0.7, "accuracy": 0.7},
    {"split": "validation", "step": 4, "epoch": 2.0, "loss": 0.5, "accuracy": 0.75, "f1_macro": 0.7},
]


def test_latest_keeps_the_last_line_per_step_and_drops_test_keys():
    validation = plots.latest(RECORDS, "validation")
    assert [(r["step"], r["loss"]) for r in validation] == [(0, 2.0), (2, 0.9), (3, 0.95), (4, 0.5)]
    assert not any(key.startswith("test/") for r in validation for key in r)
    assert [r["loss"] for r in plots.latest(RECORDS, "train")] == [1.0, 0.8, 0.4, 0.2]


def test_epoch_losses_by_hand():
    train, validation = plots.epoch_losses(RECORDS)
    # epoch 1: steps 1 (0.5) and 2 (exactly 1.0); epoch 2: step 3 (second line, 0.4) and step 4.
    assert train == pytest.approx({1: (1.0 + 0.8) / 2, 2: (0.4 + 0.2) / 2})
    # the last evaluation of each epoch; the one at epoch 0 belongs to none
    assert validation == {1: 0.9, 2: 0.5}


def test_epoch_losses_of_records_without_epoch_are_empty():
    old = [{k: v for k, v in r.items() if k != "epoch"} for r in RECORDS]
    assert plots.epoch_losses(old) == ({}, {})


def test_loss_curves_png(tmp_path):
    path = plots.loss_curves(RECORDS, tmp_path / "loss.png")
    assert path == tmp_path / "loss.png"
    assert_png(path, plots.LOSS_FIGSIZE)
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]  # no temporary file left beside it


def test_loss_curves_without_epochs_still_plots_per_step(tmp_path):
    old = [{k: v for k, v in r.items() if k != "epoch"} for r in RECORDS]
    assert_png(plots.loss_curves(old, tmp_path / "loss.png"), plots.LOSS_FIGSIZE)


def test_metric_and_learning_rate_curves_png(tmp_path):
    assert_png(plots.metric_curves(RECORDS, ["accuracy", "f1_macro", "absent"], tmp_path / "m.png"),
               plots.CURVE_FIGSIZE)
    assert_png(plots.learning_rate_curve(RECORDS, tmp_path / "lr.png"), plots.CURVE_FIGSIZE)


def test_curves_refuse_records_with_nothing_to_plot(tmp_path):
    with pytest.raises(ValueError, match="loss"):
        plots.loss_curves([], tmp_path / "loss.png")
    with pytest.raises(ValueError, match="none of the metrics"):
        plots.metric_curves(RECORDS, ["test/accuracy", "absent"], tmp_path / "m.png")
    with pytest.raises(ValueError, match="learning_rate"):
        plots.learning_rate_curve([r for r in RECORDS if r["split"] == "validation"], tmp_path / "lr.png")
    assert not list(tmp_path.iterdir())


def row(metric, **params):
    return {"params": params, "metric": metric}


SWEEP = [
    row(0.80, lr=3e-5, batch_size=16, optimizer="adamw"),
    row(0.70, lr=1e-5, batch_size=16, optimizer="adamw"),
    row(0.75, lr=1e-5, batch_size=32, optimizer="adamw"),
    row(0.85, lr=3e-5, batch_size=32, optimizer="adamw"),
    row(None, lr=1e-4, batch_size=64, optimizer="adamw"),  # unfinished: no series, does not make batch_size 64
]


def test_lr_series_one_per_combination_of_the_other_varying_params():
    assert plots.lr_series(SWEEP) == {"batch_size=16": [(1e-5, 0.70), (3e-5, 0.80)],
                                      "batch_size=32": [(1e-5, 0.75), (3e-5, 0.85)]}
    two = [row(0.1, lr=1e-5, batch_size=16, warmup=0.1), row(0.2, lr=2e-5, batch_size=16, warmup=0.0),
           row(0.3, lr=1e-5, batch_size=8, warmup=0.1)]
    assert plots.lr_series(two) == {"batch_size=16, warmup=0.1": [(1e-5, 0.1)],
                                    "batch_size=16, warmup=0.0": [(2e-5, 0.2)],
                                    "batch_size=8, warmup=0.1": [(1e-5, 0.3)]}
    assert plots.lr_series([row(0.9, lr=2e-5, seed=1), row(0.8, lr=1e-5, seed=1)]) == {
        "all": [(1e-5, 0.8), (2e-5, 0.9)]}


def test_sweep_lr_plot(tmp_path):
    assert_png(plots.sweep_lr_plot(SWEEP, "accuracy", tmp_path / "lr.png"), plots.SWEEP_FIGSIZE)
    with pytest.raises(ValueError, match="'lr'"):
        plots.sweep_lr_plot([row(0.8, freeze=True)], "accuracy", tmp_path / "none.png")
    with pytest.raises(ValueError, match="'lr'"):
        plots.sweep_lr_plot([row(None, lr=1e-5)], "accuracy", tmp_path / "none.png")


BARS = [
    row(0.80, freeze=True, optimizer="adamw", lr=1e-5),
    row(0.70, freeze=True, optimizer="sgd", lr=1e-5),
    row(0.90, freeze=False, optimizer="adamw", lr=1e-5),
    row(0.92, freeze=False, optimizer="adamw", lr=3e-5),
    row(0.60, freeze=True, optimizer="sgd", lr=3e-5),
    row(None, freeze=False, optimizer="sgd", lr=3e-5),
    row(0.99, optimizer="sgd", lr=3e-5),  # no freeze param: in no group
]


def test_best_per_group_by_hand():
    best = plots.best_per_group(BARS, ["freeze", "optimizer"])
    assert best == {"True": {"adamw": 0.80, "sgd": 0.70}, "False": {"adamw": 0.92}}
    assert list(best) == ["True", "False"]  # first-seen order
    assert plots.best_per_group(BARS, ["freeze"]) == {"True": {"": 0.80}, "False": {"": 0.92}}
    with pytest.raises(ValueError, match="1 or 2"):
        plots.best_per_group(BARS, ["freeze", "optimizer", "lr"])


def test_sweep_bar_chart(tmp_path):
    assert_png(plots.sweep_bar_chart(BARS, "accuracy", ["freeze", "optimizer"], tmp_path / "a.png"),
               plots.SWEEP_FIGSIZE)
    assert_png(plots.sweep_bar_chart(BARS, "accuracy", ["freeze"], tmp_path / "b.png"), plots.SWEEP_FIGSIZE)
    with pytest.raises(ValueError, match="warmup"):
        plots.sweep_bar_chart(BARS, "accuracy", ["warmup"], tmp_path / "c.png")


@pytest.mark.parametrize("names", [["neg", "pos"], ["negative", "neutral", "positive", "mixed", "sarcastic", "x"]])
def test_confusion_heatmap(tmp_path, names):
    n = len(names)
    confusion = [[(i + 1) * 3 if i == j else j for j in range(n)] for i in range(n)]
    confusion[-1] = [0] * n  # a gold class with no examples must not divide by zero
    path = plots.confusion_heatmap(confusion, names, tmp_path / "cm.png")
    assert_png(path, (3.5 + 0.5 * n, 2.5 + 0.5 * n))


def test_confusion_heatmap_refuses_a_mismatched_matrix(tmp_path):
    with pytest.raises(ValueError, match="2 x 2"):
        plots.confusion_heatmap([[1, 2, 3], [4, 5, 6]], ["a", "b"], tmp_path / "cm.png")


def test_the_test_line_at_the_last_step_keeps_that_steps_validation_metrics():
    records = RECORDS + [{"split": "validation", "step": 4, "test/accuracy": 0.6, "test/loss": 0.9}]
    assert plots.latest(records, "validation")[-1] == plots.latest(RECORDS, "validation")[-1]


def test_runs_loss_curves(tmp_path):
    shifted = [{**r, "loss": r["loss"] * 2} if "loss" in r else r for r in RECORDS]
    assert_png(plots.runs_loss_curves({"lr=1e-5": RECORDS, "lr=1e-4": shifted}, tmp_path / "runs.png"),
               plots.LOSS_FIGSIZE)
    with pytest.raises(ValueError, match="no runs"):
        plots.runs_loss_curves({}, tmp_path / "none.png")


def test_best_per_group_of_a_loss_is_the_smallest():
    rows = [row(0.5, freeze="all"), row(0.3, freeze="all"), row(0.4, freeze="none")]
    assert plots.best_per_group(rows, ["freeze"], lower_is_better=True) == {"all": {"": 0.3}, "none": {"": 0.4}}
    assert plots.best_per_group(rows, ["freeze"]) == {"all": {"": 0.5}, "none": {"": 0.4}}

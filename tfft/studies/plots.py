"""PNG plots of one run's metrics.jsonl and of a sweep's results.

matplotlib is used only through `Figure` with the Agg canvas, never pyplot: pyplot keeps every figure in a
global registry (leaks in long sweeps, surprises under threads), and Agg needs no display. Each figure has a fixed
size in inches, saved at `DPI` without bbox_inches="tight", so the PNG's pixel size is known in advance:
width = inches * DPI. Every PNG is written atomically (`files.atomic_path`).

A metrics.jsonl record is one line: {"split": "train" | "validation", "step", "epoch" (fractional; missing in
files written before it was logged), "loss", ...}. A resumed run appends again from its last checkpoint, so a
(split, step) can repeat: the last line wins. Keys under "test/" are the final test evaluation, not a curve.
"""

import math
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfft import files

DPI = 100
LOSS_FIGSIZE = (12.0, 4.5)  # two axes side by side: per step, per epoch
CURVE_FIGSIZE = (8.0, 4.5)  # metric_curves, learning_rate_curve
SWEEP_FIGSIZE = (8.0, 5.0)  # sweep_lr_plot, sweep_bar_chart
# Losses of several runs spanning more than this factor go on a log axis: a diverged run's blow-up would otherwise
# flatten every other curve onto the floor.
LOG_SPREAD = 100.0


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with its own Agg canvas (so text extents can be measured before saving)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, path: str | os.PathLike) -> pathlib.Path:
    """Writes `figure` as a PNG at exactly its size in inches * DPI, atomically."""
    with files.atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=DPI, format="png")
    return pathlib.Path(path)


def confusion_figsize(classes: int) -> tuple[float, float]:
    """(3.5 + 0.5 * classes, 2.5 + 0.5 * classes) inches: half an inch per cell, plus room for the tick labels
    and (in width) the colour bar."""
    return 3.5 + 0.5 * classes, 2.5 + 0.5 * classes


# ---------------------------------------------------------------- metrics.jsonl records


def latest(records: Sequence[Mapping], split: str) -> list[dict]:
    """The records of `split` sorted by step, "test/" keys dropped. Lines of one step are merged, later values
    winning: a resumed run repeats a step, and the test line shares the last validation step."""
    by_step = {}
    for record in records:
        if record.get("split") == split:
            by_step.setdefault(record["step"], {}).update(
                {k: v for k, v in record.items() if not k.startswith("test/")})
    return [by_step[step] for step in sorted(by_step)]


def _points(records: Sequence[Mapping], key: str) -> tuple[list, list]:
    """(steps, values) of the records that have `key`."""
    having = [r for r in records if key in r]
    return [r["step"] for r in having], [r[key] for r in having]


def epoch_losses(records: Sequence[Mapping]) -> tuple[dict[int, float], dict[int, float]]:
    """({epoch: mean training loss}, {epoch: validation loss of its last evaluation}) for epochs 1, 2, ...

    Epoch e holds the records with ceil(epoch) == e, so a record logged at exactly epoch 1.0 (the last update of
    the first epoch) belongs to epoch 1. Records without "epoch" or "loss", or at epoch 0, are left out.
    """
    def by_epoch(split):
        groups: dict[int, list[float]] = {}
        for record in latest(records, split):
            if "epoch" in record and "loss" in record and math.ceil(record["epoch"]) >= 1:
                groups.setdefault(math.ceil(record["epoch"]), []).append(record["loss"])
        return groups

    train = {epoch: float(np.mean(losses)) for epoch, losses in sorted(by_epoch("train").items())}
    validation = {epoch: losses[-1] for epoch, losses in sorted(by_epoch("validation").items())}
    return train, validation


def loss_curves(records: Sequence[Mapping], path: str | os.PathLike) -> pathlib.Path:
    """Training and validation loss per update step (left) and per epoch (right), LOSS_FIGSIZE."""
    train, validation = latest(records, "train"), latest(records, "validation")
    train_steps, train_loss = _points(train, "loss")
    validation_steps, validation_loss = _points(validation, "loss")
    if not train_loss and not validation_loss:
        raise ValueError("no record has a 'loss': nothing to plot (is this a run's metrics.jsonl?)")
    figure = new_figure(*LOSS_FIGSIZE)
    per_step, per_epoch = figure.subplots(1, 2)
    if train_loss:
        per_step.plot(train_steps, train_loss, label="training", linewidth=1)
    if validation_loss:
        per_step.plot(validation_steps, validation_loss, "o-", label="validation")
    per_step.set(title="Loss per update step", xlabel="update step", ylabel="loss")
    per_step.legend()
    _per_epoch_axes(per_epoch, *epoch_losses(records))
    return save(figure, path)


def runs_loss_curves(runs: Mapping[str, Sequence[Mapping]], path: str | os.PathLike) -> pathlib.Path:
    """Training (left) and validation (right) loss per update step of several runs (a sweep's), one line per run
    in the same colour on both sides, LOSS_FIGSIZE: where each setting diverges, overfits or stops early. On a log
    axis when the losses span more than LOG_SPREAD times."""
    if not runs:
        raise ValueError("no runs to plot")
    figure = new_figure(*LOSS_FIGSIZE)
    train_axes, validation_axes = figure.subplots(1, 2, sharey=True)
    for name, records in runs.items():
        (line,) = train_axes.plot(*_points(latest(records, "train"), "loss"), linewidth=1, label=name)
        validation_axes.plot(*_points(latest(records, "validation"), "loss"), "o-", color=line.get_color(),
                             markersize=3, label=name)
    train_axes.set(title="Training loss", xlabel="update step", ylabel="loss")
    validation_axes.set(title="Validation loss", xlabel="update step")
    losses = [loss for records in runs.values() for split in ("train", "validation")
              for loss in _points(latest(records, split), "loss")[1] if math.isfinite(loss) and loss > 0]
    if losses and max(losses) > LOG_SPREAD * min(losses):
        train_axes.set_yscale("log")  # shared with the validation axes
    validation_axes.legend(fontsize="small")
    return save(figure, path)


def _per_epoch_axes(axes, train: Mapping[int, float], validation: Mapping[int, float]) -> None:
    axes.set(title="Loss per epoch", xlabel="epoch", ylabel="loss")
    if not train and not validation:
        axes.text(0.5, 0.5, "no 'epoch' in these records\n(metrics.jsonl written before epochs were logged)",
                  ha="center", va="center", transform=axes.transAxes)
        return
    if train:
        axes.plot(list(train), list(train.values()), "s-", label="training (mean)")
    if validation:
        axes.plot(list(validation), list(validation.values()), "o-", label="validation (end of epoch)")
    axes.set_xticks(sorted({*train, *validation}))
    axes.legend()


def metric_curves(records: Sequence[Mapping], metrics: Sequence[str], path: str | os.PathLike) -> pathlib.Path:
    """Validation values of each of `metrics` per update step, one line each, CURVE_FIGSIZE."""
    validation = latest(records, "validation")
    present = [name for name in metrics if any(name in r for r in validation)]
    if not present:
        raise ValueError(f"none of the metrics {list(metrics)} is in the validation records")
    figure = new_figure(*CURVE_FIGSIZE)
    axes = figure.subplots()
    for name in present:
        axes.plot(*_points(validation, name), "o-", label=name)
    axes.set(title="Validation metrics", xlabel="update step", ylabel="value")
    axes.legend()
    return save(figure, path)


def learning_rate_curve(records: Sequence[Mapping], path: str | os.PathLike) -> pathlib.Path:
    """The training learning rate per update step (the schedule as it ran), CURVE_FIGSIZE."""
    steps, rates = _points(latest(records, "train"), "learning_rate")
    if not rates:
        raise ValueError("no training record has a 'learning_rate'")
    figure = new_figure(*CURVE_FIGSIZE)
    axes = figure.subplots()
    axes.plot(steps, rates)
    axes.set(title="Learning rate", xlabel="update step", ylabel="learning rate")
    axes.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    return save(figure, path)


# ---------------------------------------------------------------- sweeps


def _finished(rows: Sequence[Mapping]) -> list[Mapping]:
    """Rows of runs that produced a metric (unfinished or failed runs have None)."""
    return [row for row in rows if row.get("metric") is not None]


def lr_series(rows: Sequence[Mapping]) -> dict[str, list[tuple[float, float]]]:
    """{label: [(lr, metric), ...] sorted by lr}: one series per combination of the other params that vary.

    The label names those params ("batch_size=16, optimizer=adamw", sorted by name); params with one value in
    every row say nothing and are left out, so a sweep over lr alone is a single series labelled "all".
    """
    rows = [row for row in _finished(rows) if "lr" in row["params"]]
    names = sorted({name for row in rows for name in row["params"] if name != "lr"})
    varying = [name for name in names if len({repr(row["params"].get(name)) for row in rows}) > 1]
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        label = ", ".join(f"{name}={row['params'].get(name)}" for name in varying) or "all"
        series.setdefault(label, []).append((row["params"]["lr"], row["metric"]))
    return {label: sorted(points) for label, points in series.items()}


def sweep_lr_plot(rows: Sequence[Mapping], metric: str, path: str | os.PathLike) -> pathlib.Path:
    """`metric` against the learning rate (log axis), one line per `lr_series` series, SWEEP_FIGSIZE."""
    series = lr_series(rows)
    if not series:
        raise ValueError("no finished sweep row has an 'lr' param: nothing to plot against the learning rate")
    figure = new_figure(*SWEEP_FIGSIZE)
    axes = figure.subplots()
    for label, points in series.items():
        axes.plot(*zip(*points), "o-", label=label)
    axes.set_xscale("log")
    axes.set(title=f"{metric} by learning rate", xlabel="learning rate", ylabel=metric)
    axes.legend()
    return save(figure, path)


def best_per_group(rows: Sequence[Mapping], settings: Sequence[str], *,
                   lower_is_better: bool = False) -> dict[str, dict[str, float]]:
    """{value of settings[0]: {value of settings[1] (or "" for one setting): best metric}}, first-seen order.

    Values are compared as strings (they become tick and legend labels). Rows missing a setting are left out.
    The best is the largest value, or the smallest for a metric minimised (the loss).
    """
    pick = min if lower_is_better else max
    if len(settings) not in (1, 2):
        raise ValueError(f"settings must name 1 or 2 params, got {list(settings)}")
    best: dict[str, dict[str, float]] = {}
    for row in _finished(rows):
        if not all(name in row["params"] for name in settings):
            continue
        group = str(row["params"][settings[0]])
        bar = str(row["params"][settings[1]]) if len(settings) == 2 else ""
        bars = best.setdefault(group, {})
        bars[bar] = pick(bars.get(bar, math.inf if lower_is_better else -math.inf), row["metric"])
    return best


def sweep_bar_chart(rows: Sequence[Mapping], metric: str, settings: Sequence[str], path: str | os.PathLike, *,
                    lower_is_better: bool = False) -> pathlib.Path:
    """Best `metric` per value of settings[0] (groups), one bar per value of settings[1], SWEEP_FIGSIZE."""
    best = best_per_group(rows, settings, lower_is_better=lower_is_better)
    if not best:
        raise ValueError(f"no finished sweep row has the params {list(settings)}")
    bars = list(dict.fromkeys(bar for group in best.values() for bar in group))
    width = 0.8 / len(bars)
    figure = new_figure(*SWEEP_FIGSIZE)
    axes = figure.subplots()
    for i, bar in enumerate(bars):
        present = [(g, values[bar]) for g, values in enumerate(best.values()) if bar in values]
        drawn = axes.bar([g - 0.4 + width * (i + 0.5) for g, _ in present], [value for _, value in present], width,
                         label=f"{settings[1]}={bar}" if len(settings) == 2 else None)
        axes.bar_label(drawn, fmt="%.3f", fontsize=8)
    axes.set_xticks(range(len(best)), list(best), parse_math=False)
    axes.set(title=f"Best {metric} by {' and '.join(settings)}", xlabel=settings[0], ylabel=metric)
    if len(settings) == 2:
        axes.legend()
    return save(figure, path)


# ---------------------------------------------------------------- confusion matrix


def confusion_heatmap(confusion: Sequence[Sequence[int]], names: Sequence[str],
                      path: str | os.PathLike) -> pathlib.Path:
    """Counts (rows gold, columns predicted) coloured by each gold row's share; size `confusion_figsize`."""
    counts = np.asarray(confusion, dtype=np.int64)
    if counts.ndim != 2 or counts.shape != (len(names), len(names)) or not len(names):
        raise ValueError(f"confusion must be {len(names)} x {len(names)} (one row and column per name), "
                         f"got shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    shares = counts / np.maximum(totals, 1)
    figure = new_figure(*confusion_figsize(len(names)))
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=9,
                  color="white" if shares[row, column] > 0.5 else "black")
    long = max(map(len, names)) > 4
    axes.set_xticks(range(len(names)), names, rotation=45 if long else 0, ha="right" if long else "center",
                    rotation_mode="anchor", parse_math=False)
    axes.set_yticks(range(len(names)), names, parse_math=False)
    axes.set(title="Confusion matrix", xlabel="predicted", ylabel="gold")
    figure.colorbar(image, ax=axes, label="share of the gold row")
    return save(figure, path)

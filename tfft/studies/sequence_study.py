"""The sequence-model study (scripts/study_sequences.py): a vanilla RNN against feed-forward networks on truncated
and on padded sequences (tfft/studies/sequence_models.py), many-to-one regression with the MSE loss, on a file or
on the synthetic process of tfft/studies/sequence_data.py.

Every model trains on the same split, scaling and batches: AdamW or SGD from tfft.optim, gradients clipped to
`clip_norm`, one evaluation of the training and validation MSE per epoch (the weights as they are at the end of
the epoch, so the two are comparable and their gap is the overfitting signal), up to `epochs` epochs or until the
validation MSE has not improved for `early_stopping_patience` epochs; the best epoch's weights are then tested.
MSE is in the target's own units throughout (the models fit the standardised target; see `Scaling`).

    STUDY/study_config.json        the settings and the data's description; a rerun must match them
    STUDY/models/NAME/             one model: tensorboard/{train,validation}, metrics.jsonl (one line per epoch and
                                   split), checkpoints/ (the training state each epoch: an interrupted study resumes
                                   there), best/ (the best epoch's weights), test_predictions.jsonl, result.json
    STUDY/result.json              every number of the report
    STUDY/report.md, report.html, report_files/*.png
"""

import dataclasses
import hashlib
import json
import logging
import math
import pathlib
import time

import numpy as np
import tensorflow as tf

from tfft import files
from tfft.optim import SGD, AdamW, clip_by_global_norm
from tfft.runs import RunError, read_json, read_metrics_log
from tfft.studies import plots
from tfft.studies.report import Doc
from tfft.studies.sequence_data import Scaling, Sequences, split
from tfft.studies.sequence_models import DEFAULT_MODELS, DESCRIPTIONS, MODELS, make_model, parameter_count
from tfft.training.checkpointing import Checkpoints
from tfft.training.summaries import Summaries

log = logging.getLogger(__name__)
OPTIMIZERS = ("adamw", "sgd")
MEAN_BASELINE = "mean of the training targets"


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    rnn_units: int = 32
    ffn_hidden: tuple[int, ...] = (64, 64)
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    batch_size: int = 64
    epochs: int = 200
    early_stopping_patience: int | None = 10
    clip_norm: float = 1.0
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    length_buckets: tuple[int, ...] = ()  # inner edges; () = three buckets of equal width
    xla: bool = False
    seed: int = 0

    def __post_init__(self):
        unknown = [name for name in self.models if name not in MODELS]
        checks = [(self.models and not unknown and len(set(self.models)) == len(self.models), "models",
                   f"distinct names from {', '.join(MODELS)}"),
                  (self.rnn_units >= 1, "rnn_units", "at least 1"),
                  (all(width >= 1 for width in self.ffn_hidden), "ffn_hidden", "positive widths"),
                  (self.optimizer in OPTIMIZERS, "optimizer", " or ".join(OPTIMIZERS)),
                  (self.lr > 0, "lr", "> 0"), (self.weight_decay >= 0, "weight_decay", ">= 0"),
                  (self.batch_size >= 1, "batch_size", "at least 1"), (self.epochs >= 1, "epochs", "at least 1"),
                  (self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                   "early_stopping_patience", "at least 1 (or 0 for none)"),
                  (self.clip_norm >= 0, "clip_norm", ">= 0 (0: no clipping)"),
                  (list(self.length_buckets) == sorted(set(self.length_buckets)), "length_buckets",
                   "increasing lengths")]
        for ok, name, expected in checks:
            if not ok:
                raise RunError(f"--{name}={getattr(self, name)}: expected {expected}")


def config_json(config: StudyConfig) -> dict:
    """The settings as they read back from JSON (tuples as lists), to compare with a recorded study."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The data as every model sees it: standardised inputs [N, L, F], the mask [N, L], the split indices."""
    data: Sequences
    inputs: np.ndarray
    mask: np.ndarray
    splits: dict
    scaling: Scaling

    @property
    def shortest(self) -> int:
        return int(self.data.lengths.min())

    @property
    def longest(self) -> int:
        return int(self.data.x.shape[1])


def prepare(data: Sequences, config: StudyConfig) -> Prepared:
    splits = split(len(data.y), config.validation_fraction, config.test_fraction, config.seed)
    scaling = Scaling.fit(data, splits["train"])
    return Prepared(data, scaling.inputs(data), data.mask, splits, scaling)


def run_study(data: Sequences, config: StudyConfig, output_dir: pathlib.Path, *,
              command: str = "") -> tuple[pathlib.Path, pathlib.Path]:
    """Trains (or resumes, or keeps) every model, then writes result.json and the report."""
    prepared = prepare(data, config)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (data.x, data.lengths, data.y)))
    identity = {"config": config_json(config), "data": data.source,
                "data_sha256": digest.hexdigest(), "examples": len(data.y), "longest": prepared.longest,
                "shortest": prepared.shortest}
    recorded = output_dir / "study_config.json"
    if recorded.is_file() and read_json(recorded) != identity:
        raise RunError(f"{output_dir} holds a study with other settings or data (its study_config.json); choose "
                       "a new --output_dir")
    files.write_json(recorded, identity)
    results = {}
    for name in config.models:
        model_dir = output_dir / "models" / name
        if (model_dir / "result.json").is_file():
            log.info("%s: trained earlier, kept", name)
        else:
            train_model(name, prepared, config, model_dir)
        results[name] = read_json(model_dir / "result.json")
    summary = study_result(prepared, config, results)
    files.write_json(output_dir / "result.json", summary)
    return write_report(output_dir, summary, {name: read_metrics_log(output_dir / "models" / name)
                                              for name in config.models}, command=command)


class Progress(tf.Module):
    """The loop's own state in the checkpoint: epochs done, the best validation MSE, its epoch, epochs since."""

    def __init__(self):
        super().__init__(name="progress")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.best = tf.Variable(math.inf, trainable=False, name="best")
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")


def batches(indices: np.ndarray, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices [batch_size], weight [batch_size]) batches; the last is filled with weight-0 copies of its first
    index, so every batch has one shape (one trace) and the filler counts in no loss."""
    out = []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        fill = batch_size - len(chunk)
        out.append((np.concatenate([chunk, np.repeat(chunk[:1], fill)]),
                    np.concatenate([np.ones(len(chunk), np.float32), np.zeros(fill, np.float32)])))
    return out


def masked_mse(prediction: tf.Tensor, target: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """The mean squared error over the rows of weight 1 (filler rows of weight 0 count nowhere)."""
    return tf.reduce_sum(weight * tf.square(prediction - target)) / tf.maximum(tf.reduce_sum(weight), 1.0)


def train_model(name: str, prepared: Prepared, config: StudyConfig, model_dir: pathlib.Path) -> dict:
    """Trains model `name` (resuming from model_dir/checkpoints), tests its best epoch, writes result.json."""
    data, scaling = prepared.data, prepared.scaling
    model = make_model(name, features=data.x.shape[2], shortest=prepared.shortest, longest=prepared.longest,
                       rnn_units=config.rnn_units, ffn_hidden=config.ffn_hidden, seed=config.seed)
    variables = model.trainable_variables
    if config.optimizer == "adamw":
        optimizer = AdamW(variables, learning_rate=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = SGD(variables, learning_rate=config.lr, momentum=config.momentum,
                        weight_decay=config.weight_decay)
    progress = Progress()
    checkpoints = Checkpoints(tf.train.Checkpoint(model=model, optimizer=optimizer, progress=progress),
                              model_dir / "checkpoints", chief=True, max_to_keep=1)
    resumed = checkpoints.restore_latest()
    if resumed:
        log.info("%s: resuming after epoch %d", name, int(progress.epoch.numpy()))
    summaries = Summaries(model_dir, after_step=int(progress.epoch.numpy()) if resumed else None)
    standard_y = (data.y - scaling.y_mean) / scaling.y_std

    @tf.function(jit_compile=config.xla)
    def train_step(x, mask, y, weight):
        with tf.GradientTape() as tape:
            loss = masked_mse(model(x, mask), y, weight)
        grads, _ = clip_by_global_norm(tape.gradient(loss, variables), config.clip_norm)
        optimizer.apply(grads)
        return loss

    predict_batch = tf.function(model.__call__, jit_compile=config.xla)

    def predict(indices):
        """Predictions in the target's units for `indices`, [len(indices)]."""
        out = [predict_batch(prepared.inputs[rows], prepared.mask[rows]).numpy()[weight > 0]
               for rows, weight in batches(indices, config.batch_size)]
        return np.concatenate(out) * scaling.y_std + scaling.y_mean

    def mse(indices):
        return float(np.mean(np.square(predict(indices) - data.y[indices])))

    patience = config.early_stopping_patience
    trained_epochs, started = 0, time.perf_counter()
    try:
        while progress.epoch.numpy() < config.epochs and not (patience and progress.bad_epochs.numpy() >= patience):
            epoch = int(progress.epoch.numpy()) + 1
            order = np.random.default_rng([config.seed, epoch]).permutation(prepared.splits["train"])
            losses = [float(train_step(prepared.inputs[rows], prepared.mask[rows], standard_y[rows], weight))
                      for rows, weight in batches(order, config.batch_size)]
            train_mse, validation_mse = mse(prepared.splits["train"]), mse(prepared.splits["validation"])
            summaries.scalars("train", epoch, {"loss": train_mse, "epoch": epoch, "learning_rate": config.lr,
                                               "batch_loss": float(np.mean(losses)) * scaling.y_std ** 2})
            summaries.scalars("validation", epoch, {"loss": validation_mse, "epoch": epoch})
            log.info("%s epoch %d: train MSE %.4f, validation MSE %.4f", name, epoch, train_mse, validation_mse)
            if validation_mse < progress.best.numpy():
                progress.best.assign(validation_mse)
                progress.best_epoch.assign(epoch)
                progress.bad_epochs.assign(0)
                with files.atomic_dir(model_dir / "best") as staging:
                    tf.train.Checkpoint(model=model).write(str(staging / "weights"))
            else:
                progress.bad_epochs.assign_add(1)
            progress.epoch.assign(epoch)
            checkpoints.save(epoch)
            trained_epochs += 1
    finally:
        summaries.close()
    seconds_per_epoch = (time.perf_counter() - started) / trained_epochs if trained_epochs else None
    per_epoch = {split: {r["step"]: r["loss"] for r in plots.latest(read_metrics_log(model_dir), split)}
                 for split in ("train", "validation")}
    epochs_run, best_epoch = int(progress.epoch.numpy()), int(progress.best_epoch.numpy())
    result = {"model": name, "description": DESCRIPTIONS[name].format(shortest=prepared.shortest,
                                                                      longest=prepared.longest),
              "parameters": parameter_count(model), "epochs_run": epochs_run, "best_epoch": best_epoch,
              "stopped_early": bool(patience and progress.bad_epochs.numpy() >= patience),
              "seconds_per_epoch": seconds_per_epoch,
              "last_epoch": {split: losses[epochs_run] for split, losses in per_epoch.items()}}
    if not (model_dir / "best").is_dir():  # no finite validation MSE in any epoch
        result.update(status="diverged", mse=None, test_by_length=None)
    else:
        tf.train.Checkpoint(model=model).read(str(model_dir / "best" / "weights")).assert_consumed()
        test = prepared.splits["test"]
        predictions = predict(test)
        files.write_jsonl(model_dir / "test_predictions.jsonl",
                          [{"index": int(i), "length": int(data.lengths[i]), "target": float(data.y[i]),
                            "prediction": float(p)} for i, p in zip(test, predictions)])
        errors = np.square(predictions - data.y[test])
        result.update(status="finished", mse={**{split: losses[best_epoch] for split, losses in per_epoch.items()},
                                              "test": float(errors.mean())},
                      test_by_length=by_length(errors, data.lengths[test], config.length_buckets, prepared))
    files.write_json(model_dir / "result.json", result)
    return result


def length_ranges(shortest: int, longest: int, inner_edges: tuple[int, ...]) -> list[tuple[int, int]]:
    """Inclusive (low, high) length ranges covering shortest..longest: cut at `inner_edges` (a bucket starts at
    each edge), or into three of equal width when none are given."""
    if not inner_edges:
        inner_edges = sorted({int(round(shortest + (longest + 1 - shortest) * k / 3)) for k in (1, 2)})
    edges = [e for e in inner_edges if shortest < e <= longest]
    starts = [shortest, *edges]
    return list(zip(starts, [e - 1 for e in edges] + [longest]))


def by_length(errors: np.ndarray, lengths: np.ndarray, inner_edges: tuple[int, ...],
              prepared: Prepared) -> list[dict]:
    """[{"lengths": "low-high", "sequences", "mse"}] per length range (mse None for a range with no sequence)."""
    out = []
    for low, high in length_ranges(prepared.shortest, prepared.longest, inner_edges):
        chosen = (lengths >= low) & (lengths <= high)
        out.append({"lengths": f"{low}-{high}", "sequences": int(chosen.sum()),
                    "mse": float(errors[chosen].mean()) if chosen.any() else None})
    return out


def study_result(prepared: Prepared, config: StudyConfig, results: dict) -> dict:
    """The numbers of the report: the data, each model's result, and the mean-of-training-targets reference."""
    data, test = prepared.data, prepared.splits["test"]
    mean_errors = np.square(data.y[test] - prepared.scaling.y_mean)
    sizes = {name: len(indices) for name, indices in prepared.splits.items()}
    return {"data": {"source": data.source, "sequences": sizes, "features": int(data.x.shape[2]),
                     "shortest": prepared.shortest, "longest": prepared.longest,
                     "mean_length": float(data.lengths.mean()), "target_mean": float(data.y.mean()),
                     "target_std": float(data.y.std())},
            "config": config_json(config), "models": results,
            "mean_baseline": {"test": float(mean_errors.mean()),
                              "test_by_length": by_length(mean_errors, data.lengths[test], config.length_buckets,
                                                          prepared)}}


# ---------------------------------------------------------------- the report


def convergence_plot(curves: dict[str, list[dict]], path: pathlib.Path) -> pathlib.Path:
    """Training (solid) and validation (dashed) MSE per epoch, one colour per model, on one log axis."""
    figure = plots.new_figure(*plots.CURVE_FIGSIZE)
    axes = figure.subplots()
    for name, records in curves.items():
        train = plots.latest(records, "train")
        (line,) = axes.plot([r["epoch"] for r in train], [r["loss"] for r in train], label=f"{name} (training)")
        validation = plots.latest(records, "validation")
        axes.plot([r["epoch"] for r in validation], [r["loss"] for r in validation], "--", color=line.get_color(),
                  label=f"{name} (validation)")
    axes.set(title="MSE per epoch", xlabel="epoch", ylabel="MSE", yscale="log")
    axes.legend(fontsize="small")
    return plots.save(figure, path)


def length_plot(summary: dict, path: pathlib.Path) -> pathlib.Path:
    """Test MSE per length range, one bar per model and the mean-of-targets reference."""
    series = {name: result["test_by_length"] for name, result in finished(summary).items()}
    series[MEAN_BASELINE] = summary["mean_baseline"]["test_by_length"]
    labels = [bucket["lengths"] for bucket in summary["mean_baseline"]["test_by_length"]]
    figure = plots.new_figure(*plots.CURVE_FIGSIZE)
    axes = figure.subplots()
    width, highest = 0.8 / len(series), 0.0
    for k, (name, buckets) in enumerate(series.items()):
        heights = [bucket["mse"] if bucket["mse"] is not None else 0.0 for bucket in buckets]
        highest = max(highest, *heights)
        axes.bar(np.arange(len(labels)) + (k - (len(series) - 1) / 2) * width, heights, width, label=name,
                 **({"color": "0.6"} if name == MEAN_BASELINE else {}))
    axes.set_xticks(np.arange(len(labels)), [f"length {label}" for label in labels])
    axes.set(title="Test MSE by sequence length", ylabel="test MSE", ylim=(0, 1.3 * highest or 1.0))
    axes.legend(fontsize="small", loc="upper center", ncols=2)
    return plots.save(figure, path)


def finished(summary: dict) -> dict[str, dict]:
    """The results of the models that did not diverge."""
    return {name: result for name, result in summary["models"].items() if result["status"] == "finished"}


def _best(scores: dict[str, float | None]) -> str:
    finite = {name: score for name, score in scores.items() if score is not None}
    return min(finite, key=finite.get) if finite else "–"


def write_report(output_dir: pathlib.Path, summary: dict, curves: dict[str, list[dict]], *,
                 command: str = "") -> tuple[pathlib.Path, pathlib.Path]:
    doc = Doc(output_dir)
    data, models = summary["data"], summary["models"]
    done = finished(summary)
    doc.heading(2, "Data")
    sizes = data["sequences"]
    doc.table(["", "value"], [
        ["source", data["source"]],
        ["sequences (train / validation / test)", f"{sizes['train']} / {sizes['validation']} / {sizes['test']}"],
        ["features per step", data["features"]],
        ["lengths (shortest / mean / longest)", f"{data['shortest']} / {data['mean_length']:.1f} / "
                                                f"{data['longest']}"],
        ["target mean / std", f"{data['target_mean']:.4f} / {data['target_std']:.4f}"]])
    doc.text(f"The truncated network sees {data['shortest']} steps (the shortest length); the padded one all "
             f"{data['longest']}. Inputs are standardised per feature on the training steps; every MSE is in the "
             "target's units.")

    doc.heading(2, "Results")
    rows = []
    for name, result in models.items():
        mse, last = result["mse"] or {}, result["last_epoch"]
        rows.append([name, result["description"], result["parameters"], result["epochs_run"], result["best_epoch"],
                     "yes" if result["stopped_early"] else "no", mse.get("train"), mse.get("validation"),
                     mse["validation"] - mse["train"] if mse else None, last["validation"] - last["train"],
                     result["seconds_per_epoch"], mse.get("test") if mse else result["status"]])
    rows.append([MEAN_BASELINE, "predicts one number", 1, None, None, None, None, None, None, None, None,
                 summary["mean_baseline"]["test"]])
    doc.table(["model", "what it sees", "parameters", "epochs run", "best epoch", "stopped early", "train MSE",
               "validation MSE", "gap at best epoch", "gap at last epoch", "seconds per epoch", "test MSE"], rows)
    doc.text("Train and validation MSE are the best epoch's (the weights that were tested); a gap is validation "
             "minus train MSE. A gap that grows while training goes on (last epoch against best epoch) is "
             "overfitting: the model keeps fitting its training sequences better and new ones worse.")
    doc.image(convergence_plot(curves, output_dir / "report_files" / "convergence.png"),
              "Training and validation MSE per epoch")

    doc.heading(2, "By sequence length")
    ranges = [bucket["lengths"] for bucket in summary["mean_baseline"]["test_by_length"]]
    length_rows = []
    for k, label in enumerate(ranges):
        scores = {name: result["test_by_length"][k]["mse"] for name, result in done.items()}
        length_rows.append([label, summary["mean_baseline"]["test_by_length"][k]["sequences"], *scores.values(),
                            summary["mean_baseline"]["test_by_length"][k]["mse"], _best(scores)])
    doc.table(["lengths", "test sequences", *(f"{name} test MSE" for name in done), MEAN_BASELINE, "best"],
              length_rows)
    if done:
        doc.image(length_plot(summary, output_dir / "report_files" / "by_length.png"), "Test MSE by length")

    doc.heading(2, "Analysis")
    doc.table(["question", "answer"], analysis(summary))
    if command:
        doc.heading(2, "Command")
        doc.code(command)
    doc.text("Per model: models/NAME/metrics.jsonl and tensorboard/ (tensorboard --logdir models), "
             "test_predictions.jsonl, result.json; every number here is in result.json.")
    return doc.write(output_dir, "Sequence models: vanilla RNN vs truncated vs padded feed-forward networks")


def analysis(summary: dict) -> list[list[str]]:
    """Generated answers: the overall winner, the winner on the shortest and the longest sequences, and which
    model overfits most (the largest validation / train MSE ratio when training stopped)."""
    done = finished(summary)
    if not done:
        return [["which model wins", "none finished (every model diverged)"]]
    rows = []
    test = {name: result["mse"]["test"] for name, result in done.items()}
    winner = _best(test)
    ordered = ", ".join(f"{name} {score:.4f}" for name, score in sorted(test.items(), key=lambda item: item[1]))
    rows.append(["which model wins overall (test MSE)", f"{winner} ({ordered}; {MEAN_BASELINE}: "
                                                         f"{summary['mean_baseline']['test']:.4f})"])
    buckets = summary["mean_baseline"]["test_by_length"]
    for k, which in ((0, "shortest"), (len(buckets) - 1, "longest")):
        scores = {name: result["test_by_length"][k]["mse"] for name, result in done.items()}
        best = _best(scores)
        if best == "–":
            rows.append([f"which wins on the {which} sequences (lengths {buckets[k]['lengths']})", "no test sequence"])
            continue
        rows.append([f"which wins on the {which} sequences (lengths {buckets[k]['lengths']})",
                     f"{best} ({scores[best]:.4f}{_others(scores, best, '{:.4f}')})"])
    for name, result in done.items():
        first, last = result["test_by_length"][0]["mse"], result["test_by_length"][-1]["mse"]
        if first is not None and last is not None and len(buckets) > 1:
            rows.append([f"{name}: longest vs shortest sequences", f"test MSE x{last / first:.2f} "
                                                                     f"({first:.4f} -> {last:.4f})"])
    ratios = {name: result["last_epoch"]["validation"] / max(result["last_epoch"]["train"], 1e-12)
              for name, result in done.items()}
    overfits = max(ratios, key=ratios.get)
    rows.append(["which overfits most (validation / train MSE at the last epoch)",
                 f"{overfits} (x{ratios[overfits]:.2f}{_others(ratios, overfits, 'x{:.2f}')})"])
    return rows


def _others(values: dict[str, float], chosen: str, style: str) -> str:
    """"; name value, ..." for the entries other than `chosen` ("" when there are none)."""
    rest = ", ".join(f"{name} {style.format(value)}" for name, value in values.items() if name != chosen)
    return f"; {rest}" if rest else ""

"""Grid search over training flags, resumable, with a refit of the pick: the protocol a study reports.

    --grid="lr=1e-5,3e-5,5e-5;batch_size=16,32;optimizer=adamw,sgd;freeze=none,bottom:3,all"

Every combination is a normal training run in SWEEP/runs/<name> (name = its settings). A run counts as done when
its finished.json exists, so an interrupted sweep resumes where it stopped (an unfinished run continues from its
checkpoint). The grid runs never touch the test split: the pick is made on validation (`--metric_for_best`), then
either refit on train + validation for the epochs the pick needed and tested once (`refit=True`), or the picked
run's best model is tested once. A study that reports every run's test numbers (`test_every_run=True`) has each
run test its best model at its end; the pick is still made on validation. Results: SWEEP/sweep.csv and sweep.json
(ranked), SWEEP/result.json, and TensorBoard HParams summaries (SWEEP/tensorboard and each run's tensorboard/) for
the HParams dashboard.

A run that diverged (`divergence`) keeps its numbers in the tables, flagged, but is never ranked or picked.
"""

import csv
import dataclasses
import difflib
import math
import io
import itertools
import json
import logging
import pathlib
import re
import time
import types
from collections.abc import Callable

import tensorflow as tf
from tensorboard.plugins.hparams import summary_v2 as hp

from tfft import files
from tfft.config import METRICS, MINIMISED, RunConfig, TrainConfig
from tfft.data import DataConfig
from tfft.runs import RunError, check_run, claim_dir, read_json, read_metrics_log, start_run, test_metrics, \
    validation_metrics
from tfft.studies.evaluation import EvalConfig, evaluate_run
from tfft.training.loop import train_and_evaluate
from tfft.training.precision import DivergedError

log = logging.getLogger(__name__)
# Flags a grid may not vary: they place or protocol the runs rather than configure them.
FIXED = ("output_dir", "task", "evaluate_test", "select", "export", "train_on_validation", "metric_for_best")
FINISHED = "finished.json"
# What a sweep writes at the top of its directory: --overwrite removes these and nothing else.
SWEEP_ENTRIES = frozenset({"sweep_config.json", "runs", "refit", "sweep.json", "sweep.csv", "result.json",
                           "tensorboard", "report.md", "report.html", "report_files"})
# A loss this many times its first logged value has blown up, even while still finite: from ln(C) (about 0.69 for
# two labels) to above 69, the gold label's mean probability below e^-69. No healthy run comes near it.
EXPLODED = 100.0


class GridError(RunError):
    """A --grid that does not parse, names an unknown flag, or gives a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str
    settings: tuple[tuple[str, str], ...]  # (flag name, value as written in the grid)
    params: dict  # flag name -> typed value
    run: RunConfig


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    base: RunConfig
    grid: str
    output_dir: str
    refit: bool = False
    overwrite: bool = False  # replace a sweep already in output_dir (after the checks pass)
    test_every_run: bool = False  # each run tests its best model at its end (a study reporting every run)


def _fields() -> dict[str, tuple[tuple[str, ...], type]]:
    """Every flag a grid may set: name -> (the configs holding it: 'train', 'data' or both, declared type).
    'seed' is both: one flag seeds the splits and the training."""
    train = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    data = {f.name: f.type for f in dataclasses.fields(DataConfig)}
    return {name: (tuple(where for where, names in (("train", train), ("data", data)) if name in names),
                   train.get(name, data.get(name)))
            for name in {**train, **data} if name not in FIXED}


def _convert(name: str, raw: str, declared) -> object:
    """A grid value typed like its flag ('none' is None for optional flags)."""
    options = declared.__args__ if isinstance(declared, types.UnionType) else (declared,)
    if type(None) in options and raw.lower() == "none":
        return None
    kind = next(t for t in options if t is not type(None))
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        return kind(raw)
    except ValueError:
        raise GridError(f"--grid: {name}={raw}: expected {'true/false' if kind is bool else f'a {kind.__name__}'}") \
            from None


def parse_grid(text: str) -> dict[str, list[tuple[str, object]]]:
    """'a=1,2;b=x' -> {'a': [('1', 1), ('2', 2)], 'b': [('x', 'x')]}: (as written, typed) per value, in order."""
    known = _fields()
    grid: dict[str, list[tuple[str, object]]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, equals, values = part.partition("=")
        name = name.strip()
        raw = [v.strip() for v in values.split(",")]
        if not equals or not name or not all(raw):
            raise GridError(f"--grid: {part!r}: expected name=value[,value...], settings separated by ';'")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise GridError(f"--grid: unknown hyperparameter {name!r}"
                            + (f" (did you mean {close[0]}?)" if close else "") + "; a grid varies training flags")
        if name in grid:
            raise GridError(f"--grid: {name} is given twice")
        if len(set(raw)) != len(raw):
            raise GridError(f"--grid: {name} repeats a value: {','.join(raw)}")
        grid[name] = [(value, _convert(name, value, known[name][1])) for value in raw]
    if not grid:
        raise GridError(f"--grid={text!r}: expected at least one name=value[,value...]")
    return grid


def run_name(settings: list[tuple[str, str]]) -> str:
    """'lr=3e-5,freeze=bottom-3': the settings as written, safe as a directory name."""
    return ",".join(f"{name}={re.sub(r'[^A-Za-z0-9._+-]', '-', raw)}" for name, raw in settings)


def trials(base: RunConfig, grid: dict[str, list[tuple[str, object]]], *, test: bool = False) -> list[Trial]:
    """Every combination, in grid order (the last setting varies fastest), checked before any run starts; each
    tests its best model at its end only when `test`."""
    known = _fields()
    found = []
    for combination in itertools.product(*([(name, raw, value) for raw, value in values]
                                           for name, values in grid.items())):
        params = {name: value for name, _, value in combination}
        settings = tuple((n, raw) for n, raw, _ in combination)
        name = run_name(list(settings))
        train = {k: v for k, v in params.items() if "train" in known[k][0]}
        data = {k: v for k, v in params.items() if "data" in known[k][0]}
        try:
            run = RunConfig(dataclasses.replace(base.train, evaluate_test=test, **train),
                            dataclasses.replace(base.data, **data))
        except ValueError as err:
            raise GridError(f"--grid combination {name}: {err}") from err
        found.append(Trial(name, settings, params, run))
    return found


def metric_of(run: RunConfig) -> str:
    return run.train.metric_for_best or METRICS[run.train.task][0]


def divergence(records: list[dict], *, loss_scaled: bool) -> str | None:
    """Why a run diverged, from its metrics.jsonl records, or None when it did not: a training or validation loss
    that is not finite, or that exceeds EXPLODED times the first logged training loss; or, without float16 loss
    scaling (`loss_scaled`, where skipping overflowing steps is routine), an update skipped for non-finite
    gradients."""
    first = next((r["loss"] for r in records if r.get("split") == "train" and "loss" in r), None)
    for record in records:
        loss = record.get("loss")
        if loss is not None and not math.isfinite(loss):
            return f"{record['split']} loss {loss} at step {record['step']}"
        if loss is not None and first and loss > EXPLODED * first:
            return f"{record['split']} loss {loss:.3g} at step {record['step']} (first {first:.3g})"
        if not loss_scaled and record.get("skipped_steps", 0) > 0:
            return f"{record['skipped_steps']} updates skipped for non-finite gradients by step {record['step']}"
    return None


def rows(sweep_dir: pathlib.Path, all_trials: list[Trial], metric: str) -> list[dict]:
    """One row per trial, ranked best first (diverged and unfinished ones last), with its validation metrics."""
    found = []
    for order, trial in enumerate(all_trials):
        run_dir = sweep_dir / "runs" / trial.name
        row = {"name": trial.name, "params": trial.params, "status": "pending", "metric": None, "step": None,
               "epoch": None, "seconds": None, "validation": {}, "order": order, "diverged": None}
        if (run_dir / FINISHED).is_file():
            finished = read_json(run_dir / FINISHED, "written when a sweep run ends")
            best = finished["best"]
            records = read_metrics_log(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
            row.update(diverged=finished.get("diverged") or divergence(
                records, loss_scaled=trial.run.train.precision == "fp16"), seconds=finished["seconds"])
            row["status"] = "diverged" if row["diverged"] else "finished" if best else "failed"
            if best:
                row.update(metric=best[metric], step=best["step"], epoch=best.get("epoch"),
                           validation={k: v for k, v in best.items()
                                       if isinstance(v, (int, float)) and k not in ("step", "epoch")})
        elif run_dir.exists():
            row["status"] = "started"
        found.append(row)
    return rank(found, lower_is_better=metric in MINIMISED)


def rank(found: list[dict], *, lower_is_better: bool) -> list[dict]:
    """Best first: the best metric; on a tie the run that needed fewer updates, then the earlier in the grid.
    Only finished runs are ranked: the others (diverged, failed, unfinished) come last, unranked, in grid order."""
    def key(row):
        if row["status"] != "finished":
            return (1, 0.0, 0, row["order"])
        return (0, row["metric"] if lower_is_better else -row["metric"], row["step"] or 0, row["order"])

    ranked = sorted(found, key=key)
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position if row["status"] == "finished" else None
    return ranked


def write_tables(sweep_dir: pathlib.Path, ranked: list[dict], grid: dict, metric: str) -> None:
    files.write_json(sweep_dir / "sweep.json", {"metric": metric, "runs": ranked,
                                                "grid": [[name, [raw for raw, _ in values]] for name, values in
                                                         grid.items()]})  # a list: JSON objects lose the order
    extra = sorted({k for row in ranked for k in row["validation"]} - {metric})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "name", *grid, f"validation_{metric}", "step", "epoch", "status", "seconds",
                     *(f"validation_{k}" for k in extra)])
    for row in ranked:
        writer.writerow([row["rank"], row["name"], *(row["params"][k] for k in grid), row["metric"], row["step"],
                         row["epoch"], row["status"], row["seconds"], *(row["validation"].get(k) for k in extra)])
    files.write_text(sweep_dir / "sweep.csv", out.getvalue())


def _as_written(values: list[tuple[str, object]]) -> bool:
    """Whether a setting goes to the HParams plugin as written: it takes one type per setting and no None."""
    typed = [value for _, value in values]
    return any(value is None for value in typed) or len({type(value) for value in typed}) > 1


def _write_hparams_config(sweep_dir: pathlib.Path, grid: dict, task: str) -> None:
    with tf.summary.create_file_writer(str(sweep_dir / "tensorboard")).as_default():
        hp.hparams_config(
            hparams=[hp.HParam(name, hp.Discrete([raw if _as_written(values) else value for raw, value in values]))
                     for name, values in grid.items()],
            metrics=[hp.Metric(name, group="validation", display_name=f"validation {name}")
                     for name in METRICS[task]])


def _write_hparams(run_dir: pathlib.Path, trial: Trial, grid: dict) -> None:
    values = {name: raw if _as_written(grid[name]) else trial.params[name] for name, raw in trial.settings}
    with tf.summary.create_file_writer(str(run_dir / "tensorboard")).as_default():
        hp.hparams(values, trial_id=trial.name)


def refit_run(trial: Trial, best: dict) -> RunConfig:
    """The pick retrained on train + validation for the epochs it needed (its best evaluation's epoch), keeping
    the final weights (nothing is held out to choose by) and tested once."""
    train = dataclasses.replace(trial.run.train, epochs=best["epoch"], max_steps=None, early_stopping_patience=None,
                                eval_every=None, select="last", evaluate_test=False)
    return RunConfig(train, dataclasses.replace(trial.run.data, train_on_validation=True))


def _train(run: RunConfig, run_dir: pathlib.Path, interrupt) -> dict | None:
    """One run to its end (continuing its checkpoint if it has one); None when interrupted. A run stopped by
    --nan_policy=stop is recorded as diverged (with the update it stopped at), one whose validation metric was never
    finite has no best model and is recorded as failed; either way the sweep goes on."""
    resume = (run_dir / "checkpoints" / "checkpoint").is_file()
    start_run(run, run_dir, resume=resume, overwrite=not resume)
    start = time.perf_counter()
    try:
        result, diverged = train_and_evaluate(run, run_dir, resume=resume, interrupt=interrupt), None
    except DivergedError as err:
        log.warning("%s: %s", run_dir, err)
        result, diverged = {}, f"non-finite loss or gradients at update {err.update}"
    if "interrupted_at" in result:
        return None
    best = validation_metrics(run_dir) if (run_dir / "best_metrics.json").is_file() else None
    if best is None:
        log.warning("%s: no finite validation %s, no best model: recorded as failed", run_dir,
                    metric_of(run))
    finished = {"seconds": round(time.perf_counter() - start, 1), "best": best,
                **({"diverged": diverged} if diverged else {})}
    files.write_json(run_dir / FINISHED, finished)
    return finished


def run_sweep(config: SweepConfig, interrupt: Callable[[int], bool] | None = None) -> dict:
    """Runs (or resumes) the sweep; returns result.json's content, or {'interrupted': name} when interrupted."""
    sweep_dir = pathlib.Path(config.output_dir)
    if config.base.data.train_on_validation:
        raise GridError("--train_on_validation: a sweep picks on validation, so its runs must not train on it "
                        "(--refit trains the pick on train + validation afterwards)")
    grid = parse_grid(config.grid)
    all_trials = trials(config.base, grid, test=config.test_every_run)
    for trial in all_trials:  # every run is checked before the first starts
        check_run(trial.run.train)
    metric = metric_of(config.base)
    recorded = sweep_dir / "sweep_config.json"  # a sweep is resumed by running the same command again
    claim_dir(sweep_dir, flag="--output_dir", what="sweep", owned=SWEEP_ENTRIES, recognised=recorded.is_file(),
              resume=recorded.is_file() and not config.overwrite, overwrite=config.overwrite)
    identity = {"grid": config.grid, "base": json.loads(config.base.to_json()), "refit": config.refit,
                **({"test_every_run": True} if config.test_every_run else {})}  # sweeps from before it still resume
    if recorded.is_file() and read_json(recorded) != identity:
        raise GridError(f"{sweep_dir} holds a sweep with other flags or another grid; choose a new --output_dir "
                        "(or --overwrite)")
    files.write_json(recorded, identity)
    _write_hparams_config(sweep_dir, grid, config.base.train.task)
    for number, trial in enumerate(all_trials, start=1):
        run_dir = sweep_dir / "runs" / trial.name
        if (run_dir / FINISHED).is_file():
            log.info("sweep run %d/%d %s: finished earlier, skipped", number, len(all_trials), trial.name)
            continue
        log.info("sweep run %d/%d: %s", number, len(all_trials), trial.name)
        if _train(trial.run, run_dir, interrupt) is None:
            write_tables(sweep_dir, rows(sweep_dir, all_trials, metric), grid, metric)
            return {"interrupted": trial.name}
        _write_hparams(run_dir, trial, grid)
        write_tables(sweep_dir, rows(sweep_dir, all_trials, metric), grid, metric)

    ranked = rows(sweep_dir, all_trials, metric)
    pick = ranked[0]
    if pick["rank"] is None:
        if config.test_every_run:  # every run is tested already: its numbers are the result, the pick a summary
            log.warning("%s: no run reached a finite validation %s without diverging; nothing picked", sweep_dir,
                        metric)
            result = {"metric": metric, "pick": None, "test": None, "protocol": {"kind": "every run tested"}}
            files.write_json(sweep_dir / "result.json", result)
            return result
        raise GridError(f"{sweep_dir}: no run reached a finite validation {metric} without diverging; nothing to "
                        "pick")
    trial = next(t for t in all_trials if t.name == pick["name"])
    log.info("picked %s (validation %s=%.4f)", pick["name"], metric, pick["metric"])
    if config.test_every_run:
        tested = pathlib.Path("runs") / trial.name
        result = {"metric": metric, "pick": pick, "test": test_metrics(sweep_dir / tested),
                  "protocol": {"kind": "every run tested", "run_dir": tested.as_posix()}}
        files.write_json(sweep_dir / "result.json", result)
        return result
    if config.refit:
        tested = pathlib.Path("refit")
        refit = refit_run(trial, validation_metrics(sweep_dir / "runs" / trial.name))
        if not (sweep_dir / tested / FINISHED).is_file() and _train(refit, sweep_dir / tested, interrupt) is None:
            return {"interrupted": "refit"}
        protocol = {"kind": "refit", "run_dir": tested.as_posix(), "epochs": refit.train.epochs,
                    "data": "train + validation"}
    else:
        tested = pathlib.Path("runs") / trial.name
        protocol = {"kind": "best run", "run_dir": tested.as_posix()}  # relative: the sweep directory can move
    # The one look at the test split, with the mistakes and rendered predictions beside the metrics.
    test, _ = evaluate_run(EvalConfig(run_dir=str(sweep_dir / tested), split="test"))
    result = {"metric": metric, "pick": pick, "test": test, "protocol": protocol}
    files.write_json(sweep_dir / "result.json", result)
    return result

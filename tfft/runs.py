"""The run directory: what `python -m tfft.train` writes, and how every tool after it (evaluate, baseline,
sweep, report, export, predict) reads it back.

    RUN/config.json          the RunConfig (train + data flags)        RUN/best/               the kept model
    RUN/flags.txt            the flags, as a --flagfile                RUN/best_metrics.json   its validation metrics
    RUN/metrics.jsonl        one line per log or evaluation event      RUN/test_metrics.json   its test metrics
    RUN/data_summary.json    split sizes and label counts              RUN/test_predictions.jsonl
    RUN/checkpoints/ RUN/tensorboard/ RUN/export/ RUN/eval/<split>/ RUN/baselines/<kind>/ RUN/report.{md,html}

A file that is missing or was written by another tfft version is a RunError naming the file.
"""

import dataclasses
import json
import pathlib
import shutil

from tfft import files
from tfft.checkpoints import peft
from tfft.checkpoints.hub import ModelNotFoundError, resolve
from tfft.config import ConfigFlagError, RunConfig, TrainConfig
from tfft.models import read_config
from tfft.tokenization import check_tokenizer_files
from tfft.training.freeze import frozen_block_count


class RunError(ValueError):
    """A run (or sweep) directory that lacks a file a command needs, or holds one it cannot read."""


def read_run(run_dir: str | pathlib.Path) -> RunConfig:
    """The RunConfig of a training run directory, or a RunError saying what is missing."""
    path = pathlib.Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a tfft run directory: {path.name} is missing")
    try:
        return RunConfig.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as err:
        raise RunError(f"{path}: not a tfft run config ({err}); was it written by another tfft version?") from err


def check_labelled(run: RunConfig, run_dir: str | pathlib.Path, command: str) -> None:
    """A RunError for a --task=mlm run given to a command that needs a labelled task (export, evaluate, baseline)."""
    if run.train.task == "mlm":
        raise RunError(f"{run_dir} is a --task=mlm run (continued pretraining), and {command} needs a classification, "
                       f"pair or NER run: its perplexity is in test_metrics.json; fill masks with python -m "
                       f"tfft.predict, or fine-tune it with --model={pathlib.Path(run_dir) / 'best'}")


def best_model_dir(run_dir: str | pathlib.Path) -> pathlib.Path:
    """The run's best/ model directory, or a RunError when the run never wrote one."""
    best = pathlib.Path(run_dir) / "best"
    if not (best / "config.json").is_file():
        raise RunError(f"run {run_dir} has no best model ({best} is missing: did the run evaluate at least once?)")
    return best


def read_json(path: str | pathlib.Path, what: str = "") -> dict:
    """A JSON object the run wrote; `what` says which command writes it, for the error when it is missing."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise RunError(f"{path} is missing" + (f" ({what})" if what else ""))
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RunError(f"{path}: not JSON ({err})") from err
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value


def read_metrics_log(run_dir: str | pathlib.Path) -> list[dict]:
    """The lines of RUN/metrics.jsonl (a line cut by a crash at the end is ignored)."""
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise RunError(f"{path} is missing: {run_dir} is not a finished tfft training run")
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except ValueError:
            if number < len(lines):
                raise RunError(f"{path} line {number}: not JSON") from None
    return records


def validation_metrics(result_dir: str | pathlib.Path) -> dict:
    """Validation metrics of a training run (best_metrics.json) or of a baseline (validation_metrics.json)."""
    result_dir = pathlib.Path(result_dir)
    for name in ("best_metrics.json", "validation_metrics.json"):
        if (result_dir / name).is_file():
            return read_json(result_dir / name)
    raise RunError(f"{result_dir} has neither best_metrics.json nor validation_metrics.json: did it finish?")


def test_metrics(result_dir: str | pathlib.Path) -> dict | None:
    """Test metrics of a run or baseline (test_metrics.json, else those of `tfft.evaluate`), None if never tested."""
    result_dir = pathlib.Path(result_dir)
    for path in (result_dir / "test_metrics.json", result_dir / "eval" / "test" / "metrics.json"):
        if path.is_file():
            return read_json(path)
    return None


def prepare_output_dir(path: pathlib.Path, *, resume: bool, overwrite: bool) -> None:
    """A fresh directory, the run to resume, or (with --overwrite) a replaced one; never a silent mix."""
    if path.exists() and any(path.iterdir()):
        if resume:
            files.remove_leftovers(path)  # of a run killed while writing
            return
        if not overwrite:
            raise ConfigFlagError(f"--output_dir={path}: holds a previous run; pass --resume to continue it or "
                                  "--overwrite to replace it")
        shutil.rmtree(path)
    elif resume:
        raise ConfigFlagError(f"--output_dir={path}: nothing to resume (no previous run there)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise files.output_error(path, err) from err


# Settings a resumed run may change: where and how often it logs, evaluates, checkpoints and exports (or merges), how it
# treats a non-finite step, how many workers share the global batch. Every other one changes the updates (or, like
# --xla's length buckets, the batch order the checkpoint's data position counts in).
RESUMABLE = {"output_dir", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "export",
             "evaluate_test", "cache_dir", "nan_policy", "distribute", "eval_batch_size", "recompute",
             "merge_lora"}


def check_resume(run: RunConfig, output_dir: pathlib.Path) -> None:
    """A resumed run must be the run its directory holds: a ConfigFlagError names the flags that differ."""
    if not (output_dir / "config.json").is_file():
        return
    before = read_run(output_dir)
    changed = [f"--{name}={getattr(now, name)} (was {getattr(then, name)})"
               for now, then in ((run.train, before.train), (run.data, before.data))
               for name in (f.name for f in dataclasses.fields(now))
               if name not in RESUMABLE and getattr(now, name) != getattr(then, name)]
    if changed:
        raise ConfigFlagError(f"--resume: {', '.join(changed)} differs from the run in {output_dir}; resume it "
                              f"with its own flags: --flagfile={output_dir / 'flags.txt'} --resume")


def start_run(run: RunConfig, output_dir: pathlib.Path, *, resume: bool = False, overwrite: bool = False) -> None:
    """Prepares a run directory and records what the run is: config.json, and flags.txt, a flagfile that repeats
    it (`python -m tfft.train --flagfile=RUN/flags.txt`). A resumed run is checked against the recorded one."""
    if resume:
        check_resume(run, output_dir)
    prepare_output_dir(output_dir, resume=resume, overwrite=overwrite)
    files.write_text(output_dir / "config.json", run.to_json() + "\n")
    files.write_text(output_dir / "flags.txt", run.to_flags())


def discard_unstarted(output_dir: pathlib.Path) -> None:
    """Removes a fresh run directory that bad input stopped before it kept anything (no checkpoint, no best/): it
    holds only the settings and first logs, and the corrected command must not need --overwrite."""
    if output_dir.is_dir() and not (output_dir / "checkpoints" / "checkpoint").is_file() and not (
            output_dir / "best").exists():
        shutil.rmtree(output_dir)


def check_run(config: TrainConfig) -> None:
    """The checks that need the model's directory, made before any work: it exists (offline: say what works), has
    a tokenizer, --freeze fits its depth, and --lora_adapter is an adapter directory tfft reads."""
    try:
        model_dir = resolve(config.model)
    except ModelNotFoundError as err:
        raise ModelNotFoundError(f"{err}. Offline, run the quickstart instead: python -m tfft.train "
                                 f"--flagfile=flags/quickstart_{config.task}.cfg") from err
    if peft.is_adapter_dir(model_dir) and not (model_dir / "config.json").is_file():
        raise ConfigFlagError(f"--model={config.model}: a PEFT adapter directory (no config.json, no tokenizer); pass "
                              f"its base model and the adapters: --model=BASE --lora_adapter={config.model}")
    if config.lora_adapter:
        peft.read_adapter(config.lora_adapter)
    check_tokenizer_files(model_dir)
    model_config = read_config(model_dir / "config.json")
    frozen_block_count(config.freeze, getattr(model_config, "n_layers", None) or model_config.num_hidden_layers)

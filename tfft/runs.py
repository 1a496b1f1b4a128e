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
import logging
import pathlib
import re

from tfft import files
from tfft.checkpoints import peft
from tfft.checkpoints.hub import ModelNotFoundError, looks_like_path, resolve
from tfft.config import ConfigFlagError, RunConfig, TrainConfig
from tfft.models import read_config
from tfft.tasks import TASKS
from tfft.tokenization import check_tokenizer_files, load_tokenizer
from tfft.training.freeze import frozen_block_count

log = logging.getLogger(__name__)


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


# Everything tfft writes at the top of a run directory (training, evaluate, baseline, report, export, a sweep's
# finished.json): --overwrite removes these and nothing else, so files a user added to a run survive it.
RUN_ENTRIES = frozenset({
    "config.json", "flags.txt", "metrics.jsonl", "data_summary.json", "checkpoints", "tensorboard", "best",
    "best_metrics.json", "test_metrics.json", "test_predictions.jsonl", "timing.json", "merged", "export", "eval",
    "baselines", "report.md", "report.html", "report_files", "baseline.json", "validation_metrics.json",
    "finished.json"})


def is_run_dir(path: pathlib.Path) -> bool:
    """Whether `path` holds a tfft run: a config.json that reads as a RunConfig (a Hugging Face model directory's
    config.json does not)."""
    try:
        read_run(path)
    except RunError:
        return False
    return True


def foreign_entries(path: pathlib.Path, owned: frozenset[str]) -> list[pathlib.Path]:
    """The entries of `path` that tfft did not write there: not in `owned`, not a leftover of an interrupted write."""
    return sorted(p for p in path.iterdir() if p.name not in owned and not files.is_leftover(p))


def claim_dir(path: pathlib.Path, *, flag: str, what: str, owned: frozenset[str], recognised: bool,
              resume: bool | None, overwrite: bool, whole: bool = False) -> None:
    """Makes `path` ready for tfft to write `what` into: a new or empty directory; with `resume`, one that holds
    `what` already (None: the command has no --resume); with `overwrite`, one whose tfft entries (`owned`) are
    removed, the user's own files kept beside them (`whole`: the caller replaces the directory as a whole, so a
    directory holding files of the user's is refused instead). A non-empty directory that is not tfft's
    (`recognised` false) is refused whatever the flags say, naming what is in it: no flag ever deletes a file tfft
    did not write."""
    if path.exists() and not path.is_dir():
        raise ConfigFlagError(f"{flag}={path}: is a file; expected a directory")
    present = [p for p in path.iterdir() if not files.is_leftover(p)] if path.is_dir() else []
    if present and not recognised:
        raise ConfigFlagError(f"{flag}={path}: not empty and not a tfft {what} (it holds {files.listing(present)}); "
                              f"tfft writes only into a new or empty directory or one of its own: choose another "
                              f"{flag}")
    if resume:
        if not present:
            raise ConfigFlagError(f"{flag}={path}: nothing to resume (no tfft {what} there)")
        files.remove_leftovers(path)  # of a run killed while writing
        return
    kept = foreign_entries(path, owned) if present else []
    if present and not overwrite:
        again = "--resume to continue it or " if resume is not None else ""
        raise ConfigFlagError(f"{flag}={path}: holds a tfft {what}; pass {again}--overwrite to replace it" +
                              (f" (your {files.listing(kept)} would be kept)" if kept and not whole else ""))
    if kept and whole:
        raise ConfigFlagError(f"{flag}={path}: holds a tfft {what} and also {files.listing(kept)}, not written by "
                              f"tfft, which replacing the {what} would delete: move them elsewhere first")
    if whole:  # the caller writes the directory beside it and swaps it in (files.atomic_dir)
        return
    if present:
        files.remove_entries(path, owned)
        if kept:
            log.warning("%s=%s: replaced the tfft %s, kept %s (not written by tfft)", flag, path, what,
                        files.listing(kept))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise files.output_error(path, err) from err


def prepare_output_dir(path: pathlib.Path, *, resume: bool, overwrite: bool) -> None:
    """A new or empty directory, the run to resume, or (--overwrite) a replaced run; never a silent mix, and never
    a directory that is not a tfft run."""
    recognised = path.is_dir() and is_run_dir(path)
    claim_dir(path, flag="--output_dir", what=describe_run(path) if recognised else "run", owned=RUN_ENTRIES,
              recognised=recognised, resume=resume, overwrite=overwrite)


def describe_run(run_dir: pathlib.Path) -> str:
    """'run (--task=ner, --model=X; finished)' or '...; stopped at update 300)': what a directory holds, for
    messages."""
    run = read_run(run_dir)
    latest = run_dir / "checkpoints" / "checkpoint"  # model_checkpoint_path: "ckpt-300"
    step = re.search(r'ckpt-(\d+)"', latest.read_text(encoding="utf-8")) if latest.is_file() else None
    state = ("finished" if (run_dir / "timing.json").is_file()  # written when the loop ends
             else f"stopped at update {step[1]}" if step else "not started")
    return f"run (--task={run.train.task}, --model={run.train.model}; {state})"


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
    """Removes what a fresh run that bad input stopped before it kept anything (no checkpoint, no best/) wrote: the
    settings and first logs, so the corrected command needs no --overwrite. Files of the user's stay."""
    if output_dir.is_dir() and not (output_dir / "checkpoints" / "checkpoint").is_file() and not (
            output_dir / "best").exists():
        files.remove_entries(output_dir, RUN_ENTRIES)
        files.remove_leftovers(output_dir)
        if not any(output_dir.iterdir()):
            output_dir.rmdir()


def check_run(config: TrainConfig) -> None:
    """The checks that need the model's directory, made before anything is written: it exists (a Hub id offline:
    say what works), has a tokenizer, --max_seq_length fits its position table and its special tokens, --freeze fits
    its depth, and --lora_adapter is an adapter directory tfft reads."""
    try:
        model_dir = resolve(config.model)
    except ModelNotFoundError as err:
        if looks_like_path(config.model):  # a mistyped path: being offline is not the problem
            raise
        raise ModelNotFoundError(f"{err}. Offline, run the quickstart instead: python -m tfft.train "
                                 f"--flagfile=flags/quickstart_{config.task}.cfg") from err
    if peft.is_adapter_dir(model_dir) and not (model_dir / "config.json").is_file():
        raise ConfigFlagError(f"--model={config.model}: a PEFT adapter directory (no config.json, no tokenizer); pass "
                              f"its base model and the adapters: --model=BASE --lora_adapter={config.model}")
    if config.lora_adapter:
        peft.read_adapter(config.lora_adapter)
    check_tokenizer_files(model_dir)
    model_config = read_config(model_dir / "config.json")
    positions = model_config.max_position_embeddings
    pair = TASKS[config.task].pair
    shortest = load_tokenizer(model_dir).num_special_tokens_to_add(pair=pair) + (2 if pair else 1)
    if not shortest <= config.max_seq_length <= positions:
        raise ConfigFlagError(f"--max_seq_length={config.max_seq_length}: expected {shortest} to {positions} for "
                              f"--model={config.model} (its position table has {positions} entries; a {config.task} "
                              f"example needs its special tokens and at least one token of {'each' if pair else 'its'} "
                              f"text)")
    frozen_block_count(config.freeze, getattr(model_config, "n_layers", None) or model_config.num_hidden_layers)

"""What the entry points share: flag definitions for data and model, turning flags into config objects, and
the rule that bad input ends in one line on stderr and exit code 2 (no traceback, nothing written); an output
directory that cannot be written (disk full, permission denied) ends the same way, naming the path, and a run
stopped by --nan_policy=stop in one line with exit code 3; a run stopped by Ctrl-C or SIGTERM exits with the
shell's code for that signal (130, 143), so `train && export` never exports an unfinished run.

Only entry points (`python -m tfft.<command>`) call into this module; library code takes config objects.
"""

import contextlib
import errno
import pathlib
import signal
import sys
import textwrap
from collections.abc import Iterator

from absl import app, flags

from tfft import console  # first: it sets TensorFlow's logging up before TensorFlow loads
from tfft.checkpoints.formats import CheckpointError
from tfft.checkpoints.hub import ModelNotFoundError
from tfft.data import DataConfig, DataError
from tfft.data.sources import FORMATS
from tfft.files import OutputError
from tfft.models import ConfigError
from tfft.runs import RunError
from tfft.serving import ServingError
from tfft.tasks import TASKS
from tfft.training.precision import DivergedError

# Errors caused by the user's input: reported in one line with exit code 2.
USER_ERRORS = (DataError, ConfigError, CheckpointError, ModelNotFoundError, ServingError, RunError, OutputError)
# What a write that fails for want of space or permission raises where it did not go through tfft.files.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_CODES = ("0 done; 1 a failure of tfft itself (a traceback); 2 bad input (one line on stderr, nothing written); "
              "3 a run stopped by --nan_policy=stop; 130 / 143 stopped by Ctrl-C / SIGTERM (a run checkpoints first: "
              "--resume continues it).")
# Names Hugging Face's Trainer / examples and Keras users type, and the tfft flag that does it.
FOREIGN_FLAGS = {
    "learning_rate": "--lr", "num_train_epochs": "--epochs", "num_epochs": "--epochs",
    "per_device_train_batch_size": "--batch_size", "train_batch_size": "--batch_size",
    "per_device_eval_batch_size": "--eval_batch_size", "model_name_or_path": "--model", "model_name": "--model",
    "max_length": "--max_seq_length", "max_seq_len": "--max_seq_length", "seq_length": "--max_seq_length",
    "dataset_name": "--dataset", "data_dir": "--dataset", "gradient_accumulation_steps": "--grad_accum_steps",
    "max_grad_norm": "--clip_norm", "lr_scheduler_type": "--schedule", "optim": "--optimizer",
    "fp16": "--precision=fp16", "bf16": "--precision=bf16", "mixed_precision": "--precision",
    "jit_compile": "--xla", "eval_steps": "--eval_every", "save_steps": "--checkpoint_every",
    "logging_steps": "--log_every", "save_total_limit": "--keep_checkpoints",
    "metric_for_best_model": "--metric_for_best", "overwrite_output_dir": "--overwrite",
    "resume_from_checkpoint": "--resume", "label_smoothing_factor": "--label_smoothing",
    "text_column_name": "--text_column", "label_column_name": "--label_column", "warmup": "--warmup_ratio",
    "validation_split": "--val_fraction", "do_predict": "--evaluate_test",
}
HELP_ARGS = ("--help", "-help", "-h", "--helpshort", "-helpshort", "-?")
# Titles of the --help sections, by the module that defines the flags.
FLAG_GROUPS = {"tfft.cli": "Task, model and data", "tfft.train": "Training"}
DEFAULT_DATASETS = {"classification": "glue/sst2", "pair": "glue/mrpc", "ner": "conll2003", "mlm": "sample"}


def define_data_flags() -> None:
    """The flags that choose a task, a model's tokenizer and a data set, and shape its batches."""
    flags.DEFINE_enum("task", "classification", list(TASKS), "What to fine-tune for.")
    flags.DEFINE_string("model", "distilbert-base-uncased", "Model directory, Hub id, or packaged model name "
                        "(all-MiniLM-L6-v2 ships with the install and works offline).")
    flags.DEFINE_string("dataset", None, "'sample' (embedded smoke data), a file, a directory with train/dev/test "
                        "files, or a Hugging Face data set name (e.g. glue/sst2, repo:config); --train_file, "
                        "--validation_file and --test_file replace or add its splits. Default per task, unless a "
                        "--*_file is given: " + ", ".join(f"{task}: {name}" for task, name in DEFAULT_DATASETS.items())
                        + ".")
    flags.DEFINE_string("train_file", None, "The training split as one file, in any format tfft reads (--format). "
                        "With --dataset it replaces the data set's train split; alone, the splits not given are carved "
                        "from it (--val_fraction, --test_fraction), with a warning.")
    flags.DEFINE_string("validation_file", None, "The validation split (model selection) as one file; see "
                        "--train_file.")
    flags.DEFINE_string("test_file", None, "The test split as one file; see --train_file.")
    flags.DEFINE_enum("format", "auto", ["auto", *FORMATS], "Format of the data files: 'auto' takes it from the "
                      "suffix (.csv, .tsv, .txt, .jsonl, .json, .conll), else from the content (JSON, CoNLL "
                      "token-tag lines, a delimited table); anything else reads every file in that format.")
    flags.DEFINE_string("text_column", None, "Text column: name or 0-based index; 'a,b' joins columns. NER JSONL: "
                        "the words key.")
    flags.DEFINE_string("text_pair_column", None, "Second text column for the pair task.")
    flags.DEFINE_string("label_column", None, "Label column (NER JSONL: the tags key).")
    flags.DEFINE_string("delimiter", None, "Column separator of text files (default: by extension, else sniffed).")
    flags.DEFINE_enum("quoting", "auto", ["auto", "csv", "none"], "CSV quoting: 'none' splits lines on the "
                      "separator (files with unescaped quotes); 'auto' picks the one that gives a consistent table.")
    flags.DEFINE_enum("header", "auto", ["auto", "yes", "no"], "Whether delimited files start with a header "
                      "line; 'auto' decides from the column flags, known column names and the label column.")
    flags.DEFINE_enum("tag_scheme", "auto", ["auto", "iob1", "iob2"], "NER tags in files: IOB1 is converted to "
                      "IOB2; 'auto' converts when an entity starts with I-; 'iob2' makes that an error.")
    flags.DEFINE_string("label_names", None, "Label names in id order: comma-separated, or a file with one per "
                        "line (integer labels are mapped to them, 1-based when they run 1..K).")
    flags.DEFINE_float("val_fraction", 0.1, "Fraction of the training data held out when there is no validation "
                       "split (stratified).")
    flags.DEFINE_float("test_fraction", 0.1, "Fraction held out when there is no test split (stratified).")
    flags.DEFINE_integer("max_train_examples", None, "Stratified subsample of the training split.")
    flags.DEFINE_string("train_label_fraction", None, "Keep only this share of a class's training examples, as "
                        "label:fraction[,label:fraction] (e.g. positive:0.1: an imbalanced training set; validation "
                        "and test stay natural).")
    flags.DEFINE_boolean("train_on_validation", False, "Train on train + validation (a refit after model "
                         "selection; use with --select=last).")
    flags.DEFINE_integer("seed", 0, "Seeds splits, shuffling, initialisation and dropout.")
    flags.DEFINE_boolean("strict", False, "Empty texts are errors instead of skipped rows.")
    flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, special tokens included; longer ones are "
                         "truncated (and counted in the log).")
    flags.DEFINE_integer("batch_size", 32, "Examples per batch.")
    flags.DEFINE_enum("padding", "bucket", ["bucket", "max_length"], "Pad each batch to its length bucket, or "
                      "every batch to --max_seq_length (the fixed-shape pipeline, for comparison).")
    flags.DEFINE_string("buckets", "auto", "Padded lengths: 'auto' (every length up to --max_seq_length: a batch "
                        "pads to its longest example; with --xla, which compiles each length, 16, 32, 48, 64, 96, "
                        "128, 192, ... below it, plus it) or comma-separated lengths.")
    flags.DEFINE_boolean("label_all_subtokens", False, "NER: label every sub-token of a word, not just the first.")
    flags.DEFINE_string("cache_dir", None, "Where tokenized features are cached (default ~/.cache/tfft/features "
                        "or $TFFT_CACHE/features).")


def data_config(values: flags.FlagValues) -> DataConfig:
    """The data flags as a DataConfig; the task's default data set only when no --dataset nor --*_file is given."""
    split_files = (values.train_file, values.validation_file, values.test_file)
    return DataConfig(dataset=values.dataset or (None if any(split_files) else DEFAULT_DATASETS[values.task]),
                      train_file=values.train_file, validation_file=values.validation_file, test_file=values.test_file,
                      format=values.format, max_seq_length=values.max_seq_length, text_column=values.text_column,
                      text_pair_column=values.text_pair_column, label_column=values.label_column,
                      delimiter=values.delimiter, quoting=values.quoting, header=values.header,
                      tag_scheme=values.tag_scheme,
                      label_names=values.label_names, val_fraction=values.val_fraction,
                      test_fraction=values.test_fraction, max_train_examples=values.max_train_examples,
                      seed=values.seed, strict=values.strict, train_label_fraction=values.train_label_fraction,
                      train_on_validation=values.train_on_validation)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM before the first update, or a second one: stop at once (nothing new to checkpoint)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stop:
    """Set by SIGTERM / SIGINT: the training loop asks `stop(step)` after every update and, once set, finishes the
    update, checkpoints and returns (resume later). A signal before the loop first asks, or a second signal, raises
    Interrupted at once instead: data preparation and compiling have nothing to checkpoint."""

    def __init__(self):
        self.signum: int | None = None
        self.listening = False

    def __call__(self, step: int) -> bool:
        self.listening = True
        return self.signum is not None

    def receive(self, signum: int, frame) -> None:
        if self.signum is not None or not self.listening:
            raise Interrupted(signum)
        self.signum = signum
        print(f"\n{signal.Signals(signum).name}: stopping after this update and checkpointing (again to stop at "
              "once)", file=sys.stderr)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """A Stop set by SIGTERM / SIGINT inside the block. The previous handlers come back after the block, so Ctrl-C
    stops later work at once."""
    stop = Stop()
    previous = {signum: signal.signal(signum, stop.receive) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_interrupted(stop: Stop, message: str) -> None:
    """Ends a command that a signal stopped after checkpointing: the message on stdout, then the shell's exit code
    for that signal (128 + its number: 130 for Ctrl-C, 143 for SIGTERM)."""
    print(message)
    sys.exit(128 + stop.signum)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _parse_flags(argv: list[str]) -> list[str]:
    if any(arg in HELP_ARGS for arg in argv[1:]):
        print(help_text(argv[0]))
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.UnrecognizedFlagError as err:
        fail(_foreign_flag_hint(err.flagname) or str(err))
    except flags.Error as err:
        fail(str(err))
    except UnicodeDecodeError as err:  # absl reads a flagfile as text in the locale's encoding
        flagfiles = [arg.split("=", 1)[1] for arg in argv if arg.startswith(("--flagfile=", "-flagfile="))]
        named = next((f for f in flagfiles if not _is_utf8(f)), " / ".join(flagfiles) or "a flagfile")
        fail(f"--flagfile={named}: not valid UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
             "re-save it as UTF-8")


def _foreign_flag_hint(name: str) -> str | None:
    """'--learning_rate: not a tfft flag; tfft calls it --lr' for the names other tools use, if this command has it."""
    name = name.removeprefix("no") if name.removeprefix("no") in FOREIGN_FLAGS else name
    ours = FOREIGN_FLAGS.get(name)
    if ours is None or ours.removeprefix("--").split("=")[0] not in flags.FLAGS:
        return None
    return f"--{name}: not a tfft flag; tfft calls it {ours} (--help lists every flag)"


def help_text(program: str) -> str:
    """--help: what the command does, then every flag it takes, grouped by the module defining them, in the order
    they are defined (absl's --help leaves out flags of imported modules; --helpfull adds absl's and TensorFlow's)."""
    main = sys.modules["__main__"]
    command = main.__spec__.name if main.__spec__ else pathlib.Path(program).stem  # python -m tfft.X, or a script
    lines = [(main.__doc__ or command).strip(), ""]
    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        name = command if module in (program, getattr(main, "__file__", None)) else module
        if not name.startswith("tfft."):
            continue
        lines.append(f"{FLAG_GROUPS.get(name, name)}:")
        for flag in defined:
            default = "" if flag.default in (None, "") else f" (default: {flag.default_as_str.strip(chr(39))})"
            lines.append(textwrap.fill(f"--{flag.name}: {flag.help}{default}", width=110, initial_indent="  ",
                                       subsequent_indent="      "))
        lines.append("")
    lines.append("  --flagfile=FILE: read flags from FILE, one per line (later flags override it)")
    lines.append("  --helpfull: also the flags of absl and TensorFlow")
    lines += ["", "Exit codes: " + EXIT_CODES]
    return "\n".join(lines)


def _is_utf8(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def call_reporting(main, argv: list[str]):
    """main(argv), with USER_ERRORS and failed writes reported in one line and exit code 2, a divergence with
    EXIT_DIVERGED, and an interruption before anything was checkpointed ending with the signal's exit code."""
    try:
        return main(argv)
    except USER_ERRORS as err:
        fail(str(err))
    except DivergedError as err:
        fail(str(err), EXIT_DIVERGED)
    except KeyboardInterrupt as err:  # Interrupted, or Ctrl-C where no Stop listens (export, predict, ...)
        signum = getattr(err, "signum", signal.SIGINT)
        fail(f"interrupted by {signal.Signals(signum).name}" + (
            " before anything was saved" if isinstance(err, Interrupted) else ""), 128 + signum)
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        fail(f"{err.filename}: {err.strerror}" if err.filename else str(err))


def run(main, argv: list[str] | None = None) -> None:
    """absl's app.run with console logging, flag errors reported in one line and exit code 2, and main's errors
    reported by call_reporting."""

    def guarded(argv):
        console.use_console_logging()
        return call_reporting(main, argv)

    app.run(guarded, argv=argv, flags_parser=_parse_flags)

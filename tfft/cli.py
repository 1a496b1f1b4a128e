"""What the entry points share: flag definitions for data and model, turning flags into config objects, and
the rule that bad input ends in one line on stderr and exit code 2 (no traceback, nothing written); an output
directory that cannot be written (disk full, permission denied) ends the same way, naming the path, and a run
stopped by --nan_policy=stop in one line with exit code 3.

Only entry points (`python -m tfft.<command>`) call into this module; library code takes config objects.
"""

import contextlib
import errno
import signal
import sys
import threading
from collections.abc import Iterator

from absl import app, flags

from tfft.checkpoints.formats import CheckpointError
from tfft.checkpoints.hub import ModelNotFoundError
from tfft.data import DataConfig, DataError
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
DEFAULT_DATASETS = {"classification": "glue/sst2", "pair": "glue/mrpc", "ner": "conll2003", "mlm": "sample"}


def define_data_flags() -> None:
    """The flags that choose a task, a model's tokenizer and a data set, and shape its batches."""
    flags.DEFINE_enum("task", "classification", list(TASKS), "What to fine-tune for.")
    flags.DEFINE_string("model", "distilbert-base-uncased", "Model directory, Hub id, or packaged model name "
                        "(all-MiniLM-L6-v2 ships with the install and works offline).")
    flags.DEFINE_string("dataset", None, "'sample' (embedded smoke data), a file, a directory with train/dev/test "
                        "files, or a Hugging Face data set name (e.g. glue/sst2, repo:config). Default per task: "
                        + ", ".join(f"{task}: {name}" for task, name in DEFAULT_DATASETS.items()) + ".")
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
    return DataConfig(dataset=values.dataset or DEFAULT_DATASETS[values.task], text_column=values.text_column,
                      text_pair_column=values.text_pair_column, label_column=values.label_column,
                      delimiter=values.delimiter, quoting=values.quoting, header=values.header,
                      tag_scheme=values.tag_scheme,
                      label_names=values.label_names, val_fraction=values.val_fraction,
                      test_fraction=values.test_fraction, max_train_examples=values.max_train_examples,
                      seed=values.seed, strict=values.strict, train_label_fraction=values.train_label_fraction,
                      train_on_validation=values.train_on_validation)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM / SIGINT inside the block: the loop finishes its update, checkpoints and returns
    (resume later). The previous handlers come back after the block, so Ctrl-C stops later work at once."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        fail(str(err))
    except UnicodeDecodeError as err:  # absl reads a flagfile as text in the locale's encoding
        flagfiles = [arg.split("=", 1)[1] for arg in argv if arg.startswith(("--flagfile=", "-flagfile="))]
        named = next((f for f in flagfiles if not _is_utf8(f)), " / ".join(flagfiles) or "a flagfile")
        fail(f"--flagfile={named}: not valid UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
             "re-save it as UTF-8")


def _is_utf8(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def run(main, argv: list[str] | None = None) -> None:
    """absl's app.run, with flag errors and USER_ERRORS reported in one line and exit code 2."""

    def guarded(argv):
        try:
            return main(argv)
        except USER_ERRORS as err:
            fail(str(err))
        except DivergedError as err:
            fail(str(err), EXIT_DIVERGED)
        except OSError as err:
            if err.errno not in WRITE_ERRNOS:
                raise
            fail(f"{err.filename}: {err.strerror}" if err.filename else str(err))

    app.run(guarded, argv=argv, flags_parser=_parse_flags)

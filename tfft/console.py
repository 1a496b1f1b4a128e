"""What a person sees on the terminal when running `python -m tfft.<command>`: TensorFlow's start-up noise
quieted, log lines as 'HH:MM:SS message', and metrics as a table.

Importing this module quiets TensorFlow, so only the entry points import it (through tfft/cli.py, first):
TensorFlow's C++ start-up notices (oneDNN, CUDA probing, 'failed call to cuInit' on every CPU machine, XLA's
'Compiled cluster' even without --xla) were 11 of a short run's 20-31 stderr lines and buried a one-line error.
TF_CPP_MIN_LOG_LEVEL=3 quiets what TensorFlow logs once it runs; the lines written while `import tensorflow` loads
its libraries come before its logging reads that setting ('All log messages before absl::InitializeLog() is called
are written to STDERR'), so they are dropped at the file descriptor. A user's own TF_CPP_MIN_LOG_LEVEL is kept
(TF_CPP_MIN_LOG_LEVEL=0 shows everything), and then nothing is dropped.
"""

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def _native_stderr_dropped() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block: what C++ writes there is dropped."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _native_stderr_dropped():
        import tensorflow  # noqa: F401


class _Formatter(logging.Formatter):
    """'12:03:04 message', and '12:03:04 warning: message' from WARNING up."""

    def __init__(self):
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            record.message = f"{record.levelname.lower()}: {record.message}"
        return super().formatMessage(record)


class _NotTensorFlowInfo(logging.Filter):
    """Drops TensorFlow's own log records below WARNING ('Sharding callback duration: 264 microseconds' at every
    checkpoint, logged through absl from TensorFlow's code, so no logger name tells them apart: their file does)."""

    def __init__(self):
        super().__init__()
        spec = importlib.util.find_spec("tensorflow")
        self.directories = tuple(spec.submodule_search_locations or ()) if spec else ()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.pathname.startswith(self.directories)


def use_console_logging() -> None:
    """Log lines at INFO and up to stderr in the console format, through one plain StreamHandler (so a progress bar
    can route them around itself); TensorFlow's own lines only from WARNING up: its INFO lines say nothing to a
    user."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    handler.addFilter(_NotTensorFlowInfo())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def metrics_table(metrics: dict, title: str = "") -> str:
    """Metrics as aligned text: one row per number; nested groups (NER's per_type) as a table of their own."""
    flat = [(name, value) for name, value in metrics.items() if not isinstance(value, dict)]
    nested = {name: value for name, value in metrics.items() if isinstance(value, dict)}
    width = max((len(name) for name, _ in flat), default=0)
    lines = [title] if title else []
    lines += [f"  {name:<{width}}  {_number(value)}" for name, value in flat]
    for group, rows in nested.items():
        columns = list(dict.fromkeys(key for row in rows.values() for key in row))
        first = max(len(group), *(len(name) for name in rows))
        lines.append("  " + f"{group:<{first}}" + "".join(f"  {column:>10}" for column in columns))
        lines += ["  " + f"{name:<{first}}" + "".join(f"  {_number(row.get(column, '')):>10}" for column in columns)
                  for name, row in rows.items()]
    return "\n".join(lines)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)

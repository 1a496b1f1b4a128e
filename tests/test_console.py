"""The console of the entry points (tfft/console.py): the log line format, TensorFlow's INFO lines dropped, and
metrics as a table."""

import logging
import pathlib

import tensorflow as tf

from tfft import console


def record(level: int, message: str, pathname: str = "/somewhere/tfft/training/loop.py") -> logging.LogRecord:
    return logging.LogRecord("x", level, pathname, 1, message, None, None)


def test_log_lines_are_time_and_message_and_warnings_say_so():
    formatter = console._Formatter()
    assert formatter.format(record(logging.INFO, "compiling")).split(" ", 1)[1] == "compiling"
    line = formatter.format(record(logging.WARNING, "carved"))
    assert len(line.split(" ", 1)[0]) == len("12:03:04") and line.split(" ", 1)[1] == "warning: carved"


def test_tensorflows_own_info_lines_are_dropped_and_its_warnings_kept():
    inside = str(pathlib.Path(tf.__file__).parent / "python" / "checkpoint" / "functional_saver.py")
    keep = console._NotTensorFlowInfo().filter
    assert not keep(record(logging.INFO, "Sharding callback duration: 264 microseconds", inside))
    assert keep(record(logging.WARNING, "a real problem", inside))
    assert keep(record(logging.INFO, "test: f1=0.74"))


def test_metrics_table_aligns_numbers_and_puts_nested_groups_in_a_table_of_their_own():
    metrics = {"f1": 0.74, "support": 143, "per_type": {"LOC": {"precision": 0.725, "f1": 0.785, "support": 49},
                                                        "MISC": {"precision": 0.5, "f1": 0.6667, "support": 23}}}
    assert console.metrics_table(metrics, "test metrics").splitlines() == [
        "test metrics",
        "  f1       0.7400",
        "  support  143",
        "  per_type   precision          f1     support",
        "  LOC           0.7250      0.7850          49",
        "  MISC          0.5000      0.6667          23",
    ]

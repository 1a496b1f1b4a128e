"""What every entry point shares (tfft/cli.py): one-line errors on a quiet stderr, hints for other tools' flag
names, --help that lists every flag the command takes and exits 0, and exit codes for interrupted runs."""

import contextlib
import importlib
import io
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from conftest import error_line

ROOT = pathlib.Path(__file__).parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user who set nothing


def command(name, *args, env=ENV):
    return subprocess.run([sys.executable, "-m", f"tfft.{name}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def test_a_bad_flag_is_the_only_line_on_stderr_and_names_the_tfft_flag():
    result = command("train", "--learning_rate=1e-3")
    assert error_line(result) == "error: --learning_rate: not a tfft flag; tfft calls it --lr (--help lists every flag)"
    assert result.stderr.strip().splitlines() == [error_line(result)]  # no TensorFlow start-up lines before it
    assert "tfft calls it --precision=fp16" in error_line(command("train", "--fp16"))


def test_a_users_own_tensorflow_log_level_is_kept():
    result = command("train", "--learning_rate=1e-3", env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert len(result.stderr.strip().splitlines()) > 1  # TensorFlow's notices are the user's to see


def test_foreign_flag_names_point_only_at_flags_the_command_has():
    from absl import flags

    from tfft import cli

    values = flags.FlagValues()
    flags.DEFINE_float("lr", 1.0, "", flag_values=values)
    previous, flags.FLAGS = flags.FLAGS, values
    try:
        assert cli._foreign_flag_hint("learning_rate") == ("--learning_rate: not a tfft flag; tfft calls it --lr "
                                                           "(--help lists every flag)")
        assert cli._foreign_flag_hint("num_train_epochs") is None  # this command has no --epochs
        assert cli._foreign_flag_hint("bogus") is None
    finally:
        flags.FLAGS = previous


@pytest.mark.parametrize("name", ["train", "export"])
def test_help_lists_every_flag_the_command_takes_grouped_and_exits_0(name):
    from absl import flags

    result = command(name, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    listed = {line.split(":")[0].strip()[2:] for line in result.stdout.splitlines() if line.startswith("  --")}
    assert not {"tpu", "test_srcdir", "pdb_post_mortem", "only_check_args"} & listed  # absl's and TF's stay out
    if name == "train":
        assert {"task", "model", "dataset", "train_file", "validation_file", "test_file", "format", "batch_size",
                "max_seq_length", "seed", "lr", "overwrite", "resume"} <= listed
        assert "Task, model and data:" in result.stdout and "Training:" in result.stdout
        import tfft.train  # noqa: F401  (defines the flags in this process too)

        assert {f.name for f in flags.FLAGS.flags_by_module_dict()["tfft.train"]} <= listed
    assert "Exit codes: 0 done" in result.stdout and "130 / 143" in result.stdout


def test_stop_waits_for_the_loop_and_a_signal_before_it_interrupts_at_once():
    from tfft import cli

    stop = cli.Stop()
    with pytest.raises(cli.Interrupted) as raised:
        stop.receive(signal.SIGTERM, None)  # data preparation or compiling: nothing to checkpoint
    assert raised.value.signum == signal.SIGTERM
    assert stop(1) is False  # the loop asks after its first update
    stop.receive(signal.SIGINT, None)
    assert stop(2) is True and stop.signum == signal.SIGINT
    with pytest.raises(cli.Interrupted):
        stop.receive(signal.SIGINT, None)  # a second Ctrl-C: at once


def test_ctrl_c_while_preparing_stops_at_once_with_130_and_leaves_nothing(tmp_path, tiny_model):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "tfft.train", f"--model={tiny_model}", "--dataset=sample",
                                f"--output_dir={out}", "--max_steps=1000", f"--cache_dir={tmp_path / 'cache'}"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not (out / "flags.txt").is_file() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # the handlers are installed right after the run directory is made
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "error: interrupted by SIGINT before anything was saved"
    assert not out.exists()


def refusal(command: str, *args: str) -> str:
    """The line `python -m tfft.<command> ARGS` refuses ARGS with, made in this process instead (no TensorFlow
    start-up per case): the command's own flag parsing (cli._parse_flags) and main, a USER_ERRORS exception reported
    as cli.run reports it, exit code 2 and nothing else on stderr. absl's flags are as before afterwards. The
    subprocess cases beside the callers check that the command prints this very line."""
    from absl.testing import flagsaver

    from tfft import cli

    module = importlib.import_module(f"tfft.{command}")  # before flagsaver: restoring deletes flags defined after it
    stderr = io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exited:
        try:
            module.main(cli._parse_flags([command, *args]))
        except cli.USER_ERRORS as err:
            cli.fail(str(err))
    assert exited.value.code == cli.EXIT_USAGE and stderr.getvalue().count("\n") == 1, stderr.getvalue()
    return stderr.getvalue().rstrip("\n")

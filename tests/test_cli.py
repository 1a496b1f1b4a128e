"""What every entry point shares (tfft/cli.py): one-line errors on a quiet stderr, hints for other tools' flag
names, --help that lists every flag the command takes and exits 0, and exit codes for interrupted runs."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import error_line, in_process, refusal

ROOT = pathlib.Path(__file__).parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user who set nothing


def command(name, *args, env=ENV):
    return subprocess.run([sys.executable, "-m", f"tfft.{name}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.slow
def test_a_bad_flag_is_the_only_line_on_stderr_and_names_the_tfft_flag():
    result = command("train", "--learning_rate=1e-3")
    assert error_line(result) == "error: --learning_rate: not a tfft flag; tfft calls it --lr (--help lists every flag)"
    assert result.stderr.strip().splitlines() == [error_line(result)]  # no TensorFlow start-up lines before it
    assert "tfft calls it --precision=fp16" in refusal("train", "--fp16")  # the same wiring, in this process


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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train", "export"])
def test_help_lists_every_flag_the_command_takes_grouped_and_exits_0(name):
    """tfft.train's as a user who set TF_CPP_MIN_LOG_LEVEL=0: that user's own log level is kept."""
    from absl import flags

    result = command(name, "--help", env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "0"} if name == "train" else ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    if name == "train":
        assert len(result.stderr.strip().splitlines()) > 1  # TensorFlow's notices are the user's to see
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


def test_ctrl_c_while_preparing_stops_at_once_with_130_and_leaves_nothing(tmp_path, tiny_model, monkeypatch):
    """SIGINT, sent to the command run in this process while it tokenizes the data (after the run directory is made,
    before any update): it stops at once with the shell's code 130 and removes the run directory."""
    from tfft.training import loop

    out = tmp_path / "run"
    tokenize = loop.encode_data

    def interrupted(*args, **kwargs):
        assert (out / "flags.txt").is_file()
        os.kill(os.getpid(), signal.SIGINT)  # its handler runs here, in this thread, before the next line
        return tokenize(*args, **kwargs)

    monkeypatch.setattr(loop, "encode_data", interrupted)
    result = in_process("train", f"--model={tiny_model}", "--dataset=sample", f"--output_dir={out}",
                        "--max_steps=1000", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 130, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == "error: interrupted by SIGINT before anything was saved"
    assert not out.exists()

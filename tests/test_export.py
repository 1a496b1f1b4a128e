"""`python -m tfft.export` end to end, and its bad-input contract: the command itself for an export and one refusal,
the rest run in this process (conftest in_process: the same flag parsing and main, no TensorFlow start-up)."""

import pathlib
import subprocess
import sys

import pytest

from conftest import error_line, in_process

ROOT = pathlib.Path(__file__).parent.parent


def export(*args):
    return subprocess.run([sys.executable, "-m", "tfft.export", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_export_writes_a_saved_model_and_refuses_to_overwrite_it(tiny_runs, tmp_path):
    target = tmp_path / "exported"
    result = export(f"--run_dir={tiny_runs['pair']}", f"--export_dir={target}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "saved_model.pb").is_file() and (target / "assets" / "vocab.txt").is_file()
    assert f"SavedModel: {target}" in result.stdout
    again = in_process("export", f"--run_dir={tiny_runs['pair']}", f"--export_dir={target}")
    assert error_line(again) == f"error: --export_dir={target}: holds a tfft export; pass --overwrite to replace it"
    overwritten = in_process("export", f"--run_dir={tiny_runs['pair']}", f"--export_dir={target}", "--overwrite")
    assert overwritten.returncode == 0, overwritten.stderr[-3000:]


@pytest.mark.slow
def test_a_run_without_a_best_model_is_one_line_and_exit_2(tiny_runs, tmp_path):
    (tmp_path / "config.json").write_text((tiny_runs["pair"] / "config.json").read_text())
    line = error_line(export(f"--run_dir={tmp_path}"))
    assert "has no best model" in line
    assert error_line(in_process("export", f"--run_dir={tmp_path}")) == line  # the command's own line, in process
    assert not (tmp_path / "export").exists()
    assert "--run_dir" in error_line(in_process("export"))


def test_overwrite_never_deletes_a_file_tfft_did_not_write(tiny_runs, tmp_path):
    target = tmp_path / "exported"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = in_process("export", f"--run_dir={tiny_runs['pair']}", f"--export_dir={target}", "--overwrite")
    assert error_line(result) == (f"error: --export_dir={target}: not empty and not a tfft export (it holds keep.txt); "
                                  "tfft writes only into a new or empty directory or one of its own: choose another "
                                  "--export_dir")
    assert [p.name for p in target.iterdir()] == ["keep.txt"] and (target / "keep.txt").read_text() == "mine"

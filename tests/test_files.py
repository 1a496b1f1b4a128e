"""Atomic outputs: a write that fails for want of space or permission leaves the target as it was, no temporary
file behind, and raises one line naming the path; a directory is swapped in one step."""

import errno
import os
import pathlib

import pytest

from tfft import files


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_during_a_write_leaves_the_old_file_and_names_the_path(tmp_path, monkeypatch):
    target = files.write_json(tmp_path / "best_metrics.json", {"step": 1})
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(files.OutputError) as caught:
        files.write_json(target, {"step": 2})
    assert str(caught.value) == f"{target}: cannot write (No space left on device)"
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == '{\n  "step": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_metrics.json"]


def test_a_failed_savefig_path_write_removes_its_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(files.OutputError, match="plot.png: cannot write"):
        with files.atomic_path(tmp_path / "plot.png") as tmp:
            tmp.write_bytes(b"png")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_swapped_whole_and_a_failed_one_leaves_the_old(tmp_path, monkeypatch):
    target = tmp_path / "best"
    with files.atomic_dir(target) as staging:
        (staging / "weights").write_text("old")
    with files.atomic_dir(target) as staging:
        (staging / "weights").write_text("new")
        (staging / "config").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["config", "weights"]
    assert (target / "weights").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["best"]

    def write_then_fail(path, *args, **kwargs):
        pathlib.Path(path).write_text("half")
        _no_space()

    with pytest.raises(files.OutputError, match=f"^{target}: cannot write \\(No space left on device\\)$"):
        with files.atomic_dir(target) as staging:
            write_then_fail(staging / "weights")
    assert (target / "weights").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["best"]


def test_directories_are_exchanged_in_one_step_here(tmp_path):
    """renameat2(RENAME_EXCHANGE) works on this machine's file system: at no moment is best/ missing."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    assert files._exchange(a, b)
    assert (a / "f").read_text() == "b" and (b / "f").read_text() == "a"


def test_leftovers_of_killed_writes_are_removed_and_a_directory_moved_aside_comes_back(tmp_path):
    files.write_text(tmp_path / "config.json", "{}")
    (tmp_path / ".best_metrics.json.abc123.tmp").write_text("half")  # atomic_open's temporary file
    (tmp_path / ".best.tmp-x1").mkdir()  # atomic_dir's staging directory
    (tmp_path / ".export.old-y2" / "export").mkdir(parents=True)  # moved aside, killed before the new one came
    (tmp_path / ".export.old-y2" / "export" / "saved_model.pb").write_text("model")
    assert len(files.remove_leftovers(tmp_path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "export"]
    assert (tmp_path / "export" / "saved_model.pb").read_text() == "model"


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_what_is_written_gets_the_mode_the_umask_gives_not_the_temporary_files(tmp_path, umask):
    """mkstemp / mkdtemp make 0600 / 0700 files: renamed into place as they are, a saved model would be unreadable
    for any other user (a TF Serving container, say). The reference is what plain open and mkdir give."""
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "plain").mkdir()
    file_mode = (tmp_path / "plain.txt").stat().st_mode & 0o777
    dir_mode = (tmp_path / "plain").stat().st_mode & 0o777
    assert (file_mode, dir_mode) == (0o666 & ~umask, 0o777 & ~umask) and files.umask() == umask
    files.write_text(tmp_path / "a.txt", "x")
    with files.atomic_path(tmp_path / "b.png") as tmp:
        pathlib.Path(tmp).write_bytes(b"x")
    with files.atomic_dir(tmp_path / "model") as staging:
        (staging / "config.json").write_text("{}")
    assert [(p.name, p.stat().st_mode & 0o777) for p in sorted(tmp_path.iterdir())] == [
        ("a.txt", file_mode), ("b.png", file_mode), ("model", dir_mode), ("plain", dir_mode),
        ("plain.txt", file_mode)]
    assert (tmp_path / "model" / "config.json").stat().st_mode & 0o777 == file_mode

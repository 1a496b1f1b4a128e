"""Checkpoints on disk: a cut or altered latest checkpoint is found by its checksums and the one before it restored,
with a warning naming the bad file; a save that fails (disk full, here injected) raises one line naming the
directory and leaves the earlier checkpoints and the state file as they were."""

import logging
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfft.files import OutputError
from tfft.runs import RunError
from tfft.training.checkpointing import Checkpoints, verify


def _store(directory: pathlib.Path, values) -> tuple[Checkpoints, tf.Variable]:
    variable = tf.Variable(np.asarray(values, np.float32))
    return Checkpoints(tf.train.Checkpoint(v=variable), directory, chief=True, max_to_keep=3), variable


def _three_checkpoints(directory: pathlib.Path) -> None:
    store, variable = _store(directory, np.zeros(4096))
    for step in (1, 2, 3):
        variable.assign(np.full(4096, float(step), np.float32))
        store.save(step)


def _truncate(path: pathlib.Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _flip_a_byte(path: pathlib.Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, suffix", [(_truncate, ".data-00000-of-00001"), (_flip_a_byte, ".data-00000-of-00001"),
                                            (_truncate, ".index")], ids=["truncated-data", "altered-data",
                                                                         "truncated-index"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog, damage, suffix):
    _three_checkpoints(tmp_path)
    bad = tmp_path / f"ckpt-3{suffix}"
    damage(bad)
    assert verify(str(tmp_path / "ckpt-3")).startswith(f"{bad}: ")
    assert verify(str(tmp_path / "ckpt-2")) is None
    store, variable = _store(tmp_path, np.zeros(4096))
    with caplog.at_level(logging.WARNING):
        assert store.restore_latest() == str(tmp_path / "ckpt-2")
    np.testing.assert_array_equal(variable.numpy(), np.full(4096, 2.0))
    assert store.last_good == str(tmp_path / "ckpt-2")
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"checkpoint {tmp_path / 'ckpt-3'} is unreadable" in warning and str(bad) in warning


def test_every_checkpoint_damaged_is_an_error_naming_each_file(tmp_path):
    _three_checkpoints(tmp_path)
    for step in (1, 2, 3):
        _flip_a_byte(tmp_path / f"ckpt-{step}.data-00000-of-00001")
    store, _ = _store(tmp_path, np.zeros(4096))
    with pytest.raises(RunError, match="no readable checkpoint to resume from") as caught:
        store.restore_latest()
    assert all(f"ckpt-{step}.data-00000-of-00001" in str(caught.value) for step in (1, 2, 3))


def test_no_checkpoint_restores_nothing_and_a_killed_save_leaves_no_temp_directory(tmp_path):
    store, _ = _store(tmp_path, np.zeros(4096))
    (tmp_path / "ckpt-1_temp").mkdir()  # the first save, killed
    assert store.restore_latest() is None and not (tmp_path / "ckpt-1_temp").exists()
    _three_checkpoints(tmp_path)
    (tmp_path / "ckpt-4_temp").mkdir()  # what a save killed halfway leaves
    (tmp_path / "ckpt-4_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 10)
    assert store.restore_latest() == str(tmp_path / "ckpt-3")
    assert not (tmp_path / "ckpt-4_temp").exists()


def test_a_full_disk_at_a_save_names_the_directory_and_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    store, variable = _store(tmp_path, np.ones(16))
    store.save(1)
    state = (tmp_path / "checkpoint").read_text()

    def no_space(prefix, options=None):  # what TensorFlow raises when the disk fills during a write
        open(f"{prefix}_temp", "w").close()
        raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}_temp/part-00000-of-00001.data-00000-of-00001."
                                                           "tempstate123; No space left on device")

    monkeypatch.setattr(store.checkpoint, "_write", no_space)
    variable.assign(np.full(16, 2.0, np.float32))
    with pytest.raises(OutputError) as caught:
        store.save(2)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: cannot write checkpoint 2; the earlier ones there are intact (")
    assert "No space left on device" in message and "\n" not in message
    assert (tmp_path / "checkpoint").read_text() == state and store.last_good == str(tmp_path / "ckpt-1")
    os.remove(f"{tmp_path / 'ckpt-2'}_temp")
    fresh, restored = _store(tmp_path, np.zeros(16))
    assert fresh.restore_latest() == str(tmp_path / "ckpt-1")
    np.testing.assert_array_equal(restored.numpy(), np.ones(16))

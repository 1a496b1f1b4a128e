"""The training state on disk (model, optimizer, loss scale, progress: step, data position, dropout RNG) through
tf.train.CheckpointManager, made safe against what kills runs.

- A crash at any moment, even inside a save, never leaves a partial checkpoint that counts: TensorFlow writes the
  tensors under CKPT_temp/, renames them into place, and only then rewrites the `checkpoint` state file
  (atomically) to name the new one. Leftover *_temp directories of a killed save are removed on restore.
- A checkpoint whose files were cut short or altered (each tensor carries a CRC32C) is found before anything is
  restored: `restore_latest` reads every tensor first and falls back to the newest checkpoint that reads whole,
  with a warning naming the bad file.
- A save that fails (disk full, permission denied) raises OutputError naming the directory; the state file
  still names the previous checkpoint, which stays intact (the manager deletes old ones only after a save).

Multi-worker: every worker saves (the save is collective), non-chief workers into a scratch directory; all of them
restore from the chief's directory, which must be on storage every worker reads. A worker that does not save leaves
the others waiting in the collective for ever.
"""

import glob
import logging
import pathlib
import shutil
import tempfile

import tensorflow as tf

from tfft.files import output_error, reason
from tfft.runs import RunError

log = logging.getLogger(__name__)


def verify(prefix: str) -> str | None:
    """None when every tensor of the checkpoint at `prefix` reads back with its checksum; otherwise which file is
    bad and why, in one line."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as err:  # a cut or altered index fails in several ways (OpError, IndexError, ValueError)
        return f"{prefix}.index: {reason(err)}"
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # truncated data raises IndexError, altered data DataLossError
        data = sorted(glob.glob(f"{glob.escape(prefix)}.data-*")) or [f"{prefix}.data-*"]
        return f"{', '.join(data)}: {reason(err)}"
    return None


class Checkpoints:
    """Saves and restores one run's `checkpoint` object in `directory` (the chief's), keeping `max_to_keep`."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: pathlib.Path, *, chief: bool, max_to_keep: int):
        self.checkpoint, self.directory, self.chief = checkpoint, directory, chief
        self._scratch = None if chief else tempfile.TemporaryDirectory(prefix="tfft-worker-")  # gone with self
        saves_to = str(directory) if chief else self._scratch.name
        self.manager = tf.train.CheckpointManager(checkpoint, saves_to, max_to_keep=max_to_keep)
        self.last_good: str | None = None  # the checkpoint restored or saved last: what a resume would use

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint in `directory` that reads whole; returns its prefix, or None when there is
        none. A bad one is skipped with a warning naming its file; a RunError when every one is bad."""
        if self.chief:
            for leftover in glob.glob(f"{glob.escape(str(self.directory))}/*_temp"):  # a save killed halfway
                shutil.rmtree(leftover, ignore_errors=True)
        state = tf.train.get_checkpoint_state(str(self.directory))
        if state is None:
            return None
        candidates = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        bad = []
        for prefix in reversed(candidates):
            prefix = str(self.directory / pathlib.Path(prefix).name)
            problem = verify(prefix)
            if problem is None:
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
                self.last_good = prefix
                return prefix
            log.warning("checkpoint %s is unreadable, falling back to the one before: %s", prefix, problem)
            bad.append(problem)
        raise RunError(f"{self.directory}: no readable checkpoint to resume from ({'; '.join(bad)})")

    def save(self, step: int) -> str:
        """Saves the state as checkpoint `step`; OutputError (naming the directory) when it cannot be written."""
        try:
            self.last_good = self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as err:
            raise output_error(self.manager.directory, err, f"checkpoint {step}; the earlier ones there are intact"
                               if self.last_good else f"checkpoint {step}") from err
        return self.last_good

"""Where progress goes: TensorBoard (output_dir/tensorboard/{train,validation}) and metrics.jsonl, one JSON
line per log or evaluation event, for plots without TensorBoard."""

import json
import pathlib
import time

import tensorflow as tf

from tfft import files
from tfft.runs import read_metrics_log


class Summaries:
    """`after_step`: a resumed run's step. The metrics.jsonl lines of later steps (written before a crash, after
    the checkpoint the run resumes from) are dropped: the resumed run writes them again."""

    def __init__(self, output_dir: pathlib.Path, *, after_step: int | None = None):
        self.writers = {split: tf.summary.create_file_writer(str(output_dir / "tensorboard" / split))
                        for split in ("train", "validation")}
        path = output_dir / "metrics.jsonl"
        if after_step is not None and path.is_file():
            files.write_jsonl(path, [r for r in read_metrics_log(output_dir) if r["step"] <= after_step])
        self.jsonl = open(path, "a", encoding="utf-8")

    def scalars(self, split: str, step: int, values: dict) -> None:
        """Numbers to TensorBoard (nested dicts flattened as a/b) and one metrics.jsonl line."""
        flat = {}

        def walk(prefix, value):
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(f"{prefix}/{key}" if prefix else str(key), inner)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[prefix] = float(value)

        walk("", values)
        with self.writers[split].as_default(step=step):
            for name, value in flat.items():
                tf.summary.scalar(name, value)
        self.jsonl.write(json.dumps({"split": split, "step": step, "time": round(time.time(), 3), **flat}) + "\n")
        self.jsonl.flush()

    def text(self, split: str, step: int, name: str, text: str) -> None:
        with self.writers[split].as_default(step=step):
            tf.summary.text(name, text)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.flush()
        self.jsonl.close()

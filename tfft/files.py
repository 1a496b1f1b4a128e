"""Writing run outputs so that a crash never leaves a half-written file: write a temporary file beside the
target, flush it to disk, then rename it over the target (atomic on POSIX)."""

import json
import os
import pathlib
import tempfile


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, value) -> pathlib.Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=True, default=float) + "\n")


def write_jsonl(path: str | os.PathLike, records) -> pathlib.Path:
    return write_text(path, "".join(json.dumps(r, default=float, ensure_ascii=False) + "\n" for r in records))

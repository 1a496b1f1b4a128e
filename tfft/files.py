"""Writing run outputs so that a crash never leaves a half-written file: write a temporary file beside the
target, flush it to disk, then rename it over the target (atomic on POSIX). Directories (a saved model, an
export) are assembled in a staging directory beside the target and renamed into place the same way."""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """A UTF-8 text file to write that appears at `path` only when the block finishes without an error."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """A temporary path beside `path` for a writer that wants a file name (matplotlib's savefig); renamed to
    `path` when the block finishes without an error, removed otherwise. The suffix is kept, so writers that pick
    a format from it still do."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    with atomic_open(path) as f:
        f.write(text)
    return pathlib.Path(path)


def write_json(path: str | os.PathLike, value) -> pathlib.Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=True, default=float) + "\n")


def write_jsonl(path: str | os.PathLike, records) -> pathlib.Path:
    return write_text(path, "".join(json.dumps(r, default=float, ensure_ascii=False) + "\n" for r in records))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields an empty staging directory beside `target`; when the block finishes, it replaces `target`.

    An existing target is swapped out and removed only after the new one is in place; if the block raises,
    the staging directory is removed and `target` is left as it was.
    """
    target = pathlib.Path(target).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        old = None
        if target.exists():
            old = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / target.name)
        os.rename(staging, target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

"""Writing run outputs so that a crash never leaves a half-written file: write a temporary file beside the
target, flush it to disk, then rename it over the target (atomic on POSIX). Directories (a saved model, an
export) are assembled in a staging directory beside the target and swapped into place the same way.

A write that fails (disk full, permission denied, read-only file system) leaves the target as it was and raises
OutputError, one line naming the path and the reason.

What is written gets the mode the process's umask gives an ordinary file or directory (0644 / 0755 under the usual
022), as `open` and `mkdir` give it and as transformers' save_pretrained leaves a model: the temporary files and
staging directories are made private (0600 / 0700) by `tempfile`, and a model renamed into place that way could not
be read by another user or by a TF Serving container running as a non-root user."""

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import TextIO


class OutputError(OSError):
    """An output that cannot be written (no space, no permission): the message (strerror) names the path."""

    def __str__(self) -> str:
        return self.strerror


def reason(err: BaseException) -> str:
    """Why an operation failed, in one line: an OSError's strerror, else the first line of the message (e.g.
    TensorFlow's), else the exception's type."""
    text = err.strerror if isinstance(err, OSError) and err.strerror else str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def output_error(path: str | os.PathLike, err: BaseException, what: str = "") -> OutputError:
    """OutputError for a failed write of `path` (`what`: of what, e.g. 'checkpoint 300')."""
    return OutputError(getattr(err, "errno", None) or errno.EIO,
                       f"{path}: cannot write{' ' + what if what else ''} ({reason(err)})")


@contextlib.contextmanager
def _reported(path: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        raise output_error(path, err) from err


def umask() -> int:
    """The process's umask: from /proc/self/status where Linux shows it, else by setting it and setting it back
    (which another thread could see for an instant)."""
    try:
        status = pathlib.Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _ordinary_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Gives a temporary file (0600) or staging directory (0700) the mode `open` or `mkdir` would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """A UTF-8 text file to write that appears at `path` only when the block finishes without an error."""
    path = pathlib.Path(path)
    with _reported(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            _ordinary_mode(tmp)
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
    with _reported(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        try:
            _ordinary_mode(tmp)
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


def is_leftover(path: pathlib.Path) -> bool:
    """A temporary file or staging directory of a write in this module (.NAME.tmp*, .NAME.old-*)."""
    return path.name.startswith(".") and (".tmp" in path.name or ".old-" in path.name)


def listing(paths: list[pathlib.Path], most: int = 5) -> str:
    """'notes.txt, data/ and 3 more': what a directory holds, for a one-line message (directories end in /)."""
    names = [p.name + ("/" if p.is_dir() else "") for p in sorted(paths)]
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def remove_entries(directory: str | os.PathLike, names: frozenset[str]) -> None:
    """Removes the entries of `directory` with these names (files or whole directories), and nothing else."""
    for path in pathlib.Path(directory).iterdir():
        if path.name in names:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def remove_leftovers(directory: str | os.PathLike) -> list[pathlib.Path]:
    """Removes what writes killed halfway left in `directory` (their temporary files and staging directories);
    a directory that was moved aside (.NAME.old-*/NAME) while its target is missing is moved back instead.
    Returns the paths removed or restored."""
    directory = pathlib.Path(directory)
    found = sorted(filter(is_leftover, directory.iterdir()))
    for path in found:
        name = path.name[1:].split(".old-")[0]
        if ".old-" in path.name and (path / name).is_dir() and not (directory / name).exists():
            os.rename(path / name, directory / name)
            path.rmdir()
        elif path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


@functools.cache
def _renameat2():
    """Linux renameat2(2), which swaps two paths in one step (RENAME_EXCHANGE); None where libc lacks it."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


AT_FDCWD, RENAME_EXCHANGE = -100, 2


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Swaps two existing paths atomically; False where the system or file system cannot."""
    function = _renameat2()
    if function is None:
        return False
    if function(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields an empty staging directory beside `target`; when the block finishes, it replaces `target`.

    An existing target is swapped with the staging directory in one step (Linux renameat2), so at every moment
    `target` is the whole old or the whole new directory, even under SIGKILL; elsewhere it is moved aside first
    (a crash between the two renames leaves it in .NAME.old-*/). If the block raises, the staging directory is
    removed and `target` is left as it was.
    """
    target = pathlib.Path(target).expanduser().resolve()
    with _reported(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            _ordinary_mode(staging, directory=True)
            yield staging
            # What a library wrote private inside: safetensors' save_file makes 0600 files since 0.8 (it writes a
            # tempfile and renames it; safetensors/safetensors#782), so a saved model.safetensors was unreadable.
            for path in staging.rglob("*"):
                if not path.is_symlink():
                    _ordinary_mode(path, directory=path.is_dir())
            if not target.exists():
                os.rename(staging, target)
            elif _exchange(staging, target):
                shutil.rmtree(staging)  # now the old directory
            else:
                old = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rename(target, old / target.name)
                os.rename(staging, target)
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

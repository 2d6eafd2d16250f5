"""Files and folders that are either there completely or not at all.

- `write_file` / `replaced_file`: a file is written under a temporary name beside it and renamed
  over the old one (``os.replace``), so a reader, or a process killed half-way, never sees half a
  file. Used for caches and small outputs.
- `replaced_folder`: a whole output folder is written as a temporary folder beside the target and
  then swapped into place, under an exclusive lock (``fcntl.flock`` on ``.<name>.lock`` beside the
  target). Two writers into one folder take turns; a writer killed half-way leaves the previous
  folder untouched (its temporary folder is removed by the next writer); a reader of the target
  sees the old folder or the new one, never a mix. On Linux the swap is one
  ``renameat2(RENAME_EXCHANGE)`` call, so the target never disappears; elsewhere (or on file
  systems without it) the old folder is renamed aside first, and for a moment there is none.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_TMP = ".tmp-"
_OLD = ".old-"


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def replaced_file(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` atomically.

    On an error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{_TMP}")
    os.close(fd)
    try:
        os.chmod(tmp, mode)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically (temporary file + ``os.replace``)."""
    with replaced_file(path, mode=mode) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def set_aside(path: str | os.PathLike[str], *, stamp: str) -> Path | None:
    """Rename a damaged file to ``<name>.corrupt-<stamp>`` (kept for a look); its new path.

    ``None`` if it could not be renamed (then it is removed, so that it can be rebuilt).
    """
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, target)
        return target
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        return None


# --------------------------------------------------------------------------- folders


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file of a folder: ``.<name>.lock`` beside it."""
    target = Path(target).resolve()
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def folder_lock(target: str | os.PathLike[str], *, blocking: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of folder `target`; waits for it, or with ``blocking=False``
    raises `BlockingIOError` when another process holds it."""
    import fcntl  # POSIX only: importing this module must work everywhere

    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def replaced_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; on success it becomes `target`.

    The whole block runs under `folder_lock`. On an error (or Ctrl-C) the temporary folder is
    removed and `target` is left as it was.
    """
    target = Path(target).resolve()
    with folder_lock(target):
        _remove_leftovers(target)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{_TMP}"))
        try:
            os.chmod(tmp, 0o755)
            yield tmp
            _swap_into_place(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _remove_leftovers(target: Path) -> None:
    """Temporary and set-aside folders of writers that were killed (we hold the lock)."""
    for prefix in (_TMP, _OLD):
        for p in target.parent.glob(f".{target.name}{prefix}*"):
            log.info("removing %s, left by an interrupted write", p)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _swap_into_place(new: Path, target: Path) -> None:
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous folder
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{_OLD}"))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint)
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))  # the writer's OutputError names the folder

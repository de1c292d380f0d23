"""Atomic file writes: write to a temporary file in the target directory, then rename.

A crash or a kill leaves either the old file or the new one, never a half-written file. The new file gets the
permissions of the file it replaces, or those ``open()`` gives a new file (``0666`` less the umask), not the
temporary file's private ``0600``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_with"]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _final_mode(path))  # mkstemp makes the file private (0600)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only where /proc is missing)
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """The permissions the written file gets: those of the file it replaces, else ``0666 & ~umask``, what
    ``open()`` would have given a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def atomic_write_with(path: str | Path, writer: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``writer(tmp_path)`` then rename onto ``path`` (``suffix`` for writers that need an extension)."""
    with atomic_path(path, suffix) as tmp:
        writer(tmp)
    return Path(path)


def check_writable(directory: str | Path, owner: str, argument: str) -> Path:
    """Create ``directory`` if needed and write (then remove) a file in it, so that work whose results go there
    fails at once, not when it is done; a one-line ``PermissionError`` naming ``owner``'s ``argument``."""
    directory = Path(directory)
    probe = directory / ".gradlab-write-test"
    if directory.exists() and not directory.is_dir():
        raise PermissionError(f"{owner}: {argument} {str(directory)!r} is a file, not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(probe) as tmp:
            tmp.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"{owner}: {argument} {str(directory)!r} is not writable ({exc.strerror})") from None
    return directory

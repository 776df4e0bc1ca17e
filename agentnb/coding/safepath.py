"""Writing files under a folder that model code can also change, without ever leaving it.

Model code runs as the same user in ``work_dir``: it can plant a symlink (``output_3.png -> ~/.bashrc``,
``link -> /etc``) or a hard link where agentnb is about to write. Every write agentnb makes under
``work_dir`` goes through :func:`write_file`, which opens each path component relative to the one
before it with ``O_NOFOLLOW`` (no symlink is followed, not even in ``work_dir``'s own path after it
was resolved once), refuses files with other hard links, and creates new files exclusively on request.

    root = resolve_root("coding")                     # once, when the executor starts
    path = write_file(root, "plots/a.png", data, exclusive=True)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from ..errors import UnsafePathError

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_AT_SUPPORTED = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")


def resolve_root(work_dir: str | os.PathLike[str]) -> str:
    """Create ``work_dir`` if needed and return its real path (symlinks resolved once, now)."""
    path = os.path.abspath(os.fspath(work_dir))
    os.makedirs(path, exist_ok=True)
    return os.path.realpath(path)


def split_relative(name: str) -> list[str]:
    """The components of a relative path; refuses absolute paths and ``..``."""
    if not name or os.path.isabs(name) or name.startswith(("/", "\\")):
        raise UnsafePathError(f"{name!r} is not a relative path inside the work_dir")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise UnsafePathError(f"{name!r} points outside the work_dir")
    return parts


def _refuse(name: str, what: str) -> UnsafePathError:
    return UnsafePathError(f"refused to write {name!r}: {what}; agentnb never writes through links "
                           "out of the work_dir. Use a plain file name in the work_dir.")


def _open_dir(root: str, parts: list[str], name: str) -> int:
    """An fd of ``root/parts...``, each component opened without following symlinks (created if missing)."""
    root_parts = [p for p in root.split(os.sep) if p]
    fd = os.open("/", _DIR_FLAGS)
    try:
        for i, part in enumerate(root_parts + parts):
            inside = i >= len(root_parts)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not inside:
                    raise _refuse(name, f"the work_dir {root!r} is gone") from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = f"{part!r} is a symbolic link or not a folder" if inside else \
                        f"the work_dir {root!r} was replaced by a link"
                    raise _refuse(name, where) from None
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_file(root: str, name: str, data: bytes, *, exclusive: bool = False) -> str:
    """Write ``data`` to ``root/name`` and return that path; never through a symlink or hard link.

    ``exclusive`` raises ``FileExistsError`` if the file exists (also if it is a dangling link).
    """
    parts = split_relative(name)
    path = os.path.join(root, *parts)
    if not _AT_SUPPORTED:  # no openat(): resolve and check, then open without following the last link
        return _write_checked(root, path, name, data, exclusive)
    dir_fd = _open_dir(root, parts[:-1], name)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        if exclusive:
            flags |= os.O_EXCL
        try:
            fd = os.open(parts[-1], flags, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(name, f"{parts[-1]!r} is a symbolic link") from None
            raise
    finally:
        os.close(dir_fd)
    _write_fd(fd, name, data)
    return path


def _write_fd(fd: int, name: str, data: bytes) -> None:
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(name, "it is not a regular file")
        if info.st_nlink > 1:
            raise _refuse(name, "it is a hard link to another file")
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_checked(root: str, path: str, name: str, data: bytes, exclusive: bool) -> str:
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    real_parent = os.path.realpath(parent)
    if os.path.commonpath([real_parent, root]) != root:
        raise _refuse(name, "a folder on its path is a link out of the work_dir")
    if os.path.islink(path):
        raise _refuse(name, f"{os.path.basename(path)!r} is a symbolic link")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    if exclusive:
        flags |= os.O_EXCL
    _write_fd(os.open(path, flags, 0o644), name, data)
    return path

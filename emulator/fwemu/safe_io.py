"""Opening the files fwemu writes (`-o` outputs, the journal) without being tricked.

In a directory other users can write to (/tmp, any world- or group-writable or sticky
directory, or one owned by another user), a name fwemu is asked to write may be a link
someone else planted to a file of ours. There the final component is opened with
O_NOFOLLOW, and what was opened must be a regular file we own with one link, or nothing is
written. The file is truncated only after those checks. Elsewhere (a directory only we,
or root, can change) a symbolic link is ours, and is followed as usual.

Every refusal is a UsageError naming the option and the path, in one line (exit 2).
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable

from .errors import UsageError


def shared_dir(directory: str) -> bool:
    """True when someone other than us (or root) may create or replace names in it."""
    st = os.stat(directory)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_ISVTX):
        return True
    return st.st_uid not in (os.geteuid(), 0)


def open_output(path: str | os.PathLike[str], what: str, *, append: bool = False, perms: int = 0o666,
                _state: bool = False) -> int:
    """A descriptor open for writing on `path` (created if missing; truncated unless
    `append`, then every write goes to the end). Raises UsageError(what, ...)."""
    name = os.fspath(path)
    if "\0" in name:
        raise UsageError(what, "the path contains a NUL byte")
    directory = os.path.dirname(os.path.abspath(name))
    try:
        shared = shared_dir(directory)
    except OSError as exc:
        raise UsageError(what, f"cannot write {name}: directory {directory}: {exc.strerror}") from None
    flags = (os.O_RDWR if _state else os.O_WRONLY) | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    if not shared:
        try:
            return os.open(name, flags | (0 if append or _state else os.O_TRUNC), perms)
        except OSError as exc:
            raise UsageError(what, f"cannot write {name}: {exc.strerror}") from None
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, perms)
    except OSError as exc:
        if os.path.islink(name):
            raise UsageError(what, f"{name} is a symbolic link in {directory}, a directory other users "
                                   "can write to: not following it") from None
        raise UsageError(what, f"cannot write {name}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        why = None
        if not stat.S_ISREG(st.st_mode):
            why = "is not a regular file"
        elif st.st_uid != os.geteuid():
            why = f"is owned by uid {st.st_uid}, not by you"
        elif st.st_nlink != 1:
            why = f"has {st.st_nlink} hard links"
        if why:
            raise UsageError(what, f"{name} {why}, in {directory}, a directory other users can "
                                   "write to: not writing it")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        if not append and not _state:
            os.ftruncate(fd, 0)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise UsageError(what, f"cannot write {name}: {exc.strerror}") from None
        raise
    return fd


def open_state(path: str | os.PathLike[str], what: str, perms: int = 0o600) -> int:
    """A descriptor open for reading and writing on `path` (created if missing, never
    truncated), with open_output's checks: a state file fwemu reads back and rewrites."""
    return open_output(path, what, perms=perms, _state=True)


def write_output(path: str | os.PathLike[str], data: bytes | str, what: str) -> None:
    """Write the whole of `data` (str as UTF-8) to `path` through open_output."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = open_output(path, what)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise UsageError(what, f"cannot write {os.fspath(path)}: {exc.strerror}") from None
    finally:
        os.close(fd)


def make_parent(path: str | os.PathLike[str], what: str) -> None:
    """Create `path`'s directory (and its parents) if missing; UsageError on failure."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise UsageError(what, f"cannot create directory {parent}: {exc.strerror}") from None


def read_capped(path: str, limit: int, error: Callable[[str, str, str], Exception], what: str) -> bytes:
    """A whole input file of at most `limit` bytes (a board, a campaign): reading stops past
    the limit, so /dev/zero is an error, not an endless read. `error(path, "file", reason)`
    is raised for an unreadable or oversized file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error(path, "file", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(path, "file", f"holds more than {limit} bytes: not {what}")
    return raw

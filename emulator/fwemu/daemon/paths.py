"""Where a board's control socket lives, and the checks that keep another local user out:
a private runtime directory (ours, 0700), a socket that is ours, and the pid lock that lets
one daemon serve a board."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from pathlib import Path

from ..errors import UnreachableError

# ---- where the socket lives -------------------------------------------------------------
def _safe_name(board_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", board_name) or "board"


def runtime_dir() -> Path:
    """`$XDG_RUNTIME_DIR/fwemu`, else `${XDG_STATE_HOME:-~/.local/state}/fwemu/run`: never a
    fixed name in a shared directory such as /tmp, which another user could create first."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "fwemu"
    state = os.environ.get("XDG_STATE_HOME")
    if not (state and os.path.isabs(state)):
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "fwemu" / "run"


def socket_path(board_name: str) -> Path:
    return runtime_dir() / f"{_safe_name(board_name)}.sock"


def _lock_path(board_name: str) -> Path:
    return runtime_dir() / f"{_safe_name(board_name)}.pid"


def _lock_holder(board_name: str) -> str | None:
    """The pid of the daemon holding the board's lock (as the lock file says, "?" when it
    does not say), or None when no daemon holds it."""
    try:
        fd = os.open(_lock_path(board_name), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _ensure_private_dir(path: Path) -> None:
    """Create `path` 0700, or accept an existing one only if it is a real directory we own
    (in a shared directory someone else may have made it first); tighten its mode if needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
    except OSError as exc:
        for up in (path.parent, *path.parent.parents):
            if os.path.lexists(up):
                if not os.path.isdir(up):
                    raise UnreachableError(f"runtime directory {path}: {up} is not a directory "
                                           "(check XDG_RUNTIME_DIR / XDG_STATE_HOME)") from None
                break
        raise UnreachableError(f"runtime directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnreachableError(f"{path} exists and is not a directory; not using it for the control socket")
    if st.st_uid != os.getuid():
        raise UnreachableError(f"{path} is owned by uid {st.st_uid}, not by you; not using it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _private_socket(path: Path) -> bool:
    """Before a client connects: False when there is no socket (no daemon); True when the
    directory is a real directory of ours that nobody else can enter (mode 0700 or
    stricter) and the socket is ours; otherwise UnreachableError, and nothing is sent: a
    socket someone else could have placed may be served by anyone."""
    d = path.parent
    try:
        st = os.lstat(d)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise UnreachableError(f"runtime directory {d}: {exc.strerror}; not looking for a daemon there") from None
    uid = os.getuid()
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "is not a directory"
    elif st.st_uid != uid:
        why = f"is owned by uid {st.st_uid}, not by you (uid {uid})"
    elif stat.S_IMODE(st.st_mode) & 0o077:
        why = f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0700: other users can reach it"
    elif not os.access(d, os.R_OK | os.X_OK):
        why = f"has mode {stat.S_IMODE(st.st_mode):04o}: you cannot read it"
    if why:
        raise UnreachableError(f"runtime directory {d} {why}; not talking to a daemon through it "
                               "(remove it, or set XDG_RUNTIME_DIR to a directory of yours)")
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise UnreachableError(f"daemon socket {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise UnreachableError(f"daemon socket {path} is not a socket; not connecting")
    if st.st_uid != uid:
        raise UnreachableError(f"daemon socket {path} is owned by uid {st.st_uid}, not by you "
                               f"(uid {uid}); not connecting")
    return True



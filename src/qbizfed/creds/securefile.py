"""Private files: read only what this user alone owns and can read, write atomically.

A cache file holds live AWS credentials and maybe an OIDC refresh token, so:

- the directory is ``0700`` and the file ``0600``, both owned by the current user;
- a file owned by someone else, readable or writable by group/other, a symlink, or
  anything but a regular file is refused (:class:`InsecureCacheFileError`), never "fixed";
- writes go to a temporary file in the same directory that is then ``os.replace``d,
  so a reader sees the old or the new content, never half of one.

Light module: it is on the ``credential_process`` fast path.
"""

from __future__ import annotations

import os
import stat

from qbizfed.errors import ConfigError

MAX_FILE_BYTES = 256 * 1024
_POSIX = hasattr(os, "geteuid")


class InsecureCacheFileError(ConfigError):
    """A cache file or directory is not private to the current user."""


def _refuse(path: str, why: str) -> InsecureCacheFileError:
    return InsecureCacheFileError(
        f"refusing to use {path}: {why}",
        remedy=f"delete it (qbizfed logout, or rm {path}) and sign in again with qbizfed login; "
        "if you did not create it, someone else may have",
    )


def check_private(path: str, st: os.stat_result, *, is_dir: bool) -> None:
    """Raise :class:`InsecureCacheFileError` unless ``st`` is ours and closed to group/other."""
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    if not kind_ok:
        raise _refuse(path, "not a directory" if is_dir else "not a regular file")
    if not _POSIX:
        return
    if st.st_uid != os.geteuid():
        raise _refuse(path, f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()})")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        raise _refuse(path, f"mode {stat.S_IMODE(st.st_mode):04o} gives access to group/other")


def read_private(path: str) -> bytes | None:
    """The content of a private file, ``None`` if it does not exist.

    Refuses (raises :class:`InsecureCacheFileError`) symlinks, foreign-owned files and files
    with group/other permission bits, and a directory that is not private either.
    """
    directory = os.path.dirname(path) or "."
    try:
        dir_st = os.lstat(directory)
    except FileNotFoundError:
        return None
    check_private(directory, dir_st, is_dir=True)
    # O_NONBLOCK: opening a planted FIFO must not hang credential_process.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC if _POSIX else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise _refuse(path, "it is a symbolic link") from exc
        raise _refuse(path, exc.strerror or "cannot be opened") from exc
    try:
        st = os.fstat(fd)
        check_private(path, st, is_dir=False)
        if st.st_size > MAX_FILE_BYTES:
            raise _refuse(path, f"larger than {MAX_FILE_BYTES} bytes")
        chunks = []
        remaining = MAX_FILE_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > MAX_FILE_BYTES:
            raise _refuse(path, f"larger than {MAX_FILE_BYTES} bytes")
        return data
    finally:
        os.close(fd)


def ensure_private_dir(directory: str) -> None:
    """Create ``directory`` as ``0700`` (or tighten our own existing one); refuse foreign ones."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(directory, "not a directory")
    if _POSIX:
        if st.st_uid != os.geteuid():
            raise _refuse(directory, f"owned by uid {st.st_uid}, not by you")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(directory, 0o700)


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, as a ``0600`` file in a ``0700`` directory."""
    import contextlib
    import tempfile

    directory = os.path.dirname(path) or "."
    ensure_private_dir(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    try:
        if _POSIX:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if _POSIX:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def delete_private(path: str) -> bool:
    """Remove ``path`` if present (a symlink itself, never its target); ``True`` if removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True

"""Rewrite a user's text file (config files) atomically, keeping a backup and its mode."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from qbizfed.errors import ConfigError


def backup_path(path: str) -> str:
    return path + ".qbizfed-backup"


def replace_text_file(path: str, text: str, *, backup: bool) -> None:
    """Atomically replace ``path`` with ``text``; copy the old file to ``backup_path`` first.

    A new file is created ``0600`` (config files may hold account details); an existing
    one keeps its permission bits. A symlinked file (dotfile managers) is updated at its
    target, keeping the link; anything that is not a regular file (``/dev/null`` as
    ``AWS_CONFIG_FILE``, a FIFO) is refused rather than replaced.
    """
    path = os.path.realpath(path)
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise ConfigError(
            f"refusing to rewrite {path}: it is not a regular file",
            remedy="point the setting (e.g. AWS_CONFIG_FILE or QBIZFED_CONFIG) at a real file",
        )
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o600
    if backup and os.path.exists(path):
        shutil.copy2(path, backup_path(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".qbizfed-", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows keeps its ACL defaults
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""One deploy at a time: an exclusive, non-blocking ``fcntl`` lock on a lock file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from botguard.errors import BotguardError

__all__ = ["DeployLocked", "deploy_lock"]


class DeployLocked(BotguardError):
    """Another deploy-rules run holds the lock (cron overlap): this one does nothing."""


@contextmanager
def deploy_lock(path: Path) -> Iterator[None]:
    """Hold the lock for the block; released by the kernel even if the process is killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployLocked(f"another deploy-rules run holds the lock {path}") from None
        yield
    finally:
        os.close(fd)

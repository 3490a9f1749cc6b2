"""One deploy at a time: exclusive, non-blocking ``fcntl`` locks on lock files.

Two locks, both held for a whole ``deploy-rules`` run:

- the run lock (``<state file>.deploy.lock`` beside the state database, or ``deploy.lock`` in
  the config): two cron runs over one state database do not interleave, while the databases of
  other sites in the same directory have locks of their own;
- a lock file in every rules directory (:data:`DIR_LOCK`): runs that share a directory but
  not a state database (another ``--state``, another config) take turns on what they both
  write. Without it, one run's recovery would put back the other's backups mid-deploy.

A run that finds a lock taken stops with one line (exit 1) naming the lock's absolute path
before it writes anything: cron runs again soon, and waiting would pile runs up behind a stuck
one. A ``--dry-run`` writes nothing and takes neither lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from botguard.errors import BotguardError

__all__ = ["DIR_LOCK", "DeployLocked", "deploy_lock", "directory_locks", "state_lock"]

#: The lock file each rules directory gets (kept between runs, like ``deploy.lock``).
DIR_LOCK = ".botguard-deploy.lock"


class DeployLocked(BotguardError):
    """Another deploy-rules run holds the lock (cron overlap): this one does nothing."""


def state_lock(state: Path) -> Path:
    """The run lock of a state database: named after it, so each database has its own."""
    return state.with_name(f"{state.name}.deploy.lock")


@contextmanager
def deploy_lock(path: Path) -> Iterator[None]:
    """Hold the lock for the block; released by the kernel even if the process is killed."""
    path = path.absolute()  # messages name the file wherever the run was started
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BotguardError(f"cannot open the deploy lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployLocked(
                f"another deploy-rules run holds the lock {path}; nothing was changed "
                "(run again when it is done)"
            ) from None
        yield
    finally:
        os.close(fd)


@contextmanager
def directory_locks(directories: Iterable[Path]) -> Iterator[None]:
    """Hold the :data:`DIR_LOCK` of each existing directory (once, however it is spelled).

    A missing directory is left to the deploy step, which reports it for its target alone.
    """
    with ExitStack() as stack:
        for directory in sorted({d.resolve() for d in directories if d.is_dir()}):
            stack.enter_context(deploy_lock(directory / DIR_LOCK))
        yield

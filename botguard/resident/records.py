"""The resident server's records: a client's request as the server reads it, and what
``botguard daemon --status`` reports."""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass

from botguard.errors import BotguardError
from botguard.resident import _wire
from botguard.resident._wire import CONTEXT_FIELDS, LIMITS, MAGIC


class ResidentError(BotguardError):
    """The resident server cannot start, or cannot be reached where it must be (exit 1)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One command a client asks the server to run, with the process context it would have had.

    Read from a same-user socket, yet parsed strictly: a malformed request is refused whole.
    """

    code: bytes  # the client's code fingerprint (:func:`botguard.resident._wire.code_fingerprint`)
    umask: int
    groups: tuple[int, ...]  # effective group and supplementary groups, sorted
    cpus: tuple[int, ...]  # the cores it may run on (sched_getaffinity)
    nice: int
    limits: tuple[tuple[int, int], ...]  # (soft, hard) of each of _wire.LIMITS
    privileges: bytes  # capabilities, no_new_privs, seccomp, security label (_wire._privileges)
    namespaces: bytes  # namespaces and root directory (_wire._namespaces)
    argv: tuple[str, ...]  # sys.argv: the program name, then the arguments
    environ: dict[str, str]

    @classmethod
    def decode(cls, data: bytes) -> Request:
        """The request ``data`` holds (:func:`botguard.resident._wire.encode_request`); ValueError
        when it is not one."""
        fields = data.split(b"\0")
        head = 2 + len(CONTEXT_FIELDS) + 1
        if len(fields) < head + 1 or fields[0] != MAGIC:
            raise ValueError("not a botguard request")
        code, umask, groups, cpus, nice, limits, privileges, namespaces, count = fields[1:head]
        argc = int(count)
        if not 1 <= argc <= len(fields) - head:
            raise ValueError("bad argument count")
        argv, env_items = fields[head : head + argc], fields[head + argc :]
        if any(b"=" not in item for item in env_items):
            raise ValueError("bad environment entry")
        pairs = tuple(tuple(int(n) for n in pair.split(b":")) for pair in limits.split(b","))
        if len(pairs) != len(LIMITS) or any(len(pair) != 2 for pair in pairs):
            raise ValueError("bad limits")
        return cls(
            code=code, umask=int(umask, 8), groups=_numbers(groups),
            cpus=_numbers(cpus), nice=int(nice),
            limits=pairs,  # type: ignore[arg-type]  # each pair has two items: checked above
            privileges=privileges, namespaces=namespaces,
            argv=tuple(os.fsdecode(arg) for arg in argv), environ=_environ(env_items),
        )  # fmt: skip


def _numbers(field: bytes) -> tuple[int, ...]:
    return tuple(int(n) for n in field.split(b",") if n)


def _environ(items: list[bytes]) -> dict[str, str]:
    """``NAME=value`` entries as ``os.environ`` holds them: split at the first ``=``."""
    pairs = (item.split(b"=", 1) for item in items)
    return {os.fsdecode(name): os.fsdecode(value) for name, value in pairs}


@dataclass(frozen=True, slots=True)
class Start:
    """What the server fixed when it started, that a command's process must share with it."""

    code: bytes
    environment: dict[str, str]  # the variables read at start-up (_wire.import_time_environment)
    groups: tuple[int, ...]
    cpus: tuple[int, ...]
    nice: int
    limits: tuple[tuple[int, int], ...]  # hard limits a child can lower, not raise
    privileges: bytes
    namespaces: bytes

    @classmethod
    def of_request(cls, request: Request) -> Start:
        """What a client's process started with, as its request says."""
        return cls(
            code=request.code, environment=_wire.import_time_environment(request.environ),
            groups=request.groups, cpus=request.cpus, nice=request.nice, limits=request.limits,
            privileges=request.privileges, namespaces=request.namespaces,
        )  # fmt: skip

    @classmethod
    def of_this_process(cls, environ: Mapping[str, str]) -> Start:
        """This process's start (read as a client's request is read): ``environ`` is its
        environment as the user gave it."""
        env = {os.fsencode(name): os.fsencode(value) for name, value in environ.items()}
        data = _wire.encode_request(_wire.code_fingerprint(), _wire.process_context(), ["botguard"], env)
        return cls.of_request(Request.decode(data))


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What ``botguard daemon --status`` reports: who serves, since when, how many commands it
    ran and runs now, and what it started with (to say whether it would serve this process)."""

    pid: int
    started: float  # Unix time
    served: int  # commands run since it started
    running: int  # commands running now
    start: Start


def mismatch(client: Start, server: Start) -> str | None:
    """Why a server that started as ``server`` will not run a command of a process that started
    as ``client`` (the client then runs it itself, exactly as without a server), or None."""
    if client.code != server.code:
        return "code"
    if client.namespaces != server.namespaces:
        return "namespaces"  # its paths would name other files (a sandbox, a chroot, a container)
    if client.privileges != server.privileges:
        return "privileges"  # the child would have the server's capabilities, not fewer
    if client.environment != server.environment:
        return "environment"
    if client.groups != server.groups:
        return "groups"
    if client.cpus != server.cpus:
        return "cpus"
    if client.nice < server.nice:
        return "priority"  # a child can lower its priority, not raise it
    if any(_above(asked[1], own[1]) for asked, own in zip(client.limits, server.limits)):
        return "limits"
    if not all(_settable(soft, hard) for soft, hard in client.limits):
        return "limits"  # setrlimit would fail in the child, after the fork: refused before it
    return None


def _settable(soft: int, hard: int) -> bool:
    """Whether ``setrlimit`` takes (soft, hard): each is a size or RLIM_INFINITY, soft not above hard."""
    sizes = all(limit >= 0 or limit == resource.RLIM_INFINITY for limit in (soft, hard))
    return sizes and not _above(soft, hard)


def _above(limit: int, ceiling: int) -> bool:
    """Whether resource limit ``limit`` is above ``ceiling`` (RLIM_INFINITY is above all)."""
    if ceiling == resource.RLIM_INFINITY:
        return False
    return limit == resource.RLIM_INFINITY or limit > ceiling

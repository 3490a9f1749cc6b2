"""What the client and the resident server both know: where the socket is, what a request looks
like on the wire, and the fingerprint of the code a process runs.

Imported by the client before anything else of botguard, so it uses ``os`` and ``sys`` only:
no dataclass, no hashing, no regular expression (each would cost the client milliseconds).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping

#: First field of every request: a client of another protocol is refused, never misread.
MAGIC = b"botguard-resident/1"
#: Where the socket is when the user says so (tests, several servers on one host).
SOCKET_VARIABLE = "BOTGUARD_DAEMON_SOCKET"
#: Set (to anything but "" or "0"): every command runs in its own process, as without a server.
OPT_OUT_VARIABLE = "BOTGUARD_NO_DAEMON"
#: Largest request the server reads (argv, environment, fingerprint); a longer one is refused.
MAX_REQUEST = 1 << 20
SOCKET_NAME = "daemon.sock"
#: The process context fields of a request, in their order on the wire.
CONTEXT_FIELDS = (b"umask", b"groups", b"cpus", b"nice", b"limits", b"privileges", b"namespaces")
#: What /proc/PID/status says of a process's privileges: its user and group ids (real, effective,
#: saved, file system), groups, capabilities, no_new_privs, seccomp.
PRIVILEGE_LINES = (
    b"Uid", b"Gid", b"Groups", b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb", b"NoNewPrivs",
    b"Seccomp",
)  # fmt: skip
#: The namespaces a process sees the system through (files, network, host name, processes, users).
NAMESPACES = ("mnt", "net", "uts", "ipc", "pid", "user", "cgroup")
LOCK_NAME = "daemon.lock"
#: Variables read when a library or the interpreter starts (not when a command runs): the
#: server's child has them as the server started, so a client with other values is refused and
#: runs in its own process. Exact names, then prefixes.
IMPORT_TIME_NAMES = frozenset({"LANG", "LANGUAGE", "TZ", "GOTO_NUM_THREADS"})
IMPORT_TIME_PREFIXES = (
    "PYTHON", "LC_", "OPENBLAS_", "OMP_", "MKL_", "POLARS_", "RAYON_", "NUMPY_", "NPY_", "MALLOC_",
    "_RJEM_", "LD_",
)  # fmt: skip


def opted_out(environ: Mapping[str, str]) -> bool:
    """Whether the user asked for no resident server (``BOTGUARD_NO_DAEMON=1``)."""
    return environ.get(OPT_OUT_VARIABLE, "") not in ("", "0")


def socket_path(environ: Mapping[str, str]) -> str:
    """The server's socket: ``$BOTGUARD_DAEMON_SOCKET``, else ``$XDG_RUNTIME_DIR/botguard/``,
    else the cache directory's ``botguard/daemon/`` (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    explicit = environ.get(SOCKET_VARIABLE, "")
    if explicit:
        return explicit
    runtime = environ.get("XDG_RUNTIME_DIR", "").strip()
    if os.path.isabs(runtime):
        return os.path.join(runtime, "botguard", SOCKET_NAME)
    cache = environ.get("XDG_CACHE_HOME", "").strip()
    base = cache if os.path.isabs(cache) else os.path.expanduser("~/.cache")
    return os.path.join(base, "botguard", "daemon", SOCKET_NAME)


def private_directory(path: str) -> bool:
    """Whether ``path`` is a real directory (not a link) of this user that nobody else can enter."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def import_time_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that are read when the interpreter or a library starts."""
    return {
        name: value
        for name, value in environ.items()
        if name in IMPORT_TIME_NAMES or name.startswith(IMPORT_TIME_PREFIXES)
    }


def code_fingerprint(package: str | None = None) -> bytes:
    """What the code this process would run is: the interpreter, its flags, and the identity
    (inode, size, modification time) of every file of botguard and of every import directory.

    Two processes with the same fingerprint import the same modules. An upgrade of botguard,
    polars or numpy (pip rewrites files and adds or removes directories in site-packages) or an
    edited source file changes it; a checksum of every file would cost the client milliseconds.
    """
    package = package or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lines = [
        sys.executable, sys.version, repr(tuple(sys.flags)), repr(sys.warnoptions),
        repr(sorted(sys._xoptions.items())), package,
    ]  # fmt: skip
    # The script's own directory (a console script's bin/, `python -m`'s cwd) leads sys.path
    # unless -P: it differs between a client and the server without changing what botguard imports.
    lines += (f"path {entry} {_identity(entry)}" for entry in sys.path[0 if sys.flags.safe_path else 1 :])
    lines += _files(package, "")
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _files(directory: str, prefix: str) -> list[str]:
    """``file NAME IDENTITY`` of every file under ``directory`` (links followed: botguard/rules),
    bytecode aside, in name order."""
    lines = []
    with os.scandir(directory) as entries:
        ordered = sorted(entries, key=lambda entry: entry.name)
    for entry in ordered:
        name = prefix + entry.name
        if entry.is_dir():
            if entry.name != "__pycache__":
                lines += _files(entry.path, name + "/")
        elif not entry.name.endswith((".pyc", ".pyo")):
            lines.append(f"file {name} {_identity(entry.path)}")
    return lines


def _identity(path: str) -> str:
    """A file's inode, size and modification time (ns), or ``-`` when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return "-"
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


#: Resource limits a command runs under (``ulimit``): the server's child takes the client's.
LIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE")


def process_context() -> dict[bytes, bytes]:
    """What the kernel keeps per process that a command may depend on, beyond the working
    directory and the environment: umask, groups, the cores it may use (the allocator's arenas
    are sized by them when polars starts), its scheduling priority, its resource limits, its
    privileges (capabilities, seccomp, the security module's label) and the namespaces and root
    directory it sees files through. The server does not take the last two from a request: it
    reads them of the peer process itself (:mod:`botguard.resident._peer`), the same way."""
    import resource  # a small C module, only when a server is there to ask

    umask = os.umask(0o077)
    os.umask(umask)
    limits = (resource.getrlimit(getattr(resource, name)) for name in LIMITS)
    proc = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        privileges, namespaces = privileges_of(proc), namespaces_of(proc)
    finally:
        os.close(proc)
    return {
        b"umask": b"%o" % umask,
        b"groups": _numbers(sorted({os.getegid(), *os.getgroups()})),
        b"cpus": _numbers(sorted(os.sched_getaffinity(0))),
        b"nice": b"%d" % os.getpriority(os.PRIO_PROCESS, 0),
        b"limits": b",".join(b"%d:%d" % pair for pair in limits),
        b"privileges": privileges,
        b"namespaces": namespaces,
    }


def privileges_of(proc: int) -> bytes:
    """The privilege lines of the status of the process whose /proc directory ``proc`` is open
    on (ids, groups, capabilities, no_new_privs, seccomp) and its security module's label, as
    they are. OSError when its status cannot be read."""
    with open(os.open("status", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc), "rb") as status:
        lines = [line.strip() for line in status if line.split(b":", 1)[0] in PRIVILEGE_LINES]
    try:
        with open(os.open("attr/current", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc), "rb") as label:
            lines.append(label.read().strip(b"\0\n"))
    except OSError:  # no security module (or not readable: then it differs from the server's)
        lines.append(b"-")
    return b";".join(lines).replace(b"\0", b"")


def namespaces_of(proc: int) -> bytes:
    """Each namespace's identity and the root directory's (a chroot has another) of the process
    whose /proc directory ``proc`` is open on; ``-`` for what cannot be read."""
    names = []
    for kind in NAMESPACES:
        try:
            names.append(os.readlink(f"ns/{kind}", dir_fd=proc))
        except OSError:
            names.append(f"{kind}:-")
    try:
        info = os.stat("root", dir_fd=proc)
        root = f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"
    except OSError:
        root = "-"
    return os.fsencode(f"{';'.join(names)};root:{root}")


def _numbers(values: list[int]) -> bytes:
    return b",".join(b"%d" % value for value in values)


def encode_request(
    code: bytes, context: Mapping[bytes, bytes], argv: list[str], environ: Mapping[bytes, bytes]
) -> bytes:
    """One request: NUL-separated fields (no field can hold a NUL: argv, environment and paths
    cannot), the argument count before the arguments, the environment's ``NAME=value`` last.
    The working directory travels as a descriptor, with the standard streams."""
    head = [MAGIC, code, *(context[name] for name in CONTEXT_FIELDS), b"%d" % len(argv)]
    body = [os.fsencode(arg) for arg in argv] + [name + b"=" + value for name, value in environ.items()]
    return b"\0".join(head + body)

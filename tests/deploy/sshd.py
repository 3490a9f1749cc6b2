"""A real OpenSSH server (Debian's openssh-server) on a free 127.0.0.1 port, with a throwaway
host key and client key, letting this user (root in CI) in by key only."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.render.servers import free_port

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    ssh: list[str]  # the client command, options included

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextmanager
def running_sshd(workdir: Path) -> Iterator[Sshd]:
    if not Path(SSHD).exists() or shutil.which("ssh") is None:
        pytest.fail("sshd or ssh is missing: apt-get install openssh-server (tools/system-packages)")
    _keygen(workdir / "host_key")
    _keygen(workdir / "client_key")
    shutil.copy(workdir / "client_key.pub", workdir / "authorized_keys")
    port = free_port()
    (workdir / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir}/host_key\nPidFile {workdir}/sshd.pid\n"
        f"AuthorizedKeysFile {workdir}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(workdir / "sshd_config")], stderr=subprocess.PIPE)
    # no user or system ssh_config ("-F none"); the host key is learnt into the scratch directory
    ssh = ["ssh", "-F", "none", "-i", str(workdir / "client_key"), "-o", "BatchMode=yes", "-o",
           "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={workdir}/known_hosts"]  # fmt: skip
    user = getpass.getuser()
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(
            [*ssh, "-p", str(port), f"{user}@127.0.0.1", "true"], capture_output=True, check=False
        ).returncode:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"sshd did not start: {proc.communicate()[1]!r}")
            time.sleep(0.1)
        yield Sshd(port, user, ssh)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

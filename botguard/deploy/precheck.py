"""Check rendered files with the real server binary in a scratch prefix, before they go live.

The live validation (``nginx -t`` against the site's configuration) needs the new files in
place, so a run killed right after the swap could leave files no server has checked. This
check closes that gap: the files are first loaded by the same binary inside a minimal
configuration of their own (an ``http{}``/``server{}`` for nginx, a server config with the
needed modules for Apache). A kill after the swap then leaves files that parse; the live
check only adds conflicts with the site's own configuration.

Skipped (returns without checking) when the binary or Apache's modules are not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

from botguard.deploy._command import run
from botguard.deploy.files import DeployError, server_errors
from botguard.render.challenge import APACHE_ROUTING_MODULES
from botguard.render.records import RuleFile

__all__ = ["PRECHECKS", "Precheck", "PrecheckError"]

Precheck = Callable[[tuple[RuleFile, ...]], None]

APACHE_MODULES = Path("/usr/lib/apache2/modules")

#: The files' own include lines: each ``*_http.conf`` inside ``http {}`` and each ``*_server.conf``
#: inside ``server {}``, in the order the target renders them (block rules before the challenge).
_NGINX_CONF = """\
pcre_jit on;
error_log stderr warn;
pid nginx.pid;
events {{ }}
http {{
    access_log off;
{http}    server {{
        listen 127.0.0.1:1;
{server}    }}
}}
"""

_APACHE_CONF = """\
ServerRoot "{d}"
DefaultRuntimeDir {d}
PidFile {d}/apache2.pid
ErrorLog {d}/error.log
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule setenvif_module {m}/mod_setenvif.so
{modules}Listen 127.0.0.1:1
ServerName 127.0.0.1
{includes}"""


class PrecheckError(DeployError):
    """The server binary rejected the generated files on their own."""


def _check(name: str, argv: list[str]) -> None:
    done = run(argv, 120)
    if done.returncode != 0:
        raise PrecheckError(
            f"{name}: generated files rejected by {argv[0]} -t: {server_errors(done.stderr + done.stdout)}"
        )


def _nginx_conf(files: tuple[RuleFile, ...]) -> str:
    http = "".join(f"    include {{d}}/{f.name};\n" for f in files if f.name.endswith("_http.conf"))
    server = "".join(f"        include {{d}}/{f.name};\n" for f in files if f.name.endswith("_server.conf"))
    return _NGINX_CONF.replace("{http}", http).replace("{server}", server)


def _apache_conf(files: tuple[RuleFile, ...]) -> str:
    more = [f for f in files if f.name != "botguard.conf"]
    modules = (
        "".join(f"LoadModule {m}_module {{m}}/mod_{m}.so\n" for m in APACHE_ROUTING_MODULES) if more else ""
    )
    includes = "".join(f"Include {{d}}/{f.name}\n" for f in files)
    return _APACHE_CONF.replace("{modules}", modules).replace("{includes}", includes)


@contextmanager
def _scratch(name: str, files: tuple[RuleFile, ...], conf: str, text: str) -> Iterator[Path]:
    """A scratch directory holding ``files`` and the config ``conf``; removed afterwards.

    A failed write there (a full /tmp) stops the deploy with one line: nothing goes live unchecked.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="botguard-precheck-") as tmp:
            d = Path(tmp)
            for f in files:
                (d / f.name).write_text(f.text, encoding="ascii")
            (d / conf).write_text(text.format(d=d, m=APACHE_MODULES))
            yield d
    except OSError as exc:
        raise PrecheckError(f"{name}: cannot prepare the check of the generated files: {exc}") from None


def nginx_precheck(files: tuple[RuleFile, ...]) -> None:
    """``nginx -t`` on the files inside a scratch http{}/server{}."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        return
    with _scratch("nginx", files, "nginx.conf", _nginx_conf(files)) as d:
        _check("nginx", [binary, "-t", "-q", "-p", f"{d}/", "-c", str(d / "nginx.conf"), "-e", "stderr"])


def apache_precheck(files: tuple[RuleFile, ...]) -> None:
    """``apache2 -t`` on the file inside a scratch server config."""
    binary = shutil.which("apache2") or ("/usr/sbin/apache2" if Path("/usr/sbin/apache2").exists() else None)
    if binary is None or not (APACHE_MODULES / "mod_setenvif.so").exists():
        return
    with _scratch("apache", files, "apache2.conf", _apache_conf(files)) as d:
        _check("apache", [binary, "-t", "-d", str(d), "-f", str(d / "apache2.conf")])


#: Renderer name -> its standalone check.
PRECHECKS: Mapping[str, Precheck] = MappingProxyType({"nginx": nginx_precheck, "apache": apache_precheck})

"""The Apache setups where a blocked client gets the site's own answer, and what to write instead.

botguard's ``<If>`` holds the only ``Require`` of its file (``Require all denied``); with
Apache's default ``AuthMerging Off`` a later section with a ``Require`` of its own replaces it.
Two kinds of site configuration therefore drop the denial (README, "Only takes access away"):
a site ``<If>`` that grants and is merged after botguard's (a virtual host's ``<If>`` after a
server-wide include; an ``<If>`` inside a ``<Directory>`` or ``<Location>`` with either include
form), and ``Satisfy Any`` with mod_access_compat's ``Allow``, which skips authorization for
allowed addresses. The README's advice is checked here on real Apache: the include at the end
of each virtual host, ``Require expr`` instead of a granting ``<If>`` in a section, and
``<RequireAny>`` instead of ``Satisfy Any``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from botguard.render.apache import ApacheRenderer
from tests.render.conftest import standard_set
from tests.render.servers import CHROME, MODULES, _apache_user, running
from tests.render.test_servers import BYTESPIDER

MODULE_NAMES = ("mpm_event", "authz_core", "authz_host", "setenvif", "remoteip", "access_compat", "authn_core",
                "authn_file", "auth_basic", "authz_user")  # fmt: skip
#: A client inside the site's Allow/Require ip network (it arrives through X-Forwarded-For).
INSIDE = "10.1.2.3"

SITE = """\
ServerRoot "{prefix}"
DefaultRuntimeDir run
PidFile run/apache2.pid
ErrorLog logs/error.log
LogLevel warn
{modules}
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.0/8
{user}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{server_include}
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    DocumentRoot "{prefix}/htdocs"
    <Directory "{prefix}/htdocs">
        Require all granted
    </Directory>
    <If "%{{REQUEST_URI}} =~ m#^/vhost-if/#">
        Require all granted
    </If>
    <Directory "{prefix}/htdocs/directory-if">
        <If "-n %{{HTTP_USER_AGENT}}">
            Require all granted
        </If>
    </Directory>
    <Location "/location-if">
        <If "-n %{{HTTP_USER_AGENT}}">
            Require all granted
        </If>
    </Location>
    <Directory "{prefix}/htdocs/require-expr">
        Require expr "-n %{{HTTP_USER_AGENT}}"
    </Directory>
    <Location "/satisfy-any">
        AuthType Basic
        AuthName "site"
        AuthUserFile "{prefix}/htpasswd"
        Require valid-user
        Order deny,allow
        Deny from all
        Allow from 10.0.0.0/8
        Satisfy Any
    </Location>
    <Location "/require-any">
        AuthType Basic
        AuthName "site"
        AuthUserFile "{prefix}/htpasswd"
        <RequireAny>
            Require ip 10.0.0.0/8
            Require valid-user
        </RequireAny>
    </Location>
{vhost_include}
</VirtualHost>
"""

#: path -> what a blocked client from INSIDE gets with the include (at the end of the virtual
#: host, server-wide). 200 is the site's own answer: botguard's denial was dropped.
BLOCKED = {
    "/plain/f.txt": (403, 403),
    "/vhost-if/f.txt": (403, 200),  # a granting <If> of the virtual host: include at its end
    "/directory-if/f.txt": (200, 200),  # a granting <If> inside a section: either form
    "/location-if/f.txt": (200, 200),
    "/require-expr/f.txt": (403, 403),  # the same condition as Require expr: denied
    "/satisfy-any/f.txt": (200, 200),  # Satisfy Any + Allow skips authorization
    "/require-any/f.txt": (403, 403),  # the same access as <RequireAny>: denied
}


def _site(include: str) -> Callable[[str, Path, int], None]:
    def write(kind: str, prefix: Path, port: int) -> None:
        for path in BLOCKED:
            directory = prefix / "htdocs" / path.split("/")[1]
            directory.mkdir()
            os.chmod(directory, 0o755)
            (directory / "f.txt").write_text("site\n")
        (prefix / "htpasswd").write_text("")
        os.chmod(prefix / "htpasswd", 0o644)
        line = "Include botguard/*.conf"
        (prefix / "apache2.conf").write_text(SITE.format(
            prefix=prefix, port=port, user=_apache_user(),
            modules="\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in MODULE_NAMES),
            server_include=line if include == "server" else "", vhost_include="    " + line if include == "vhost" else "",
        ))  # fmt: skip

    return write


@pytest.mark.parametrize("include", ["vhost", "server"])
def test_which_site_sections_drop_the_denial(include: str) -> None:
    """A blocked agent from INSIDE gets 403 or, in the setups the README names, the site's 200;
    the same request with a browser agent always gets the site's own answer."""
    files = {f.name: f.text for f in ApacheRenderer().render(standard_set())}
    column = 0 if include == "vhost" else 1
    with running("apache", files, _site(include)) as srv:
        blocked = {path: srv.get(path, ua=BYTESPIDER, source=INSIDE) for path in BLOCKED}
        browser = {path: srv.get(path, ua=CHROME, source=INSIDE) for path in BLOCKED}
    assert blocked == {path: want[column] for path, want in BLOCKED.items()}
    assert browser == dict.fromkeys(BLOCKED, 200)

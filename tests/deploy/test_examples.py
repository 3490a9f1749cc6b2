"""The shipped nginx/ and apache/ snippets work with real servers and generated rules."""

from __future__ import annotations

from pathlib import Path

from botguard.decide import Decision, DecisionSet, Match
from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.render.servers import APACHE, MODULES, NGINX, check, scratch_prefix

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = DecisionSet.of(
    [Decision("block", Match("ua_pattern", "Bytespider")), Decision("block", Match("ip", "192.0.2.1"))]
)


def test_nginx_snippets_pass_nginx_t() -> None:
    """nginx-main.conf + http.conf + site-example.conf, paths moved into a prefix, pass `nginx -t`."""
    with scratch_prefix("nginx") as prefix:
        rules = prefix / "botguard"
        for f in NginxRenderer().render(DECISIONS):
            (rules / f.name).write_text(f.text)

        def local(name: str) -> str:
            text = (ROOT / "nginx" / name).read_text().replace("/etc/nginx/botguard", str(rules))
            return text.replace("listen 80;", "listen 127.0.0.1:18081;").replace(
                "/var/www/html", str(prefix / "html")
            )

        conf = (local("nginx-main.conf") + f"pid {prefix}/nginx.pid;\nerror_log stderr warn;\nevents {{ }}\n"
                f"http {{\n access_log off;\n{local('http.conf')}\n{local('site-example.conf')}\n}}\n")  # fmt: skip
        (prefix / "nginx.conf").write_text(conf)
        done = check([NGINX, "-t", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", "stderr"])
        assert done.returncode == 0 and "[warn]" not in done.stderr, done.stderr


def test_apache_site_example_passes_apache_t() -> None:
    """site-example.conf with the generated file passes `apache2 -t`."""
    with scratch_prefix("apache") as prefix:
        rules = prefix / "botguard"
        for f in ApacheRenderer().render(DECISIONS):
            (rules / f.name).write_text(f.text)
        site = (
            (ROOT / "apache" / "site-example.conf").read_text().replace("/etc/apache2/botguard", str(rules))
        )
        site = site.replace("*:80", "127.0.0.1:18082").replace("/var/www/html", str(prefix / "htdocs"))
        mods = "".join(
            f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in ("mpm_event", "authz_core", "setenvif")
        )
        (prefix / "apache2.conf").write_text(
            f'ServerRoot "{prefix}"\nDefaultRuntimeDir run\nPidFile run/a.pid\nErrorLog logs/error.log\n{mods}'
            f"Listen 127.0.0.1:18082\nServerName 127.0.0.1\n{site}"
        )
        done = check([APACHE, "-t", "-d", str(prefix), "-f", str(prefix / "apache2.conf")])
        assert done.returncode == 0, done.stderr

"""Records the deploy stage uses: a target to deploy to, and what happened to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botguard.config import ServeSettings
from botguard.keyring import Keyring
from botguard.render import renderers
from botguard.render.base import Renderer
from botguard.render.records import RuleFile

__all__ = ["Impact", "ImpactRow", "RemoteTarget", "Rendering", "Target", "TargetOutcome"]


@dataclass(frozen=True, slots=True)
class Target:
    """One web server: where its rule files go, how to render them, check and reload it."""

    name: str
    dir: Path
    renderer: Renderer
    validate: tuple[str, ...]
    reload: tuple[str, ...]
    #: Standalone check of the rendered files before they go live (None: skip).
    precheck: Callable[[tuple[RuleFile, ...]], None] | None = None
    #: URL that must answer after the reload (None: no probe).
    probe: str | None = None
    #: The keyring of the host's own serve (``deploy.hosts[].secret``), copied once the files are live.
    secret: Path | None = None


@dataclass(frozen=True, slots=True)
class Rendering:
    """Everything besides the decisions that a server's files are rendered from: the throttle
    policy (nginx), where serve listens and how it binds passes, and the keyring the challenge
    routing carries (None: block rules only). A host over SSH gets these and the decisions, never
    files, and renders the same bytes with :meth:`renderer`."""

    rate: int
    burst: int
    serve: ServeSettings
    keyring: Keyring | None = None

    def renderer(self, server: str) -> Renderer:
        """``server``'s renderer (``nginx`` or ``apache``), challenge routing included with a keyring."""
        return renderers(self.rate, self.burst, keyring=self.keyring, serve=self.serve)[server]


@dataclass(frozen=True, slots=True)
class RemoteTarget:
    """A web server on another machine, reached over SSH: botguard there receives the decisions,
    renders the files itself and runs the same deploy (lock, journal, precheck, validate, swap,
    reload, rollback)."""

    name: str
    url: str  # ssh://USER@HOST:PORT/PATH, as configured (for messages)
    destination: str  # USER@HOST
    port: int
    dir: str  # the rules directory on the host
    server: str  # nginx | apache
    rendering: Rendering
    validate: tuple[str, ...]
    reload: tuple[str, ...]
    probe: str | None = None
    ssh: tuple[str, ...] = ("ssh", "-o", "BatchMode=yes")
    botguard: tuple[str, ...] = ("botguard",)
    secret: str | None = None  # the keyring of serve on the host (a path there)


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """What deploy did for one target: ``changed`` files, recovered, validated and reloaded or not."""

    target: str
    dir: Path | str  # a local directory, or the ssh:// URL of a remote one
    changed: tuple[str, ...]
    diff: str
    validated: bool
    reloaded: bool
    #: A killed run's journal was found: its previous files were put back (and reloaded) first.
    recovered: bool = False
    #: What deployed but will not work as meant (an Apache without the challenge routing's modules).
    warnings: tuple[str, ...] = ()
    #: The pass secret was copied to the host's serve (it had another or none).
    secret_copied: bool = False

    @property
    def summary(self) -> str:
        """What a real run did, for people: e.g. "updated botguard.conf, reloaded"."""
        done = [f"updated {', '.join(self.changed)}"] if self.changed else []
        if self.recovered:
            done.insert(0, "restored the files an interrupted deploy had replaced")
        copied = ["copied the pass secret to its serve"] if self.secret_copied else []
        return ", ".join([*(done or ["unchanged"]), "reloaded" if self.reloaded else "not reloaded", *copied])


@dataclass(frozen=True, slots=True)
class ImpactRow:
    """Clients and requests of one kind of traffic the decisions would block (or challenge)."""

    group: str  # humans | verified good bots | crawlers
    clients: int
    requests: int
    blocked_clients: int
    blocked_requests: int
    challenged_clients: int = 0  # challenged and not blocked
    challenged_requests: int = 0


@dataclass(frozen=True, slots=True)
class Impact:
    """The scanned traffic replayed through a decision set."""

    rows: tuple[ImpactRow, ...]
    examples: tuple[str, ...]  # blocked humans / verified good bots, for the warning
    #: Challenged clients that browse like people (load assets or follow links), or that per-client
    #: rules left alone and a rule for another client catches (a shared address).
    challenged_people: int = 0

    @property
    def challenged(self) -> int:
        """Clients the decisions would challenge (and not block)."""
        return sum(r.challenged_clients for r in self.rows)

    @property
    def dangerous(self) -> bool:
        """True when a human or a verified good bot would be blocked."""
        return any(r.blocked_clients for r in self.rows if r.group != "crawlers")

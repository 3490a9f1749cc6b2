"""Serve stage: ``botguard serve``, the challenge tier (see ``README.md`` beside this file).

``run_serve`` is the verb; ``create_app`` the aiohttp application; ``render_nginx`` /
``render_apache`` the server files that send challenged clients to it and check passes natively.
"""

from botguard.serve._keyring import (
    GRACE,
    ServeError,
    default_secret_path,
    load,
    load_or_create,
    rotate,
    secret_path,
)
from botguard.serve.app import ServeEnv, create_app, run_serve
from botguard.serve.probe import serve_answers
from botguard.serve.records import ChallengeTargets, Key, Keyring, PassCookies, ServeReport, ServeRequest
from botguard.serve.render import (
    ChallengeRenderer,
    challenge_targets,
    render_apache,
    render_nginx,
    write_files,
)

__all__ = [
    "GRACE", "ChallengeRenderer", "ChallengeTargets", "Key", "Keyring", "PassCookies", "ServeEnv",
    "ServeError", "ServeReport", "ServeRequest", "challenge_targets", "create_app",
    "default_secret_path", "load", "load_or_create", "render_apache", "render_nginx", "rotate",
    "run_serve", "secret_path", "serve_answers", "write_files",
]  # fmt: skip

"""Serve stage: ``botguard serve``, the challenge tier (see ``README.md`` beside this file).

``run_serve`` is the verb; ``create_app`` the aiohttp application. The keyring it signs with is
:mod:`botguard.keyring`'s and the server files that send challenged clients here are rendered by
:mod:`botguard.render.challenge`: deploy-rules takes both from there, not from serve.
"""

from botguard.serve.app import ServeEnv, create_app, run_serve
from botguard.serve.records import PassCookies, ServeError, ServeReport, ServeRequest

__all__ = ["PassCookies", "ServeEnv", "ServeError", "ServeReport", "ServeRequest", "create_app", "run_serve"]

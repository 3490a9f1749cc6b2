"""The scan -> deploy tests run against the deploy stage's servers: a running nginx or Apache."""

from tests.deploy.conftest import site

__all__ = ["site"]

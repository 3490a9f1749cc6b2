"""Opening a report in headless Chromium: what went wrong on the page, and what it drew.

The browser is Debian's Chromium driven by playwright (:mod:`tests.serve.browser`); screenshots
go to ``tests/report/artifacts/`` (gitignored), where CI keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Dialog, Error, Page, Request

ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Watched:
    """Everything the page did that it must not: errors, CSP violations, dialogs, requests."""

    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def watch(page: Page, *, allow_prefix: str = "file://") -> Watched:
    """Record the page's console errors, CSP violations, dialogs and requests outside ``allow_prefix``."""
    seen = Watched()

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.csp.append(message.text)
        elif message.type == "error":
            seen.errors.append(message.text)

    def page_error(error: Error) -> None:
        seen.errors.append(f"page error: {error}")

    def dialog(shown: Dialog) -> None:
        seen.dialogs.append(shown.message)
        shown.dismiss()

    def request(sent: Request) -> None:
        if not sent.url.startswith(allow_prefix):
            seen.requests.append(sent.url)

    page.on("console", console)
    page.on("pageerror", page_error)
    page.on("dialog", dialog)
    page.on("request", request)
    return seen


def charts(page: Page) -> dict[str, int]:
    """Each chart's name and the count of drawn SVG shapes in it."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('figure.chart')].map(f =>
            [f.dataset.chart, f.querySelectorAll('svg rect, svg path, svg polyline, svg line, svg circle').length]))"""
    )


def shown(page: Page) -> int:
    """How many clients the table's filter lets through (the script writes it on the table)."""
    return int(page.locator("#bg-clients-table").get_attribute("data-shown") or "-1")


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

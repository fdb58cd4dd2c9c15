"""Open an HTML report in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Playwright's own browser download is not used: the system binary is launched with flags that keep it
off the network. ``open_report`` records console errors and every request the page makes, checks that
each ``<img>`` decoded, counts table rows and saves a full-page screenshot as a test artefact.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARTEFACTS = Path(os.environ.get("NOISEREG_TEST_ARTEFACTS", Path(__file__).resolve().parents[1] / "test-artefacts"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_binary() -> str | None:
    """The system Chromium (the Debian package installs /usr/bin/chromium), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What the browser saw: console errors, requests other than the report itself, image widths,
    rows per table (by CSS selector) and the screenshot's path."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    image_widths: list[int] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    screenshot: Path | None = None
    page: Any = None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; skipped (with the reason) only where no binary exists."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium binary (install the Debian package: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=binary, args=FLAGS)
        yield b
        b.close()


def open_report(browser: Any, path: Path, name: str, tables: dict[str, str]) -> PageCheck:
    """Load ``path`` from disk and check it as a reader's browser would; ``tables`` maps a label to a CSS
    selector whose matching rows are counted."""
    check = PageCheck()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: check.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: check.errors.append(str(e)))
    url = path.resolve().as_uri()
    page.on("request", lambda r: check.requests.append(r.url) if r.url != url else None)
    page.goto(url, wait_until="load")
    check.image_widths = page.evaluate("Array.from(document.images, i => i.complete ? i.naturalWidth : 0)")
    check.rows = {label: page.locator(sel).count() for label, sel in tables.items()}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    check.screenshot = ARTEFACTS / f"report-{name}.png"
    page.screenshot(path=str(check.screenshot), full_page=True)
    check.page = page
    return check


def assert_clean_page(check: PageCheck, min_images: int) -> None:
    """No console error, no network request, every image decoded, a screenshot written."""
    assert not check.errors, check.errors
    assert not check.requests, f"the report fetched {check.requests}"
    assert len(check.image_widths) >= min_images, check.image_widths
    assert all(w > 0 for w in check.image_widths), check.image_widths
    assert check.screenshot is not None and check.screenshot.stat().st_size > 10_000

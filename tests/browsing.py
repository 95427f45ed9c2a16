"""A real browser for the web report's tests: Debian's headless chromium (/usr/bin/chromium,
installed by make setup), driven by Playwright, on a laptop-sized page that records console
errors, failed loads and dialogs, and leaves screenshots (the test's tmp dir, copied to
/tmp/report-shots/ to look at). conftest.py's `browser` and `visit` fixtures hand them to
tests/test_report_browser.py (a made-up ledger) and tests/test_report_of_real_runs.py (the
ledger of real runs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from bench.report import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path("/tmp/report-shots")  # noqa: S108 - a place a person can find them, on purpose


@contextmanager
def launched() -> Iterator[Browser]:
    """Debian's chromium, headless, for as long as the block runs."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: make setup installs Debian's chromium"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """One laptop-sized page that records console errors, failed loads and dialogs."""

    def __init__(self, browser: Browser, shots: Path) -> None:
        self.page: Page = browser.new_page(viewport={"width": 1366, "height": 768})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.shots = shots
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(str(getattr(dialog, "message", dialog)))
        dialog.dismiss()  # type: ignore[attr-defined]

    def overflow(self) -> int:
        """How many pixels the page is wider than the window (0: no sideways scrolling)."""
        return int(self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))

    def shot(self, name: str, *, full: bool = False) -> None:
        path = self.shots / f"{name}.png"
        if full:  # from the top: the sticky header stays where it belongs
            self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=full)
        SHOTS.mkdir(exist_ok=True)
        shutil.copyfile(path, SHOTS / path.name)

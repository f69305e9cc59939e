"""Real Chromium against a real ``kizuna hub serve`` process: log in, browse, look at the page.

Chromium is Debian's ``chromium`` (installed by scripts/test), driven by the ``playwright`` package with
``executable_path``; no browser is ever downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kizuna.hub.client import HubClient
from kizuna.stix.markings import TLP, tlp_of
from tests.conftest import RunningHub
from tests.web.sample import MALICIOUS_NAME, sample_objects, sid

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


def _enforced(marked: TLP | None, default: TLP) -> TLP:
    """The reference's rule: an object's own TLP marking, else its collection's default."""
    return default if marked is None else marked


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


def test_log_in_browse_and_screenshot(kizuna_hub: RunningHub, browser: Any, tmp_path: Path) -> None:
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as client:
        status = client.add_objects(kizuna_hub.collection_id, sample_objects())
    assert status["failure_count"] == 0, status["failures"]
    base = f"http://127.0.0.1:{kizuna_hub.port}"

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    # a CSP violation (blocked stylesheet, image or script) is logged as a console error
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def on_dialog(dialog: Any) -> None:  # an alert() would mean injected script ran
        problems.append("dialog: " + dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    # not logged in: sent to the login page; a wrong token is refused with a clear message
    page.goto(base + "/ui/")
    page.wait_for_selector("input#token")
    assert "/ui/login" in page.url
    page.fill("input#token", "kzn_not-a-real-token")
    page.click("button[type=submit]")
    assert "unknown or has been revoked" in page.inner_text("p.error")
    problems.clear()  # the 401 above is logged by Chromium as a failed resource; expected

    # the reader (ceiling AMBER, not a RED recipient) logs in and opens the collection
    page.fill("input#token", kizuna_hub.reader_token)
    page.click("button[type=submit]")
    page.wait_for_selector("header .org")
    assert page.inner_text("header .org") == kizuna_hub.reader_org
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    page.click(f"a[href='/ui/collections/{kizuna_hub.collection_id}']")
    page.wait_for_selector("table.objects tbody tr")
    page.wait_for_selector("svg.chart rect.tlp-amber")

    html = page.content()
    assert sid("indicator", 3) in html  # AMBER: readable by the collection's readers
    assert sid("indicator", 300) not in html  # RED without naming the reader: never shown
    assert MALICIOUS_NAME not in html and "alert('xss')" in page.inner_text("table.objects")
    # the reader's ceiling is AMBER (unmarked objects take the collection default, AMBER): the same rule
    # written plainly, against what the page lists
    readable = {o["id"] for o in sample_objects() if _enforced(tlp_of(o), TLP.AMBER) <= TLP.AMBER}
    listed = set(page.locator("table.objects tbody tr code").all_inner_texts())
    assert listed == readable

    # the stylesheet loaded under the CSP: badges are FIRST TLP 2.0 colours on black
    green = page.locator("table.objects .tlp-green").first
    assert green.evaluate("e => getComputedStyle(e).color") == "rgb(51, 255, 0)"
    assert green.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 0, 0)"

    shot = tmp_path / "collection.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000

    # one object: versions and escaped JSON; no script ran anywhere
    page.click(f"a[href$='/objects/{sid('indicator', 200)}/']")
    page.wait_for_selector("pre.json")
    assert "<script>alert(" not in page.content()
    assert MALICIOUS_NAME in page.inner_text("pre.json")
    page.screenshot(path=str(tmp_path / "object.png"), full_page=True)

    # log out: the session is gone, the UI sends the browser back to the login page
    page.click("header button.link")
    page.wait_for_selector("input#token")
    page.goto(base + f"/ui/collections/{kizuna_hub.collection_id}")
    page.wait_for_selector("input#token")
    assert problems == []


def test_login_returns_to_the_filtered_page(kizuna_hub: RunningHub, browser: Any) -> None:
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as client:
        client.add_objects(kizuna_hub.collection_id, sample_objects())
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"http://127.0.0.1:{kizuna_hub.port}/ui/collections/{kizuna_hub.collection_id}?type=indicator")
    page.fill("input#token", kizuna_hub.token)  # the producer: ceiling RED, sees its own RED indicator
    page.click("button[type=submit]")  # back to the page asked for, filter included
    page.wait_for_selector("table.objects .tlp-red")
    assert sid("indicator", 300) in page.content()
    assert set(page.locator("table.objects td.type").all_inner_texts()) == {"indicator"}
    assert page.locator("table.objects .tlp-red").first.inner_text() == str(TLP.RED)

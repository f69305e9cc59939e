"""The analysts' UI in real Chromium against a real ``kizuna hub serve`` process over the demo's data.

Chromium is Debian's ``chromium`` driven by the ``playwright`` package (no browser is downloaded); axe-core
comes from the ``axe-playwright-python`` package, which ships its script. One server and one browser serve
the whole module.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kizuna.hub.client import HubClient
from kizuna.hub.demo import SCANNER_INDICATOR, SCANNER_IP, build_demo
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.conftest import free_port, start_hub_process
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")

BULK = 10_000


@dataclass
class Served:
    base: str
    tokens: dict[str, str]
    collections: dict[str, str]
    bulk_ids: list[str]
    evil_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("analyst")
    hub = build_demo(work)
    bulk = hub.store.add_collection("Bulk feed", alias="bulk", readers=["uk-ncsc"], writers=["uk-ncsc"])
    hub.collections[bulk.title] = bulk.id
    hub.store.close()
    port = free_port()
    proc = start_hub_process(hub.db_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        green = TLP2_IDS[TLP.GREEN]
        objs = [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z",
                "name": f"bulk {i}",
                "pattern": f"[ipv4-addr:value = '10.{i // 65536}.{i // 256 % 256}.{i % 256}']",
                "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00.000Z",
                "object_marking_refs": [green],
            }
            for i in range(BULK)
        ]
        evil = {
            "type": "malware",
            "spec_version": "2.1",
            "id": f"malware--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "name": "<script>alert(1)</script>",
            "description": "<img src=x onerror=alert(2)>",
            "is_family": False,
            "external_references": [{"source_name": "evil", "url": "javascript:alert(3)"}],
            "object_marking_refs": [green],
        }
        with HubClient(base + "/api/", hub.tokens["uk-ncsc"]) as client:
            for i in range(0, BULK, 2000):
                status = client.add_objects(bulk.id, objs[i : i + 2000])
                assert status["failure_count"] == 0
            assert client.add_objects(hub.collections["UK-Japan CNI threats"], [evil])["failure_count"] == 0
        yield Served(base, hub.tokens, hub.collections, [o["id"] for o in objs], evil["id"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """A page signed in as one organisation, with every console error, page error and dialog recorded (a
    CSP violation is logged as a console error; an alert() would mean injected script ran)."""

    def __init__(self, browser: Any, served: Served, org: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.base = served.base
        self.page.goto(self.base + "/ui/login")
        self.page.fill("input#token", served.tokens[org])
        self.page.click("main button[type=submit]")
        self.page.wait_for_selector("header .org")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append("dialog: " + dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def ids(self) -> list[str]:
        return list(self.page.eval_on_selector_all("tr[data-stix-id]", "rs => rs.map(r => r.dataset.stixId)"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def uk(browser: Any, served: Served) -> Iterator[Watch]:
    w = Watch(browser, served, "uk-ncsc")
    yield w
    w.close()


def test_search_by_value_and_by_text_and_every_filter(uk: Watch, served: Served) -> None:
    page = uk.page
    page.fill("#quick-q", SCANNER_IP)
    page.press("#quick-q", "Enter")
    page.wait_for_selector("#total")
    assert len(uk.ids()) == 2 and "Exact look-up" in page.inner_text("main")
    page.fill("#f-q", "Modbus scanner")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#total")
    assert SCANNER_INDICATOR in uk.ids()
    cni = served.collections["UK-Japan CNI threats"]
    uk.go(f"/ui/collections/{cni}")
    total = len(uk.ids())
    for select, value in (
        ("#f-type", "threat-actor"),
        ("#f-tlp", "red"),
        ("#f-producer", "org:jp-nisc"),
        ("#f-hub", "this"),
        ("#f-revoked", "yes"),
    ):
        uk.go(f"/ui/collections/{cni}")
        page.select_option(select, value)
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("#total")
        got = uk.ids()
        assert 0 < len(got) <= total, (select, value)
        assert value in page.url.replace("%3A", ":").replace("%2B", "+"), page.url
    uk.go(f"/ui/collections/{cni}")
    page.fill("#f-after", "2999-01-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#total")
    assert uk.ids() == []
    page.fill("#f-after", "")
    page.fill("#f-before", "2999-01-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#total")
    assert len(uk.ids()) == total
    assert uk.problems == []


def test_paging_to_the_end_of_a_10000_object_collection(uk: Watch, served: Served) -> None:
    page = uk.go(f"/ui/collections/{served.collections['Bulk feed']}")
    page.select_option("#f-size", "500")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#total")
    assert page.inner_text("#total").startswith("10,000")
    seen: list[str] = []
    for _ in range(30):
        seen += uk.ids()
        nxt = page.query_selector("a[rel=next]")
        if nxt is None:
            break
        nxt.click()
        page.wait_for_selector("#total")
    assert len(seen) == BULK and seen == served.bulk_ids  # none lost, none repeated, in the order added
    assert uk.problems == []


def test_object_page_versions_and_diff(uk: Watch) -> None:
    page = uk.go("/ui/search?q=192.0.2.254")  # the demo's revoked indicator: two versions
    page.click("table.objects tbody a")
    page.wait_for_selector("#versions")
    assert page.locator("#versions + form tbody tr").count() == 2
    page.click("text=Compare field by field")
    page.wait_for_selector("table.diff")
    changed = page.locator("table.diff tr.added th, table.diff tr.changed th").all_inner_texts()
    assert "revoked" in changed and "modified" in changed
    assert uk.problems == []


def test_a_uk_japan_disagreement(uk: Watch) -> None:
    page = uk.go("/ui/disagreements/")
    page.click(f"text={SCANNER_IP}")
    page.wait_for_selector("table.side")
    heads = page.locator("table.side thead th").all_inner_texts()
    assert any("uk-ncsc" in h for h in heads) and any("jp-nisc" in h for h in heads)
    differing = page.locator("table.side tr.differs th").all_inner_texts()
    assert any(t.startswith("confidence") and "differs" in t for t in differing)
    page.goto(uk.base + f"/ui/objects/{SCANNER_INDICATOR}/")
    assert "other report describes this differently" in page.inner_text("main")
    assert uk.problems == []


def test_the_sightings_dashboard(uk: Watch) -> None:
    page = uk.go("/ui/sightings/")
    row = page.locator(f"tr[data-stix-id='{SCANNER_INDICATOR}']")
    cells = row.locator("td.num").all_inner_texts()
    assert cells[:2] == ["11", "33"] and cells[2] == "2"  # 11 sightings, count 33, by 2 organisations
    assert row.locator("svg.spark polyline").count() == 1
    page.click("text=Stale indicators")
    page.wait_for_selector("text=Old beacon address (expired)")
    assert uk.problems == []


def test_a_conjunction_page_with_its_plot(uk: Watch) -> None:
    page = uk.go("/ui/space/conjunctions/")
    assert len(uk.ids()) == 2
    page.locator("tbody a").first.click()
    plot = page.wait_for_selector("figure.plot svg.plot")
    box = plot.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    assert "Encounter plane" in page.inner_text("figure.plot") and "Range around TCA" in page.inner_text(
        "figure.plot"
    )
    assert page.locator("table.narrow tbody tr").count() == 21
    assert uk.problems == []


def test_a_minerals_page_with_chart_and_table(uk: Watch) -> None:
    page = uk.go("/ui/minerals/")
    page.click("text=Cobalt: supplier shares by stage")
    page.wait_for_selector("svg.stacked")
    assert page.locator("svg.stacked rect").count() >= 6
    assert "COD" in page.inner_text("main table") and page.locator("a[download]").count() == 1
    assert uk.problems == []


def test_post_a_sighting_a_note_and_an_opinion_and_see_them(browser: Any, served: Served) -> None:
    jp = Watch(browser, served, "jp-nisc")
    try:
        page = jp.go(f"/ui/objects/{SCANNER_INDICATOR}/")
        page.fill("#s-count", "3")
        page.fill("#s-first", "2026-01-20T10:00")
        page.fill("#s-last", "2026-01-21T11:30")
        page.click("text=Post sighting")
        page.wait_for_selector("#result")
        assert "stored" in page.inner_text("#result")
        page.fill("#n-content", "Seen from our honeypot in Osaka.")
        page.click("text=Post note")
        page.wait_for_selector("#result")
        page.check("input[name=opinion][value=agree]")
        page.fill("#o-explanation", "Confirmed by our own sensors.")
        page.click("text=Post opinion")
        page.wait_for_selector("#result")
        about = page.inner_text("#about + table")
        assert "Seen from our honeypot in Osaka." in about and "agree: Confirmed by our own sensors." in about
        assert "sighting of indicator--6f1a3c2e (count 3)" in page.inner_text("#sightings + table")
        assert jp.problems == []
    finally:
        jp.close()


def test_a_csrf_rejection_keeps_the_input_and_the_session(browser: Any, served: Served) -> None:
    jp = Watch(browser, served, "jp-nisc")
    try:
        page = jp.go(f"/ui/objects/{SCANNER_INDICATOR}/")
        page.fill("#n-content", "A long analysis I do not want to lose.")
        page.evaluate("document.querySelector('form[action$=\"/note\"] input[name=csrf]').value = 'forged'")
        with page.expect_response(lambda r: r.url.endswith("/note")) as answer:
            page.click("text=Post note")
        assert answer.value.status == 403
        page.wait_for_selector("section.problem")
        assert "still signed in" in page.inner_text("main")
        assert page.input_value("textarea[name=content]") == "A long analysis I do not want to lose."
        page.click("text=Send again")  # a fresh token: the same words go through
        page.wait_for_selector("#result")
        assert "stored" in page.inner_text("#result")
        jp.problems = [p for p in jp.problems if "403" not in p]  # the refused post itself
        assert jp.problems == []
    finally:
        jp.close()


def test_the_audit_page_as_administrator_and_not(browser: Any, served: Served) -> None:
    admin = Watch(browser, served, "uk-ncsc")
    other = Watch(browser, served, "jp-nisc")
    try:
        r = admin.page.goto(admin.base + "/ui/admin/audit/")
        assert r.status == 200 and "Chain verified up to record" in admin.page.inner_text("main")
        assert admin.page.locator("nav.main a[href='/ui/admin/audit/']").count() == 1
        assert other.page.locator("nav.main a[href='/ui/admin/audit/']").count() == 0
        denied = other.page.goto(other.base + "/ui/admin/audit/")
        assert denied.status == 403 and "Administrators only" in other.page.inner_text("main")
    finally:
        admin.close()
        other.close()


def test_hostile_text_runs_no_script_and_breaks_no_csp(uk: Watch, served: Served) -> None:
    for path in (
        f"/ui/objects/{served.evil_id}/",
        "/ui/search?q=alert",
        f"/ui/collections/{served.collections['UK-Japan CNI threats']}",
    ):
        page = uk.go(path)
        assert "<script>alert(1)</script>" in page.inner_text("main")
    page = uk.go(f"/ui/objects/{served.evil_id}/")
    assert page.locator("a[href^='javascript:']").count() == 0
    assert uk.problems == []  # no dialog, no CSP violation, no error


def test_one_task_with_the_keyboard_only(browser: Any, served: Served) -> None:
    """Sign in, search for an address, open the result and post a note, with the keyboard alone; focus is
    always visible."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(served.base + "/ui/login")
        page.wait_for_function("document.activeElement && document.activeElement.id === 'token'")
        page.keyboard.type(served.tokens["jp-nisc"])  # the token field has focus (autofocus)
        page.keyboard.press("Enter")
        page.wait_for_selector("header .org")

        def tab_to(selector: str, limit: int = 200) -> None:
            for _ in range(limit):
                page.keyboard.press("Tab")
                if page.evaluate(f"document.activeElement.matches({selector!r})"):
                    style = page.evaluate(
                        "(() => { const s = getComputedStyle(document.activeElement);"
                        " return [s.outlineStyle, s.outlineWidth]; })()"
                    )
                    assert style[0] != "none" and style[1] != "0px", (selector, style)
                    return
            raise AssertionError(f"{selector} cannot be reached with Tab")

        tab_to("a.skip")
        tab_to("#quick-q")
        page.keyboard.type(SCANNER_IP)
        page.keyboard.press("Enter")
        page.wait_for_selector("#total")
        tab_to(f"a[href='/ui/objects/{SCANNER_INDICATOR}/']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#n-content")
        tab_to("#n-content")
        page.keyboard.type("Typed with the keyboard alone.")
        tab_to("form[action$='/note'] button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#result")
        assert "Typed with the keyboard alone." in page.inner_text("#about + table")
    finally:
        context.close()


def test_axe_finds_no_serious_or_critical_violation_on_any_page_type(browser: Any, served: Served) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    admin = Watch(browser, served, "uk-ncsc")
    try:
        page = admin.page
        cni = served.collections["UK-Japan CNI threats"]
        conj = admin.go("/ui/space/conjunctions/").locator("tbody a").first.get_attribute("href")
        assessment = admin.go("/ui/minerals/").locator("tbody a").first.get_attribute("href")
        admin.go("/ui/search?q=192.0.2.254")
        revoked = page.locator("table.objects tbody a").first.get_attribute("href")
        admin.go(str(revoked))
        a, b = (
            page.locator("input[name=a]").nth(1).get_attribute("value"),
            page.locator("input[name=b]").first.get_attribute("value"),
        )
        pages = [
            "/ui/",
            "/ui/search?q=198.51.100.23",
            f"/ui/collections/{cni}",
            f"/ui/objects/{SCANNER_INDICATOR}/",
            f"{revoked}diff?a={a}&b={b}",
            "/ui/disagreements/",
            admin.go("/ui/disagreements/").locator("tbody a").first.get_attribute("href"),
            "/ui/sightings/",
            "/ui/sightings/?tab=stale",
            "/ui/space/conjunctions/",
            conj,
            "/ui/minerals/",
            assessment,
            "/ui/upload",
            "/ui/admin/audit/",
            "/ui/admin/peers/",
            "/ui/objects/indicator--00000000-0000-4000-8000-000000000000/",  # the error page
        ]
        found: dict[str, list[str]] = {}
        for path in pages:
            admin.go(str(path))
            results = axe.run(page)
            bad = [
                f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
                for v in results.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            if bad:
                found[str(path)] = bad
        # the sign-in page and the 403 page of a refused form
        anon = browser.new_context()
        login = anon.new_page()
        login.goto(served.base + "/ui/login")
        bad = [
            v["id"] for v in axe.run(login).response["violations"] if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found["/ui/login"] = bad
        anon.close()
        admin.go(f"/ui/objects/{SCANNER_INDICATOR}/")
        page.fill("#n-content", "x")
        page.evaluate("document.querySelector('form[action$=\"/note\"] input[name=csrf]').value = 'forged'")
        page.click("text=Post note")
        page.wait_for_selector("section.problem")
        bad = [
            v["id"] for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found["refused form"] = bad
        assert found == {}
    finally:
        admin.close()

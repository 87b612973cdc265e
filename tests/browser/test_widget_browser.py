"""The website widget in Chromium, embedded on a page of another origin (a second local server, another port).

The operator creates the widget on the admin pages and copies its snippet, which the shop's page embeds.
The visitor types their number into the widget's form on the shop's page; the script fetches a
proof-of-work challenge from the platform, solves it, posts the number (a CORS preflight, then the POST)
and polls the status until the call is queued. The same script on a page whose origin the widget does not
allow gets nothing through. Set SCREENSHOT_DIR to save the shop's page with the widget there as widget.png
(the README's is made with SCREENSHOT_DIR=docs).
"""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.data.tables import accounts, callback_requests, widgets
from tests.browser.conftest import _free_port, launch, sign_in

VISITOR = "+14155550177"
DESTINATION = "+12125550123"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Garden Supplies</title>
<style>body{{font-family:Georgia,serif;background:#f4efe4;color:#2d2a24;margin:0;padding:32px 40px}}
header{{border-bottom:2px solid #c9bda4;margin-bottom:20px}}h1{{margin:0 0 8px}}
main{{display:flex;gap:40px;align-items:flex-start}}article{{max-width:300px}}</style></head>
<body><header><h1>Acme Garden Supplies</h1></header><main><article><h2>Questions about an order?</h2>
<p>Leave your number and one of our gardeners calls you straight back, free of charge.</p></article>
<div id="call-us">{widget}</div></main></body></html>"""


class Site:
    """The operator's website: another origin than the platform's."""

    def __init__(self, port: int):
        self.port, self.pages = port, {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                body = site.pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site():
    site = Site(_free_port())
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, site):
    def add_widgets(database_url: str) -> None:
        engine = sa.create_engine(database_url)
        with engine.begin() as c:
            alice = c.execute(sa.select(accounts.c.id).where(accounts.c.login == "alice")).scalar_one()
            common = dict(account_id=alice, destination=DESTINATION, verification="pow", pow_bits=10,
                          created_at=sa.func.now())
            c.execute(widgets.insert().values(public_key="other-widget-key", name="Elsewhere",
                                              allowed_origins="https://elsewhere.example", **common))
        engine.dispose()

    for url in launch(tmp_path_factory, "widget", operator=True, prepare=add_widgets):
        yield url, tmp_path_factory.getbasetemp() / "widget0" / "widget.db"


def widget_requests(database: Path) -> list:
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as c:
        rows = c.execute(sa.select(callback_requests).where(callback_requests.c.trigger_kind == "widget")).mappings().all()
    engine.dispose()
    return rows


def test_the_widget_on_another_sites_page_queues_the_call_and_is_refused_elsewhere(browser, platform, site):
    from playwright.sync_api import expect

    platform_url, database = platform
    admin = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        desk = admin.new_page()
        desk.set_default_timeout(20_000)
        sign_in(desk, platform_url, "/admin/widgets")
        desk.get_by_label("Name").fill("Shop")
        desk.get_by_label("Account (pays for the calls)").fill("alice")
        desk.get_by_label("Destination (the number visitors are put through to)").fill("212 555 0123")
        desk.get_by_label("Allowed origins (one a line)").fill(site.url)
        desk.get_by_label("Visitors prove themselves by").select_option("pow")
        desk.get_by_label("Proof-of-work difficulty (bits)").fill("10")
        desk.get_by_role("button", name="Create widget").click()
        expect(desk.get_by_role("status").first).to_have_text(re.compile("copy its snippet"))
        desk.get_by_role("button", name="Copy snippet").click()
        expect(desk.locator("#copied")).to_have_text("Copied.")
        snippet = desk.evaluate("navigator.clipboard.readText()")
    finally:
        admin.close()
    assert snippet.startswith(f'<script src="{platform_url}/widget.js" data-key="') and snippet.endswith("</script>")
    key = re.search(r'data-key="([^"]+)"', snippet).group(1)
    # The snippet as copied, with a heading of the shop's choosing; the form appears where it is.
    site.pages["/"] = PAGE.format(widget=snippet.replace(" async>", ' data-title="Talk to a gardener" async>'))
    site.pages["/not-allowed"] = PAGE.format(widget=snippet.replace(key, "other-widget-key"))
    context = browser.new_context(viewport={"width": 760, "height": 470})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems, refused = [], []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: (refused if "CORS" in message.text or "Failed to load" in message.text
                                        else problems).append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: None if request.url.startswith((platform_url, site.url))
            else problems.append(f"request elsewhere: {request.url}"))
    cross_origin = []
    page.on("request", lambda request: cross_origin.append((request.method, request.url))
            if request.url.startswith(platform_url + "/widget/") else None)
    try:
        page.goto(site.url + "/")
        expect(page.get_by_role("heading", name="Talk to a gardener")).to_be_visible()
        page.get_by_label("Your phone number").fill("(415) 555-0177")
        page.get_by_role("button", name="Call me").click()
        expect(page.get_by_role("status")).to_have_text(
            re.compile("Call queued|Calling you|You are connected|Call ended"))
        (row,) = widget_requests(database)
        assert (row["leg_a_number"], row["leg_b_number"], row["confirm_mode"]) == (VISITOR, DESTINATION, "press1")
        # JSON across origins: the browser preflighted it (tests/web/test_widget.py checks the answers).
        assert ("POST", f"{platform_url}/widget/{key}/visits") in cross_origin
        assert context.cookies(platform_url) == []
        if os.environ.get("SCREENSHOT_DIR"):
            expect(page.get_by_role("status")).to_have_text(re.compile("Call queued|Calling you"))
            target = Path(os.environ["SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target / "widget.png"))
        assert problems == []

        page.goto(site.url + "/not-allowed")
        page.get_by_label("Your phone number").fill("(415) 555-0178")
        page.get_by_role("button", name="Call me").click()
        expect(page.get_by_role("status")).to_have_text("The call service cannot be reached from this page.")
        assert refused, "the browser did not block the refused origin's request"
        assert len(widget_requests(database)) == 1
        assert problems == []
    finally:
        context.close()

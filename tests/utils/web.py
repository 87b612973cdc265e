"""The fixture kit of the portal and admin HTTP tests: a seeded platform, and a browser driven in-process.

`web_platform` is the app on the test database with the demo subscribers
(alice, bob, ... with `<login>-password`) and an operator; `Browser` drives it
as a browser would (its own cookies, the CSRF token of the page it last saw,
forms followed through their redirects); `logged_in` and `operator` give a
browser already signed in on either side.
"""

from __future__ import annotations

import contextlib
import re

import httpx

from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

OPERATOR, OPERATOR_PASSWORD = "root", "operator-password"


@contextlib.contextmanager
def web_platform(settings, engine, *, subscribers: bool = True, operator: bool = True):
    """The platform with the demo subscribers (`subscribers`) and the operator OPERATOR (`operator`)."""
    with PlatformUnderTest(settings, engine) as platform:
        if subscribers:
            platform.run(seed, platform.platform.db, settings.secret_key)
        if operator:
            assert platform.cli("operator", "create", OPERATOR, "--password", OPERATOR_PASSWORD) == 0
        yield platform


class Browser:
    """One browser: its own cookies, reading the CSRF token from the page it last saw."""

    def __init__(self, p: PlatformUnderTest):
        self.p = p
        self.cookies = httpx.Cookies()
        self.page = None

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One request as it is: redirects not followed, the page seen not changed."""
        self.p.client.cookies = self.cookies
        response = self.p.client.request(method, path, follow_redirects=False, **kwargs)
        self.cookies = httpx.Cookies(self.p.client.cookies)
        return response

    def get(self, path: str, *, follow: bool = True) -> httpx.Response:
        response = self.request("GET", path)
        while follow and response.status_code in (302, 303):
            response = self.request("GET", response.headers["location"])
        self._saw(response)
        return response

    @property
    def csrf(self) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.page.text).group(1)

    def submit(self, path: str, fields: dict, *, csrf: str | None = None, files: dict | None = None,
               follow: bool = True) -> httpx.Response:
        """Post a form with the CSRF token of the last page (or `csrf`), following its 303 unless `follow=False`."""
        data = {"csrf": self.csrf if csrf is None else csrf, **fields}
        response = self.request("POST", path, data=data, files=files)
        if follow and response.status_code == 303:
            return self.get(response.headers["location"])
        self._saw(response)
        return response

    def log_in(self, login: str, password: str, *, page: str = "/login", follow: bool = True) -> httpx.Response:
        """Open the login `page` (either side's, with its query) and send its form."""
        self.get(page)
        return self.submit(page.split("?")[0], {"login": login, "password": password}, follow=follow)

    def sign_in(self, login: str = OPERATOR, password: str = OPERATOR_PASSWORD, path: str = "/admin/login"):
        """The operator's sign-in: open `path` (the sign-in page, or a page it stands in front of), send the form."""
        self.get(path)
        return self.submit("/admin/login", {"login": login, "password": password})

    def _saw(self, response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("text/html"):
            self.page = response


def logged_in(p: PlatformUnderTest, login: str = "alice") -> Browser:
    """A browser logged in to the portal as the demo subscriber `login`."""
    visitor = Browser(p)
    response = visitor.log_in(login, f"{login}-password")
    assert response.status_code == 200 and "Log out" in response.text, response.text
    return visitor


def operator(p: PlatformUnderTest) -> Browser:
    """A browser signed in to the admin pages as OPERATOR."""
    browser = Browser(p)
    response = browser.sign_in()
    assert response.status_code == 200 and "Sign out" in response.text, response.text
    return browser

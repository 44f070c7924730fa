"""A minimal W3C WebDriver client over httpx, driving Debian's chromedriver + headless Chromium.

Selenium is not a dependency: the WebDriver protocol is plain HTTP + JSON, and these few calls are all the
console tests need (open a page, find elements, read text, click, submit, take a screenshot).
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--lang=en-US",
]


class WebDriverError(AssertionError):
    """The browser refused a command; the message is chromedriver's."""


class Browser:
    """One headless Chromium session."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base = base
        self.session_id = session_id
        self.http = httpx.Client(timeout=60)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}/session/{self.session_id}{path}"
        response = self.http.request(method, url, json=body if body is not None else ({} if method == "POST" else None))
        value = response.json().get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value}")
        return value

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self._call("GET", "/url"))

    @property
    def title(self) -> str:
        return str(self._call("GET", "/title"))

    def find_all(self, css: str) -> list[str]:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [item[ELEMENT] for item in found]

    def find(self, css: str) -> str:
        return str(self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def text(self, element: str) -> str:
        return str(self._call("GET", f"/element/{element}/text"))

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click")

    def type(self, element: str, text: str) -> None:
        self._call("POST", f"/element/{element}/value", {"text": text})

    def execute(self, script: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for_page(self, leaving: str, within: float = 10) -> None:
        """After a click that submits a form: wait until the address no longer contains `leaving` and the
        new document has loaded. WebDriver's click returns before the navigation it starts has finished."""
        deadline = time.monotonic() + within
        while True:
            if leaving not in self.url and self.execute("return document.readyState") == "complete":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still on {self.url} after {within} s (expected to leave {leaving!r})")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """chromedriver on a free port, one Chromium session; both stopped on exit."""
    driver = shutil.which("chromedriver")
    if driver is None or not Path(CHROMIUM).exists():
        raise AssertionError("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    port = _free_port()
    proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/status", timeout=1).json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": CHROME_FLAGS},
        }}}  # fmt: skip
        created = httpx.post(f"{base}/session", json=caps, timeout=60).json()["value"]
        if "sessionId" not in created:
            raise AssertionError(f"chromium did not start: {created}")
        browser = Browser(base, created["sessionId"])
        try:
            yield browser
        finally:
            with contextlib.suppress(httpx.HTTPError):
                browser.http.delete(f"{base}/session/{browser.session_id}")
            browser.http.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

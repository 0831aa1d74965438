"""Open an HTML file in headless Chromium as a person would, over the DevTools protocol: collect console errors,
uncaught exceptions and failed loads, check that every image decoded, and save a full-page screenshot.

Chromium is a system package (Debian: ``chromium``; tools/bootstrap.sh installs it). Nothing here downloads a
browser. The browser is started with networking features off, a throwaway profile and ``--remote-debugging-port=0``;
it prints the port it chose, and we talk to the page's target over a websocket (websocket-client).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

__all__ = ["BrowserError", "BrowserMissing", "PageCheck", "check_page", "find_chromium"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in CI containers the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)
WIDTH = 1280  # CSS pixels: a laptop screen
MAX_SCREENSHOT_HEIGHT = 16000  # Chromium refuses to capture much taller pages in one image


class BrowserError(RuntimeError):
    """Chromium did not start, or the page did not load in time."""


class BrowserMissing(BrowserError):
    """No Chromium on this machine."""


@dataclass
class PageCheck:
    url: str
    console_errors: list[str] = field(default_factory=list)  # console.error, uncaught exceptions, failed loads
    images: int = 0
    broken_images: list[str] = field(default_factory=list)  # src (shortened) of every <img> that did not decode
    screenshot: Path | None = None
    height: int = 0

    @property
    def ok(self) -> bool:
        return not self.console_errors and not self.broken_images

    def problems(self) -> str:
        lines = [f"console: {e}" for e in self.console_errors] + [f"broken image: {s}" for s in self.broken_images]
        return "\n".join(lines) or "none"


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    raise BrowserMissing("no chromium on PATH; run `make setup` (apt-get install chromium)")


class _DevTools:
    """A minimal DevTools client: send a command, wait for its answer, keep every event that arrives."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise BrowserError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event["method"] == method:
                return event
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message
        raise BrowserError(f"the page sent no {method} within {timeout:.0f} s")

    def close(self) -> None:
        self.ws.close()


def _start(exe: str, profile: str, timeout: float) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},900", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: _stop ends the renderers and helpers with it
    )
    found: dict[str, int] = {}
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                found["port"] = int(m.group(1))
        # keep draining so Chromium never blocks on a full pipe

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while "port" not in found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise BrowserError(f"{exe} did not start its DevTools server; it said:\n{''.join(seen[-20:])}")
        time.sleep(0.05)
    return proc, found["port"]


def _page_ws(port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
            targets = json.load(answer)
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            raise BrowserError(f"Chromium on port {port} shows no page target")
        time.sleep(0.1)


_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
    src: i.currentSrc.slice(0, 60), ok: i.complete && i.naturalWidth > 0, alt: i.alt})))"""


def check_page(html_file: Path | str, screenshot: Path | str | None = None, *, timeout: float = 60.0) -> PageCheck:
    """Load ``html_file`` from disk in headless Chromium; report errors and broken images; save a screenshot."""
    path = Path(html_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    exe = find_chromium()
    url = path.as_uri()
    check = PageCheck(url)
    with tempfile.TemporaryDirectory(prefix="hil-chromium-") as profile:
        proc, port = _start(exe, profile, timeout)
        try:
            tools = _DevTools(_page_ws(port, timeout), timeout)
            try:
                for domain in ("Page", "Runtime", "Log", "Network"):
                    tools.call(f"{domain}.enable")
                tools.call("Page.navigate", url=url)
                tools.wait_event("Page.loadEventFired", timeout)
                images = json.loads(tools.call("Runtime.evaluate", expression=_IMAGES_JS)["result"]["value"])
                check.images = len(images)
                check.broken_images = [f"{i['alt'] or '(no alt)'}: {i['src']}" for i in images if not i["ok"]]
                check.console_errors = _errors(tools.events)
                metrics = tools.call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                check.height = math.ceil(size["height"])
                if screenshot is not None:
                    height = min(check.height, MAX_SCREENSHOT_HEIGHT)
                    tools.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height,
                               deviceScaleFactor=1, mobile=False)  # fmt: skip
                    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                      clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})  # fmt: skip
                    out = Path(screenshot)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(base64.b64decode(shot["data"]))
                    check.screenshot = out
            finally:
                tools.close()
        finally:
            _stop(proc)
    return check


def _stop(proc: subprocess.Popen) -> None:
    """End Chromium and every process of its group before its profile folder is removed: a renderer or crash
    handler that outlives the browser still writes there, and the removal then fails on a folder not empty."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL if time.monotonic() > deadline - 3 else 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)


def _errors(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        method, params = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"{entry.get('source', '')}: {entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            out.append(f"load failed: {params.get('errorText', '')}")
    return out

"""Headless Chromium driven through the DevTools protocol over --remote-debugging-pipe, standard library only.

Chromium reads commands from its fd 3 and writes replies and events to its fd 4, each a JSON message ended by
a NUL byte. One Browser is one Chromium process with a temporary profile directory; it opens file:// pages in
one tab, at a phone or desktop viewport, and says how long a page took from navigation to its load event,
what it shows (document.body.innerText) and what it looks like (a PNG screenshot). The process is always
ended through its Popen handle, the profile directory removed.

    with Browser() as browser:
        seconds = browser.open(Path("report.html").as_uri(), **PHONE)
        text = browser.evaluate("document.body.innerText")
        png = browser.screenshot()

Tests call require() first: it skips the test with the reason when Chromium is not installed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

BINARY = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844, "scale": 2, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "scale": 1, "mobile": False}
FLAGS = ("--headless=new", "--no-sandbox", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
         "--disable-component-update", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--password-store=basic", "--use-mock-keychain")


class ChromiumError(RuntimeError):
    """Chromium is missing, did not answer in time, or answered a command with an error."""


def missing(binary=BINARY):
    """Why Chromium cannot run here, or None when it can."""
    if not os.access(binary, os.X_OK):
        return "%s is not installed (Debian package chromium)" % binary
    return None


def require(binary=BINARY):
    """pytest.skip, with the reason, when Chromium cannot run here."""
    reason = missing(binary)
    if reason:
        import pytest

        pytest.skip(reason)


class Browser:
    """One headless Chromium process and one tab, over the DevTools pipe."""

    def __init__(self, binary=BINARY, timeout=60.0):
        reason = missing(binary)
        if reason:
            raise ChromiumError(reason)
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="certops-chromium-")
        self._log = open(os.path.join(self.profile, "stderr.log"), "wb")  # closed in close()
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()

        def fds_3_and_4():  # in the child, before exec: the pipe ends become fds 3 and 4, whatever they were
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        try:
            self.proc = subprocess.Popen(
                [binary, *FLAGS, "--user-data-dir=%s" % self.profile, "about:blank"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, pass_fds=(3, 4),
                preexec_fn=fds_3_and_4)  # noqa: PLW1509 (no threads start Chromium)
        except BaseException:
            for fd in (to_chrome_r, self._out, self._in, from_chrome_w):
                os.close(fd)
            self._log.close()
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events = []
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Runtime.enable", session=True)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the pipe ---------------------------------------------------------------------------------------------

    def _send(self, method, params=None, session=False):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        return self._next_id

    def _receive(self, deadline):
        """The next message from Chromium, or ChromiumError when none comes before the deadline."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise ChromiumError("Chromium did not answer in time%s" % self._stderr_tail())
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise ChromiumError("Chromium closed its DevTools pipe (exit %s)%s" % (
                    self.proc.poll(), self._stderr_tail()))
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr_tail(self):
        try:
            tail = Path(self.profile, "stderr.log").read_bytes()[-1500:].decode("utf-8", "replace")
        except OSError:
            return ""
        return ": ...%s" % tail if tail else ""

    def call(self, method, params=None, session=False, timeout=None):
        """Send one command and return its result; events that arrive meanwhile are kept for wait_event()."""
        sent = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._receive(deadline)
            if message.get("id") == sent:
                if "error" in message:
                    raise ChromiumError("%s failed: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def wait_event(self, method, timeout=None):
        """The first event `method` of the tab (kept or still to come)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == self.session:
                    return self._events.pop(index)
            message = self._receive(deadline)
            if "method" in message:
                self._events.append(message)

    # -- what the tests use ------------------------------------------------------------------------------------

    def open(self, url, width=1280, height=900, scale=1, mobile=False):
        """Load url in the tab at that viewport (CSS pixels); seconds from navigation to the load event."""
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": scale, "mobile": mobile},
                  session=True)
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        start = time.monotonic()
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise ChromiumError("cannot open %s: %s" % (url, result["errorText"]))
        self.wait_event("Page.loadEventFired")
        return time.monotonic() - start

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise ChromiumError("%s raised: %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def screenshot(self, path=None, full_page=False):
        """A PNG of the viewport (or of the whole page), written to path when given; returns the bytes."""
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        png = base64.b64decode(self.call("Page.captureScreenshot", params, session=True)["data"])
        if path:
            Path(path).write_bytes(png)
        return png

    def close(self):
        """End the Chromium process this object started (politely, then by its handle) and remove its profile."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                self._send("Browser.close")
            except OSError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for fd in ("_out", "_in"):
            if getattr(self, fd, None) is not None:
                os.close(getattr(self, fd))
                setattr(self, fd, None)
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

"""A syslog sink for tests: a datagram socket bound at /dev/log that keeps every message it receives.

Ansible modules log their invocation with Python's syslog module (the C library's syslog(3)),
which sends one AF_UNIX SOCK_DGRAM datagram per message to /dev/log. Where no syslog daemon runs
(containers, CI), nothing listens there and the messages are dropped; this listener takes its
place for the length of a test so the test can read exactly what a real syslog would have stored.

It never takes over a /dev/log that exists: `SyslogListener.start()` raises `Unavailable` with the
reason, and the caller skips. It removes only the socket it created.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import threading

DEV_LOG = "/dev/log"


class Unavailable(Exception):
    """/dev/log cannot be ours (it exists, or cannot be created); the message says why."""


class SyslogListener:
    def __init__(self, path=DEV_LOG):
        self.path = path
        self.messages = []  # decoded datagrams, in arrival order
        self._sock = None
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        if os.path.lexists(self.path):
            raise Unavailable(self._describe_existing())
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            sock.bind(self.path)
            os.chmod(self.path, 0o666)
        except OSError as exc:
            sock.close()
            raise Unavailable("cannot bind a syslog listener at %s: %s" % (self.path, exc))
        self._sock = sock
        self._inode = os.stat(self.path).st_ino
        self._thread = threading.Thread(target=self._run, name="syslog-listener", daemon=True)
        self._thread.start()
        return self

    def _describe_existing(self):
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            mode = 0
        if not stat.S_ISSOCK(mode):
            return "%s exists and is not a socket; not touching it" % self.path
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(self.path)
            return "%s belongs to a running syslog daemon; not taking it over" % self.path
        except OSError:
            return ("%s is a socket nobody listens on (a listener that was killed?); remove it "
                    "(rm %s) to run this test" % (self.path, self.path))
        finally:
            probe.close()

    def _run(self):
        while not self._stop.is_set():
            ready, _w, _x = select.select([self._sock], [], [], 0.2)
            if ready:
                self._drain()

    def _drain(self):
        while True:
            try:
                data = self._sock.recv(1 << 22, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode("utf-8", "replace"))

    def text(self):
        """Everything received so far, one message a line (a message's own newlines kept)."""
        self._drain()
        with self._lock:
            return "\n".join(self.messages)

    def stop(self):
        if self._sock is None:
            return
        self._stop.set()
        self._thread.join(5)
        self._drain()
        self._sock.close()
        self._sock = None
        try:  # remove only the socket this listener bound
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

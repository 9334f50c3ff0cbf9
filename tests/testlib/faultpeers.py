"""TCP/TLS peers on 127.0.0.1 that fail the way real backends do, for the probe fault tests.

Each peer listens on a free port of its own (port 0), serves every connection on a daemon thread and
stops by itself: the accept loop and every per-connection loop poll a stop event at least every
0.1 s, and every wait is bounded. close() (or leaving the `with` block) sets the event, closes every
socket the peer holds and joins its threads.

  Hang             accepts and never says a word (a wedged worker)
  ResetAtAccept    accepts and resets at once, before reading anything (SO_LINGER 0: a crashed
                   worker, a firewall, tcpwrappers)
  FinThenReset     accepts, closes its side (FIN), then resets (a worker killed mid-close, a
                   firewall reaping the connection): the client may find it gone before its handshake
  ResetAfterHello  reads the ClientHello, then resets instead of answering
  PlainHTTP        answers the ClientHello with an HTTP 400, as a plain-HTTP server does
  TLSServer        a healthy TLS server (python ssl) serving a given chain
  Trickle          a real TLS server whose handshake reply leaves one byte a second
  ClosedPort       a port that is bound but not listening: connections are refused
  SynDropped       a listener whose accept queue is full and never drained: the kernel drops new
                   SYNs, so connect() itself hangs (a server too busy to accept)
"""

from __future__ import annotations

import socket
import ssl
import struct
import tempfile
import threading
import time
from pathlib import Path

TICK = 0.1  # how often every loop looks at the stop event
IO_TIMEOUT = 5.0  # no single read or write of a peer waits longer than this
MAX_LIFE = 60.0  # no connection handler lives longer than this, whatever the client does


def _rst_close(conn):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


class Peer:
    """A listening socket and an accept loop; subclasses say what to do with each connection."""

    name = "peer"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(TICK)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns = []
        self._threads = []

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, name="%s-%d" % (self.name, self.port), daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(IO_TIMEOUT)
            with self._lock:
                self._conns.append(conn)
            self.handle(conn)

    def handle(self, conn):
        raise NotImplementedError

    def _read_some(self, conn, until=None):
        """recv() in TICK slices until data (or EOF) arrives, the peer stops or `until` passes."""
        until = until or time.monotonic() + IO_TIMEOUT
        conn.settimeout(TICK)
        try:
            while not self.stopping.is_set() and time.monotonic() < until:
                try:
                    return conn.recv(65536)
                except socket.timeout:
                    continue
        except OSError:
            return b""
        finally:
            try:
                conn.settimeout(IO_TIMEOUT)
            except OSError:
                pass
        return b""

    def close(self):
        self.stopping.set()
        self.sock.close()
        with self._lock:
            threads, conns = list(self._threads), list(self._conns)
        for thread in threads:
            thread.join(IO_TIMEOUT + 1)
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass
        alive = [t.name for t in threads if t.is_alive()]
        assert not alive, "fault peer threads did not stop: %s" % alive

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Hang(Peer):
    name = "hang"

    def handle(self, conn):
        pass  # held open, never read, never answered; closed by close()


class ResetAtAccept(Peer):
    name = "reset-at-accept"

    def handle(self, conn):
        _rst_close(conn)


class FinThenReset(Peer):
    name = "fin-then-reset"
    resets = 0

    def handle(self, conn):
        conn.shutdown(socket.SHUT_WR)
        self.stopping.wait(0.001)  # let the FIN go out on its own
        _rst_close(conn)
        self.resets += 1


class ResetAfterHello(Peer):
    name = "reset-after-hello"

    def handle(self, conn):
        self._spawn(self._serve, conn)

    def _serve(self, conn):
        if self._read_some(conn):  # the ClientHello
            _rst_close(conn)


class PlainHTTP(Peer):
    """What nginx/Apache do on a plain-HTTP port when a ClientHello arrives: 400, then a lingering close."""

    name = "plain-http"
    BODY = b"<html><head><title>400 Bad Request</title></head><body>400 Bad Request</body></html>\r\n"

    def handle(self, conn):
        self._spawn(self._serve, conn)

    def _serve(self, conn):
        if not self._read_some(conn):
            return
        try:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(self.BODY), self.BODY))
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            return
        until = time.monotonic() + IO_TIMEOUT  # lingering close: drain so the answer is not lost to a RST
        while self._read_some(conn, until=until):
            pass


def _server_context(chain_pem, key_pem):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="certops-faultpeer-") as tmp:
        cert_file, key_file = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        cert_file.write_text(chain_pem)
        key_file.write_text(key_pem)
        key_file.chmod(0o600)
        ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class TLSServer(Peer):
    """A healthy TLS server: completes the handshake with the chain it was given, then closes."""

    name = "tls"

    def __init__(self, chain_pem, key_pem):
        super().__init__()
        self.context = _server_context(chain_pem, key_pem)

    def handle(self, conn):
        self._spawn(self._serve, conn)

    def _serve(self, conn):
        until = time.monotonic() + IO_TIMEOUT
        try:
            with self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
                tls.settimeout(TICK)
                while not self.stopping.is_set() and time.monotonic() < until:
                    try:
                        tls.do_handshake()
                    except socket.timeout:
                        continue  # OpenSSL keeps its state: the next call goes on where this one stopped
                    self._read_some(tls, until=time.monotonic() + 1.0)  # let the client finish, then close
                    return
        except (OSError, ssl.SSLError):
            pass


class Trickle(Peer):
    """A real TLS server (MemoryBIO) whose handshake reply is sent one byte per `interval` seconds."""

    name = "trickle"

    def __init__(self, chain_pem, key_pem, interval=1.0):
        super().__init__()
        self.context = _server_context(chain_pem, key_pem)
        self.interval = interval
        self.sent = 0

    def handle(self, conn):
        self._spawn(self._serve, conn)

    def _serve(self, conn):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        until = time.monotonic() + IO_TIMEOUT
        reply = b""
        while not reply:
            data = self._read_some(conn, until=until)
            if not data:
                return
            incoming.write(data)
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return
            reply = outgoing.read()
        end = time.monotonic() + MAX_LIFE
        for i in range(len(reply)):
            if self.stopping.wait(self.interval) or time.monotonic() > end:
                return
            try:
                conn.sendall(reply[i:i + 1])
            except OSError:  # the client gave up
                return
            self.sent += 1


class ClosedPort:
    """A port bound but not listening: the kernel refuses connections to it, and no one else can take it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        return self

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SynDropped:
    """listen(0) with one connection queued and never accepted: later SYNs are dropped (not refused)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        return self

    def close(self):
        self.filler.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe TLS endpoints and capture the chain each one really serves (stdlib ssl and sockets).

Every endpoint is bounded by its timeout, whatever the peer does: name resolution runs in a
daemon thread that is abandoned at the deadline, and every socket operation gets the time that
is left. Many endpoints are probed concurrently by a fixed pool of threads.

Faults are named by what the peer did: ECONNREFUSED is CONNECTION_REFUSED; a reset or abort,
at connect or during the handshake, is CONNECTION_RESET; no route to the host or its network
(or no way to open a connection to it from here) is HOST_UNREACHABLE.
"""

from __future__ import annotations

import errno
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

# SSL error reasons that mean the peer answered, but not with TLS (e.g. an HTTP server).
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
                    "PACKET_LENGTH_TOO_LONG", "RECORD_TOO_LARGE", "HTTPS_PROXY_REQUEST")

# errno values that mean the peer (or a middlebox) tore the connection down. ENOTCONN: the reset
# arrived before the socket was wrapped, so the TLS layer finds it no longer connected.
_RESET_ERRNOS = frozenset((errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN))


def chain_method():
    """How this interpreter gets the served chain: 'public' (3.13+), 'private' (3.10-3.12),
    'openssl' (s_client fallback) or 'leaf' (leaf only)."""
    if hasattr(ssl.SSLSocket, "get_unverified_chain"):
        return "public"
    try:
        import _ssl
        if hasattr(_ssl._SSLSocket, "get_unverified_chain"):
            return "private"
    except ImportError:
        pass
    if shutil.which("openssl"):
        return "openssl"
    return "leaf"


def is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def default_server_name(host):
    """SNI defaults to the host when it is a DNS name; IP literals send no SNI."""
    return None if is_ip(host) else host


def _left(deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CertError("TIMEOUT", "timed out")
    return remaining


def _resolve(host, port, deadline):
    box = {}

    def run():
        try:
            box["addrs"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="resolve-%s" % host, daemon=True)
    worker.start()
    worker.join(_left(deadline))
    if worker.is_alive():
        raise CertError("TIMEOUT", "name resolution of %s timed out" % host)
    if "error" in box:
        raise CertError("DNS_FAILURE", "cannot resolve %s: %s" % (host, box["error"]))
    return box["addrs"]


def _connect_error(exc, addr):
    """The CertError for a failed connect: refused, reset, or the host cannot be reached."""
    where = "%s port %s" % (addr[0], addr[1])
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ECONNREFUSED:
        return CertError("CONNECTION_REFUSED", "%s refused the connection (%s)" % (where, reason))
    if exc.errno in _RESET_ERRNOS:
        return CertError("CONNECTION_RESET", "%s reset the connection as it was accepted (%s)" % (where, reason))
    return CertError("HOST_UNREACHABLE", "cannot reach %s (%s)" % (where, reason))


def _connect(host, port, deadline):
    last = None
    for family, kind, proto, _name, addr in _resolve(host, port, deadline):
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:  # e.g. no IPv6 on this host
            last = _connect_error(exc, addr)
            continue
        connected = False
        try:
            sock.settimeout(_left(deadline))
            sock.connect(addr)
            connected = True
            return sock
        except socket.timeout:
            raise CertError("TIMEOUT", "connect to %s port %s timed out" % (addr[0], addr[1]))
        except OSError as exc:
            last = _connect_error(exc, addr)
        finally:
            if not connected:
                sock.close()
    raise last or CertError("DNS_FAILURE", "%s has no address" % host)


def _client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we collect; cert_chain_verify judges
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # see what weak servers serve too
    except ssl.SSLError:
        pass
    return ctx


def _served_chain(tls, method):
    if method == "public":
        return [bytes(der) for der in tls.get_unverified_chain()]
    if method == "private":
        import _ssl
        return [cert.public_bytes(_ssl.ENCODING_DER) for cert in tls._sslobj.get_unverified_chain()]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _chain_via_openssl(host, port, server_name, deadline):
    cmd = ["openssl", "s_client", "-connect", "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port),
           "-showcerts"]
    if server_name:
        cmd += ["-servername", server_name]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=_left(deadline), check=False)
    except subprocess.TimeoutExpired:
        raise CertError("TIMEOUT", "openssl s_client timed out")
    try:
        return _certs.parse_material(proc.stdout)["ders"]
    except CertError:  # s_client printed no certificate
        return []


def _classify_ssl_error(exc):
    reason = getattr(exc, "reason", None) or ""
    text = str(exc)
    if reason in _NOT_TLS_REASONS or any(r.lower().replace("_", " ") in text.lower() for r in _NOT_TLS_REASONS):
        return CertError("NOT_TLS", "the peer does not speak TLS (%s)" % (reason or text))
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in text:
        return CertError("CONNECTION_RESET", "the peer closed the connection during the handshake")
    return CertError("TLS_HANDSHAKE_FAILED", "TLS handshake failed: %s" % (reason or text))


def probe(host, port, *, server_name, timeout, method=None, context=None):
    """Probe one endpoint. Returns {ok, error, tls_version, cipher, chain_der, handshake_ms, elapsed_ms}."""
    method = method or chain_method()
    begun = time.monotonic()
    deadline = begun + timeout
    result = {"ok": False, "error": None, "tls_version": None, "cipher": None, "chain_der": [],
              "handshake_ms": None, "elapsed_ms": None}
    sock = None
    try:
        sock = _connect(host, port, deadline)
        started = time.monotonic()
        # SSLSocket's timeout bounds the whole handshake, not each read (Python >= 3.5): a peer that
        # trickles one byte a second cannot stretch it past the deadline.
        sock.settimeout(_left(deadline))
        tls = (context or _client_context()).wrap_socket(
            sock, server_hostname=server_name, do_handshake_on_connect=False)
        sock = tls
        tls.do_handshake()
        result["handshake_ms"] = round((time.monotonic() - started) * 1000.0, 1)
        result["tls_version"] = tls.version()
        cipher = tls.cipher()
        result["cipher"] = cipher[0] if cipher else None
        if method == "openssl":
            chain = _chain_via_openssl(host, port, server_name, deadline)
            leaf = tls.getpeercert(binary_form=True)
            # Only trust the second connection if it saw the same leaf.
            result["chain_der"] = chain if chain and chain[0] == leaf else ([leaf] if leaf else [])
        else:
            result["chain_der"] = _served_chain(tls, method)
        result["ok"] = True
    except CertError as exc:
        result["error"] = {"code": exc.code, "message": exc.message}
    except socket.timeout:
        result["error"] = {"code": "TIMEOUT", "message": "no answer within %ss" % timeout}
    except ssl.SSLError as exc:
        err = _classify_ssl_error(exc)
        result["error"] = {"code": err.code, "message": err.message}
    except OSError as exc:
        if exc.errno in _RESET_ERRNOS:
            result["error"] = {"code": "CONNECTION_RESET",
                               "message": "the peer reset the connection during the handshake (%s)" % exc}
        else:
            result["error"] = {"code": "TLS_HANDSHAKE_FAILED", "message": str(exc)}
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    result["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
    return result


def probe_many(targets, *, timeout, concurrency):
    """Probe [{host, port, server_name}] concurrently; results in the same order."""
    if not targets:
        return []
    method = chain_method()
    context = _client_context()

    def one(target):
        return probe(target["host"], target["port"], server_name=target["server_name"],
                     timeout=timeout, method=method, context=context)

    workers = max(1, min(concurrency, len(targets)))
    if workers == 1:
        return [one(t) for t in targets]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, targets))

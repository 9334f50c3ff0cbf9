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

Client certificates (mTLS backends). An endpoint may present a client certificate and key, as the
load balancer does; they are read and checked before any connection (an unreadable or mismatched
pair is that endpoint's error, never an exception). Python's ssl does not say whether the server
asked for a certificate, so every handshake message is watched through the context's message
callback (``SSLContext._msg_callback``, CPython >= 3.8; a debugging hook, private like the 3.10-3.12
chain accessor), set on the C-level context underneath ``ssl.SSLContext`` (_watch_messages). A
CertificateRequest followed by the server's alert is CLIENT_CERT_REQUIRED when no certificate was given,
CLIENT_CERT_REJECTED when the one given was refused:
- TLS 1.2: the server sends its chain and the CertificateRequest, then fails the handshake with an
  alert (handshake failure, bad certificate, unknown ca, ...). The chain it sent is still there
  after the failure (get_unverified_chain; on older Pythons from the Certificate message seen).
- TLS 1.3: the handshake completes on the client side; the server judges the client's Certificate
  afterwards and answers with an alert (certificate required, unknown ca, ...) or with session
  tickets. So when it asked, the probe waits for that verdict (an alert, a ticket or data) for a few
  handshake times, never past the endpoint's deadline.
Some servers do not refuse at the TLS level: nginx with ``ssl_verify_client on`` completes the
handshake and answers the HTTP request with 400; the probe reports those endpoints ok.

Private key bytes are read once to check the key (only its public half is kept) and otherwise go
only to OpenSSL, by path; no message names more than the file's path.

Probing as a load balancer does (lb_backend_info). `server_name` None (or "") sends no SNI, as nginx does
by default. A target may carry the load balancer's TLS settings, `lb_settings` {min_version, max_version,
ciphers}: the handshake then offers only what the load balancer offers (its cipher string, or OpenSSL's
DEFAULT, at OpenSSL's default security level, instead of the probe's "see everything" ALL:@SECLEVEL=0).
When that handshake fails, a second one without those limits (same SNI, same client certificate, within the
same deadline) tells whether the backend speaks TLS at all: if it does, the failure
is NO_COMMON_PROTOCOL (the restricted handshake ended with a protocol_version alert, or the version the
backend speaks lies outside the load balancer's range) or NO_COMMON_CIPHER (a handshake_failure or
insufficient_security alert, or no cipher to offer), else TLS_HANDSHAKE_FAILED saying that it completes
without the load balancer's limits. The chain, version and cipher are then those of the second handshake.
Its TLS 1.3 cipher suites (`ciphersuites` in lb_settings), which Python's ssl cannot restrict: a handshake over
TLS 1.3 with a suite outside them is asked again by `openssl s_client -ciphersuites`, offering only those, and
fails NO_COMMON_CIPHER when the server takes none of them. An SNI Python's ssl cannot send (an IP address, which
HAProxy sends; a name IDNA refuses) is sent by `openssl s_client -servername` (_with_openssl_sni).

What only a probe asking what Python's ssl cannot, or presenting a client certificate, needs (openssl s_client,
client certificates and their files) is in _probe_lb, imported then (_lb): a host probing its own sites compiles
this module alone.
"""

from __future__ import annotations

import _ssl
import errno
import math
import select
import shutil
import socket
import ssl
import struct
import threading
import time
import warnings

from ansible_collections.certops.backend_tls.plugins.module_utils import _base
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, is_ip

# SSL error reasons that mean the peer answered, but not with TLS (e.g. an HTTP server).
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
                    "PACKET_LENGTH_TOO_LONG", "RECORD_TOO_LARGE", "HTTPS_PROXY_REQUEST")

# errno values that mean the peer (or a middlebox) tore the connection down. ENOTCONN: the reset
# arrived before the socket was wrapped, so the TLS layer finds it no longer connected.
_RESET_ERRNOS = frozenset((errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN))

# TLS record content types and handshake message types the probe watches (RFC 8446 / 5246).
_ALERT, _HANDSHAKE = 21, 22
_NEW_SESSION_TICKET, _CERTIFICATE, _CERTIFICATE_REQUEST = 4, 11, 13
# Alerts a server sends when it refuses a client certificate, or the lack of one.
_CERT_ALERTS = {
    40: "handshake failure",
    42: "bad certificate",
    43: "unsupported certificate",
    44: "certificate revoked",
    45: "certificate expired: the client certificate is out of its validity period",
    46: "certificate unknown",
    48: "unknown ca: the server does not trust the client certificate's issuer",
    49: "access denied",
    116: "certificate required",
}
_TLS_VERSIONS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
# Protocol versions as the load balancer's settings name them (normalised), in order.
PROTOCOL_ORDER = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_PROTOCOL_ALERT = 70  # protocol_version
_CIPHER_ALERTS = (40, 71)  # handshake_failure, insufficient_security
_PROTOCOL_REASONS = ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_SSL_VERSION",
                     "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW", "VERSION_TOO_HIGH", "WRONG_VERSION")
_CIPHER_REASONS = ("SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_INSUFFICIENT_SECURITY", "NO_CIPHERS_AVAILABLE",
                   "NO_SHARED_CIPHER", "WRONG_CIPHER_RETURNED", "NO_CIPHER_MATCH")
# TLS 1.3: how long to wait for the server's verdict on the client's Certificate, at least, and in
# handshake times (it comes one round trip after the handshake); never past the endpoint's deadline.
_VERDICT_MIN_WAIT = 1.0
_VERDICT_HANDSHAKES = 3
_SEEN = "_certops_tls_messages"  # per-connection record, an attribute of the SSLSocket
# a probe's error codes that say the server was not reached, or does not speak TLS
_UNREACHED = ("DNS_FAILURE", "CONNECTION_REFUSED", "HOST_UNREACHABLE", "TIMEOUT", "CONNECTION_RESET", "NOT_TLS")

# key_type -> how a client asks a server that holds certificates of several key types (nginx's and Apache's RSA beside
# ECDSA) for the one of that type: (the TLS <= 1.2 cipher string whose suites only that key type can sign, or None;
# the signature algorithms that only it can make, as `openssl s_client -sigalgs` takes them). OpenSSL's server picks
# the certificate from the cipher suite in TLS 1.2 and from the client's signature algorithms in TLS 1.3, which
# Python's ssl cannot set: a TLS 1.3-only server is asked by s_client. An EdDSA certificate signs ECDSA suites too
# in TLS 1.2, so Ed25519 and Ed448 are always asked by their signature algorithm.
# (its keys are _base.KEY_TYPES, in that order)
KEY_TYPES = {
    "RSA": ("aRSA:@SECLEVEL=0", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:rsa_pss_pss_sha256:"
                                "rsa_pss_pss_sha384:rsa_pss_pss_sha512:rsa_pkcs1_sha256:rsa_pkcs1_sha384:"
                                "rsa_pkcs1_sha512"),
    "EC": ("aECDSA:@SECLEVEL=0", "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512"),
    "Ed25519": (None, "ed25519"),
    "Ed448": (None, "ed448"),
}


def chain_method():
    """How this interpreter gets the served chain: 'public' (3.13+), 'private' (3.10-3.12),
    'openssl' (s_client fallback) or 'leaf' (leaf only)."""
    if hasattr(ssl.SSLSocket, "get_unverified_chain"):
        return "public"
    if hasattr(_ssl._SSLSocket, "get_unverified_chain"):
        return "private"
    if shutil.which("openssl"):
        return "openssl"
    return "leaf"


def _left(deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CertError("TIMEOUT", "timed out")
    return remaining


def _resolve(host, port, deadline):
    """getaddrinfo within the deadline: an address needs no lookup (and no thread); a name is looked up in a
    thread, so that a resolver that does not answer cannot hold the probe past its deadline."""
    box = {}

    def run(flags=0):
        try:
            box["addrs"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, flags)
        except (socket.gaierror, UnicodeError) as exc:
            box["error"] = exc

    if is_ip(host):
        _left(deadline)
        run(socket.AI_NUMERICHOST)
    else:
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


def _record_message(conn, direction, version, content_type, msg_type, data):
    """SSLContext._msg_callback: note what the server says, per connection. Never raises (an exception
    here would surface from the handshake)."""
    try:
        seen = getattr(conn, _SEEN, None)
        if seen is None or content_type not in (_ALERT, _HANDSHAKE):
            return
        seen["messages"].append((direction, int(content_type), int(msg_type), version))
        if direction == "read" and content_type == _HANDSHAKE and msg_type == _CERTIFICATE:
            seen["certificate"] = (version, bytes(data))  # the server's chain: public data
        elif direction == "read" and content_type == _HANDSHAKE and msg_type == _CERTIFICATE_REQUEST:
            seen["certificate_request"] = (version, bytes(data))  # the CA names it takes: public data
    except Exception:  # an exception here would surface from the handshake
        pass


_record_message.user_function = _record_message  # what ssl.SSLContext's _msg_callback property reads back


class _ProbeContext(ssl.SSLContext):
    """The probe's client context; `identity` is the client certificate it presents, or None; `lb_settings` the
    load balancer's limits it was restricted to (restrict_context), or None; `key_type` the key type whose
    certificate it asks for (KEY_TYPES), or None."""

    identity = None
    lb_settings = None
    key_type = None
    watching = False  # whether _record_message sees this context's handshakes (_watch_messages)


def _watch_messages(ctx):
    """Make _record_message the context's TLS message callback (CPython >= 3.8). ssl.SSLContext's own setter wraps a
    callback in a function that turns three of its arguments into enums on every call: about 21 calls a handshake,
    which cost a sixth of a probe's CPU (200 loopback handshakes, 16 at a time: 0.27 s of CPU against 0.22 with
    _record_message set on the C-level context as here, 0.19 with no callback). _record_message takes the plain
    integers OpenSSL gives (the enums are ints as well)."""
    raw = getattr(_ssl._SSLContext, "_msg_callback", None)
    if raw is not None and hasattr(raw, "__set__"):
        raw.__set__(ctx, _record_message)
        ctx.watching = True


def _no_password():
    raise CertError("ENCRYPTED", "the client key is password-protected")


def _prefixed(exc, what):
    return CertError(exc.code, "%s: %s" % (what, exc.message))


def _certs():
    """The cryptography half of the vocabulary, imported only where a probe needs it (a client certificate checked
    before it is presented, the openssl fallback of Python < 3.10): a host that only probes does without it."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _certs

    return _certs


def _lb():
    """The half of probing that only a probe asking what Python's ssl cannot (openssl s_client), or presenting a client
    certificate, needs (_probe_lb), imported then: a host that probes its own endpoints does without it."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _probe_lb

    return _probe_lb


def _tls_version(name):
    """'TLSv1.2' -> ssl.TLSVersion.TLSv1_2 (TLSv1 and TLSv1.1 are deprecated names in Python >= 3.10)."""
    return getattr(ssl.TLSVersion, name.replace(".", "_")) if name else None


def restrict_context(ctx, *, min_version=None, max_version=None, ciphers=None):
    """Offer only what a load balancer offers: its protocol range and cipher string (None: OpenSSL's DEFAULT, at
    OpenSSL's default security level). CertError NO_COMMON_CIPHER when OpenSSL can select no cipher from it."""
    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 / TLSv1_1 warn as deprecated: they are what is configured
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _tls_version(min_version) or ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = _tls_version(max_version) or ssl.TLSVersion.MAXIMUM_SUPPORTED
    try:
        ctx.set_ciphers(ciphers or "DEFAULT")
    except (ssl.SSLError, ValueError):  # ValueError: a NUL byte, which no OpenSSL cipher string holds
        raise CertError("NO_COMMON_CIPHER", "the cipher list %r selects no cipher this host's OpenSSL knows" % ciphers)
    ctx.lb_settings = {"min_version": min_version, "max_version": max_version, "ciphers": ciphers}
    return ctx


def client_context(client_cert=None, client_key=None, *, max_bytes=_base.DEFAULT_MAX_FILE_BYTES, lb_settings=None,
                   password_file=None):
    """The probe's client context, presenting a client certificate when one is given (CertError when it
    cannot be used: see load_client_identity; its key decrypted by a password of `password_file`, as nginx's
    proxy_ssl_password_file). With `lb_settings` ({min_version, max_version, ciphers}) it offers
    only what the load balancer offers (restrict_context), else everything (ALL:@SECLEVEL=0)."""
    ctx = _ProbeContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we collect; cert_chain_verify judges
    if lb_settings is not None:  # (its ciphersuites: Python's ssl cannot restrict them, see _within_suites)
        restrict_context(ctx, **{k: lb_settings.get(k) for k in ("min_version", "max_version", "ciphers")})
    else:
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # see what weak servers serve too
        except ssl.SSLError:
            pass
    _watch_messages(ctx)
    if client_cert:
        identity = _lb().load_client_identity(client_cert, client_key, max_bytes=max_bytes,
                                              password_file=password_file)
        try:
            ctx.load_cert_chain(identity["cert"], identity["key"],
                                password=_no_password if identity["_password"] is None else identity["_password"])
        except CertError as exc:
            raise _prefixed(exc, "client_key %s" % identity["key"])
        except OSError as exc:  # ssl.SSLError too: the files changed since they were checked
            raise CertError("NOT_A_CERTIFICATE", "client_cert %s / client_key %s: OpenSSL cannot load them (%s)"
                            % (identity["cert"], identity["key"], getattr(exc, "reason", None) or exc.strerror))
        except ValueError:  # (Python's ssl takes a password of at most 1,024 bytes)
            raise CertError("ENCRYPTED", "client_key %s: the password that decrypts it is longer than this host's "
                            "Python hands OpenSSL" % identity["key"])
        ctx.identity = identity
    return ctx


def _served_chain(tls, method):
    if method == "public":
        return [bytes(der) for der in tls.get_unverified_chain()]
    if method == "private":
        return [cert.public_bytes(_ssl.ENCODING_DER) for cert in tls._sslobj.get_unverified_chain()]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def sendable_sni(name):
    """Whether Python's ssl sends `name` as SNI: it never sends an IP address (HAProxy does, when its `sni` or
    `check-sni` is one), and refuses a name IDNA cannot encode (an empty label: `.backend.test`, `a..b`)."""
    if not name or is_ip(name):
        return not name
    try:
        name.encode("idna")
    except UnicodeError:
        return False
    return True


def _asked(seen):
    """Whether the server sent a CertificateRequest; None when the messages could not be watched."""
    if seen is None:
        return None
    return any(d == "read" and ct == _HANDSHAKE and mt == _CERTIFICATE_REQUEST for d, ct, mt, _v in seen["messages"])


def _client_cert_error(seen, identity):
    """CLIENT_CERT_REQUIRED / CLIENT_CERT_REJECTED when the server asked for a client certificate and
    then sent an alert that refuses it (or its absence), else None."""
    if not _asked(seen):
        return None
    alerts = [mt for d, ct, mt, _v in seen["messages"] if d == "read" and ct == _ALERT]
    answered = any(d == "write" and ct == _HANDSHAKE and mt == _CERTIFICATE for d, ct, mt, _v in seen["messages"])
    if not alerts or alerts[-1] not in _CERT_ALERTS or not answered:
        return None
    alert = _CERT_ALERTS[alerts[-1]]
    if identity is None:
        return CertError("CLIENT_CERT_REQUIRED", "the server requires a client certificate: it asked for one and "
                         "refused the connection without it (alert %s); give the endpoint client_cert and "
                         "client_key, as the load balancer presents them" % alert.split(":")[0])
    return CertError("CLIENT_CERT_REJECTED", "the server refused the client certificate %s (%s) (alert %s)"
                     % (identity["cert"], identity["subject"], alert))


def _await_verdict(tls, seen, deadline, handshake_s):
    """TLS 1.3, after the server asked for a client certificate: wait for its verdict on the client's
    Certificate, which comes after the handshake is over for us. A refusal is an alert, raised here
    (ssl.SSLError); acceptance is a session ticket or data; a closed connection, or nothing within a
    few handshake times (never past the deadline), is no verdict: the handshake stands."""
    until = min(deadline, time.monotonic() + max(_VERDICT_MIN_WAIT, _VERDICT_HANDSHAKES * handshake_s))
    start = len(seen["messages"])
    tls.setblocking(False)
    while True:
        try:
            tls.recv(1)
            return  # data, or the connection closed
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            if any(d == "read" and ct == _HANDSHAKE and mt == _NEW_SESSION_TICKET
                   for d, ct, mt, _v in seen["messages"][start:]):
                return
        remaining = until - time.monotonic()
        if remaining <= 0:
            return
        _wait_readable(tls, remaining)


def _wait_readable(sock, timeout):
    """Wait until sock is readable or `timeout` seconds have passed. poll() takes any descriptor; select() only
    those below FD_SETSIZE (1024), which a probe with many connections open exceeds."""
    if not hasattr(select, "poll"):  # Windows
        select.select([sock], [], [], timeout)
        return
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.poll(math.ceil(timeout * 1000))  # milliseconds, rounded up so that a short wait is not a busy loop


def _says_not_tls(text):
    """Whether an error's text names one of _NOT_TLS_REASONS (as OpenSSL writes them: lower case, blanks)."""
    return any(r.lower().replace("_", " ") in text.lower() for r in _NOT_TLS_REASONS)


def _classify_ssl_error(exc):
    reason = getattr(exc, "reason", None) or ""
    text = str(exc)
    if reason in _NOT_TLS_REASONS or _says_not_tls(text):
        return CertError("NOT_TLS", "the peer does not speak TLS (%s)" % (reason or text))
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in text:
        return CertError("CONNECTION_RESET", "the peer closed the connection during the handshake")
    return CertError("TLS_HANDSHAKE_FAILED", "TLS handshake failed: %s" % (reason or text))


def _failed(exc):
    return {"ok": False, "error": exc.as_dict(), "tls_version": None, "cipher": None, "chain_der": [],
            "handshake_ms": None, "elapsed_ms": 0.0, "client_cert_requested": None, "alert": None, "reason": None}


def _last_alert(seen):
    """The description of the last alert the server sent, or None."""
    alerts = [mt for d, ct, mt, _v in (seen or {}).get("messages", ()) if d == "read" and ct == _ALERT]
    return alerts[-1] if alerts else None


def proxy_header(sock, version):
    """The PROXY protocol header a load balancer sends before the handshake ("v1": text, "v2": binary; haproxy.org's
    proxy-protocol.txt), naming this connection's own addresses as the client's and the server's."""
    (src, sport), (dst, dport) = sock.getsockname()[:2], sock.getpeername()[:2]
    src, dst = src.split("%")[0], dst.split("%")[0]  # an IPv6 link-local address's scope is no part of it
    six = sock.family == socket.AF_INET6
    if version == "v1":
        return ("PROXY %s %s %s %d %d\r\n" % ("TCP6" if six else "TCP4", src, dst, sport, dport)).encode()
    family = socket.AF_INET6 if six else socket.AF_INET
    body = socket.inet_pton(family, src) + socket.inet_pton(family, dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes((0x21, 0x21 if six else 0x11)) + struct.pack("!H", len(body)) + body


def probe(host, port, *, server_name, timeout, method=None, context=None, client_cert=None, client_key=None,
          proxy_protocol=None):
    """Probe one endpoint. Returns {ok, error, tls_version, cipher, chain_der, handshake_ms, elapsed_ms,
    client_cert_requested}.

    context (from client_context) is shared by probe_many; without it one is made here, presenting
    client_cert/client_key when given (a certificate or key that cannot be used is the result's error).
    proxy_protocol ("v1", "v2" or None): the PROXY protocol header sent first, as a load balancer sends it.
    """
    method = method or chain_method()
    if context is None:
        try:
            context = client_context(client_cert, client_key)
        except CertError as exc:
            return _failed(exc)
    identity = getattr(context, "identity", None)
    server_name = server_name or None  # "" is no SNI too (ssl refuses an empty server_hostname)
    begun = time.monotonic()
    deadline = begun + timeout
    result = {"ok": False, "error": None, "tls_version": None, "cipher": None, "chain_der": [],
              "handshake_ms": None, "elapsed_ms": None, "client_cert_requested": None, "alert": None, "reason": None}
    sock = tls = seen = None
    try:
        sock = _connect(host, port, deadline)
        if proxy_protocol:
            sock.settimeout(_left(deadline))
            sock.sendall(proxy_header(sock, proxy_protocol))
        started = time.monotonic()
        # SSLSocket's timeout bounds the whole handshake, not each read (Python >= 3.5): a peer that
        # trickles one byte a second cannot stretch it past the deadline.
        sock.settimeout(_left(deadline))
        try:
            tls = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
        except (UnicodeError, ValueError) as exc:  # IDNA refuses it: an empty label, a label over 63 characters
            raise CertError("INVALID_ARGUMENT", "server name %r cannot be sent as SNI: %s" % (server_name, exc))
        sock = tls
        if getattr(context, "watching", False):
            seen = {"messages": []}
            setattr(tls, _SEEN, seen)
        tls.do_handshake()
        handshake_s = time.monotonic() - started
        result["handshake_ms"] = round(handshake_s * 1000.0, 1)
        result["tls_version"] = tls.version()
        cipher = tls.cipher()
        result["cipher"] = cipher[0] if cipher else None
        if method in ("public", "private"):
            result["chain_der"] = _served_chain(tls, method)
        if result["tls_version"] == "TLSv1.3" and _asked(seen):
            _await_verdict(tls, seen, deadline, handshake_s)
        if method == "openssl":
            leaf = tls.getpeercert(binary_form=True)
            sock = None
            tls.close()  # before the second connection: a server may serve one connection at a time
            # (s_client sends no PROXY protocol header: behind one, the leaf is all this Python sees)
            key_type = getattr(context, "key_type", None)
            chain = None if proxy_protocol else _lb()._chain_via_openssl(
                host, port, server_name, deadline, identity,
                ("-sigalgs", KEY_TYPES[key_type][1], "-no_tls1_3") if key_type else ())
            # Only trust the second connection if it saw the same leaf.
            result["chain_der"] = chain if chain and chain[0] == leaf else ([leaf] if leaf else [])
        elif method == "leaf":
            result["chain_der"] = _served_chain(tls, method)
        result["ok"] = True
    except CertError as exc:
        result["error"] = {"code": exc.code, "message": exc.message}
    except socket.timeout:
        result["error"] = {"code": "TIMEOUT", "message": "no answer within %ss" % timeout}
    except ssl.SSLError as exc:
        result["reason"] = getattr(exc, "reason", None)
        err = _client_cert_error(seen, identity) or _classify_ssl_error(exc)
        result["error"] = {"code": err.code, "message": err.message}
    except OSError as exc:
        err = _client_cert_error(seen, identity)
        if err is not None:
            result["error"] = {"code": err.code, "message": err.message}
        elif exc.errno in _RESET_ERRNOS:
            result["error"] = {"code": "CONNECTION_RESET",
                               "message": "the peer reset the connection during the handshake (%s)" % exc}
        else:
            result["error"] = {"code": "TLS_HANDSHAKE_FAILED", "message": str(exc)}
    finally:
        result["client_cert_requested"] = _asked(seen)
        result["_ca_names"] = ca_names(seen.get("certificate_request")) if seen else None
        result["alert"] = _last_alert(seen)
        if result["error"] and result["client_cert_requested"]:
            _lb()._refused_after_asking(result, tls, method, seen, identity)
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    result["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
    return result


def _u16_items(data, pos, end, width):
    """The items of a TLS vector of items each prefixed by its `width`-byte length, from pos to end."""
    items = []
    if end > len(data):
        raise ValueError("truncated")
    while pos < end:
        size = int.from_bytes(data[pos:pos + width], "big")
        if pos + width + size > end:
            raise ValueError("truncated")
        items.append(data[pos + width:pos + width + size])
        pos += width + size
    return items


def ca_names(request):
    """The distinguished names (DER) a CertificateRequest message (seen["certificate_request"]: its version and the
    message with its 4-byte header) lists as the CAs whose client certificates the server takes: [] for none, None
    when it cannot be read. TLS 1.3: the certificate_authorities extension (47); before: the message's own list."""
    if not request:
        return None
    version, message = request
    try:
        body = message[4:4 + int.from_bytes(message[1:4], "big")]
        if len(body) != int.from_bytes(message[1:4], "big"):
            return None
        if version == 0x0304:
            pos = 1 + body[0]  # certificate_request_context
            end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
            if end > len(body):
                return None
            names = []
            pos += 2
            while pos < end:  # extensions: a 2-byte type, a 2-byte length
                kind, size = int.from_bytes(body[pos:pos + 2], "big"), int.from_bytes(body[pos + 2:pos + 4], "big")
                if kind == 47:
                    data = body[pos + 4:pos + 4 + size]
                    names = _u16_items(data, 2, 2 + int.from_bytes(data[:2], "big"), 2)
                pos += 4 + size
            return names
        pos = 1 + body[0]  # certificate_types
        if version == 0x0303:
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")  # supported_signature_algorithms
        return _u16_items(body, pos + 2, pos + 2 + int.from_bytes(body[pos:pos + 2], "big"), 2)
    except (IndexError, ValueError):
        return None


def _settings_key(target):
    settings = target.get("lb_settings")
    if settings is None:
        return None
    return tuple(settings.get(k) for k in ("min_version", "max_version", "ciphers"))


def _range_text(settings):
    return "%s to %s" % (settings.get("min_version") or "OpenSSL's lowest", settings.get("max_version") or "TLSv1.3")


def _outside(version, settings):
    """Whether a negotiated version lies outside the load balancer's min/max."""
    if version not in PROTOCOL_ORDER:
        return False
    index = PROTOCOL_ORDER.index(version)
    low, high = settings.get("min_version"), settings.get("max_version")
    return bool((low in PROTOCOL_ORDER and index < PROTOCOL_ORDER.index(low))
                or (high in PROTOCOL_ORDER and index > PROTOCOL_ORDER.index(high)))


def lb_failure(restricted, unrestricted, settings):
    """The result of a handshake restricted to the load balancer's settings that failed, given a second one without
    those limits: NO_COMMON_PROTOCOL / NO_COMMON_CIPHER when the backend speaks TLS but not with those settings,
    else the restricted failure, saying that the backend completes a handshake without them. Pure."""
    speaks = unrestricted["ok"] or (unrestricted["error"] or {}).get("code", "").startswith("CLIENT_CERT_")
    if not speaks:
        return restricted
    result = dict(restricted, chain_der=unrestricted["chain_der"], tls_version=unrestricted["tls_version"],
                  cipher=unrestricted["cipher"])
    reason, alert = restricted.get("reason") or "", restricted.get("alert")
    without = "without them the backend negotiates %s with %s" % (unrestricted["tls_version"] or "TLS",
                                                                  unrestricted["cipher"] or "some cipher")
    if alert == _PROTOCOL_ALERT or reason in _PROTOCOL_REASONS or _outside(unrestricted["tls_version"], settings):
        error = {"code": "NO_COMMON_PROTOCOL", "message": "the backend shares no protocol version with the load "
                 "balancer's settings (%s; %s); %s" % (_range_text(settings), reason or "alert %s" % alert, without)}
    elif alert in _CIPHER_ALERTS or reason in _CIPHER_REASONS:
        ciphers = settings.get("ciphers") or "DEFAULT"
        error = {"code": "NO_COMMON_CIPHER", "message": "the backend shares no cipher with the load balancer's "
                 "settings (ciphers %s; %s); %s" % (ciphers, reason or "alert %s" % alert, without)}
    else:
        error = dict(restricted["error"], message="%s with the load balancer's settings; %s" % (
            restricted["error"]["message"], without))
    result["error"] = error
    return result


def identity_of(target):
    """What a target presents: (client_cert, client_key, the file of its key's passwords)."""
    return target.get("client_cert"), target.get("client_key"), target.get("client_key_passwords")


def probe_many(targets, *, timeout, concurrency):
    """Probe [{host, port, server_name[, client_cert, client_key[, client_key_passwords]][, lb_settings][,
    proxy_protocol]}] concurrently; results in the same order. client_key_passwords: a file of passwords for the
    client key, read as nginx reads its proxy_ssl_password_file (read_password_file).

    Each distinct client certificate is read and checked once, before any connection; an endpoint
    whose certificate or key cannot be used gets that error without being connected to. A target with
    `lb_settings` ({min_version, max_version, ciphers, ciphersuites}) is probed offering only those (its TLS 1.3
    suites through openssl s_client: _within_suites); when that fails, a second
    handshake without them, within the same timeout, names the failure (lb_failure). A target with `key_type` (a
    key of KEY_TYPES) asks for the server's certificate of that key type: over TLS <= 1.2 by its cipher suites,
    and when the server refuses that, over TLS 1.3 by `openssl s_client` (typed_probe).
    """
    if not targets:
        return []
    method = chain_method()
    contexts = {}

    def context_for(target, settings_key, settings):
        key = identity_of(target) + (settings_key,)
        if key not in contexts:
            try:
                contexts[key] = client_context(key[0], key[1], lb_settings=settings, password_file=key[2])
                if settings_key and settings_key[0] == "key_type":
                    contexts[key].key_type = settings_key[1]  # what s_client asks for too (Python < 3.10)
            except CertError as exc:
                contexts[key] = exc
        return contexts[key]

    def settings_of(target):
        """(the key of the context the target's first handshake uses, its settings)."""
        if target.get("key_type"):  # TLS <= 1.2, the suites only that key type signs
            ciphers = KEY_TYPES[target["key_type"]][0]
            return ("key_type", target["key_type"]), {"min_version": None, "max_version": "TLSv1.2",
                                                      "ciphers": ciphers}
        return _settings_key(target), target.get("lb_settings")

    for target in targets:
        context_for(target, *settings_of(target))
        if target.get("lb_settings") is not None or (target.get("key_type") and target.get("proxy_protocol")):
            context_for(target, None, None)

    def run(target, context, budget):
        if isinstance(context, CertError):
            return _failed(context)
        return probe(target["host"], target["port"], server_name=target["server_name"],
                     timeout=budget, method=method, context=context, proxy_protocol=target.get("proxy_protocol"))

    def typed(target, budget, tls13):
        """By the key type's signature algorithms (openssl s_client), or behind a PROXY protocol header (which
        s_client cannot send) the server's own choice for an unrestricted handshake, when it is of that type."""
        key_type, identity = target["key_type"], identity_of(target)
        context = contexts[identity + (settings_of(target)[0],)]
        if isinstance(context, CertError):
            return _failed(context)
        if target.get("proxy_protocol"):
            plain = run(target, contexts[identity + (None,)], budget)
            if not plain["ok"] and (plain["error"] or {}).get("code") in _UNREACHED:
                return plain  # down, or not there: that, not what s_client cannot do
            plain = _lb()._of_type(plain, key_type)
            if plain["ok"]:
                return plain
        return _lb()._of_type(_lb().typed_probe(
            target["host"], target["port"], server_name=target["server_name"], key_type=key_type, timeout=budget,
            identity=getattr(context, "identity", None), proxy_protocol=target.get("proxy_protocol"), tls13=tls13),
            key_type)

    def one_typed(target):
        if KEY_TYPES[target["key_type"]][0] is None:
            return typed(target, timeout, False)
        begun = time.monotonic()
        result = run(target, contexts[identity_of(target) + (settings_of(target)[0],)], timeout)
        left = timeout - (time.monotonic() - begun)
        refused = result.get("alert") in (_PROTOCOL_ALERT,) + _CIPHER_ALERTS or \
            (result.get("reason") or "") in _PROTOCOL_REASONS + _CIPHER_REASONS
        checked = _lb()._of_type(result, target["key_type"])
        if checked["ok"] or left <= 0.05 or not (result["ok"] or refused):
            return checked
        # another key type's certificate (EdDSA signs the ECDSA suites too): ask by signature algorithm, any version;
        # no TLS <= 1.2 suite of the type taken: TLS 1.3 then
        second = typed(target, left, not result["ok"])
        second["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
        return second

    def one(target):
        if target.get("key_type"):
            return one_typed(target)
        settings = target.get("lb_settings")
        if settings is not None and not sendable_sni(target["server_name"]):
            begun = time.monotonic()
            result = one(dict(target, server_name=None))
            context = contexts[identity_of(target) + (_settings_key(target),)]
            if isinstance(context, CertError):  # its client certificate cannot be used: that error, as it is
                return result
            result = _lb()._with_openssl_sni(result, target, getattr(context, "identity", None),
                                             timeout - (time.monotonic() - begun))
            result["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
            return result
        begun = time.monotonic()
        context = contexts[identity_of(target) + (_settings_key(target),)]
        result = run(target, context, timeout)
        if target.get("client_cert_choice") == "issuer" and not isinstance(context, CertError):
            context, result = chosen(target, context, result, timeout - (time.monotonic() - begun))
        code = (result["error"] or {}).get("code")
        left = timeout - (time.monotonic() - begun)
        if settings is not None and result["ok"] and settings.get("ciphersuites"):
            result = _lb()._within_suites(result, target, getattr(context, "identity", None), max(0.05, left))
            result["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
            return result
        if settings is None or code not in ("TLS_HANDSHAKE_FAILED", "CONNECTION_RESET", "NO_COMMON_CIPHER") \
                or left <= 0.05:
            return result
        second = run(target, contexts[identity_of(target) + (None,)], left)
        result = lb_failure(result, second, settings)
        result["elapsed_ms"] = round((time.monotonic() - begun) * 1000.0, 1)
        return result

    identities, picked = {}, {}

    def chosen(target, context, result, left):
        """(context, result) as Apache presents its client certificates (client_cert_choice "issuer"): the one
        apache_choice picks by the CA names the server sent, or none; asked again when that is not the first."""
        names = result.get("_ca_names")
        if not names or not result.get("client_cert_requested"):
            return context, result  # (no CA named: Apache presents the first, as asked already)
        path = target["client_cert"]
        if path not in identities:
            try:
                identities[path] = _lb().issuer_identities(path)
            except CertError as exc:
                identities[path] = exc
        if isinstance(identities[path], CertError):
            return context, _failed(identities[path])
        index = _lb().apache_choice(identities[path], names)
        if index == 0:
            return context, result
        key = (path, index, _settings_key(target))
        if key not in picked:
            try:
                picked[key] = _lb()._chosen_context(identities[path], index, target.get("lb_settings"))
            except CertError as exc:
                picked[key] = exc
        if isinstance(picked[key], CertError):
            return context, _failed(picked[key])
        if left <= 0.05:
            return context, dict(result, ok=False, error={"code": "TIMEOUT", "message": "no time was left to ask "
                                                          "again presenting the client certificate the load "
                                                          "balancer picks for this server"})
        return picked[key], run(target, picked[key], left)

    workers = max(1, min(concurrency, len(targets)))
    if workers == 1:
        results = [one(t) for t in targets]
    else:
        from concurrent.futures import ThreadPoolExecutor  # (a host probing one site does without it: about 2.5 ms)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, targets))
    for result in results:
        result.pop("_ca_names", None)  # (DER names: internal)
    return results

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
"""

from __future__ import annotations

import _ssl
import contextlib
import errno
import math
import os
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _material
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


def _read_pem(path, what, max_bytes):
    try:
        material = _certs().parse_material(_base.read_file(path, max_bytes=max_bytes))
    except CertError as exc:
        raise _prefixed(exc, what)
    if material["format"] != "pem":
        raise CertError("NOT_A_CERTIFICATE", "%s: not PEM (%s); give PEM files, as the load balancer's crt"
                        % (what, material["format"]))
    return material


# nginx's ngx_ssl_read_password_file: a line of this many bytes or more makes nginx refuse its configuration
_PASSWORD_LINE_LIMIT = 4096


def read_password_file(path, *, max_bytes=_base.DEFAULT_MAX_FILE_BYTES):
    """The passwords of a password file as nginx reads one (proxy_ssl_password_file): one a line, a CR before the
    line end dropped, empty lines skipped, and one empty password when there is none. CertError NOT_FOUND,
    PERMISSION_DENIED, TOO_LARGE, NOT_REGULAR_FILE (a FIFO is not read: that would take its writer's password),
    INVALID_CONFIG (a line nginx refuses as too long). Messages name the file, never a password."""
    what = "password file %s" % path
    try:
        data = _base.read_file(path, max_bytes=max_bytes)
    except CertError as exc:
        raise _prefixed(exc, what)
    passwords = []
    for line in data.split(b"\n"):
        if len(line) >= _PASSWORD_LINE_LIMIT:
            raise CertError("INVALID_CONFIG", "%s: a line of %d bytes or more, which nginx refuses"
                            % (what, _PASSWORD_LINE_LIMIT))
        password = line[:-1] if line.endswith(b"\r") else line
        if password:
            passwords.append(password)
    return passwords or [b""]


# nginx's ngx_ssl_password_callback hands OpenSSL at most the buffer OpenSSL gives it (PEM_BUFSIZE): a longer
# password is cut to it ("password is truncated")
_PASSWORD_BUFFER = 1024


def _opening_password(cert_path, key_path, key_what, passwords, password_file):
    """The first of `passwords` with which OpenSSL loads the client certificate and its encrypted key, cut as nginx
    cuts it, as nginx tries them in turn (ngx_ssl_certificate: with OpenSSL, so any cipher OpenSSL decrypts, and an
    empty password too). CertError ENCRYPTED when none does (nginx refuses to start), KEY_MISMATCH when one opens a
    key that is not the certificate's."""
    for password in (line[:_PASSWORD_BUFFER] for line in passwords):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_path, key_path, password=password)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc.reason or "") or "values mismatch" in str(exc):
                raise CertError("KEY_MISMATCH", "%s (opened with a password of %s) does not belong to the client "
                                "certificate (the first one in %s)" % (key_what, password_file, cert_path))
            continue
        except (OSError, ValueError):  # it changed since it was read; a password Python's ssl cannot pass
            continue
        return password
    raise CertError("ENCRYPTED", "%s: none of the %d password(s) in %s opens the private key (the load balancer "
                    "cannot load it either)" % (key_what, len(passwords), password_file))


def load_client_identity(cert_path, key_path=None, *, max_bytes=_base.DEFAULT_MAX_FILE_BYTES, password_file=None):
    """Check a client certificate (PEM, leaf first, optionally its chain and key) and its key (PEM)
    before any connection: {cert, key, certificates, subject}. CertError NOT_FOUND, PERMISSION_DENIED,
    TOO_LARGE, NOT_REGULAR_FILE (the file), NOT_A_CERTIFICATE (no certificate, or no readable key),
    ENCRYPTED (a password-protected key, and no password from `password_file` (read_password_file) decrypts it),
    KEY_MISMATCH (the key is not the certificate's).

    Messages name the files, never their content; of the key only its public half is looked at. The password that
    decrypts the key is kept as the identity's `_password`, for the probe's context and s_client alone.
    """
    cert_what = "client_cert %s" % cert_path
    material = _read_pem(cert_path, cert_what, max_bytes)
    if not material["ders"]:
        raise CertError("NOT_A_CERTIFICATE", "%s: holds no certificate" % cert_what)
    key = material["key"]
    key_what = cert_what
    if key_path:
        key_what = "client_key %s" % key_path
        key = _read_pem(key_path, key_what, max_bytes)["key"]
    if key is None:
        raise CertError("NOT_A_CERTIFICATE", "%s: holds no private key%s" % (
            key_what, "" if key_path else "; give client_key, or append the key to the certificate file"))
    password = None
    if key["encrypted"] and password_file:
        password = _opening_password(cert_path, key_path or cert_path, key_what,
                                     read_password_file(password_file, max_bytes=max_bytes), password_file)
        key = dict(key, encrypted=False, _spki=None)  # OpenSSL loaded it with its certificate: they match
    if key["encrypted"]:
        raise CertError("ENCRYPTED", "%s: the private key is password-protected; the probe cannot use it" % key_what)
    if key.get("error") or (key["_spki"] is None and password is None):
        raise CertError("NOT_A_CERTIFICATE", "%s: unreadable private key" % key_what)
    try:
        certs = [_certs().load_certificate(der) for der in material["ders"]]
    except CertError as exc:
        raise _prefixed(exc, cert_what)
    leaf_spki = _certs().leaf_spki
    if password is None and leaf_spki(certs[0]) != key["_spki"]:
        others = [i for i, cert in enumerate(certs[1:], start=2) if leaf_spki(cert) == key["_spki"]]
        raise CertError("KEY_MISMATCH", "%s does not belong to the client certificate (the first one in %s)%s" % (
            "the private key in " + key_what if key_path else "the private key in the file", cert_path,
            "; it belongs to certificate %d there: put the client certificate first" % others[0] if others else ""))
    return {"cert": cert_path, "key": key_path or cert_path, "certificates": len(certs),
            "subject": certs[0].subject.rfc4514_string(), "_password": password}


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
        identity = load_client_identity(client_cert, client_key, max_bytes=max_bytes, password_file=password_file)
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


def _s_client(host, port, server_name, identity, extra):
    """The `openssl s_client` command that reads what a server sends, as the probe asks for it."""
    cmd = ["openssl", "s_client", "-connect", "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port),
           "-showcerts"] + list(extra)
    if server_name:
        cmd += ["-servername", server_name]
    else:  # no SNI, as asked (OpenSSL >= 1.1.1 would otherwise send the host when it is a name)
        cmd += ["-noservername"]
    if identity:  # present the same certificate, and its chain (s_client's -cert reads the first one only)
        cmd += ["-cert", identity["cert"], "-key", identity["key"]]
        if identity["certificates"] > 1:
            cmd += ["-cert_chain", identity["cert"]]
        if identity.get("_password") is not None:  # read from its stdin: never in its command line or environment
            cmd += ["-pass", "stdin"]
    return cmd


def _feed(write, data):
    """Write all of data into a pipe's end, then close it; a reader gone (its end closed) ends it too."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write, view):]
    except OSError:
        pass
    finally:
        os.close(write)


@contextlib.contextmanager
def _pem_pipes(*pems):
    """Paths (/dev/fd/N) that read these PEM texts, each from a pipe of its own: a client certificate and key taken
    out of a file of several are handed to OpenSSL so, never written to a file. Each is written from a thread of
    its own (a text larger than the pipe's buffer waits for its reader). CertError UNSUPPORTED_SETTING where this
    host has no /dev/fd."""
    if pems and not os.path.isdir("/dev/fd"):
        raise CertError("UNSUPPORTED_SETTING", "this host has no /dev/fd to hand OpenSSL a client certificate taken "
                        "out of a file of several: not judged")
    ends = []
    try:
        for pem in pems:
            read, write = os.pipe()
            ends.append(read)
            threading.Thread(target=_feed, args=(write, pem), daemon=True).start()
        yield ["/dev/fd/%d" % end for end in ends]
    finally:
        for end in ends:
            os.close(end)


def _run_s_client(host, port, server_name, identity, extra, timeout, stderr=subprocess.PIPE):
    """Run the `openssl s_client` of _s_client; its stdin gives the client key's password when it has one, and then
    ends (s_client leaves once the handshake is done); a client certificate taken out of a file of several
    (identity["_pems"]) is read from pipes. subprocess.TimeoutExpired, OSError as subprocess.run; CertError
    UNSUPPORTED_SETTING when s_client cannot present the client certificate (a password it cannot read, or it could
    not load the certificate or key): its own failure, never the backend's."""
    password = (identity or {}).get("_password")
    if password is not None and (b"\0" in password or len(password) >= _PASSWORD_BUFFER or b"\n" in password):
        # s_client reads one line of at most 1,023 bytes and takes it up to a NUL byte
        raise CertError("UNSUPPORTED_SETTING", "the client key's password (of %s) holds a NUL byte or is %d bytes or "
                        "longer, which openssl s_client cannot read: not judged" % (identity["key"], _PASSWORD_BUFFER))
    with _pem_pipes(*((identity or {}).get("_pems") or ())) as paths:
        if paths:
            identity = dict(identity, cert=paths[0], key=paths[1], certificates=1)
        proc = subprocess.run(_s_client(host, port, server_name, identity, extra), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False,
                              pass_fds=tuple(int(path.rsplit("/", 1)[1]) for path in paths),
                              **({"stdin": subprocess.DEVNULL} if password is None else {"input": password + b"\n"}))
    if identity and not re.search(rb"(?m)^CONNECTED\(", proc.stdout):
        loading = re.search(rb"(?im)^.*(unable to load|could not read|error getting|bad decrypt).*$", proc.stderr)
        if loading:  # its own failure to load the client certificate or key: not the backend's
            raise CertError("UNSUPPORTED_SETTING", "openssl s_client could not load the client certificate or key "
                            "(%s): not judged" % loading.group(0).decode("utf-8", "replace").strip()[:200])
    if stderr is not subprocess.PIPE:
        proc.stderr = None
    return proc


def _chain_via_openssl(host, port, server_name, deadline, identity=None, extra=()):
    try:
        proc = _run_s_client(host, port, server_name, identity, extra, _left(deadline), stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CertError("TIMEOUT", "openssl s_client timed out")
    try:
        return _certs().parse_material(proc.stdout)["ders"]
    except CertError:  # s_client printed no certificate
        return []


def _s_client_ders(stdout):
    """The certificates `openssl s_client -showcerts` printed, as DER (standard library: no cryptography here)."""
    ders = []
    for label, body in _base.pem_blocks(stdout)[0]:
        if label == b"CERTIFICATE":
            try:
                ders.append(_base.pem_der(body))
            except ValueError:
                return []
    return ders


def _s_client_outcome(proc):
    """What an `openssl s_client -showcerts` run gave: (certificates as DER, version, cipher), the version and cipher
    None when no handshake completed, and the line of its stderr that says why (an alert, an error, a refusal)."""
    negotiated = re.search(rb"^New, (\S+), Cipher is (\S+)", proc.stdout, re.M)
    version, cipher = (negotiated.group(1).decode(), negotiated.group(2).decode()) if negotiated and \
        negotiated.group(1) != b"(NONE)" else (None, None)
    lines = [line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    why = next((line for line in lines if "alert" in line or "error:" in line or "refused" in line.lower()),
               lines[-1] if lines else "no handshake")
    return _s_client_ders(proc.stdout), version, cipher, why


def typed_probe(host, port, *, server_name, key_type, timeout, identity=None, proxy_protocol=None, tls13=False):
    """probe()'s result for the certificate of one key type, asked for by its signature algorithms with `openssl
    s_client` (KEY_TYPES: Python's ssl cannot set them), only TLS 1.3 when tls13. s_client sends no PROXY protocol
    header: behind one, UNSUPPORTED_SETTING."""
    begun = time.monotonic()
    why = "key_type %s: only openssl s_client can ask for it here (by its signature algorithms), and " % key_type
    result = _failed(CertError("UNSUPPORTED_SETTING", why))
    if proxy_protocol:
        result["error"]["message"] += "it sends no PROXY protocol header"
        return result
    if not shutil.which("openssl"):
        result["error"]["message"] += "this host has no openssl command"
        return result
    extra = ["-sigalgs", KEY_TYPES[key_type][1]] + (["-tls1_3"] if tls13 else [])
    try:
        proc = _run_s_client(host, port, server_name, identity, extra, max(0.01, timeout))
    except subprocess.TimeoutExpired:
        return dict(_failed(CertError("TIMEOUT", "no answer within %ss" % timeout)),
                    elapsed_ms=round((time.monotonic() - begun) * 1000.0, 1))
    except OSError as exc:
        result["error"]["message"] += "it could not run (%s)" % exc
        return result
    except CertError as exc:
        return dict(result, error=exc.as_dict())
    ders, version, cipher, why = _s_client_outcome(proc)
    elapsed = round((time.monotonic() - begun) * 1000.0, 1)
    result["elapsed_ms"] = elapsed
    if ders and version:
        return dict(result, ok=True, error=None, chain_der=ders, tls_version=version, cipher=cipher,
                    handshake_ms=elapsed)
    if "refused" in why.lower():
        result["error"] = {"code": "CONNECTION_REFUSED", "message": "connection refused (openssl s_client: %s)" % why}
    elif _says_not_tls(why):
        result["error"] = {"code": "NOT_TLS", "message": "the peer does not speak TLS (openssl s_client: %s)" % why}
    else:
        result["error"] = {"code": "TLS_HANDSHAKE_FAILED", "message": "the server sent no %s certificate%s (openssl "
                           "s_client: %s)" % (key_type, " over TLS 1.3" if tls13 else "", why)}
    return result


def suites_probe(host, port, *, server_name, suites, timeout, identity=None):
    """(the TLS 1.3 cipher suite the server picks when offered only `suites`, None; or None, why it failed), asked
    with `openssl s_client -ciphersuites` (Python's ssl cannot restrict TLS 1.3 suites). CertError
    UNSUPPORTED_SETTING when this host has no openssl command."""
    if not shutil.which("openssl"):
        raise CertError("UNSUPPORTED_SETTING", "ciphersuites %s: only openssl s_client can offer these alone here, "
                        "and this host has no openssl command" % suites)
    try:
        proc = _run_s_client(host, port, server_name, identity, ["-tls1_3", "-ciphersuites", suites],
                             max(0.01, timeout))
    except subprocess.TimeoutExpired:
        raise CertError("TIMEOUT", "no answer within %ss (openssl s_client -ciphersuites %s)" % (timeout, suites))
    except OSError as exc:
        raise CertError("UNSUPPORTED_SETTING", "ciphersuites %s: openssl s_client could not run (%s)" % (suites, exc))
    _ders, version, cipher, why = _s_client_outcome(proc)
    if version == "TLSv1.3":
        return cipher, None
    if b"SSL_CONF_cmd(-ciphersuites" in proc.stderr:  # OpenSSL knows none of them: the load balancer does not start
        raise CertError("INVALID_CONFIG", "ciphersuites %s: OpenSSL knows no TLS 1.3 cipher suite there, and the "
                        "load balancer refuses this configuration" % suites)
    return None, why


def _within_suites(result, target, identity, timeout):
    """A handshake over TLS 1.3 with a suite the load balancer does not offer (its `ciphersuites`, which Python's ssl
    cannot restrict): asked again offering only those, by openssl s_client. The suite the server then picks, or
    NO_COMMON_CIPHER (the load balancer's handshake fails), or UNSUPPORTED_SETTING where s_client cannot ask."""
    suites = (target.get("lb_settings") or {}).get("ciphersuites")
    if not (suites and result["ok"] and result["tls_version"] == "TLSv1.3") or result["cipher"] in suites.split(":"):
        return result
    without = "without them the backend negotiates TLSv1.3 with %s" % result["cipher"]
    if target.get("proxy_protocol"):
        return dict(result, ok=False, error={"code": "UNSUPPORTED_SETTING", "message": "ciphersuites %s: only "
                    "openssl s_client can offer these alone here, and it sends no PROXY protocol header; %s" % (
                        suites, without)})
    try:
        cipher, why = suites_probe(target["host"], target["port"], server_name=target["server_name"], suites=suites,
                                   timeout=timeout, identity=identity)
    except CertError as exc:
        return dict(result, ok=False, error={"code": exc.code, "message": "%s; %s" % (exc.message, without)})
    if cipher:
        return dict(result, cipher=cipher)
    return dict(result, ok=False, error={"code": "NO_COMMON_CIPHER", "message": "the backend shares no TLS 1.3 cipher "
                "suite with the load balancer's settings (ciphersuites %s; openssl s_client: %s); %s" % (
                    suites, why, without)})


# a handshake without SNI that failed thus may succeed with it (a server refusing a name it does not know)
_SNI_MAY_CHANGE = ("TLS_HANDSHAKE_FAILED", "CONNECTION_RESET", "NO_COMMON_PROTOCOL", "NO_COMMON_CIPHER")


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


def _with_openssl_sni(result, target, identity, timeout):
    """A load balancer target whose SNI Python's ssl cannot send, probed by Python without SNI (result): the chain,
    version and cipher the backend gives that SNI, read with `openssl s_client -servername`, offering what the load
    balancer offers. UNSUPPORTED_SETTING (not judged) where s_client cannot ask."""
    name, settings = target["server_name"], target.get("lb_settings") or {}
    why = "the load balancer sends the SNI %s, which Python's ssl cannot send (%s)" % (
        name, "an IP address" if is_ip(name) else "a name IDNA cannot encode")
    code = (result["error"] or {}).get("code")
    if not result["ok"] and (code not in _SNI_MAY_CHANGE or timeout <= 0.05):
        return result  # not reached, or its client certificate unusable: no SNI changes that
    if timeout <= 0.05:
        return dict(result, ok=False, error={"code": "TIMEOUT", "message": "%s, and no time was left to ask with "
                                             "openssl s_client" % why})
    if target.get("proxy_protocol") or not shutil.which("openssl"):
        return dict(result, ok=False, error={"code": "UNSUPPORTED_SETTING", "message": "%s, and %s: not judged" % (
            why, "openssl s_client sends no PROXY protocol header" if target.get("proxy_protocol") else
            "this host has no openssl command")})
    extra = []
    for flag, key in (("-min_protocol", "min_version"), ("-max_protocol", "max_version"), ("-cipher", "ciphers"),
                      ("-ciphersuites", "ciphersuites")):
        if settings.get(key):
            extra += [flag, settings[key]]
    try:
        proc = _run_s_client(target["host"], target["port"], name, identity, extra, max(0.01, timeout))
    except subprocess.TimeoutExpired:
        return dict(result, ok=False, error={"code": "TIMEOUT", "message": "no answer within %ss (openssl s_client "
                                             "-servername %s)" % (timeout, name)})
    except OSError as exc:
        return dict(result, ok=False, error={"code": "UNSUPPORTED_SETTING", "message": "%s, and openssl s_client "
                                             "could not run (%s): not judged" % (why, exc)})
    except CertError as exc:
        return dict(result, ok=False, error={"code": exc.code, "message": "%s, and %s" % (why, exc.message)})
    ders, version, cipher, failure = _s_client_outcome(proc)
    if ders and version:
        return dict(result, ok=True, error=None, chain_der=ders, tls_version=version, cipher=cipher)
    if not result["ok"]:  # refused with that SNI too: the first handshake's failure says it
        return result
    return dict(result, ok=False, chain_der=[], error={
        "code": "TLS_HANDSHAKE_FAILED", "message": "with the SNI %s (sent by openssl s_client) the backend completes "
        "no handshake (%s); without SNI it negotiates %s" % (name, failure, result["tls_version"])})


def _of_type(result, key_type):
    """A key-type probe's result whose leaf is of another key type (an Ed25519 certificate signs the ECDSA suites
    too) is no answer: the handshake's error then says what came instead."""
    kind = _material.certificate_key_type(result["chain_der"][0]) if result["chain_der"] else None
    if not result["ok"] or kind == key_type:
        return result
    return dict(result, ok=False, chain_der=[], error={
        "code": "TLS_HANDSHAKE_FAILED", "message": "asked for its %s certificate, the server sent %s" % (
            key_type, "a certificate of key type %s" % kind if kind else "a certificate whose key type is unknown")})


def _certificate_message_chain(seen):
    """The server's chain from its Certificate handshake message (TLS 1.2 or 1.3 framing), [] when none."""
    version, data = seen.get("certificate") or (None, b"")
    try:
        pos = 4  # message type and length
        if version == 0x0304:
            pos += 1 + data[pos]  # certificate_request_context
        end = pos + 3 + int.from_bytes(data[pos:pos + 3], "big")
        pos += 3
        ders = []
        while pos + 3 <= min(end, len(data)):
            size = int.from_bytes(data[pos:pos + 3], "big")
            ders.append(bytes(data[pos + 3:pos + 3 + size]))
            pos += 3 + size
            if version == 0x0304:
                pos += 2 + int.from_bytes(data[pos:pos + 2], "big")  # per-certificate extensions
        return ders if pos == end == len(data) else []
    except IndexError:
        return []


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


def _served_version(seen):
    versions = [v for d, ct, _mt, v in (seen or {}).get("messages", ()) if d == "read" and ct == _HANDSHAKE]
    return _TLS_VERSIONS.get(versions[-1]) if versions else None


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
            chain = None if proxy_protocol else _chain_via_openssl(
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
            _refused_after_asking(result, tls, method, seen, identity)
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


def _refused_after_asking(result, tls, method, seen, identity):
    """A server that asked for a client certificate and then failed the connection: for
    CLIENT_CERT_REQUIRED / REJECTED, the chain it sent before asking (TLS 1.2: the handshake failed
    after it; read before the socket is closed) and the version; else say that it had asked."""
    code = result["error"]["code"]
    if code.startswith("CLIENT_CERT_"):
        if not result["chain_der"] and tls is not None and method in ("public", "private"):
            try:
                result["chain_der"] = _served_chain(tls, method)
            except (ValueError, OSError, AttributeError):
                result["chain_der"] = []
        result["chain_der"] = result["chain_der"] or _certificate_message_chain(seen)
        result["tls_version"] = result["tls_version"] or _served_version(seen)
    elif identity is None and code in ("CONNECTION_RESET", "TLS_HANDSHAKE_FAILED"):
        result["error"]["message"] += " (after it asked for a client certificate, and none was given)"


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


def issuer_identities(path, *, max_bytes=_base.DEFAULT_MAX_FILE_BYTES):
    """The client certificates of a file as Apache's mod_ssl takes them (SSLProxyMachineCertificateFile):
    [{cert, key (their PEM), issuer (canonical, as X509_NAME_cmp compares it), subject}] in file order. Only the
    plain layout is taken, each certificate followed by its key (the blocks OpenSSL reads: a BEGIN line starting its
    line); another (a key first, a certificate without a key, which Apache makes a chain certificate) is
    UNSUPPORTED_SETTING, not judged. CertError INVALID_CONFIG for a pair Apache refuses to start with (an encrypted
    key, a key not the certificate's: AH02252, AH02326), else as load_client_identity's reading."""
    what = "client_cert %s" % path
    try:
        data = _base.read_file(path, max_bytes=max_bytes)
    except CertError as exc:
        raise _prefixed(exc, what)
    # (blocks of a kind OpenSSL's X509_INFO reader skips are left out: an `openssl ecparam -genkey` file's
    # EC PARAMETERS; a CRL it reads, and so it counts)
    blocks = [(label, body) for label, body in _base.pem_blocks(_base.line_start_pem(data))[0]
              if label in _material.CERT_LABELS or label.endswith(b"PRIVATE KEY") or label == b"X509 CRL"]
    kinds = ["cert" if label in _material.CERT_LABELS else "key" if label.endswith(b"PRIVATE KEY") else label
             for label, _body in blocks]
    if not kinds or kinds != ["cert", "key"] * (len(kinds) // 2):
        raise CertError("UNSUPPORTED_SETTING", "%s: its blocks are not each certificate followed by its key (%s); "
                        "Apache pairs and chains such a file in ways not reproduced here: not judged" % (
                            what, ", ".join(k if isinstance(k, str) else k.decode("ascii", "replace")
                                            for k in kinds[:8]) or "none"))
    identities = []
    for index in range(0, len(blocks), 2):
        (label, body), (key_label, key_body) = blocks[index], blocks[index + 1]
        number = index // 2 + 1
        try:
            cert = _certs().load_certificate(_base.pem_der(body))
        except (CertError, ValueError):
            raise CertError("NOT_A_CERTIFICATE", "%s: certificate %d cannot be read" % (what, number))
        key_pem = b"-----BEGIN %s-----\n%s-----END %s-----\n" % (key_label, key_body, key_label)
        key = _certs().private_key_summary(key_pem)
        if key["encrypted"] or key.get("error") or key["_spki"] != _certs().leaf_spki(cert):
            raise CertError("INVALID_CONFIG", "%s: the key after certificate %d (%s) is %s: Apache refuses to start "
                            "(%s)" % (what, number, cert.subject.rfc4514_string(), "password-protected"
                                      if key["encrypted"] else "unreadable" if key.get("error") else
                                      "not the certificate's", "AH02252" if key["encrypted"] or key.get("error")
                                      else "AH02326"))
        identities.append({"cert": b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label),
                           "key": key_pem, "issuer": _certs().canonical_name(cert.issuer),
                           "subject": cert.subject.rfc4514_string()})
    return identities


def apache_choice(identities, names):
    """Which of `identities` (issuer_identities) Apache presents to a server that asked for a client certificate
    naming these CAs (ca_names): the first when it names none; else the first certificate issued by the first CA
    named that issued any (ssl_callback_proxy_cert); None when none is, and Apache presents none."""
    if not names:
        return 0
    for name in names:
        try:
            wanted = _certs().canonical_name_der(name)
        except (ValueError, IndexError):
            continue
        for index, identity in enumerate(identities):
            if identity["issuer"] == wanted:
                return index
    return None


def _chosen_context(identities, index, settings):
    """A client context offering `settings` and presenting identities[index] (None: no certificate), its
    certificate and key handed to OpenSSL through pipes (_pem_pipes)."""
    ctx = client_context(lb_settings=settings)
    if index is None:
        return ctx
    identity = identities[index]
    if identity["key"] is None:
        raise CertError("NOT_A_CERTIFICATE", "client certificate %d (%s) has no private key after it, and the load "
                        "balancer takes none without one" % (index + 1, identity["subject"]))
    try:
        with _pem_pipes(identity["cert"], identity["key"]) as paths:
            ctx.load_cert_chain(paths[0], paths[1], password=_no_password)
    except CertError as exc:
        raise _prefixed(exc, "client certificate %d (%s)" % (index + 1, identity["subject"]))
    except OSError as exc:  # ssl.SSLError too: a key that is not the certificate's
        raise CertError("NOT_A_CERTIFICATE", "client certificate %d (%s): OpenSSL cannot load it with the key after "
                        "it (%s)" % (index + 1, identity["subject"], getattr(exc, "reason", None) or exc.strerror))
    ctx.identity = {"cert": "certificate %d of the file" % (index + 1), "key": None, "certificates": 1,
                    "subject": identity["subject"], "_password": None, "_pems": (identity["cert"], identity["key"])}
    return ctx


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
            plain = _of_type(plain, key_type)
            if plain["ok"]:
                return plain
        return _of_type(typed_probe(
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
        checked = _of_type(result, target["key_type"])
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
            result = _with_openssl_sni(result, target, getattr(context, "identity", None),
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
            result = _within_suites(result, target, getattr(context, "identity", None), max(0.05, left))
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
                identities[path] = issuer_identities(path)
            except CertError as exc:
                identities[path] = exc
        if isinstance(identities[path], CertError):
            return context, _failed(identities[path])
        index = apache_choice(identities[path], names)
        if index == 0:
            return context, result
        key = (path, index, _settings_key(target))
        if key not in picked:
            try:
                picked[key] = _chosen_context(identities[path], index, target.get("lb_settings"))
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
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, targets))
    for result in results:
        result.pop("_ca_names", None)  # (DER names: internal)
    return results

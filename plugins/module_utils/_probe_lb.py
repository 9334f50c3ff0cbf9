# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a probe needs only where it asks what Python's ssl cannot, or presents a client certificate (see _probe):
`openssl s_client` (a key type's certificate, TLS 1.3 suites, an SNI Python's ssl cannot send, the served chain on
Python < 3.10), and client certificates read and checked before any connection (their files, their keys' passwords
as nginx reads them, Apache's choice by the CA names a server sends).

_probe imports this module only when a probe needs it: a host that probes its own endpoints (a fleet's collect, one
handshake a site), and most load balancers' probes, compile about 480 lines less, twice on Python 3.11 from
AnsiballZ's zip.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import ssl
import subprocess
import threading
import time

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _material
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, is_ip
from ansible_collections.certops.backend_tls.plugins.module_utils._probe import (
    _HANDSHAKE,
    _TLS_VERSIONS,
    KEY_TYPES,
    _certs,
    _failed,
    _left,
    _no_password,
    _prefixed,
    _says_not_tls,
    _served_chain,
    client_context,
)


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


def _served_version(seen):
    versions = [v for d, ct, _mt, v in (seen or {}).get("messages", ()) if d == "read" and ct == _HANDSHAKE]
    return _TLS_VERSIONS.get(versions[-1]) if versions else None


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

# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of the certificate vocabulary that needs nothing but the standard library: the collection's
exception, PEM splitting, fingerprints, the "expires soon" rule and the bounded read of a file that never blocks.

_certs, _verify, _names and the role's filters import it from here. It lives apart from _certs so that the
filters, which Ansible imports afresh in every forked worker (for every host and task), do not pay for
importing cryptography.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import ipaddress
import os
import re
import stat

_PEM_MARK = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]+)-----")
_IPV4_CHARACTERS = frozenset("0123456789.")


def ip_address(text):
    """The IPv4Address or IPv6Address a string spells, else None (a DNS name, or anything else).

    Server names are mostly DNS names, and ipaddress refuses one by raising ValueError, which costs more than the
    rest of a name check: a string without ':' that is not all digits and dots cannot be an address, and is told
    apart without asking ipaddress.
    """
    if not isinstance(text, str) or (":" not in text and not (text and _IPV4_CHARACTERS.issuperset(text))):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def real_path(path):
    """os.path.realpath, for any path a task may name: one holding a NUL byte (which no file has) is made absolute as
    it is, where Python 3.10 and later raise ValueError from realpath (3.8 and 3.9 gave it back); reading it then
    says NOT_FOUND (read_file)."""
    try:
        return os.path.realpath(path)
    except ValueError:
        return os.path.abspath(path)


def is_ip(host):
    return ip_address(host) is not None


def default_server_name(host):
    """SNI defaults to the host when it is a DNS name; IP literals send no SNI."""
    return None if is_ip(host) else host


# The key types a probe can ask a server for, where it holds certificates of several (an endpoint's key_type);
# _probe.KEY_TYPES says how it asks for each. Here so that parsing an endpoint does not import the prober.
KEY_TYPES = ("RSA", "EC", "Ed25519", "Ed448")


class CertError(Exception):
    """The one exception of the collection's helpers: a machine-readable code and a message."""

    file_format = None  # parse_material sets it when it recognised the data's format (e.g. pkcs12)

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message

    def as_dict(self):
        return {"code": self.code, "message": self.message}


def expires_soon(days_remaining, min_days):
    """The one rule for "expires soon": fewer whole days left than required (None: nothing to judge)."""
    return days_remaining is not None and days_remaining < min_days


def fingerprint(der):
    """The SHA-256 fingerprint of DER bytes, lowercase hex: how every result names a certificate."""
    return hashlib.sha256(der).hexdigest()


# The labels OpenSSL reads a certificate under where a server or a load balancer reads one (PEM_read_bio_X509 takes
# the legacy "X509 CERTIFICATE" too); "TRUSTED CERTIFICATE" carries trust settings and is read only from CA files.
CERTIFICATE_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")


def certificate_pems(text):
    """Each complete PEM certificate block of text (str or bytes), as PEM CERTIFICATE bytes, in order, in one linear
    pass."""
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    blocks, _unterminated = pem_blocks(text)
    return [b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
            for label, body in blocks if label in CERTIFICATE_LABELS]


def pem_blocks(data):
    """([(label, body)], number of BEGIN lines without their END), in one linear pass.

    A BEGIN followed by another BEGIN before its END counts as unterminated (a truncated block), so a
    file of BEGIN lines costs what its size costs (a lazy BEGIN...END regex rescans to the end from
    every BEGIN: quadratic, minutes for 1 MB).
    """
    blocks, unterminated, opened = [], 0, None
    for mark in _PEM_MARK.finditer(data):
        kind, label = mark.group(1), mark.group(2)
        if kind == b"BEGIN":
            unterminated += opened is not None
            opened = mark
        elif opened is not None and label == opened.group(2):
            # OpenSSL ignores blanks at the end of the BEGIN line, as at the end of every line
            body = data[opened.end():mark.start()].lstrip(b" \t")
            if body.startswith(b"\r\n"):
                blocks.append((label, body[2:]))
            elif body.startswith(b"\n"):
                blocks.append((label, body[1:]))
            else:
                unterminated += 1
            opened = None
    return blocks, unterminated + (opened is not None)


_BOM = b"\xef\xbb\xbf"


def line_start_pem(data):
    """PEM text with every BEGIN line that does not start its line made no BEGIN line, as OpenSSL's PEM reader sees
    it: it knows a BEGIN line only at the start of a line, after a UTF-8 byte order mark where one begins the file or
    the line after an END line (OpenSSL 3 skips it there)."""
    if b"-----BEGIN " not in data:
        return data
    out, after_end = [], True
    for line in data.split(b"\n"):
        text = line[3:] if after_end and line.startswith(_BOM) else line
        if b"-----BEGIN " in text and not text.startswith(b"-----BEGIN "):
            text = text.replace(b"-----BEGIN ", b"-----BEGUN ")
        out.append(text)
        after_end = text.startswith(b"-----END ")
    return b"\n".join(out)


def pem_der(body):
    """The DER bytes of a PEM block's body (as pem_blocks gives it); ValueError when it is not valid base64."""
    return base64.b64decode(b"".join(body.split()), validate=True)


DEFAULT_MAX_FILE_BYTES = 1024 * 1024  # read_file's default limit (a certificate file)
_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"))


def not_regular(mode):
    """None for a regular file, else a CertError naming what the path is (a directory: NOT_A_CERTIFICATE)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return CertError("NOT_A_CERTIFICATE", "is a directory")
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    return CertError("NOT_REGULAR_FILE", "%s, not read" % kind)


def read_file(path, *, max_bytes=DEFAULT_MAX_FILE_BYTES):
    """Read a file for parsing; CertError NOT_FOUND / PERMISSION_DENIED / TOO_LARGE / NOT_REGULAR_FILE.

    Never blocks: a FIFO, socket or device is named and not read. The path is checked before it is
    opened (so a FIFO's writer is not disturbed), then opened with O_NONBLOCK and checked again on
    the open descriptor (so a file swapped for a FIFO in between cannot hang the read either).
    """
    try:
        problem = not_regular(os.stat(path).st_mode)
        if problem is not None:
            raise problem
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            info = os.fstat(handle.fileno())
            problem = not_regular(info.st_mode)
            if problem is not None:
                raise problem
            if info.st_size > max_bytes:
                raise CertError("TOO_LARGE", "%d bytes is over the limit of %d" % (info.st_size, max_bytes))
            data = handle.read(max_bytes + 1)
    except CertError:
        raise
    except ValueError:  # an embedded NUL byte
        raise CertError("NOT_FOUND", "not a valid path (it contains a NUL byte)")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                raise CertError("NOT_FOUND", "dangling symlink to %s" % os.readlink(path))
            raise CertError("NOT_FOUND", "no such file")
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CertError("PERMISSION_DENIED", "permission denied")
        if exc.errno == errno.EISDIR:
            raise CertError("NOT_A_CERTIFICATE", "is a directory")
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket that became one after the check above
            try:
                problem = not_regular(os.stat(path).st_mode)
            except OSError:
                problem = None
            raise problem or CertError("NOT_REGULAR_FILE", "not a regular file (%s), not read" % exc.strerror)
        raise CertError("NOT_FOUND", "cannot read: %s" % exc.strerror)
    if len(data) > max_bytes:
        raise CertError("TOO_LARGE", "over the limit of %d bytes" % max_bytes)
    return data


def port_number(text):
    """'443' -> 443; None unless ASCII digits for 1..65535 ('²'.isdigit() is True, int('²') fails).

    Leading zeros are allowed, as the servers read them; more than five other digits are no port (and
    int() refuses strings of more than 4300 digits).
    """
    if not text or not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > 5:
        return None
    port = int(text.lstrip("0") or "0")
    return port if 0 < port < 65536 else None

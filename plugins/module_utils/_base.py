# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of the certificate vocabulary that needs nothing but the standard library: the collection's
exception, PEM splitting, fingerprints and the "expires soon" rule.

_certs, _verify, _names and the role's filters import it from here. It lives apart from _certs so that the
filters, which Ansible imports afresh in every forked worker (for every host and task), do not pay for
importing cryptography.
"""

from __future__ import annotations

import hashlib
import re

_PEM_MARK = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]+)-----")


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

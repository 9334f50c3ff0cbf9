# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse certificate material (PEM bundles, DER, cert+key files, private keys) into plain dicts.

Pure helpers: they take bytes and return dicts/lists, raise CertError(code, message) and never
call fail_json. Private key bytes never leave this module: a key is reduced to its type and the
DER of its *public* half, which is only used to compare against certificates.
Works with cryptography >= 3.3 and Python >= 3.8 (old target hosts).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import errno
import hashlib
import os
import re

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # reported by _deps.cryptography_problem()
    pass

DEFAULT_MAX_FILE_BYTES = 1024 * 1024

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY",
               b"ENCRYPTED PRIVATE KEY")

_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "server_auth",
    "1.3.6.1.5.5.7.3.2": "client_auth",
    "1.3.6.1.5.5.7.3.3": "code_signing",
    "1.3.6.1.5.5.7.3.4": "email_protection",
    "1.3.6.1.5.5.7.3.8": "time_stamping",
    "1.3.6.1.5.5.7.3.9": "ocsp_signing",
    "2.5.29.37.0": "any_extended_key_usage",
}
_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
               "key_agreement", "key_cert_sign", "crl_sign")


class CertError(Exception):
    """The one exception of the collection's helpers: a machine-readable code and a message."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message

    def as_dict(self):
        return {"code": self.code, "message": self.message}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    """ISO 8601 UTC with Z."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validity(cert):
    try:
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    except AttributeError:  # cryptography < 42
        utc = datetime.timezone.utc
        return cert.not_valid_before.replace(tzinfo=utc), cert.not_valid_after.replace(tzinfo=utc)


def der_to_pem(der):
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def public_key_facts(key):
    """{type, size, curve} of a public (or private) key object."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return {"type": "RSA", "size": key.key_size, "curve": None}
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return {"type": "EC", "size": key.curve.key_size, "curve": key.curve.name}
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return {"type": "Ed25519", "size": 256, "curve": None}
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return {"type": "Ed448", "size": 456, "curve": None}
    if isinstance(key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return {"type": "DSA", "size": key.key_size, "curve": None}
    return {"type": type(key).__name__, "size": None, "curve": None}


def spki_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def leaf_spki(cert):
    """The certificate's public key DER, or None when its key type cannot be read."""
    try:
        return spki_der(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return None


def _ext(cert, cls):
    """An extension's value, or None when absent or unparsable (extensions_problem() says why)."""
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError, TypeError):
        return None


def extensions_problem(cert):
    """None, or why the certificate's extensions cannot be parsed (malformed or duplicated)."""
    try:
        cert.extensions  # noqa: B018 - parsing is the check
    except (x509.DuplicateExtension, ValueError, TypeError) as exc:
        return str(exc)
    return None


def _name_cn(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def load_certificate(der):
    """A cryptography Certificate from DER bytes; CertError NOT_A_CERTIFICATE if it is not one."""
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertError("NOT_A_CERTIFICATE", "not a valid X.509 certificate: %s" % exc)


def certificate_facts(der, *, now, include_pem=True, cert=None):
    """The public facts of one DER certificate as a plain dict (DESIGN.md `certificates[]`)."""
    if cert is None:
        cert = load_certificate(der)
    not_before, not_after = _validity(cert)
    sans = {"dns": [], "ip": []}
    san = _ext(cert, x509.SubjectAlternativeName)
    if san is not None:
        sans["dns"] = san.get_values_for_type(x509.DNSName)
        sans["ip"] = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    basic = _ext(cert, x509.BasicConstraints)
    ku = _ext(cert, x509.KeyUsage)
    key_usage = [name for name in _KEY_USAGES if ku is not None and getattr(ku, name)]
    if ku is not None and ku.key_agreement:
        key_usage += [n for n in ("encipher_only", "decipher_only") if getattr(ku, n)]
    eku = _ext(cert, x509.ExtendedKeyUsage)
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    aia = _ext(cert, x509.AuthorityInformationAccess)
    ocsp, issuers = [], []
    if aia is not None:
        for desc in aia:
            if isinstance(desc.access_location, x509.UniformResourceIdentifier):
                if desc.access_method == x509.oid.AuthorityInformationAccessOID.OCSP:
                    ocsp.append(desc.access_location.value)
                elif desc.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS:
                    issuers.append(desc.access_location.value)
    try:
        sig_hash = cert.signature_hash_algorithm
        signature_hash = sig_hash.name if sig_hash is not None else None
    except UnsupportedAlgorithm:
        signature_hash = None
    try:
        public_key = public_key_facts(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        public_key = {"type": "unsupported", "size": None, "curve": None}
    subject, issuer = cert.subject, cert.issuer
    remaining = not_after - now
    facts = {
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
        "fingerprint_sha1": hashlib.sha1(der).hexdigest(),
        "subject": subject.rfc4514_string(),
        "subject_cn": _name_cn(subject),
        "issuer": issuer.rfc4514_string(),
        "serial_number": "%x" % cert.serial_number,
        "not_before": iso(not_before),
        "not_after": iso(not_after),
        "days_remaining": remaining.days,
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "sans": sans,
        "public_key": public_key,
        "signature_hash": signature_hash,
        "is_ca": bool(basic is not None and basic.ca),
        "self_signed": subject == issuer and (
            aki is None or ski is None or aki.key_identifier in (None, ski.digest)),
        "key_usage": key_usage,
        "extended_key_usage": [_EKU_NAMES.get(oid.dotted_string, oid.dotted_string) for oid in eku]
        if eku is not None else [],
        "subject_key_id": binascii.hexlify(ski.digest).decode() if ski is not None else None,
        "authority_key_id": binascii.hexlify(aki.key_identifier).decode()
        if aki is not None and aki.key_identifier is not None else None,
        "ocsp_urls": ocsp,
        "ca_issuers_urls": issuers,
    }
    if include_pem:
        facts["pem"] = der_to_pem(der)
    return facts


def _load_private_key(data, der=False):
    loader = serialization.load_der_private_key if der else serialization.load_pem_private_key
    try:
        # Skipping RSA's expensive consistency check is safe: we only compare public halves.
        return loader(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        if "unsafe_skip_rsa_key_validation" not in str(exc):
            raise
        return loader(data, None)  # cryptography < 39


def private_key_summary(block, *, der=False):
    """Reduce a private key to {type, size, encrypted, error} plus '_spki' (public half, internal).

    Never returns private bytes. '_spki' is the public key DER, used only to pair keys with
    certificates; callers drop it before returning results.
    """
    summary = {"present": True, "type": None, "size": None, "encrypted": False, "_spki": None}
    try:
        key = _load_private_key(block, der=der)
    except TypeError:  # "Password was not given but private key is encrypted"
        summary["encrypted"] = True
        return summary
    except (ValueError, UnsupportedAlgorithm):
        summary["error"] = {"code": "NOT_A_CERTIFICATE", "message": "unreadable private key"}
        return summary
    facts = public_key_facts(key)
    summary["type"], summary["size"] = facts["type"], facts["size"]
    summary["_spki"] = spki_der(key.public_key())
    return summary


def parse_material(data):
    """Split file content into certificates (DER list, file order) and at most one private key.

    Returns {format, ders, key, problems}; raises CertError(NOT_A_CERTIFICATE) when the data
    holds neither a certificate nor a private key.
    """
    if not data.strip():
        raise CertError("NOT_A_CERTIFICATE", "the file is empty")
    ders, key, problems = [], None, []
    if b"-----BEGIN " in data:
        blocks = _PEM_BLOCK.findall(data)
        if len(blocks) < len(_PEM_BEGIN.findall(data)):
            problems.append("a PEM block has no END line (truncated file?)")
        for index, (label, body) in enumerate(blocks, start=1):
            if label in _CERT_LABELS:
                try:
                    ders.append(base64.b64decode(b"".join(body.split()), validate=True))
                except (binascii.Error, ValueError):
                    problems.append("PEM block %d is not valid base64" % index)
            elif label in _KEY_LABELS or label.endswith(b"PRIVATE KEY"):
                if key is None:
                    pem = b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label)
                    key = private_key_summary(pem)
                    if label == b"ENCRYPTED PRIVATE KEY" or b"ENCRYPTED" in body[:64]:
                        key["encrypted"] = True
                else:
                    problems.append("more than one private key; only the first is used")
        fmt = "pem"
    else:
        fmt = "der"
        try:
            x509.load_der_x509_certificate(data)
            ders.append(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            try:
                key = private_key_summary(data, der=True)
                if key.get("error"):
                    key = None
            except (ValueError, TypeError, UnsupportedAlgorithm):
                key = None
    if not ders and key is None:
        detail = "; ".join(problems) if problems else "no certificate or private key found"
        raise CertError("NOT_A_CERTIFICATE", detail)
    return {"format": fmt, "ders": ders, "key": key, "problems": problems}


def read_file(path, *, max_bytes=DEFAULT_MAX_FILE_BYTES):
    """Read a file for parsing; CertError NOT_FOUND / PERMISSION_DENIED / TOO_LARGE."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise CertError("TOO_LARGE", "%d bytes is over the limit of %d" % (size, max_bytes))
            data = handle.read(max_bytes + 1)
    except CertError:
        raise
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                raise CertError("NOT_FOUND", "dangling symlink to %s" % os.readlink(path))
            raise CertError("NOT_FOUND", "no such file")
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CertError("PERMISSION_DENIED", "permission denied")
        if exc.errno == errno.EISDIR:
            raise CertError("NOT_A_CERTIFICATE", "is a directory")
        raise CertError("NOT_FOUND", "cannot read: %s" % exc.strerror)
    if len(data) > max_bytes:
        raise CertError("TOO_LARGE", "over the limit of %d bytes" % max_bytes)
    return data


def pick_leaf(certs):
    """Index of the leaf in a list of (der, cert) in any order: one that issued no other in the
    list (self-issued roots aside), preferring a non-CA; None for an empty list."""
    if not certs:
        return None
    issuers = set(cert.issuer for _der, cert in certs if cert.issuer != cert.subject)
    candidates = [i for i, (_der, cert) in enumerate(certs) if cert.subject not in issuers] or [0]
    for index in candidates:
        basic = _ext(certs[index][1], x509.BasicConstraints)
        if basic is None or not basic.ca:
            return index
    return candidates[0]

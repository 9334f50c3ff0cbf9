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
import hashlib
import ipaddress
import re
import warnings

# The standard-library part of the vocabulary (CertError, PEM splitting, fingerprints, expires_soon) lives in
# _base, which the role's filters import without cryptography.
from ansible_collections.certops.backend_tls.plugins.module_utils._base import (
    CertError,
    fingerprint,
    line_start_pem,
    pem_blocks,
    pem_der,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._material import der_children as _der_children
from ansible_collections.certops.backend_tls.plugins.module_utils._material import der_container, der_tlv, pem_material
from ansible_collections.certops.backend_tls.plugins.module_utils._material import der_element as _der_element

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtensionOID, NameOID

    # What loading a certificate raises for bytes that are not one (a bad version number is InvalidVersion,
    # which is no ValueError).
    LOAD_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)
    # What reading a certificate's extensions raises when cryptography cannot parse them: one malformed or duplicated
    # extension, or a general name of a type it does not support (x400Address, ediPartyName), which OpenSSL reads.
    EXTENSION_ERRORS = (x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError, TypeError)
except ImportError:  # reported by _deps.cryptography_problem()
    LOAD_ERRORS = EXTENSION_ERRORS = (ValueError, TypeError)
try:
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError:
    pkcs12 = None


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


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    """ISO 8601 UTC with Z (as strftime's %Y-%m-%dT%H:%M:%SZ writes it, the year unpadded; formatted by hand, at a
    third of strftime's cost: a result of 1,000 certificates holds 2,000 of them)."""
    dt = dt.astimezone(datetime.timezone.utc)
    return "%d-%02d-%02dT%02d:%02d:%02dZ" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def _validity(cert):
    try:
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    except AttributeError:  # cryptography < 42
        utc = datetime.timezone.utc
        return cert.not_valid_before.replace(tzinfo=utc), cert.not_valid_after.replace(tzinfo=utc)


def der_to_pem(der, label="CERTIFICATE"):
    """DER as PEM, 64 columns, as OpenSSL writes it (label: X509 CRL for a CRL)."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def _key_kind(key):
    """RSA, EC, Ed25519, Ed448, DSA or None, for a public or private key object."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return "EC"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "Ed448"
    if isinstance(key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return "DSA"
    return None


_KEY_KINDS = {}  # a key object's class -> _key_kind (the abstract classes' isinstance checks, once per class)


def public_key_facts(key):
    """{type, size, curve} of a public (or private) key object."""
    cls = type(key)
    kind = _KEY_KINDS.get(cls, False)
    if kind is False:
        kind = _KEY_KINDS[cls] = _key_kind(key)
    if kind in ("RSA", "DSA"):
        return {"type": kind, "size": key.key_size, "curve": None}
    if kind == "EC":
        return {"type": "EC", "size": key.curve.key_size, "curve": key.curve.name}
    if kind == "Ed25519":
        return {"type": "Ed25519", "size": 256, "curve": None}
    if kind == "Ed448":
        return {"type": "Ed448", "size": 456, "curve": None}
    return {"type": cls.__name__, "size": None, "curve": None}


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
    except x509.ExtensionNotFound:
        return None
    except EXTENSION_ERRORS:
        return None


def _extension_values(cert):
    """{extension OID: parsed value} of every extension, read in one pass (what _ext gives one at a time); None when
    the extensions cannot be parsed (then _ext gives None for each)."""
    try:
        return {extension.oid: extension.value for extension in cert.extensions}
    except EXTENSION_ERRORS:
        return None


def extensions_problem(cert):
    """None, or why the certificate's extensions cannot be parsed (malformed or duplicated)."""
    try:
        cert.extensions  # noqa: B018 - parsing is the check
    except EXTENSION_ERRORS as exc:
        return str(exc)
    return None


def subject_alt_names(cert):
    """(DNS names, IP addresses as ipaddress objects) of the certificate's subjectAltName, as OpenSSL reads them.

    cryptography parses every extension at once: one it cannot parse (a malformed SCT list, an IP address of five
    bytes, an x400Address entry) hides the subjectAltName too. OpenSSL still matches names against its well-formed
    entries, and never falls back to the CN of a certificate that has one; so the names are then read from the DER.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        return [], []
    except EXTENSION_ERRORS:
        return _der_subject_alt_names(cert.tbs_certificate_bytes)


_SAN_OID = b"\x55\x1d\x11"  # 2.5.29.17, the content of its DER OBJECT IDENTIFIER


def _der_subject_alt_names(tbs):
    """The DNS names and IP addresses of the first subjectAltName in a TBSCertificate's DER; entries of other
    types, and IP addresses that are neither 4 nor 16 bytes, are skipped (OpenSSL matches none of them)."""
    dns, ips = [], []
    try:
        _tag, start, end = _der_element(tbs, 0, len(tbs))
        extensions = [(s, e) for tag, s, e in _der_children(tbs, start, end) if tag == 0xA3]  # [3] EXPLICIT
        if not extensions:
            return dns, ips
        _tag, start, end = _der_element(tbs, extensions[0][0], extensions[0][1])
        for _tag, ext_start, ext_end in _der_children(tbs, start, end):
            parts = list(_der_children(tbs, ext_start, ext_end))
            if not parts or parts[0][0] != 0x06 or tbs[parts[0][1]:parts[0][2]] != _SAN_OID or parts[-1][0] != 0x04:
                continue
            _tag, names_start, names_end = _der_element(tbs, parts[-1][1], parts[-1][2])
            for tag, value_start, value_end in _der_children(tbs, names_start, names_end):
                value = tbs[value_start:value_end]
                if tag == 0x82:  # [2] dNSName, IA5String
                    try:
                        dns.append(value.decode("ascii"))
                    except UnicodeDecodeError:
                        pass
                elif tag == 0x87 and len(value) in (4, 16):  # [7] iPAddress
                    ips.append(ipaddress.ip_address(value))
            break
    except ValueError:
        pass  # what was read before the malformed part stands
    return dns, ips


def _name_cn(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def aia_urls(cert):
    """(OCSP URLs, caIssuers URLs) from the Authority Information Access extension (URIs only)."""
    return _aia_urls(_ext(cert, x509.AuthorityInformationAccess))


def _aia_urls(aia):
    ocsp, issuers = [], []
    for desc in aia or []:
        if isinstance(desc.access_location, x509.UniformResourceIdentifier):
            if desc.access_method == x509.oid.AuthorityInformationAccessOID.OCSP:
                ocsp.append(desc.access_location.value)
            elif desc.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS:
                issuers.append(desc.access_location.value)
    return ocsp, issuers


# PrintableString (X.680): letters, digits, space and '()+,-./:=? -- CAs have issued names with '&', '*', '@' or
# '_' in one (DigiCert's "Wells Fargo & Company" intermediates, 2017-2027). OpenSSL reads them, and so HAProxy,
# nginx and Apache accept such a chain; cryptography refuses to read the certificate at all.
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
_PRINTABLE_STRING, _UTF8_STRING = 0x13, 0x0C
# id(Certificate read leniently) -> (that Certificate, its own DER, [the PrintableString values re-tagged]): keyed by
# the object itself, never by bytes -- a certificate whose own bytes equal a lenient copy's must not pass for it.
_LENIENT = {}
_LENIENT_LIMIT = 65536  # certificates read leniently in one module run (every leaf under such an intermediate is)


def _retag_printable(der, start, end, found, depth=0):
    """Re-tag, in the bytearray `der`, every PrintableString between start and end whose characters are outside the
    type as a UTF8String (same length: the DER stays well-formed), noting each value in `found`. Walks constructed
    values; False when the bytes are not DER it can walk."""
    pos = start
    while pos < end:
        if depth > 32 or der[pos] & 0x1F == 0x1F:  # nesting, a multi-byte tag
            return False
        try:
            tag, content, after = _der_element(der, pos, end)
        except ValueError:
            return False
        if tag == _PRINTABLE_STRING and any(byte not in _PRINTABLE for byte in der[content:after]):
            if not der[content:after].isascii():
                return False
            der[pos] = _UTF8_STRING
            found.append(der[content:after].decode("ascii"))
        elif tag & 0x20 and not _retag_printable(der, content, after, found, depth + 1):
            return False
        pos = after
    return True


def _lenient_certificate(der, error):
    """The Certificate cryptography reads from `der` once its out-of-type PrintableStrings are UTF8Strings, or None
    (another problem, or nothing to re-tag)."""
    if "PrintableString" not in str(error) or not isinstance(der, (bytes, bytearray)):
        return None
    copy, found = bytearray(der), []
    if not _retag_printable(copy, 0, len(copy), found) or not found:
        return None
    if len(_LENIENT) >= _LENIENT_LIMIT:  # unable to keep its own bytes: not read at all, as before
        return None
    try:
        cert = x509.load_der_x509_certificate(bytes(copy))
    except LOAD_ERRORS:
        return None
    _LENIENT[id(cert)] = (cert, bytes(der), found)
    return cert


def _lenient_entry(cert):
    entry = _LENIENT.get(id(cert)) if _LENIENT else None
    return entry if entry is not None and entry[0] is cert else None


def der_of(cert):
    """The certificate's own DER bytes (for a certificate read leniently, not the copy cryptography read)."""
    entry = _lenient_entry(cert)
    return entry[1] if entry else cert.public_bytes(serialization.Encoding.DER)


def printable_violations(cert):
    """The PrintableString values outside that type's characters in the certificate ([] for almost all)."""
    entry = _lenient_entry(cert)
    return list(entry[2]) if entry else []


def tbs_of(cert):
    """The to-be-signed bytes its issuer signed: the certificate's own, not the lenient copy's."""
    entry = _lenient_entry(cert)
    if not entry:
        return cert.tbs_certificate_bytes
    der = entry[1]
    # SEQUENCE { tbsCertificate, signatureAlgorithm, signature }: the first element, header included. The framing is
    # the copy's, which cryptography read, so it is well-formed.
    _tag, content, end = _der_element(der, 0, len(der))
    return der[content:_der_element(der, content, end)[2]]


def load_certificate(der):
    """A cryptography Certificate from DER bytes; CertError NOT_A_CERTIFICATE if it is not one.

    A certificate whose names hold a PrintableString with characters outside the type (which OpenSSL reads) is read
    from a copy with those strings tagged UTF8String; der_of() gives its own bytes back, tbs_of() what its issuer
    signed, printable_violations() the strings."""
    try:
        return x509.load_der_x509_certificate(der)
    except LOAD_ERRORS as exc:
        cert = _lenient_certificate(der, exc)
        if cert is None:
            raise CertError("NOT_A_CERTIFICATE", "not a valid X.509 certificate: %s" % exc)
        return cert


def name_texts(cert):
    """(subject, issuer) as RFC 4514 text; CertError NOT_A_CERTIFICATE when either is malformed.

    cryptography parses names lazily: a certificate with a malformed name loads, then raises on first use (ValueError;
    TypeError for a value of a type the attribute cannot have, such as a BIT STRING common name).
    """
    try:
        return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except (ValueError, TypeError) as exc:
        raise CertError("NOT_A_CERTIFICATE", "not a valid X.509 certificate: malformed subject or issuer: %s" % exc)


def load_pem_certificate(pem):
    """A cryptography Certificate from one PEM block, names checked; CertError NOT_A_CERTIFICATE if it is none."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except LOAD_ERRORS as exc:
        blocks = pem_blocks(pem if isinstance(pem, bytes) else pem.encode("ascii", "replace"))[0]
        try:
            der = pem_der(blocks[0][1]) if blocks else b""
        except ValueError:
            der = b""
        cert = _lenient_certificate(der, exc)
        if cert is None:
            raise CertError("NOT_A_CERTIFICATE", "not a valid X.509 certificate: %s" % exc)
    name_texts(cert)
    return cert


_SHARED = {}  # (kind, value) -> the one object equal values share within this process (see _shared)
_SHARED_LIMIT = 4096


def _shared(value):
    """One object for equal values that the certificates of one issuer all repeat (its name and key id, key usages,
    AIA URLs, key facts), so that a result of thousands of certificates holds each once. Certificate facts are
    read-only once made: nothing mutates these lists and dicts in place."""
    if isinstance(value, dict):
        key = ("dict", tuple(sorted(value.items())))
    elif isinstance(value, list):
        key = ("list", tuple(value))
    else:
        key = ("value", value)
    shared = _SHARED.get(key)
    if shared is None:
        if len(_SHARED) >= _SHARED_LIMIT:
            return value
        _SHARED[key] = shared = value
    return shared


def key_usage_names(ku):
    """The uses a KeyUsage extension allows, as the facts name them (digital_signature, content_commitment...);
    [] for none."""
    if ku is None:
        return []
    names = [name for name in _KEY_USAGES if getattr(ku, name)]
    if ku.key_agreement:
        names += [n for n in ("encipher_only", "decipher_only") if getattr(ku, n)]
    return names


def eku_names(eku):
    """The purposes of an ExtendedKeyUsage extension as the facts name them (server_auth...; an unknown one by
    its dotted OID)."""
    return [_EKU_NAMES.get(oid.dotted_string, oid.dotted_string) for oid in eku]


def certificate_facts(der, *, now, include_pem=True, cert=None):
    """The public facts of one DER certificate as a plain dict (DESIGN.md `certificates[]`)."""
    if cert is None:
        cert = load_certificate(der)
    subject_text, issuer_text = name_texts(cert)  # first: it turns a malformed name into NOT_A_CERTIFICATE
    subject, issuer = cert.subject, cert.issuer
    not_before, not_after = _validity(cert)
    extensions = _extension_values(cert)  # every extension in one pass, not one walk of them each
    if extensions is None:  # as _ext and subject_alt_names read a certificate whose extensions do not parse
        extensions = {}
        dns_names, ip_addresses = _der_subject_alt_names(cert.tbs_certificate_bytes)
    else:
        san = extensions.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        dns_names, ip_addresses = ((san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress))
                                   if san is not None else ([], []))
    sans = {"dns": dns_names, "ip": [str(ip) for ip in ip_addresses]}
    if not sans["ip"]:
        sans["ip"] = _shared(sans["ip"])  # most certificates have none
    basic = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    key_usage = key_usage_names(extensions.get(ExtensionOID.KEY_USAGE))
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    ski = extensions.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = extensions.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    ocsp, issuers = _aia_urls(extensions.get(ExtensionOID.AUTHORITY_INFORMATION_ACCESS))
    try:
        sig_hash = cert.signature_hash_algorithm
        signature_hash = sig_hash.name if sig_hash is not None else None
    except UnsupportedAlgorithm:
        signature_hash = None
    try:
        public_key = public_key_facts(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        public_key = {"type": "unsupported", "size": None, "curve": None}
    remaining = not_after - now
    facts = {
        "fingerprint_sha256": fingerprint(der),
        "fingerprint_sha1": hashlib.sha1(der).hexdigest(),
        "subject": subject_text,
        "subject_cn": _name_cn(subject),
        "issuer": _shared(issuer_text),
        "serial_number": "%x" % cert.serial_number,
        "not_before": iso(not_before),
        "not_after": iso(not_after),
        "days_remaining": remaining.days,
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "sans": sans,
        "public_key": _shared(public_key),
        "signature_hash": _shared(signature_hash),
        "is_ca": bool(basic is not None and basic.ca),
        "self_signed": subject == issuer and (
            aki is None or ski is None or aki.key_identifier in (None, ski.digest)),
        "key_usage": _shared(key_usage),
        "extended_key_usage": _shared(eku_names(eku) if eku is not None else []),
        "subject_key_id": binascii.hexlify(ski.digest).decode() if ski is not None else None,
        "authority_key_id": _shared(binascii.hexlify(aki.key_identifier).decode())
        if aki is not None and aki.key_identifier is not None else None,
        "ocsp_urls": _shared(ocsp),
        "ca_issuers_urls": _shared(issuers),
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


def _key_summary(key):
    """{present, type, size, encrypted, _spki} of a loaded private key object (no private bytes)."""
    facts = public_key_facts(key)
    return {"present": True, "type": facts["type"], "size": facts["size"], "encrypted": False,
            "_spki": spki_der(key.public_key())}


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
    return _key_summary(key)


def _material_error(code, message, file_format):
    """A CertError that also says which format the data was recognised as (file entries report it)."""
    error = CertError(code, message)
    error.file_format = file_format
    return error


def pkcs7_ders(der):
    """The certificates (DER, in stored order) of a DER PKCS#7 blob; CertError NOT_A_CERTIFICATE."""
    # Imported here, for the rare PKCS#7 file: it pulls in the email package, about 12 ms of every module run
    # on a host (python -X importtime on the AnsiballZ payload) that reads no PKCS#7 file.
    try:
        from cryptography.hazmat.primitives.serialization import pkcs7
    except ImportError:  # cryptography < 3.1 (below the floor); PKCS#7 files are then NOT_A_CERTIFICATE
        pkcs7 = None
    if pkcs7 is None or not hasattr(pkcs7, "load_der_pkcs7_certificates"):
        raise _material_error("NOT_A_CERTIFICATE", "reading PKCS#7 needs cryptography >= 3.1", "pkcs7")
    try:
        with warnings.catch_warnings():
            # cryptography >= 45 warns (and reads it as BER) when the certificate SET is not in DER
            # order, which is what `openssl crl2pkcs7` writes: the file is fine, the warning is noise.
            warnings.simplefilter("ignore", UserWarning)
            certs = pkcs7.load_der_pkcs7_certificates(der)
    except LOAD_ERRORS as exc:
        ders = _pkcs7_lenient_ders(der, exc)
        if ders is None:
            raise _material_error("NOT_A_CERTIFICATE", "unreadable PKCS#7 data: %s" % exc, "pkcs7")
        return ders
    if not certs:
        raise _material_error("NOT_A_CERTIFICATE", "the PKCS#7 data holds no certificate", "pkcs7")
    return [cert.public_bytes(serialization.Encoding.DER) for cert in certs]


def _pkcs7_lenient_ders(der, error):
    """The certificates of a DER PKCS#7 that cryptography refused for a certificate's out-of-type PrintableString
    (load_certificate reads those), each as its own bytes; None when that is not why, or they cannot be found.

    ContentInfo SEQUENCE { OID signedData, [0] { SignedData SEQUENCE { version, digestAlgorithms,
    encapContentInfo, [0] IMPLICIT certificates, ... } } }"""
    if "PrintableString" not in str(error):
        return None
    try:
        _tag, body, end = _der_element(der, 0, len(der))
        (_oid, _s, _e), (wrapper, inner, inner_end) = list(_der_children(der, body, end))[:2]
        _tag, signed, signed_end = _der_element(der, inner, inner_end)
        certificates = [(s, e) for tag, s, e in _der_children(der, signed, signed_end) if tag == 0xA0]
        if wrapper != 0xA0 or len(certificates) != 1:
            return None
        (start, stop), ders = certificates[0], []
        for _tag, _content, after in _der_children(der, start, stop):  # each element whole, from where the last ended
            ders.append(bytes(der[start:after]))
            start = after
        for one in ders:
            load_certificate(one)
    except (ValueError, CertError):
        return None
    return ders or None


def pkcs12_material(data):
    """(certificate DERs, key summary or None) of a PKCS#12 file without a password.

    CertError ENCRYPTED when it needs a password, NOT_A_CERTIFICATE when it is damaged or empty.
    The key is reduced to its summary at once; its private bytes go no further.
    """
    if pkcs12 is None:
        raise _material_error("NOT_A_CERTIFICATE", "reading PKCS#12 needs cryptography >= 2.5", "pkcs12")
    if not der_container(data)[1]:
        raise _material_error("NOT_A_CERTIFICATE", "damaged PKCS#12 data (truncated?)", "pkcs12")
    loaded = None
    for password in (None, b""):  # no password, and the empty password some tools write instead
        try:
            loaded = pkcs12.load_key_and_certificates(data, password)
            break
        except LOAD_ERRORS:
            continue
    if loaded is None:
        raise _material_error(
            "ENCRYPTED", "password-protected PKCS#12 (or one this host's cryptography cannot decrypt): "
            "its certificates and key are not read", "pkcs12")
    key, cert, extra = loaded
    certs = ([cert] if cert is not None else []) + list(extra or [])
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    if not ders and key is None:
        raise _material_error("NOT_A_CERTIFICATE", "the PKCS#12 file holds no certificate or key", "pkcs12")
    return ders, (_key_summary(key) if key is not None else None)


def parse_material(data):
    """Split file content into certificates (DER list, file order) and at most one private key.

    Returns {format, ders, key, problems}; format is pem, der, pkcs7 (PEM or DER) or pkcs12.
    Raises CertError NOT_A_CERTIFICATE when the data holds neither a certificate nor a private
    key, ENCRYPTED for a password-protected PKCS#12; such errors carry `file_format` when the
    format was recognised.
    """
    if not data.strip():
        raise CertError("NOT_A_CERTIFICATE", "the file is empty")
    ders, key, problems = [], None, []
    if b"-----BEGIN " in data:
        fmt, ders, key, problems = pem_material(data, read_key=private_key_summary, read_pkcs7=pkcs7_ders)
    else:
        fmt = "der"
        try:
            load_certificate(data)
            ders.append(data)
        except CertError:
            container = der_container(data)[0]
            if container == "pkcs7":
                fmt, ders = "pkcs7", pkcs7_ders(data)
            elif container == "pkcs12":
                fmt = "pkcs12"
                ders, key = pkcs12_material(data)
            else:
                try:
                    key = private_key_summary(data, der=True)
                    if key.get("error"):
                        key = None
                except (ValueError, TypeError, UnsupportedAlgorithm):
                    key = None
    if not ders and key is None:
        detail = "; ".join(problems) if problems else "no certificate or private key found"
        raise _material_error("NOT_A_CERTIFICATE", detail, fmt if fmt == "pkcs7" else None)
    return {"format": fmt, "ders": ders, "key": key, "problems": problems}


# The string types OpenSSL's name canonical encoding rewrites as UTF8String (asn1_string_canon), and how to read them
_CANON_STRINGS = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
                  0x1C: "utf-32-be", 0x1E: "utf-16-be"}


def canonical_name(name):
    """A cryptography Name in OpenSSL's canonical encoding (x509_name_canon), which X509_NAME_cmp compares and
    X509_NAME_hash hashes: each RDN's string values as UTF8String with blanks trimmed and collapsed and ASCII letters
    lowered, the RDN SETs one after another. ValueError for a name that is not DER."""
    return canonical_name_der(name.public_bytes())


def canonical_name_der(der):
    """canonical_name() of a name given as DER (a TLS CertificateRequest lists them so)."""
    _tag, start, end = _der_element(der, 0, len(der))
    canon = b""
    for _set_tag, set_start, set_end in _der_children(der, start, end):
        entries = []
        for _seq, entry_start, entry_end in _der_children(der, set_start, set_end):
            (oid_tag, oid_start, oid_end), (value_tag, value_start, value_end) = list(
                _der_children(der, entry_start, entry_end))[:2]
            value = der[value_start:value_end]
            if value_tag in _CANON_STRINGS:
                text = value.decode(_CANON_STRINGS[value_tag], "replace")
                text = " ".join(_split_blanks(text)).encode("utf-8")
                value_tag, value = 0x0C, bytes(b + 32 if 65 <= b <= 90 else b for b in text)
            entries.append(der_tlv(0x30, der_tlv(oid_tag, der[oid_start:oid_end]) + der_tlv(value_tag, value)))
        canon += der_tlv(0x31, b"".join(sorted(entries)))
    return canon


def name_hash(name):
    """OpenSSL's X509_NAME_hash of a cryptography Name, as 8 hex digits: the <hash> of a hashed CA or CRL directory
    (c_rehash, `openssl crl -hash`): SHA-1 of its canonical_name, the first four bytes read little-endian."""
    digest = hashlib.sha1(canonical_name(name)).digest()  # nosec: OpenSSL's directory hash, not a security use
    return "%08x" % int.from_bytes(digest[:4], "little")


def _split_blanks(text):
    """The words of text between runs of OpenSSL's blanks (space, tab, newline, vertical tab, form feed, CR)."""
    return [w for w in re.split(r"[ \t\n\v\f\r]+", text) if w]


def load_crls(data):
    """[(der, crl)] of every certificate revocation list in data: PEM (any number of "X509 CRL" blocks, other
    blocks ignored, as OpenSSL reads a CRL file; a block whose BEGIN line does not start its line is none, as
    OpenSSL's PEM reader does not see it) or one DER CRL. CertError NOT_A_CRL when there is none, or a block is not
    one (OpenSSL refuses such a file, and so does the load balancer that names it)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    pem = b"-----BEGIN" in data
    blocks, unterminated = pem_blocks(line_start_pem(data))
    if unterminated:
        raise CertError("NOT_A_CRL", "a PEM block is not terminated (truncated file?)")
    crls = []
    if pem:
        ders = []
        for label, body in blocks:
            if label != b"X509 CRL":
                continue
            try:
                ders.append(pem_der(body))
            except ValueError:
                raise CertError("NOT_A_CRL", "an X509 CRL block is not valid base64")
    else:
        ders = [data]
    for der in ders:
        try:
            crls.append((der, x509.load_der_x509_crl(der)))
        except LOAD_ERRORS as exc:
            raise CertError("NOT_A_CRL", "not a certificate revocation list (%s)" % (
                str(exc)[:200] or type(exc).__name__))
    if not crls:
        raise CertError("NOT_A_CRL", "no certificate revocation list (X509 CRL) in it")
    return crls


def crl_dates(crl):
    """(last_update, next_update or None) of a CRL, aware UTC datetimes."""
    try:
        return crl.last_update_utc, crl.next_update_utc
    except AttributeError:  # cryptography < 42
        utc = datetime.timezone.utc
        return crl.last_update.replace(tzinfo=utc), crl.next_update and crl.next_update.replace(tzinfo=utc)


def crl_facts(der, crl):
    """What a result says about a CRL: public data only."""
    last, following = crl_dates(crl)
    return {"sha256": fingerprint(der), "issuer": crl.issuer.rfc4514_string(), "last_update": iso(last),
            "next_update": iso(following) if following else None, "revoked": len(crl)}


def pick_leaf(certs):
    """Index of the leaf in a list of (der, cert) in any order: one that issued no other in the
    list (self-issued roots aside), preferring a non-CA; None for an empty list."""
    return leaf_index([leaf_names(cert) for _der, cert in certs])


def leaf_names(cert):
    """(subject, issuer, is a CA) of a certificate: what leaf_index needs of it."""
    basic = _ext(cert, x509.BasicConstraints)
    return cert.subject, cert.issuer, bool(basic is not None and basic.ca)


def leaf_index(names):
    """pick_leaf over each certificate's leaf_names."""
    if not names:
        return None
    issuers = set(issuer for subject, issuer, _ca in names if issuer != subject)
    candidates = [i for i, (subject, _issuer, _ca) in enumerate(names) if subject not in issuers] or [0]
    for index in candidates:
        if not names[index][2]:
            return index
    return candidates[0]

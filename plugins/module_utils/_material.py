# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate files taken apart with the standard library alone: what a backend host does when backend_cert_info
describes its certificates on the controller.

A file's PEM blocks become certificate DERs and at most one private key, and the key becomes its summary at once:
type, size, whether it is encrypted, and its public half (SubjectPublicKeyInfo DER), which is public data and all the
controller needs to pair the key with a certificate. RSA keys (PKCS#1 or PKCS#8) and EC keys on the named curves
below that hold their public point are read here; anything else (another key type, a key without its public point, a
PKCS#7 block, PKCS#12, a DER key) raises NeedsCryptography and the caller reads that file with cryptography
(_certs.parse_material), on the host, as before. No private key byte leaves this module.
"""

from __future__ import annotations

import base64

from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, pem_blocks, pem_der

CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")
PKCS7_LABELS = (b"PKCS7", b"PKCS #7 SIGNED DATA")
KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")


class NeedsCryptography(Exception):
    """This file needs cryptography to be read (the standard-library reader does not know its format or key)."""


def der_element(data, pos, end):
    """(tag, start, end) of the DER element at data[pos:end], its content being data[start:end]; ValueError when it
    does not fit."""
    if pos + 2 > end:
        raise ValueError("truncated")
    tag, length, pos = data[pos], data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > end:
            raise ValueError("bad length")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > end:
        raise ValueError("truncated")
    return tag, pos, pos + length


def der_children(data, start, end):
    pos = start
    while pos < end:
        tag, child_start, pos = der_element(data, pos, end)
        yield tag, child_start, pos


_SERVER_AUTH_OID = b"\x2b\x06\x01\x05\x05\x07\x03\x01"  # 1.3.6.1.5.5.7.3.1
_ANY_EKU_OID = b"\x55\x1d\x25\x00"  # 2.5.29.37.0


def trusted_certificate(der):
    """(certificate DER, trust) of an OpenSSL "TRUSTED CERTIFICATE" block: a certificate followed by its trust
    settings (X509_CERT_AUX), as in a ca-bundle.trust.crt. trust is what OpenSSL decides for a TLS server
    certificate: False when serverAuth (or anyExtendedKeyUsage) is rejected, or when a list of trusted uses names
    neither; True when it names one; None without such lists (the certificate counts as a plain one). ValueError
    when the DER is no such block."""
    _tag, _start, end = der_element(der, 0, len(der))
    certificate, trust, reject = der[:end], None, []
    if end < len(der):
        _tag, start, aux_end = der_element(der, end, len(der))
        for tag, list_start, list_end in der_children(der, start, aux_end):
            if tag in (0x30, 0xA0):  # trust: SEQUENCE OF OBJECT IDENTIFIER; reject: [0] IMPLICIT the same
                oids = [der[s:e] for t, s, e in der_children(der, list_start, list_end) if t == 0x06]
                if tag == 0x30:
                    trust = oids
                else:
                    reject = oids
    if _SERVER_AUTH_OID in reject or _ANY_EKU_OID in reject:
        return certificate, False
    if trust is not None:
        return certificate, _SERVER_AUTH_OID in trust or _ANY_EKU_OID in trust
    return certificate, None


def trusted_blocks(data):
    """[(certificate DER, trust)] of the OpenSSL "TRUSTED CERTIFICATE" blocks in PEM data (bytes), in order, trust as
    trusted_certificate() decides it; a block that is no such certificate is left out."""
    if b"TRUSTED CERTIFICATE" not in data:
        return []
    out = []
    for label, body in pem_blocks(data)[0]:
        if label != b"TRUSTED CERTIFICATE":
            continue
        try:
            out.append(trusted_certificate(pem_der(body)))
        except ValueError:  # binascii.Error too
            continue
    return out


def pem_material(data, *, read_key, read_pkcs7):
    """The PEM part of _certs.parse_material: (format, certificate DERs, key summary or None, problems).

    read_key(pem) reduces the first private key block to its summary; read_pkcs7(der) gives a PKCS#7 block's
    certificates (CertError when it cannot)."""
    fmt, ders, key, problems = "pem", [], None, []
    blocks, unterminated = pem_blocks(data)
    if unterminated:
        problems.append("a PEM block has no END line (truncated file?)")
    for index, (label, body) in enumerate(blocks, start=1):
        if label in CERT_LABELS or label in PKCS7_LABELS:
            try:
                der = pem_der(body)
            except ValueError:
                problems.append("PEM block %d is not valid base64" % index)
                continue
            if label == b"TRUSTED CERTIFICATE":  # the certificate, without the trust settings that follow it
                try:
                    der = trusted_certificate(der)[0]
                except ValueError:
                    problems.append("PEM block %d is not a trusted certificate" % index)
                    continue
            if label in CERT_LABELS:
                ders.append(der)
                continue
            fmt = "pkcs7"
            try:
                ders.extend(read_pkcs7(der))
            except CertError as exc:
                problems.append("PEM block %d: %s" % (index, exc.message))
        elif label in KEY_LABELS or label.endswith(b"PRIVATE KEY"):
            if key is None:
                key = read_key(b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label))
                if label == b"ENCRYPTED PRIVATE KEY" or b"ENCRYPTED" in body[:64]:
                    key["encrypted"] = True
            else:
                problems.append("more than one private key; only the first is used")
    return fmt, ders, key, problems


# -- private keys, by their public half
#
# Only keys whose every byte is read as cryptography reads it: strict DER (each value re-encoded must give back the
# bytes it came from), every RSA integer positive, an EC private scalar in [1, n-1] whose public point is the one the
# key holds (cryptography checks that pair; OpenSSL refuses a point off its curve). Anything else is left to
# cryptography (NeedsCryptography), which then says what it makes of it.

_RSA_OID = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"  # 1.2.840.113549.1.1.1 rsaEncryption
_EC_OID = b"\x2a\x86\x48\xce\x3d\x02\x01"  # 1.2.840.10045.2.1 id-ecPublicKey
# a certificate's public key algorithm OID -> its key type, as certificates[].public_key spells it
_KEY_TYPE_OIDS = {_RSA_OID: "RSA", b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a": "RSA",  # ... RSASSA-PSS
                  _EC_OID: "EC", b"\x2b\x65\x70": "Ed25519", b"\x2b\x65\x71": "Ed448"}


def certificate_key_type(der):
    """The key type of a certificate's public key (RSA, EC, Ed25519, Ed448), from its DER with the standard library;
    None when it is another or the DER cannot be read that far."""
    try:
        _tag, start, end = der_element(der, 0, len(der))  # Certificate
        _tag, start, end = der_element(der, start, end)  # TBSCertificate
        fields = list(der_children(der, start, end))
        fields = fields[1:] if fields and fields[0][0] == 0xA0 else fields  # [0] version
        _tag, start, end = fields[5]  # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
        _tag, start, end = der_element(der, start, end)  # AlgorithmIdentifier
        tag, start, end = der_element(der, start, end)  # its OID
    except (ValueError, IndexError):
        return None
    return _KEY_TYPE_OIDS.get(der[start:end]) if tag == 0x06 else None


# named curve OID -> (size in bits, p, b, n, Gx, Gy); a = -3 on all three
_CURVES = {
    b"\x2a\x86\x48\xce\x3d\x03\x01\x07": (  # 1.2.840.10045.3.1.7 secp256r1 (P-256)
        256, 2 ** 256 - 2 ** 224 + 2 ** 192 + 2 ** 96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5),
    b"\x2b\x81\x04\x00\x22": (  # 1.3.132.0.34 secp384r1 (P-384)
        384, 2 ** 384 - 2 ** 128 - 2 ** 96 + 2 ** 32 - 1,
        int("B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF", 16),
        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
        int("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7", 16),
        int("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F", 16)),
    b"\x2b\x81\x04\x00\x23": (  # 1.3.132.0.35 secp521r1 (P-521)
        521, 2 ** 521 - 1,
        int("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF07"
            "3573DF883D2C34F1EF451FD46B503F00", 16),
        int("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03"
            "BB5C9B8899C47AEBB6FB71E91386409", 16),
        int("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE33"
            "48B3C1856A429BF97E7E31C2E5BD66", 16),
        int("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761"
            "353C7086A272C24088BE94769FD16650", 16)),
}


def _der_length(length):
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_tlv(tag, content):
    """A DER element: tag, length in its shortest form, content."""
    return bytes([tag]) + _der_length(len(content)) + content


def _integer(value):
    return der_tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _elements(der, start=0, end=None):
    """[(tag, content bytes)] of the elements of a constructed value, in DER (each re-encoded gives back its bytes:
    lengths in their shortest form); ValueError when they do not fill it exactly, or are not DER."""
    end = len(der) if end is None else end
    parts = [(tag, der[s:e]) for tag, s, e in der_children(der, start, end)]
    if b"".join(der_tlv(tag, content) for tag, content in parts) != der[start:end]:
        raise ValueError("not DER")
    return parts


def _sequence(der):
    """The elements of the one SEQUENCE that der is, in strict DER; ValueError for anything else."""
    tag, start, end = der_element(der, 0, len(der))
    parts = _elements(der, start, end)
    if tag != 0x30 or end != len(der) or der_tlv(0x30, der[start:end]) != der:
        raise ValueError("not one SEQUENCE in DER")
    return parts


def _positive(content):
    """The value of a positive INTEGER's content in minimal encoding; ValueError for anything else."""
    value = int.from_bytes(content, "big", signed=True)
    if value <= 0 or _integer(value) != der_tlv(0x02, content):
        raise ValueError("not a positive INTEGER in DER")
    return value


def _one(content):
    """(tag, content) of the one element, in DER, that content is (an explicit tag's inside)."""
    (tag, inner), = _elements(content)
    return tag, inner


def _rsa(pkcs1):
    """(size, SubjectPublicKeyInfo DER) of an RSAPrivateKey (PKCS#1): version 0, then n, e, d, p, q, dp, dq, qinv,
    all positive."""
    parts = _sequence(pkcs1)
    if len(parts) != 9 or any(tag != 0x02 for tag, _c in parts) or parts[0][1] != b"\x00":
        raise ValueError("not a two-prime RSAPrivateKey")
    n, e = [_positive(content) for _tag, content in parts[1:3]]
    for _tag, content in parts[3:]:
        _positive(content)
    public = der_tlv(0x30, _integer(n) + _integer(e))
    algorithm = der_tlv(0x30, der_tlv(0x06, _RSA_OID) + b"\x05\x00")
    return n.bit_length(), der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + public))


def _double(point, p):
    """2 * point in Jacobian coordinates on y^2 = x^3 - 3x + b over GF(p); None is the point at infinity."""
    if point is None or point[1] == 0:
        return None
    x1, y1, z1 = point
    zz = z1 * z1 % p
    m = 3 * (x1 - zz) * (x1 + zz) % p
    yy = y1 * y1 % p
    s = 4 * x1 * yy % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y1 * z1 % p


def _add(point, x2, y2, p):
    """point (Jacobian) + (x2, y2) (affine)."""
    if point is None:
        return x2, y2, 1
    x1, y1, z1 = point
    zz = z1 * z1 % p
    h, r = (x2 * zz - x1) % p, (y2 * zz * z1 - y1) % p
    if h == 0:
        return _double(point, p) if r == 0 else None
    hh = h * h % p
    hhh = h * hh % p
    x3 = (r * r - hhh - 2 * x1 * hh) % p
    return x3, (r * (x1 * hh - x3) - y1 * hhh) % p, z1 * h % p


_WINDOWS = {}  # curve OID -> the table below, made once per process, on its second key


def _to_affine(points, p):
    """Jacobian points (none at infinity) to affine, with one inversion for them all (Montgomery's trick)."""
    prefix, running = [], 1
    for _x, _y, z in points:
        prefix.append(running)
        running = running * z % p
    inverse, out = pow(running, p - 2, p), [None] * len(points)
    for index in range(len(points) - 1, -1, -1):
        x, y, z = points[index]
        z_inverse = inverse * prefix[index] % p
        inverse = inverse * z % p
        zz = z_inverse * z_inverse % p
        out[index] = (x * zz % p, y * zz * z_inverse % p)
    return out


def _windows(curve_oid):
    """[[j * 16^i * G, affine, for j in 1..15] for each 4-bit window i of a scalar]: 64 tables of 15 points on P-256,
    made in about 4 ms."""
    table = _WINDOWS.get(curve_oid)
    if table is None:
        size, p, _b, _n, gx, gy = _CURVES[curve_oid]
        bases, base = [], (gx, gy, 1)
        for _window in range((size + 3) // 4):  # 16^i * G
            bases.append(base)
            for _bit in range(4):
                base = _double(base, p)
        points = []
        for x, y in _to_affine(bases, p):
            multiple = (x, y, 1)
            points.append(multiple)
            for _j in range(14):
                multiple = _add(multiple, x, y, p)
                points.append(multiple)
        flat = _to_affine(points, p)
        table = [flat[index:index + 15] for index in range(0, len(flat), 15)]
        _WINDOWS[curve_oid] = table
    return table


def _is_base_multiple(scalar, curve_oid, x, y):
    """Whether scalar * G is the affine point (x, y). A host reads one key or two: the first of a curve is
    multiplied bit by bit (P-256: about 1 ms); from the second on, with a table of G's multiples for each 4-bit window
    of the scalar (made once, about 4 ms), a multiple is one addition a window (about 0.2 ms). The product stays in
    Jacobian coordinates (X, Y, Z), compared as X = x * Z^2 and Y = y * Z^3: no inversion (about 0.1 ms a key)."""
    p, gx, gy = _CURVES[curve_oid][1], _CURVES[curve_oid][4], _CURVES[curve_oid][5]
    result = None
    if curve_oid not in _WINDOWS:
        _WINDOWS[curve_oid] = None  # seen once
        for bit in bin(scalar)[2:]:
            result = _double(result, p)
            if bit == "1":
                result = _add(result, gx, gy, p)
    else:
        for window in _windows(curve_oid):
            digit = scalar & 15
            scalar >>= 4
            if digit:
                result = _add(result, *window[digit - 1], p)
    if result is None or not (0 <= x < p and 0 <= y < p):
        return False
    big_x, big_y, z = result
    zz = z * z % p
    return big_x == x * zz % p and big_y == y * zz * z % p


def _ec(sec1, curve_oid=None):
    """(size, SubjectPublicKeyInfo DER) of an ECPrivateKey (SEC 1) on a named curve above, holding its public point,
    uncompressed, which its private scalar gives; ValueError for anything else."""
    parts = _sequence(sec1)
    if len(parts) < 2 or parts[0] != (0x02, b"\x01") or parts[1][0] != 0x04:
        raise ValueError("not an ECPrivateKey")
    point = None
    for tag, content in parts[2:]:
        if tag == 0xA0:  # [0] parameters: a named curve
            inner_tag, oid = _one(content)
            if inner_tag != 0x06 or (curve_oid is not None and oid != curve_oid):
                raise ValueError("not a named curve")
            curve_oid = oid
        elif tag == 0xA1:  # [1] publicKey BIT STRING
            inner_tag, bits = _one(content)
            if inner_tag != 0x03 or bits[:1] != b"\x00":
                raise ValueError("not a public key")
            point = bits[1:]
        else:
            raise ValueError("unexpected element")
    if curve_oid not in _CURVES or point is None:
        raise ValueError("no named curve or no public point")
    size, _p, _b, n, _gx, _gy = _CURVES[curve_oid]
    width = (size + 7) // 8
    scalar = int.from_bytes(parts[1][1], "big")
    if len(parts[1][1]) != width or not 0 < scalar < n:
        raise ValueError("not a private scalar of the curve")
    if len(point) != 1 + 2 * width or point[0] != 0x04:
        raise ValueError("not an uncompressed point")
    x, y = int.from_bytes(point[1:1 + width], "big"), int.from_bytes(point[1 + width:], "big")
    if not _is_base_multiple(scalar, curve_oid, x, y):  # also off the curve, or out of range: no scalar gives it
        raise ValueError("the public point is not the private scalar's")
    algorithm = der_tlv(0x30, der_tlv(0x06, _EC_OID) + der_tlv(0x06, curve_oid))
    return size, der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + point))


def _pkcs8(der):
    """(type, size, SubjectPublicKeyInfo DER) of a version 0 PrivateKeyInfo, without attributes, holding an RSA or EC
    key."""
    parts = _sequence(der)
    if [tag for tag, _c in parts] != [0x02, 0x30, 0x04] or parts[0][1] != b"\x00":
        raise ValueError("not a plain PrivateKeyInfo")
    algorithm = _elements(parts[1][1])
    if algorithm == [(0x06, _RSA_OID), (0x05, b"")]:
        return ("RSA",) + _rsa(parts[2][1])
    if len(algorithm) == 2 and algorithm[0] == (0x06, _EC_OID) and algorithm[1][0] == 0x06:
        return ("EC",) + _ec(parts[2][1], algorithm[1][1])
    raise ValueError("another key type")


def key_summary(pem):
    """{present, type, size, encrypted, _spki} of one PEM private key block, as _certs.private_key_summary gives it;
    NeedsCryptography when the standard library cannot read it that far."""
    blocks, _unterminated = pem_blocks(pem)
    label, body = blocks[0]
    encrypted = {"present": True, "type": None, "size": None, "encrypted": True, "_spki": None}
    if b":" in body:  # RFC 1421 headers: an OpenSSL "traditional" encrypted key
        raise NeedsCryptography("a key with PEM headers")
    try:
        der = pem_der(body)
        if label == b"ENCRYPTED PRIVATE KEY":  # EncryptedPrivateKeyInfo { AlgorithmIdentifier, OCTET STRING }
            parts = _sequence(der)
            algorithm = _elements(parts[0][1]) if parts and parts[0][0] == 0x30 else []
            if [tag for tag, _c in parts] != [0x30, 0x04] or not parts[1][1] or algorithm[:1] == [] \
                    or algorithm[0][0] != 0x06:
                raise ValueError("not an EncryptedPrivateKeyInfo")
            return encrypted
        if label == b"RSA PRIVATE KEY":
            kind, (size, spki) = "RSA", _rsa(der)
        elif label == b"EC PRIVATE KEY":
            kind, (size, spki) = "EC", _ec(der)
        elif label == b"PRIVATE KEY":
            kind, size, spki = _pkcs8(der)
        else:
            raise ValueError("another label")
    except ValueError as exc:
        raise NeedsCryptography(str(exc))
    return {"present": True, "type": kind, "size": size, "encrypted": False, "_spki": spki}


def _cannot_read_pkcs7(der):
    raise NeedsCryptography("a PKCS#7 block")


def _certificate_shaped(data):
    """True when data is one DER SEQUENCE of SEQUENCE, SEQUENCE, BIT STRING: a certificate's shape, which no private
    key has (PKCS#8 and PKCS#12 begin with an INTEGER, an encrypted PKCS#8 key has two elements)."""
    try:
        return [tag for tag, _c in _sequence(data)] == [0x30, 0x30, 0x03]
    except ValueError:
        return False


def host_material(data):
    """What a host sends the controller about one file's content, without a private key byte:

    - {"format", "ders", "key", "problems"} for PEM (key: its summary, `_spki` the public half, or None);
    - {"raw": data} for DER that holds no key (a certificate's shape, or PKCS#7 signed data): the controller reads it
      as _certs.parse_material reads any file;
    - NeedsCryptography for everything else, which the host reads with cryptography.

    The empty file, and DER that is no certificate, no PKCS#7 or PKCS#12 and no key (it does not begin with a
    SEQUENCE), are the CertError parse_material raises for them.
    """
    if not data.strip():
        raise CertError("NOT_A_CERTIFICATE", "the file is empty")
    if b"-----BEGIN " in data:
        fmt, ders, key, problems = pem_material(data, read_key=key_summary, read_pkcs7=_cannot_read_pkcs7)
        if not ders and key is None:
            raise CertError("NOT_A_CERTIFICATE", "; ".join(problems) if problems else
                            "no certificate or private key found")
        return {"format": fmt, "ders": ders, "key": key, "problems": problems}
    if data[:1] != b"\x30":
        raise CertError("NOT_A_CERTIFICATE", "no certificate or private key found")
    if _certificate_shaped(data) or der_container(data) == ("pkcs7", True):  # whole: nothing after it
        return {"raw": data}
    raise NeedsCryptography("DER that may hold a key")


# DER sniffing: only enough to tell PKCS#7 and PKCS#12 apart from other data, and truncated from whole.
_OID_PKCS7_DATA = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
_OID_PKCS7_SIGNED = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"


def _der_header(data):
    """(tag, header length, content length) of the DER element at the start of data, or None."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return data[0], 2, first
    count = first & 0x7F
    if not 0 < count <= 4 or len(data) < 2 + count:
        return None
    return data[0], 2 + count, int.from_bytes(data[2:2 + count], "big")


def der_container(data):
    """('pkcs7' | 'pkcs12' | None, complete): what a DER blob looks like from its first bytes.

    PKCS#7: ContentInfo SEQUENCE { OID signedData, ... }. PKCS#12: PFX SEQUENCE { INTEGER 3,
    ContentInfo { OID data | signedData, ... }, ... }. `complete` is false when the outer length
    runs past the end of the data (a truncated file).
    """
    head = _der_header(data)
    if head is None or head[0] != 0x30:
        return None, False
    complete = head[1] + head[2] == len(data)
    body = data[head[1]:]
    if body.startswith(_OID_PKCS7_SIGNED):
        return "pkcs7", complete
    if body.startswith(b"\x02\x01\x03"):
        inner = _der_header(body[3:])
        if inner is not None and inner[0] == 0x30 and \
                body[3 + inner[1]:].startswith((_OID_PKCS7_DATA, _OID_PKCS7_SIGNED)):
            return "pkcs12", complete
    return None, False


def encode(value):
    """Bytes in a material (DERs, the raw file, a key's public half) as text for JSON; decode() reverses it."""
    return base64.b64encode(value).decode("ascii")


def decode(text):
    return base64.b64decode(text)

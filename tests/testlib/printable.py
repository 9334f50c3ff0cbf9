"""A chain whose names break PrintableString's character set, as real CAs have issued (DigiCert's intermediates for
"Wells Fargo & Company", 2017-2027, golang/go#22970): OpenSSL reads it, cryptography refuses to.

cryptography will not build such a name either, so the certificates are built with a placeholder of the same length
in a valid PrintableString, the placeholder is replaced in the to-be-signed bytes, and they are signed again with
the issuer's key: every signature is genuine, and `openssl verify` accepts the chain.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs
from testlib import pki

ORGANIZATION = "Wells Fargo & Company"  # '&' is outside PrintableString
_PLACEHOLDER = "Wells Fargo Q Company"  # the same length, inside it


def element(tag, body):
    """One DER element."""
    length = len(body)
    size = (length.bit_length() + 7) // 8
    encoded = bytes([length]) if length < 0x80 else bytes([0x80 | size]) + length.to_bytes(size, "big")
    return bytes([tag]) + encoded + body


class Patched:
    """A certificate as bytes only (cryptography cannot load it), with the key that belongs to it."""

    def __init__(self, der, key):
        self.der, self.key = der, key

    @property
    def pem(self):
        body = base64.encodebytes(self.der).decode().replace("\n", "")
        return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
            body[i:i + 64] for i in range(0, len(body), 64))

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    @property
    def fingerprint(self):
        return hashlib.sha256(self.der).hexdigest()


PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _sign(key, data):
    """ECDSA with SHA-256, Ed25519, or RSA-PSS with SHA-256 (salt 32): what the builder below signs with."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, PSS, hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def resigned(der, signer_key, old, new):
    """The certificate `der` with the bytes `old` replaced by `new` (as long) in its to-be-signed part, signed again
    by signer_key: a genuine signature over bytes cryptography would not write."""
    _tag, start, end = _certs._der_element(der, 0, len(der))
    (_t, _c, tbs_end), (_t2, _c2, alg_end), _signature = list(_certs._der_children(der, start, end))
    tbs = der[start:tbs_end].replace(old, new)
    assert len(old) == len(new) and tbs != der[start:tbs_end]
    signature = _sign(signer_key, tbs)
    return element(0x30, tbs + der[tbs_end:alg_end] + element(0x03, b"\x00" + signature))


def _resign(der, signer_key):
    """der with the placeholder turned into ORGANIZATION (a PrintableString of 21 bytes), signed again."""
    return resigned(der, signer_key, b"\x13\x15" + _PLACEHOLDER.encode(), b"\x13\x15" + ORGANIZATION.encode())


def chain(leaf_name="amp.printable.test", root_key="ec"):
    """(root Issued, intermediate Patched, leaf Patched): the intermediate's subject and the leaf's issuer carry
    O=Wells Fargo & Company as a PrintableString; the root is an ordinary one. root_key: how the root signs the
    intermediate, "ec" (ECDSA P-256), "ed25519" or "rsa-pss" (RSA 2048, PSS)."""
    key = {"ec": pki.new_key, "ed25519": ed25519.Ed25519PrivateKey.generate,
           "rsa-pss": lambda: pki.new_key("rsa")}[root_key]()
    root = pki.issue("Printable Test Root CA", ca=True, days=3650, key=key)
    placeholder = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, _PLACEHOLDER, _type=_ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.COMMON_NAME, "Wells Fargo Test TLS CA", _type=_ASN1Type.PrintableString)])
    start = pki.now() - pki.datetime.timedelta(days=1)
    inter_key, leaf_key = pki.new_key(), pki.new_key()
    inter = (x509.CertificateBuilder().subject_name(placeholder).issuer_name(root.cert.subject)
             .public_key(inter_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(start + pki.datetime.timedelta(days=1825))
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
                            critical=False)
             .sign(root.key, None if root_key == "ed25519" else hashes.SHA256(),
                   rsa_padding=PSS if root_key == "rsa-pss" else None))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, leaf_name)]))
            .issuer_name(placeholder).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + pki.datetime.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(leaf_name)]), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
                           critical=False)
            .sign(inter_key, hashes.SHA256()))
    der = serialization.Encoding.DER
    return (root, Patched(_resign(inter.public_bytes(der), root.key), inter_key),
            Patched(_resign(leaf.public_bytes(der), inter_key), leaf_key))


def pkcs7(*ders):
    """A DER PKCS#7 bundle (SignedData, no signers) of the given certificates in this order, as `openssl crl2pkcs7
    -nocrl` writes one."""
    signed_data_oid = bytes.fromhex("06092a864886f70d010702")
    data_oid = bytes.fromhex("06092a864886f70d010701")
    signed = element(0x30, element(0x02, b"\x01") + element(0x31, b"") + element(0x30, data_oid)
                     + element(0xA0, b"".join(ders)) + element(0x31, b""))
    return element(0x30, signed_data_oid + element(0xA0, signed))

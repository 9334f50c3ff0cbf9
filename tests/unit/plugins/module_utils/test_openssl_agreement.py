"""Chains where the verdict once differed from the real `openssl verify` (a review of 2026-12-03): each case here
builds the certificates, runs OpenSSL on them, and holds the collection's verdict to OpenSSL's.

- a subjectAltName cryptography cannot parse (an IP address of five bytes, an x400Address entry, or any other
  extension it refuses) hid the names: the leaf was matched against its CN, which OpenSSL never does when a
  subjectAltName is present, and an x400Address raised out of the module;
- PEM that OpenSSL reads: blanks after the BEGIN line, the legacy "X509 CERTIFICATE" label, and in a CA file its
  "TRUSTED CERTIFICATE" blocks with their trust settings (RHEL's ca-bundle.trust.crt);
- a file whose leaf comes second, checked with the leaf's key: a server pairs the key with the first certificate;
- a leaf whose only extended key usage is anyExtendedKeyUsage: OpenSSL's TLS server purpose refuses it.
"""

from __future__ import annotations

import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _certs, _verify
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib import pki, printable
from testlib.module_runner import run_main

CA = pki.CA("Agreement")


_der = printable.element


def raw_san(*entries):
    """A subjectAltName extension from raw GeneralName entries (tag, bytes), as cryptography would not write it."""
    return x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                      _der(0x30, b"".join(_der(tag, value) for tag, value in entries)))


def leaf_with(cn, *extensions, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)):
    """A leaf under CA's intermediate carrying the given extensions as they are."""
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)]))
               .issuer_name(CA.intermediate.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return pki.Issued(builder.sign(CA.intermediate.key, hashes.SHA256()), key)


def openssl_accepts(tmp_path, leaf_pem, name=None):
    """The real `openssl verify`, as a load balancer checks a backend (TLS server purpose, the name when given)."""
    pki.write(tmp_path / "root.pem", CA.root.pem)
    pki.write(tmp_path / "inter.pem", CA.intermediate.pem)
    pki.write(tmp_path / "leaf.pem", leaf_pem)
    command = ["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "root.pem"),
               "-untrusted", str(tmp_path / "inter.pem")]
    if name:
        command += ["-verify_hostname", name]
    outcome = subprocess.run(command + [str(tmp_path / "leaf.pem")], capture_output=True, text=True, check=False)
    return outcome.returncode == 0


def verdict(profile, chain, name=None, **item):
    result = _verify.verify_single(dict(item, chain=chain, server_names=[name] if name else []),
                                   ca_content=CA.root.pem, profile=profile)
    return result["valid"], [f["code"] for f in result["findings"] if f["severity"] == "error"]


FIVE_BYTE_IP = leaf_with("cn-only.a.test", raw_san((0x82, b"san.a.test"), (0x87, b"\x7f\x00\x00\x01\x00")))
X400 = leaf_with("cn-only.a.test", raw_san((0x82, b"san.a.test"), (0xA3, _der(0x30, b""))))


@pytest.mark.parametrize("leaf", [FIVE_BYTE_IP, X400], ids=["five-byte-ip", "x400address"])
@pytest.mark.parametrize("name,matches", [("san.a.test", True), ("cn-only.a.test", False)])
def test_names_of_a_subject_alt_name_cryptography_cannot_parse(tmp_path, leaf, name, matches):
    assert openssl_accepts(tmp_path, leaf.pem, name) is matches
    valid, errors = verdict("openssl", leaf.pem + CA.intermediate.pem, name)
    assert valid is matches
    assert errors == ([] if matches else ["HOSTNAME_MISMATCH"])  # never matched against the CN
    # a WebPKI client refuses what it cannot parse, but the names are still read, not taken from the CN
    valid, errors = verdict("webpki", leaf.pem + CA.intermediate.pem, name)
    assert valid is False and "PARSE_ERROR" in errors and "NO_SAN" not in errors


def test_an_x400address_is_one_item_s_verdict_not_the_batch_s_failure():
    good = CA.leaf("good.a.test")
    result = run_main(cert_chain_verify.main, {
        "items": [{"name": "good", "chain": good.pem + CA.intermediate.pem, "server_names": ["good.a.test"]},
                  {"name": "x400", "chain": X400.pem + CA.intermediate.pem, "server_names": ["san.a.test"]}],
        "ca_content": CA.root.pem, "profile": "openssl"})
    assert [(r["name"], r["valid"]) for r in result["results"]] == [("good", True), ("x400", True)]


def test_certificate_facts_read_the_names_of_an_unparsable_subject_alt_name():
    for leaf in (FIVE_BYTE_IP, X400):
        facts = _certs.certificate_facts(leaf.der, now=pki.now())
        assert facts["sans"] == {"dns": ["san.a.test"], "ip": []}
    dns, ips = _certs._der_subject_alt_names(
        leaf_with("x", raw_san((0x82, b"a.test"), (0x87, b"\x0a\x00\x00\x01"))).cert.tbs_certificate_bytes)
    assert dns == ["a.test"] and [str(ip) for ip in ips] == ["10.0.0.1"]


@pytest.mark.parametrize("edit", [
    lambda pem: pem.replace("-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE----- \t\n"),
    lambda pem: pem.replace("CERTIFICATE-----", "X509 CERTIFICATE-----"),
], ids=["blanks-after-begin", "x509-certificate-label"])
@pytest.mark.parametrize("where", ["ca_file", "chain"])
def test_pem_openssl_reads(tmp_path, edit, where):
    leaf = CA.leaf("pem.a.test")
    root, inter = CA.root.pem, CA.intermediate.pem
    if where == "ca_file":
        root = edit(root)
    else:
        inter = edit(inter)
    pki.write(tmp_path / "root.pem", root)
    pki.write(tmp_path / "inter.pem", inter)
    pki.write(tmp_path / "leaf.pem", leaf.pem)
    assert subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                           str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                          capture_output=True, check=False).returncode == 0
    assert len(_base.certificate_pems(root + inter)) == 2
    for profile in ("openssl", "webpki"):
        result = _verify.verify_single({"chain": leaf.pem + inter, "server_names": ["pem.a.test"]}, ca_content=root,
                                       profile=profile)
        assert result["valid"] is True, result["findings"]


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_a_key_is_paired_with_the_first_certificate_of_the_file(tmp_path, profile):
    leaf = CA.leaf("order.a.test")
    # a bundle whose first certificate is a CA: OpenSSL takes that one as the server's, and the leaf's key is not its
    import ssl
    bundle = pki.write(tmp_path / "bundle.pem", CA.intermediate.pem + leaf.pem)
    key = pki.write(tmp_path / "leaf.key", leaf.key_pem(), mode=0o600)
    with pytest.raises(ssl.SSLError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(bundle, key)
    result = _verify.verify_single({"path": bundle, "key_path": key}, ca_content=CA.root.pem, profile=profile)
    mismatch = [f for f in result["findings"] if f["code"] == "KEY_MISMATCH"]
    assert result["valid"] is False and [f["severity"] for f in mismatch] == ["error"]
    assert "put the leaf first" in mismatch[0]["message"]
    # in order, the same files are valid
    in_order = pki.write(tmp_path / "ordered.pem", leaf.pem + CA.intermediate.pem)
    assert _verify.verify_single({"path": in_order, "key_path": key}, ca_content=CA.root.pem,
                                 profile=profile)["valid"] is True


def test_any_extended_key_usage_alone_is_not_server_auth(tmp_path):
    leaf = leaf_with("any.a.test", x509.SubjectAlternativeName([x509.DNSName("any.a.test")]),
                     eku=(x509.ObjectIdentifier("2.5.29.37.0"),))
    assert openssl_accepts(tmp_path, leaf.pem, "any.a.test") is False
    for profile in ("openssl", "webpki"):
        valid, errors = verdict(profile, leaf.pem + CA.intermediate.pem, "any.a.test")
        assert valid is False and "NOT_SERVER_AUTH" in errors
    both = leaf_with("both.a.test", x509.SubjectAlternativeName([x509.DNSName("both.a.test")]),
                     eku=(x509.ObjectIdentifier("2.5.29.37.0"), ExtendedKeyUsageOID.SERVER_AUTH))
    assert openssl_accepts(tmp_path, both.pem, "both.a.test") is True
    assert verdict("openssl", both.pem + CA.intermediate.pem, "both.a.test") == (True, [])


@pytest.mark.parametrize("settings,trusted", [
    (["-addtrust", "serverAuth"], True),
    (["-addtrust", "anyExtendedKeyUsage"], True),
    ([], True),  # -trustout alone: no lists, a self-signed root counts as a plain one
    (["-addtrust", "clientAuth"], False),  # a list of trusted uses without serverAuth
    (["-addtrust", "serverAuth", "-addreject", "serverAuth"], False),
    (["-addreject", "anyExtendedKeyUsage"], False),
], ids=["serverAuth", "anyEKU", "no-lists", "clientAuth-only", "rejected", "anyEKU-rejected"])
def test_trusted_certificate_blocks_in_a_ca_file(tmp_path, settings, trusted):
    root_path = pki.write(tmp_path / "root.pem", CA.root.pem)
    ca_file = subprocess.run(["openssl", "x509", "-in", root_path, "-trustout"] + settings, capture_output=True,
                             text=True, check=True).stdout
    assert ca_file.startswith("-----BEGIN TRUSTED CERTIFICATE-----")
    other = pki.CA("Agreement Other").root.pem
    pki.write(tmp_path / "ca.pem", ca_file + other)
    leaf = CA.leaf("trust.a.test")
    pki.write(tmp_path / "inter.pem", CA.intermediate.pem)
    pki.write(tmp_path / "leaf.pem", leaf.pem)
    openssl = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "ca.pem"),
                              "-untrusted", str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                             capture_output=True, check=False)
    assert (openssl.returncode == 0) is trusted
    for profile in ("openssl", "webpki"):
        result = _verify.verify_single({"chain": leaf.pem + CA.intermediate.pem, "server_names": ["trust.a.test"]},
                                       ca_path=str(tmp_path / "ca.pem"), profile=profile)
        assert result["valid"] is trusted, result["findings"]
        if not trusted:
            assert "UNTRUSTED_ROOT" in [f["code"] for f in result["findings"] if f["severity"] == "error"]


def test_a_trusted_certificate_file_is_described_by_its_certificate(tmp_path):
    root_path = pki.write(tmp_path / "root.pem", CA.root.pem)
    trusted = subprocess.run(["openssl", "x509", "-in", root_path, "-trustout", "-addtrust", "serverAuth"],
                             capture_output=True, check=True).stdout
    material = _certs.parse_material(trusted)
    assert material["problems"] == [] and material["ders"] == [CA.root.der]  # the trust settings are not part of it
    assert _certs.certificate_facts(material["ders"][0], now=pki.now())["fingerprint_sha256"] == CA.root.fingerprint


def _resigned_with_printable_ampersand(cert, key):
    """cert with its "Corp & IT" UTF8String turned into a PrintableString (X.680 forbids "&" there; real CA
    certificates carry it and OpenSSL reads them; cryptography refuses them), signed again by key (EC)."""
    der = cert.public_bytes(_certs.serialization.Encoding.DER)
    utf8 = b"\x0c\x09Corp & IT"
    assert cert.tbs_certificate_bytes.count(utf8) == 2  # subject and issuer
    return _certs.der_to_pem(printable.resigned(der, key, utf8, b"\x13\x09Corp & IT"))


def _root_with_printable_ampersand():
    """Such a root, an intermediate that names it in UTF8String (OpenSSL compares names canonically), and a leaf."""
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp & IT"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Corp Root")])
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)

    def ca(subject, issuer, public_key, signer):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(days=900))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(usage, critical=True).sign(signer, hashes.SHA256()))

    root_pem = _resigned_with_printable_ampersand(ca(name, name, key.public_key(), key), key)
    with pytest.raises(ValueError):
        x509.load_pem_x509_certificate(root_pem.encode())
    inter_key = pki.new_key()
    inter = pki.Issued(ca(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing")]), name,
                          inter_key.public_key(), key), inter_key)
    return root_pem, inter, pki.issue("corp.a.test", issuer=inter)


def test_an_anchor_cryptography_cannot_load_is_still_openssl_s(tmp_path):
    root_pem, inter, leaf = _root_with_printable_ampersand()
    # the CA file: that root, another root, and a block no one can read (it must not make OpenSSL refuse the file)
    garbage = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
    ca_file = pki.write(tmp_path / "ca.pem", root_pem + pki.CA("Agreement Other").root.pem + garbage)
    pki.write(tmp_path / "good-ca.pem", root_pem)
    pki.write(tmp_path / "inter.pem", inter.pem)
    pki.write(tmp_path / "leaf.pem", leaf.pem)
    assert subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "good-ca.pem"),
                           "-untrusted", str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                          capture_output=True, check=False).returncode == 0
    item = {"chain": leaf.pem + inter.pem, "server_names": ["corp.a.test"]}
    result = _verify.verify_single(item, ca_path=ca_file, profile="openssl")
    assert result["valid"] is True, result["findings"]
    # the WebPKI profile verifies with cryptography, which cannot read that anchor
    result = _verify.verify_single(item, ca_path=ca_file, profile="webpki")
    assert result["valid"] is False and "UNTRUSTED_ROOT" in [f["code"] for f in result["findings"]]


# ---------------------------------------------------------------- a certificate of the issuer's name that did not sign

def openssl_errors(tmp_path, ca_pem, leaf_pem, untrusted_pem=""):
    """The X509_V_ERR numbers of the real `openssl verify` ([] when it accepts)."""
    pki.write(tmp_path / "ca.pem", ca_pem)
    pki.write(tmp_path / "leaf.pem", leaf_pem)
    command = ["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "ca.pem")]
    if untrusted_pem:
        command += ["-untrusted", pki.write(tmp_path / "untrusted.pem", untrusted_pem)]
    outcome = subprocess.run(command + [str(tmp_path / "leaf.pem")], capture_output=True, text=True, check=False)
    errors = [int(line.split()[1]) for line in (outcome.stdout + outcome.stderr).splitlines()
              if line.startswith("error ") and line.split()[1].isdigit()]
    assert (outcome.returncode == 0) is (not errors), outcome
    return errors


def findings(profile, chain, ca_pem, name):
    result = _verify.verify_single({"chain": chain, "server_names": [name]}, ca_content=ca_pem, profile=profile)
    return result["valid"], [(f["code"], f["message"]) for f in result["findings"] if f["severity"] == "error"]


@pytest.mark.parametrize("key_ids", [False, True], ids=["without-key-ids", "with-key-ids"])
def test_a_served_intermediate_of_the_issuer_s_name_but_another_key(tmp_path, key_ids):
    """The server sends the intermediate from before the CA's key changed. Without key ids OpenSSL picks it and says
    "certificate signature failure" (error 7), with them it looks past it (error 20): both are the missing issuer,
    one INCOMPLETE_CHAIN that names the certificate served in its place (it said "neither served nor in the CA file",
    and under the openssl profile it was a warning beside an INVALID_CHAIN)."""
    root = pki.issue("Rekey Root CA", ca=True, days=3650)
    current = pki.issue("Rekey Issuing CA", issuer=root, ca=True, ski=key_ids)
    previous = pki.issue("Rekey Issuing CA", issuer=root, ca=True, ski=key_ids)
    leaf = pki.issue("rekey.a.test", issuer=current, aki=key_ids)
    assert openssl_errors(tmp_path, root.pem, leaf.pem, previous.pem) == ([20] if key_ids else [7])
    assert openssl_errors(tmp_path, root.pem, leaf.pem, current.pem) == []
    for profile in ("openssl", "webpki"):
        valid, errors = findings(profile, leaf.pem + previous.pem, root.pem, "rekey.a.test")
        assert valid is False and [code for code, _m in errors] == ["INCOMPLETE_CHAIN"], (profile, errors)
        assert "carries CN=Rekey Issuing CA" in errors[0][1] and "another key" in errors[0][1], errors
        assert "neither served" not in errors[0][1]


def test_a_damaged_signature_is_told_from_another_key(tmp_path):
    """The issuer is served, with the key id the leaf names, and the leaf's signature does not verify: the
    certificate is damaged (INVALID_CHAIN), not a missing intermediate."""
    ca = pki.CA("Damaged")
    leaf = ca.leaf("damaged.a.test")
    der = bytearray(leaf.der)
    der[-1] ^= 0x01  # the last byte of the signature
    damaged = _certs.der_to_pem(bytes(der))
    assert openssl_errors(tmp_path, ca.root.pem, damaged, ca.intermediate.pem) == [7]
    for profile in ("openssl", "webpki"):
        valid, errors = findings(profile, damaged + ca.intermediate.pem, ca.root.pem, "damaged.a.test")
        assert valid is False and [code for code, _m in errors] == ["INVALID_CHAIN"], (profile, errors)
        assert "damaged" in errors[0][1], errors


def test_a_ca_file_holding_the_root_from_before_it_was_rekeyed(tmp_path):
    """The CA file holds a root of the right name but the old key: UNTRUSTED_ROOT that says so."""
    old_root = pki.issue("Moved Root CA", ca=True, days=3650)
    new_root = pki.issue("Moved Root CA", ca=True, days=3650)
    inter = pki.issue("Moved Issuing CA", issuer=new_root, ca=True)
    leaf = pki.issue("moved.a.test", issuer=inter)
    assert openssl_errors(tmp_path, old_root.pem, leaf.pem, inter.pem) != []
    assert openssl_errors(tmp_path, new_root.pem, leaf.pem, inter.pem) == []
    for profile in ("openssl", "webpki"):
        valid, errors = findings(profile, leaf.pem + inter.pem, old_root.pem, "moved.a.test")
        assert valid is False and [code for code, _m in errors] == ["UNTRUSTED_ROOT"], (profile, errors)
        assert "CA file holds CN=Moved Root CA" in errors[0][1] and "another key" in errors[0][1], errors

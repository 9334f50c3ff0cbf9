"""A chain whose names hold a PrintableString with '&' (testlib/printable.py: as DigiCert issued for "Wells Fargo &
Company"). OpenSSL -- and so HAProxy, nginx and Apache -- accepts it; cryptography refuses to read the certificates.
The collection used to give PARSE_ERROR (profile openssl included: the load balancer's verdict was wrong). Each test
holds the collection to the real `openssl verify`, on the same bytes.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _verify
from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, cert_chain_verify
from testlib import pki, printable
from testlib.module_runner import run_main

ROOT, INTER, LEAF = printable.chain("amp.printable.test")
NAME = "amp.printable.test"


def openssl_verify(tmp_path, leaf_pem, inter_pem, root_pem=ROOT.pem):
    for name, text in (("root.pem", root_pem), ("inter.pem", inter_pem), ("leaf.pem", leaf_pem)):
        pki.write(tmp_path / name, text)
    return subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / "root.pem"),
                           "-untrusted", str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True, check=False)


def test_cryptography_refuses_them_and_the_collection_reads_them():
    for patched in (INTER, LEAF):
        with pytest.raises(ValueError, match="PrintableString"):
            x509.load_der_x509_certificate(patched.der)
    inter = _certs.load_certificate(INTER.der)
    assert _certs.der_of(inter) == INTER.der  # its own bytes, not the copy cryptography read
    assert _certs.printable_violations(inter) == [printable.ORGANIZATION]
    # what the root signed is the certificate's own to-be-signed part: the root's key verifies it
    ROOT.cert.public_key().verify(inter.signature, _certs.tbs_of(inter), ec.ECDSA(hashes.SHA256()))
    assert _certs.load_pem_certificate(LEAF.pem.encode()).issuer == inter.subject
    facts = _certs.certificate_facts(INTER.der, now=pki.now())
    assert facts["fingerprint_sha256"] == hashlib.sha256(INTER.der).hexdigest() == INTER.fingerprint
    assert "O=Wells Fargo & Company" in facts["subject"]
    assert _certs.printable_violations(ROOT.cert) == [] and _certs.der_of(ROOT.cert) == ROOT.der


@pytest.mark.parametrize("root_key", ["ec", "ed25519", "rsa-pss"])
def test_profile_openssl_gives_openssl_s_verdict_and_names_the_strings(tmp_path, root_key):
    # the root signs the intermediate with ECDSA, Ed25519 or RSA-PSS: the diagnosis walk checks that signature on
    # the intermediate's own bytes, whatever the algorithm
    root, inter, leaf = (ROOT, INTER, LEAF) if root_key == "ec" else printable.chain(NAME, root_key=root_key)
    pki.write(tmp_path / "root.pem", root.pem)
    assert openssl_verify(tmp_path, leaf.pem, inter.pem, root.pem).returncode == 0  # the reference: OpenSSL accepts
    result = run_main(cert_chain_verify.main, {"chain": leaf.pem + inter.pem, "ca_content": root.pem,
                                               "server_names": [NAME], "profile": "openssl"})
    assert result["valid"] is True, result["findings"]
    own = [leaf.fingerprint, inter.fingerprint, root.fingerprint]
    assert [c["fingerprint_sha256"] for c in result["verified_chain"]] == own
    assert {f["severity"] for f in result["findings"]} == {"warning"}, result["findings"]
    assert sorted(f["fingerprint_sha256"] for f in result["findings"]) == sorted([leaf.fingerprint,
                                                                                 inter.fingerprint])
    for finding in result["findings"]:
        assert finding["code"] == "PARSE_ERROR" and "accepted by OpenSSL" in finding["message"], finding
        assert "PrintableString" in finding["message"] and printable.ORGANIZATION in finding["message"]


def test_profile_webpki_refuses_them_and_says_why():
    result = _verify.verify_single({"chain": LEAF.pem + INTER.pem, "server_names": [NAME]}, ca_content=ROOT.pem)
    assert result["valid"] is False
    assert [(f["code"], f["severity"]) for f in result["findings"]] == [("PARSE_ERROR", "error")] * 2
    assert all("PrintableString" in f["message"] for f in result["findings"])  # not a signature or parse error
    assert result["leaf"]["fingerprint_sha256"] == LEAF.fingerprint


def test_a_certificate_with_the_bytes_of_a_lenient_copy_is_itself(tmp_path):
    # the intermediate with its PrintableStrings tagged UTF8String is the very copy cryptography reads -- served as
    # such, its signature is wrong (the root signed the PrintableString form): it must not pass for the original
    lenient = _certs.load_certificate(INTER.der)
    copy = lenient.public_bytes(_certs.serialization.Encoding.DER)
    assert copy != INTER.der and len(copy) == len(INTER.der)
    strict = _certs.load_certificate(copy)
    assert _certs.der_of(strict) == copy and _certs.printable_violations(strict) == []
    assert _certs.der_of(lenient) == INTER.der  # the lenient one keeps its own bytes, read after the other too
    copy_pem = printable.Patched(copy, None).pem
    assert openssl_verify(tmp_path, LEAF.pem, copy_pem).returncode != 0  # OpenSSL: a bad signature
    for profile in ("openssl", "webpki"):
        result = _verify.verify_single({"chain": LEAF.pem + copy_pem, "server_names": [NAME]}, ca_content=ROOT.pem,
                                       profile=profile)
        assert result["valid"] is False, (profile, result["findings"])


def test_in_a_batch_each_certificate_is_described_by_its_own_bytes():
    # chain 2's leaf is chain 1's leaf re-encoded (UTF8String): another certificate, equal to chain 1's leniently
    # read leaf for cryptography; the verifier's cache of descriptions must not give it chain 1's fingerprint
    copy = _certs.load_certificate(LEAF.der).public_bytes(_certs.serialization.Encoding.DER)
    results = _verify.verify_batch([{"chain": LEAF.pem + INTER.pem, "server_names": [NAME]},
                                    {"chain": printable.Patched(copy, None).pem + INTER.pem, "server_names": [NAME]}],
                                   ca_content=ROOT.pem, profile="openssl")["results"]
    first, second = (r["leaf"]["fingerprint_sha256"] for r in results)
    assert (first, second) == (LEAF.fingerprint, hashlib.sha256(copy).hexdigest())
    assert results[0]["valid"] is True and results[1]["valid"] is False  # the copy's signature is not the CA's


@pytest.mark.parametrize("damage", ["leaf signature", "intermediate signature"])
def test_a_damaged_signature_is_still_found(tmp_path, damage):
    # reading a copy must not hide what is wrong with the certificate itself: flip the last byte of a signature
    leaf, inter = LEAF.der, INTER.der
    if damage == "leaf signature":
        leaf = leaf[:-1] + bytes([leaf[-1] ^ 1])
    else:
        inter = inter[:-1] + bytes([inter[-1] ^ 1])
    leaf_pem, inter_pem = printable.Patched(leaf, None).pem, printable.Patched(inter, None).pem
    assert openssl_verify(tmp_path, leaf_pem, inter_pem).returncode != 0  # the reference: OpenSSL refuses it
    for profile in ("openssl", "webpki"):
        result = _verify.verify_single({"chain": leaf_pem + inter_pem, "server_names": [NAME]},
                                       ca_content=ROOT.pem, profile=profile)
        assert result["valid"] is False, (profile, result["findings"])
        errors = [f for f in result["findings"] if f["severity"] == "error"]
        assert [f["code"] for f in errors if "PrintableString" not in f["message"]] == ["INVALID_CHAIN"], errors
        if profile == "openssl":  # OpenSSL reads the names: what it refuses is the signature, and only that
            assert all(f["severity"] == "warning" for f in result["findings"] if "PrintableString" in f["message"])


def test_backend_cert_info_describes_the_files(tmp_path):
    path = pki.write(tmp_path / "chain.pem", LEAF.pem + INTER.pem)
    key = pki.write(tmp_path / "key.pem", LEAF.key_pem(), 0o600)
    result = run_main(backend_cert_info.main, {"paths": [str(path), str(key)]})
    (entry,) = [f for f in result["files"] if f["path"] == str(path)]
    assert entry.get("error") is None, entry
    by_fingerprint = {c["fingerprint_sha256"]: c for c in result["certificates"]}
    assert set(by_fingerprint) >= {LEAF.fingerprint, INTER.fingerprint}
    assert by_fingerprint[LEAF.fingerprint]["issuer"] == by_fingerprint[INTER.fingerprint]["subject"]
    assert by_fingerprint[LEAF.fingerprint]["pem"].strip() == LEAF.pem.strip()  # its own bytes


@pytest.mark.parametrize("form", ["DER", "PEM"])
def test_a_pkcs7_bundle_of_them_is_read(tmp_path, form):
    # as a CA hands out its chain (.p7b): cryptography refuses the whole bundle; its certificates are read one by one
    pki.write(tmp_path / "chain.pem", LEAF.pem + INTER.pem)
    bundle = tmp_path / ("chain.p7b" if form == "DER" else "chain.p7.pem")
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(tmp_path / "chain.pem"), "-outform", form,
                    "-out", str(bundle)], check=True, capture_output=True)
    material = _certs.parse_material(bundle.read_bytes())
    assert material["format"] == "pkcs7"
    assert [hashlib.sha256(der).hexdigest() for der in material["ders"]] == [LEAF.fingerprint, INTER.fingerprint]
    result = run_main(backend_cert_info.main, {"paths": [str(bundle)]})
    (entry,) = result["files"]
    assert entry.get("error") is None, entry
    assert {c["fingerprint_sha256"] for c in result["certificates"]} == {LEAF.fingerprint, INTER.fingerprint}

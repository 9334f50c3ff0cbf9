"""Diagnosis that tells the fix: which certificate a finding is about, root or intermediate, names not OIDs."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from testlib import pki

CA = pki.CA("Diagnosis")
OTHER = pki.CA("Elsewhere")  # names its root "Elsewhere Root CA"


def verify(chain, ca, **kwargs):
    return _verify.verify_single(dict(chain=chain, **kwargs), ca_content=ca)


def test_a_root_missing_from_the_ca_file_is_untrusted_root_with_its_name():
    # Served as servers should: leaf and intermediate, no root; the load balancer's CA file lacks the root.
    leaf = OTHER.leaf("x.d.test")
    result = verify([leaf.pem, OTHER.intermediate.pem], CA.root.pem)
    (finding,) = [f for f in result["findings"] if f["severity"] == "error"]
    assert finding["code"] == "UNTRUSTED_ROOT"
    assert "CN=Elsewhere Root CA" in finding["message"] and "add it to the CA file" in finding["message"]
    assert finding["role"] == "intermediate" and finding["subject"] == "CN=Elsewhere Intermediate CA"


def test_a_missing_intermediate_is_incomplete_chain():
    leaf = OTHER.leaf("x.d.test")
    result = verify([leaf.pem], OTHER.root.pem)
    (finding,) = [f for f in result["findings"] if f["severity"] == "error"]
    assert finding["code"] == "INCOMPLETE_CHAIN" and "serve it after the leaf" in finding["message"]
    assert "CN=Elsewhere Intermediate CA" in finding["message"] and finding["role"] == "leaf"


def test_an_unnamed_missing_issuer_above_a_served_intermediate_says_both():
    middle = pki.issue("Diagnosis Issuing CA 2", issuer=CA.intermediate, ca=True, path_length=0)
    leaf = pki.issue("deep.d.test", issuer=middle)
    result = verify([leaf.pem, middle.pem], CA.root.pem)  # CA.intermediate is neither served nor trusted
    (finding,) = [f for f in result["findings"] if f["severity"] == "error"]
    assert finding["code"] == "INCOMPLETE_CHAIN"
    assert "cannot be told offline" in finding["message"] and "if it is the root, add it" in finding["message"]


def _system_root_with_ski():
    with open(_verify.ssl.get_default_verify_paths().openssl_cafile or "/etc/ssl/certs/ca-certificates.crt",
              "rb") as handle:
        for cert in x509.load_pem_x509_certificates(handle.read()):
            try:
                return cert, cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
    pytest.skip("no system trust store with a root that has a subjectKeyIdentifier")


def test_a_root_of_the_system_store_is_named_as_such():
    # An intermediate that names a system root as its issuer (name and key id; the diagnosis reads only those).
    root, ski = _system_root_with_ski()
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    intermediate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=Diagnosis Public Int"))
                    .issuer_name(root.subject).public_key(key.public_key()).serial_number(77)
                    .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.AuthorityKeyIdentifier(ski, None, None), critical=False)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                   critical=True)
                    .sign(key, hashes.SHA256()))
    issuer = pki.Issued(intermediate, key)
    leaf = pki.issue("public.d.test", issuer=issuer)
    result = verify([leaf.pem, issuer.pem], CA.root.pem)
    errors = [f for f in result["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, result["findings"]
    finding = errors[0]
    assert finding["code"] == "UNTRUSTED_ROOT" and "system trust store" in finding["message"]
    assert root.subject.rfc4514_string() in finding["message"]


def test_a_ca_without_key_usage_is_named_not_blamed_on_the_leaf(tmp_path):
    root = pki.openssl_root("Diagnosis Plain CA", tmp_path, days=30)
    leaf = pki.issue("plain.d.test", issuer=root)
    result = verify([leaf.pem], root.pem, server_names=["plain.d.test"])
    (finding,) = [f for f in result["findings"] if f["severity"] == "error"]
    assert finding["code"] == "INVALID_CHAIN" and finding["role"] == "trust anchor"
    assert finding["subject"] == "CN=Diagnosis Plain CA"
    assert "2.5.29.15 (keyUsage)" in finding["message"] and "has no keyUsage extension" in finding["message"]


def test_every_finding_says_which_certificate_it_is_about():
    leaf = CA.leaf("role.d.test")
    result = verify([leaf.pem, CA.intermediate.pem, CA.root.pem, CA.intermediate.pem], CA.root.pem,
                    server_names=["other.d.test"])
    roles = {(f["code"], f["role"]) for f in result["findings"]}
    assert ("HOSTNAME_MISMATCH", "leaf") in roles
    assert ("DUPLICATE_CERT", "intermediate") in roles
    assert ("ROOT_INCLUDED", "trust anchor") in roles
    assert all("role" in f for f in result["findings"])

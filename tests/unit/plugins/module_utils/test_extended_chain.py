"""The chain a load balancer's OpenSSL builds goes on past the first certificate of its CA file, to a self-signed root;
cryptography's path stops at the first trust anchor it meets. A review (2026-12-05) found verdicts that looked only
at cryptography's path, and a few other places where a verdict was more lenient than OpenSSL's:

- days remaining and EXPIRES_SOON ignored a root past a CA-file intermediate, and were null (with no verified chain)
  for a chain OpenSSL accepts whose issuer name differs from its issuer's subject only in case and blanks;
- profile webpki took an expired or weak root, or a SHA-1-signed intermediate, of the CA file for good;
- a bundle whose first certificate is the intermediate was valid under profile openssl;
- server names were converted to A-labels with IDNA 2003 (faß -> fass), not IDNA 2008 as clients do;
- profile webpki took an intermediate whose only extended key usage is anyExtendedKeyUsage, and a leaf whose key usage
  allows no TLS server use of its key.

Every case is generated here, and where OpenSSL is the reference the test runs the real `openssl verify` with a load
balancer's settings on the same certificates and asserts its answer too.
"""

from __future__ import annotations

import datetime
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _names, _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib import pki
from testlib.module_runner import run_main

PROFILES = ("openssl", "webpki")


def openssl_says(tmp_path, leaf_pem, ca_pem, untrusted_pem="", name=None, attime=None):
    """(accepted, [(error number, depth)]) of the real `openssl verify` as a load balancer's OpenSSL checks a backend:
    TLS server purpose, security level 2, only the given CA file, the served intermediates untrusted."""
    command = ["openssl", "verify", "-purpose", "sslserver", "-auth_level", "2", "-no-CApath", "-no-CAstore",
               "-CAfile", pki.write(tmp_path / "ca.pem", ca_pem)]
    if untrusted_pem:
        command += ["-untrusted", pki.write(tmp_path / "untrusted.pem", untrusted_pem)]
    if name:
        command += ["-verify_hostname", name]
    if attime is not None:
        command += ["-attime", str(int(attime.timestamp()))]
    proc = subprocess.run(command + [pki.write(tmp_path / "leaf.pem", leaf_pem)], capture_output=True, text=True,
                          check=False)
    errors = [(int(n), int(d)) for n, d in re.findall(r"^error (\d+) at (\d+) depth", proc.stdout + proc.stderr, re.M)]
    return proc.returncode == 0, errors


def judged(profile, chain, ca, names=(), **policy):
    return _verify.verify_single({"chain": chain, "server_names": list(names)}, ca_content=ca, profile=profile,
                                 **policy)


def errors(result):
    return [f["code"] for f in result["findings"] if f["severity"] == "error"]


def codes(result):
    return [(f["code"], f["severity"]) for f in result["findings"]]


def subjects(result):
    return [c["subject"] for c in result["verified_chain"]]


# ---------------------------------------------------------------- 1. days remaining over the chain OpenSSL builds
SHORT_ROOT = pki.issue("Extended Short Root CA", ca=True, days=11)  # ends in 10 days
SHORT_INT = pki.issue("Extended Short Intermediate CA", issuer=SHORT_ROOT, ca=True, path_length=0, days=1825)
SHORT_LEAF = pki.issue("days.extended.test", issuer=SHORT_INT, days=90)


@pytest.mark.parametrize("profile", PROFILES)
def test_days_remaining_counts_the_root_past_a_ca_file_intermediate(tmp_path, profile):
    ca_file = SHORT_INT.pem + SHORT_ROOT.pem  # a CA bundle holding intermediate and root
    chain = SHORT_LEAF.pem + SHORT_INT.pem
    # OpenSSL accepts the chain today and refuses it, on the root, once the root has expired
    assert openssl_says(tmp_path, SHORT_LEAF.pem, ca_file, SHORT_INT.pem, "days.extended.test") == (True, [])
    later = pki.now() + datetime.timedelta(days=20)
    assert openssl_says(tmp_path, SHORT_LEAF.pem, ca_file, SHORT_INT.pem, "days.extended.test", attime=later) == (
        False, [(10, 2)])
    result = judged(profile, chain, ca_file, ["days.extended.test"], min_days_remaining=30)
    assert result["valid"] is True, result["findings"]
    assert result["days_remaining"] in (9, 10)  # the root's, not the leaf's 89
    assert codes(result) == [("EXPIRES_SOON", "warning")]
    assert subjects(result) == ["CN=days.extended.test", "CN=Extended Short Intermediate CA",
                                "CN=Extended Short Root CA"]
    then = judged(profile, chain, ca_file, ["days.extended.test"], at="+20d")
    assert then["valid"] is False and errors(then) == ["EXPIRED"]
    assert then["findings"][0]["subject"] == "CN=Extended Short Root CA"


def test_the_module_says_expires_soon_for_the_root_past_a_ca_file_intermediate():
    out = run_main(cert_chain_verify.main, {"chain": SHORT_LEAF.pem + SHORT_INT.pem,
                                            "ca_content": SHORT_INT.pem + SHORT_ROOT.pem, "profile": "openssl",
                                            "server_names": ["days.extended.test"], "min_days_remaining": 30})
    assert out["valid"] is True and out["days_remaining"] in (9, 10)
    assert [(f["code"], f["severity"]) for f in out["findings"]] == [("EXPIRES_SOON", "warning")]


CASE_ROOT = pki.issue("Extended Case Root CA", ca=True, days=3650)
CASE_INT = pki.issue("Extended Case Inter CA", issuer=CASE_ROOT, ca=True, path_length=0)


def _leaf_naming_its_issuer(cn, issuer_name, issuer, days):
    """A leaf signed by issuer that names its issuer issuer_name (which X509_NAME_cmp may take for issuer's)."""
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days + 1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False)
            .sign(issuer.key, hashes.SHA256()))
    return pki.Issued(cert, key)


def test_days_remaining_when_the_issuer_name_differs_only_in_case_and_blanks(tmp_path):
    # "CASE  inter ca" is "CN=Extended Case Inter CA" for OpenSSL's X509_NAME_cmp (case and blanks do not count)
    leaf = _leaf_naming_its_issuer("case.extended.test", "EXTENDED  case INTER ca", CASE_INT, days=10)
    chain = leaf.pem + CASE_INT.pem
    assert openssl_says(tmp_path, leaf.pem, CASE_ROOT.pem, CASE_INT.pem, "case.extended.test") == (True, [])
    result = judged("openssl", chain, CASE_ROOT.pem, ["case.extended.test"], min_days_remaining=30)
    assert result["valid"] is True, result["findings"]
    assert result["days_remaining"] in (9, 10)
    assert ("EXPIRES_SOON", "warning") in codes(result)
    assert subjects(result) == ["CN=case.extended.test", "CN=Extended Case Inter CA", "CN=Extended Case Root CA"]
    assert result["verified_chain"][0]["fingerprint_sha256"] == leaf.fingerprint
    # a WebPKI client compares names byte for byte: no path, as before
    strict = judged("webpki", chain, CASE_ROOT.pem, ["case.extended.test"], min_days_remaining=30)
    assert strict["valid"] is False and strict["verified_chain"] == [] and strict["days_remaining"] is None


def test_a_chain_that_reaches_no_anchor_still_has_no_days_remaining():
    # the OpenSSL-style build from the leaf must not invent a path: a missing intermediate stays one
    leaf = pki.issue("missing.extended.test", issuer=CASE_INT)
    result = judged("openssl", leaf.pem, CASE_ROOT.pem, ["missing.extended.test"])
    assert result["valid"] is False and "INCOMPLETE_CHAIN" in errors(result)
    assert result["verified_chain"] == [] and result["days_remaining"] is None


# ---------------------------------------------------------------- 2. webpki checks the CA file's certificates too
def _sha1_intermediate(cn, issuer, workdir):
    """A CA certificate signed with SHA-1 by issuer (cryptography no longer signs with SHA-1: the openssl CLI does)."""
    pki.write(workdir / "issuer.key", issuer.key_pem(), 0o600)
    pki.write(workdir / "issuer.crt", issuer.pem)
    (workdir / "ca.ext").write_text("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,"
                                    "cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(workdir / "i.key"), "-subj", "/CN=%s" % cn, "-out", str(workdir / "i.csr")],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(workdir / "i.csr"), "-CA", str(workdir / "issuer.crt"),
                    "-CAkey", str(workdir / "issuer.key"), "-sha1", "-days", "365", "-set_serial", "77", "-extfile",
                    str(workdir / "ca.ext"), "-out", str(workdir / "i.crt")], check=True, capture_output=True)
    return pki.Issued(x509.load_pem_x509_certificate((workdir / "i.crt").read_bytes()),
                      serialization.load_pem_private_key((workdir / "i.key").read_bytes(), None))


def _ca_file_case(kind, workdir):
    """(root, intermediate) of a CA file holding both, with one thing wrong past the intermediate."""
    if kind == "expired_root":
        root = pki.issue("Extended Expired Root CA", ca=True, days=30, start_days=-400)
        return root, pki.issue("Extended Expired Root Intermediate CA", issuer=root, ca=True, path_length=0, days=1825)
    if kind == "sha1_intermediate":
        root = pki.issue("Extended SHA1 Root CA", ca=True, days=3650)
        return root, _sha1_intermediate("Extended SHA1 Intermediate CA", root, workdir)
    root = pki.issue("Extended Weak Root CA", ca=True, days=3650, key=pki.new_key("rsa", 1024))
    return root, pki.issue("Extended Weak Root Intermediate CA", issuer=root, ca=True, path_length=0)


@pytest.mark.parametrize("kind,openssl_error,code,about", [
    ("expired_root", (10, 2), "EXPIRED", "CN=Extended Expired Root CA"),
    ("sha1_intermediate", (68, 1), "WEAK_SIGNATURE", "CN=Extended SHA1 Intermediate CA"),
    ("weak_root", (67, 2), "WEAK_KEY", "CN=Extended Weak Root CA"),
])
def test_webpki_is_not_more_lenient_than_openssl_past_a_ca_file_intermediate(
        tmp_path, kind, openssl_error, code, about):
    root, intermediate = _ca_file_case(kind, tmp_path)
    leaf = pki.issue("%s.extended.test" % kind.replace("_", "-"), issuer=intermediate)
    ca_file = intermediate.pem + root.pem
    name = "%s.extended.test" % kind.replace("_", "-")
    assert openssl_says(tmp_path, leaf.pem, ca_file, intermediate.pem, name) == (False, [openssl_error])
    for profile in PROFILES:
        result = judged(profile, leaf.pem + intermediate.pem, ca_file, [name])
        assert result["valid"] is False, (profile, result["findings"])
        assert errors(result) == [code], (profile, result["findings"])
        (finding,) = [f for f in result["findings"] if f["code"] == code]
        assert finding["subject"] == about and finding["role"] == "trust anchor"


def test_a_sound_ca_file_with_intermediate_and_root_is_valid_to_its_root(tmp_path):
    ca = pki.CA("Extended Sound")
    leaf = ca.leaf("sound.extended.test")
    ca_file = ca.intermediate.pem + ca.root.pem
    assert openssl_says(tmp_path, leaf.pem, ca_file, ca.intermediate.pem, "sound.extended.test") == (True, [])
    for profile in PROFILES:
        result = judged(profile, ca.chain_pem(leaf), ca_file, ["sound.extended.test"])
        assert result["valid"] is True and result["findings"] == [], (profile, result["findings"])
        assert subjects(result) == ["CN=sound.extended.test", "CN=Extended Sound Intermediate CA",
                                    "CN=Extended Sound Root CA"]


def test_a_self_signed_sha1_root_is_not_a_weak_signature(tmp_path):
    # OpenSSL does not check the signature of the trust anchor a chain ends at; neither does the collection
    root = pki.openssl_root("Extended Old Root", tmp_path / "root")
    subprocess.run(["openssl", "x509", "-in", str(tmp_path / "root" / "root.pem"), "-signkey",
                    str(tmp_path / "root" / "root.key"), "-sha1", "-days", "3650", "-out",
                    str(tmp_path / "sha1-root.pem")], check=True, capture_output=True)
    sha1_root = pki.Issued(x509.load_pem_x509_certificate((tmp_path / "sha1-root.pem").read_bytes()), root.key)
    assert sha1_root.cert.signature_hash_algorithm.name == "sha1"
    intermediate = pki.issue("Extended Old Root Intermediate CA", issuer=sha1_root, ca=True, path_length=0)
    leaf = pki.issue("old-root.extended.test", issuer=intermediate)
    ca_file = intermediate.pem + sha1_root.pem
    assert openssl_says(tmp_path, leaf.pem, ca_file, intermediate.pem, "old-root.extended.test") == (True, [])
    result = judged("openssl", leaf.pem + intermediate.pem, ca_file, ["old-root.extended.test"])
    assert result["valid"] is True, result["findings"]
    assert "WEAK_SIGNATURE" not in [f["code"] for f in result["findings"]]


# ---------------------------------------------------------------- 6. the first certificate must be the leaf
ORDER = pki.CA("Extended Order")
ORDER_LEAF = ORDER.leaf("order.extended.test")


@pytest.mark.parametrize("profile", PROFILES)
def test_a_bundle_whose_first_certificate_is_the_intermediate_is_invalid(tmp_path, profile):
    # OpenSSL verifies the first certificate, the intermediate, as if it were the server's, and accepts it: its
    # verdict cannot decide this (no server can serve such a file with the leaf's key)
    assert openssl_says(tmp_path, ORDER.intermediate.pem, ORDER.root.pem, ORDER_LEAF.pem) == (True, [])
    result = judged(profile, ORDER.intermediate.pem + ORDER_LEAF.pem, ORDER.root.pem)
    assert result["valid"] is False
    assert ("WRONG_ORDER", "error") in codes(result)
    (finding,) = [f for f in result["findings"] if f["code"] == "WRONG_ORDER"]
    assert "the leaf is certificate 2" in finding["message"] and not finding["message"].startswith("accepted by")


@pytest.mark.parametrize("profile", PROFILES)
def test_intermediates_out_of_order_behind_the_leaf_stay_a_warning(tmp_path, profile):
    top = pki.issue("Extended Order Top Intermediate", issuer=ORDER.root, ca=True, path_length=1)
    low = pki.issue("Extended Order Low Intermediate", issuer=top, ca=True, path_length=0)
    leaf = pki.issue("deep-order.extended.test", issuer=low)
    assert openssl_says(tmp_path, leaf.pem, ORDER.root.pem, top.pem + low.pem, "deep-order.extended.test")[0]
    result = judged(profile, leaf.pem + top.pem + low.pem, ORDER.root.pem, ["deep-order.extended.test"])
    assert result["valid"] is True
    assert codes(result) == [("WRONG_ORDER", "warning")]


# ---------------------------------------------------------------- 3. server names as IDNA 2008 converts them
@pytest.mark.parametrize("written,a_label", [
    # references: the `idna` package (IDNA 2008, uts46=True) and libidn2 (curl), which agree on every one
    ("faß.p.test", "xn--fa-hia.p.test"),
    ("FAß.P.TEST", "xn--fa-hia.p.test"),
    ("straße.de", "xn--strae-oqa.de"),
    ("faß.ß.test", "xn--fa-hia.xn--zca.test"),
    ("\u00c4\u00df\u03a7.test", "xn--zcaj23t.test"),  # capitals mapped as before, ß kept
    ("\u03b2\u03cc\u03bb\u03bf\u03c2.test", "xn--nxasmm1c.test"),  # a final sigma is kept
    ("\u0915\u094d\u200d.test", "xn--11b6iy14e.test"),  # a zero-width joiner after a virama is kept
    ("faß\u3002p.test", "xn--fa-hia.p.test"),  # an ideographic full stop separates labels, as before
    ("*.faß.test", "*.xn--fa-hia.test"),
    # without those characters IDNA 2003 and 2008 agree: converted exactly as before
    ("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3.test", "xn--kxa6akbbkh.test"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("fass.p.test", "fass.p.test"),
])
def test_server_names_are_converted_as_idna_2008_converts_them(written, a_label):
    assert _names.normalize(written) == a_label


@pytest.mark.parametrize("written,char", [
    ("a\u200db.test", "U+200D"),  # a joiner whose validity depends on joining types
    ("a\u200cb.test", "U+200C"),
    ("\u1e9e.test", "U+1E9E"),  # capital sharp s: "ss" before Unicode 15.1, ß since
])
def test_a_name_whose_a_label_depends_on_the_client_asks_for_the_a_label(written, char):
    with pytest.raises(CertError) as info:
        _names.normalize(written)
    assert info.value.code == "INVALID_ARGUMENT"
    assert char in info.value.message and "A-label" in info.value.message


IDN = pki.CA("Extended IDN")


@pytest.mark.parametrize("profile", PROFILES)
def test_the_certificate_for_an_eszett_name_is_the_one_that_matches(tmp_path, profile):
    genuine = IDN.leaf("xn--fa-hia.p.test")  # the certificate for faß.p.test
    other = IDN.leaf("fass.p.test")  # a certificate for another domain
    assert openssl_says(tmp_path, genuine.pem, IDN.root.pem, IDN.intermediate.pem, "xn--fa-hia.p.test") == (True, [])
    assert openssl_says(tmp_path, other.pem, IDN.root.pem, IDN.intermediate.pem, "xn--fa-hia.p.test") == (
        False, [(62, 0)])
    assert judged(profile, IDN.chain_pem(genuine), IDN.root.pem, ["faß.p.test"])["valid"] is True
    wrong = judged(profile, IDN.chain_pem(other), IDN.root.pem, ["faß.p.test"])
    assert wrong["valid"] is False and errors(wrong) == ["HOSTNAME_MISMATCH"]


# ---------------------------------------------------------------- 4 and 5. OpenSSL's TLS server purpose
PURPOSE_ROOT = pki.issue("Extended Purpose Root CA", ca=True, days=3650)


@pytest.mark.parametrize("ekus,accepted", [
    ([x509.ObjectIdentifier("2.5.29.37.0")], False),  # anyExtendedKeyUsage alone
    ([ExtendedKeyUsageOID.CLIENT_AUTH], False),
    ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], True),
])
def test_an_intermediate_s_extended_key_usage_must_allow_server_auth(tmp_path, ekus, accepted):
    intermediate = pki.issue("Extended EKU Intermediate CA", issuer=PURPOSE_ROOT, ca=True, path_length=0,
                             extensions=[(x509.ExtendedKeyUsage(ekus), False)])
    leaf = pki.issue("eku.extended.test", issuer=intermediate)
    assert openssl_says(tmp_path, leaf.pem, PURPOSE_ROOT.pem, intermediate.pem, "eku.extended.test") == (
        (True, []) if accepted else (False, [(26, 1)]))
    for profile in PROFILES:
        result = judged(profile, leaf.pem + intermediate.pem, PURPOSE_ROOT.pem, ["eku.extended.test"])
        assert result["valid"] is accepted, (profile, result["findings"])
        if not accepted:
            assert errors(result) == ["NOT_SERVER_AUTH"], (profile, result["findings"])
            assert result["findings"][0]["subject"] == "CN=Extended EKU Intermediate CA"


def test_a_root_of_the_ca_file_whose_extended_key_usage_lacks_server_auth(tmp_path):
    # OpenSSL checks the purpose of the trust anchor as well (a plain CA file carries no trust settings to say more)
    root = pki.issue("Extended EKU Root CA", ca=True, days=3650,
                     extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])
    intermediate = pki.issue("Extended EKU Root Intermediate CA", issuer=root, ca=True, path_length=0)
    leaf = pki.issue("eku-root.extended.test", issuer=intermediate)
    ca_file = intermediate.pem + root.pem  # cryptography's path stops at the intermediate, OpenSSL's at the root
    assert openssl_says(tmp_path, leaf.pem, ca_file, intermediate.pem, "eku-root.extended.test") == (False, [(26, 2)])
    for profile in PROFILES:
        result = judged(profile, leaf.pem + intermediate.pem, ca_file, ["eku-root.extended.test"])
        assert result["valid"] is False and errors(result) == ["NOT_SERVER_AUTH"], (profile, result["findings"])
        assert result["findings"][0]["subject"] == "CN=Extended EKU Root CA"


def _leaf_with_key_usage(cn, **usage):
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    flags.update(usage)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(PURPOSE_ROOT.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.KeyUsage(**flags), True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(PURPOSE_ROOT.key.public_key()), False)
            .sign(PURPOSE_ROOT.key, hashes.SHA256()))
    return pki.Issued(cert, key)


@pytest.mark.parametrize("usage,accepted", [
    ({"content_commitment": True}, False),  # nonRepudiation only
    ({"data_encipherment": True}, False),
    ({"crl_sign": True}, False),
    ({"content_commitment": True, "data_encipherment": True}, False),
    ({"digital_signature": True}, True),
    ({"key_encipherment": True}, True),
    ({"key_agreement": True}, True),
    ({"content_commitment": True, "digital_signature": True}, True),
], ids=["nonRepudiation", "dataEncipherment", "cRLSign", "nonRepudiation+dataEncipherment", "digitalSignature",
        "keyEncipherment", "keyAgreement", "nonRepudiation+digitalSignature"])
def test_a_leaf_s_key_usage_must_allow_a_tls_server_s_use_of_its_key(tmp_path, usage, accepted):
    leaf = _leaf_with_key_usage("ku.extended.test", **usage)
    assert openssl_says(tmp_path, leaf.pem, PURPOSE_ROOT.pem, "", "ku.extended.test") == (
        (True, []) if accepted else (False, [(26, 0)]))
    for profile in PROFILES:
        result = judged(profile, leaf.pem, PURPOSE_ROOT.pem, ["ku.extended.test"])
        assert result["valid"] is accepted, (profile, result["findings"])
        if not accepted:
            assert errors(result) == ["NOT_SERVER_AUTH"], (profile, result["findings"])
            assert "key usage" in result["findings"][0]["message"]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_ca_file_with_an_expired_and_a_renewed_copy_of_the_root_is_built_through_the_valid_one(tmp_path, profile):
    # The root as first issued (expired) and as re-issued (same name and key) in one CA file: OpenSSL takes the issuer
    # valid at the time, whatever the file's order; the chain built past the intermediate took the first in the file
    # and reported the expired root (a review of this session's change).
    key = pki.new_key()
    old_root = pki.issue("Renewed Root CA", ca=True, key=key, days=100, start_days=-400, serial=1)
    new_root = pki.issue("Renewed Root CA", ca=True, key=key, days=3650, start_days=-10, serial=2)
    inter = pki.issue("Renewed Issuing CA", issuer=new_root, ca=True, path_length=0, days=1000)
    leaf = pki.issue("app.renewed.test", issuer=inter, days=90)
    ca = inter.pem + old_root.pem + new_root.pem
    assert openssl_says(tmp_path, leaf.pem, ca, inter.pem, name="app.renewed.test") == (True, [])
    result = judged(profile, leaf.pem + inter.pem, ca, ["app.renewed.test"])
    assert result["valid"] and not [f for f in result["findings"] if f["code"] == "EXPIRED"], result["findings"]
    assert 85 <= result["days_remaining"] <= 90
    assert [c["fingerprint_sha256"] for c in result["verified_chain"]][-1] == new_root.fingerprint

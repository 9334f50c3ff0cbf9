"""Revocation as a load balancer's OpenSSL checks it: cert_chain_verify with the load balancer's CRLs
(`crl_content`, `crl_check`) against the real `openssl verify -crl_check` (leaf) and `-crl_check_all` (chain) on
the same certificates and CRLs, every one generated here.

Each case is a set of CRLs; for each leaf and mode the collection's verdict, under both profiles, must be OpenSSL's,
and an OpenSSL refusal must carry the code its error stands for (23 REVOKED, 3 CRL_MISSING, 12 CRL_EXPIRED,
8 and 11 CRL_INVALID).
"""

from __future__ import annotations

import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib import pki
from testlib.module_runner import run_main

ROOT = pki.issue("Revocation Root", ca=True, days=3650)
INT = pki.issue("Revocation Intermediate", issuer=ROOT, ca=True, days=1825)
GOOD = pki.issue("good.revocation.test", issuer=INT)
BAD = pki.issue("bad.revocation.test", issuer=INT)
# the intermediate's namesake with another key: what it signs is no CRL of the real one
FORGER = pki.issue("Revocation Intermediate", issuer=ROOT, ca=True, days=1825)
REVOKED_INT = pki.issue("Revoked Intermediate", issuer=ROOT, ca=True, days=1825)
UNDER_REVOKED = pki.issue("under.revocation.test", issuer=REVOKED_INT)

OPENSSL_CODES = {23: "REVOKED", 3: "CRL_MISSING", 12: "CRL_EXPIRED", 11: "CRL_INVALID", 8: "CRL_INVALID"}


def crl(issuer, revoked=(), last=-1, following=7, signer=None, aki=True):
    return pki.crl_pem(pki.crl(issuer, revoked, last=last, following=following, signer=signer, aki=aki))


# the revoked intermediate's own CRL travels with the root's: its leaf then passes a leaf-only check
FRESH_INT, FRESH_ROOT = crl(INT, [BAD]), crl(ROOT, [REVOKED_INT]) + crl(REVOKED_INT)
CASES = {
    "fresh": FRESH_INT + FRESH_ROOT,
    "int_only": FRESH_INT,  # nothing from the root about the intermediate
    "root_only": FRESH_ROOT,  # nothing from the intermediate about its leaves
    "stale": crl(INT, [BAD], last=-30, following=-1) + FRESH_ROOT,
    "future": crl(INT, [BAD], last=2, following=9) + FRESH_ROOT,
    # a CRL in the intermediate's name signed by another key: naming that key (AKI), OpenSSL does not take it for
    # the intermediate's (no CRL, 3); naming none, it does and finds the signature wrong (8)
    "forged": crl(INT, signer=FORGER) + FRESH_ROOT,
    "forged_no_aki": crl(INT, signer=FORGER, aki=False) + FRESH_ROOT,
    # both current: OpenSSL takes the newer, and the genuine older one does not save it
    "forged_newer": crl(INT, last=-3) + crl(INT, signer=FORGER, aki=False) + FRESH_ROOT,
    "stale_and_fresh": crl(INT, [], last=-30, following=-1) + FRESH_INT + FRESH_ROOT,
}
CHAINS = {"good": GOOD.pem + INT.pem, "bad": BAD.pem + INT.pem, "under_revoked": UNDER_REVOKED.pem + REVOKED_INT.pem}


def openssl_says(tmp_path, chain, crls, mode, ca=ROOT.pem):
    """(accepted, [error numbers]) of `openssl verify` as a load balancer's OpenSSL would check: its CA file (the
    root unless given), the served intermediates untrusted, the CRLs, -crl_check (leaf) or -crl_check_all (chain)."""
    return pki.openssl_crl_verdict(tmp_path, chain, crls, mode, ca)


def judged(chain, crls, mode, profile, ca=ROOT.pem, **checks):
    return _verify.verify_single({"chain": chain}, checks=dict(checks, crl_check=mode), ca_content=ca,
                                 crl_content=crls, profile=profile)


def errors(result):
    return {f["code"] for f in result["findings"] if f["severity"] == "error"}


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
@pytest.mark.parametrize("mode", ["leaf", "chain"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_revocation_is_what_openssl_says(tmp_path, case, mode, profile):
    for label, chain in CHAINS.items():
        accepted, numbers = openssl_says(tmp_path, chain, CASES[case], mode)
        result = judged(chain, CASES[case], mode, profile)
        assert result["valid"] == accepted, (label, numbers, result["findings"])
        if not accepted:
            assert {OPENSSL_CODES[n] for n in numbers} <= errors(result), (label, numbers, result["findings"])


SELF = pki.issue("self.revocation.test")  # a self-signed leaf its load balancer's CA file holds
PINNED = pki.issue("pinned.revocation.test", issuer=INT)  # a leaf the CA file holds itself, issued by INT
DP = "http://pki.revocation.test/int.crl"


def _with_dp(cn, full_name=None, relative_name=None, crl_issuer=None, reasons=None):
    """A leaf of INT with one CRL distribution point of these fields (reasons None: no reasons field)."""
    return pki.issue(cn, issuer=INT, extensions=[(x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name, relative_name, reasons, crl_issuer)]), False)])


WITH_DP = _with_dp("dp.revocation.test", [x509.UniformResourceIdentifier(DP)])


def _with_dp_reasons(cn, reasons):
    """A leaf of INT whose CRL distribution point (DP) names these revocation reasons."""
    return _with_dp(cn, [x509.UniformResourceIdentifier(DP)], reasons=reasons)


ALL_REASONS = frozenset(x509.ReasonFlags) - {x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl}
SOME_REASONS = _with_dp_reasons("some-reasons.revocation.test", frozenset([x509.ReasonFlags.key_compromise]))
EVERY_REASON = _with_dp_reasons("every-reason.revocation.test", ALL_REASONS)
OTHER_CA = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Other CA")])
POINT_RDN = x509.RelativeDistinguishedName([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "CRL 1")])


# distribution points that lead to a CRL naming its issuing distribution point, as OpenSSL's crl_crldp_check follows
# them: one naming the CRL's issuer as its cRLIssuer, a relative name (the issuer's name and that RDN), one with no
# name (it agrees with any), one naming another CRL issuer (it leads nowhere)
DP_CRL_ISSUER = _with_dp("dp-crl-issuer.revocation.test", [x509.UniformResourceIdentifier(DP)],
                         crl_issuer=[x509.DirectoryName(INT.cert.subject)])
DP_RELATIVE = _with_dp("dp-relative.revocation.test", relative_name=POINT_RDN)
DP_NO_NAME = _with_dp("dp-no-name.revocation.test", crl_issuer=[x509.DirectoryName(INT.cert.subject)])
DP_FULL_DIRNAME = _with_dp("dp-dirname.revocation.test", [x509.DirectoryName(x509.Name(
    list(INT.cert.subject.rdns) + [POINT_RDN]))])
DP_OTHER_ISSUER = _with_dp("dp-other-issuer.revocation.test", [x509.UniformResourceIdentifier(DP)],
                           crl_issuer=[x509.DirectoryName(OTHER_CA)])


def _cert_issuer(name):
    """A CRL entry's certificateIssuer (critical, as RFC 5280 has it): the entry, and those after it, are about
    certificates that CA issued."""
    return [(x509.CertificateIssuer([x509.DirectoryName(name)]), True)]


def _aki(serial, issuer_name):
    """INT's authority key identifier as a CRL may write it: its key, and an issuer name and serial number."""
    key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(INT.key.public_key()).key_identifier
    return x509.AuthorityKeyIdentifier(key_id, [x509.DirectoryName(issuer_name)], serial)


# an intermediate whose key usage lacks cRLSign, and its leaf
NO_CRL_SIGN = pki.issue("No CRL Sign Intermediate", issuer=ROOT, ca=True, days=1825, crl_sign=False)
UNDER_NO_CRL_SIGN = pki.issue("under-no-crl-sign.revocation.test", issuer=NO_CRL_SIGN)


def _delta(issuer, revoked=(), extensions=()):
    """A delta CRL (deltaCRLIndicator, critical): OpenSSL without extended CRL support takes it as a CRL of its issuer,
    and skips the checks check_crl makes of a base CRL only (its issuer's cRLSign, its scope)."""
    return pki.crl_pem(pki.crl(issuer, revoked, extensions=[(x509.DeltaCRLIndicator(1), True)] + list(extensions)))


def _indented(pem):
    return "".join(" " + line + "\n" for line in pem.splitlines())


def _idp(**flags):
    values = dict({"full_name": None, "relative_name": None, "only_contains_user_certs": False,
                   "only_contains_ca_certs": False, "only_some_reasons": None, "indirect_crl": False,
                   "only_contains_attribute_certs": False}, **flags)
    return x509.IssuingDistributionPoint(**values), True


# name -> (CA file, served chain, CRLs): the chain OpenSSL builds beyond the first anchor, CRL features OpenSSL
# reads before a serial (critical extensions, issuing distribution points), hashes a load balancer still takes
SCENARIOS = {
    # an intermediate and its root in the CA file (a bundle): OpenSSL builds on to the root and checks the
    # intermediate against the root's CRL too
    "bundle_fresh": (INT.pem + ROOT.pem, CHAINS["good"], FRESH_INT + crl(ROOT)),
    "bundle_revoked_int": (INT.pem + ROOT.pem, CHAINS["good"], FRESH_INT + crl(ROOT, [INT])),
    "bundle_no_root_crl": (INT.pem + ROOT.pem, CHAINS["good"], FRESH_INT),
    "bundle_stale_root_crl": (INT.pem + ROOT.pem, CHAINS["good"], FRESH_INT + crl(ROOT, last=-9, following=-1)),
    # a leaf the CA file holds itself: OpenSSL still builds leaf -> intermediate -> root
    "pinned_revoked": (ROOT.pem + PINNED.pem, PINNED.pem + INT.pem, crl(INT, [PINNED]) + crl(ROOT)),
    "pinned_fresh": (ROOT.pem + PINNED.pem, PINNED.pem + INT.pem, crl(INT) + crl(ROOT)),
    # a self-signed leaf trusted directly: its own CRL, which it may not sign (no cRLSign), or none
    "self_no_crl": (SELF.pem, SELF.pem, FRESH_ROOT),
    "self_own_crl": (SELF.pem, SELF.pem, crl(SELF)),
    # an unhandled critical extension on the CRL, and on an entry
    "critical": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, extensions=[(x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), True)])) + FRESH_ROOT),
    # issuing distribution points: CA certificates only, user certificates only, a name the leaf lacks, the name
    # the leaf has, an indirect CRL
    "idp_ca_only": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, extensions=[
        _idp(only_contains_ca_certs=True)])) + FRESH_ROOT),
    "idp_user_only_root": (ROOT.pem, CHAINS["good"], FRESH_INT + pki.crl_pem(pki.crl(ROOT, extensions=[
        _idp(only_contains_user_certs=True)]))),
    "idp_name_missing": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, extensions=[
        _idp(full_name=[x509.UniformResourceIdentifier(DP)])])) + FRESH_ROOT),
    "idp_name_matches": (ROOT.pem, WITH_DP.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(full_name=[x509.UniformResourceIdentifier(DP)])])) + FRESH_ROOT),
    "idp_indirect": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, extensions=[_idp(indirect_crl=True)]))
                     + FRESH_ROOT),
    "idp_dp_crl_issuer": (ROOT.pem, DP_CRL_ISSUER.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(full_name=[x509.UniformResourceIdentifier(DP)])])) + FRESH_ROOT),
    "idp_dp_other_issuer": (ROOT.pem, DP_OTHER_ISSUER.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(full_name=[x509.UniformResourceIdentifier(DP)])])) + FRESH_ROOT),
    "idp_relative_name": (ROOT.pem, DP_RELATIVE.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(relative_name=POINT_RDN)])) + FRESH_ROOT),
    "idp_relative_name_in_full": (ROOT.pem, DP_FULL_DIRNAME.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(relative_name=POINT_RDN)])) + FRESH_ROOT),
    "idp_relative_name_missing": (ROOT.pem, WITH_DP.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(relative_name=POINT_RDN)])) + FRESH_ROOT),
    "idp_dp_without_name": (ROOT.pem, DP_NO_NAME.pem + INT.pem, pki.crl_pem(pki.crl(INT, extensions=[
        _idp(full_name=[x509.UniformResourceIdentifier(DP)])])) + FRESH_ROOT),
    # names compared as OpenSSL compares them (case and blanks do not count); an entry removeFromCRL is no revocation
    "name_case": (ROOT.pem, CHAINS["bad"], pki.crl_pem(pki.crl(INT, [BAD], name=x509.Name([x509.NameAttribute(
        x509.oid.NameOID.COMMON_NAME, "REVOCATION  intermediate")]))) + FRESH_ROOT),
    "removed": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, [GOOD], reasons={
        GOOD.cert.serial_number: x509.ReasonFlags.remove_from_crl})) + FRESH_ROOT),
    "key_compromise": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, [GOOD], reasons={
        GOOD.cert.serial_number: x509.ReasonFlags.key_compromise})) + FRESH_ROOT),
    # From the CRL hunt of 2026-12-07 (real HAProxy, nginx and Apache said the same as openssl verify here):
    # a distribution point naming some reasons only: no CRL covers the others without extended CRL support (3);
    # naming every reason, the CRL covers it
    "dp_some_reasons": (ROOT.pem, SOME_REASONS.pem + INT.pem, FRESH_INT + FRESH_ROOT),
    "dp_every_reason": (ROOT.pem, EVERY_REASON.pem + INT.pem, FRESH_INT + FRESH_ROOT),
    "dp_some_reasons_revoked": (ROOT.pem, SOME_REASONS.pem + INT.pem, crl(INT, [SOME_REASONS]) + FRESH_ROOT),
    # an entry about another CA's certificate (certificateIssuer), and an entry after such a one: not INT's leaf;
    # one naming INT is
    "cert_issuer_other": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, [GOOD], entry_extensions={
        GOOD.cert.serial_number: _cert_issuer(OTHER_CA)})) + FRESH_ROOT),
    "cert_issuer_inherited": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, [12345, GOOD], entry_extensions={
        12345: _cert_issuer(OTHER_CA)})) + FRESH_ROOT),
    "cert_issuer_itself": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, [12345, GOOD], entry_extensions={
        12345: _cert_issuer(OTHER_CA), GOOD.cert.serial_number: _cert_issuer(INT.cert.subject)})) + FRESH_ROOT),
    # an authority key identifier with INT's key but another serial, or another issuer name: not INT's CRL (3)
    "aki_other_serial": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(INT, aki=_aki(4242, ROOT.cert.subject)))
                         + FRESH_ROOT),
    "aki_other_issuer": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(
        INT, aki=_aki(INT.cert.serial_number, OTHER_CA))) + FRESH_ROOT),
    "aki_issuer_and_serial": (ROOT.pem, CHAINS["good"], pki.crl_pem(pki.crl(
        INT, aki=_aki(INT.cert.serial_number, ROOT.cert.subject))) + FRESH_ROOT),
    # a CRL block whose lines are indented is none to OpenSSL's PEM reader: the newer CRL revoking the leaf is not
    # read, and the older clean one decides
    "indented_newer": (ROOT.pem, CHAINS["good"], crl(INT, last=-3) + _indented(crl(INT, [GOOD])) + FRESH_ROOT),
    "indented_only_root": (ROOT.pem, CHAINS["good"], FRESH_INT + _indented(crl(ROOT))),
    # delta CRLs: from an issuer without cRLSign, taken (a base CRL from it is not: "self_own_crl" above); out of
    # scope, no CRL for the certificate (3), where a base CRL is a different scope (44: "idp_ca_only" above)
    "delta_no_crl_sign": (ROOT.pem, UNDER_NO_CRL_SIGN.pem + NO_CRL_SIGN.pem, _delta(NO_CRL_SIGN) + FRESH_ROOT),
    "delta_no_crl_sign_revoked": (ROOT.pem, UNDER_NO_CRL_SIGN.pem + NO_CRL_SIGN.pem,
                                  _delta(NO_CRL_SIGN, [UNDER_NO_CRL_SIGN]) + FRESH_ROOT),
    "delta_out_of_scope": (ROOT.pem, CHAINS["good"], _delta(INT, extensions=[_idp(only_contains_ca_certs=True)])
                           + FRESH_ROOT),
}


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
@pytest.mark.parametrize("mode", ["leaf", "chain"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_chain_openssl_builds_and_the_crl_it_picks(tmp_path, scenario, mode, profile):
    ca, chain, crls = SCENARIOS[scenario]
    accepted, numbers = openssl_says(tmp_path, chain, crls, mode, ca=ca)
    result = judged(chain, crls, mode, profile, ca=ca)
    if not accepted and set(numbers) - set(OPENSSL_CODES) - {35, 36, 44}:
        pytest.fail("OpenSSL refused for a reason outside revocation: %s" % numbers)
    assert result["valid"] == accepted, (numbers, result["findings"])
    expected = {OPENSSL_CODES.get(n, "CRL_INVALID") for n in numbers}
    assert expected <= errors(result), (numbers, result["findings"])


def test_the_scenarios_show_what_they_stand_for(tmp_path):
    """Each scenario's OpenSSL verdict, so the comparison above is about what it says it is."""
    said = {name: openssl_says(tmp_path, chain, crls, "chain", ca=ca) for name, (ca, chain, crls) in SCENARIOS.items()}
    assert {name: (ok, sorted(set(numbers))) for name, (ok, numbers) in said.items()} == {
        "bundle_fresh": (True, []), "bundle_revoked_int": (False, [23]), "bundle_no_root_crl": (False, [3]),
        "bundle_stale_root_crl": (False, [12]), "pinned_revoked": (False, [23]), "pinned_fresh": (True, []),
        "self_no_crl": (False, [3]), "self_own_crl": (False, [35]), "critical": (False, [36]),
        "idp_ca_only": (False, [44]), "idp_user_only_root": (False, [44]), "idp_name_missing": (False, [44]),
        "idp_name_matches": (True, []), "idp_indirect": (False, [3]),
        "idp_dp_crl_issuer": (True, []), "idp_dp_other_issuer": (False, [44]), "idp_relative_name": (True, []),
        "idp_relative_name_in_full": (True, []), "idp_relative_name_missing": (False, [44]),
        "idp_dp_without_name": (True, []),
        "name_case": (False, [23]), "removed": (True, []), "key_compromise": (False, [23]),
        "dp_some_reasons": (False, [3]), "dp_every_reason": (True, []), "dp_some_reasons_revoked": (False, [23]),
        "cert_issuer_other": (True, []), "cert_issuer_inherited": (True, []), "cert_issuer_itself": (False, [23]),
        "aki_other_serial": (False, [3]), "aki_other_issuer": (False, [3]), "aki_issuer_and_serial": (True, []),
        "indented_newer": (True, []), "indented_only_root": (False, [3]),
        "delta_no_crl_sign": (True, []), "delta_no_crl_sign_revoked": (False, [23]), "delta_out_of_scope": (False, [3])}


def test_a_crl_signed_with_sha1_is_still_the_issuers(tmp_path):
    """OpenSSL checks a CRL's signature whatever the security level (a chain's SHA-1 signatures are refused, a
    CRL's are not), and the load balancers take such a CRL (measured on HAProxy, nginx and Apache in review).
    cryptography cannot sign with SHA-1: `openssl ca -gencrl -md sha1` makes it."""
    for name, text in (("int.pem", INT.pem), ("int.key", INT.key_pem()), ("index.txt", ""), ("crlnumber", "01\n")):
        (tmp_path / name).write_text(text)
    (tmp_path / "ca.cnf").write_text("[ca]\ndefault_ca = x\n[x]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha1\n"
                                     "default_crl_days = 7\n" % (tmp_path / "index.txt", tmp_path / "crlnumber"))
    subprocess.run(["openssl", "ca", "-gencrl", "-config", str(tmp_path / "ca.cnf"), "-cert", str(tmp_path / "int.pem"),
                    "-keyfile", str(tmp_path / "int.key"), "-md", "sha1", "-out", str(tmp_path / "crl.pem")],
                   check=True, capture_output=True)
    sha1_crl = (tmp_path / "crl.pem").read_text()
    assert x509.load_pem_x509_crl(sha1_crl.encode()).signature_hash_algorithm.name == "sha1"
    crls = sha1_crl + FRESH_ROOT
    for mode in ("leaf", "chain"):
        assert openssl_says(tmp_path, CHAINS["good"], crls, mode) == (True, [])
        for profile in ("openssl", "webpki"):
            result = judged(CHAINS["good"], crls, mode, profile)
            assert result["valid"], result["findings"]


def test_the_cases_tell_the_modes_and_the_failures_apart(tmp_path):
    """So that the comparison above cannot pass vacuously: OpenSSL refuses for each reason somewhere, and the two
    modes differ."""
    seen = set()
    for crls in CASES.values():
        for mode in ("leaf", "chain"):
            for chain in CHAINS.values():
                seen.update(openssl_says(tmp_path, chain, crls, mode)[1])
    assert {23, 3, 12, 11, 8} <= seen, seen
    assert openssl_says(tmp_path, CHAINS["good"], CASES["int_only"], "leaf")[0]
    assert not openssl_says(tmp_path, CHAINS["good"], CASES["int_only"], "chain")[0]
    assert openssl_says(tmp_path, CHAINS["under_revoked"], CASES["fresh"], "leaf")[0]
    assert not openssl_says(tmp_path, CHAINS["under_revoked"], CASES["fresh"], "chain")[0]


def test_findings_name_the_certificate_and_why():
    revoked = judged(CHAINS["bad"], CASES["fresh"], "chain", "webpki")
    finding = next(f for f in revoked["findings"] if f["code"] == "REVOKED")
    assert finding["role"] == "leaf" and finding["subject"] == "CN=bad.revocation.test", finding
    assert "revoked by CN=Revocation Intermediate on " in finding["message"]
    compromised = judged(CHAINS["good"], SCENARIOS["key_compromise"][2], "leaf", "webpki")["findings"]
    assert [f["message"].endswith(" (keyCompromise)") for f in compromised if f["code"] == "REVOKED"] == [True]
    stale = next(f for f in judged(CHAINS["good"], CASES["stale"], "leaf", "openssl")["findings"]
                 if f["code"] == "CRL_EXPIRED")
    assert "expired on" in stale["message"] and "refreshed" in stale["message"]
    missing = next(f for f in judged(CHAINS["good"], CASES["int_only"], "chain", "webpki")["findings"]
                   if f["code"] == "CRL_MISSING")
    assert missing["subject"] == "CN=Revocation Intermediate" and "CN=Revocation Root" in missing["message"]


def test_missing_crls_are_allowed_as_apache_no_crl_for_cert_ok_allows_them():
    assert judged(CHAINS["good"], CASES["int_only"], "chain", "openssl", crl_missing_ok=True)["valid"]
    assert errors(judged(CHAINS["bad"], CASES["int_only"], "chain", "webpki", crl_missing_ok=True)) == {"REVOKED"}
    # a stale CRL is no missing one
    assert errors(judged(CHAINS["good"], CASES["stale"], "chain", "webpki", crl_missing_ok=True)) == {"CRL_EXPIRED"}


def test_without_crls_nothing_is_guessed():
    for profile in ("openssl", "webpki"):
        asked = judged(CHAINS["bad"], None, "chain", profile)
        assert asked["valid"] and [f["code"] for f in asked["findings"]] == ["REVOCATION_UNCHECKED"], asked
        assert asked["findings"][0]["severity"] == "info"
        assert judged(CHAINS["bad"], None, None, profile)["findings"] == []  # not asked: nothing said
    # CRLs given and no mode: the chain is checked, as the load balancers that take a CRL file do
    assert errors(judged(CHAINS["good"], CASES["int_only"], None, "webpki")) == {"CRL_MISSING"}
    assert judged(CHAINS["bad"], CASES["fresh"], "none", "webpki")["valid"]


def test_a_load_balancer_that_does_not_verify_reads_no_crl():
    result = judged(CHAINS["bad"], CASES["fresh"], "chain", "openssl", check_chain=False)
    assert result["valid"] and "REVOKED" not in {f["code"] for f in result["findings"]}, result["findings"]


def test_an_issuer_without_crl_sign_cannot_revoke(tmp_path):
    """OpenSSL refuses a CRL from a CA whose key usage lacks cRLSign (error 35): the load balancer too."""
    issuer = pki.issue("No CRL", issuer=ROOT, ca=True, crl_sign=False)
    leaf = pki.issue("nocrlsign.revocation.test", issuer=issuer)
    crls = crl(issuer) + FRESH_ROOT
    accepted, numbers = openssl_says(tmp_path, leaf.pem + issuer.pem, crls, "leaf")
    assert not accepted and 35 in numbers, numbers
    for profile in ("openssl", "webpki"):
        assert errors(judged(leaf.pem + issuer.pem, crls, "leaf", profile)) == {"CRL_INVALID"}


def test_bad_crl_arguments_are_invalid_arguments(tmp_path):
    for content in (ROOT.pem, "-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n",
                    FRESH_INT[:200]):
        with pytest.raises(CertError) as raised:
            judged(CHAINS["good"], content, "chain", "webpki")
        assert raised.value.code == "INVALID_ARGUMENT", content
    with pytest.raises(CertError) as raised:
        judged(CHAINS["good"], FRESH_INT, "everything", "webpki")
    assert raised.value.code == "INVALID_ARGUMENT" and "crl_check" in raised.value.message
    # the module: a CRL file on the controller, DER or PEM; a wrong mode in an item is that item's error
    der = x509.load_pem_x509_crl(FRESH_INT.encode()).public_bytes(serialization.Encoding.DER)
    (tmp_path / "int.crl").write_bytes(der)
    (tmp_path / "root.crl").write_text(FRESH_ROOT)
    out = run_main(cert_chain_verify.main, {
        "items": [{"name": "bad", "chain": CHAINS["bad"]}, {"name": "good", "chain": CHAINS["good"]},
                  {"name": "oops", "chain": CHAINS["good"], "crl_check": "sometimes"}],
        "ca_content": ROOT.pem, "crl_path": str(tmp_path / "int.crl"), "crl_check": "leaf"})
    by_name = {r["name"]: r for r in out["results"]}
    assert errors(by_name["bad"]) == {"REVOKED"} and by_name["good"]["valid"], out
    assert by_name["oops"]["error"]["code"] == "INVALID_ARGUMENT", by_name["oops"]
    failed = run_main(cert_chain_verify.main, {"chain": CHAINS["good"], "ca_content": ROOT.pem,
                                               "crl_path": str(tmp_path / "missing.crl")}, expect="fail")
    assert failed["error"]["code"] == "NOT_FOUND" and "missing.crl" in failed["msg"], failed


def test_an_out_of_scope_delta_crl_is_a_missing_crl_apache_may_forgive():
    """OpenSSL skips a delta CRL's scope check and then finds no CRL for the certificate (3), which Apache's
    no_crl_for_cert_ok forgives (the CRL hunt of 2026-12-07: Apache proxied, the collection said CRL_INVALID)."""
    ca, chain, crls = SCENARIOS["delta_out_of_scope"]
    for profile in ("openssl", "webpki"):
        assert judged(chain, crls, "chain", profile, ca=ca, crl_missing_ok=True)["valid"], profile

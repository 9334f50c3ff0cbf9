"""Profile openssl in batches: many leaves that share their untrusted certificates verified by one `openssl verify`
process (OpenSSLVerifier.prefetch) must get exactly the outcome a process of their own gives, for every kind of
failure OpenSSL reports, and cert_chain_verify's batch must give exactly what each item verified alone gives. The real
`openssl` binary throughout; certificates generated here.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _openssl, _verify
from testlib import pki

ROOT = pki.issue("Batch Root CA", ca=True, days=3650)
INTER = pki.issue("Batch Intermediate CA", issuer=ROOT, ca=True, days=3650)
ELSEWHERE = pki.issue("Batch Other Intermediate CA", issuer=ROOT, ca=True, days=3650)  # never in the untrusted set
LEAVES = {
    "valid": pki.issue("valid.batch.test", issuer=INTER),
    "valid_rsa": pki.issue("rsa.batch.test", issuer=INTER, key=pki.new_key("rsa", 2048)),
    "expired": pki.issue("expired.batch.test", issuer=INTER, days=10, start_days=-40),
    "not_yet_valid": pki.issue("future.batch.test", issuer=INTER, start_days=5),
    "client_only": pki.issue("client.batch.test", issuer=INTER, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    "weak_key": pki.issue("weak.batch.test", issuer=INTER, key=pki.new_key("rsa", 1024)),
    "self_signed": pki.issue("self.batch.test"),
    "other_issuer": pki.issue("orphan.batch.test", issuer=ELSEWHERE),
    "expired_other_issuer": pki.issue("old-orphan.batch.test", issuer=ELSEWHERE, days=10, start_days=-40),
}


@pytest.fixture(scope="module")
def leaves(tmp_path_factory):
    """LEAVES and a leaf signed with SHA-1 (the openssl CLI signs it: cryptography no longer does)."""
    return dict(LEAVES, sha1=pki.issue_sha1("sha1.batch.test", issuer=INTER, workdir=tmp_path_factory.mktemp("sha1")))


def _verifier():
    at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return _openssl.OpenSSLVerifier(ROOT.pem, at)


@pytest.mark.parametrize("depth", [None, 0, 1])
def test_a_batch_gives_each_leaf_what_its_own_process_gives(depth, leaves):
    kinds, leaves = list(leaves), [issued.der for issued in leaves.values()]
    untrusted = [INTER.der]
    alone = _verifier()
    try:
        expected = [alone.verify(leaf, untrusted, "alone%d" % i, depth=depth) for i, leaf in enumerate(leaves)]
    finally:
        alone.close()
    batched = _verifier()
    try:
        batched.prefetch([(leaf, untrusted, depth) for leaf in leaves])
        # every leaf answered by the batch itself, not left to a process of its own
        assert set(batched._prefetched) == {(leaf, (INTER.der,), depth) for leaf in leaves}
        got = [batched.verify(leaf, untrusted, "b%d" % i, depth=depth) for i, leaf in enumerate(leaves)]
    finally:
        batched.close()
    assert got == expected
    by_kind = dict(zip(kinds, got))
    assert by_kind["valid"]["ok"] is (depth != 0) and not by_kind["expired"]["ok"]
    codes = {kind: sorted(e["code"] for e in outcome["errors"]) for kind, outcome in by_kind.items()}
    if depth is None:  # the kinds of failure the batch had to tell apart, each its own
        assert codes["expired"] == [10] and codes["not_yet_valid"] == [9] and codes["client_only"] == [26]
        assert codes["self_signed"] == [18] and codes["other_issuer"] == [20]
        assert codes["weak_key"] == [66] and codes["sha1"] == [68]


def test_leaves_of_different_untrusted_sets_are_never_batched_together():
    """A leaf whose intermediate another leaf's chain carries must not be completed by it."""
    orphan = LEAVES["other_issuer"].der
    verifier = _verifier()
    try:
        verifier.prefetch([(LEAVES["valid"].der, [INTER.der], None), (orphan, [], None),
                           (orphan, [ELSEWHERE.der], None)])
        assert not verifier._prefetched  # three groups of one: a process each, as before
        assert not verifier.verify(orphan, [], "a")["ok"]
        assert verifier.verify(orphan, [ELSEWHERE.der], "b")["ok"]
    finally:
        verifier.close()


def test_output_that_does_not_split_leaves_the_rest_to_their_own_process():
    paths = ["/t/leaf-0.pem", "/t/leaf-1.pem", "/t/leaf-2.pem"]
    output = ("/t/leaf-0.pem: OK\nCN = x\nerror 10 at 0 depth lookup: certificate has expired\n"
              "error /t/leaf-1.pem: verification failed\nCould not open file\n")
    assert _openssl.split_outcomes(output, paths) == [
        {"ok": True, "errors": []},
        {"ok": False, "errors": [{"code": 10, "depth": 0, "message": "certificate has expired", "subject": "CN = x"}]},
        None]
    # a failure without an error line is no verdict (a file OpenSSL could not load): left to verify()
    assert _openssl.split_outcomes("junk\nerror /t/leaf-0.pem: verification failed\n", paths[:1]) == [None]


def test_cert_chain_verify_batch_equals_each_item_alone(leaves):
    """verify_batch (prefetch, then the items) against verify_single per item: the same result, item for item."""
    chain_of = {kind: [issued.pem, INTER.pem] for kind, issued in leaves.items()}
    items = [{"name": kind, "chain": chain, "server_names": [leaves[kind].cert.subject.rfc4514_string()[3:]]}
             for kind, chain in chain_of.items()]
    items.append({"name": "no_intermediate", "chain": [LEAVES["valid"].pem]})
    items.append({"name": "depth0", "chain": chain_of["valid"], "verify_depth": 0})
    items.append({"name": "unchecked", "chain": chain_of["expired"], "check_chain": False})
    # one validation time for both: days remaining would otherwise move between the two calls
    at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = {"ca_content": ROOT.pem, "profile": "openssl", "at": at}
    batch = _verify.verify_batch(items, **policy)
    alone = [dict(_verify.verify_single(item, **policy), name=item["name"]) for item in items]
    for result in alone:
        result.pop("profile")
        result.pop("verifier")
    assert batch["results"] == alone
    assert [r["valid"] for r in batch["results"]].count(True) == 2  # valid, valid_rsa


def test_the_error_queue_printed_after_a_verdict_is_no_subject_of_the_next_file():
    """OpenSSL prints its error queue after a failed file's verdict line: in a batch those lines come before the
    next file's own lines, and must not be taken for its certificate's subject."""
    paths = ["/t/leaf-0.pem", "/t/leaf-1.pem"]
    output = ("CN = a\nerror 7 at 0 depth lookup: certificate signature failure\n"
              "error /t/leaf-0.pem: verification failed\n"
              "4057D3CF2E7F0000:error:06880006:asn1 encoding routines:ASN1_item_verify_ctx:EVP lib:a_verify.c:220:\n"
              "error 47 at 0 depth lookup: permitted subtree violation\n"
              "error /t/leaf-1.pem: verification failed\n")
    first, second = _openssl.split_outcomes(output, paths)
    assert first["errors"][0]["subject"] == "CN = a"
    assert second["errors"] == [{"code": 47, "depth": 0, "message": "permitted subtree violation", "subject": None}]


def test_a_process_that_cannot_start_leaves_no_descriptor_open():
    import os

    before = len(os.listdir("/proc/self/fd"))
    for _attempt in range(20):
        with pytest.raises(OSError):
            _openssl._run_on_terminal(["/nonexistent/openssl", "verify"], 5)
    assert len(os.listdir("/proc/self/fd")) == before

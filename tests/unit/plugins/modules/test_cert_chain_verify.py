"""cert_chain_verify's main(): single and batch forms, secrets, fail_on_invalid, bad arguments."""

from __future__ import annotations

import datetime
import json

import pytest
from ansible.module_utils import basic
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.module_utils import _deps
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib import pki
from testlib.module_runner import run_main

CA = pki.CA("ModVerify")
LEAF = CA.leaf("app.mv.test")
OTHER_KEY = CA.leaf("x.mv.test").key_pem()


def run(args, expect="exit"):
    return run_main(cert_chain_verify.main, args, expect)


def key_lines(pem):
    """The lines of a key PEM that give part of it away (short last lines would match by chance)."""
    return [line for line in pem.splitlines() if len(line) >= 16 and "-----" not in line]


def assert_no_key(text, *keys):
    for key in keys:
        leaked = [line for line in key_lines(key) if line in text]
        assert not leaked, "%d of %d key lines leaked: %s" % (len(leaked), len(key_lines(key)), text[:2000])


@pytest.fixture
def syslog_lines(monkeypatch):
    """What AnsibleModule.log() sends to syslog, in-process (the journal is switched off)."""
    lines = []
    monkeypatch.setattr(basic, "has_journal", False)
    monkeypatch.setattr(basic.syslog, "openlog", lambda *args: None)
    monkeypatch.setattr(basic.syslog, "syslog", lambda *args: lines.append(args[-1]))
    return lines


def _key_pem(key, fmt=serialization.PrivateFormat.PKCS8, password=None):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc).decode()


RSA_KEY = pki.new_key("rsa", 2048, cache_slot="mod-verify")
KEYS = {
    "pkcs8": LEAF.key_pem(),
    "rsa_traditional": _key_pem(RSA_KEY, serialization.PrivateFormat.TraditionalOpenSSL),
    "ec_traditional": _key_pem(LEAF.key, serialization.PrivateFormat.TraditionalOpenSSL),
    "pkcs8_encrypted": _key_pem(RSA_KEY, password=b"secret"),
    "rsa_legacy_encrypted": _key_pem(RSA_KEY, serialization.PrivateFormat.TraditionalOpenSSL, password=b"secret"),
    "openssh": _key_pem(RSA_KEY, serialization.PrivateFormat.OpenSSH),
}


def test_single_form_accepts_served_chain_list():
    result = run({"chain": [LEAF.pem, CA.intermediate.pem], "ca_content": CA.root.pem,
                  "server_names": ["app.mv.test"], "key_content": LEAF.key_pem()})
    assert result["valid"] is True and result["findings"] == [] and result["changed"] is False
    assert len(result["verified_chain"]) == 3 and result["leaf"]["subject"] == "CN=app.mv.test"


def test_batch_masks_every_key_content_and_reports_each_item():
    result = run({"ca_content": CA.root.pem, "items": [
        {"name": "good", "chain": LEAF.pem + CA.intermediate.pem, "server_names": ["app.mv.test"],
         "key_content": LEAF.key_pem()},
        {"name": "wrong-key", "chain": LEAF.pem + CA.intermediate.pem, "key_content": OTHER_KEY},
        {"name": "incomplete", "chain": [LEAF.pem]},
    ]})
    assert [(r["name"], r["valid"]) for r in result["results"]] == [
        ("good", True), ("wrong-key", False), ("incomplete", False)]
    assert [f["code"] for f in result["results"][1]["findings"]] == ["KEY_MISMATCH"]
    assert result["summary"]["codes"] == {"KEY_MISMATCH": 1, "INCOMPLETE_CHAIN": 1}
    text = json.dumps(result)
    for key in (LEAF.key_pem(), OTHER_KEY):
        assert key not in text and key.splitlines()[1] not in text
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in text  # the invocation shows the keys masked


# The controller always sends _ansible_no_log (the task's no_log); it replaces AnsibleModule(no_log=...).
AS_ANSIBLE_SENDS = {"_ansible_no_log": False}


def invocation_lines(lines):
    return [m for m in lines if m.startswith("Invoked with")]


def test_single_form_logs_its_invocation_without_the_key(syslog_lines):
    result = run(dict(AS_ANSIBLE_SENDS, chain=[LEAF.pem, CA.intermediate.pem], ca_content=CA.root.pem,
                      key_content=LEAF.key_pem()))
    assert result["valid"] is True
    (line,) = invocation_lines(syslog_lines)
    assert "key_content=NOT_LOGGING_PARAMETER" in line and "BEGIN CERTIFICATE" in line
    assert_no_key(line + json.dumps(result), LEAF.key_pem())


def test_batch_keys_reach_neither_syslog_nor_the_result(syslog_lines):
    # Ansible logs a list option as its repr, newlines escaped, where the declared no_log value no
    # longer matches: KeySafeModule.log() masks the keys there.
    secret = "a multi-line secret that is no PEM\nsecond line of it, also secret"
    result = run(dict(AS_ANSIBLE_SENDS, ca_content=CA.root.pem, items=[
        {"name": "a", "chain": LEAF.pem + CA.intermediate.pem, "key_content": LEAF.key_pem()},
        {"name": "b", "chain": LEAF.pem + CA.intermediate.pem, "key_content": KEYS["rsa_traditional"]},
        {"name": "c", "chain": LEAF.pem + CA.intermediate.pem, "key_content": secret},
        {"name": "d", "chain": LEAF.pem + CA.intermediate.pem}]))
    assert [r["valid"] for r in result["results"]] == [True, False, False, True]
    (line,) = invocation_lines(syslog_lines)
    assert "'name': 'd'" in line and line.count("********") == 3
    text = line + json.dumps(result)
    assert_no_key(text, LEAF.key_pem(), KEYS["rsa_traditional"])
    assert "second line of it" not in text
    assert [i["key_content"] for i in result["invocation"]["module_args"]["items"][:3]] == [
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"] * 3


_CHAIN = LEAF.pem + CA.intermediate.pem


@pytest.mark.parametrize("kind,args,where", [
    ("pkcs8", lambda k: {"chain": LEAF.pem + k + CA.intermediate.pem}, "chain"),
    ("rsa_traditional", lambda k: {"chain": [LEAF.pem, k]}, "chain[1]"),
    ("ec_traditional", lambda k: {"chain": _CHAIN, "intermediates": [k]}, "intermediates[0]"),
    ("rsa_legacy_encrypted", lambda k: {"chain": _CHAIN, "intermediates": k}, "intermediates"),  # split on ","
    ("pkcs8_encrypted", lambda k: {"chain": _CHAIN, "ca_content": CA.root.pem + k}, "ca_content"),
    ("pkcs8", lambda k: {"chain": _CHAIN, "key_content": [k]}, "key_content[0]"),
    ("pkcs8", lambda k: {"chain": _CHAIN, "server_names": [k]}, "server_names[0]"),
    ("rsa_traditional", lambda k: {"chain": _CHAIN + k[:200]}, "chain"),  # truncated: BEGIN without END
])
def test_key_in_a_certificate_option_is_refused_and_never_shown(syslog_lines, kind, args, where):
    key = KEYS[kind]
    module_args = dict(AS_ANSIBLE_SENDS, **args(key))
    module_args.setdefault("ca_content", CA.root.pem)
    result = run(module_args, expect="fail")
    assert result["msg"] == "%s holds a private key; pass keys only as key_content/key_path" % where
    assert result["error"] == {"code": "INVALID_ARGUMENT", "message": result["msg"]}
    (line,) = invocation_lines(syslog_lines)
    assert "********" in line or where.startswith("key_content")  # that one is no_log as a whole
    assert_no_key(line + json.dumps(result), key)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in json.dumps(result["invocation"])


@pytest.mark.parametrize("kind,item,where", [
    ("openssh", lambda k: {"name": "a", "chain": _CHAIN + k}, "items[1].chain"),
    ("pkcs8", lambda k: {"name": k, "chain": _CHAIN}, "items[1].name"),
    ("ec_traditional", lambda k: {"name": "a", "chain": [LEAF.pem, k], "intermediates": [k]},
     "items[1].chain[1], items[1].intermediates[0]"),
])
def test_key_in_an_item_is_that_items_error_and_never_shown(syslog_lines, kind, item, where):
    # One item's mistake must not fail the batch: the others are verified as usual.
    key = KEYS[kind]
    result = run(dict(AS_ANSIBLE_SENDS, ca_content=CA.root.pem, items=[
        {"name": "good", "chain": _CHAIN}, item(key), {"name": "also-good", "chain": _CHAIN}]))
    assert [r["valid"] for r in result["results"]] == [True, False, True]
    refused = result["results"][1]
    assert refused["error"] == {"code": "INVALID_ARGUMENT",
                                "message": "%s holds a private key; pass keys only as key_content/key_path" % where}
    assert [f["code"] for f in refused["findings"]] == ["PARSE_ERROR"] and refused["verified_chain"] == []
    assert result["summary"]["invalid"] == 1
    (line,) = invocation_lines(syslog_lines)
    assert "********" in line
    assert_no_key(line + json.dumps(result), key)


@pytest.mark.parametrize("args", [
    lambda k: {"chain": _CHAIN + k, "path": "/x"},  # mutually exclusive
    lambda k: {"chain": _CHAIN + k, "bogus": 1},  # unsupported
    lambda k: {"items": [{"name": "a", "chain": _CHAIN + k, "key_content": k, "unknown": 1}]},
    lambda k: {"chain": _CHAIN, "intermediates": k, "min_rsa_bits": "many"},
])
def test_key_never_shown_when_validation_fails_first(syslog_lines, args):
    # AnsibleModule fails these inside its constructor, before main() could refuse the key.
    result = run(dict(AS_ANSIBLE_SENDS, ca_content=CA.root.pem, **args(KEYS["rsa_legacy_encrypted"])),
                 expect="fail")
    assert "holds a private key" not in result["msg"] and syslog_lines == []
    assert_no_key(json.dumps(result), KEYS["rsa_legacy_encrypted"])


@pytest.mark.parametrize("args,needle", [
    ({}, "one of the following is required"),
    ({"chain": "x", "path": "/x"}, "mutually exclusive"),
    ({"items": [{"name": "a", "chian": "x"}]}, "items.chian"),
    ({"items": [{"name": "a", "chain": "x", "server_names": {"a": 1}}]}, "server_names"),
    ({"chain": LEAF.pem, "at": "tomorrow-ish"}, "ISO 8601"),
    ({"chain": LEAF.pem, "ca_content": "no certificates"}, "no trust anchors"),
    ({"chain": LEAF.pem, "min_rsa_bits": 100}, "min_rsa_bits"),
])
def test_bad_arguments(args, needle):
    result = run(args, expect="fail")
    assert needle in result["msg"]


def test_old_cryptography_is_refused_with_advice(monkeypatch):
    monkeypatch.setattr(_deps, "CRYPTOGRAPHY_VERSION", "41.0.7")
    result = run({"chain": LEAF.pem}, expect="fail")
    assert "cryptography >= 42.0" in result["msg"] and "41.0.7" in result["msg"]
    assert "delegate_to: localhost" in result["msg"]


@pytest.mark.parametrize("at", ["+9999999999d", "-9999999999d", "+99999999999999999999w", "garbage", "+d",
                                "2026-13-40", "9999-12-31T23:59:59-01:00", "+3y"])
def test_at_that_is_no_time_is_an_argument_error(at):
    result = run({"chain": LEAF.pem, "ca_content": CA.root.pem, "at": at}, expect="fail")
    assert result["error"]["code"] == "INVALID_ARGUMENT"
    assert repr(at) in result["msg"] and "ISO 8601" in result["msg"] and "'+30d'" in result["msg"]
    assert "Traceback" not in json.dumps(result) and "exception" not in result


@pytest.mark.parametrize("profile,verifier", [("openssl", "OpenSSL "), ("webpki", "cryptography ")])
def test_the_result_says_whose_rules_decided(profile, verifier):
    single = run({"chain": _CHAIN, "ca_content": CA.root.pem, "profile": profile})
    batch = run({"items": [{"chain": _CHAIN}, {"chain": LEAF.pem}], "ca_content": CA.root.pem, "profile": profile})
    for result in (single, batch):
        assert result["profile"] == profile and result["verifier"].startswith(verifier)
    assert single["valid"] is True and [r["valid"] for r in batch["results"]] == [True, False]


def test_default_profile_is_webpki():
    assert run({"chain": _CHAIN, "ca_content": CA.root.pem})["profile"] == "webpki"


def test_compact_leaves_out_the_path_of_valid_chains_only():
    """compact: a valid item without verified_chain (its leaf names the leaf's fingerprint, which the full result's
    path starts with); an invalid item keeps its path; a batch is smaller for it; the single form too."""
    other = CA.leaf("other.mv.test")
    items = [{"name": "good", "chain": [LEAF.pem, CA.intermediate.pem], "server_names": ["app.mv.test"]},
             {"name": "good2", "chain": [other.pem, CA.intermediate.pem]},
             {"name": "wrong-name", "chain": [LEAF.pem, CA.intermediate.pem], "server_names": ["nope.mv.test"]}]
    # One validation time for both runs: a leaf issued this second has 89 days left until the clock moves on to the
    # next second (88 then), so two runs a second apart could differ in days_remaining alone.
    at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    full = run({"ca_content": CA.root.pem, "items": items, "at": at})
    compact = run({"ca_content": CA.root.pem, "items": items, "compact": True, "at": at})
    assert [r["valid"] for r in compact["results"]] == [r["valid"] for r in full["results"]] == [True, True, False]
    assert [sorted(r) for r in compact["results"][:2]] == [
        sorted(set(r) - {"verified_chain"}) for r in full["results"][:2]]
    for whole, short in zip(full["results"][:2], compact["results"][:2]):
        assert short["leaf"] == whole["leaf"]
        assert short["leaf"]["fingerprint_sha256"] == whole["verified_chain"][0]["fingerprint_sha256"]
    assert compact["results"][2] == full["results"][2] and len(full["results"][2]["verified_chain"]) == 3
    assert compact["summary"] == full["summary"]
    strip = {"invocation"}
    assert len(json.dumps({k: v for k, v in compact.items() if k not in strip})) < 0.75 * len(
        json.dumps({k: v for k, v in full.items() if k not in strip}))
    single = run({"chain": [LEAF.pem, CA.intermediate.pem], "ca_content": CA.root.pem, "compact": True})
    assert single["valid"] is True and "verified_chain" not in single
    assert single["leaf"]["fingerprint_sha256"] == LEAF.fingerprint


def test_a_batch_parses_a_shared_intermediate_once(monkeypatch):
    """The intermediate every chain carries is parsed once per batch, whatever form the chains come in."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _certs

    parsed = []
    real = _certs.load_pem_certificate
    monkeypatch.setattr(_certs, "load_pem_certificate", lambda block: parsed.append(block) or real(block))
    leaves = [CA.leaf("n%d.mv.test" % i) for i in range(4)]
    result = run({"ca_content": CA.root.pem, "items": [
        {"name": "l%d" % i, "chain": [leaf.pem, CA.intermediate.pem] if i % 2 else leaf.pem + CA.intermediate.pem}
        for i, leaf in enumerate(leaves)]})
    assert result["summary"]["valid"] == 4
    intermediate = CA.intermediate.pem.encode()
    assert sum(1 for block in parsed if block.strip() == intermediate.strip()) == 1

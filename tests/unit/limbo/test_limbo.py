"""x509-limbo conformance: the collection's verification agrees with the suite more than the raw verifier."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import harness

ALLOWLIST = yaml.safe_load(Path(__file__).with_name("allowlist.yml").read_text())
OPENSSL_ALLOWLIST = yaml.safe_load(Path(__file__).with_name("allowlist-openssl.yml").read_text()) or {}


def test_agreement_beats_the_raw_verifier_and_every_disagreement_is_explained():
    total = len(harness.cases())
    ours = harness.disagreements(harness.ours)
    raw = harness.disagreements(harness.raw)
    allowed = {case for group in ALLOWLIST.values() for case in group["cases"]}
    print("x509-limbo agreement: ours %d/%d, raw cryptography verifier %d/%d" % (
        total - len(ours), total, total - len(raw), total))
    assert total == 752
    assert len(ours) < len(raw)
    assert sorted(set(ours) - allowed) == [], "new disagreements (not in allowlist.yml)"
    assert sorted(allowed - set(ours)) == [], "listed cases that now agree: remove them from allowlist.yml"


def test_strict_rules_each_earn_their_place():
    """Every strict rule fixes at least one case and breaks none (measured against no strict rules)."""
    baseline = harness.disagreements(lambda case: harness.ours(case, strict=()))
    for rule in harness._verify.STRICT_RULES:
        with_rule = harness.disagreements(lambda case, rule=rule: harness.ours(case, strict=(rule,)))
        assert set(with_rule) < set(baseline), rule


def test_openssl_profile_agrees_with_openssl_verify(tmp_path):
    """Profile openssl against the real `openssl verify` with a load balancer's settings, on every SERVER case
    without a depth limit (a load balancer sets none): at least 99 %, every disagreement explained."""
    cases = [case for case in harness.cases() if case.get("max_chain_depth") is None]
    differ = {}
    for case in cases:
        reference = harness.openssl_cli(case, tmp_path)
        ours = harness.ours_openssl(case)[0]
        if ours != reference:
            differ[case["id"]] = (reference, ours)
    allowed = {case for group in OPENSSL_ALLOWLIST.values() for case in group["cases"]}
    print("openssl profile vs openssl verify: %d/%d agree" % (len(cases) - len(differ), len(cases)))
    assert len(cases) == 746
    assert len(differ) <= len(cases) // 100
    assert sorted(set(differ) - allowed) == [], "new disagreements (not in allowlist-openssl.yml): %s" % differ
    assert sorted(allowed - set(differ)) == [], "listed cases that now agree: remove them from allowlist-openssl.yml"

"""A private key pasted into an option the module then refuses never comes back in the failure; a query too deep
to evaluate is an argument error like any other bad query.

A message that quotes the value with %r writes the key's newlines as \\n, so Ansible's no_log masking (the text as
given) did not match it: the key's base64 lines came back in `msg` and `error.message` (a review of 2026-12-03).
A key pasted where an option takes a name (lb_backend_info `config: {<key>: path}`) also came back as a dict key of
`invocation.module_args`, which Ansible never masks.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _secrets
from ansible_collections.certops.backend_tls.plugins.modules import (
    backend_cert_info,
    cert_chain_verify,
    lb_backend_info,
)
from testlib import pki
from testlib.module_runner import run_main

KEY = pki.CA("Failures").leaf("fail.test").key_pem()
KEY_LINES = [line for line in KEY.splitlines() if "-----" not in line and len(line) >= 16]

CASES = [
    (backend_cert_info, {"endpoints": [KEY], "timeout": 1}),
    (backend_cert_info, {"endpoints": [{"host": KEY, "port": 443}], "timeout": 1}),
    (backend_cert_info, {"discover": [KEY]}),
    (backend_cert_info, {"discover": [{"type": KEY}]}),
    (backend_cert_info, {"sites": [{"name": "s", "cert_path": "/nonexistent", "endpoint": KEY}]}),
    (cert_chain_verify, {"chain": "x", "profile": KEY}),
    (lb_backend_info, {"lb_type": [KEY]}),
    (lb_backend_info, {"config": {KEY: "/nonexistent"}}),
]


@pytest.mark.parametrize("module,args", CASES, ids=[
    "endpoint", "endpoint-host", "discover", "discover-type", "site-endpoint", "profile", "lb-type", "config-name"])
def test_a_refused_option_holding_a_key_is_not_echoed(module, args):
    result = run_main(module.main, args, expect="fail")
    text = json.dumps(result)
    assert KEY_LINES and not [line for line in KEY_LINES if line in text], result["msg"]
    assert result["error"]["code"] == "INVALID_ARGUMENT"


# A truncated paste: the key without its BEGIN line is no PEM block, but its END line says what it is.
HEADLESS = KEY.split("\n", 1)[1]
CERT = pki.CA("Headless").leaf("headless.test").pem
OTHER_KEY = pki.CA("Other").leaf("other.test").key_pem()


@pytest.fixture
def logged(monkeypatch):
    """What modules send to syslog (journald is not used here), through AnsibleModule's own log()."""
    from ansible.module_utils import basic

    sent = []
    monkeypatch.setattr(basic, "has_journal", False)
    monkeypatch.setattr(basic.AnsibleModule, "_log_to_syslog", lambda self, msg: sent.append(msg))
    return sent


@pytest.mark.parametrize("module,args,expect", [
    (cert_chain_verify, {"chain": CERT, "ca_content": HEADLESS}, "fail"),
    # Ansible rewrites ":...@" in a logged value (heuristic_log_sanitize): the text as given is no longer there
    (cert_chain_verify, {"chain": CERT, "ca_content": HEADLESS + "# contact: admin@example.test\n"}, "fail"),
    # a whole key block in the same string, before or after (masked first, the string was no longer found)
    (cert_chain_verify, {"chain": CERT, "ca_content": HEADLESS + OTHER_KEY}, "fail"),
    (cert_chain_verify, {"chain": CERT, "ca_content": OTHER_KEY + HEADLESS}, "fail"),
    # a list in a list: Ansible makes the inner one a str, then logs the outer one's repr (escaped twice)
    (cert_chain_verify, {"chain": CERT, "intermediates": [[HEADLESS]]}, "fail"),
    # lines ending in a space, and a rewrite by Ansible
    (cert_chain_verify, {"chain": CERT, "ca_content": HEADLESS.replace("\n", " \n") + "# contact: a@b.test\n"},
     "fail"),
    (cert_chain_verify, {"chain": CERT, "intermediates": [HEADLESS]}, "fail"),
    (cert_chain_verify, {"items": [{"name": "a", "chain": [CERT, HEADLESS]}]}, "exit"),  # refused per item
    (backend_cert_info, {"paths": [HEADLESS]}, "exit"),  # a path that names no file
    (backend_cert_info, {"endpoints": [{"host": "127.0.0.1", "port": 1, "client_key": HEADLESS}], "timeout": 1},
     "fail"),
], ids=["ca_content", "rewritten", "then-a-key", "after-a-key", "nested-list", "spaces-rewritten", "intermediates",
        "item-chain", "paths", "client_key"])
def test_a_key_without_its_begin_line_is_neither_logged_nor_returned(logged, module, args, expect):
    """The invocation is logged inside AnsibleModule's constructor, before the module looks at its options: the key
    text was logged whole there (a review of 2026-12-07), though the result masked it."""
    result = run_main(module.main, args, expect=expect)
    invoked = [msg for msg in logged if "Invoked with" in msg]
    assert invoked, logged  # the invocation was logged, and looked at
    places = {"syslog": "\n".join(logged), "result": json.dumps(result)}
    lines = KEY_LINES + [line for line in OTHER_KEY.splitlines() if "-----" not in line and len(line) >= 16]
    assert KEY_LINES and {place: [line for line in lines if line in text] for place, text in places.items()} == {
        "syslog": [], "result": []}, invoked[0][:600]


def test_redact_masks_a_secret_holding_key_text_in_every_form():
    for form in (HEADLESS, repr(HEADLESS)[1:-1], repr([HEADLESS])):
        masked = _secrets.redact("Invoked with x=%s y=1" % form, secrets={HEADLESS})
        assert not [line for line in KEY_LINES if line in masked] and masked.endswith(" y=1"), masked
    assert _secrets.redact("a\\nb c", secrets={"a\nb"}) == "%s c" % _secrets.REDACTED  # a multi-line secret's repr
    assert _secrets.redact("plain text", secrets={"other", 3}) == "plain text"


def test_redact_all_masks_key_blocks_as_written_and_as_repr_writes_them():
    value = {"msg": "endpoint %r: bad" % KEY, KEY: [KEY, 3], "n": None}
    masked = json.dumps(_secrets.redact_all(value))
    assert not [line for line in KEY_LINES if line in masked]
    assert _secrets.redact_all({"a": ["b", 1]}) == {"a": ["b", 1]}


def test_a_query_nested_too_deeply_is_an_argument_error_not_a_traceback(tmp_path):
    from ansible.errors import AnsibleFilterError

    from ansible_collections.certops.backend_tls.plugins.filter.json_query import json_query

    deep = "(" * 3000 + "summary" + ")" * 3000
    for module, args in ((backend_cert_info, {"paths": [str(tmp_path)]}),
                         (lb_backend_info, {"lb_type": ["haproxy"], "config": {"haproxy": str(tmp_path / "x.cfg")}})):
        result = run_main(module.main, dict(args, query=deep), expect="fail")
        assert result["error"]["code"] == "INVALID_ARGUMENT" and "nested too deeply" in result["msg"]
    with pytest.raises(AnsibleFilterError, match="nested too deeply"):
        json_query({"summary": 1}, deep)

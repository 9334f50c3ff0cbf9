# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_chain_verify as a task: its arguments and what it returns for them, shared by the module (a process on the
host it runs on) and its action plugin (on the controller, inside Ansible's own process)."""

from __future__ import annotations

from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._deps import (
    MIN_CRYPTOGRAPHY_VERIFY,
    cryptography_problem,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._names import NAME_RULES
from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import option_name
from ansible_collections.certops.backend_tls.plugins.module_utils._verify import (
    CHECK_OPTIONS,
    verify_batch,
    verify_single,
)

ITEM_OPTIONS = dict(
    name=dict(type="str"),
    chain=dict(type="raw"),
    path=dict(type="path"),
    server_names=dict(type="list", elements="str"),
    key_path=dict(type="path"),
    key_content=dict(type="str", no_log=True),
    intermediates=dict(type="list", elements="str"),
    name_rule=dict(type="str"),  # null allowed (verify_options as lb_backend_info returns them); checked per item
    verify_depth=dict(type="int"),
    check_chain=dict(type="bool"),
    check_expiry=dict(type="bool"),
    crl_check=dict(type="str"),  # null allowed, as name_rule (verify_options); checked per item
    crl_missing_ok=dict(type="bool"),
    security_level=dict(type="int"),
)

ARGUMENT_SPEC = dict(
    chain=dict(type="raw"),
    path=dict(type="path"),
    items=dict(type="list", elements="dict", options=ITEM_OPTIONS),
    ca_path=dict(type="path"),
    ca_content=dict(type="str"),
    crl_path=dict(type="path"),
    crl_content=dict(type="str"),
    intermediates=dict(type="list", elements="str"),
    server_names=dict(type="list", elements="str"),
    key_path=dict(type="path"),
    key_content=dict(type="str", no_log=True),
    at=dict(type="str"),
    min_days_remaining=dict(type="int", default=0),
    min_rsa_bits=dict(type="int", default=2048),
    fail_on_invalid=dict(type="bool", default=False),
    profile=dict(type="str", choices=["openssl", "webpki"], default="webpki"),
    name_rule=dict(type="str", choices=list(NAME_RULES)),
    verify_depth=dict(type="int"),
    check_chain=dict(type="bool", default=True),
    check_expiry=dict(type="bool", default=True),
    crl_check=dict(type="str", choices=["none", "leaf", "chain"]),
    crl_missing_ok=dict(type="bool", default=False),
    security_level=dict(type="int"),
    compact=dict(type="bool", default=False),
)
REQUIRED_ONE_OF = [("chain", "path", "items")]
MUTUALLY_EXCLUSIVE = [("chain", "path", "items"), ("ca_path", "ca_content"), ("key_path", "key_content"),
                      ("items", "server_names"), ("items", "key_path"), ("items", "key_content")]
CRYPTOGRAPHY_HINT = ("Run cert_chain_verify where a newer cryptography is installed, e.g. on the controller with "
                     "delegate_to: localhost")


def run(params, key_strings):
    """What the task returns for validated params: a dict with `failed: True`, `msg` (and `error`, or the verdict
    with fail_on_invalid) when it fails, else the verdict with `changed: False`.

    key_strings: [(path, text)] of every argument string holding PEM private key text, as given (before validation):
    outside key_content (or an item's key_content) a key fails the task, or only its item in `items`."""
    misplaced, in_items = set(), {}
    for path, _text in key_strings:
        if _is_key_content(path):
            continue
        if len(path) > 1 and path[0] == "items" and isinstance(path[1], int):
            in_items.setdefault(path[1], set()).add(option_name(path))
        else:
            misplaced.add(option_name(path))
    if misplaced:
        return _failure(_misplaced_key(misplaced))
    refused = dict((index, _misplaced_key(names)) for index, names in in_items.items())
    problem = cryptography_problem(minimum=MIN_CRYPTOGRAPHY_VERIFY, hint=CRYPTOGRAPHY_HINT)
    if problem:
        return dict(failed=True, msg=problem[0], **({"exception": problem[1]} if problem[1] else {}))
    policy = {k: params[k] for k in ("ca_path", "ca_content", "at", "min_days_remaining", "min_rsa_bits", "profile",
                                     "crl_path", "crl_content")}
    checks = {k: params[k] for k in CHECK_OPTIONS}
    try:
        if params["items"] is not None:
            result = verify_batch(params["items"], refused=refused, checks=checks, compact=params["compact"],
                                  **policy)
        else:
            single = ("chain", "path", "intermediates", "server_names", "key_path", "key_content")
            result = verify_single({k: params[k] for k in single}, checks=checks, compact=params["compact"],
                                   **policy)
    except CertError as exc:
        return _failure(exc)
    if params["fail_on_invalid"] and not result["valid"]:
        return dict(result, failed=True, msg="chain not valid: %s" % _first_errors(result))
    return dict(result, changed=False)


def _failure(error):
    return {"failed": True, "msg": error.message, "error": error.as_dict()}


def _misplaced_key(options):
    return CertError("INVALID_ARGUMENT", "%s holds a private key; pass keys only as key_content/key_path" % (
        ", ".join(sorted(options))))


def _is_key_content(path):
    """Whether key text was found where keys belong: key_content or an item's key_content, as a string."""
    return path == ("key_content",) or (
        len(path) == 3 and path[0] == "items" and isinstance(path[1], int) and path[2] == "key_content")


def _first_errors(result):
    items = result.get("results") or [result]
    out = []
    for item in items:
        for finding in item["findings"]:
            if finding["severity"] == "error":
                prefix = "%s: " % item["name"] if "name" in item else ""
                out.append("%s%s: %s" % (prefix, finding["code"], finding["message"]))
    return "; ".join(out[:5]) + (" (and %d more)" % (len(out) - 5) if len(out) > 5 else "")

"""Property-based fuzzing of the public filters with wrong-shaped input.

Property: a filter returns its value or raises AnsibleFilterError whose message starts with the filter's own name and
says what it expected; no other exception (Ansible would show it as "'str' object has no attribute 'get'", naming
neither the filter's input nor what it should have been), no hang.

Inputs are JSON-like values built from the keys these filters read (a request's host and collected, a result's
results and findings, a stat's exists and islnk...), so that wrong shapes are found below the top level too.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from fuzz.fuzzlib import examples, time_limit
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.certops.backend_tls.plugins.filter import json_query, lb_view, remediation, report_formats

HANG_SECONDS = 20

KEYS = ["host", "collected", "ca_path", "min_days", "profile", "force", "sites", "name", "endpoint", "server_names",
        "chain_pem", "chain", "certificates", "fingerprint_sha256", "pem", "files", "path", "cert_file", "chain_file",
        "endpoints", "port", "server_name", "server_type", "results", "valid", "findings", "severity", "code",
        "message", "verified_chain", "leaf", "days_remaining", "not_after", "action", "reasons", "before", "stat",
        "exists", "islnk", "mode", "hosts", "report", "lb_backends", "lb_host", "result", "addresses", "claims",
        "error", "rolled_back", "after", "schema_version", "discovery", "msg", "sites_lb", "unreached_hosts",
        "__cert_remediation_file", "pw_name", "gr_name", "failed", "status", "ok"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.sampled_from(
    ["", "x", "a.test", "error", "warning", "push", "none", "reload", "manual", "served", "disk", "x|served",
     "127.0.0.1", "443", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "/tmp/x", "nginx"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=12)

# name -> (function, how many positional arguments it is given: the input and the rest of its signature)
FILTERS = {
    "site_verify_items": (remediation.site_verify_items, 1),
    "remediation_plan": (remediation.remediation_plan, 3),
    "fleet_verify_items": (remediation.fleet_verify_items, 2),
    "fleet_plan": (remediation.fleet_plan, 3),
    "assemble_chain": (remediation.assemble_chain, 2),
    "pem_fingerprint": (remediation.pem_fingerprint, 1),
    "backup_plan": (remediation.backup_plan, 2),
    "remediation_report": (remediation.remediation_report, 2),
    "lb_verify_items": (lb_view.lb_verify_items, 1),
    "lb_backend_map": (lb_view.lb_backend_map, 2),
    "report_html": (report_formats.report_html, 1),
    "report_prometheus": (report_formats.report_prometheus, 1),
    "json_query": (json_query.json_query, 2),
}


def test_every_public_filter_is_fuzzed():
    """The list above is every filter the collection publishes: a new one is fuzzed too."""
    published = {}
    for module in (json_query, lb_view, remediation, report_formats):
        published.update(module.FilterModule().filters())
    assert sorted(published) == sorted(FILTERS)
    assert all(published[name] is FILTERS[name][0] for name in FILTERS)


# The filters' own refusals of a value of the right shape (no PEM in the text, a symlink's stat...).
_OWN_WORDS = ("no certificate", "cannot be parsed", "damaged", "symlink", "invalid expression", "nested too deeply",
              "verification calls for", "verification call returned", "lb_backends result", "a list of",
              "must be a list", "not the cert_remediation fleet report", "a request is not")


def _call(name, args):
    func = FILTERS[name][0]
    try:
        with time_limit(HANG_SECONDS):
            func(*args)
    except AnsibleFilterError as exc:
        message = str(exc.message)
        assert message.startswith(name + ":") or message.startswith(name + " ("), (name, args, message)
        if not any(text in message for text in _OWN_WORDS):  # a shape error: what was expected, and what did not fit
            assert "expects" in message, (name, args, message)


@pytest.mark.parametrize("name", sorted(FILTERS))
@settings(max_examples=examples(60, 3000))
@given(data=st.data())
def test_a_filter_refuses_wrong_shapes_by_name(name, data):
    count = FILTERS[name][1]
    _call(name, [data.draw(VALUES, label="arg%d" % index) for index in range(count)])


@pytest.mark.parametrize("name, args", [
    ("pem_fingerprint", [5]),
    ("remediation_plan", ["x", "y"]),
    ("site_verify_items", ["x"]),
    ("backup_plan", ["x", "/tmp"]),
    ("backup_plan", [[{"stat": {"exists": True}}], "/tmp"]),
    ("remediation_report", ["x"]),
    ("remediation_report", [[{"name": "a"}]]),
    ("fleet_plan", [[1], {}]),
    ("fleet_verify_items", [[{"host": "a", "collected": {"sites": [{"name": 1}]}}]]),
    ("json_query", [{"a": 1}, 5]),
    ("report_prometheus", [{"hosts": {"a": {"sites": [{"verdict": 5}]}}}]),
    ("lb_verify_items", [{"lb_backends": [1]}]),
])
def test_inputs_that_raised_python_errors(name, args):
    """Each of these raised AttributeError, TypeError or KeyError out of the filter (or named another filter)."""
    _call(name, args)

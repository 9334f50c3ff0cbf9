"""The collection's view of real load balancers, for the tests that hold it to theirs: one lb_backend_info run (the
real Ansible module runner) over their configurations, and each backend judged by lb_verify_items and
cert_chain_verify alone, as a user's playbook would judge it."""

from __future__ import annotations

import re
import time

import pytest

from ansible_collections.certops.backend_tls.plugins.filter import lb_view
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib.ansible_run import run_module
from testlib.module_runner import run_main
from testlib.servers import have


def haproxy_head(global_lines=""):
    """The start of a test HAProxy configuration: a global section with the admin stats socket (HAProxyLB fills in
    @SOCKET@) and these lines, and a defaults section with short timeouts and fast checks (one check decides)."""
    return ("global\n    stats socket @SOCKET@ mode 600 level admin\n%s\ndefaults\n    mode http\n"
            "    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n"
            "    default-server inter 400ms fall 1 rise 1\n" % global_lines)


def workdir(tmp_path_factory, name):
    """A fresh directory for a world of real load balancers. HAProxy, nginx and Apache are test dependencies: a
    missing one fails the test, never skips it."""
    if not all(have(b) for b in ("haproxy", "nginx", "apache2")):
        pytest.fail("haproxy, nginx and apache2 are test dependencies (hack/setup.sh installs them)")
    return tmp_path_factory.mktemp(name)


def read(servers):
    """lb_backend_info over {lb_type: server with a .conf} (every backend probed, each chain's PEM), asserted not to
    fail. A generous timeout: on a loaded machine a slow handshake must not turn a refusal into a TIMEOUT."""
    result = run_module("lb_backend_info", {
        "lb_type": list(servers), "chain_pem": True, "timeout": 15,
        "config": {lb_type: str(server.conf) for lb_type, server in servers.items()}})
    assert not result.get("failed"), result
    return result


def judged(result, profile="openssl"):
    """{index of the backend in lb_backends: cert_chain_verify's result for its served chain}: one call per group of
    lb_verify_items, with the group's anchors and CRLs."""
    out = {}
    for group in lb_view.lb_verify_items(result):
        args = {"items": group["chains"], "profile": profile}
        for key in ("ca_content", "crl_content"):
            if group.get(key):
                args[key] = group[key]
        out.update(zip(group["backends"], run_main(cert_chain_verify.main, args)["results"]))
    return out


def accepted(item, verdict):
    """The collection's answer for one backend: reached, its entry free of errors (a configuration its load balancer
    refuses, a CA it cannot use) and its served chain valid as judged (verdict: judged()'s, None when left out)."""
    return bool((item["endpoint"] or {}).get("ok") and not item["error"] and verdict and verdict["valid"])


def error_codes(verdict):
    return [f["code"] for f in verdict["findings"] if f["severity"] == "error"]


def verdicts(result, profile, case_of):
    """{case_of(backend): (valid, error codes)} under one profile, for a world whose every backend was reached."""
    by_index = judged(result, profile)
    out = {}
    for index, item in enumerate(result["lb_backends"]):
        assert item["endpoint"]["ok"], item["endpoint"]
        out[case_of(item)] = (by_index[index]["valid"], error_codes(by_index[index]))
    return out


def haproxy_settled(haproxy, wait=15):
    """HAProxy's health check statuses (HAProxyLB.stat()) once every server was checked (no INI) and two polls
    agree, or as they are after `wait` seconds."""
    deadline, last = time.monotonic() + wait, None
    while True:
        stat = haproxy.stat()
        settled = all(not s[1].startswith("INI") and not s[1].startswith("*") for s in stat.values())
        if (settled and stat == last) or time.monotonic() > deadline:
            return stat
        last = stat
        time.sleep(0.5)


def logged_verify_errors(nginx, apache):
    """What nginx and Apache logged as the reasons they refused a backend's chain: ({the request path's first
    segment: {(OpenSSL error number, its text, None)}}, {the backend's port: {(number, text, subject)}}).

    nginx: `upstream SSL certificate verify error: (N:text) ... request: "GET /<path>/ ..."`, no subject; Apache
    (mod_ssl at info): `[remote 127.0.0.1:<backend port>] ... Certificate Verification: Error (N): text [subject:
    CN=... / ...]`, the certificate the error is about."""
    by_path, by_port = {}, {}
    for number, text, path in re.findall(r"verify error: \((\d+):([^)]*)\).*?request: \"GET /([^/]+)/",
                                         (nginx.dir / "error.log").read_text()):
        by_path.setdefault(path, set()).add((int(number), text, None))
    for port, number, text, subject in re.findall(r"\[remote 127\.0\.0\.1:(\d+)\][^\n]*Certificate Verification: "
                                                  r"Error \((\d+)\): ([^\n\[]*) \[subject: ([^/\]]*) /",
                                                  (apache.dir / "error.log").read_text()):
        by_port.setdefault(int(port), set()).add((int(number), text.strip(), subject.strip()))
    return by_path, by_port

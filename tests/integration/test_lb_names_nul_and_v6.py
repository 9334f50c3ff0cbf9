"""Two names the load balancers check otherwise than the collection read them, from the name hunt of 2026-12-07
(1,760 random cases agreed against real HAProxy, nginx and Apache; these came from its edge cases):

- HAProxy reads each certificate name as a C string (ASN1_STRING_to_UTF8, then strcasecmp): a name with a NUL byte
  ends there, so a leaf for `a.h.test<NUL>.evil` passes `verifyhost a.h.test`. The collection compared the whole
  name and judged a backend HAProxy has UP a HOSTNAME_MISMATCH.
- nginx's default `proxy_ssl_name` is the `proxy_pass` host as written: `[::1]` for `https://[::1]:port/`, checked as
  text against the DNS names (X509_check_host, never X509_check_ip). The collection took `::1`, which nothing
  matches, and judged a backend nginx proxies to with 200 a HOSTNAME_MISMATCH.

Each case's verdict is the real load balancer's (HAProxy's health check, nginx's proxied status) and the collection's
(lb_backend_info, lb_verify_items, cert_chain_verify) must be the same.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from testlib import lbjudge, pki
from testlib.servers import HAProxyLB, KindBackends, NginxLB, _run, free_ports, http_status

CA = pki.CA("Name Edges")
NUL_LEAVES = {  # kind: the leaf's DNS names (its CN names nothing checked here)
    "nul_san": ["a.h.test\0.evil"],
    "nul_wildcard": ["*.h.test\0.evil"],
    "longer_name": ["a.h.test.evil"],  # the control: no NUL, another name
}
V6_LEAVES = {"bracketed_dns_name": {"names": ["[::1]"]}, "ip_san_only": {"names": [], "ips": ["::1"]}}


class DualStackBackends(KindBackends):
    """KindBackends listening on [::1] as well as 127.0.0.1 (the same port)."""

    def write_config(self):
        self.write_main("".join(
            "    server {\n%s        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
            "        location / { return 200 \"%s\\n\"; }\n    }\n" % (
                "".join("        listen 127.0.0.1:%d ssl;\n        listen [::1]:%d ssl;\n" % (p, p) for p in ports),
                self.files[kind][0], self.files[kind][1], kind)
            for kind, ports in self.kind_ports.items()))


def _files(base, leaves):
    return {kind: (pki.write(base / ("%s.crt" % kind), CA.chain_pem(leaf)),
                   pki.write(base / ("%s.key" % kind), leaf.key_pem(), 0o600)) for kind, leaf in leaves.items()}


def _agree(result, said, case_of):
    verdicts = lbjudge.judged(result)
    seen = {}
    for index, item in enumerate(result["lb_backends"]):
        case = case_of(item)
        seen[case] = lbjudge.accepted(item, verdicts.get(index))
        assert seen[case] == said[case], (case, said[case], item, verdicts.get(index))
    assert set(seen) == set(said)


def test_haproxy_reads_a_name_up_to_a_nul_byte(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "names-nul")
    leaves = {kind: CA.leaf("other.name.test", names=names) for kind, names in NUL_LEAVES.items()}
    cases = [(kind, check) for kind in NUL_LEAVES for check in ("verifyhost", "check-sni")]
    ports = dict(zip(cases, free_ports(len(cases))))
    backends = KindBackends(base / "backends", {kind: [ports[(kind, c)] for c in ("verifyhost", "check-sni")]
                                                for kind in NUL_LEAVES}, _files(base, leaves))
    haproxy = HAProxyLB(base / "haproxy", lbjudge.haproxy_head() + (
        "backend be\n    option httpchk GET /\n    default-server ssl verify required ca-file %s check\n"
        % pki.write(base / "ca.pem", CA.root.pem)) + "".join(
        "    server s%d 127.0.0.1:%d %s a.h.test\n" % (port, port, check) for (kind, check), port in ports.items()))
    with contextlib.ExitStack() as running:
        for server in (backends, haproxy):
            running.enter_context(server)
        time.sleep(1)
        stat = lbjudge.haproxy_settled(haproxy)
        said = {case: stat["s%d" % port][0] == "UP" for case, port in ports.items()}
        # what each case stands for: HAProxy passes the NUL-cut names, and not the longer one
        assert said == {case: case[0] != "longer_name" for case in cases}, stat
        result = lbjudge.read({"haproxy": haproxy})
    by_port = {port: case for case, port in ports.items()}
    _agree(result, said, lambda item: by_port[item["port"]])


def test_nginx_checks_an_ipv6_upstream_by_its_bracketed_name(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "names-v6")
    leaves = {kind: CA.leaf("other.name.test", **spec) for kind, spec in V6_LEAVES.items()}
    *backend_ports, lb_port = free_ports(len(V6_LEAVES) + 1)
    ports = dict(zip(V6_LEAVES, backend_ports))
    backends = DualStackBackends(base / "backends", {kind: [port] for kind, port in ports.items()},
                                 _files(base, leaves))
    locations = "".join("        location /%s/ { proxy_pass https://[::1]:%d/; }\n" % (kind, port)
                        for kind, port in ports.items())
    nginx = NginxLB(base / "nginx", lb_port, (
        "    proxy_ssl_trusted_certificate %s;\n    proxy_ssl_verify on;\n    proxy_ssl_session_reuse off;\n"
        "    server {\n        listen 127.0.0.1:%d;\n%s    }\n") % (
        pki.write(base / "ca.pem", CA.root.pem), lb_port, locations))
    nginx.write_config()
    _run(nginx.test_command)
    with contextlib.ExitStack() as running:
        for server in (backends, nginx):
            running.enter_context(server)
        said = {kind: http_status("http://127.0.0.1:%d/%s/" % (lb_port, kind)) == 200 for kind in V6_LEAVES}
        # the text [::1] among the DNS names passes; the address as an IP SAN does not (nginx never checks IPs)
        assert said == {"bracketed_dns_name": True, "ip_san_only": False}, said
        result = lbjudge.read({"nginx": nginx})
    assert {item["verify_name"] for item in result["lb_backends"]} == {"[::1]"}
    assert {item["sni"] for item in result["lb_backends"]} == {None}
    _agree(result, said, lambda item: item["location"].split()[-1].strip("/"))


@pytest.mark.parametrize("rule, name, accepted", [("haproxy", "a.h.test", True), ("haproxy", "b.h.test", False),
                                                  ("openssl", "a.h.test", False), ("apache", "a.h.test", False)])
def test_only_haproxy_cuts_a_name_at_a_nul_byte(rule, name, accepted):
    from ansible_collections.certops.backend_tls.plugins.module_utils import _names

    assert _names.rule_matches(rule, name, ["a.h.test\0.evil"], [], []) is accepted
    assert _names.rule_matches(rule, name, [], [], ["a.h.test\0.evil"]) is accepted
